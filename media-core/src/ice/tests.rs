//! ICE-lite tests: RFC 5769 vectors, requests built with stun-rs and answers checked with the
//! independent webrtc-rs STUN code, refusals without state change, nomination, consent.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use stun_rs::attributes::ice::{IceControlled, IceControlling, Priority, UseCandidate};
use stun_rs::attributes::stun::{Fingerprint, MessageIntegrity, UserName};
use stun_rs::methods::BINDING;
use stun_rs::{HMACKey, MessageClass, MessageEncoderBuilder, StunMessageBuilder};

use super::wire::{verify_fingerprint, verify_integrity};
use super::*;

/// Password of all three RFC 5769 section 2 vectors.
const RFC5769_PWD: &str = "VOkJxbRl1RmTxUk/WvJxBt";
const LOCAL_UFRAG: &str = "evtj";
const REMOTE_UFRAG: &str = "h6vY";
const CONSENT: Duration = Duration::from_secs(30);

/// RFC 5769 section 2.1: sample request, USERNAME "evtj:h6vY", with ICE-CONTROLLED.
#[rustfmt::skip]
const RFC5769_2_1_REQUEST: [u8; 108] = [
    0x00, 0x01, 0x00, 0x58, // Binding request, length 88
    0x21, 0x12, 0xa4, 0x42, // magic cookie
    0xb7, 0xe7, 0xa7, 0x01, // transaction id
    0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae,
    0x80, 0x22, 0x00, 0x10, // SOFTWARE, 16 bytes: "STUN test client"
    0x53, 0x54, 0x55, 0x4e,
    0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c,
    0x69, 0x65, 0x6e, 0x74,
    0x00, 0x24, 0x00, 0x04, // PRIORITY
    0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, // ICE-CONTROLLED tie breaker
    0x93, 0x2f, 0xf9, 0xb1,
    0x51, 0x26, 0x3b, 0x36,
    0x00, 0x06, 0x00, 0x09, // USERNAME, 9 bytes and 3 bytes of padding (spaces)
    0x65, 0x76, 0x74, 0x6a,
    0x3a, 0x68, 0x36, 0x76,
    0x59, 0x20, 0x20, 0x20,
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY
    0x9a, 0xea, 0xa7, 0x0c,
    0xbf, 0xd8, 0xcb, 0x56,
    0x78, 0x1e, 0xf2, 0xb5,
    0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2,
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT
    0xe5, 0x7a, 0x3b, 0xcf,
];

/// RFC 5769 section 2.2: sample IPv4 response, mapped address 192.0.2.1:32853.
#[rustfmt::skip]
const RFC5769_2_2_RESPONSE: [u8; 80] = [
    0x01, 0x01, 0x00, 0x3c, // Binding success response, length 60
    0x21, 0x12, 0xa4, 0x42, // magic cookie
    0xb7, 0xe7, 0xa7, 0x01, // transaction id
    0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae,
    0x80, 0x22, 0x00, 0x0b, // SOFTWARE, 11 bytes: "test vector" and 1 byte of padding
    0x74, 0x65, 0x73, 0x74,
    0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20,
    0x00, 0x20, 0x00, 0x08, // XOR-MAPPED-ADDRESS
    0x00, 0x01, 0xa1, 0x47, // family IPv4, xor'd port
    0xe1, 0x12, 0xa6, 0x43, // xor'd address
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY
    0x2b, 0x91, 0xf5, 0x99,
    0xfd, 0x9e, 0x90, 0xc3,
    0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53,
    0xf0, 0x6b, 0xe7, 0xd7,
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT
    0xc0, 0x7d, 0x4c, 0x96,
];

