//! The little SDP work the API does before the engine sees an offer: forcing each m-line's
//! direction to what the endpoint serves (WHIP publishes, WHEP receives), reading the
//! client's ICE username fragment, and checking trickle ICE fragments (RFC 8840).
//!
//! Directions (RFC 3264 section 5.1, RFC 8866 section 6.7): an m-line without its own
//! direction attribute takes the session's, or `sendrecv`. The rewritten offer carries one
//! direction attribute per m-line and none at session level.

use crate::api::live::Direction;
use crate::http::Problem;

/// Longest SDP line accepted; browsers' lines are a few hundred bytes.
const MAX_LINE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Flow {
    fn parse(line: &str) -> Option<Flow> {
        match line {
            "a=sendrecv" => Some(Flow::SendRecv),
            "a=sendonly" => Some(Flow::SendOnly),
            "a=recvonly" => Some(Flow::RecvOnly),
            "a=inactive" => Some(Flow::Inactive),
            _ => None,
        }
    }

    fn attribute(self) -> &'static str {
        match self {
            Flow::SendRecv => "a=sendrecv",
            Flow::SendOnly => "a=sendonly",
            Flow::RecvOnly => "a=recvonly",
            Flow::Inactive => "a=inactive",
        }
    }
}

/// What the offerer's m-line becomes at an endpoint serving `direction`; `video_off`
/// answers video inactive (an agent's camera goes nowhere).
fn served(flow: Flow, direction: Direction, video: bool, video_off: bool) -> Result<Flow, Problem> {
    let flow = match (direction, flow) {
        (_, Flow::Inactive) => Flow::Inactive,
        (Direction::Publish, Flow::SendRecv | Flow::SendOnly) => Flow::SendOnly,
        (Direction::Receive, Flow::SendRecv | Flow::RecvOnly) => Flow::RecvOnly,
        (Direction::Publish, Flow::RecvOnly) => {
            return Err(unusable(
                "a WHIP offer's m-lines must be sendonly or sendrecv",
            ))
        }
        (Direction::Receive, Flow::SendOnly) => {
            return Err(unusable(
                "a WHEP offer's m-lines must be recvonly or sendrecv",
            ))
        }
    };
    Ok(if video && video_off {
        Flow::Inactive
    } else {
        flow
    })
}

/// The offer with every audio and video m-line's direction set for `direction`: publish
/// only for WHIP, receive only for WHEP. 400 for text that is not SDP, 422 when no m-line
/// is left to use or one points the wrong way.
pub(super) fn rewrite_offer(
    offer: &str,
    direction: Direction,
    video_off: bool,
) -> Result<String, Problem> {
    let lines: Vec<&str> = offer.lines().filter(|l| !l.is_empty()).collect();
    if lines.first() != Some(&"v=0") || lines.iter().any(|l| !is_sdp_line(l)) {
        return Err(malformed("the body is not an SDP offer (RFC 8866)"));
    }
    let first_media = lines.iter().position(|l| l.starts_with("m="));
    let Some(first_media) = first_media else {
        return Err(unusable("the offer has no m-lines"));
    };
    let (session, media) = lines.split_at(first_media);
    let session_flow = session.iter().find_map(|l| Flow::parse(l));

    let mut out: Vec<&str> = session
        .iter()
        .filter(|l| Flow::parse(l).is_none())
        .copied()
        .collect();
    let mut usable = 0;
    for section in split_sections(media) {
        let kind = section[0].split(' ').next().unwrap_or_default();
        if kind != "m=audio" && kind != "m=video" {
            out.extend_from_slice(section);
            continue;
        }
        let own = section.iter().find_map(|l| Flow::parse(l));
        let offered = own.or(session_flow).unwrap_or(Flow::SendRecv);
        let flow = served(offered, direction, kind == "m=video", video_off)?;
        usable += usize::from(flow != Flow::Inactive);
        out.extend(section.iter().filter(|l| Flow::parse(l).is_none()));
        out.push(flow.attribute());
    }
    if usable == 0 {
        return Err(unusable("no audio or video m-line is left to use"));
    }
    let mut text = out.join("\r\n");
    text.push_str("\r\n");
    Ok(text)
}

