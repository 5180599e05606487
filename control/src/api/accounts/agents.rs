//! The tenant's administrators and agents, managed by its administrators: create, list,
//! change role, disable, reset a password, lift a sign-in lock.
//!
//! A user of another tenant is 404, like a missing one; an agent calling is 403.

use std::sync::Arc;

use hyper::http::request::Parts;
use hyper::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::{new_password_hash, no_content};
use crate::api::caller::{staff, Staff};
use crate::api::{rfc3339, App};
use crate::http::router::HandlerResult;
use crate::http::{
    created_response, json_response, read_json, PathParams, Problem, Request, Router,
};
use crate::store::{normalise_email, Role, User, UserId};

/// Adds the agent routes.
pub(super) fn routes(router: Router, app: &Arc<App>) -> Router {
    let a = Arc::clone(app);
    let router = router.route(Method::POST, "/v1/agents", move |r| {
        create(Arc::clone(&a), r)
    });
    let a = Arc::clone(app);
    let router = router.route(Method::GET, "/v1/agents", move |r| list(Arc::clone(&a), r));
    let a = Arc::clone(app);
    let router = router.route(Method::GET, "/v1/agents/{id}", move |r| {
        get_one(Arc::clone(&a), r)
    });
    let a = Arc::clone(app);
    let router = router.route(Method::PATCH, "/v1/agents/{id}", move |r| {
        update(Arc::clone(&a), r)
    });
    let a = Arc::clone(app);
    let router = router.route(Method::POST, "/v1/agents/{id}/password", move |r| {
        reset_password(Arc::clone(&a), r)
    });
    let a = Arc::clone(app);
    router.route(Method::POST, "/v1/agents/{id}/unlock", move |r| {
        unlock(Arc::clone(&a), r)
    })
}

/// A role as clients spell it.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RoleName {
    Admin,
    Agent,
}

impl From<RoleName> for Role {
    fn from(name: RoleName) -> Self {
        match name {
            RoleName::Admin => Role::Admin,
            RoleName::Agent => Role::Agent,
        }
    }
}

/// A user as administrators see it.
#[derive(Serialize)]
struct Agent {
    id: String,
    email: String,
    role: &'static str,
    totp_enabled: bool,
    disabled: bool,
    created_at: String,
}

impl From<User> for Agent {
    fn from(user: User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email,
            role: user.role.as_str(),
            totp_enabled: user.totp_enabled,
            disabled: user.disabled,
            created_at: rfc3339(user.created_at),
        }
    }
}

/// The administrator calling (403 for an agent, 401 without a token).
async fn admin(app: &App, parts: &Parts) -> Result<Staff, Problem> {
    let caller = staff(app, parts).await?;
    caller.require_admin()?;
    Ok(caller)
}

/// The `{id}` of the path; an unparsable id is 404 like a missing user.
fn path_id(parts: &Parts) -> Result<UserId, Problem> {
    let text = parts
        .extensions
        .get::<PathParams>()
        .and_then(|p| p.get("id"));
    text.and_then(|t| UserId::parse(t).ok())
        .ok_or_else(Problem::not_found)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAgent {
    email: String,
    password: String,
    role: RoleName,
}

#[derive(Serialize)]
struct Created {
    id: String,
}

/// `POST /v1/agents`.
async fn create(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, raw) = request.into_parts();
    let caller = admin(&app, &parts).await?;
    let (_, body) = read_json::<NewAgent>(Request::from_parts(parts, raw)).await?;
    let email = normalise_email(&body.email)?;
    let hash = new_password_hash(&app, &body.password, &email).await?;

    let users = app.store.tenant(caller.tenant).users();
    let id = users.create(&email, body.role.into(), &hash).await?;
    let created = Created { id: id.to_string() };
    Ok(created_response(&format!("/v1/agents/{id}"), &created))
}

#[derive(Serialize)]
struct AgentList {
    agents: Vec<Agent>,
}

/// `GET /v1/agents`.
async fn list(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, _) = request.into_parts();
    let caller = admin(&app, &parts).await?;
    let users = app.store.tenant(caller.tenant).users().list().await?;
    let agents = users.into_iter().map(Agent::from).collect();
    Ok(json_response(StatusCode::OK, &AgentList { agents }))
}

/// `GET /v1/agents/{id}`.
async fn get_one(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, _) = request.into_parts();
    let caller = admin(&app, &parts).await?;
    let id = path_id(&parts)?;
    let user = app.store.tenant(caller.tenant).users().get(id).await?;
    Ok(json_response(StatusCode::OK, &Agent::from(user)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentChange {
    #[serde(default)]
    role: Option<RoleName>,
    #[serde(default)]
    disabled: Option<bool>,
}

/// `PATCH /v1/agents/{id}`: role and disabled. Disabling revokes the user's tokens. An
/// administrator cannot demote or disable themselves, nor leave the tenant without an
/// enabled administrator (409 `last_admin`).
async fn update(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, raw) = request.into_parts();
    let caller = admin(&app, &parts).await?;
    let (parts, body) = read_json::<AgentChange>(Request::from_parts(parts, raw)).await?;
    let id = path_id(&parts)?;
    let role = body.role.map(Role::from);
    let demotes_or_disables = role == Some(Role::Agent) || body.disabled == Some(true);
    if id == caller.user && demotes_or_disables {
        return Err(last_admin());
    }

    let scope = app.store.tenant(caller.tenant);
    if !scope
        .users()
        .update_role_and_disabled(id, role, body.disabled)
        .await?
    {
        return Err(last_admin());
    }
    if body.disabled == Some(true) {
        scope.tokens().revoke_all_for_user(id).await?;
    }
    let user = scope.users().get(id).await?;
    Ok(json_response(StatusCode::OK, &Agent::from(user)))
}

fn last_admin() -> Problem {
    Problem::conflict("last_admin").with_detail(
        "An administrator cannot demote or disable themselves, and the tenant must keep an \
         enabled administrator.",
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordReset {
    password: String,
}

/// `POST /v1/agents/{id}/password`: sets a new password and revokes the user's tokens.
async fn reset_password(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, raw) = request.into_parts();
    let caller = admin(&app, &parts).await?;
    let (parts, body) = read_json::<PasswordReset>(Request::from_parts(parts, raw)).await?;
    let id = path_id(&parts)?;
    let scope = app.store.tenant(caller.tenant);
    let user = scope.users().get(id).await?;

    let hash = new_password_hash(&app, &body.password, &user.email).await?;
    scope.users().set_password(id, &hash).await?;
    scope.tokens().revoke_all_for_user(id).await?;
    Ok(no_content())
}

/// `POST /v1/agents/{id}/unlock`: lifts the user's sign-in lock, like the operator's
/// `sightline user unlock`.
async fn unlock(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, _) = request.into_parts();
    let caller = admin(&app, &parts).await?;
    let id = path_id(&parts)?;
    let user = app.store.tenant(caller.tenant).users().get(id).await?;

    app.store.clear_lock(&user.email).await?;
    app.guards().lockout.unlock(&user.email);
    tracing::info!(target: "security", user = %id, "sign-in lock lifted by an administrator");
    Ok(no_content())
}
