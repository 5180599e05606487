use std::time::Duration;

use super::Clock;
use crate::feedback::{rtt_from_report, ReceiveStats, TrackStats};
use crate::ids::{ExtSeq, RtpTime, SeqNo, Ssrc};

const SSRC: Ssrc = Ssrc(0x1234_5678);

/// Feeds `seqs` with timestamps and arrivals that keep the transit time constant.
fn feed(stats: &mut ReceiveStats, clock: Clock, seqs: &[u16]) -> Vec<Option<ExtSeq>> {
    seqs.iter()
        .enumerate()
        .map(|(i, &seq)| {
            let ms = i as u64 * 20;
            stats.on_packet(SeqNo(seq), RtpTime(ms as u32 * 90), clock.ms(ms), 100)
        })
        .collect()
}

#[test]
fn in_order_packets_extend_and_report_no_loss() {
    let clock = Clock::new();
    let mut stats = ReceiveStats::new(90_000);
    let seqs: Vec<u16> = (1000..1100).collect();
    let exts = feed(&mut stats, clock, &seqs);
    assert!(exts
        .windows(2)
        .all(|w| w[1].unwrap().0 == w[0].unwrap().0 + 1));
    assert_eq!(exts[5].unwrap().wire(), SeqNo(1005));

    let block = stats.report_block(SSRC, clock.ms(2000));
    assert_eq!(block.ssrc, SSRC);
    assert_eq!(block.fraction_lost, 0);
    assert_eq!(block.cumulative_lost, 0);
    assert_eq!(block.extended_highest_seq, 1099);
    assert_eq!(block.jitter, 0, "constant transit gives no jitter");
    assert_eq!((block.last_sr, block.delay_since_last_sr), (0, 0));

    let counters = stats.counters();
    assert_eq!(
        (counters.packets, counters.bytes, counters.lost),
        (100, 10_000, 0)
    );
}

#[test]
fn sequence_wrap_counts_a_cycle() {
    let clock = Clock::new();
    let mut stats = ReceiveStats::new(90_000);
    let exts = feed(&mut stats, clock, &[65534, 65535, 0, 1]);
    let exts: Vec<u64> = exts.into_iter().map(|e| e.unwrap().0).collect();
    assert_eq!(
        exts[1] + 1,
        exts[2],
        "the wrap continues the extended numbering"
    );
    assert_eq!(exts[3] - exts[0], 3);
    let block = stats.report_block(SSRC, clock.ms(100));
    assert_eq!(block.extended_highest_seq, 0x0001_0001);
    assert_eq!(block.cumulative_lost, 0);
}

#[test]
fn reordering_across_the_wrap_before_the_first_packet() {
    let clock = Clock::new();
    let mut stats = ReceiveStats::new(90_000);
    let first = stats
        .on_packet(SeqNo(2), RtpTime(0), clock.ms(0), 10)
        .unwrap();
    let late = stats
        .on_packet(SeqNo(65535), RtpTime(0), clock.ms(1), 10)
        .unwrap();
    assert_eq!(first.0 - late.0, 3);
    assert_eq!(late.wire(), SeqNo(65535));
    let block = stats.report_block(SSRC, clock.ms(2));
    assert_eq!(
        block.extended_highest_seq, 2,
        "the late packet does not move the highest"
    );
    // 65535, 0, 1, 2 expected, 0 and 1 missing.
    assert_eq!(block.cumulative_lost, 2);
}

#[test]
fn duplicates_are_dropped_and_not_counted() {
    let clock = Clock::new();
    let mut stats = ReceiveStats::new(90_000);
    let exts = feed(&mut stats, clock, &[10, 11, 11, 13, 12, 12, 13, 10]);
    let accepted: Vec<bool> = exts.iter().map(Option::is_some).collect();
    assert_eq!(
        accepted,
        [true, true, false, true, true, false, false, false]
    );
    assert_eq!(
        exts[4].unwrap().0 + 1,
        exts[3].unwrap().0,
        "reordered 12 sits below 13"
    );
    let counters = stats.counters();
    assert_eq!(
        (counters.packets, counters.duplicates, counters.lost),
        (4, 4, 0)
    );
    assert_eq!(stats.report_block(SSRC, clock.ms(1)).cumulative_lost, 0);
}

