//! A worker thread: one `mio::Poll`, the relay sockets of its sessions, and their state.
//!
//! Nothing on the packet path is shared with other threads. The [`crate::engine::Engine`]
//! talks to a worker only through its command channel and [`mio::Waker`], and hears back
//! through replies and the engine's event channel.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::engine::{EngineError, EngineEvent};
use crate::ice::IceCredentials;
use crate::ids::{MediaKind, ParticipantId, SessionId, WorkerId};
use crate::net::{Datagram, RecvBatch, UdpEndpoint, RECV_BATCH};
use crate::output::TxQueue;
use crate::session::{JoinAnswer, ParticipantOptions, ParticipantStats, Session};

/// The poll token of the command waker; session sockets use their session id + 1.
pub(crate) const WAKER: Token = Token(0);

/// Longest sleep when no session has a timer (commands wake the worker anyway).
const IDLE_POLL: Duration = Duration::from_millis(250);

/// Receive batches one session may take before the others get their turn, so that one
/// flooded port cannot starve the rest of the worker.
const BATCHES_PER_TURN: usize = 8;

type Reply<T> = Sender<Result<T, EngineError>>;

/// What the engine asks of a worker.
pub(crate) enum Command {
    /// Take over a session and its bound relay socket.
    CreateSession {
        session: Box<Session>,
        socket: std::net::UdpSocket,
        reply: Reply<SocketAddr>,
    },
    /// Negotiate a new participant.
    Join {
        session: SessionId,
        offer: String,
        options: ParticipantOptions,
        reply: Reply<JoinAnswer>,
    },
    /// Remove a participant.
    Leave {
        session: SessionId,
        participant: ParticipantId,
        reply: Reply<()>,
    },
    /// Open or close gates.
    Gate {
        session: SessionId,
        participant: ParticipantId,
        kind: Option<MediaKind>,
        open: bool,
        reply: Reply<()>,
    },
    /// Restart a participant's ICE with new local credentials.
    RestartIce {
        session: SessionId,
        participant: ParticipantId,
        remote_ufrag: String,
        reply: Reply<IceCredentials>,
    },
    /// End a session and free its port.
    Close {
        session: SessionId,
        reply: Reply<()>,
    },
    /// Read a session's counters.
    Stats {
        session: SessionId,
        reply: Reply<Vec<ParticipantStats>>,
    },
    /// Stop the thread.
    Shutdown,
}

struct Hosted {
    session: Session,
    endpoint: UdpEndpoint,
}

/// A worker's state, owned by its thread.
pub(crate) struct Worker {
    id: WorkerId,
    poll: Poll,
    commands: Receiver<Command>,
    events: Sender<EngineEvent>,
    sessions: HashMap<Token, Hosted>,
    batch: RecvBatch,
    /// How many coalesced datagrams each receive buffer has room for.
    batch_gro: usize,
    datagrams: Vec<Datagram>,
    tx: TxQueue,
    /// Sockets that still had datagrams waiting when their turn ended (mio is edge-triggered,
    /// so no new event would bring them back).
    backlog: Vec<Token>,
    next_backlog: Vec<Token>,
}

