-- Who holds at least a level in an item's grants (`{"<user or team id>": "read" |
-- "write" | "admin"}`, the `acl` of its document). Read models derive their `readers`,
-- `writers` and `admins` columns from it, so access is one indexed array overlap in SQL.
-- The ranks are the original Maestro's: read 1, write 3, admin 7.
CREATE FUNCTION maestro_holders(acl jsonb, least_rank int) RETURNS uuid[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(grantee.key::uuid ORDER BY grantee.key), '{}')
  FROM jsonb_each_text(coalesce(acl, '{}')) AS grantee(key, value)
  WHERE CASE grantee.value WHEN 'read' THEN 1 WHEN 'write' THEN 3 WHEN 'admin' THEN 7 ELSE 0 END >= least_rank
$$;
