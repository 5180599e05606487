//! The retransmission cache of one source track: its recent packets, kept so that the
//! generic NACKs of subscribers (RFC 4585 section 6.2.1) can be answered with a
//! retransmission (RFC 4588) without asking the publisher.
//!
//! The cache is a ring of fixed-size slots allocated once; a packet lives in the slot of its
//! extended sequence number modulo the capacity until a newer one takes the slot or it grows
//! older than the maximum age. It holds decrypted RTP, so its `Debug` shows no bytes.

use std::fmt;
use std::time::{Duration, Instant};

use crate::ids::ExtSeq;

#[derive(Debug, Clone, Copy)]
struct SlotMeta {
    seq: u64,
    len: usize,
    stored_at: Option<Instant>,
}

const EMPTY_META: SlotMeta = SlotMeta {
    seq: 0,
    len: 0,
    stored_at: None,
};

/// Recent packets of one source track by extended sequence number.
pub struct RtxCache {
    slot_size: usize,
    max_age: Duration,
    data: Vec<u8>,
    slots: Vec<SlotMeta>,
}

impl RtxCache {
    /// The largest packet a slot holds by default: an Ethernet MTU.
    pub const DEFAULT_SLOT_SIZE: usize = 1500;

    /// How long packets are kept by default.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(1);

    /// A cache of `capacity` packets (at least one) of up to `slot_size` bytes each, kept for
    /// at most `max_age`; allocates `capacity * slot_size` bytes once.
    pub fn new(capacity: usize, slot_size: usize, max_age: Duration) -> RtxCache {
        let capacity = capacity.max(1);
        RtxCache {
            slot_size,
            max_age,
            data: vec![0; capacity.saturating_mul(slot_size)],
            slots: vec![EMPTY_META; capacity],
        }
    }

    /// Stores a packet; returns `false` when it is larger than a slot, or when its slot holds
    /// a newer packet (this one arrived too late to be worth keeping).
    pub fn insert(&mut self, seq: ExtSeq, packet: &[u8], now: Instant) -> bool {
        if packet.len() > self.slot_size {
            return false;
        }
        let index = self.index(seq);
        let Some(meta) = self.slots.get_mut(index) else {
            return false;
        };
        if meta.stored_at.is_some() && meta.seq > seq.0 {
            return false;
        }
        let start = index * self.slot_size;
        let Some(dst) = self.data.get_mut(start..start + packet.len()) else {
            return false;
        };
        dst.copy_from_slice(packet);
        *meta = SlotMeta {
            seq: seq.0,
            len: packet.len(),
            stored_at: Some(now),
        };
        true
    }

    /// The packet with this sequence number, or `None` when it was never stored, was
    /// replaced by a newer one, or is older than the maximum age.
    pub fn get(&self, seq: ExtSeq, now: Instant) -> Option<&[u8]> {
        let index = self.index(seq);
        let meta = self.slots.get(index)?;
        let stored_at = meta.stored_at?;
        if meta.seq != seq.0 || now.saturating_duration_since(stored_at) > self.max_age {
            return None;
        }
        let start = index * self.slot_size;
        self.data.get(start..start + meta.len)
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Forgets every packet (for example when the track's source changes).
    pub fn clear(&mut self) {
        self.slots.fill(EMPTY_META);
    }

    fn index(&self, seq: ExtSeq) -> usize {
        (seq.0 % self.slots.len() as u64) as usize
    }
}

impl fmt::Debug for RtxCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stored = self.slots.iter().filter(|s| s.stored_at.is_some()).count();
        f.debug_struct("RtxCache")
            .field("capacity", &self.slots.len())
            .field("slot_size", &self.slot_size)
            .field("max_age", &self.max_age)
            .field("stored", &stored)
            .finish()
    }
}
