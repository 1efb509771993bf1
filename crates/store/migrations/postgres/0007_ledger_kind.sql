-- Satusky schema, version 7 (postgres): the process ledger also records builds. Kept in lockstep with
-- the other backend's 0007_ledger_kind.sql.

-- What each ledger entry's process group is: 'replica' (with its port) or 'build' (a release's
-- [build] command, port 0). A control plane killed mid-build reaps the build on its next start
-- like a replica.
ALTER TABLE replicas ADD COLUMN kind TEXT NOT NULL DEFAULT 'replica';
