//! DTLS transport tests against a dimpl client on a virtual clock: DTLS 1.2, 1.3 and the
//! auto-sensing hybrid ClientHello, a fragmented ClientHello, fingerprint checks, loss and
//! retransmission, lost final flights, late timers and noise.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::sync::Arc;
use std::time::{Duration, Instant};

use dimpl::{Config, Dtls, Output};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V12,
    V13,
    Auto,
}

/// Which way a datagram travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dir {
    ToServer,
    ToClient,
}

/// What the network sees when it decides whether to deliver a datagram.
#[derive(Debug, Clone, Copy)]
pub(super) struct View {
    pub dir: Dir,
    pub round: usize,
    pub server_connected: bool,
    pub client_connected: bool,
}

/// The DTLS client at the other end: a dimpl client here, rtc-dtls in the interop tests.
pub(super) trait Peer {
    /// The fingerprint of the client's certificate, as its offer would carry it.
    fn fingerprint(&self) -> Fingerprint;
    /// Advances the client's clock, firing its retransmission timer when due.
    fn handle_timeout(&mut self, now: Instant);
    /// Everything the client has to send.
    fn poll_datagrams(&mut self) -> Vec<Vec<u8>>;
    /// A datagram from the server.
    fn handle_datagram(&mut self, datagram: &[u8], now: Instant);
    /// When the client's timer is next due.
    fn next_timeout(&self) -> Option<Instant>;
    /// Whether the client completed its handshake.
    fn is_connected(&self) -> bool;
    /// The DTLS-SRTP profile id and exporter output, once the client has them.
    fn export(&self) -> Option<(u16, Vec<u8>)>;
    /// The certificate the server presented.
    fn server_cert(&self) -> Option<Vec<u8>>;
    /// Sends application data (a data channel message) to the server.
    fn send_application_data(&mut self, data: &[u8]);
}

/// The peer: a dimpl client and what it reported.
struct DimplClient {
    dtls: Dtls,
    fingerprint: Fingerprint,
    connected: bool,
    keys: Option<(u16, Vec<u8>)>,
    server_cert: Option<Vec<u8>>,
    timeout: Option<Instant>,
}

impl DimplClient {
    fn new(version: Version, config: Arc<Config>, now: Instant) -> DimplClient {
        let cert = dimpl::certificate::generate_self_signed_certificate().unwrap();
        let fingerprint = Fingerprint::of(HashAlgorithm::Sha256, &cert.certificate);
        let mut dtls = match version {
            Version::V12 => Dtls::new_12(config, cert, now),
            Version::V13 => Dtls::new_13(config, cert, now),
            Version::Auto => Dtls::new_auto(config, cert, now),
        };
        dtls.set_active(true);
        DimplClient {
            dtls,
            fingerprint,
            connected: false,
            keys: None,
            server_cert: None,
            timeout: None,
        }
    }
}

impl Peer for DimplClient {
    fn fingerprint(&self) -> Fingerprint {
        self.fingerprint.clone()
    }

    fn handle_timeout(&mut self, now: Instant) {
        // A client that gave up just stays quiet.
        let _ = self.dtls.handle_timeout(now);
    }

    fn poll_datagrams(&mut self) -> Vec<Vec<u8>> {
        let mut buf = vec![0; 2048];
        let mut packets = Vec::new();
        loop {
            match self.dtls.poll_output(&mut buf) {
                Output::Packet(p) => packets.push(p.to_vec()),
                Output::Timeout(at) => {
                    self.timeout = Some(at);
                    return packets;
                }
                Output::Connected => self.connected = true,
                Output::PeerCert(der) => self.server_cert = Some(der.to_vec()),
                Output::KeyingMaterial(km, profile) => {
                    self.keys = Some((dtls_srtp_id(profile), km.to_vec()));
                }
                Output::BufferTooSmall { needed } => buf.resize(needed, 0),
                _ => {}
            }
        }
    }

