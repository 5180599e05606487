//! Offers shaped like those of real clients: what is read from them and what is answered.

use super::*;
use crate::ids::{Codec, ExtId, MediaKind, Pt, Ssrc};

#[test]
fn every_fixture_parses_and_answers() {
    for fixture in [
        CHROMIUM_WHIP,
        CHROMIUM_WHEP,
        FIREFOX,
        GSTREAMER,
        AIORTC,
        OBS,
    ] {
        let offer = offer_of(fixture);
        let answer = answer_all(&offer);
        check_answer(&offer, &answer);
        // LF-only offers are accepted too.
        assert!(parse_offer(fixture).is_ok());
    }
}

#[test]
fn chromium_whip_offer_reads_tracks_codecs_and_extensions() {
    let offer = offer_of(CHROMIUM_WHIP);
    assert_eq!(offer.ice_ufrag, "Wajb");
    assert_eq!(offer.setup, Setup::Actpass);
    assert_eq!(offer.bundle, vec![mid("0"), mid("1")]);
    let [audio, video] = offer.media.as_slice() else {
        panic!("two m-lines")
    };

    assert_eq!(
        (audio.kind, audio.direction),
        (MediaKind::Audio, Direction::SendOnly)
    );
    let opus = &audio.codecs[..];
    assert_eq!(
        opus.len(),
        1,
        "red, G722, PCMU, PCMA, CN and DTMF are ignored"
    );
    assert_eq!(
        (opus[0].codec, opus[0].pt, opus[0].channels),
        (Codec::Opus, Pt(111), 2)
    );
    assert_eq!(opus[0].fmtp, "minptime=10;useinbandfec=1");
    assert!(opus[0].feedback.transport_cc && !opus[0].feedback.nack);
    assert_eq!(audio.ssrcs, vec![Ssrc(2_716_993_236)]);
    assert_eq!(audio.extensions.len(), 4);

    let pts: Vec<(Codec, u8, Option<u8>)> = video
        .codecs
        .iter()
        .map(|c| (c.codec, c.pt.0, c.rtx_pt.map(|p| p.0)))
        .collect();
    let expected = [
        (Codec::Vp8, 96, Some(97)),
        (Codec::Vp9, 98, Some(99)),
        (Codec::Vp9, 100, Some(101)),
        (Codec::H264, 102, Some(103)),
        (Codec::H264, 104, Some(105)),
        (Codec::H264, 106, Some(107)),
        (Codec::H264, 108, Some(109)),
        (Codec::H264, 127, Some(125)),
        (Codec::H264, 39, Some(40)),
        (Codec::Av1, 45, Some(46)),
        (Codec::H264, 112, Some(113)),
    ];
    assert_eq!(pts, expected, "H265, red, ulpfec and red's rtx are ignored");
    let vp8 = video.codecs[0].feedback;
    assert!(vp8.nack && vp8.nack_pli && vp8.ccm_fir && vp8.transport_cc && vp8.goog_remb);

    let extensions: Vec<(u8, ExtensionUri)> =
        video.extensions.iter().map(|(id, u)| (id.0, *u)).collect();
    assert_eq!(
        extensions,
        [
            (14, ExtensionUri::Toffset),
            (2, ExtensionUri::AbsSendTime),
            (13, ExtensionUri::VideoOrientation),
            (3, ExtensionUri::TransportCc),
            (5, ExtensionUri::PlayoutDelay),
            (4, ExtensionUri::SdesMid),
        ]
    );
    assert_eq!(
        video.rtx_ssrc,
        Some((Ssrc(3_039_814_399), Ssrc(3_399_223_838)))
    );
    assert_eq!(video.ssrcs.len(), 2);
    assert!(video
        .msid
        .as_deref()
        .unwrap()
        .ends_with(" 2b209a16-76c0-4969-a65a-6086b5894540"));
}

#[test]
fn answer_keeps_offer_ids_fmtp_and_feedback() {
    let offer = offer_of(CHROMIUM_WHIP);
    let answer = answer_all(&offer);
    let parsed = reparse(&answer.sdp);
    let video = section(&parsed, "1");

    let extmaps = all_attrs(video, "extmap");
    assert!(extmaps.contains(&"13 urn:3gpp:video-orientation"));
    assert!(extmaps.iter().all(|e| !e.contains("video-content-type")));
    let fmtps = all_attrs(video, "fmtp");
    assert!(fmtps
        .contains(&"104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f"));
    assert!(fmtps.contains(&"97 apt=96"));
    let feedback = all_attrs(video, "rtcp-fb");
    for fb in [
        "96 nack",
        "96 nack pli",
        "96 ccm fir",
        "96 transport-cc",
        "96 goog-remb",
    ] {
        assert!(feedback.contains(&fb), "{fb}");
    }
    assert!(video.has_attribute("rtcp-rsize"));
    assert_eq!(answer.media[1].remote_rtx_ssrc, offer.media[1].rtx_ssrc);
    assert!(
        answer.media.iter().all(|m| m.local_ssrc.is_none()),
        "a publisher has no slots"
    );
}

