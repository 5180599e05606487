//! WHIP and WHEP (RFC 9725): a session's participants publish and receive media through
//! the engine, one resource per person and direction.
//!
//! `POST /v1/sessions/{id}/whip` and `/whep` take an SDP offer and answer 201 with the SDP
//! answer, the resource's `Location` and its `ETag`. The API forces each m-line's direction
//! (WHIP publish only, WHEP receive only), so that one resource is one job. The customer
//! publishes camera and microphone and receives the agents' audio; staff publish audio
//! (their video m-lines are answered inactive: an agent's camera goes nowhere) and receive
//! the customer's media and each other's audio. A person's participants share a
//! `PersonId`, so nobody gets their own media back. A new resource of a person replaces
//! its earlier one of the same direction (a reload).
//!
//! `PATCH` on a resource takes trickle ICE fragments (204; the server is ICE-lite and
//! learns the client's addresses from its checks) and ICE restarts (RFC 9725 section 4.3.2:
//! `If-Match` with the ETag or `*` is required, 428 without, 412 when stale): the engine
//! takes new credentials while DTLS and SRTP go on, and the 200 carries our new
//! `ice-ufrag` and `ice-pwd` and a new ETag. `DELETE` ends the resource. Only its owner
//! sees a resource (404 for anyone else).

mod sdp;

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_MATCH, LOCATION};
use hyper::http::request::Parts;
use hyper::{Method, StatusCode};
use media_core::ice::IceCredentials;
use media_core::ids::PersonId;
use media_core::{Flows, ParticipantOptions};

use super::access;
use super::caller;
use super::events::SessionEvent;
use super::live::{self, engine_call, Direction, EngineSession, PersonKey, Resource};
use super::sessions::{add, ended_problem, engine_problem, ensure_open, person_of, session_param};
use super::{App, Metrics};
use crate::http::router::HandlerResult;
use crate::http::{read_body, PathParams, Problem, Request, Response, Router};
use crate::store::{SessionId, SupportSession};

const SDP: &str = "application/sdp";
const SDP_FRAGMENT: &str = "application/trickle-ice-sdpfrag";

/// Adds the WHIP, WHEP and resource routes.
pub(super) fn routes(router: Router, app: &Arc<App>) -> Router {
    let resource = "/v1/sessions/{id}/resources/{rid}";
    let router = add(router, app, Method::POST, "/v1/sessions/{id}/whip", whip);
    let router = add(router, app, Method::POST, "/v1/sessions/{id}/whep", whep);
    let router = add(router, app, Method::PATCH, resource, patch);
    add(router, app, Method::DELETE, resource, delete)
}

async fn whip(app: Arc<App>, request: Request) -> HandlerResult {
    negotiate(app, request, Direction::Publish).await
}

async fn whep(app: Arc<App>, request: Request) -> HandlerResult {
    negotiate(app, request, Direction::Receive).await
}

/// Whether the request's `Content-Type` is `expected`, parameters aside.
fn content_type_is(parts: &Parts, expected: &str) -> bool {
    let value = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let essence = value.and_then(|v| v.split(';').next()).unwrap_or("").trim();
    essence.eq_ignore_ascii_case(expected)
}

/// Makes the caller's WHIP or WHEP resource from its offer.
async fn negotiate(app: Arc<App>, request: Request, direction: Direction) -> HandlerResult {
    let (parts, body) = request.into_parts();
    let caller = caller::caller(&app, &parts).await?;
    let id = session_param(&parts)?;
    let (row, _) = access::session_for(&app, &caller, id).await?;
    ensure_open(&row)?;
    if !content_type_is(&parts, SDP) {
        return Err(Problem::unsupported_media_type(SDP));
    }
    let (_, bytes) = read_body(Request::from_parts(parts, body)).await?;
    let (key, role) = person_of(&caller);
    let (engine, options) = participant_options(&app, &row, key, direction).await?;

    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Problem::bad_request("malformed_offer").with_detail("The SDP offer is not UTF-8.")
    })?;
    let offer = text.to_owned();
    let answer = engine_call(&app, move |e| e.join(engine, &offer, options))
        .await
        .map_err(engine_problem)?;

    let resource = Resource {
        rid: random_id(),
        participant: answer.participant,
        etag: new_etag(),
        direction,
        remote_ufrag: sdp::ice_ufrag(text),
        connected: false,
        tracks: answer.tracks.iter().map(|t| (t.id, t.kind)).collect(),
    };
    let person = (
        key,
        options.person.unwrap_or_else(live::new_person_id),
        role,
    );
    let gates = (options.audio_gate_open, options.video_gate_open);
    install(&app, id, person, &resource, gates).await?;
    Metrics::bump(&app.metrics.media_resources_created);
    Ok(created(id, &resource, answer.sdp))
}

