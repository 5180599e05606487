//! A deterministic simulation around one sans-IO [`Session`]: simulated clients
//! ([`client`]), a seeded network ([`net`]) and a virtual clock, all on one thread.
//!
//! The clock is one base `Instant` plus whatever the simulation advanced; it moves only to
//! the next datagram arrival or timer. Every loop is bounded: a run that does not settle
//! panics instead of spinning.

// Each test binary uses a different part of the harness.
#![allow(dead_code)]

pub mod client;
pub mod net;
pub mod sdp;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use media_core::dtls::DtlsCert;
use media_core::ids::{ParticipantId, SessionId};
use media_core::output::{TxQueue, TxSource, MAX_DATAGRAM};
use media_core::sdp::{Candidate, CandidateTransport};
use media_core::session::{
    ConnectionState, JoinAnswer, ParticipantOptions, ParticipantStats, Session, SessionConfig,
    SessionEvent,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use client::Client;
use net::{Datagram, Link, Network};
use sdp::PublishedSsrcs;

/// The session's relay address.
pub const SESSION_ADDR: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 40000);

/// The most loop iterations one run may take before it counts as stuck.
const MAX_STEPS: u64 = 5_000_000;

/// A session, its clients and the network between them, on virtual time.
pub struct Sim {
    /// The session under test.
    pub session: Session,
    /// The network.
    pub net: Network,
    /// The clients, by index.
    pub clients: Vec<Client>,
    /// The virtual clock.
    pub now: Instant,
    /// When the simulation started.
    pub start: Instant,
    /// Every event the session reported, with its time.
    pub events: Vec<(Instant, SessionEvent)>,
    /// Datagrams the session sent to addresses no client has.
    pub stray_outputs: u64,
    rng: StdRng,
    tx: TxQueue,
    buf: Vec<u8>,
}

impl Sim {
    /// A session with the default configuration; `seed` decides the network.
    pub fn new(seed: u64) -> Sim {
        Sim::with_config(seed, SessionConfig::default())
    }

    /// A session with `config`; `seed` decides the network.
    pub fn with_config(seed: u64, config: SessionConfig) -> Sim {
        let now = Instant::now();
        let cert = Arc::new(DtlsCert::generate().unwrap());
        let candidates = vec![Candidate {
            addr: SESSION_ADDR,
            transport: CandidateTransport::Udp,
            priority: 2_130_706_431,
            foundation: "1".to_owned(),
        }];
        Sim {
            session: Session::new(SessionId(1), config, cert, candidates),
            net: Network::new(seed),
            clients: Vec::new(),
            now,
            start: now,
            events: Vec::new(),
            stray_outputs: 0,
            rng: StdRng::seed_from_u64(seed ^ 0x5eed),
            tx: TxQueue::with_capacity(64 * 1024),
            buf: vec![0; 2 * MAX_DATAGRAM],
        }
    }

