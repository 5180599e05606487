//! Generic NACK generation for one inbound video source (RFC 4585 section 6.2.1).
//!
//! The generator watches the extended sequence numbers that arrive and decides which
//! missing ones to request from the publisher, and when: a gap is first requested after a
//! short delay, so that ordinary reordering causes no NACK; then again about once per round
//! trip, a bounded number of times; and it is forgotten after a maximum age or once it
//! falls out of the tracked window. A jump wider than the allowed gap resets the state
//! instead of requesting hundreds of packets that a keyframe would replace more cheaply.

use std::time::{Duration, Instant};

use crate::ids::{ExtSeq, SeqNo};

/// The shortest retry interval [`NackGenerator::set_rtt`] will set.
const MIN_RETRY_INTERVAL: Duration = Duration::from_millis(10);

/// Tuning of a [`NackGenerator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NackConfig {
    /// Sequence numbers tracked behind the highest one received.
    pub capacity: usize,
    /// A forward gap with more missing packets than this resets instead of requesting them.
    pub max_gap: u64,
    /// Wait before the first request for a gap, so that reordering causes no NACK.
    pub first_delay: Duration,
    /// Wait between requests for the same packet; about one round trip.
    pub retry_interval: Duration,
    /// Requests sent for one packet before giving up on it.
    pub max_requests: u8,
    /// A packet missing for longer than this is forgotten.
    pub max_age: Duration,
}

impl Default for NackConfig {
    fn default() -> NackConfig {
        NackConfig {
            capacity: 512,
            max_gap: 256,
            first_delay: Duration::from_millis(5),
            retry_interval: Duration::from_millis(50),
            max_requests: 4,
            max_age: Duration::from_secs(1),
        }
    }
}

/// Counters of a [`NackGenerator`], for statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NackCounters {
    /// Sequence numbers requested, each retry counted again.
    pub requested: u64,
    /// Missing packets that arrived later.
    pub recovered: u64,
    /// Missing packets given up on (out of retries, too old, or out of the window).
    pub gave_up: u64,
    /// Jumps that reset the generator.
    pub resets: u64,
}

#[derive(Debug, Clone, Copy)]
enum SlotState {
    Empty,
    Received,
    Missing {
        since: Instant,
        next_at: Instant,
        requests: u8,
    },
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    seq: u64,
    state: SlotState,
}

const EMPTY_SLOT: Slot = Slot {
    seq: u64::MAX,
    state: SlotState::Empty,
};

/// Decides which sequence numbers of one inbound source to NACK, and when.
///
/// Calling convention: [`NackGenerator::on_packet`] for every packet accepted by the
/// receive statistics, then [`NackGenerator::poll`] at [`NackGenerator::next_deadline`] (or
/// on any timer tick) to collect the sequence numbers to put in a generic NACK now.
#[derive(Debug)]
pub struct NackGenerator {
    config: NackConfig,
    retry_interval: Duration,
    slots: Vec<Slot>,
    highest: Option<u64>,
    missing: usize,
    counters: NackCounters,
}

impl NackGenerator {
    /// A generator with the given tuning; allocates its window once.
    pub fn new(config: NackConfig) -> NackGenerator {
        let capacity = config.capacity.max(2);
        let config = NackConfig {
            capacity,
            max_gap: config.max_gap.min(capacity as u64 - 1),
            ..config
        };
        NackGenerator {
            retry_interval: config.retry_interval,
            config,
            slots: vec![EMPTY_SLOT; capacity],
            highest: None,
            missing: 0,
            counters: NackCounters::default(),
        }
    }

