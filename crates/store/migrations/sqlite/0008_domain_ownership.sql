-- Satusky schema, version 8 (sqlite): domains are app-level state with an ownership proof. Kept
-- in lockstep with the other backend's 0008_domain_ownership.sql.
--
-- A hostname may now be claimed by several orgs (one row per org, at most one app per org), but
-- only one claim is routed: the generated one ('not_required'), a proven one ('verified'), or one
-- kept through this upgrade ('grace', served until grace_until). `source` says who wrote it:
-- 'generated', 'file' (satusky.toml; a deploy adds and removes these) or 'cli' (`1ctl domains
-- add`; a deploy keeps these). Pending proofs are looked up again at next_check_at.
CREATE TABLE domains_v8 (
    hostname      TEXT    NOT NULL,
    org           TEXT    NOT NULL,
    app           TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    redirect_to   TEXT,
    created_at    BIGINT  NOT NULL,
    source        TEXT    NOT NULL,
    ownership     TEXT    NOT NULL,
    verified_at   BIGINT,
    checked_at    BIGINT,
    next_check_at BIGINT,
    misses        BIGINT  NOT NULL DEFAULT 0,
    message       TEXT    NOT NULL DEFAULT '',
    grace_from    BIGINT,
    grace_until   BIGINT,
    PRIMARY KEY (hostname, org),
    FOREIGN KEY (org, app) REFERENCES apps (org, name) ON DELETE CASCADE
);
-- Columns in the order the other backend's ALTER TABLEs leave them (created_at, then the new).
-- Custom domains that exist before this upgrade keep serving for a grace period (7 days from the
-- upgrade; `satusky serve` re-derives grace_until from grace_from with its configured period).
INSERT INTO domains_v8 (hostname, org, app, kind, redirect_to, source, ownership, next_check_at,
                        grace_from, grace_until, created_at)
SELECT hostname, org, app, kind, redirect_to,
       CASE kind WHEN 'generated' THEN 'generated' ELSE 'file' END,
       CASE kind WHEN 'generated' THEN 'not_required' ELSE 'grace' END,
       CASE kind WHEN 'generated' THEN NULL ELSE CAST(strftime('%s', 'now') AS INTEGER) * 1000 END,
       CASE kind WHEN 'generated' THEN NULL ELSE CAST(strftime('%s', 'now') AS INTEGER) * 1000 END,
       CASE kind WHEN 'generated' THEN NULL
            ELSE CAST(strftime('%s', 'now') AS INTEGER) * 1000 + 604800000 END,
       created_at
FROM domains;
DROP TABLE domains;
ALTER TABLE domains_v8 RENAME TO domains;
CREATE INDEX domains_app ON domains (org, app);
CREATE UNIQUE INDEX domains_routed ON domains (hostname)
    WHERE ownership IN ('not_required', 'verified', 'grace');
CREATE INDEX domains_due ON domains (next_check_at) WHERE ownership IN ('pending', 'grace');
