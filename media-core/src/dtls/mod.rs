//! DTLS-SRTP server for one participant (RFC 5764; WebRTC security architecture RFC 8827;
//! certificate fingerprints RFC 8122 section 5 and RFC 5763 section 5).
//!
//! The relay answers with `a=setup:passive`, so it is always the DTLS server. The handshake
//! runs on dimpl's auto-sensing server: a DTLS 1.3 ClientHello (current Chromium, split over
//! several records by its post-quantum key shares) is reassembled and negotiated as 1.3, and
//! anything else falls back to 1.2. The peer's certificate must hash to the fingerprint of its
//! offer; otherwise the handshake is abandoned, nothing more is sent, and no keys come out.
//! Once connected, the transport exports the SRTP keying material (RFC 5764 section 4.2) and
//! has nothing more to do: application data (data channels) is not supported and is dropped.
//!
//! Calling convention: feed every DTLS datagram to [`DtlsTransport::handle_datagram`], call
//! [`DtlsTransport::handle_timeout`] when [`DtlsTransport::poll_timeout`] passes, and after
//! either drain [`DtlsTransport::poll_transmit`] (records for the peer) and
//! [`DtlsTransport::poll_event`].
//!
//! dimpl picks the SRTP profile itself and has no setting to narrow it: the first profile of the
//! client's list that it supports (Chromium 156 lists AES-CM-HMAC-SHA1-80 first, so that is
//! what it gets). [`SrtpProfile`] covers every profile dimpl can pick; anything else would fail
//! the transport with [`DtlsError::UnsupportedSrtpProfile`].
//!
//! Known gap: dimpl verifies only ECDSA client certificates, so a client with an RSA
//! certificate (GStreamer 1.22's webrtcbin by default) cannot connect.

mod cert;

#[cfg(test)]
mod interop_tests;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use dimpl::{Config, Dtls, Output, ProtocolVersion};
use tracing::{debug, trace};

use crate::srtp::SrtpProfile;

pub use cert::{DtlsCert, Fingerprint, HashAlgorithm};

/// Room for one outgoing record; dimpl's records stay under its MTU setting (1150).
const OUTPUT_BUF_LEN: usize = 2048;
/// Upper bound for an output buffer grown on dimpl's request.
const MAX_OUTPUT_BUF_LEN: usize = 65_536;
/// Upper bound on outputs taken from dimpl in one drain, against a runaway loop.
const MAX_OUTPUTS_PER_DRAIN: usize = 1024;
/// RFC 5764 section 4.2: the exporter label for DTLS-SRTP keys (dimpl applies it).
pub const EXPORTER_LABEL: &str = "EXTRACTOR-dtls_srtp";

/// Why a DTLS transport failed or a fingerprint was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DtlsError {
    /// The peer's certificate does not hash to the fingerprint of its offer (peer or attacker).
    #[error("peer certificate does not match the offered fingerprint")]
    FingerprintMismatch,
    /// The handshake completed without a client certificate to check (peer).
    #[error("peer sent no certificate")]
    NoPeerCertificate,
    /// The handshake completed without a `use_srtp` agreement (incompatible peer).
    #[error("no SRTP profile negotiated")]
    NoSrtpProfile,
    /// The negotiated SRTP profile is one the forwarder cannot use (incompatible peer).
    #[error("unsupported SRTP profile {0:#06x}")]
    UnsupportedSrtpProfile(u16),
    /// The peer broke the DTLS protocol, or the handshake cryptography failed (peer).
    #[error("DTLS handshake failed: {0}")]
    Protocol(String),
    /// The handshake did not complete in time (peer unreachable or gone).
    #[error("DTLS handshake timed out")]
    Timeout,
    /// The peer closed the association with `close_notify`.
    #[error("peer closed the DTLS association")]
    PeerClosed,
    /// An SDP fingerprint that is not `sha-256|sha-384|sha-512 XX:XX:...` (peer's SDP).
    #[error("invalid certificate fingerprint")]
    InvalidFingerprint,
    /// The certificate could not be generated (our environment).
    #[error("certificate generation failed")]
    CertificateGeneration,
}

impl From<dimpl::Error> for DtlsError {
    fn from(error: dimpl::Error) -> DtlsError {
        match error {
            dimpl::Error::Timeout(_) => DtlsError::Timeout,
            dimpl::Error::ConnectionClosed => DtlsError::PeerClosed,
            other => DtlsError::Protocol(other.to_string()),
        }
    }
}

