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
//! The API contract (paths, fields, error codes) is described in `docs/openapi.yaml`.

pub mod accounts;
pub mod caller;
pub mod cors;
pub mod events;
pub mod live;
pub mod media;
pub mod sessions;

mod clock;
mod metrics;

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

/// What the HTTPS server serves: the [`router`] behind the CORS layer.
pub fn handler(app: &Arc<App>) -> impl Handler {
    router(app)
}

/// The complete route table of the API, with `/healthz` and `/readyz`.
pub fn router(app: &Arc<App>) -> Router {
    let router = Router::new().with_health(app.readiness.clone());
    let router = accounts::routes(router, app);
    let router = sessions::routes(router, app);
    let router = media::routes(router, app);
    events::routes(router, app)
}