    fn handle_datagram(&mut self, datagram: &[u8], _now: Instant) {
        let _ = self.dtls.handle_packet(datagram);
    }

    fn next_timeout(&self) -> Option<Instant> {
        self.timeout
    }

    fn is_connected(&self) -> bool {
        self.connected
    }

    fn export(&self) -> Option<(u16, Vec<u8>)> {
        self.keys.clone()
    }

    fn server_cert(&self) -> Option<Vec<u8>> {
        self.server_cert.clone()
    }

    fn send_application_data(&mut self, data: &[u8]) {
        self.dtls.send_application_data(data).unwrap();
    }
}

/// A server transport and a client joined by a lossy in-memory network on a virtual clock.
pub(super) struct Pair {
    pub server: DtlsTransport,
    pub client: Box<dyn Peer>,
    pub cert: Arc<DtlsCert>,
    pub now: Instant,
    pub round: usize,
    pub server_events: Vec<DtlsEvent>,
}

impl Pair {
    fn dimpl(version: Version) -> Pair {
        Pair::dimpl_with(version, Arc::new(Config::default()), None)
    }

    /// A pair with a dimpl client whose server expects `expected`, or the client's real
    /// fingerprint.
    fn dimpl_with(version: Version, config: Arc<Config>, expected: Option<Fingerprint>) -> Pair {
        let now = Instant::now();
        let cert = Arc::new(DtlsCert::generate().unwrap());
        let client = DimplClient::new(version, config, now);
        Pair::new(Box::new(client), cert, expected, now)
    }

    /// Joins `client` to a new server with `cert` that expects `expected`, or the client's
    /// real fingerprint.
    pub(super) fn new(
        client: Box<dyn Peer>,
        cert: Arc<DtlsCert>,
        expected: Option<Fingerprint>,
        now: Instant,
    ) -> Pair {
        let expected = expected.unwrap_or_else(|| client.fingerprint());
        Pair {
            server: DtlsTransport::new(cert.clone(), expected, now),
            client,
            cert,
            now,
            round: 0,
            server_events: Vec::new(),
        }
    }

    fn view(&self, dir: Dir) -> View {
        View {
            dir,
            round: self.round,
            server_connected: self.server.is_connected(),
            client_connected: self.client.is_connected(),
        }
    }

    /// One exchange: the client's output to the server, the server's output to the client.
    /// Returns how many datagrams were handed to the network.
    fn round(&mut self, net: &mut dyn FnMut(View) -> bool) -> usize {
        self.round += 1;
        self.client.handle_timeout(self.now);
        let to_server = self.client.poll_datagrams();
        let mut moved = to_server.len();
        for datagram in to_server {
            if net(self.view(Dir::ToServer)) {
                let _ = self.server.handle_datagram(&datagram, self.now);
            }
        }
        if self.server.poll_timeout().is_some_and(|at| at <= self.now) {
            self.server.handle_timeout(self.now);
        }
        while let Some(datagram) = self.server.poll_transmit() {
            moved += 1;
            if net(self.view(Dir::ToClient)) {
                self.client.handle_datagram(&datagram, self.now);
            }
        }
        self.server_events
            .extend(std::iter::from_fn(|| self.server.poll_event()));
        moved
    }

    /// Runs rounds, advancing the virtual clock to the next timer when the network is quiet,
    /// until `done` holds or a minute of virtual time has passed.
    pub(super) fn run_until(
        &mut self,
        net: &mut dyn FnMut(View) -> bool,
        done: fn(&Pair) -> bool,
    ) -> bool {
        let deadline = self.now + Duration::from_secs(60);
        while self.now < deadline {
            let moved = self.round(net);
            if done(self) {
                return true;
            }
            if moved == 0 {
                self.advance();
            }
        }
        false
    }

