//! `sightline serve` as a subprocess: it comes up on the embedded defaults with only a data
//! directory and free ports, answers health, readiness and metrics, drains on SIGTERM and
//! exits 0, loses nothing committed to kill -9, and keeps passwords out of its log. Also
//! checks the systemd unit with `systemd-analyze` when the tool exists.

#![allow(clippy::unwrap_used)]

use std::fs::File;
#[path = "common/binary.rs"]
mod binary;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use binary::sightline;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// A password that passes the policy; it must never reach a log.
const PASSWORD: &str = "Harbour-Lantern-42";

/// Longest wait for the daemon to come up.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A free TCP port on 127.0.0.1 (bound, read, released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `sightline serve` child with its log in a file.
struct Daemon {
    child: Child,
    _dir: tempfile::TempDir,
    /// The data directory, made by the daemon.
    data: PathBuf,
    https_port: u16,
    metrics_port: u16,
    log: PathBuf,
}

impl Daemon {
    /// Starts `serve` with only the data directory and free ports (plus `extra` flags).
    fn start(extra: &[&str]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (https_port, metrics_port) = (free_port(), free_port());
        let log = dir.path().join("stderr.log");
        let child = Command::new(env!("CARGO_BIN_EXE_sightline"))
            .arg("serve")
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen", &format!("127.0.0.1:{https_port}")])
            .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
            .args(["--media-workers", "1", "--media-pin-workers", "false"])
            .args(["--log-filter", "debug"])
            .args(extra)
            .env("SIGHTLINE_PASSWORD", PASSWORD)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon {
            child,
            _dir: dir,
            data,
            https_port,
            metrics_port,
            log,
        }
    }

