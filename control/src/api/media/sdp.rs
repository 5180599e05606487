//! The little SDP work the API does itself: reading the client's ICE username fragment
//! from an offer, and reading trickle ICE fragments (RFC 8840), which are not whole SDP
//! documents. Offers are parsed and checked by the media engine (with `rtc-sdp`), which
//! also narrows their directions to what the endpoint serves (`media_core::Flows`).

use crate::http::Problem;

/// Longest SDP line accepted; browsers' lines are a few hundred bytes.
const MAX_LINE: usize = 4096;

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

/// `x=...` with a lowercase letter, within the line limit.
fn is_sdp_line(line: &str) -> bool {
    let bytes = line.as_bytes();
    line.len() <= MAX_LINE && bytes.len() >= 2 && bytes[0].is_ascii_lowercase() && bytes[1] == b'='
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

fn bad_fragment(detail: &str) -> Problem {
    Problem::bad_request("malformed_fragment")
        .with_detail(format!("Malformed trickle ICE fragment: {detail}."))
}

#[cfg(test)]
mod tests {
    use super::*;

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