/// RFC 5769 section 2.3: sample IPv6 response, mapped address
/// [2001:db8:1234:5678:11:2233:4455:6677]:32853.
#[rustfmt::skip]
const RFC5769_2_3_RESPONSE: [u8; 92] = [
    0x01, 0x01, 0x00, 0x48, // Binding success response, length 72
    0x21, 0x12, 0xa4, 0x42, // magic cookie
    0xb7, 0xe7, 0xa7, 0x01, // transaction id
    0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae,
    0x80, 0x22, 0x00, 0x0b, // SOFTWARE, "test vector"
    0x74, 0x65, 0x73, 0x74,
    0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20,
    0x00, 0x20, 0x00, 0x14, // XOR-MAPPED-ADDRESS
    0x00, 0x02, 0xa1, 0x47, // family IPv6, xor'd port
    0x01, 0x13, 0xa9, 0xfa, // xor'd address
    0xa5, 0xd3, 0xf1, 0x79,
    0xbc, 0x25, 0xf4, 0xb5,
    0xbe, 0xd2, 0xb9, 0xd9,
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY
    0xa3, 0x82, 0x95, 0x4e,
    0x4b, 0xe6, 0x7b, 0xf1,
    0x17, 0x84, 0xc9, 0x7c,
    0x82, 0x92, 0xc2, 0x75,
    0xbf, 0xe3, 0xed, 0x41,
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT
    0xc8, 0xfb, 0x0b, 0x4c,
];

fn peer(last: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, last)), port)
}

fn rfc_key() -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, RFC5769_PWD.as_bytes())
}

fn agent(now: Instant) -> IceAgent {
    let local = IceCredentials::new(LOCAL_UFRAG, RFC5769_PWD).unwrap();
    IceAgent::new(local, REMOTE_UFRAG.to_owned(), CONSENT, now)
}

/// What a check may change, to compare before and after a refused request.
fn snapshot(agent: &IceAgent, probe: SocketAddr) -> (Option<SocketAddr>, bool, Instant, usize) {
    (
        agent.selected(),
        agent.is_valid_source(probe),
        agent.poll_timeout(),
        agent.validated.len(),
    )
}

/// Options for a request built with stun-rs.
struct Request<'a> {
    username: &'a str,
    pwd: Option<&'a str>,
    use_candidate: bool,
    controlled: bool,
    fingerprint: bool,
}

impl Default for Request<'_> {
    fn default() -> Self {
        Request {
            username: "evtj:h6vY",
            pwd: Some(RFC5769_PWD),
            use_candidate: false,
            controlled: false,
            fingerprint: true,
        }
    }
}

/// Builds a Binding request the way a full ICE agent in the controlling role would.
fn build_request(options: Request<'_>) -> Vec<u8> {
    let mut builder = StunMessageBuilder::new(BINDING, MessageClass::Request)
        .with_attribute(UserName::new(options.username).unwrap())
        .with_attribute(Priority::new(0x6e00_01ff));
    builder = if options.controlled {
        builder.with_attribute(IceControlled::new(7))
    } else {
        builder.with_attribute(IceControlling::new(7))
    };
    if options.use_candidate {
        builder = builder.with_attribute(UseCandidate::default());
    }
    if let Some(pwd) = options.pwd {
        let key = HMACKey::new_short_term(pwd).unwrap();
        builder = builder.with_attribute(MessageIntegrity::new(key));
    }
    if options.fingerprint {
        builder = builder.with_attribute(Fingerprint::default());
    }
    encode(builder)
}

fn encode(builder: StunMessageBuilder) -> Vec<u8> {
    let mut buf = vec![0; 1500];
    let len = MessageEncoderBuilder::default()
        .build()
        .encode(&mut buf, &builder.build())
        .unwrap();
    buf.truncate(len);
    buf
}

/// A response as the independent webrtc-rs STUN code sees it, after checking its
/// MESSAGE-INTEGRITY with `pwd` and its FINGERPRINT.
fn verify_independently(response: &[u8], pwd: &str) -> rtc::stun::message::Message {
    use rtc::stun::fingerprint::FINGERPRINT;
    use rtc::stun::integrity::MessageIntegrity;

    let mut message = rtc::stun::message::Message::new();
    message.unmarshal_binary(response).unwrap();
    FINGERPRINT.check(&message).unwrap();
    let provider = rtc::crypto::default_provider().unwrap();
    MessageIntegrity::check(&mut message, pwd.as_bytes(), provider.crypto()).unwrap();
    message
}

