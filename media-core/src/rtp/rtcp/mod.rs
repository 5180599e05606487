//! RTCP parsing and writing, zero-copy: RFC 3550 section 6 (SR, RR, SDES, BYE), RFC 4585
//! generic NACK and PLI, RFC 5104 FIR, REMB (draft-alvestrand-rmcat-remb-03) and
//! transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-
//! extensions-01), whose FCI is handed on raw to the feedback module.
//!
//! [`compound`] walks the packets of a compound (or RFC 5506 reduced-size) datagram.
//! Each `write_*` function writes one packet into the caller's buffer and returns its
//! length; a compound is built by writing them one after another into the same buffer.
//! RFC 3550 section 6.1 wants a compound to start with an SR or RR and carry an SDES CNAME;
//! a reduced-size packet (a lone PLI or NACK) is allowed where RFC 5506 was negotiated.
//!
//! Feedback from a subscriber names the subscriber-side SSRCs and sequence numbers. The
//! forwarder does not patch those packets in place: it reads them with [`compound`], maps
//! the SSRCs (and for NACK the sequence numbers, which it rewrote) to the publisher's, and
//! writes fresh ones with [`write_pli`], [`write_fir`] (whose sequence number is per
//! requester, RFC 5104 section 4.3.1) or [`write_nack`]. These packets are 12 to 20 bytes,
//! so writing them anew costs no more than patching.

mod write;

pub use write::{
    write_fir, write_nack, write_pli, write_receiver_report, write_remb, write_sdes_cname,
    write_sender_report,
};

use super::wire::Reader;
use crate::ids::{RtpTime, SeqNo, Ssrc};

/// Sender report packet type.
pub const PT_SR: u8 = 200;
/// Receiver report packet type.
pub const PT_RR: u8 = 201;
/// Source description packet type.
pub const PT_SDES: u8 = 202;
/// Goodbye packet type.
pub const PT_BYE: u8 = 203;
/// Transport-layer feedback packet type (RFC 4585 section 6.2).
pub const PT_RTPFB: u8 = 205;
/// Payload-specific feedback packet type (RFC 4585 section 6.3).
pub const PT_PSFB: u8 = 206;
/// The CNAME item type in an SDES chunk.
pub const SDES_CNAME: u8 = 1;

const FMT_NACK: u8 = 1;
const FMT_TWCC: u8 = 15;
const FMT_PLI: u8 = 1;
const FMT_FIR: u8 = 4;
const FMT_AFB: u8 = 15;
const REMB_ID: &[u8; 4] = b"REMB";

/// Why an RTCP packet could not be parsed or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    /// The common header or the length it announces runs past the datagram.
    #[error("RTCP packet truncated")]
    Truncated,
    /// The version field is not 2.
    #[error("RTCP version {0}, expected 2")]
    BadVersion(u8),
    /// The P bit is set but the padding count is zero or larger than the packet body.
    #[error("RTCP padding count is zero or larger than the packet")]
    BadPadding,
    /// The body does not hold what its count or format announces.
    #[error("malformed RTCP packet of type {pt}")]
    Malformed {
        /// The packet type.
        pt: u8,
    },
    /// The destination buffer cannot hold the packet (caller's fault).
    #[error("destination buffer too small")]
    BufferTooSmall,
    /// The values passed to a writer cannot be encoded (caller's fault).
    #[error("cannot encode RTCP: {0}")]
    Unencodable(&'static str),
}

impl From<super::wire::Full> for RtcpError {
    fn from(_: super::wire::Full) -> Self {
        RtcpError::BufferTooSmall
    }
}

/// One reception report block (RFC 3550 section 6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: Ssrc,
    /// Fraction lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost, 24-bit signed (duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received.
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 seconds.
    pub delay_since_last_sr: u32,
}

