-- Satusky schema, version 8 (postgres): domains are app-level state with an ownership proof. Kept
-- in lockstep with the other backend's 0008_domain_ownership.sql.
--
-- A hostname may now be claimed by several orgs (one row per org, at most one app per org), but
-- only one claim is routed: the generated one ('not_required'), a proven one ('verified'), or one
-- kept through this upgrade ('grace', served until grace_until). `source` says who wrote it:
-- 'generated', 'file' (satusky.toml; a deploy adds and removes these) or 'cli' (`1ctl domains
-- add`; a deploy keeps these). Pending proofs are looked up again at next_check_at.
ALTER TABLE domains ADD COLUMN source TEXT NOT NULL DEFAULT 'file';
ALTER TABLE domains ADD COLUMN ownership TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE domains ADD COLUMN verified_at BIGINT;
ALTER TABLE domains ADD COLUMN checked_at BIGINT;
ALTER TABLE domains ADD COLUMN next_check_at BIGINT;
ALTER TABLE domains ADD COLUMN misses BIGINT NOT NULL DEFAULT 0;
ALTER TABLE domains ADD COLUMN message TEXT NOT NULL DEFAULT '';
ALTER TABLE domains ADD COLUMN grace_from BIGINT;
ALTER TABLE domains ADD COLUMN grace_until BIGINT;
-- Custom domains that exist before this upgrade keep serving for a grace period (7 days from the
-- upgrade; `satusky serve` re-derives grace_until from grace_from with its configured period).
UPDATE domains SET source = 'generated', ownership = 'not_required' WHERE kind = 'generated';
UPDATE domains SET source = 'file', ownership = 'grace',
    next_check_at = (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT,
    grace_from = (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT,
    grace_until = (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT + 604800000
    WHERE kind <> 'generated';
ALTER TABLE domains ALTER COLUMN source DROP DEFAULT;
ALTER TABLE domains ALTER COLUMN ownership DROP DEFAULT;
ALTER TABLE domains DROP CONSTRAINT domains_pkey;
ALTER TABLE domains ADD PRIMARY KEY (hostname, org);
CREATE UNIQUE INDEX domains_routed ON domains (hostname)
    WHERE ownership IN ('not_required', 'verified', 'grace');
CREATE INDEX domains_due ON domains (next_check_at) WHERE ownership IN ('pending', 'grace');
