//! The RTP fixed header, CSRC list and header-extension block (RFC 3550 section 5.1 and
//! 5.3.1), parsed in place: [`RtpHeader`] holds numbers and offsets, never the bytes.

use super::ext::ExtIter;
use super::wire::Reader;
use super::RtpError;
use crate::ids::{ExtId, Pt, RtpTime, SeqNo, Ssrc};

/// Length of the RTP fixed header, before the CSRC list.
pub const FIXED_HEADER_LEN: usize = 12;

/// The "defined by profile" value of the one-byte extension form (RFC 8285 section 4.2).
pub const ONE_BYTE_PROFILE: u16 = 0xBEDE;

/// The two-byte extension form (RFC 8285 section 4.3): 0x100 in the upper 12 bits and
/// four application bits below.
pub const TWO_BYTE_PROFILE: u16 = 0x1000;

/// The header-extension block of a packet: its profile and where its data lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtBlock {
    /// The 16-bit "defined by profile" field.
    pub profile: u16,
    /// Offset in the packet of the first byte after the 4-byte extension header.
    pub data_start: usize,
    /// Length of the extension data in bytes (the length field times four).
    pub data_len: usize,
}

/// Which RFC 8285 form an extension block uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtForm {
    /// One-byte headers: ids 1..=14, values 1..=16 bytes.
    OneByte,
    /// Two-byte headers: ids 1..=255, values 0..=255 bytes, with four application bits.
    TwoByte {
        /// The low four bits of the profile field.
        appbits: u8,
    },
    /// A profile this module does not know; its data is kept opaque.
    Other(u16),
}

impl ExtBlock {
    /// The RFC 8285 form named by the profile field.
    pub fn form(&self) -> ExtForm {
        match self.profile {
            ONE_BYTE_PROFILE => ExtForm::OneByte,
            p if p & 0xFFF0 == TWO_BYTE_PROFILE => ExtForm::TwoByte {
                appbits: (p & 0x000F) as u8,
            },
            p => ExtForm::Other(p),
        }
    }
}

/// A parsed RTP header: every field a forwarder routes on, plus the offsets of the
/// extension block and payload in the buffer it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// The marker bit (end of a video frame, start of a talkspurt).
    pub marker: bool,
    /// Payload type.
    pub pt: Pt,
    /// Sequence number.
    pub seq: SeqNo,
    /// Media timestamp.
    pub ts: RtpTime,
    /// Synchronisation source.
    pub ssrc: Ssrc,
    /// Number of CSRCs after the fixed header (0..=15).
    pub csrc_count: u8,
    /// Length of fixed header, CSRC list and extension block: the payload's offset.
    pub header_len: usize,
    /// The header-extension block, when the X bit is set.
    pub ext: Option<ExtBlock>,
    /// Payload length, without the padding.
    pub payload_len: usize,
    /// Number of padding bytes at the end of the packet, the count byte included.
    pub padding_len: u8,
}

impl RtpHeader {
    /// Parses the packet in `buf` (the whole datagram after SRTP decryption).
    ///
    /// Only version 2 is accepted, and the CSRC list, extension block and padding are
    /// each checked against the buffer's length.
    pub fn parse(buf: &[u8]) -> Result<RtpHeader, RtpError> {
        // RFC 3550 section 5.1:
        //  0                   1                   2                   3
        //  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
        // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
        // |V=2|P|X|  CC   |M|     PT      |       sequence number         |
        // |                           timestamp                           |
        // |           synchronization source (SSRC) identifier            |
        // |            contributing source (CSRC) identifiers             |
        let mut r = Reader::new(buf);
        let (Some(b0), Some(b1), Some(seq), Some(ts), Some(ssrc)) =
            (r.u8(), r.u8(), r.u16(), r.u32(), r.u32())
        else {
            return Err(RtpError::TooShort(buf.len()));
        };
        if b0 >> 6 != 2 {
            return Err(RtpError::BadVersion(b0 >> 6));
        }
        let csrc_count = b0 & 0x0F;
        r.take(4 * usize::from(csrc_count))
            .ok_or(RtpError::CsrcOverrun)?;

        let ext = if b0 & 0x10 != 0 {
            Some(parse_ext_block(&mut r, buf.len())?)
        } else {
            None
        };
        let header_len = buf.len() - r.rest().len();

        let padding_len = if b0 & 0x20 != 0 {
            padding(r.rest())?
        } else {
            0
        };

        Ok(RtpHeader {
            marker: b1 & 0x80 != 0,
            pt: Pt(b1 & 0x7F),
            seq: SeqNo(seq),
            ts: RtpTime(ts),
            ssrc: Ssrc(ssrc),
            csrc_count,
            header_len,
            ext,
            payload_len: r.rest().len() - usize::from(padding_len),
            padding_len,
        })
    }

