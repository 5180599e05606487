//! One tenant's users: administrators and agents, their passwords and second factors.
//!
//! A user of another tenant is NotFound here, for reads and writes alike.

use super::db::{tenant_sql, Db, ScopedQuery, ScopedRead, ScopedTx};
use super::error::{classify, Conflict, StoreError};
use sqlx::Row;

use super::model::{
    normalise_email, recovery_hashes_from_row, recovery_hashes_to_json, unix_now, Role, TenantId,
    TenantSettings, User, UserId,
};
use crate::auth::token::TokenHash;
use crate::auth::totp::{self, TotpSecret, TotpStep};

/// Columns of a [`User`].
macro_rules! user_columns {
    () => {
        "id, tenant_id, email, role, totp_secret, disabled, created_at"
    };
}

/// The users of one tenant; made by [`super::TenantScope::users`].
#[derive(Debug, Clone, Copy)]
pub struct Users<'a> {
    db: &'a Db,
    tenant: TenantId,
}

impl<'a> Users<'a> {
    pub(super) fn new(db: &'a Db, tenant: TenantId) -> Self {
        Self { db, tenant }
    }

    /// Adds a user. Conflict if any tenant has a user with this email; NotFound if the
    /// tenant does not exist.
    pub async fn create(
        &self,
        email: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<UserId, StoreError> {
        let email = normalise_email(email)?;
        let id = UserId::random();

        let mut tx = self.write().await?;
        let query = tx
            .query(tenant_sql!(
                "INSERT INTO users (tenant_id, id, email, role, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)"
            ))
            .bind(id.to_string())
            .bind(email)
            .bind(role.as_str())
            .bind(password_hash.to_owned())
            .bind(unix_now());
        tx.execute(query)
            .await
            .map_err(|e| classify(e, &[("email", Conflict::Email)], "tenant"))?;
        tx.commit().await?;

        Ok(id)
    }

    /// One user.
    pub async fn get(&self, user: UserId) -> Result<User, StoreError> {
        let read = self.read();
        let query = read
            .query(tenant_sql!(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE tenant_id = $1 AND id = $2"
            )))
            .bind(user.to_string());
        let row = read.fetch_optional(query).await?;
        row.as_ref()
            .map(User::from_row)
            .transpose()?
            .ok_or(StoreError::not_found("user"))
    }

