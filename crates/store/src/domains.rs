//! Domains: app-level state in the `domains` table, one row per (hostname, org). Several orgs
//! may claim one hostname, but only one claim is routed — the generated one, a proven one, or
//! one kept through the upgrade that introduced proofs (a partial unique index holds that);
//! within an org a hostname belongs to one app ([`StoreError::HostnameTaken`] otherwise).
//!
//! Writers: a deploy merges the file's domains ([`merge_from_file`], inside its transaction —
//! it adds and updates them, removes the file's own that left it and keeps CLI-added ones),
//! `1ctl domains add/remove`, and the ownership verifier (misses with their backoff, a proof
//! that ends other orgs' claims, a grace period running out). Rollbacks do not touch them.

use std::collections::BTreeSet;

use satusky_core::ownership;
use satusky_core::time::rfc3339_ms;
use satusky_types::{
    Domain, DomainSource, EventType, Hostname, HostnameKind, Ownership, OwnershipState,
};
use serde_json::json;
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::codec::parse_enum;
use crate::error::{Result, StoreError};
use crate::events;

/// The columns [`domain_from_row`] reads, prefixed `d_` (they are LEFT JOINed onto apps).
macro_rules! domain_columns {
    () => {
        "d.hostname AS d_hostname, d.org AS d_org, d.kind AS d_kind, \
         d.redirect_to AS d_redirect_to, d.source AS d_source, d.ownership AS d_ownership, \
         d.verified_at AS d_verified_at, d.checked_at AS d_checked_at, \
         d.message AS d_message, d.grace_until AS d_grace_until, d.created_at AS d_created_at"
    };
}
pub(crate) use domain_columns;

/// A claim whose proof is due to be looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueClaim {
    pub org: String,
    pub app: String,
    pub hostname: String,
    /// Consecutive lookups that did not prove it.
    pub misses: u32,
}

/// What a proof changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proven {
    /// The app of the org that proved it.
    pub app: String,
    /// The `(org, app)` claims it ended (they no longer route the hostname).
    pub ended: Vec<(String, String)>,
}

impl Store {
    /// The `(org, app)` routing `hostname`, if any.
    pub async fn hostname_owner(&self, hostname: &str) -> Result<Option<(String, String)>> {
        routed_owner(&mut *self.pool.acquire().await?, hostname).await
    }

