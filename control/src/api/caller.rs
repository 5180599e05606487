//! Who is calling: the bearer token of a request, looked up and typed by role.
//!
//! Administrators and agents sign in and hold a staff token; a customer holds a token for
//! exactly one session, obtained with the session's PIN or join link. Both travel as
//! `Authorization: Bearer <token>` (RFC 6750). A missing, malformed, expired or revoked
//! token is a 401 problem with `error: "unauthorized"` and a `WWW-Authenticate` challenge;
//! the caller of the wrong kind for a route is a 403.

use hyper::header::AUTHORIZATION;
use hyper::http::request::Parts;
use hyper::http::HeaderMap;

use super::App;
use crate::auth::token::TokenHash;
use crate::http::Problem;
use crate::store::{Conflict, Role, SessionId, StoreError, TenantId, UserId};

/// Longest bearer token read from a header; ours are 43 characters.
const MAX_TOKEN_CHARS: usize = 128;

/// A signed-in administrator or agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Staff {
    /// The user.
    pub user: UserId,
    /// The user's tenant: the scope of everything the request touches.
    pub tenant: TenantId,
    /// The user's role.
    pub role: Role,
    /// Digest of the token the request carried (for sign-out).
    pub token: TokenHash,
}

impl Staff {
    /// Refuses anyone but an administrator with 403 `forbidden`.
    pub fn require_admin(&self) -> Result<(), Problem> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Agent => Err(Problem::forbidden("forbidden")
                .with_detail("Only an administrator of the tenant may do this.")),
        }
    }
}

/// A customer holding a token for one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Customer {
    /// The one session the token is for.
    pub session: SessionId,
    /// The session's tenant.
    pub tenant: TenantId,
    /// Digest of the token the request carried.
    pub token: TokenHash,
}

/// Whoever a request's bearer token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// An administrator or agent.
    Staff(Staff),
    /// A customer of one session.
    Customer(Customer),
}

impl Caller {
    /// The caller's tenant.
    pub fn tenant(&self) -> TenantId {
        match self {
            Caller::Staff(staff) => staff.tenant,
            Caller::Customer(customer) => customer.tenant,
        }
    }
}

/// The bearer token of `headers`, if there is exactly one well-formed one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (value, None) = (values.next()?, values.next()) else {
        return None;
    };
    let text = value.to_str().ok()?;
    let (scheme, token) = text.split_once(' ')?;
    let token = token.trim();
    let well_formed = scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && token.len() <= MAX_TOKEN_CHARS
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
    well_formed.then_some(token)
}

/// Who `token` belongs to at the app's `now`: a staff token first, then a customer's.
pub async fn identify(app: &App, token: &str) -> Result<Caller, Problem> {
    let hash = TokenHash::of(token);
    let now = app.clock.unix_now();
    if let Some(owner) = app.store.find_token(&hash, now).await.map_err(internal)? {
        super::accounts::refuse_pending_enrolment(app, &owner).await?;
        return Ok(Caller::Staff(Staff {
            user: owner.user_id,
            tenant: owner.tenant_id,
            role: owner.role,
            token: hash,
        }));
    }
    match app
        .store
        .find_customer_token(&hash, now)
        .await
        .map_err(internal)?
    {
        Some(owner) => Ok(Caller::Customer(Customer {
            session: owner.session_id,
            tenant: owner.tenant_id,
            token: hash,
        })),
        None => Err(unauthorized()),
    }
}

/// The caller of a request, from its `Authorization` header.
pub async fn caller(app: &App, parts: &Parts) -> Result<Caller, Problem> {
    let token = bearer_token(&parts.headers).ok_or_else(unauthorized)?;
    identify(app, token).await
}

/// The caller of a request, who must be an administrator or agent (403 for a customer).
pub async fn staff(app: &App, parts: &Parts) -> Result<Staff, Problem> {
    match caller(app, parts).await? {
        Caller::Staff(staff) => Ok(staff),
        Caller::Customer(_) => {
            Err(Problem::forbidden("forbidden").with_detail("A customer's token cannot do this."))
        }
    }
}

/// The 401 for a request without a usable token.
pub fn unauthorized() -> Problem {
    Problem::unauthorized("unauthorized")
        .with_detail("A valid bearer token is required (Authorization: Bearer ...).")
}

/// The problem for a store error that no request could cause: logged, then a bare 500.
pub fn internal(error: StoreError) -> Problem {
    tracing::error!(target: "api", %error, "store failure");
    Problem::internal()
}

impl From<StoreError> for Problem {
    /// The caller's faults become 404, 409 and 422 with a machine-readable `error`; ours
    /// are logged and become a bare 500. Another tenant's row is a plain 404 like a
    /// missing one.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { .. } => Problem::not_found(),
            StoreError::Conflict(conflict) => conflict_problem(conflict),
            StoreError::Invalid { field, reason } => {
                Problem::unprocessable("invalid_field").with_detail(format!("{field}: {reason}"))
            }
            StoreError::Database(_) | StoreError::Corrupt(_) => internal(error),
        }
    }
}

fn conflict_problem(conflict: Conflict) -> Problem {
    let (error, detail) = match conflict {
        Conflict::TenantName => ("tenant_exists", "A tenant with this name exists."),
        Conflict::Email => ("email_taken", "A user with this email exists."),
        Conflict::SessionState => (
            "session_state",
            "The session's state does not allow this now (it has ended, the customer has \
             not joined yet, or the key was already used).",
        ),
        Conflict::TotpReplay => ("totp_replayed", "This code was already used."),
        // Random values that collided: our side retries; if one gets here, it is ours.
        Conflict::Pin | Conflict::JoinToken | Conflict::Token => {
            return Problem::internal();
        }
    };
    Problem::conflict(error).with_detail(detail)
}