/// The sections of `media`, each starting at its m-line.
fn split_sections<'a>(media: &'a [&'a str]) -> Vec<&'a [&'a str]> {
    let starts: Vec<usize> = media
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("m="))
        .map(|(i, _)| i)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(n, &start)| {
            let end = starts.get(n + 1).copied().unwrap_or(media.len());
            &media[start..end]
        })
        .collect()
}

/// `x=...` with a lowercase letter, within the line limit.
fn is_sdp_line(line: &str) -> bool {
    let bytes = line.as_bytes();
    line.len() <= MAX_LINE && bytes.len() >= 2 && bytes[0].is_ascii_lowercase() && bytes[1] == b'='
}

/// The first `a=ice-ufrag` of an SDP text.
pub(super) fn ice_ufrag(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .map(|u| u.trim().to_owned())
}

/// What a trickle ICE fragment says (RFC 8840 section 4.4).
#[derive(Debug, Default)]
pub(super) struct Fragment {
    /// The client's username fragment: a new one asks for an ICE restart.
    pub ufrag: Option<String>,
    /// The client's password, with a new username fragment.
    pub pwd: Option<String>,
    /// Candidates it carries (the server is ICE-lite and learns addresses from checks).
    pub candidates: usize,
}

/// Reads an `application/trickle-ice-sdpfrag` body: `a=` and `m=` lines only.
pub(super) fn parse_fragment(body: &[u8]) -> Result<Fragment, Problem> {
    let text = std::str::from_utf8(body).map_err(|_| bad_fragment("not UTF-8"))?;
    let mut fragment = Fragment::default();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if !is_sdp_line(line) || !(line.starts_with("a=") || line.starts_with("m=")) {
            return Err(bad_fragment("only a= and m= lines belong in a fragment"));
        }
        if let Some(ufrag) = line.strip_prefix("a=ice-ufrag:") {
            fragment.ufrag = Some(ufrag.trim().to_owned());
        } else if let Some(pwd) = line.strip_prefix("a=ice-pwd:") {
            fragment.pwd = Some(pwd.trim().to_owned());
        } else if line.starts_with("a=candidate:") {
            fragment.candidates += 1;
        }
    }
    Ok(fragment)
}

fn malformed(detail: &str) -> Problem {
    Problem::bad_request("malformed_offer").with_detail(format!("Malformed offer: {detail}."))
}

fn unusable(detail: &str) -> Problem {
    Problem::unprocessable("unusable_offer").with_detail(format!("Unusable offer: {detail}."))
}

fn bad_fragment(detail: &str) -> Problem {
    Problem::bad_request("malformed_fragment")
        .with_detail(format!("Malformed trickle ICE fragment: {detail}."))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=sendrecv\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=recvonly\r\n";

    #[test]
    fn whep_offer_becomes_receive_only() {
        let text = rewrite_offer(OFFER, Direction::Receive, false).unwrap();
        assert_eq!(text.matches("a=recvonly").count(), 2);
        assert!(!text.contains("a=sendrecv"));
    }

    #[test]
    fn whip_offer_that_receives_is_unusable() {
        let problem = rewrite_offer(OFFER, Direction::Publish, false).unwrap_err();
        assert_eq!(problem.error(), "unusable_offer");
    }

    #[test]
    fn agent_video_is_answered_inactive() {
        let offer = OFFER.replace("a=recvonly", "a=sendonly");
        let text = rewrite_offer(&offer, Direction::Publish, true).unwrap();
        assert!(text.ends_with("a=mid:1\r\na=inactive\r\n"));
        assert_eq!(text.matches("a=sendonly").count(), 1);
    }

    #[test]
    fn text_that_is_not_sdp_is_malformed() {
        for body in ["", "hello", "v=0\r\nnot a line\r\n"] {
            let problem = rewrite_offer(body, Direction::Receive, false).unwrap_err();
            assert_eq!(problem.error(), "malformed_offer", "{body:?}");
        }
    }

    #[test]
    fn fragment_reads_credentials_and_candidates() {
        let body = b"a=ice-ufrag:abcd\r\na=ice-pwd:secret\r\nm=audio 9 RTP/AVP 0\r\n\
            a=mid:0\r\na=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\n";
        let fragment = parse_fragment(body).unwrap();
        assert_eq!(fragment.ufrag.as_deref(), Some("abcd"));
        assert_eq!(fragment.candidates, 1);
        assert!(parse_fragment(b"v=0\r\n").is_err());
    }
}
