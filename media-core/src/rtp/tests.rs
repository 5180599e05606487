//! RTP fixtures, written one field per line, parsed, rewritten and compared byte for byte;
//! and a randomised no-panic check over every parser in this module.

#![allow(clippy::unwrap_used)]

use super::codec::is_keyframe;
use super::rtcp::{self, RtcpPacket};
use super::*;
use crate::ids::{Codec, ExtId, Mid, Pt, RtpTime, SeqNo, Ssrc, TwccSeq};

/// One-byte extensions, RTP padding.
const ONE_BYTE_SRC: &[u8] = &[
    0xB0, // V=2, P=1, X=1, CC=0
    0xE0, // M=1, PT=96
    0x12, 0x34, // sequence number 0x1234
    0x00, 0x00, 0x10, 0x00, // timestamp 4096
    0xDE, 0xAD, 0xBE, 0xEF, // SSRC
    0xBE, 0xDE, // profile: one-byte form
    0x00, 0x03, // extension length: 3 words
    0x10, b'a', // id 1 (MID), L=0: "a"
    0x00, // padding between elements
    0x22, 0x01, 0x02, 0x03, // id 2 (abs-send-time), L=2: 3 bytes
    0x31, 0x00, 0x05, // id 3 (transport-cc), L=1: sequence 5
    0x00, 0x00, // padding to 32 bits
    0xAA, 0xBB, 0xCC, 0xDD, 0xEE, // payload
    0x00, 0x00, 0x03, // RTP padding, count 3
];

/// Two-byte extensions, a zero-length element, two CSRCs, no padding.
const TWO_BYTE_SRC: &[u8] = &[
    0x92, // V=2, P=0, X=1, CC=2
    0x60, // M=0, PT=96
    0xFF, 0xFF, // sequence number 65535
    0x00, 0x00, 0x00, 0x01, // timestamp 1
    0x00, 0x00, 0x00, 0x0A, // SSRC 10
    0x11, 0x11, 0x11, 0x11, // CSRC 1
    0x22, 0x22, 0x22, 0x22, // CSRC 2
    0x10, 0x00, // profile: two-byte form, appbits 0
    0x00, 0x03, // extension length: 3 words
    0x01, 0x01, b'a', // id 1 (MID), length 1: "a"
    0x00, // padding between elements
    0x07, 0x00, // id 7, length 0
    0x03, 0x02, 0x00, 0x09, // id 3 (transport-cc), length 2: sequence 9
    0x00, 0x00, // padding to 32 bits
    0x01, 0x02, 0x03, 0x04, // payload
];

fn mid(value: &str) -> Mid {
    Mid::new(value.as_bytes()).unwrap()
}

fn spec(map: &ExtMap) -> RewriteSpec<'_> {
    RewriteSpec {
        pt: Pt(100),
        seq: SeqNo(7),
        ts: RtpTime(0x2000),
        ssrc: Ssrc(0x0102_0304),
        marker: true,
        ext_map: map,
        mid: Some((ExtId(4), mid("v1"))),
        twcc: Some((ExtId(5), TwccSeq(0x0102))),
    }
}

fn map(pairs: &[(u8, u8)]) -> ExtMap {
    let mut map = ExtMap::new();
    for &(src, dst) in pairs {
        map.set(ExtId(src), ExtId(dst));
    }
    map
}

/// Runs `rewrite` and `rewrite_in_place` and checks both give `expected`.
fn assert_rewrites_to(src: &[u8], spec: &RewriteSpec<'_>, expected: &[u8]) {
    let hdr = RtpHeader::parse(src).unwrap();
    let mut dst = [0u8; 1500];
    let n = rewrite(src, &hdr, spec, &mut dst).unwrap();
    assert_eq!(&dst[..n], expected, "rewrite");

    let mut buf = [0u8; 1500];
    buf[..src.len()].copy_from_slice(src);
    let n = rewrite_in_place(&mut buf, src.len(), &hdr, spec).unwrap();
    assert_eq!(&buf[..n], expected, "rewrite_in_place");

    RtpHeader::parse(expected).unwrap();
}