    /// Moves the clock to the earliest timer, and at least one millisecond.
    fn advance(&mut self) {
        let timers = [self.client.next_timeout(), self.server.poll_timeout()];
        let floor = self.now + Duration::from_millis(1);
        self.now = timers
            .into_iter()
            .flatten()
            .min()
            .map_or(floor, |at| at.max(floor));
    }

    /// Runs a loss-free handshake until it settles.
    pub(super) fn handshake(&mut self) -> bool {
        self.run_until(&mut |_| true, settled)
    }
}

/// The server reported its outcome, and the client is connected unless the server failed.
pub(super) fn settled(pair: &Pair) -> bool {
    let server_failed = matches!(pair.server_events.last(), Some(DtlsEvent::Failed(_)));
    !pair.server_events.is_empty() && (pair.client.is_connected() || server_failed)
}

/// The server reported its outcome.
pub(super) fn server_done(pair: &Pair) -> bool {
    !pair.server_events.is_empty()
}

/// Both sides exported the same keys for the same profile, and the server reports them when
/// [`SrtpProfile`] knows the profile; for a profile it does not know, the server refuses the
/// transport, and a DTLS 1.2 client, missing the server's Finished, has no keys to compare.
pub(super) fn assert_same_keys(pair: &Pair) {
    let (id, server_keys) = pair
        .server
        .raw_export
        .clone()
        .expect("server exported keys");
    if let Some(der) = pair.client.server_cert() {
        assert_eq!(der, pair.cert.der());
        assert!(pair.cert.fingerprint().matches(&der));
    }

    match SrtpProfile::from_dtls_id(id) {
        Some(profile) => {
            assert!(pair.server.is_connected());
            assert_eq!(pair.client.export(), Some((id, server_keys.clone())));
            let expected = DtlsEvent::Connected {
                profile,
                keying_material: server_keys,
            };
            assert_eq!(pair.server_events, [expected]);
        }
        None => {
            assert!(!pair.server.is_connected());
            if let Some(client) = pair.client.export() {
                assert_eq!(client, (id, server_keys));
            }
            let expected = DtlsEvent::Failed(DtlsError::UnsupportedSrtpProfile(id));
            assert_eq!(pair.server_events, [expected]);
        }
    }
}

fn assert_handshake(version: Version, expected: DtlsVersion) -> Pair {
    let mut pair = Pair::dimpl(version);
    assert!(pair.handshake(), "handshake completes");
    assert_eq!(pair.server.version(), Some(expected));
    assert_same_keys(&pair);
    pair
}

#[test]
fn dtls12_client_handshake_exports_the_same_keys() {
    assert_handshake(Version::V12, DtlsVersion::Dtls12);
}

#[test]
fn dtls13_client_handshake_exports_the_same_keys() {
    assert_handshake(Version::V13, DtlsVersion::Dtls13);
}

#[test]
fn auto_client_hybrid_hello_negotiates_dtls13() {
    assert_handshake(Version::Auto, DtlsVersion::Dtls13);
}

#[test]
fn dimpl_clients_are_given_aes_256_gcm() {
    // The known gap of the module docs: dimpl picks the profile, and with a client offering
    // AES-256-GCM first it takes that one.
    let versions = [
        (Version::V12, DtlsVersion::Dtls12),
        (Version::V13, DtlsVersion::Dtls13),
    ];
    for (version, negotiated) in versions {
        let pair = assert_handshake(version, negotiated);
        let (id, keys) = pair.server.raw_export.clone().unwrap();
        assert_eq!((id, keys.len()), (0x0008, 2 * (32 + 12)), "{version:?}");
    }
}

#[test]
fn dtls13_client_hello_split_over_several_records_is_reassembled() {
    let config = Arc::new(Config::builder().mtu(120).build().unwrap());
    let mut pair = Pair::dimpl_with(Version::V13, config, None);
    pair.client.handle_timeout(pair.now);
    let first_flight = pair.client.poll_datagrams();
    assert!(
        first_flight.len() > 1,
        "ClientHello spans {} datagrams",
        first_flight.len()
    );
    for datagram in &first_flight {
        pair.server.handle_datagram(datagram, pair.now).unwrap();
    }

    assert!(pair.handshake());
    assert_eq!(pair.server.version(), Some(DtlsVersion::Dtls13));
    assert_same_keys(&pair);
}

