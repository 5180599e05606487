//! Proves the interop test peers against each other on loopback, with no forwarder:
//! rtc to rtc once per SRTP profile, a tampered fingerprint refused, aiortc to rtc in both
//! directions through the Rust wrapper, and aiortc to aiortc with real decoded frames. If these fail, interop failures against the
//! forwarder say nothing about the forwarder.

mod common;

use std::time::Duration;

use common::aiortc::{AiortcOptions, AiortcPeer};
use common::json::{quote, Json};
use common::payload::{check_payload, payload_for};
use common::rtc_peer::{run_all_until, tamper_fingerprints, PeerOptions, RtcPeer};
use media_core::ids::{Codec, MediaKind};
use media_core::srtp::SrtpProfile;

const CONNECT: Duration = Duration::from_secs(10);
const MEDIA: Duration = Duration::from_secs(15);
/// Frames of each kind that must arrive intact before a media test passes.
const FRAMES: usize = 20;

fn connect_rtc_pair(sender: &mut RtcPeer, receiver: &mut RtcPeer) -> String {
    let offer = sender.create_offer();
    let answer = receiver
        .create_answer(&offer)
        .expect("rtc answers rtc's offer");
    sender
        .apply_answer(&answer)
        .expect("rtc accepts rtc's answer");
    let connected = run_all_until(&mut [sender, receiver], CONNECT, |p| {
        p[0].is_connected() && p[1].is_connected()
    });
    assert!(
        connected,
        "rtc peers did not connect: {:?}",
        sender.errors()
    );
    answer
}

fn rtc_to_rtc(profile: SrtpProfile, video_codec: Codec, answerer_is_dtls_client: bool) {
    let mut sender = RtcPeer::new(PeerOptions {
        video_codec,
        ..PeerOptions::sender().with_profile(profile)
    });
    let mut receiver = RtcPeer::new(PeerOptions {
        video_codec,
        dtls_role_client: answerer_is_dtls_client,
        ..PeerOptions::receiver()
    });
    let answer = connect_rtc_pair(&mut sender, &mut receiver);
    let setup = if answerer_is_dtls_client {
        "active"
    } else {
        "passive"
    };
    assert!(answer.contains(&format!("a=setup:{setup}")), "{answer}");
    assert_eq!(sender.negotiated_srtp_profile(), Some(profile));
    assert_eq!(receiver.negotiated_srtp_profile(), Some(profile));

    sender.start_streaming();
    let enough = run_all_until(&mut [&mut sender, &mut receiver], MEDIA, |p| {
        p[1].verified(MediaKind::Audio) >= FRAMES && p[1].verified(MediaKind::Video) >= FRAMES
    });
    assert!(
        enough,
        "too few intact frames: {} packets",
        receiver.received().len()
    );
    assert_eq!(receiver.corrupt(), 0);
    let first_video = receiver
        .received()
        .iter()
        .find(|p| p.kind == MediaKind::Video);
    let stamp = check_payload(&first_video.expect("video arrived").payload).expect("stamped");
    assert_eq!(stamp.codec, video_codec);
    assert!(
        stamp.index == 0 && stamp.keyframe,
        "the first video frame is a keyframe"
    );
}

#[test]
fn rtc_to_rtc_media_arrives_unchanged_with_aes_128_gcm() {
    rtc_to_rtc(SrtpProfile::AeadAes128Gcm, Codec::Vp8, false);
}

#[test]
fn rtc_to_rtc_media_arrives_unchanged_with_aes_cm_sha1_80() {
    rtc_to_rtc(SrtpProfile::Aes128CmSha1_80, Codec::Vp8, false);
}

#[test]
fn rtc_to_rtc_h264_with_the_answerer_as_dtls_client() {
    rtc_to_rtc(SrtpProfile::AeadAes128Gcm, Codec::H264, true);
}

#[test]
fn rtc_receiver_pli_brings_a_keyframe() {
    let mut sender = RtcPeer::new(PeerOptions::sender());
    let mut receiver = RtcPeer::new(PeerOptions::receiver());
    connect_rtc_pair(&mut sender, &mut receiver);
    sender.start_streaming();
    run_all_until(&mut [&mut sender, &mut receiver], MEDIA, |p| {
        p[1].verified(MediaKind::Video) >= 5
    });
    assert!(
        receiver.send_pli(MediaKind::Video),
        "there is a video stream to ask"
    );
    let keyframe_again = run_all_until(&mut [&mut sender, &mut receiver], MEDIA, |p| {
        p[1].received()
            .iter()
            .filter_map(|r| check_payload(&r.payload))
            .any(|s| s.keyframe && s.index > 0)
    });
    assert!(
        keyframe_again && sender.keyframe_requests() >= 1,
        "rtcp {} requests {} errors {:?} {:?}",
        sender.rtcp_received(),
        sender.keyframe_requests(),
        sender.errors(),
        receiver.errors()
    );
}

