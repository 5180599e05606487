//! Unit tests of the feedback module, all on a virtual clock: one real `Instant` taken as
//! the base, plus durations.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::{Duration, Instant};

mod keyframe;
mod nack;
mod receive;
mod rtx;
mod twcc;

/// A virtual clock: a fixed base and offsets from it.
#[derive(Clone, Copy)]
pub(super) struct Clock(Instant);

impl Clock {
    pub(super) fn new() -> Clock {
        Clock(Instant::now())
    }

    /// The base plus `ms` milliseconds.
    pub(super) fn ms(self, ms: u64) -> Instant {
        self.0 + Duration::from_millis(ms)
    }

    /// The base plus `us` microseconds.
    pub(super) fn us(self, us: u64) -> Instant {
        self.0 + Duration::from_micros(us)
    }
}
