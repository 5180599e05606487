use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::Clock;
use crate::feedback::{
    parse_twcc, TwccError, TwccPacket, TwccReceiver, TwccReceiverConfig, TwccSendLog,
};
use crate::ids::{Ssrc, TwccSeq};

const SENDER: Ssrc = Ssrc(0x0102_0304);
const MEDIA: Ssrc = Ssrc(0x0506_0708);

/// The FCI of a complete feedback packet: everything after the two SSRCs.
fn fci(packet: &[u8]) -> &[u8] {
    &packet[12..]
}

fn poll(rx: &mut TwccReceiver, now: Instant) -> Option<Vec<u8>> {
    let mut buf = [0u8; 1500];
    let len = rx.poll_feedback(now, SENDER, MEDIA, &mut buf)?;
    Some(buf[..len].to_vec())
}

fn packets(packet: &[u8]) -> Vec<TwccPacket> {
    parse_twcc(fci(packet)).unwrap().packets().collect()
}

/// Builds an FCI from its fields.
fn build_fci(base: u16, count: u16, reference: u32, chunks: &[u16], deltas: &[u8]) -> Vec<u8> {
    let mut fci = Vec::new();
    fci.extend_from_slice(&base.to_be_bytes());
    fci.extend_from_slice(&count.to_be_bytes());
    fci.extend_from_slice(&reference.to_be_bytes()[1..]);
    fci.push(0);
    for chunk in chunks {
        fci.extend_from_slice(&chunk.to_be_bytes());
    }
    fci.extend_from_slice(deltas);
    fci
}

#[test]
fn draft_holmer_section_3_1_feedback_fixture() {
    let clock = Clock::new();
    let mut rx = TwccReceiver::default();
    rx.on_packet(TwccSeq(5), clock.ms(0));
    let first = poll(&mut rx, clock.ms(0)).unwrap();
    #[rustfmt::skip]
    let expected: [u8; 24] = [
        0xAF,                   // V=2, P=1, FMT=15
        0xCD,                   // PT=205 (RTPFB)
        0x00, 0x05,             // length: 6 words - 1
        0x01, 0x02, 0x03, 0x04, // SSRC of packet sender
        0x05, 0x06, 0x07, 0x08, // SSRC of media source
        0x00, 0x05,             // base sequence number 5
        0x00, 0x01,             // packet status count 1
        0x00, 0x00, 0x00,       // reference time 0
        0x00,                   // fb pkt. count 0
        0x20, 0x01,             // run length chunk: T=0, S=01 (small delta), run 1
        0x00,                   // recv delta: 0 ticks
        0x01,                   // padding: one byte, giving its own length
    ];
    assert_eq!(first, expected);

    // Seq 7 is lost and 9 arrives before 8.
    rx.on_packet(TwccSeq(6), clock.ms(130));
    rx.on_packet(TwccSeq(9), clock.ms(131));
    rx.on_packet(TwccSeq(8), clock.ms(132));
    rx.on_packet(TwccSeq(10), clock.ms(200));
    let second = poll(&mut rx, clock.ms(200)).unwrap();
    #[rustfmt::skip]
    let expected: [u8; 28] = [
        0x8F,                   // V=2, P=0, FMT=15
        0xCD,                   // PT=205 (RTPFB)
        0x00, 0x06,             // length: 7 words - 1
        0x01, 0x02, 0x03, 0x04, // SSRC of packet sender
        0x05, 0x06, 0x07, 0x08, // SSRC of media source
        0x00, 0x06,             // base sequence number 6
        0x00, 0x05,             // packet status count 5
        0x00, 0x00, 0x02,       // reference time 2 (128 ms)
        0x01,                   // fb pkt. count 1
        0xD1, 0xA0,             // two-bit vector: 01 00 01 10 10 (+ 00 00 unused)
        0x08,                   // seq 6 at 130 ms: 2 ms after the reference time
        0x08,                   // seq 8 at 132 ms: 2 ms after seq 6
        0xFF, 0xFC,             // seq 9 at 131 ms: -1 ms, a large (signed) delta
        0x01, 0x14,             // seq 10 at 200 ms: 69 ms = 276 ticks, large
    ];
    assert_eq!(second, expected);
}

