//! The daemon's configuration: one set of settings, read from flags, environment variables
//! (`SIGHTLINE_...`) and a TOML file, in that order of precedence, over embedded defaults.
//!
//! [`Settings`] is both the command line (every field is a flag with an environment
//! variable) and the file (every field is a top-level TOML key; unknown keys are refused
//! and named). [`Settings::merge`] lays the command line over the file, and
//! [`Config::resolve`] fills in the defaults and checks everything, listing every problem
//! at once. With nothing configured the daemon runs on the embedded default: data in
//! `./sightline-data`, HTTPS on 127.0.0.1:8443 with a trial certificate, metrics on
//! 127.0.0.1:9464, relay ports 40000-49999 on 127.0.0.1.

use std::fmt;
use std::fs::DirBuilder;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::Uri;
use media_core::EngineConfig;
use serde::{Deserialize, Serialize};

use crate::api::ApiConfig;
use crate::auth::password::Params;
use crate::http::{server_config, Limits};

/// Default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./sightline-data";
/// Default HTTPS listen address.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8443);
/// Default metrics listen address (plain HTTP: keep it on loopback).
pub const DEFAULT_METRICS_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9464);
/// Default longest wait for live sessions after SIGTERM.
pub const DEFAULT_DRAIN_SECS: u64 = 30;
/// File name of the database in the data directory.
pub const DATABASE_FILE: &str = "sightline.db";

/// How log lines are written to standard error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// Every setting, each optional: a flag with its environment variable, and a TOML key.
#[derive(Clone, Debug, Default, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Data directory: database and trial certificate [default: ./sightline-data]
    #[arg(long, env = "SIGHTLINE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTPS listen address [default: 127.0.0.1:8443]
    #[arg(long, env = "SIGHTLINE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain, leaf first [default: a self-signed trial certificate]
    #[arg(long, env = "SIGHTLINE_CERT_FILE")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the certificate
    #[arg(long, env = "SIGHTLINE_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Address customers open, https://host[:port][/path] [default: https://<listen>]
    #[arg(long, env = "SIGHTLINE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Web-tier origins allowed by CORS, comma-separated [default: none]
    #[arg(long, env = "SIGHTLINE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Option<Vec<String>>,
    /// Largest request body in bytes [default: 65536]
    #[arg(long, env = "SIGHTLINE_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Seconds a client has to send a request head [default: 10]
    #[arg(long, env = "SIGHTLINE_HEADER_TIMEOUT_SECS")]
    pub header_timeout_secs: Option<u64>,
    /// Open HTTPS connections per source address (IPv4, IPv6 /64) [default: 64]
    #[arg(long, env = "SIGHTLINE_MAX_CONNECTIONS_PER_SOURCE")]
    pub max_connections_per_source: Option<usize>,
    /// Address relay ports bind to [default: 127.0.0.1]
    #[arg(long, env = "SIGHTLINE_MEDIA_BIND_IP")]
    pub media_bind_ip: Option<IpAddr>,
    /// Address written into ICE candidates behind 1:1 NAT [default: the bind address]
    #[arg(long, env = "SIGHTLINE_MEDIA_ADVERTISED_IP")]
    pub media_advertised_ip: Option<IpAddr>,
    /// First UDP relay port [default: 40000]
    #[arg(long, env = "SIGHTLINE_MEDIA_PORT_MIN")]
    pub media_port_min: Option<u16>,
    /// Last UDP relay port [default: 49999]
    #[arg(long, env = "SIGHTLINE_MEDIA_PORT_MAX")]
    pub media_port_max: Option<u16>,
    /// Media worker threads, 0 for one per core [default: 0]
    #[arg(long, env = "SIGHTLINE_MEDIA_WORKERS")]
    pub media_workers: Option<usize>,
    /// Pin each media worker to a core [default: true]
    #[arg(long, env = "SIGHTLINE_MEDIA_PIN_WORKERS")]
    pub media_pin_workers: Option<bool>,
    /// Metrics listen address (plain HTTP), or "off" [default: 127.0.0.1:9464]
    #[arg(long, env = "SIGHTLINE_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Log format [default: human]
    #[arg(long, env = "SIGHTLINE_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, RUST_LOG syntax [default: info]
    #[arg(long, env = "SIGHTLINE_LOG_FILTER")]
    pub log_filter: Option<String>,
    /// Seconds a participant whose connections dropped keeps its place [default: 60]
    #[arg(long, env = "SIGHTLINE_GRACE_PERIOD_SECS")]
    pub grace_period_secs: Option<u64>,
    /// Longest wait for live sessions after SIGTERM, in seconds [default: 30]
    #[arg(long, env = "SIGHTLINE_DRAIN_SECS")]
    pub drain_secs: Option<u64>,
    /// Least time /readyz answers 503 after SIGTERM before the API closes [default: 0]
    #[arg(long, env = "SIGHTLINE_DRAIN_NOTICE_SECS")]
    pub drain_notice_secs: Option<u64>,
    /// Lifetime of an administrator's or agent's token, in seconds [default: 43200]
    #[arg(long, env = "SIGHTLINE_STAFF_TOKEN_TTL_SECS")]
    pub staff_token_ttl_secs: Option<u64>,
    /// Longest lifetime of a customer's token, in seconds [default: 28800]
    #[arg(long, env = "SIGHTLINE_CUSTOMER_TOKEN_TTL_SECS")]
    pub customer_token_ttl_secs: Option<u64>,
    /// Argon2id memory cost of new password hashes, KiB [default: 19456]
    #[arg(long, env = "SIGHTLINE_ARGON2_MEMORY_KIB")]
    pub argon2_memory_kib: Option<u32>,
    /// Argon2id passes of new password hashes [default: 2]
    #[arg(long, env = "SIGHTLINE_ARGON2_PASSES")]
    pub argon2_passes: Option<u32>,
}