    /// Waits until `/healthz` answers 200 over HTTPS, trusting the generated certificate.
    async fn wait_healthy(&mut self) {
        let started = Instant::now();
        while started.elapsed() < START_DEADLINE {
            if let Some(status) = self.https_status("/healthz").await {
                assert_eq!(status, 200);
                return;
            }
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no /healthz within 30 s: {}", self.log_text());
    }

    /// The status of `GET path` over HTTPS; `None` if the daemon cannot be reached.
    async fn https_status(&self, path: &str) -> Option<u16> {
        let cert = std::fs::read(self.data.join("tls/self-signed-cert.pem")).ok()?;
        let mut roots = RootCertStore::empty();
        for der in CertificateDer::pem_slice_iter(&cert) {
            roots.add(der.ok()?).ok()?;
        }
        // An explicit provider: the test build also links rustls with ring (through the
        // `rtc` test peer), and with two providers rustls picks no process default.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .ok()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.https_port))
            .await
            .ok()?;
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let tls = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .ok()?;
        let io = hyper_util::rt::TokioIo::new(tls);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.ok()?;
        tokio::spawn(connection);
        let request = hyper::Request::get(path)
            .header("host", format!("127.0.0.1:{}", self.https_port))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.ok()?;
        let status = response.status().as_u16();
        let _ = response.into_body().collect().await;
        Some(status)
    }

    /// `GET path` on the metrics listener: the status line and the body.
    fn metrics(&self, path: &str) -> (String, String) {
        let mut tcp = TcpStream::connect(("127.0.0.1", self.metrics_port)).unwrap();
        write!(
            tcp,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        tcp.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        (head.lines().next().unwrap().to_owned(), body.to_owned())
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `limit`.
    fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < limit, "still running after {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs an operator command on the daemon's data directory.
    fn command(&self, args: &[&str]) -> Output {
        sightline(&self.data)
            .args(args)
            .env("SIGHTLINE_PASSWORD", PASSWORD)
            .output()
            .unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_comes_up_and_drains_on_sigterm() {
    let mut daemon = Daemon::start(&["--drain-notice-secs", "3", "--drain-secs", "5"]);
    daemon.wait_healthy().await;
    assert_eq!(daemon.https_status("/readyz").await, Some(200));
    let key = daemon.data.join("tls/self-signed-key.pem");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&daemon.data), 0o700);
    assert!(daemon.data.join("sightline.db").is_file());

    let (status, body) = daemon.metrics("/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    for line in [
        "# TYPE sightline_logins_failed_total counter",
        "sightline_sessions_created_total 0",
        "sightline_live_sessions 0",
        "sightline_engine_sessions 0",
        "sightline_ready 1",
        "sightline_draining 0",
        "sightline_build_info{version=\"",
    ] {
        assert!(body.contains(line), "{line} missing from\n{body}");
    }
    assert_eq!(daemon.metrics("/other").0, "HTTP/1.1 404 Not Found");

    daemon.signal("TERM");
    let mut saw_503 = false;
    for _ in 0..20 {
        if daemon.https_status("/readyz").await == Some(503) {
            saw_503 = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(saw_503, "readyz never answered 503 while draining");
    assert!(daemon
        .metrics("/metrics")
        .1
        .contains("sightline_draining 1"));

    // Drain notice 3 s (no live session), HTTPS drain at most 10 s, slack 5 s.
    let status = daemon.wait_exit(Duration::from_secs(18));
    let log = daemon.log_text();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("stopped"), "{log}");
    assert!(!log.contains(PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let mut daemon = Daemon::start(&["--drain-notice-secs", "60", "--drain-secs", "60"]);
    daemon.wait_healthy().await;
    daemon.signal("TERM");
    let started = Instant::now();
    while daemon.https_status("/readyz").await != Some(503) {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    daemon.signal("INT");
    let status = daemon.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(130), "{}", daemon.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_committed_write_and_logs_no_password() {
    let mut daemon = Daemon::start(&[]);
    daemon.wait_healthy().await;

    let created = daemon.command(&[
        "tenant",
        "create",
        "--name",
        "Acme",
        "--admin-email",
        "admin@acme.example",
    ]);
    let cli_output = format!("{}{}", text(&created.stdout), text(&created.stderr));
    assert!(created.status.success(), "{cli_output}");
    assert!(!cli_output.contains(PASSWORD));

    daemon.signal("KILL");
    let status = daemon.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), None, "killed by a signal");

    let listed = daemon.command(&["tenant", "list", "--json"]);
    let tenants: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(tenants[0]["name"], "Acme", "{}", text(&listed.stderr));
    let log = daemon.log_text();
    assert!(log.contains("sightline is ready"), "{log}");
    assert!(!log.contains(PASSWORD), "the password is in the log");
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Highest `systemd-analyze security` exposure accepted; the unit measured 1.6.
const MAX_EXPOSURE: f64 = 2.0;

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("skipped: systemd-analyze is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("sightline.service");
    let source = include_str!("../../systemd/sightline.service");
    assert!(source.contains("ExecStart=/usr/local/bin/sightline serve"));
    let binary = env!("CARGO_BIN_EXE_sightline");
    std::fs::write(&unit, source.replace("/usr/local/bin/sightline", binary)).unwrap();

    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let complaints = text(&verify.stderr);
    assert!(
        verify.status.success(),
        "systemd-analyze verify: {complaints}"
    );
    assert!(!complaints.contains("sightline.service"), "{complaints}");

    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&unit)
        .output()
        .unwrap();
    if !security.status.success() {
        println!("skipped security: {}", text(&security.stderr));
        return;
    }
    let report = text(&security.stdout);
    let score: f64 = report
        .lines()
        .find_map(|line| line.split("exposure level for").nth(1))
        .and_then(|rest| rest.split(':').nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    println!("systemd-analyze security exposure: {score}");
    assert!(
        score <= MAX_EXPOSURE,
        "exposure {score} above {MAX_EXPOSURE}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_data_directory_is_refused() {
    let mut first = Daemon::start(&[]);
    first.wait_healthy().await;
    let port = free_port().to_string();
    let mut second = sightline(&first.data)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics-listen", "off", "--media-workers", "1"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(15) {
            second.kill().unwrap();
            panic!("a second daemon started on the same data directory");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    second
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another sightline serve is running on the data directory"),
        "{stderr}"
    );
    // The first one is untouched.
    assert_eq!(first.https_status("/readyz").await, Some(200));
}
