//! The `a=fingerprint` attribute that binds a DTLS certificate to the SDP (RFC 8122
//! section 5): a hash function name and the certificate digest as colon-separated hex.

use std::fmt;
use std::str::FromStr;

use super::{malformed, unsupported, SdpError};

/// The hash functions we accept for certificate fingerprints; SHA-1 and MD5 are refused
/// (RFC 8122 section 5 says SHA-256 or stronger).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-256, what every browser sends.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// The name as SDP spells it (the IANA "Hash Function Textual Names").
    pub fn sdp_name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "sha-256",
            HashAlgorithm::Sha384 => "sha-384",
            HashAlgorithm::Sha512 => "sha-512",
        }
    }

    /// Length of the digest in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
            HashAlgorithm::Sha512 => 64,
        }
    }

    /// Looks an algorithm up by its SDP name, ignoring case (RFC 8122 section 5).
    pub fn from_sdp_name(name: &str) -> Option<HashAlgorithm> {
        [
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
        ]
        .into_iter()
        .find(|a| a.sdp_name().eq_ignore_ascii_case(name))
    }
}

/// A DTLS certificate fingerprint: `sha-256 AB:CD:...` in SDP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// The hash function that produced the digest.
    pub algorithm: HashAlgorithm,
    /// The digest, `algorithm.digest_len()` bytes.
    pub value: Vec<u8>,
}

impl Fingerprint {
    /// Whether the digest has the length its algorithm produces.
    pub fn is_well_formed(&self) -> bool {
        self.value.len() == self.algorithm.digest_len()
    }
}

impl FromStr for Fingerprint {
    type Err = SdpError;

    /// Parses `<hash-func> <fingerprint>`: an unknown or weak hash function is
    /// [`SdpError::Unsupported`], bad hex or a wrong length is [`SdpError::Malformed`].
    fn from_str(s: &str) -> Result<Self, SdpError> {
        let (name, hex) = s
            .trim()
            .split_once(' ')
            .ok_or_else(|| malformed("a=fingerprint needs a hash function and a digest"))?;
        let algorithm = HashAlgorithm::from_sdp_name(name)
            .ok_or_else(|| unsupported(format!("fingerprint hash function {name:.16}")))?;

        let value = hex
            .trim()
            .split(':')
            .map(parse_hex_byte)
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| malformed("a=fingerprint digest is not colon-separated hex"))?;
        let fingerprint = Fingerprint { algorithm, value };
        if !fingerprint.is_well_formed() {
            return Err(malformed(format!(
                "a=fingerprint {name} digest has a wrong length"
            )));
        }

        Ok(fingerprint)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.algorithm.sdp_name())?;
        for (i, byte) in self.value.iter().enumerate() {
            let sep = if i == 0 { ' ' } else { ':' };
            write!(f, "{sep}{byte:02X}")?;
        }
        Ok(())
    }
}

/// One byte written as exactly two hex digits, either case (RFC 8122 `HEX`, which RFC 4572
/// limits to upper case but browsers and libraries also send lower case).
fn parse_hex_byte(pair: &str) -> Option<u8> {
    if pair.len() != 2 || !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u8::from_str_radix(pair, 16).ok()
}
