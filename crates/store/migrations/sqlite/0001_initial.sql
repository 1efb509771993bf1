-- Satusky schema, version 1 (SQLite). Kept in lockstep with ../postgres/0001_initial.sql:
-- same tables, same columns, same meaning. Times are epoch milliseconds (BIGINT), ids and
-- JSON documents are TEXT.

CREATE TABLE orgs (
    name        TEXT    NOT NULL PRIMARY KEY,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE tokens (
    id          TEXT    NOT NULL PRIMARY KEY,
    org         TEXT    NOT NULL REFERENCES orgs (name) ON DELETE CASCADE,
    role        TEXT    NOT NULL,
    -- SHA-256 of the whole token, lowercase hex; the plaintext is never stored.
    token_hash  TEXT    NOT NULL UNIQUE,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX tokens_org ON tokens (org);

CREATE TABLE apps (
    org             TEXT    NOT NULL REFERENCES orgs (name),
    name            TEXT    NOT NULL,
    generation      BIGINT  NOT NULL,
    -- AppSpec as JSON.
    spec            TEXT    NOT NULL,
    active_release  BIGINT,
    target_release  BIGINT,
    phase           TEXT    NOT NULL,
    -- Counters that allocate release versions and event sequence numbers per app.
    last_release    BIGINT  NOT NULL DEFAULT 0,
    last_event_seq  BIGINT  NOT NULL DEFAULT 0,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    PRIMARY KEY (org, name)
);

CREATE TABLE releases (
    org         TEXT    NOT NULL,
    app         TEXT    NOT NULL,
    version     BIGINT  NOT NULL,
    status      TEXT    NOT NULL,
    image       TEXT,
    source      TEXT    NOT NULL,
    -- AppSpec snapshot as JSON.
    spec        TEXT    NOT NULL,
    -- Vec<Hostname> snapshot as JSON.
    hostnames   TEXT    NOT NULL,
    generation  BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (org, app, version),
    FOREIGN KEY (org, app) REFERENCES apps (org, name) ON DELETE CASCADE
);

CREATE TABLE events (
    org     TEXT    NOT NULL,
    app     TEXT    NOT NULL,
    seq     BIGINT  NOT NULL,
    at      BIGINT  NOT NULL,
    type    TEXT    NOT NULL,
    -- JSON object whose shape depends on `type`.
    data    TEXT    NOT NULL,
    PRIMARY KEY (org, app, seq),
    FOREIGN KEY (org, app) REFERENCES apps (org, name) ON DELETE CASCADE
);

-- Every hostname in use, unique across all orgs.
CREATE TABLE domains (
    hostname     TEXT    NOT NULL PRIMARY KEY,
    org          TEXT    NOT NULL,
    app          TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    redirect_to  TEXT,
    created_at   BIGINT  NOT NULL,
    FOREIGN KEY (org, app) REFERENCES apps (org, name) ON DELETE CASCADE
);
CREATE INDEX domains_app ON domains (org, app);
