//! Telling apart the protocols that share one media port (RFC 7983 section 7).
//!
//! ```text
//!              +----------------+
//!              |        [0..3] -+--> STUN
//!              |      [20..63] -+--> DTLS
//!  packet -->  |    [128..191] -+--> RTP or RTCP
//!              +----------------+
//! ```
//! RTP and RTCP are then told apart by the payload type byte (RFC 5761 section 4).

/// What a datagram on a media port carries, judged from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// A STUN message (ICE connectivity check).
    Stun,
    /// A DTLS record.
    Dtls,
    /// SRTP media.
    Rtp,
    /// SRTCP control.
    Rtcp,
    /// Anything else, dropped.
    Unknown,
}

/// Classifies a datagram without reading past its second byte.
pub fn classify(buf: &[u8]) -> PacketKind {
    match buf.first() {
        Some(0..=3) => PacketKind::Stun,
        Some(20..=63) => PacketKind::Dtls,
        Some(128..=191) => match buf.get(1) {
            // RTCP packet types 192..=223 land here with the marker bit read as set.
            Some(192..=223) => PacketKind::Rtcp,
            Some(_) => PacketKind::Rtp,
            None => PacketKind::Unknown,
        },
        _ => PacketKind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_byte_ranges_of_rfc7983() {
        assert_eq!(classify(&[0x00, 0x01]), PacketKind::Stun);
        assert_eq!(classify(&[22, 0xfe, 0xfd]), PacketKind::Dtls);
        assert_eq!(classify(&[0x80, 96]), PacketKind::Rtp);
        assert_eq!(classify(&[0x80, 0xe0]), PacketKind::Rtp); // marker set, payload type 96
        assert_eq!(classify(&[0x81, 200]), PacketKind::Rtcp); // sender report
        assert_eq!(classify(&[0x81, 205]), PacketKind::Rtcp); // transport feedback
        assert_eq!(classify(&[0x80]), PacketKind::Unknown);
        assert_eq!(classify(&[]), PacketKind::Unknown);
        assert_eq!(classify(&[64, 0]), PacketKind::Unknown);
        assert_eq!(classify(&[255, 0]), PacketKind::Unknown);
    }
}