impl Worker {
    /// A worker with its poll and waker; the waker goes to the engine.
    pub(crate) fn new(
        id: WorkerId,
        commands: Receiver<Command>,
        events: Sender<EngineEvent>,
    ) -> io::Result<(Worker, Arc<Waker>)> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let worker = Worker {
            id,
            poll,
            commands,
            events,
            sessions: HashMap::new(),
            batch: RecvBatch::new(1),
            batch_gro: 1,
            datagrams: Vec::with_capacity(RECV_BATCH * 4),
            tx: TxQueue::with_capacity(256 * 1024),
            backlog: Vec::new(),
            next_backlog: Vec::new(),
        };
        Ok((worker, waker))
    }

    /// Runs until [`Command::Shutdown`] or until the engine is dropped.
    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            let timeout = if self.backlog.is_empty() {
                self.next_timeout(Instant::now())
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(target: "worker", worker = self.id.0, error = %e, "poll failed");
                    return;
                }
            }
            let mut ready = std::mem::take(&mut self.backlog);
            ready.extend(events.iter().map(|e| e.token()).filter(|t| *t != WAKER));
            ready.sort_unstable();
            ready.dedup();
            for token in ready.drain(..) {
                if !self.drain_socket(token) {
                    self.next_backlog.push(token);
                }
            }
            // Both lists keep their capacity: no allocation per loop in steady state.
            self.backlog = ready;
            std::mem::swap(&mut self.backlog, &mut self.next_backlog);
            if !self.handle_commands() {
                return;
            }
            self.run_timers(Instant::now());
        }
    }

    fn next_timeout(&self, now: Instant) -> Duration {
        let next = self
            .sessions
            .values()
            .filter_map(|h| h.session.poll_timeout())
            .min();
        next.map_or(IDLE_POLL, |t| {
            t.saturating_duration_since(now).min(IDLE_POLL)
        })
    }

    /// Reads the socket, handling and flushing batch by batch, until it would block (true) or
    /// the session's turn is over (false: come back to it).
    fn drain_socket(&mut self, token: Token) -> bool {
        let Some(hosted) = self.sessions.get_mut(&token) else {
            return true;
        };
        let mut drained = false;
        for _ in 0..BATCHES_PER_TURN {
            match hosted.endpoint.recv(&mut self.batch) {
                Ok(0) => {
                    drained = true;
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    // Reported once by the kernel (an ICMP error, say); the next datagram's
                    // arrival raises a new event.
                    tracing::debug!(target: "net", error = %e, "receive failed");
                    drained = true;
                    break;
                }
            }
            let now = Instant::now();
            self.datagrams.clear();
            self.datagrams.extend(self.batch.datagrams());
            for (tag, d) in self.datagrams.iter().enumerate() {
                self.tx.begin_input(tag);
                let buf = self.batch.bytes_mut(d);
                hosted
                    .session
                    .handle_datagram(d.from, buf, d.len, now, &mut self.tx);
            }
            flush(&hosted.endpoint, &mut self.tx, &self.batch, &self.datagrams);
        }
        forward_events(&mut hosted.session, &self.events);
        drained
    }

    fn run_timers(&mut self, now: Instant) {
        for hosted in self.sessions.values_mut() {
            if hosted.session.poll_timeout().is_some_and(|t| t <= now) {
                hosted.session.handle_timeout(now, &mut self.tx);
                flush(&hosted.endpoint, &mut self.tx, &self.batch, &[]);
            }
            forward_events(&mut hosted.session, &self.events);
        }
    }

    /// Handles every waiting command; false when the worker must stop.
    fn handle_commands(&mut self) -> bool {
        while let Ok(command) = self.commands.try_recv() {
            if !self.handle_command(command) {
                return false;
            }
        }
        true
    }

    fn handle_command(&mut self, command: Command) -> bool {
        let now = Instant::now();
        match command {
            Command::CreateSession {
                session,
                socket,
                reply,
            } => {
                let _ = reply.send(self.host(*session, socket));
            }
            Command::Join {
                session,
                offer,
                options,
                reply,
            } => {
                let result = self.with_session(session, |s| {
                    s.add_participant(&offer, options, now)
                        .map_err(EngineError::from)
                });
                let _ = reply.send(result);
            }
            Command::Leave {
                session,
                participant,
                reply,
            } => {
                let result = self.with_session(session, |s| {
                    s.remove_participant(participant, "left")
                        .then_some(())
                        .ok_or(EngineError::UnknownParticipant(participant))
                });
                let _ = reply.send(result);
            }
            Command::Gate {
                session,
                participant,
                kind,
                open,
                reply,
            } => {
                let result = self.with_session(session, |s| {
                    s.set_gate(participant, kind, open)
                        .then_some(())
                        .ok_or(EngineError::UnknownParticipant(participant))
                });
                let _ = reply.send(result);
            }
            Command::RestartIce {
                session,
                participant,
                remote_ufrag,
                reply,
            } => {
                let result = self.with_session(session, |s| {
                    s.restart_ice(participant, &remote_ufrag)
                        .ok_or(EngineError::UnknownParticipant(participant))
                });
                let _ = reply.send(result);
            }
            Command::Close { session, reply } => {
                let _ = reply.send(self.close(session));
            }
            Command::Stats { session, reply } => {
                let _ = reply.send(self.with_session(session, |s| Ok(s.stats())));
            }
            Command::Shutdown => return false,
        }
        true
    }

    fn host(
        &mut self,
        session: Session,
        socket: std::net::UdpSocket,
    ) -> Result<SocketAddr, EngineError> {
        let token = token_of(session.id());
        let mut endpoint = UdpEndpoint::new(socket).map_err(EngineError::Io)?;
        self.poll
            .registry()
            .register(endpoint.source(), token, Interest::READABLE)
            .map_err(EngineError::Io)?;
        if endpoint.gro_segments() > self.batch_gro {
            // Every socket of a host reports the same limit, so this happens once.
            self.batch_gro = endpoint.gro_segments();
            self.batch = RecvBatch::new(self.batch_gro);
        }
        let local = endpoint.local_addr();
        tracing::debug!(target: "worker", worker = self.id.0, session = %session.id(), %local, "session hosted");
        self.sessions.insert(token, Hosted { session, endpoint });
        Ok(local)
    }

    fn close(&mut self, session: SessionId) -> Result<(), EngineError> {
        let mut hosted = self
            .sessions
            .remove(&token_of(session))
            .ok_or(EngineError::UnknownSession(session))?;
        let _ = self.poll.registry().deregister(hosted.endpoint.source());
        forward_events(&mut hosted.session, &self.events);
        let _ = self.events.send(EngineEvent::SessionClosed { session });
        Ok(())
    }

    fn with_session<T>(
        &mut self,
        session: SessionId,
        f: impl FnOnce(&mut Session) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let hosted = self
            .sessions
            .get_mut(&token_of(session))
            .ok_or(EngineError::UnknownSession(session))?;
        let result = f(&mut hosted.session);
        forward_events(&mut hosted.session, &self.events);
        result
    }
}

fn token_of(session: SessionId) -> Token {
    Token(session.0 as usize + 1)
}

fn flush(endpoint: &UdpEndpoint, tx: &mut TxQueue, batch: &RecvBatch, datagrams: &[Datagram]) {
    if tx.is_empty() {
        return;
    }
    let dropped = endpoint.send_queue(tx, |input, len| match datagrams.get(input) {
        Some(d) => batch.bytes(d, len),
        None => &[],
    });
    if dropped > 0 {
        tracing::trace!(target: "net", dropped, "kernel refused datagrams");
    }
    tx.clear();
}

fn forward_events(session: &mut Session, events: &Sender<EngineEvent>) {
    while let Some(event) = session.poll_event() {
        let _ = events.send(EngineEvent::Session {
            session: session.id(),
            event,
        });
    }
}
