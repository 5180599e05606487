//! Zero-copy RTP and RTCP for the forwarder's packet path.
//!
//! - [`RtpHeader::parse`] reads an RTP header (RFC 3550 section 5.1) and its header
//!   extensions (RFC 8285) as offsets into the received buffer; [`rewrite`],
//!   [`rewrite_in_place`] and [`write_rtx`] write a subscriber's copy (RFC 4588 for RTX).
//! - [`rtcp::compound`] walks a compound RTCP packet (RFC 3550 section 6, RFC 4585
//!   feedback, RFC 5104 FIR, REMB); the `rtcp::write_*` functions write each kind.
//! - [`codec::is_keyframe`] tells whether a packet starts a keyframe, per codec.
//! - [`is_rtcp`] separates RTCP from RTP on a multiplexed port (RFC 5761 section 4).
//!
//! No per-packet function allocates: parsers borrow the buffer, writers fill the caller's.
//! Every read is bounds-checked, so malformed input gives an error, never a panic.

pub mod codec;
mod ext;
mod header;
mod rewrite;
pub mod rtcp;
mod wire;

pub use ext::{ExtIter, ExtMap};
pub use header::{restore_original, ExtBlock, ExtForm, RtpHeader, FIXED_HEADER_LEN};
pub use rewrite::{
    parse_rtx_osn, rewrite, rewrite_in_place, write_rtx, RewriteSpec, IN_PLACE_EXT_MAX,
};

/// Why an RTP packet could not be parsed or written.
///
/// The first group is the sender's fault (a malformed packet, dropped at trace level);
/// the second is the caller's (see [`RtpError::is_malformed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// The packet is shorter than the 12-byte fixed header.
    #[error("RTP packet of {0} bytes is shorter than the fixed header")]
    TooShort(usize),
    /// The version field is not 2.
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    /// The CSRC count names more sources than the packet holds.
    #[error("CSRC list runs past the end of the packet")]
    CsrcOverrun,
    /// The extension header or its length runs past the end of the packet.
    #[error("header extension runs past the end of the packet")]
    ExtensionOverrun,
    /// The P bit is set but the count is zero or larger than what follows the header.
    #[error("padding count {0} is zero or larger than the payload")]
    BadPadding(u8),
    /// An RTX payload too short to hold the original sequence number.
    #[error("RTX payload has no original sequence number")]
    RtxTooShort,
    /// The destination buffer cannot hold the packet.
    #[error("destination buffer too small")]
    BufferTooSmall,
    /// The rewritten extension block does not fit its length field or the in-place
    /// scratch space.
    #[error("rewritten header extension block too large")]
    ExtensionTooLarge,
    /// The header passed in does not describe the buffer passed with it.
    #[error("RTP header does not match the buffer")]
    HeaderMismatch,
    /// The rewrite spec cannot be encoded.
    #[error("invalid rewrite: {0}")]
    InvalidSpec(&'static str),
}

impl RtpError {
    /// Whether the packet was at fault (drop it) rather than the caller.
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            RtpError::TooShort(_)
                | RtpError::BadVersion(_)
                | RtpError::CsrcOverrun
                | RtpError::ExtensionOverrun
                | RtpError::BadPadding(_)
                | RtpError::RtxTooShort
        )
    }
}

impl From<wire::Full> for RtpError {
    fn from(_: wire::Full) -> Self {
        RtpError::BufferTooSmall
    }
}

/// Whether a datagram on an RTP/RTCP-multiplexed port is RTCP (RFC 5761 section 4):
/// its second byte, an RTCP packet type, is in 192..=223, which RTP payload types 64..=95
/// with the marker bit would collide with, so those are not used for RTP.
pub fn is_rtcp(buf: &[u8]) -> bool {
    matches!(buf.get(1), Some(192..=223))
}

#[cfg(test)]
mod tests;
