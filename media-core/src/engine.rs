//! The media engine: worker threads, relay-port allocation, and the control API.
//!
//! [`Engine::start`] spawns one worker per core (configurable), each pinned to its core.
//! Creating a session binds a UDP relay port from the configured range and hands it to the
//! least-loaded worker; from then on every packet of that session is handled by that worker
//! alone. The engine's methods are blocking request/response calls over the workers' command
//! channels, meant for the control plane, never for the packet path.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use mio::Waker;

use crate::dtls::{DtlsCert, DtlsError};
use crate::ice::IceCredentials;
use crate::ids::{MediaKind, ParticipantId, SessionId, WorkerId};
use crate::sdp::{Candidate, CandidateTransport};
use crate::session::{
    JoinAnswer, JoinError, ParticipantOptions, ParticipantStats, Session, SessionConfig,
    SessionEvent,
};
use crate::worker::{Command, Worker};

/// How long a control call waits for its worker before giving up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Worker threads; 0 means one per available core.
    pub workers: usize,
    /// Pin each worker to its own core.
    pub pin_workers: bool,
    /// The address relay ports bind to.
    pub bind_ip: IpAddr,
    /// The address written into SDP candidates when it differs from `bind_ip` (1:1 NAT).
    pub advertised_ip: Option<IpAddr>,
    /// First relay port (inclusive).
    pub port_min: u16,
    /// Last relay port (inclusive).
    pub port_max: u16,
    /// Per-session settings.
    pub session: SessionConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: 0,
            pin_workers: true,
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            advertised_ip: None,
            port_min: 40_000,
            port_max: 49_999,
            session: SessionConfig::default(),
        }
    }
}

/// Why an engine call failed, by who is at fault.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The participant's offer could not be parsed (the caller's client is at fault).
    #[error("malformed offer: {0}")]
    MalformedOffer(String),
    /// The offer asks for nothing the forwarder can do.
    #[error("unusable offer: {0}")]
    UnusableOffer(String),
    /// The session has no room for another participant.
    #[error("the session is full")]
    SessionFull,
    /// Every relay port of the configured range is in use.
    #[error("no free relay port in {0}-{1}")]
    NoFreePort(u16, u16),
    /// No such session (it ended, or never existed).
    #[error("unknown session {0}")]
    UnknownSession(SessionId),
    /// No such participant in the session.
    #[error("unknown participant {0}")]
    UnknownParticipant(ParticipantId),
    /// The configuration cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The DTLS certificate could not be made.
    #[error("DTLS certificate: {0}")]
    Certificate(#[from] DtlsError),
    /// A system call failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// Our own bug: an internal invariant did not hold.
    #[error("internal error: {0}")]
    Internal(String),
    /// A worker did not answer in time or has stopped: our own fault.
    #[error("worker unavailable")]
    WorkerUnavailable,
}

impl From<JoinError> for EngineError {
    fn from(e: JoinError) -> Self {
        match e {
            JoinError::Malformed(m) => EngineError::MalformedOffer(m),
            JoinError::Unusable(m) => EngineError::UnusableOffer(m),
            JoinError::SessionFull => EngineError::SessionFull,
            JoinError::Internal(m) => EngineError::Internal(m),
        }
    }
}

/// What the engine reports to the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// Something happened in a session.
    Session {
        /// The session.
        session: SessionId,
        /// What happened.
        event: SessionEvent,
    },
    /// A session ended and its port is free.
    SessionClosed {
        /// The session.
        session: SessionId,
    },
}

/// A session as created: its handle and where participants send media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session's handle.
    pub id: SessionId,
    /// The relay port's address as advertised in candidates.
    pub relay: SocketAddr,
    /// The worker that owns it.
    pub worker: WorkerId,
}

