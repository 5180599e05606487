//! The live sessions' background work: the media engine's events, the periodic clean-up
//! (expired keys, grace periods, expired tokens), and ending sessions.
//!
//! The engine reports on a crossbeam channel; a plain thread waits on it and hands each
//! event to a tokio task, which updates the live state and publishes session events. The
//! clean-up runs every 10 s, or every quarter of the grace period when that is shorter, on
//! the API's [`Clock`](crate::api::Clock) so that tests can skip ahead.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use media_core::ids::{MediaKind, ParticipantId, TrackId};
use media_core::{EngineEvent, SessionEvent as EngineSessionEvent};
use tokio::sync::mpsc;

use super::{engine_call, who, LiveSession, PersonKey};
use crate::api::events::SessionEvent;
use crate::api::{App, Metrics};
use crate::http::Problem;
use crate::store::{SessionId, SessionState, StoreError, SupportSession, TenantId};

/// Longest pause between two clean-up rounds.
const CLEANUP_EVERY: Duration = Duration::from_secs(10);
/// Shortest pause between two clean-up rounds.
const CLEANUP_AT_LEAST: Duration = Duration::from_millis(100);
/// How long a customer who joined may stay without any media connection before the session
/// ends (`customer_absent`): its relay port is not held for nobody.
const CUSTOMER_ABSENT_SECS: i64 = 30 * 60;
/// Engine events kept per session while they name what the API has not recorded yet.
const MAX_ORPHANS: usize = 64;
/// How long the event thread waits before checking whether the API still exists.
const EVENT_POLL: Duration = Duration::from_millis(500);

/// Starts the engine event pump and the periodic clean-up.
pub(crate) fn spawn_background(app: &Arc<App>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let events = app.engine.events().clone();
    let spawned = std::thread::Builder::new()
        .name("api-engine-events".to_owned())
        .spawn(move || loop {
            match events.recv_timeout(EVENT_POLL) {
                Ok(event) => {
                    if tx.send(event).is_err() {
                        return;
                    }
                }
                Err(error) if error.is_disconnected() => return,
                Err(_) if tx.is_closed() => return,
                Err(_) => {}
            }
        });
    if let Err(error) = spawned {
        tracing::error!(target: "api", %error, "cannot start the engine event thread");
    }

    let weak = Arc::downgrade(app);
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            let Some(app) = weak.upgrade() else { return };
            handle_engine_event(&app, event).await;
        }
    });

    let weak = Arc::downgrade(app);
    let every = (app.config.grace_period / 4).clamp(CLEANUP_AT_LEAST, CLEANUP_EVERY);
    tokio::spawn(async move { cleanup_loop(weak, every).await });
}

async fn cleanup_loop(weak: Weak<App>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(app) = weak.upgrade() else { return };
        cleanup(&app).await;
    }
}

/// One clean-up round.
async fn cleanup(app: &Arc<App>) {
    let now = app.clock.unix_now();
    for id in app.live.ids() {
        if let Some((tenant, reason)) = app.live.with(id, |s| due_end(app, s, now)).flatten() {
            if let Err(problem) = end_session(app, tenant, id, reason).await {
                tracing::warn!(target: "api", session = %id, %problem, "could not end session");
            }
        }
        expire_staff_grace(app, id).await;
    }
    end_sessions_of_terminated_tenants(app, now).await;
    if let Err(error) = app.store.end_unjoined_expired_sessions(now).await {
        tracing::error!(target: "api", %error, "ending expired sessions failed");
    }
    if let Err(error) = app.store.purge_expired_tokens(now).await {
        tracing::error!(target: "api", %error, "purging expired tokens failed");
    }
}

/// Ends the live sessions of tenants whose subscription ended (`sightline tenant
/// terminate`, which another process may have run): their staff can no longer sign in,
/// and their customers must not keep a relay port.
async fn end_sessions_of_terminated_tenants(app: &Arc<App>, now: i64) {
    let mut tenants: Vec<TenantId> = Vec::new();
    for id in app.live.ids() {
        if let Some(tenant) = app.live.with(id, |s| s.tenant) {
            if !tenants.contains(&tenant) {
                tenants.push(tenant);
            }
        }
    }
    for tenant in tenants {
        let ended = match app.store.tenant(tenant).get().await {
            Ok(row) => row.subscription_ended_at.is_some_and(|at| at <= now),
            Err(error) => {
                tracing::error!(target: "api", %error, "reading a tenant failed");
                false
            }
        };
        if !ended {
            continue;
        }
        for id in app.live.ids() {
            if app.live.with(id, |s| s.tenant == tenant) == Some(true) {
                if let Err(problem) = end_session(app, tenant, id, "tenant_terminated").await {
                    tracing::warn!(target: "api", session = %id, %problem, "could not end session");
                }
            }
        }
    }
}