    /// Sets the retry interval from a measured round-trip time (at least 10 ms).
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.retry_interval = rtt.clamp(MIN_RETRY_INTERVAL, self.config.max_age);
    }

    /// Records an accepted packet; a gap before it becomes a set of missing packets.
    pub fn on_packet(&mut self, seq: ExtSeq, now: Instant) {
        let Some(highest) = self.highest else {
            self.reset_to(seq.0);
            return;
        };
        if seq.0 <= highest {
            self.mark_received(seq.0, highest);
            return;
        }
        if seq.0 - highest - 1 > self.config.max_gap {
            tracing::trace!(target: "rtcp", gap = seq.0 - highest - 1, "nack reset on jump");
            self.counters.resets += 1;
            self.reset_to(seq.0);
            return;
        }
        let missing = SlotState::Missing {
            since: now,
            next_at: now + self.config.first_delay,
            requests: 0,
        };
        for lost in highest + 1..seq.0 {
            self.store(lost, missing);
        }
        self.store(seq.0, SlotState::Received);
        self.highest = Some(seq.0);
    }

    /// Writes the sequence numbers to request now into `out`, oldest first, and returns
    /// how many; the rest wait for the next call. Also forgets packets given up on.
    pub fn poll(&mut self, now: Instant, out: &mut [SeqNo]) -> usize {
        let Some(highest) = self.highest else {
            return 0;
        };
        let lowest = highest.saturating_sub(self.slots.len() as u64 - 1);
        let mut written = 0;
        let mut seq = lowest;
        while seq <= highest && self.missing > 0 {
            if self.poll_slot(seq, now) {
                if let Some(entry) = out.get_mut(written) {
                    *entry = ExtSeq(seq).wire();
                    written += 1;
                    self.note_request(seq, now);
                }
            }
            seq += 1;
        }
        written
    }

    /// The earliest time at which [`NackGenerator::poll`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.missing == 0 {
            return None;
        }
        self.slots
            .iter()
            .filter_map(|slot| match slot.state {
                SlotState::Missing { next_at, .. } => Some(next_at),
                _ => None,
            })
            .min()
    }

    /// Number of sequence numbers currently missing.
    pub fn missing(&self) -> usize {
        self.missing
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> NackCounters {
        self.counters
    }

    /// Whether the slot for `seq` is due for a request now; forgets it if given up on.
    fn poll_slot(&mut self, seq: u64, now: Instant) -> bool {
        let index = self.index(seq);
        let Some(slot) = self.slots.get_mut(index).filter(|slot| slot.seq == seq) else {
            return false;
        };
        let SlotState::Missing {
            since,
            next_at,
            requests,
        } = slot.state
        else {
            return false;
        };
        if now < next_at {
            return false;
        }
        let too_old = now.saturating_duration_since(since) > self.config.max_age;
        if too_old || requests >= self.config.max_requests {
            slot.state = SlotState::Empty;
            self.missing -= 1;
            self.counters.gave_up += 1;
            tracing::trace!(target: "rtcp", seq, "nack gave up");
            return false;
        }
        true
    }

    fn note_request(&mut self, seq: u64, now: Instant) {
        let index = self.index(seq);
        if let Some(slot) = self.slots.get_mut(index) {
            if let SlotState::Missing {
                next_at, requests, ..
            } = &mut slot.state
            {
                *next_at = now + self.retry_interval;
                *requests += 1;
                self.counters.requested += 1;
            }
        }
    }

    fn mark_received(&mut self, seq: u64, highest: u64) {
        if highest - seq >= self.slots.len() as u64 {
            return;
        }
        let index = self.index(seq);
        if let Some(slot) = self.slots.get_mut(index).filter(|slot| slot.seq == seq) {
            if let SlotState::Missing { .. } = slot.state {
                slot.state = SlotState::Received;
                self.missing -= 1;
                self.counters.recovered += 1;
            }
        }
    }

    /// Puts `state` in the slot of `seq`, giving up on whatever older packet was there.
    fn store(&mut self, seq: u64, state: SlotState) {
        let index = self.index(seq);
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        if let SlotState::Missing { .. } = slot.state {
            self.missing -= 1;
            self.counters.gave_up += 1;
        }
        if let SlotState::Missing { .. } = state {
            self.missing += 1;
        }
        *slot = Slot { seq, state };
    }

    fn reset_to(&mut self, seq: u64) {
        self.slots.fill(EMPTY_SLOT);
        self.counters.gave_up += self.missing as u64;
        self.missing = 0;
        self.store(seq, SlotState::Received);
        self.highest = Some(seq);
    }

    fn index(&self, seq: u64) -> usize {
        (seq % self.slots.len() as u64) as usize
    }
}

impl Default for NackGenerator {
    fn default() -> NackGenerator {
        NackGenerator::new(NackConfig::default())
    }
}
