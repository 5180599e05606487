//! The rows the store hands out and the values it accepts, with their checks.
//!
//! Ids are random UUID v4 (122 random bits), so knowing one id tells nothing about another.
//! Times are Unix seconds (`i64`), stamped by the store from the system clock when a row
//! changes; validity checks take the caller's `now` so that tests control time.

use std::fmt;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::db::DbRow;
use super::error::StoreError;
use crate::auth::token::TokenHash;
use crate::auth::totp::{TotpSecret, TotpStep};

/// Longest email accepted, in bytes (RFC 5321 section 4.5.3.1.3 limits a path to 256).
const MAX_EMAIL_BYTES: usize = 254;

/// Longest tenant name, customer name, external reference or end reason, in characters.
const MAX_TEXT_CHARS: usize = 200;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A fresh random id.
            pub(super) fn random() -> Self {
                Self(uuid::Uuid::new_v4())
            }

            /// Parses an id received from a client (any UUID spelling).
            pub fn parse(text: &str) -> Result<Self, StoreError> {
                uuid::Uuid::parse_str(text)
                    .map(Self)
                    .map_err(|_| StoreError::invalid($what, "not a UUID"))
            }

            /// Reads an id back from a row's column.
            pub(super) fn from_row(row: &DbRow, column: &str) -> Result<Self, StoreError> {
                let text: String = row.try_get(column)?;
                uuid::Uuid::parse_str(&text)
                    .map(Self)
                    .map_err(|_| StoreError::Corrupt($what))
            }
        }

        impl fmt::Display for $name {
            /// Lowercase hyphenated: the form stored and shown to clients.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

id_type!(
    /// Identifies a tenant (a customer organisation).
    TenantId,
    "tenant id"
);
id_type!(
    /// Identifies a user (administrator or agent) of one tenant.
    UserId,
    "user id"
);
id_type!(
    /// Identifies a support session of one tenant.
    SessionId,
    "session id"
);

/// What a user may do within the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Manages the tenant's users and settings, and may take sessions.
    Admin,
    /// Takes support sessions.
    Agent,
}

impl Role {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }

    pub(super) fn from_row(row: &DbRow) -> Result<Self, StoreError> {
        let text: String = row.try_get("role")?;
        match text.as_str() {
            "admin" => Ok(Role::Admin),
            "agent" => Ok(Role::Agent),
            _ => Err(StoreError::Corrupt("role")),
        }
    }
}

/// Where a support session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Created; the customer has not joined yet.
    Waiting,
    /// The customer joined; media flows.
    Active,
    /// The customer joined; the agent has put the session on hold.
    Held,
    /// Over, for the reason in [`SupportSession::end_reason`].
    Ended,
}

impl SessionState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Waiting => "waiting",
            SessionState::Active => "active",
            SessionState::Held => "held",
            SessionState::Ended => "ended",
        }
    }

    fn from_row(row: &DbRow) -> Result<Self, StoreError> {
        let text: String = row.try_get("state")?;
        match text.as_str() {
            "waiting" => Ok(SessionState::Waiting),
            "active" => Ok(SessionState::Active),
            "held" => Ok(SessionState::Held),
            "ended" => Ok(SessionState::Ended),
            _ => Err(StoreError::Corrupt("session state")),
        }
    }
}

/// A tenant's settings, stored as one JSON document so that new ones need no migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantSettings {
    /// Every user of the tenant must sign in with a second factor.
    pub require_2fa: bool,
    /// How long a session's PIN and join link stay valid, in seconds.
    pub support_key_validity_secs: u32,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            require_2fa: false,
            support_key_validity_secs: 600,
        }
    }
}

impl TenantSettings {
    pub(super) fn from_row(row: &DbRow) -> Result<Self, StoreError> {
        let text: String = row.try_get("settings")?;
        serde_json::from_str(&text).map_err(|_| StoreError::Corrupt("tenant settings"))
    }

    pub(super) fn to_json(&self) -> Result<String, StoreError> {
        if self.support_key_validity_secs == 0 {
            return Err(StoreError::invalid(
                "support_key_validity_secs",
                "must be positive",
            ));
        }
        serde_json::to_string(self).map_err(|_| StoreError::Corrupt("tenant settings"))
    }
}

/// A tenant as listed to the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Its unique name.
    pub name: String,
    /// When it was created.
    pub created_at: i64,
    /// When its subscription ended; `None` while it runs.
    pub subscription_ended_at: Option<i64>,
    /// Its settings.
    pub settings: TenantSettings,
}

impl Tenant {
    pub(super) fn from_row(row: &DbRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: TenantId::from_row(row, "id")?,
            name: row.try_get("name")?,
            created_at: row.try_get("created_at")?,
            subscription_ended_at: row.try_get("subscription_ended_at")?,
            settings: TenantSettings::from_row(row)?,
        })
    }
}

