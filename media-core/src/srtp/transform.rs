//! Where each profile puts its ciphertext, tag and SRTCP index in the packet, and what it
//! authenticates: RFC 3711 sections 3.1 and 3.4 for AES-CM, RFC 7714 sections 7 and 9 for
//! AES-GCM. The packet index comes from the caller, which owns the per-source state.

use super::cipher::{CmKeys, GcmKeys, Labels, CM_TAG_LEN, GCM_TAG_LEN};
use super::header::{RtpHeader, RTCP_HEADER_LEN};
use super::key::{label, MasterKey};
use super::{SrtpError, SrtpProfile};

/// The E flag of the SRTCP index word: the packet is encrypted (RFC 3711 section 3.4).
pub(crate) const SRTCP_E_FLAG: u32 = 1 << 31;

/// Length of the E flag and SRTCP index word.
pub(crate) const SRTCP_INDEX_LEN: usize = 4;

const RTP_LABELS: Labels = Labels {
    encryption: label::RTP_ENCRYPTION,
    authentication: label::RTP_AUTHENTICATION,
    salt: label::RTP_SALT,
};

const RTCP_LABELS: Labels = Labels {
    encryption: label::RTCP_ENCRYPTION,
    authentication: label::RTCP_AUTHENTICATION,
    salt: label::RTCP_SALT,
};

/// The session keys of one direction, for both RTP and RTCP.
// One per session: boxing the larger AES-CM variant would only add a pointer chase per packet.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Transform {
    /// `SRTP_AES128_CM_HMAC_SHA1_80`.
    AesCm { rtp: CmKeys, rtcp: CmKeys },
    /// `SRTP_AEAD_AES_128_GCM` and `SRTP_AEAD_AES_256_GCM`, which differ only in key length.
    Gcm { rtp: GcmKeys, rtcp: GcmKeys },
}

impl Transform {
    /// Derives all session keys of `master` (RFC 3711 section 4.3, RFC 7714 section 11).
    pub(crate) fn derive(master: &MasterKey) -> Result<Transform, SrtpError> {
        Ok(match master.profile() {
            SrtpProfile::Aes128CmSha1_80 => Transform::AesCm {
                rtp: CmKeys::derive(master, &RTP_LABELS)?,
                rtcp: CmKeys::derive(master, &RTCP_LABELS)?,
            },
            SrtpProfile::AeadAes128Gcm | SrtpProfile::AeadAes256Gcm => Transform::Gcm {
                rtp: GcmKeys::derive(master, &RTP_LABELS)?,
                rtcp: GcmKeys::derive(master, &RTCP_LABELS)?,
            },
        })
    }

    /// Protects the RTP packet that fills `out` but for the tag's room at the end.
    ///
    /// ```text
    /// AES-CM: header | payload XOR keystream | HMAC(header | payload | ROC)[..10]
    /// GCM:    header (AAD) | payload encrypted | tag (16)
    /// ```
    pub(crate) fn protect_rtp(
        &self,
        out: &mut [u8],
        header: &RtpHeader,
        index: u64,
    ) -> Result<(), SrtpError> {
        match self {
            Transform::AesCm { rtp, .. } => {
                let (packet, tag) = split_tail(out, CM_TAG_LEN)?;
                rtp.apply_keystream(header.ssrc, index, payload(packet, header.len)?)?;
                tag.copy_from_slice(&rtp.tag(packet, &roc(index)));
            }
            Transform::Gcm { rtp, .. } => {
                let (head, rest) = out
                    .split_at_mut_checked(header.len)
                    .ok_or(SrtpError::Malformed)?;
                let (body, tag) = split_tail(rest, GCM_TAG_LEN)?;
                tag.copy_from_slice(&rtp.seal(header.ssrc, index, head, body)?);
            }
        }

        Ok(())
    }

    /// Authenticates and decrypts the SRTP packet that fills `packet`, tag included.
    pub(crate) fn unprotect_rtp(
        &self,
        packet: &mut [u8],
        header: &RtpHeader,
        index: u64,
    ) -> Result<(), SrtpError> {
        match self {
            Transform::AesCm { rtp, .. } => {
                let (packet, tag) = split_tail(packet, CM_TAG_LEN)?;
                rtp.verify(packet, &roc(index), tag)?;
                rtp.apply_keystream(header.ssrc, index, payload(packet, header.len)?)
            }
            Transform::Gcm { rtp, .. } => {
                let (head, rest) = packet
                    .split_at_mut_checked(header.len)
                    .ok_or(SrtpError::Malformed)?;
                let (body, tag) = split_tail(rest, GCM_TAG_LEN)?;
                rtp.open(header.ssrc, index, head, body, tag)
            }
        }
    }

