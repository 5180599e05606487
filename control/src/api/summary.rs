//! Security warnings that an attacker can repeat at will (throttled sign-ins and joins) are
//! logged at most once per period, with how many were left out, so that a flood of
//! requests does not become a flood of log lines.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// One kind of repeated warning, process-wide.
#[derive(Debug)]
pub struct Summarised {
    /// When the last warning was logged (Unix seconds).
    last: AtomicI64,
    /// Occurrences since then.
    since: AtomicU64,
    /// The shortest time between two warnings, in seconds.
    every_secs: i64,
}

impl Summarised {
    /// A warning logged at most once every `every_secs` seconds.
    pub const fn new(every_secs: i64) -> Self {
        Self {
            last: AtomicI64::new(i64::MIN / 2),
            since: AtomicU64::new(0),
            every_secs,
        }
    }

    /// Counts one occurrence at `now` (Unix seconds). When this one should be logged,
    /// returns how many occurrences were left out since the last warning.
    pub fn occurrence(&self, now: i64) -> Option<u64> {
        let left_out = self.since.fetch_add(1, Ordering::Relaxed);
        let last = self.last.load(Ordering::Relaxed);
        let due = now >= last.saturating_add(self.every_secs);
        let won = due
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        if !won {
            return None;
        }
        self.since.store(0, Ordering::Relaxed);
        Some(left_out)
    }
}

#[cfg(test)]
mod tests {
    use super::Summarised;

    #[test]
    fn one_warning_per_period_with_the_count_left_out() {
        let warnings = Summarised::new(10);
        assert_eq!(warnings.occurrence(100), Some(0));
        for now in 100..105 {
            assert_eq!(warnings.occurrence(now), None);
        }
        assert_eq!(warnings.occurrence(109), None);
        assert_eq!(warnings.occurrence(110), Some(6));
        assert_eq!(warnings.occurrence(111), None);
    }
}