/// A user as listed to an administrator: no secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// The tenant it belongs to.
    pub tenant_id: TenantId,
    /// Normalised email, unique across tenants.
    pub email: String,
    /// Its role.
    pub role: Role,
    /// Whether a TOTP authenticator is enrolled.
    pub totp_enabled: bool,
    /// Whether sign-in is refused.
    pub disabled: bool,
    /// When it was created.
    pub created_at: i64,
}

impl User {
    pub(super) fn from_row(row: &DbRow) -> Result<Self, StoreError> {
        let secret: Option<Vec<u8>> = row.try_get("totp_secret")?;
        Ok(Self {
            id: UserId::from_row(row, "id")?,
            tenant_id: TenantId::from_row(row, "tenant_id")?,
            email: row.try_get("email")?,
            role: Role::from_row(row)?,
            totp_enabled: secret.is_some(),
            disabled: row.try_get("disabled")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// Everything sign-in needs about the user an email names. `Debug` hides the secrets.
#[derive(Clone)]
pub struct LoginUser {
    /// The user.
    pub user_id: UserId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its role.
    pub role: Role,
    /// Argon2id PHC string to verify the password against.
    pub password_hash: String,
    /// The TOTP secret, if an authenticator is enrolled.
    pub totp_secret: Option<TotpSecret>,
    /// The last TOTP step accepted, against replays.
    pub totp_last_step: Option<TotpStep>,
    /// Digests of the unused recovery codes.
    pub recovery_code_hashes: Vec<TokenHash>,
    /// Whether sign-in is refused for this user.
    pub disabled: bool,
    /// When the tenant's subscription ended, if it did.
    pub tenant_subscription_ended_at: Option<i64>,
    /// The tenant's settings (whether a second factor is required).
    pub tenant_settings: TenantSettings,
    /// When the operator last lifted a sign-in lock of this user: failures before it
    /// no longer count.
    pub lock_cleared_at: Option<i64>,
}

impl LoginUser {
    pub(super) fn from_row(row: &DbRow) -> Result<Self, StoreError> {
        let secret: Option<Vec<u8>> = row.try_get("totp_secret")?;
        let totp_secret = secret
            .map(|bytes| TotpSecret::from_bytes(&bytes))
            .transpose()
            .map_err(|_| StoreError::Corrupt("TOTP secret"))?;
        let step: Option<i64> = row.try_get("totp_last_step")?;
        let totp_last_step = step
            .map(|step| u64::try_from(step).map(TotpStep))
            .transpose()
            .map_err(|_| StoreError::Corrupt("TOTP step"))?;

        Ok(Self {
            user_id: UserId::from_row(row, "id")?,
            tenant_id: TenantId::from_row(row, "tenant_id")?,
            role: Role::from_row(row)?,
            password_hash: row.try_get("password_hash")?,
            totp_secret,
            totp_last_step,
            recovery_code_hashes: recovery_hashes_from_row(row)?,
            disabled: row.try_get("disabled")?,
            tenant_subscription_ended_at: row.try_get("subscription_ended_at")?,
            tenant_settings: TenantSettings::from_row(row)?,
            lock_cleared_at: row.try_get("lock_cleared_at")?,
        })
    }
}

impl fmt::Debug for LoginUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginUser")
            .field("user_id", &self.user_id)
            .field("tenant_id", &self.tenant_id)
            .field("role", &self.role)
            .field("totp_enabled", &self.totp_secret.is_some())
            .field("recovery_codes", &self.recovery_code_hashes.len())
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// Who a live bearer token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenOwner {
    /// The signed-in user.
    pub user_id: UserId,
    /// The user's tenant: the scope of every request made with this token.
    pub tenant_id: TenantId,
    /// The user's role.
    pub role: Role,
    /// When the token stops working.
    pub expires_at: i64,
}

impl TokenOwner {
    pub(super) fn from_row(row: &DbRow) -> Result<Self, StoreError> {
        Ok(Self {
            user_id: UserId::from_row(row, "user_id")?,
            tenant_id: TenantId::from_row(row, "tenant_id")?,
            role: Role::from_row(row)?,
            expires_at: row.try_get("expires_at")?,
        })
    }
}

/// Who a live customer token belongs to: one session of one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerTokenOwner {
    /// The one session the token is for.
    pub session_id: SessionId,
    /// The session's tenant.
    pub tenant_id: TenantId,
    /// When the token stops working.
    pub expires_at: i64,
}

impl CustomerTokenOwner {
    pub(super) fn from_row(row: &DbRow) -> Result<Self, StoreError> {
        Ok(Self {
            session_id: SessionId::from_row(row, "session_id")?,
            tenant_id: TenantId::from_row(row, "tenant_id")?,
            expires_at: row.try_get("expires_at")?,
        })
    }
}

/// What an agent supplies to open a support session.
#[derive(Debug, Clone)]
pub struct NewSupportSession {
    /// The agent who takes the session (a user of the same tenant).
    pub agent: UserId,
    /// The customer's name as the agent typed it.
    pub customer_name: Option<String>,
    /// A ticket number or similar from the tenant's own systems.
    pub external_ref: Option<String>,
    /// Digest of the PIN the agent reads out.
    pub pin_hash: TokenHash,
    /// Digest of the join link's token.
    pub join_token_hash: TokenHash,
    /// When the PIN and join token stop working.
    pub key_expires_at: i64,
}

impl NewSupportSession {
    pub(super) fn check(&self) -> Result<(), StoreError> {
        check_optional_text("customer_name", self.customer_name.as_deref())?;
        check_optional_text("external_ref", self.external_ref.as_deref())
    }
}

/// A support session as shown to its tenant; the PIN and join token digests stay inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportSession {
    /// Its id.
    pub id: SessionId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The agent who takes it.
    pub agent_id: UserId,
    /// The customer's name, if given.
    pub customer_name: Option<String>,
    /// The tenant's own reference, if given.
    pub external_ref: Option<String>,
    /// When the PIN and join token stop working.
    pub key_expires_at: i64,
    /// When the customer joined.
    pub joined_at: Option<i64>,
    /// Where it stands.
    pub state: SessionState,
    /// When it was created.
    pub created_at: i64,
    /// When it ended.
    pub ended_at: Option<i64>,
    /// Why it ended.
    pub end_reason: Option<String>,
}

impl SupportSession {
    pub(super) fn from_row(row: &DbRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: SessionId::from_row(row, "id")?,
            tenant_id: TenantId::from_row(row, "tenant_id")?,
            agent_id: UserId::from_row(row, "agent_id")?,
            customer_name: row.try_get("customer_name")?,
            external_ref: row.try_get("external_ref")?,
            key_expires_at: row.try_get("key_expires_at")?,
            joined_at: row.try_get("joined_at")?,
            state: SessionState::from_row(row)?,
            created_at: row.try_get("created_at")?,
            ended_at: row.try_get("ended_at")?,
            end_reason: row.try_get("end_reason")?,
        })
    }
}

