//! Support sessions with media in this process: what the database does not hold.
//!
//! Each live session has its media engine session (relay port), the customer's consent,
//! whether it is held, and per person (the customer, each staff user) the WHIP and WHEP
//! resources with their engine participants and ETags, and a grace deadline while the
//! person's connections are down. Everything sits behind one `std::sync::Mutex`, taken for
//! a few map operations and never held across an `await`.
//!
//! Engine calls block the calling thread on a worker's reply (up to 5 s), so the API makes
//! them through [`engine_call`], on tokio's blocking pool. `spawn_background` pumps the
//! engine's events into this state and runs the periodic clean-up; see the `background`
//! module.

mod background;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use media_core::ids::{MediaKind, ParticipantId, PersonId, TrackId};
use media_core::{Engine, EngineError};

use super::events::Who;
use super::App;
use crate::store::{SessionId, TenantId, UserId};

pub(super) use background::{end_all, spawn_background};
pub(crate) use background::{end_session, ensure_live, replay_orphans};

/// A media engine session handle.
pub type EngineSession = media_core::ids::SessionId;

/// Person ids are unique in the process; the engine only compares them within a session.
static NEXT_PERSON: AtomicU64 = AtomicU64::new(1);

/// The person behind a session's participants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PersonKey {
    /// The session's customer.
    Customer,
    /// An administrator or agent.
    Staff(UserId),
}

/// Which way a media resource carries media, seen from its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// WHIP: the client publishes.
    Publish,
    /// WHEP: the client receives.
    Receive,
}

/// What the customer allows to be shared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Consent {
    /// The camera (video).
    pub camera: bool,
    /// The microphone (audio).
    pub microphone: bool,
}

/// A WHIP or WHEP resource: one engine participant.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The resource id in its URL (128 random bits, base64url).
    pub rid: String,
    /// The engine participant.
    pub participant: ParticipantId,
    /// Its current entity tag, quoted.
    pub etag: String,
    /// WHIP or WHEP.
    pub direction: Direction,
    /// The client's ICE username fragment from its offer, to recognise an ICE restart.
    pub remote_ufrag: Option<String>,
    /// Whether ICE and DTLS completed.
    pub connected: bool,
    /// The tracks it publishes.
    pub tracks: Vec<(TrackId, MediaKind)>,
}

/// One person of a live session and its resources.
#[derive(Debug, Clone)]
pub struct Person {
    /// Shared by the person's participants so that its own media never comes back.
    pub id: PersonId,
    /// `customer`, `agent` or `admin`, as events name it.
    pub role: &'static str,
    /// Its WHIP resource.
    pub publish: Option<Resource>,
    /// Its WHEP resource.
    pub receive: Option<Resource>,
    /// While its connections are down: when it loses its place.
    pub grace_until: Option<Instant>,
}

/// A person id no one in this process has.
pub fn new_person_id() -> PersonId {
    PersonId(NEXT_PERSON.fetch_add(1, Ordering::Relaxed))
}

impl Person {
    fn new(id: PersonId, role: &'static str) -> Person {
        Person {
            id,
            role,
            publish: None,
            receive: None,
            grace_until: None,
        }
    }

    /// The resource of `direction`.
    pub fn slot(&mut self, direction: Direction) -> &mut Option<Resource> {
        match direction {
            Direction::Publish => &mut self.publish,
            Direction::Receive => &mut self.receive,
        }
    }

    /// Its resources.
    pub fn resources(&self) -> impl Iterator<Item = &Resource> {
        self.publish.iter().chain(self.receive.iter())
    }

    /// Whether any of its resources is connected.
    pub fn connected(&self) -> bool {
        self.resources().any(|r| r.connected)
    }
}

/// A support session with media in this process.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// Its tenant.
    pub tenant: TenantId,
    /// Its media engine session.
    pub engine: EngineSession,
    /// Its relay port.
    pub relay: SocketAddr,
    /// The customer's consent.
    pub consent: Consent,
    /// Whether an agent put it on hold.
    pub held: bool,
    /// Whether the customer joined.
    pub joined: bool,
    /// When the customer joined (Unix seconds), if it did.
    pub joined_at: Option<i64>,
    /// When a clean-up round last saw the customer with a media resource (Unix seconds).
    pub customer_seen_at: Option<i64>,
    /// The staff user who opened it, when it was opened in this process.
    pub opened_by: Option<UserId>,
    /// When the PIN and join link stop working (Unix seconds).
    pub key_expires_at: i64,
    /// Its people.
    pub people: HashMap<PersonKey, Person>,
    /// Engine events about participants or tracks not recorded yet, oldest first.
    pub(crate) orphans: Vec<media_core::SessionEvent>,
}

