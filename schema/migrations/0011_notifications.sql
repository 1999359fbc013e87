-- What Maestro tells people: a crawl that failed, a schedule it disabled, … One row per
-- person and notice; the key makes telling the same thing twice a no-op, so a retried
-- step never notifies twice under another id.
CREATE TABLE notifications (
    id          uuid        PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    topic       text        NOT NULL,
    title       text        NOT NULL,
    body        text        NOT NULL,
    item_kind   text,
    item_id     uuid,
    key         text        NOT NULL,
    -- Whether it shows in the product (the person may want it by mail only).
    shown       boolean     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    read_at     timestamptz,
    UNIQUE (user_id, key)
);
CREATE INDEX notifications_by_user ON notifications (user_id, created_at DESC) WHERE shown;

-- Mails to send, kept until the SMTP server took them: an SMTP server that is down
-- delays a mail, it never loses it.
CREATE TABLE notification_mails (
    notification_id  uuid        PRIMARY KEY REFERENCES notifications (id) ON DELETE CASCADE,
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    last_error       text
);
CREATE INDEX notification_mails_due ON notification_mails (next_attempt_at) WHERE sent_at IS NULL;

-- Which channels a person wants per topic; a topic without a row uses its default.
CREATE TABLE notification_preferences (
    user_id  uuid    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    topic    text    NOT NULL,
    in_app   boolean NOT NULL,
    email    boolean NOT NULL,
    PRIMARY KEY (user_id, topic)
);
