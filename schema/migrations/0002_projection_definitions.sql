-- The table definitions each projection's live tables were built with. When the code's
-- definitions differ, the projection is rebuilt from the log.
CREATE TABLE projection_definitions (
    name        text PRIMARY KEY,
    definition  text NOT NULL
);
