-- The scheduler's bookkeeping. Schedules themselves are items (events, history, grants);
-- what changes at every run lives here instead, so that a crawl every five minutes does
-- not write history: when each schedule is next due, how its runs went.
--
-- Any number of scheduler processes share these rows: a due schedule is claimed with
-- FOR UPDATE SKIP LOCKED, and each firing (schedule, due time) is recorded once.
CREATE TABLE schedule_clocks (
    id                   uuid        PRIMARY KEY,
    -- The version of the schedule this clock was set from: a newer one resets it.
    version              bigint      NOT NULL,
    -- The schedule's fields at that version, as the scheduler reads them.
    fields               jsonb       NOT NULL,
    -- NULL: disabled, deleted, or waiting for the schedule it is chained after.
    next_due             timestamptz,
    -- The last firing that came due, from which the next is counted.
    last_due             timestamptz,
    run_count            bigint      NOT NULL DEFAULT 0,
    consecutive_failures integer     NOT NULL DEFAULT 0,
    last_started         timestamptz,
    last_ended           timestamptz,
    last_outcome         text,
    last_message         text,
    -- Why the scheduler disabled the schedule, until someone enables it again.
    disabled_reason      text
);
CREATE INDEX schedule_clocks_due ON schedule_clocks (next_due) WHERE next_due IS NOT NULL;

-- One row per firing: its job, and how the job ended.
CREATE TABLE schedule_runs (
    job_id      uuid        PRIMARY KEY,
    schedule_id uuid        NOT NULL,
    due_at      timestamptz NOT NULL,
    queued_at   timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    ended_at    timestamptz,
    outcome     text,
    message     text,
    UNIQUE (schedule_id, due_at)
);
CREATE INDEX schedule_runs_by_schedule ON schedule_runs (schedule_id, due_at DESC);
