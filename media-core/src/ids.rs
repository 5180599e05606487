//! Newtypes for the protocol identifiers and the engine's own handles.
//!
//! Every identifier that crosses a module boundary has its own type, so that an SSRC is
//! never passed where a sequence number was meant. The wire types keep the exact width
//! of their RFC 3550 field; [`ExtSeq`] is the 64-bit sequence number extended with its
//! rollover count (RFC 3550 appendix A.1).

use std::fmt;

/// RTP synchronisation source identifier (RFC 3550 section 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ssrc(pub u32);

/// RTP payload type, 7 bits on the wire (RFC 3550 section 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Pt(pub u8);

/// RTP sequence number as it appears on the wire (16 bits, wraps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNo(pub u16);

/// An RTP sequence number extended with its rollover count, so that it never wraps.
///
/// The low 16 bits are the wire value and the upper bits count the rollovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ExtSeq(pub u64);

/// RTP media timestamp (32 bits, wraps; units are the codec clock rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RtpTime(pub u32);

/// Local identifier of an RTP header extension (RFC 8285), 1..=14 for the one-byte form
/// and 1..=255 for the two-byte form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtId(pub u8);

/// Transport-wide sequence number (draft-holmer-rmcat-transport-wide-cc-extensions-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TwccSeq(pub u16);

/// Media identification tag of an SDP m-line (RFC 8843), at most 16 bytes here.
///
/// Stored inline so that it can be copied on the packet path without allocating.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mid {
    len: u8,
    bytes: [u8; Mid::MAX_LEN],
}

impl Mid {
    /// The longest MID accepted; RFC 8843 sets no limit but browsers use one or two digits.
    pub const MAX_LEN: usize = 16;

    /// Builds a MID from its bytes, or `None` when it is empty or longer than [`Mid::MAX_LEN`].
    pub fn new(value: &[u8]) -> Option<Mid> {
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return None;
        }
        let mut bytes = [0; Self::MAX_LEN];
        bytes[..value.len()].copy_from_slice(value);
        Some(Mid {
            len: value.len() as u8,
            bytes,
        })
    }

    /// The MID's bytes as they travel in the RTP header extension.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The MID as text (lossy for non-UTF-8 input, which SDP never produces).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("?")
    }
}

impl fmt::Debug for Mid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mid({})", self.as_str())
    }
}

impl fmt::Display for Mid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ExtSeq {
    /// The 16-bit wire value of this extended sequence number.
    pub fn wire(self) -> SeqNo {
        SeqNo(self.0 as u16)
    }

    /// Extends a wire sequence number relative to the highest extended number seen so far,
    /// choosing the candidate closest to it (RFC 3550 appendix A.1), so that reordered
    /// packets from before a wrap and new packets after a wrap both land correctly.
    pub fn extend(seq: SeqNo, highest: ExtSeq) -> ExtSeq {
        let seq = u64::from(seq.0);
        let roc = highest.0 >> 16;
        let candidate = (roc << 16) | seq;
        let below = candidate.checked_sub(1 << 16);
        let above = candidate + (1 << 16);
        let distance = |c: u64| c.abs_diff(highest.0);
        let mut best = candidate;
        if let Some(b) = below {
            if distance(b) < distance(best) {
                best = b;
            }
        }
        if distance(above) < distance(best) {
            best = above;
        }
        ExtSeq(best)
    }
}

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

handle!(
    /// A support session: the participants that share one relay port and see each other's media.
    SessionId
);
handle!(
    /// One participant's transport in a session (a WHIP publisher or a WHEP viewer).
    ParticipantId
);
handle!(
    /// A track published by a participant (one m-line of its offer).
    TrackId
);
handle!(
    /// The person behind one or more participants (a WHIP publisher and a WHEP viewer of the
    /// same browser tab): the router never feeds a person's own tracks back to them.
    PersonId
);

/// The kind of media an m-line or a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Microphone audio.
    Audio,
    /// Camera or screen video.
    Video,
}

/// A codec that the forwarder can route; forwarding is codec-agnostic, but keyframe
/// detection and codec policy need to know which one a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Opus (RFC 7587), 48 kHz.
    Opus,
    /// VP8 (RFC 7741).
    Vp8,
    /// VP9 (RFC 9628).
    Vp9,
    /// H.264 (RFC 6184).
    H264,
    /// AV1 (AOMedia RTP payload format).
    Av1,
}

impl Codec {
    /// The media kind this codec carries.
    pub fn kind(self) -> MediaKind {
        match self {
            Codec::Opus => MediaKind::Audio,
            _ => MediaKind::Video,
        }
    }

    /// RTP clock rate in Hz.
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Opus => 48_000,
            _ => 90_000,
        }
    }

    /// The encoding name as SDP's `a=rtpmap` spells it.
    pub fn sdp_name(self) -> &'static str {
        match self {
            Codec::Opus => "opus",
            Codec::Vp8 => "VP8",
            Codec::Vp9 => "VP9",
            Codec::H264 => "H264",
            Codec::Av1 => "AV1",
        }
    }

    /// Looks a codec up by its `a=rtpmap` encoding name, ignoring case.
    pub fn from_sdp_name(name: &str) -> Option<Codec> {
        [Codec::Opus, Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Av1]
            .into_iter()
            .find(|c| c.sdp_name().eq_ignore_ascii_case(name))
    }
}

/// Index of a worker thread, `0..workers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(pub usize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extend_follows_wrap_forwards_and_backwards() {
        let before_wrap = ExtSeq(0x1_FFFE);
        assert_eq!(ExtSeq::extend(SeqNo(0xFFFF), before_wrap), ExtSeq(0x1_FFFF));
        assert_eq!(ExtSeq::extend(SeqNo(0x0001), before_wrap), ExtSeq(0x2_0001));
        let after_wrap = ExtSeq(0x2_0002);
        assert_eq!(ExtSeq::extend(SeqNo(0xFFF0), after_wrap), ExtSeq(0x1_FFF0));
        assert_eq!(ExtSeq::extend(SeqNo(5), ExtSeq(3)), ExtSeq(5));
        // At the very start there is nothing below zero to pick.
        assert_eq!(ExtSeq::extend(SeqNo(0xFFFF), ExtSeq(1)), ExtSeq(0xFFFF));
    }

    #[test]
    fn mid_is_bounded_and_round_trips() {
        assert!(Mid::new(b"").is_none());
        assert!(Mid::new(&[b'a'; 17]).is_none());
        let mid = Mid::new(b"video0").expect("short mid");
        assert_eq!(mid.as_bytes(), b"video0");
        assert_eq!(mid.to_string(), "video0");
    }
}
