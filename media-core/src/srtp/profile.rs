//! The SRTP protection profiles negotiated by DTLS-SRTP (RFC 5764 section 4.1.2, RFC 7714
//! section 14.2) and the sizes each one fixes. Shared with the DTLS module.

/// An SRTP protection profile negotiated by the DTLS `use_srtp` extension (RFC 5764 section 4.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpProfile {
    /// `SRTP_AES128_CM_HMAC_SHA1_80` (RFC 3711): AES counter mode and an 80-bit HMAC-SHA1 tag.
    Aes128CmSha1_80,
    /// `SRTP_AEAD_AES_128_GCM` (RFC 7714): AES-128-GCM with a 128-bit tag.
    AeadAes128Gcm,
    /// `SRTP_AEAD_AES_256_GCM` (RFC 7714): AES-256-GCM with a 128-bit tag, keyed through the
    /// AES-256 key derivation function (RFC 7714 section 11).
    AeadAes256Gcm,
}

impl SrtpProfile {
    /// Looks a profile up by its DTLS-SRTP identifier (RFC 5764 section 4.1.2, RFC 7714 section 14.2).
    pub fn from_dtls_id(id: u16) -> Option<SrtpProfile> {
        match id {
            0x0001 => Some(SrtpProfile::Aes128CmSha1_80),
            0x0007 => Some(SrtpProfile::AeadAes128Gcm),
            0x0008 => Some(SrtpProfile::AeadAes256Gcm),
            _ => None,
        }
    }

    /// The profile's DTLS-SRTP identifier.
    pub fn dtls_id(self) -> u16 {
        match self {
            SrtpProfile::Aes128CmSha1_80 => 0x0001,
            SrtpProfile::AeadAes128Gcm => 0x0007,
            SrtpProfile::AeadAes256Gcm => 0x0008,
        }
    }

    /// Master key length in bytes, which is also the session encryption key length
    /// (RFC 3711 section 8.2, RFC 7714 section 12).
    pub fn master_key_len(self) -> usize {
        match self {
            SrtpProfile::Aes128CmSha1_80 | SrtpProfile::AeadAes128Gcm => 16,
            SrtpProfile::AeadAes256Gcm => 32,
        }
    }

    /// Master salt length in bytes (RFC 3711 uses 112 bits, RFC 7714 96 bits).
    pub fn master_salt_len(self) -> usize {
        match self {
            SrtpProfile::Aes128CmSha1_80 => 14,
            SrtpProfile::AeadAes128Gcm | SrtpProfile::AeadAes256Gcm => 12,
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
            SrtpProfile::AeadAes128Gcm | SrtpProfile::AeadAes256Gcm => 16,
        }
    }

    /// Bytes that protecting an RTCP packet appends (tag plus the 4-byte E flag and index).
    pub fn rtcp_overhead(self) -> usize {
        self.rtp_overhead() + 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [SrtpProfile; 3] = [
        SrtpProfile::Aes128CmSha1_80,
        SrtpProfile::AeadAes128Gcm,
        SrtpProfile::AeadAes256Gcm,
    ];

    #[test]
    fn dtls_ids_round_trip_and_unknown_ids_are_none() {
        for profile in ALL {
            assert_eq!(SrtpProfile::from_dtls_id(profile.dtls_id()), Some(profile));
        }

        assert_eq!(SrtpProfile::from_dtls_id(0x0002), None);
        assert_eq!(SrtpProfile::from_dtls_id(0x0003), None);
    }

    /// RFC 7714 section 14.2: `SRTP_AEAD_AES_256_GCM` is {0x00, 0x08}, with a 256-bit key,
    /// a 96-bit salt and a 16-octet tag.
    #[test]
    fn rfc7714_section_14_2_aes_256_gcm_sizes() {
        let profile = SrtpProfile::AeadAes256Gcm;

        assert_eq!(profile.dtls_id(), 0x0008);
        assert_eq!(profile.master_key_len(), 32);
        assert_eq!(profile.master_salt_len(), 12);
        assert_eq!(profile.keying_material_len(), 2 * (32 + 12));
        assert_eq!(profile.rtp_overhead(), 16);
        assert_eq!(profile.rtcp_overhead(), 20);
    }
}
