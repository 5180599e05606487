//! Counters of the API, read by the metrics listener (Prometheus text format).
//!
//! Every counter only goes up; gauges (live sessions, participants) are read from the
//! live state when the metrics are rendered.

use std::sync::atomic::{AtomicU64, Ordering};

/// The API's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Successful sign-ins.
    pub logins_succeeded: AtomicU64,
    /// Refused sign-ins (wrong password, unknown email, wrong second factor).
    pub logins_failed: AtomicU64,
    /// Emails locked after consecutive failures.
    pub lockouts: AtomicU64,
    /// Requests refused by a per-source or global throttle.
    pub throttled: AtomicU64,
    /// Support sessions created.
    pub sessions_created: AtomicU64,
    /// Support sessions ended, for any reason.
    pub sessions_ended: AtomicU64,
    /// Customers who joined a session.
    pub customer_joins: AtomicU64,
    /// PIN or join-link attempts that named no joinable session.
    pub join_failures: AtomicU64,
    /// WHIP and WHEP resources created.
    pub media_resources_created: AtomicU64,
    /// WebSocket connections opened on session events.
    pub event_sockets_opened: AtomicU64,
}

impl Metrics {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
