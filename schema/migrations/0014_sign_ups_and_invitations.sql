-- Sign-ups verified by e-mail (MAESTRO_SIGN_UP=verified): the account is made when the
-- link in the mail is opened, so that asking tells nothing about which addresses have
-- accounts. Only the token's SHA-256 is kept.
CREATE TABLE pending_sign_ups (
    token_hash     bytea       PRIMARY KEY,
    email          text        NOT NULL CHECK (email = lower(email) AND email <> ''),
    name           text        NOT NULL,
    password_hash  text        NOT NULL,
    expires_at     timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pending_sign_ups_by_expiry ON pending_sign_ups (expires_at);

-- Invitations to teams, by e-mail address: whoever holds the address (now, or once they
-- sign up) accepts or declines; an admin inviting an address learns nothing about
-- whether it has an account.
CREATE TABLE team_invitations (
    team_id     uuid        NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    email       text        NOT NULL CHECK (email = lower(email) AND email <> ''),
    role        text        NOT NULL CHECK (role IN ('read', 'write', 'admin')),
    invited_by  uuid        REFERENCES users (id) ON DELETE SET NULL,
    invited_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, email)
);
CREATE INDEX team_invitations_by_email ON team_invitations (email);
