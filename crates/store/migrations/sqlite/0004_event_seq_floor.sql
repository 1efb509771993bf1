-- Satusky schema, version 4 (sqlite): event sequence numbers survive an app's deletion. Kept in
-- lockstep with the other backend's 0004_event_seq_floor.sql.

-- The last event sequence number of each deleted app: an app created again under the same
-- name continues after it, so a client still following the old stream (`since=N`) sees
-- every event of the new one instead of missing its first N.
CREATE TABLE event_seq_floors (
    org            TEXT    NOT NULL,
    app            TEXT    NOT NULL,
    last_event_seq BIGINT  NOT NULL,
    PRIMARY KEY (org, app)
);
