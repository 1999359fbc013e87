-- Webhooks (crate `webhooks`): endpoints that receive signed deliveries, the delivery
-- queue, and every attempt made. Secrets and extra headers (which often carry auth
-- tokens) are stored only as AES-256-GCM ciphertext (nonce followed by ciphertext), bound
-- to their endpoint; the key never touches the database.
CREATE TABLE webhook_endpoints (
    id                    uuid        PRIMARY KEY,
    -- a user or a team; who may see or change the endpoint is decided by the caller
    owner                 uuid        NOT NULL,
    description           text        NOT NULL DEFAULT '',
    url                   text        NOT NULL CHECK (url ~ '^https?://'),
    -- the extra headers' names, for display; their values are only in `headers`
    header_names          text[]      NOT NULL DEFAULT '{}',
    headers               bytea,
    secret                bytea       NOT NULL,
    enabled               boolean     NOT NULL DEFAULT true,
    disabled_reason       text,
    -- failed attempts in a row, and when the first of them was made; a success resets both
    consecutive_failures  integer     NOT NULL DEFAULT 0,
    failing_since         timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_by_owner ON webhook_endpoints (owner);

-- One row per message for an endpoint: enqueueing the same message again is a no-op.
-- The webhook-id sent is derived from `id`, so it is the same on every attempt.
CREATE TABLE webhook_deliveries (
    id               uuid        PRIMARY KEY,
    endpoint_id      uuid        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    message_id       text        NOT NULL CHECK (length(message_id) BETWEEN 1 AND 200),
    event_type       text        NOT NULL CHECK (length(event_type) BETWEEN 1 AND 200),
    body             jsonb       NOT NULL,
    state            text        NOT NULL DEFAULT 'pending'
                                 CHECK (state IN ('pending', 'delivered', 'failed', 'cancelled')),
    -- every attempt ever made (numbers the attempts), and those since it was last queued
    -- (where it stands in the retry schedule; a redelivery starts the schedule again)
    attempts         integer     NOT NULL DEFAULT 0,
    round_attempts   integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    -- a worker's claim: nobody else sends the delivery until it ends or `locked_until`
    -- passes (the worker died mid-request)
    lease            uuid,
    locked_until     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (endpoint_id, message_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id DESC);

CREATE TABLE webhook_attempts (
    delivery_id  uuid        NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt      integer     NOT NULL,
    at           timestamptz NOT NULL,
    -- null when no answer came (timeout, connection refused, address refused)
    status_code  integer,
    latency_ms   integer     NOT NULL,
    error        text,
    PRIMARY KEY (delivery_id, attempt)
);