/// Which of a tenant's sessions to list; the default lists all, newest first.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// Only this agent's sessions.
    pub agent: Option<UserId>,
    /// Only sessions with this external reference.
    pub external_ref: Option<String>,
}

/// Trims and lowercases an email, and refuses what cannot be one. Sign-in names no tenant,
/// so the normalised form is unique across all tenants.
pub fn normalise_email(raw: &str) -> Result<String, StoreError> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() || email.len() > MAX_EMAIL_BYTES {
        return Err(StoreError::invalid("email", "length out of range"));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(StoreError::invalid("email", "contains spaces or controls"));
    }

    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => Ok(email),
        _ => Err(StoreError::invalid("email", "not of the form name@domain")),
    }
}

/// Trims a tenant name and checks its length.
pub(super) fn normalise_tenant_name(raw: &str) -> Result<String, StoreError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_TEXT_CHARS {
        return Err(StoreError::invalid("tenant name", "length out of range"));
    }
    if name.chars().any(char::is_control) {
        return Err(StoreError::invalid("tenant name", "contains controls"));
    }
    Ok(name.to_owned())
}

/// Checks the length of a free-text field.
pub(super) fn check_optional_text(
    field: &'static str,
    text: Option<&str>,
) -> Result<(), StoreError> {
    match text {
        Some(text) if text.chars().count() > MAX_TEXT_CHARS => {
            Err(StoreError::invalid(field, "longer than 200 characters"))
        }
        Some(text) if text.chars().any(is_hidden_control) => Err(StoreError::invalid(
            field,
            "contains control or text-direction characters",
        )),
        _ => Ok(()),
    }
}

/// Characters that have no place in a name or a reference and can disguise one on an
/// agent's screen: controls (NUL, newlines) and the bidirectional embedding, override and
/// isolate marks (Unicode's Bidi_Control, which can reverse how a name reads).
fn is_hidden_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}')
}

/// Reads the JSON list of recovery-code digests.
pub(super) fn recovery_hashes_from_row(row: &DbRow) -> Result<Vec<TokenHash>, StoreError> {
    let text: String = row.try_get("recovery_code_hashes")?;
    let hex: Vec<String> =
        serde_json::from_str(&text).map_err(|_| StoreError::Corrupt("recovery codes"))?;
    hex.iter()
        .map(|h| TokenHash::from_hex(h).map_err(|_| StoreError::Corrupt("recovery codes")))
        .collect()
}

/// Writes recovery-code digests as a JSON list of hex strings.
pub(super) fn recovery_hashes_to_json(hashes: &[TokenHash]) -> Result<String, StoreError> {
    let hex: Vec<String> = hashes.iter().map(TokenHash::to_hex).collect();
    serde_json::to_string(&hex).map_err(|_| StoreError::Corrupt("recovery codes"))
}

/// The system clock in Unix seconds; 0 if it reads before 1970.
pub(super) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
