//! Operations that by nature name no tenant: the operator's tenant commands, and the
//! lookups a request makes before it knows its tenant (sign-in by email, a bearer token,
//! a customer's PIN or join link). Each lookup returns the tenant id with the row; every
//! later operation goes through that tenant's [`super::TenantScope`].

use sqlx::Row;

use super::error::{classify, Conflict, StoreError};
use super::model::{
    normalise_email, normalise_tenant_name, unix_now, CustomerTokenOwner, LoginUser, Role,
    SupportSession, Tenant, TenantId, TenantSettings, TokenOwner, UserId,
};
use super::Store;
use crate::auth::token::TokenHash;

/// Columns of a support session, for the lookups below.
macro_rules! session_columns {
    () => {
        "id, tenant_id, agent_id, customer_name, external_ref, key_expires_at, joined_at, \
         state, created_at, ended_at, end_reason"
    };
}
pub(super) use session_columns;

/// Selects the session whose `$column` is `$1` if a customer can still join it at `$2`:
/// waiting, never joined, key not expired.
macro_rules! joinable_by {
    ($column:literal) => {
        concat!(
            "SELECT ",
            session_columns!(),
            " FROM support_sessions WHERE ",
            $column,
            " = $1 AND state = 'waiting' AND joined_at IS NULL AND key_expires_at > $2"
        )
    };
}

