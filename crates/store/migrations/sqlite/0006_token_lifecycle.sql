-- Satusky schema, version 6 (sqlite): API tokens get a lifecycle. Kept in lockstep with the other
-- backend's 0006_token_lifecycle.sql.

-- What the token is for, as its creator named it (at most 64 characters; optional).
ALTER TABLE tokens ADD COLUMN name TEXT;
-- After this instant (epoch ms) the token is refused; NULL: it does not expire.
ALTER TABLE tokens ADD COLUMN expires_at BIGINT;
-- When the token was revoked (epoch ms); a revoked token is refused at once. NULL: live.
ALTER TABLE tokens ADD COLUMN revoked_at BIGINT;
-- When the token last authenticated a request, to the minute (written at most once a
-- minute per token, so authenticating stays a read). NULL: never used.
ALTER TABLE tokens ADD COLUMN last_used_at BIGINT;
-- Who made it: the id of the token that created it through the API, or the command that
-- did (`satusky token create`, `satusky dev`). NULL for tokens made before version 6.
ALTER TABLE tokens ADD COLUMN created_by TEXT;
