-- Connection credentials, encrypted with AES-256-GCM under MAESTRO_CREDENTIALS_KEY. Never
-- in events, NATS, logs or GraphQL: events carry only `reference`.
CREATE TABLE connection_credentials (
    connection_id  uuid        PRIMARY KEY,
    reference      uuid        NOT NULL,
    nonce          bytea       NOT NULL,
    ciphertext     bytea       NOT NULL,
    stored_at      timestamptz NOT NULL DEFAULT now()
);