impl LiveSession {
    /// A session with nobody in it yet.
    pub fn new(tenant: TenantId, engine: EngineSession, relay: SocketAddr) -> LiveSession {
        LiveSession {
            tenant,
            engine,
            relay,
            consent: Consent::default(),
            held: false,
            joined: false,
            joined_at: None,
            customer_seen_at: None,
            opened_by: None,
            key_expires_at: 0,
            people: HashMap::new(),
            orphans: Vec::new(),
        }
    }

    /// The gates (audio, video) a publisher of `key` gets now: everything closed while
    /// held; the customer's per consent; staff audio open and staff video closed (an
    /// agent's camera goes nowhere: its video m-lines are answered inactive anyway).
    pub fn gates(&self, key: PersonKey) -> (bool, bool) {
        match key {
            _ if self.held => (false, false),
            PersonKey::Customer => (self.consent.microphone, self.consent.camera),
            PersonKey::Staff(_) => (true, false),
        }
    }

    /// The person of `key`, added with `id` and `role` if new.
    pub fn person(&mut self, key: PersonKey, id: PersonId, role: &'static str) -> &mut Person {
        self.people
            .entry(key)
            .or_insert_with(|| Person::new(id, role))
    }

    /// The id of the person of `key`, or a fresh one for a newcomer (not added yet).
    pub fn person_id(&self, key: PersonKey) -> PersonId {
        self.people.get(&key).map_or_else(new_person_id, |p| p.id)
    }

    /// Who owns the engine participant `participant`, and which of its resources it is.
    pub fn owner_of(&self, participant: ParticipantId) -> Option<(PersonKey, Direction)> {
        self.people.iter().find_map(|(key, person)| {
            person
                .resources()
                .find(|r| r.participant == participant)
                .map(|r| (*key, r.direction))
        })
    }

    /// Who a person is, as events name it.
    pub fn who(&self, key: PersonKey) -> Who {
        let role = self.people.get(&key).map_or("agent", |p| p.role);
        who(key, role)
    }

    /// The kind of the published track `track`.
    pub fn track_kind(&self, track: TrackId) -> Option<MediaKind> {
        self.people
            .values()
            .flat_map(Person::resources)
            .flat_map(|r| r.tracks.iter())
            .find(|(id, _)| *id == track)
            .map(|(_, kind)| *kind)
    }

    /// Every engine participant that publishes, with its person.
    pub fn publishers(&self) -> Vec<(PersonKey, ParticipantId)> {
        self.people
            .iter()
            .filter_map(|(key, p)| p.publish.as_ref().map(|r| (*key, r.participant)))
            .collect()
    }
}

/// Who `key` is, as events name it.
pub fn who(key: PersonKey, role: &'static str) -> Who {
    match key {
        PersonKey::Customer => Who {
            role: "customer",
            user_id: None,
        },
        PersonKey::Staff(user) => Who {
            role,
            user_id: Some(user.to_string()),
        },
    }
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<SessionId, LiveSession>,
    by_engine: HashMap<EngineSession, SessionId>,
}

/// The live sessions of this process.
#[derive(Debug, Default)]
pub struct LiveSessions {
    inner: Mutex<Inner>,
}

impl LiveSessions {
    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `session` unless one is there; returns false (and keeps the old) if it was.
    pub fn insert(&self, id: SessionId, session: LiveSession) -> bool {
        let mut inner = self.lock();
        if inner.sessions.contains_key(&id) {
            return false;
        }
        inner.by_engine.insert(session.engine, id);
        inner.sessions.insert(id, session);
        true
    }

    /// Takes `id` out.
    pub fn remove(&self, id: SessionId) -> Option<LiveSession> {
        let mut inner = self.lock();
        let session = inner.sessions.remove(&id)?;
        inner.by_engine.remove(&session.engine);
        Some(session)
    }

    /// Runs `f` on the session `id`, if live; `f` must not block.
    pub fn with<R>(&self, id: SessionId, f: impl FnOnce(&mut LiveSession) -> R) -> Option<R> {
        self.lock().sessions.get_mut(&id).map(f)
    }

    /// The session of an engine session.
    pub fn by_engine(&self, engine: EngineSession) -> Option<SessionId> {
        self.lock().by_engine.get(&engine).copied()
    }

    /// How many live sessions satisfy `f`; `f` must not block.
    pub fn count(&self, f: impl Fn(&LiveSession) -> bool) -> usize {
        self.lock().sessions.values().filter(|s| f(s)).count()
    }

    /// The ids of every live session.
    pub fn ids(&self) -> Vec<SessionId> {
        self.lock().sessions.keys().copied().collect()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change is a few map operations: a panic leaves it consistent.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs an engine call on tokio's blocking pool: it waits for a worker's reply.
pub async fn engine_call<T: Send + 'static>(
    app: &Arc<App>,
    call: impl FnOnce(&Engine) -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    let app = Arc::clone(app);
    tokio::task::spawn_blocking(move || call(&app.engine))
        .await
        .unwrap_or_else(|_| Err(EngineError::Internal("engine call panicked".to_owned())))
}