fn mapped_address(message: &rtc::stun::message::Message) -> SocketAddr {
    use rtc::stun::message::Getter;

    let mut addr = rtc::stun::xoraddr::XorMappedAddress::default();
    addr.get_from(message).unwrap();
    SocketAddr::new(addr.ip, addr.port)
}

fn error_code(message: &rtc::stun::message::Message) -> u16 {
    use rtc::stun::message::Getter;

    let mut code = rtc::stun::error_code::ErrorCodeAttribute::default();
    code.get_from(message).unwrap();
    code.code.0
}

#[test]
fn rfc5769_section_2_1_sample_request_integrity_and_fingerprint() {
    assert!(is_stun(&RFC5769_2_1_REQUEST));
    assert_eq!(verify_fingerprint(&RFC5769_2_1_REQUEST), Ok(true));
    assert_eq!(verify_integrity(&RFC5769_2_1_REQUEST, &rfc_key()), Ok(()));

    let wrong = hmac::Key::new(
        hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        b"VOkJxbRl1RmTxUk/WvJxBT",
    );
    assert_eq!(
        verify_integrity(&RFC5769_2_1_REQUEST, &wrong),
        Err(IceError::BadIntegrity)
    );
    assert_eq!(peek_local_ufrag(&RFC5769_2_1_REQUEST), Some(&b"evtj"[..]));
}

#[test]
fn rfc5769_section_2_1_sample_request_is_a_role_conflict() {
    // The sample request claims ICE-CONTROLLED: a lite agent answers 487, authenticated.
    let now = Instant::now();
    let mut agent = agent(now);
    let from = peer(1, 5000);
    let mut out = [0; 1500];

    let reply = agent
        .handle_binding_request(&RFC5769_2_1_REQUEST, from, now, &mut out)
        .unwrap();

    assert_eq!(reply.error_code, Some(487));
    assert!(!reply.nominated);
    let response = verify_independently(&out[..reply.len], RFC5769_PWD);
    assert_eq!(error_code(&response), 487);
    assert_eq!(response.transaction_id.0, RFC5769_2_1_REQUEST[8..20]);
    assert_eq!(agent.selected(), None);
    assert!(!agent.is_valid_source(from));
}

#[test]
fn rfc5769_section_2_2_ipv4_response_integrity_and_fingerprint() {
    assert!(is_stun(&RFC5769_2_2_RESPONSE));
    assert_eq!(verify_fingerprint(&RFC5769_2_2_RESPONSE), Ok(true));
    assert_eq!(verify_integrity(&RFC5769_2_2_RESPONSE, &rfc_key()), Ok(()));

    let message = verify_independently(&RFC5769_2_2_RESPONSE, RFC5769_PWD);
    let expected: SocketAddr = "192.0.2.1:32853".parse().unwrap();
    assert_eq!(mapped_address(&message), expected);
    assert_eq!(peek_local_ufrag(&RFC5769_2_2_RESPONSE), None);
}

#[test]
fn rfc5769_section_2_3_ipv6_response_integrity_and_fingerprint() {
    assert!(is_stun(&RFC5769_2_3_RESPONSE));
    assert_eq!(verify_fingerprint(&RFC5769_2_3_RESPONSE), Ok(true));
    assert_eq!(verify_integrity(&RFC5769_2_3_RESPONSE, &rfc_key()), Ok(()));

    let message = verify_independently(&RFC5769_2_3_RESPONSE, RFC5769_PWD);
    let expected: SocketAddr = "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
        .parse()
        .unwrap();
    assert_eq!(mapped_address(&message), expected);
}

