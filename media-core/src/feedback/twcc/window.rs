//! A sliding one-second window of byte and packet totals, in fixed buckets, for the
//! downlink estimate of [`super::TwccSendLog`].

/// Width of one bucket.
const BUCKET_US: i64 = 50_000;

/// Buckets in the window: 20 of 50 ms make one second.
const BUCKETS: usize = 20;

/// What a bucket or a window adds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Totals {
    pub(crate) bytes: u64,
    pub(crate) received: i64,
    pub(crate) lost: i64,
}

impl Totals {
    fn add(&mut self, other: Totals) {
        self.bytes += other.bytes;
        self.received += other.received;
        self.lost += other.lost;
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    index: i64,
    totals: Totals,
}

/// Totals over the last second of some clock, in microseconds.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    buckets: [Bucket; BUCKETS],
}

impl Window {
    pub(crate) fn new() -> Window {
        let empty = Bucket {
            index: i64::MIN,
            totals: Totals::default(),
        };
        Window {
            buckets: [empty; BUCKETS],
        }
    }

    /// Adds `totals` at time `at_us`; dropped when its bucket has already been reused.
    pub(crate) fn record(&mut self, at_us: i64, totals: Totals) {
        let index = at_us.div_euclid(BUCKET_US);
        let slot = index.rem_euclid(BUCKETS as i64) as usize;
        let Some(bucket) = self.buckets.get_mut(slot) else {
            return;
        };
        if index < bucket.index {
            return;
        }
        if index > bucket.index {
            *bucket = Bucket {
                index,
                totals: Totals::default(),
            };
        }
        bucket.totals.add(totals);
    }

    /// The totals of the window that ends with the bucket holding `latest_us`.
    pub(crate) fn sum(&self, latest_us: i64) -> Totals {
        let latest = latest_us.div_euclid(BUCKET_US);
        let oldest = latest - BUCKETS as i64 + 1;
        let mut sum = Totals::default();
        for bucket in &self.buckets {
            if (oldest..=latest).contains(&bucket.index) {
                sum.add(bucket.totals);
            }
        }
        sum
    }

    /// Where the window that ends with the bucket holding `latest_us` starts.
    pub(crate) fn start(&self, latest_us: i64) -> i64 {
        (latest_us.div_euclid(BUCKET_US) - BUCKETS as i64 + 1) * BUCKET_US
    }
}
