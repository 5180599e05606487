//! RTCP fixtures, written one field per line: a compound datagram parsed packet by packet,
//! the writers compared byte for byte and round-tripped through the parser, and every
//! length check.

#![allow(clippy::unwrap_used)]

use super::*;

/// SR + SDES + NACK + PLI + transport-cc feedback, as a browser sends them.
pub(crate) const COMPOUND: &[u8] = &[
    // Sender report (RFC 3550 section 6.4.1)
    0x81, // V=2, P=0, RC=1
    200,  // PT=SR
    0x00, 0x0C, // length: 13 words
    0x11, 0x22, 0x33, 0x44, // sender SSRC
    0xE1, 0x23, 0x45, 0x67, // NTP timestamp, seconds
    0x89, 0xAB, 0xCD, 0xEF, // NTP timestamp, fraction
    0x00, 0x01, 0x5F, 0x90, // RTP timestamp 90000
    0x00, 0x00, 0x00, 0x64, // sender's packet count 100
    0x00, 0x00, 0x3E, 0x80, // sender's octet count 16000
    0xDE, 0xAD, 0xBE, 0xEF, // report block: SSRC
    0x40, // fraction lost 64/256
    0xFF, 0xFF, 0xFE, // cumulative lost -2
    0x00, 0x01, 0x00, 0x05, // extended highest sequence number
    0x00, 0x00, 0x00, 0x20, // jitter 32
    0x45, 0x67, 0x89, 0xAB, // last SR
    0x00, 0x01, 0x00, 0x00, // delay since last SR: 1 s
    // SDES (RFC 3550 section 6.5)
    0x81, // V=2, P=0, SC=1
    202,  // PT=SDES
    0x00, 0x03, // length: 4 words
    0x11, 0x22, 0x33, 0x44, // chunk SSRC
    0x01, // item CNAME
    0x03, // length 3
    b'c', b'a', b'm', // "cam"
    0x00, // end of items
    0x00, 0x00, // padding to 32 bits
    // Generic NACK (RFC 4585 section 6.2.1)
    0x81, // V=2, P=0, FMT=1
    205,  // PT=RTPFB
    0x00, 0x03, // length: 4 words
    0x11, 0x22, 0x33, 0x44, // sender SSRC
    0xDE, 0xAD, 0xBE, 0xEF, // media SSRC
    0x00, 0x64, // PID 100
    0x00, 0x05, // BLP: 101 and 103 lost too
    // PLI (RFC 4585 section 6.3.1)
    0x81, // V=2, P=0, FMT=1
    206,  // PT=PSFB
    0x00, 0x02, // length: 3 words
    0x11, 0x22, 0x33, 0x44, // sender SSRC
    0xDE, 0xAD, 0xBE, 0xEF, // media SSRC
    // Transport-wide CC feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01)
    0x8F, // V=2, P=0, FMT=15
    205,  // PT=RTPFB
    0x00, 0x05, // length: 6 words
    0x11, 0x22, 0x33, 0x44, // sender SSRC
    0xDE, 0xAD, 0xBE, 0xEF, // media SSRC
    0x00, 0x01, // base sequence number 1
    0x00, 0x02, // packet status count 2
    0x00, 0x00, 0x10, // reference time 16
    0x00, // feedback packet count 0
    0x20, 0x02, // run-length chunk: 2 x small delta
    0x04, 0x08, // receive deltas
];

const SENDER: Ssrc = Ssrc(0x1122_3344);
const MEDIA: Ssrc = Ssrc(0xDEAD_BEEF);

fn fixture_block() -> ReportBlock {
    ReportBlock {
        ssrc: MEDIA,
        fraction_lost: 0x40,
        cumulative_lost: -2,
        highest_seq: 0x0001_0005,
        jitter: 32,
        last_sr: 0x4567_89AB,
        delay_since_last_sr: 0x0001_0000,
    }
}

