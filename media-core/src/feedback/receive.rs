//! Receive statistics for one inbound RTP source: sequence validation and extension
//! (RFC 3550 appendix A.1), expected and lost packets (A.3), interarrival jitter (A.8), and
//! the values of the report block we send back about it (RFC 3550 section 6.4.1).
//!
//! Departures from appendix A.1, each because SRTP has already authenticated the packet:
//! there is no probation, so the first packet of a source counts; duplicates are recognised
//! within the last 128 sequence numbers and neither counted nor returned, so the cumulative
//! loss never goes negative; and a restart continues the extended numbering upwards so that
//! the [`ExtSeq`] values handed to the NACK generator and the RTX cache never go back.

use std::time::{Duration, Instant};

use crate::ids::{ExtSeq, RtpTime, SeqNo, Ssrc};

/// A forward jump of at least this many sequence numbers is treated as a possible restart.
const MAX_DROPOUT: u16 = 3000;

/// A packet at most this many sequence numbers behind the highest is a reordered one.
const MAX_MISORDER: u16 = 100;

/// One full cycle of the 16-bit sequence number.
const SEQ_MOD: u64 = 1 << 16;

/// The extended numbering starts one cycle up, so that a packet reordered from before the
/// first one received still gets a number; report blocks subtract it again.
const FIRST_CYCLE: u64 = SEQ_MOD;

/// The cumulative number of packets lost is a 24-bit signed field (RFC 3550 section 6.4.1).
const CUMULATIVE_LOST_MAX: i64 = 0x7F_FFFF;
const CUMULATIVE_LOST_MIN: i64 = -0x80_0000;

/// The values of one RTCP report block (RFC 3550 section 6.4.1) about one source; the
/// `rtp` module writes them into a receiver or sender report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlockValues {
    /// The source this block reports on.
    pub ssrc: Ssrc,
    /// Packets lost since the previous report, as a fixed-point fraction of 1/256.
    pub fraction_lost: u8,
    /// Packets lost since reception began, clamped to the 24-bit signed field.
    pub cumulative_lost: i32,
    /// Highest sequence number received, extended with its count of cycles.
    pub extended_highest_seq: u32,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last sender report received (LSR), or 0.
    pub last_sr: u32,
    /// Delay since that sender report arrived, in units of 1/65536 s (DLSR), or 0.
    pub delay_since_last_sr: u32,
}

/// A snapshot of the counters of one inbound source, for statistics.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReceiveCounters {
    /// Packets accepted (duplicates and discarded packets excluded).
    pub packets: u64,
    /// Bytes of the accepted packets.
    pub bytes: u64,
    /// Packets lost since reception began, across restarts of the source.
    pub lost: i64,
    /// Duplicate packets dropped.
    pub duplicates: u64,
    /// Packets discarded as too far out of order or as an unconfirmed jump.
    pub discarded: u64,
    /// Interarrival jitter in milliseconds.
    pub jitter_ms: f64,
}

/// What the sequence tracker made of one packet.
enum Verdict {
    Accept(u64),
    Restart(u64),
    Duplicate,
    Discard,
}

/// RFC 3550 appendix A.1 state, kept in extended numbers.
#[derive(Debug)]
struct SeqTracker {
    base: u64,
    highest: u64,
    /// Bit `i` set when `highest - i` was received.
    recent: u128,
    bad_seq: Option<u16>,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
}

impl SeqTracker {
    fn new(ext: u64) -> SeqTracker {
        SeqTracker {
            base: ext,
            highest: ext,
            recent: 1,
            bad_seq: None,
            received: 1,
            expected_prior: 0,
            received_prior: 0,
        }
    }

