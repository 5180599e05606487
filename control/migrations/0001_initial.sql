-- Tenants, their users, signed-in users' bearer tokens and support sessions.
--
-- Portable SQL: TEXT, BIGINT and BOOLEAN mean the same in SQLite and PostgreSQL; only
-- users.totp_secret (BLOB) needs BYTEA in a PostgreSQL copy of this file.
-- Ids are random UUID v4 text; times are Unix seconds; token, PIN and recovery-code
-- digests are SHA-256 as 64 lowercase hex digits.

CREATE TABLE tenants (
    id                     TEXT    NOT NULL PRIMARY KEY,
    name                   TEXT    NOT NULL UNIQUE,
    created_at             BIGINT  NOT NULL,
    subscription_ended_at  BIGINT,
    settings               TEXT    NOT NULL
        DEFAULT '{"require_2fa":false,"support_key_validity_secs":600}'
);

CREATE TABLE users (
    id                    TEXT     NOT NULL PRIMARY KEY,
    tenant_id             TEXT     NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email                 TEXT     NOT NULL UNIQUE,
    role                  TEXT     NOT NULL CHECK (role IN ('admin', 'agent')),
    password_hash         TEXT     NOT NULL,
    -- Stored in clear for now; encryption at rest comes with key management.
    totp_secret           BLOB,
    totp_last_step        BIGINT,
    recovery_code_hashes  TEXT     NOT NULL DEFAULT '[]',
    disabled              BOOLEAN  NOT NULL DEFAULT FALSE,
    created_at            BIGINT   NOT NULL,
    -- Target of the composite foreign keys below: a token's or a session's user must
    -- belong to the row's own tenant.
    UNIQUE (tenant_id, id)
);

CREATE TABLE auth_tokens (
    token_hash  TEXT    NOT NULL PRIMARY KEY,
    user_id     TEXT    NOT NULL,
    tenant_id   TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    revoked_at  BIGINT,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX auth_tokens_by_user ON auth_tokens (tenant_id, user_id);
CREATE INDEX auth_tokens_by_expiry ON auth_tokens (expires_at);

CREATE TABLE support_sessions (
    id               TEXT    NOT NULL PRIMARY KEY,
    tenant_id        TEXT    NOT NULL,
    agent_id         TEXT    NOT NULL,
    customer_name    TEXT,
    external_ref     TEXT,
    pin_hash         TEXT    NOT NULL,
    join_token_hash  TEXT    NOT NULL UNIQUE,
    key_expires_at   BIGINT  NOT NULL,
    joined_at        BIGINT,
    state            TEXT    NOT NULL DEFAULT 'waiting'
        CHECK (state IN ('waiting', 'active', 'held', 'ended')),
    created_at       BIGINT  NOT NULL,
    ended_at         BIGINT,
    end_reason       TEXT,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

-- A PIN names one session among those a customer can still join.
CREATE UNIQUE INDEX support_sessions_open_pin ON support_sessions (pin_hash)
    WHERE state = 'waiting' AND joined_at IS NULL;
CREATE INDEX support_sessions_by_tenant ON support_sessions (tenant_id, created_at);
CREATE INDEX support_sessions_by_agent ON support_sessions (tenant_id, agent_id, created_at);
CREATE INDEX support_sessions_by_external_ref ON support_sessions (tenant_id, external_ref);