#[test]
fn rtc_refuses_a_certificate_that_does_not_match_the_offer() {
    let mut sender = RtcPeer::new(PeerOptions::sender());
    let mut receiver = RtcPeer::new(PeerOptions::receiver());
    let offer = tamper_fingerprints(&sender.create_offer());
    let answer = receiver
        .create_answer(&offer)
        .expect("the SDP itself is valid");
    sender
        .apply_answer(&answer)
        .expect("rtc accepts rtc's answer");
    let refused = run_all_until(&mut [&mut sender, &mut receiver], CONNECT, |p| {
        p[0].dtls_failed() && p[1].dtls_failed()
    });
    assert!(
        refused,
        "not refused: {:?} {:?}",
        sender.dtls_error(),
        receiver.dtls_error()
    );
    assert!(!sender.is_connected() && !receiver.is_connected());
    // bad_certificate (RFC 5246 section 7.2.2), sent by the DTLS server that checked.
    assert_eq!(
        receiver.dtls_error(),
        Some("sent DTLS alert (fatal, description 42)")
    );
    assert_eq!(
        sender.dtls_error(),
        Some("received DTLS alert (fatal, description 42)")
    );
}

#[test]
fn aiortc_reports_a_refused_certificate() {
    let mut aiortc = AiortcPeer::spawn(&AiortcOptions::sender());
    let offer = tamper_fingerprints(&aiortc.offer(CONNECT));
    let mut rtc = RtcPeer::new(PeerOptions::receiver());
    let answer = rtc.create_answer(&offer).expect("the SDP itself is valid");
    aiortc.answer(&answer);
    let refused = rtc.run_until(CONNECT, |rtc| {
        aiortc.pump();
        rtc.dtls_failed() && aiortc.status().failed.is_some()
    });
    assert!(
        refused,
        "{:?} {:?}\n{}",
        rtc.dtls_error(),
        aiortc.status(),
        aiortc.stderr()
    );
    assert!(!aiortc.status().connected && !rtc.is_connected());
}

fn aiortc_receives_from_rtc(profile: SrtpProfile) {
    let mut aiortc = AiortcPeer::spawn(&AiortcOptions::receiver().with_profile(profile));
    let offer = aiortc.offer(CONNECT);
    let mut rtc = RtcPeer::new(PeerOptions::sender());
    let answer = rtc
        .create_answer(&offer)
        .expect("rtc answers aiortc's offer");
    aiortc.answer(&answer);
    let connected = rtc.run_until(CONNECT, |rtc| {
        aiortc.pump();
        rtc.is_connected() && aiortc.status().connected
    });
    assert!(
        connected,
        "aiortc and rtc did not connect; aiortc stderr:\n{}",
        aiortc.stderr()
    );
    assert_eq!(rtc.negotiated_srtp_profile(), Some(profile));

    rtc.start_streaming();
    let enough = rtc.run_until(MEDIA, |_| {
        aiortc.pump();
        let s = aiortc.status();
        s.audio.stamped >= FRAMES as u64 && s.video.stamped >= FRAMES as u64
    });
    let status = aiortc.stop(CONNECT);
    assert!(
        enough,
        "aiortc got too few intact frames: {status:?}\n{}",
        aiortc.stderr()
    );
    assert_eq!((status.audio.corrupt, status.video.corrupt), (0, 0));
    assert_eq!(
        status.video.ssrcs,
        vec![rtc.sending_ssrc(MediaKind::Video).expect("sends").0]
    );
}

#[test]
fn aiortc_receiver_verifies_rtc_payloads_with_aes_128_gcm() {
    aiortc_receives_from_rtc(SrtpProfile::AeadAes128Gcm);
}

#[test]
fn aiortc_receiver_verifies_rtc_payloads_with_aes_cm_sha1_80() {
    aiortc_receives_from_rtc(SrtpProfile::Aes128CmSha1_80);
}

