//! Certificate fingerprints as SDP's `a=fingerprint` carries them (RFC 8122 section 5): the
//! name of a hash function and the hash of the DTLS certificate's DER encoding in
//! colon-separated hex. RFC 8827 section 6.5 asks for SHA-256 or stronger, so SHA-1 and MD5
//! are refused.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest;

/// A hash function allowed in a fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// `sha-256`, what browsers use.
    Sha256,
    /// `sha-384`.
    Sha384,
    /// `sha-512`.
    Sha512,
}

impl HashAlgorithm {
    /// The token SDP uses for this hash (IANA "Hash Function Textual Names").
    pub fn sdp_name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "sha-256",
            HashAlgorithm::Sha384 => "sha-384",
            HashAlgorithm::Sha512 => "sha-512",
        }
    }

    /// Looks a hash up by its SDP token, ignoring case; weaker hashes give `None`.
    pub fn from_sdp_name(name: &str) -> Option<HashAlgorithm> {
        [
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
        ]
        .into_iter()
        .find(|hash| hash.sdp_name().eq_ignore_ascii_case(name))
    }

    /// The length of this hash's output in bytes.
    pub fn digest_len(self) -> usize {
        self.digest_algorithm().output_len()
    }

    fn digest_algorithm(self) -> &'static digest::Algorithm {
        match self {
            HashAlgorithm::Sha256 => &digest::SHA256,
            HashAlgorithm::Sha384 => &digest::SHA384,
            HashAlgorithm::Sha512 => &digest::SHA512,
        }
    }
}

/// Why a fingerprint's text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintError {
    /// Not `<hash> <hex:hex:...>`, or the digest has the wrong length.
    #[error("a fingerprint must be a hash name and colon-separated hex of the hash's length")]
    Malformed,
    /// A hash function that is unknown or too weak (sha-1, md5).
    #[error("unsupported fingerprint hash function")]
    UnsupportedHash,
}

/// A certificate fingerprint: `sha-256 AB:CD:...` in SDP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// The hash function.
    pub algorithm: HashAlgorithm,
    /// The hash of the DER certificate, `algorithm.digest_len()` bytes.
    pub value: Vec<u8>,
}

impl Fingerprint {
    /// The fingerprint of a DER certificate with `algorithm`.
    pub fn of(algorithm: HashAlgorithm, der: &[u8]) -> Fingerprint {
        let value = digest::digest(algorithm.digest_algorithm(), der);
        Fingerprint {
            algorithm,
            value: value.as_ref().to_vec(),
        }
    }

    /// Whether `der` hashes to this fingerprint with this fingerprint's algorithm.
    pub fn matches(&self, der: &[u8]) -> bool {
        let actual = digest::digest(self.algorithm.digest_algorithm(), der);
        actual.as_ref() == self.value.as_slice()
    }

    /// Whether the digest has the length its algorithm produces.
    pub fn is_well_formed(&self) -> bool {
        self.value.len() == self.algorithm.digest_len()
    }
}

impl FromStr for Fingerprint {
    type Err = FingerprintError;

    /// Parses the SDP form: a hash token, a space, and colon-separated pairs of hex digits
    /// (either case), exactly as many as the hash produces.
    fn from_str(s: &str) -> Result<Fingerprint, FingerprintError> {
        let (name, hex) = s
            .trim()
            .split_once(' ')
            .ok_or(FingerprintError::Malformed)?;
        let algorithm =
            HashAlgorithm::from_sdp_name(name).ok_or(FingerprintError::UnsupportedHash)?;
        let value = hex
            .trim_start()
            .split(':')
            .map(parse_hex_pair)
            .collect::<Option<Vec<u8>>>()
            .ok_or(FingerprintError::Malformed)?;
        let fingerprint = Fingerprint { algorithm, value };
        if !fingerprint.is_well_formed() {
            return Err(FingerprintError::Malformed);
        }

        Ok(fingerprint)
    }
}

/// Two hex digits, either case (RFC 4572 asks for upper case, but lower case is sent too).
fn parse_hex_pair(pair: &str) -> Option<u8> {
    if pair.len() != 2 || !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }

    u8::from_str_radix(pair, 16).ok()
}

impl fmt::Display for Fingerprint {
    /// The SDP form with upper-case hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.algorithm.sdp_name())?;
        for (index, byte) in self.value.iter().enumerate() {
            let separator = if index == 0 { ' ' } else { ':' };
            write!(f, "{separator}{byte:02X}")?;
        }

        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prints_and_matches() {
        let der = b"not really a certificate";
        let fp = Fingerprint::of(HashAlgorithm::Sha256, der);
        let text = fp.to_string();
        assert!(text.starts_with("sha-256 "));
        let parsed: Fingerprint = text.to_lowercase().parse().unwrap();
        assert_eq!(parsed, fp);
        assert!(parsed.matches(der));
        assert!(!parsed.matches(b"another certificate"));
    }

    #[test]
    fn refuses_weak_hashes_and_bad_digests() {
        assert_eq!(
            "sha-1 AB:CD".parse::<Fingerprint>(),
            Err(FingerprintError::UnsupportedHash)
        );
        assert_eq!(
            "sha-256 AB:CD".parse::<Fingerprint>(),
            Err(FingerprintError::Malformed)
        );
        assert_eq!(
            "sha-256".parse::<Fingerprint>(),
            Err(FingerprintError::Malformed)
        );
        let bad_hex = format!("sha-256 {}", vec!["ZZ"; 32].join(":"));
        assert_eq!(
            bad_hex.parse::<Fingerprint>(),
            Err(FingerprintError::Malformed)
        );
    }
}
