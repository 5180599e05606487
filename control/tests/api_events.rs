//! The session events WebSocket over real HTTPS: authentication by first message and by
//! header, refusals (token in the URL, no auth in time, another tenant's session, too many
//! sockets), relay of chat and annotations with the sender stamped by the server, limits
//! (size, rate, binary, malformed), hub events, the end of a session and the pong timeout.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::TestDaemon;
use futures_util::{SinkExt, StreamExt};
use hyper::header::{HeaderValue, AUTHORIZATION};
use serde_json::{json, Value};
use sightline_control::api::events::{SessionEvent, SocketLimits, Who};
use sightline_control::auth::token::{BearerToken, TokenHash};
use sightline_control::store::{NewSupportSession, SessionId, TenantId, UserId};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{client_async, WebSocketStream};

type Ws = WebSocketStream<TlsStream<TcpStream>>;

/// A tenant with an administrator, a session of the administrator joined by a customer.
struct Scene {
    daemon: TestDaemon,
    tenant: TenantId,
    admin: UserId,
    admin_token: String,
    customer_token: String,
    session: SessionId,
}

async fn scene() -> Scene {
    scene_with(SocketLimits::default()).await
}

async fn scene_with(limits: SocketLimits) -> Scene {
    let daemon = TestDaemon::start().await;
    daemon.app.hub.set_socket_limits(limits);
    let (tenant, admin) = daemon.tenant("acme", "admin@acme.test").await;
    let admin_token = daemon.token_for(tenant, admin).await;
    let session = create_session(&daemon, tenant, admin, "111111").await;

    let customer = BearerToken::generate();
    let now = daemon.clock.unix_now();
    let sessions = daemon.app.store.tenant(tenant);
    sessions
        .sessions()
        .join_customer(session, &customer.hash(), now + 3600, now)
        .await
        .unwrap();
    Scene {
        daemon,
        tenant,
        admin,
        admin_token,
        customer_token: customer.as_str().to_owned(),
        session,
    }
}

async fn create_session(
    daemon: &TestDaemon,
    tenant: TenantId,
    agent: UserId,
    pin: &str,
) -> SessionId {
    let new = NewSupportSession {
        agent,
        customer_name: None,
        external_ref: None,
        pin_hash: TokenHash::of(pin),
        join_token_hash: TokenHash::of(&format!("join-{pin}")),
        key_expires_at: daemon.clock.unix_now() + 600,
    };
    let scope = daemon.app.store.tenant(tenant);
    scope.sessions().create(&new).await.unwrap()
}

fn url(daemon: &TestDaemon, path: &str) -> String {
    format!("wss://127.0.0.1:{}{path}", daemon.addr.port())
}

/// Opens the events socket of `session`, with an `Authorization` header if `token`.
async fn open(daemon: &TestDaemon, session: SessionId, token: Option<&str>) -> Result<Ws, WsError> {
    let path = format!("/v1/sessions/{session}/events");
    let mut request = url(daemon, &path).into_client_request().unwrap();
    if let Some(token) = token {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    let tls = daemon.connect().await;
    client_async(request, tls).await.map(|(ws, _)| ws)
}

/// Opens a socket and authenticates with the first message; returns it after `welcome`.
async fn join(daemon: &TestDaemon, session: SessionId, token: &str) -> Ws {
    let mut ws = open(daemon, session, None).await.unwrap();
    send(&mut ws, json!({"type": "auth", "token": token})).await;
    let welcome = recv(&mut ws).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    ws
}

async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::text(value.to_string())).await.unwrap();
}

