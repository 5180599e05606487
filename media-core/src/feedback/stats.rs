//! Per-track counters the engine reports: some come from the feedback state machines,
//! the rest the engine counts itself as it forwards.

use std::time::Duration;

use super::ReceiveCounters;

/// Plain counters about one track, for the engine's statistics.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TrackStats {
    /// RTP packets received from the publisher (duplicates excluded).
    pub packets: u64,
    /// Bytes of those packets.
    pub bytes: u64,
    /// Packets lost between the publisher and us.
    pub lost: i64,
    /// Interarrival jitter in milliseconds.
    pub jitter_ms: f64,
    /// Latest round-trip time to the publisher, once measured.
    pub rtt: Option<Duration>,
    /// Sequence numbers we requested from the publisher in generic NACKs.
    pub nacks_sent: u64,
    /// Sequence numbers subscribers requested from us in generic NACKs.
    pub nacks_received: u64,
    /// Packets retransmitted to subscribers from the RTX cache.
    pub retransmissions: u64,
    /// Keyframe requests (PLI or FIR) forwarded to the publisher.
    pub plis_sent: u64,
    /// Keyframe requests received from subscribers.
    pub plis_received: u64,
    /// Keyframes received from the publisher.
    pub keyframes: u64,
}

impl TrackStats {
    /// Copies the receive-side counters of the track's inbound source.
    pub fn absorb_receive(&mut self, counters: &ReceiveCounters) {
        self.packets = counters.packets;
        self.bytes = counters.bytes;
        self.lost = counters.lost;
        self.jitter_ms = counters.jitter_ms;
    }
}
