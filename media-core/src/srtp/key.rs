//! SRTP master keys, their split out of the DTLS exporter output (RFC 5764 section 4.2), and
//! the AES-CM key derivation function that turns them into session keys (RFC 3711 section
//! 4.3, used unchanged by RFC 7714 section 11). A 256-bit master key runs the same function
//! on AES-256 (`AES_256_CM_PRF`, RFC 6188 section 7, required by RFC 7714 section 11).

use std::fmt;

use aws_lc_rs::cipher::{
    Algorithm, EncryptingKey, EncryptionContext, UnboundCipherKey, AES_128, AES_256,
};
use aws_lc_rs::iv::FixedLength;

use super::{SrtpError, SrtpProfile};

/// Room for the longest master key (AES-256); a 128-bit key uses the first 16 bytes.
pub(crate) const MAX_MASTER_KEY_LEN: usize = 32;

/// Room for the longest master salt (RFC 3711's 112 bits); RFC 7714's 96-bit salt is stored
/// left-aligned with zeros after it, which is how the KDF reads it.
const SALT_ROOM: usize = 14;

/// Key derivation labels (RFC 3711 section 4.3.2 for SRTP, 4.3.2 and 4.3.3 for SRTCP).
pub(crate) mod label {
    /// SRTP encryption key.
    pub(crate) const RTP_ENCRYPTION: u8 = 0x00;
    /// SRTP authentication key.
    pub(crate) const RTP_AUTHENTICATION: u8 = 0x01;
    /// SRTP session salt.
    pub(crate) const RTP_SALT: u8 = 0x02;
    /// SRTCP encryption key.
    pub(crate) const RTCP_ENCRYPTION: u8 = 0x03;
    /// SRTCP authentication key.
    pub(crate) const RTCP_AUTHENTICATION: u8 = 0x04;
    /// SRTCP session salt.
    pub(crate) const RTCP_SALT: u8 = 0x05;
}

/// An SRTP master key and master salt for one direction of one association.
///
/// Its `Debug` output names the profile only, and the bytes are overwritten on drop.
pub struct MasterKey {
    profile: SrtpProfile,
    key: [u8; MAX_MASTER_KEY_LEN],
    salt: [u8; SALT_ROOM],
}

impl MasterKey {
    /// Builds a master key, checking the key and salt lengths against the profile.
    pub fn new(profile: SrtpProfile, key: &[u8], salt: &[u8]) -> Result<MasterKey, SrtpError> {
        if key.len() != profile.master_key_len() || salt.len() != profile.master_salt_len() {
            return Err(SrtpError::InvalidKey);
        }

        let mut master = MasterKey {
            profile,
            key: [0; MAX_MASTER_KEY_LEN],
            salt: [0; SALT_ROOM],
        };
        let key_room = master.key.get_mut(..key.len());
        key_room.ok_or(SrtpError::InvalidKey)?.copy_from_slice(key);
        let salt_room = master.salt.get_mut(..salt.len());
        salt_room
            .ok_or(SrtpError::InvalidKey)?
            .copy_from_slice(salt);
        Ok(master)
    }

    /// The profile this key was made for.
    pub fn profile(&self) -> SrtpProfile {
        self.profile
    }

    /// The master key bytes, as long as the profile says.
    fn key_bytes(&self) -> Result<&[u8], SrtpError> {
        let len = self.profile.master_key_len();

        self.key.get(..len).ok_or(SrtpError::InvalidKey)
    }

    /// The block cipher of the key derivation function: AES-128 for a 128-bit master key,
    /// AES-256 for a 256-bit one (RFC 6188 section 7, RFC 7714 section 11).
    fn prf_cipher(&self) -> &'static Algorithm {
        match self.profile {
            SrtpProfile::Aes128CmSha1_80 | SrtpProfile::AeadAes128Gcm => &AES_128,
            SrtpProfile::AeadAes256Gcm => &AES_256,
        }
    }

    /// Derives the session key or salt for `label` into `out` (RFC 3711 section 4.3.1,
    /// key_derivation_rate 0 as DTLS-SRTP requires, RFC 5764 section 4.1.2).
    ///
    /// ```text
    /// x  = (label * 2^48) XOR master_salt        (112 bits)
    /// out = first out.len() bytes of AES-CM(master_key, IV = x * 2^16)
    /// ```
    /// AES-CM runs on AES-128 or AES-256 by the master key's length; the IV is the same.
    pub(crate) fn derive(&self, label: u8, out: &mut [u8]) -> Result<(), SrtpError> {
        let mut iv = [0; 16];
        iv[..SALT_ROOM].copy_from_slice(&self.salt);
        iv[7] ^= label;

        let key = UnboundCipherKey::new(self.prf_cipher(), self.key_bytes()?)
            .map_err(|_| SrtpError::Crypto)?;
        let prf = EncryptingKey::ctr(key).map_err(|_| SrtpError::Crypto)?;
        out.fill(0);
        prf.less_safe_encrypt(out, EncryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| SrtpError::Crypto)?;
        wipe(&mut iv);
        Ok(())
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        wipe(&mut self.key);
        wipe(&mut self.salt);
    }
}

