use std::time::Duration;

use super::Clock;
use crate::feedback::RtxCache;
use crate::ids::ExtSeq;

fn packet(seq: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seq as usize + i) as u8).collect()
}

#[test]
fn stored_packets_come_back_until_they_age_out() {
    let clock = Clock::new();
    let mut cache = RtxCache::new(64, RtxCache::DEFAULT_SLOT_SIZE, RtxCache::DEFAULT_MAX_AGE);
    for seq in 0..10 {
        assert!(cache.insert(
            ExtSeq(seq),
            &packet(seq, 100 + seq as usize),
            clock.ms(seq * 10)
        ));
    }
    assert_eq!(
        cache.get(ExtSeq(3), clock.ms(500)),
        Some(&packet(3, 103)[..])
    );
    assert_eq!(
        cache.get(ExtSeq(3), clock.ms(1030)),
        Some(&packet(3, 103)[..])
    );
    assert_eq!(
        cache.get(ExtSeq(3), clock.ms(1031)),
        None,
        "older than a second"
    );
    assert_eq!(
        cache.get(ExtSeq(9), clock.ms(1031)).map(<[u8]>::len),
        Some(109)
    );
    assert_eq!(cache.get(ExtSeq(42), clock.ms(0)), None, "never stored");
}

#[test]
fn newer_packets_take_the_slots_of_older_ones() {
    let clock = Clock::new();
    let mut cache = RtxCache::new(4, 200, Duration::from_secs(1));
    for seq in 0..6 {
        cache.insert(ExtSeq(seq), &packet(seq, 50), clock.ms(0));
    }
    assert_eq!(cache.get(ExtSeq(0), clock.ms(1)), None);
    assert_eq!(cache.get(ExtSeq(1), clock.ms(1)), None);
    assert_eq!(cache.get(ExtSeq(2), clock.ms(1)), Some(&packet(2, 50)[..]));
    assert_eq!(cache.get(ExtSeq(5), clock.ms(1)), Some(&packet(5, 50)[..]));
}

#[test]
fn a_slot_answers_only_for_its_own_sequence_number() {
    let clock = Clock::new();
    let mut cache = RtxCache::new(4, 200, Duration::from_secs(1));
    cache.insert(ExtSeq(5), &packet(5, 20), clock.ms(0));
    // 1, 9 and 5 + 2^16 share slot 1 with 5.
    assert_eq!(cache.get(ExtSeq(1), clock.ms(0)), None);
    assert_eq!(cache.get(ExtSeq(9), clock.ms(0)), None);
    assert_eq!(cache.get(ExtSeq(5 + (1 << 16)), clock.ms(0)), None);
    // A late packet does not evict the newer one in its slot.
    assert!(!cache.insert(ExtSeq(1), &packet(1, 20), clock.ms(1)));
    assert_eq!(cache.get(ExtSeq(5), clock.ms(1)), Some(&packet(5, 20)[..]));
}

#[test]
fn oversized_packets_are_refused_and_short_ones_keep_their_length() {
    let clock = Clock::new();
    let mut cache = RtxCache::new(8, 100, Duration::from_secs(1));
    assert!(!cache.insert(ExtSeq(1), &[0; 101], clock.ms(0)));
    assert!(cache.insert(ExtSeq(2), &[7; 100], clock.ms(0)));
    assert!(cache.insert(ExtSeq(10), &[9; 3], clock.ms(0)));
    assert_eq!(cache.get(ExtSeq(1), clock.ms(0)), None);
    assert_eq!(cache.get(ExtSeq(10), clock.ms(0)), Some(&[9, 9, 9][..]));
    cache.clear();
    assert_eq!(cache.get(ExtSeq(2), clock.ms(0)), None);
}

#[test]
fn debug_output_shows_no_packet_bytes() {
    let clock = Clock::new();
    let mut cache = RtxCache::new(2, 16, Duration::from_secs(1));
    cache.insert(ExtSeq(1), b"secret-payload", clock.ms(0));
    let debug = format!("{cache:?}");
    assert!(debug.contains("stored: 1"), "{debug}");
    assert!(!debug.contains("115"), "{debug}");
    assert_eq!(RtxCache::new(0, 16, Duration::ZERO).capacity(), 1);
}