    /// Protects the RTCP packet of `len` bytes at the start of `out`, which has exactly the
    /// room for the tag and the E flag and index word after it.
    ///
    /// ```text
    /// AES-CM: header (8) | rest encrypted | E+index | HMAC(all before)[..10]
    /// GCM:    header (8) | rest encrypted | tag (16) | E+index, AAD = header | E+index
    /// ```
    pub(crate) fn protect_rtcp(
        &self,
        out: &mut [u8],
        len: usize,
        ssrc: u32,
        index: u32,
    ) -> Result<(), SrtpError> {
        let word = (SRTCP_E_FLAG | index).to_be_bytes();
        let (packet, trailer) = out
            .split_at_mut_checked(len)
            .ok_or(SrtpError::BufferTooSmall)?;

        match self {
            Transform::AesCm { rtcp, .. } => {
                rtcp.apply_keystream(ssrc, u64::from(index), payload(packet, RTCP_HEADER_LEN)?)?;
                let (word_out, tag) = trailer
                    .split_at_mut_checked(SRTCP_INDEX_LEN)
                    .ok_or(SrtpError::BufferTooSmall)?;
                word_out.copy_from_slice(&word);
                tag.copy_from_slice(&rtcp.tag(packet, &word));
            }
            Transform::Gcm { rtcp, .. } => {
                let (head, body) = packet
                    .split_at_mut_checked(RTCP_HEADER_LEN)
                    .ok_or(SrtpError::Malformed)?;
                let aad = rtcp_aad(head, word)?;
                let (tag, word_out) = trailer
                    .split_at_mut_checked(GCM_TAG_LEN)
                    .ok_or(SrtpError::BufferTooSmall)?;
                tag.copy_from_slice(&rtcp.seal(ssrc, u64::from(index), &aad, body)?);
                word_out.copy_from_slice(&word);
            }
        }

        Ok(())
    }

    /// Reads the E flag and index word of the SRTCP packet that fills `packet`.
    pub(crate) fn srtcp_word(&self, packet: &[u8]) -> Result<u32, SrtpError> {
        let from_end = match self {
            Transform::AesCm { .. } => CM_TAG_LEN + SRTCP_INDEX_LEN,
            Transform::Gcm { .. } => SRTCP_INDEX_LEN,
        };
        let at = packet
            .len()
            .checked_sub(from_end)
            .ok_or(SrtpError::Malformed)?;

        super::header::be_u32(packet, at)
    }

    /// Authenticates and decrypts the encrypted SRTCP packet that fills `packet`, whose
    /// plain RTCP is `plain_len` bytes long and whose index word is `word`.
    pub(crate) fn unprotect_rtcp(
        &self,
        packet: &mut [u8],
        plain_len: usize,
        ssrc: u32,
        word: u32,
    ) -> Result<(), SrtpError> {
        let index = u64::from(word & !SRTCP_E_FLAG);

        match self {
            Transform::AesCm { rtcp, .. } => {
                let (authenticated, tag) = split_tail(packet, CM_TAG_LEN)?;
                rtcp.verify(authenticated, &[], tag)?;
                let body = authenticated
                    .get_mut(RTCP_HEADER_LEN..plain_len)
                    .ok_or(SrtpError::Malformed)?;
                rtcp.apply_keystream(ssrc, index, body)
            }
            Transform::Gcm { rtcp, .. } => {
                let (head, rest) = packet
                    .split_at_mut_checked(RTCP_HEADER_LEN)
                    .ok_or(SrtpError::Malformed)?;
                let aad = rtcp_aad(head, word.to_be_bytes())?;
                let (rest, _word) = split_tail(rest, SRTCP_INDEX_LEN)?;
                let (body, tag) = split_tail(rest, GCM_TAG_LEN)?;
                rtcp.open(ssrc, index, &aad, body, tag)
            }
        }
    }
}

/// The AAD of encrypted SRTCP with GCM: the first 8 octets, then E and the index
/// (RFC 7714 section 9.2).
fn rtcp_aad(head: &[u8], word: [u8; SRTCP_INDEX_LEN]) -> Result<[u8; 12], SrtpError> {
    let mut aad = [0; RTCP_HEADER_LEN + SRTCP_INDEX_LEN];
    let (first, last) = aad.split_at_mut(RTCP_HEADER_LEN);
    first.copy_from_slice(head.get(..RTCP_HEADER_LEN).ok_or(SrtpError::Malformed)?);
    last.copy_from_slice(&word);

    Ok(aad)
}

/// The rollover counter, the upper 32 bits of a 48-bit packet index, as AES-CM appends it to
/// the authenticated portion (RFC 3711 section 4.2).
fn roc(index: u64) -> [u8; 4] {
    ((index >> 16) as u32).to_be_bytes()
}