/// Both directions' master keys of one DTLS-SRTP association.
#[derive(Debug)]
pub struct SrtpKeys {
    /// The key we protect our outgoing packets with.
    pub local: MasterKey,
    /// The key the peer protects its packets with; we unprotect with it.
    pub remote: MasterKey,
}

impl SrtpKeys {
    /// Splits the DTLS exporter output for label "EXTRACTOR-dtls_srtp", laid out as
    /// client key | server key | client salt | server salt (RFC 5764 section 4.2).
    pub fn from_keying_material(
        profile: SrtpProfile,
        material: &[u8],
        local_is_dtls_server: bool,
    ) -> Result<SrtpKeys, SrtpError> {
        if material.len() != profile.keying_material_len() {
            return Err(SrtpError::InvalidKey);
        }

        let (keys, salts) = material.split_at(2 * profile.master_key_len());
        let (client_key, server_key) = keys.split_at(profile.master_key_len());
        let (client_salt, server_salt) = salts.split_at(profile.master_salt_len());
        let client = MasterKey::new(profile, client_key, client_salt)?;
        let server = MasterKey::new(profile, server_key, server_salt)?;

        Ok(if local_is_dtls_server {
            SrtpKeys {
                local: server,
                remote: client,
            }
        } else {
            SrtpKeys {
                local: client,
                remote: server,
            }
        })
    }
}

