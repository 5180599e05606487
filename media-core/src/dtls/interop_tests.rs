//! Our DTLS server against an independent implementation: the webrtc-rs `rtc-dtls` client
//! (DTLS 1.2 only), which checks our certificate against our fingerprint as a browser would
//! and lets each test choose the SRTP profiles it offers.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;
use rtc::dtls::config::{ConfigBuilder, ExtendedMasterSecretType, VerifyPeerCertificateFn};
use rtc::dtls::crypto::Certificate;
use rtc::dtls::endpoint::{Endpoint, EndpointEvent};
use rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use rtc::shared::TransportProtocol;

use super::tests::{
    assert_application_data_dropped, assert_quiet_after_handshake, assert_same_keys,
    lose_one_flight, lossy_network, noise, server_done, settled, Dir, Pair, Peer,
};
use super::*;

const CLIENT: &str = "192.0.2.1:5000";
const SERVER: &str = "192.0.2.2:443";

/// An rtc-dtls client endpoint talking to one server address.
struct RtcClient {
    endpoint: Endpoint,
    server: SocketAddr,
    fingerprint: Fingerprint,
    server_cert: Arc<Mutex<Option<Vec<u8>>>>,
    connected: bool,
    now: Instant,
}

impl RtcClient {
    /// Starts a handshake offering `profiles` (none: no use_srtp extension) to a server whose
    /// certificate must match `server_fingerprint`.
    fn start(
        profiles: Vec<SrtpProtectionProfile>,
        server_fingerprint: Fingerprint,
        now: Instant,
    ) -> RtcClient {
        let provider = rtc::crypto::default_provider().unwrap();
        let cert =
            Certificate::generate_self_signed(vec!["peer".to_owned()], provider.crypto()).unwrap();
        let fingerprint = Fingerprint::of(HashAlgorithm::Sha256, cert.certificate[0].as_ref());
        let server_cert = Arc::new(Mutex::new(None));
        let seen = server_cert.clone();
        let verify: VerifyPeerCertificateFn = Arc::new(move |certs, _| match certs.first() {
            Some(der) if server_fingerprint.matches(der) => {
                *seen.lock().unwrap() = Some(der.clone());
                Ok(())
            }
            _ => Err(rtc::shared::error::Error::Other("fingerprint".to_owned())),
        });
        let server: SocketAddr = SERVER.parse().unwrap();
        let config = ConfigBuilder::default()
            .with_crypto_provider(provider)
            .with_certificates(vec![cert])
            .with_srtp_protection_profiles(profiles)
            .with_extended_master_secret(ExtendedMasterSecretType::Require)
            .with_insecure_skip_verify(true)
            .with_verify_peer_certificate(Some(verify))
            .build(true, Some(server))
            .unwrap();
        let mut endpoint = Endpoint::new(CLIENT.parse().unwrap(), TransportProtocol::UDP, None);
        endpoint
            .connect(now, server, Arc::new(config), None)
            .unwrap();

        RtcClient {
            endpoint,
            server,
            fingerprint,
            server_cert,
            connected: false,
            now,
        }
    }
}

impl Peer for RtcClient {
    fn fingerprint(&self) -> Fingerprint {
        self.fingerprint.clone()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        let _ = self.endpoint.handle_timeout(self.server, now);
    }

    fn poll_datagrams(&mut self) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| self.endpoint.poll_transmit())
            .map(|transmit| transmit.message.to_vec())
            .collect()
    }

    fn handle_datagram(&mut self, datagram: &[u8], now: Instant) {
        self.now = now;
        let events = self.endpoint.read(now, self.server, None, datagram.into());
        let complete = |event: &EndpointEvent| matches!(event, EndpointEvent::HandshakeComplete);
        self.connected |= events.is_ok_and(|events| events.iter().any(complete));
    }

    fn next_timeout(&self) -> Option<Instant> {
        self.endpoint.poll_timeout(&self.server)
    }

    fn is_connected(&self) -> bool {
        self.connected
    }

    fn export(&self) -> Option<(u16, Vec<u8>)> {
        if !self.connected {
            return None;
        }
        let state = self.endpoint.get_connection_state(self.server)?;
        let id = state.srtp_protection_profile() as u16;
        let len = SrtpProfile::from_dtls_id(id)?.keying_material_len();
        let keys = state
            .export_keying_material(EXPORTER_LABEL, &[], len)
            .ok()?;
        Some((id, keys.as_ref().to_vec()))
    }

    fn server_cert(&self) -> Option<Vec<u8>> {
        self.server_cert.lock().unwrap().clone()
    }

    fn send_application_data(&mut self, data: &[u8]) {
        self.endpoint.write(self.now, self.server, data).unwrap();
    }
}