struct WorkerHandle {
    commands: Sender<Command>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

struct Allocation {
    worker: WorkerId,
    port: u16,
}

struct State {
    sessions: HashMap<SessionId, Allocation>,
    next_session: u64,
    next_port: u16,
}

/// The running media engine; see the module documentation.
pub struct Engine {
    config: EngineConfig,
    cert: Arc<DtlsCert>,
    workers: Vec<WorkerHandle>,
    events: Receiver<EngineEvent>,
    state: Mutex<State>,
}

impl Engine {
    /// Generates the process's DTLS certificate and starts the workers.
    pub fn start(config: EngineConfig) -> Result<Engine, EngineError> {
        if config.port_min == 0 || config.port_min > config.port_max {
            return Err(EngineError::Config(format!(
                "relay port range {}-{} is empty",
                config.port_min, config.port_max
            )));
        }
        let cert = Arc::new(DtlsCert::generate()?);
        let count = if config.workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            config.workers
        };
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let (event_tx, events) = unbounded();
        let mut workers = Vec::with_capacity(count);
        for index in 0..count {
            let (commands, command_rx) = unbounded();
            let (worker, waker) = Worker::new(WorkerId(index), command_rx, event_tx.clone())?;
            let core =
                (config.pin_workers && !cores.is_empty()).then(|| cores[index % cores.len()]);
            let thread = std::thread::Builder::new()
                .name(format!("media-{index}"))
                .spawn(move || {
                    if let Some(core) = core {
                        core_affinity::set_for_current(core);
                    }
                    worker.run();
                })?;
            workers.push(WorkerHandle {
                commands,
                waker,
                thread: Some(thread),
            });
        }
        let next_port = config.port_min;
        Ok(Engine {
            config,
            cert,
            workers,
            events,
            state: Mutex::new(State {
                sessions: HashMap::new(),
                next_session: 1,
                next_port,
            }),
        })
    }

    /// The SDP form of the process's DTLS certificate fingerprint.
    pub fn fingerprint(&self) -> String {
        self.cert.fingerprint().to_string()
    }

    /// Number of worker threads.
    pub fn worker_count(&self) -> usize {
        self.workers.len()
    }

    /// Events from every worker: connections, disconnections, slot changes.
    pub fn events(&self) -> &Receiver<EngineEvent> {
        &self.events
    }

    /// Creates a session on the least-loaded worker with a relay port of its own.
    pub fn create_session(&self) -> Result<SessionInfo, EngineError> {
        let mut state = self.lock();
        let worker = self.least_loaded(&state);
        let (socket, port) = self.bind_port(&mut state)?;
        let id = SessionId(state.next_session);
        state.next_session += 1;
        let advertised = self.config.advertised_ip.unwrap_or(self.config.bind_ip);
        let relay = SocketAddr::new(advertised, port);
        let candidates = vec![Candidate {
            addr: relay,
            transport: CandidateTransport::Udp,
            priority: host_priority(65_535),
            foundation: "1".to_string(),
        }];
        let session = Session::new(
            id,
            self.config.session.clone(),
            Arc::clone(&self.cert),
            candidates,
        );
        state.sessions.insert(id, Allocation { worker, port });
        drop(state);
        let result = self.call(worker, |reply| Command::CreateSession {
            session: Box::new(session),
            socket,
            reply,
        });
        if result.is_err() {
            self.lock().sessions.remove(&id);
        }
        result.map(|_| SessionInfo { id, relay, worker })
    }

    /// Negotiates a participant from its SDP offer; returns the answer and its tracks.
    pub fn join(
        &self,
        session: SessionId,
        offer: &str,
        options: ParticipantOptions,
    ) -> Result<JoinAnswer, EngineError> {
        let worker = self.worker_of(session)?;
        let offer = offer.to_string();
        self.call(worker, |reply| Command::Join {
            session,
            offer,
            options,
            reply,
        })
    }

    /// Removes a participant; slots it filled become empty or take another source.
    pub fn leave(&self, session: SessionId, participant: ParticipantId) -> Result<(), EngineError> {
        let worker = self.worker_of(session)?;
        self.call(worker, |reply| Command::Leave {
            session,
            participant,
            reply,
        })
    }

    /// Opens or closes the gates of a participant's tracks of one kind, or of all with `None`.
    /// While a gate is closed nothing of those tracks reaches anyone.
    pub fn set_gate(
        &self,
        session: SessionId,
        participant: ParticipantId,
        kind: Option<MediaKind>,
        open: bool,
    ) -> Result<(), EngineError> {
        let worker = self.worker_of(session)?;
        self.call(worker, |reply| Command::Gate {
            session,
            participant,
            kind,
            open,
            reply,
        })
    }

