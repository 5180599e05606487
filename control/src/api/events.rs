//! Session events: what happened in a support session, delivered to its participants.
//!
//! [`SessionEvent`] is the schema of the state messages (`type` names the variant);
//! [`EventHub`] fans them out to every listener of a session. The WebSocket at
//! `GET /v1/sessions/{id}/events` is built on top of it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

use super::App;
use crate::http::Router;
use crate::store::SessionId;

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

/// Per-session broadcast of [`SessionEvent`]s.
#[derive(Debug, Default)]
pub struct EventHub {
    channels: Mutex<HashMap<SessionId, broadcast::Sender<Arc<SessionEvent>>>>,
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

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<SessionId, broadcast::Sender<Arc<SessionEvent>>>> {
        self.channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Adds the session events WebSocket route.
pub(super) fn routes(router: Router, _app: &Arc<App>) -> Router {
    router
}