/// Why `session` ends now, if it does: its key expired unjoined, the customer has had no
/// media resource for [`CUSTOMER_ABSENT_SECS`] since it joined or was last seen with one
/// (recorded here, at each round), or the customer's grace period ran out.
fn due_end(app: &App, session: &mut LiveSession, now: i64) -> Option<(TenantId, &'static str)> {
    if !session.joined && session.key_expires_at <= now {
        return Some((session.tenant, "key_expired"));
    }
    if session.people.contains_key(&PersonKey::Customer) {
        session.customer_seen_at = Some(now);
    } else if let Some(since) = session.customer_seen_at.or(session.joined_at) {
        if since + CUSTOMER_ABSENT_SECS <= now {
            return Some((session.tenant, "customer_absent"));
        }
    }
    let customer = session.people.get(&PersonKey::Customer)?;
    let lost = customer.grace_until.is_some_and(|t| t <= app.clock.now());
    lost.then_some((session.tenant, "customer_lost"))
}

/// Removes the staff people of `id` whose grace period ran out.
async fn expire_staff_grace(app: &Arc<App>, id: SessionId) {
    let now = app.clock.now();
    let expired = app.live.with(id, |s| {
        let keys: Vec<PersonKey> = s
            .people
            .iter()
            .filter(|(key, p)| {
                matches!(key, PersonKey::Staff(_)) && p.grace_until.is_some_and(|t| t <= now)
            })
            .map(|(key, _)| *key)
            .collect();
        let gone: Vec<_> = keys
            .iter()
            .filter_map(|key| s.people.remove(key).map(|p| (*key, p)))
            .collect();
        (s.engine, gone)
    });
    let Some((engine, gone)) = expired else {
        return;
    };
    for (key, person) in gone {
        for resource in person.resources() {
            let participant = resource.participant;
            let _ = engine_call(app, move |e| e.leave(engine, participant)).await;
        }
        let reason = "grace_expired".to_owned();
        let who = who(key, person.role);
        app.hub.publish(id, SessionEvent::Left { who, reason });
    }
}

/// Applies one engine event to the live state and tells the session's listeners.
async fn handle_engine_event(app: &Arc<App>, event: EngineEvent) {
    let EngineEvent::Session { session, event } = event else {
        return;
    };
    let Some(id) = app.live.by_engine(session) else {
        return;
    };
    let grace_until = app.clock.now() + app.config.grace_period;
    let published = app.live.with(id, |s| apply(s, event, grace_until));
    if let Some(event) = published.flatten() {
        app.hub.publish(id, event);
    }
}

/// Applies the events that named participants or tracks not recorded yet (the engine
/// reports a new participant's slots while the API is still recording it). Call it after
/// recording a resource.
pub(crate) fn replay_orphans(app: &App, id: SessionId) {
    let grace_until = app.clock.now() + app.config.grace_period;
    let published = app.live.with(id, |s| {
        let orphans = std::mem::take(&mut s.orphans);
        orphans
            .into_iter()
            .filter_map(|event| apply(s, event, grace_until))
            .collect::<Vec<_>>()
    });
    for event in published.unwrap_or_default() {
        app.hub.publish(id, event);
    }
}

/// The session event an engine event makes, if any; one about a participant or track the
/// session does not know yet is kept for [`replay_orphans`].
fn apply(
    s: &mut LiveSession,
    event: EngineSessionEvent,
    grace_until: Instant,
) -> Option<SessionEvent> {
    let resolved = match &event {
        EngineSessionEvent::Connected { participant, .. } => on_connected(s, *participant),
        EngineSessionEvent::Disconnected { participant, .. } => {
            // One the API removed itself (left, replaced, transferred) is not known: fine.
            return on_disconnected(s, *participant, grace_until);
        }
        EngineSessionEvent::SlotFilled {
            participant,
            mid,
            track,
        } => on_slot_filled(s, *participant, mid.to_string(), *track),
        EngineSessionEvent::SlotEmpty {
            participant,
            mid,
            reason,
        } => on_slot_empty(s, *participant, mid.to_string(), reason.clone()),
    };
    if resolved.is_none() {
        if s.orphans.len() >= MAX_ORPHANS {
            s.orphans.remove(0);
        }
        s.orphans.push(event);
    }
    resolved.flatten()
}