#[test]
fn wrong_fingerprint_is_aborted_without_keys() {
    for version in [Version::V12, Version::V13] {
        let stranger = DtlsCert::generate().unwrap().fingerprint().clone();
        let mut pair = Pair::dimpl_with(version, Arc::new(Config::default()), Some(stranger));

        assert!(pair.run_until(&mut |_| true, server_done));
        pair.run_until(&mut |_| true, |_| false);

        assert_eq!(
            pair.server_events,
            [DtlsEvent::Failed(DtlsError::FingerprintMismatch)]
        );
        assert!(!pair.server.is_connected());
        assert_eq!(
            pair.server.raw_export, None,
            "no keys derived for {version:?}"
        );
        assert_eq!(pair.server.poll_timeout(), None);
        assert!(pair.server.poll_transmit().is_none());
        if version == Version::V12 {
            // The server's Finished never leaves, so a DTLS 1.2 client cannot complete. (A
            // DTLS 1.3 client sends the last flight and considers itself done regardless.)
            assert!(!pair.client.is_connected());
        }
    }
}

/// Loses the 1st, 2nd, 5th and 8th datagram each way: the first flights and pieces of later
/// ones. (A periodic pattern could hit the same datagram of every retransmitted flight.)
pub(super) fn lossy_network() -> impl FnMut(View) -> bool {
    const LOST: [usize; 4] = [1, 2, 5, 8];
    let (mut to_server, mut to_client) = (0, 0);
    move |view: View| {
        let count = match view.dir {
            Dir::ToServer => &mut to_server,
            Dir::ToClient => &mut to_client,
        };
        *count += 1;
        !LOST.contains(count)
    }
}

#[test]
fn dropped_datagrams_are_recovered_by_retransmission() {
    for version in [Version::V12, Version::V13] {
        let mut pair = Pair::dimpl(version);
        let started = pair.now;

        assert!(
            pair.run_until(&mut lossy_network(), settled),
            "{version:?} recovers"
        );

        assert!(pair.now > started, "the virtual clock drove retransmission");
        assert_same_keys(&pair);
    }
}

/// Drops everything sent one way in the first round where `when` holds.
pub(super) fn lose_one_flight(dir: Dir, when: fn(&View) -> bool) -> impl FnMut(View) -> bool {
    let mut lost_round = None;
    move |view: View| {
        if view.dir != dir || !when(&view) {
            return true;
        }
        let round = *lost_round.get_or_insert(view.round);
        round != view.round
    }
}

#[test]
fn lost_final_client_flight_is_recovered_dtls13() {
    // Drop the client's Certificate, CertificateVerify and Finished: the server retransmits
    // its flight and the client repeats its last one.
    let mut pair = Pair::dimpl(Version::V13);
    let mut net = lose_one_flight(Dir::ToServer, |view| view.client_connected);

    assert!(pair.run_until(&mut net, settled));

    assert_same_keys(&pair);
}

#[test]
fn lost_ack_of_final_flight_is_answered_again_dtls13() {
    // Drop what the server sends once connected: the client repeats its Finished, and the
    // server answers again without reporting twice.
    let mut pair = Pair::dimpl(Version::V13);
    let mut lost = 0;
    let mut net = |view: View| {
        if view.dir == Dir::ToClient && view.server_connected && lost < 3 {
            lost += 1;
            return false;
        }
        true
    };
    assert!(pair.run_until(&mut net, settled));
    pair.run_until(&mut net, |_| false);

    assert!(lost > 0);
    assert_same_keys(&pair);
}

