//! One tenant's view of the store: the only way to reach tenant-owned rows.
//!
//! A [`TenantScope`] is made from a tenant id that an earlier lookup returned (a bearer
//! token's owner, for instance); its users, tokens and sessions handles carry that id into
//! every query, so another tenant's rows can be neither read nor changed through it.

use super::db::{tenant_sql, Db, ScopedRead, ScopedTx};
use super::error::StoreError;
use super::model::{Tenant, TenantId, TenantSettings};
use super::sessions::Sessions;
use super::tokens::Tokens;
use super::users::Users;

/// The store seen by one tenant. Cheap to make; holds no connection.
#[derive(Debug, Clone, Copy)]
pub struct TenantScope<'a> {
    db: &'a Db,
    tenant: TenantId,
}

impl<'a> TenantScope<'a> {
    pub(super) fn new(db: &'a Db, tenant: TenantId) -> Self {
        Self { db, tenant }
    }

    /// The tenant this scope is bound to.
    pub fn id(&self) -> TenantId {
        self.tenant
    }

    /// The tenant's users.
    pub fn users(&self) -> Users<'a> {
        Users::new(self.db, self.tenant)
    }

    /// The bearer tokens of the tenant's users.
    pub fn tokens(&self) -> Tokens<'a> {
        Tokens::new(self.db, self.tenant)
    }

    /// The tenant's support sessions.
    pub fn sessions(&self) -> Sessions<'a> {
        Sessions::new(self.db, self.tenant)
    }

    /// The tenant's row.
    pub async fn get(&self) -> Result<Tenant, StoreError> {
        let read = self.read();
        let query = read.query(tenant_sql!(
            "SELECT id, name, created_at, subscription_ended_at, settings \
             FROM tenants WHERE id = $1"
        ));
        let row = read.fetch_optional(query).await?;
        row.as_ref()
            .map(Tenant::from_row)
            .transpose()?
            .ok_or(StoreError::not_found("tenant"))
    }

    /// Replaces the tenant's settings.
    pub async fn set_settings(&self, settings: &TenantSettings) -> Result<(), StoreError> {
        let json = settings.to_json()?;

        let mut tx = self.write().await?;
        let query = tx
            .query(tenant_sql!(
                "UPDATE tenants SET settings = $2 WHERE id = $1"
            ))
            .bind(json);
        match tx.execute(query).await? {
            0 => Err(StoreError::not_found("tenant")),
            _ => tx.commit().await,
        }
    }

    fn read(&self) -> ScopedRead<'a> {
        self.db.scoped_read(self.tenant)
    }

    async fn write(&self) -> Result<ScopedTx, StoreError> {
        self.db.scoped_write(self.tenant).await
    }
}