#[test]
fn parse_one_byte_fixture() {
    let hdr = RtpHeader::parse(ONE_BYTE_SRC).unwrap();
    assert!(hdr.marker);
    assert_eq!(hdr.pt, Pt(96));
    assert_eq!(hdr.seq, SeqNo(0x1234));
    assert_eq!(hdr.ts, RtpTime(4096));
    assert_eq!(hdr.ssrc, Ssrc(0xDEAD_BEEF));
    assert_eq!(hdr.csrc_count, 0);
    assert_eq!(hdr.header_len, 28);
    assert_eq!(hdr.ext.unwrap().form(), ExtForm::OneByte);
    assert_eq!(hdr.padding_len, 3);
    assert_eq!(hdr.payload(ONE_BYTE_SRC), &[0xAA, 0xBB, 0xCC, 0xDD, 0xEE]);

    let mut ext = hdr.extensions(ONE_BYTE_SRC);
    assert_eq!(ext.next(), Some((ExtId(1), &b"a"[..])));
    assert_eq!(ext.next(), Some((ExtId(2), &[1, 2, 3][..])));
    assert_eq!(ext.next(), Some((ExtId(3), &[0, 5][..])));
    assert_eq!(ext.next(), None);
    assert_eq!(hdr.extension(ONE_BYTE_SRC, ExtId(3)), Some(&[0, 5][..]));
    assert_eq!(hdr.extension(ONE_BYTE_SRC, ExtId(9)), None);
}

#[test]
fn parse_two_byte_fixture() {
    let hdr = RtpHeader::parse(TWO_BYTE_SRC).unwrap();
    assert!(!hdr.marker);
    assert_eq!(hdr.seq, SeqNo(0xFFFF));
    assert_eq!(hdr.csrc_count, 2);
    assert_eq!(
        hdr.csrcs(TWO_BYTE_SRC),
        &[0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22]
    );
    assert_eq!(hdr.header_len, 36);
    assert_eq!(hdr.ext.unwrap().form(), ExtForm::TwoByte { appbits: 0 });
    assert_eq!(hdr.padding_len, 0);
    assert_eq!(hdr.payload(TWO_BYTE_SRC), &[1, 2, 3, 4]);

    let ext: Vec<_> = hdr.extensions(TWO_BYTE_SRC).collect();
    assert_eq!(
        ext,
        [
            (ExtId(1), &b"a"[..]),
            (ExtId(7), &[][..]),
            (ExtId(3), &[0, 9][..])
        ]
    );
}

#[test]
fn rewrite_one_byte_keeps_one_byte() {
    let map = map(&[(1, 4), (2, 2), (3, 5)]);
    let expected = [
        0x90, // V=2, P=0, X=1, CC=0
        0xE4, // M=1, PT=100
        0x00, 0x07, // sequence number 7
        0x00, 0x00, 0x20, 0x00, // timestamp 0x2000
        0x01, 0x02, 0x03, 0x04, // SSRC
        0xBE, 0xDE, // profile: one-byte form
        0x00, 0x03, // extension length: 3 words
        0x22, 0x01, 0x02, 0x03, // id 2 (abs-send-time) kept
        0x41, b'v', b'1', // id 4: the subscriber's MID "v1" replaces the source's
        0x51, 0x01, 0x02, // id 5: the subscriber's transport-cc sequence 0x0102
        0x00, 0x00, // padding to 32 bits
        0xAA, 0xBB, 0xCC, 0xDD, 0xEE, // payload; RTP padding dropped
    ];
    assert_rewrites_to(ONE_BYTE_SRC, &spec(&map), &expected);
}

#[test]
fn rewrite_one_byte_to_two_byte_for_a_large_id() {
    let map = map(&[(1, 4), (2, 20), (3, 5)]);
    let expected = [
        0x90, // V=2, P=0, X=1, CC=0
        0xE4, // M=1, PT=100
        0x00, 0x07, // sequence number 7
        0x00, 0x00, 0x20, 0x00, // timestamp 0x2000
        0x01, 0x02, 0x03, 0x04, // SSRC
        0x10, 0x00, // profile: two-byte form
        0x00, 0x04, // extension length: 4 words
        0x14, 0x03, 0x01, 0x02, 0x03, // id 20 (abs-send-time), length 3
        0x04, 0x02, b'v', b'1', // id 4 (MID), length 2
        0x05, 0x02, 0x01, 0x02, // id 5 (transport-cc), length 2
        0x00, 0x00, 0x00, // padding to 32 bits
        0xAA, 0xBB, 0xCC, 0xDD, 0xEE, // payload
    ];
    assert_rewrites_to(ONE_BYTE_SRC, &spec(&map), &expected);
}

