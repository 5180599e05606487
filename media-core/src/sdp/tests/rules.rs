//! The negotiation rules on hand-made offers: H.264 profiles, transport and BUNDLE
//! requirements, error kinds, and our own options.

use super::*;
use crate::fingerprint::FingerprintError;
use crate::ids::Ssrc;

#[test]
fn h264_profiles_and_packetization_modes() {
    assert_eq!(
        h264_profile("profile-level-id=42e01f"),
        Some(H264Profile::ConstrainedBaseline)
    );
    assert_eq!(
        h264_profile("profile-level-id=42001f"),
        Some(H264Profile::Baseline)
    );
    assert_eq!(
        h264_profile("profile-level-id=4d001f"),
        Some(H264Profile::Main)
    );
    assert_eq!(
        h264_profile("profile-level-id=4D401F"),
        Some(H264Profile::Main)
    );
    assert_eq!(
        h264_profile("profile-level-id=640c1f"),
        Some(H264Profile::High)
    );
    assert_eq!(
        h264_profile("packetization-mode=1"),
        Some(H264Profile::Baseline)
    );
    assert_eq!(h264_profile("profile-level-id=f4001f"), None, "High 4:4:4");
    assert_eq!(h264_profile("profile-level-id=6e001f"), None, "High 10");
    assert_eq!(h264_profile("profile-level-id=42zz1f"), None);
    assert_eq!(h264_profile("profile-level-id=42e01"), None);

    let offer = parse_offer(&video_offer(&[
        (
            "96",
            "H264/90000",
            "profile-level-id=42e01f;packetization-mode=2",
        ),
        (
            "97",
            "H264/90000",
            "profile-level-id=f4001f;packetization-mode=1",
        ),
        (
            "98",
            "H264/90000",
            "profile-level-id=64001f;packetization-mode=1",
        ),
        ("99", "H264/90000", ""),
        (
            "100",
            "H264/90000",
            "packetization-mode=0;profile-level-id=42e01f",
        ),
    ]))
    .unwrap();
    let pts: Vec<u8> = offer.media[0].codecs.iter().map(|c| c.pt.0).collect();
    assert_eq!(pts, [98, 99, 100]);
    let answer = answer_all(&offer);
    assert!(answer
        .sdp
        .contains("a=fmtp:100 packetization-mode=0;profile-level-id=42e01f\r\n"));
}

/// A minimal valid single-video offer with the given `(pt, rtpmap, fmtp)` formats.
fn video_offer(formats: &[(&str, &str, &str)]) -> String {
    let pts: Vec<&str> = formats.iter().map(|f| f.0).collect();
    let mut sdp = format!(
        "{}m=video 9 UDP/TLS/RTP/SAVPF {}\r\n{}",
        HEAD,
        pts.join(" "),
        MEDIA_TAIL
    );
    for (pt, rtpmap, fmtp) in formats {
        sdp += &format!("a=rtpmap:{pt} {rtpmap}\r\n");
        if !fmtp.is_empty() {
            sdp += &format!("a=fmtp:{pt} {fmtp}\r\n");
        }
    }
    sdp
}

const HEAD: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n";
const MEDIA_TAIL: &str = "c=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtcp-mux\r\n\
a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=setup:actpass\r\n\
a=fingerprint:sha-256 00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:\
10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F\r\n";

fn vp8_offer() -> String {
    video_offer(&[("96", "VP8/90000", "")])
}

fn error_of(sdp: &str) -> SdpError {
    parse_offer(sdp).unwrap_err()
}

#[test]
fn minimal_offer_is_accepted() {
    let offer = parse_offer(&vp8_offer()).unwrap();
    assert_eq!(offer.setup, Setup::Actpass);
    assert_eq!(offer.fingerprint.value, (0..32).collect::<Vec<u8>>());
    check_answer(&offer, &answer_all(&offer));
}

