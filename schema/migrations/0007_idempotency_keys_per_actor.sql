-- An idempotency key belongs to whoever sent it: another person's key is another key.
-- The request it was first used for is kept as a digest, so that the same key sent with
-- a different request is a conflict instead of a silent replay of the first.
ALTER TABLE idempotency_keys
    ADD COLUMN actor   text NOT NULL DEFAULT '',
    ADD COLUMN request text NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (actor, key);