    /// The payload, without padding, of the packet this header was parsed from.
    ///
    /// Empty when `buf` is not that packet and is too short.
    pub fn payload<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        let end = self.header_len.saturating_add(self.payload_len);
        buf.get(self.header_len..end).unwrap_or(&[])
    }

    /// The CSRC list as raw bytes, four per source.
    pub fn csrcs<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        let end = FIXED_HEADER_LEN + 4 * usize::from(self.csrc_count);
        buf.get(FIXED_HEADER_LEN..end).unwrap_or(&[])
    }

    /// The extension elements of the packet, padding bytes skipped.
    ///
    /// Yields nothing when there is no block or its profile is neither RFC 8285 form.
    pub fn extensions<'a>(&self, buf: &'a [u8]) -> ExtIter<'a> {
        let Some(block) = self.ext else {
            return ExtIter::empty();
        };
        let end = block.data_start.saturating_add(block.data_len);
        let data = buf.get(block.data_start..end).unwrap_or(&[]);
        match block.form() {
            ExtForm::OneByte => ExtIter::one_byte(data),
            ExtForm::TwoByte { .. } => ExtIter::two_byte(data),
            ExtForm::Other(_) => ExtIter::empty(),
        }
    }

    /// The value of the first extension element with local id `id`.
    pub fn extension<'a>(&self, buf: &'a [u8], id: ExtId) -> Option<&'a [u8]> {
        self.extensions(buf)
            .find(|(found, _)| *found == id)
            .map(|(_, value)| value)
    }
}

/// Reads the 4-byte extension header and skips its data (RFC 3550 section 5.3.1):
///
/// ```text
/// |      defined by profile       |           length              |
/// |                        header extension                       |
/// ```
fn parse_ext_block(r: &mut Reader<'_>, packet_len: usize) -> Result<ExtBlock, RtpError> {
    let (Some(profile), Some(words)) = (r.u16(), r.u16()) else {
        return Err(RtpError::ExtensionOverrun);
    };
    let data_start = packet_len - r.rest().len();
    let data_len = 4 * usize::from(words);
    r.take(data_len).ok_or(RtpError::ExtensionOverrun)?;

    Ok(ExtBlock {
        profile,
        data_start,
        data_len,
    })
}

/// The padding count from the last byte of the packet, checked against what follows the
/// header (RFC 3550 section 5.1: the count includes itself, so it is at least one).
fn padding(after_header: &[u8]) -> Result<u8, RtpError> {
    let Some(&count) = after_header.last() else {
        return Err(RtpError::BadPadding(0));
    };
    if count == 0 || usize::from(count) > after_header.len() {
        return Err(RtpError::BadPadding(count));
    }

    Ok(count)
}

/// Overwrites the payload type (keeping the marker bit), sequence number and SSRC of the RTP
/// packet in `buf` (RFC 3550 section 5.1 offsets) and clears its padding bit; used when an
/// RTX packet is turned back into the packet it repairs.
pub fn restore_original(buf: &mut [u8], pt: Pt, seq: SeqNo, ssrc: Ssrc) -> Result<(), RtpError> {
    if buf.len() < FIXED_HEADER_LEN {
        return Err(RtpError::TooShort(buf.len()));
    }
    buf[0] &= !0x20;
    buf[1] = (buf[1] & 0x80) | (pt.0 & 0x7f);
    buf[2..4].copy_from_slice(&seq.0.to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.0.to_be_bytes());
    Ok(())
}