/// What a [`DtlsTransport`] reports to its owner.
#[derive(Clone, PartialEq, Eq)]
pub enum DtlsEvent {
    /// The handshake completed with a verified peer; SRTP can be keyed.
    Connected {
        /// The negotiated SRTP protection profile.
        profile: SrtpProfile,
        /// RFC 5764 section 4.2 exporter output ("EXTRACTOR-dtls_srtp"),
        /// `profile.keying_material_len()` bytes: client key, server key, client salt,
        /// server salt.
        keying_material: Vec<u8>,
    },
    /// The transport failed for good; the participant must be torn down.
    Failed(DtlsError),
}

impl fmt::Debug for DtlsEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DtlsEvent::Connected { profile, .. } => f
                .debug_struct("Connected")
                .field("profile", profile)
                .field("keying_material", &"<redacted>")
                .finish(),
            DtlsEvent::Failed(error) => f.debug_tuple("Failed").field(error).finish(),
        }
    }
}

/// The DTLS version a transport negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtlsVersion {
    /// DTLS 1.2 (RFC 6347).
    Dtls12,
    /// DTLS 1.3 (RFC 9147).
    Dtls13,
}

/// Where the handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Handshaking,
    Connected,
    Failed,
}

/// The DTLS server of one participant (a=setup:passive), sans-IO.
pub struct DtlsTransport {
    dtls: Dtls,
    expected_peer: Fingerprint,
    state: State,
    failure: Option<DtlsError>,
    peer_verified: bool,
    handshake_done: bool,
    keys: Option<(SrtpProfile, Vec<u8>)>,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<DtlsEvent>,
    next_timeout: Option<Instant>,
    output: Vec<u8>,
    /// The export and profile id as dimpl gave them, kept by tests to compare with the peer
    /// even when the profile is one we refuse.
    #[cfg(test)]
    raw_export: Option<(u16, Vec<u8>)>,
}

/// dimpl's configuration, shared by all transports: client certificates required (RFC 8827
/// section 6.5), cookie exchange on, retransmission from 1 s doubling, 40 s handshake deadline.
fn config() -> Arc<Config> {
    static CONFIG: OnceLock<Arc<Config>> = OnceLock::new();
    CONFIG.get_or_init(|| Arc::new(Config::default())).clone()
}

impl DtlsTransport {
    /// Creates the server side for a peer whose offer announced `expected_peer`.
    pub fn new(cert: Arc<DtlsCert>, expected_peer: Fingerprint, now: Instant) -> Self {
        let dtls = Dtls::new_auto(config(), cert.certificate.clone(), now);
        let mut transport = DtlsTransport {
            dtls,
            expected_peer,
            state: State::Handshaking,
            failure: None,
            peer_verified: false,
            handshake_done: false,
            keys: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_timeout: None,
            output: vec![0; OUTPUT_BUF_LEN],
            #[cfg(test)]
            raw_export: None,
        };
        transport.drain();
        transport
    }

