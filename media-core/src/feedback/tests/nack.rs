use std::time::Duration;

use super::Clock;
use crate::feedback::{NackConfig, NackGenerator, ReceiveStats};
use crate::ids::{ExtSeq, RtpTime, SeqNo};

/// Polls into a generous buffer and returns the wire sequence numbers requested.
fn poll(nack: &mut NackGenerator, at: std::time::Instant) -> Vec<u16> {
    let mut out = [SeqNo(0); 64];
    let n = nack.poll(at, &mut out);
    out[..n].iter().map(|s| s.0).collect()
}

fn receive(nack: &mut NackGenerator, clock: Clock, seqs: impl IntoIterator<Item = u64>, ms: u64) {
    for seq in seqs {
        nack.on_packet(ExtSeq(seq), clock.ms(ms));
    }
}

#[test]
fn a_gap_is_requested_after_the_delay_then_retried_then_given_up() {
    let clock = Clock::new();
    let mut nack = NackGenerator::default();
    receive(&mut nack, clock, (100..103).chain(105..110), 0);
    assert_eq!(nack.missing(), 2);
    assert!(
        poll(&mut nack, clock.ms(0)).is_empty(),
        "not before the first delay"
    );
    assert!(poll(&mut nack, clock.ms(4)).is_empty());
    assert_eq!(poll(&mut nack, clock.ms(5)), [103, 104]);
    assert!(
        poll(&mut nack, clock.ms(6)).is_empty(),
        "not again before a round trip"
    );
    assert_eq!(nack.next_deadline(), Some(clock.ms(55)));
    assert_eq!(poll(&mut nack, clock.ms(55)), [103, 104]);
    assert_eq!(poll(&mut nack, clock.ms(105)), [103, 104]);
    assert_eq!(poll(&mut nack, clock.ms(155)), [103, 104]);
    // Four requests made: the next due time gives up instead.
    assert!(poll(&mut nack, clock.ms(205)).is_empty());
    assert_eq!(nack.missing(), 0);
    assert_eq!(nack.next_deadline(), None);
    let counters = nack.counters();
    assert_eq!(
        (counters.requested, counters.gave_up, counters.recovered),
        (8, 2, 0)
    );
}

#[test]
fn reordering_within_the_delay_causes_no_nack() {
    let clock = Clock::new();
    let mut nack = NackGenerator::default();
    receive(&mut nack, clock, [1, 2, 4], 0);
    receive(&mut nack, clock, [3], 3);
    assert!(poll(&mut nack, clock.ms(5)).is_empty());
    assert!(poll(&mut nack, clock.ms(500)).is_empty());
    assert_eq!(nack.counters().recovered, 1);
    assert_eq!(nack.counters().requested, 0);
}

#[test]
fn a_recovered_packet_is_not_requested_again() {
    let clock = Clock::new();
    let mut nack = NackGenerator::default();
    receive(&mut nack, clock, [10, 13], 0);
    assert_eq!(poll(&mut nack, clock.ms(5)), [11, 12]);
    receive(&mut nack, clock, [12], 30);
    assert_eq!(poll(&mut nack, clock.ms(55)), [11]);
    receive(&mut nack, clock, [11, 11], 60);
    assert!(poll(&mut nack, clock.ms(105)).is_empty());
    assert_eq!(nack.counters().recovered, 2);
}

#[test]
fn sequence_wrap_requests_wire_numbers() {
    let clock = Clock::new();
    let mut stats = ReceiveStats::new(90_000);
    let mut nack = NackGenerator::default();
    for seq in [65533u16, 65534, 1, 2] {
        let ext = stats
            .on_packet(SeqNo(seq), RtpTime(0), clock.ms(0), 100)
            .unwrap();
        nack.on_packet(ext, clock.ms(0));
    }
    assert_eq!(poll(&mut nack, clock.ms(10)), [65535, 0]);
}