#[test]
fn draft_holmer_section_3_1_parse_fixture_field_by_field() {
    #[rustfmt::skip]
    let fci = [
        0x00, 0x06,             // base sequence number 6
        0x00, 0x05,             // packet status count 5
        0x00, 0x00, 0x02,       // reference time 2
        0x01,                   // fb pkt. count 1
        0xD1, 0xA0,             // two-bit vector
        0x08, 0x08, 0xFF, 0xFC, 0x01, 0x14,
    ];
    let feedback = parse_twcc(&fci).unwrap();
    assert_eq!(feedback.base_seq, TwccSeq(6));
    assert_eq!(feedback.status_count, 5);
    assert_eq!(feedback.reference_time, 2);
    assert_eq!(feedback.reference_time_us(), 128_000);
    assert_eq!(feedback.fb_count, 1);
    let got: Vec<(u16, Option<i16>, Option<i64>)> = feedback
        .packets()
        .map(|p| (p.seq.0, p.delta_ticks, p.arrival_us))
        .collect();
    assert_eq!(
        got,
        [
            (6, Some(8), Some(130_000)),
            (7, None, None),
            (8, Some(8), Some(132_000)),
            (9, Some(-4), Some(131_000)),
            (10, Some(276), Some(200_000)),
        ]
    );
}

#[test]
fn one_bit_vectors_and_long_runs() {
    let clock = Clock::new();
    let config = TwccReceiverConfig {
        capacity: 16_384,
        ..TwccReceiverConfig::default()
    };
    let mut rx = TwccReceiver::new(config);
    rx.on_packet(TwccSeq(0), clock.ms(0));
    rx.on_packet(TwccSeq(10_000), clock.ms(100));
    let packet = poll(&mut rx, clock.ms(100)).unwrap();
    assert_eq!(&packet[14..16], &10_001u16.to_be_bytes());
    #[rustfmt::skip]
    let chunks_and_deltas = [
        0xA0, 0x00,             // one-bit vector: received, then 13 lost
        0x1F, 0xFF,             // run of 8191 lost
        0x07, 0x03,             // run of 1795 lost
        0x40, 0x01,             // run of 1 received with a large delta
        0x00,                   // seq 0: at the reference time
        0x01, 0x90,             // seq 10000: 100 ms = 400 ticks, large
        0x01,                   // padding
    ];
    assert_eq!(&packet[20..], &chunks_and_deltas);
    let parsed = packets(&packet);
    assert_eq!(parsed.len(), 10_001);
    assert_eq!(parsed.iter().filter(|p| p.arrival_us.is_some()).count(), 2);
    assert_eq!(parsed[10_000].arrival_us, Some(100_000));
}

/// Receives `arrivals` (sequence, arrival in µs; `None` lost) polling as it goes, and
/// returns the last status reported for each sequence number.
fn run(
    rx: &mut TwccReceiver,
    clock: Clock,
    arrivals: &[(u16, Option<u64>)],
) -> BTreeMap<u16, Option<i64>> {
    let mut reported = BTreeMap::new();
    let mut last_us = 0;
    for &(seq, at) in arrivals {
        if let Some(us) = at {
            rx.on_packet(TwccSeq(seq), clock.us(us));
            last_us = last_us.max(us);
        }
        while let Some(packet) = poll(rx, clock.us(last_us)) {
            for p in packets(&packet) {
                reported.insert(p.seq.0, p.arrival_us);
            }
        }
    }
    while let Some(packet) = poll(rx, clock.us(last_us + 1_000_000)) {
        for p in packets(&packet) {
            reported.insert(p.seq.0, p.arrival_us);
        }
    }
    reported
}

/// The arrival a feedback can express: rounded to 250 µs ticks.
fn ticks_us(us: u64) -> i64 {
    ((us + 125) / 250 * 250) as i64
}

