//! RTCP writers: each writes one packet into the caller's buffer and returns its length.

use super::{
    ReportBlock, RtcpError, FMT_AFB, FMT_FIR, FMT_NACK, FMT_PLI, PT_PSFB, PT_RR, PT_RTPFB, PT_SDES,
    PT_SR, REMB_ID, SDES_CNAME,
};
use crate::ids::{RtpTime, SeqNo, Ssrc};
use crate::rtp::wire::Cursor;

/// Writes the common header for a packet of `total` bytes (a multiple of four).
fn header(out: &mut Cursor<'_>, count: u8, pt: u8, total: usize) -> Result<(), RtcpError> {
    let words = u16::try_from(total / 4 - 1)
        .map_err(|_| RtcpError::Unencodable("packet longer than the length field"))?;
    out.u8(0x80 | count)?;
    out.u8(pt)?;

    Ok(out.u16(words)?)
}

fn report_count(blocks: &[ReportBlock]) -> Result<u8, RtcpError> {
    match u8::try_from(blocks.len()) {
        Ok(n) if n <= 31 => Ok(n),
        _ => Err(RtcpError::Unencodable("more than 31 report blocks")),
    }
}

fn report_block(out: &mut Cursor<'_>, block: &ReportBlock) -> Result<(), RtcpError> {
    let lost = block.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32;
    out.u32(block.ssrc.0)?;
    out.u32(u32::from(block.fraction_lost) << 24 | lost & 0x00FF_FFFF)?;
    out.u32(block.highest_seq)?;
    out.u32(block.jitter)?;
    out.u32(block.last_sr)?;

    Ok(out.u32(block.delay_since_last_sr)?)
}

/// Writes a sender report (RFC 3550 section 6.4.1) with up to 31 report blocks.
pub fn write_sender_report(
    dst: &mut [u8],
    ssrc: Ssrc,
    ntp: u64,
    rtp_ts: RtpTime,
    packets: u32,
    octets: u32,
    blocks: &[ReportBlock],
) -> Result<usize, RtcpError> {
    let count = report_count(blocks)?;
    let mut out = Cursor::new(dst);
    header(&mut out, count, PT_SR, 28 + 24 * blocks.len())?;
    out.u32(ssrc.0)?;
    out.u64(ntp)?;
    out.u32(rtp_ts.0)?;
    out.u32(packets)?;
    out.u32(octets)?;
    for block in blocks {
        report_block(&mut out, block)?;
    }

    Ok(out.written())
}

/// Writes a receiver report (RFC 3550 section 6.4.2) with up to 31 report blocks.
pub fn write_receiver_report(
    dst: &mut [u8],
    sender: Ssrc,
    blocks: &[ReportBlock],
) -> Result<usize, RtcpError> {
    let count = report_count(blocks)?;
    let mut out = Cursor::new(dst);
    header(&mut out, count, PT_RR, 8 + 24 * blocks.len())?;
    out.u32(sender.0)?;
    for block in blocks {
        report_block(&mut out, block)?;
    }

    Ok(out.written())
}

/// Writes an SDES packet with one chunk holding only a CNAME (RFC 3550 section 6.5.1),
/// which every compound packet carries.
pub fn write_sdes_cname(dst: &mut [u8], ssrc: Ssrc, cname: &str) -> Result<usize, RtcpError> {
    let len = u8::try_from(cname.len())
        .map_err(|_| RtcpError::Unencodable("CNAME longer than 255 bytes"))?;
    // SSRC, type, length, text, then at least one null item ending the chunk.
    let chunk = (4 + 2 + cname.len() + 1).next_multiple_of(4);
    let mut out = Cursor::new(dst);
    header(&mut out, 1, PT_SDES, 4 + chunk)?;
    out.u32(ssrc.0)?;
    out.u8(SDES_CNAME)?;
    out.u8(len)?;
    out.put(cname.as_bytes())?;
    out.zeros(chunk - 6 - cname.len())?;

    Ok(out.written())
}

