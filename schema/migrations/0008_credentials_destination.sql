-- What a connection's credentials were stored for: a digest of its provider and options
-- (endpoints, hosts, URLs) at the time. Credentials are handed out only while the
-- connection still points there; NULL (stored by an older Maestro) is never handed out.
ALTER TABLE connection_credentials ADD COLUMN destination text;