#[test]
fn round_trip_with_gaps_wrap_reordering_and_large_deltas() {
    let clock = Clock::new();
    let mut arrivals = Vec::new();
    let mut us = 0;
    for i in 0..400u16 {
        let seq = 65_400u16.wrapping_add(i);
        us += match i {
            100 => 150_000,   // a pause: large delta
            200 => 9_000_000, // beyond 16 bits of ticks: a new feedback
            _ => 2_000 + u64::from(i % 5) * 377,
        };
        let lost = i % 7 == 3 || (50..60).contains(&i);
        arrivals.push((seq, (!lost).then_some(us)));
    }
    arrivals.swap(120, 121); // reordered: 121 arrives first with 120's time
    let mut rx = TwccReceiver::default();
    let reported = run(&mut rx, clock, &arrivals);
    let first_us = arrivals[0].1.unwrap();
    assert_eq!(reported.len(), 400);
    for &(seq, at) in &arrivals {
        let expected = at.map(|us| ticks_us(us - first_us));
        assert_eq!(reported[&seq], expected, "seq {seq}");
    }
}

#[test]
fn a_late_packet_is_reported_again() {
    let clock = Clock::new();
    let mut rx = TwccReceiver::default();
    for seq in [0, 1, 3] {
        rx.on_packet(TwccSeq(seq), clock.ms(u64::from(seq)));
    }
    let first = packets(&poll(&mut rx, clock.ms(3)).unwrap());
    assert_eq!(
        first
            .iter()
            .map(|p| p.arrival_us.is_some())
            .collect::<Vec<_>>(),
        [true, true, false, true]
    );
    rx.on_packet(TwccSeq(2), clock.ms(5));
    rx.on_packet(TwccSeq(2), clock.ms(6)); // duplicate keeps the first arrival
    assert!(
        poll(&mut rx, clock.ms(20)).is_none(),
        "not before the interval"
    );
    let second = packets(&poll(&mut rx, clock.ms(53)).unwrap());
    let got: Vec<_> = second.iter().map(|p| (p.seq.0, p.arrival_us)).collect();
    assert_eq!(got, [(2, Some(5_000)), (3, Some(3_000))]);
}

#[test]
fn feedback_timing_interval_and_batch() {
    let clock = Clock::new();
    let mut rx = TwccReceiver::default();
    assert!(poll(&mut rx, clock.ms(0)).is_none(), "nothing received");
    rx.on_packet(TwccSeq(1), clock.ms(0));
    assert!(
        poll(&mut rx, clock.ms(0)).is_some(),
        "the first one goes at once"
    );
    assert!(poll(&mut rx, clock.ms(1)).is_none(), "nothing new");
    rx.on_packet(TwccSeq(2), clock.ms(10));
    assert_eq!(rx.next_deadline(), Some(clock.ms(50)));
    assert!(poll(&mut rx, clock.ms(49)).is_none());
    assert!(poll(&mut rx, clock.ms(50)).is_some());
    for seq in 3..103 {
        rx.on_packet(TwccSeq(seq), clock.ms(60));
    }
    assert_eq!(
        rx.next_deadline(),
        Some(clock.ms(60)),
        "a full batch is due at once"
    );
    assert_eq!(packets(&poll(&mut rx, clock.ms(60)).unwrap()).len(), 100);
}

#[test]
fn a_small_buffer_splits_the_feedback() {
    let clock = Clock::new();
    let mut rx = TwccReceiver::default();
    for seq in 0..3 {
        rx.on_packet(TwccSeq(seq), clock.ms(0));
    }
    let mut tiny = [0u8; 10];
    assert_eq!(
        rx.poll_feedback(clock.ms(0), SENDER, MEDIA, &mut tiny),
        None
    );
    let mut small = [0u8; 24];
    assert_eq!(
        rx.poll_feedback(clock.ms(0), SENDER, MEDIA, &mut small),
        Some(24)
    );
    assert_eq!(packets(&small).len(), 2);
    // The rest is due at once, not after the interval.
    assert_eq!(
        rx.poll_feedback(clock.ms(0), SENDER, MEDIA, &mut small),
        Some(24)
    );
    let rest = packets(&small);
    assert_eq!((rest.len(), rest[0].seq), (1, TwccSeq(2)));
    assert_eq!(small[19], 1, "fb pkt. count");
}

