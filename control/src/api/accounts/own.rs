//! The signed-in user's own account: who am I, sign-out, password change, TOTP enrolment
//! and removal, recovery codes.

use std::sync::Arc;

use hyper::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::login::{record_failure, SecondFactor};
use super::{confirm_password, enrolling_staff, new_password_hash, no_content};
use crate::api::caller::staff;
use crate::api::App;
use crate::auth::totp::{self, RecoveryCode};
use crate::http::router::HandlerResult;
use crate::http::{json_response, read_json, Problem, Request, Router};
use crate::store::LoginUser;

/// Adds the routes of the caller's own account.
pub(super) fn routes(router: Router, app: &Arc<App>) -> Router {
    let a = Arc::clone(app);
    let router = router.route(Method::GET, "/v1/me", move |r| me(Arc::clone(&a), r));
    let a = Arc::clone(app);
    let router = router.route(Method::POST, "/v1/auth/logout", move |r| {
        logout(Arc::clone(&a), r)
    });
    let a = Arc::clone(app);
    let router = router.route(Method::POST, "/v1/auth/password", move |r| {
        change_password(Arc::clone(&a), r)
    });
    let a = Arc::clone(app);
    let router = router.route(Method::POST, "/v1/auth/totp/enrol", move |r| {
        totp_enrol(Arc::clone(&a), r)
    });
    let a = Arc::clone(app);
    let router = router.route(Method::POST, "/v1/auth/totp/confirm", move |r| {
        totp_confirm(Arc::clone(&a), r)
    });
    let a = Arc::clone(app);
    let router = router.route(Method::POST, "/v1/auth/totp/disable", move |r| {
        totp_disable(Arc::clone(&a), r)
    });
    let a = Arc::clone(app);
    router.route(Method::POST, "/v1/auth/recovery-codes", move |r| {
        new_recovery_codes(Arc::clone(&a), r)
    })
}

/// `GET /v1/me`.
#[derive(Serialize)]
struct Me {
    user_id: String,
    tenant_id: String,
    email: String,
    role: &'static str,
    totp_enabled: bool,
    totp_enrolment_required: bool,
}

async fn me(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, _) = request.into_parts();
    let caller = enrolling_staff(&app, &parts).await?;
    let users = app.store.tenant(caller.tenant).users();
    let user = users.get(caller.user).await?;
    let pending = users.totp_enrolment_pending(caller.user).await?;
    Ok(json_response(
        StatusCode::OK,
        &Me {
            user_id: user.id.to_string(),
            tenant_id: user.tenant_id.to_string(),
            email: user.email,
            role: user.role.as_str(),
            totp_enabled: user.totp_enabled,
            totp_enrolment_required: pending,
        },
    ))
}

