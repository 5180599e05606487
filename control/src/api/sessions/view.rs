//! Reading sessions: the tenant's list (an agent's own and invited ones) and one session
//! with its live state.

use std::collections::HashSet;
use std::sync::Arc;

use hyper::StatusCode;
use serde_json::{json, Value};

use super::session_param;
use crate::api::access;
use crate::api::caller::{self, Staff};
use crate::api::live::{LiveSession, PersonKey};
use crate::api::{rfc3339, App};
use crate::http::router::HandlerResult;
use crate::http::{json_response, Problem, Request};
use crate::store::{Role, SessionFilter, SessionState, SupportSession, UserId};

/// A session row as the API shows it.
pub(crate) fn session_json(row: &SupportSession) -> Value {
    json!({
        "id": row.id.to_string(),
        "agent_id": row.agent_id.to_string(),
        "customer_name": row.customer_name,
        "external_ref": row.external_ref,
        "state": row.state.as_str(),
        "created_at": rfc3339(row.created_at),
        "key_expires_at": rfc3339(row.key_expires_at),
        "joined_at": row.joined_at.map(rfc3339),
        "ended_at": row.ended_at.map(rfc3339),
        "end_reason": row.end_reason,
    })
}

/// What `GET /v1/sessions` filters on.
#[derive(Debug, Default)]
struct ListQuery {
    state: Option<SessionState>,
    filter: SessionFilter,
}

/// `GET /v1/sessions?state=&external_ref=&agent_id=`: an administrator sees the tenant's
/// sessions, an agent its own and those it was invited to; newest first.
pub(super) async fn list(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, _) = request.into_parts();
    let staff = caller::staff(&app, &parts).await?;
    let query = parse_query(parts.uri.query().unwrap_or(""))?;
    let sessions = app.store.tenant(staff.tenant).sessions();
    let rows = sessions.list(&query.filter).await?;
    let invited: HashSet<_> = match staff.role {
        Role::Admin => HashSet::new(),
        Role::Agent => sessions.invited_to(staff.user).await?.into_iter().collect(),
    };
    let visible = |row: &&SupportSession| visible_to(&staff, row, &invited);
    let listed: Vec<Value> = rows
        .iter()
        .filter(visible)
        .filter(|row| query.state.is_none_or(|state| row.state == state))
        .map(session_json)
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "sessions": listed }),
    ))
}

fn visible_to(
    staff: &Staff,
    row: &SupportSession,
    invited: &HashSet<crate::store::SessionId>,
) -> bool {
    staff.role == Role::Admin || row.agent_id == staff.user || invited.contains(&row.id)
}

fn parse_query(query: &str) -> Result<ListQuery, Problem> {
    let mut parsed = ListQuery::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value).ok_or_else(|| bad_query("is not valid UTF-8"))?;
        match key {
            "state" => parsed.state = Some(parse_state(&value)?),
            "external_ref" => parsed.filter.external_ref = Some(value),
            "agent_id" => {
                let agent = UserId::parse(&value).map_err(|_| bad_query("agent_id: not a UUID"))?;
                parsed.filter.agent = Some(agent);
            }
            _ => {
                return Err(bad_query(
                    "unknown parameter (state, external_ref, agent_id)",
                ))
            }
        }
    }
    Ok(parsed)
}

fn parse_state(text: &str) -> Result<SessionState, Problem> {
    [
        SessionState::Waiting,
        SessionState::Active,
        SessionState::Held,
        SessionState::Ended,
    ]
    .into_iter()
    .find(|state| state.as_str() == text)
    .ok_or_else(|| bad_query("state: one of waiting, active, held, ended"))
}

fn bad_query(detail: &str) -> Problem {
    Problem::bad_request("invalid_query").with_detail(format!("Query: {detail}."))
}

/// Decodes `%XX` escapes and `+` (a space) of a query value.
fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        match first {
            b'%' => {
                let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                rest = &tail[2..];
            }
            b'+' => {
                bytes.push(b' ');
                rest = tail;
            }
            other => {
                bytes.push(other);
                rest = tail;
            }
        }
    }
    String::from_utf8(bytes).ok()
}

/// `GET /v1/sessions/{id}`: the row, its live state and the invited agents.
pub(super) async fn detail(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, _) = request.into_parts();
    let caller = caller::caller(&app, &parts).await?;
    let id = session_param(&parts)?;
    let (row, _) = access::session_for(&app, &caller, id).await?;
    let invited = app
        .store
        .tenant(row.tenant_id)
        .sessions()
        .invited(id)
        .await?;

    let mut body = session_json(&row);
    let live = app.live.with(id, |s| live_json(s)).unwrap_or_else(
        || json!({ "participants": [], "consent": { "camera": false, "microphone": false } }),
    );
    if let (Value::Object(body), Value::Object(live)) = (&mut body, live) {
        body.extend(live);
        body.insert("held".to_owned(), json!(row.state == SessionState::Held));
        let invited: Vec<String> = invited.iter().map(ToString::to_string).collect();
        body.insert("invited_agents".to_owned(), json!(invited));
    }
    Ok(json_response(StatusCode::OK, &body))
}

fn live_json(session: &LiveSession) -> Value {
    let participants: Vec<Value> = session
        .people
        .iter()
        .map(|(key, person)| {
            let user_id = match key {
                PersonKey::Customer => None,
                PersonKey::Staff(user) => Some(user.to_string()),
            };
            json!({
                "role": person.role,
                "user_id": user_id,
                "connected": person.connected(),
                "publishing": person.publish.is_some(),
                "receiving": person.receive.is_some(),
            })
        })
        .collect();
    json!({
        "participants": participants,
        "consent": {
            "camera": session.consent.camera,
            "microphone": session.consent.microphone,
        },
    })
}
