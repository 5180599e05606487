//! Media through the forwarder between WebRTC stacks that share no DTLS or SRTP code with
//! media-core: webrtc-rs's `rtc` (rtc-dtls, rtc-srtp) and aiortc (pyOpenSSL, pylibsrtp).
//!
//! Each test starts a real engine on loopback, joins a publisher and a subscriber through SDP
//! offer/answer, and checks that the subscriber receives the publisher's payload bytes
//! unchanged (the payloads carry a stamp with an index and a checksum), for every SRTP profile.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::aiortc::{AiortcOptions, AiortcPeer};
use common::payload::check_payload;
use common::rtc_peer::{run_all_until, tamper_fingerprints, PeerOptions, RtcPeer};
use media_core::engine::{Engine, EngineConfig, EngineEvent, SessionInfo};
use media_core::ids::{MediaKind, SessionId};
use media_core::session::{ParticipantOptions, SessionEvent};
use media_core::srtp::SrtpProfile;

const CONNECT: Duration = Duration::from_secs(15);
const MEDIA: Duration = Duration::from_secs(20);
/// Frames of each kind that must arrive intact before a media test passes.
const FRAMES: usize = 25;

/// An engine on loopback with its own slice of the relay range, so tests run in parallel.
fn engine(first_port: u16) -> Engine {
    Engine::start(EngineConfig {
        workers: 2,
        pin_workers: false,
        bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port_min: first_port,
        port_max: first_port + 20,
        ..EngineConfig::default()
    })
    .expect("engine starts")
}

fn join(engine: &Engine, session: SessionId, peer: &mut RtcPeer) {
    let offer = peer.create_offer();
    let answer = engine
        .join(session, &offer, ParticipantOptions::default())
        .expect("the forwarder answers the offer");
    peer.apply_answer(&answer.sdp)
        .expect("the peer accepts the forwarder's answer");
}

fn rtc_through_forwarder(profile: SrtpProfile, first_port: u16) {
    let engine = engine(first_port);
    let SessionInfo { id, .. } = engine.create_session().expect("session");
    let mut publisher = RtcPeer::new(PeerOptions::sender().with_profile(profile));
    let mut subscriber = RtcPeer::new(PeerOptions::receiver().with_profile(profile));
    join(&engine, id, &mut subscriber);
    join(&engine, id, &mut publisher);

    let connected = run_all_until(&mut [&mut publisher, &mut subscriber], CONNECT, |p| {
        p[0].is_connected() && p[1].is_connected()
    });
    assert!(
        connected,
        "peers did not connect: {:?} {:?}",
        publisher.errors(),
        subscriber.errors()
    );
    assert_eq!(publisher.negotiated_srtp_profile(), Some(profile));
    assert_eq!(subscriber.negotiated_srtp_profile(), Some(profile));

    publisher.start_streaming();
    let enough = run_all_until(&mut [&mut publisher, &mut subscriber], MEDIA, |p| {
        p[1].verified(MediaKind::Audio) >= FRAMES && p[1].verified(MediaKind::Video) >= FRAMES
    });
    assert!(
        enough,
        "too few intact frames through the forwarder: audio {}, video {}, stats {:#?}",
        subscriber.verified(MediaKind::Audio),
        subscriber.verified(MediaKind::Video),
        engine.stats(id)
    );
    assert_eq!(subscriber.corrupt(), 0, "payload bytes changed on the way");
    // The forwarder rewrites SSRCs: the subscriber sees the slot's, not the publisher's.
    let video = subscriber
        .received()
        .iter()
        .find(|p| p.kind == MediaKind::Video)
        .expect("video arrived");
    assert_ne!(Some(video.ssrc), publisher.sending_ssrc(MediaKind::Video));
    let first = check_payload(&video.payload).expect("stamped payload");
    assert!(
        first.keyframe,
        "the first forwarded video frame is a keyframe"
    );
}

#[test]
fn rtc_publisher_to_rtc_subscriber_aes128_gcm() {
    rtc_through_forwarder(SrtpProfile::AeadAes128Gcm, 41_000);
}

#[test]
fn rtc_publisher_to_rtc_subscriber_aes_cm_hmac_sha1_80() {
    rtc_through_forwarder(SrtpProfile::Aes128CmSha1_80, 41_100);
}

#[test]
fn rtc_publisher_to_rtc_subscriber_aes256_gcm() {
    rtc_through_forwarder(SrtpProfile::AeadAes256Gcm, 41_200);
}