/// Lays `$over` over `$under`, field by field.
macro_rules! overlay {
    ($over:ident, $under:ident; $($field:ident),* $(,)?) => {
        Settings { $($field: $over.$field.or($under.$field)),* }
    };
}

impl Settings {
    /// These settings (flags and environment) over `file`'s.
    pub fn merge(self, file: Settings) -> Settings {
        let over = self;
        overlay!(over, file; data_dir, listen, cert_file, key_file, public_url, cors_origins,
            max_body_bytes, header_timeout_secs, max_connections_per_source, media_bind_ip,
            media_advertised_ip, media_port_min, media_port_max, media_workers,
            media_pin_workers, metrics_listen, log_format, log_filter, grace_period_secs,
            drain_secs, drain_notice_secs, staff_token_ttl_secs, customer_token_ttl_secs,
            argon2_memory_kib, argon2_passes)
    }

    /// Reads a TOML configuration file.
    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Settings::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses TOML text; the error names the key at fault.
    pub fn from_toml(text: &str) -> Result<Settings, String> {
        toml::from_str(text).map_err(|error| error.to_string().trim_end().to_owned())
    }

    /// Every TOML key, in declaration order (for the documentation check).
    pub fn keys() -> Vec<String> {
        match serde_json::to_value(Settings::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

/// The configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown key or a value of the wrong type.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, naming the key and line.
        message: String,
    },
    /// Settings that parsed but cannot work together, one line each.
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

/// Where the HTTPS certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsSource {
    /// A self-signed trial certificate in `<data_dir>/tls/`, made if missing.
    Trial,
    /// The operator's PEM files.
    Files {
        /// Certificate chain, leaf first.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
}

/// The complete, checked configuration of the daemon.
#[derive(Clone)]
pub struct Config {
    /// Data directory (database, trial certificate).
    pub data_dir: PathBuf,
    /// HTTPS listen address.
    pub listen: SocketAddr,
    /// The certificate.
    pub tls: TlsSource,
    /// Address customers open, without a trailing slash.
    pub public_url: String,
    /// CORS origins.
    pub cors_origins: Vec<String>,
    /// HTTPS server limits.
    pub limits: Limits,
    /// Media engine settings.
    pub engine: EngineConfig,
    /// Metrics listen address; `None` when disabled.
    pub metrics_listen: Option<SocketAddr>,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter (RUST_LOG syntax).
    pub log_filter: String,
    /// Place kept for a dropped participant.
    pub grace_period: Duration,
    /// Longest wait for live sessions after SIGTERM.
    pub drain: Duration,
    /// Least time readiness reports 503 after SIGTERM before the API closes.
    pub drain_notice: Duration,
    /// Staff token lifetime.
    pub staff_token_ttl: Duration,
    /// Customer token lifetime.
    pub customer_token_ttl: Duration,
    /// Argon2id cost of new hashes.
    pub password_params: Params,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

impl Config {
    /// Fills in the defaults and checks `settings` without touching the disk.
    pub fn resolve(settings: Settings) -> Result<Config, ConfigError> {
        let mut errors = Vec::new();
        let listen = settings.listen.unwrap_or(DEFAULT_LISTEN);
        let api = ApiConfig::default();
        let secs =
            |value: Option<u64>, default: Duration| value.map_or(default, Duration::from_secs);

        let config = Config {
            data_dir: settings
                .data_dir
                .clone()
                .unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
            listen,
            tls: tls_source(&settings, &mut errors),
            public_url: public_url(settings.public_url.as_deref(), listen, &mut errors),
            cors_origins: cors_origins(&settings, &mut errors),
            limits: limits(&settings, &mut errors),
            engine: engine(&settings, &mut errors),
            metrics_listen: metrics_listen(settings.metrics_listen.as_deref(), &mut errors),
            log_format: settings.log_format.unwrap_or_default(),
            log_filter: log_filter(&settings, &mut errors),
            grace_period: secs(settings.grace_period_secs, api.grace_period),
            drain: secs(settings.drain_secs, Duration::from_secs(DEFAULT_DRAIN_SECS)),
            drain_notice: secs(settings.drain_notice_secs, Duration::ZERO),
            staff_token_ttl: secs(settings.staff_token_ttl_secs, api.staff_token_ttl),
            customer_token_ttl: secs(settings.customer_token_ttl_secs, api.customer_token_ttl),
            password_params: password_params(&settings, &mut errors),
        };
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(errors))
        }
    }

    /// Reads the file (if any) under the command-line settings, then [`Config::resolve`]s.
    pub fn load(file: Option<&Path>, command_line: Settings) -> Result<Config, ConfigError> {
        let from_file = match file {
            Some(path) => Settings::from_file(path)?,
            None => Settings::default(),
        };
        Config::resolve(command_line.merge(from_file))
    }

    /// The database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(DATABASE_FILE)
    }

