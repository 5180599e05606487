//! The HTTPS API of the daemon: accounts, support sessions, media signalling and events.
//!
//! [`App`] is the state every request handler shares: the store, the media engine, the
//! in-memory guards against guessing (sign-in lockout, per-source throttles), the live
//! sessions with their media participants, the per-session event hub and the metrics.
//! [`router`] builds the route table from the modules below, each of which adds its own
//! routes:
//!
//! | module | routes |
//! |---|---|
//! | [`accounts`] | sign-in and sign-out, password change, TOTP and recovery codes, agents, tenant settings |
//! | [`sessions`] | support sessions, joining by PIN or link, consent, hold, transfer, invitations |
//! | [`media`] | WHIP and WHEP (RFC 9725) resources of a session's participants |
//! | [`events`] | the session's WebSocket: state, chat and annotations |
//!
//! [`caller`] turns a request's bearer token into who is calling; [`cors`] answers
//! preflights and decorates responses for the configured web-tier origins.
//!
//! The API contract (paths, fields, error codes) is described in `docs/openapi.json`.

pub mod access;
pub mod accounts;
pub mod caller;
pub mod cors;
pub mod events;
pub mod live;
pub mod media;
pub mod sessions;

mod clock;
mod metrics;
mod summary;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use media_core::Engine;

use crate::auth::lockout::{Lockout, LockoutPolicy, SourceThrottle, ThrottlePolicy};
use crate::auth::password::Params;
use crate::http::{Handler, Readiness, Router};
use crate::store::Store;

pub use clock::Clock;
pub use metrics::Metrics;
pub use summary::Summarised;

/// Settings of the API, from the daemon's configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The web address customers open, without a trailing slash; a session's `join_url`
    /// is this followed by `/join#` and the join token.
    pub public_url: String,
    /// How long an administrator's or agent's bearer token works after sign-in.
    pub staff_token_ttl: Duration,
    /// How long a customer's bearer token works after joining (at most; it stops when
    /// the session ends).
    pub customer_token_ttl: Duration,
    /// How long a participant whose connections dropped keeps its place.
    pub grace_period: Duration,
    /// Web-tier origins allowed by CORS (`https://support.example.com`); empty: none.
    pub cors_origins: Vec<String>,
    /// Argon2id cost of new password hashes.
    pub password_params: Params,
    /// Sign-in lockout per email.
    pub lockout: LockoutPolicy,
    /// Sign-in attempts per source address (IPv4 address, IPv6 /64).
    pub login_throttle: ThrottlePolicy,
    /// PIN and join-link attempts per source address.
    pub join_throttle: ThrottlePolicy,
    /// PIN and join-link attempts from all sources together.
    pub join_global_throttle: ThrottlePolicy,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            public_url: "https://127.0.0.1:8443".to_owned(),
            staff_token_ttl: Duration::from_secs(12 * 3600),
            customer_token_ttl: Duration::from_secs(8 * 3600),
            grace_period: Duration::from_secs(60),
            cors_origins: Vec::new(),
            password_params: Params::default(),
            lockout: LockoutPolicy::default(),
            login_throttle: ThrottlePolicy::default(),
            join_throttle: ThrottlePolicy {
                burst: 10,
                refill_every: Duration::from_secs(6),
                capacity: 100_000,
            },
            join_global_throttle: ThrottlePolicy {
                burst: 200,
                refill_every: Duration::from_millis(50),
                capacity: 1,
            },
        }
    }
}

/// The in-memory defences against guessing, behind one lock (each check is a few hashes).
#[derive(Debug)]
pub struct Guards {
    /// Failed sign-ins per email.
    pub lockout: Lockout,
    /// Sign-in attempts per source.
    pub login_sources: SourceThrottle,
    /// PIN and join-link attempts per source.
    pub join_sources: SourceThrottle,
    /// PIN and join-link attempts in all, kept as one source (`0.0.0.0`).
    pub join_global: SourceThrottle,
}

/// What every request handler shares; see the module documentation.
pub struct App {
    /// The database.
    pub store: Store,
    /// The media engine running in this process.
    pub engine: Engine,
    /// The API's settings.
    pub config: ApiConfig,
    /// The time every validity check uses.
    pub clock: Clock,
    /// Lockout and throttles.
    guards: Mutex<Guards>,
    /// Support sessions with media participants in this process.
    pub live: live::LiveSessions,
    /// Per-session event streams (the WebSocket).
    pub hub: events::EventHub,
    /// Counters for the metrics listener.
    pub metrics: Metrics,
    /// Whether the daemon takes traffic (`/readyz`).
    pub readiness: Readiness,
    draining: AtomicBool,
}

impl App {
    /// The shared state over an open store and a running engine.
    pub fn new(store: Store, engine: Engine, config: ApiConfig, clock: Clock) -> Arc<App> {
        let guards = Guards {
            lockout: Lockout::new(config.lockout.clone()),
            login_sources: SourceThrottle::new(config.login_throttle.clone()),
            join_sources: SourceThrottle::new(config.join_throttle.clone()),
            join_global: SourceThrottle::new(config.join_global_throttle.clone()),
        };
        Arc::new(App {
            store,
            engine,
            config,
            clock,
            guards: Mutex::new(guards),
            live: live::LiveSessions::default(),
            hub: events::EventHub::default(),
            metrics: Metrics::default(),
            readiness: Readiness::new(),
            draining: AtomicBool::new(false),
        })
    }

    /// The guards, locked; hold the guard only for the check, never across an `await`.
    pub fn guards(&self) -> MutexGuard<'_, Guards> {
        // A panic while holding the lock leaves counters, not broken invariants: go on.
        self.guards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stops taking new sessions (SIGTERM); running ones go on until they end.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
        self.readiness.set_ready(false);
    }

    /// Whether the daemon is draining: new sessions and joins get 503.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }
}

/// Starts the API's background work on the current tokio runtime: the pump of media
/// engine events into the live sessions, and the periodic clean-up of expired keys and
/// tokens. Call it once, after [`App::new`].
pub fn spawn_background(app: &Arc<App>) {
    live::spawn_background(app);
}

/// Ends every live session with `reason` (after a SIGTERM's drain time), so that their
/// participants are told and the store records the end.
pub async fn end_all_sessions(app: &Arc<App>, reason: &str) {
    live::end_all(app, reason).await;
}

/// A Unix time as an RFC 3339 UTC timestamp (`2026-12-03T16:45:00Z`), the form every
/// time in the API takes.
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (the era-based method:
/// 400-year eras of 146 097 days, years starting in March so leap days come last).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// What the HTTPS server serves: the [`router`] behind the CORS layer.
pub fn handler(app: &Arc<App>) -> impl Handler {
    cors::Cors::new(router(app), &app.config.cors_origins)
}

/// The complete route table of the API, with `/healthz`, `/readyz` and the web client.
pub fn router(app: &Arc<App>) -> Router {
    let router = Router::new().with_health(app.readiness.clone());
    let router = accounts::routes(router, app);
    let router = sessions::routes(router, app);
    let router = media::routes(router, app);
    let router = crate::web::routes(router);
    events::routes(router, app)
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // 2000-02-29 (a leap day of a century divisible by 400) 12:34:56 UTC.
        assert_eq!(rfc3339(951_827_696), "2000-02-29T12:34:56Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }
}
