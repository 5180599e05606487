//! RTP header extensions negotiated with `a=extmap` (RFC 8285 section 5): the URIs the
//! forwarder understands or passes through, and the reading of an m-line's extmaps.

use rtc_sdp::description::common::Attribute;

use super::text;
use crate::ids::{ExtId, MediaKind};

/// A header extension the forwarder accepts; any other URI in an offer is left out of the
/// answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtensionUri {
    /// The m-line's MID in every packet (RFC 8843 section 15.2), for BUNDLE demultiplexing.
    SdesMid,
    /// Transport-wide sequence numbers for congestion control feedback.
    TransportCc,
    /// The sender's 24-bit absolute send time, for receive-side bandwidth estimation.
    AbsSendTime,
    /// Per-packet audio level (RFC 6464).
    AudioLevel,
    /// Camera rotation (3GPP TS 26.114 section 7.4.5, "CVO").
    VideoOrientation,
    /// Transmission time offset (RFC 5450).
    Toffset,
    /// The sender's requested playout delay bounds.
    PlayoutDelay,
}

impl ExtensionUri {
    const ALL: [ExtensionUri; 7] = [
        ExtensionUri::SdesMid,
        ExtensionUri::TransportCc,
        ExtensionUri::AbsSendTime,
        ExtensionUri::AudioLevel,
        ExtensionUri::VideoOrientation,
        ExtensionUri::Toffset,
        ExtensionUri::PlayoutDelay,
    ];

    /// The URI as `a=extmap` spells it.
    pub fn uri(self) -> &'static str {
        match self {
            ExtensionUri::SdesMid => "urn:ietf:params:rtp-hdrext:sdes:mid",
            ExtensionUri::TransportCc => {
                "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
            }
            ExtensionUri::AbsSendTime => {
                "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
            }
            ExtensionUri::AudioLevel => "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            ExtensionUri::VideoOrientation => "urn:3gpp:video-orientation",
            ExtensionUri::Toffset => "urn:ietf:params:rtp-hdrext:toffset",
            ExtensionUri::PlayoutDelay => {
                "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
            }
        }
    }

    /// Looks an accepted extension up by its URI (compared exactly, as RFC 8285 says).
    pub fn from_uri(uri: &str) -> Option<ExtensionUri> {
        Self::ALL.into_iter().find(|e| e.uri() == uri)
    }

    /// Whether the extension means anything on an m-line of this kind.
    pub fn applies_to(self, kind: MediaKind) -> bool {
        match self {
            ExtensionUri::AudioLevel => kind == MediaKind::Audio,
            ExtensionUri::VideoOrientation | ExtensionUri::Toffset | ExtensionUri::PlayoutDelay => {
                kind == MediaKind::Video
            }
            _ => true,
        }
    }
}

/// The accepted extensions of an m-line with the offer's ids, in offer order.
///
/// Ids are kept to the one-byte form, 1 to 14 (RFC 8285 section 4.2), so the answer never
/// needs `a=extmap-allow-mixed`; an extension offered only with a larger id is left out.
/// A repeated id or URI keeps its first mapping, and an extension the offerer marked
/// `inactive` is left out.
pub(super) fn read_extmaps(
    attributes: &[Attribute],
    kind: MediaKind,
) -> Vec<(ExtId, ExtensionUri)> {
    let mut accepted: Vec<(ExtId, ExtensionUri)> = Vec::new();
    for value in text::values(attributes, "extmap") {
        let Some((id, uri)) = parse_extmap(value) else {
            continue;
        };
        if !uri.applies_to(kind) || accepted.iter().any(|(i, u)| *i == id || *u == uri) {
            continue;
        }
        accepted.push((id, uri));
    }
    accepted
}

/// Parses `<id>[/<direction>] <uri> [<attributes>]` into an accepted extension.
fn parse_extmap(value: &str) -> Option<(ExtId, ExtensionUri)> {
    let mut fields = value.split_ascii_whitespace();
    let id_field = fields.next()?;
    let uri = ExtensionUri::from_uri(fields.next()?)?;

    let (id, direction) = id_field.split_once('/').unwrap_or((id_field, "sendrecv"));
    if !matches!(direction, "sendrecv" | "sendonly" | "recvonly") {
        return None;
    }
    let id = id.parse::<u8>().ok().filter(|id| (1..=14).contains(id))?;

    Some((ExtId(id), uri))
}
