//! The receiving side of transport-wide congestion control for one publisher transport:
//! records when each transport-wide sequence number arrived and writes the transport-cc
//! feedback message (draft-holmer-rmcat-transport-wide-cc-extensions-01, section 3.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P|  FMT=15 |    PT=205     |           length              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     SSRC of packet sender                     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      SSRC of media source                     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         FCI: base seq, status count, reference time, fb pkt count, chunks, deltas
//! ```
//!
//! Padding to a 32-bit boundary follows RFC 3550 (the P bit set and the last byte giving
//! the padding length), as browsers write and expect it.

use std::time::{Duration, Instant};

use super::chunk::{ChunkBuilder, Symbol};
use super::{DELTA_TICK_US, REFERENCE_MASK, REFERENCE_TICK_US, RTPFB, TWCC_FMT};
use crate::ids::{ExtSeq, SeqNo, Ssrc, TwccSeq};

/// Common RTCP header, the two SSRCs, and the fixed part of the FCI.
const HEADER_LEN: usize = 20;

/// Delta ticks per reference time tick (64 ms / 250 µs).
const TICKS_PER_REFERENCE: i64 = REFERENCE_TICK_US / DELTA_TICK_US;

/// The extended numbering starts one cycle up, so that packets reordered from before the
/// first one received still get a number.
const FIRST_CYCLE: u64 = 1 << 16;

/// Consecutive packets older than the window after which the numbering is followed anew.
const STALE_RESET: u32 = 32;

/// Marks a slot that holds no arrival.
const NO_ARRIVAL: u64 = u64::MAX;

/// Tuning of a [`TwccReceiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwccReceiverConfig {
    /// Arrivals remembered; older unreported packets are dropped from the feedback.
    pub capacity: usize,
    /// Time between feedback messages.
    pub interval: Duration,
    /// Unreported packets that make a feedback due before the interval has passed.
    pub max_pending: u64,
}