#[test]
fn unreported_packets_beyond_the_capacity_are_dropped() {
    let clock = Clock::new();
    let mut rx = TwccReceiver::default();
    rx.on_packet(TwccSeq(0), clock.ms(0));
    rx.on_packet(TwccSeq(5000), clock.ms(1));
    let parsed = packets(&poll(&mut rx, clock.ms(1)).unwrap());
    assert_eq!(parsed.len(), 1024);
    assert_eq!(parsed[0].seq, TwccSeq(5000 - 1023));
    // Older than the window now: ignored.
    rx.on_packet(TwccSeq(1), clock.ms(2));
    assert!(poll(&mut rx, clock.ms(100)).is_none());
}

#[test]
fn parse_rejects_malformed_feedback() {
    assert_eq!(parse_twcc(&[0; 7]), Err(TwccError::Truncated));
    assert_eq!(
        parse_twcc(&build_fci(0, 0, 0, &[0x2001], &[0])),
        Err(TwccError::Empty)
    );
    // Three statuses but chunks for two.
    assert_eq!(
        parse_twcc(&build_fci(0, 3, 0, &[0x2002], &[0, 0])),
        Err(TwccError::Truncated)
    );
    // Two small deltas announced, one present.
    assert_eq!(
        parse_twcc(&build_fci(0, 2, 0, &[0x2002], &[0])),
        Err(TwccError::Truncated)
    );
    // A run of the reserved status, and a reserved two-bit symbol.
    assert_eq!(
        parse_twcc(&build_fci(0, 1, 0, &[0x6001], &[])),
        Err(TwccError::ReservedSymbol)
    );
    assert_eq!(
        parse_twcc(&build_fci(0, 2, 0, &[0xC000 | 0x0C00], &[])),
        Err(TwccError::ReservedSymbol)
    );
    // A reserved symbol past the status count is not looked at.
    let bytes = build_fci(0, 2, 0, &[0xC000 | 0x0003], &[]);
    let fb = parse_twcc(&bytes).unwrap();
    assert!(fb.packets().all(|p| p.arrival_us.is_none()));
    // Empty runs are skipped; statuses wrap the sequence number.
    let bytes = build_fci(0xFFFF, 2, 0, &[0x0000, 0x4002], &[0, 1, 0xFF, 0xFF]);
    let fb = parse_twcc(&bytes).unwrap();
    let got: Vec<_> = fb.packets().map(|p| (p.seq.0, p.delta_ticks)).collect();
    assert_eq!(got, [(0xFFFF, Some(1)), (0, Some(-1))]);
}

#[test]
fn parse_never_panics_on_random_input() {
    let mut rng = StdRng::seed_from_u64(0x7C_C0DE);
    let clock = Clock::new();
    let mut rx = TwccReceiver::default();
    let mut valid = Vec::new();
    for seq in 0..60u16 {
        if seq % 4 != 1 {
            rx.on_packet(
                TwccSeq(seq),
                clock.us(u64::from(seq) * 1_700 + u64::from(seq % 3) * 90_000),
            );
        }
    }
    valid.extend_from_slice(fci(&poll(&mut rx, clock.ms(500)).unwrap()));

    for round in 0..20_000 {
        let mut input: Vec<u8> = if round % 2 == 0 {
            let len = rng.random_range(0..48);
            (0..len).map(|_| rng.random()).collect()
        } else {
            valid.clone()
        };
        if round % 2 == 0 && input.len() >= 4 && rng.random_bool(0.7) {
            input[2] = 0;
            input[3] = rng.random_range(0..40);
        }
        for _ in 0..rng.random_range(0..4) {
            if !input.is_empty() {
                let at = rng.random_range(0..input.len());
                input[at] = rng.random();
            }
        }
        if rng.random_bool(0.3) {
            input.truncate(rng.random_range(0..=input.len()));
        }
        if let Ok(fb) = parse_twcc(&input) {
            assert_eq!(fb.packets().count(), usize::from(fb.status_count));
        }
    }
}