#[test]
fn rewrite_two_byte_to_one_byte_when_everything_fits() {
    let map = map(&[(1, 1), (3, 3)]);
    let spec = RewriteSpec {
        marker: false,
        mid: Some((ExtId(1), mid("v1"))),
        twcc: Some((ExtId(3), TwccSeq(0x0A0B))),
        ..spec(&map)
    };
    let expected = [
        0x92, // V=2, P=0, X=1, CC=2
        0x64, // M=0, PT=100
        0x00, 0x07, // sequence number 7
        0x00, 0x00, 0x20, 0x00, // timestamp 0x2000
        0x01, 0x02, 0x03, 0x04, // SSRC
        0x11, 0x11, 0x11, 0x11, // CSRC 1 kept
        0x22, 0x22, 0x22, 0x22, // CSRC 2 kept
        0xBE, 0xDE, // profile: one-byte form
        0x00, 0x02, // extension length: 2 words
        0x11, b'v', b'1', // id 1 (MID), L=1
        0x31, 0x0A, 0x0B, // id 3 (transport-cc), L=1; unmapped id 7 dropped
        0x00, 0x00, // padding to 32 bits
        0x01, 0x02, 0x03, 0x04, // payload
    ];
    assert_rewrites_to(TWO_BYTE_SRC, &spec, &expected);
}

#[test]
fn rewrite_keeps_two_byte_for_a_zero_length_value() {
    let map = map(&[(1, 1), (3, 3), (7, 7)]);
    let spec = RewriteSpec {
        marker: false,
        mid: Some((ExtId(1), mid("v1"))),
        twcc: Some((ExtId(3), TwccSeq(0x0A0B))),
        ..spec(&map)
    };
    let expected = [
        0x92, // V=2, P=0, X=1, CC=2
        0x64, // M=0, PT=100
        0x00, 0x07, // sequence number 7
        0x00, 0x00, 0x20, 0x00, // timestamp 0x2000
        0x01, 0x02, 0x03, 0x04, // SSRC
        0x11, 0x11, 0x11, 0x11, // CSRC 1
        0x22, 0x22, 0x22, 0x22, // CSRC 2
        0x10, 0x00, // profile: two-byte form
        0x00, 0x03, // extension length: 3 words
        0x07, 0x00, // id 7, length 0
        0x01, 0x02, b'v', b'1', // id 1 (MID), length 2
        0x03, 0x02, 0x0A, 0x0B, // id 3 (transport-cc), length 2
        0x00, 0x00, // padding to 32 bits
        0x01, 0x02, 0x03, 0x04, // payload
    ];
    assert_rewrites_to(TWO_BYTE_SRC, &spec, &expected);
}

#[test]
fn rewrite_adds_extensions_to_a_packet_without_them() {
    let src = [
        0x80, // V=2, P=0, X=0, CC=0
        0x6F, // M=0, PT=111
        0x00, 0x01, // sequence number 1
        0x00, 0x00, 0x00, 0x02, // timestamp 2
        0x00, 0x00, 0x00, 0x03, // SSRC 3
        0xF0, 0x0D, // payload
    ];
    let map = ExtMap::new();
    let expected = [
        0x90, // V=2, P=0, X=1, CC=0
        0xE4, // M=1, PT=100
        0x00, 0x07, // sequence number 7
        0x00, 0x00, 0x20, 0x00, // timestamp 0x2000
        0x01, 0x02, 0x03, 0x04, // SSRC
        0xBE, 0xDE, // profile: one-byte form
        0x00, 0x02, // extension length: 2 words
        0x41, b'v', b'1', // id 4 (MID)
        0x51, 0x01, 0x02, // id 5 (transport-cc)
        0x00, 0x00, // padding to 32 bits
        0xF0, 0x0D, // payload
    ];
    assert_rewrites_to(&src, &spec(&map), &expected);
}