/// Packs lost sequence numbers into generic NACK `(pid, blp)` entries: each entry starts
/// at the next number not yet covered and takes in the following ones up to 16 after it.
/// Ascending input (modulo 2^16) packs tightest; any order is reported correctly.
#[derive(Debug, Clone)]
struct NackPacker<'a> {
    lost: &'a [SeqNo],
}

impl Iterator for NackPacker<'_> {
    type Item = (SeqNo, u16);

    fn next(&mut self) -> Option<(SeqNo, u16)> {
        let (&pid, mut rest) = self.lost.split_first()?;
        let mut blp = 0u16;
        while let Some((&seq, after)) = rest.split_first() {
            match seq.0.wrapping_sub(pid.0) {
                0 => {}
                d @ 1..=16 => blp |= 1 << (d - 1),
                _ => break,
            }
            rest = after;
        }
        self.lost = rest;

        Some((pid, blp))
    }
}

/// Writes a generic NACK (RFC 4585 section 6.2.1) reporting `lost` from `sender` about
/// `media`.
pub fn write_nack(
    dst: &mut [u8],
    sender: Ssrc,
    media: Ssrc,
    lost: &[SeqNo],
) -> Result<usize, RtcpError> {
    let entries = NackPacker { lost }.count();
    if entries == 0 {
        return Err(RtcpError::Unencodable("NACK without lost packets"));
    }
    let mut out = Cursor::new(dst);
    header(&mut out, FMT_NACK, PT_RTPFB, 12 + 4 * entries)?;
    out.u32(sender.0)?;
    out.u32(media.0)?;
    for (pid, blp) in (NackPacker { lost }) {
        out.u16(pid.0)?;
        out.u16(blp)?;
    }

    Ok(out.written())
}

/// Writes a picture loss indication (RFC 4585 section 6.3.1).
pub fn write_pli(dst: &mut [u8], sender: Ssrc, media: Ssrc) -> Result<usize, RtcpError> {
    let mut out = Cursor::new(dst);
    header(&mut out, FMT_PLI, PT_PSFB, 12)?;
    out.u32(sender.0)?;
    out.u32(media.0)?;

    Ok(out.written())
}

/// Writes a full intra request (RFC 5104 section 4.3.1) for `media` with command sequence
/// number `seq_nr`; the header's media SSRC field is zero as section 4.3.1.2 requires.
pub fn write_fir(
    dst: &mut [u8],
    sender: Ssrc,
    media: Ssrc,
    seq_nr: u8,
) -> Result<usize, RtcpError> {
    let mut out = Cursor::new(dst);
    header(&mut out, FMT_FIR, PT_PSFB, 20)?;
    out.u32(sender.0)?;
    out.u32(0)?;
    out.u32(media.0)?;
    out.u8(seq_nr)?;
    out.zeros(3)?;

    Ok(out.written())
}

/// Writes a REMB (draft-alvestrand-rmcat-remb-03 section 2.2) for up to 255 SSRCs; the
/// bitrate is rounded down to an 18-bit mantissa and a 6-bit exponent.
pub fn write_remb(
    dst: &mut [u8],
    sender: Ssrc,
    bitrate_bps: u64,
    ssrcs: &[Ssrc],
) -> Result<usize, RtcpError> {
    let num = u8::try_from(ssrcs.len())
        .map_err(|_| RtcpError::Unencodable("REMB for more than 255 SSRCs"))?;
    let exp = (64 - bitrate_bps.leading_zeros()).saturating_sub(18);
    let mantissa = (bitrate_bps >> exp) as u32;
    let mut out = Cursor::new(dst);
    header(&mut out, FMT_AFB, PT_PSFB, 20 + 4 * ssrcs.len())?;
    out.u32(sender.0)?;
    out.u32(0)?;
    out.put(REMB_ID)?;
    out.u8(num)?;
    out.put(&(exp << 18 | mantissa).to_be_bytes()[1..])?;
    for ssrc in ssrcs {
        out.u32(ssrc.0)?;
    }

    Ok(out.written())
}
