//! The `sightline` command line: `serve`, `check-config`, and the operator's commands
//! (`tenant create|list|terminate`, `user unlock`).
//!
//! The operator's commands open the database directly; SQLite's WAL lets them run while
//! the daemon serves. Exit status: 0 done, 1 refused or failed (the reason is printed on
//! standard error), 2 a command-line mistake.

use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::api::rfc3339;
use crate::auth::password::{check_policy, hash_password};
use crate::config::{Config, ConfigError, Settings};
use crate::daemon;
use crate::store::{Store, Tenant};

/// Environment variable holding the new administrator's password for `tenant create`.
pub const PASSWORD_ENV: &str = "SIGHTLINE_PASSWORD";

/// Sightline: live visual remote support, one daemon.
#[derive(Debug, Parser)]
#[command(name = "sightline", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: HTTPS API, media engine and metrics
    Serve(ConfigArgs),
    /// Load and check the configuration, print a summary or the errors
    CheckConfig(ConfigArgs),
    /// Create, list and terminate tenants
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant and its first administrator (password from SIGHTLINE_PASSWORD or
    /// one line of standard input); prints {"tenant_id":..., "admin_id":...}
    Create {
        /// The tenant's unique name
        #[arg(long)]
        name: String,
        /// The administrator's email
        #[arg(long)]
        admin_email: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List the tenants
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// End a tenant's subscription: its users can no longer sign in
    Terminate {
        /// The tenant's name
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Lift the sign-in lock of a user (the running daemon honours it)
    Unlock {
        /// The user's email
        email: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// The configuration file and the settings that override it.
#[derive(Debug, Args)]
struct ConfigArgs {
    /// TOML configuration file
    #[arg(long, env = "SIGHTLINE_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: Settings,
}

impl ConfigArgs {
    fn load(self) -> Result<Config, Failure> {
        Config::load(self.config.as_deref(), self.settings).map_err(|e| Failure(e.to_string()))
    }
}

/// A command that was refused or failed; the text says why.
#[derive(Debug)]
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure(error.to_string())
    }
}

/// Parses the command line and runs it; the process exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => serve(args),
        Command::CheckConfig(args) => check_config(args),
        Command::Tenant(command) => tenant(command),
        Command::User(UserCommand::Unlock { email, config }) => unlock(&email, config),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(reason)) => {
            eprintln!("sightline: {reason}");
            ExitCode::from(1)
        }
    }
}

fn serve(args: ConfigArgs) -> Result<(), Failure> {
    let config = args.load()?;
    daemon::init_logging(&config);
    daemon::serve(config).map_err(|error| {
        tracing::error!(target: "daemon", %error, "cannot run");
        Failure::from(error)
    })
}

fn check_config(args: ConfigArgs) -> Result<(), Failure> {
    let invalid = |error: ConfigError| {
        let lines: Vec<String> = error
            .to_string()
            .lines()
            .map(|l| format!("  {l}"))
            .collect();
        Failure(format!("configuration is invalid:\n{}", lines.join("\n")))
    };
    let config = Config::load(args.config.as_deref(), args.settings).map_err(invalid)?;
    config.check_files().map_err(invalid)?;
    println!("configuration is valid\n{}", config.summary());
    if config.public_url.contains("://0.0.0.0") || config.public_url.contains("://[::]") {
        println!("note: public_url names no reachable host; set public_url");
    }
    Ok(())
}

fn tenant(command: TenantCommand) -> Result<(), Failure> {
    match command {
        TenantCommand::Create {
            name,
            admin_email,
            config,
        } => create_tenant(&name, &admin_email, config),
        TenantCommand::List { json, config } => list_tenants(json, config),
        TenantCommand::Terminate { name, config } => {
            let config = config.load()?;
            with_store(&config, false, |store| async move {
                let id = store.terminate_tenant(&name).await?;
                println!("tenant {name} ({id}) terminated");
                Ok(())
            })
        }
    }
}

