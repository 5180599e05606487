//! The sending side of transport-wide congestion control for one subscriber transport:
//! remembers the size of every packet sent with a transport-wide sequence number and turns
//! the subscriber's transport-cc feedback into a simple downlink estimate.
//!
//! The estimate is deliberately plain: the bitrate delivered over the last second of the
//! receiver's clock, the bitrate sent over the last second of ours, and the share of
//! reported packets that were lost over the last second of feedback. It has no delay-based
//! overuse detection, so it notices congestion only once packets are lost or the delivered
//! rate falls behind the sent one.

use std::time::Instant;

use super::parse::TwccFeedback;
use super::window::{Totals, Window};
use super::REFERENCE_TICK_US;
use crate::ids::{ExtSeq, SeqNo, TwccSeq};

/// The extended numbering starts one cycle up, as in the receiver.
const FIRST_CYCLE: u64 = 1 << 16;

/// A rate is only given once it is measured over at least this long.
const MIN_SPAN_US: i64 = 20_000;

/// The 24-bit reference time wraps after this many ticks.
const REFERENCE_WRAP: i64 = 1 << 24;

/// The state of the downlink to one subscriber, as of the latest feedback.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DownlinkEstimate {
    /// Bits per second that reached the subscriber over the last second of its clock.
    pub bitrate_bps: u64,
    /// Bits per second we sent over the last second before our latest packet.
    pub sent_bps: u64,
    /// Share of the packets reported over the last second that were lost, 0 to 1.
    pub loss_fraction: f32,
    /// Packets reported (received or lost) over the last second.
    pub reported_packets: u64,
    /// When the latest feedback arrived; an old one means the estimate is stale.
    pub last_feedback: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pending,
    Received,
    Lost,
}

#[derive(Debug, Clone, Copy)]
struct Sent {
    seq: u64,
    bytes: u32,
    outcome: Outcome,
}

const EMPTY_SENT: Sent = Sent {
    seq: u64::MAX,
    bytes: 0,
    outcome: Outcome::Pending,
};

/// A rate measured on one clock: byte totals and the times of the first and latest event.
#[derive(Debug, Clone)]
struct Rate {
    window: Window,
    first_us: Option<i64>,
    latest_us: i64,
}

impl Rate {
    fn new() -> Rate {
        Rate {
            window: Window::new(),
            first_us: None,
            latest_us: i64::MIN,
        }
    }

    fn record(&mut self, at_us: i64, bytes: u64) {
        self.window.record(
            at_us,
            Totals {
                bytes,
                ..Totals::default()
            },
        );
        self.first_us = Some(self.first_us.map_or(at_us, |first| first.min(at_us)));
        self.latest_us = self.latest_us.max(at_us);
    }

    fn bps(&self) -> u64 {
        let Some(first) = self.first_us else {
            return 0;
        };
        let span = self.latest_us - self.window.start(self.latest_us).max(first);
        if span < MIN_SPAN_US {
            return 0;
        }
        let bytes = self.window.sum(self.latest_us).bytes;
        (u128::from(bytes) * 8 * 1_000_000 / span as u128) as u64
    }
}

/// The log of packets sent on one subscriber transport and the estimate made from its
/// feedback.
///
/// Calling convention: [`TwccSendLog::on_send`] for every packet sent with a transport-wide
/// sequence number, [`TwccSendLog::on_feedback`] for every transport-cc feedback received,
/// and [`TwccSendLog::estimate`] whenever the engine wants to adapt.
#[derive(Debug)]
pub struct TwccSendLog {
    epoch: Option<Instant>,
    slots: Vec<Sent>,
    highest: Option<u64>,
    reference: Option<i64>,
    delivered: Rate,
    sent: Rate,
    outcomes: Window,
    last_feedback: Option<(Instant, i64)>,
}

impl TwccSendLog {
    /// A log of the last `capacity` packets sent (at least one); allocates once.
    pub fn new(capacity: usize) -> TwccSendLog {
        TwccSendLog {
            epoch: None,
            slots: vec![EMPTY_SENT; capacity.max(1)],
            highest: None,
            reference: None,
            delivered: Rate::new(),
            sent: Rate::new(),
            outcomes: Window::new(),
            last_feedback: None,
        }
    }