    /// The API's settings.
    pub fn api_config(&self) -> ApiConfig {
        ApiConfig {
            public_url: self.public_url.clone(),
            staff_token_ttl: self.staff_token_ttl,
            customer_token_ttl: self.customer_token_ttl,
            grace_period: self.grace_period,
            cors_origins: self.cors_origins.clone(),
            password_params: self.password_params.clone(),
            ..ApiConfig::default()
        }
    }

    /// Creates the data directory (mode 0700) if it is missing.
    pub fn create_data_dir(&self) -> Result<(), ConfigError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.data_dir)
            .map_err(|error| {
                ConfigError::Invalid(vec![format!(
                    "data_dir: cannot create {}: {error}",
                    self.data_dir.display()
                )])
            })
    }

    /// Checks what needs the disk: the data directory can be created, and the certificate
    /// and key files are readable, valid and belong together.
    pub fn check_files(&self) -> Result<(), ConfigError> {
        let mut errors = Vec::new();
        if let Err(ConfigError::Invalid(mut more)) = self.create_data_dir() {
            errors.append(&mut more);
        }
        if let TlsSource::Files { cert, key } = &self.tls {
            if let Err(error) = read_tls_files(cert, key) {
                errors.push(error);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(errors))
        }
    }

    /// Where the metrics are served, or `off`.
    pub fn metrics_summary(&self) -> String {
        self.metrics_listen
            .map_or_else(|| "off".to_owned(), |addr| format!("http://{addr}/metrics"))
    }

    /// A few lines saying what the daemon will do; no secrets (key contents never appear).
    pub fn summary(&self) -> String {
        let tls = match &self.tls {
            TlsSource::Trial => "self-signed trial certificate (for trying out only)".to_owned(),
            TlsSource::Files { cert, key } => {
                format!("certificate {}, key {}", cert.display(), key.display())
            }
        };
        let metrics = self.metrics_summary();
        format!(
            "data directory: {}\nHTTPS: {} ({tls})\npublic URL: {}\nCORS origins: {}\n\
             media: {} ports {}-{}\nmetrics: {metrics}\nlog: {:?} {}",
            self.data_dir.display(),
            self.listen,
            self.public_url,
            if self.cors_origins.is_empty() {
                "none".to_owned()
            } else {
                self.cors_origins.join(", ")
            },
            self.engine.bind_ip,
            self.engine.port_min,
            self.engine.port_max,
            self.log_format,
            self.log_filter,
        )
    }
}