    /// Adds a client (not joined yet); a publisher of audio and video when `publish`.
    pub fn add_client(&mut self, name: &str, publish: bool) -> usize {
        let n = self.clients.len();
        let addr = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10 + n as u8)),
            50_000 + n as u16,
        );
        let ssrcs = publish.then(|| PublishedSsrcs {
            audio: self.rng.random(),
            video: self.rng.random(),
            rtx: self.rng.random(),
        });
        let tag = (n as u8 + 1) << 4;
        let client = Client::new(name, addr, ssrcs, tag, &mut self.rng, self.now);
        self.clients.push(client);
        n
    }

    /// Joins client `ci` with `options` and runs until ICE and DTLS complete on both ends.
    pub fn connect(&mut self, ci: usize, options: ParticipantOptions) -> JoinAnswer {
        let offer = self.clients[ci].offer();
        let join = self
            .session
            .add_participant(&offer, options, self.now)
            .expect("the session accepts the offer");
        self.drain_events();
        self.clients[ci].set_answer(join.participant, &join.sdp);
        self.clients[ci].start(self.now, &mut self.rng);
        self.flush(ci);
        let deadline = self.now + Duration::from_secs(10);
        while !(self.clients[ci].is_connected() && self.is_connected(join.participant)) {
            assert!(
                self.now < deadline,
                "{} did not connect",
                self.clients[ci].name
            );
            self.run_for(Duration::from_millis(10));
        }
        join
    }

    /// Adds a client and connects it with default options.
    pub fn join(&mut self, name: &str, publish: bool) -> usize {
        let ci = self.add_client(name, publish);
        self.connect(ci, ParticipantOptions::default());
        ci
    }

    /// Whether the session reports `id` as connected.
    pub fn is_connected(&self, id: ParticipantId) -> bool {
        self.stats_of(id)
            .is_some_and(|s| s.state == ConnectionState::Connected)
    }

    /// The session's counters for `id`, if it is still a participant.
    pub fn stats_of(&self, id: ParticipantId) -> Option<ParticipantStats> {
        self.session.stats().into_iter().find(|s| s.id == id)
    }

    /// The participant handle of client `ci`.
    pub fn participant(&self, ci: usize) -> ParticipantId {
        self.clients[ci].participant.expect("joined")
    }

    /// Queues the next packet of stream `index` of client `ci` and hands it to the network;
    /// returns its count and wire bytes.
    pub fn send_rtp(&mut self, ci: usize, index: usize) -> (u32, Vec<u8>) {
        let sent = self.clients[ci].send_rtp(index);
        self.flush(ci);
        sent
    }

    /// Sends `count` packets of stream `index` of client `ci`, `spacing` apart, running the
    /// simulation in between.
    pub fn stream(&mut self, ci: usize, index: usize, count: u32, spacing: Duration) {
        for _ in 0..count {
            self.send_rtp(ci, index);
            self.run_for(spacing);
        }
    }

    /// Hands client `ci`'s queued datagrams to its uplink.
    pub fn flush(&mut self, ci: usize) {
        let client = &mut self.clients[ci];
        let (link, addr) = (client.up, client.addr);
        for bytes in client.take_outbox() {
            self.net.send(&link, self.now, addr, SESSION_ADDR, bytes);
        }
    }

    /// Hands `bytes` to the session as if from `from`, now, bypassing the network; returns
    /// how many datagrams the session queued in answer (they are routed as usual).
    pub fn inject(&mut self, from: SocketAddr, bytes: &[u8]) -> usize {
        let mut buf = std::mem::take(&mut self.buf);
        buf[..bytes.len()].copy_from_slice(bytes);
        self.tx.clear();
        self.session
            .handle_datagram(from, &mut buf, bytes.len(), self.now, &mut self.tx);
        let queued = self.tx.len();
        self.route_output(&buf);
        self.buf = buf;
        queued
    }

    /// Has client `ci` send a consent check now.
    pub fn send_check(&mut self, ci: usize) {
        self.clients[ci].send_check(&mut self.rng, false);
        self.flush(ci);
    }

    /// Runs for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) {
        let deadline = self.now + duration;
        self.run_until(deadline);
    }

    /// Runs until the clock reaches `deadline`, delivering datagrams and firing timers in
    /// time order.
    pub fn run_until(&mut self, deadline: Instant) {
        for _ in 0..MAX_STEPS {
            while let Some(datagram) = self.net.pop_due(self.now) {
                self.deliver(datagram);
            }
            self.fire_timers();
            if self.net.next_arrival().is_some_and(|at| at <= self.now) {
                continue;
            }
            match self.next_event() {
                Some(at) if at <= deadline => self.now = at,
                _ => {
                    self.now = self.now.max(deadline);
                    return;
                }
            }
        }
        panic!("the simulation did not reach its deadline in {MAX_STEPS} steps");
    }

    /// The next arrival or timer; a timer still due after it fired counts 1 ms later, so
    /// that a stuck timer cannot stop the clock.
    fn next_event(&self) -> Option<Instant> {
        let floor = self.now + Duration::from_millis(1);
        let timers = self
            .clients
            .iter()
            .filter_map(Client::next_timeout)
            .chain(self.session.poll_timeout())
            .min()
            .map(|at| at.max(floor));
        [self.net.next_arrival(), timers]
            .into_iter()
            .flatten()
            .min()
    }

    fn fire_timers(&mut self) {
        if self.session.poll_timeout().is_some_and(|at| at <= self.now) {
            self.tx.clear();
            self.session.handle_timeout(self.now, &mut self.tx);
            self.route_output(&[]);
        }
        for ci in 0..self.clients.len() {
            if self.clients[ci]
                .next_timeout()
                .is_some_and(|at| at <= self.now)
            {
                self.clients[ci].handle_timeout(self.now, &mut self.rng);
                self.flush(ci);
            }
        }
    }

    fn deliver(&mut self, datagram: Datagram) {
        if datagram.to == SESSION_ADDR {
            self.inject(datagram.from, &datagram.bytes);
            return;
        }
        if let Some(ci) = self.clients.iter().position(|c| c.addr == datagram.to) {
            self.clients[ci].handle_datagram(&datagram.bytes, self.now);
            self.flush(ci);
        }
    }

    /// Puts what the session queued on the downlinks; `input` is the datagram just handled,
    /// which in-place entries refer to.
    fn route_output(&mut self, input: &[u8]) {
        let out: Vec<(SocketAddr, Vec<u8>)> = self
            .tx
            .entries()
            .iter()
            .map(|e| {
                let bytes = match e.source {
                    TxSource::Arena { offset } => self.tx.arena_bytes(offset, e.len).to_vec(),
                    TxSource::InPlace { .. } => input[..e.len].to_vec(),
                };
                (e.to, bytes)
            })
            .collect();
        self.tx.clear();
        for (to, bytes) in out {
            match self.clients.iter().find(|c| c.addr == to) {
                Some(client) => {
                    let link = client.down;
                    self.net.send(&link, self.now, SESSION_ADDR, to, bytes);
                }
                None => self.stray_outputs += 1,
            }
        }
        self.drain_events();
    }

    /// Moves the session's events into [`Sim::events`].
    pub fn drain_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            self.events.push((self.now, event));
        }
    }

    /// Removes a participant, as the control plane would.
    pub fn remove(&mut self, ci: usize) {
        let id = self.participant(ci);
        assert!(self.session.remove_participant(id, "left"));
        self.drain_events();
    }

    /// The link settings of client `ci`.
    pub fn set_links(&mut self, ci: usize, up: Link, down: Link) {
        self.clients[ci].up = up;
        self.clients[ci].down = down;
    }
}
