-- API tokens: long-lived credentials for programs, so that scripts and downstream systems
-- stop borrowing a person's session. Only the SHA-256 of a token is kept; the token is
-- shown once, when it is made. A token acts for its person, capped by its scope, and
-- optionally as one of their teams; it ends when revoked, at its expiry, or with its
-- person's account.
CREATE TABLE api_tokens (
    id            uuid        PRIMARY KEY,
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text        NOT NULL CHECK (name <> ''),
    read_only     boolean     NOT NULL,
    team_id       uuid        REFERENCES teams (id) ON DELETE CASCADE,
    token_hash    bytea       NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);