#[test]
fn malformed_offers_are_malformed() {
    let cases = [
        ("garbage", "hello world".to_owned()),
        ("empty", String::new()),
        ("binary", "v=0\r\n\u{1}\u{2}\u{3}".to_owned()),
        (
            "no fingerprint",
            vp8_offer().replace("a=fingerprint:", "a=x-fingerprint:"),
        ),
        ("no ufrag", vp8_offer().replace("a=ice-ufrag:abcd\r\n", "")),
        ("no pwd", vp8_offer().replace("a=ice-pwd:", "a=x-pwd:")),
        (
            "short pwd",
            vp8_offer().replace("abcdefghijklmnopqrstuvwx", "abc"),
        ),
        ("bad digest", vp8_offer().replace(":1F\r\n", ":1G\r\n")),
        ("short digest", vp8_offer().replace(":1E:1F\r\n", "\r\n")),
        (
            "bad setup",
            vp8_offer().replace("setup:actpass", "setup:sideways"),
        ),
        ("bad ssrc", vp8_offer() + "a=ssrc:12x cname:a\r\n"),
        (
            "huge",
            vp8_offer() + &"a=x-padding:0123456789abcdef\r\n".repeat(3000),
        ),
        ("bare CR", vp8_offer() + "a=fmtp:96 x\ra=y\r\n"),
        ("duplicate mid", vp8_offer() + &vp8_offer()[HEAD.len()..]),
    ];
    for (name, sdp) in cases {
        assert!(
            matches!(parse_offer(&sdp), Err(SdpError::Malformed(_))),
            "{name}: {:?}",
            parse_offer(&sdp)
        );
    }
}

#[test]
fn unsupported_offers_are_unsupported() {
    let two_mlines = vp8_offer() + &vp8_offer()[HEAD.len()..].replace("a=mid:0", "a=mid:1");
    let many = vp8_offer()
        + &(1..40)
            .map(|i| format!("m=audio 0 RTP/AVP 0\r\na=mid:a{i}\r\n"))
            .collect::<String>();
    let cases = [
        (
            "setup passive",
            vp8_offer().replace("setup:actpass", "setup:passive"),
        ),
        ("no rtcp-mux", vp8_offer().replace("a=rtcp-mux\r\n", "")),
        (
            "only PCMU",
            vp8_offer()
                .replace(
                    "m=video 9 UDP/TLS/RTP/SAVPF 96",
                    "m=audio 9 UDP/TLS/RTP/SAVPF 0",
                )
                .replace("a=rtpmap:96 VP8/90000", "a=rtpmap:0 PCMU/8000"),
        ),
        ("no BUNDLE", vp8_offer().replace("a=group:BUNDLE 0\r\n", "")),
        ("BUNDLE misses an m-line", two_mlines),
        (
            "sha-1",
            vp8_offer()
                .replace("sha-256 00:01:02:03:", "sha-1 ")
                .replace(":14:15:16:17:18:19:1A:1B:1C:1D:1E:1F", ""),
        ),
        ("no mid", vp8_offer().replace("a=mid:0\r\n", "")),
        ("too many m-lines", many),
        (
            "ice-lite offerer",
            vp8_offer().replace("t=0 0\r\n", "t=0 0\r\na=ice-lite\r\n"),
        ),
        (
            "plain RTP",
            vp8_offer().replace("UDP/TLS/RTP/SAVPF", "RTP/AVP"),
        ),
        ("stopped", vp8_offer().replace("m=video 9", "m=video 0")),
        ("VP8 at 8 kHz", vp8_offer().replace("VP8/90000", "VP8/8000")),
    ];
    for (name, sdp) in cases {
        assert!(
            matches!(parse_offer(&sdp), Err(SdpError::Unsupported(_))),
            "{name}: {:?}",
            parse_offer(&sdp)
        );
    }
    assert_eq!(error_of("x").http_status(), 400);
    assert_eq!(
        error_of(&vp8_offer().replace("a=rtcp-mux\r\n", "")).http_status(),
        422
    );
}

#[test]
fn stopped_and_bundle_only_m_lines() {
    let stopped = vp8_offer()
        + &vp8_offer()[HEAD.len()..]
            .replace("m=video 9", "m=video 0")
            .replace("a=mid:0", "a=mid:1");
    let offer = parse_offer(&stopped).unwrap();
    assert!(offer.media[1].rejected);
    let answer = answer_all(&offer);
    assert_eq!(answer.media.len(), 1);
    check_answer(&offer, &answer);

    let bundle_only = vp8_offer().replace("BUNDLE 0", "BUNDLE 0 1")
        + &vp8_offer()[HEAD.len()..]
            .replace("m=video 9", "m=video 0")
            .replace("a=mid:0", "a=mid:1\r\na=bundle-only")
            .replace("a=rtcp-mux\r\n", "");
    let offer = parse_offer(&bundle_only).unwrap();
    assert!(!offer.media[1].rejected);
    let answer = answer_all(&offer);
    assert_eq!(answer.media.len(), 2);
    check_answer(&offer, &answer);
}