/// Reads the operator's certificate and key and checks that they make a server
/// configuration; the error never quotes the key.
pub fn read_tls_files(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, String> {
    let cert_pem = std::fs::read(cert)
        .map_err(|error| format!("cert_file: cannot read {}: {error}", cert.display()))?;
    let key_pem = std::fs::read(key)
        .map_err(|error| format!("key_file: cannot read {}: {error}", key.display()))?;
    server_config(&cert_pem, &key_pem).map_err(|error| format!("cert_file/key_file: {error}"))
}

fn tls_source(settings: &Settings, errors: &mut Vec<String>) -> TlsSource {
    match (&settings.cert_file, &settings.key_file) {
        (None, None) => TlsSource::Trial,
        (Some(cert), Some(key)) => TlsSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => {
            errors.push("cert_file and key_file: set both or neither".to_owned());
            TlsSource::Trial
        }
    }
}

fn public_url(configured: Option<&str>, listen: SocketAddr, errors: &mut Vec<String>) -> String {
    let Some(url) = configured else {
        return format!("https://{listen}");
    };
    let url = url.trim_end_matches('/');
    if let Err(reason) = check_public_url(url) {
        errors.push(format!("public_url: {url:?} {reason}"));
    }
    url.to_owned()
}

/// An absolute `https` URL with a host, and neither query nor fragment.
fn check_public_url(url: &str) -> Result<(), &'static str> {
    let uri: Uri = url.parse().map_err(|_| "is not a valid URL")?;
    if uri.scheme_str() != Some("https") {
        return Err("must start with https://");
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("has no host");
    }
    if uri.query().is_some() || url.contains('#') {
        return Err("must have no query or fragment");
    }
    Ok(())
}

/// A web origin: `http` or `https`, a host, an optional port, nothing else.
fn check_origin(origin: &str) -> Result<(), &'static str> {
    let uri: Uri = origin.parse().map_err(|_| "is not a valid origin")?;
    if !matches!(uri.scheme_str(), Some("https" | "http")) {
        return Err("must start with https:// (or http://)");
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("has no host");
    }
    let authority_end = origin.find("://").map_or(0, |i| i + 3);
    if origin[authority_end..].contains(['/', '?', '#', '@']) {
        return Err("must be scheme://host[:port] with no path, user or trailing slash");
    }
    Ok(())
}

