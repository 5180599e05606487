//! The API answers over real HTTPS: health, readiness, and a 401 without a token.

#![allow(clippy::unwrap_used)]

mod common;

use common::TestDaemon;
use hyper::{Method, StatusCode};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_over_https() {
    let daemon = TestDaemon::start().await;
    let health = daemon
        .call(Method::GET, "/healthz", None, Value::Null)
        .await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json["status"], "ok");

    daemon.app.start_draining();
    let ready = daemon.call(Method::GET, "/readyz", None, Value::Null).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.error(), "not_ready");
}

/// curl 7.88 (Debian 12's, the client the README shows) reports an HTTP/2 stream reset as
/// a failure even when the answer came first; the server must have read the body before it
/// answers, so that an early 415 or 401 reaches it. `scripts/setup-test-env.sh` installs
/// curl; without it this test says so and checks nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_answers_reach_curl_over_http2() {
    let daemon = TestDaemon::start().await;
    let cafile = daemon.dir.path().join("tls/self-signed-cert.pem");
    let base = format!("https://127.0.0.1:{}", daemon.addr.port());
    let curl = |path: &str, content_type: &str| {
        std::process::Command::new("curl")
            .args([
                "-sS",
                "--http2",
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code}",
            ])
            .arg("--cacert")
            .arg(&cafile)
            .args(["-H", &format!("content-type: {content_type}")])
            .args(["--data-binary", &"x".repeat(2000)])
            .arg(format!("{base}{path}"))
            .output()
    };
    let cases = [
        ("/v1/auth/login", "text/plain", "2 415"),
        ("/v1/agents", "application/json", "2 401"),
    ];
    for (path, content_type, expected) in cases {
        for _ in 0..10 {
            let output = match tokio::task::block_in_place(|| curl(path, content_type)) {
                Ok(output) => output,
                Err(error) => {
                    eprintln!("skipped: curl cannot run ({error}); setup-test-env.sh installs it");
                    return;
                }
            };
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(stdout, expected, "{path}: curl said {stderr}");
        }
    }
}
