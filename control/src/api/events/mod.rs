//! Session events: what happened in a support session, delivered to its participants.
//!
//! [`SessionEvent`] is the schema of the state messages (`type` names the variant);
//! [`EventHub`] fans them out to every listener of a session. The WebSocket at
//! `GET /v1/sessions/{id}/events` (RFC 6455) is built on top of it: [`socket`] upgrades
//! the request and runs the connection, [`messages`] parses and checks what clients send
//! (chat and annotations), and [`limits`] holds the bounds on each socket. The message
//! schema, limits and close codes are documented in `docs/api-events.md`.

pub mod limits;
pub mod messages;
mod socket;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hyper::Method;
use serde::Serialize;
use tokio::sync::broadcast;

use super::App;
use crate::http::Router;
use crate::store::SessionId;

pub use limits::SocketLimits;
pub use messages::{Annotation, AnnotationOp, Coord, Point, Shape, ShapeKind};

/// Events a slow listener may fall behind by before it misses some (and is told so).
const LISTENER_BACKLOG: usize = 256;

/// Who did something or is meant, as session events name participants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Who {
    /// `customer`, `agent` or `admin`.
    pub role: &'static str,
    /// The user id of an agent or administrator; absent for the customer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// Something that happened in a session, as sent to its participants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SessionEvent {
    /// A chat message, relayed to every socket of the session (the sender's included).
    Chat {
        /// Order of the message among everything relayed by this daemon.
        seq: u64,
        /// Who sent it, as the server knows them (never what the client claimed).
        from: Who,
        /// When the server relayed it (RFC 3339).
        at: String,
        /// The text, 1 to 2000 characters.
        text: String,
    },
    /// A drawing operation on the shared video, relayed like chat.
    Annotation {
        /// Order of the message among everything relayed by this daemon.
        seq: u64,
        /// Who drew it, as the server knows them.
        from: Who,
        /// When the server relayed it (RFC 3339).
        at: String,
        /// The operation, checked by the server.
        #[serde(flatten)]
        annotation: Annotation,
    },
    /// A participant connected (joined, or came back within the grace period).
    Joined {
        /// Who.
        who: Who,
    },
    /// A participant left or was dropped.
    Left {
        /// Who.
        who: Who,
        /// Why: `left`, `connection_lost`, `grace_expired`, `transferred`.
        reason: String,
    },
    /// The customer's consent changed.
    Consent {
        /// Whether the camera may be shared.
        camera: bool,
        /// Whether the microphone may be shared.
        microphone: bool,
    },
    /// An agent put the session on hold: no media flows in either direction.
    Hold {
        /// Who.
        by: Who,
    },
    /// An agent resumed the session.
    Resumed {
        /// Who.
        by: Who,
    },
    /// The session was handed to another agent.
    Transferred {
        /// The agent who had it.
        from_agent: String,
        /// The agent who has it now.
        to_agent: String,
    },
    /// An agent was invited to watch.
    Invited {
        /// The invited agent.
        agent_id: String,
    },
    /// A participant's receiving slot now carries media.
    SlotFilled {
        /// The receiving participant.
        who: Who,
        /// The slot (the m-line's mid).
        mid: String,
        /// `audio` or `video`.
        kind: &'static str,
    },
    /// A participant's receiving slot carries nothing (yet, or anymore).
    SlotEmpty {
        /// The receiving participant.
        who: Who,
        /// The slot (the m-line's mid).
        mid: String,
        /// Why, in words.
        reason: String,
    },
    /// The session ended; nothing follows.
    Ended {
        /// Why: `ended_by_agent`, `ended_by_customer`, `key_expired`, `shutdown`, ...
        reason: String,
    },
}