    /// Restarts a participant's ICE (its client offered `remote_ufrag`, RFC 8445 section
    /// 2.4): returns the new local credentials for the answer. DTLS and SRTP are kept.
    /// `remote_ufrag` must be 4 to 256 ice-chars (RFC 8839 section 5.4).
    pub fn restart_ice(
        &self,
        session: SessionId,
        participant: ParticipantId,
        remote_ufrag: &str,
    ) -> Result<IceCredentials, EngineError> {
        if !crate::ice::is_ice_string(remote_ufrag, 4) {
            return Err(EngineError::MalformedOffer(
                "ice-ufrag is not 4 to 256 ice-chars".into(),
            ));
        }
        let worker = self.worker_of(session)?;
        let remote_ufrag = remote_ufrag.to_string();
        self.call(worker, |reply| Command::RestartIce {
            session,
            participant,
            remote_ufrag,
            reply,
        })
    }

    /// Counters of every participant of a session.
    pub fn stats(&self, session: SessionId) -> Result<Vec<ParticipantStats>, EngineError> {
        let worker = self.worker_of(session)?;
        self.call(worker, |reply| Command::Stats { session, reply })
    }

    /// Ends a session and frees its relay port.
    pub fn close_session(&self, session: SessionId) -> Result<(), EngineError> {
        let worker = self.worker_of(session)?;
        let result = self.call(worker, |reply| Command::Close { session, reply });
        self.lock().sessions.remove(&session);
        result
    }

    /// Number of live sessions.
    pub fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the map consistent (single inserts and removes).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn worker_of(&self, session: SessionId) -> Result<WorkerId, EngineError> {
        self.lock()
            .sessions
            .get(&session)
            .map(|a| a.worker)
            .ok_or(EngineError::UnknownSession(session))
    }

    fn least_loaded(&self, state: &State) -> WorkerId {
        let mut load = vec![0usize; self.workers.len()];
        for allocation in state.sessions.values() {
            load[allocation.worker.0] += 1;
        }
        let index = (0..load.len()).min_by_key(|&i| load[i]).unwrap_or(0);
        WorkerId(index)
    }

    /// Binds the next free port of the range, starting after the last one handed out.
    fn bind_port(&self, state: &mut State) -> Result<(UdpSocket, u16), EngineError> {
        let (min, max) = (self.config.port_min, self.config.port_max);
        let span = u32::from(max - min) + 1;
        for _ in 0..span {
            let port = state.next_port;
            state.next_port = if port >= max { min } else { port + 1 };
            if state.sessions.values().any(|a| a.port == port) {
                continue;
            }
            if let Ok(socket) = UdpSocket::bind(SocketAddr::new(self.config.bind_ip, port)) {
                return Ok((socket, port));
            }
        }
        Err(EngineError::NoFreePort(min, max))
    }

    fn call<T>(
        &self,
        worker: WorkerId,
        make: impl FnOnce(Sender<Result<T, EngineError>>) -> Command,
    ) -> Result<T, EngineError> {
        let handle = self
            .workers
            .get(worker.0)
            .ok_or(EngineError::WorkerUnavailable)?;
        let (reply, answer) = bounded(1);
        handle
            .commands
            .send(make(reply))
            .map_err(|_| EngineError::WorkerUnavailable)?;
        handle.waker.wake()?;
        answer
            .recv_timeout(REPLY_TIMEOUT)
            .map_err(|_| EngineError::WorkerUnavailable)?
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        for worker in &self.workers {
            let _ = worker.commands.send(Command::Shutdown);
            let _ = worker.waker.wake();
        }
        let deadline = Instant::now() + REPLY_TIMEOUT;
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take() {
                if Instant::now() < deadline {
                    let _ = thread.join();
                }
            }
        }
    }
}

/// ICE candidate priority of a host candidate (RFC 8445 section 5.1.2.1), component 1.
fn host_priority(local_preference: u32) -> u32 {
    (126 << 24) | (local_preference << 8) | 255
}