/// `POST /v1/auth/logout`: revokes the token the request carries.
async fn logout(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, _) = request.into_parts();
    let caller = enrolling_staff(&app, &parts).await?;
    app.store.revoke_token(&caller.token).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /v1/auth/password`: every token of the user is revoked, this one included.
async fn change_password(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, raw) = request.into_parts();
    let caller = staff(&app, &parts).await?;
    let (_, body) = read_json::<PasswordChange>(Request::from_parts(parts, raw)).await?;
    confirm_password(&app, &caller, &body.current_password).await?;

    let scope = app.store.tenant(caller.tenant);
    let user = scope.users().get(caller.user).await?;
    let hash = new_password_hash(&app, &body.new_password, &user.email).await?;
    scope.users().set_password(caller.user, &hash).await?;
    scope.tokens().revoke_all_for_user(caller.user).await?;
    Ok(no_content())
}

#[derive(Serialize)]
struct EnrolReply<'a> {
    secret: String,
    otpauth_uri: &'a str,
}

/// `POST /v1/auth/totp/enrol`: a new secret, pending until confirmed with a code.
async fn totp_enrol(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, _) = request.into_parts();
    let caller = enrolling_staff(&app, &parts).await?;
    let users = app.store.tenant(caller.tenant).users();
    let user = users.get(caller.user).await?;
    if user.totp_enabled {
        return Err(Problem::conflict("totp_already_enabled").with_detail(
            "An authenticator is enrolled: disable it first (POST /v1/auth/totp/disable).",
        ));
    }

    let enrolment = totp::enrol(&user.email).map_err(|_| {
        Problem::unprocessable("invalid_account")
            .with_detail("This account's email cannot be used in an authenticator label.")
    })?;
    users
        .set_pending_totp(caller.user, &enrolment.secret)
        .await?;
    let reply = EnrolReply {
        secret: enrolment.secret.to_base32(),
        otpauth_uri: enrolment.uri(),
    };
    Ok(json_response(StatusCode::OK, &reply))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Code {
    code: String,
}

#[derive(Serialize)]
struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

impl RecoveryCodes {
    fn shown(codes: &[RecoveryCode]) -> Self {
        let recovery_codes = codes.iter().map(|c| c.as_str().to_owned()).collect();
        Self { recovery_codes }
    }
}

/// `POST /v1/auth/totp/confirm`: a code of the pending secret makes it the authenticator;
/// the answer holds the recovery codes, shown this once.
async fn totp_confirm(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, raw) = request.into_parts();
    let caller = enrolling_staff(&app, &parts).await?;
    let (_, body) = read_json::<Code>(Request::from_parts(parts, raw)).await?;
    let users = app.store.tenant(caller.tenant).users();
    let secret = users.pending_totp(caller.user).await?.ok_or_else(|| {
        Problem::conflict("no_pending_enrolment")
            .with_detail("Start an enrolment with POST /v1/auth/totp/enrol first.")
    })?;

    let now = u64::try_from(app.clock.unix_now()).unwrap_or(0);
    let step = totp::verify(&secret, &body.code, now, None).map_err(|rejected| {
        Problem::unprocessable("invalid_code").with_detail(rejected.to_string())
    })?;
    let (codes, hashes) = totp::generate_recovery_codes();
    users
        .confirm_totp(caller.user, &secret, step, &hashes)
        .await?;
    Ok(json_response(StatusCode::OK, &RecoveryCodes::shown(&codes)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Disable {
    password: String,
    code: String,
}

/// `POST /v1/auth/totp/disable`: password and a current code (or a recovery code).
async fn totp_disable(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, raw) = request.into_parts();
    let caller = staff(&app, &parts).await?;
    let (_, body) = read_json::<Disable>(Request::from_parts(parts, raw)).await?;
    let scope = app.store.tenant(caller.tenant);
    if scope.get().await?.settings.require_2fa {
        return Err(Problem::forbidden("totp_required_by_tenant")
            .with_detail("The tenant requires a second factor: it cannot be removed."));
    }
    let login = confirm_password(&app, &caller, &body.password).await?;
    let secret = enrolled_secret(&login)?;

    let second = SecondFactor {
        tenant: caller.tenant,
        user: caller.user,
        secret,
        last_step: login.totp_last_step,
    };
    if !second.accepts(&app, &body.code).await? {
        // Counted like a failed sign-in, so that codes cannot be guessed here unhindered.
        let user = scope.users().get(caller.user).await?;
        record_failure(&app, &user.email);
        return Err(Problem::forbidden("invalid_credentials").with_detail("The code is wrong."));
    }
    scope.users().clear_totp(caller.user).await?;
    Ok(no_content())
}

/// The authenticator of a user, or 409 `totp_not_enabled`.
fn enrolled_secret(login: &LoginUser) -> Result<&totp::TotpSecret, Problem> {
    login.totp_secret.as_ref().ok_or_else(|| {
        Problem::conflict("totp_not_enabled").with_detail("No authenticator is enrolled.")
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordOnly {
    password: String,
}

/// `POST /v1/auth/recovery-codes`: fresh recovery codes; the old ones stop working.
async fn new_recovery_codes(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, raw) = request.into_parts();
    let caller = staff(&app, &parts).await?;
    let (_, body) = read_json::<PasswordOnly>(Request::from_parts(parts, raw)).await?;
    let login = confirm_password(&app, &caller, &body.password).await?;
    enrolled_secret(&login)?;

    let (codes, hashes) = totp::generate_recovery_codes();
    let users = app.store.tenant(caller.tenant).users();
    users.set_recovery_codes(caller.user, &hashes).await?;
    Ok(json_response(StatusCode::OK, &RecoveryCodes::shown(&codes)))
}
