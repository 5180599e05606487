//! The `sightline` binary's operator commands and `check-config`, run as a subprocess on a
//! temporary data directory.

#![allow(clippy::unwrap_used)]

#[path = "common/binary.rs"]
mod binary;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use binary::sightline;
use serde_json::Value;
use sightline_control::http::load_or_generate;

/// A password that passes the policy.
const PASSWORD: &str = "Harbour-Lantern-42";

fn run(command: &mut Command) -> Output {
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn create(dir: &Path, name: &str, email: &str, password: &str) -> Output {
    run(sightline(dir)
        .args(["tenant", "create", "--name", name, "--admin-email", email])
        .env("SIGHTLINE_PASSWORD", password))
}

fn tenants(dir: &Path) -> Vec<Value> {
    let out = run(sightline(dir).args(["tenant", "list", "--json"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn tenant_create_with_the_password_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = create(dir.path(), "Acme", "admin@acme.example", PASSWORD);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let ids: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tenant_id = ids["tenant_id"].as_str().unwrap();
    assert_eq!(ids["admin_id"].as_str().unwrap().len(), 36);
    let listed = tenants(dir.path());
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], tenant_id);
    assert_eq!(listed[0]["name"], "Acme");
    assert!(listed[0]["subscription_ended_at"].is_null());
    assert!(!text(&out.stdout).contains(PASSWORD) && !text(&out.stderr).contains(PASSWORD));
}

#[test]
fn tenant_create_reads_the_password_from_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = sightline(dir.path())
        .args([
            "tenant",
            "create",
            "--name",
            "Globex",
            "--admin-email",
            "it@globex.example",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(tenants(dir.path())[0]["name"], "Globex");
}

#[test]
fn weak_password_is_refused_with_the_reason_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let out = create(dir.path(), "Initech", "boss@initech.example", "password1");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("password refused: too easy to guess"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("password1"),
        "the refusal echoes the password: {stderr}"
    );

    let short = create(dir.path(), "Initech", "boss@initech.example", "a1");
    assert!(
        text(&short.stderr).contains("too short"),
        "{}",
        text(&short.stderr)
    );
    // Nothing was created, not even the database: listing says there is none.
    let list = run(sightline(dir.path()).args(["tenant", "list"]));
    assert_eq!(list.status.code(), Some(1));
    assert!(
        text(&list.stderr).contains("no database at"),
        "{}",
        text(&list.stderr)
    );
}

#[test]
fn commands_other_than_create_refuse_a_data_directory_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo");
    for args in [
        vec!["tenant", "list"],
        vec!["tenant", "terminate", "acme"],
        vec!["user", "unlock", "a@b.example"],
    ] {
        let out = run(sightline(&typo).args(&args));
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains("no database at"), "{args:?}: {stderr}");
    }
    assert!(!typo.exists(), "a command made the mistyped data directory");

    let out = create(
        dir.path(),
        "Initech",
        "boss@initech.example",
        "Harbour-Lantern-42",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = format!("data directory: {}", dir.path().display());
    assert!(text(&out.stderr).contains(&said), "{}", text(&out.stderr));
    assert_eq!(tenants(dir.path()).len(), 1);
}

#[test]
fn duplicate_tenant_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(create(dir.path(), "Acme", "a@acme.example", PASSWORD)
        .status
        .success());
    let again = create(dir.path(), "Acme", "b@acme.example", PASSWORD);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("a tenant with this name exists"));

    let same_email = create(dir.path(), "Other", "a@acme.example", PASSWORD);
    assert!(text(&same_email.stderr).contains("a user with this email exists"));
    assert_eq!(tenants(dir.path()).len(), 1);
}

#[test]
fn list_table_terminate_and_unlock() {
    let dir = tempfile::tempdir().unwrap();
    assert!(create(dir.path(), "Acme", "admin@acme.example", PASSWORD)
        .status
        .success());
    let table = run(sightline(dir.path()).args(["tenant", "list"]));
    let table = text(&table.stdout);
    assert!(table.starts_with("NAME") && table.contains("Acme") && table.contains("active"));

    let ended = run(sightline(dir.path()).args(["tenant", "terminate", "Acme"]));
    assert!(ended.status.success(), "{}", text(&ended.stderr));
    assert!(tenants(dir.path())[0]["subscription_ended_at"].is_string());
    let unknown = run(sightline(dir.path()).args(["tenant", "terminate", "Nobody"]));
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("tenant not found"));

    let unlock = run(sightline(dir.path()).args(["user", "unlock", "ADMIN@acme.example"]));
    assert!(unlock.status.success(), "{}", text(&unlock.stderr));
    let missing = run(sightline(dir.path()).args(["user", "unlock", "who@nowhere.example"]));
    assert_eq!(missing.status.code(), Some(1));
    let reason = text(&missing.stderr);
    assert!(
        reason.contains("cannot unlock who@nowhere.example: user not found"),
        "{reason}"
    );
}

