//! `POST /v1/join`: a customer joins with the PIN the agent read out or the join link's
//! token, and gets a bearer token for that one session.
//!
//! Attempts are throttled per source (IPv4 address, IPv6 /64) and for all sources
//! together, since a six-digit PIN is guessable by volume. A burst of refusals is a
//! `security` warning (at most one per 10 s, with the count) and the `throttled` metric.
//! A key that named a session but no longer works says why (410), so that a customer with
//! a stale link is told.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use hyper::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::draining_problem;
use crate::api::{live, App, Metrics, Summarised};
use crate::auth::token::{BearerToken, TokenHash};
use crate::http::router::HandlerResult;
use crate::http::{json_response, read_json, ClientAddr, Problem, Request};
use crate::store::{Conflict, SessionState, StoreError, SupportSession};

/// The address every attempt counts against in the global throttle.
const GLOBAL_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
/// Digits of a PIN.
const PIN_DIGITS: usize = 6;
/// Refused attempts are logged at most every 10 s, with the count left out.
static THROTTLE_WARNINGS: Summarised = Summarised::new(10);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinRequest {
    pin: Option<String>,
    join_token: Option<String>,
}

/// The key a customer presented.
enum Key {
    Pin(TokenHash),
    JoinToken(TokenHash),
}

/// `POST /v1/join` with `{pin}` or `{join_token}`.
pub(super) async fn join(app: Arc<App>, request: Request) -> HandlerResult {
    if app.is_draining() {
        return Err(draining_problem());
    }
    let source = request.extensions().get::<ClientAddr>().map(|a| a.0.ip());
    throttle(&app, source)?;
    let (_, body): (_, JoinRequest) = read_json(request).await?;
    let key = parse_key(body)?;

    let now = app.clock.unix_now();
    let found = match &key {
        Key::Pin(hash) => app.store.find_session_by_pin_hash(hash, now).await?,
        Key::JoinToken(hash) => app.store.find_session_by_join_token_hash(hash, now).await?,
    };
    let Some(session) = found else {
        Metrics::bump(&app.metrics.join_failures);
        return Err(why_not(&app, &key, now).await?);
    };

    let tenant = app.store.tenant(session.tenant_id).get().await?;
    if tenant.subscription_ended_at.is_some_and(|at| at <= now) {
        // The operator terminated the tenant: its sessions are over.
        live::end_session(&app, session.tenant_id, session.id, "tenant_terminated").await?;
        return Err(Problem::gone("session_ended").with_detail("The session has ended."));
    }

    let token = BearerToken::generate();
    let ttl = i64::try_from(app.config.customer_token_ttl.as_secs()).unwrap_or(i64::MAX);
    let sessions = app.store.tenant(session.tenant_id).sessions();
    match sessions
        .join_customer(session.id, &token.hash(), now.saturating_add(ttl), now)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(Conflict::SessionState)) => return Err(key_used()),
        Err(error) => return Err(error.into()),
    }
    app.live.with(session.id, |s| {
        s.joined = true;
        s.joined_at = Some(now);
    });
    Metrics::bump(&app.metrics.customer_joins);
    tracing::info!(target: "api", session = %session.id, "customer joined");

    let body = json!({ "session_id": session.id.to_string(), "token": token.as_str() });
    Ok(json_response(StatusCode::OK, &body))
}

/// Counts one attempt from `source` and from everyone; 429 when either is spent.
fn throttle(app: &App, source: Option<IpAddr>) -> Result<(), Problem> {
    let now = app.clock.now();
    let result = {
        let mut guards = app.guards();
        match source {
            Some(ip) => guards.join_sources.attempt(ip, now),
            None => Ok(()),
        }
        .and_then(|()| guards.join_global.attempt(GLOBAL_SOURCE, now))
    };
    result.map_err(|throttled| {
        Metrics::bump(&app.metrics.throttled);
        if let Some(suppressed) = THROTTLE_WARNINGS.occurrence(app.clock.unix_now()) {
            tracing::warn!(
                target: "security",
                source = %source.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
                refused_before = suppressed,
                retry_after_ms = throttled.retry_after.as_millis() as u64,
                "join attempts throttled"
            );
        }
        Problem::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests")
            .with_retry_after(throttled.retry_after)
            .with_detail("Too many PIN or link attempts; wait before trying again.")
    })
}

/// The key of a request that names exactly one of a PIN and a join token.
fn parse_key(body: JoinRequest) -> Result<Key, Problem> {
    match (body.pin, body.join_token) {
        (Some(pin), None) => {
            let digits: String = pin.chars().filter(|c| !c.is_whitespace()).collect();
            if digits.len() != PIN_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(
                    Problem::unprocessable("invalid_pin").with_detail("A PIN is six digits.")
                );
            }
            Ok(Key::Pin(TokenHash::of(&digits)))
        }
        (None, Some(token)) if !token.is_empty() && token.len() <= 128 => {
            Ok(Key::JoinToken(TokenHash::of(&token)))
        }
        _ => Err(Problem::unprocessable("invalid_body")
            .with_detail("Send exactly one of pin and join_token.")),
    }
}

/// Why a key that names no joinable session fails: unknown (404) or no longer valid (410).
async fn why_not(app: &App, key: &Key, now: i64) -> Result<Problem, Problem> {
    let session = match key {
        Key::Pin(hash) => app.store.find_any_session_by_pin_hash(hash).await?,
        Key::JoinToken(hash) => app.store.find_any_session_by_join_token_hash(hash).await?,
    };
    Ok(match session {
        None => Problem::new(StatusCode::NOT_FOUND, "unknown_key")
            .with_detail("No session has this PIN or link; check it with your agent."),
        Some(session) => gone_reason(&session, now),
    })
}

fn gone_reason(session: &SupportSession, now: i64) -> Problem {
    let expired = Problem::gone("key_expired")
        .with_detail("The PIN or link has expired; ask your agent for a new one.");
    match session.state {
        _ if session.joined_at.is_some() && session.state != SessionState::Ended => key_used(),
        SessionState::Ended if session.end_reason.as_deref() == Some("key_expired") => expired,
        SessionState::Ended => Problem::gone("session_ended").with_detail("The session has ended."),
        _ if session.key_expires_at <= now => expired,
        _ => key_used(),
    }
}

fn key_used() -> Problem {
    Problem::gone("key_used").with_detail("This PIN or link was already used to join.")
}
