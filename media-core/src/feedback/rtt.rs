//! Round-trip time from the report blocks a receiver sends back about what we send
//! (RFC 3550 section 6.4.1), and the compact NTP form those blocks use.

use std::time::Duration;

/// The middle 32 bits of a 64-bit NTP timestamp (16 bits of seconds, 16 of fraction), the
/// form of the LSR field and of the RTT arithmetic (RFC 3550 section 6.4.1).
pub fn compact_ntp(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// The round-trip time to a receiver from one of its report blocks about our stream.
///
/// `lsr` and `dlsr` are the block's fields and `now_ntp` is the 64-bit NTP time at which the
/// report arrived. RFC 3550 section 6.4.1: the round trip is the arrival time minus LSR minus
/// DLSR, all in units of 1/65536 s. Returns `None` when the receiver has not yet seen a
/// sender report (LSR 0) or when the result would be negative (clock trouble or a bogus
/// block).
pub fn rtt_from_report(lsr: u32, dlsr: u32, now_ntp: u64) -> Option<Duration> {
    if lsr == 0 {
        return None;
    }
    let since_sr = compact_ntp(now_ntp).wrapping_sub(lsr);
    if since_sr > i32::MAX as u32 {
        // The report claims an SR from the future, or from more than nine hours ago.
        return None;
    }
    let rtt = since_sr.checked_sub(dlsr)?;
    Some(Duration::from_nanos(
        u64::from(rtt) * 1_000_000_000 / 65_536,
    ))
}