#[test]
fn usage_mistakes_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(sightline(dir.path()).args(["tenant", "create", "--name", "X"]));
    assert_eq!(out.status.code(), Some(2));
    let out = run(sightline(dir.path()).args(["check-config", "--media-port-min", "many"]));
    assert_eq!(out.status.code(), Some(2));
}

fn check_config(dir: &Path, toml: &str) -> Output {
    let file = dir.join("sightline.toml");
    std::fs::write(&file, toml).unwrap();
    run(sightline(&dir.join("data"))
        .args(["check-config", "--config"])
        .arg(&file))
}

#[test]
fn check_config_accepts_a_good_file_with_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    load_or_generate(dir.path()).unwrap();
    let tls = dir.path().join("tls");
    let toml = format!(
        "listen = \"0.0.0.0:443\"\npublic_url = \"https://support.example.com/\"\n\
         cert_file = \"{}\"\nkey_file = \"{}\"\ncors_origins = [\"https://desk.example.com\"]\n\
         media_port_min = 50000\nmedia_port_max = 50099\nmetrics_listen = \"off\"\n",
        tls.join("self-signed-cert.pem").display(),
        tls.join("self-signed-key.pem").display(),
    );
    let out = check_config(dir.path(), &toml);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}{stdout}", text(&out.stderr));
    assert!(stdout.contains("configuration is valid"));
    assert!(
        stdout.contains("public URL: https://support.example.com\n"),
        "{stdout}"
    );
    assert!(stdout.contains("ports 50000-50099") && stdout.contains("metrics: off"));
    assert!(!stdout.contains("PRIVATE KEY"));
    assert!(
        dir.path().join("data").is_dir(),
        "the data directory is created"
    );
}

#[test]
fn check_config_names_an_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = check_config(dir.path(), "listen = \"127.0.0.1:8443\"\nlisen_port = 1\n");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("unknown field `lisen_port`"), "{stderr}");
}

#[test]
fn check_config_refuses_a_bad_port_range() {
    let dir = tempfile::tempdir().unwrap();
    let out = check_config(
        dir.path(),
        "media_port_min = 45000\nmedia_port_max = 44000\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("media_port_min (45000) is above media_port_max (44000)"),
        "{stderr}"
    );
}

#[test]
fn check_config_refuses_a_missing_certificate_file() {
    let dir = tempfile::tempdir().unwrap();
    let toml = "cert_file = \"/nonexistent/cert.pem\"\nkey_file = \"/nonexistent/key.pem\"\n";
    let out = check_config(dir.path(), toml);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cert_file: cannot read /nonexistent/cert.pem"),
        "{stderr}"
    );
}

#[test]
fn check_config_refuses_a_key_of_another_certificate() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    load_or_generate(a.path()).unwrap();
    load_or_generate(b.path()).unwrap();
    let toml = format!(
        "cert_file = \"{}\"\nkey_file = \"{}\"\n",
        a.path().join("tls/self-signed-cert.pem").display(),
        b.path().join("tls/self-signed-key.pem").display(),
    );
    let out = check_config(a.path(), &toml);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("does not belong to the certificate"));
}

#[test]
fn check_config_flags_win_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sightline.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:1\"\n").unwrap();
    let out = run(sightline(dir.path())
        .args(["check-config", "--listen", "127.0.0.1:2", "--config"])
        .arg(&file)
        .env("SIGHTLINE_LISTEN", "127.0.0.1:3"));
    assert!(
        text(&out.stdout).contains("HTTPS: 127.0.0.1:2 "),
        "{}",
        text(&out.stdout)
    );
    let out = run(sightline(dir.path())
        .args(["check-config", "--config"])
        .arg(&file)
        .env("SIGHTLINE_LISTEN", "127.0.0.1:3"));
    assert!(
        text(&out.stdout).contains("HTTPS: 127.0.0.1:3 "),
        "{}",
        text(&out.stdout)
    );
}
