//! Bearer tokens of one tenant's signed-in users, stored as their SHA-256 digests.
//!
//! Issuing and revoking a user's tokens is scoped here; looking a presented token up and
//! signing out with it name no tenant and live in [`super::global`].

use super::db::{tenant_sql, Db, ScopedTx};
use super::error::{classify, Conflict, StoreError};
use super::model::{unix_now, TenantId, UserId};
use crate::auth::token::TokenHash;

/// The bearer tokens of one tenant; made by [`super::TenantScope::tokens`].
#[derive(Debug, Clone, Copy)]
pub struct Tokens<'a> {
    db: &'a Db,
    tenant: TenantId,
}

impl<'a> Tokens<'a> {
    pub(super) fn new(db: &'a Db, tenant: TenantId) -> Self {
        Self { db, tenant }
    }

    /// Records a token issued to `user` at sign-in, valid until `expires_at`. NotFound if
    /// the user is not one of this tenant's.
    pub async fn insert(
        &self,
        hash: &TokenHash,
        user: UserId,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let query = tx
            .query(tenant_sql!(
                "INSERT INTO auth_tokens (tenant_id, token_hash, user_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)"
            ))
            .bind(hash.to_hex())
            .bind(user.to_string())
            .bind(unix_now())
            .bind(expires_at);
        tx.execute(query)
            .await
            .map_err(|e| classify(e, &[("auth_tokens", Conflict::Token)], "user"))?;
        tx.commit().await
    }

    /// Revokes every live token of `user` (password reset, disabling); returns how many.
    pub async fn revoke_all_for_user(&self, user: UserId) -> Result<u64, StoreError> {
        let mut tx = self.write().await?;
        let query = tx
            .query(tenant_sql!(
                "UPDATE auth_tokens SET revoked_at = $3 \
                 WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL"
            ))
            .bind(user.to_string())
            .bind(unix_now());
        let revoked = tx.execute(query).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    async fn write(&self) -> Result<ScopedTx, StoreError> {
        self.db.scoped_write(self.tenant).await
    }
}