fn cors_origins(settings: &Settings, errors: &mut Vec<String>) -> Vec<String> {
    let origins = settings.cors_origins.clone().unwrap_or_default();
    for origin in &origins {
        if let Err(reason) = check_origin(origin) {
            errors.push(format!("cors_origins: {origin:?} {reason}"));
        }
    }
    origins
}

fn log_filter(settings: &Settings, errors: &mut Vec<String>) -> String {
    let filter = settings
        .log_filter
        .clone()
        .unwrap_or_else(|| "info".to_owned());
    if let Err(error) = tracing_subscriber::EnvFilter::try_new(&filter) {
        errors.push(format!("log_filter: {error}"));
    }
    filter
}

fn limits(settings: &Settings, errors: &mut Vec<String>) -> Limits {
    let defaults = Limits::default();
    let limits = Limits {
        max_body_bytes: settings.max_body_bytes.unwrap_or(defaults.max_body_bytes),
        header_read_timeout: settings
            .header_timeout_secs
            .map_or(defaults.header_read_timeout, Duration::from_secs),
        max_connections_per_source: settings
            .max_connections_per_source
            .unwrap_or(defaults.max_connections_per_source),
        ..defaults
    };
    if limits.max_body_bytes == 0 {
        errors.push("max_body_bytes: must be at least 1".to_owned());
    }
    if limits.header_read_timeout.is_zero() {
        errors.push("header_timeout_secs: must be at least 1".to_owned());
    }
    if limits.max_connections_per_source == 0 {
        errors.push("max_connections_per_source: must be at least 1".to_owned());
    }
    limits
}

fn engine(settings: &Settings, errors: &mut Vec<String>) -> EngineConfig {
    let defaults = EngineConfig::default();
    let engine = EngineConfig {
        workers: settings.media_workers.unwrap_or(defaults.workers),
        pin_workers: settings.media_pin_workers.unwrap_or(defaults.pin_workers),
        bind_ip: settings.media_bind_ip.unwrap_or(defaults.bind_ip),
        advertised_ip: settings.media_advertised_ip.or(defaults.advertised_ip),
        port_min: settings.media_port_min.unwrap_or(defaults.port_min),
        port_max: settings.media_port_max.unwrap_or(defaults.port_max),
        ..defaults
    };
    if engine.port_min == 0 {
        errors.push("media_port_min: must be at least 1".to_owned());
    }
    if engine.port_min > engine.port_max {
        errors.push(format!(
            "media_port_min ({}) is above media_port_max ({})",
            engine.port_min, engine.port_max
        ));
    }
    if engine.advertised_ip.is_some_and(|ip| ip.is_unspecified()) {
        errors.push("media_advertised_ip: must be a reachable address, not 0.0.0.0 or ::".into());
    }
    engine
}

fn metrics_listen(configured: Option<&str>, errors: &mut Vec<String>) -> Option<SocketAddr> {
    match configured.map(str::trim) {
        None => Some(DEFAULT_METRICS_LISTEN),
        Some("off" | "disabled" | "") => None,
        Some(text) => match text.parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                errors.push(format!(
                    "metrics_listen: {text:?} is neither an address (127.0.0.1:9464) nor \"off\""
                ));
                None
            }
        },
    }
}