#[test]
fn candidates_follow_rfc_8839_grammar() {
    let answer = answer_all(&offer_of(OBS));
    let parsed = reparse(&answer.sdp);
    let tag = section(&parsed, "0");
    assert_eq!(
        all_attrs(tag, "candidate"),
        [
            "1 1 udp 2130706431 203.0.113.7 3478 typ host",
            "2 1 udp 2130706175 2001:db8::7 3478 typ host",
            "3 1 tcp 1671430143 203.0.113.7 443 typ host tcptype passive",
        ]
    );
    assert!(answer.sdp.contains("\r\nc=IN IP4 203.0.113.7\r\n"));
    assert!(
        all_attrs(section(&parsed, "1"), "candidate").is_empty(),
        "only the tagged m-line"
    );
}

#[test]
fn codec_policy_rejecting_vp8_leaves_vp9_first() {
    let offer = offer_of(CHROMIUM_WHIP);
    let no_vp8 = |_: &OfferedMedia, c: &CodecConfig| c.codec != Codec::Vp8;
    let (answer, _) = answer_with(&offer, &no_vp8, true).unwrap();
    let video = &answer.media[1];
    assert_eq!(video.codecs.len(), 1);
    assert_eq!(
        (video.codecs[0].codec, video.codecs[0].pt),
        (Codec::Vp9, Pt(98))
    );
    let parsed = reparse(&answer.sdp);
    assert_eq!(section(&parsed, "1").media_name.formats, ["98", "99"]);
    check_answer(&offer, &answer);
}

#[test]
fn policy_rejecting_every_video_codec_rejects_the_m_line() {
    let offer = offer_of(CHROMIUM_WHIP);
    let audio_only = |m: &OfferedMedia, _: &CodecConfig| m.kind == MediaKind::Audio;
    let (answer, _) = answer_with(&offer, &audio_only, false).unwrap();
    assert_eq!(answer.media.len(), 1);
    let parsed = reparse(&answer.sdp);
    assert_eq!(section(&parsed, "1").media_name.port.value, 0);
    assert_eq!(
        parsed.attribute("group").map(String::as_str),
        Some("BUNDLE 0")
    );
    check_answer(&offer, &answer);

    let nothing = |_: &OfferedMedia, _: &CodecConfig| false;
    let refused = answer_with(&offer, &nothing, false).unwrap_err();
    assert!(matches!(refused, SdpError::Unsupported(_)), "{refused}");
}

#[test]
fn single_codec_answers_the_first_accepted_codec_with_its_rtx() {
    let offer = offer_of(CHROMIUM_WHIP);
    let (answer, _) = answer_with(&offer, &|_, _| true, true).unwrap();
    let parsed = reparse(&answer.sdp);
    assert_eq!(section(&parsed, "0").media_name.formats, ["111"]);
    assert_eq!(section(&parsed, "1").media_name.formats, ["96", "97"]);
    assert_eq!(
        all_attrs(section(&parsed, "1"), "rtpmap"),
        ["96 VP8/90000", "97 rtx/90000"]
    );

    let h264_only =
        |_: &OfferedMedia, c: &CodecConfig| matches!(c.codec, Codec::H264 | Codec::Opus);
    let (answer, _) = answer_with(&offer, &h264_only, true).unwrap();
    assert_eq!(answer.media[1].codecs[0].pt, Pt(102));
    assert_eq!(answer.media[1].codecs[0].rtx_pt, Some(Pt(103)));

    let (all, _) = answer_with(&offer, &|_, _| true, false).unwrap();
    assert_eq!(all.media[1].codecs.len(), 11);
}

#[test]
fn single_codec_does_not_apply_to_slots() {
    let offer = offer_of(CHROMIUM_WHEP);
    let (answer, _) = answer_with(&offer, &|_, _| true, true).unwrap();
    assert_eq!(answer.media[1].codecs.len(), 11);
}

