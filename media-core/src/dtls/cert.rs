//! The relay's DTLS certificate and certificate fingerprints as SDP carries them
//! (RFC 8122 section 5; RFC 8827 section 6.5 asks for SHA-256 or stronger).

use std::fmt;

use super::DtlsError;
pub use crate::fingerprint::{Fingerprint, HashAlgorithm};

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
