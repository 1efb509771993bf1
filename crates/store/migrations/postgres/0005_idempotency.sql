-- Satusky schema, version 5 (postgres): Idempotency-Key records. Kept in lockstep with the other
-- backend's 0005_idempotency.sql.

-- One row per (scope, key) for 24 h: the first request that presented an Idempotency-Key, and
-- once it finished, the answer to replay to its duplicates. The request body is never stored
-- (bodies carry secret values): only a keyed hash of it, under a key the database does not hold.
CREATE TABLE idempotency_keys (
    -- Hex SHA-256 of the presented token's SHA-256, the method and the path: a fixed-size
    -- name for "this token on this operation", without the token's plaintext.
    scope            TEXT    NOT NULL,
    -- The Idempotency-Key header as sent (at most 255 printable ASCII characters).
    idempotency_key  TEXT    NOT NULL,
    -- Hex HMAC-SHA256 of the query string and body, keyed by the server's idempotency.key.
    request_hash     TEXT    NOT NULL,
    -- in_progress while the first request runs, done once its answer is stored.
    state            TEXT    NOT NULL,
    -- The answer to replay; NULL while in progress.
    response_status  BIGINT,
    response_type    TEXT,
    response_body    TEXT,
    -- When the (current) first request started; rows older than 24 h are ignored and purged.
    created_at       BIGINT  NOT NULL,
    PRIMARY KEY (scope, idempotency_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