#[test]
fn aiortc_sender_reaches_rtc_receiver() {
    let mut aiortc = AiortcPeer::spawn(&AiortcOptions::sender());
    let offer = aiortc.offer(CONNECT);
    let mut rtc = RtcPeer::new(PeerOptions::receiver());
    let answer = rtc
        .create_answer(&offer)
        .expect("rtc answers aiortc's offer");
    aiortc.answer(&answer);
    let enough = rtc.run_until(MEDIA, |rtc| {
        aiortc.pump();
        let count = |kind| rtc.received().iter().filter(|p| p.kind == kind).count();
        count(MediaKind::Audio) >= FRAMES && count(MediaKind::Video) >= FRAMES
    });
    assert!(
        enough,
        "rtc got {} packets from aiortc; stderr:\n{}",
        rtc.received().len(),
        aiortc.stderr()
    );
    assert!(aiortc.status().connected);
    // rtc is the DTLS server and, by default, offers only media-core's two profiles.
    assert_eq!(
        rtc.negotiated_srtp_profile(),
        Some(SrtpProfile::AeadAes128Gcm)
    );
}

#[test]
fn aiortc_to_aiortc_decodes_real_frames() {
    let mut sender = AiortcPeer::spawn(&AiortcOptions::sender());
    let receiver_opts = AiortcOptions {
        answerer: true,
        ..AiortcOptions::receiver()
    };
    let mut receiver = AiortcPeer::spawn(&receiver_opts);
    let offer = sender.offer(CONNECT);
    let answer = receiver.answer_offer(&offer, CONNECT);
    sender.answer(&answer);
    let decoded = receiver.wait_until(MEDIA, |s| s.audio.frames >= 10 && s.video.frames >= 10);
    let status = receiver.stop(CONNECT);
    assert!(decoded, "{status:?}\n{}", receiver.stderr());
    assert!(sender.wait_until(CONNECT, |s| s.connected));
    assert_eq!(
        (status.video.stamped, status.video.corrupt),
        (0, 0),
        "real VP8 has no stamp"
    );
}

#[test]
fn stamps_round_trip_and_catch_corruption() {
    for codec in [Codec::Opus, Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Av1] {
        for (index, keyframe) in [(0, true), (7, false), (123_456, true)] {
            let payload = payload_for(codec, index, keyframe);
            let stamp = check_payload(&payload).expect("a fresh payload checks");
            assert_eq!((stamp.codec, stamp.index), (codec, index));
            assert_eq!(stamp.keyframe, keyframe && codec != Codec::Opus);
            let mut corrupt = payload.clone();
            let near_end = corrupt.len() - 7;
            corrupt[near_end] ^= 0x01;
            assert_eq!(check_payload(&corrupt), None, "{codec:?} corruption");
            assert_eq!(check_payload(&payload[..payload.len() - 1]), None);
        }
    }
}

#[test]
fn stamp_prefixes_mark_keyframes_as_their_codecs_do() {
    let vp8_key = payload_for(Codec::Vp8, 0, true);
    assert_eq!(
        vp8_key[1] & 1,
        0,
        "VP8 frame tag P bit is clear on a keyframe"
    );
    assert_eq!(
        &vp8_key[4..7],
        &[0x9D, 0x01, 0x2A],
        "VP8 keyframe start code"
    );
    assert_eq!(payload_for(Codec::Vp8, 1, false)[1] & 1, 1);
    let h264_key = payload_for(Codec::H264, 0, true);
    assert_eq!(h264_key[0] & 0x1F, 24, "STAP-A");
    assert_eq!(h264_key[3] & 0x1F, 7, "SPS first");
    assert_eq!(payload_for(Codec::H264, 1, false)[0] & 0x1F, 1);
}

#[test]
fn json_reads_protocol_lines_and_quote_round_trips() {
    let line = r#"{"offer": "v=0\r\na=x \"y\" \u00e9\ud83d\ude00", "n": 3, "ok": true}"#;
    let value = Json::parse(line).expect("valid json");
    assert_eq!(
        value.get("offer").and_then(Json::as_str),
        Some("v=0\r\na=x \"y\" é😀")
    );
    assert_eq!(value.get("n").and_then(Json::as_u64), Some(3));
    assert_eq!(value.get("ok").and_then(Json::as_bool), Some(true));
    let nested = Json::parse(r#"{"a": [1, {"b": null}], "c": -1.5e2}"#).expect("nested");
    assert_eq!(nested.get("c"), Some(&Json::Number(-150.0)));
    assert!(Json::parse("{\"a\": 1} x").is_err());
    let text = "a=\"b\"\r\n\\\u{1}é";
    assert_eq!(
        Json::parse(&quote(text)).expect("quoted").as_str(),
        Some(text)
    );
}

#[test]
fn tampered_fingerprints_differ_in_every_byte() {
    let sdp = "v=0\r\na=fingerprint:sha-256 00:A5:FF\r\na=setup:actpass\r\n";
    let tampered = tamper_fingerprints(sdp);
    assert_eq!(
        tampered,
        "v=0\r\na=fingerprint:sha-256 FF:5A:00\r\na=setup:actpass\r\n"
    );
}
