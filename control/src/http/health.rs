//! Liveness and readiness: `/healthz` and `/readyz`.
//!
//! `/healthz` answers 200 whenever the process can serve a request at all; a supervisor
//! restarts the daemon when it does not. `/readyz` answers 200 only once the daemon has set
//! its [`Readiness`] (store open, media engine running) and 503 while it starts or drains,
//! so a load balancer sends it no traffic then.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hyper::{Method, StatusCode};
use serde_json::json;

use super::router::Router;
use super::{json_response, Problem};

/// Whether the daemon is ready for traffic; clones share one flag.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// A flag that starts not ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets whether the daemon is ready.
    pub fn set_ready(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    /// Whether the daemon is ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

impl Router {
    /// Adds `GET /healthz` and `GET /readyz`, the latter answering from `readiness`.
    pub fn with_health(self, readiness: Readiness) -> Self {
        self.route(Method::GET, "/healthz", |_| async {
            Ok(json_response(StatusCode::OK, &json!({ "status": "ok" })))
        })
        .route(Method::GET, "/readyz", move |_| {
            let ready = readiness.is_ready();
            async move {
                if !ready {
                    return Err(Problem::service_unavailable("not_ready", None)
                        .with_detail("The daemon is starting or shutting down."));
                }
                Ok(json_response(StatusCode::OK, &json!({ "status": "ok" })))
            }
        })
    }
}
