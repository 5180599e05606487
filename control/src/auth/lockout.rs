//! Throttling of password guessing: per email ([`Lockout`]) and per source ([`SourceThrottle`]).
//!
//! [`Lockout`] locks an email after consecutive failed sign-ins. It counts failures for any
//! submitted email, whether or not an account has it, so that neither the answers nor their
//! timing tell an attacker which emails have accounts. The caller's sequence per attempt is:
//! [`Lockout::check`], then verify the password (or the dummy), then
//! [`Lockout::record_failure`] or [`Lockout::record_success`].
//!
//! Emails are kept only as SHA-256 digests under a per-table random salt: people type
//! passwords into the email field, and a memory dump should not hold those, nor a list of
//! who was targeted. A fixed 32-byte key also keeps the memory bound independent of input.
//!
//! Both tables hold at most a configured number of entries and evict the longest-idle one
//! first. Eviction releases a lock early: an attacker who submits that many distinct emails
//! inside one lock period can free a lock, which [`SourceThrottle`] makes slow.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::idle_table::IdleTable;

/// A sign-in refused because of earlier failures; maps to HTTP 423 or 429 with Retry-After.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many failed sign-ins: try again in {} s", whole_seconds(*retry_after))]
pub struct Locked {
    /// How long until the lock ends.
    pub retry_after: Duration,
}

/// A request refused because its source address sent too many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many requests from this address: try again in {} s", whole_seconds(*retry_after))]
pub struct Throttled {
    /// How long until the source may send one more request.
    pub retry_after: Duration,
}

/// Seconds rounded up, as an HTTP Retry-After header counts them.
fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// Settings of a [`Lockout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures that lock an email.
    pub max_failures: u32,
    /// How long a lock lasts.
    pub lock_duration: Duration,
    /// Failures further apart than this are not consecutive: the count starts again.
    pub failure_window: Duration,
    /// Most emails tracked at once.
    pub capacity: usize,
}

impl Default for LockoutPolicy {
    /// Five failures within fifteen minutes lock an email for five minutes; 100 000 emails.
    fn default() -> Self {
        Self {
            max_failures: 5,
            lock_duration: Duration::from_secs(5 * 60),
            failure_window: Duration::from_secs(15 * 60),
            capacity: 100_000,
        }
    }
}

/// Salted SHA-256 of a normalised email: the only form in which emails are kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct EmailKey([u8; 32]);

impl fmt::Debug for EmailKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailKey(..)")
    }
}

/// Failure state of one email.
#[derive(Debug, Default)]
struct FailureRecord {
    failures: u32,
    locked_until: Option<Instant>,
}

/// Counts consecutive failed sign-ins per email and locks emails that reach the limit.
pub struct Lockout {
    policy: LockoutPolicy,
    salt: [u8; 16],
    records: IdleTable<EmailKey, FailureRecord>,
}

impl Lockout {
    /// Creates an empty lockout table.
    pub fn new(policy: LockoutPolicy) -> Self {
        Self {
            records: IdleTable::new(policy.capacity),
            salt: super::random_bytes(),
            policy,
        }
    }

    /// Refuses a sign-in for `email` while it is locked.
    pub fn check(&self, email: &str, now: Instant) -> Result<(), Locked> {
        let record = self.records.get(&self.key(email));
        match record.and_then(|r| r.locked_until) {
            Some(until) if until > now => Err(Locked {
                retry_after: until - now,
            }),
            _ => Ok(()),
        }
    }

    /// Counts a failed sign-in for `email`; returns the lock it started, if any, for the
    /// security log. Failures while already locked neither count nor extend the lock.
    pub fn record_failure(&mut self, email: &str, now: Instant) -> Option<Locked> {
        self.forget_idle(now);

        let key = self.key(email);
        let policy = &self.policy;
        let record = self.records.touch(key, now, FailureRecord::default);
        match record.locked_until {
            Some(until) if until > now => return None,
            Some(_) => *record = FailureRecord::default(),
            None => {}
        }

        record.failures = record.failures.saturating_add(1);
        if record.failures < policy.max_failures {
            return None;
        }
        record.failures = 0;
        record.locked_until = Some(now + policy.lock_duration);
        Some(Locked {
            retry_after: policy.lock_duration,
        })
    }