    fn update(&mut self, seq: SeqNo) -> Verdict {
        let udelta = seq.0.wrapping_sub(self.highest as u16);
        if udelta == 0 {
            return Verdict::Duplicate;
        }
        if udelta < MAX_DROPOUT {
            let ext = self.highest + u64::from(udelta);
            self.advance(ext);
            return Verdict::Accept(ext);
        }
        if u64::from(udelta) <= SEQ_MOD - u64::from(MAX_MISORDER) {
            // A big jump: only two sequential packets confirm that the source restarted.
            if self.bad_seq == Some(seq.0) {
                return Verdict::Restart(self.highest + u64::from(udelta));
            }
            self.bad_seq = Some(seq.0.wrapping_add(1));
            return Verdict::Discard;
        }
        self.reordered(u64::from(udelta.wrapping_neg()))
    }

    fn advance(&mut self, ext: u64) {
        let shift = ext - self.highest;
        self.recent = if shift >= 128 {
            0
        } else {
            self.recent << shift
        };
        self.recent |= 1;
        self.highest = ext;
        self.bad_seq = None;
        self.received += 1;
    }

    /// A packet `back` (1..100) numbers below the highest.
    fn reordered(&mut self, back: u64) -> Verdict {
        let bit = 1u128 << back;
        if self.recent & bit != 0 {
            return Verdict::Duplicate;
        }
        let Some(ext) = self.highest.checked_sub(back) else {
            return Verdict::Discard;
        };
        self.recent |= bit;
        self.received += 1;
        self.base = self.base.min(ext);
        Verdict::Accept(ext)
    }

    fn expected(&self) -> u64 {
        self.highest - self.base + 1
    }

    fn lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Fraction lost since the previous call, in 1/256 (RFC 3550 appendix A.3).
    fn fraction_lost(&mut self) -> u8 {
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(self.expected_prior);
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval.saturating_sub(received_interval);
        if expected_interval == 0 || lost_interval == 0 {
            return 0;
        }
        ((lost_interval << 8) / expected_interval).min(255) as u8
    }
}

/// Interarrival jitter estimator (RFC 3550 appendix A.8), in the codec's clock.
#[derive(Debug, Default)]
struct Jitter {
    epoch: Option<Instant>,
    last_transit: Option<u32>,
    /// Jitter scaled by 16, as in the appendix's integer form.
    scaled: u64,
}