#[test]
fn rewrite_drops_the_block_when_nothing_is_kept() {
    let map = ExtMap::new();
    let spec = RewriteSpec {
        mid: None,
        twcc: None,
        ..spec(&map)
    };
    let expected = [
        0x80, // V=2, P=0, X=0, CC=0
        0xE4, // M=1, PT=100
        0x00, 0x07, // sequence number 7
        0x00, 0x00, 0x20, 0x00, // timestamp 0x2000
        0x01, 0x02, 0x03, 0x04, // SSRC
        0xAA, 0xBB, 0xCC, 0xDD, 0xEE, // payload
    ];
    assert_rewrites_to(ONE_BYTE_SRC, &spec, &expected);
}

#[test]
fn rewrite_reports_small_buffers_and_leaves_them_unchanged() {
    let map = map(&[(1, 4), (2, 20), (3, 5)]);
    let spec = spec(&map);
    let hdr = RtpHeader::parse(ONE_BYTE_SRC).unwrap();
    let mut dst = [0u8; 36];
    assert_eq!(
        rewrite(ONE_BYTE_SRC, &hdr, &spec, &mut dst),
        Err(RtpError::BufferTooSmall)
    );

    // The two-byte block grows the header from 28 to 32 bytes; with the 5-byte payload
    // that is 37, and dropping the 3 bytes of padding leaves only 36.
    let mut buf = ONE_BYTE_SRC.to_vec();
    assert_eq!(
        rewrite_in_place(&mut buf, ONE_BYTE_SRC.len(), &hdr, &spec),
        Err(RtpError::BufferTooSmall)
    );
    assert_eq!(buf, ONE_BYTE_SRC);
}

#[test]
fn rewrite_rejects_a_header_from_another_packet() {
    let hdr = RtpHeader::parse(ONE_BYTE_SRC).unwrap();
    let map = ExtMap::new();
    let mut dst = [0u8; 64];
    assert_eq!(
        rewrite(&ONE_BYTE_SRC[..20], &hdr, &spec(&map), &mut dst),
        Err(RtpError::HeaderMismatch)
    );
}

#[test]
fn rtx_round_trip() {
    let map = map(&[(2, 2)]);
    let rtx_spec = RewriteSpec {
        pt: Pt(97),
        seq: SeqNo(300),
        ssrc: Ssrc(0x0506_0708),
        mid: None,
        twcc: Some((ExtId(5), TwccSeq(9))),
        ..spec(&map)
    };
    let hdr = RtpHeader::parse(ONE_BYTE_SRC).unwrap();
    let mut dst = [0u8; 64];
    let n = write_rtx(ONE_BYTE_SRC, &hdr, &rtx_spec, SeqNo(7), &mut dst).unwrap();
    let expected = [
        0x90, // V=2, P=0, X=1, CC=0
        0xE1, // M=1, PT=97
        0x01, 0x2C, // RTX sequence number 300
        0x00, 0x00, 0x20, 0x00, // timestamp 0x2000
        0x05, 0x06, 0x07, 0x08, // RTX SSRC
        0xBE, 0xDE, // profile: one-byte form
        0x00, 0x02, // extension length: 2 words
        0x22, 0x01, 0x02, 0x03, // id 2 (abs-send-time)
        0x51, 0x00, 0x09, // id 5 (transport-cc) 9
        0x00, // padding to 32 bits
        0x00, 0x07, // original sequence number 7
        0xAA, 0xBB, 0xCC, 0xDD, 0xEE, // original payload
    ];
    assert_eq!(&dst[..n], &expected);

    let rtx = RtpHeader::parse(&dst[..n]).unwrap();
    let (osn, offset) = parse_rtx_osn(&dst[..n], &rtx).unwrap();
    assert_eq!(osn, SeqNo(7));
    assert_eq!(&dst[offset..n], hdr.payload(ONE_BYTE_SRC));

    let empty = RtpHeader::parse(&dst[..24]).unwrap();
    assert_eq!(
        parse_rtx_osn(&dst[..24], &empty),
        Err(RtpError::RtxTooShort)
    );
}

#[test]
fn truncated_fixed_header_is_an_error() {
    assert_eq!(
        RtpHeader::parse(&ONE_BYTE_SRC[..11]),
        Err(RtpError::TooShort(11))
    );
    assert_eq!(RtpHeader::parse(&[]), Err(RtpError::TooShort(0)));
}

