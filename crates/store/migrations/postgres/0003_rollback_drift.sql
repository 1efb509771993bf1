-- Satusky schema, version 3 (postgres): release history and drift. Kept in lockstep with the
-- other backend's 0003_rollback_drift.sql.

-- When a release first became active (NULL: never) — "the previous active release" is the
-- latest release activated before the current one, whatever its status now.
ALTER TABLE releases ADD COLUMN activated_at BIGINT;

-- Set by a rollback: the app is pinned to that release until the next explicit deploy.
ALTER TABLE apps ADD COLUMN pinned_release BIGINT;

-- Drift findings (SPEC §7): one row per (app, hostname, plane); a finding that heals keeps
-- its row with healed_at set, and reopens (new first_seen) if the drift comes back.
CREATE TABLE drift_findings (
    org          TEXT    NOT NULL,
    app          TEXT    NOT NULL,
    hostname     TEXT    NOT NULL,
    plane        TEXT    NOT NULL,
    expected     TEXT    NOT NULL,
    observed     TEXT    NOT NULL,
    -- 'platform' (the control plane heals it) or 'user' (reported with the fix)
    owner        TEXT    NOT NULL,
    remediation  TEXT,
    first_seen   BIGINT  NOT NULL,
    last_seen    BIGINT  NOT NULL,
    healed_at    BIGINT,
    PRIMARY KEY (org, app, hostname, plane)
);
