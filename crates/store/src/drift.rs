//! Drift findings (SPEC §7): one row per (app, hostname, plane). Opening, refreshing and
//! healing are idempotent so the checker can run on a timer and on demand. The store keeps no
//! policy: what counts as drift and who owns it is decided by the checker.

use satusky_types::{DriftFinding, DriftOwner};
use sqlx::Row;

use crate::Store;
use crate::codec::parse_enum;
use crate::error::Result;

/// A finding as stored (times in epoch ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingRecord {
    pub hostname: String,
    pub plane: String,
    pub expected: String,
    pub observed: String,
    pub owner: DriftOwner,
    pub remediation: Option<String>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub healed_at_ms: Option<i64>,
}

impl FindingRecord {
    pub fn to_wire(&self) -> DriftFinding {
        let t = satusky_core::time::rfc3339_ms;
        DriftFinding {
            hostname: self.hostname.clone(),
            plane: self.plane.clone(),
            expected: self.expected.clone(),
            observed: self.observed.clone(),
            owner: self.owner,
            remediation: self.remediation.clone(),
            first_seen: t(self.first_seen_ms),
            last_seen: t(self.last_seen_ms),
            healed_at: self.healed_at_ms.map(t),
        }
    }
}

/// What `observe_finding` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingChange {
    /// A new finding, or one that had healed and came back.
    Opened,
    /// Still open: `last_seen` (and what is observed) refreshed.
    Refreshed,
}

/// What to record for one observed drift.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub hostname: &'a str,
    pub plane: &'a str,
    pub expected: &'a str,
    pub observed: &'a str,
    pub owner: DriftOwner,
    pub remediation: Option<&'a str>,
}

impl Store {
    /// Record that `o` is drifting now.
    pub async fn observe_finding(
        &self,
        org: &str,
        app: &str,
        o: &Observed<'_>,
        now_ms: i64,
    ) -> Result<FindingChange> {
        let mut tx = self.begin_write().await?;
        // Refresh an open finding first (the write takes the lock).
        let refreshed = sqlx::query(
            "UPDATE drift_findings SET last_seen = $1, observed = $2, expected = $3, owner = $4, remediation = $5 \
             WHERE org = $6 AND app = $7 AND hostname = $8 AND plane = $9 AND healed_at IS NULL",
        )
        .bind(now_ms)
        .bind(o.observed)
        .bind(o.expected)
        .bind(o.owner.as_str())
        .bind(o.remediation)
        .bind(org)
        .bind(app)
        .bind(o.hostname)
        .bind(o.plane)
        .execute(&mut *tx)
        .await?;
        if refreshed.rows_affected() > 0 {
            tx.commit().await?;
            return Ok(FindingChange::Refreshed);
        }
        sqlx::query(
            "INSERT INTO drift_findings (org, app, hostname, plane, expected, observed, owner, remediation, first_seen, last_seen, healed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, NULL) \
             ON CONFLICT (org, app, hostname, plane) DO UPDATE SET expected = excluded.expected, \
             observed = excluded.observed, owner = excluded.owner, remediation = excluded.remediation, \
             first_seen = excluded.first_seen, last_seen = excluded.last_seen, healed_at = NULL",
        )
        .bind(org)
        .bind(app)
        .bind(o.hostname)
        .bind(o.plane)
        .bind(o.expected)
        .bind(o.observed)
        .bind(o.owner.as_str())
        .bind(o.remediation)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(FindingChange::Opened)
    }

    /// Mark an open finding healed. `true` when one was open.
    pub async fn heal_finding(
        &self,
        org: &str,
        app: &str,
        hostname: &str,
        plane: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE drift_findings SET healed_at = $1 \
             WHERE org = $2 AND app = $3 AND hostname = $4 AND plane = $5 AND healed_at IS NULL",
        )
        .bind(now_ms)
        .bind(org)
        .bind(app)
        .bind(hostname)
        .bind(plane)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// The app's findings: open first, then healed; newest first within each.
    pub async fn list_findings(&self, org: &str, app: &str) -> Result<Vec<FindingRecord>> {
        let rows = sqlx::query(
            "SELECT hostname, plane, expected, observed, owner, remediation, first_seen, last_seen, healed_at \
             FROM drift_findings WHERE org = $1 AND app = $2 \
             ORDER BY CASE WHEN healed_at IS NULL THEN 0 ELSE 1 END, last_seen DESC, hostname, plane",
        )
        .bind(org)
        .bind(app)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let owner: String = r.try_get("owner")?;
                Ok(FindingRecord {
                    hostname: r.try_get("hostname")?,
                    plane: r.try_get("plane")?,
                    expected: r.try_get("expected")?,
                    observed: r.try_get("observed")?,
                    owner: parse_enum("drift owner", &owner, DriftOwner::parse)?,
                    remediation: r.try_get("remediation")?,
                    first_seen_ms: r.try_get("first_seen")?,
                    last_seen_ms: r.try_get("last_seen")?,
                    healed_at_ms: r.try_get("healed_at")?,
                })
            })
            .collect()
    }

    /// Open findings per plane, across all apps (the `/metrics` gauge).
    pub async fn open_findings_by_plane(&self) -> Result<Vec<(String, u64)>> {
        let rows = sqlx::query(
            "SELECT plane, COUNT(*) AS n FROM drift_findings WHERE healed_at IS NULL GROUP BY plane ORDER BY plane",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let n: i64 = r.try_get("n")?;
                Ok((r.try_get("plane")?, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }
}