/// A sender report (RFC 3550 section 6.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderReport<'a> {
    /// The sender.
    pub ssrc: Ssrc,
    /// 64-bit NTP timestamp of the report.
    pub ntp: u64,
    /// The RTP timestamp corresponding to `ntp`.
    pub rtp_ts: RtpTime,
    /// Packets sent since the start.
    pub packet_count: u32,
    /// Payload octets sent since the start.
    pub octet_count: u32,
    /// Reception report blocks.
    pub blocks: ReportBlockIter<'a>,
}

/// A receiver report (RFC 3550 section 6.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverReport<'a> {
    /// The reporter.
    pub ssrc: Ssrc,
    /// Reception report blocks.
    pub blocks: ReportBlockIter<'a>,
}

/// One generic NACK FCI entry (RFC 4585 section 6.2.1): a lost packet and a bitmask of
/// the sixteen after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NackPair {
    /// Packet ID: the first lost sequence number.
    pub pid: SeqNo,
    /// Bitmask of following lost packets: bit i set means `pid + i + 1` is lost.
    pub blp: u16,
}

impl NackPair {
    /// Every sequence number this entry reports lost, `pid` first.
    pub fn lost(self) -> NackLost {
        NackLost {
            pid: self.pid.0,
            mask: 1 | u32::from(self.blp) << 1,
        }
    }
}

/// Iterator over the sequence numbers of one [`NackPair`].
#[derive(Debug, Clone)]
pub struct NackLost {
    pid: u16,
    mask: u32,
}

impl Iterator for NackLost {
    type Item = SeqNo;

    fn next(&mut self) -> Option<SeqNo> {
        if self.mask == 0 {
            return None;
        }
        let offset = self.mask.trailing_zeros() as u16;
        self.mask &= self.mask - 1;

        Some(SeqNo(self.pid.wrapping_add(offset)))
    }
}

/// One FIR FCI entry (RFC 5104 section 4.3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirEntry {
    /// The media sender asked for a decoder refresh.
    pub ssrc: Ssrc,
    /// Command sequence number, incremented per new request.
    pub seq_nr: u8,
}

/// One item of an SDES chunk (RFC 3550 section 6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesItem<'a> {
    /// The source the chunk describes.
    pub ssrc: Ssrc,
    /// Item type ([`SDES_CNAME`] is 1).
    pub kind: u8,
    /// Item text.
    pub value: &'a [u8],
}

/// One packet of a compound RTCP datagram, borrowing its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    /// Sender report.
    SenderReport(SenderReport<'a>),
    /// Receiver report.
    ReceiverReport(ReceiverReport<'a>),
    /// Source description: the chunks, read with [`sdes_items`].
    Sdes(&'a [u8]),
    /// Goodbye.
    Bye {
        /// The sources leaving.
        ssrcs: SsrcIter<'a>,
        /// The optional reason text.
        reason: Option<&'a [u8]>,
    },
    /// Generic NACK (RFC 4585 section 6.2.1).
    Nack {
        /// The subscriber sending the feedback.
        sender: Ssrc,
        /// The media source the lost packets belong to.
        media: Ssrc,
        /// The (pid, blp) entries.
        fci: NackIter<'a>,
    },
    /// Picture loss indication (RFC 4585 section 6.3.1).
    Pli {
        /// The subscriber sending the feedback.
        sender: Ssrc,
        /// The media source asked for a keyframe.
        media: Ssrc,
    },
    /// Full intra request (RFC 5104 section 4.3.1).
    Fir {
        /// The subscriber sending the feedback.
        sender: Ssrc,
        /// The media sources asked for a decoder refresh.
        entries: FirIter<'a>,
    },
    /// Transport-wide congestion control feedback; the FCI is decoded elsewhere.
    TransportCc {
        /// The sender of the feedback.
        sender: Ssrc,
        /// The media source field (unused by transport-cc).
        media: Ssrc,
        /// The feedback control information, raw.
        fci: &'a [u8],
    },
    /// Receiver estimated maximum bitrate (draft-alvestrand-rmcat-remb-03 section 2.2).
    Remb {
        /// The sender of the estimate.
        sender: Ssrc,
        /// The estimate in bits per second (saturating at `u64::MAX`).
        bitrate_bps: u64,
        /// The media sources the estimate applies to.
        ssrcs: SsrcIter<'a>,
    },
    /// Any other packet type or feedback format, kept as it is.
    Other {
        /// Packet type.
        pt: u8,
        /// The five-bit count or FMT field.
        fmt: u8,
        /// The bytes after the 4-byte common header, padding removed.
        body: &'a [u8],
    },
}

/// Iterates the packets of a compound RTCP datagram (RFC 3550 section 6.1).
///
/// Each item is one packet; after the first malformed one the iterator yields its error
/// and then stops, since the lengths after it cannot be trusted.
pub fn compound(buf: &[u8]) -> RtcpIter<'_> {
    RtcpIter { rest: buf }
}

/// Iterator returned by [`compound`].
#[derive(Debug, Clone)]
pub struct RtcpIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for RtcpIter<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let parsed = split_packet(self.rest).and_then(|raw| {
            self.rest = raw.rest;
            parse_body(raw.count, raw.pt, raw.body).ok_or(RtcpError::Malformed { pt: raw.pt })
        });
        if parsed.is_err() {
            self.rest = &[];
        }

        Some(parsed)
    }
}

