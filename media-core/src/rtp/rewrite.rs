//! Writing a subscriber's copy of a received RTP packet: new SSRC, payload type, sequence
//! number and timestamp, header extensions remapped to the subscriber's ids (RFC 8285),
//! and RTX retransmissions (RFC 4588 section 4).
//!
//! The source's CSRCs and payload are kept; its padding is dropped (padding exists to
//! pad the sender's packets, and SRTP re-encryption does not need it).

use super::ext::{ElementSink, ExtPlan};
use super::header::{RtpHeader, FIXED_HEADER_LEN};
use super::wire::Cursor;
use super::{ExtMap, RtpError};
use crate::ids::{ExtId, Mid, Pt, RtpTime, SeqNo, Ssrc, TwccSeq};

/// Largest extension block [`rewrite_in_place`] builds; it is assembled on the stack
/// before the payload moves. Larger blocks need [`rewrite`] into a second buffer.
pub const IN_PLACE_EXT_MAX: usize = 1024;

/// What the subscriber's copy of a packet carries in place of the source's values.
#[derive(Debug, Clone, Copy)]
pub struct RewriteSpec<'a> {
    /// The subscriber's payload type.
    pub pt: Pt,
    /// The subscriber's sequence number.
    pub seq: SeqNo,
    /// The subscriber's timestamp.
    pub ts: RtpTime,
    /// The subscriber's SSRC.
    pub ssrc: Ssrc,
    /// The marker bit.
    pub marker: bool,
    /// Which source extensions are kept, and under which subscriber ids.
    pub ext_map: &'a ExtMap,
    /// The subscriber's MID extension id and value (RFC 8843 section 15), written in place
    /// of any source element that `ext_map` maps to the same id.
    pub mid: Option<(ExtId, Mid)>,
    /// The subscriber's transport-wide sequence extension id and value, written in place
    /// of any source element that `ext_map` maps to the same id.
    pub twcc: Option<(ExtId, TwccSeq)>,
}

impl RewriteSpec<'_> {
    /// Calls `f` with each element of the subscriber's extension block, in order: the
    /// source's mapped elements, then the MID, then the transport-wide sequence number.
    fn each_element(
        &self,
        src: &[u8],
        hdr: &RtpHeader,
        f: &mut ElementSink<'_>,
    ) -> Result<(), RtpError> {
        let mid_id = self.mid.map(|(id, _)| id);
        let twcc_id = self.twcc.map(|(id, _)| id);
        for (id, value) in hdr.extensions(src) {
            let Some(dst) = self.ext_map.get(id) else {
                continue;
            };
            if Some(dst) == mid_id || Some(dst) == twcc_id {
                continue;
            }
            f(dst, value)?;
        }
        if let Some((id, mid)) = self.mid {
            f(id, mid.as_bytes())?;
        }
        if let Some((id, seq)) = self.twcc {
            f(id, &seq.0.to_be_bytes())?;
        }

        Ok(())
    }

    fn plan(&self, src: &[u8], hdr: &RtpHeader) -> Result<ExtPlan, RtpError> {
        ExtPlan::new(|f| self.each_element(src, hdr, f))
    }

    /// Writes the 12-byte fixed header: V=2, no padding, X when there is a block.
    fn write_fixed(
        &self,
        out: &mut Cursor<'_>,
        csrc_count: u8,
        has_ext: bool,
    ) -> Result<(), RtpError> {
        if self.pt.0 > 0x7F || csrc_count > 15 {
            return Err(RtpError::InvalidSpec(
                "payload type over 127 or CSRC count over 15",
            ));
        }
        let x = if has_ext { 0x10 } else { 0 };
        let m = if self.marker { 0x80 } else { 0 };
        out.u8(0x80 | x | csrc_count)?;
        out.u8(m | self.pt.0)?;
        out.u16(self.seq.0)?;
        out.u32(self.ts.0)?;

        Ok(out.u32(self.ssrc.0)?)
    }
}

/// The payload of `src` as `hdr` describes it, or [`RtpError::HeaderMismatch`] when `hdr`
/// was parsed from another packet.
fn checked_payload<'a>(src: &'a [u8], hdr: &RtpHeader) -> Result<&'a [u8], RtpError> {
    let end = hdr.header_len.checked_add(hdr.payload_len);
    let csrc_end = FIXED_HEADER_LEN + 4 * usize::from(hdr.csrc_count);
    if hdr.header_len < csrc_end {
        return Err(RtpError::HeaderMismatch);
    }

    end.and_then(|end| src.get(hdr.header_len..end))
        .ok_or(RtpError::HeaderMismatch)
}

