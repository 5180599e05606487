//! Pacing of keyframe requests (PLI, RFC 4585 section 6.3.1; FIR, RFC 5104 section 4.3.1)
//! forwarded to a publisher for one track.
//!
//! Subscribers ask for keyframes whenever their decoder is stuck, and several subscribers
//! of one track often ask at once; one keyframe answers them all, and each one costs the
//! publisher a burst of bitrate. Ordinary requests therefore go out at most once per
//! interval (500 ms by default) and the rest are dropped: a subscriber that still needs a
//! keyframe asks again.
//!
//! A forced request ("a slot gained a source, it needs a keyframe now") only has to respect
//! a shorter minimum spacing (100 ms by default, about one frame at 10 fps). Within it, a
//! request already sent may still be answered after the new slot exists, but it may also
//! have been answered already; so a forced request that is held back stays pending and
//! goes out as soon as the minimum has passed, unless a keyframe arrives first.

use std::time::{Duration, Instant};

/// Spacing of keyframe requests for one track.
#[derive(Debug, Clone)]
pub struct KeyframeRequestLimiter {
    interval: Duration,
    min_interval: Duration,
    last_sent: Option<Instant>,
    pending_since: Option<Instant>,
    fir_seq: u8,
}

impl KeyframeRequestLimiter {
    /// The default spacing of ordinary requests.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(500);

    /// The default spacing of forced requests.
    pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_millis(100);

    /// A limiter with the given spacing of ordinary and of forced requests.
    pub fn new(interval: Duration, min_interval: Duration) -> KeyframeRequestLimiter {
        KeyframeRequestLimiter {
            interval,
            min_interval: min_interval.min(interval),
            last_sent: None,
            pending_since: None,
            fir_seq: 0,
        }
    }

    /// Whether an ordinary request (a subscriber's PLI or FIR) should be forwarded now;
    /// `true` records it as sent.
    pub fn should_send(&mut self, now: Instant) -> bool {
        let spacing = if self.pending_since.is_some() {
            self.min_interval
        } else {
            self.interval
        };
        self.try_send(now, spacing)
    }

    /// A request that must not be dropped: `true` means send it now; `false` means it
    /// is pending and [`KeyframeRequestLimiter::poll_pending`] will release it.
    pub fn force(&mut self, now: Instant) -> bool {
        if self.try_send(now, self.min_interval) {
            return true;
        }
        self.pending_since.get_or_insert(now);
        false
    }

    /// Whether a pending forced request should be sent now; `true` records it as sent.
    pub fn poll_pending(&mut self, now: Instant) -> bool {
        self.pending_since.is_some() && self.try_send(now, self.min_interval)
    }

    /// When a pending forced request can go out, if there is one.
    pub fn next_deadline(&self) -> Option<Instant> {
        let pending_since = self.pending_since?;
        Some(
            self.last_sent
                .map_or(pending_since, |t| t + self.min_interval),
        )
    }

    /// Records a keyframe from the publisher, which satisfies any forced request made
    /// before it arrived.
    pub fn on_keyframe(&mut self, at: Instant) {
        if self.pending_since.is_some_and(|since| since <= at) {
            self.pending_since = None;
        }
    }

    /// The FIR command sequence number of the last request sent (RFC 5104 section 4.3.1.1);
    /// it increases with every request released.
    pub fn fir_seq(&self) -> u8 {
        self.fir_seq
    }

    fn try_send(&mut self, now: Instant, spacing: Duration) -> bool {
        if let Some(last) = self.last_sent {
            if now.saturating_duration_since(last) < spacing {
                return false;
            }
        }
        self.last_sent = Some(now);
        self.pending_since = None;
        self.fir_seq = self.fir_seq.wrapping_add(1);
        true
    }
}

impl Default for KeyframeRequestLimiter {
    fn default() -> KeyframeRequestLimiter {
        KeyframeRequestLimiter::new(Self::DEFAULT_INTERVAL, Self::DEFAULT_MIN_INTERVAL)
    }
}