#[test]
fn loss_gives_fraction_per_interval_and_cumulative_total() {
    let clock = Clock::new();
    let mut stats = ReceiveStats::new(90_000);
    // 0..100 with every tenth packet missing: 10 lost out of 100 expected.
    let seqs: Vec<u16> = (0..100).filter(|s| s % 10 != 5).collect();
    feed(&mut stats, clock, &seqs);
    let block = stats.report_block(SSRC, clock.ms(3000));
    assert_eq!(block.fraction_lost, 25, "10 * 256 / 100");
    assert_eq!(block.cumulative_lost, 10);

    // The next interval loses nothing: the fraction resets, the total stays.
    let seqs: Vec<u16> = (100..150).collect();
    feed(&mut stats, clock, &seqs);
    let block = stats.report_block(SSRC, clock.ms(6000));
    assert_eq!(block.fraction_lost, 0);
    assert_eq!(block.cumulative_lost, 10);
    assert_eq!(block.extended_highest_seq, 149);

    // A late arrival of a lost packet lowers the total.
    stats
        .on_packet(SeqNo(95), RtpTime(0), clock.ms(6001), 100)
        .unwrap();
    assert_eq!(stats.report_block(SSRC, clock.ms(6002)).cumulative_lost, 9);
}

#[test]
fn cumulative_loss_clamps_to_24_bits() {
    let clock = Clock::new();
    let mut stats = ReceiveStats::new(90_000);
    // Jumps of 2999 stay under MAX_DROPOUT, so each one is counted as loss.
    let mut seq = 0u16;
    for i in 0..3000u64 {
        stats
            .on_packet(SeqNo(seq), RtpTime(0), clock.ms(i), 10)
            .unwrap();
        seq = seq.wrapping_add(2999);
    }
    let block = stats.report_block(SSRC, clock.ms(4000));
    assert_eq!(block.cumulative_lost, 0x7F_FFFF);
    assert_eq!(block.fraction_lost, 255);
    assert!(stats.counters().lost > 0x7F_FFFF);
}

#[test]
fn rfc3550_appendix_a1_big_jump_needs_two_sequential_packets() {
    let clock = Clock::new();
    let mut stats = ReceiveStats::new(90_000);
    let exts = feed(&mut stats, clock, &[100, 101, 102]);
    let before = exts[2].unwrap();
    assert_eq!(
        stats.on_packet(SeqNo(30_000), RtpTime(0), clock.ms(100), 10),
        None
    );
    // A packet from the old numbering in between keeps the old stream.
    assert!(stats
        .on_packet(SeqNo(103), RtpTime(0), clock.ms(101), 10)
        .is_some());
    assert_eq!(
        stats.on_packet(SeqNo(30_001), RtpTime(0), clock.ms(102), 10),
        None
    );
    // Two sequential packets after the jump: the source restarted.
    let restarted = stats
        .on_packet(SeqNo(30_002), RtpTime(0), clock.ms(103), 10)
        .unwrap();
    assert!(restarted > before, "extended numbers never go back");
    assert_eq!(restarted.wire(), SeqNo(30_002));
    let next = stats
        .on_packet(SeqNo(30_003), RtpTime(0), clock.ms(104), 10)
        .unwrap();
    assert_eq!(next.0, restarted.0 + 1);

    let block = stats.report_block(SSRC, clock.ms(105));
    assert_eq!(block.cumulative_lost, 0, "loss restarts with the source");
    assert_eq!(stats.counters().discarded, 2);
}

#[test]
fn rfc3550_appendix_a1_far_out_of_order_is_discarded() {
    let clock = Clock::new();
    let mut stats = ReceiveStats::new(90_000);
    let seqs: Vec<u16> = (1000..1300).collect();
    feed(&mut stats, clock, &seqs);
    // 200 behind: more than MAX_MISORDER, so it is a jump candidate and not accepted.
    assert_eq!(
        stats.on_packet(SeqNo(1099), RtpTime(0), clock.ms(9000), 10),
        None
    );
    // 50 behind and already received: a duplicate.
    assert_eq!(
        stats.on_packet(SeqNo(1249), RtpTime(0), clock.ms(9001), 10),
        None
    );
    let counters = stats.counters();
    assert_eq!((counters.discarded, counters.duplicates), (1, 1));
}