    /// The app's domains: generated first, then aliases, then redirects, each by name.
    pub async fn app_domains(&self, org: &str, app: &str) -> Result<Vec<Domain>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            domain_columns!(),
            " FROM domains d WHERE d.org = $1 AND d.app = $2"
        ))
        .bind(org)
        .bind(app)
        .fetch_all(&self.pool)
        .await?;
        let mut list = rows
            .iter()
            .filter_map(|r| domain_from_row(r).transpose())
            .collect::<Result<Vec<_>>>()?;
        sort_domains(&mut list);
        Ok(list)
    }

    /// Adds `hostnames` to `org/app` as CLI-added custom domains (proof pending, looked up
    /// now), each with a `domain` event, all or nothing. One already on the app is updated
    /// (kind, redirect target) and keeps its source and proof; one held by another app of the
    /// org fails with [`StoreError::HostnameTaken`]. Returns the app's domains afterwards.
    pub async fn add_domains(
        &self,
        org: &str,
        app: &str,
        hostnames: &[Hostname],
        now_ms: i64,
    ) -> Result<Vec<Domain>> {
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT 1 AS one FROM apps WHERE org = $1 AND name = $2")
            .bind(org)
            .bind(app)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::not_found(format!("app {org}/{app}")));
        }
        for h in sorted_unique(hostnames) {
            let new = claim(&mut tx, org, app, h, DomainSource::Cli, now_ms).await?;
            if new {
                let data = json!({"hostname": h.hostname, "change": "added",
                    "message": format!("added with 1ctl domains add; proof pending: {}", ownership::remediation(org, &h.hostname))});
                events::insert(&mut tx, org, app, EventType::Domain, &data, now_ms).await?;
            }
        }
        tx.commit().await?;
        self.app_domains(org, app).await
    }

    /// Removes `hostname` from `org/app` (with a `domain` event). `false` when the app does
    /// not have it. The generated hostname cannot be removed (the API refuses it first).
    pub async fn remove_domain(
        &self,
        org: &str,
        app: &str,
        hostname: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let gone = sqlx::query(
            "DELETE FROM domains WHERE org = $1 AND app = $2 AND hostname = $3 \
             AND source <> 'generated'",
        )
        .bind(org)
        .bind(app)
        .bind(hostname)
        .execute(&mut *tx)
        .await?;
        if gone.rows_affected() == 0 {
            return Ok(false);
        }
        let data = json!({"hostname": hostname, "change": "removed",
            "message": "removed with 1ctl domains remove; no longer routed"});
        events::insert(&mut tx, org, app, EventType::Domain, &data, now_ms).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Claims whose proof is due (pending, or kept in a grace period) at `now_ms`, oldest due
    /// first, at most `limit`.
    pub async fn due_ownership_checks(&self, now_ms: i64, limit: u32) -> Result<Vec<DueClaim>> {
        let rows = sqlx::query(
            "SELECT hostname, org, app, misses FROM domains \
             WHERE ownership IN ('pending', 'grace') AND next_check_at IS NOT NULL \
             AND next_check_at <= $1 ORDER BY next_check_at, hostname, org LIMIT $2",
        )
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let misses: i64 = r.try_get("misses")?;
                Ok(DueClaim {
                    org: r.try_get("org")?,
                    app: r.try_get("app")?,
                    hostname: r.try_get("hostname")?,
                    misses: u32::try_from(misses.max(0)).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    /// The other orgs claiming `hostname` (whatever their claim's state, except ended ones):
    /// their proofs must not be published alongside this org's.
    pub async fn rival_orgs(&self, hostname: &str, org: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT org FROM domains WHERE hostname = $1 AND org <> $2 AND ownership <> 'lost' \
             ORDER BY org",
        )
        .bind(hostname)
        .bind(org)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get("org")?))
            .collect::<Result<_>>()
    }

    /// A lookup that did not prove `org`'s claim: what it saw, and when to look again.
    pub async fn ownership_missed(
        &self,
        org: &str,
        hostname: &str,
        message: &str,
        next_check_ms: i64,
        now_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE domains SET misses = misses + 1, message = $1, checked_at = $2, \
             next_check_at = $3 WHERE hostname = $4 AND org = $5 \
             AND ownership IN ('pending', 'grace')",
        )
        .bind(message)
        .bind(now_ms)
        .bind(next_check_ms)
        .bind(hostname)
        .bind(org)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `org` proved `hostname`: its claim becomes `verified` and routed, and every other org's
    /// routed claim on it ends (`lost`), each side with a `domain` event — in one transaction.
    /// Other orgs' pending claims stay pending: each may still prove its own value.
    /// `None` when the claim is gone or not pending any more.
    pub async fn ownership_proven(
        &self,
        org: &str,
        hostname: &str,
        message: &str,
        now_ms: i64,
    ) -> Result<Option<Proven>> {
        let mut tx = self.begin_write().await?;
        let mine = sqlx::query(
            "SELECT app FROM domains WHERE hostname = $1 AND org = $2 \
             AND ownership IN ('pending', 'grace')",
        )
        .bind(hostname)
        .bind(org)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(mine) = mine else {
            return Ok(None);
        };
        let app: String = mine.try_get("app")?;
        let ended_rows = sqlx::query(
            "UPDATE domains SET ownership = 'lost', next_check_at = NULL, checked_at = $1, \
             message = 'another org proved ownership' \
             WHERE hostname = $2 AND org <> $3 AND ownership IN ('verified', 'grace') \
             RETURNING org, app",
        )
        .bind(now_ms)
        .bind(hostname)
        .bind(org)
        .fetch_all(&mut *tx)
        .await?;
        let mut ended = Vec::new();
        for r in &ended_rows {
            let (o, a): (String, String) = (r.try_get("org")?, r.try_get("app")?);
            let data = json!({"hostname": hostname, "change": "lost",
                "message": format!("another org proved ownership of {hostname}; this app no longer serves it")});
            events::insert(&mut tx, &o, &a, EventType::Domain, &data, now_ms).await?;
            ended.push((o, a));
        }
        sqlx::query(
            "UPDATE domains SET ownership = 'verified', verified_at = $1, checked_at = $1, \
             next_check_at = NULL, misses = 0, message = $2, grace_until = NULL \
             WHERE hostname = $3 AND org = $4",
        )
        .bind(now_ms)
        .bind(message)
        .bind(hostname)
        .bind(org)
        .execute(&mut *tx)
        .await?;
        let data = json!({"hostname": hostname, "change": "verified", "message": message});
        events::insert(&mut tx, org, &app, EventType::Domain, &data, now_ms).await?;
        tx.commit().await?;
        Ok(Some(Proven { app, ended }))
    }

    /// Look up `org/app`'s claim on `hostname` now (`1ctl domains check`): a pending claim is
    /// due at once; an ended one is claimed again. `false` when the app has no such domain.
    pub async fn recheck_ownership(
        &self,
        org: &str,
        app: &str,
        hostname: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE domains SET next_check_at = $1, \
             ownership = CASE ownership WHEN 'lost' THEN 'pending' ELSE ownership END \
             WHERE org = $2 AND app = $3 AND hostname = $4",
        )
        .bind(now_ms)
        .bind(org)
        .bind(app)
        .bind(hostname)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Ends the grace periods that ran out by `now_ms`: those claims stay, pending, and are
    /// no longer routed (each with a `domain` event). Returns their `(org, app, hostname)`.
    pub async fn end_expired_grace(&self, now_ms: i64) -> Result<Vec<(String, String, String)>> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "UPDATE domains SET ownership = 'pending', next_check_at = $1 \
             WHERE ownership = 'grace' AND grace_until IS NOT NULL AND grace_until <= $1 \
             RETURNING org, app, hostname",
        )
        .bind(now_ms)
        .fetch_all(&mut *tx)
        .await?;
        let mut ended = Vec::new();
        for r in &rows {
            let (o, a, h): (String, String, String) =
                (r.try_get("org")?, r.try_get("app")?, r.try_get("hostname")?);
            let data = json!({"hostname": h, "change": "grace_ended",
                "message": format!("the grace period for {h} ended without a proof of ownership: it is no longer served; {}", ownership::remediation(&o, &h))});
            events::insert(&mut tx, &o, &a, EventType::Domain, &data, now_ms).await?;
            ended.push((o, a, h));
        }
        tx.commit().await?;
        Ok(ended)
    }

    /// Sets every grace period to `period_ms` from the upgrade that started it (the
    /// installation's configured length). Returns how many claims are in one.
    pub async fn set_grace_period(&self, period_ms: i64) -> Result<u64> {
        let res = sqlx::query(
            "UPDATE domains SET grace_until = grace_from + $1 \
             WHERE ownership = 'grace' AND grace_from IS NOT NULL",
        )
        .bind(period_ms)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected())
    }
}

