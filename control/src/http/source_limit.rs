//! Counts open connections per source so that one address cannot take all of them.
//!
//! A source is an IPv4 address, or an IPv6 /64: one subscriber usually holds a whole /64
//! and can pick any address in it. IPv4 clients seen through a dual-stack socket
//! (`::ffff:a.b.c.d`) count as their IPv4 address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, MutexGuard};

/// The unit the cap applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    V4(Ipv4Addr),
    /// The upper 64 bits of an IPv6 address.
    V6Prefix(u64),
}

impl Source {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::V4(v4),
            IpAddr::V6(v6) => Self::V6Prefix((v6.to_bits() >> 64) as u64),
        }
    }
}

/// Open connections per source, at most `max_per_source` each.
#[derive(Debug)]
pub(crate) struct SourceLimit {
    max_per_source: usize,
    open: Mutex<HashMap<Source, usize>>,
}

/// One admitted connection; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct SourceSlot {
    limit: Arc<SourceLimit>,
    source: Source,
}

impl SourceLimit {
    pub(crate) fn new(max_per_source: usize) -> Arc<Self> {
        Arc::new(Self {
            max_per_source,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Admits one more connection from `ip`, or `None` if its source is at the cap.
    pub(crate) fn try_admit(self: &Arc<Self>, ip: IpAddr) -> Option<SourceSlot> {
        let source = Source::of(ip);
        let mut open = self.lock();
        let count = open.entry(source).or_insert(0);
        if *count >= self.max_per_source {
            return None;
        }
        *count += 1;

        Some(SourceSlot {
            limit: Arc::clone(self),
            source,
        })
    }

    /// Connections open from the source of `ip`.
    #[cfg(test)]
    pub(crate) fn open_from(&self, ip: IpAddr) -> usize {
        self.lock().get(&Source::of(ip)).copied().unwrap_or(0)
    }

    /// The table; a panic elsewhere while it was held leaves counts that are still usable.
    fn lock(&self) -> MutexGuard<'_, HashMap<Source, usize>> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut open = self.limit.lock();
        if let Some(count) = open.get_mut(&self.source) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn cap_holds_and_a_dropped_slot_frees_its_place() {
        let limit = SourceLimit::new(2);
        let first = limit.try_admit(ip("192.0.2.1")).unwrap();
        let _second = limit.try_admit(ip("192.0.2.1")).unwrap();

        assert!(limit.try_admit(ip("192.0.2.1")).is_none());
        assert!(limit.try_admit(ip("192.0.2.2")).is_some(), "another source");

        drop(first);
        assert!(limit.try_admit(ip("192.0.2.1")).is_some());
    }

    #[test]
    fn ipv6_counts_by_64_prefix() {
        let limit = SourceLimit::new(1);
        let _slot = limit.try_admit(ip("2001:db8:1:2::1")).unwrap();

        assert!(limit.try_admit(ip("2001:db8:1:2:ffff::9")).is_none());
        assert!(limit.try_admit(ip("2001:db8:1:3::1")).is_some());
    }

    #[test]
    fn mapped_ipv4_counts_as_ipv4() {
        let limit = SourceLimit::new(1);
        let _slot = limit.try_admit(ip("::ffff:192.0.2.7")).unwrap();

        assert!(limit.try_admit(ip("192.0.2.7")).is_none());
    }

    #[test]
    fn empty_sources_leave_the_table() {
        let limit = SourceLimit::new(3);
        let slot = limit.try_admit(ip("198.51.100.1")).unwrap();
        assert_eq!(limit.open_from(ip("198.51.100.1")), 1);

        drop(slot);
        assert_eq!(limit.open_from(ip("198.51.100.1")), 0);
        assert!(limit.lock().is_empty());
    }
}