/// The first packet of a compound datagram, split off the rest.
struct RawPacket<'a> {
    /// The five-bit count or FMT field.
    count: u8,
    pt: u8,
    /// The bytes after the common header, padding removed.
    body: &'a [u8],
    /// The packets after this one.
    rest: &'a [u8],
}

/// Splits the first packet off `buf`, checking its version, length and padding.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |V=2|P|  count  |      PT       |      length (words - 1)       |
/// ```
fn split_packet(buf: &[u8]) -> Result<RawPacket<'_>, RtcpError> {
    let mut r = Reader::new(buf);
    let (Some(b0), Some(pt), Some(words)) = (r.u8(), r.u8(), r.u16()) else {
        return Err(RtcpError::Truncated);
    };
    if b0 >> 6 != 2 {
        return Err(RtcpError::BadVersion(b0 >> 6));
    }
    let mut body = r.take(4 * usize::from(words)).ok_or(RtcpError::Truncated)?;

    if b0 & 0x20 != 0 {
        let pad = usize::from(body.last().copied().unwrap_or(0));
        if pad == 0 || pad > body.len() {
            return Err(RtcpError::BadPadding);
        }
        body = body.get(..body.len() - pad).unwrap_or(&[]);
    }

    Ok(RawPacket {
        count: b0 & 0x1F,
        pt,
        body,
        rest: r.rest(),
    })
}

fn parse_body(count: u8, pt: u8, body: &[u8]) -> Option<RtcpPacket<'_>> {
    let count = usize::from(count);
    match pt {
        PT_SR => parse_sr(count, body),
        PT_RR => {
            let mut r = Reader::new(body);
            let ssrc = Ssrc(r.u32()?);
            let blocks = ReportBlockIter::new(r.take(24 * count)?);
            Some(RtcpPacket::ReceiverReport(ReceiverReport { ssrc, blocks }))
        }
        PT_SDES => Some(RtcpPacket::Sdes(body)),
        PT_BYE => parse_bye(count, body),
        PT_RTPFB => parse_rtpfb(count as u8, body),
        PT_PSFB => parse_psfb(count as u8, body),
        _ => Some(RtcpPacket::Other {
            pt,
            fmt: count as u8,
            body,
        }),
    }
}

