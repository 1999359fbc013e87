-- The event log: the only source of truth. Everything else is derived from it.
CREATE TABLE events (
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    stream_type     text        NOT NULL,
    stream_id       uuid        NOT NULL,
    stream_version  bigint      NOT NULL CHECK (stream_version > 0),
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    -- Positions are handed out before commit, so they commit out of order; readers use
    -- the transaction id against the snapshot's xmin to never skip a late commit.
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)
);

CREATE INDEX events_transaction_position ON events (transaction_id, position);

-- A command sent twice with the same key appends once; the second gets the first's result.
CREATE TABLE idempotency_keys (
    key          text        PRIMARY KEY,
    stream_type  text        NOT NULL,
    stream_id    uuid        NOT NULL,
    version      bigint      NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);

-- Where each reader of the log (relay, projections) has got to: (transaction_id, position).
CREATE TABLE checkpoints (
    name            text        PRIMARY KEY,
    transaction_id  xid8        NOT NULL DEFAULT '0',
    position        bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Wakes the relay and the projectors; they poll as a fallback.
CREATE FUNCTION notify_event_appended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('maestro_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_appended AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_event_appended();