    /// Forgets the failures of `email` after a successful sign-in.
    pub fn record_success(&mut self, email: &str) {
        self.records.remove(&self.key(email));
    }

    /// Lifts a lock by hand (`sightline user unlock`); returns whether `email` was tracked.
    pub fn unlock(&mut self, email: &str) -> bool {
        self.records.remove(&self.key(email))
    }

    /// Number of emails currently tracked.
    pub fn tracked(&self) -> usize {
        self.records.len()
    }

    /// Drops records whose failures have expired and whose lock, if any, has ended.
    fn forget_idle(&mut self, now: Instant) {
        let keep_for = self.policy.failure_window.max(self.policy.lock_duration);
        self.records.forget_idle(now, keep_for);
    }

    /// The key of an email: trimmed, lowercased, salted and hashed.
    fn key(&self, email: &str) -> EmailKey {
        let normalised = email.trim().to_lowercase();
        let digest = Sha256::new()
            .chain_update(self.salt)
            .chain_update(normalised.as_bytes())
            .finalize();
        EmailKey(digest.into())
    }
}

impl fmt::Debug for Lockout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lockout")
            .field("policy", &self.policy)
            .field("tracked", &self.records.len())
            .finish_non_exhaustive()
    }
}

/// Settings of a [`SourceThrottle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Requests a quiet source may send at once.
    pub burst: u32,
    /// Time for one request's worth of allowance to come back.
    pub refill_every: Duration,
    /// Most sources tracked at once.
    pub capacity: usize,
}

impl Default for ThrottlePolicy {
    /// Bursts of 20, then one every 6 s (10 a minute); 100 000 sources.
    fn default() -> Self {
        Self {
            burst: 20,
            refill_every: Duration::from_secs(6),
            capacity: 100_000,
        }
    }
}

/// Where a request comes from, as throttled: an IPv4 address, or an IPv6 /64 prefix since
/// one subscriber usually holds a whole /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKey {
    /// One IPv4 address (IPv4-mapped IPv6 addresses count as IPv4).
    V4([u8; 4]),
    /// The first 64 bits of an IPv6 address.
    V6Prefix([u8; 8]),
}

impl From<IpAddr> for SourceKey {
    fn from(address: IpAddr) -> Self {
        match address.to_canonical() {
            IpAddr::V4(v4) => SourceKey::V4(v4.octets()),
            IpAddr::V6(v6) => {
                let bits = v6.to_bits() >> 64;
                SourceKey::V6Prefix((bits as u64).to_be_bytes())
            }
        }
    }
}

/// A token bucket per source address, kept in its GCRA form: one instant per source, the
/// time at which its bucket would be full again.
pub struct SourceThrottle {
    policy: ThrottlePolicy,
    /// Per source: when its allowance is back to a full burst.
    full_at: IdleTable<SourceKey, Instant>,
}

impl SourceThrottle {
    /// Creates an empty throttle.
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            full_at: IdleTable::new(policy.capacity),
            policy,
        }
    }

    /// Admits one request from `source` at `now`, or says how long it must wait.
    pub fn attempt(&mut self, source: IpAddr, now: Instant) -> Result<(), Throttled> {
        let burst_span = self.burst_span();
        self.full_at.forget_idle(now, burst_span);

        let interval = self.policy.refill_every;
        let full_at = self.full_at.touch(SourceKey::from(source), now, || now);
        let start = (*full_at).max(now);
        let next = start + interval;
        let debt = next - now;
        if debt > burst_span {
            return Err(Throttled {
                retry_after: debt - burst_span,
            });
        }

        *full_at = next;
        Ok(())
    }

    /// Number of sources currently tracked.
    pub fn tracked(&self) -> usize {
        self.full_at.len()
    }

    /// Time for an empty bucket to fill: `burst` refills.
    fn burst_span(&self) -> Duration {
        self.policy
            .refill_every
            .saturating_mul(self.policy.burst.max(1))
    }
}