#[test]
fn version_other_than_two_is_an_error() {
    let mut pkt = ONE_BYTE_SRC.to_vec();
    pkt[0] = 0x70; // V=1
    assert_eq!(RtpHeader::parse(&pkt), Err(RtpError::BadVersion(1)));
}

#[test]
fn csrc_count_beyond_the_buffer_is_an_error() {
    let pkt = [
        0x83, // V=2, CC=3
        0x60, // PT=96
        0x00, 0x01, // sequence number
        0x00, 0x00, 0x00, 0x00, // timestamp
        0x00, 0x00, 0x00, 0x01, // SSRC
        0x11, 0x11, 0x11, 0x11, // CSRC 1
        0x22, 0x22, 0x22, 0x22, // CSRC 2; CSRC 3 missing
    ];
    assert_eq!(RtpHeader::parse(&pkt), Err(RtpError::CsrcOverrun));
}

#[test]
fn extension_beyond_the_buffer_is_an_error() {
    // The extension header itself is cut.
    assert_eq!(
        RtpHeader::parse(&ONE_BYTE_SRC[..14]),
        Err(RtpError::ExtensionOverrun)
    );
    let pkt = [
        0x90, // V=2, X=1
        0x60, // PT=96
        0x00, 0x01, // sequence number
        0x00, 0x00, 0x00, 0x00, // timestamp
        0x00, 0x00, 0x00, 0x01, // SSRC
        0xBE, 0xDE, // profile: one-byte form
        0x00, 0x02, // extension length: 2 words, only 1 follows
        0x10, 0x61, 0x00, 0x00, // id 1
    ];
    assert_eq!(RtpHeader::parse(&pkt), Err(RtpError::ExtensionOverrun));
}

#[test]
fn padding_larger_than_the_payload_is_an_error() {
    let mut pkt = [
        0xA0, // V=2, P=1
        0x60, // PT=96
        0x00, 0x01, // sequence number
        0x00, 0x00, 0x00, 0x00, // timestamp
        0x00, 0x00, 0x00, 0x01, // SSRC
        0xAA, // payload
        0x00, 0x03, // padding count 3, but only 3 bytes follow the header
    ];
    let hdr = RtpHeader::parse(&pkt).unwrap();
    assert_eq!((hdr.payload_len, hdr.padding_len), (0, 3));

    pkt[14] = 4;
    assert_eq!(RtpHeader::parse(&pkt), Err(RtpError::BadPadding(4)));
    pkt[14] = 0;
    assert_eq!(RtpHeader::parse(&pkt), Err(RtpError::BadPadding(0)));
    assert_eq!(RtpHeader::parse(&pkt[..12]), Err(RtpError::BadPadding(0)));
}

#[test]
fn one_byte_id_15_ends_the_block_and_overruns_end_it() {
    let pkt = [
        0x90, // V=2, X=1
        0x60, // PT=96
        0x00, 0x01, // sequence number
        0x00, 0x00, 0x00, 0x00, // timestamp
        0x00, 0x00, 0x00, 0x01, // SSRC
        0xBE, 0xDE, // profile: one-byte form
        0x00, 0x02, // extension length: 2 words
        0x10, 0x61, // id 1: "a"
        0xF0, // id 15: stop here
        0x20, 0x62, // id 2, never read
        0x00, 0x00, 0x00, // padding
    ];
    let hdr = RtpHeader::parse(&pkt).unwrap();
    assert_eq!(hdr.extensions(&pkt).count(), 1);

    let mut overrun = pkt;
    overrun[18] = 0x3F; // id 3 claiming 16 bytes
    assert_eq!(hdr.extensions(&overrun).count(), 1);
}

#[test]
fn unknown_extension_profile_yields_nothing() {
    let mut pkt = ONE_BYTE_SRC.to_vec();
    pkt[12] = 0x12; // profile 0x12DE
    let hdr = RtpHeader::parse(&pkt).unwrap();
    assert_eq!(hdr.ext.unwrap().form(), ExtForm::Other(0x12DE));
    assert_eq!(hdr.extensions(&pkt).count(), 0);
}

