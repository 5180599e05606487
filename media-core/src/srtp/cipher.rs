//! The keyed primitives of one session direction: AES-CM with an HMAC-SHA1 tag (RFC 3711
//! sections 4.1.1 and 4.2) and AEAD AES-128-GCM or AES-256-GCM (RFC 7714 sections 8.1 and
//! 9.1).
//!
//! Keys are expanded once when the session is made; each packet only builds a 16-byte IV or
//! a 12-byte nonce on the stack, so nothing here allocates per packet.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};
use aws_lc_rs::cipher::{EncryptingKey, EncryptionContext, UnboundCipherKey, AES_128};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;

use super::key::{wipe, MasterKey, MAX_MASTER_KEY_LEN};
use super::SrtpError;

/// Length of the truncated HMAC-SHA1 tag of `SRTP_AES128_CM_HMAC_SHA1_80`.
pub(crate) const CM_TAG_LEN: usize = 10;

/// Length of the AES-GCM tag of both GCM profiles.
pub(crate) const GCM_TAG_LEN: usize = 16;

/// Session key lengths (RFC 3711 section 8.2 and RFC 7714 section 12); a GCM session key is
/// as long as its master key, AES-128 or AES-256.
const AES_128_KEY_LEN: usize = 16;
const AES_256_KEY_LEN: usize = 32;
const CM_AUTH_KEY_LEN: usize = 20;
const CM_SALT_LEN: usize = 14;
const GCM_SALT_LEN: usize = 12;

/// The three KDF labels of one packet kind: encryption key, authentication key, salt.
pub(crate) struct Labels {
    pub(crate) encryption: u8,
    pub(crate) authentication: u8,
    pub(crate) salt: u8,
}

/// AES-CM session keys of one packet kind (SRTP or SRTCP).
pub(crate) struct CmKeys {
    cipher: EncryptingKey,
    auth: hmac::Key,
    salt: [u8; CM_SALT_LEN],
}

impl CmKeys {
    /// Derives the session keys for `labels` from `master` (RFC 3711 section 4.3).
    pub(crate) fn derive(master: &MasterKey, labels: &Labels) -> Result<CmKeys, SrtpError> {
        let mut key = [0; AES_128_KEY_LEN];
        let mut auth = [0; CM_AUTH_KEY_LEN];
        let mut salt = [0; CM_SALT_LEN];
        master.derive(labels.encryption, &mut key)?;
        master.derive(labels.authentication, &mut auth)?;
        master.derive(labels.salt, &mut salt)?;

        let keys = CmKeys::new(&key, &auth, &salt);
        wipe(&mut key);
        wipe(&mut auth);
        wipe(&mut salt);
        keys
    }

    /// Keys a session from its session keys directly.
    pub(crate) fn new(key: &[u8], auth: &[u8], salt: &[u8]) -> Result<CmKeys, SrtpError> {
        let key = UnboundCipherKey::new(&AES_128, key).map_err(|_| SrtpError::InvalidKey)?;
        let cipher = EncryptingKey::ctr(key).map_err(|_| SrtpError::InvalidKey)?;
        let auth = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, auth);
        let salt = salt.try_into().map_err(|_| SrtpError::InvalidKey)?;