#[test]
fn answers_a_request_built_with_stun_rs() {
    let now = Instant::now();
    let mut agent = agent(now);
    let request = build_request(Request::default());
    let from = SocketAddr::new(
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9)),
        61000,
    );
    let mut out = [0; 1500];

    let reply = agent
        .handle_binding_request(&request, from, now, &mut out)
        .unwrap();

    assert_eq!(reply.error_code, None);
    assert!(!reply.nominated);
    let response = verify_independently(&out[..reply.len], RFC5769_PWD);
    assert_eq!(response.typ.value(), 0x0101, "binding success response");
    assert_eq!(response.transaction_id.0, request[8..20]);
    assert_eq!(mapped_address(&response), from);
    assert!(agent.is_valid_source(from));
    assert_eq!(agent.selected(), Some(from));
}

#[test]
fn answers_generated_credentials() {
    let now = Instant::now();
    let local = IceCredentials::generate();
    let username = format!("{}:remoteufrag", local.ufrag);
    let pwd = local.pwd().to_owned();
    let mut agent = IceAgent::new(local, "remoteufrag".to_owned(), CONSENT, now);
    let request = build_request(Request {
        username: &username,
        pwd: Some(&pwd),
        ..Request::default()
    });
    let mut out = [0; 1500];

    let reply = agent
        .handle_binding_request(&request, peer(2, 9), now, &mut out)
        .unwrap();

    verify_independently(&out[..reply.len], &pwd);
    assert_eq!(
        peek_local_ufrag(&request),
        Some(agent.local_ufrag().as_bytes())
    );
}

#[test]
fn restart_switches_to_the_new_credentials_and_keeps_the_path() {
    let now = Instant::now();
    let old = IceCredentials::generate();
    let (old_username, old_pwd) = (format!("{}:remoteufrag", old.ufrag), old.pwd().to_owned());
    let mut agent = IceAgent::new(old, "remoteufrag".to_owned(), CONSENT, now);
    let check = |username: &str, pwd: &str| {
        build_request(Request {
            username,
            pwd: Some(pwd),
            use_candidate: true,
            ..Request::default()
        })
    };
    let mut out = [0; 1500];
    let from = peer(2, 9);
    agent
        .handle_binding_request(&check(&old_username, &old_pwd), from, now, &mut out)
        .unwrap();

    let new = IceCredentials::generate();
    let (new_username, new_pwd) = (format!("{}:freshufrag", new.ufrag), new.pwd().to_owned());
    agent.restart(new, "freshufrag");

    assert_eq!(agent.selected(), Some(from), "media keeps its path");
    let stale = agent.handle_binding_request(&check(&old_username, &old_pwd), from, now, &mut out);
    assert!(stale.is_err(), "the old credentials are refused");
    let request = check(&new_username, &new_pwd);
    let reply = agent
        .handle_binding_request(&request, peer(3, 9), now, &mut out)
        .unwrap();
    verify_independently(&out[..reply.len], &new_pwd);
    assert_eq!(
        peek_local_ufrag(&request),
        Some(agent.local_ufrag().as_bytes())
    );
}

/// Runs `request` against a fresh agent and checks it is refused with `expected`, leaving
/// the agent and the output buffer untouched.
fn assert_refused(request: &[u8], expected: IceError) {
    let now = Instant::now();
    let mut agent = agent(now);
    let from = peer(3, 4000);
    let before = snapshot(&agent, from);
    let mut out = [0; 1500];

    let result =
        agent.handle_binding_request(request, from, now + Duration::from_secs(1), &mut out);

    assert_eq!(result, Err(expected));
    assert_eq!(snapshot(&agent, from), before);
    assert!(out.iter().all(|&b| b == 0), "nothing written");
}

#[test]
fn wrong_password_is_refused_without_state_change() {
    let request = build_request(Request {
        pwd: Some("VOkJxbRl1RmTxUk/WvJxBtX"),
        ..Request::default()
    });
    assert_refused(&request, IceError::BadIntegrity);
}

#[test]
fn wrong_username_is_refused_without_state_change() {
    for username in [
        "evtj:other",
        "other:h6vY",
        "evtj",
        "evtj:h6vYx",
        "h6vY:evtj",
    ] {
        let request = build_request(Request {
            username,
            ..Request::default()
        });
        assert_refused(&request, IceError::UnknownUsername);
    }
}

