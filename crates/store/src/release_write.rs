//! Writing a new pending release: the one sequence every path that records a release follows
//! (a deploy, a rollback — and later config releases and template deploys), inside the
//! caller's transaction, after the caller has allocated the version and the generation on the
//! app row (which took the row lock / write lock).
//!
//! In order: the engine's pending work for the release, a deploy's hostnames merged into the
//! app's domains (a rollback keeps them), older pending releases overtaken (`superseded`, each with a `release` event), the
//! release row, and its `release` (pending) and `phase` (accepted) events. It must not touch
//! the app row's counters, spec or pin: those belong to the caller.

use satusky_types::{EventType, Hostname, Phase, ReleaseStatus};
use serde_json::json;
use sqlx::AnyConnection;
use sqlx::Row;

use satusky_core::engine::Work;

use crate::codec::{to_json, to_u64};
use crate::error::{Result, StoreError};
use crate::{config, domains, events, releases};

/// A pending release about to be written, with what it needs encoded as the rows hold it.
pub(crate) struct NewPendingRelease<'a> {
    pub org: &'a str,
    pub app: &'a str,
    /// The version the caller allocated.
    pub version: i64,
    /// The app generation it reconciles.
    pub generation: i64,
    /// `deploy`, `rollback(from=vK)`, …
    pub source: &'a str,
    pub image: Option<&'a str>,
    /// The uploaded build context (`sha256:…`), when there is one.
    pub context: Option<&'a str>,
    /// The build's output, when the release reuses one (a rollback).
    pub artifact: Option<&'a str>,
    /// The app spec, as JSON.
    pub spec_json: &'a str,
    /// A deploy's hostnames (the generated one and the file's domains), merged into the
    /// app's domains (`domains::merge_from_file`); `None` keeps the app's domains as they are
    /// (a rollback: domains are app-level state, not part of the snapshot).
    pub file_hostnames: Option<&'a [Hostname]>,
    /// Whether the engine's pending work starts for the release (see [`write_work`]).
    pub start_work: bool,
}

/// Writes `r` and everything that goes with it (see the module docs), in the caller's
/// transaction; the release records the app's hostnames as they are after the merge. A
/// hostname held by another app of the org fails with [`StoreError::HostnameTaken`]. Returns
/// the CLI-added domains the deploy's file does not list (kept).
pub(crate) async fn write_pending_release(
    conn: &mut AnyConnection,
    r: &NewPendingRelease<'_>,
    now_ms: i64,
) -> Result<Vec<String>> {
    let (org, app) = (r.org, r.app);
    write_work(conn, org, app, r.start_work, r.version).await?;
    let kept = match r.file_hostnames {
        Some(list) => domains::merge_from_file(conn, org, app, list, now_ms).await?,
        None => Vec::new(),
    };
    let hostnames = domains::app_hostnames(conn, org, app).await?;
    let hostnames_json = to_json("release hostnames", &hostnames)?;
    let secrets = config::secret_versions(conn, org, app).await?;
    let secrets_json = to_json("release secrets", &secrets)?;
    supersede_pending(conn, org, app, r.version, now_ms).await?;
    releases::insert(
        conn,
        &releases::NewRelease {
            org,
            app,
            version: r.version,
            status: ReleaseStatus::Pending,
            image: r.image,
            source: r.source,
            context: r.context,
            artifact: r.artifact,
            spec_json: r.spec_json,
            hostnames_json: &hostnames_json,
            secrets_json: &secrets_json,
            generation: r.generation,
            created_at_ms: now_ms,
        },
    )
    .await?;
    new_release_events(conn, r, now_ms).await?;
    Ok(kept)
}

/// Starts the engine's work on the new release (`Work::new(version)`: build first), or
/// clears it.
async fn write_work(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
    start: bool,
    version: i64,
) -> Result<()> {
    let work_json = match start {
        true => {
            let version = to_u64("release version", version)?;
            Some(to_json("app work", &Work::new(version))?)
        }
        false => None,
    };
    sqlx::query("UPDATE apps SET work = $1 WHERE org = $2 AND name = $3")
        .bind(work_json)
        .bind(org)
        .bind(app)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Pending releases older than `version` are overtaken: `superseded`, each with an event.
async fn supersede_pending(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
    version: i64,
    now_ms: i64,
) -> Result<()> {
    let rows = sqlx::query(
        "UPDATE releases SET status = $1 WHERE org = $2 AND app = $3 AND status = $4 \
         AND version < $5 RETURNING version",
    )
    .bind(ReleaseStatus::Superseded.as_str())
    .bind(org)
    .bind(app)
    .bind(ReleaseStatus::Pending.as_str())
    .bind(version)
    .fetch_all(&mut *conn)
    .await?;
    let mut overtaken: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get::<i64, _>("version"))
        .collect::<std::result::Result<_, _>>()?;
    overtaken.sort_unstable();
    for v in overtaken {
        let data = json!({
            "version": v,
            "status": ReleaseStatus::Superseded.as_str(),
            "superseded_by": version,
        });
        append_event(conn, org, app, EventType::Release, &data, now_ms).await?;
    }
    Ok(())
}

/// The `release` (pending) and `phase` (accepted) events of a new release.
async fn new_release_events(
    conn: &mut AnyConnection,
    r: &NewPendingRelease<'_>,
    now_ms: i64,
) -> Result<()> {
    let release_event = json!({
        "version": r.version,
        "status": ReleaseStatus::Pending.as_str(),
        "source": r.source,
        "image": r.image,
    });
    let phase_event = json!({ "phase": Phase::Accepted.as_str(), "generation": r.generation });
    for (kind, data) in [
        (EventType::Release, &release_event),
        (EventType::Phase, &phase_event),
    ] {
        append_event(conn, r.org, r.app, kind, data, now_ms).await?;
    }
    Ok(())
}

/// One event of the app; the app must exist (the caller's transaction wrote its row).
async fn append_event(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
    kind: EventType,
    data: &serde_json::Value,
    now_ms: i64,
) -> Result<()> {
    events::insert(conn, org, app, kind, data, now_ms)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("app {org}/{app}")))?;
    Ok(())
}
