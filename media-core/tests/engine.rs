//! The engine's control API: relay-port allocation, worker choice, and the errors a caller sees.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::Duration;

use media_core::engine::{Engine, EngineConfig, EngineError, EngineEvent};
use media_core::ids::{ParticipantId, SessionId};
use media_core::session::ParticipantOptions;

fn engine(workers: usize, port_min: u16, port_max: u16) -> Engine {
    Engine::start(EngineConfig {
        workers,
        pin_workers: false,
        bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port_min,
        port_max,
        ..EngineConfig::default()
    })
    .expect("engine starts")
}

#[test]
fn running_out_of_relay_ports_is_an_error_and_closing_frees_one() {
    let engine = engine(1, 42_000, 42_001);
    let a = engine.create_session().expect("first port");
    let b = engine.create_session().expect("second port");
    assert_ne!(a.relay.port(), b.relay.port());
    assert!(matches!(
        engine.create_session(),
        Err(EngineError::NoFreePort(42_000, 42_001))
    ));
    engine.close_session(a.id).expect("close");
    let c = engine.create_session().expect("the freed port is reused");
    assert_eq!(c.relay.port(), a.relay.port());
    assert_eq!(engine.session_count(), 2);
}

#[test]
fn a_port_held_by_another_process_is_skipped() {
    let _squatter = UdpSocket::bind("127.0.0.1:42010").expect("test binds the port first");
    let engine = engine(1, 42_010, 42_011);
    let session = engine.create_session().expect("the other port is used");
    assert_eq!(session.relay.port(), 42_011);
}

#[test]
fn sessions_go_to_the_least_loaded_worker() {
    let engine = engine(2, 42_020, 42_040);
    let sessions: Vec<_> = (0..4)
        .map(|_| engine.create_session().expect("session"))
        .collect();
    let on_first = sessions.iter().filter(|s| s.worker.0 == 0).count();
    assert_eq!(on_first, 2, "{sessions:?}");
    engine.close_session(sessions[0].id).expect("close");
    let next = engine.create_session().expect("session");
    assert_eq!(
        next.worker, sessions[0].worker,
        "the emptier worker takes the next session"
    );
}

#[test]
fn bad_calls_get_typed_errors() {
    let engine = engine(1, 42_050, 42_055);
    let session = engine.create_session().expect("session").id;
    let missing = SessionId(9_999);
    assert!(matches!(
        engine.stats(missing),
        Err(EngineError::UnknownSession(_))
    ));
    assert!(matches!(
        engine.join(missing, "v=0", ParticipantOptions::default()),
        Err(EngineError::UnknownSession(_))
    ));
    assert!(matches!(
        engine.join(session, "this is not SDP", ParticipantOptions::default()),
        Err(EngineError::MalformedOffer(_))
    ));
    let no_media = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
    assert!(matches!(
        engine.join(session, no_media, ParticipantOptions::default()),
        Err(EngineError::MalformedOffer(_) | EngineError::UnusableOffer(_))
    ));
    assert!(matches!(
        engine.leave(session, ParticipantId(77)),
        Err(EngineError::UnknownParticipant(_))
    ));
    assert!(
        engine.stats(session).expect("stats").is_empty(),
        "failed joins left no participant"
    );
}

#[test]
fn an_empty_port_range_is_refused() {
    let result = Engine::start(EngineConfig {
        port_min: 5000,
        port_max: 4000,
        ..EngineConfig::default()
    });
    assert!(matches!(result, Err(EngineError::Config(_))));
}

#[test]
fn closing_a_session_is_reported() {
    let engine = engine(1, 42_060, 42_061);
    let session = engine.create_session().expect("session").id;
    engine.close_session(session).expect("close");
    let closed = engine
        .events()
        .recv_timeout(Duration::from_secs(5))
        .expect("an event");
    assert_eq!(closed, EngineEvent::SessionClosed { session });
    assert!(matches!(
        engine.close_session(session),
        Err(EngineError::UnknownSession(_))
    ));
}
