//! Connections, transactions and the guard that keeps tenant queries scoped.
//!
//! The pools live in private fields here, out of reach of the modules that work on tenant
//! data ([`super::users`], [`super::tokens`], [`super::sessions`], [`super::scope`]). Those
//! modules get a [`ScopedRead`] or [`ScopedTx`] bound to one tenant, and both run only
//! [`TenantSql`], which the [`tenant_sql!`] macro checks at compile time to filter on
//! `tenant_id = $1` (or to insert `$1` as the row's `tenant_id`); the handle binds the
//! tenant as `$1` itself. An unscoped query on tenant data therefore does not compile there.
//! Lookups that by nature name no tenant (sign-in by email, a token, a PIN) use
//! [`Db::global_read`] and [`Db::global_write`], called only from [`super::global`].
//!
//! SQLite specifics stay in this file: one writer connection (writes queue in the pool,
//! not in SQLite's busy loop) that opens its transactions with `BEGIN IMMEDIATE`, and
//! read-only connections beside it, which WAL lets read while the writer writes.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::pool::PoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Database, Pool, Transaction};

use super::error::StoreError;
use super::model::TenantId;

/// The database the store runs on. PostgreSQL later: this alias, [`Db::open`] and the
/// `BLOB` column in the migration change; the queries use `$n` binds, which both accept.
pub(super) type Backend = sqlx::Sqlite;

/// A row of [`Backend`].
pub(super) type DbRow = <Backend as Database>::Row;

/// A query with its binds, before it runs.
pub(super) type Query<'q> = sqlx::query::Query<'q, Backend, <Backend as Database>::Arguments<'q>>;

/// How long a connection waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an operation waits for a free connection of the pool.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Read-only connections open at most.
const READERS: u32 = 4;

/// Takes the write lock at the start, so that a transaction that reads first never fails
/// to upgrade its lock when another process wrote in between.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// SQL on tenant-owned tables whose first bind, `$1`, is the tenant id. Make one with
/// [`tenant_sql!`].
#[derive(Clone, Copy)]
pub(super) struct TenantSql(&'static str);

impl TenantSql {
    /// Accepts `sql` if it filters on `tenant_id = $1`, inserts `$1` as the first column,
    /// `tenant_id`, or reads or updates the tenant's own row (`tenants ... WHERE id = $1`
    /// at the end); panics otherwise, which in the `const` that [`tenant_sql!`] makes is a
    /// compile error.
    pub(super) const fn new(sql: &'static str) -> Self {
        let filters = contains_bind(sql, "tenant_id = $1");
        let inserts = starts_with(sql, "INSERT INTO ")
            && contains(sql, " (tenant_id, ")
            && contains(sql, "VALUES ($1, ");
        let own_row = (starts_with(sql, "UPDATE tenants SET ")
            || contains(sql, " FROM tenants WHERE id = $1"))
            && ends_with(sql, " WHERE id = $1");
        assert!(
            filters || inserts || own_row,
            "tenant SQL must be scoped by tenant_id = $1"
        );
        Self(sql)
    }
}

/// Checks tenant-scoped SQL at compile time; see [`TenantSql`].
macro_rules! tenant_sql {
    ($sql:expr) => {{
        const SQL: $crate::store::db::TenantSql = $crate::store::db::TenantSql::new($sql);
        SQL
    }};
}
pub(super) use tenant_sql;

/// Whether `haystack` starts with `needle`, in a `const` context.
const fn starts_with(haystack: &str, needle: &str) -> bool {
    matches_at(haystack.as_bytes(), needle.as_bytes(), 0)
}

/// Whether `haystack` ends with `needle`, in a `const` context.
const fn ends_with(haystack: &str, needle: &str) -> bool {
    haystack.len() >= needle.len()
        && matches_at(
            haystack.as_bytes(),
            needle.as_bytes(),
            haystack.len() - needle.len(),
        )
}

/// Whether `haystack` contains `needle`, in a `const` context.
const fn contains(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    let mut start = 0;
    while start + n.len() <= h.len() {
        if matches_at(h, n, start) {
            return true;
        }
        start += 1;
    }
    false
}

/// Whether `haystack` contains `needle` not followed by a digit (`$1`, not `$12`).
const fn contains_bind(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    let mut start = 0;
    while start + n.len() <= h.len() {
        let end = start + n.len();
        if matches_at(h, n, start) && (end == h.len() || !h[end].is_ascii_digit()) {
            return true;
        }
        start += 1;
    }
    false
}

/// Whether `needle` occurs in `haystack` at `start`.
const fn matches_at(haystack: &[u8], needle: &[u8], start: usize) -> bool {
    if start + needle.len() > haystack.len() {
        return false;
    }
    let mut i = 0;
    while i < needle.len() {
        if haystack[start + i] != needle[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A [`TenantSql`] query with the tenant bound as `$1`; add the other binds in order.
pub(super) struct ScopedQuery<'q>(Query<'q>);

impl<'q> ScopedQuery<'q> {
    fn new(sql: TenantSql, tenant: TenantId) -> Self {
        Self(sqlx::query(sql.0).bind(tenant.to_string()))
    }

    /// Binds the next parameter.
    pub(super) fn bind<T>(self, value: T) -> Self
    where
        T: 'q + Send + sqlx::Encode<'q, Backend> + sqlx::Type<Backend>,
    {
        Self(self.0.bind(value))
    }
}

/// The pools; private fields, so only this module and [`super::global`] (through
/// [`Db::global_read`] and [`Db::global_write`]) reach the database unscoped.
#[derive(Debug)]
pub(super) struct Db {
    writer: Pool<Backend>,
    reader: Pool<Backend>,
}

impl Db {
    /// Opens (creating if missing) the database file at `path` and applies the migrations.
    pub(super) async fn open(path: &Path) -> Result<Self, StoreError> {
        let base = SqliteConnectOptions::new()
            .filename(path)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // FULL, not NORMAL: in WAL mode NORMAL already survives a killed process, but may
        // lose the last commits on power loss; a revoked token must not come back, and
        // the control plane writes a few rows a second at most, so an fsync per commit is
        // cheap.
        let writer_options = base
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        let writer = single_connection().connect_with(writer_options).await?;
        migrator().await?.run(&writer).await?;

        let reader = PoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(base.read_only(true))
            .await?;
        Ok(Self { writer, reader })
    }

    /// A private in-memory database with the migrations applied; one connection serves
    /// reads and writes, since each connection to `:memory:` would see its own database.
    pub(super) async fn open_in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true);
        let pool = single_connection().connect_with(options).await?;
        migrator().await?.run(&pool).await?;
        Ok(Self {
            writer: pool.clone(),
            reader: pool,
        })
    }

    /// Waits for the connections to close.
    pub(super) async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Reads tenant data of `tenant` only.
    pub(super) fn scoped_read(&self, tenant: TenantId) -> ScopedRead<'_> {
        ScopedRead { db: self, tenant }
    }

    /// Starts a write transaction on tenant data of `tenant` only.
    pub(super) async fn scoped_write(&self, tenant: TenantId) -> Result<ScopedTx, StoreError> {
        Ok(ScopedTx {
            tx: self.global_write().await?,
            tenant,
        })
    }

    /// The read pool, for lookups that name no tenant. Only [`super::global`] calls this.
    pub(super) fn global_read(&self) -> &Pool<Backend> {
        &self.reader
    }

    /// A write transaction for operations that name no tenant or create one. Only
    /// [`super::global`] and [`Db::scoped_write`] call this. Dropped without commit, it
    /// rolls back.
    pub(super) async fn global_write(&self) -> Result<Transaction<'static, Backend>, StoreError> {
        Ok(self.writer.begin_with(BEGIN_WRITE).await?)
    }
}

