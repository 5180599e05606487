//! The time every validity check of the API reads: the system clock, plus an offset that
//! tests move forward to cross a lockout or an expiry without waiting for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The API's clock; clones share one offset.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Milliseconds added to the system clock.
    offset_ms: Arc<AtomicU64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// Moves this clock (and its clones) `by` into the future. For tests.
    pub fn skip_ahead(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::AcqRel);
    }

    fn offset(&self) -> Duration {
        Duration::from_millis(self.offset_ms.load(Ordering::Acquire))
    }

    /// Now, monotonic.
    pub fn now(&self) -> Instant {
        Instant::now() + self.offset()
    }

    /// Now, in Unix seconds.
    pub fn unix_now(&self) -> i64 {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            + self.offset();
        i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
    }
}