#[test]
fn setup_active_and_session_level_direction() {
    let offer = parse_offer(&vp8_offer().replace("setup:actpass", "setup:active")).unwrap();
    assert_eq!(offer.setup, Setup::Active);
    let no_setup = vp8_offer()
        .replace("a=setup:actpass\r\n", "")
        .replace("a=sendonly\r\n", "");
    let offer = parse_offer(&no_setup.replace("t=0 0\r\n", "t=0 0\r\na=recvonly\r\n")).unwrap();
    assert_eq!(offer.setup, Setup::Active, "RFC 4145 default");
    assert_eq!(offer.media[0].direction, Direction::RecvOnly);
    let offer = parse_offer(&no_setup).unwrap();
    assert_eq!(
        offer.media[0].direction,
        Direction::SendRecv,
        "RFC 3264 default"
    );
}

#[test]
fn inactive_m_line_answers_inactive_without_slot() {
    let offer = parse_offer(&vp8_offer().replace("a=sendonly", "a=inactive")).unwrap();
    let (answer, asked) = answer_with(&offer, &|_, _| true, false).unwrap();
    assert!(asked.is_empty());
    assert!(!answer.media[0].sends && !answer.media[0].receives);
    check_answer(&offer, &answer);
}

#[test]
fn invalid_options_are_our_fault() {
    let offer = parse_offer(&vp8_offer()).unwrap();
    let fingerprint = Fingerprint {
        algorithm: HashAlgorithm::Sha384,
        value: vec![1; 32],
    };
    let mut slot = |_: &OfferedMedia| (Ssrc(1), None);
    let opts = AnswerOptions {
        ice_ufrag: OUR_UFRAG,
        ice_pwd: OUR_PWD,
        fingerprint: &fingerprint,
        candidates: &[],
        accept: &|_, _| true,
        single_codec_for_tracks: false,
        slot_ssrc: &mut slot,
        cname: "relay",
        stream_id: "has space",
    };
    let error = build_answer(&offer, opts).unwrap_err();
    assert!(matches!(error, SdpError::InvalidOptions(_)));
    assert_eq!(error.http_status(), 500);
}

#[test]
fn no_candidates_gives_the_jsep_placeholder_address() {
    let offer = parse_offer(&vp8_offer()).unwrap();
    let fingerprint = our_fingerprint();
    let mut slot = |_: &OfferedMedia| (Ssrc(1), None);
    let opts = AnswerOptions {
        ice_ufrag: OUR_UFRAG,
        ice_pwd: OUR_PWD,
        fingerprint: &fingerprint,
        candidates: &[],
        accept: &|_, _| true,
        single_codec_for_tracks: false,
        slot_ssrc: &mut slot,
        cname: "relay",
        stream_id: "s",
    };
    let answer = build_answer(&offer, opts).unwrap();
    assert!(answer
        .sdp
        .contains("m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n"));
    assert!(answer.sdp.contains("a=end-of-candidates\r\n"));
}

#[test]
fn fingerprint_parses_and_displays() {
    let text = "sha-256 26:E0:70:50:E2:7A:CC:4D:22:B2:21:8B:54:51:D5:5D:\
                E1:52:F2:E4:26:F7:8A:45:9C:F1:EF:ED:6D:43:20:34";
    let fingerprint: Fingerprint = text.parse().unwrap();
    assert_eq!(fingerprint.algorithm, HashAlgorithm::Sha256);
    assert_eq!(fingerprint.value.len(), 32);
    assert_eq!(fingerprint.to_string(), text);
    let lower: Fingerprint = text
        .to_lowercase()
        .replace("sha-256", "SHA-256")
        .parse()
        .unwrap();
    assert_eq!(lower, fingerprint);

    assert!(matches!(
        "sha-1 AB:CD".parse::<Fingerprint>(),
        Err(FingerprintError::UnsupportedHash)
    ));
    assert!(matches!(
        "sha-256 AB:CD".parse::<Fingerprint>(),
        Err(FingerprintError::Malformed)
    ));
    assert!(matches!(
        "sha-256".parse::<Fingerprint>(),
        Err(FingerprintError::Malformed)
    ));
    assert!(matches!(
        "sha-512 A:BCD".parse::<Fingerprint>(),
        Err(FingerprintError::Malformed)
    ));
    let sha512 = Fingerprint {
        algorithm: HashAlgorithm::Sha512,
        value: vec![0xAB; 64],
    };
    assert_eq!(sha512.to_string().parse::<Fingerprint>().unwrap(), sha512);
}

#[test]
fn debug_output_hides_ice_passwords() {
    let offer = offer_of(CHROMIUM_WHIP);
    assert!(!format!("{offer:?}").contains(&offer.ice_pwd));
    let answer = answer_all(&offer);
    assert!(answer.sdp.contains(OUR_PWD));
    assert!(!format!("{answer:?}").contains(OUR_PWD));
}
