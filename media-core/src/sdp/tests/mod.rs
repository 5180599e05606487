//! Offer/answer tests over offers shaped like those of Chromium, Firefox, GStreamer
//! webrtcbin, aiortc and OBS (in `tests/fixtures/sdp/`), plus hand-made broken ones.

#![allow(clippy::unwrap_used)]

use std::io::Cursor;

use rtc_sdp::{MediaDescription, SessionDescription};

use super::*;
use crate::ids::{Mid, Ssrc};

mod fixtures;
mod interop;
mod mutation;
mod rules;

pub(super) const CHROMIUM_WHIP: &str =
    include_str!("../../../tests/fixtures/sdp/chromium_whip_sendonly.sdp");
pub(super) const CHROMIUM_WHEP: &str =
    include_str!("../../../tests/fixtures/sdp/chromium_whep_recvonly.sdp");
pub(super) const FIREFOX: &str = include_str!("../../../tests/fixtures/sdp/firefox_sendrecv.sdp");
pub(super) const GSTREAMER: &str =
    include_str!("../../../tests/fixtures/sdp/gstreamer_webrtcbin.sdp");
pub(super) const AIORTC: &str = include_str!("../../../tests/fixtures/sdp/aiortc_sendrecv.sdp");
pub(super) const OBS: &str = include_str!("../../../tests/fixtures/sdp/obs_whip_h264.sdp");

/// Fixtures are stored with LF line ends; offers travel with CRLF.
pub(super) fn crlf(fixture: &str) -> String {
    fixture.replace('\n', "\r\n")
}

pub(super) fn offer_of(fixture: &str) -> Offer {
    parse_offer(&crlf(fixture)).unwrap()
}

pub(super) fn mid(s: &str) -> Mid {
    Mid::new(s.as_bytes()).unwrap()
}

pub(super) fn our_fingerprint() -> Fingerprint {
    Fingerprint {
        algorithm: HashAlgorithm::Sha256,
        value: (0..32).collect(),
    }
}

pub(super) fn our_candidates() -> Vec<Candidate> {
    let candidate = |addr: &str, transport, priority, foundation: &str| Candidate {
        addr: addr.parse().unwrap(),
        transport,
        priority,
        foundation: foundation.to_owned(),
    };
    vec![
        candidate(
            "203.0.113.7:3478",
            CandidateTransport::Udp,
            2_130_706_431,
            "1",
        ),
        candidate(
            "[2001:db8::7]:3478",
            CandidateTransport::Udp,
            2_130_706_175,
            "2",
        ),
        candidate(
            "203.0.113.7:443",
            CandidateTransport::Tcp,
            1_671_430_143,
            "3",
        ),
    ]
}

pub(super) const OUR_UFRAG: &str = "sL1t";
pub(super) const OUR_PWD: &str = "o8Zr2vT4kQ9mW1xY6bN3cP0h";

/// Answers with the given policy; returns the answer and the MIDs `slot_ssrc` was asked for.
pub(super) fn answer_with(
    offer: &Offer,
    accept: &dyn Fn(&OfferedMedia, &CodecConfig) -> bool,
    single_codec_for_tracks: bool,
) -> Result<(Answer, Vec<Mid>), SdpError> {
    let fingerprint = our_fingerprint();
    let candidates = our_candidates();
    let mut asked = Vec::new();
    let mut slot_ssrc = |m: &OfferedMedia| {
        asked.push(m.mid);
        let n = asked.len() as u32;
        (Ssrc(1000 + n), Some(Ssrc(2000 + n)))
    };
    let opts = AnswerOptions {
        ice_ufrag: OUR_UFRAG,
        ice_pwd: OUR_PWD,
        fingerprint: &fingerprint,
        candidates: &candidates,
        accept,
        single_codec_for_tracks,
        slot_ssrc: &mut slot_ssrc,
        cname: "sightline-relay",
        stream_id: "sightline",
    };
    let answer = build_answer(offer, opts)?;
    Ok((answer, asked))
}