#[test]
fn a_huge_jump_resets_instead_of_requesting() {
    let clock = Clock::new();
    let mut nack = NackGenerator::default();
    receive(&mut nack, clock, [1000, 1002], 0);
    receive(&mut nack, clock, [1002 + 5000], 1);
    assert_eq!(nack.missing(), 0);
    assert!(poll(&mut nack, clock.ms(10)).is_empty());
    assert_eq!(nack.counters().resets, 1);
    // After the reset, gaps are tracked from the new position.
    receive(&mut nack, clock, [6004], 2);
    assert_eq!(poll(&mut nack, clock.ms(10)), [6003]);
}

#[test]
fn a_gap_of_exactly_max_gap_is_still_requested() {
    let clock = Clock::new();
    let config = NackConfig {
        max_gap: 20,
        ..NackConfig::default()
    };
    let mut nack = NackGenerator::new(config);
    receive(&mut nack, clock, [0, 21], 0);
    assert_eq!(poll(&mut nack, clock.ms(5)).len(), 20);
    receive(&mut nack, clock, [43], 6);
    assert_eq!(nack.counters().resets, 1);
}

#[test]
fn packets_missing_longer_than_max_age_are_forgotten() {
    let clock = Clock::new();
    let config = NackConfig {
        max_requests: 100,
        ..NackConfig::default()
    };
    let mut nack = NackGenerator::new(config);
    receive(&mut nack, clock, [1, 3], 0);
    let mut requests = 0;
    for ms in (5..=1100).step_by(50) {
        requests += poll(&mut nack, clock.ms(ms)).len();
    }
    // Requested at 5, 55, ..., 955 (20 times); at 1005 it is older than a second.
    assert_eq!(requests, 20);
    assert_eq!(nack.missing(), 0);
    assert_eq!(nack.counters().gave_up, 1);
}

#[test]
fn packets_falling_out_of_the_window_are_given_up() {
    let clock = Clock::new();
    let config = NackConfig {
        capacity: 16,
        ..NackConfig::default()
    };
    let mut nack = NackGenerator::new(config);
    receive(&mut nack, clock, [0, 2], 0);
    receive(&mut nack, clock, 3..40, 1);
    assert_eq!(nack.missing(), 0);
    assert_eq!(nack.counters().gave_up, 1);
    assert!(poll(&mut nack, clock.ms(10)).is_empty());
    // Far older than the window: ignored.
    receive(&mut nack, clock, [1], 11);
    assert_eq!(nack.counters().recovered, 0);
}

#[test]
fn a_small_output_buffer_defers_the_rest() {
    let clock = Clock::new();
    let mut nack = NackGenerator::default();
    receive(&mut nack, clock, [0, 11], 0);
    let mut out = [SeqNo(0); 4];
    assert_eq!(nack.poll(clock.ms(5), &mut out), 4);
    assert_eq!(out.map(|s| s.0), [1, 2, 3, 4]);
    assert_eq!(nack.poll(clock.ms(5), &mut out), 4);
    assert_eq!(out.map(|s| s.0), [5, 6, 7, 8]);
    assert_eq!(nack.poll(clock.ms(5), &mut out), 2);
    assert_eq!(out[..2].iter().map(|s| s.0).collect::<Vec<_>>(), [9, 10]);
    assert_eq!(nack.counters().requested, 10);
}

#[test]
fn the_retry_interval_follows_the_rtt() {
    let clock = Clock::new();
    let mut nack = NackGenerator::default();
    nack.set_rtt(Duration::from_millis(120));
    receive(&mut nack, clock, [0, 2], 0);
    assert_eq!(poll(&mut nack, clock.ms(5)), [1]);
    assert!(poll(&mut nack, clock.ms(124)).is_empty());
    assert_eq!(poll(&mut nack, clock.ms(125)), [1]);
    nack.set_rtt(Duration::ZERO);
    assert_eq!(poll(&mut nack, clock.ms(245)), [1]);
    assert_eq!(
        nack.next_deadline(),
        Some(clock.ms(255)),
        "at least 10 ms apart"
    );
}
