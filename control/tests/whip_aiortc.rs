//! An ordinary WHIP and WHEP client that is not ours: aiortc (OpenSSL DTLS, libsrtp), doing
//! its own RFC 9725 signalling over HTTPS with Python's standard library
//! (`tests/interop/whip_client.py`). The customer publishes camera and microphone through
//! WHIP, the agent watches through WHEP, and the agent's aiortc decodes the frames that
//! crossed the real forwarder. Consent is enforced on this client too.
//!
//! Needs the Python venv that `scripts/setup-test-env.sh` makes (`.venv`, or
//! `$SIGHTLINE_VENV`).

#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/support.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::TestDaemon;
use serde_json::Value;
use support::{consent, join, open_session, Team};

/// Seconds each client runs after its answer.
const RUN_SECS: &str = "12";
/// Longest wait for a client's last line.
const CLIENT_DEADLINE: Duration = Duration::from_secs(60);

fn venv_python() -> PathBuf {
    let venv = std::env::var_os("SIGHTLINE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv"));
    let python = venv.join("bin/python");
    assert!(
        python.exists() && venv.join(".requirements.sha256").exists(),
        "the aiortc client needs the venv at {}; create it with scripts/setup-test-env.sh",
        venv.display()
    );
    python
}

/// A running `whip_client.py` and the JSON lines it printed so far.
struct Client {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Client {
    fn spawn(daemon: &TestDaemon, role: &str, endpoint: &str, token: &str) -> Client {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/whip_client.py");
        let cafile = daemon.dir.path().join("tls/self-signed-cert.pem");
        let url = format!("https://127.0.0.1:{}{endpoint}", daemon.addr.port());
        let mut child = Command::new(venv_python())
            .arg(script)
            .args([
                role,
                "--endpoint",
                &url,
                "--token",
                token,
                "--duration",
                RUN_SECS,
            ])
            .arg("--cafile")
            .arg(cafile)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(value);
                }
            }
        });
        Client { child, lines }
    }

    /// The first line that has `key`, within the deadline.
    fn wait_for(&mut self, key: &str) -> Value {
        let deadline = Instant::now() + CLIENT_DEADLINE;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.get(key).is_some() => return line[key].clone(),
                Ok(line) if key != "refused" && line.get("refused").is_some() => {
                    panic!("the client was refused: {line}")
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("no {key:?} line from the aiortc client within {CLIENT_DEADLINE:?}");
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiortc_publishes_with_whip_and_watches_with_whep_through_the_forwarder() {
    let daemon = TestDaemon::start().await;
    let team = Team::new(&daemon, "acme").await;
    let session = open_session(&daemon, &team.agent_token).await;
    let id = session["id"].as_str().unwrap().to_owned();
    let customer = join(&daemon, &session).await;

    // Before consent the customer's WHIP is refused: nothing is negotiated.
    let mut early = Client::spawn(
        &daemon,
        "--publish",
        &format!("/v1/sessions/{id}/whip"),
        &customer,
    );
    let refused = tokio::task::spawn_blocking(move || early.wait_for("refused"))
        .await
        .unwrap();
    assert_eq!(refused["status"], 403, "{refused}");
    assert_eq!(refused["error"], "consent_required");

    consent(&daemon, &id, &customer, true, true).await;
    let mut viewer = Client::spawn(
        &daemon,
        "--view",
        &format!("/v1/sessions/{id}/whep"),
        &team.agent_token,
    );
    let mut publisher = Client::spawn(
        &daemon,
        "--publish",
        &format!("/v1/sessions/{id}/whip"),
        &customer,
    );

    let (viewed, published) = tokio::task::spawn_blocking(move || {
        let created = viewer.wait_for("created");
        assert!(created["location"]
            .as_str()
            .unwrap()
            .contains("/resources/"));
        assert!(created["etag"].as_str().unwrap().starts_with('"'));
        publisher.wait_for("created");
        (viewer.wait_for("done"), publisher.wait_for("done"))
    })
    .await
    .unwrap();

    assert_eq!(viewed["connection"], "connected", "{viewed}");
    assert_eq!(published["connection"], "connected", "{published}");
    let video_frames = viewed["video"]["frames"].as_u64().unwrap();
    let audio_frames = viewed["audio"]["frames"].as_u64().unwrap();
    assert!(video_frames >= 30, "decoded video frames: {viewed}");
    assert!(audio_frames >= 100, "decoded audio frames: {viewed}");
    assert_eq!(viewed["video"]["corrupt"], 0);
    // Both resources were deleted with a 200 (RFC 9725 section 4.2).
    assert_eq!(viewed["deleted"], 200);
    assert_eq!(published["deleted"], 200);
}