#[test]
fn ext_map_sets_and_drops() {
    let mut map = ExtMap::new();
    assert_eq!(map.get(ExtId(3)), None);
    map.set(ExtId(3), ExtId(200));
    assert_eq!(map.get(ExtId(3)), Some(ExtId(200)));
    map.set(ExtId(3), ExtId(0));
    assert_eq!(map.get(ExtId(3)), None);
    assert_eq!(map.get(ExtId(255)), None);
}

#[test]
fn rtcp_demultiplexing_rfc5761_section_4() {
    assert!(is_rtcp(&[0x80, 200, 0, 6])); // SR
    assert!(is_rtcp(&[0x81, 205, 0, 3])); // RTPFB
    assert!(!is_rtcp(ONE_BYTE_SRC)); // PT 96 with marker: 0xE0 = 224
    assert!(!is_rtcp(&[0x80, 0x60])); // PT 96
    assert!(!is_rtcp(&[0x80]));
}

/// Exercises every parser, and the writers on what parsed, with `data`; true when it
/// parsed as RTP.
fn exercise(data: &[u8]) -> bool {
    let _ = is_rtcp(data);
    for codec in [Codec::Opus, Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Av1] {
        let _ = is_keyframe(codec, data);
    }
    for packet in rtcp::compound(data) {
        match packet {
            Ok(RtcpPacket::Sdes(body)) => assert!(rtcp::sdes_items(body).count() <= data.len()),
            Ok(RtcpPacket::Nack { fci, .. }) => assert!(fci.lost().count() <= 17 * data.len()),
            Ok(p) => assert!(!format!("{p:?}").is_empty()),
            Err(_) => {}
        }
    }
    let Ok(hdr) = RtpHeader::parse(data) else {
        return false;
    };
    let _ = hdr.extensions(data).count();
    let _ = parse_rtx_osn(data, &hdr);
    let map = map(&[(1, 1), (2, 16), (3, 3)]);
    let spec = RewriteSpec {
        twcc: Some((ExtId(3), TwccSeq(0x0102))),
        ..spec(&map)
    };
    let mut copy = [0u8; 256];
    let copied = rewrite(data, &hdr, &spec, &mut copy);
    let mut rtx = [0u8; 256];
    let _ = write_rtx(data, &hdr, &spec, SeqNo(1), &mut rtx);
    let mut in_place = [0u8; 256];
    in_place[..data.len()].copy_from_slice(data);
    let rewritten = rewrite_in_place(&mut in_place, data.len(), &hdr, &spec);

    // Whatever parsed rewrites the same both ways, and the copy parses with the payload.
    let n = copied.unwrap();
    assert_eq!(rewritten, Ok(n));
    assert_eq!(copy[..n], in_place[..n]);
    let out = RtpHeader::parse(&copy[..n]).unwrap();
    assert_eq!(out.payload(&copy[..n]), hdr.payload(data));
    assert_eq!(out.extension(&copy[..n], ExtId(3)), Some(&[1, 2][..]));
    true
}

#[test]
fn random_bytes_never_panic() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    let mut rng = StdRng::seed_from_u64(0x0511_711E);
    let seeds: [&[u8]; 3] = [ONE_BYTE_SRC, TWO_BYTE_SRC, super::rtcp::tests::COMPOUND];
    let mut buf = [0u8; 128];
    let mut parsed = 0;
    for round in 0..30_000 {
        let len = rng.random_range(0..buf.len());
        if round % 2 == 0 {
            rng.fill(&mut buf[..len]);
        } else {
            // Flip a few bytes of a valid packet, which reaches deeper than noise.
            let seed = seeds[round % seeds.len()];
            let len = len.min(seed.len());
            buf[..len].copy_from_slice(&seed[..len]);
            for _ in 0..rng.random_range(1..4) {
                if len > 0 {
                    buf[rng.random_range(0..len)] = rng.random();
                }
            }
        }
        if round % 3 == 0 && len > 1 {
            buf[0] = 0x80 | (buf[0] & 0x3F); // version 2 so that parsing goes further
        }
        parsed += usize::from(exercise(&buf[..len]));
    }
    assert!(parsed > 3_000, "only {parsed} inputs reached the rewriters");
}