#[test]
fn a_peer_whose_certificate_does_not_match_its_offer_is_refused() {
    let engine = engine(41_300);
    let session = engine.create_session().expect("session").id;
    let mut peer = RtcPeer::new(PeerOptions::sender());
    let offer = tamper_fingerprints(&peer.create_offer());
    let answer = engine
        .join(session, &offer, ParticipantOptions::default())
        .expect("answer");
    peer.apply_answer(&answer.sdp)
        .expect("peer accepts the answer");
    // The forwarder aborts the handshake without keys; the peer never connects.
    let connected = peer.run_until(Duration::from_secs(5), |p| p.is_connected());
    assert!(
        !connected,
        "a peer with a mismatching certificate connected"
    );
    let event = wait_for_event(
        &engine,
        Duration::from_secs(5),
        |e| matches!(e, SessionEvent::Disconnected { reason, .. } if reason.contains("DTLS")),
    );
    assert!(event, "the forwarder did not report the failed handshake");
}

#[test]
fn a_closed_gate_forwards_nothing_and_reopening_resumes() {
    let engine = engine(41_400);
    let session = engine.create_session().expect("session").id;
    let mut publisher = RtcPeer::new(PeerOptions::sender());
    let mut subscriber = RtcPeer::new(PeerOptions::receiver());
    join(&engine, session, &mut subscriber);
    let offer = publisher.create_offer();
    let closed = ParticipantOptions {
        audio_gate_open: false,
        video_gate_open: false,
        ..ParticipantOptions::default()
    };
    let answer = engine.join(session, &offer, closed).expect("answer");
    publisher.apply_answer(&answer.sdp).expect("accepted");
    let connected = run_all_until(&mut [&mut publisher, &mut subscriber], CONNECT, |p| {
        p[0].is_connected() && p[1].is_connected()
    });
    assert!(connected);

    // Closed from the start: the publisher streams, nothing reaches the subscriber.
    publisher.start_streaming();
    run_all_until(
        &mut [&mut publisher, &mut subscriber],
        Duration::from_secs(2),
        |_| false,
    );
    assert!(
        publisher.sent(MediaKind::Video) > 20,
        "the publisher did stream"
    );
    assert_eq!(
        subscriber.received().len(),
        0,
        "media crossed a closed gate"
    );

    // Opened: media flows.
    engine
        .set_gate(session, answer.participant, None, true)
        .expect("gate opens");
    let flowing = run_all_until(&mut [&mut publisher, &mut subscriber], MEDIA, |p| {
        p[1].verified(MediaKind::Video) >= 10 && p[1].verified(MediaKind::Audio) >= 10
    });
    assert!(flowing, "media did not flow after the gate opened");

    // Closed again, video only: within a second no more video arrives, audio still does.
    engine
        .set_gate(session, answer.participant, Some(MediaKind::Video), false)
        .expect("closes");
    run_all_until(
        &mut [&mut publisher, &mut subscriber],
        Duration::from_secs(1),
        |_| false,
    );
    let video_before = subscriber.verified(MediaKind::Video);
    let audio_before = subscriber.verified(MediaKind::Audio);
    run_all_until(
        &mut [&mut publisher, &mut subscriber],
        Duration::from_secs(2),
        |_| false,
    );
    assert_eq!(
        subscriber.verified(MediaKind::Video),
        video_before,
        "video crossed a closed gate"
    );
    assert!(
        subscriber.verified(MediaKind::Audio) > audio_before + 20,
        "audio stopped too"
    );

    // Reopened: video resumes, starting from a keyframe the forwarder asked for.
    let requests_before = publisher.keyframe_requests();
    engine
        .set_gate(session, answer.participant, Some(MediaKind::Video), true)
        .expect("opens");
    let resumed = run_all_until(&mut [&mut publisher, &mut subscriber], MEDIA, |p| {
        p[1].verified(MediaKind::Video) >= video_before + 10
    });
    assert!(resumed, "video did not resume after the gate reopened");
    assert!(
        publisher.keyframe_requests() > requests_before,
        "no keyframe was requested"
    );
}

fn aiortc_through_forwarder(profile: SrtpProfile, first_port: u16) {
    let engine = engine(first_port);
    let session = engine.create_session().expect("session").id;
    // aiortc subscribes and checks the stamps of what an rtc publisher sends.
    let mut viewer = AiortcPeer::spawn(&AiortcOptions::receiver().with_profile(profile));
    let answer = engine
        .join(
            session,
            &viewer.offer(CONNECT),
            ParticipantOptions::default(),
        )
        .expect("the forwarder answers aiortc");
    viewer.answer(&answer.sdp);
    let mut publisher = RtcPeer::new(PeerOptions::sender().with_profile(profile));
    join(&engine, session, &mut publisher);
    publisher.start_streaming();
    let deadline = Instant::now() + MEDIA;
    let mut enough = false;
    while Instant::now() < deadline && !enough {
        publisher.run_until(Duration::from_millis(50), |_| false);
        viewer.pump();
        let s = viewer.status();
        enough = s.video.stamped >= FRAMES as u64 && s.audio.stamped >= FRAMES as u64;
    }
    let status = viewer.status().clone();
    assert!(
        enough,
        "aiortc got too few intact packets: {status:?}\nstats {:#?}\naiortc stderr:\n{}",
        engine.stats(session),
        viewer.stderr()
    );
    assert_eq!(
        status.video.corrupt + status.audio.corrupt,
        0,
        "payload bytes changed"
    );
}