fn parse_sr(count: usize, body: &[u8]) -> Option<RtcpPacket<'_>> {
    let mut r = Reader::new(body);
    let ssrc = Ssrc(r.u32()?);
    let ntp = r.u64()?;
    let rtp_ts = RtpTime(r.u32()?);
    let packet_count = r.u32()?;
    let octet_count = r.u32()?;
    let blocks = ReportBlockIter::new(r.take(24 * count)?);

    Some(RtcpPacket::SenderReport(SenderReport {
        ssrc,
        ntp,
        rtp_ts,
        packet_count,
        octet_count,
        blocks,
    }))
}

fn parse_bye(count: usize, body: &[u8]) -> Option<RtcpPacket<'_>> {
    let mut r = Reader::new(body);
    let ssrcs = SsrcIter::new(r.take(4 * count)?);
    let reason = match r.u8() {
        Some(len) => Some(r.take(usize::from(len))?),
        None => None,
    };

    Some(RtcpPacket::Bye { ssrcs, reason })
}

/// Transport-layer feedback (RFC 4585 section 6.1): sender SSRC, media SSRC, FCI.
fn parse_rtpfb(fmt: u8, body: &[u8]) -> Option<RtcpPacket<'_>> {
    let mut r = Reader::new(body);
    let sender = Ssrc(r.u32()?);
    let media = Ssrc(r.u32()?);
    let fci = r.rest();
    match fmt {
        FMT_NACK if fci.len().is_multiple_of(4) => Some(RtcpPacket::Nack {
            sender,
            media,
            fci: NackIter::new(fci),
        }),
        FMT_NACK => None,
        FMT_TWCC => Some(RtcpPacket::TransportCc { sender, media, fci }),
        _ => Some(RtcpPacket::Other {
            pt: PT_RTPFB,
            fmt,
            body,
        }),
    }
}

/// Payload-specific feedback (RFC 4585 section 6.1): sender SSRC, media SSRC, FCI.
fn parse_psfb(fmt: u8, body: &[u8]) -> Option<RtcpPacket<'_>> {
    let mut r = Reader::new(body);
    let sender = Ssrc(r.u32()?);
    let media = Ssrc(r.u32()?);
    let fci = r.rest();
    match fmt {
        FMT_PLI => Some(RtcpPacket::Pli { sender, media }),
        FMT_FIR if fci.len().is_multiple_of(8) => Some(RtcpPacket::Fir {
            sender,
            entries: FirIter::new(fci),
        }),
        FMT_FIR => None,
        FMT_AFB if fci.starts_with(REMB_ID) => parse_remb(sender, fci),
        _ => Some(RtcpPacket::Other {
            pt: PT_PSFB,
            fmt,
            body,
        }),
    }
}

/// REMB's FCI (draft-alvestrand-rmcat-remb-03 section 2.2):
///
/// ```text
/// |  Unique identifier 'R' 'E' 'M' 'B'                            |
/// |  Num SSRC     | BR Exp    |  BR Mantissa                      |
/// |   SSRC feedback                                               |
/// ```
fn parse_remb(sender: Ssrc, fci: &[u8]) -> Option<RtcpPacket<'_>> {
    let mut r = Reader::new(fci);
    r.take(4)?;
    let num = usize::from(r.u8()?);
    let exp_mantissa = r.u24()?;
    let ssrcs = SsrcIter::new(r.take(4 * num)?);
    let exp = exp_mantissa >> 18;
    let mantissa = u64::from(exp_mantissa & 0x3_FFFF);
    let bitrate_bps = if exp > mantissa.leading_zeros() {
        u64::MAX
    } else {
        mantissa << exp
    };

    Some(RtcpPacket::Remb {
        sender,
        bitrate_bps,
        ssrcs,
    })
}

