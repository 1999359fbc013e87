-- A person may also hear about a topic through one of their webhook endpoints; an
-- endpoint that is deleted stops being a channel.
ALTER TABLE notification_preferences
    ADD COLUMN webhook uuid REFERENCES webhook_endpoints (id) ON DELETE SET NULL;