fn password_params(settings: &Settings, errors: &mut Vec<String>) -> Params {
    let (memory, passes) = (settings.argon2_memory_kib, settings.argon2_passes);
    if memory.is_none() && passes.is_none() {
        return Params::default();
    }
    let memory = memory.unwrap_or(argon2::Params::DEFAULT_M_COST);
    let passes = passes.unwrap_or(argon2::Params::DEFAULT_T_COST);
    Params::new(memory, passes, 1).unwrap_or_else(|error| {
        errors.push(format!("argon2_memory_kib/argon2_passes: {error}"));
        Params::default()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn embedded_defaults_are_the_documented_ones() {
        let config = Config::resolve(Settings::default()).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("./sightline-data"));
        assert_eq!(
            config.database_path(),
            Path::new("./sightline-data/sightline.db")
        );
        assert_eq!(config.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(config.tls, TlsSource::Trial);
        assert_eq!(config.public_url, "https://127.0.0.1:8443");
        assert_eq!(config.metrics_listen.unwrap().to_string(), "127.0.0.1:9464");
        assert_eq!(config.engine.bind_ip.to_string(), "127.0.0.1");
        assert_eq!(
            (config.engine.port_min, config.engine.port_max),
            (40_000, 49_999)
        );
        assert_eq!(config.log_format, LogFormat::Human);
        assert_eq!(config.log_filter, "info");
        assert_eq!(config.drain, Duration::from_secs(30));
        assert_eq!(config.drain_notice, Duration::ZERO);
        assert_eq!(config.grace_period, Duration::from_secs(60));
        assert_eq!(config.staff_token_ttl, Duration::from_secs(43_200));
        assert_eq!(config.customer_token_ttl, Duration::from_secs(28_800));
        assert_eq!(config.password_params, Params::OWASP);
        assert_eq!(config.limits, Limits::default());
        assert!(config.cors_origins.is_empty());
    }

    #[test]
    fn command_line_wins_over_the_file() {
        let file = Settings::from_toml("listen = \"0.0.0.0:443\"\ndrain_secs = 5\n").unwrap();
        let flags = Settings {
            listen: Some("127.0.0.1:9000".parse().unwrap()),
            ..Settings::default()
        };
        let config = Config::resolve(flags.merge(file)).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(config.drain, Duration::from_secs(5));
        assert_eq!(config.public_url, "https://127.0.0.1:9000");
    }

    #[test]
    fn unknown_keys_are_named() {
        let error = Settings::from_toml("listen = \"127.0.0.1:1\"\nlisten_port = 3\n").unwrap_err();
        assert!(error.contains("listen_port"), "{error}");
    }

    #[test]
    fn every_problem_is_listed() {
        let settings = Settings {
            media_port_min: Some(50_000),
            media_port_max: Some(40_000),
            public_url: Some("http://example.com".into()),
            cors_origins: Some(vec![
                "https://ok.example".into(),
                "https://a.example/".into(),
            ]),
            cert_file: Some("cert.pem".into()),
            metrics_listen: Some("nowhere".into()),
            log_filter: Some("[[[".into()),
            ..Settings::default()
        };
        let ConfigError::Invalid(errors) = Config::resolve(settings).unwrap_err() else {
            panic!("not a validation error");
        };
        let all = errors.join("\n");
        for key in [
            "media_port_min",
            "public_url",
            "a.example",
            "key_file",
            "metrics_listen",
        ] {
            assert!(all.contains(key), "{key} missing from {all}");
        }
        assert_eq!(errors.len(), 6, "{all}");
    }

    #[test]
    fn origins_and_urls() {
        assert!(check_origin("https://support.example.com").is_ok());
        assert!(check_origin("http://localhost:3000").is_ok());
        assert!(check_origin("support.example.com").is_err());
        assert!(check_origin("https://support.example.com/app").is_err());
        assert!(check_public_url("https://support.example.com/desk").is_ok());
        assert!(check_public_url("https://").is_err());
        assert!(check_public_url("https://x.example?a=1").is_err());
    }

    #[test]
    fn operations_guide_lists_every_key() {
        let guide = include_str!("../../docs/operations.md");
        for key in Settings::keys() {
            let flag = format!("--{}", key.replace('_', "-"));
            let env = format!("SIGHTLINE_{}", key.to_uppercase());
            for needle in [format!("`{key}`"), format!("`{flag}`"), format!("`{env}`")] {
                assert!(
                    guide.contains(&needle),
                    "docs/operations.md does not mention {needle}"
                );
            }
        }
        assert_eq!(Settings::keys().len(), 25);
    }
}