/// A pool of one connection that stays open for the store's lifetime.
fn single_connection() -> PoolOptions<Backend> {
    PoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(None)
        .max_lifetime(None)
}

/// Reads of one tenant's data.
pub(super) struct ScopedRead<'a> {
    db: &'a Db,
    tenant: TenantId,
}

impl ScopedRead<'_> {
    /// Starts a query; the tenant is bound as `$1`.
    pub(super) fn query(&self, sql: TenantSql) -> ScopedQuery<'static> {
        ScopedQuery::new(sql, self.tenant)
    }

    /// Runs `query` and returns its row, if any.
    pub(super) async fn fetch_optional(
        &self,
        query: ScopedQuery<'_>,
    ) -> Result<Option<DbRow>, StoreError> {
        Ok(query.0.fetch_optional(&self.db.reader).await?)
    }

    /// Runs `query` and returns all its rows.
    pub(super) async fn fetch_all(&self, query: ScopedQuery<'_>) -> Result<Vec<DbRow>, StoreError> {
        Ok(query.0.fetch_all(&self.db.reader).await?)
    }
}

/// A write transaction on one tenant's data. Dropped without [`ScopedTx::commit`], it
/// rolls back.
pub(super) struct ScopedTx {
    tx: Transaction<'static, Backend>,
    tenant: TenantId,
}

impl ScopedTx {
    /// Starts a query; the tenant is bound as `$1`.
    pub(super) fn query(&self, sql: TenantSql) -> ScopedQuery<'static> {
        ScopedQuery::new(sql, self.tenant)
    }

    /// Runs `query` and returns how many rows it changed.
    pub(super) async fn execute(&mut self, query: ScopedQuery<'_>) -> Result<u64, sqlx::Error> {
        Ok(query.0.execute(&mut *self.tx).await?.rows_affected())
    }

    /// Runs `query` and returns its row, if any.
    pub(super) async fn fetch_optional(
        &mut self,
        query: ScopedQuery<'_>,
    ) -> Result<Option<DbRow>, StoreError> {
        Ok(query.0.fetch_optional(&mut *self.tx).await?)
    }

    /// Makes the transaction's writes durable.
    pub(super) async fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }
}

/// The migrations in `control/migrations/`, compiled into the binary.
///
/// Listed by hand rather than with `sqlx::migrate!`, whose proc-macro crate would build
/// SQLite and the PostgreSQL driver a second time for the host; a unit test checks that
/// this list and the directory agree.
pub(super) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/0001_initial.sql"),
    ),
    (
        2,
        "customers_invites_unlock",
        include_str!("../../migrations/0002_customers_invites_unlock.sql"),
    ),
    (
        3,
        "totp_enrolment",
        include_str!("../../migrations/0003_totp_enrolment.sql"),
    ),
];

/// The future type sqlx's [`MigrationSource`] returns.
type BoxFuture<'s, T> = Pin<Box<dyn Future<Output = T> + Send + 's>>;

/// [`MIGRATIONS`] as a source for sqlx's migrator.
#[derive(Debug)]
struct Embedded;

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        description.into(),
                        MigrationType::Simple,
                        sql.into(),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// sqlx's migrator over [`MIGRATIONS`]; it records applied versions and their checksums
/// in `_sqlx_migrations` and refuses to start if an applied migration was edited.
async fn migrator() -> Result<Migrator, StoreError> {
    Ok(Migrator::new(Embedded).await?)
}