/// Merges a deploy's hostnames (the generated one and the file's `[[domains]]`) into the
/// app's domains inside the caller's transaction: claims new ones, updates kept ones (a
/// CLI-added one the file now lists becomes the file's), removes the file's (and an old
/// generated name) that are no longer listed, and keeps CLI-added ones the file does not list
/// — returned, sorted, so the deploy can say so. On `HostnameTaken` the caller must roll back.
pub(crate) async fn merge_from_file(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
    hostnames: &[Hostname],
    now_ms: i64,
) -> Result<Vec<String>> {
    let listed: BTreeSet<&str> = hostnames.iter().map(|h| h.hostname.as_str()).collect();
    let current = sqlx::query("SELECT hostname, source FROM domains WHERE org = $1 AND app = $2")
        .bind(org)
        .bind(app)
        .fetch_all(&mut *conn)
        .await?;
    let mut kept = Vec::new();
    for row in &current {
        let hostname: String = row.try_get("hostname")?;
        let source: String = row.try_get("source")?;
        if listed.contains(hostname.as_str()) {
            continue;
        }
        if source == DomainSource::Cli.as_str() {
            kept.push(hostname);
        } else {
            sqlx::query("DELETE FROM domains WHERE hostname = $1 AND org = $2")
                .bind(&hostname)
                .bind(org)
                .execute(&mut *conn)
                .await?;
        }
    }
    for h in sorted_unique(hostnames) {
        let source = match h.kind {
            HostnameKind::Generated => DomainSource::Generated,
            _ => DomainSource::File,
        };
        claim(conn, org, app, h, source, now_ms).await?;
    }
    kept.sort();
    for h in &kept {
        let data = json!({"hostname": h, "change": "kept",
            "message": format!("kept {h} (added with 1ctl domains add): add it to satusky.toml, or 1ctl domains remove {h}")});
        events::insert(conn, org, app, EventType::Domain, &data, now_ms).await?;
    }
    Ok(kept)
}