    /// All users, by email.
    pub async fn list(&self) -> Result<Vec<User>, StoreError> {
        let read = self.read();
        let query = read.query(tenant_sql!(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE tenant_id = $1 ORDER BY email"
        )));
        let rows = read.fetch_all(query).await?;
        rows.iter().map(User::from_row).collect()
    }

    /// Replaces a user's password hash. Live tokens stay; revoke them with
    /// [`super::Tokens::revoke_all_for_user`] if the change is a reset.
    pub async fn set_password(&self, user: UserId, password_hash: &str) -> Result<(), StoreError> {
        let tx = self.write().await?;
        let query = tx
            .query(tenant_sql!(
                "UPDATE users SET password_hash = $3 WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(user.to_string())
            .bind(password_hash.to_owned());
        update_one(tx, query).await
    }

    /// Refuses or allows sign-in for a user; a disabled user's tokens stop working.
    pub async fn set_disabled(&self, user: UserId, disabled: bool) -> Result<(), StoreError> {
        let tx = self.write().await?;
        let query = tx
            .query(tenant_sql!(
                "UPDATE users SET disabled = $3 WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(user.to_string())
            .bind(disabled);
        update_one(tx, query).await
    }

    /// Enrols an authenticator: stores its secret and the digests of fresh recovery codes,
    /// and forgets the last accepted step.
    pub async fn set_totp(
        &self,
        user: UserId,
        secret: &TotpSecret,
        recovery_code_hashes: &[TokenHash],
    ) -> Result<(), StoreError> {
        let hashes = recovery_hashes_to_json(recovery_code_hashes)?;

        let tx = self.write().await?;
        let query = tx
            .query(tenant_sql!(
                "UPDATE users SET totp_secret = $3, totp_last_step = NULL, \
                 recovery_code_hashes = $4 WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(user.to_string())
            .bind(secret.as_bytes().to_vec())
            .bind(hashes);
        update_one(tx, query).await
    }

    /// Starts an authenticator enrolment: keeps `secret` as pending until
    /// [`Users::confirm_totp`]. A pending secret of an earlier enrolment is replaced.
    pub async fn set_pending_totp(
        &self,
        user: UserId,
        secret: &TotpSecret,
    ) -> Result<(), StoreError> {
        let tx = self.write().await?;
        let query = tx
            .query(tenant_sql!(
                "UPDATE users SET totp_pending_secret = $3 WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(user.to_string())
            .bind(secret.as_bytes().to_vec());
        update_one(tx, query).await
    }

    /// The secret of the user's unconfirmed enrolment, if one is pending.
    pub async fn pending_totp(&self, user: UserId) -> Result<Option<TotpSecret>, StoreError> {
        let read = self.read();
        let query = read
            .query(tenant_sql!(
                "SELECT totp_pending_secret FROM users WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(user.to_string());
        let row = read
            .fetch_optional(query)
            .await?
            .ok_or(StoreError::not_found("user"))?;
        let bytes: Option<Vec<u8>> = row.try_get("totp_pending_secret")?;
        bytes
            .map(|b| TotpSecret::from_bytes(&b).map_err(|_| StoreError::Corrupt("TOTP secret")))
            .transpose()
    }

    /// Makes the pending secret the user's authenticator, with `step` (the step of the code
    /// that confirmed it) as the last accepted one and fresh recovery codes. NotFound if
    /// the pending secret is no longer `secret` (a newer enrolment replaced it).
    pub async fn confirm_totp(
        &self,
        user: UserId,
        secret: &TotpSecret,
        step: TotpStep,
        recovery_code_hashes: &[TokenHash],
    ) -> Result<(), StoreError> {
        let step =
            i64::try_from(step.0).map_err(|_| StoreError::invalid("TOTP step", "too large"))?;
        let hashes = recovery_hashes_to_json(recovery_code_hashes)?;

        let tx = self.write().await?;
        let query = tx
            .query(tenant_sql!(
                "UPDATE users SET totp_secret = totp_pending_secret, \
                 totp_pending_secret = NULL, totp_last_step = $4, recovery_code_hashes = $5 \
                 WHERE tenant_id = $1 AND id = $2 AND totp_pending_secret = $3"
            ))
            .bind(user.to_string())
            .bind(secret.as_bytes().to_vec())
            .bind(step)
            .bind(hashes);
        update_one(tx, query).await
    }

    /// Replaces the user's recovery codes with fresh ones; the old ones stop working.
    pub async fn set_recovery_codes(
        &self,
        user: UserId,
        recovery_code_hashes: &[TokenHash],
    ) -> Result<(), StoreError> {
        let hashes = recovery_hashes_to_json(recovery_code_hashes)?;

        let tx = self.write().await?;
        let query = tx
            .query(tenant_sql!(
                "UPDATE users SET recovery_code_hashes = $3 WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(user.to_string())
            .bind(hashes);
        update_one(tx, query).await
    }

    /// Whether the user must enrol an authenticator before doing anything else: the tenant
    /// requires a second factor and the user has none.
    pub async fn totp_enrolment_pending(&self, user: UserId) -> Result<bool, StoreError> {
        let read = self.read();
        let query = read
            .query(tenant_sql!(
                "SELECT u.totp_secret, t.settings FROM users u \
                 JOIN tenants t ON t.id = u.tenant_id WHERE u.tenant_id = $1 AND u.id = $2"
            ))
            .bind(user.to_string());
        let row = read
            .fetch_optional(query)
            .await?
            .ok_or(StoreError::not_found("user"))?;
        let secret: Option<Vec<u8>> = row.try_get("totp_secret")?;
        let settings = TenantSettings::from_row(&row)?;
        Ok(settings.require_2fa && secret.is_none())
    }

    /// Changes a user's role and whether it is disabled (`None` keeps the value), unless
    /// the tenant would be left without an enabled administrator: then nothing changes and
    /// the result is `false`. The check and the change are one transaction.
    pub async fn update_role_and_disabled(
        &self,
        user: UserId,
        role: Option<Role>,
        disabled: Option<bool>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let query = tx
            .query(tenant_sql!(
                "UPDATE users SET role = COALESCE($3, role), disabled = COALESCE($4, disabled) \
                 WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(user.to_string())
            .bind(role.map(|r| r.as_str().to_owned()))
            .bind(disabled);
        if tx.execute(query).await? == 0 {
            return Err(StoreError::not_found("user"));
        }

        let query = tx.query(tenant_sql!(
            "SELECT COUNT(*) AS admins FROM users \
             WHERE tenant_id = $1 AND role = 'admin' AND NOT disabled"
        ));
        let admins: i64 = match tx.fetch_optional(query).await? {
            Some(row) => row.try_get("admins")?,
            None => 0,
        };
        if admins == 0 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Removes the authenticator and the recovery codes.
    pub async fn clear_totp(&self, user: UserId) -> Result<(), StoreError> {
        let tx = self.write().await?;
        let query = tx
            .query(tenant_sql!(
                "UPDATE users SET totp_secret = NULL, totp_last_step = NULL, \
                 totp_pending_secret = NULL, recovery_code_hashes = '[]' \
                 WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(user.to_string());
        update_one(tx, query).await
    }

    /// Records the TOTP step a code just matched, if it is newer than the last one
    /// recorded; Conflict ([`Conflict::TotpReplay`]) otherwise, so that of two requests
    /// racing with one code only one succeeds.
    pub async fn record_totp_step(&self, user: UserId, step: TotpStep) -> Result<(), StoreError> {
        let step =
            i64::try_from(step.0).map_err(|_| StoreError::invalid("TOTP step", "too large"))?;

        let mut tx = self.write().await?;
        let query = tx
            .query(tenant_sql!(
                "UPDATE users SET totp_last_step = $3 WHERE tenant_id = $1 AND id = $2 \
                 AND (totp_last_step IS NULL OR totp_last_step < $3)"
            ))
            .bind(user.to_string())
            .bind(step);
        if tx.execute(query).await? == 1 {
            return tx.commit().await;
        }

        match self.exists(&mut tx, user).await? {
            true => Err(StoreError::Conflict(Conflict::TotpReplay)),
            false => Err(StoreError::not_found("user")),
        }
    }

    /// Spends a recovery code: if `code` matches one of the user's unused codes, that code
    /// is removed and the result is `true`. Read and rewrite happen in one transaction, so
    /// a code works once even when submitted twice at the same moment.
    pub async fn redeem_recovery_code(&self, user: UserId, code: &str) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let query = tx
            .query(tenant_sql!(
                "SELECT recovery_code_hashes FROM users WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(user.to_string());
        let row = tx
            .fetch_optional(query)
            .await?
            .ok_or(StoreError::not_found("user"))?;
        let mut hashes = recovery_hashes_from_row(&row)?;
        if !totp::redeem(code, &mut hashes) {
            return Ok(false);
        }

        let query = tx
            .query(tenant_sql!(
                "UPDATE users SET recovery_code_hashes = $3 WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(user.to_string())
            .bind(recovery_hashes_to_json(&hashes)?);
        update_one(tx, query).await?;
        Ok(true)
    }

    /// Whether the user exists in this tenant, inside a transaction.
    async fn exists(&self, tx: &mut ScopedTx, user: UserId) -> Result<bool, StoreError> {
        let query = tx
            .query(tenant_sql!(
                "SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(user.to_string());
        Ok(tx.fetch_optional(query).await?.is_some())
    }

    fn read(&self) -> ScopedRead<'a> {
        self.db.scoped_read(self.tenant)
    }

    async fn write(&self) -> Result<ScopedTx, StoreError> {
        self.db.scoped_write(self.tenant).await
    }
}

/// Runs an update of one user's row and commits it; NotFound if no row matched.
async fn update_one(mut tx: ScopedTx, query: ScopedQuery<'_>) -> Result<(), StoreError> {
    match tx.execute(query).await? {
        0 => Err(StoreError::not_found("user")),
        _ => tx.commit().await,
    }
}