impl Store {
    /// Creates a tenant and its first administrator in one transaction: both or neither.
    /// Conflict if the name or the email is taken (the email in any tenant).
    pub async fn create_tenant_with_admin(
        &self,
        name: &str,
        admin_email: &str,
        password_hash: &str,
    ) -> Result<(TenantId, UserId), StoreError> {
        let name = normalise_tenant_name(name)?;
        let email = normalise_email(admin_email)?;
        let (tenant, admin) = (TenantId::random(), UserId::random());
        let now = unix_now();
        let conflicts = [("email", Conflict::Email), ("name", Conflict::TenantName)];

        let mut tx = self.db.global_write().await?;
        sqlx::query("INSERT INTO tenants (id, name, created_at, settings) VALUES ($1, $2, $3, $4)")
            .bind(tenant.to_string())
            .bind(&name)
            .bind(now)
            .bind(TenantSettings::default().to_json()?)
            .execute(&mut *tx)
            .await
            .map_err(|e| classify(e, &conflicts, "tenant"))?;
        sqlx::query(
            "INSERT INTO users (id, tenant_id, email, role, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(admin.to_string())
        .bind(tenant.to_string())
        .bind(&email)
        .bind(Role::Admin.as_str())
        .bind(password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| classify(e, &conflicts, "tenant"))?;
        tx.commit().await?;

        Ok((tenant, admin))
    }

    /// All tenants, by name.
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, subscription_ended_at, settings \
             FROM tenants ORDER BY name",
        )
        .fetch_all(self.db.global_read())
        .await?;
        rows.iter().map(Tenant::from_row).collect()
    }

    /// Ends the subscription of the tenant called `name`, now: its users can no longer
    /// sign in and its tokens stop working. Ending it again keeps the first end time.
    pub async fn terminate_tenant(&self, name: &str) -> Result<TenantId, StoreError> {
        let name = normalise_tenant_name(name)?;

        let mut tx = self.db.global_write().await?;
        let row = sqlx::query(
            "UPDATE tenants SET subscription_ended_at = COALESCE(subscription_ended_at, $2) \
             WHERE name = $1 RETURNING id",
        )
        .bind(&name)
        .bind(unix_now())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::not_found("tenant"))?;
        tx.commit().await?;

        TenantId::from_row(&row, "id")
    }

    /// The user an email names, in whichever tenant, with what sign-in checks. `None` if
    /// no user has it; disabled users and ended tenants are returned, for the caller to
    /// refuse with the right message.
    pub async fn find_user_for_login(&self, email: &str) -> Result<Option<LoginUser>, StoreError> {
        let email = normalise_email(email)?;
        let row = sqlx::query(
            "SELECT u.id, u.tenant_id, u.role, u.password_hash, u.totp_secret, \
             u.totp_last_step, u.recovery_code_hashes, u.disabled, u.lock_cleared_at, \
             t.subscription_ended_at, t.settings \
             FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.email = $1",
        )
        .bind(&email)
        .fetch_optional(self.db.global_read())
        .await?;
        row.as_ref().map(LoginUser::from_row).transpose()
    }

    /// Who the bearer token with digest `hash` belongs to, if it is live at `now`: not
    /// expired, not revoked, its user not disabled and its tenant's subscription running.
    pub async fn find_token(
        &self,
        hash: &TokenHash,
        now: i64,
    ) -> Result<Option<TokenOwner>, StoreError> {
        let row = sqlx::query(
            "SELECT a.user_id, a.tenant_id, a.expires_at, u.role \
             FROM auth_tokens a \
             JOIN users u ON u.tenant_id = a.tenant_id AND u.id = a.user_id \
             JOIN tenants t ON t.id = a.tenant_id \
             WHERE a.token_hash = $1 AND a.revoked_at IS NULL AND a.expires_at > $2 \
             AND NOT u.disabled \
             AND (t.subscription_ended_at IS NULL OR t.subscription_ended_at > $2)",
        )
        .bind(hash.to_hex())
        .bind(now)
        .fetch_optional(self.db.global_read())
        .await?;
        row.as_ref().map(TokenOwner::from_row).transpose()
    }

    /// The session and tenant of the customer token with digest `hash`, if it is live at
    /// `now`: not expired, not revoked, its tenant's subscription running. The session may
    /// have ended since; the caller checks its state.
    pub async fn find_customer_token(
        &self,
        hash: &TokenHash,
        now: i64,
    ) -> Result<Option<CustomerTokenOwner>, StoreError> {
        let row = sqlx::query(
            "SELECT c.session_id, c.tenant_id, c.expires_at \
             FROM customer_tokens c JOIN tenants t ON t.id = c.tenant_id \
             WHERE c.token_hash = $1 AND c.revoked_at IS NULL AND c.expires_at > $2 \
             AND (t.subscription_ended_at IS NULL OR t.subscription_ended_at > $2)",
        )
        .bind(hash.to_hex())
        .bind(now)
        .fetch_optional(self.db.global_read())
        .await?;
        row.as_ref().map(CustomerTokenOwner::from_row).transpose()
    }

    /// Lifts the sign-in lock of the user with `email` as of now (the operator's
    /// `sightline user unlock`): the daemon disregards failures before this moment. The
    /// lock itself lives in the daemon's memory, so this records the moment for it to read.
    /// NotFound if no user has the email.
    pub async fn clear_lock(&self, email: &str) -> Result<UserId, StoreError> {
        let email = normalise_email(email)?;
        let mut tx = self.db.global_write().await?;
        let row =
            sqlx::query("UPDATE users SET lock_cleared_at = $2 WHERE email = $1 RETURNING id")
                .bind(&email)
                .bind(unix_now())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::not_found("user"))?;
        tx.commit().await?;
        UserId::from_row(&row, "id")
    }

    /// Revokes the bearer token with digest `hash` (sign-out). Revoking it again is not an
    /// error; an unknown digest is NotFound.
    pub async fn revoke_token(&self, hash: &TokenHash) -> Result<(), StoreError> {
        let mut tx = self.db.global_write().await?;
        let changed = sqlx::query(
            "UPDATE auth_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE token_hash = $1",
        )
        .bind(hash.to_hex())
        .bind(unix_now())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;

        match changed {
            0 => Err(StoreError::not_found("token")),
            _ => Ok(()),
        }
    }

    /// Deletes tokens that expired before `now`; returns how many. Run it now and then.
    pub async fn purge_expired_tokens(&self, now: i64) -> Result<u64, StoreError> {
        let mut tx = self.db.global_write().await?;
        let deleted = sqlx::query("DELETE FROM auth_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted)
    }

    /// Ends every session whose key expired before `now` with no customer joined, so that
    /// its PIN is free again; returns how many. Run it now and then.
    pub async fn end_unjoined_expired_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let mut tx = self.db.global_write().await?;
        let ended = sqlx::query(
            "UPDATE support_sessions SET state = 'ended', ended_at = $1, \
             end_reason = 'key_expired' \
             WHERE state = 'waiting' AND joined_at IS NULL AND key_expires_at <= $1",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(ended)
    }

    /// The session a customer can join with the PIN whose digest is `pin_hash`, at `now`.
    pub async fn find_session_by_pin_hash(
        &self,
        pin_hash: &TokenHash,
        now: i64,
    ) -> Result<Option<SupportSession>, StoreError> {
        self.find_joinable(joinable_by!("pin_hash"), pin_hash, now)
            .await
    }

    /// The session a customer can join with the join token whose digest is `token_hash`.
    pub async fn find_session_by_join_token_hash(
        &self,
        token_hash: &TokenHash,
        now: i64,
    ) -> Result<Option<SupportSession>, StoreError> {
        self.find_joinable(joinable_by!("join_token_hash"), token_hash, now)
            .await
    }

    /// The newest session whose PIN digest is `pin_hash`, whatever its state: tells a
    /// customer why a PIN no longer works (expired, used, session ended).
    pub async fn find_any_session_by_pin_hash(
        &self,
        pin_hash: &TokenHash,
    ) -> Result<Option<SupportSession>, StoreError> {
        self.find_any(
            concat!(
                "SELECT ",
                session_columns!(),
                " FROM support_sessions WHERE pin_hash = $1 ORDER BY created_at DESC LIMIT 1"
            ),
            pin_hash,
        )
        .await
    }

    /// The session whose join token digest is `token_hash`, whatever its state.
    pub async fn find_any_session_by_join_token_hash(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<SupportSession>, StoreError> {
        self.find_any(
            concat!(
                "SELECT ",
                session_columns!(),
                " FROM support_sessions WHERE join_token_hash = $1"
            ),
            token_hash,
        )
        .await
    }

    async fn find_any(
        &self,
        sql: &'static str,
        hash: &TokenHash,
    ) -> Result<Option<SupportSession>, StoreError> {
        let row = sqlx::query(sql)
            .bind(hash.to_hex())
            .fetch_optional(self.db.global_read())
            .await?;
        row.as_ref().map(SupportSession::from_row).transpose()
    }

    /// Runs one of the [`joinable_by`] lookups.
    async fn find_joinable(
        &self,
        sql: &'static str,
        hash: &TokenHash,
        now: i64,
    ) -> Result<Option<SupportSession>, StoreError> {
        let row = sqlx::query(sql)
            .bind(hash.to_hex())
            .bind(now)
            .fetch_optional(self.db.global_read())
            .await?;
        row.as_ref().map(SupportSession::from_row).transpose()
    }

    /// The journal mode SQLite reports (`wal` for a file, `memory` in memory).
    pub async fn journal_mode(&self) -> Result<String, StoreError> {
        let row = sqlx::query("PRAGMA journal_mode")
            .fetch_one(self.db.global_read())
            .await?;
        Ok(row.try_get(0)?)
    }
}