pub(super) fn answer_all(offer: &Offer) -> Answer {
    answer_with(offer, &|_, _| true, false).unwrap().0
}

pub(super) fn reparse(sdp: &str) -> SessionDescription {
    SessionDescription::unmarshal(&mut Cursor::new(sdp.as_bytes())).unwrap()
}

pub(super) fn attr<'a>(md: &'a MediaDescription, key: &str) -> Option<&'a str> {
    md.attribute(key).flatten()
}

pub(super) fn all_attrs<'a>(md: &'a MediaDescription, key: &'a str) -> Vec<&'a str> {
    md.attributes
        .iter()
        .filter(|a| a.key == key)
        .filter_map(|a| a.value.as_deref())
        .collect()
}

pub(super) fn direction_of(md: &MediaDescription) -> Option<&'static str> {
    ["sendrecv", "sendonly", "recvonly", "inactive"]
        .into_iter()
        .find(|d| md.has_attribute(d))
}

/// The answer's m-line for `mid`.
pub(super) fn section<'a>(answer: &'a SessionDescription, m: &str) -> &'a MediaDescription {
    answer
        .media_descriptions
        .iter()
        .find(|md| attr(md, "mid") == Some(m))
        .unwrap()
}

/// Checks everything any answer must satisfy against its offer.
pub(super) fn check_answer(offer: &Offer, answer: &Answer) {
    let parsed = reparse(&answer.sdp);
    assert!(parsed.has_attribute("ice-lite"));
    let accepted: Vec<&str> = answer.media.iter().map(|m| m.mid.as_str()).collect();
    let bundle = format!("BUNDLE {}", accepted.join(" "));
    assert_eq!(
        parsed.attribute("group").map(String::as_str),
        Some(bundle.as_str())
    );

    let offered: Vec<Mid> = offer.mids().collect();
    let answered: Vec<&str> = parsed
        .media_descriptions
        .iter()
        .filter_map(|md| attr(md, "mid"))
        .collect();
    assert_eq!(
        answered,
        offered.iter().map(Mid::as_str).collect::<Vec<_>>()
    );

    for md in &parsed.media_descriptions {
        let m = attr(md, "mid").unwrap();
        match answer.media.iter().find(|n| n.mid.as_str() == m) {
            Some(negotiated) => check_accepted(offer, negotiated, md),
            None => assert_eq!(md.media_name.port.value, 0, "rejected m-line {m}"),
        }
    }
    let tag = section(&parsed, accepted[0]);
    assert_eq!(all_attrs(tag, "candidate").len(), 3);
    assert!(tag.has_attribute("end-of-candidates"));
}

pub(super) fn check_accepted(offer: &Offer, negotiated: &NegotiatedMedia, md: &MediaDescription) {
    let offered = offer
        .media
        .iter()
        .find(|m| m.mid == negotiated.mid)
        .unwrap();
    assert_eq!(
        direction_of(md),
        Some(offered.direction.mirrored().sdp_name())
    );
    assert_eq!(negotiated.receives, offered.direction.sends());
    assert_eq!(negotiated.sends, offered.direction.receives());
    assert_eq!(attr(md, "setup"), Some("passive"));
    assert_eq!(
        attr(md, "fingerprint"),
        Some(our_fingerprint().to_string().as_str())
    );
    assert_eq!(attr(md, "ice-ufrag"), Some(OUR_UFRAG));
    assert!(md.has_attribute("rtcp-mux"));
    assert_eq!(md.media_name.port.value, 3478);
    let formats: Vec<String> = negotiated
        .codecs
        .iter()
        .flat_map(|c| std::iter::once(c.pt).chain(c.rtx_pt))
        .map(|pt| pt.0.to_string())
        .collect();
    assert_eq!(md.media_name.formats, formats);
}