/// Every hostname of the app, in display order (what a release snapshot records).
pub(crate) async fn app_hostnames(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
) -> Result<Vec<Hostname>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        domain_columns!(),
        " FROM domains d WHERE d.org = $1 AND d.app = $2"
    ))
    .bind(org)
    .bind(app)
    .fetch_all(&mut *conn)
    .await?;
    let mut list = rows
        .iter()
        .filter_map(|r| domain_from_row(r).transpose())
        .collect::<Result<Vec<_>>>()?;
    sort_domains(&mut list);
    Ok(list.iter().map(Domain::hostname).collect())
}

/// Sorted by name and de-duplicated: concurrent writers lock rows in one order.
fn sorted_unique(hostnames: &[Hostname]) -> Vec<&Hostname> {
    let mut seen = BTreeSet::new();
    let mut list: Vec<&Hostname> = hostnames
        .iter()
        .filter(|h| seen.insert(h.hostname.as_str()))
        .collect();
    list.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    list
}

/// Claims `h` for `org/app`, or updates the app's claim. `true` when the row is new.
/// Generated hostnames need no proof; custom ones start pending, due now.
async fn claim(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
    h: &Hostname,
    source: DomainSource,
    now_ms: i64,
) -> Result<bool> {
    let existing = sqlx::query("SELECT app, source FROM domains WHERE hostname = $1 AND org = $2")
        .bind(&h.hostname)
        .bind(org)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(row) = existing {
        let owner_app: String = row.try_get("app")?;
        if owner_app != app {
            return Err(StoreError::HostnameTaken {
                hostname: h.hostname.clone(),
                owner_org: org.to_string(),
                owner_app,
            });
        }
        let old: String = row.try_get("source")?;
        // The file takes over a CLI-added domain it lists; the CLI never takes one from it.
        let source = if source == DomainSource::Cli {
            old
        } else {
            source.as_str().to_string()
        };
        sqlx::query(
            "UPDATE domains SET kind = $1, redirect_to = $2, source = $3 \
             WHERE hostname = $4 AND org = $5",
        )
        .bind(h.kind.as_str())
        .bind(h.redirect_to.as_deref())
        .bind(source)
        .bind(&h.hostname)
        .bind(org)
        .execute(&mut *conn)
        .await?;
        return Ok(false);
    }
    let (state, due) = match h.kind {
        HostnameKind::Generated => (OwnershipState::NotRequired, None),
        _ => (OwnershipState::Pending, Some(now_ms)),
    };
    let inserted = sqlx::query(
        "INSERT INTO domains (hostname, org, app, kind, redirect_to, source, ownership, \
         next_check_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&h.hostname)
    .bind(org)
    .bind(app)
    .bind(h.kind.as_str())
    .bind(h.redirect_to.as_deref())
    .bind(source.as_str())
    .bind(state.as_str())
    .bind(due)
    .bind(now_ms)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        // Only a generated name can collide on the routed index, and only if another org's
        // custom domain were routed under the platform zone (the API refuses those).
        Err(sqlx::Error::Database(db)) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => {
            let (owner_org, owner_app) = routed_owner(conn, &h.hostname)
                .await?
                .unwrap_or_else(|| (String::new(), String::new()));
            Err(StoreError::HostnameTaken {
                hostname: h.hostname.clone(),
                owner_org,
                owner_app,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// The routed claim of one hostname, on any connection (pool or transaction).
pub(crate) async fn routed_owner(
    conn: &mut AnyConnection,
    hostname: &str,
) -> Result<Option<(String, String)>> {
    // The routed states, as the partial unique index `domains_routed` lists them.
    let row = sqlx::query(
        "SELECT org, app FROM domains WHERE hostname = $1 \
         AND ownership IN ('not_required', 'verified', 'grace')",
    )
    .bind(hostname)
    .fetch_optional(conn)
    .await?;
    row.map(|r| Ok((r.try_get("org")?, r.try_get("app")?)))
        .transpose()
}

/// Decodes the [`domain_columns`] of a row (LEFT JOINed: all NULL when the app has none).
pub(crate) fn domain_from_row(row: &AnyRow) -> Result<Option<Domain>> {
    let hostname: Option<String> = row.try_get("d_hostname")?;
    let Some(hostname) = hostname else {
        return Ok(None);
    };
    let org: String = row.try_get("d_org")?;
    let text = |col: &str| -> Result<String> {
        Ok(row.try_get::<Option<String>, _>(col)?.unwrap_or_default())
    };
    let kind = parse_enum("hostname kind", &text("d_kind")?, HostnameKind::parse)?;
    let source = parse_enum("domain source", &text("d_source")?, DomainSource::parse)?;
    let state = parse_enum(
        "domain ownership",
        &text("d_ownership")?,
        OwnershipState::parse,
    )?;
    let at = |col: &str| -> Result<Option<String>> {
        Ok(row.try_get::<Option<i64>, _>(col)?.map(rfc3339_ms))
    };
    let proof = state != OwnershipState::NotRequired;
    let created: Option<i64> = row.try_get("d_created_at")?;
    Ok(Some(Domain {
        kind,
        redirect_to: row.try_get("d_redirect_to")?,
        source,
        ownership: Ownership {
            state,
            txt_name: proof.then(|| ownership::txt_name(&hostname)),
            txt_value: proof.then(|| ownership::txt_value(&org, &hostname)),
            verified_at: at("d_verified_at")?,
            checked_at: at("d_checked_at")?,
            serving_until: if state == OwnershipState::Grace {
                at("d_grace_until")?
            } else {
                None
            },
            message: text("d_message")?,
        },
        routed: state.is_routed(),
        tls: None,
        created_at: rfc3339_ms(created.unwrap_or_default()),
        hostname,
    }))
}

/// Display order of an app's domains: the generated one first, then aliases, then
/// redirects, each by name.
pub(crate) fn sort_domains(domains: &mut [Domain]) {
    domains.sort_by(|a, b| (rank(a.kind), &a.hostname).cmp(&(rank(b.kind), &b.hostname)));
}

fn rank(kind: HostnameKind) -> u8 {
    match kind {
        HostnameKind::Generated => 0,
        HostnameKind::Alias => 1,
        HostnameKind::Redirect => 2,
    }
}