        Ok(CmKeys { cipher, auth, salt })
    }

    /// XORs the keystream of packet `index` from `ssrc` into `data`; the same call encrypts
    /// and decrypts (RFC 3711 section 4.1.1).
    ///
    /// ```text
    /// IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16)
    /// ```
    pub(crate) fn apply_keystream(
        &self,
        ssrc: u32,
        index: u64,
        data: &mut [u8],
    ) -> Result<(), SrtpError> {
        let mut iv = [0; 16];
        iv[..CM_SALT_LEN].copy_from_slice(&self.salt);
        xor_into(&mut iv[4..8], &ssrc.to_be_bytes());
        xor_into(&mut iv[8..14], &index.to_be_bytes()[2..]);

        let context = EncryptionContext::Iv128(FixedLength::from(iv));
        self.cipher
            .less_safe_encrypt(data, context)
            .map_err(|_| SrtpError::Crypto)?;
        Ok(())
    }

    /// The 80-bit tag over `authenticated` followed by `trailer` (RFC 3711 section 4.2).
    pub(crate) fn tag(&self, authenticated: &[u8], trailer: &[u8]) -> [u8; CM_TAG_LEN] {
        let mut context = hmac::Context::with_key(&self.auth);
        context.update(authenticated);
        context.update(trailer);
        let full = context.sign();

        let mut tag = [0; CM_TAG_LEN];
        for (out, byte) in tag.iter_mut().zip(full.as_ref()) {
            *out = *byte;
        }
        tag
    }

    /// Checks `received` against the tag over `authenticated || trailer` in constant time.
    pub(crate) fn verify(
        &self,
        authenticated: &[u8],
        trailer: &[u8],
        received: &[u8],
    ) -> Result<(), SrtpError> {
        let expected = self.tag(authenticated, trailer);

        verify_slices_are_equal(&expected, received).map_err(|_| SrtpError::AuthenticationFailed)
    }
}

/// AES-GCM session key (128 or 256 bits) and salt of one packet kind (SRTP or SRTCP).
pub(crate) struct GcmKeys {
    aead: LessSafeKey,
    salt: [u8; GCM_SALT_LEN],
}

impl GcmKeys {
    /// Derives the session key and salt for `labels` from `master`; the session key is as
    /// long as the master key (RFC 7714 sections 11 and 12).
    pub(crate) fn derive(master: &MasterKey, labels: &Labels) -> Result<GcmKeys, SrtpError> {
        let mut room = [0; MAX_MASTER_KEY_LEN];
        let mut salt = [0; GCM_SALT_LEN];
        let key_len = master.profile().master_key_len();
        let key = room.get_mut(..key_len).ok_or(SrtpError::InvalidKey)?;
        master.derive(labels.encryption, key)?;
        master.derive(labels.salt, &mut salt)?;

        let keys = GcmKeys::new(key, &salt);
        wipe(&mut room);
        wipe(&mut salt);
        keys
    }

    /// Keys a session from its session key (16 bytes for AES-128-GCM, 32 for AES-256-GCM)
    /// and salt directly.
    pub(crate) fn new(key: &[u8], salt: &[u8]) -> Result<GcmKeys, SrtpError> {
        let algorithm = match key.len() {
            AES_128_KEY_LEN => &AES_128_GCM,
            AES_256_KEY_LEN => &AES_256_GCM,
            _ => return Err(SrtpError::InvalidKey),
        };
        let key = UnboundKey::new(algorithm, key).map_err(|_| SrtpError::InvalidKey)?;
        let salt = salt.try_into().map_err(|_| SrtpError::InvalidKey)?;

        Ok(GcmKeys {
            aead: LessSafeKey::new(key),
            salt,
        })
    }

    /// The nonce of packet `index` from `ssrc` (RFC 7714 sections 8.1 and 9.1).
    ///
    /// ```text
    /// SRTP:  0x0000 || SSRC || ROC || SEQ                 (the 48-bit index)
    /// SRTCP: 0x0000 || SSRC || 0x0000 || 0 || SRTCP index (31 bits)
    /// ```
    /// Both are the index right-aligned in octets 6..12, XORed with the session salt.
    fn nonce(&self, ssrc: u32, index: u64) -> Nonce {
        let mut nonce = self.salt;
        xor_into(&mut nonce[2..6], &ssrc.to_be_bytes());
        xor_into(&mut nonce[6..12], &index.to_be_bytes()[2..]);

        Nonce::assume_unique_for_key(nonce)
    }

