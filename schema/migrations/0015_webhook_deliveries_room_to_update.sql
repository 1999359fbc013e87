-- A delivery is written three times (queued, claimed, delivered): room on its page lets
-- the claim, which changes no indexed column, update it in place (a HOT update) instead
-- of adding an entry to each of its four indexes.
ALTER TABLE webhook_deliveries SET (fillfactor = 60);