/// Writes the subscriber's copy of `src` into `dst` and returns its length.
///
/// The fixed header comes from `spec`; the CSRCs are kept; extensions are mapped through
/// `spec.ext_map` (unmapped ones dropped), the MID and transport-wide sequence replaced
/// or added from `spec`; the payload is copied and padding dropped. The block uses the
/// one-byte form when every id is at most 14 and every value 1..=16 bytes, else two-byte.
pub fn rewrite(
    src: &[u8],
    hdr: &RtpHeader,
    spec: &RewriteSpec<'_>,
    dst: &mut [u8],
) -> Result<usize, RtpError> {
    write_packet(src, hdr, spec, None, dst)
}

/// Writes an RTX retransmission of `src` (RFC 4588 section 4) into `dst`: the header as
/// [`rewrite`] writes it with `spec` naming the RTX payload type, SSRC and sequence
/// number, then the original sequence number `original_seq`, then the original payload.
pub fn write_rtx(
    src: &[u8],
    hdr: &RtpHeader,
    spec: &RewriteSpec<'_>,
    original_seq: SeqNo,
    dst: &mut [u8],
) -> Result<usize, RtpError> {
    write_packet(src, hdr, spec, Some(original_seq), dst)
}

fn write_packet(
    src: &[u8],
    hdr: &RtpHeader,
    spec: &RewriteSpec<'_>,
    original_seq: Option<SeqNo>,
    dst: &mut [u8],
) -> Result<usize, RtpError> {
    let payload = checked_payload(src, hdr)?;
    let plan = spec.plan(src, hdr)?;
    let mut out = Cursor::new(dst);

    spec.write_fixed(&mut out, hdr.csrc_count, plan.block_len() > 0)?;
    out.put(hdr.csrcs(src))?;
    plan.write(&mut out, |f| spec.each_element(src, hdr, f))?;
    if let Some(osn) = original_seq {
        out.u16(osn.0)?;
    }
    out.put(payload)?;

    Ok(out.written())
}

/// Rewrites the packet in `buf[..len]` for a subscriber in place, as [`rewrite`] would,
/// and returns the new length; `buf.len()` is the capacity.
///
/// The new extension block is built on the stack (at most [`IN_PLACE_EXT_MAX`] bytes,
/// else [`RtpError::ExtensionTooLarge`]), then the payload moves with `copy_within` when
/// the header changes size. Meant for the last subscriber, so the received buffer is
/// reused instead of copied. On error `buf` is unchanged.
pub fn rewrite_in_place(
    buf: &mut [u8],
    len: usize,
    hdr: &RtpHeader,
    spec: &RewriteSpec<'_>,
) -> Result<usize, RtpError> {
    let src = buf.get(..len).ok_or(RtpError::HeaderMismatch)?;
    let payload_len = checked_payload(src, hdr)?.len();
    let plan = spec.plan(src, hdr)?;
    let mut block = [0u8; IN_PLACE_EXT_MAX];
    let block = block
        .get_mut(..plan.block_len())
        .ok_or(RtpError::ExtensionTooLarge)?;
    plan.write(&mut Cursor::new(block), |f| spec.each_element(src, hdr, f))?;

    let csrc_end = FIXED_HEADER_LEN + 4 * usize::from(hdr.csrc_count);
    let payload_start = csrc_end + block.len();
    let end = payload_start + payload_len;
    if end > buf.len() {
        return Err(RtpError::BufferTooSmall);
    }
    let mut fixed = [0u8; FIXED_HEADER_LEN];
    spec.write_fixed(
        &mut Cursor::new(&mut fixed),
        hdr.csrc_count,
        !block.is_empty(),
    )?;

    buf.copy_within(hdr.header_len..hdr.header_len + payload_len, payload_start);
    let mut out = Cursor::new(buf);
    out.put(&fixed)?;
    out.reserve(csrc_end - FIXED_HEADER_LEN)?;
    out.put(block)?;

    Ok(end)
}

/// Reads an RTX packet's payload (RFC 4588 section 4): the original sequence number and
/// the offset in `buf` where the original payload starts (it runs for
/// `hdr.payload_len - 2` bytes).
pub fn parse_rtx_osn(buf: &[u8], hdr: &RtpHeader) -> Result<(SeqNo, usize), RtpError> {
    let payload = hdr.payload(buf);
    let Some(&[hi, lo]) = payload.first_chunk::<2>() else {
        return Err(RtpError::RtxTooShort);
    };

    Ok((SeqNo(u16::from_be_bytes([hi, lo])), hdr.header_len + 2))
}