#[test]
fn missing_integrity_is_refused_without_state_change() {
    for fingerprint in [true, false] {
        let request = build_request(Request {
            pwd: None,
            fingerprint,
            ..Request::default()
        });
        assert_refused(&request, IceError::MissingIntegrity);
    }
}

#[test]
fn truncated_request_is_refused_without_state_change() {
    let request = build_request(Request::default());
    for len in 0..request.len() {
        let result = {
            let now = Instant::now();
            let mut agent = agent(now);
            agent.handle_binding_request(&request[..len], peer(3, 1), now, &mut [0; 1500])
        };
        assert!(result.is_err(), "truncated to {len}");
    }
    // A shortened message with a consistent length field is still refused: its MI is gone.
    let mut short = request[..request.len() - 32].to_vec();
    let body_len = u16::try_from(short.len() - 20).unwrap();
    short[2..4].copy_from_slice(&body_len.to_be_bytes());
    assert_refused(&short, IceError::MissingIntegrity);
    assert_refused(&request[..request.len() - 4], IceError::Malformed);
}

#[test]
fn changed_byte_after_integrity_is_refused_without_state_change() {
    let request = build_request(Request::default());
    // The last 8 bytes are FINGERPRINT; the 20 before its header are the MI value.
    let fingerprint_value = request.len() - 1;
    let integrity_value = request.len() - 8 - 5;
    let mut changed = request.clone();
    changed[fingerprint_value] ^= 0x01;
    assert_refused(&changed, IceError::BadFingerprint);

    let mut changed = request.clone();
    changed[integrity_value] ^= 0x01;
    assert_refused(&changed, IceError::BadFingerprint);

    // Without FINGERPRINT, a changed integrity byte fails the HMAC itself.
    let request = build_request(Request {
        fingerprint: false,
        ..Request::default()
    });
    let mut changed = request.clone();
    let last = changed.len() - 1;
    changed[last] ^= 0x80;
    assert_refused(&changed, IceError::BadIntegrity);
}

#[test]
fn changed_byte_before_integrity_is_refused() {
    let request = build_request(Request {
        fingerprint: false,
        ..Request::default()
    });
    let mut changed = request.clone();
    changed[8] ^= 0x01; // transaction id
    assert_refused(&changed, IceError::BadIntegrity);
}

#[test]
fn other_stun_messages_are_refused() {
    let indication = encode(StunMessageBuilder::new(BINDING, MessageClass::Indication));
    assert_refused(&indication, IceError::NotBindingRequest);
    assert_refused(&RFC5769_2_2_RESPONSE, IceError::NotBindingRequest);
    assert_refused(&[0x80, 0x60, 0, 0], IceError::Malformed);
}

#[test]
fn unauthenticated_role_conflict_is_dropped() {
    let request = build_request(Request {
        controlled: true,
        pwd: Some("wrongpasswordwrongpassword"),
        ..Request::default()
    });
    assert_refused(&request, IceError::BadIntegrity);
}

#[test]
fn authenticated_role_conflict_gets_487_and_changes_nothing() {
    let now = Instant::now();
    let mut agent = agent(now);
    let request = build_request(Request {
        controlled: true,
        use_candidate: true,
        ..Request::default()
    });
    let mut out = [0; 1500];

    let reply = agent
        .handle_binding_request(&request, peer(4, 1), now, &mut out)
        .unwrap();

    assert_eq!(reply.error_code, Some(487));
    assert!(!reply.nominated);
    assert_eq!(
        error_code(&verify_independently(&out[..reply.len], RFC5769_PWD)),
        487
    );
    assert_eq!(agent.selected(), None);
}

/// A request with one extra attribute of `kind` before MESSAGE-INTEGRITY, built with the
/// webrtc-rs STUN code (stun-rs cannot encode attributes it does not know).
fn request_with_attribute(kind: u16, pwd: &str) -> Vec<u8> {
    authenticated_request(&[(kind, &[1, 2, 3, 4])], pwd)
}

