//! Persistent state of the control plane: tenants, users, bearer tokens, support sessions.
//!
//! SQLite in WAL mode through sqlx, so that PostgreSQL can replace it later (the private
//! `db` module says what changes). Queries are plain `sqlx::query` with `$n` binds, never the
//! compile-time-checked macros, which would need a live database at build time. The
//! schema is in `control/migrations/`, compiled into the binary and applied by
//! [`Store::open`].
//!
//! Guarantees:
//! - Every write runs in a transaction: an operation that fails leaves nothing behind.
//! - A commit survives a killed process, and power loss where the disk honours fsync (WAL
//!   with `synchronous = FULL`: the WAL is synced at every commit).
//! - Every tenant-owned row carries its tenant id, and tenant data is reached only through
//!   a [`TenantScope`], whose queries cannot compile without the tenant filter (the
//!   private `tenant_sql!` macro). Lookups that name no tenant are [`Store`] methods (sign-in
//!   by email, a bearer token, a PIN or join token): they return the tenant id with the row.
//! - Emails are trimmed and lowercased ([`normalise_email`]) and unique across tenants.
//!
//! Secrets are stored as what [`crate::auth`] makes of them: Argon2id hashes for passwords,
//! SHA-256 digests for tokens, PINs and recovery codes. The TOTP secret is stored in clear:
//! encryption at rest comes later, with key management.
//!
//! ```no_run
//! # use sightline_control::store::{Store, StoreError, TenantId};
//! # async fn example(store: &Store, tenant: TenantId) -> Result<(), StoreError> {
//! let users = store.tenant(tenant).users().list().await?;
//! # Ok(()) }
//! ```

mod db;
mod error;
mod global;
mod model;
mod scope;
mod sessions;
mod tokens;
mod users;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use error::{Conflict, StoreError};
pub use model::{
    normalise_email, CustomerTokenOwner, LoginUser, NewSupportSession, Role, SessionFilter,
    SessionId, SessionState, SupportSession, Tenant, TenantId, TenantSettings, TokenOwner, User,
    UserId,
};
pub use scope::TenantScope;
pub use sessions::Sessions;
pub use tokens::Tokens;
pub use users::Users;

/// The control plane's database. Cheap to share behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Store {
    db: db::Db,
}

impl Store {
    /// Opens the database file at `path`, creating it and its parent directory if missing,
    /// in WAL mode with foreign keys on and a busy timeout, and applies pending migrations.
    ///
    /// A new directory is made readable by its owner only (0700) and a new file likewise
    /// (0600); SQLite gives its `-wal` and `-shm` files the file's permissions.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        create_private(path).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        Ok(Store {
            db: db::Db::open(path).await?,
        })
    }

    /// A fresh database in memory, for tests; gone when the store is dropped.
    pub async fn open_in_memory() -> Result<Store, StoreError> {
        Ok(Store {
            db: db::Db::open_in_memory().await?,
        })
    }

    /// Closes the connections, waiting for running operations. Dropping the store without
    /// it loses nothing committed.
    pub async fn close(self) {
        self.db.close().await;
    }

    /// The store as seen by one tenant: its users, tokens and sessions, and no one else's.
    pub fn tenant(&self, tenant: TenantId) -> TenantScope<'_> {
        TenantScope::new(&self.db, tenant)
    }
}

/// Creates the parent directories of `path` (0700) and the file itself (0600) if missing.
fn create_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut dir = std::fs::DirBuilder::new();
        dir.recursive(true);
        #[cfg(unix)]
        dir.mode(0o700);
        dir.create(parent)?;
    }

    let mut file = std::fs::OpenOptions::new();
    file.write(true).create(true).truncate(false);
    #[cfg(unix)]
    file.mode(0o600);
    file.open(path).map(drop)
}