impl fmt::Debug for SourceThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceThrottle")
            .field("policy", &self.policy)
            .field("tracked", &self.full_at.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const MINUTE: Duration = Duration::from_secs(60);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn fifth_failure_locks_for_five_minutes() {
        let t0 = Instant::now();
        let mut lockout = Lockout::new(LockoutPolicy::default());
        for i in 0..4 {
            assert_eq!(lockout.record_failure("a@example.com", t0 + secs(i)), None);
            assert_eq!(lockout.check("a@example.com", t0 + secs(i)), Ok(()));
        }

        let started = lockout.record_failure("a@example.com", t0 + secs(4));
        assert_eq!(
            started,
            Some(Locked {
                retry_after: 5 * MINUTE
            })
        );
        assert_eq!(
            lockout.check("a@example.com", t0 + secs(4)),
            Err(Locked {
                retry_after: 5 * MINUTE
            })
        );
    }

    #[test]
    fn retry_after_counts_down_then_lock_ends() {
        let t0 = Instant::now();
        let mut lockout = Lockout::new(LockoutPolicy::default());
        for _ in 0..5 {
            lockout.record_failure("a@example.com", t0);
        }

        let at = |s| lockout.check("a@example.com", t0 + secs(s));
        assert_eq!(
            at(60),
            Err(Locked {
                retry_after: 4 * MINUTE
            })
        );
        assert_eq!(
            at(299),
            Err(Locked {
                retry_after: secs(1)
            })
        );
        assert_eq!(at(300), Ok(()));
        let message = Locked {
            retry_after: Duration::from_millis(1500),
        }
        .to_string();
        assert_eq!(message, "too many failed sign-ins: try again in 2 s");
    }

    #[test]
    fn failures_while_locked_do_not_extend_it() {
        let t0 = Instant::now();
        let mut lockout = Lockout::new(LockoutPolicy::default());
        for _ in 0..5 {
            lockout.record_failure("a@example.com", t0);
        }
        assert_eq!(lockout.record_failure("a@example.com", t0 + MINUTE), None);
        assert_eq!(
            lockout.check("a@example.com", t0 + MINUTE),
            Err(Locked {
                retry_after: 4 * MINUTE
            })
        );

        // After the lock, the count starts from zero.
        let after = t0 + 5 * MINUTE;
        for i in 0..4 {
            assert_eq!(
                lockout.record_failure("a@example.com", after + secs(i)),
                None
            );
        }
        assert!(lockout
            .record_failure("a@example.com", after + secs(4))
            .is_some());
    }

    #[test]
    fn success_resets_the_count() {
        let t0 = Instant::now();
        let mut lockout = Lockout::new(LockoutPolicy::default());
        for _ in 0..4 {
            lockout.record_failure("a@example.com", t0);
        }
        lockout.record_success("a@example.com");
        for _ in 0..4 {
            assert_eq!(lockout.record_failure("a@example.com", t0), None);
        }
        assert_eq!(lockout.check("a@example.com", t0), Ok(()));
    }

    #[test]
    fn unknown_emails_lock_like_known_ones() {
        let t0 = Instant::now();
        let mut lockout = Lockout::new(LockoutPolicy::default());
        let mut started = None;
        for _ in 0..5 {
            started = lockout.record_failure("nobody-has-this@example.org", t0);
        }
        assert_eq!(
            started,
            Some(Locked {
                retry_after: 5 * MINUTE
            })
        );
        assert!(lockout.check("nobody-has-this@example.org", t0).is_err());
    }

    #[test]
    fn emails_normalised_before_counting() {
        let t0 = Instant::now();
        let mut lockout = Lockout::new(LockoutPolicy::default());
        for email in [
            "A@Example.com",
            " a@example.com",
            "a@EXAMPLE.COM ",
            "a@example.com",
        ] {
            lockout.record_failure(email, t0);
        }
        assert!(lockout.record_failure("\ta@example.COM\n", t0).is_some());
        assert!(lockout.check("a@example.com", t0).is_err());
        assert_eq!(lockout.check("b@example.com", t0), Ok(()));
    }

    #[test]
    fn unlock_lifts_a_lock() {
        let t0 = Instant::now();
        let mut lockout = Lockout::new(LockoutPolicy::default());
        for _ in 0..5 {
            lockout.record_failure("a@example.com", t0);
        }
        assert!(lockout.unlock("A@example.com"));
        assert_eq!(lockout.check("a@example.com", t0), Ok(()));
        assert!(!lockout.unlock("a@example.com"));
    }

    #[test]
    fn failures_outside_the_window_are_forgotten() {
        let t0 = Instant::now();
        let mut lockout = Lockout::new(LockoutPolicy::default());
        for _ in 0..4 {
            lockout.record_failure("a@example.com", t0);
        }
        let later = t0 + 15 * MINUTE;
        assert_eq!(lockout.record_failure("a@example.com", later), None);
        assert_eq!(lockout.tracked(), 1);
        for _ in 0..3 {
            assert_eq!(lockout.record_failure("a@example.com", later), None);
        }
    }

    #[test]
    fn configurable_policy() {
        let t0 = Instant::now();
        let policy = LockoutPolicy {
            max_failures: 2,
            lock_duration: secs(30),
            ..LockoutPolicy::default()
        };
        let mut lockout = Lockout::new(policy);
        lockout.record_failure("a@example.com", t0);
        let started = lockout.record_failure("a@example.com", t0);
        assert_eq!(
            started,
            Some(Locked {
                retry_after: secs(30)
            })
        );
    }

    #[test]
    fn tracked_emails_stay_within_capacity() {
        let t0 = Instant::now();
        let policy = LockoutPolicy {
            capacity: 100,
            ..LockoutPolicy::default()
        };
        let mut lockout = Lockout::new(policy);
        for i in 0..1000u64 {
            lockout.record_failure(
                &format!("user{i}@example.com"),
                t0 + Duration::from_millis(i),
            );
        }
        assert_eq!(lockout.tracked(), 100);

        // The longest idle went first; the newest are still counted.
        for _ in 0..4 {
            lockout.record_failure("user999@example.com", t0 + secs(1));
        }
        assert!(lockout.check("user999@example.com", t0 + secs(1)).is_err());
        assert_eq!(lockout.tracked(), 100);

        // Once their window has passed, all entries are forgotten.
        lockout.record_failure("late@example.com", t0 + 16 * MINUTE);
        assert_eq!(lockout.tracked(), 1);
    }

    #[test]
    fn debug_output_holds_no_email() {
        let mut lockout = Lockout::new(LockoutPolicy::default());
        lockout.record_failure("secret-person@example.com", Instant::now());
        let debug = format!("{lockout:?}");
        assert!(!debug.contains("secret-person"), "{debug}");
    }

    fn small_throttle() -> SourceThrottle {
        SourceThrottle::new(ThrottlePolicy {
            burst: 3,
            refill_every: secs(10),
            capacity: 1000,
        })
    }

    #[test]
    fn throttle_allows_a_burst_then_refills() {
        let t0 = Instant::now();
        let source = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let mut throttle = small_throttle();
        for _ in 0..3 {
            assert_eq!(throttle.attempt(source, t0), Ok(()));
        }
        assert_eq!(
            throttle.attempt(source, t0),
            Err(Throttled {
                retry_after: secs(10)
            })
        );
        assert_eq!(
            throttle.attempt(source, t0 + secs(4)),
            Err(Throttled {
                retry_after: secs(6)
            })
        );
        assert_eq!(throttle.attempt(source, t0 + secs(10)), Ok(()));
        assert!(throttle.attempt(source, t0 + secs(10)).is_err());

        // Other addresses have their own bucket.
        let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!(throttle.attempt(other, t0), Ok(()));
    }

    #[test]
    fn throttle_groups_ipv6_by_64() {
        let t0 = Instant::now();
        let mut throttle = small_throttle();
        let in_64 = |last: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, last));
        for last in 1..=3 {
            assert_eq!(throttle.attempt(in_64(last), t0), Ok(()));
        }
        assert!(throttle.attempt(in_64(0xffff), t0).is_err());

        let next_64 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1));
        assert_eq!(throttle.attempt(next_64, t0), Ok(()));
        assert_eq!(throttle.tracked(), 2);
    }

    #[test]
    fn ipv4_mapped_ipv6_counts_as_ipv4() {
        let v4 = Ipv4Addr::new(198, 51, 100, 7);
        let mapped = IpAddr::V6(v4.to_ipv6_mapped());
        assert_eq!(SourceKey::from(mapped), SourceKey::from(IpAddr::V4(v4)));
    }

    #[test]
    fn throttle_bounded_and_forgets_full_buckets() {
        let t0 = Instant::now();
        let mut throttle = small_throttle();
        for i in 0..5000u32 {
            let source = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            let _ = throttle.attempt(source, t0);
        }
        assert_eq!(throttle.tracked(), 1000);

        let source = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(throttle.attempt(source, t0 + secs(30)), Ok(()));
        assert_eq!(throttle.tracked(), 1);
    }
}