/// A Binding request with USERNAME "evtj:h6vY", then `attributes` as given, then a valid
/// MESSAGE-INTEGRITY for `pwd` and FINGERPRINT, built with the webrtc-rs STUN code.
fn authenticated_request(attributes: &[(u16, &[u8])], pwd: &str) -> Vec<u8> {
    use rtc::stun::attributes::{AttrType, ATTR_USERNAME};
    use rtc::stun::fingerprint::FINGERPRINT;
    use rtc::stun::integrity::MessageIntegrity;
    use rtc::stun::message::{Message, Setter, BINDING_REQUEST};

    let provider = rtc::crypto::default_provider().unwrap();
    let mut message = Message::new();
    message.set_type(BINDING_REQUEST);
    message.new_transaction_id().unwrap();
    message.write_header();
    message.add(ATTR_USERNAME, b"evtj:h6vY");
    for (kind, value) in attributes {
        message.add(AttrType(*kind), value);
    }
    MessageIntegrity::new_short_term_integrity_with_provider(pwd.to_owned(), provider.crypto())
        .add_to(&mut message)
        .unwrap();
    FINGERPRINT.add_to(&mut message).unwrap();
    message.raw
}

#[test]
fn unknown_comprehension_required_attribute_gets_420_when_authenticated() {
    let now = Instant::now();
    let mut agent = agent(now);
    let mut out = [0; 1500];
    let request = request_with_attribute(0x7F01, RFC5769_PWD);

    let reply = agent
        .handle_binding_request(&request, peer(5, 1), now, &mut out)
        .unwrap();

    assert_eq!(reply.error_code, Some(420));
    let response = verify_independently(&out[..reply.len], RFC5769_PWD);
    assert_eq!(error_code(&response), 420);
    let unknown = response
        .get(rtc::stun::attributes::ATTR_UNKNOWN_ATTRIBUTES)
        .unwrap();
    assert_eq!(unknown, [0x7F, 0x01]);
    assert_eq!(agent.selected(), None);

    // An unknown comprehension-optional attribute is ignored.
    let request = request_with_attribute(0xC057, RFC5769_PWD);
    let reply = agent
        .handle_binding_request(&request, peer(5, 1), now, &mut out)
        .unwrap();
    assert_eq!(reply.error_code, None);

    // And without authentication, nothing is answered.
    assert_refused(
        &request_with_attribute(0x7F01, "notthepasswordnotthepassword"),
        IceError::BadIntegrity,
    );
}

#[test]
fn nomination_selects_and_a_newer_nomination_replaces_it() {
    let now = Instant::now();
    let mut agent = agent(now);
    let mut out = [0; 1500];
    let (a, b) = (peer(10, 1000), peer(11, 1001));
    let plain = build_request(Request::default());
    let nominate = build_request(Request {
        use_candidate: true,
        ..Request::default()
    });
    let mut check = |agent: &mut IceAgent, request: &[u8], from| {
        agent
            .handle_binding_request(request, from, now, &mut out)
            .unwrap()
    };

    check(&mut agent, &plain, a);
    assert_eq!(
        agent.selected(),
        Some(a),
        "latest validated before any nomination"
    );
    check(&mut agent, &plain, b);
    assert_eq!(agent.selected(), Some(b));

    assert!(check(&mut agent, &nominate, a).nominated);
    assert_eq!(agent.selected(), Some(a));
    check(&mut agent, &plain, b);
    assert_eq!(
        agent.selected(),
        Some(a),
        "a plain check does not displace a nomination"
    );

    check(&mut agent, &nominate, b);
    assert_eq!(agent.selected(), Some(b));
    assert!(agent.is_valid_source(a) && agent.is_valid_source(b));
    assert!(!agent.is_valid_source(peer(12, 1000)));
}