impl Default for TwccReceiverConfig {
    fn default() -> TwccReceiverConfig {
        TwccReceiverConfig {
            capacity: 1024,
            interval: Duration::from_millis(50),
            max_pending: 100,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Arrival {
    seq: u64,
    /// Microseconds since the first arrival, or [`NO_ARRIVAL`].
    at_us: u64,
}

const EMPTY_ARRIVAL: Arrival = Arrival {
    seq: u64::MAX,
    at_us: NO_ARRIVAL,
};

/// Transport-cc feedback generator for one publisher transport.
///
/// Calling convention: [`TwccReceiver::on_packet`] for every authenticated packet that
/// carries a transport-wide sequence number, then [`TwccReceiver::poll_feedback`] at
/// [`TwccReceiver::next_deadline`] until it returns `None`.
#[derive(Debug)]
pub struct TwccReceiver {
    config: TwccReceiverConfig,
    epoch: Option<Instant>,
    slots: Vec<Arrival>,
    highest: Option<u64>,
    next_report: u64,
    last_arrival: Option<Instant>,
    last_feedback: Option<Instant>,
    /// The last feedback stopped short of the highest packet; send the rest at once.
    flush: bool,
    fb_count: u8,
    stale_run: u32,
    deltas: Vec<u8>,
}

impl TwccReceiver {
    /// A receiver with the given tuning; allocates its buffers once.
    pub fn new(config: TwccReceiverConfig) -> TwccReceiver {
        let capacity = config.capacity.clamp(1, usize::from(u16::MAX));
        TwccReceiver {
            config: TwccReceiverConfig { capacity, ..config },
            epoch: None,
            slots: vec![EMPTY_ARRIVAL; capacity],
            highest: None,
            next_report: 0,
            last_arrival: None,
            last_feedback: None,
            flush: false,
            fb_count: 0,
            stale_run: 0,
            deltas: Vec::with_capacity(capacity * 2),
        }
    }

    /// Records the arrival of a packet; duplicates keep their first arrival time, and a
    /// late packet that was already reported lost is reported again.
    pub fn on_packet(&mut self, seq: TwccSeq, arrival: Instant) {
        let epoch = *self.epoch.get_or_insert(arrival);
        let at_us = micros(arrival.saturating_duration_since(epoch));
        let Some((ext, highest)) = self.extend(seq) else {
            return;
        };
        let capacity = self.slots.len() as u64;
        let index = (ext % capacity) as usize;
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        if slot.seq == ext && slot.at_us != NO_ARRIVAL {
            return;
        }
        *slot = Arrival { seq: ext, at_us };
        let lowest = (highest + 1).saturating_sub(capacity);
        self.next_report = self.next_report.min(ext).max(lowest);
        self.last_arrival = Some(arrival);
    }

    /// Extends `seq` and moves the highest; returns both, or `None` for a packet older
    /// than the window. A long series of those means the sender jumped far away in the
    /// numbering, and the receiver starts over from the new position.
    fn extend(&mut self, seq: TwccSeq) -> Option<(u64, u64)> {
        let Some(highest) = self.highest else {
            let ext = FIRST_CYCLE | u64::from(seq.0);
            self.highest = Some(ext);
            self.next_report = ext;
            return Some((ext, ext));
        };
        let ext = ExtSeq::extend(SeqNo(seq.0), ExtSeq(highest)).0;
        if ext + self.slots.len() as u64 > highest {
            self.stale_run = 0;
            self.highest = Some(highest.max(ext));
            return Some((ext, highest.max(ext)));
        }
        self.stale_run += 1;
        if self.stale_run < STALE_RESET {
            return None;
        }
        tracing::trace!(target: "rtcp", seq = seq.0, "twcc numbering jumped; starting over");
        self.slots.fill(EMPTY_ARRIVAL);
        self.highest = None;
        self.flush = false;
        self.stale_run = 0;
        self.extend(seq)
    }

    /// Writes a complete RTCP transport-cc feedback packet into `dst` and returns its
    /// length, when one is due: the interval has passed since the last one, enough packets
    /// are waiting, or the last one could not hold them all. `None` when nothing is due or
    /// `dst` cannot hold even one status.
    pub fn poll_feedback(
        &mut self,
        now: Instant,
        sender_ssrc: Ssrc,
        media_ssrc: Ssrc,
        dst: &mut [u8],
    ) -> Option<usize> {
        let highest = self.highest?;
        if self.next_report > highest || !self.is_due(now, highest) {
            return None;
        }
        let ssrcs = (sender_ssrc, media_ssrc);
        let (len, next_report) = self.write_feedback(ssrcs, highest, dst)?;
        tracing::trace!(target: "rtcp", len, count = next_report - self.next_report, "twcc");
        self.flush = next_report <= highest;
        self.next_report = next_report;
        self.last_feedback = Some(now);
        self.fb_count = self.fb_count.wrapping_add(1);
        Some(len)
    }

    /// When the next feedback is due, if any packet waits to be reported.
    pub fn next_deadline(&self) -> Option<Instant> {
        let highest = self.highest?;
        if self.next_report > highest {
            return None;
        }
        let overdue = self.flush || highest + 1 - self.next_report >= self.config.max_pending;
        match self.last_feedback {
            Some(last) if !overdue => Some(last + self.config.interval),
            _ => self.last_arrival,
        }
    }

    fn is_due(&self, now: Instant, highest: u64) -> bool {
        self.flush
            || highest + 1 - self.next_report >= self.config.max_pending
            || self
                .last_feedback
                .is_none_or(|last| now.saturating_duration_since(last) >= self.config.interval)
    }

    /// Writes one feedback from `next_report` on; returns its length and the first
    /// sequence number it did not cover.
    fn write_feedback(
        &mut self,
        (sender_ssrc, media_ssrc): (Ssrc, Ssrc),
        highest: u64,
        dst: &mut [u8],
    ) -> Option<(usize, u64)> {
        let first_us = (self.next_report..=highest).find_map(|seq| arrival_of(&self.slots, seq));
        let reference = first_us.unwrap_or(0) as i64 / REFERENCE_TICK_US;
        let mut writer = FeedbackWriter::new(dst, &mut self.deltas, reference);
        let mut seq = self.next_report;
        while seq <= highest && writer.count < u16::MAX {
            if !writer.add(arrival_of(&self.slots, seq)) {
                break;
            }
            seq += 1;
        }
        if writer.count == 0 {
            return None;
        }
        let header = FeedbackHeader {
            sender_ssrc,
            media_ssrc,
            base_seq: self.next_report as u16,
            reference: (reference as u32) & REFERENCE_MASK,
            fb_count: self.fb_count,
        };
        Some((writer.finish(&header)?, seq))
    }
}

impl Default for TwccReceiver {
    fn default() -> TwccReceiver {
        TwccReceiver::new(TwccReceiverConfig::default())
    }
}

fn arrival_of(slots: &[Arrival], seq: u64) -> Option<u64> {
    let slot = slots.get((seq % slots.len() as u64) as usize)?;
    (slot.seq == seq && slot.at_us != NO_ARRIVAL).then_some(slot.at_us)
}

fn micros(duration: Duration) -> u64 {
    duration.as_micros().min(u128::from(NO_ARRIVAL - 1)) as u64
}

/// The fields of the header written once the statuses are known.
struct FeedbackHeader {
    sender_ssrc: Ssrc,
    media_ssrc: Ssrc,
    base_seq: u16,
    reference: u32,
    fb_count: u8,
}

/// Writes the chunks straight into the packet and keeps the deltas aside until the
/// chunks are complete, since the deltas follow them.
struct FeedbackWriter<'a> {
    dst: &'a mut [u8],
    deltas: &'a mut Vec<u8>,
    chunks: ChunkBuilder,
    chunk_at: usize,
    /// Receive time of the previous received packet (first: the reference time), in ticks.
    previous: i64,
    count: u16,
}

impl<'a> FeedbackWriter<'a> {
    fn new(dst: &'a mut [u8], deltas: &'a mut Vec<u8>, reference: i64) -> FeedbackWriter<'a> {
        deltas.clear();
        FeedbackWriter {
            dst,
            deltas,
            chunks: ChunkBuilder::new(),
            chunk_at: HEADER_LEN,
            previous: reference * TICKS_PER_REFERENCE,
            count: 0,
        }
    }

    /// Adds the next packet's status; `false` when it does not fit in this feedback
    /// (the packet is full, or its delta is too large for 16 bits).
    fn add(&mut self, arrival_us: Option<u64>) -> bool {
        let ticks =
            arrival_us.map(|us| ((us + DELTA_TICK_US as u64 / 2) / DELTA_TICK_US as u64) as i64);
        let delta = ticks.map_or(0, |ticks| ticks - self.previous);
        let symbol = match (ticks, delta) {
            (None, _) => Symbol::NotReceived,
            (Some(_), 0..=255) => Symbol::SmallDelta,
            (Some(_), d) if i16::try_from(d).is_ok() => Symbol::LargeDelta,
            _ => return false,
        };
        let emits = !self.chunks.can_add(symbol);
        let chunk_count = (self.chunk_at - HEADER_LEN) / 2 + usize::from(emits) + 1;
        let body = HEADER_LEN + 2 * chunk_count + self.deltas.len() + symbol.delta_len();
        if padded(body) > self.dst.len() {
            return false;
        }
        if emits {
            let chunk = self.chunks.emit();
            if put(self.dst, self.chunk_at, &chunk.to_be_bytes()).is_none() {
                return false;
            }
            self.chunk_at += 2;
        }
        self.chunks.add(symbol);
        self.push_delta(symbol, delta);
        if let Some(ticks) = ticks {
            self.previous = ticks;
        }
        self.count += 1;
        true
    }

    fn push_delta(&mut self, symbol: Symbol, delta: i64) {
        match symbol {
            Symbol::NotReceived => {}
            Symbol::SmallDelta => self.deltas.push(delta as u8),
            Symbol::LargeDelta => self.deltas.extend_from_slice(&(delta as i16).to_be_bytes()),
        }
    }

    /// Completes the packet: last chunk, deltas, padding and header; returns its length.
    fn finish(mut self, header: &FeedbackHeader) -> Option<usize> {
        if let Some(chunk) = self.chunks.finish() {
            put(self.dst, self.chunk_at, &chunk.to_be_bytes())?;
            self.chunk_at += 2;
        }
        put(self.dst, self.chunk_at, self.deltas)?;
        let body = self.chunk_at + self.deltas.len();
        let len = padded(body);
        let padding = len - body;
        if padding > 0 {
            let pad = self.dst.get_mut(body..len)?;
            pad.fill(0);
            *pad.last_mut()? = padding as u8;
        }
        let words = u16::try_from(len / 4 - 1).ok()?;
        let p_bit = if padding > 0 { 0x20 } else { 0 };
        let mut fixed = [0u8; HEADER_LEN];
        fixed[0] = 0x80 | p_bit | TWCC_FMT;
        fixed[1] = RTPFB;
        fixed[2..4].copy_from_slice(&words.to_be_bytes());
        fixed[4..8].copy_from_slice(&header.sender_ssrc.0.to_be_bytes());
        fixed[8..12].copy_from_slice(&header.media_ssrc.0.to_be_bytes());
        fixed[12..14].copy_from_slice(&header.base_seq.to_be_bytes());
        fixed[14..16].copy_from_slice(&self.count.to_be_bytes());
        fixed[16..20]
            .copy_from_slice(&((header.reference << 8) | u32::from(header.fb_count)).to_be_bytes());
        put(self.dst, 0, &fixed)?;
        Some(len)
    }
}

fn padded(len: usize) -> usize {
    (len + 3) & !3
}

fn put(dst: &mut [u8], at: usize, bytes: &[u8]) -> Option<()> {
    dst.get_mut(at..at + bytes.len())?.copy_from_slice(bytes);
    Some(())
}