/// A pair whose rtc-dtls client offers `profiles` and whose server expects `expected`, or the
/// client's real fingerprint.
fn pair(profiles: Vec<SrtpProtectionProfile>, expected: Option<Fingerprint>) -> Pair {
    let now = Instant::now();
    let cert = Arc::new(DtlsCert::generate().unwrap());
    let client = RtcClient::start(profiles, cert.fingerprint().clone(), now);
    Pair::new(Box::new(client), cert, expected, now)
}

fn gcm() -> Vec<SrtpProtectionProfile> {
    vec![SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm]
}

/// A completed handshake with the profile and keys the client also sees.
fn assert_connected(pair: &Pair, expected: SrtpProfile) {
    assert!(
        pair.client.is_connected(),
        "rtc-dtls client completed: {:?}",
        pair.server_events
    );
    assert!(pair.server.is_connected());
    assert_eq!(pair.server.version(), Some(DtlsVersion::Dtls12));
    assert_eq!(
        pair.client.export().map(|(id, _)| id),
        Some(expected.dtls_id())
    );
    assert_same_keys(pair);
}

#[test]
fn rtc_dtls_client_aead_aes_128_gcm() {
    let mut pair = pair(gcm(), None);
    assert!(pair.handshake());
    assert_connected(&pair, SrtpProfile::AeadAes128Gcm);
}

#[test]
fn rtc_dtls_client_aes128_cm_sha1_80() {
    let mut pair = pair(
        vec![SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80],
        None,
    );
    assert!(pair.handshake());
    assert_connected(&pair, SrtpProfile::Aes128CmSha1_80);
}

#[test]
fn rtc_dtls_client_offering_both_gets_gcm() {
    let offer = vec![
        SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
        SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
    ];
    let mut pair = pair(offer, None);
    assert!(pair.handshake());
    assert_connected(&pair, SrtpProfile::AeadAes128Gcm);
}

#[test]
fn rtc_dtls_client_without_use_srtp_fails() {
    let mut pair = pair(Vec::new(), None);
    assert!(pair.handshake());

    assert!(!pair.server.is_connected());
    assert_eq!(
        pair.server_events,
        [DtlsEvent::Failed(DtlsError::NoSrtpProfile)]
    );
}

#[test]
fn rtc_dtls_client_without_a_common_profile_gets_no_keys() {
    let mut pair = pair(
        vec![SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_32],
        None,
    );
    assert!(pair.run_until(&mut |_| true, server_done));

    assert!(!pair.server.is_connected());
    assert!(matches!(pair.server_events[..], [DtlsEvent::Failed(_)]));
}

#[test]
fn rtc_dtls_client_with_the_wrong_certificate_is_refused() {
    let stranger = DtlsCert::generate().unwrap().fingerprint().clone();
    let mut pair = pair(gcm(), Some(stranger));
    assert!(pair.run_until(&mut |_| true, server_done));
    pair.run_until(&mut |_| true, |_| false);

    assert!(!pair.client.is_connected());
    assert!(!pair.server.is_connected());
    assert_eq!(
        pair.server_events,
        [DtlsEvent::Failed(DtlsError::FingerprintMismatch)]
    );
}

#[test]
fn dropped_datagrams_are_recovered_by_retransmission() {
    let mut pair = pair(gcm(), None);
    let started = pair.now;

    assert!(pair.run_until(&mut lossy_network(), settled));

    assert!(pair.now > started, "the virtual clock drove retransmission");
    assert_connected(&pair, SrtpProfile::AeadAes128Gcm);
}

#[test]
fn lost_final_server_flight_is_sent_again() {
    // Drop the server's ChangeCipherSpec and Finished: the client retransmits its flight and
    // the server must answer it again (RFC 6347 section 4.2.4).
    let mut pair = pair(gcm(), None);
    let mut net = lose_one_flight(Dir::ToClient, |view| view.server_connected);

    assert!(pair.run_until(&mut net, settled));

    assert_connected(&pair, SrtpProfile::AeadAes128Gcm);
}

#[test]
fn timers_after_the_handshake_change_nothing() {
    let mut pair = pair(gcm(), None);
    assert!(pair.handshake());
    assert_quiet_after_handshake(&mut pair);
}

#[test]
fn application_data_after_the_handshake_is_dropped() {
    let mut pair = pair(gcm(), None);
    assert!(pair.handshake());
    assert_application_data_dropped(&mut pair);
}

#[test]
fn noise_into_a_connected_transport_changes_nothing() {
    let mut pair = pair(gcm(), None);
    assert!(pair.handshake());
    let mut rng = StdRng::seed_from_u64(0xC0FFEE);

    for _ in 0..2000 {
        let _ = pair.server.handle_datagram(&noise(&mut rng), pair.now);
    }

    assert!(pair.server.is_connected());
    assert!(pair.server.poll_event().is_none());
}