#[test]
fn validated_addresses_are_bounded_and_keep_the_nominated_one() {
    let start = Instant::now();
    let mut agent = agent(start);
    let mut out = [0; 1500];
    let nominate = build_request(Request {
        use_candidate: true,
        ..Request::default()
    });
    let plain = build_request(Request::default());
    let first = peer(1, 1);
    agent
        .handle_binding_request(&nominate, first, start, &mut out)
        .unwrap();

    for i in 0..40u16 {
        let now = start + Duration::from_millis(u64::from(i) + 1);
        agent
            .handle_binding_request(&plain, peer(2, i + 1), now, &mut out)
            .unwrap();
    }

    assert_eq!(agent.validated.len(), MAX_VALIDATED);
    assert!(
        agent.is_valid_source(first),
        "the nominated address is kept"
    );
    assert!(agent.is_valid_source(peer(2, 40)));
    assert!(!agent.is_valid_source(peer(2, 1)));
    assert_eq!(agent.selected(), Some(first));
}

#[test]
fn consent_expires_on_a_virtual_clock() {
    let t0 = Instant::now();
    let at = |secs| t0 + Duration::from_secs(secs);
    let mut agent = agent(t0);
    let request = build_request(Request::default());
    let mut out = [0; 1500];
    assert_eq!(agent.poll_timeout(), at(30));

    agent
        .handle_binding_request(&request, peer(1, 1), at(10), &mut out)
        .unwrap();
    assert_eq!(agent.poll_timeout(), at(40));
    agent.on_authenticated_traffic(at(35));
    assert_eq!(agent.poll_timeout(), at(65));
    agent.on_authenticated_traffic(at(20)); // late report: no going back
    assert_eq!(agent.poll_timeout(), at(65));

    assert!(!agent.is_expired(at(64)));
    assert!(agent.is_expired(at(65)));

    // RFC 7675 section 5.1: once lost, consent is not regained with the same credentials.
    agent.on_authenticated_traffic(at(66));
    assert!(agent.is_expired(at(66)));
    let result = agent.handle_binding_request(&request, peer(1, 1), at(66), &mut out);
    assert_eq!(result, Err(IceError::ConsentExpired));
}

#[test]
fn a_peer_that_never_checks_expires() {
    let t0 = Instant::now();
    let agent = agent(t0);
    assert!(!agent.is_expired(t0 + Duration::from_secs(29)));
    assert!(agent.is_expired(t0 + CONSENT));
}

#[test]
fn response_that_does_not_fit_changes_nothing() {
    let now = Instant::now();
    let mut agent = agent(now);
    let request = build_request(Request::default());
    let from = peer(1, 1);

    let result = agent.handle_binding_request(&request, from, now, &mut [0; 40]);

    assert_eq!(result, Err(IceError::Encode));
    assert!(!agent.is_valid_source(from));
}

#[test]
fn generated_credentials_follow_the_grammar_and_differ() {
    let a = IceCredentials::generate();
    let b = IceCredentials::generate();
    assert_eq!(a.ufrag.len(), 8);
    assert_eq!(a.pwd().len(), 24);
    assert!(credentials::is_ice_string(&a.ufrag, 4));
    assert!(credentials::is_ice_string(a.pwd(), 22));
    assert_ne!(a, b);

    let debug = format!("{a:?}");
    assert!(debug.contains(&a.ufrag));
    assert!(!debug.contains(a.pwd()));
    let agent_debug = format!(
        "{:?}",
        IceAgent::new(a.clone(), "x".into(), CONSENT, Instant::now())
    );
    assert!(!agent_debug.contains(a.pwd()));
}

#[test]
fn credentials_outside_the_grammar_are_rejected() {
    assert!(
        IceCredentials::new("abc", RFC5769_PWD).is_err(),
        "ufrag too short"
    );
    assert!(IceCredentials::new("ab:c", RFC5769_PWD).is_err(), "colon");
    assert!(
        IceCredentials::new("abcd", "short").is_err(),
        "pwd too short"
    );
    assert!(IceCredentials::new("abcd", "VOkJxbRl1RmTxUk/WvJxB!").is_err());
    assert!(IceCredentials::new("abcd", RFC5769_PWD).is_ok());
}

