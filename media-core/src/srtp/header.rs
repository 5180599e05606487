//! The few RTP (RFC 3550 section 5.1) and RTCP (RFC 3550 section 6.4) header fields that
//! SRTP needs.
//!
//! SRTP authenticates the whole RTP header but encrypts only what follows it, so the header's
//! exact length, CSRC list and header extension included, decides where encryption starts.

use super::SrtpError;

/// Length of the fixed RTP header, before the CSRC list.
const RTP_FIXED_LEN: usize = 12;

/// Length of the RTCP header that SRTCP leaves in clear: the first word and the sender SSRC.
pub(crate) const RTCP_HEADER_LEN: usize = 8;

/// The longest packet accepted, a UDP payload. It also keeps AES-CM's 16-bit block counter
/// from carrying into the packet index (RFC 3711 section 4.1.1).
pub(crate) const MAX_PACKET_LEN: usize = 65_535;

/// The RTP header fields that the SRTP transform needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RtpHeader {
    /// Synchronisation source, which selects the per-source state.
    pub(crate) ssrc: u32,
    /// Wire sequence number, the low 16 bits of the packet index.
    pub(crate) seq: u16,
    /// Bytes from the start of the packet to the start of the payload.
    pub(crate) len: usize,
}

/// Parses the RTP header at the start of `packet`, which must hold the whole header.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |V=2|P|X|  CC   |M|     PT      |       sequence number         |
/// |                           timestamp                           |
/// |           synchronization source (SSRC) identifier            |
/// |       contributing source (CSRC) identifiers, CC of them      |
/// |   profile (if X)              |   length in 32-bit words      |
/// |                 header extension, length words                |
/// ```
pub(crate) fn parse_rtp(packet: &[u8]) -> Result<RtpHeader, SrtpError> {
    let first = *packet.first().ok_or(SrtpError::Malformed)?;
    if first >> 6 != 2 || packet.len() < RTP_FIXED_LEN {
        return Err(SrtpError::Malformed);
    }
    let seq = be_u16(packet, 2)?;
    let ssrc = be_u32(packet, 8)?;

    let csrc_count = usize::from(first & 0x0f);
    let mut len = RTP_FIXED_LEN + 4 * csrc_count;
    if first & 0x10 != 0 {
        let words = usize::from(be_u16(packet, len + 2)?);
        len += 4 + 4 * words;
    }
    if len > packet.len() {
        return Err(SrtpError::Malformed);
    }

    Ok(RtpHeader { ssrc, seq, len })
}

/// Returns the sender SSRC of the RTCP packet at the start of `packet`.
///
/// ```text
/// |V=2|P|    RC   |   PT          |             length            |
/// |                         SSRC of sender                        |
/// ```
pub(crate) fn rtcp_ssrc(packet: &[u8]) -> Result<u32, SrtpError> {
    let first = *packet.first().ok_or(SrtpError::Malformed)?;
    if first >> 6 != 2 {
        return Err(SrtpError::Malformed);
    }

    be_u32(packet, 4)
}

/// The big-endian `u16` at `at`, or `Malformed` past the end.
pub(crate) fn be_u16(bytes: &[u8], at: usize) -> Result<u16, SrtpError> {
    let field = bytes.get(at..at + 2).ok_or(SrtpError::Malformed)?;
    let field: [u8; 2] = field.try_into().map_err(|_| SrtpError::Malformed)?;

    Ok(u16::from_be_bytes(field))
}

/// The big-endian `u32` at `at`, or `Malformed` past the end.
pub(crate) fn be_u32(bytes: &[u8], at: usize) -> Result<u32, SrtpError> {
    let field = bytes.get(at..at + 4).ok_or(SrtpError::Malformed)?;
    let field: [u8; 4] = field.try_into().map_err(|_| SrtpError::Malformed)?;

    Ok(u32::from_be_bytes(field))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A header with two CSRCs and a one-word header extension, one field per line.
    fn header_with_csrcs_and_extension() -> Vec<u8> {
        vec![
            0x92, // V=2, P=0, X=1, CC=2
            0x60, // M=0, PT=96
            0x12, 0x34, // sequence number
            0, 0, 0, 1, // timestamp
            0xca, 0xfe, 0xba, 0xbe, // SSRC
            0, 0, 0, 2, // CSRC 1
            0, 0, 0, 3, // CSRC 2
            0xbe, 0xde, 0x00, 0x01, // one-byte extension profile, 1 word
            0x10, 0xaa, 0x00, 0x00, // id 1, one byte, padding
            0xff, // payload
        ]
    }

    #[test]
    fn rtp_header_length_counts_csrcs_and_extension() {
        let packet = header_with_csrcs_and_extension();

        let header = parse_rtp(&packet).unwrap();

        assert_eq!(
            header,
            RtpHeader {
                ssrc: 0xcafe_babe,
                seq: 0x1234,
                len: 28
            }
        );
    }

    #[test]
    fn rtp_header_running_past_the_packet_is_malformed() {
        let packet = header_with_csrcs_and_extension();

        for len in 0..28 {
            assert_eq!(
                parse_rtp(&packet[..len]),
                Err(SrtpError::Malformed),
                "len {len}"
            );
        }
        let mut long_extension = packet.clone();
        long_extension[23] = 2;
        assert_eq!(parse_rtp(&long_extension), Err(SrtpError::Malformed));
        let mut too_many_csrcs = packet;
        too_many_csrcs[0] = 0x8f;
        assert_eq!(parse_rtp(&too_many_csrcs), Err(SrtpError::Malformed));
    }

    #[test]
    fn rtp_version_other_than_two_is_malformed() {
        let mut packet = header_with_csrcs_and_extension();
        packet[0] = 0x52;

        assert_eq!(parse_rtp(&packet), Err(SrtpError::Malformed));
    }

    #[test]
    fn rtcp_ssrc_needs_eight_bytes_and_version_two() {
        let packet = [0x80, 200, 0, 1, 0xde, 0xad, 0xbe, 0xef];

        assert_eq!(rtcp_ssrc(&packet), Ok(0xdead_beef));
        assert_eq!(rtcp_ssrc(&packet[..7]), Err(SrtpError::Malformed));
        assert_eq!(
            rtcp_ssrc(&[0x40, 200, 0, 1, 0, 0, 0, 0]),
            Err(SrtpError::Malformed)
        );
    }
}