/// Fires the server's timer for ten virtual minutes after the handshake and checks that
/// nothing is sent or reported.
pub(super) fn assert_quiet_after_handshake(pair: &mut Pair) {
    let events = pair.server_events.len();
    for step in 0..200u64 {
        let at = pair.server.poll_timeout().unwrap_or(pair.now);
        pair.now = at.max(pair.now) + Duration::from_millis(step * 30);
        pair.server.handle_timeout(pair.now);
        assert!(pair.server.poll_transmit().is_none(), "step {step}");
    }

    assert!(pair.server.is_connected());
    assert!(pair.server.poll_event().is_none());
    assert_eq!(pair.server_events.len(), events);
}

#[test]
fn timers_after_the_handshake_change_nothing_dtls13() {
    let mut pair = Pair::dimpl(Version::V13);
    assert!(pair.handshake());
    assert_quiet_after_handshake(&mut pair);
}

/// Sends a data channel message from the client and checks that the server drops it.
pub(super) fn assert_application_data_dropped(pair: &mut Pair) {
    pair.client.send_application_data(b"data channel");
    let datagrams = pair.client.poll_datagrams();
    assert!(!datagrams.is_empty());
    for datagram in datagrams {
        assert_eq!(pair.server.handle_datagram(&datagram, pair.now), Ok(()));
    }

    assert!(pair.server.is_connected());
    assert!(pair.server.poll_event().is_none());
}

#[test]
fn application_data_after_the_handshake_is_dropped_dtls13() {
    let mut pair = Pair::dimpl(Version::V13);
    assert!(pair.handshake());
    assert_application_data_dropped(&mut pair);
}

#[test]
fn a_peer_that_vanishes_times_out() {
    let mut pair = Pair::dimpl(Version::V12);
    let mut net = |view: View| view.dir == Dir::ToServer || view.round < 2;

    assert!(pair.run_until(&mut net, server_done));

    assert_eq!(pair.server_events, [DtlsEvent::Failed(DtlsError::Timeout)]);
    assert_eq!(pair.server.poll_timeout(), None);
}

#[test]
fn datagrams_after_failure_are_dropped() {
    let stranger = DtlsCert::generate().unwrap().fingerprint().clone();
    let mut pair = Pair::dimpl_with(Version::V12, Arc::new(Config::default()), Some(stranger));
    assert!(pair.run_until(&mut |_| true, server_done));

    assert_eq!(
        pair.server.handle_datagram(&[22, 254, 253, 0], pair.now),
        Ok(())
    );
    pair.server
        .handle_timeout(pair.now + Duration::from_secs(100));
    assert!(pair.server.poll_transmit().is_none());
    assert!(pair.server.poll_event().is_none());
}

/// A random datagram, sometimes with a plausible DTLS record header in front.
pub(super) fn noise(rng: &mut StdRng) -> Vec<u8> {
    let mut datagram = vec![0; rng.random_range(0..300)];
    rng.fill(&mut datagram[..]);
    if datagram.len() >= 13 && rng.random_bool(0.7) {
        datagram[0] = rng.random_range(20..=26);
        datagram[1..3].copy_from_slice(if rng.random_bool(0.5) {
            &[254, 253]
        } else {
            &[254, 255]
        });
        let body = u16::try_from(datagram.len() - 13).unwrap();
        datagram[11..13].copy_from_slice(&body.to_be_bytes());
        if datagram.len() > 13 && rng.random_bool(0.5) {
            datagram[13] = 1; // ClientHello
        }
    }
    datagram
}

#[test]
fn random_bytes_never_panic() {
    let cert = Arc::new(DtlsCert::generate().unwrap());
    let expected = cert.fingerprint().clone();
    let mut rng = StdRng::seed_from_u64(0xD715);
    let mut now = Instant::now();

    for _ in 0..50 {
        let mut server = DtlsTransport::new(cert.clone(), expected.clone(), now);
        for _ in 0..200 {
            let _ = server.handle_datagram(&noise(&mut rng), now);
            now += Duration::from_millis(rng.random_range(0..400));
            server.handle_timeout(now);
            while server.poll_transmit().is_some() {}
            while server.poll_event().is_some() {}
        }
    }
}