#[test]
fn is_stun_follows_rfc_7983_and_the_header() {
    assert!(!is_stun(&[]));
    assert!(!is_stun(&[0; 19]));
    let mut rtp = RFC5769_2_1_REQUEST;
    rtp[0] = 0x80;
    assert!(!is_stun(&rtp));
    let mut dtls = RFC5769_2_1_REQUEST;
    dtls[0] = 0x16;
    assert!(!is_stun(&dtls));
    let mut cookie = RFC5769_2_1_REQUEST;
    cookie[4] = 0;
    assert!(!is_stun(&cookie));
    assert!(!is_stun(&RFC5769_2_1_REQUEST[..100]));
    let mut longer = RFC5769_2_1_REQUEST.to_vec();
    longer.extend_from_slice(&[0; 4]);
    assert!(!is_stun(&longer));
}

#[test]
fn peek_local_ufrag_needs_a_binding_request_with_a_username() {
    let request = build_request(Request::default());
    assert_eq!(peek_local_ufrag(&request), Some(&b"evtj"[..]));
    let no_colon = build_request(Request {
        username: "evtjh6vY",
        ..Request::default()
    });
    assert_eq!(peek_local_ufrag(&no_colon), None);
    let empty_local = build_request(Request {
        username: ":h6vY",
        ..Request::default()
    });
    assert_eq!(peek_local_ufrag(&empty_local), None);
    assert_eq!(peek_local_ufrag(&request[..request.len() - 1]), None);
}

/// Feeds one buffer to everything that reads network bytes.
fn poke(agent: &mut IceAgent, buf: &[u8], now: Instant) {
    let _ = is_stun(buf);
    let _ = peek_local_ufrag(buf);
    let _ = agent.handle_binding_request(buf, peer(9, 9), now, &mut [0; 1500]);
}

#[test]
fn random_bytes_never_panic() {
    let now = Instant::now();
    let mut agent = agent(now);
    let mut rng = StdRng::seed_from_u64(0x5EED);
    let valid = build_request(Request {
        use_candidate: true,
        ..Request::default()
    });

    for _ in 0..20_000 {
        // Pure noise.
        let mut buf = vec![0; rng.random_range(0..200)];
        rng.fill(&mut buf[..]);
        poke(&mut agent, &buf, now);

        // A valid STUN header over random attributes.
        let body = rng.random_range(0..40) * 4;
        let mut buf = vec![0; 20 + body];
        rng.fill(&mut buf[..]);
        buf[..2].copy_from_slice(&[0, 1]);
        buf[2..4].copy_from_slice(&u16::try_from(body).unwrap().to_be_bytes());
        buf[4..8].copy_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        poke(&mut agent, &buf, now);

        // A valid request with a few bytes changed.
        let mut buf = valid.clone();
        for _ in 0..rng.random_range(1..4) {
            let index = rng.random_range(0..buf.len());
            buf[index] = rng.random();
        }
        poke(&mut agent, &buf, now);
    }
}

#[test]
fn authenticated_random_attributes_never_panic() {
    // Attribute types the decoder knows (and some it does not), with random values: what a
    // peer holding the password could send.
    const KINDS: [u16; 12] = [
        0x0024, 0x0025, 0x8029, 0x802A, 0x8022, 0x0020, 0x0009, 0x000A, 0x0014, 0x0015, 0x001C,
        0x7F7F,
    ];
    let now = Instant::now();
    let mut agent = agent(now);
    let mut rng = StdRng::seed_from_u64(0xA07);

    for _ in 0..3000 {
        let values: Vec<(u16, Vec<u8>)> = (0..rng.random_range(0..4))
            .map(|_| {
                let mut value = vec![0; rng.random_range(0..24)];
                rng.fill(&mut value[..]);
                (KINDS[rng.random_range(0..KINDS.len())], value)
            })
            .collect();
        let attributes: Vec<(u16, &[u8])> = values
            .iter()
            .map(|(kind, value)| (*kind, &value[..]))
            .collect();
        let request = authenticated_request(&attributes, RFC5769_PWD);
        let _ = agent.handle_binding_request(&request, peer(9, 9), now, &mut [0; 1500]);
    }
}