/// Overwrites key material in a way the optimiser cannot drop as a dead store.
pub(crate) fn wipe(bytes: &mut [u8]) {
    bytes.fill(0);
    std::hint::black_box(bytes);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        hex::decode(text.replace(char::is_whitespace, "")).unwrap()
    }

    /// RFC 3711 appendix B.3: session keys derived from one master key with kdr 0.
    #[test]
    fn rfc3711_appendix_b3_key_derivation() {
        let master = MasterKey::new(
            SrtpProfile::Aes128CmSha1_80,
            &hex("E1F97A0D3E018BE0D64FA32C06DE4139"),
            &hex("0EC675AD498AFEEBB6960B3AABE6"),
        )
        .unwrap();
        let mut cipher_key = [0; 16];
        let mut cipher_salt = [0; 14];
        let mut auth_key = [0; 20];

        master
            .derive(label::RTP_ENCRYPTION, &mut cipher_key)
            .unwrap();
        master.derive(label::RTP_SALT, &mut cipher_salt).unwrap();
        master
            .derive(label::RTP_AUTHENTICATION, &mut auth_key)
            .unwrap();

        assert_eq!(cipher_key[..], hex("C61E7A93744F39EE10734AFE3FF7A087"));
        assert_eq!(cipher_salt[..], hex("30CBBC08863D8C85D49DB34A9AE1"));
        assert_eq!(
            auth_key[..],
            hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
        );
    }

    /// RFC 6188 section 7.2: `AES_256_CM_PRF` with kdr 0. The RFC uses a 112-bit master
    /// salt, which no DTLS-SRTP profile with a 256-bit key has, so the key is built by hand.
    #[test]
    fn rfc6188_section_7_2_aes_256_key_derivation() {
        let mut master = MasterKey {
            profile: SrtpProfile::AeadAes256Gcm,
            key: [0; MAX_MASTER_KEY_LEN],
            salt: [0; SALT_ROOM],
        };
        master.key.copy_from_slice(&hex(
            "f0f04914b513f2763a1b1fa130f10e29 98f6f6e43e4309d1e622a0e332b9f1b6",
        ));
        master
            .salt
            .copy_from_slice(&hex("3b04803de51ee7c96423ab5b78d2"));
        let mut cipher_key = [0; 32];
        let mut cipher_salt = [0; 14];
        let mut auth_key = [0; 20];

        master
            .derive(label::RTP_ENCRYPTION, &mut cipher_key)
            .unwrap();
        master.derive(label::RTP_SALT, &mut cipher_salt).unwrap();
        master
            .derive(label::RTP_AUTHENTICATION, &mut auth_key)
            .unwrap();

        assert_eq!(
            cipher_key[..],
            hex("5ba1064e30ec51613cad926c5a28ef73 1ec7fb397f70a960653caf06554cd8c4")
        );
        assert_eq!(cipher_salt[..], hex("fa31791685ca444a9e07c6c64e93"));
        assert_eq!(
            auth_key[..],
            hex("fd9c32d39ed5fbb5a9dc96b30818454d1313dc05")
        );
    }

    #[test]
    fn master_key_lengths_are_checked_against_the_profile() {
        let gcm = SrtpProfile::AeadAes128Gcm;
        let cm = SrtpProfile::Aes128CmSha1_80;
        let gcm256 = SrtpProfile::AeadAes256Gcm;

        assert!(MasterKey::new(gcm, &[1; 16], &[2; 12]).is_ok());
        assert_eq!(
            MasterKey::new(gcm, &[1; 16], &[2; 14]).err(),
            Some(SrtpError::InvalidKey)
        );
        assert_eq!(
            MasterKey::new(cm, &[1; 16], &[2; 12]).err(),
            Some(SrtpError::InvalidKey)
        );
        assert_eq!(
            MasterKey::new(cm, &[1; 32], &[2; 14]).err(),
            Some(SrtpError::InvalidKey)
        );
        assert!(MasterKey::new(gcm256, &[1; 32], &[2; 12]).is_ok());
        assert_eq!(
            MasterKey::new(gcm256, &[1; 16], &[2; 12]).err(),
            Some(SrtpError::InvalidKey)
        );
        assert_eq!(
            MasterKey::new(gcm, &[1; 32], &[2; 12]).err(),
            Some(SrtpError::InvalidKey)
        );
        assert_eq!(
            MasterKey::new(gcm256, &[1; 33], &[2; 12]).err(),
            Some(SrtpError::InvalidKey)
        );
    }

    #[test]
    fn debug_output_shows_no_key_bytes() {
        let master = MasterKey::new(SrtpProfile::AeadAes128Gcm, &[0xab; 16], &[0xcd; 12]);

        let printed = format!("{master:?}");

        assert_eq!(printed, "Ok(MasterKey { profile: AeadAes128Gcm, .. })");
        let master = MasterKey::new(SrtpProfile::AeadAes256Gcm, &[0xab; 32], &[0xcd; 12]);
        assert_eq!(
            format!("{master:?}"),
            "Ok(MasterKey { profile: AeadAes256Gcm, .. })"
        );
    }

    /// RFC 5764 section 4.2: the exporter output splits into client and server halves.
    #[test]
    fn keying_material_splits_per_rfc5764_section_4_2() {
        let profile = SrtpProfile::Aes128CmSha1_80;
        let material: Vec<u8> = (0..60).collect();

        let server = SrtpKeys::from_keying_material(profile, &material, true).unwrap();
        let client = SrtpKeys::from_keying_material(profile, &material, false).unwrap();

        assert_eq!(client.local.key_bytes().unwrap(), &material[0..16]);
        assert_eq!(client.local.salt[..], material[32..46]);
        assert_eq!(server.local.key_bytes().unwrap(), &material[16..32]);
        assert_eq!(server.local.salt[..], material[46..60]);
        assert_eq!(server.remote.key, client.local.key);
        assert_eq!(server.remote.salt, client.local.salt);
        assert_eq!(
            SrtpKeys::from_keying_material(profile, &material[..59], true).err(),
            Some(SrtpError::InvalidKey)
        );
    }

    /// The GCM salt is 12 bytes and sits left-aligned in the KDF input.
    #[test]
    fn gcm_keying_material_uses_twelve_byte_salts() {
        let profile = SrtpProfile::AeadAes128Gcm;
        let material: Vec<u8> = (0..56).collect();

        let keys = SrtpKeys::from_keying_material(profile, &material, false).unwrap();

        assert_eq!(keys.local.salt[..12], material[32..44]);
        assert_eq!(keys.local.salt[12..], [0, 0]);
        assert_eq!(keys.remote.salt[..12], material[44..56]);
    }

    /// RFC 5764 section 4.2 with RFC 7714's sizes for AES-256-GCM: 2 * (32 + 12) bytes,
    /// laid out as client key | server key | client salt | server salt.
    #[test]
    fn aes_256_gcm_keying_material_splits_into_32_byte_keys_and_12_byte_salts() {
        let profile = SrtpProfile::AeadAes256Gcm;
        let material: Vec<u8> = (0..88).collect();

        let server = SrtpKeys::from_keying_material(profile, &material, true).unwrap();
        let client = SrtpKeys::from_keying_material(profile, &material, false).unwrap();

        assert_eq!(client.local.key_bytes().unwrap(), &material[0..32]);
        assert_eq!(server.local.key_bytes().unwrap(), &material[32..64]);
        assert_eq!(client.local.salt[..12], material[64..76]);
        assert_eq!(server.local.salt[..12], material[76..88]);
        assert_eq!(client.local.salt[12..], [0, 0]);
        assert_eq!(server.remote.key, client.local.key);
        assert_eq!(server.remote.salt, client.local.salt);
        assert_eq!(client.remote.key, server.local.key);
        assert_eq!(client.local.profile(), profile);
        let longer: Vec<u8> = (0..89).collect();
        for len in [56, 60, 87, 89] {
            assert_eq!(
                SrtpKeys::from_keying_material(profile, &longer[..len], true).err(),
                Some(SrtpError::InvalidKey),
                "{len} bytes"
            );
        }
    }
}
