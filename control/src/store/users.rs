//! One tenant's users: administrators and agents, their passwords and second factors.
//!
//! A user of another tenant is NotFound here, for reads and writes alike.

use super::db::{tenant_sql, Db, ScopedQuery, ScopedRead, ScopedTx};
use super::error::{classify, Conflict, StoreError};
use super::model::{
    normalise_email, recovery_hashes_from_row, recovery_hashes_to_json, unix_now, Role, TenantId,
    User, UserId,
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

    /// Removes the authenticator and the recovery codes.
    pub async fn clear_totp(&self, user: UserId) -> Result<(), StoreError> {
        let tx = self.write().await?;
        let query = tx
            .query(tenant_sql!(
                "UPDATE users SET totp_secret = NULL, totp_last_step = NULL, \
                 recovery_code_hashes = '[]' WHERE tenant_id = $1 AND id = $2"
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
