//! Errors of the store, typed by who is at fault.
//!
//! [`StoreError::NotFound`], [`StoreError::Conflict`] and [`StoreError::Invalid`] are the
//! caller's (HTTP 404, 409 and 400); [`StoreError::Database`] and [`StoreError::Corrupt`]
//! are ours (HTTP 500). No variant echoes a submitted value.

use sqlx::error::ErrorKind;

/// What already exists, or what state forbids a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// Another tenant has this name.
    TenantName,
    /// A user of any tenant has this email.
    Email,
    /// A session a customer can still join has this PIN: draw another.
    Pin,
    /// A session with this join token exists: draw another.
    JoinToken,
    /// A bearer token with this digest exists: draw another.
    Token,
    /// The session's state forbids the change (ended, already joined, key expired).
    SessionState,
    /// The TOTP step is not newer than the last one accepted: a replayed code.
    TotpReplay,
}

impl Conflict {
    fn describe(self) -> &'static str {
        match self {
            Conflict::TenantName => "a tenant with this name exists",
            Conflict::Email => "a user with this email exists",
            Conflict::Pin => "an open session has this PIN",
            Conflict::JoinToken => "a session has this join token",
            Conflict::Token => "a token with this digest exists",
            Conflict::SessionState => "the session's state forbids this change",
            Conflict::TotpReplay => "this TOTP step was already used",
        }
    }
}

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row in the caller's scope: `what` names it ("tenant", "user", "session",
    /// "token"). Another tenant's row is reported the same way, so it cannot be probed for.
    #[error("{what} not found")]
    NotFound {
        /// The kind of row that was looked for.
        what: &'static str,
    },

    /// The write clashes with a row that exists or with a row's state.
    #[error("conflict: {}", .0.describe())]
    Conflict(Conflict),

    /// The caller passed a value the store refuses (an email without `@`, an empty name).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The argument at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The database failed: I/O, a lock held too long, a closed pool, a failed migration.
    #[error("database failure: {0}")]
    Database(#[source] sqlx::Error),

    /// A stored value cannot be read back (bad JSON, bad id): our bug or a tampered file.
    #[error("stored {0} is corrupt")]
    Corrupt(&'static str),
}

impl StoreError {
    /// Shorthand for [`StoreError::NotFound`].
    pub(super) fn not_found(what: &'static str) -> Self {
        StoreError::NotFound { what }
    }

    /// Shorthand for [`StoreError::Invalid`].
    pub(super) fn invalid(field: &'static str, reason: &'static str) -> Self {
        StoreError::Invalid { field, reason }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::Database(err)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        StoreError::Database(sqlx::Error::Migrate(Box::new(err)))
    }
}

/// What a failed statement violated, for the caller to map to its own meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Violation {
    /// A unique index or primary key; the text names the table and column (SQLite) or the
    /// constraint (PostgreSQL).
    Unique,
    /// A foreign key: the referenced row does not exist (in this tenant).
    ForeignKey,
}

/// Sorts a failed statement's error: a constraint violation, or anything else.
pub(super) fn violation(err: &sqlx::Error) -> Option<(Violation, String)> {
    let db = err.as_database_error()?;
    let what = match db.kind() {
        ErrorKind::UniqueViolation => Violation::Unique,
        ErrorKind::ForeignKeyViolation => Violation::ForeignKey,
        _ => return None,
    };
    let detail = db.constraint().unwrap_or_else(|| db.message()).to_owned();
    Some((what, detail))
}

/// Maps a unique violation whose detail mentions one of `columns` to its conflict, a
/// foreign-key violation to "`missing` not found", and passes anything else through.
pub(super) fn classify(
    err: sqlx::Error,
    columns: &[(&str, Conflict)],
    missing: &'static str,
) -> StoreError {
    match violation(&err) {
        Some((Violation::Unique, detail)) => columns
            .iter()
            .find(|(column, _)| detail.contains(column))
            .map_or(StoreError::Database(err), |(_, conflict)| {
                StoreError::Conflict(*conflict)
            }),
        Some((Violation::ForeignKey, _)) => StoreError::not_found(missing),
        None => StoreError::Database(err),
    }
}
