-- People and teams (identity crate). Plain tables, not event-sourced: password hashes and
-- reset tokens must never reach the event log, NATS or the read models.

CREATE TABLE users (
    id             uuid        PRIMARY KEY,
    -- Lower-cased by the application (Email::parse); the CHECK keeps it so, which makes
    -- the UNIQUE constraint case-insensitive.
    email          text        NOT NULL UNIQUE CHECK (email = lower(email) AND email <> ''),
    name           text        NOT NULL DEFAULT '',
    -- argon2id in PHC string form.
    password_hash  text        NOT NULL,
    -- In every session token; bumped by a password change or reset, which voids the
    -- tokens issued before.
    token_version  integer     NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE teams (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL CHECK (name <> ''),
    created_by  uuid        REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE team_members (
    team_id   uuid        NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id   uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- domain::Level
    role      text        NOT NULL CHECK (role IN ('read', 'write', 'admin')),
    added_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_id)
);
-- A person's memberships are read on every authenticated request.
CREATE INDEX team_members_by_user ON team_members (user_id);

CREATE TABLE password_resets (
    -- SHA-256 of the token sent by mail; the token itself is never stored.
    token_hash  bytea       PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_resets_by_user ON password_resets (user_id);

-- Failed log-ins (and reset mails sent), per key: `email:<address>`, `ip:<client>`,
-- `reset:<address>`. Rate limits count the rows of a key within their window.
CREATE TABLE login_failures (
    key        text        NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_by_key ON login_failures (key, failed_at);
