//! Bounds on the session events WebSockets: deadlines, sizes, counts and message rates.
//!
//! [`SocketLimits`] is read by every socket when it opens (tests shorten its deadlines
//! through [`EventHub::set_socket_limits`](super::EventHub::set_socket_limits)).
//! [`TokenBucket`] is the per-socket rate limit on what a client sends.

use std::time::Duration;

use tokio::time::Instant;

/// Bounds of one session events socket; the defaults are what `docs/api-events.md` states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketLimits {
    /// How long a client has to send its `auth` message after the upgrade.
    pub auth_deadline: Duration,
    /// Silence after which the server pings.
    pub ping_interval: Duration,
    /// How long the client has to answer a ping with a pong.
    pub pong_timeout: Duration,
    /// How long writing one message to a client may take before the socket is dropped.
    pub send_timeout: Duration,
    /// Largest message (and frame) a client may send, in bytes.
    pub max_message_bytes: usize,
    /// Authenticated sockets per session.
    pub per_session: usize,
    /// Authenticated sockets of one person (the customer, one staff user) in a session,
    /// so that nobody can take every place of a session.
    pub per_person: usize,
    /// Sockets upgraded but not yet authenticated, in the whole daemon.
    pub pending: usize,
    /// Messages a client may send per second, on average.
    pub rate_per_second: u32,
    /// Messages a client may send at once after a quiet time.
    pub rate_burst: u32,
    /// Dropped messages tolerated (refilled one a second) before the socket is closed.
    pub abuse_burst: u32,
}

impl Default for SocketLimits {
    fn default() -> Self {
        Self {
            auth_deadline: Duration::from_secs(10),
            ping_interval: Duration::from_secs(20),
            pong_timeout: Duration::from_secs(20),
            send_timeout: Duration::from_secs(10),
            max_message_bytes: 16 * 1024,
            per_session: 32,
            per_person: 4,
            pending: 1024,
            rate_per_second: 30,
            rate_burst: 60,
            abuse_burst: 120,
        }
    }
}

/// A token bucket: `burst` tokens at most, refilled at `per_second`; each message takes one.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(burst: u32, per_second: u32, now: Instant) -> Self {
        Self {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            per_second: f64::from(per_second),
            last: now,
        }
    }

    /// Takes a token at `now`; `false` when the bucket is empty.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.last = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(3, 2, start);

        assert!((0..3).all(|_| bucket.take(start)));
        assert!(!bucket.take(start));
        assert!(bucket.take(start + Duration::from_millis(500)));
        assert!(!bucket.take(start + Duration::from_millis(600)));
        // A long pause refills only up to the burst.
        let later = start + Duration::from_secs(60);
        assert!((0..3).all(|_| bucket.take(later)));
        assert!(!bucket.take(later));
    }
}
