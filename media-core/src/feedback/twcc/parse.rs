//! Decoding of a transport-cc feedback FCI
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01, section 3.1), without allocating.
//!
//! The FCI is everything after the common feedback header and the two SSRCs:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      base sequence number     |      packet status count      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 reference time                | fb pkt. count |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          packet chunk         |         packet chunk          |
//! :              ...              :              ...              :
//! |         recv delta            |  recv delta   | zero padding  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! [`parse_twcc`] validates the whole message up front, so that iterating over its packets
//! cannot fail.

use super::chunk::{chunk_len, chunk_symbol};
use super::{TwccError, DELTA_TICK_US, REFERENCE_TICK_US};
use crate::ids::TwccSeq;

/// Size of the fixed part of the FCI: base sequence, status count, reference time, count.
const FIXED_LEN: usize = 8;

/// A validated transport-cc feedback message, borrowing the bytes it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwccFeedback<'a> {
    /// Transport-wide sequence number of the first packet reported.
    pub base_seq: TwccSeq,
    /// Number of packets reported, from `base_seq` on.
    pub status_count: u16,
    /// Reference time in multiples of 64 ms on the receiver's clock (24 bits, wraps).
    pub reference_time: u32,
    /// Feedback packet count, incremented by the receiver for every feedback it sends.
    pub fb_count: u8,
    chunks: &'a [u8],
    deltas: &'a [u8],
}

/// The status of one packet in a transport-cc feedback message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwccPacket {
    /// Its transport-wide sequence number.
    pub seq: TwccSeq,
    /// Receive delta in 250 µs ticks from the previous received packet (from the reference
    /// time for the first one), or `None` when it was not received.
    pub delta_ticks: Option<i16>,
    /// Receive time in µs on the receiver's clock: the reference time plus all deltas so
    /// far, before any unwrapping of the 24-bit reference time; `None` when not received.
    pub arrival_us: Option<i64>,
}

/// Decodes a transport-cc FCI, checking that its chunks cover the status count, that no
/// reported status is the reserved one, and that every receive delta is present.
pub fn parse_twcc(fci: &[u8]) -> Result<TwccFeedback<'_>, TwccError> {
    let fixed = fci.get(..FIXED_LEN).ok_or(TwccError::Truncated)?;
    let status_count = u16::from_be_bytes([fixed[2], fixed[3]]);
    if status_count == 0 {
        return Err(TwccError::Empty);
    }
    let rest = &fci[FIXED_LEN..];
    let (chunk_bytes, delta_bytes) = measure(rest, status_count)?;
    let deltas = rest
        .get(chunk_bytes..chunk_bytes + delta_bytes)
        .ok_or(TwccError::Truncated)?;
    Ok(TwccFeedback {
        base_seq: TwccSeq(u16::from_be_bytes([fixed[0], fixed[1]])),
        status_count,
        reference_time: u32::from_be_bytes([0, fixed[4], fixed[5], fixed[6]]),
        fb_count: fixed[7],
        chunks: &rest[..chunk_bytes],
        deltas,
    })
}

/// Walks the chunks of `body` for `status_count` statuses; returns the bytes taken by the
/// chunks and the bytes the receive deltas will need.
fn measure(body: &[u8], status_count: u16) -> Result<(usize, usize), TwccError> {
    let mut remaining = usize::from(status_count);
    let mut chunk_bytes = 0;
    let mut delta_bytes = 0;
    while remaining > 0 {
        let chunk = read_u16(body, chunk_bytes).ok_or(TwccError::Truncated)?;
        chunk_bytes += 2;
        let used = chunk_len(chunk).min(remaining);
        for index in 0..used {
            match chunk_symbol(chunk, index) {
                3 => return Err(TwccError::ReservedSymbol),
                symbol => delta_bytes += usize::from(symbol),
            }
            if chunk & 0x8000 == 0 {
                // A run: every status is the same, so count them all at once.
                delta_bytes += usize::from(chunk_symbol(chunk, 0)) * (used - 1);
                break;
            }
        }
        remaining -= used;
    }
    Ok((chunk_bytes, delta_bytes))
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let pair = bytes.get(at..at + 2)?;
    Some(u16::from_be_bytes([pair[0], pair[1]]))
}

impl<'a> TwccFeedback<'a> {
    /// The reported packets in sequence order.
    pub fn packets(&self) -> TwccPackets<'a> {
        TwccPackets {
            chunks: self.chunks,
            deltas: self.deltas,
            chunk_at: 0,
            index: 0,
            remaining: self.status_count,
            seq: self.base_seq.0,
            delta_at: 0,
            arrival_us: self.reference_time_us(),
        }
    }

    /// The reference time in µs on the receiver's clock (before unwrapping).
    pub fn reference_time_us(&self) -> i64 {
        i64::from(self.reference_time) * REFERENCE_TICK_US
    }
}

/// Iterator over the packets of a [`TwccFeedback`].
#[derive(Debug, Clone)]
pub struct TwccPackets<'a> {
    chunks: &'a [u8],
    deltas: &'a [u8],
    chunk_at: usize,
    index: usize,
    remaining: u16,
    seq: u16,
    delta_at: usize,
    arrival_us: i64,
}

impl TwccPackets<'_> {
    /// The raw status of the next packet, moving past empty or used-up chunks.
    fn next_symbol(&mut self) -> Option<u16> {
        loop {
            let chunk = read_u16(self.chunks, self.chunk_at)?;
            if self.index < chunk_len(chunk) {
                self.index += 1;
                return Some(chunk_symbol(chunk, self.index - 1));
            }
            self.chunk_at += 2;
            self.index = 0;
        }
    }

    fn read_delta(&mut self, symbol: u16) -> Option<i16> {
        let delta = match symbol {
            1 => i16::from(*self.deltas.get(self.delta_at)?),
            2 => read_u16(self.deltas, self.delta_at)? as i16,
            _ => return None,
        };
        self.delta_at += usize::from(symbol);
        Some(delta)
    }
}

impl Iterator for TwccPackets<'_> {
    type Item = TwccPacket;

    fn next(&mut self) -> Option<TwccPacket> {
        if self.remaining == 0 {
            return None;
        }
        let symbol = self.next_symbol()?;
        self.remaining -= 1;
        let seq = TwccSeq(self.seq);
        self.seq = self.seq.wrapping_add(1);
        let delta_ticks = self.read_delta(symbol);
        let arrival_us = delta_ticks.map(|ticks| {
            self.arrival_us += i64::from(ticks) * DELTA_TICK_US;
            self.arrival_us
        });
        Some(TwccPacket {
            seq,
            delta_ticks,
            arrival_us,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.remaining)))
    }
}
