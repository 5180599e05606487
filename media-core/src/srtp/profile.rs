//! The SRTP protection profiles negotiated by DTLS-SRTP (RFC 5764 section 4.1.2, RFC 7714
//! section 14.2) and the sizes each one fixes. Shared with the DTLS module.

/// An SRTP protection profile negotiated by the DTLS `use_srtp` extension (RFC 5764 section 4.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpProfile {
    /// `SRTP_AES128_CM_HMAC_SHA1_80` (RFC 3711): AES counter mode and an 80-bit HMAC-SHA1 tag.
    Aes128CmSha1_80,
    /// `SRTP_AEAD_AES_128_GCM` (RFC 7714): AES-GCM with a 128-bit tag.
    AeadAes128Gcm,
}

impl SrtpProfile {
    /// Looks a profile up by its DTLS-SRTP identifier (RFC 5764 section 4.1.2, RFC 7714 section 14.2).
    pub fn from_dtls_id(id: u16) -> Option<SrtpProfile> {
        match id {
            0x0001 => Some(SrtpProfile::Aes128CmSha1_80),
            0x0007 => Some(SrtpProfile::AeadAes128Gcm),
            _ => None,
        }
    }

    /// The profile's DTLS-SRTP identifier.
    pub fn dtls_id(self) -> u16 {
        match self {
            SrtpProfile::Aes128CmSha1_80 => 0x0001,
            SrtpProfile::AeadAes128Gcm => 0x0007,
        }
    }

    /// Master key length in bytes.
    pub fn master_key_len(self) -> usize {
        16
    }

    /// Master salt length in bytes (RFC 3711 uses 112 bits, RFC 7714 96 bits).
    pub fn master_salt_len(self) -> usize {
        match self {
            SrtpProfile::Aes128CmSha1_80 => 14,
            SrtpProfile::AeadAes128Gcm => 12,
        }
    }

    /// Length of the DTLS exporter output: a key and a salt for each direction (RFC 5764 section 4.2).
    pub fn keying_material_len(self) -> usize {
        2 * (self.master_key_len() + self.master_salt_len())
    }

    /// Bytes that protecting an RTP packet appends (the authentication tag).
    pub fn rtp_overhead(self) -> usize {
        match self {
            SrtpProfile::Aes128CmSha1_80 => 10,
            SrtpProfile::AeadAes128Gcm => 16,
        }
    }

    /// Bytes that protecting an RTCP packet appends (tag plus the 4-byte E flag and index).
    pub fn rtcp_overhead(self) -> usize {
        self.rtp_overhead() + 4
    }
}