fn create_tenant(name: &str, email: &str, config: ConfigArgs) -> Result<(), Failure> {
    let config = config.load()?;
    let password = read_password()?;
    check_policy(&password, &[email, name])
        .map_err(|reason| Failure(format!("password refused: {reason}")))?;
    let hash = hash_password(&password, &config.password_params)?;
    drop(password);

    if !config.database_path().exists() {
        config.create_data_dir()?;
    }
    with_store(&config, true, |store| async move {
        let (tenant_id, admin_id) = store.create_tenant_with_admin(name, email, &hash).await?;
        let ids = json!({ "tenant_id": tenant_id.to_string(), "admin_id": admin_id.to_string() });
        println!("{ids}");
        Ok(())
    })
}

/// The password from [`PASSWORD_ENV`], or else one line of standard input.
fn read_password() -> Result<String, Failure> {
    if let Ok(password) = std::env::var(PASSWORD_ENV) {
        return Ok(password);
    }
    let mut line = String::new();
    io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure(format!("cannot read the password from standard input: {e}")))?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(Failure(format!(
            "no password: set {PASSWORD_ENV} or write it on standard input"
        )));
    }
    Ok(password)
}

fn list_tenants(as_json: bool, config: ConfigArgs) -> Result<(), Failure> {
    let config = config.load()?;
    with_store(&config, false, |store| async move {
        let tenants = store.list_tenants().await?;
        let mut out = io::stdout().lock();
        let text = if as_json {
            let rows: Vec<_> = tenants.iter().map(tenant_json).collect();
            serde_json::to_string_pretty(&rows)?
        } else {
            tenant_table(&tenants)
        };
        writeln!(out, "{text}")?;
        Ok(())
    })
}

fn tenant_json(tenant: &Tenant) -> serde_json::Value {
    json!({
        "id": tenant.id.to_string(),
        "name": tenant.name,
        "created_at": rfc3339(tenant.created_at),
        "subscription_ended_at": tenant.subscription_ended_at.map(rfc3339),
    })
}

fn tenant_table(tenants: &[Tenant]) -> String {
    let width = tenants
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut text = format!(
        "{:<width$}  {:<36}  {:<20}  STATUS",
        "NAME", "ID", "CREATED"
    );
    for tenant in tenants {
        let status = tenant.subscription_ended_at.map_or_else(
            || "active".to_owned(),
            |at| format!("ended {}", rfc3339(at)),
        );
        text.push_str(&format!(
            "\n{:<width$}  {:<36}  {:<20}  {status}",
            tenant.name,
            tenant.id.to_string(),
            rfc3339(tenant.created_at),
        ));
    }
    text
}

fn unlock(email: &str, config: ConfigArgs) -> Result<(), Failure> {
    let config = config.load()?;
    with_store(&config, false, |store| async move {
        let user = store
            .clear_lock(email)
            .await
            .map_err(|e| Failure(format!("cannot unlock {email}: {e}")))?;
        println!("user {email} ({user}) unlocked");
        Ok(())
    })
}

/// Opens the store of `config` on a small runtime, runs `work`, and closes the store.
///
/// Only `tenant create` may make a new database (the first tenant of a fresh install);
/// every other command refuses a data directory without one, since a mistyped
/// `--data-dir` or another working directory would otherwise quietly show an empty
/// install. Either way the data directory used is said on standard error.
fn with_store<F, Fut>(config: &Config, may_create: bool, work: F) -> Result<(), Failure>
where
    F: FnOnce(std::sync::Arc<Store>) -> Fut,
    Fut: std::future::Future<Output = Result<(), Failure>>,
{
    let database = config.database_path();
    if !may_create && !database.exists() {
        return Err(Failure(format!(
            "no database at {}: give the daemon's --data-dir (or --config), or create the \
             first tenant with `sightline tenant create`",
            database.display()
        )));
    }
    eprintln!("data directory: {}", config.data_dir.display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = std::sync::Arc::new(Store::open(&config.database_path()).await?);
        let outcome = work(std::sync::Arc::clone(&store)).await;
        if let Ok(store) = std::sync::Arc::try_unwrap(store) {
            store.close().await;
        }
        outcome
    })
}
