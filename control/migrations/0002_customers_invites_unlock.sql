-- Customers' bearer tokens, invitations to watch a session, and operator unlocks.
--
-- Same conventions as 0001: portable SQL, random UUID v4 text ids, Unix seconds, SHA-256
-- digests as 64 lowercase hex digits.

-- A customer holds a token for exactly one support session, obtained with its PIN or join
-- link; it stops working when revoked (the session ended) or expired.
CREATE TABLE customer_tokens (
    token_hash  TEXT    NOT NULL PRIMARY KEY,
    tenant_id   TEXT    NOT NULL,
    session_id  TEXT    NOT NULL REFERENCES support_sessions (id) ON DELETE CASCADE,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    revoked_at  BIGINT
);

CREATE INDEX customer_tokens_by_session ON customer_tokens (tenant_id, session_id);

-- Agents of the session's tenant invited to watch it.
CREATE TABLE session_invites (
    tenant_id   TEXT    NOT NULL,
    session_id  TEXT    NOT NULL REFERENCES support_sessions (id) ON DELETE CASCADE,
    agent_id    TEXT    NOT NULL,
    invited_by  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (session_id, agent_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

-- When the operator last lifted a sign-in lock of the user (`sightline user unlock`): a
-- lock that began before it no longer holds.
ALTER TABLE users ADD COLUMN lock_cleared_at BIGINT;