#[test]
fn compound_sr_sdes_nack_pli_twcc() {
    let packets: Vec<_> = compound(COMPOUND).map(Result::unwrap).collect();
    assert_eq!(packets.len(), 5);

    let RtcpPacket::SenderReport(sr) = &packets[0] else {
        panic!("not an SR: {:?}", packets[0]);
    };
    assert_eq!(sr.ssrc, SENDER);
    assert_eq!(sr.ntp, 0xE123_4567_89AB_CDEF);
    assert_eq!(sr.rtp_ts, RtpTime(90_000));
    assert_eq!((sr.packet_count, sr.octet_count), (100, 16_000));
    assert_eq!(sr.blocks.clone().collect::<Vec<_>>(), [fixture_block()]);

    let RtcpPacket::Sdes(body) = packets[1] else {
        panic!("not SDES");
    };
    let items: Vec<_> = sdes_items(body).collect();
    assert_eq!(
        items,
        [SdesItem {
            ssrc: SENDER,
            kind: SDES_CNAME,
            value: b"cam"
        }]
    );

    let RtcpPacket::Nack { sender, media, fci } = packets[2].clone() else {
        panic!("not a NACK");
    };
    assert_eq!((sender, media), (SENDER, MEDIA));
    assert_eq!(
        fci.lost().collect::<Vec<_>>(),
        [SeqNo(100), SeqNo(101), SeqNo(103)]
    );

    assert_eq!(
        packets[3],
        RtcpPacket::Pli {
            sender: SENDER,
            media: MEDIA
        }
    );
    let RtcpPacket::TransportCc { sender, media, fci } = packets[4] else {
        panic!("not transport-cc");
    };
    assert_eq!((sender, media), (SENDER, MEDIA));
    assert_eq!(fci, &COMPOUND[COMPOUND.len() - 12..]);
}

#[test]
fn writers_reproduce_the_compound_fixture() {
    let mut buf = [0u8; 256];
    let mut n = write_sender_report(
        &mut buf,
        SENDER,
        0xE123_4567_89AB_CDEF,
        RtpTime(90_000),
        100,
        16_000,
        &[fixture_block()],
    )
    .unwrap();
    n += write_sdes_cname(&mut buf[n..], SENDER, "cam").unwrap();
    n += write_nack(
        &mut buf[n..],
        SENDER,
        MEDIA,
        &[SeqNo(100), SeqNo(101), SeqNo(103)],
    )
    .unwrap();
    n += write_pli(&mut buf[n..], SENDER, MEDIA).unwrap();
    assert_eq!(&buf[..n], &COMPOUND[..n]);
    assert_eq!(n, COMPOUND.len() - 24);
}

#[test]
fn receiver_report_round_trip() {
    let blocks = [
        fixture_block(),
        ReportBlock {
            ssrc: Ssrc(7),
            cumulative_lost: 0x7F_FFFF,
            ..ReportBlock::default()
        },
    ];
    let mut buf = [0u8; 64];
    let n = write_receiver_report(&mut buf, SENDER, &blocks).unwrap();
    assert_eq!(n, 8 + 48);
    let Some(Ok(RtcpPacket::ReceiverReport(rr))) = compound(&buf[..n]).next() else {
        panic!("not an RR");
    };
    assert_eq!(rr.ssrc, SENDER);
    assert_eq!(rr.blocks.collect::<Vec<_>>(), blocks);
}

#[test]
fn cumulative_lost_is_clamped_to_24_bits() {
    let block = ReportBlock {
        cumulative_lost: -10_000_000,
        ..fixture_block()
    };
    let mut buf = [0u8; 32];
    let n = write_receiver_report(&mut buf, SENDER, &[block]).unwrap();
    let Some(Ok(RtcpPacket::ReceiverReport(rr))) = compound(&buf[..n]).next() else {
        panic!("not an RR");
    };
    assert_eq!(
        rr.blocks.map(|b| b.cumulative_lost).collect::<Vec<_>>(),
        [-0x80_0000]
    );
}

#[test]
fn nack_packs_pairs_and_expands_back() {
    let lost = [100, 101, 103, 117, 118, 65535, 0].map(SeqNo);
    let mut buf = [0u8; 64];
    let n = write_nack(&mut buf, SENDER, MEDIA, &lost).unwrap();
    assert_eq!(n, 12 + 3 * 4);
    let Some(Ok(RtcpPacket::Nack { fci, .. })) = compound(&buf[..n]).next() else {
        panic!("not a NACK");
    };
    let pairs: Vec<_> = fci.clone().map(|p| (p.pid.0, p.blp)).collect();
    assert_eq!(pairs, [(100, 0b101), (117, 0b1), (65535, 0b1)]);
    assert_eq!(fci.lost().collect::<Vec<_>>(), lost);

    assert_eq!(
        write_nack(&mut buf, SENDER, MEDIA, &[]),
        Err(RtcpError::Unencodable("NACK without lost packets"))
    );
}

