//! The simulated network: one link per direction per client, each with seeded loss, delay,
//! jitter (which reorders) and duplication. Datagrams wait in flight until the virtual clock
//! reaches their arrival time; ties leave in the order they were sent.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How one direction of one client's path treats datagrams.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram arrives twice.
    pub duplicate: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly from zero to this, per copy; reorders when larger than
    /// the spacing of the datagrams.
    pub jitter: Duration,
}

impl Link {
    /// No loss, no duplication, 10 ms one way.
    pub const CLEAN: Link = Link {
        loss: 0.0,
        duplicate: 0.0,
        delay: Duration::from_millis(10),
        jitter: Duration::ZERO,
    };

    /// A clean link that loses `loss` of its datagrams.
    pub fn lossy(loss: f64) -> Link {
        Link {
            loss,
            ..Link::CLEAN
        }
    }
}

/// A datagram on its way.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// When it arrives.
    pub at: Instant,
    order: u64,
    /// Sender.
    pub from: SocketAddr,
    /// Receiver.
    pub to: SocketAddr,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Everything in flight, and the seeded generator that decides each datagram's fate.
pub struct Network {
    rng: StdRng,
    in_flight: Vec<Datagram>,
    next_order: u64,
    /// Datagrams handed to the network.
    pub sent: u64,
    /// Datagrams the network lost.
    pub lost: u64,
    /// Extra copies the network made.
    pub duplicated: u64,
}

impl Network {
    /// An empty network whose decisions follow `seed`.
    pub fn new(seed: u64) -> Network {
        Network {
            rng: StdRng::seed_from_u64(seed),
            in_flight: Vec::new(),
            next_order: 0,
            sent: 0,
            lost: 0,
            duplicated: 0,
        }
    }

    /// Sends `bytes` over `link` at `now`: it is lost, or arrives once or twice later.
    pub fn send(
        &mut self,
        link: &Link,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        bytes: Vec<u8>,
    ) {
        self.sent += 1;
        if link.loss > 0.0 && self.rng.random_bool(link.loss) {
            self.lost += 1;
            return;
        }
        let copies = if link.duplicate > 0.0 && self.rng.random_bool(link.duplicate) {
            self.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = if link.jitter.is_zero() {
                Duration::ZERO
            } else {
                let max = link.jitter.as_micros() as u64;
                Duration::from_micros(self.rng.random_range(0..=max))
            };
            self.in_flight.push(Datagram {
                at: now + link.delay + jitter,
                order: self.next_order,
                from,
                to,
                bytes: bytes.clone(),
            });
            self.next_order += 1;
        }
    }

    /// When the next datagram arrives.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.in_flight.iter().map(|d| d.at).min()
    }

    /// The earliest datagram due by `now`, taken off the network.
    pub fn pop_due(&mut self, now: Instant) -> Option<Datagram> {
        let index = self
            .in_flight
            .iter()
            .enumerate()
            .filter(|(_, d)| d.at <= now)
            .min_by_key(|(_, d)| (d.at, d.order))
            .map(|(i, _)| i)?;
        Some(self.in_flight.swap_remove(index))
    }

    /// Datagrams still in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The generator, for the clients' own random choices (ICE credentials, transaction
    /// ids), so that one seed decides everything the simulation controls.
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }
}