    /// Feeds one datagram from the peer. Noise and replays are dropped inside; an error means
    /// the transport failed for good (the same error is also queued as [`DtlsEvent::Failed`]).
    pub fn handle_datagram(&mut self, buf: &[u8], now: Instant) -> Result<(), DtlsError> {
        if self.state == State::Failed {
            trace!(target: "dtls", "datagram after failure dropped");
            return Ok(());
        }

        let result = self
            .dtls
            .handle_timeout(now)
            .and_then(|()| self.dtls.handle_packet(buf));
        if let Err(error) = result {
            let error = DtlsError::from(error);
            self.fail(error.clone());
            return Err(error);
        }
        self.drain();

        match &self.failure {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }

    /// Drives retransmission and the handshake deadline; call once
    /// [`DtlsTransport::poll_timeout`] has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Failed {
            return;
        }
        if let Err(error) = self.dtls.handle_timeout(now) {
            self.fail(error.into());
            return;
        }
        self.drain();
    }

    /// The next record to send to the peer.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The next event for the owner.
    pub fn poll_event(&mut self) -> Option<DtlsEvent> {
        self.events.pop_front()
    }

    /// When [`DtlsTransport::handle_timeout`] is next due; `None` once failed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Failed => None,
            _ => self.next_timeout,
        }
    }

    /// Whether the handshake completed with a verified peer and keys were exported.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// The negotiated DTLS version, once the ClientHello has been read.
    pub fn version(&self) -> Option<DtlsVersion> {
        match self.dtls.protocol_version()? {
            ProtocolVersion::DTLS1_3 => Some(DtlsVersion::Dtls13),
            _ => Some(DtlsVersion::Dtls12),
        }
    }

    /// Takes everything dimpl has to say, up to its next timeout.
    fn drain(&mut self) {
        for _ in 0..MAX_OUTPUTS_PER_DRAIN {
            match self.dtls.poll_output(&mut self.output) {
                Output::Timeout(at) => {
                    self.next_timeout = Some(at);
                    break;
                }
                Output::BufferTooSmall { needed } => self.grow_output(needed),
                Output::Packet(record) if self.state != State::Failed => {
                    self.transmits.push_back(record.to_vec());
                }
                Output::PeerCert(der) => {
                    let matches = self.expected_peer.matches(der);
                    self.on_peer_certificate(matches);
                }
                Output::KeyingMaterial(material, profile) => {
                    self.on_keying_material(&material, profile);
                }
                Output::Connected => self.handshake_done = true,
                Output::ApplicationData(data) => {
                    trace!(target: "dtls", len = data.len(), "application data dropped");
                }
                Output::CloseNotify => self.fail(DtlsError::PeerClosed),
                _ => {}
            }
            self.try_connect();
        }
        self.check_completion();
    }

    fn grow_output(&mut self, needed: usize) {
        if needed > MAX_OUTPUT_BUF_LEN {
            self.fail(DtlsError::Protocol(format!("record of {needed} bytes")));
            return;
        }
        self.output.resize(needed, 0);
    }

    /// RFC 8122 section 5 / RFC 5763 section 5: the certificate must match the offer's
    /// fingerprint, or the handshake is abandoned.
    fn on_peer_certificate(&mut self, matches: bool) {
        if matches {
            self.peer_verified = true;
        } else {
            self.fail(DtlsError::FingerprintMismatch);
        }
    }

    /// Keeps the exported keys until the peer is verified and the handshake is done.
    fn on_keying_material(&mut self, material: &[u8], profile: dimpl::SrtpProfile) {
        if self.state == State::Failed {
            return;
        }
        let id = dtls_srtp_id(profile);
        #[cfg(test)]
        {
            self.raw_export = Some((id, material.to_vec()));
        }
        let Some(profile) = SrtpProfile::from_dtls_id(id) else {
            self.fail(DtlsError::UnsupportedSrtpProfile(id));
            return;
        };
        if material.len() != profile.keying_material_len() {
            self.fail(DtlsError::Protocol("keying material length".to_owned()));
            return;
        }
        self.keys = Some((profile, material.to_vec()));
    }

    /// Reports the connection once the peer is verified, dimpl is connected and keys exist.
    fn try_connect(&mut self) {
        if self.state != State::Handshaking || !self.peer_verified || !self.handshake_done {
            return;
        }
        let Some((profile, keying_material)) = self.keys.take() else {
            return;
        };

        debug!(target: "dtls", version = ?self.version(), ?profile, "DTLS-SRTP connected");
        self.state = State::Connected;
        self.events.push_back(DtlsEvent::Connected {
            profile,
            keying_material,
        });
    }

    /// After a drain: a handshake that finished without a certificate or keys has failed.
    fn check_completion(&mut self) {
        if self.state != State::Handshaking || !self.handshake_done {
            return;
        }
        if !self.peer_verified {
            self.fail(DtlsError::NoPeerCertificate);
        } else if self.keys.is_none() {
            self.fail(DtlsError::NoSrtpProfile);
        }
    }

    /// Fails for good: unsent records are dropped (so a rejected peer never gets our final
    /// flight), keys are discarded, and the owner is told once.
    fn fail(&mut self, error: DtlsError) {
        if self.state == State::Failed {
            return;
        }
        debug!(target: "dtls", %error, "DTLS transport failed");
        self.state = State::Failed;
        self.transmits.clear();
        self.keys = None;
        self.failure = Some(error.clone());
        self.events.push_back(DtlsEvent::Failed(error));
    }
}

impl fmt::Debug for DtlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DtlsTransport")
            .field("state", &self.state)
            .field("version", &self.version())
            .field("peer_verified", &self.peer_verified)
            .finish_non_exhaustive()
    }
}

/// The RFC 5764 section 4.1.2 / RFC 7714 section 14.2 identifier of dimpl's profile.
fn dtls_srtp_id(profile: dimpl::SrtpProfile) -> u16 {
    match profile {
        dimpl::SrtpProfile::AES128_CM_SHA1_80 => 0x0001,
        dimpl::SrtpProfile::AEAD_AES_128_GCM => 0x0007,
        dimpl::SrtpProfile::AEAD_AES_256_GCM => 0x0008,
        _ => 0,
    }
}