#[test]
fn fir_round_trip() {
    let mut buf = [0u8; 32];
    let n = write_fir(&mut buf, SENDER, MEDIA, 9).unwrap();
    let expected = [
        0x84, // V=2, P=0, FMT=4
        206,  // PT=PSFB
        0x00, 0x04, // length: 5 words
        0x11, 0x22, 0x33, 0x44, // sender SSRC
        0x00, 0x00, 0x00, 0x00, // media SSRC: unused, zero (RFC 5104 section 4.3.1.2)
        0xDE, 0xAD, 0xBE, 0xEF, // FCI: SSRC asked to refresh
        0x09, // command sequence number
        0x00, 0x00, 0x00, // reserved
    ];
    assert_eq!(&buf[..n], &expected);
    let Some(Ok(RtcpPacket::Fir { sender, entries })) = compound(&buf[..n]).next() else {
        panic!("not a FIR");
    };
    assert_eq!(sender, SENDER);
    assert_eq!(
        entries.collect::<Vec<_>>(),
        [FirEntry {
            ssrc: MEDIA,
            seq_nr: 9
        }]
    );
}

#[test]
fn remb_round_trip_and_rounding() {
    let mut buf = [0u8; 64];
    let n = write_remb(&mut buf, SENDER, 1_500_000, &[MEDIA, Ssrc(5)]).unwrap();
    let expected = [
        0x8F, // V=2, P=0, FMT=15
        206,  // PT=PSFB
        0x00, 0x06, // length: 7 words
        0x11, 0x22, 0x33, 0x44, // sender SSRC
        0x00, 0x00, 0x00, 0x00, // media SSRC: unused
        b'R', b'E', b'M', b'B', // unique identifier
        0x02, // two SSRCs
        0x0E, 0xDC, 0x6C, // exponent 3, mantissa 187500
        0xDE, 0xAD, 0xBE, 0xEF, // SSRC 1
        0x00, 0x00, 0x00, 0x05, // SSRC 2
    ];
    assert_eq!(&buf[..n], &expected);
    let Some(Ok(RtcpPacket::Remb {
        sender,
        bitrate_bps,
        ssrcs,
    })) = compound(&buf[..n]).next()
    else {
        panic!("not a REMB");
    };
    assert_eq!((sender, bitrate_bps), (SENDER, 1_500_000));
    assert_eq!(ssrcs.collect::<Vec<_>>(), [MEDIA, Ssrc(5)]);

    let n = write_remb(&mut buf, SENDER, (1 << 40) + 1, &[]).unwrap();
    let Some(Ok(RtcpPacket::Remb { bitrate_bps, .. })) = compound(&buf[..n]).next() else {
        panic!("not a REMB");
    };
    assert_eq!(bitrate_bps, 1 << 40);
}

#[test]
fn remb_bitrate_saturates() {
    let pkt = [
        0x8F, // V=2, FMT=15
        206,  // PT=PSFB
        0x00, 0x04, // length: 5 words
        0x11, 0x22, 0x33, 0x44, // sender SSRC
        0x00, 0x00, 0x00, 0x00, // media SSRC
        b'R', b'E', b'M', b'B', // unique identifier
        0x00, // no SSRCs
        0xFF, 0xFF, 0xFF, // exponent 63, mantissa 0x3FFFF
    ];
    let Some(Ok(RtcpPacket::Remb { bitrate_bps, .. })) = compound(&pkt).next() else {
        panic!("not a REMB");
    };
    assert_eq!(bitrate_bps, u64::MAX);
}

