//! One tenant's support sessions and their life: waiting, active or held, ended.
//!
//! A session is created `waiting` with the digests of its PIN and join token, which work
//! until `key_expires_at`; [`Sessions::mark_joined`] makes it `active` once, after which
//! only [`Sessions::set_state`] (active and held) and [`Sessions::end`] change it. The
//! customer's lookups by PIN or join token name no tenant and live in [`super::global`].

use super::db::{tenant_sql, Db, ScopedQuery, ScopedRead, ScopedTx};
use super::error::{classify, Conflict, StoreError};
use super::global::session_columns;
use crate::auth::token::TokenHash;

use super::model::{
    check_optional_text, unix_now, NewSupportSession, SessionFilter, SessionId, SessionState,
    SupportSession, TenantId, UserId,
};

/// The support sessions of one tenant; made by [`super::TenantScope::sessions`].
#[derive(Debug, Clone, Copy)]
pub struct Sessions<'a> {
    db: &'a Db,
    tenant: TenantId,
}

impl<'a> Sessions<'a> {
    pub(super) fn new(db: &'a Db, tenant: TenantId) -> Self {
        Self { db, tenant }
    }

    /// Opens a session for `new.agent`, a user of this tenant (NotFound otherwise).
    /// Conflict ([`Conflict::Pin`]) if an open session has the same PIN: draw another.
    /// An unjoined session of this tenant whose key expired with that PIN is ended first.
    pub async fn create(&self, new: &NewSupportSession) -> Result<SessionId, StoreError> {
        new.check()?;
        let id = SessionId::random();
        let now = unix_now();

        let mut tx = self.write().await?;
        let stale = tx
            .query(tenant_sql!(
                "UPDATE support_sessions SET state = 'ended', ended_at = $3, \
                 end_reason = 'key_expired' WHERE tenant_id = $1 AND pin_hash = $2 \
                 AND state = 'waiting' AND joined_at IS NULL AND key_expires_at <= $3"
            ))
            .bind(new.pin_hash.to_hex())
            .bind(now);
        tx.execute(stale).await?;

        let insert = tx
            .query(tenant_sql!(
                "INSERT INTO support_sessions (tenant_id, id, agent_id, customer_name, \
                 external_ref, pin_hash, join_token_hash, key_expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ))
            .bind(id.to_string())
            .bind(new.agent.to_string())
            .bind(new.customer_name.clone())
            .bind(new.external_ref.clone())
            .bind(new.pin_hash.to_hex())
            .bind(new.join_token_hash.to_hex())
            .bind(new.key_expires_at)
            .bind(now);
        let conflicts = [("join_token", Conflict::JoinToken), ("pin", Conflict::Pin)];
        tx.execute(insert)
            .await
            .map_err(|e| classify(e, &conflicts, "user"))?;
        tx.commit().await?;

        Ok(id)
    }

    /// One session.
    pub async fn get(&self, session: SessionId) -> Result<SupportSession, StoreError> {
        let read = self.read();
        let query = read
            .query(tenant_sql!(concat!(
                "SELECT ",
                session_columns!(),
                " FROM support_sessions WHERE tenant_id = $1 AND id = $2"
            )))
            .bind(session.to_string());
        let row = read.fetch_optional(query).await?;
        row.as_ref()
            .map(SupportSession::from_row)
            .transpose()?
            .ok_or(StoreError::not_found("session"))
    }

    /// The sessions that pass `filter`, newest first.
    pub async fn list(&self, filter: &SessionFilter) -> Result<Vec<SupportSession>, StoreError> {
        check_optional_text("external_ref", filter.external_ref.as_deref())?;

        let read = self.read();
        let query = read
            .query(tenant_sql!(concat!(
                "SELECT ",
                session_columns!(),
                " FROM support_sessions WHERE tenant_id = $1 \
                 AND ($2 IS NULL OR agent_id = $2) AND ($3 IS NULL OR external_ref = $3) \
                 ORDER BY created_at DESC, id"
            )))
            .bind(filter.agent.map(|agent| agent.to_string()))
            .bind(filter.external_ref.clone());
        let rows = read.fetch_all(query).await?;
        rows.iter().map(SupportSession::from_row).collect()
    }

    /// Records that the customer joined at `now`: the session becomes active. Conflict
    /// ([`Conflict::SessionState`]) if it is not waiting, was joined, or its key expired.
    pub async fn mark_joined(&self, session: SessionId, now: i64) -> Result<(), StoreError> {
        let tx = self.write().await?;
        let query = tx
            .query(tenant_sql!(
                "UPDATE support_sessions SET joined_at = $3, state = 'active' \
                 WHERE tenant_id = $1 AND id = $2 AND state = 'waiting' \
                 AND joined_at IS NULL AND key_expires_at > $3"
            ))
            .bind(session.to_string())
            .bind(now);
        self.update_one(tx, query, session).await
    }

    /// The customer joins with a PIN or join link at `now`: in one transaction the session
    /// becomes active (as [`Sessions::mark_joined`]) and the customer's bearer token, whose
    /// digest is `token`, is recorded until `token_expires_at`. Conflict if the session can
    /// no longer be joined; nothing is written then.
    pub async fn join_customer(
        &self,
        session: SessionId,
        token: &TokenHash,
        token_expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let joined = tx
            .query(tenant_sql!(
                "UPDATE support_sessions SET joined_at = $3, state = 'active' \
                 WHERE tenant_id = $1 AND id = $2 AND state = 'waiting' \
                 AND joined_at IS NULL AND key_expires_at > $3"
            ))
            .bind(session.to_string())
            .bind(now);
        if tx.execute(joined).await? != 1 {
            return Err(StoreError::Conflict(Conflict::SessionState));
        }
        let insert = tx
            .query(tenant_sql!(
                "INSERT INTO customer_tokens (tenant_id, token_hash, session_id, created_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5)"
            ))
            .bind(token.to_hex())
            .bind(session.to_string())
            .bind(now)
            .bind(token_expires_at);
        tx.execute(insert)
            .await
            .map_err(|e| classify(e, &[("customer_tokens", Conflict::Token)], "session"))?;
        tx.commit().await
    }

    /// Revokes every customer token of `session` (it ended); returns how many.
    pub async fn revoke_customer_tokens(&self, session: SessionId) -> Result<u64, StoreError> {
        let mut tx = self.write().await?;
        let query = tx
            .query(tenant_sql!(
                "UPDATE customer_tokens SET revoked_at = $3 \
                 WHERE tenant_id = $1 AND session_id = $2 AND revoked_at IS NULL"
            ))
            .bind(session.to_string())
            .bind(unix_now());
        let revoked = tx.execute(query).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    /// Records that `agent` (a user of this tenant) may watch `session`, invited by `by`.
    /// Inviting twice is not an error. NotFound if the session or agent is not this
    /// tenant's; Conflict if the session ended.
    pub async fn invite(
        &self,
        session: SessionId,
        agent: UserId,
        by: UserId,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let open = tx
            .query(tenant_sql!(
                "SELECT state FROM support_sessions WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(session.to_string());
        let Some(row) = tx.fetch_optional(open).await? else {
            return Err(StoreError::not_found("session"));
        };
        let state: String = sqlx::Row::try_get(&row, "state")?;
        if state == SessionState::Ended.as_str() {
            return Err(StoreError::Conflict(Conflict::SessionState));
        }
        let insert = tx
            .query(tenant_sql!(
                "INSERT INTO session_invites (tenant_id, session_id, agent_id, invited_by, \
                 created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
            ))
            .bind(session.to_string())
            .bind(agent.to_string())
            .bind(by.to_string())
            .bind(unix_now());
        tx.execute(insert)
            .await
            .map_err(|e| classify(e, &[], "user"))?;
        tx.commit().await
    }

    /// The agents invited to watch `session`.
    pub async fn invited(&self, session: SessionId) -> Result<Vec<UserId>, StoreError> {
        let read = self.read();
        let query = read
            .query(tenant_sql!(
                "SELECT agent_id FROM session_invites WHERE tenant_id = $1 AND session_id = $2 \
                 ORDER BY created_at"
            ))
            .bind(session.to_string());
        let rows = read.fetch_all(query).await?;
        rows.iter()
            .map(|row| UserId::from_row(row, "agent_id"))
            .collect()
    }

    /// The sessions `agent` was invited to watch, oldest invitation first.
    pub async fn invited_to(&self, agent: UserId) -> Result<Vec<SessionId>, StoreError> {
        let read = self.read();
        let query = read
            .query(tenant_sql!(
                "SELECT session_id FROM session_invites WHERE tenant_id = $1 AND agent_id = $2 \
                 ORDER BY created_at"
            ))
            .bind(agent.to_string());
        let rows = read.fetch_all(query).await?;
        rows.iter()
            .map(|row| SessionId::from_row(row, "session_id"))
            .collect()
    }

    /// Hands `session` to `agent` (a user of this tenant). NotFound if either is not this
    /// tenant's; Conflict if the session ended.
    pub async fn set_agent(&self, session: SessionId, agent: UserId) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let user = tx
            .query(tenant_sql!(
                "SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(agent.to_string());
        if tx.fetch_optional(user).await?.is_none() {
            return Err(StoreError::not_found("user"));
        }
        let query = tx
            .query(tenant_sql!(
                "UPDATE support_sessions SET agent_id = $3 \
                 WHERE tenant_id = $1 AND id = $2 AND state <> 'ended'"
            ))
            .bind(session.to_string())
            .bind(agent.to_string());
        self.update_one(tx, query, session).await
    }

    /// Moves a joined session between active and held. Invalid for any other target
    /// state (joining and ending have their own calls); Conflict if the session is not
    /// active or held.
    pub async fn set_state(
        &self,
        session: SessionId,
        state: SessionState,
    ) -> Result<(), StoreError> {
        if !matches!(state, SessionState::Active | SessionState::Held) {
            return Err(StoreError::invalid(
                "state",
                "only active and held can be set",
            ));
        }

        let tx = self.write().await?;
        let query = tx
            .query(tenant_sql!(
                "UPDATE support_sessions SET state = $3 \
                 WHERE tenant_id = $1 AND id = $2 AND state IN ('active', 'held')"
            ))
            .bind(session.to_string())
            .bind(state.as_str());
        self.update_one(tx, query, session).await
    }

    /// Ends a session for `reason` (free text, at most 200 characters). Conflict if it
    /// already ended.
    pub async fn end(&self, session: SessionId, reason: &str) -> Result<(), StoreError> {
        check_optional_text("end reason", Some(reason))?;

        let tx = self.write().await?;
        let query = tx
            .query(tenant_sql!(
                "UPDATE support_sessions SET state = 'ended', ended_at = $3, end_reason = $4 \
                 WHERE tenant_id = $1 AND id = $2 AND state <> 'ended'"
            ))
            .bind(session.to_string())
            .bind(unix_now())
            .bind(reason.to_owned());
        self.update_one(tx, query, session).await
    }

    /// Runs a guarded update of one session and commits it. If no row matched, tells
    /// NotFound (no such session in this tenant) from Conflict (its state forbids it).
    async fn update_one(
        &self,
        mut tx: ScopedTx,
        query: ScopedQuery<'_>,
        session: SessionId,
    ) -> Result<(), StoreError> {
        if tx.execute(query).await? == 1 {
            return tx.commit().await;
        }

        let exists = tx
            .query(tenant_sql!(
                "SELECT 1 FROM support_sessions WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(session.to_string());
        match tx.fetch_optional(exists).await? {
            Some(_) => Err(StoreError::Conflict(Conflict::SessionState)),
            None => Err(StoreError::not_found("session")),
        }
    }

    fn read(&self) -> ScopedRead<'a> {
        self.db.scoped_read(self.tenant)
    }

    async fn write(&self) -> Result<ScopedTx, StoreError> {
        self.db.scoped_write(self.tenant).await
    }
}