    /// Records a packet of `bytes` bytes sent now with transport-wide sequence `seq`.
    pub fn on_send(&mut self, seq: TwccSeq, bytes: usize, now: Instant) {
        let now_us = self.local_us(now);
        let highest = self.highest.unwrap_or(FIRST_CYCLE | u64::from(seq.0));
        let ext = ExtSeq::extend(SeqNo(seq.0), ExtSeq(highest)).0;
        if ext + self.slots.len() as u64 <= highest {
            return;
        }
        self.highest = Some(highest.max(ext));
        let index = self.index(ext);
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Sent {
                seq: ext,
                bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
                outcome: Outcome::Pending,
            };
        }
        self.sent.record(now_us, bytes as u64);
    }

    /// Applies one transport-cc feedback received now. Packets it reports that this log
    /// does not hold (never sent, or long forgotten) are ignored, and so are repeats.
    pub fn on_feedback(&mut self, feedback: &TwccFeedback<'_>, now: Instant) {
        let Some(highest) = self.highest else {
            return;
        };
        let reference = self.unwrap_reference(feedback.reference_time);
        let offset_us = (reference - i64::from(feedback.reference_time)) * REFERENCE_TICK_US;
        let mut outcomes = Totals::default();
        for packet in feedback.packets() {
            let ext = ExtSeq::extend(SeqNo(packet.seq.0), ExtSeq(highest)).0;
            let arrival_us = packet.arrival_us.map(|us| us + offset_us);
            if let Some((at_us, bytes)) = self.apply(ext, arrival_us, &mut outcomes) {
                self.delivered.record(at_us, bytes);
            }
        }
        let now_us = self.local_us(now);
        self.outcomes.record(now_us, outcomes);
        self.last_feedback = Some((now, now_us));
    }

    /// The downlink estimate as of the latest feedback and the latest packet sent.
    pub fn estimate(&self) -> DownlinkEstimate {
        let outcomes = self
            .last_feedback
            .map_or(Totals::default(), |(_, at_us)| self.outcomes.sum(at_us));
        let lost = outcomes.lost.max(0);
        let reported = (outcomes.received + lost).max(0) as u64;
        let loss_fraction = if reported == 0 {
            0.0
        } else {
            lost as f32 / reported as f32
        };
        DownlinkEstimate {
            bitrate_bps: self.delivered.bps(),
            sent_bps: self.sent.bps(),
            loss_fraction,
            reported_packets: reported,
            last_feedback: self.last_feedback.map(|(at, _)| at),
        }
    }

    /// Records the reported outcome of packet `ext`; returns its receive time and size
    /// when it is newly known to have been delivered.
    fn apply(
        &mut self,
        ext: u64,
        arrival_us: Option<i64>,
        outcomes: &mut Totals,
    ) -> Option<(i64, u64)> {
        let index = self.index(ext);
        let slot = self.slots.get_mut(index).filter(|slot| slot.seq == ext)?;
        match (slot.outcome, arrival_us) {
            (Outcome::Pending | Outcome::Lost, Some(at_us)) => {
                if slot.outcome == Outcome::Lost {
                    outcomes.lost -= 1;
                }
                slot.outcome = Outcome::Received;
                outcomes.received += 1;
                Some((at_us, u64::from(slot.bytes)))
            }
            (Outcome::Pending, None) => {
                slot.outcome = Outcome::Lost;
                outcomes.lost += 1;
                None
            }
            _ => None,
        }
    }

    /// Follows the 24-bit reference time across its wrap, choosing the value nearest the
    /// previous one.
    fn unwrap_reference(&mut self, raw: u32) -> i64 {
        let raw = i64::from(raw) % REFERENCE_WRAP;
        let unwrapped = match self.reference {
            None => raw,
            Some(previous) => {
                let mut diff = (raw - previous).rem_euclid(REFERENCE_WRAP);
                if diff >= REFERENCE_WRAP / 2 {
                    diff -= REFERENCE_WRAP;
                }
                previous + diff
            }
        };
        self.reference = Some(unwrapped);
        unwrapped
    }

    fn local_us(&mut self, now: Instant) -> i64 {
        let epoch = *self.epoch.get_or_insert(now);
        let micros = now.saturating_duration_since(epoch).as_micros();
        i64::try_from(micros).unwrap_or(i64::MAX)
    }

    fn index(&self, ext: u64) -> usize {
        (ext % self.slots.len() as u64) as usize
    }
}

impl Default for TwccSendLog {
    fn default() -> TwccSendLog {
        TwccSendLog::new(1024)
    }
}