#[test]
fn rfc3550_appendix_a8_jitter_hand_computed() {
    let clock = Clock::new();
    let mut stats = ReceiveStats::new(90_000);
    // 20 ms frames at 90 kHz: 1800 ticks apart.
    stats.on_packet(SeqNo(1), RtpTime(0), clock.ms(0), 100);
    // One millisecond late: D = 90 ticks; J = 0 + (90 - 0) / 16 = 5.625.
    stats.on_packet(SeqNo(2), RtpTime(1800), clock.ms(21), 100);
    assert_eq!(stats.report_block(SSRC, clock.ms(21)).jitter, 5);
    // Back on time: D = 90 again; J = 5.625 + (90 - 5.625) / 16 = 10.898.
    stats.on_packet(SeqNo(3), RtpTime(3600), clock.ms(40), 100);
    assert_eq!(stats.report_block(SSRC, clock.ms(40)).jitter, 10);
    let ms = stats.counters().jitter_ms;
    assert!((ms - 10.0 / 90.0).abs() < 1e-9, "{ms}");
}

#[test]
fn rfc3550_appendix_a8_constant_transit_gives_zero_jitter() {
    let clock = Clock::new();
    let mut stats = ReceiveStats::new(48_000);
    for i in 0..500u32 {
        let ts = RtpTime(0xFFFF_0000_u32.wrapping_add(i * 960));
        stats.on_packet(SeqNo(i as u16), ts, clock.ms(u64::from(i) * 20), 60);
    }
    assert_eq!(stats.report_block(SSRC, clock.ms(10_000)).jitter, 0);
}

#[test]
fn rfc3550_section_6_4_1_lsr_and_dlsr() {
    let clock = Clock::new();
    let mut stats = ReceiveStats::new(90_000);
    stats.on_packet(SeqNo(1), RtpTime(0), clock.ms(0), 100);
    stats.on_sender_report(0x0001_2345_6789_ABCD, clock.ms(1000));
    let block = stats.report_block(SSRC, clock.ms(1500));
    assert_eq!(block.last_sr, 0x2345_6789);
    assert_eq!(
        block.delay_since_last_sr, 32_768,
        "half a second in 1/65536 s"
    );
}

#[test]
fn rfc3550_section_6_4_1_rtt_example() {
    // The section's example: A = 0xb710:8000, LSR = 0xb705:2000, DLSR = 0x0005:4000
    // give a round trip of 0x0006:2000, 6.125 seconds.
    let now_ntp = 0xB710_8000_u64 << 16;
    let rtt = rtt_from_report(0xB705_2000, 0x0005_4000, now_ntp);
    assert_eq!(rtt, Some(Duration::from_millis(6125)));
}

#[test]
fn rtt_rejects_missing_sr_and_negative_results() {
    let now_ntp = 0x0010_0000_u64 << 16;
    assert_eq!(rtt_from_report(0, 0, now_ntp), None);
    // DLSR longer than the time since the SR: negative.
    assert_eq!(rtt_from_report(0x000F_0000, 0x0002_0000, now_ntp), None);
    // LSR from the future.
    assert_eq!(rtt_from_report(0x0011_0000, 0, now_ntp), None);
    // Across the wrap of the compact NTP time.
    let rtt = rtt_from_report(0xFFFF_8000, 0x0000_4000, 0x0000_4000_u64 << 16);
    assert_eq!(rtt, Some(Duration::from_millis(500)));
}

#[test]
fn track_stats_take_the_receive_counters() {
    let clock = Clock::new();
    let mut stats = ReceiveStats::new(90_000);
    feed(&mut stats, clock, &[1, 2, 4]);
    let mut track = TrackStats::default();
    track.absorb_receive(&stats.counters());
    assert_eq!((track.packets, track.bytes, track.lost), (3, 300, 1));
}
