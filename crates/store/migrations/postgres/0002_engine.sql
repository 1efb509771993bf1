-- Satusky schema, version 2 (postgres): what the lifecycle engine needs. Kept in lockstep with the
-- other backend's 0002_engine.sql.

-- The uploaded build context (sha256:…), the build's output, and why a release failed
-- (JSON {"dimension", "reason", "message"}).
ALTER TABLE releases ADD COLUMN context TEXT;
ALTER TABLE releases ADD COLUMN artifact TEXT;
ALTER TABLE releases ADD COLUMN failure TEXT;

-- The app's last computed dimensions (JSON: build, workload, endpoints) and the engine's
-- pending work (JSON; NULL when there is nothing to do), so a restart resumes it.
ALTER TABLE apps ADD COLUMN status TEXT;
ALTER TABLE apps ADD COLUMN work TEXT;

-- The local runtime's ledger of replica processes: pid + start time identify a process
-- across a crash of the control plane, so a restart reaps exactly what it left.
CREATE TABLE replicas (
    pid          BIGINT  NOT NULL PRIMARY KEY,
    start_ticks  BIGINT  NOT NULL,
    org          TEXT    NOT NULL,
    app          TEXT    NOT NULL,
    release      BIGINT  NOT NULL,
    port         BIGINT  NOT NULL,
    created_at   BIGINT  NOT NULL
);
