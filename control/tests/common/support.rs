//! Support-session helpers for the API tests: a tenant with an administrator and agents,
//! opening a session, joining it as the customer.

#![allow(dead_code, clippy::unwrap_used)]

use hyper::Method;
use serde_json::{json, Value};
use sightline_control::store::{Role, TenantId, UserId};

use crate::common::TestDaemon;

/// A tenant with an administrator and two agents, each with a token.
pub struct Team {
    /// The tenant.
    pub tenant: TenantId,
    /// The administrator.
    pub admin: UserId,
    /// Its token.
    pub admin_token: String,
    /// The first agent.
    pub agent: UserId,
    /// Its token.
    pub agent_token: String,
    /// The second agent.
    pub other: UserId,
    /// Its token.
    pub other_token: String,
}

impl Team {
    /// Creates the tenant `name` and its people.
    pub async fn new(daemon: &TestDaemon, name: &str) -> Team {
        let (tenant, admin) = daemon.tenant(name, &format!("admin@{name}.test")).await;
        let agent = daemon
            .user(tenant, &format!("agent@{name}.test"), Role::Agent)
            .await;
        let other = daemon
            .user(tenant, &format!("other@{name}.test"), Role::Agent)
            .await;
        Team {
            tenant,
            admin,
            admin_token: daemon.token_for(tenant, admin).await,
            agent,
            agent_token: daemon.token_for(tenant, agent).await,
            other,
            other_token: daemon.token_for(tenant, other).await,
        }
    }
}

/// A session opened by `token`'s agent: the 201's body.
pub async fn open_session(daemon: &TestDaemon, token: &str) -> Value {
    let reply = daemon
        .call(
            Method::POST,
            "/v1/sessions",
            Some(token),
            json!({ "customer_name": "Ada", "external_ref": "T-1" }),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.json);
    let location = format!("/v1/sessions/{}", reply.json["id"].as_str().unwrap());
    assert_eq!(reply.header("location"), Some(location.as_str()));
    reply.json
}

/// Joins `session` (a 201 body) with its PIN; returns the customer's token.
pub async fn join(daemon: &TestDaemon, session: &Value) -> String {
    let pin = session["pin"].as_str().unwrap();
    let reply = daemon
        .call(Method::POST, "/v1/join", None, json!({ "pin": pin }))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.json);
    reply.json["token"].as_str().unwrap().to_owned()
}

/// Gives the customer's consent.
pub async fn consent(daemon: &TestDaemon, id: &str, token: &str, camera: bool, microphone: bool) {
    let reply = daemon
        .call(
            Method::POST,
            &format!("/v1/sessions/{id}/consent"),
            Some(token),
            json!({ "camera": camera, "microphone": microphone }),
        )
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.json);
}

/// POSTs to `/v1/sessions/{id}/{action}` with `body`; returns the status.
pub async fn act(daemon: &TestDaemon, id: &str, action: &str, token: &str, body: Value) -> u16 {
    let path = format!("/v1/sessions/{id}/{action}");
    daemon
        .call(Method::POST, &path, Some(token), body)
        .await
        .status
        .as_u16()
}

/// The session's detail as `token` sees it.
pub async fn detail(daemon: &TestDaemon, id: &str, token: &str) -> Value {
    let reply = daemon
        .call(
            Method::GET,
            &format!("/v1/sessions/{id}"),
            Some(token),
            Value::Null,
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.json);
    reply.json
}