    /// Encrypts `data` in place and returns the tag over `aad` and the ciphertext.
    pub(crate) fn seal(
        &self,
        ssrc: u32,
        index: u64,
        aad: &[u8],
        data: &mut [u8],
    ) -> Result<[u8; GCM_TAG_LEN], SrtpError> {
        let nonce = self.nonce(ssrc, index);
        let tag = self
            .aead
            .seal_in_place_separate_tag(nonce, Aad::from(aad), data)
            .map_err(|_| SrtpError::Crypto)?;

        let mut out = [0; GCM_TAG_LEN];
        for (out, byte) in out.iter_mut().zip(tag.as_ref()) {
            *out = *byte;
        }
        Ok(out)
    }

    /// Checks `tag` and decrypts `data` in place; on failure `data` is left unspecified.
    pub(crate) fn open(
        &self,
        ssrc: u32,
        index: u64,
        aad: &[u8],
        data: &mut [u8],
        tag: &[u8],
    ) -> Result<(), SrtpError> {
        let nonce = self.nonce(ssrc, index);
        self.aead
            .open_in_place_separate_tag(nonce, Aad::from(aad), tag, data)
            .map_err(|_| SrtpError::AuthenticationFailed)?;

        Ok(())
    }
}

/// XORs `value` into `target` byte by byte.
fn xor_into(target: &mut [u8], value: &[u8]) {
    for (out, byte) in target.iter_mut().zip(value) {
        *out ^= byte;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        hex::decode(text.replace(char::is_whitespace, "")).unwrap()
    }

    /// RFC 3711 appendix B.2: the AES-CM keystream for SSRC 0, index 0.
    #[test]
    fn rfc3711_appendix_b2_aes_cm_keystream() {
        let keys = CmKeys::new(
            &hex("2B7E151628AED2A6ABF7158809CF4F3C"),
            &[0; CM_AUTH_KEY_LEN],
            &hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"),
        )
        .unwrap();
        let mut keystream = vec![0; 0xff02 * 16];

        keys.apply_keystream(0, 0, &mut keystream).unwrap();

        let block = |n: usize| &keystream[n * 16..(n + 1) * 16];
        assert_eq!(block(0x0000), hex("E03EAD0935C95E80E166B16DD92B4EB4"));
        assert_eq!(block(0x0001), hex("D23513162B02D0F72A43A2FE4A5F97AB"));
        assert_eq!(block(0x0002), hex("41E95B3BB0A2E8DD477901E4FCA894C0"));
        assert_eq!(block(0xfeff), hex("EC8CDF7398607CB0F2D21675EA9EA1E4"));
        assert_eq!(block(0xff00), hex("362B7C3C6773516318A077D7FC5073AE"));
        assert_eq!(block(0xff01), hex("6A2CC3787889374FBEB4C81B17BA6C44"));
    }

    /// RFC 7714 sections 16 and 17 build their IVs from this salt.
    #[test]
    fn rfc7714_section_16_and_17_nonces() {
        let keys = GcmKeys::new(&[0; 16], &hex("517569642070726f2071756f")).unwrap();

        let rtp = keys.nonce(0x5501_a0b2, 0xf17b);
        let rtcp = keys.nonce(0x4d61_7273, 0x5d4);

        assert_eq!(rtp.as_ref()[..], hex("51753c6580c2726f20718414"));
        assert_eq!(rtcp.as_ref()[..], hex("517524055203726f207170bb"));
    }

    /// A GCM session key is 16 or 32 bytes; other lengths are refused.
    #[test]
    fn gcm_session_keys_of_other_lengths_are_refused() {
        let salt = [0; 12];

        assert!(GcmKeys::new(&[0; 16], &salt).is_ok());
        assert!(GcmKeys::new(&[0; 32], &salt).is_ok());
        assert_eq!(
            GcmKeys::new(&[0; 24], &salt).err(),
            Some(SrtpError::InvalidKey)
        );
        assert_eq!(
            GcmKeys::new(&[0; 32], &[0; 14]).err(),
            Some(SrtpError::InvalidKey)
        );
    }
}
