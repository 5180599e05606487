//! TLS for the API: the rustls server configuration and the self-signed trial certificate.
//!
//! The configuration allows TLS 1.3 (RFC 8446) and TLS 1.2 (RFC 5246) with ephemeral ECDHE
//! key exchange and AEAD ciphers only: AES-GCM and ChaCha20-Poly1305. There is no CBC suite,
//! no static RSA key exchange and no renegotiation; rustls implements none of them, and the
//! suite list below names every suite allowed so that a change is a visible edit. ALPN
//! (RFC 7301) offers `h2` first, then `http/1.1`. Cryptography is aws-lc-rs, as in
//! media-core.
//!
//! When the operator configures no certificate, [`load_or_generate`] makes an ECDSA P-256
//! certificate for `127.0.0.1` and `localhost` in the data directory. Browsers do not trust
//! it: it exists to try the daemon on one machine, and says so loudly in the log.

use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::crypto::aws_lc_rs::{self, cipher_suite};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{InconsistentKeys, ServerConfig, SupportedCipherSuite};

/// The cipher suites the API accepts, in the server's order of preference.
static CIPHER_SUITES: &[SupportedCipherSuite] = &[
    cipher_suite::TLS13_AES_128_GCM_SHA256,
    cipher_suite::TLS13_AES_256_GCM_SHA384,
    cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// Names the trial certificate covers.
const TRIAL_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// File names of the trial certificate and its key, in `<data dir>/tls/`.
const TRIAL_CERT_FILE: &str = "self-signed-cert.pem";
const TRIAL_KEY_FILE: &str = "self-signed-key.pem";

/// A certificate and key that cannot serve: an operator's configuration error.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate PEM holds no `CERTIFICATE` block.
    #[error("the certificate file holds no PEM certificate")]
    NoCertificate,
    /// A `CERTIFICATE` block is malformed.
    #[error("the certificate file is not valid PEM: {0}")]
    CertificatePem(#[source] pem::Error),
    /// The key PEM holds no private key block.
    #[error("the key file holds no PEM private key (PKCS#8, SEC1 or PKCS#1)")]
    NoKey,
    /// The private key block is malformed; the PEM error is left out, it could quote the key.
    #[error("the key file is not valid PEM")]
    KeyPem,
    /// The key is not the one the certificate was issued for.
    #[error("the private key does not belong to the certificate")]
    KeyMismatch,
    /// rustls refused the certificate or the key (unsupported algorithm, bad DER).
    #[error("the certificate or key cannot be used: {0}")]
    Rejected(#[source] rustls::Error),
    /// The trial certificate could not be generated.
    #[error("cannot generate the self-signed certificate: {0}")]
    Generate(#[source] rcgen::Error),
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
}

/// The cipher suites [`server_config`] allows.
pub fn cipher_suites() -> &'static [SupportedCipherSuite] {
    CIPHER_SUITES
}

/// Builds the server configuration for a PEM certificate chain (leaf first) and its key.
pub fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<ServerConfig, TlsError> {
    let chain = parse_chain(cert_pem)?;
    let key = parse_key(key_pem)?;
    let provider = CryptoProvider {
        cipher_suites: CIPHER_SUITES.to_vec(),
        ..aws_lc_rs::default_provider()
    };

    let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Rejected)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| match error {
            rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => TlsError::KeyMismatch,
            other => TlsError::Rejected(other),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.ignore_client_order = true;
    Ok(config)
}

fn parse_chain(cert_pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(TlsError::CertificatePem)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    Ok(chain)
}

fn parse_key(key_pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(key_pem).map_err(|error| match error {
        pem::Error::NoItemsFound => TlsError::NoKey,
        _ => TlsError::KeyPem,
    })
}

/// The self-signed certificate for trying the daemon out, and where it lives.
pub struct TrialCertificate {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM (PKCS#8).
    pub key_pem: String,
    /// Whether this call made it; `false` when it was read back from an earlier run.
    pub generated: bool,
    /// The certificate file.
    pub cert_path: PathBuf,
}

impl fmt::Debug for TrialCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrialCertificate")
            .field("cert_path", &self.cert_path)
            .field("generated", &self.generated)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Reads the trial certificate from `<data_dir>/tls/`, or makes one there if there is none.
///
/// The folder is created with mode 0700 and the key written with mode 0600. The certificate
/// file is written last, so that a run interrupted half-way makes a new pair next time.
pub fn load_or_generate(data_dir: &Path) -> Result<TrialCertificate, TlsError> {
    let dir = data_dir.join("tls");
    let cert_path = dir.join(TRIAL_CERT_FILE);
    let key_path = dir.join(TRIAL_KEY_FILE);
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|source| io_error(&dir, source))?;

    let trial = if cert_path.exists() {
        load_trial(cert_path, &key_path)?
    } else {
        generate_trial(cert_path, &key_path)?
    };
    tracing::warn!(
        target: "api",
        "TLS: using the SELF-SIGNED certificate {} for {}; browsers will warn, and only a \
         client given this file (curl --cacert) can verify the server. It is for trying \
         Sightline out on this machine only: configure a real certificate before anyone \
         else connects.",
        trial.cert_path.display(),
        TRIAL_NAMES.join(" and "),
    );
    Ok(trial)
}

fn load_trial(cert_path: PathBuf, key_path: &Path) -> Result<TrialCertificate, TlsError> {
    let cert_pem = fs::read_to_string(&cert_path).map_err(|e| io_error(&cert_path, e))?;
    let key_pem = fs::read_to_string(key_path).map_err(|e| io_error(key_path, e))?;

    let mode = fs::metadata(key_path)
        .map_err(|e| io_error(key_path, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(target: "api", "TLS: {} is readable by others (mode {:o})",
            key_path.display(), mode & 0o777);
    }
    Ok(TrialCertificate {
        cert_pem,
        key_pem,
        generated: false,
        cert_path,
    })
}

fn generate_trial(cert_path: PathBuf, key_path: &Path) -> Result<TrialCertificate, TlsError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(TlsError::Generate)?;
    let names: Vec<String> = TRIAL_NAMES.iter().map(|name| name.to_string()).collect();
    let mut params = CertificateParams::new(names).map_err(TlsError::Generate)?;
    let mut subject = DistinguishedName::new();
    subject.push(
        DnType::CommonName,
        "Sightline self-signed, for trying out only",
    );
    params.distinguished_name = subject;
    let cert = params.self_signed(&key).map_err(TlsError::Generate)?;

    let trial = TrialCertificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        generated: true,
        cert_path,
    };
    write_new(key_path, trial.key_pem.as_bytes(), 0o600)?;
    write_new(&trial.cert_path, trial.cert_pem.as_bytes(), 0o644)?;
    Ok(trial)
}

/// Writes `contents` to `path` through a fresh temporary file created with `mode`, then
/// renames it into place, so that the file never exists with wider permissions or half
/// written.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    let temporary = path.with_extension("pem.new");
    match fs::remove_file(&temporary) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            return Err(io_error(&temporary, error));
        }
        _ => {}
    }

    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temporary)
        .map_err(|e| io_error(&temporary, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(&temporary, e))?;
    fs::rename(&temporary, path).map_err(|e| io_error(path, e))
}

