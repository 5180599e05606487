//! `POST /v1/auth/login`: email, password and, when the user has an authenticator, a TOTP
//! or recovery code, in exchange for a staff bearer token.
//!
//! Every refusal for a wrong password, an unknown email, a disabled user, an ended
//! subscription or a wrong second factor is the same 401 `invalid_credentials`, and an
//! unknown email costs the same Argon2 work as a known one ([`verify_dummy`]). Guessing is
//! slowed per email ([`crate::auth::lockout::Lockout`], 423) and per source address (429).

use std::sync::Arc;

use hyper::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::{blocking, locked_problem, loggable_email};
use crate::api::{rfc3339, App, Metrics, Summarised};
use crate::auth::password::{hash_password, needs_rehash, verify_dummy, verify_password};
use crate::auth::token::BearerToken;
use crate::auth::totp::{self, CodeRejected, TotpSecret, TotpStep};
use crate::http::router::HandlerResult;
use crate::http::{json_response, read_json, ClientAddr, Problem, Request, Router};
use crate::store::{Conflict, LoginUser, StoreError, TenantId, UserId};

/// Adds the sign-in route.
pub(super) fn routes(router: Router, app: &Arc<App>) -> Router {
    let app = Arc::clone(app);
    router.route(Method::POST, "/v1/auth/login", move |request| {
        login(Arc::clone(&app), request)
    })
}

/// Body of a sign-in. No `Debug`: it holds the password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

/// Answer to a successful sign-in.
#[derive(Serialize)]
struct LoginReply<'a> {
    token: &'a str,
    expires_at: String,
    role: &'static str,
    user_id: String,
    tenant_id: String,
    totp_enrolment_required: bool,
}

async fn login(app: Arc<App>, request: Request) -> HandlerResult {
    throttle_source(&app, &request)?;
    let (_, body) = read_json::<LoginRequest>(request).await?;

    let user = match app.store.find_user_for_login(&body.email).await {
        Ok(user) => user,
        Err(StoreError::Invalid { .. }) => None,
        Err(error) => return Err(error.into()),
    };
    check_lock(&app, &body.email, user.as_ref())?;

    let verified = verify_password_or_dummy(&app, &body.password, user.as_ref()).await?;
    let user = match user {
        Some(user) if verified && may_sign_in(&app, &user) => user,
        _ => return Err(record_failure(&app, &body.email)),
    };
    second_factor(&app, &body, &user).await?;

    app.guards().lockout.record_success(&body.email);
    rehash_if_needed(&app, &body.password, &user).await;
    issue_token(&app, &user).await
}

/// Refused sign-ins are logged at most every 10 s, with the count left out.
static THROTTLE_WARNINGS: Summarised = Summarised::new(10);

/// Admits one sign-in attempt from the request's source address, or answers 429.
fn throttle_source(app: &App, request: &Request) -> Result<(), Problem> {
    let Some(ClientAddr(peer)) = request.extensions().get::<ClientAddr>().copied() else {
        return Ok(());
    };
    let attempt = app
        .guards()
        .login_sources
        .attempt(peer.ip(), app.clock.now());
    let Err(throttled) = attempt else {
        return Ok(());
    };

    Metrics::bump(&app.metrics.throttled);
    if let Some(left_out) = THROTTLE_WARNINGS.occurrence(app.clock.unix_now()) {
        tracing::warn!(target: "security", source = %peer.ip(), refused_before = left_out,
            "sign-in attempts throttled");
    }
    Err(Problem::too_many_requests(throttled.retry_after)
        .with_detail("Too many sign-in attempts from this address: wait for Retry-After."))
}

/// Refuses a locked email with 423, unless the operator or an administrator lifted the
/// lock (`lock_cleared_at`) after it began: then the lock is dropped and sign-in goes on.
pub(super) fn check_lock(app: &App, email: &str, user: Option<&LoginUser>) -> Result<(), Problem> {
    let mut guards = app.guards();
    let Err(locked) = guards.lockout.check(email, app.clock.now()) else {
        return Ok(());
    };

    let elapsed = app
        .config
        .lockout
        .lock_duration
        .saturating_sub(locked.retry_after);
    // Rounded up, so that an unlock in the second the lock began counts.
    let elapsed = elapsed.as_secs() + u64::from(elapsed.subsec_nanos() > 0);
    let began = app
        .clock
        .unix_now()
        .saturating_sub(i64::try_from(elapsed).unwrap_or(i64::MAX));
    if user
        .and_then(|u| u.lock_cleared_at)
        .is_some_and(|cleared| cleared >= began)
    {
        guards.lockout.unlock(email);
        return Ok(());
    }
    Err(locked_problem(locked))
}

/// Counts a failed sign-in for `email`, logs the lock it starts, if any, and returns the
/// 401 every failure gets.
pub(super) fn record_failure(app: &App, email: &str) -> Problem {
    Metrics::bump(&app.metrics.logins_failed);
    let started = app.guards().lockout.record_failure(email, app.clock.now());
    if let Some(lock) = started {
        Metrics::bump(&app.metrics.lockouts);
        tracing::warn!(
            target: "security",
            email = %loggable_email(email),
            lock_secs = lock.retry_after.as_secs(),
            "email locked after consecutive failed sign-ins"
        );
    }
    invalid_credentials()
}