/// The next JSON text message (pings are skipped), within a generous deadline.
async fn recv(ws: &mut Ws) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("a message within 10 s");
        match next {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(text.as_str()).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// Reads until the server's close frame; returns its code and reason, and the text
/// messages seen before it.
async fn closed(ws: &mut Ws) -> (u16, String, Vec<Value>) {
    let mut texts = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the socket closes within 10 s");
        match next {
            Some(Ok(Message::Text(text))) => {
                texts.push(serde_json::from_str(text.as_str()).unwrap())
            }
            Some(Ok(Message::Close(Some(frame)))) => {
                return (
                    u16::from(frame.code),
                    frame.reason.as_str().to_owned(),
                    texts,
                )
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_message_auth_gets_welcome_then_hub_events() {
    let s = scene().await;
    let opened_before = s
        .daemon
        .app
        .metrics
        .event_sockets_opened
        .load(std::sync::atomic::Ordering::Relaxed);

    let mut ws = open(&s.daemon, s.session, None).await.unwrap();
    send(&mut ws, json!({"type": "auth", "token": s.admin_token})).await;
    let welcome = recv(&mut ws).await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["who"]["role"], "admin");
    assert_eq!(welcome["who"]["user_id"], s.admin.to_string());
    assert_eq!(welcome["session"]["id"], s.session.to_string());
    assert_eq!(welcome["session"]["state"], "active");

    let by = Who {
        role: "agent",
        user_id: Some(s.admin.to_string()),
    };
    s.daemon
        .app
        .hub
        .publish(s.session, SessionEvent::Hold { by });
    let hold = recv(&mut ws).await;
    assert_eq!(hold["type"], "hold");
    assert_eq!(hold["by"]["role"], "agent");
    s.daemon.app.hub.publish(
        s.session,
        SessionEvent::Consent {
            camera: true,
            microphone: false,
        },
    );
    assert_eq!(
        recv(&mut ws).await,
        json!({"type": "consent", "camera": true, "microphone": false})
    );

    let opened = s
        .daemon
        .app
        .metrics
        .event_sockets_opened
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(opened, opened_before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_auth_gets_welcome_without_an_auth_message() {
    let s = scene().await;
    let mut ws = open(&s.daemon, s.session, Some(&s.customer_token))
        .await
        .unwrap();
    let welcome = recv(&mut ws).await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["who"], json!({"role": "customer"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_in_the_url_is_refused_before_the_upgrade() {
    let s = scene().await;
    let path = format!("/v1/sessions/{}/events?token={}", s.session, s.admin_token);
    let request = url(&s.daemon, &path).into_client_request().unwrap();
    let tls = s.daemon.connect().await;
    let Err(WsError::Http(response)) = client_async(request, tls).await else {
        panic!("the upgrade must be refused");
    };
    assert_eq!(response.status(), 400);
    let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
    assert_eq!(body["error"], "token_in_url");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_auth_in_time_or_a_bad_token_closes_1008() {
    let s = scene_with(SocketLimits {
        auth_deadline: Duration::from_millis(300),
        ..SocketLimits::default()
    })
    .await;
    let mut silent = open(&s.daemon, s.session, None).await.unwrap();
    let (code, reason, _) = closed(&mut silent).await;
    assert_eq!((code, reason.as_str()), (1008, "auth_timeout"));

    let mut wrong = open(&s.daemon, s.session, None).await.unwrap();
    send(&mut wrong, json!({"type": "auth", "token": "not-a-token"})).await;
    let (code, reason, texts) = closed(&mut wrong).await;
    assert_eq!((code, reason.as_str()), (1008, "unauthorized"));
    assert!(texts.is_empty());

    let mut chatty = open(&s.daemon, s.session, None).await.unwrap();
    send(&mut chatty, json!({"type": "chat", "text": "hello?"})).await;
    assert_eq!(closed(&mut chatty).await.1, "auth_required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_session_is_refused() {
    let s = scene().await;
    let (other, other_admin) = s.daemon.tenant("globex", "admin@globex.test").await;
    let other_token = s.daemon.token_for(other, other_admin).await;

    let mut ws = open(&s.daemon, s.session, None).await.unwrap();
    send(&mut ws, json!({"type": "auth", "token": other_token})).await;
    let (code, reason, texts) = closed(&mut ws).await;
    assert_eq!((code, reason.as_str()), (1008, "not_found"));
    assert!(texts.is_empty(), "nothing of the session leaks: {texts:?}");

    let Err(WsError::Http(response)) = open(&s.daemon, s.session, Some(&other_token)).await else {
        panic!("the upgrade must be refused");
    };
    assert_eq!(response.status(), 404);
    let Err(WsError::Http(response)) = open(&s.daemon, s.session, Some("bogus")).await else {
        panic!("the upgrade must be refused");
    };
    assert_eq!(response.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_and_annotations_are_relayed_with_the_servers_from() {
    let s = scene().await;
    let mut agent = join(&s.daemon, s.session, &s.admin_token).await;
    let mut customer = join(&s.daemon, s.session, &s.customer_token).await;

    send(
        &mut customer,
        json!({"type": "chat", "text": "the red light blinks"}),
    )
    .await;
    let relayed = recv(&mut agent).await;
    assert_eq!(relayed["type"], "chat");
    assert_eq!(relayed["text"], "the red light blinks");
    assert_eq!(relayed["from"], json!({"role": "customer"}));
    assert!(relayed["at"].as_str().unwrap().ends_with('Z'));
    let echo = recv(&mut customer).await;
    assert_eq!(
        echo["seq"], relayed["seq"],
        "the sender gets the same message back"
    );

    // A client cannot claim to be someone else.
    let forged = json!({"type": "chat", "text": "hi", "from": {"role": "admin"}});
    send(&mut customer, forged).await;
    assert_eq!(recv(&mut customer).await["error"], "malformed_message");

    let arrow = json!({"type": "annotation", "op": "add", "id": "a-1", "shape": {
        "kind": "arrow", "points": [[0.1, 0.2], [0.5, 0.75]], "color": "#ff3b30", "width": 0.01}});
    send(&mut agent, arrow).await;
    let drawn = recv(&mut customer).await;
    assert_eq!(drawn["type"], "annotation");
    assert_eq!(drawn["op"], "add");
    assert_eq!(drawn["id"], "a-1");
    assert_eq!(drawn["shape"]["points"], json!([[0.1, 0.2], [0.5, 0.75]]));
    assert_eq!(drawn["from"]["role"], "admin");
    assert_eq!(drawn["from"]["user_id"], s.admin.to_string());
    assert!(drawn["seq"].as_u64().unwrap() > relayed["seq"].as_u64().unwrap());
    assert_eq!(recv(&mut agent).await["id"], "a-1");

    send(&mut agent, json!({"type": "annotation", "op": "clear"})).await;
    assert_eq!(recv(&mut customer).await["op"], "clear");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_invalid_messages_keep_the_socket_oversized_closes_it() {
    let s = scene().await;
    let mut ws = join(&s.daemon, s.session, &s.admin_token).await;

    ws.send(Message::text("{not json")).await.unwrap();
    assert_eq!(recv(&mut ws).await["error"], "malformed_message");
    let outside = json!({"type": "annotation", "op": "add", "id": "r", "shape": {
        "kind": "rect", "points": [[0.1, 0.2], [1.5, 0.5]], "color": "#00ff00", "width": 0.01}});
    send(&mut ws, outside).await;
    assert_eq!(recv(&mut ws).await["error"], "invalid_message");
    send(&mut ws, json!({"type": "chat", "text": "x".repeat(2001)})).await;
    assert_eq!(recv(&mut ws).await["error"], "invalid_message");
    send(&mut ws, json!({"type": "chat", "text": "still here"})).await;
    assert_eq!(recv(&mut ws).await["text"], "still here");

    send(
        &mut ws,
        json!({"type": "chat", "text": "y".repeat(17 * 1024)}),
    )
    .await;
    let (code, reason, _) = closed(&mut ws).await;
    assert_eq!((code, reason.as_str()), (1009, "message_too_big"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_frames_close_1003() {
    let s = scene().await;
    let mut ws = join(&s.daemon, s.session, &s.admin_token).await;
    ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(closed(&mut ws).await.0, 1003);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_over_the_rate_are_dropped_then_the_socket_closed() {
    let s = scene_with(SocketLimits {
        rate_burst: 5,
        rate_per_second: 1,
        abuse_burst: 3,
        ..SocketLimits::default()
    })
    .await;
    let mut ws = join(&s.daemon, s.session, &s.admin_token).await;

    for n in 0..6 {
        send(
            &mut ws,
            json!({"type": "chat", "text": format!("message {n}")}),
        )
        .await;
    }
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(recv(&mut ws).await);
    }
    let chats = seen.iter().filter(|m| m["type"] == "chat").count();
    let limited = seen.iter().filter(|m| m["error"] == "rate_limited").count();
    assert_eq!((chats, limited), (5, 1), "{seen:?}");

    for n in 0..10 {
        let _ = ws
            .send(Message::text(
                json!({"type": "chat", "text": n.to_string()}).to_string(),
            ))
            .await;
    }
    let (code, reason, _) = closed(&mut ws).await;
    assert_eq!((code, reason.as_str()), (1008, "rate_limited"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_close_sends_ended_then_closes_1000() {
    let s = scene().await;
    let mut agent = join(&s.daemon, s.session, &s.admin_token).await;
    let mut customer = join(&s.daemon, s.session, &s.customer_token).await;

    s.daemon.app.hub.close(s.session, "ended_by_agent");
    for ws in [&mut agent, &mut customer] {
        let (code, _, texts) = closed(ws).await;
        assert_eq!(code, 1000);
        assert_eq!(
            texts,
            vec![json!({"type": "ended", "reason": "ended_by_agent"})]
        );
    }
    for _ in 0..100 {
        if s.daemon.app.hub.socket_count(s.session) == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the sockets of the ended session are still counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_per_session_are_capped() {
    let s = scene_with(SocketLimits {
        per_session: 1,
        ..SocketLimits::default()
    })
    .await;
    let _first = join(&s.daemon, s.session, &s.admin_token).await;

    let Err(WsError::Http(response)) = open(&s.daemon, s.session, Some(&s.admin_token)).await
    else {
        panic!("the upgrade must be refused");
    };
    assert_eq!(response.status(), 429);
    let mut second = open(&s.daemon, s.session, None).await.unwrap();
    send(
        &mut second,
        json!({"type": "auth", "token": s.customer_token}),
    )
    .await;
    assert_eq!(closed(&mut second).await.0, 1013);

    // Another session of the tenant is not affected.
    let other = create_session(&s.daemon, s.tenant, s.admin, "222222").await;
    let mut ws = open(&s.daemon, other, Some(&s.admin_token)).await.unwrap();
    assert_eq!(recv(&mut ws).await["session"]["state"], "waiting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_answer_pings_is_closed() {
    let s = scene_with(SocketLimits {
        ping_interval: Duration::from_millis(200),
        pong_timeout: Duration::from_millis(300),
        ..SocketLimits::default()
    })
    .await;
    let mut lively = open(&s.daemon, s.session, Some(&s.admin_token))
        .await
        .unwrap();
    let mut silent = open(&s.daemon, s.session, Some(&s.admin_token))
        .await
        .unwrap();

    // Reading answers pings (tungstenite queues the pong); the silent one is not read.
    let mut pings = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(until, lively.next()).await {
        pings += usize::from(matches!(message, Message::Ping(_)));
    }
    assert!(pings >= 3, "{pings} pings");
    send(&mut lively, json!({"type": "chat", "text": "alive"})).await;
    assert_eq!(recv(&mut lively).await["text"], "alive");

    let (code, reason, _) = closed(&mut silent).await;
    assert_eq!((code, reason.as_str()), (1001, "pong_timeout"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_request_is_told_to_upgrade() {
    let s = scene().await;
    let path = format!("/v1/sessions/{}/events", s.session);
    let reply = s
        .daemon
        .call(hyper::Method::GET, &path, Some(&s.admin_token), Value::Null)
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "websocket_required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_closes_the_socket_at_the_next_ping() {
    let s = scene_with(SocketLimits {
        ping_interval: Duration::from_millis(200),
        ..SocketLimits::default()
    })
    .await;
    let mut ws = join(&s.daemon, s.session, &s.admin_token).await;
    let hash = TokenHash::of(&s.admin_token);
    s.daemon.app.store.revoke_token(&hash).await.unwrap();

    let (code, reason, _) = closed(&mut ws).await;
    assert_eq!((code, reason.as_str()), (1008, "token_expired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_ended_says_so_and_closes() {
    let s = scene().await;
    let scope = s.daemon.app.store.tenant(s.tenant);
    scope
        .sessions()
        .end(s.session, "ended_by_agent")
        .await
        .unwrap();

    let mut ws = open(&s.daemon, s.session, Some(&s.admin_token))
        .await
        .unwrap();
    let (code, _, texts) = closed(&mut ws).await;
    assert_eq!(code, 1000);
    assert_eq!(texts[0]["session"]["state"], "ended");
    assert_eq!(
        texts[1],
        json!({"type": "ended", "reason": "ended_by_agent"})
    );
    assert_eq!(texts.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_waiting_for_auth_are_capped() {
    let s = scene_with(SocketLimits {
        pending: 1,
        ..SocketLimits::default()
    })
    .await;
    let mut waiting = open(&s.daemon, s.session, None).await.unwrap();

    let Err(WsError::Http(response)) = open(&s.daemon, s.session, None).await else {
        panic!("the upgrade must be refused");
    };
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));

    // Once the first one authenticates, its place is free again.
    send(
        &mut waiting,
        json!({"type": "auth", "token": s.admin_token}),
    )
    .await;
    assert_eq!(recv(&mut waiting).await["type"], "welcome");
    let _second = join(&s.daemon, s.session, &s.customer_token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_person_cannot_take_every_place_of_a_session() {
    let s = scene_with(SocketLimits {
        per_person: 2,
        ..SocketLimits::default()
    })
    .await;
    let _one = open(&s.daemon, s.session, Some(&s.customer_token))
        .await
        .unwrap();
    let _two = open(&s.daemon, s.session, Some(&s.customer_token))
        .await
        .unwrap();
    let Err(WsError::Http(response)) = open(&s.daemon, s.session, Some(&s.customer_token)).await
    else {
        panic!("a third socket of the customer must be refused");
    };
    assert_eq!(response.status(), 429);

    // The staff still get in, by header and by message.
    let mut admin = open(&s.daemon, s.session, Some(&s.admin_token))
        .await
        .unwrap();
    assert_eq!(recv(&mut admin).await["type"], "welcome");
    assert_eq!(s.daemon.app.hub.socket_count(s.session), 3);
}
