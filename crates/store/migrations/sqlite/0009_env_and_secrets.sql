-- Satusky schema, version 9 (sqlite): an app's env and secrets as app-level state, and events
-- findable by release. Kept in lockstep
-- with the other backend's 0009_env_and_secrets.sql.

-- The app's desired env, one row per key, remembering who set it: 'file' (satusky.toml's [env];
-- a deploy adds, updates and removes these) or 'cli' (`1ctl env set`; a deploy keeps these).
-- Rows may exist before the app does (set before the first deploy).
CREATE TABLE app_env (
    org        TEXT   NOT NULL,
    app        TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    value      TEXT   NOT NULL,
    source     TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (org, app, name)
);

-- The app's secrets, sealed (AES-256-GCM, associated data org/app/name/version): the key's id,
-- the nonce and the ciphertext with its tag, in hex. Never a plaintext column. An unset secret
-- keeps its row with NULL sealed columns, so a later set continues its version count.
CREATE TABLE app_secrets (
    org        TEXT   NOT NULL,
    app        TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    version    BIGINT NOT NULL,
    key_id     TEXT,
    nonce      TEXT,
    ciphertext TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (org, app, name)
);

-- Changes recorded with `--stage`, applied by the app's next deploy: per key, the latest wins.
-- kind 'env' or 'secret', op 'set' or 'unset'; an env value in `value`, a secret value sealed
-- (associated data org/app/name, marked staged) in key_id/nonce/ciphertext.
CREATE TABLE app_staged (
    org        TEXT   NOT NULL,
    app        TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    op         TEXT   NOT NULL,
    value      TEXT,
    key_id     TEXT,
    nonce      TEXT,
    ciphertext TEXT,
    staged_at  BIGINT NOT NULL,
    PRIMARY KEY (org, app, kind, name)
);

-- Apps whose env predates app_env have it in their spec only; the store copies it into app_env
-- (as 'file') the first time it reads the app's env, then sets this.
ALTER TABLE apps ADD COLUMN env_tracked INTEGER NOT NULL DEFAULT 0;

-- A release's snapshot of the secret versions it was made with (JSON {"NAME": version}).
ALTER TABLE releases ADD COLUMN secrets TEXT NOT NULL DEFAULT '{}';

-- The release an event is about, when its data names one (a build log line, a phase, a
-- release change): a release's build log is read by index, not by scanning the app's history.
-- Events written before this have none.
ALTER TABLE events ADD COLUMN release BIGINT;
CREATE INDEX events_by_release ON events (org, app, release, type, seq);