#[test]
fn send_log_estimate_from_a_synthetic_feedback_stream() {
    let clock = Clock::new();
    let mut log = TwccSendLog::default();
    let mut rx = TwccReceiver::default();
    let mut in_flight: VecDeque<(u64, u16)> = VecDeque::new();
    let mut feedback: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
    // 100 packets a second of 1250 bytes (1 Mbit/s), every tenth lost, 20 ms each way.
    for t in 0..3_000u64 {
        if t % 10 == 0 {
            let n = (t / 10) as u16;
            log.on_send(TwccSeq(n), 1250, clock.ms(t));
            if n % 10 != 9 {
                in_flight.push_back((t + 20, n));
            }
        }
        while in_flight.front().is_some_and(|&(at, _)| at <= t) {
            let (_, seq) = in_flight.pop_front().unwrap();
            rx.on_packet(TwccSeq(seq), clock.ms(t));
        }
        if let Some(packet) = poll(&mut rx, clock.ms(t)) {
            feedback.push_back((t + 20, packet));
        }
        while feedback.front().is_some_and(|(at, _)| *at <= t) {
            let (_, packet) = feedback.pop_front().unwrap();
            log.on_feedback(&parse_twcc(fci(&packet)).unwrap(), clock.ms(t));
        }
    }
    let estimate = log.estimate();
    let delivered = estimate.bitrate_bps as f64;
    assert!((delivered - 900_000.0).abs() < 45_000.0, "{estimate:?}");
    assert!(
        (estimate.sent_bps as f64 - 1_000_000.0).abs() < 50_000.0,
        "{estimate:?}"
    );
    assert!((estimate.loss_fraction - 0.1).abs() < 0.02, "{estimate:?}");
    assert!(
        (90..=110).contains(&estimate.reported_packets),
        "{estimate:?}"
    );
    assert!(estimate.last_feedback.is_some());
}

#[test]
fn send_log_follows_the_reference_time_wrap() {
    let clock = Clock::new();
    let mut log = TwccSendLog::default();
    for seq in 0..20u16 {
        log.on_send(TwccSeq(seq), 1000, clock.ms(u64::from(seq)));
    }
    // Ten packets 1 ms apart just before the 24-bit wrap, ten more one tick later.
    let deltas = [0, 4, 4, 4, 4, 4, 4, 4, 4, 4];
    let before = build_fci(0, 10, 0xFF_FFFF, &[0x200A], &deltas);
    let after = build_fci(10, 10, 0, &[0x200A], &deltas);
    log.on_feedback(&parse_twcc(&before).unwrap(), clock.ms(30));
    log.on_feedback(&parse_twcc(&after).unwrap(), clock.ms(100));
    let estimate = log.estimate();
    // 20 000 bytes between the first arrival and the last, 73 ms later.
    assert_eq!(estimate.bitrate_bps, 20_000 * 8 * 1_000_000 / 73_000);
    assert_eq!(estimate.loss_fraction, 0.0);
    assert_eq!(estimate.reported_packets, 20);
    // Reports of packets never sent, and repeats, change nothing.
    log.on_feedback(
        &parse_twcc(&build_fci(500, 1, 1, &[0x2001], &[0])).unwrap(),
        clock.ms(101),
    );
    log.on_feedback(&parse_twcc(&after).unwrap(), clock.ms(102));
    assert_eq!(log.estimate().reported_packets, 20);
}

#[test]
fn webrtc_rs_reads_our_feedback() {
    use rtc::rtcp::transport_feedbacks::transport_layer_cc::TransportLayerCc;

    let clock = Clock::new();
    let mut rx = TwccReceiver::default();
    let mut us = 0;
    for i in 0..120u16 {
        us += if i == 60 {
            300_000
        } else {
            1_000 + u64::from(i % 9) * 5_000
        };
        if i % 11 != 4 {
            rx.on_packet(TwccSeq(65_500u16.wrapping_add(i)), clock.us(us));
        }
    }
    rx.on_packet(TwccSeq(65_500u16.wrapping_add(30)), clock.us(us + 1));
    let packet = poll(&mut rx, clock.us(us)).unwrap();

    let parsed = rtc::rtcp::packet::unmarshal(&mut &packet[..]).unwrap();
    let cc = parsed[0]
        .as_any()
        .downcast_ref::<TransportLayerCc>()
        .unwrap();
    assert_eq!((cc.sender_ssrc, cc.media_ssrc), (SENDER.0, MEDIA.0));
    assert_eq!(cc.base_sequence_number, 65_500);
    assert_eq!(cc.packet_status_count, 120);
    let ours: Vec<i64> = packets(&packet)
        .iter()
        .filter_map(|p| p.delta_ticks.map(|d| i64::from(d) * 250))
        .collect();
    let theirs: Vec<i64> = cc.recv_deltas.iter().map(|d| d.delta).collect();
    assert_eq!(ours, theirs);
}