#[test]
fn bye_with_reason_and_other_types() {
    let pkt = [
        0x81, // V=2, SC=1
        203,  // PT=BYE
        0x00, 0x02, // length: 3 words
        0x11, 0x22, 0x33, 0x44, // SSRC leaving
        0x03, // reason length 3
        b'b', b'y', b'e', // reason
        0x80, // V=2, subtype 0
        204,  // PT=APP
        0x00, 0x01, // length: 2 words
        b'n', b'a', b'm', b'e', // APP name
    ];
    let packets: Vec<_> = compound(&pkt).map(Result::unwrap).collect();
    let RtcpPacket::Bye { ssrcs, reason } = packets[0].clone() else {
        panic!("not a BYE");
    };
    assert_eq!(ssrcs.collect::<Vec<_>>(), [SENDER]);
    assert_eq!(reason, Some(&b"bye"[..]));
    assert_eq!(
        packets[1],
        RtcpPacket::Other {
            pt: 204,
            fmt: 0,
            body: b"name"
        }
    );
}

#[test]
fn reduced_size_pli_with_padding() {
    let pkt = [
        0xA1, // V=2, P=1, FMT=1
        206,  // PT=PSFB
        0x00, 0x03, // length: 4 words
        0x11, 0x22, 0x33, 0x44, // sender SSRC
        0xDE, 0xAD, 0xBE, 0xEF, // media SSRC
        0x00, 0x00, 0x00, 0x04, // padding, count 4
    ];
    let packets: Vec<_> = compound(&pkt).collect();
    assert_eq!(
        packets,
        [Ok(RtcpPacket::Pli {
            sender: SENDER,
            media: MEDIA
        })]
    );
}

#[test]
fn length_checks_and_stop_after_the_first_error() {
    // The NACK's length is cut by the end of the datagram.
    let cut = &COMPOUND[..COMPOUND.len() - 40];
    let results: Vec<_> = compound(cut).collect();
    assert_eq!(results.len(), 3);
    assert_eq!(results[2], Err(RtcpError::Truncated));
    assert_eq!(
        compound(&[0x81, 200]).collect::<Vec<_>>(),
        [Err(RtcpError::Truncated)]
    );

    let mut bad = COMPOUND.to_vec();
    bad[0] = 0x41; // V=1
    assert_eq!(
        compound(&bad).collect::<Vec<_>>(),
        [Err(RtcpError::BadVersion(1))]
    );

    let mut bad = COMPOUND.to_vec();
    bad[0] = 0x82; // RC=2, but only one block is there
    assert_eq!(
        compound(&bad).collect::<Vec<_>>(),
        [Err(RtcpError::Malformed { pt: PT_SR })]
    );

    let mut padded = [0u8; 12];
    write_pli(&mut padded, SENDER, MEDIA).unwrap();
    padded[0] |= 0x20; // P=1, last byte 0xEF: more padding than body
    assert_eq!(
        compound(&padded).collect::<Vec<_>>(),
        [Err(RtcpError::BadPadding)]
    );
    padded[11] = 0; // a count of zero
    assert_eq!(
        compound(&padded).collect::<Vec<_>>(),
        [Err(RtcpError::BadPadding)]
    );

    let short_feedback = [0x81, 206, 0x00, 0x01, 0x11, 0x22, 0x33, 0x44];
    assert_eq!(
        compound(&short_feedback).collect::<Vec<_>>(),
        [Err(RtcpError::Malformed { pt: PT_PSFB })]
    );
}

#[test]
fn writer_errors() {
    let mut small = [0u8; 11];
    assert_eq!(
        write_pli(&mut small, SENDER, MEDIA),
        Err(RtcpError::BufferTooSmall)
    );
    let mut buf = [0u8; 1024];
    let blocks = [ReportBlock::default(); 32];
    assert!(matches!(
        write_receiver_report(&mut buf, SENDER, &blocks),
        Err(RtcpError::Unencodable(_))
    ));
    let long = "x".repeat(256);
    assert!(matches!(
        write_sdes_cname(&mut buf, SENDER, &long),
        Err(RtcpError::Unencodable(_))
    ));
}

#[test]
fn sdes_cname_lengths_pad_to_32_bits() {
    for len in 0..8 {
        let cname = "abcdefgh".get(..len).unwrap();
        let mut buf = [0u8; 32];
        let n = write_sdes_cname(&mut buf, SENDER, cname).unwrap();
        assert_eq!(n % 4, 0);
        let Some(Ok(RtcpPacket::Sdes(body))) = compound(&buf[..n]).next() else {
            panic!("not SDES");
        };
        let items: Vec<_> = sdes_items(body).collect();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].value, cname.as_bytes());
    }
}
