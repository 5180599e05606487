//! Support sessions over real HTTPS: opening, joining by PIN and link, expiry and reuse of
//! keys, join throttling, visibility and roles, hold, transfer, invitations, ending, and
//! the periodic clean-up of unjoined sessions.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/support.rs"]
mod support;

use std::time::Duration;

use common::TestDaemon;
use hyper::Method;
use serde_json::{json, Value};
use sightline_control::auth::lockout::ThrottlePolicy;
use support::{act, consent, detail, join, open_session, Team};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_returns_pin_link_expiry_and_relay() {
    let daemon = TestDaemon::start().await;
    let team = Team::new(&daemon, "acme").await;
    let before = daemon.clock.unix_now();
    let session = open_session(&daemon, &team.agent_token).await;

    let pin = session["pin"].as_str().unwrap();
    assert_eq!(pin.len(), 6);
    assert!(pin.bytes().all(|b| b.is_ascii_digit()));
    let token = session["join_token"].as_str().unwrap();
    assert!(token.len() >= 22, "128 bits in base64url: {token}");
    let url = session["join_url"].as_str().unwrap();
    assert_eq!(
        url,
        format!("{}/join#{token}", daemon.app.config.public_url)
    );
    assert!(
        !url.split('#').next().unwrap().contains(token),
        "token only in the fragment"
    );
    let expires = session["expires_at"].as_str().unwrap();
    let expected = sightline_control::api::rfc3339(before + 600);
    let later = sightline_control::api::rfc3339(before + 602);
    assert!(
        expires >= expected.as_str() && expires <= later.as_str(),
        "{expires}"
    );
    let relay = &session["relay"][0];
    assert_eq!(relay["protocol"], "udp");
    assert_eq!(relay["address"], "127.0.0.1");
    assert!(relay["port"].as_u64().unwrap() > 0);
    assert_eq!(daemon.app.engine.session_count(), 1);
    assert_eq!(daemon.app.live.len(), 1);

    let id = session["id"].as_str().unwrap();
    let shown = detail(&daemon, id, &team.agent_token).await;
    assert_eq!(shown["state"], "waiting");
    assert_eq!(shown["customer_name"], "Ada");
    assert_eq!(shown["agent_id"], team.agent.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_by_pin_and_by_link_then_keys_are_used() {
    let daemon = TestDaemon::start().await;
    let team = Team::new(&daemon, "acme").await;
    let first = open_session(&daemon, &team.agent_token).await;
    let second = open_session(&daemon, &team.agent_token).await;

    let customer = join(&daemon, &first).await;
    let id = first["id"].as_str().unwrap();
    assert_eq!(detail(&daemon, id, &customer).await["state"], "active");

    let link = json!({ "join_token": second["join_token"] });
    let joined = daemon
        .call(Method::POST, "/v1/join", None, link.clone())
        .await;
    assert_eq!(joined.status, 200);
    assert_eq!(joined.json["session_id"], second["id"]);

    let again = daemon.call(Method::POST, "/v1/join", None, link).await;
    assert_eq!((again.status.as_u16(), again.error()), (410, "key_used"));
    let pin = json!({ "pin": first["pin"] });
    let again = daemon.call(Method::POST, "/v1/join", None, pin).await;
    assert_eq!((again.status.as_u16(), again.error()), (410, "key_used"));

    let unknown = json!({ "join_token": "x".repeat(43) });
    let reply = daemon.call(Method::POST, "/v1/join", None, unknown).await;
    assert_eq!((reply.status.as_u16(), reply.error()), (404, "unknown_key"));
    let both = json!({ "pin": "123456", "join_token": "abc" });
    let reply = daemon.call(Method::POST, "/v1/join", None, both).await;
    assert_eq!(reply.status, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_key_is_gone_and_clean_up_ends_the_session() {
    let daemon = TestDaemon::start_with(|c| c.grace_period = Duration::from_secs(1)).await;
    let team = Team::new(&daemon, "acme").await;
    let session = open_session(&daemon, &team.agent_token).await;
    let id = session["id"].as_str().unwrap();

    daemon.clock.skip_ahead(Duration::from_secs(601));
    let pin = json!({ "pin": session["pin"] });
    let reply = daemon.call(Method::POST, "/v1/join", None, pin).await;
    assert_eq!((reply.status.as_u16(), reply.error()), (410, "key_expired"));

    // The clean-up runs every quarter of the grace period here: the session ends and its
    // engine session closes.
    wait_until_no_engine_session(&daemon).await;
    assert_eq!(daemon.app.live.len(), 0);
    let shown = detail(&daemon, id, &team.agent_token).await;
    assert_eq!(shown["state"], "ended");
    assert_eq!(shown["end_reason"], "key_expired");
    let link = json!({ "join_token": session["join_token"] });
    let reply = daemon.call(Method::POST, "/v1/join", None, link).await;
    assert_eq!((reply.status.as_u16(), reply.error()), (410, "key_expired"));
}

fn tight(burst: u32) -> ThrottlePolicy {
    ThrottlePolicy {
        burst,
        refill_every: Duration::from_secs(60),
        capacity: 1000,
    }
}

fn loose() -> ThrottlePolicy {
    ThrottlePolicy {
        burst: 1000,
        refill_every: Duration::from_millis(1),
        capacity: 1000,
    }
}

/// Sends wrong PINs until one is refused; returns how many went through and the refusal.
async fn guess_until_throttled(daemon: &TestDaemon) -> (usize, common::Reply) {
    for attempt in 0..50 {
        let reply = daemon
            .call(Method::POST, "/v1/join", None, json!({ "pin": "000001" }))
            .await;
        if reply.status == 429 {
            return (attempt, reply);
        }
        assert_eq!(reply.status, 404);
    }
    panic!("never throttled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_guesses_are_throttled_per_source() {
    let daemon = TestDaemon::start_with(|c| {
        c.join_throttle = tight(3);
        c.join_global_throttle = loose();
    })
    .await;
    let (allowed, refused) = guess_until_throttled(&daemon).await;
    assert_eq!(allowed, 3);
    assert_eq!(refused.error(), "too_many_requests");
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(
        daemon
            .app
            .metrics
            .throttled
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );

    // The allowance comes back with time.
    daemon.clock.skip_ahead(Duration::from_secs(61));
    let reply = daemon
        .call(Method::POST, "/v1/join", None, json!({ "pin": "000001" }))
        .await;
    assert_eq!(reply.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_guesses_are_throttled_globally() {
    let daemon = TestDaemon::start_with(|c| {
        c.join_throttle = loose();
        c.join_global_throttle = tight(4);
    })
    .await;
    let (allowed, refused) = guess_until_throttled(&daemon).await;
    assert_eq!(allowed, 4);
    assert_eq!(refused.error(), "too_many_requests");
    assert!(refused.header("retry-after").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visibility_and_roles() {
    let daemon = TestDaemon::start().await;
    let team = Team::new(&daemon, "acme").await;
    let rival = Team::new(&daemon, "rival").await;
    let mine = open_session(&daemon, &team.agent_token).await;
    let theirs = open_session(&daemon, &team.other_token).await;
    let id = mine["id"].as_str().unwrap();
    let customer = join(&daemon, &mine).await;
    let other_customer = join(&daemon, &theirs).await;

    let get = |token: String| {
        let path = format!("/v1/sessions/{id}");
        let daemon = &daemon;
        async move {
            daemon
                .call(Method::GET, &path, Some(&token), Value::Null)
                .await
                .status
        }
    };
    assert_eq!(get(team.admin_token.clone()).await, 200);
    assert_eq!(get(team.other_token.clone()).await, 403);
    assert_eq!(get(rival.agent_token.clone()).await, 404);
    assert_eq!(get(other_customer.clone()).await, 403);
    assert_eq!(get(customer.clone()).await, 200);

    assert_eq!(
        act(&daemon, id, "hold", &team.other_token, Value::Null).await,
        403
    );
    assert_eq!(act(&daemon, id, "hold", &customer, Value::Null).await, 403);
    assert_eq!(
        act(&daemon, id, "hold", &rival.admin_token, Value::Null).await,
        404
    );
    let rival_agent = json!({ "agent_id": rival.agent.to_string() });
    assert_eq!(
        act(
            &daemon,
            id,
            "transfer",
            &team.agent_token,
            rival_agent.clone()
        )
        .await,
        404
    );
    assert_eq!(
        act(&daemon, id, "invite", &team.agent_token, rival_agent).await,
        404
    );
    let other = json!({ "agent_id": team.other.to_string() });
    assert_eq!(
        act(&daemon, id, "invite", &customer, other.clone()).await,
        403
    );
    assert_eq!(
        act(
            &daemon,
            id,
            "consent",
            &team.agent_token,
            json!({"camera": true, "microphone": true})
        )
        .await,
        403
    );

    // Lists: the admin sees both, an agent its own, then the one it is invited to.
    let list = |token: String, query: &'static str| {
        let daemon = &daemon;
        async move {
            let reply = daemon
                .call(
                    Method::GET,
                    &format!("/v1/sessions{query}"),
                    Some(&token),
                    Value::Null,
                )
                .await;
            assert_eq!(reply.status, 200, "{:?}", reply.json);
            reply.json["sessions"].as_array().unwrap().len()
        }
    };
    assert_eq!(list(team.admin_token.clone(), "").await, 2);
    assert_eq!(list(team.agent_token.clone(), "").await, 1);
    assert_eq!(list(rival.admin_token.clone(), "").await, 0);
    assert_eq!(
        act(&daemon, id, "invite", &team.agent_token, other).await,
        204
    );
    assert_eq!(list(team.other_token.clone(), "").await, 2);
    assert_eq!(get(team.other_token.clone()).await, 200);
    assert_eq!(list(team.admin_token.clone(), "?state=waiting").await, 0);
    assert_eq!(
        list(team.admin_token.clone(), "?state=active&external_ref=T-1").await,
        2
    );
    let by_agent = format!("?agent_id={}", team.agent);
    let reply = daemon
        .call(
            Method::GET,
            &format!("/v1/sessions{by_agent}"),
            Some(&team.admin_token),
            Value::Null,
        )
        .await;
    assert_eq!(reply.json["sessions"].as_array().unwrap().len(), 1);
    let shown = detail(&daemon, id, &team.admin_token).await;
    assert_eq!(shown["invited_agents"], json!([team.other.to_string()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_hold_transfer_show_in_detail() {
    let daemon = TestDaemon::start().await;
    let team = Team::new(&daemon, "acme").await;
    let session = open_session(&daemon, &team.agent_token).await;
    let id = session["id"].as_str().unwrap();
    assert_eq!(
        act(&daemon, id, "hold", &team.agent_token, Value::Null).await,
        409
    );
    let customer = join(&daemon, &session).await;

    consent(&daemon, id, &customer, true, false).await;
    let shown = detail(&daemon, id, &team.agent_token).await;
    assert_eq!(
        shown["consent"],
        json!({ "camera": true, "microphone": false })
    );
    let revoke = daemon
        .call(
            Method::DELETE,
            &format!("/v1/sessions/{id}/consent"),
            Some(&customer),
            Value::Null,
        )
        .await;
    assert_eq!(revoke.status, 204);
    assert_eq!(
        detail(&daemon, id, &customer).await["consent"]["camera"],
        false
    );

    assert_eq!(
        act(&daemon, id, "hold", &team.agent_token, Value::Null).await,
        204
    );
    let shown = detail(&daemon, id, &team.agent_token).await;
    assert_eq!(
        (shown["state"].as_str(), shown["held"].as_bool()),
        (Some("held"), Some(true))
    );
    assert_eq!(
        act(&daemon, id, "resume", &team.admin_token, Value::Null).await,
        204
    );
    assert_eq!(
        detail(&daemon, id, &team.agent_token).await["state"],
        "active"
    );

    let to_other = json!({ "agent_id": team.other.to_string() });
    assert_eq!(
        act(&daemon, id, "transfer", &team.agent_token, to_other).await,
        204
    );
    assert_eq!(
        detail(&daemon, id, &team.other_token).await["agent_id"],
        team.other.to_string()
    );
    // The previous agent is neither owner nor invited any more.
    assert_eq!(
        act(&daemon, id, "hold", &team.agent_token, Value::Null).await,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_session_revokes_the_customer_and_answers_gone() {
    let daemon = TestDaemon::start().await;
    let team = Team::new(&daemon, "acme").await;
    let session = open_session(&daemon, &team.agent_token).await;
    let id = session["id"].as_str().unwrap();
    let customer = join(&daemon, &session).await;
    let mut events = daemon
        .app
        .hub
        .subscribe(sightline_control::store::SessionId::parse(id).unwrap());

    let path = format!("/v1/sessions/{id}");
    let other = daemon
        .call(Method::DELETE, &path, Some(&team.other_token), Value::Null)
        .await;
    assert_eq!(other.status, 403);
    let end = daemon
        .call(Method::DELETE, &path, Some(&team.agent_token), Value::Null)
        .await;
    assert_eq!(end.status, 204);
    let event = events.recv().await.unwrap();
    assert_eq!(
        serde_json::to_value(&*event).unwrap(),
        json!({ "type": "ended", "reason": "ended_by_agent" })
    );

    let shown = detail(&daemon, id, &team.admin_token).await;
    assert_eq!(
        (shown["state"].as_str(), shown["end_reason"].as_str()),
        (Some("ended"), Some("ended_by_agent"))
    );
    assert_eq!(daemon.app.engine.session_count(), 0);
    let again = daemon
        .call(Method::DELETE, &path, Some(&team.agent_token), Value::Null)
        .await;
    assert_eq!(
        (again.status.as_u16(), again.error()),
        (410, "session_ended")
    );
    assert_eq!(
        act(&daemon, id, "hold", &team.agent_token, Value::Null).await,
        410
    );
    let dead = daemon
        .call(Method::GET, &path, Some(&customer), Value::Null)
        .await;
    assert_eq!(dead.status, 401);
    let pin = json!({ "pin": session["pin"] });
    let reply = daemon.call(Method::POST, "/v1/join", None, pin).await;
    assert_eq!(
        (reply.status.as_u16(), reply.error()),
        (410, "session_ended")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_may_end_and_draining_refuses_new_sessions() {
    let daemon = TestDaemon::start().await;
    let team = Team::new(&daemon, "acme").await;
    let session = open_session(&daemon, &team.agent_token).await;
    let id = session["id"].as_str().unwrap();
    let customer = join(&daemon, &session).await;
    let path = format!("/v1/sessions/{id}");
    let end = daemon
        .call(Method::DELETE, &path, Some(&customer), Value::Null)
        .await;
    assert_eq!(end.status, 204);
    assert_eq!(
        detail(&daemon, id, &team.agent_token).await["end_reason"],
        "ended_by_customer"
    );

    let waiting = open_session(&daemon, &team.agent_token).await;
    daemon.app.start_draining();
    let reply = daemon
        .call(
            Method::POST,
            "/v1/sessions",
            Some(&team.agent_token),
            json!({}),
        )
        .await;
    assert_eq!((reply.status.as_u16(), reply.error()), (503, "draining"));
    assert!(reply.header("retry-after").is_some());
    let pin = json!({ "pin": waiting["pin"] });
    let reply = daemon.call(Method::POST, "/v1/join", None, pin).await;
    assert_eq!(reply.status, 503);

    sightline_control::api::end_all_sessions(&daemon.app, "shutdown").await;
    let shown = detail(&daemon, waiting["id"].as_str().unwrap(), &team.agent_token).await;
    assert_eq!(shown["end_reason"], "shutdown");
    assert_eq!(daemon.app.engine.session_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_agent_can_neither_take_nor_watch_a_session() {
    let daemon = TestDaemon::start().await;
    let team = Team::new(&daemon, "acme").await;
    let session = open_session(&daemon, &team.agent_token).await;
    let id = session["id"].as_str().unwrap();
    join(&daemon, &session).await;
    daemon
        .app
        .store
        .tenant(team.tenant)
        .users()
        .set_disabled(team.other, true)
        .await
        .unwrap();

    let to_other = json!({ "agent_id": team.other.to_string() });
    for action in ["transfer", "invite"] {
        let reply = daemon
            .call(
                Method::POST,
                &format!("/v1/sessions/{id}/{action}"),
                Some(&team.agent_token),
                to_other.clone(),
            )
            .await;
        assert_eq!(
            (reply.status.as_u16(), reply.error()),
            (409, "agent_disabled")
        );
    }
    let shown = detail(&daemon, id, &team.agent_token).await;
    assert_eq!(shown["agent_id"], team.agent.to_string());
    assert_eq!(shown["invited_agents"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_agent_cannot_hold_every_relay_port() {
    let daemon = TestDaemon::start().await;
    let team = Team::new(&daemon, "acme").await;
    let mut opened = Vec::new();
    for _ in 0..10 {
        opened.push(open_session(&daemon, &team.agent_token).await);
    }
    let refused = daemon
        .call(
            Method::POST,
            "/v1/sessions",
            Some(&team.agent_token),
            json!({}),
        )
        .await;
    assert_eq!(
        (refused.status.as_u16(), refused.error()),
        (429, "too_many_sessions")
    );
    assert_eq!(refused.header("retry-after"), Some("60"));
    assert_eq!(daemon.app.engine.session_count(), 10);

    // Another agent of the tenant is not affected, and a joined session frees a place.
    open_session(&daemon, &team.other_token).await;
    join(&daemon, &opened[0]).await;
    open_session(&daemon, &team.agent_token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_tenant_cannot_be_joined_and_its_sessions_end() {
    let daemon = TestDaemon::start_with(|api| api.grace_period = Duration::from_secs(1)).await;
    let team = Team::new(&daemon, "acme").await;
    let waiting = open_session(&daemon, &team.agent_token).await;
    let active = open_session(&daemon, &team.agent_token).await;
    let customer = join(&daemon, &active).await;
    daemon.app.store.terminate_tenant("acme").await.unwrap();

    let pin = waiting["pin"].as_str().unwrap();
    let reply = daemon
        .call(Method::POST, "/v1/join", None, json!({ "pin": pin }))
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.error()),
        (410, "session_ended")
    );

    // The clean-up ends the live session of the terminated tenant and frees its port.
    let id = active["id"].as_str().unwrap();
    wait_until_no_engine_session(&daemon).await;
    let row = daemon
        .app
        .store
        .tenant(team.tenant)
        .sessions()
        .get(sightline_control::store::SessionId::parse(id).unwrap())
        .await
        .unwrap();
    assert_eq!(row.end_reason.as_deref(), Some("tenant_terminated"));
    let path = format!("/v1/sessions/{id}/consent");
    let reply = daemon
        .call(
            Method::POST,
            &path,
            Some(&customer),
            json!({ "camera": true, "microphone": true }),
        )
        .await;
    assert_eq!(reply.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_references_are_bounded_and_plain_text() {
    let daemon = TestDaemon::start().await;
    let team = Team::new(&daemon, "acme").await;
    for (field, value) in [
        ("customer_name", "x".repeat(201)),
        ("customer_name", "Ada\u{0}".to_owned()),
        ("customer_name", "Ada \u{202e}nimda".to_owned()),
        ("external_ref", "T-1\nT-2".to_owned()),
    ] {
        let reply = daemon
            .call(
                Method::POST,
                "/v1/sessions",
                Some(&team.agent_token),
                json!({ field: value }),
            )
            .await;
        assert_eq!(
            (reply.status.as_u16(), reply.error()),
            (422, "invalid_field"),
            "{field} {value:?}"
        );
    }
    // Nothing was stored, and no relay port is held.
    assert_eq!(daemon.app.engine.session_count(), 0);
    let list = daemon
        .call(
            Method::GET,
            "/v1/sessions",
            Some(&team.agent_token),
            Value::Null,
        )
        .await;
    assert_eq!(list.json["sessions"], json!([]));
    // Ordinary accents and scripts are fine.
    let reply = daemon
        .call(
            Method::POST,
            "/v1/sessions",
            Some(&team.agent_token),
            json!({ "customer_name": "Zoë Ångström 山田" }),
        )
        .await;
    assert_eq!(reply.status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_who_joined_but_never_connects_does_not_hold_a_port_forever() {
    // A short grace period makes the clean-up run often.
    let daemon = TestDaemon::start_with(|api| api.grace_period = Duration::from_secs(1)).await;
    let team = Team::new(&daemon, "acme").await;
    let session = open_session(&daemon, &team.agent_token).await;
    let id = session["id"].as_str().unwrap();
    join(&daemon, &session).await;

    // Well within the half hour: still live after several clean-up rounds.
    daemon.clock.skip_ahead(Duration::from_secs(20 * 60));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(daemon.app.engine.session_count(), 1);

    daemon.clock.skip_ahead(Duration::from_secs(11 * 60));
    wait_until_no_engine_session(&daemon).await;
    let shown = detail(&daemon, id, &team.agent_token).await;
    assert_eq!(
        (shown["state"].as_str(), shown["end_reason"].as_str()),
        (Some("ended"), Some("customer_absent"))
    );
}

/// Waits (up to 10 s) until the clean-up has closed every engine session.
async fn wait_until_no_engine_session(daemon: &TestDaemon) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while daemon.app.engine.session_count() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "engine sessions are still live"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