#[test]
fn rtc_publisher_to_aiortc_subscriber_aes128_gcm() {
    aiortc_through_forwarder(SrtpProfile::AeadAes128Gcm, 41_500);
}

#[test]
fn rtc_publisher_to_aiortc_subscriber_aes_cm_hmac_sha1_80() {
    aiortc_through_forwarder(SrtpProfile::Aes128CmSha1_80, 41_600);
}

#[test]
fn aiortc_publisher_to_aiortc_subscriber_decodes_real_video() {
    let engine = engine(41_700);
    let session = engine.create_session().expect("session").id;
    let mut viewer = AiortcPeer::spawn(&AiortcOptions::receiver());
    let answer = engine
        .join(
            session,
            &viewer.offer(CONNECT),
            ParticipantOptions::default(),
        )
        .expect("answer for the viewer");
    viewer.answer(&answer.sdp);
    let mut camera = AiortcPeer::spawn(&AiortcOptions::sender());
    let answer = engine
        .join(
            session,
            &camera.offer(CONNECT),
            ParticipantOptions::default(),
        )
        .expect("answer for the camera");
    camera.answer(&answer.sdp);
    let deadline = Instant::now() + MEDIA;
    let mut decoded = false;
    while Instant::now() < deadline && !decoded {
        camera.pump();
        viewer.wait_until(Duration::from_millis(100), |s| s.video.frames >= 30);
        decoded = viewer.status().video.frames >= 30 && viewer.status().audio.packets >= 30;
    }
    assert!(
        decoded,
        "aiortc did not decode video through the forwarder: {:?}\ncamera {:?}\nstats {:#?}\n{}",
        viewer.status(),
        camera.status(),
        engine.stats(session),
        viewer.stderr()
    );
}

fn wait_for_event(
    engine: &Engine,
    timeout: Duration,
    pred: impl Fn(&SessionEvent) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match engine.events().recv_timeout(left) {
            Ok(EngineEvent::Session { event, .. }) if pred(&event) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn a_flood_on_one_relay_port_does_not_stop_another_session() {
    // One worker hosts both sessions, so the flood competes with the media directly.
    let engine = Engine::start(EngineConfig {
        workers: 1,
        pin_workers: false,
        bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port_min: 41_800,
        port_max: 41_820,
        ..EngineConfig::default()
    })
    .expect("engine starts");
    let media = engine.create_session().expect("session").id;
    let flooded = engine.create_session().expect("session").relay;
    let mut publisher = RtcPeer::new(PeerOptions::sender());
    let mut subscriber = RtcPeer::new(PeerOptions::receiver());
    join(&engine, media, &mut subscriber);
    join(&engine, media, &mut publisher);
    let connected = run_all_until(&mut [&mut publisher, &mut subscriber], CONNECT, |p| {
        p[0].is_connected() && p[1].is_connected()
    });
    assert!(connected);
    publisher.start_streaming();

    // Junk that looks like SRTP, DTLS and STUN, as fast as one thread can send it; bounded.
    let flood = std::thread::spawn(move || {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("flood socket");
        let deadline = Instant::now() + Duration::from_secs(4);
        let mut sent = 0u32;
        while Instant::now() < deadline && sent < 2_000_000 {
            let first = [0x80u8, 22, 0x00][sent as usize % 3];
            let mut junk = [0u8; 200];
            junk[0] = first;
            junk[1..5].copy_from_slice(&sent.to_be_bytes());
            let _ = socket.send_to(&junk, flooded);
            sent += 1;
        }
        sent
    });
    let before = subscriber.verified(MediaKind::Video);
    let flowing = run_all_until(&mut [&mut publisher, &mut subscriber], MEDIA, |p| {
        p[1].verified(MediaKind::Video) >= before + 60
    });
    let sent = flood.join().expect("flood thread");
    assert!(
        sent > 10_000,
        "the flood was too small to mean anything: {sent}"
    );
    assert!(
        flowing,
        "media stopped during a flood of {sent} datagrams on another port"
    );
    assert_eq!(subscriber.corrupt(), 0);
}