#[test]
fn whep_slots_get_our_ssrcs() {
    let offer = offer_of(CHROMIUM_WHEP);
    let (answer, asked) = answer_with(&offer, &|_, _| true, false).unwrap();
    assert_eq!(asked, [mid("0"), mid("1")]);
    check_answer(&offer, &answer);
    let [audio, video] = answer.media.as_slice() else {
        panic!("two m-lines")
    };
    assert!(audio.sends && !audio.receives);
    assert_eq!(
        audio.local_ssrc,
        Some((Ssrc(1001), None)),
        "Opus has no RTX here"
    );
    assert_eq!(video.local_ssrc, Some((Ssrc(1002), Some(Ssrc(2002)))));

    let parsed = reparse(&answer.sdp);
    let v = section(&parsed, "1");
    assert_eq!(direction_of(v), Some("sendonly"));
    assert_eq!(attr(v, "msid"), Some("sightline video-1"));
    assert_eq!(attr(v, "ssrc-group"), Some("FID 1002 2002"));
    assert_eq!(
        all_attrs(v, "ssrc"),
        [
            "1002 cname:sightline-relay",
            "1002 msid:sightline video-1",
            "2002 cname:sightline-relay",
            "2002 msid:sightline video-1",
        ]
    );
    assert!(attr(section(&parsed, "0"), "ssrc-group").is_none());
}

#[test]
fn firefox_rtx_follows_its_primary_and_data_channel_is_rejected() {
    let offer = offer_of(FIREFOX);
    assert_eq!(offer.media.len(), 2, "the data channel is not media");
    assert_eq!(offer.mids().count(), 3);
    let video = &offer.media[1];
    let rtx: Vec<(u8, Option<u8>)> = video
        .codecs
        .iter()
        .map(|c| (c.pt.0, c.rtx_pt.map(|p| p.0)))
        .collect();
    assert_eq!(
        rtx,
        [
            (120, Some(124)),
            (121, Some(125)),
            (126, Some(127)),
            (97, Some(98)),
            (105, Some(106)),
            (103, Some(104)),
            (99, Some(100))
        ]
    );
    assert_eq!(
        offer.media[0].extensions,
        [
            (ExtId(1), ExtensionUri::AudioLevel),
            (ExtId(3), ExtensionUri::SdesMid)
        ]
    );
    assert!(video
        .extensions
        .contains(&(ExtId(6), ExtensionUri::PlayoutDelay)));

    let vp9 = |_: &OfferedMedia, c: &CodecConfig| c.codec != Codec::Vp8;
    let (answer, asked) = answer_with(&offer, &vp9, true).unwrap();
    assert_eq!(
        asked,
        [mid("0"), mid("1")],
        "sendrecv m-lines are slots too"
    );
    let parsed = reparse(&answer.sdp);
    let v = section(&parsed, "1");
    assert_eq!(v.media_name.formats, ["121", "125"]);
    assert_eq!(
        all_attrs(v, "fmtp"),
        ["121 max-fs=12288;max-fr=60", "125 apt=121"]
    );
    assert_eq!(direction_of(v), Some("sendrecv"));

    let data = section(&parsed, "2");
    assert_eq!(
        data.media_name.to_string(),
        "application 0 UDP/DTLS/SCTP webrtc-datachannel"
    );
    assert_eq!(
        parsed.attribute("group").map(String::as_str),
        Some("BUNDLE 0 1")
    );
    check_answer(&offer, &answer);
}

#[test]
fn gstreamer_offer_with_named_mids_and_upper_case_opus() {
    let offer = offer_of(GSTREAMER);
    assert_eq!(offer.bundle, [mid("video0"), mid("audio1")]);
    assert_eq!(offer.media[1].codecs[0].codec, Codec::Opus);
    let answer = answer_all(&offer);
    let parsed = reparse(&answer.sdp);
    assert_eq!(
        attr(section(&parsed, "audio1"), "rtpmap"),
        Some("97 opus/48000/2")
    );
    assert_eq!(
        all_attrs(section(&parsed, "video0"), "candidate").len(),
        3,
        "video0 is tagged"
    );
    assert_eq!(
        offer.media[0].msid.as_deref(),
        Some("user2032259502@host-5a1e7c03 webrtctransceiver0")
    );
}

#[test]
fn aiortc_offer_picks_the_sha_256_fingerprint_of_several() {
    let offer = offer_of(AIORTC);
    assert_eq!(offer.fingerprint.algorithm, HashAlgorithm::Sha256);
    assert_eq!(offer.fingerprint.value[..2], [0x60, 0x43]);
    assert_eq!(
        offer.media[1].rtx_ssrc,
        Some((Ssrc(2_032_259_502), Ssrc(1_324_386_607)))
    );
    let answer = answer_all(&offer);
    let parsed = reparse(&answer.sdp);
    assert_eq!(
        section(&parsed, "2").media_name.to_string(),
        "application 0 DTLS/SCTP 5000"
    );
}