impl Jitter {
    fn update(&mut self, clock_rate: u32, ts: RtpTime, arrival: Instant) {
        let epoch = *self.epoch.get_or_insert(arrival);
        let elapsed = arrival.saturating_duration_since(epoch).as_nanos();
        // The arrival time in timestamp units; only differences matter, so it may wrap.
        let arrival_rtp = (elapsed * u128::from(clock_rate) / 1_000_000_000) as u32;
        let transit = arrival_rtp.wrapping_sub(ts.0);
        if let Some(last) = self.last_transit {
            let d = u64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            self.scaled = self.scaled + d - ((self.scaled + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    fn value(&self) -> u32 {
        (self.scaled >> 4).min(u64::from(u32::MAX)) as u32
    }
}

/// Statistics about one inbound RTP source, from which its report blocks are made.
///
/// Feed every authenticated packet to [`ReceiveStats::on_packet`] and every sender report
/// from the source to [`ReceiveStats::on_sender_report`]; call
/// [`ReceiveStats::report_block`] once per report sent, since it starts a new loss interval.
#[derive(Debug)]
pub struct ReceiveStats {
    clock_rate: u32,
    seq: Option<SeqTracker>,
    jitter: Jitter,
    last_sr: Option<(u32, Instant)>,
    packets: u64,
    bytes: u64,
    lost_before_restart: i64,
    duplicates: u64,
    discarded: u64,
}

impl ReceiveStats {
    /// Statistics for a source whose RTP timestamps tick at `clock_rate` Hz.
    pub fn new(clock_rate: u32) -> ReceiveStats {
        ReceiveStats {
            clock_rate,
            seq: None,
            jitter: Jitter::default(),
            last_sr: None,
            packets: 0,
            bytes: 0,
            lost_before_restart: 0,
            duplicates: 0,
            discarded: 0,
        }
    }

    /// Records one packet and returns its extended sequence number, or `None` when it is
    /// a duplicate or too far out of order and must be ignored.
    pub fn on_packet(
        &mut self,
        seq: SeqNo,
        ts: RtpTime,
        arrival: Instant,
        bytes: usize,
    ) -> Option<ExtSeq> {
        let ext = match self.seq.as_mut().map(|tracker| tracker.update(seq)) {
            None => {
                let ext = FIRST_CYCLE | u64::from(seq.0);
                self.seq = Some(SeqTracker::new(ext));
                ext
            }
            Some(Verdict::Accept(ext)) => ext,
            Some(Verdict::Restart(ext)) => self.restart(ext),
            Some(Verdict::Duplicate) => {
                self.duplicates += 1;
                return None;
            }
            Some(Verdict::Discard) => {
                self.discarded += 1;
                tracing::trace!(target: "rtcp", seq = seq.0, "rtp packet far out of order");
                return None;
            }
        };

        self.packets += 1;
        self.bytes += bytes as u64;
        self.jitter.update(self.clock_rate, ts, arrival);
        Some(ExtSeq(ext))
    }

    /// The source restarted its sequence: carry the loss over, start a new tracker at `ext`
    /// and a new jitter baseline, since its timestamps restarted too.
    fn restart(&mut self, ext: u64) -> u64 {
        tracing::trace!(target: "rtcp", ext, "rtp source restarted its sequence");
        self.lost_before_restart += self.seq.as_ref().map_or(0, SeqTracker::lost);
        self.seq = Some(SeqTracker::new(ext));
        self.jitter.last_transit = None;
        ext
    }

    /// Records a sender report from this source: `ntp` is its 64-bit NTP timestamp.
    pub fn on_sender_report(&mut self, ntp: u64, now: Instant) {
        self.last_sr = Some((crate::feedback::compact_ntp(ntp), now));
    }

    /// The report block to send about this source now; starts a new loss interval.
    pub fn report_block(&mut self, ssrc: Ssrc, now: Instant) -> ReportBlockValues {
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some((lsr, at)) => (lsr, to_dlsr(now.saturating_duration_since(at))),
            None => (0, 0),
        };
        let mut block = ReportBlockValues {
            ssrc,
            last_sr,
            delay_since_last_sr,
            jitter: self.jitter.value(),
            ..ReportBlockValues::default()
        };
        if let Some(tracker) = self.seq.as_mut() {
            block.fraction_lost = tracker.fraction_lost();
            let lost = tracker
                .lost()
                .clamp(CUMULATIVE_LOST_MIN, CUMULATIVE_LOST_MAX);
            block.cumulative_lost = lost as i32;
            block.extended_highest_seq = tracker.highest.wrapping_sub(FIRST_CYCLE) as u32;
        }
        block
    }

    /// The highest extended sequence number accepted so far.
    pub fn highest(&self) -> Option<ExtSeq> {
        self.seq.as_ref().map(|tracker| ExtSeq(tracker.highest))
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> ReceiveCounters {
        let lost = self.seq.as_ref().map_or(0, SeqTracker::lost);
        let jitter_ms = if self.clock_rate == 0 {
            0.0
        } else {
            f64::from(self.jitter.value()) * 1000.0 / f64::from(self.clock_rate)
        };
        ReceiveCounters {
            packets: self.packets,
            bytes: self.bytes,
            lost: self.lost_before_restart + lost,
            duplicates: self.duplicates,
            discarded: self.discarded,
            jitter_ms,
        }
    }
}

/// A duration in the 1/65536 s units of the DLSR field, saturating.
fn to_dlsr(delay: Duration) -> u32 {
    let units = delay.as_nanos() * 65_536 / 1_000_000_000;
    units.min(u128::from(u32::MAX)) as u32
}