fn io_error(path: &Path, source: io::Error) -> TlsError {
    TlsError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sightline-tls-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn generated_certificate_is_ecdsa_p256_with_a_private_key_file() {
        let dir = temp_dir("generate");
        let trial = load_or_generate(&dir).unwrap();
        assert!(trial.generated);

        let key = KeyPair::from_pem(&trial.key_pem).unwrap();
        assert_eq!(key.algorithm(), &PKCS_ECDSA_P256_SHA256);
        let key_mode = fs::metadata(dir.join("tls").join(TRIAL_KEY_FILE)).unwrap();
        assert_eq!(key_mode.permissions().mode() & 0o777, 0o600);
        let dir_mode = fs::metadata(dir.join("tls")).unwrap();
        assert_eq!(dir_mode.permissions().mode() & 0o777, 0o700);
        server_config(trial.cert_pem.as_bytes(), trial.key_pem.as_bytes()).unwrap();

        let again = load_or_generate(&dir).unwrap();
        assert!(!again.generated, "the second start reuses the pair");
        assert_eq!(again.cert_pem, trial.cert_pem);
        assert!(!format!("{again:?}").contains("PRIVATE KEY"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn key_of_another_certificate_is_a_mismatch() {
        let (first, second) = (temp_dir("mismatch-a"), temp_dir("mismatch-b"));
        let a = load_or_generate(&first).unwrap();
        let b = load_or_generate(&second).unwrap();

        let error = server_config(a.cert_pem.as_bytes(), b.key_pem.as_bytes()).unwrap_err();
        assert!(matches!(error, TlsError::KeyMismatch), "{error}");
        fs::remove_dir_all(&first).unwrap();
        fs::remove_dir_all(&second).unwrap();
    }

    #[test]
    fn garbage_pem_is_a_clear_error() {
        let dir = temp_dir("garbage");
        let good = load_or_generate(&dir).unwrap();
        let key = good.key_pem.as_bytes();

        let none = server_config(b"not a certificate", key).unwrap_err();
        assert!(matches!(none, TlsError::NoCertificate), "{none}");

        let broken = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        let bad_pem = server_config(broken, key).unwrap_err();
        assert!(matches!(bad_pem, TlsError::CertificatePem(_)), "{bad_pem}");

        let not_der = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let bad_der = server_config(not_der, key).unwrap_err();
        assert!(matches!(bad_der, TlsError::Rejected(_)), "{bad_der}");

        let cert = good.cert_pem.as_bytes();
        let no_key = server_config(cert, good.cert_pem.as_bytes()).unwrap_err();
        assert!(matches!(no_key, TlsError::NoKey), "{no_key}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn suites_are_ecdhe_or_tls13_and_aead_only() {
        let dir = temp_dir("suites");
        let trial = load_or_generate(&dir).unwrap();
        let config = server_config(trial.cert_pem.as_bytes(), trial.key_pem.as_bytes()).unwrap();

        let suites = &config.crypto_provider().cipher_suites;
        assert_eq!(suites.len(), CIPHER_SUITES.len());
        for suite in suites {
            let name = format!("{:?}", suite.suite());
            let aead = name.contains("_GCM_") || name.contains("_CHACHA20_POLY1305_");
            let key_exchange = name.starts_with("TLS13_") || name.starts_with("TLS_ECDHE_");
            assert!(aead && key_exchange && !name.contains("CBC"), "{name}");
        }
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
