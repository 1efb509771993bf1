//! Hostnames in use: the `domains` table, where a hostname has exactly one owner across all
//! orgs. Deploys replace an app's set inside their transaction; a hostname owned by another
//! app fails the whole deploy with [`StoreError::HostnameTaken`].

use std::collections::BTreeSet;

use satusky_types::{Hostname, HostnameKind};
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::codec::parse_enum;
use crate::error::{Result, StoreError};

/// How often a hostname claim is retried when its owner vanished between the conflicting
/// insert and the owner lookup (a concurrent delete). Each retry is a fresh attempt.
const CLAIM_ATTEMPTS: usize = 3;

impl Store {
    /// The `(org, app)` serving `hostname`, if any.
    pub async fn hostname_owner(&self, hostname: &str) -> Result<Option<(String, String)>> {
        owner(&mut *self.pool.acquire().await?, hostname).await
    }
}

/// Makes `hostnames` the app's whole set: drops the ones it no longer has, claims new ones and
/// updates the kind of kept ones. Runs inside the caller's transaction; on `HostnameTaken`
/// the caller must roll back (dropping the transaction does).
pub(crate) async fn replace(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
    hostnames: &[Hostname],
    now_ms: i64,
) -> Result<()> {
    // Sorted and de-duplicated: concurrent deploys lock rows in one order (no deadlocks).
    let mut wanted: Vec<&Hostname> = Vec::with_capacity(hostnames.len());
    let mut seen = BTreeSet::new();
    for h in hostnames {
        if seen.insert(h.hostname.as_str()) {
            wanted.push(h);
        }
    }
    wanted.sort_by(|a, b| a.hostname.cmp(&b.hostname));

    let current = sqlx::query("SELECT hostname FROM domains WHERE org = $1 AND app = $2")
        .bind(org)
        .bind(app)
        .fetch_all(&mut *conn)
        .await?;
    for row in &current {
        let hostname: String = row.try_get("hostname")?;
        if !seen.contains(hostname.as_str()) {
            sqlx::query("DELETE FROM domains WHERE hostname = $1")
                .bind(&hostname)
                .execute(&mut *conn)
                .await?;
        }
    }
    for h in wanted {
        claim(conn, org, app, h, now_ms).await?;
    }
    Ok(())
}

/// Inserts or updates one hostname for `org/app`, or reports its other owner.
async fn claim(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
    h: &Hostname,
    now_ms: i64,
) -> Result<()> {
    for _ in 0..CLAIM_ATTEMPTS {
        // The conditional DO UPDATE touches the row only when this app already owns it, so
        // "no row affected" means another app holds the hostname.
        let done = sqlx::query(
            "INSERT INTO domains (hostname, org, app, kind, redirect_to, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (hostname) DO UPDATE \
             SET kind = excluded.kind, redirect_to = excluded.redirect_to \
             WHERE domains.org = excluded.org AND domains.app = excluded.app",
        )
        .bind(&h.hostname)
        .bind(org)
        .bind(app)
        .bind(h.kind.as_str())
        .bind(h.redirect_to.as_deref())
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() > 0 {
            return Ok(());
        }
        if let Some((owner_org, owner_app)) = owner(conn, &h.hostname).await? {
            return Err(StoreError::HostnameTaken {
                hostname: h.hostname.clone(),
                owner_org,
                owner_app,
            });
        }
    }
    Err(StoreError::corrupt(
        format!("domain {}", h.hostname),
        "the hostname neither inserts nor has an owner",
    ))
}

/// The owner of one hostname, on any connection (pool or transaction).
pub(crate) async fn owner(
    conn: &mut AnyConnection,
    hostname: &str,
) -> Result<Option<(String, String)>> {
    let row = sqlx::query("SELECT org, app FROM domains WHERE hostname = $1")
        .bind(hostname)
        .fetch_optional(conn)
        .await?;
    row.map(|r| Ok((r.try_get("org")?, r.try_get("app")?)))
        .transpose()
}

/// Decodes the `hostname`, `kind`, `redirect_to` columns of a row (LEFT JOINed: all NULL when
/// the app has no hostname).
pub(crate) fn from_joined_row(row: &AnyRow) -> Result<Option<Hostname>> {
    let hostname: Option<String> = row.try_get("d_hostname")?;
    let Some(hostname) = hostname else {
        return Ok(None);
    };
    let kind: Option<String> = row.try_get("d_kind")?;
    let kind = parse_enum(
        "hostname kind",
        kind.as_deref().unwrap_or_default(),
        HostnameKind::parse,
    )?;
    Ok(Some(Hostname {
        hostname,
        kind,
        redirect_to: row.try_get("d_redirect_to")?,
    }))
}

/// Display order of an app's hostnames: the generated one first, then aliases, then
/// redirects, each by name.
pub(crate) fn sort(hostnames: &mut [Hostname]) {
    fn rank(kind: HostnameKind) -> u8 {
        match kind {
            HostnameKind::Generated => 0,
            HostnameKind::Alias => 1,
            HostnameKind::Redirect => 2,
        }
    }
    hostnames.sort_by(|a, b| (rank(a.kind), &a.hostname).cmp(&(rank(b.kind), &b.hostname)));
}
