//! Offer/answer negotiation for one participant (RFC 3264 as profiled by JSEP, RFC 8829).
//!
//! A participant (a WHIP publisher or a WHEP viewer) sends an SDP offer; [`parse_offer`] turns
//! it into a typed [`Offer`] and [`build_answer`] writes our answer and the
//! [`NegotiatedMedia`] the router works with. The forwarder is an ICE-lite (RFC 8445
//! section 2.5), DTLS-passive (RFC 8842) endpoint that requires BUNDLE (RFC 8843) and
//! rtcp-mux (RFC 5761): every m-line shares one transport.
//!
//! Text is parsed with `rtc-sdp`; the semantics (codecs, RTX, feedback, header extensions,
//! directions) are read here. Anything we do not route is ignored rather than refused, and an
//! offer is refused only when nothing in it is usable or when it breaks a transport rule.
//!
//! Not negotiated: simulcast (`a=simulcast`/`a=rid`; the answer omits them, so browsers send
//! a single layer), two-byte header extension ids above 14, and data channels.

mod answer;
mod codec;
mod extension;
mod offer;
mod text;

#[cfg(test)]
mod tests;

pub use crate::fingerprint::{Fingerprint, HashAlgorithm};
pub use answer::{
    build_answer, Answer, AnswerOptions, Candidate, CandidateTransport, NegotiatedMedia,
};
pub use codec::{h264_profile, CodecConfig, Feedback, H264Profile};
pub use extension::ExtensionUri;
pub use offer::{parse_offer, Direction, Offer, OfferedMedia, Setup};

/// The largest offer accepted, in bytes; browsers' offers are 3 to 10 KiB.
pub const MAX_OFFER_LEN: usize = 64 * 1024;

/// The most m-lines accepted in one offer.
pub const MAX_MEDIA_SECTIONS: usize = 32;

/// Why an offer could not be answered, by who is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The offer is not valid SDP, or lacks what every WebRTC offer must carry (ICE
    /// credentials, a DTLS fingerprint, MIDs); or it is larger than [`MAX_OFFER_LEN`].
    /// The client is at fault: HTTP 400.
    #[error("malformed SDP offer: {0}")]
    Malformed(String),
    /// The offer is valid but cannot be served: no usable codec, no BUNDLE, no rtcp-mux,
    /// a DTLS role we cannot take, too many m-lines. The peer is incompatible: HTTP 422.
    #[error("unsupported SDP offer: {0}")]
    Unsupported(String),
    /// The [`AnswerOptions`] given by our own code cannot be written into SDP (a credential,
    /// CNAME or stream id with characters SDP does not allow). Our bug: HTTP 500.
    #[error("invalid answer options: {0}")]
    InvalidOptions(String),
}

impl SdpError {
    /// The HTTP status a WHIP/WHEP endpoint answers with for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            SdpError::Malformed(_) => 400,
            SdpError::Unsupported(_) => 422,
            SdpError::InvalidOptions(_) => 500,
        }
    }
}

fn malformed(reason: impl Into<String>) -> SdpError {
    SdpError::Malformed(reason.into())
}

fn unsupported(reason: impl Into<String>) -> SdpError {
    SdpError::Unsupported(reason.into())
}
