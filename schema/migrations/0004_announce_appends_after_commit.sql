-- Appends are announced by the application after commit (coalesced), not by a trigger
-- inside each append: a NOTIFY in the appending transaction serialised commits.
DROP TRIGGER events_appended ON events;
DROP FUNCTION notify_event_appended();