/// Defines an iterator over fixed-size records of a slice whose length was checked to be
/// a multiple of the record size when the packet was parsed.
macro_rules! record_iter {
    ($(#[$doc:meta])* $name:ident, $item:ty, $size:expr, |$r:ident| $read:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name<'a> {
            data: &'a [u8],
        }

        impl<'a> $name<'a> {
            fn new(data: &'a [u8]) -> Self {
                $name { data }
            }
        }

        impl Iterator for $name<'_> {
            type Item = $item;

            fn next(&mut self) -> Option<$item> {
                let mut $r = Reader::new(self.data.get(..$size)?);
                self.data = self.data.get($size..).unwrap_or(&[]);
                $read
            }

            fn size_hint(&self) -> (usize, Option<usize>) {
                let n = self.data.len() / $size;
                (n, Some(n))
            }
        }

        impl ExactSizeIterator for $name<'_> {}
    };
}

record_iter!(
    /// Iterator over a list of SSRCs (BYE, REMB).
    SsrcIter, Ssrc, 4, |r| r.u32().map(Ssrc)
);

record_iter!(
    /// Iterator over reception report blocks.
    ReportBlockIter, ReportBlock, 24, |r| read_report_block(&mut r)
);

record_iter!(
    /// Iterator over generic NACK entries.
    NackIter, NackPair, 4, |r| Some(NackPair { pid: SeqNo(r.u16()?), blp: r.u16()? })
);

record_iter!(
    /// Iterator over FIR entries.
    FirIter, FirEntry, 8, |r| Some(FirEntry { ssrc: Ssrc(r.u32()?), seq_nr: r.u8()? })
);

impl<'a> NackIter<'a> {
    /// Every sequence number the NACK reports lost, in FCI order.
    pub fn lost(self) -> impl Iterator<Item = SeqNo> + 'a {
        self.flat_map(NackPair::lost)
    }
}

/// A report block (RFC 3550 section 6.4.1):
///
/// ```text
/// |                 SSRC_1 (SSRC of first source)                 |
/// | fraction lost |       cumulative number of packets lost       |
/// |           extended highest sequence number received           |
/// |                      interarrival jitter                      |
/// |                         last SR (LSR)                         |
/// |                   delay since last SR (DLSR)                  |
/// ```
fn read_report_block(r: &mut Reader<'_>) -> Option<ReportBlock> {
    let ssrc = Ssrc(r.u32()?);
    let fraction_lost = r.u8()?;
    // Sign-extend the 24-bit field by moving it to the top and shifting back.
    let cumulative_lost = ((r.u24()? << 8) as i32) >> 8;

    Some(ReportBlock {
        ssrc,
        fraction_lost,
        cumulative_lost,
        highest_seq: r.u32()?,
        jitter: r.u32()?,
        last_sr: r.u32()?,
        delay_since_last_sr: r.u32()?,
    })
}

/// Iterates the items of an SDES packet's chunks (RFC 3550 section 6.5); stops at the
/// first item that runs past the body.
pub fn sdes_items(body: &[u8]) -> SdesIter<'_> {
    SdesIter {
        body,
        pos: 0,
        ssrc: None,
    }
}

/// Iterator returned by [`sdes_items`].
#[derive(Debug, Clone)]
pub struct SdesIter<'a> {
    body: &'a [u8],
    pos: usize,
    ssrc: Option<Ssrc>,
}

impl<'a> Iterator for SdesIter<'a> {
    type Item = SdesItem<'a>;

    fn next(&mut self) -> Option<SdesItem<'a>> {
        loop {
            let mut r = Reader::new(self.body.get(self.pos..)?);
            let Some(ssrc) = self.ssrc else {
                self.ssrc = Some(Ssrc(r.u32()?));
                self.pos += 4;
                continue;
            };
            let kind = r.u8()?;
            if kind == 0 {
                // The chunk ends with a null item, padded with nulls to 32 bits.
                self.pos = (self.pos + 1).next_multiple_of(4);
                self.ssrc = None;
                continue;
            }
            let len = usize::from(r.u8()?);
            let value = r.take(len)?;
            self.pos += 2 + len;

            return Some(SdesItem { ssrc, kind, value });
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