#[test]
fn we_read_webrtc_rs_feedback() {
    use rtc::rtcp::transport_feedbacks::transport_layer_cc::{
        PacketStatusChunk, RecvDelta, RunLengthChunk, StatusChunkTypeTcc, StatusVectorChunk,
        SymbolSizeTypeTcc, SymbolTypeTcc, TransportLayerCc,
    };
    use rtc::shared::marshal::Marshal;

    let small = SymbolTypeTcc::PacketReceivedSmallDelta;
    let large = SymbolTypeTcc::PacketReceivedLargeDelta;
    let lost = SymbolTypeTcc::PacketNotReceived;
    let cc = TransportLayerCc {
        sender_ssrc: 1,
        media_ssrc: 2,
        base_sequence_number: 65_534,
        packet_status_count: 10,
        reference_time: 0xAB_CDEF,
        fb_pkt_count: 9,
        packet_chunks: vec![
            PacketStatusChunk::StatusVectorChunk(StatusVectorChunk {
                type_tcc: StatusChunkTypeTcc::StatusVectorChunk,
                symbol_size: SymbolSizeTypeTcc::TwoBit,
                symbol_list: vec![small, lost, large, small, lost, lost, large],
            }),
            PacketStatusChunk::RunLengthChunk(RunLengthChunk {
                type_tcc: StatusChunkTypeTcc::RunLengthChunk,
                packet_status_symbol: small,
                run_length: 3,
            }),
        ],
        recv_deltas: [
            (small, 1_000),
            (large, -2_500),
            (small, 63_750),
            (large, 8_000_000),
        ]
        .into_iter()
        .chain([(small, 0), (small, 250), (small, 500)])
        .map(|(type_tcc_packet, delta)| RecvDelta {
            type_tcc_packet,
            delta,
        })
        .collect(),
    };
    let bytes = cc.marshal().unwrap();
    let feedback = parse_twcc(fci(&bytes)).unwrap();
    assert_eq!(feedback.base_seq, TwccSeq(65_534));
    assert_eq!(feedback.reference_time, 0xAB_CDEF);
    assert_eq!(feedback.fb_count, 9);
    let got: Vec<(u16, Option<i16>)> = feedback
        .packets()
        .map(|p| (p.seq.0, p.delta_ticks))
        .collect();
    assert_eq!(
        got,
        [
            (65_534, Some(4)),
            (65_535, None),
            (0, Some(-10)),
            (1, Some(255)),
            (2, None),
            (3, None),
            (4, Some(32_000)),
            (5, Some(0)),
            (6, Some(1)),
            (7, Some(2)),
        ]
    );
}

#[test]
fn a_far_jump_in_the_numbering_is_followed_after_a_while() {
    let clock = Clock::new();
    let mut rx = TwccReceiver::default();
    for seq in 0..10 {
        rx.on_packet(TwccSeq(seq), clock.ms(0));
    }
    poll(&mut rx, clock.ms(0)).unwrap();
    // 40 000 ahead reads as 25 536 behind: ignored, until 32 in a row say otherwise.
    for seq in 40_000..40_031 {
        rx.on_packet(TwccSeq(seq), clock.ms(100));
    }
    assert!(poll(&mut rx, clock.ms(100)).is_none());
    rx.on_packet(TwccSeq(40_031), clock.ms(101));
    rx.on_packet(TwccSeq(40_032), clock.ms(102));
    let parsed = packets(&poll(&mut rx, clock.ms(102)).unwrap());
    assert_eq!(parsed[0].seq, TwccSeq(40_031));
    assert_eq!(parsed.len(), 2);
}
