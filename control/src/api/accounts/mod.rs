//! Accounts: signing in and out, the signed-in user's password and second factor, the
//! tenant's agents and the tenant's settings.
//!
//! | route | who | module |
//! |---|---|---|
//! | `POST /v1/auth/login` | anyone | [`login`] |
//! | `POST /v1/auth/logout`, `GET /v1/me` | staff, also while enrolling | [`own`] |
//! | `POST /v1/auth/password`, `/v1/auth/totp/*`, `/v1/auth/recovery-codes` | staff | [`own`] |
//! | `/v1/agents`, `/v1/agents/{id}`, `.../password`, `.../unlock` | administrators | [`agents`] |
//! | `GET /v1/tenant`, `PATCH /v1/tenant/settings` | staff; administrators to change | [`tenant`] |
//!
//! When the tenant requires a second factor and a user has none, sign-in still succeeds so
//! that the user can enrol one: the answer says `totp_enrolment_required: true`, and until
//! an authenticator is confirmed the user's tokens only work for `GET /v1/me`, sign-out and
//! the TOTP enrol and confirm routes; everything else is 403 `totp_enrolment_required`
//! ([`refuse_pending_enrolment`], called by [`super::caller::identify`]). The restriction
//! is derived from the user and the tenant at every request, not stored with the token, so
//! a tenant that turns the requirement on restricts tokens already issued as well.
//!
//! A password change or an administrator's reset revokes every token of the user: the
//! client must sign in again with the new password.

mod agents;
mod login;
mod own;
mod tenant;

use std::sync::Arc;

use bytes::Bytes;
use hyper::http::request::Parts;
use hyper::StatusCode;

use super::caller::{bearer_token, internal, staff, unauthorized, Staff};
use super::App;
use crate::auth::lockout::Locked;
use crate::auth::password::{check_policy, verify_password};
use crate::auth::token::TokenHash;
use crate::http::{Body, Problem, Response, Router};
use crate::store::{normalise_email, LoginUser, TokenOwner};

/// Adds this module's routes.
pub(super) fn routes(router: Router, app: &Arc<App>) -> Router {
    let router = login::routes(router, app);
    let router = own::routes(router, app);
    let router = agents::routes(router, app);
    tenant::routes(router, app)
}

/// Refuses a staff token whose user must enrol an authenticator first (see the module
/// documentation) with 403 `totp_enrolment_required`.
pub(super) async fn refuse_pending_enrolment(app: &App, owner: &TokenOwner) -> Result<(), Problem> {
    let users = app.store.tenant(owner.tenant_id).users();
    match users.totp_enrolment_pending(owner.user_id).await {
        Ok(false) => Ok(()),
        Ok(true) => Err(Problem::forbidden("totp_enrolment_required").with_detail(
            "The tenant requires two-factor sign-in: enrol an authenticator with \
             POST /v1/auth/totp/enrol and /v1/auth/totp/confirm first.",
        )),
        Err(error) => Err(internal(error)),
    }
}

/// The staff caller of a route that a user who still has to enrol an authenticator may
/// use; other callers are checked as by [`staff`].
async fn enrolling_staff(app: &App, parts: &Parts) -> Result<Staff, Problem> {
    let token = bearer_token(&parts.headers).ok_or_else(unauthorized)?;
    let hash = TokenHash::of(token);
    let found = app.store.find_token(&hash, app.clock.unix_now()).await;
    match found.map_err(internal)? {
        Some(owner) => Ok(Staff {
            user: owner.user_id,
            tenant: owner.tenant_id,
            role: owner.role,
            token: hash,
        }),
        None => staff(app, parts).await,
    }
}

/// Runs slow work (Argon2) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Problem> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        tracing::error!(target: "api", %error, "blocking task failed");
        Problem::internal()
    })
}

/// The sign-in record of a signed-in user, after checking `password` against it. A wrong
/// password counts as a failed sign-in for the user's email (403 `invalid_credentials`);
/// a locked email is 423.
async fn confirm_password(app: &App, caller: &Staff, password: &str) -> Result<LoginUser, Problem> {
    let user = app
        .store
        .tenant(caller.tenant)
        .users()
        .get(caller.user)
        .await?;
    let login = app.store.find_user_for_login(&user.email).await?;
    let login = login
        .filter(|l| l.user_id == caller.user)
        .ok_or_else(Problem::not_found)?;
    login::check_lock(app, &user.email, Some(&login))?;

    let (password, hash) = (password.to_owned(), login.password_hash.clone());
    if blocking(move || verify_password(&password, &hash)).await? {
        return Ok(login);
    }
    login::record_failure(app, &user.email);
    Err(Problem::forbidden("invalid_credentials").with_detail("The password is wrong."))
}

/// Checks a new password against the policy, with the account's email as a known word
/// (422 `weak_password` with the reason), then hashes it.
async fn new_password_hash(app: &App, password: &str, email: &str) -> Result<String, Problem> {
    check_policy(password, &[email]).map_err(|reason| {
        Problem::unprocessable("weak_password").with_detail(reason.to_string())
    })?;
    let (password, params) = (password.to_owned(), app.config.password_params.clone());
    let hashed = blocking(move || crate::auth::password::hash_password(&password, &params)).await?;
    hashed.map_err(|error| {
        tracing::error!(target: "api", %error, "password hashing failed");
        Problem::internal()
    })
}

/// An empty 204 response.
fn no_content() -> Response {
    let mut response = Response::new(Body::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// An email as it may appear in the security log: normalised, or a placeholder when it is
/// not an email at all (people type passwords into the email field).
fn loggable_email(email: &str) -> String {
    normalise_email(email).unwrap_or_else(|_| "<not an email>".to_owned())
}

/// The 423 for an email locked after failed sign-ins.
fn locked_problem(locked: Locked) -> Problem {
    Problem::locked("locked", locked.retry_after).with_detail(
        "Too many failed sign-ins for this email: wait for Retry-After seconds, or ask an \
         administrator to unlock it.",
    )
}
