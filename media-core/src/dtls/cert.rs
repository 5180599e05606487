//! The relay's DTLS certificate and certificate fingerprints as SDP carries them
//! (RFC 8122 section 5; RFC 8827 section 6.5 asks for SHA-256 or stronger).

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest;

use super::DtlsError;

/// A hash function allowed in an SDP `a=fingerprint` line.
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
    /// The token SDP uses for this hash (RFC 8122 section 5, IANA "Hash Function Textual Names").
    pub fn sdp_name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "sha-256",
            HashAlgorithm::Sha384 => "sha-384",
            HashAlgorithm::Sha512 => "sha-512",
        }
    }

    /// Looks a hash up by its SDP token, ignoring case; weaker hashes (sha-1, md5) give `None`.
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
    pub fn output_len(self) -> usize {
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

/// A certificate fingerprint: a hash of the certificate's DER encoding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// The hash function.
    pub algorithm: HashAlgorithm,
    /// The hash of the DER certificate, `algorithm.output_len()` bytes.
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
}

impl FromStr for Fingerprint {
    type Err = DtlsError;

    /// Parses the SDP form, `sha-256 AB:CD:...` (RFC 8122 section 5): a hash token, a space,
    /// and colon-separated pairs of hex digits, exactly as many as the hash produces.
    fn from_str(s: &str) -> Result<Fingerprint, DtlsError> {
        let (name, hex) = s
            .trim()
            .split_once(' ')
            .ok_or(DtlsError::InvalidFingerprint)?;
        let algorithm = HashAlgorithm::from_sdp_name(name).ok_or(DtlsError::InvalidFingerprint)?;
        let value = hex
            .trim_start()
            .split(':')
            .map(parse_hex_pair)
            .collect::<Option<Vec<u8>>>()
            .ok_or(DtlsError::InvalidFingerprint)?;
        if value.len() != algorithm.output_len() {
            return Err(DtlsError::InvalidFingerprint);
        }

        Ok(Fingerprint { algorithm, value })
    }
}

/// Two hex digits, either case.
fn parse_hex_pair(pair: &str) -> Option<u8> {
    if pair.len() != 2 || !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }

    u8::from_str_radix(pair, 16).ok()
}

impl fmt::Display for Fingerprint {
    /// The SDP form with upper-case hex, as RFC 8122 section 5 writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.algorithm.sdp_name())?;
        for (index, byte) in self.value.iter().enumerate() {
            let separator = if index == 0 { ' ' } else { ':' };
            write!(f, "{separator}{byte:02X}")?;
        }

        Ok(())
    }
}

/// The relay's self-signed ECDSA P-256 certificate; one per process, shared by `Arc` across
/// worker threads, announced in every answer by its SHA-256 [`Fingerprint`].
pub struct DtlsCert {
    pub(crate) certificate: dimpl::DtlsCertificate,
    fingerprint: Fingerprint,
}

impl DtlsCert {
    /// Generates a fresh key pair and self-signed certificate with a random serial number.
    pub fn generate() -> Result<DtlsCert, DtlsError> {
        let certificate = dimpl::certificate::generate_self_signed_certificate()
            .map_err(|_| DtlsError::CertificateGeneration)?;
        let fingerprint = Fingerprint::of(HashAlgorithm::Sha256, &certificate.certificate);

        Ok(DtlsCert {
            certificate,
            fingerprint,
        })
    }

    /// The SHA-256 fingerprint of the certificate's DER, for `a=fingerprint`.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// The certificate's DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.certificate.certificate
    }
}

impl fmt::Debug for DtlsCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DtlsCert")
            .field("fingerprint", &self.fingerprint.to_string())
            .finish_non_exhaustive()
    }
}