/// Splits `bytes` into everything but the last `tail` bytes, and those.
fn split_tail(bytes: &mut [u8], tail: usize) -> Result<(&mut [u8], &mut [u8]), SrtpError> {
    let mid = bytes.len().checked_sub(tail).ok_or(SrtpError::Malformed)?;

    bytes.split_at_mut_checked(mid).ok_or(SrtpError::Malformed)
}

/// The part of `packet` after its first `header_len` bytes.
fn payload(packet: &mut [u8], header_len: usize) -> Result<&mut [u8], SrtpError> {
    packet.get_mut(header_len..).ok_or(SrtpError::Malformed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::header::parse_rtp;
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        hex::decode(text.replace(char::is_whitespace, "")).unwrap()
    }

    /// The AEAD_AES_128_GCM session key of RFC 7714 sections 16.1 and 17.1.
    const RFC7714_KEY_128: &str = "000102030405060708090a0b0c0d0e0f";

    /// The AEAD_AES_256_GCM session key of RFC 7714 sections 16.2 and 17.2.
    const RFC7714_KEY_256: &str = "000102030405060708090a0b0c0d0e0f
        101112131415161718191a1b1c1d1e1f";

    /// RFC 7714 sections 16 and 17 use the session key and salt directly, without the KDF.
    fn rfc7714_transform(key: &str) -> Transform {
        let key = hex(key);
        let salt = hex("517569642070726f2071756f");
        Transform::Gcm {
            rtp: GcmKeys::new(&key, &salt).unwrap(),
            rtcp: GcmKeys::new(&key, &salt).unwrap(),
        }
    }

    const RFC7714_RTP: &str = "8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f
        6d6e6973 20646976 69736120 696e2070 61727465 73207472 6573";

    const RFC7714_SRTP: &str = "8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c
        9d7e4bca be633bd5 0d294e6f 42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1 6a9152cf
        765ee439 0cce";

    const RFC7714_SRTP_256: &str = "8040f17b 8041f8d3 5501a0b2 32b1de78 a822fe12 ef9f78fa
        332e33aa b1801238 9a58e2f3 b50b2a02 76ffae0f 1ba63799 b87b7aa3 db36dfff d6b0f9bb
        7878d7a7 6c13";

    const RFC7714_RTCP: &str = "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a
        0000e930 4c756e61 deadbeef deadbeef deadbeef deadbeef deadbeef";

    const RFC7714_SRTCP: &str = "81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99
        7ff5c0f7 6c06f32d c676a5f1 730d6fda 4ce09b46 86303ded 0bb9275b c84aa458 96cf4d2f
        c5abf872 45d9eade 800005d4";

    const RFC7714_SRTCP_256: &str = "81c8000d 4d617273 d50ae4d1 f5ce5d30 4ba297e4 7d470c28
        2c3ece5d bffe0a50 a2eaa5c1 110555be 8415f658 c61de047 6f1b6fad 1d1eb30c 4446839f
        57ff6f6c b26ac3be 800005d4";

    /// RFC 7714 section 16.1: SRTP AEAD_AES_128_GCM encryption, ROC 0, SEQ 0xf17b.
    #[test]
    fn rfc7714_section_16_1_srtp_aes128_gcm_encrypt() {
        let plain = hex(RFC7714_RTP);
        let mut out = plain.clone();
        out.resize(plain.len() + GCM_TAG_LEN, 0);
        let header = parse_rtp(&plain).unwrap();

        rfc7714_transform(RFC7714_KEY_128)
            .protect_rtp(&mut out, &header, 0xf17b)
            .unwrap();

        assert_eq!(out, hex(RFC7714_SRTP));
    }

    /// RFC 7714 section 16.1: SRTP AEAD_AES_128_GCM decryption.
    #[test]
    fn rfc7714_section_16_1_srtp_aes128_gcm_decrypt() {
        let mut packet = hex(RFC7714_SRTP);
        let header = parse_rtp(&packet).unwrap();

        rfc7714_transform(RFC7714_KEY_128)
            .unprotect_rtp(&mut packet, &header, 0xf17b)
            .unwrap();

        assert_eq!(packet[..packet.len() - GCM_TAG_LEN], hex(RFC7714_RTP));
    }

    /// RFC 7714 section 17.1: SRTCP AEAD_AES_128_GCM encryption, SRTCP index 0x5d4.
    #[test]
    fn rfc7714_section_17_1_srtcp_aes128_gcm_encrypt() {
        let plain = hex(RFC7714_RTCP);
        let mut out = plain.clone();
        out.resize(plain.len() + GCM_TAG_LEN + SRTCP_INDEX_LEN, 0);

        rfc7714_transform(RFC7714_KEY_128)
            .protect_rtcp(&mut out, plain.len(), 0x4d61_7273, 0x5d4)
            .unwrap();

        assert_eq!(out, hex(RFC7714_SRTCP));
    }

    /// RFC 7714 section 17.1: SRTCP AEAD_AES_128_GCM decryption.
    #[test]
    fn rfc7714_section_17_1_srtcp_aes128_gcm_decrypt() {
        let transform = rfc7714_transform(RFC7714_KEY_128);
        let mut packet = hex(RFC7714_SRTCP);
        let plain_len = packet.len() - GCM_TAG_LEN - SRTCP_INDEX_LEN;

        let word = transform.srtcp_word(&packet).unwrap();
        transform
            .unprotect_rtcp(&mut packet, plain_len, 0x4d61_7273, word)
            .unwrap();

        assert_eq!(word, SRTCP_E_FLAG | 0x5d4);
        assert_eq!(packet[..plain_len], hex(RFC7714_RTCP));
    }

    /// RFC 7714 section 16.2.1: SRTP AEAD_AES_256_GCM encryption, ROC 0, SEQ 0xf17b.
    #[test]
    fn rfc7714_section_16_2_1_srtp_aes256_gcm_encrypt() {
        let plain = hex(RFC7714_RTP);
        let mut out = plain.clone();
        out.resize(plain.len() + GCM_TAG_LEN, 0);
        let header = parse_rtp(&plain).unwrap();

        rfc7714_transform(RFC7714_KEY_256)
            .protect_rtp(&mut out, &header, 0xf17b)
            .unwrap();

        assert_eq!(out, hex(RFC7714_SRTP_256));
    }

    /// RFC 7714 section 16.2.2: SRTP AEAD_AES_256_GCM verification and decryption.
    #[test]
    fn rfc7714_section_16_2_2_srtp_aes256_gcm_decrypt() {
        let mut packet = hex(RFC7714_SRTP_256);
        let header = parse_rtp(&packet).unwrap();

        rfc7714_transform(RFC7714_KEY_256)
            .unprotect_rtp(&mut packet, &header, 0xf17b)
            .unwrap();

        assert_eq!(packet[..packet.len() - GCM_TAG_LEN], hex(RFC7714_RTP));
    }

    /// RFC 7714 section 17.2: SRTCP AEAD_AES_256_GCM encryption, SRTCP index 0x5d4.
    #[test]
    fn rfc7714_section_17_2_srtcp_aes256_gcm_encrypt() {
        let plain = hex(RFC7714_RTCP);
        let mut out = plain.clone();
        out.resize(plain.len() + GCM_TAG_LEN + SRTCP_INDEX_LEN, 0);

        rfc7714_transform(RFC7714_KEY_256)
            .protect_rtcp(&mut out, plain.len(), 0x4d61_7273, 0x5d4)
            .unwrap();

        assert_eq!(out, hex(RFC7714_SRTCP_256));
    }

    /// RFC 7714 section 17.2: SRTCP AEAD_AES_256_GCM verification and decryption.
    #[test]
    fn rfc7714_section_17_2_srtcp_aes256_gcm_decrypt() {
        let transform = rfc7714_transform(RFC7714_KEY_256);
        let mut packet = hex(RFC7714_SRTCP_256);
        let plain_len = packet.len() - GCM_TAG_LEN - SRTCP_INDEX_LEN;

        let word = transform.srtcp_word(&packet).unwrap();
        transform
            .unprotect_rtcp(&mut packet, plain_len, 0x4d61_7273, word)
            .unwrap();

        assert_eq!(word, SRTCP_E_FLAG | 0x5d4);
        assert_eq!(packet[..plain_len], hex(RFC7714_RTCP));
    }

    /// The two GCM key lengths are not interchangeable: the 256-bit vector fails under the
    /// 128-bit key of the same RFC section.
    #[test]
    fn rfc7714_aes256_vector_fails_under_the_aes128_key() {
        let mut packet = hex(RFC7714_SRTP_256);
        let header = parse_rtp(&packet).unwrap();

        let result = rfc7714_transform(RFC7714_KEY_128).unprotect_rtp(&mut packet, &header, 0xf17b);

        assert_eq!(result, Err(SrtpError::AuthenticationFailed));
    }

    /// RFC 7714 section 9.2: the E flag and index are authenticated, so flipping one fails.
    #[test]
    fn rfc7714_section_9_2_srtcp_index_is_authenticated() {
        let transform = rfc7714_transform(RFC7714_KEY_128);
        let mut packet = hex(RFC7714_SRTCP);
        let plain_len = packet.len() - GCM_TAG_LEN - SRTCP_INDEX_LEN;

        let result = transform.unprotect_rtcp(&mut packet, plain_len, 0x4d61_7273, 0x8000_05d5);

        assert_eq!(result, Err(SrtpError::AuthenticationFailed));
    }
}
