//! Support sessions: opening one, listing and reading them, joining as the customer,
//! consent, hold and resume, transfer, invitations, and ending.
//!
//! | route | who |
//! |---|---|
//! | `POST /v1/sessions` | an agent or administrator |
//! | `GET /v1/sessions`, `GET /v1/sessions/{id}` | staff, by [`access::session_for`] |
//! | `POST /v1/join` | anyone with the PIN or join link (throttled) |
//! | `POST`, `DELETE /v1/sessions/{id}/consent` | the customer |
//! | `POST /v1/sessions/{id}/hold`, `/resume`, `/transfer`, `/invite` | owner or admin |
//! | `DELETE /v1/sessions/{id}` | the owner, an administrator or the customer |
//!
//! A session that ended answers 410 `session_ended` to everything but reads.

mod control;
mod join;
mod view;

pub(crate) use control::apply_gates;

use std::sync::Arc;
use std::time::Duration;

use hyper::http::request::Parts;
use hyper::{Method, StatusCode};
use media_core::EngineError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use super::access::{self, Access};
use super::caller::{self, Caller, Staff};
use super::live::{self, engine_call, LiveSession, PersonKey};
use super::{rfc3339, App, Metrics};
use crate::auth::token::{JoinToken, Pin};
use crate::http::router::HandlerResult;
use crate::http::{created_response, read_json, PathParams, Problem, Request, Response, Router};
use crate::store::{
    Conflict, NewSupportSession, SessionId, SessionState, StoreError, SupportSession,
};

/// Draws of a fresh PIN before giving up (each collides with odds of open sessions / 10^6).
const PIN_DRAWS: usize = 8;
/// What a draining daemon asks clients to wait before trying again (another instance).
const DRAINING_RETRY: Duration = Duration::from_secs(30);

/// Adds this module's routes.
pub(super) fn routes(router: Router, app: &Arc<App>) -> Router {
    let router = add(router, app, Method::POST, "/v1/sessions", create);
    let router = add(router, app, Method::GET, "/v1/sessions", view::list);
    let router = add(router, app, Method::GET, "/v1/sessions/{id}", view::detail);
    let router = add(router, app, Method::DELETE, "/v1/sessions/{id}", end);
    let router = add(router, app, Method::POST, "/v1/join", join::join);
    control::routes(router, app)
}

/// Adds one route whose handler takes the app.
pub(crate) fn add<F, Fut>(
    router: Router,
    app: &Arc<App>,
    method: Method,
    path: &str,
    handler: F,
) -> Router
where
    F: Fn(Arc<App>, Request) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = HandlerResult> + Send + 'static,
{
    let app = Arc::clone(app);
    router.route(method, path, move |request| {
        handler(Arc::clone(&app), request)
    })
}

/// Who calls, then the JSON body: an unauthenticated request is refused before its body
/// is read.
pub(crate) async fn caller_and_json<T: DeserializeOwned>(
    app: &App,
    request: Request,
) -> Result<(Caller, Parts, T), Problem> {
    let (parts, body) = request.into_parts();
    let caller = caller::caller(app, &parts).await?;
    let (parts, value) = read_json(Request::from_parts(parts, body)).await?;
    Ok((caller, parts, value))
}

/// The `{id}` of the path as a session id (404 when it is not one).
pub(crate) fn session_param(parts: &Parts) -> Result<SessionId, Problem> {
    let text = parts
        .extensions
        .get::<PathParams>()
        .and_then(|p| p.get("id"))
        .ok_or_else(Problem::not_found)?;
    access::parse_session_id(text)
}

/// 410 `session_ended` for a session that ended.
pub(crate) fn ensure_open(row: &SupportSession) -> Result<(), Problem> {
    match row.state {
        SessionState::Ended => Err(ended_problem()),
        _ => Ok(()),
    }
}

/// The 410 for an ended session.
pub(crate) fn ended_problem() -> Problem {
    Problem::gone("session_ended").with_detail("The session has ended.")
}

/// The 503 of a draining daemon.
pub(crate) fn draining_problem() -> Problem {
    Problem::service_unavailable("draining", Some(DRAINING_RETRY))
        .with_detail("The server is shutting down and takes no new sessions; try again.")
}

/// The person a caller is in a session.
pub(crate) fn person_of(caller: &Caller) -> (PersonKey, &'static str) {
    match caller {
        Caller::Customer(_) => (PersonKey::Customer, "customer"),
        Caller::Staff(staff) => (PersonKey::Staff(staff.user), staff.role.as_str()),
    }
}

/// The problem for an engine error: the client's offer, a full session, or ours.
pub(crate) fn engine_problem(error: EngineError) -> Problem {
    match error {
        EngineError::MalformedOffer(reason) => Problem::bad_request("malformed_offer")
            .with_detail(format!("The SDP offer cannot be parsed: {reason}")),
        EngineError::UnusableOffer(reason) => Problem::unprocessable("unusable_offer")
            .with_detail(format!("The SDP offer asks for nothing usable: {reason}")),
        EngineError::SessionFull => Problem::conflict("session_full")
            .with_detail("The session has as many participants as it can hold."),
        EngineError::UnknownSession(_) => ended_problem(),
        EngineError::NoFreePort(..) => {
            tracing::error!(target: "api", %error, "relay ports exhausted");
            Problem::service_unavailable("no_relay_port", Some(DRAINING_RETRY))
                .with_detail("The server has no free media port; try again later.")
        }
        error => {
            tracing::error!(target: "api", %error, "engine failure");
            Problem::internal()
        }
    }
}

