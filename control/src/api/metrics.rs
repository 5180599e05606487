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

/// One counter of the text exposition: its name, help line and field.
struct Counter {
    name: &'static str,
    help: &'static str,
    read: fn(&Metrics) -> &AtomicU64,
}

/// The counters, in the order they are rendered.
const COUNTERS: &[Counter] = &[
    Counter {
        name: "sightline_logins_succeeded_total",
        help: "Successful sign-ins.",
        read: |m| &m.logins_succeeded,
    },
    Counter {
        name: "sightline_logins_failed_total",
        help: "Refused sign-ins.",
        read: |m| &m.logins_failed,
    },
    Counter {
        name: "sightline_lockouts_total",
        help: "Emails locked after consecutive failed sign-ins.",
        read: |m| &m.lockouts,
    },
    Counter {
        name: "sightline_throttled_total",
        help: "Requests refused by a per-source or global throttle.",
        read: |m| &m.throttled,
    },
    Counter {
        name: "sightline_sessions_created_total",
        help: "Support sessions created.",
        read: |m| &m.sessions_created,
    },
    Counter {
        name: "sightline_sessions_ended_total",
        help: "Support sessions ended, for any reason.",
        read: |m| &m.sessions_ended,
    },
    Counter {
        name: "sightline_customer_joins_total",
        help: "Customers who joined a session.",
        read: |m| &m.customer_joins,
    },
    Counter {
        name: "sightline_join_failures_total",
        help: "PIN or join-link attempts that named no joinable session.",
        read: |m| &m.join_failures,
    },
    Counter {
        name: "sightline_media_resources_created_total",
        help: "WHIP and WHEP resources created.",
        read: |m| &m.media_resources_created,
    },
    Counter {
        name: "sightline_event_sockets_opened_total",
        help: "WebSocket connections opened on session events.",
        read: |m| &m.event_sockets_opened,
    },
];

impl Metrics {
    /// Content type of [`Metrics::render`]'s output.
    pub const CONTENT_TYPE: &'static str = "text/plain; version=0.0.4; charset=utf-8";

    /// The Prometheus text exposition (format 0.0.4) of `app`: the counters, gauges read
    /// from the live state, and the build information.
    pub fn render(app: &super::App) -> String {
        let mut text = String::with_capacity(2048);
        for counter in COUNTERS {
            let value = (counter.read)(&app.metrics).load(Ordering::Relaxed);
            sample(&mut text, counter.name, counter.help, "counter", value);
        }

        let gauges = [
            (
                "sightline_live_sessions",
                "Support sessions with media participants.",
                app.live.len() as u64,
            ),
            (
                "sightline_engine_sessions",
                "Sessions in the media engine.",
                app.engine.session_count() as u64,
            ),
            (
                "sightline_ready",
                "1 when /readyz answers 200.",
                u64::from(app.readiness.is_ready()),
            ),
            (
                "sightline_draining",
                "1 after SIGTERM, while sessions drain.",
                u64::from(app.is_draining()),
            ),
        ];
        for (name, help, value) in gauges {
            sample(&mut text, name, help, "gauge", value);
        }

        let build = format!(
            "sightline_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        );
        sample(
            &mut text,
            &build,
            "Version of the running daemon.",
            "gauge",
            1,
        );
        text
    }
}

/// Appends one metric's HELP, TYPE and sample lines; `name` may carry labels.
fn sample(text: &mut String, name: &str, help: &str, kind: &str, value: u64) {
    use std::fmt::Write;

    let family = name.split('{').next().unwrap_or(name);
    let _ = writeln!(text, "# HELP {family} {help}");
    let _ = writeln!(text, "# TYPE {family} {kind}");
    let _ = writeln!(text, "{name} {value}");
}
