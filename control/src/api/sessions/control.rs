//! What happens to a running session: the customer's consent per kind, hold and resume,
//! transfer to another agent, and invitations to watch.
//!
//! Consent and hold act on media-core's gates: the customer's WHIP participant has one gate
//! per kind, open only while that kind is consented and the session is not held; hold
//! closes every gate of every publisher until resume.

use std::sync::Arc;

use hyper::http::request::Parts;
use hyper::Method;
use media_core::ids::{MediaKind, ParticipantId};
use serde::Deserialize;

use super::{add, caller_and_json, ensure_open, no_content, person_of, session_param};
use crate::api::access::{self, Access};
use crate::api::caller::{self, Caller};
use crate::api::events::SessionEvent;
use crate::api::live::{self, engine_call, Consent, EngineSession, PersonKey};
use crate::api::App;
use crate::http::router::HandlerResult;
use crate::http::{Problem, Request, Router};
use crate::store::{SessionState, StoreError, SupportSession, TenantId, UserId};

/// Adds the consent, hold, resume, transfer and invite routes.
pub(super) fn routes(router: Router, app: &Arc<App>) -> Router {
    let consent = "/v1/sessions/{id}/consent";
    let router = add(router, app, Method::POST, consent, give_consent);
    let router = add(router, app, Method::DELETE, consent, revoke_consent);
    let router = add(router, app, Method::POST, "/v1/sessions/{id}/hold", hold);
    let router = add(
        router,
        app,
        Method::POST,
        "/v1/sessions/{id}/resume",
        resume,
    );
    let router = add(
        router,
        app,
        Method::POST,
        "/v1/sessions/{id}/transfer",
        transfer,
    );
    add(
        router,
        app,
        Method::POST,
        "/v1/sessions/{id}/invite",
        invite,
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentBody {
    camera: bool,
    microphone: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentBody {
    agent_id: String,
}

/// The open session of the request's path as `caller` sees it.
async fn open_session(
    app: &App,
    caller: &Caller,
    parts: &Parts,
) -> Result<(SupportSession, Access), Problem> {
    let id = session_param(parts)?;
    let (row, access) = access::session_for(app, caller, id).await?;
    ensure_open(&row)?;
    Ok((row, access))
}

/// The caller and its open session, for routes without a body.
async fn bodiless(
    app: &App,
    request: Request,
) -> Result<(Caller, SupportSession, Access), Problem> {
    let (parts, _) = request.into_parts();
    let caller = caller::caller(app, &parts).await?;
    let (row, access) = open_session(app, &caller, &parts).await?;
    Ok((caller, row, access))
}

fn only_customer(access: Access) -> Result<(), Problem> {
    match access {
        Access::Customer => Ok(()),
        _ => Err(Problem::forbidden("forbidden").with_detail("Only the customer gives consent.")),
    }
}

fn only_in_charge(access: Access) -> Result<(), Problem> {
    if access.is_in_charge() {
        return Ok(());
    }
    Err(Problem::forbidden("forbidden")
        .with_detail("Only the agent in charge or an administrator may do this."))
}

/// `POST /v1/sessions/{id}/consent` `{camera, microphone}` (the customer).
async fn give_consent(app: Arc<App>, request: Request) -> HandlerResult {
    let (caller, parts, body): (_, _, ConsentBody) = caller_and_json(&app, request).await?;
    let (row, access) = open_session(&app, &caller, &parts).await?;
    only_customer(access)?;
    let consent = Consent {
        camera: body.camera,
        microphone: body.microphone,
    };
    set_consent(&app, &row, consent).await?;
    Ok(no_content())
}

/// `DELETE /v1/sessions/{id}/consent`: the customer withdraws both kinds.
async fn revoke_consent(app: Arc<App>, request: Request) -> HandlerResult {
    let (_, row, access) = bodiless(&app, request).await?;
    only_customer(access)?;
    set_consent(&app, &row, Consent::default()).await?;
    Ok(no_content())
}

async fn set_consent(
    app: &Arc<App>,
    row: &SupportSession,
    consent: Consent,
) -> Result<(), Problem> {
    live::ensure_live(app, row).await?;
    let applied = app.live.with(row.id, |s| {
        s.consent = consent;
        let publisher = s
            .people
            .get(&PersonKey::Customer)
            .and_then(|p| p.publish.as_ref());
        (
            s.engine,
            publisher.map(|r| r.participant),
            s.gates(PersonKey::Customer),
        )
    });
    if let Some((engine, Some(participant), gates)) = applied {
        apply_gates(app, engine, participant, gates).await;
    }
    let (camera, microphone) = (consent.camera, consent.microphone);
    app.hub
        .publish(row.id, SessionEvent::Consent { camera, microphone });
    Ok(())
}

/// Sets a publisher's audio and video gates; a participant that left meanwhile is fine.
pub(crate) async fn apply_gates(
    app: &Arc<App>,
    engine: EngineSession,
    participant: ParticipantId,
    (audio, video): (bool, bool),
) {
    let result = engine_call(app, move |e| {
        e.set_gate(engine, participant, Some(MediaKind::Audio), audio)?;
        e.set_gate(engine, participant, Some(MediaKind::Video), video)
    })
    .await;
    if let Err(error) = result {
        tracing::debug!(target: "api", %error, "gate of a participant that is gone");
    }
}

/// `POST /v1/sessions/{id}/hold`: no media flows either way until resume.
async fn hold(app: Arc<App>, request: Request) -> HandlerResult {
    set_held(app, request, true).await
}

/// `POST /v1/sessions/{id}/resume`: media flows again, per the customer's consent.
async fn resume(app: Arc<App>, request: Request) -> HandlerResult {
    set_held(app, request, false).await
}

async fn set_held(app: Arc<App>, request: Request, held: bool) -> HandlerResult {
    let (caller, row, access) = bodiless(&app, request).await?;
    only_in_charge(access)?;
    let state = if held {
        SessionState::Held
    } else {
        SessionState::Active
    };
    let sessions = app.store.tenant(row.tenant_id).sessions();
    sessions.set_state(row.id, state).await?;

    live::ensure_live(&app, &row).await?;
    let publishers = app.live.with(row.id, |s| {
        s.held = held;
        let gates: Vec<_> = s
            .publishers()
            .into_iter()
            .map(|(key, participant)| (participant, s.gates(key)))
            .collect();
        (s.engine, gates)
    });
    if let Some((engine, gates)) = publishers {
        for (participant, gates) in gates {
            apply_gates(&app, engine, participant, gates).await;
        }
    }
    let (key, role) = person_of(&caller);
    let by = live::who(key, role);
    let event = if held {
        SessionEvent::Hold { by }
    } else {
        SessionEvent::Resumed { by }
    };
    app.hub.publish(row.id, event);
    Ok(no_content())
}

/// A user id from a request body; another tenant's is caught by the store (404).
fn parse_agent(text: &str) -> Result<UserId, Problem> {
    UserId::parse(text).map_err(|_| Problem::not_found().with_detail("No such agent."))
}

/// The agent `text` names, if it is an enabled user of `tenant`: 404 for no such user,
/// 409 `agent_disabled` for one who cannot sign in.
async fn enabled_agent(app: &App, tenant: TenantId, text: &str) -> Result<UserId, Problem> {
    let id = parse_agent(text)?;
    let user = app
        .store
        .tenant(tenant)
        .users()
        .get(id)
        .await
        .map_err(not_found_agent)?;
    if user.disabled {
        return Err(Problem::conflict("agent_disabled")
            .with_detail("This agent is disabled and cannot take or watch sessions."));
    }
    Ok(id)
}

fn not_found_agent(error: StoreError) -> Problem {
    match error {
        StoreError::NotFound { .. } => Problem::not_found().with_detail("No such agent."),
        error => error.into(),
    }
}

/// `POST /v1/sessions/{id}/transfer` `{agent_id}`: another agent of the tenant takes the
/// session; the previous agent's media resources close.
async fn transfer(app: Arc<App>, request: Request) -> HandlerResult {
    let (caller, parts, body): (_, _, AgentBody) = caller_and_json(&app, request).await?;
    let (row, access) = open_session(&app, &caller, &parts).await?;
    only_in_charge(access)?;
    let to = enabled_agent(&app, row.tenant_id, &body.agent_id).await?;
    if to == row.agent_id {
        return Ok(no_content());
    }
    let sessions = app.store.tenant(row.tenant_id).sessions();
    sessions
        .set_agent(row.id, to)
        .await
        .map_err(not_found_agent)?;

    let from = PersonKey::Staff(row.agent_id);
    let removed = app
        .live
        .with(row.id, |s| (s.engine, s.people.remove(&from)));
    if let Some((engine, Some(person))) = removed {
        for resource in person.resources() {
            let participant = resource.participant;
            let _ = engine_call(&app, move |e| e.leave(engine, participant)).await;
        }
        let who = live::who(from, person.role);
        let reason = "transferred".to_owned();
        app.hub.publish(row.id, SessionEvent::Left { who, reason });
    }
    let event = SessionEvent::Transferred {
        from_agent: row.agent_id.to_string(),
        to_agent: to.to_string(),
    };
    app.hub.publish(row.id, event);
    Ok(no_content())
}

/// `POST /v1/sessions/{id}/invite` `{agent_id}`: another agent may watch and talk.
async fn invite(app: Arc<App>, request: Request) -> HandlerResult {
    let (caller, parts, body): (_, _, AgentBody) = caller_and_json(&app, request).await?;
    let (row, access) = open_session(&app, &caller, &parts).await?;
    only_in_charge(access)?;
    let Caller::Staff(staff) = caller else {
        return Err(Problem::forbidden("forbidden"));
    };
    let agent = enabled_agent(&app, row.tenant_id, &body.agent_id).await?;
    let sessions = app.store.tenant(row.tenant_id).sessions();
    sessions
        .invite(row.id, agent, staff.user)
        .await
        .map_err(not_found_agent)?;
    let agent_id = agent.to_string();
    app.hub.publish(row.id, SessionEvent::Invited { agent_id });
    Ok(no_content())
}