fn invalid_credentials() -> Problem {
    Problem::unauthorized("invalid_credentials").with_detail(
        "The email, password or second factor is wrong, or this account cannot sign in.",
    )
}

/// Verifies the password against the user's hash, or spends the same time on a dummy
/// hash when no user has the email.
async fn verify_password_or_dummy(
    app: &App,
    password: &str,
    user: Option<&LoginUser>,
) -> Result<bool, Problem> {
    let password = password.to_owned();
    let hash = user.map(|u| u.password_hash.clone());
    let params = app.config.password_params.clone();
    blocking(move || match hash {
        Some(hash) => verify_password(&password, &hash),
        None => verify_dummy(&password, &params),
    })
    .await
}

/// Whether the user is enabled and the tenant's subscription runs.
fn may_sign_in(app: &App, user: &LoginUser) -> bool {
    let now = app.clock.unix_now();
    !user.disabled
        && user
            .tenant_subscription_ended_at
            .is_none_or(|end| end > now)
}

/// Checks the second factor of a user who has an authenticator: 401 `totp_required`
/// without one, a counted failure for a wrong one.
async fn second_factor(app: &App, body: &LoginRequest, user: &LoginUser) -> Result<(), Problem> {
    let Some(secret) = &user.totp_secret else {
        return Ok(());
    };
    let Some(code) = body.totp.as_deref() else {
        return Err(Problem::unauthorized("totp_required").with_detail(
            "This account signs in with a second factor: send the 6-digit code of the \
             authenticator app, or a recovery code, as `totp`.",
        ));
    };

    let second = SecondFactor {
        tenant: user.tenant_id,
        user: user.user_id,
        secret,
        last_step: user.totp_last_step,
    };
    match second.accepts(app, code).await? {
        true => Ok(()),
        false => Err(record_failure(app, &body.email)),
    }
}

/// A user's authenticator, to check a submitted code against.
pub(super) struct SecondFactor<'a> {
    pub(super) tenant: TenantId,
    pub(super) user: UserId,
    pub(super) secret: &'a TotpSecret,
    pub(super) last_step: Option<TotpStep>,
}

impl SecondFactor<'_> {
    /// Whether `code` is a fresh TOTP code (its step is then recorded, so it cannot be
    /// replayed) or an unused recovery code (then spent).
    pub(super) async fn accepts(&self, app: &App, code: &str) -> Result<bool, Problem> {
        let users = app.store.tenant(self.tenant).users();
        let now = u64::try_from(app.clock.unix_now()).unwrap_or(0);
        match totp::verify(self.secret, code, now, self.last_step) {
            Ok(step) => match users.record_totp_step(self.user, step).await {
                Ok(()) => Ok(true),
                Err(StoreError::Conflict(Conflict::TotpReplay)) => Ok(false),
                Err(error) => Err(error.into()),
            },
            Err(CodeRejected::Malformed) => Ok(users.redeem_recovery_code(self.user, code).await?),
            Err(CodeRejected::Wrong | CodeRejected::Replayed) => Ok(false),
        }
    }
}

/// Replaces a hash made with other Argon2 parameters than the configured ones. A failure
/// is logged and sign-in goes on: the old hash still works.
async fn rehash_if_needed(app: &App, password: &str, user: &LoginUser) {
    let params = app.config.password_params.clone();
    if !needs_rehash(&user.password_hash, &params) {
        return;
    }
    let password = password.to_owned();
    let Ok(Ok(hash)) = blocking(move || hash_password(&password, &params)).await else {
        tracing::error!(target: "api", "rehashing a password failed");
        return;
    };
    let users = app.store.tenant(user.tenant_id).users();
    if let Err(error) = users.set_password(user.user_id, &hash).await {
        tracing::error!(target: "api", %error, "storing a rehashed password failed");
    }
}

/// Issues a bearer token to a user who just signed in.
async fn issue_token(app: &App, user: &LoginUser) -> HandlerResult {
    let token = BearerToken::generate();
    let ttl = i64::try_from(app.config.staff_token_ttl.as_secs()).unwrap_or(i64::MAX);
    let expires_at = app.clock.unix_now().saturating_add(ttl);
    let tokens = app.store.tenant(user.tenant_id).tokens();
    tokens
        .insert(&token.hash(), user.user_id, expires_at)
        .await?;
    Metrics::bump(&app.metrics.logins_succeeded);

    let reply = LoginReply {
        token: token.as_str(),
        expires_at: rfc3339(expires_at),
        role: user.role.as_str(),
        user_id: user.user_id.to_string(),
        tenant_id: user.tenant_id.to_string(),
        totp_enrolment_required: user.tenant_settings.require_2fa && user.totp_secret.is_none(),
    };
    Ok(json_response(StatusCode::OK, &reply))
}