/// Sessions one staff user may have open that no customer joined yet: each holds a relay
/// port until its key expires, so one account must not be able to take them all.
const MAX_UNJOINED_PER_USER: usize = 10;

/// Live sessions of one tenant on this node, so that one tenant cannot take every relay
/// port. Per-tenant limits from the tenant's settings replace this with the admission
/// control of the operations work.
const MAX_LIVE_PER_TENANT: usize = 100;

/// Refuses a new session over [`MAX_UNJOINED_PER_USER`] or [`MAX_LIVE_PER_TENANT`] with
/// 429 `too_many_sessions`.
fn check_session_caps(app: &App, staff: &Staff) -> Result<(), Problem> {
    let unjoined = app
        .live
        .count(|s| !s.joined && s.opened_by == Some(staff.user));
    if unjoined >= MAX_UNJOINED_PER_USER {
        return Err(too_many_sessions(format!(
            "You have {unjoined} sessions no customer joined yet; end some or let their keys expire."
        )));
    }
    let live = app.live.count(|s| s.tenant == staff.tenant);
    if live >= MAX_LIVE_PER_TENANT {
        return Err(too_many_sessions(format!(
            "The tenant has {live} live sessions on this node, the most it may have."
        )));
    }
    Ok(())
}

fn too_many_sessions(detail: String) -> Problem {
    Problem::new(StatusCode::TOO_MANY_REQUESTS, "too_many_sessions")
        .with_title("Too many sessions")
        .with_retry_after(Duration::from_secs(60))
        .with_detail(detail)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSession {
    customer_name: Option<String>,
    external_ref: Option<String>,
}

/// `POST /v1/sessions`: opens a session with a fresh PIN, join link and relay port.
async fn create(app: Arc<App>, request: Request) -> HandlerResult {
    if app.is_draining() {
        return Err(draining_problem());
    }
    let (caller, _, body): (_, _, NewSession) = caller_and_json(&app, request).await?;
    let Caller::Staff(staff) = caller else {
        return Err(Problem::forbidden("forbidden").with_detail("Only staff open sessions."));
    };
    check_session_caps(&app, &staff)?;
    let settings = app.store.tenant(staff.tenant).get().await?.settings;
    let expires = app.clock.unix_now() + i64::from(settings.support_key_validity_secs);

    let info = engine_call(&app, |e| e.create_session())
        .await
        .map_err(engine_problem)?;
    let (id, pin, join_token) = match insert_session(&app, &staff, body, expires).await {
        Ok(created) => created,
        Err(problem) => {
            let _ = engine_call(&app, move |e| e.close_session(info.id)).await;
            return Err(problem);
        }
    };
    let mut live = LiveSession::new(staff.tenant, info.id, info.relay);
    live.key_expires_at = expires;
    live.opened_by = Some(staff.user);
    app.live.insert(id, live);
    Metrics::bump(&app.metrics.sessions_created);

    let join_url = format!("{}/join#{}", app.config.public_url, join_token.as_str());
    let relay = [json!({
        "protocol": "udp",
        "address": info.relay.ip().to_string(),
        "port": info.relay.port(),
    })];
    let body = json!({
        "id": id.to_string(),
        "pin": pin.as_str(),
        "join_token": join_token.as_str(),
        "join_url": join_url,
        "expires_at": rfc3339(expires),
        "relay": relay,
    });
    Ok(created_response(&format!("/v1/sessions/{id}"), &body))
}

/// Stores the session, drawing another PIN while it collides with an open session's.
async fn insert_session(
    app: &App,
    staff: &Staff,
    body: NewSession,
    expires: i64,
) -> Result<(SessionId, Pin, JoinToken), Problem> {
    let sessions = app.store.tenant(staff.tenant).sessions();
    for _ in 0..PIN_DRAWS {
        let (pin, join_token) = (Pin::generate(), JoinToken::generate());
        let new = NewSupportSession {
            agent: staff.user,
            customer_name: body.customer_name.clone(),
            external_ref: body.external_ref.clone(),
            pin_hash: pin.hash(),
            join_token_hash: join_token.hash(),
            key_expires_at: expires,
        };
        match sessions.create(&new).await {
            Ok(id) => return Ok((id, pin, join_token)),
            Err(StoreError::Conflict(Conflict::Pin | Conflict::JoinToken)) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    tracing::error!(target: "api", "no free PIN after {PIN_DRAWS} draws");
    Err(
        Problem::service_unavailable("no_free_pin", Some(DRAINING_RETRY))
            .with_detail("Too many sessions are waiting for customers; try again shortly."),
    )
}

/// `DELETE /v1/sessions/{id}`: the owner, an administrator or the customer ends it.
async fn end(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, _) = request.into_parts();
    let caller = caller::caller(&app, &parts).await?;
    let id = session_param(&parts)?;
    let (row, access) = access::session_for(&app, &caller, id).await?;
    ensure_open(&row)?;
    let reason = match access {
        Access::Owner => "ended_by_agent",
        Access::Admin => "ended_by_admin",
        Access::Customer => "ended_by_customer",
        Access::Invited => {
            return Err(Problem::forbidden("forbidden").with_detail(
                "Only the agent in charge, an administrator or the customer may end it.",
            ))
        }
    };
    if !live::end_session(&app, row.tenant_id, id, reason).await? {
        return Err(ended_problem());
    }
    Ok(no_content())
}

/// An empty 204.
pub(crate) fn no_content() -> Response {
    let mut response = Response::new(Default::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}
