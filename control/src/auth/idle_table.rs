//! A map with a size bound that forgets its longest-idle entries first.
//!
//! The lockout table and the source throttle both track whoever submits a request, so an
//! attacker controls how many keys arrive. This table caps memory at `capacity` entries:
//! when full it evicts the entry touched longest ago, and [`IdleTable::forget_idle`] drops
//! entries that have been idle long enough that their state no longer matters.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// One value and when it was last touched.
struct Slot<V> {
    value: V,
    last_seen: Instant,
    seq: u64,
}

/// A bounded map whose entries are ordered by when they were last touched.
pub(crate) struct IdleTable<K, V> {
    entries: HashMap<K, Slot<V>>,
    /// Index by (last touch, insertion sequence); the sequence breaks ties between equal
    /// instants so that every entry has one unique index key.
    by_idle: BTreeMap<(Instant, u64), K>,
    next_seq: u64,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V> IdleTable<K, V> {
    /// Creates an empty table holding at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            by_idle: BTreeMap::new(),
            next_seq: 0,
            capacity: capacity.max(1),
        }
    }

    /// Number of entries held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The value for `key`, without counting this as a touch.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|slot| &slot.value)
    }

    /// The value for `key`, created with `make` if absent, marked as touched at `now`.
    ///
    /// Inserting into a full table first evicts the entry that was touched longest ago.
    pub(crate) fn touch(&mut self, key: K, now: Instant, make: impl FnOnce() -> V) -> &mut V {
        let seq = self.next_seq;
        self.next_seq += 1;

        let last_seen = match self.entries.get(&key) {
            Some(slot) => {
                self.by_idle.remove(&(slot.last_seen, slot.seq));
                // A caller whose clock steps back keeps the later instant, so order holds.
                slot.last_seen.max(now)
            }
            None => {
                if self.entries.len() >= self.capacity {
                    self.evict_oldest();
                }
                now
            }
        };
        self.by_idle.insert((last_seen, seq), key.clone());

        let slot = self.entries.entry(key).or_insert_with(|| Slot {
            value: make(),
            last_seen,
            seq,
        });
        slot.last_seen = last_seen;
        slot.seq = seq;
        &mut slot.value
    }

    /// Removes `key`, returning whether it was present.
    pub(crate) fn remove(&mut self, key: &K) -> bool {
        match self.entries.remove(key) {
            Some(slot) => {
                self.by_idle.remove(&(slot.last_seen, slot.seq));
                true
            }
            None => false,
        }
    }

    /// Drops every entry last touched at or before `now - idle`.
    pub(crate) fn forget_idle(&mut self, now: Instant, idle: Duration) {
        while let Some((&(last_seen, _), _)) = self.by_idle.first_key_value() {
            if now.saturating_duration_since(last_seen) < idle {
                break;
            }
            self.evict_oldest();
        }
    }

    /// Removes the entry touched longest ago.
    fn evict_oldest(&mut self) {
        if let Some((_, key)) = self.by_idle.pop_first() {
            self.entries.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_longest_idle_when_full() {
        let t0 = Instant::now();
        let mut table = IdleTable::new(2);
        table.touch("a", t0, || 1);
        table.touch("b", t0 + Duration::from_secs(1), || 2);
        table.touch("a", t0 + Duration::from_secs(2), || 0);
        table.touch("c", t0 + Duration::from_secs(3), || 3);

        assert_eq!(table.len(), 2);
        assert_eq!(table.get(&"a"), Some(&1));
        assert_eq!(table.get(&"b"), None);
        assert_eq!(table.get(&"c"), Some(&3));
    }

    #[test]
    fn forgets_idle_entries() {
        let t0 = Instant::now();
        let mut table = IdleTable::new(10);
        table.touch("a", t0, || 1);
        table.touch("b", t0 + Duration::from_secs(5), || 2);

        table.forget_idle(t0 + Duration::from_secs(9), Duration::from_secs(5));
        assert_eq!(table.get(&"a"), None);
        assert_eq!(table.get(&"b"), Some(&2));

        table.forget_idle(t0 + Duration::from_secs(10), Duration::from_secs(5));
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn remove_keeps_index_consistent() {
        let t0 = Instant::now();
        let mut table = IdleTable::new(1);
        table.touch("a", t0, || 1);
        assert!(table.remove(&"a"));
        assert!(!table.remove(&"a"));
        table.touch("b", t0, || 2);
        assert_eq!(table.len(), 1);
        assert_eq!(table.by_idle.len(), 1);
    }
}