/// Per-session broadcast of [`SessionEvent`]s, and the bookkeeping of the WebSockets
/// that listen to them.
#[derive(Debug, Default)]
pub struct EventHub {
    channels: Mutex<HashMap<SessionId, broadcast::Sender<Arc<SessionEvent>>>>,
    /// Authenticated sockets per session.
    sockets: Mutex<HashMap<SessionId, usize>>,
    /// Authenticated sockets per session and person (`customer` or a user id).
    people: Mutex<HashMap<(SessionId, String), usize>>,
    /// Sockets upgraded but not yet authenticated, in all.
    pending: AtomicUsize,
    /// Last sequence number given to a relayed chat or annotation.
    seq: AtomicU64,
    limits: Mutex<SocketLimits>,
}

impl EventHub {
    /// Sends `event` to every current listener of `session`; nobody listening is fine.
    pub fn publish(&self, session: SessionId, event: SessionEvent) {
        let channels = self.lock();
        if let Some(sender) = channels.get(&session) {
            let _ = sender.send(Arc::new(event));
        }
    }

    /// A new listener of `session`'s events from now on.
    pub fn subscribe(&self, session: SessionId) -> broadcast::Receiver<Arc<SessionEvent>> {
        self.lock()
            .entry(session)
            .or_insert_with(|| broadcast::channel(LISTENER_BACKLOG).0)
            .subscribe()
    }

    /// Sends [`SessionEvent::Ended`] and forgets the session: its listeners see the end
    /// of the stream after the event.
    pub fn close(&self, session: SessionId, reason: &str) {
        let sender = self.lock().remove(&session);
        if let Some(sender) = sender {
            let _ = sender.send(Arc::new(SessionEvent::Ended {
                reason: reason.to_owned(),
            }));
        }
    }

    /// The bounds every new socket gets.
    pub fn socket_limits(&self) -> SocketLimits {
        lock(&self.limits).clone()
    }

    /// Replaces the bounds of sockets opened from now on (tests shorten the deadlines).
    pub fn set_socket_limits(&self, limits: SocketLimits) {
        *lock(&self.limits) = limits;
    }

    /// Authenticated sockets of `session` now.
    pub fn socket_count(&self, session: SessionId) -> usize {
        lock(&self.sockets).get(&session).copied().unwrap_or(0)
    }

    /// The next sequence number of a relayed message.
    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Counts one more socket of `person` in `session` unless the session has
    /// `limits.per_session` or the person `limits.per_person` already.
    fn admit_socket(&self, session: SessionId, person: &str, limits: &SocketLimits) -> bool {
        let mut sockets = lock(&self.sockets);
        let mut people = lock(&self.people);
        let in_session = sockets.get(&session).copied().unwrap_or(0);
        let key = (session, person.to_owned());
        let of_person = people.get(&key).copied().unwrap_or(0);
        if in_session >= limits.per_session || of_person >= limits.per_person {
            return false;
        }
        sockets.insert(session, in_session + 1);
        people.insert(key, of_person + 1);
        true
    }

    /// Counts one socket of `session` less; forgets the session's channel when nobody
    /// listens to it any more.
    fn release_socket(&self, session: SessionId, person: &str) {
        let mut sockets = lock(&self.sockets);
        if let Some(count) = sockets.get_mut(&session) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                sockets.remove(&session);
            }
        }
        let mut people = lock(&self.people);
        let key = (session, person.to_owned());
        if let Some(count) = people.get_mut(&key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                people.remove(&key);
            }
        }
        drop((sockets, people));

        let mut channels = self.lock();
        if channels
            .get(&session)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            channels.remove(&session);
        }
    }

    /// Counts one more unauthenticated socket unless there are `max` already.
    fn admit_pending(&self, max: usize) -> bool {
        self.pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Counts one unauthenticated socket less.
    fn release_pending(&self) {
        let _ = self
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<SessionId, broadcast::Sender<Arc<SessionEvent>>>> {
        self.channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A mutex's contents; a panic while it was held left plain counters, so go on.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Adds the session events WebSocket route.
pub(super) fn routes(router: Router, app: &Arc<App>) -> Router {
    let app = Arc::clone(app);
    router.route(Method::GET, "/v1/sessions/{id}/events", move |request| {
        socket::upgrade(Arc::clone(&app), request)
    })
}