/// The engine session and how a new participant of `key` joins it: its person and its
/// gates per consent and hold. 403 `consent_required` for a customer's WHIP before any
/// consent.
async fn participant_options(
    app: &Arc<App>,
    row: &SupportSession,
    key: PersonKey,
    direction: Direction,
) -> Result<(EngineSession, ParticipantOptions), Problem> {
    let engine = live::ensure_live(app, row).await?;
    let (person, (audio, video), consented) = app
        .live
        .with(row.id, |s| {
            let consented = s.consent.camera || s.consent.microphone;
            (s.person_id(key), s.gates(key), consented)
        })
        .ok_or_else(ended_problem)?;
    if key == PersonKey::Customer && direction == Direction::Publish && !consented {
        return Err(Problem::forbidden("consent_required")
            .with_detail("Give consent for the camera or microphone before publishing."));
    }
    // WHIP publishes only, WHEP receives only; staff publish no video (an agent's camera
    // would otherwise compete with the customer's for the viewers' video slots).
    let flows = match (direction, key) {
        (Direction::Receive, _) => Flows::RECEIVE_ONLY,
        (Direction::Publish, PersonKey::Customer) => Flows::PUBLISH_ONLY,
        (Direction::Publish, PersonKey::Staff(_)) => Flows {
            publish_video: false,
            ..Flows::PUBLISH_ONLY
        },
    };
    let options = ParticipantOptions {
        audio_gate_open: audio,
        video_gate_open: video,
        person: Some(person),
        flows,
    };
    Ok((engine, options))
}

/// Records `resource` as the person's, leaves the one it replaces, and corrects its gates
/// if consent or hold changed while the engine negotiated.
async fn install(
    app: &Arc<App>,
    id: SessionId,
    (key, person, role): (PersonKey, PersonId, &'static str),
    resource: &Resource,
    gates: (bool, bool),
) -> Result<(), Problem> {
    let installed = app.live.with(id, |s| {
        let now = s.gates(key);
        let person = s.person(key, person, role);
        person.grace_until = None;
        let old = person.slot(resource.direction).replace(resource.clone());
        (s.engine, old, now)
    });
    let participant = resource.participant;
    // The session ended meanwhile: closing its engine session removed the participant.
    let Some((engine, old, now)) = installed else {
        return Err(ended_problem());
    };
    live::replay_orphans(app, id);
    if let Some(old) = old {
        let gone = old.participant;
        let _ = engine_call(app, move |e| e.leave(engine, gone)).await;
    }
    if resource.direction == Direction::Publish && now != gates {
        super::sessions::apply_gates(app, engine, participant, now).await;
    }
    Ok(())
}

/// The 201 of a new resource: the SDP answer, `Location` and `ETag`.
fn created(id: SessionId, resource: &Resource, answer: String) -> Response {
    let mut response = Response::new(Full::new(Bytes::from(answer)));
    *response.status_mut() = StatusCode::CREATED;
    let location = format!("/v1/sessions/{id}/resources/{}", resource.rid);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(SDP));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(LOCATION, value);
    }
    if let Ok(value) = HeaderValue::from_str(&resource.etag) {
        headers.insert(ETAG, value);
    }
    response
}

/// A resource id: 128 random bits, base64url without padding.
fn random_id() -> String {
    let bits: u128 = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bits.to_be_bytes())
}

/// A fresh strong entity tag, quoted.
fn new_etag() -> String {
    format!("\"{:016x}\"", rand::random::<u64>())
}

/// The caller's resource named by the path, with the session it is in.
async fn owned_resource(
    app: &Arc<App>,
    parts: &Parts,
) -> Result<(SessionId, PersonKey, Resource), Problem> {
    let caller = caller::caller(app, parts).await?;
    let id = session_param(parts)?;
    let (row, _) = access::session_for(app, &caller, id).await?;
    ensure_open(&row)?;
    let rid = parts
        .extensions
        .get::<PathParams>()
        .and_then(|p| p.get("rid"))
        .ok_or_else(Problem::not_found)?;
    let (key, _) = person_of(&caller);
    let resource = app.live.with(id, |s| {
        let person = s.people.get(&key)?;
        person.resources().find(|r| r.rid == rid).cloned()
    });
    let resource = resource.flatten().ok_or_else(Problem::not_found)?;
    Ok((id, key, resource))
}