/// `None` when the participant is unknown; `Some(None)` when nothing is published.
fn on_connected(s: &mut LiveSession, participant: ParticipantId) -> Option<Option<SessionEvent>> {
    let (key, direction) = s.owner_of(participant)?;
    let person = s.people.get_mut(&key)?;
    let first = !person.connected();
    person.grace_until = None;
    if let Some(resource) = person.slot(direction).as_mut() {
        resource.connected = true;
    }
    Some(first.then(|| SessionEvent::Joined { who: s.who(key) }))
}

fn on_disconnected(
    s: &mut LiveSession,
    participant: ParticipantId,
    grace_until: Instant,
) -> Option<SessionEvent> {
    let (key, direction) = s.owner_of(participant)?;
    let person = s.people.get_mut(&key)?;
    *person.slot(direction) = None;
    if person.resources().next().is_some() {
        return None;
    }
    person.grace_until = Some(grace_until);
    let reason = "connection_lost".to_owned();
    Some(SessionEvent::Left {
        who: s.who(key),
        reason,
    })
}

fn on_slot_filled(
    s: &LiveSession,
    participant: ParticipantId,
    mid: String,
    track: TrackId,
) -> Option<Option<SessionEvent>> {
    let (key, _) = s.owner_of(participant)?;
    let kind = match s.track_kind(track)? {
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
    };
    let who = s.who(key);
    Some(Some(SessionEvent::SlotFilled { who, mid, kind }))
}

fn on_slot_empty(
    s: &LiveSession,
    participant: ParticipantId,
    mid: String,
    reason: String,
) -> Option<Option<SessionEvent>> {
    let (key, _) = s.owner_of(participant)?;
    let who = s.who(key);
    Some(Some(SessionEvent::SlotEmpty { who, mid, reason }))
}

/// Ends the session `id` of `tenant` for `reason`: records it (unless it had ended),
/// revokes the customer's tokens, closes the engine session and tells the listeners.
/// Returns whether this call ended it.
pub(crate) async fn end_session(
    app: &Arc<App>,
    tenant: TenantId,
    id: SessionId,
    reason: &str,
) -> Result<bool, Problem> {
    let sessions = app.store.tenant(tenant).sessions();
    let ended = match sessions.end(id, reason).await {
        Ok(()) => true,
        Err(StoreError::Conflict(_)) => false,
        Err(error) => return Err(error.into()),
    };
    sessions.revoke_customer_tokens(id).await?;
    if let Some(live) = app.live.remove(id) {
        let engine = live.engine;
        if let Err(error) = engine_call(app, move |e| e.close_session(engine)).await {
            tracing::warn!(target: "api", session = %id, %error, "closing engine session");
        }
    }
    app.hub.close(id, reason);
    if ended {
        Metrics::bump(&app.metrics.sessions_ended);
        tracing::info!(target: "api", session = %id, reason, "session ended");
    }
    Ok(ended)
}

/// The engine session of `row`, created if the session has none in this process (the
/// daemon restarted since it was created).
pub(crate) async fn ensure_live(
    app: &Arc<App>,
    row: &SupportSession,
) -> Result<super::EngineSession, Problem> {
    if let Some(engine) = app.live.with(row.id, |s| s.engine) {
        return Ok(engine);
    }
    let info = engine_call(app, |e| e.create_session())
        .await
        .map_err(super::super::sessions::engine_problem)?;
    let mut live = LiveSession::new(row.tenant_id, info.id, info.relay);
    live.held = row.state == SessionState::Held;
    live.joined = row.joined_at.is_some();
    live.joined_at = row.joined_at;
    live.key_expires_at = row.key_expires_at;
    if !app.live.insert(row.id, live) {
        let _ = engine_call(app, move |e| e.close_session(info.id)).await;
    }
    app.live
        .with(row.id, |s| s.engine)
        .ok_or_else(Problem::internal)
}

/// Ends every live session with `reason`.
pub(crate) async fn end_all(app: &Arc<App>, reason: &str) {
    for id in app.live.ids() {
        let Some(tenant) = app.live.with(id, |s| s.tenant) else {
            continue;
        };
        if let Err(problem) = end_session(app, tenant, id, reason).await {
            tracing::warn!(target: "api", session = %id, %problem, "could not end session");
        }
    }
}