#[test]
fn fingerprint_parses_and_prints_the_sdp_form() {
    let text = "sha-256 19:E2:1C:3B:4B:9F:81:E6:B8:5C:F4:A5:A8:D8:73:04:\
                BB:05:2F:70:9F:04:A9:0E:05:E9:26:33:E8:70:88:A2";
    let fingerprint: Fingerprint = text.parse().unwrap();
    assert_eq!(fingerprint.algorithm, HashAlgorithm::Sha256);
    assert_eq!(fingerprint.value.len(), 32);
    assert_eq!(fingerprint.value[0], 0x19);
    assert_eq!(fingerprint.to_string(), text);

    let lower: Fingerprint = text
        .to_lowercase()
        .replace("sha-256", "SHA-256")
        .parse()
        .unwrap();
    assert_eq!(lower, fingerprint);
}

#[test]
fn fingerprint_rejects_weak_hashes_and_bad_values() {
    let pairs = |n: usize| vec!["AB"; n].join(":");
    assert!(format!("sha-1 {}", pairs(20))
        .parse::<Fingerprint>()
        .is_err());
    assert!(format!("md5 {}", pairs(16)).parse::<Fingerprint>().is_err());
    assert!(format!("sha-256 {}", pairs(31))
        .parse::<Fingerprint>()
        .is_err());
    assert!(format!("sha-256 {}", pairs(33))
        .parse::<Fingerprint>()
        .is_err());
    assert!(format!("sha-256 {}:", pairs(32))
        .parse::<Fingerprint>()
        .is_err());
    assert!(format!("sha-256 {}", pairs(32).replace("AB:AB", "ABAB"))
        .parse::<Fingerprint>()
        .is_err());
    assert!(format!("sha-256 {}", pairs(32).replacen("AB", "G1", 1))
        .parse::<Fingerprint>()
        .is_err());
    assert!(format!("sha-256 {}", pairs(32).replacen("AB", "+1", 1))
        .parse::<Fingerprint>()
        .is_err());
    assert!("sha-256".parse::<Fingerprint>().is_err());
    assert!("".parse::<Fingerprint>().is_err());
    assert!(format!("sha-384 {}", pairs(48))
        .parse::<Fingerprint>()
        .is_ok());
    assert!(format!("sha-512 {}", pairs(64))
        .parse::<Fingerprint>()
        .is_ok());
}

#[test]
fn fingerprint_matches_with_its_own_hash() {
    let cert = DtlsCert::generate().unwrap();
    for algorithm in [
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ] {
        let fingerprint = Fingerprint::of(algorithm, cert.der());
        assert_eq!(fingerprint.value.len(), algorithm.digest_len());
        assert!(fingerprint.matches(cert.der()));
        let reparsed: Fingerprint = fingerprint.to_string().parse().unwrap();
        assert_eq!(reparsed, fingerprint);
        let mut other = cert.der().to_vec();
        other[20] ^= 1;
        assert!(!fingerprint.matches(&other));
    }
    assert!(cert.fingerprint().matches(cert.der()));
}

#[test]
fn certificates_differ_and_hide_their_key() {
    let a = DtlsCert::generate().unwrap();
    let b = DtlsCert::generate().unwrap();
    assert_ne!(a.fingerprint(), b.fingerprint());
    let debug = format!("{a:?}");
    assert!(debug.contains(&a.fingerprint().to_string()));
    assert!(!debug.contains("private"));
}

#[test]
fn connected_event_debug_hides_the_keys() {
    let event = DtlsEvent::Connected {
        profile: SrtpProfile::AeadAes128Gcm,
        keying_material: vec![0xAB; 56],
    };
    let debug = format!("{event:?}");
    assert!(debug.contains("AeadAes128Gcm"));
    assert!(!debug.contains("171"), "{debug}");
}