/// `PATCH` a resource: trickle ICE (204); an ICE restart is refused (see the module docs).
async fn patch(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, body) = request.into_parts();
    let (id, key, resource) = owned_resource(&app, &parts).await?;
    if !content_type_is(&parts, SDP_FRAGMENT) {
        return Err(Problem::unsupported_media_type(SDP_FRAGMENT));
    }
    let (parts, bytes) = read_body(Request::from_parts(parts, body)).await?;
    let fragment = sdp::parse_fragment(&bytes)?;
    let if_match = parts
        .headers
        .get(IF_MATCH)
        .map(|v| v.to_str().unwrap_or(""));
    let current = |value: &str| {
        value.trim() == "*" || value.split(',').any(|tag| tag.trim() == resource.etag)
    };
    let restart = fragment
        .ufrag
        .as_ref()
        .is_some_and(|ufrag| Some(ufrag) != resource.remote_ufrag.as_ref());
    match if_match {
        None if restart => Err(Problem::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition_required",
        )
        .with_detail("An ICE restart needs If-Match with the resource's ETag or \"*\".")),
        Some(value) if !current(value) => Err(Problem::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
        )
        .with_detail("If-Match does not name the resource's current ETag.")),
        _ if restart => restart_ice(&app, id, key, &resource, fragment.ufrag).await,
        _ => {
            tracing::trace!(target: "api", candidates = fragment.candidates, "trickle ICE");
            Ok(super::sessions::no_content())
        }
    }
}

/// An ICE restart: the engine takes new credentials (DTLS and SRTP stay); the answer is
/// 200 with our new username fragment and password and a new ETag.
async fn restart_ice(
    app: &Arc<App>,
    id: SessionId,
    key: PersonKey,
    resource: &Resource,
    remote_ufrag: Option<String>,
) -> HandlerResult {
    let remote_ufrag = remote_ufrag.unwrap_or_default();
    let engine = app.live.with(id, |s| s.engine).ok_or_else(ended_problem)?;
    let participant = resource.participant;
    let ufrag = remote_ufrag.clone();
    let credentials = engine_call(app, move |e| e.restart_ice(engine, participant, &ufrag))
        .await
        .map_err(|error| match error {
            media_core::EngineError::MalformedOffer(_) => {
                Problem::bad_request("malformed_fragment")
                    .with_detail("The new ice-ufrag must be 4 to 256 ice-chars (RFC 8839).")
            }
            media_core::EngineError::UnknownParticipant(_) => Problem::not_found(),
            error => engine_problem(error),
        })?;
    let etag = new_etag();
    let updated = app.live.with(id, |s| {
        let person = s.people.get_mut(&key)?;
        let current = person.slot(resource.direction).as_mut()?;
        (current.rid == resource.rid).then(|| {
            current.remote_ufrag = Some(remote_ufrag);
            current.etag = etag.clone();
        })
    });
    updated.flatten().ok_or_else(Problem::not_found)?;
    Ok(restarted(&credentials, &etag))
}

/// The 200 of an ICE restart: our new credentials as a fragment, and the new ETag.
fn restarted(credentials: &IceCredentials, etag: &str) -> Response {
    let body = format!(
        "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\n",
        credentials.ufrag,
        credentials.pwd()
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(SDP_FRAGMENT));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(ETAG, value);
    }
    response
}

/// `DELETE` a resource: its participant leaves the session.
async fn delete(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, _) = request.into_parts();
    let (id, key, resource) = owned_resource(&app, &parts).await?;
    let left = app.live.with(id, |s| {
        let person = s.people.get_mut(&key)?;
        let slot = person.slot(resource.direction);
        if slot.as_ref().is_some_and(|r| r.rid == resource.rid) {
            *slot = None;
        }
        let alone = person.resources().next().is_none();
        Some((s.engine, alone.then(|| s.who(key))))
    });
    let Some((engine, left)) = left.flatten() else {
        return Err(Problem::not_found());
    };
    let participant = resource.participant;
    let _ = engine_call(&app, move |e| e.leave(engine, participant)).await;
    if let Some(who) = left {
        let reason = "left".to_owned();
        app.hub.publish(id, SessionEvent::Left { who, reason });
    }
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}
