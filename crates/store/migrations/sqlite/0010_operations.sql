-- Satusky schema, version 10 (sqlite): what operating an app sets on the app rather than on a
-- release (scale and restart are not releases). Kept in lockstep with the other backend's
-- 0010_operations.sql.

-- The replica count set with `1ctl app scale` (NULL: the release's own count). It applies to
-- whichever release runs, until a deploy whose satusky.toml sets `replicas` replaces it.
ALTER TABLE apps ADD COLUMN scaled_replicas BIGINT;
-- When `1ctl app restart` last asked for fresh replicas (epoch ms; NULL: never).
ALTER TABLE apps ADD COLUMN restarted_at BIGINT;
