//! What the lifecycle engine persists: release transitions (with their events, in one
//! transaction), build results, the app's computed status and pending work, and the local
//! runtime's process ledger. Documents (status, work, failure) are stored as JSON; their
//! shape belongs to `satusky_core::engine`, and [`AppRecord::view`] / [`ReleaseRecord::view`]
//! turn rows into the engine's typed views at this boundary.

use satusky_core::engine::{AppView, ReleaseView, StatusDoc, Work};
use satusky_core::ledger::{LedgerEntry, ProcessKind};
use satusky_core::{AppHostnames, DesiredError, validate_spec};
use satusky_types::{EventType, ReleaseStatus};
use serde_json::{Value, json};
use sqlx::Row;

use crate::codec::{to_i64, to_json, to_u64};
use crate::error::{Result, StoreError};
use crate::events;
use crate::{AppRecord, ReleaseRecord, Store};

fn big(what: &str, v: u64) -> Result<i64> {
    to_i64(v).ok_or_else(|| StoreError::corrupt(what, format!("{v} does not fit a BIGINT")))
}

impl Store {
    /// Apply release status changes in one transaction, each with a `release` event; set the
    /// app's `active_release` when `active` is given; record `failure` on a failed release.
    pub async fn transition_releases(
        &self,
        org: &str,
        app: &str,
        changes: &[(u64, ReleaseStatus)],
        active: Option<u64>,
        failure: Option<&Value>,
        now_ms: i64,
    ) -> Result<()> {
        if changes.is_empty() && active.is_none() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        if let Some(v) = active {
            sqlx::query("UPDATE apps SET active_release = $1 WHERE org = $2 AND name = $3")
                .bind(big("release", v)?)
                .bind(org)
                .bind(app)
                .execute(&mut *tx)
                .await?;
        }
        for (version, status) in changes {
            let failure_json = match (status, failure) {
                (ReleaseStatus::Failed, Some(f)) => Some(to_json("release failure", f)?),
                _ => None,
            };
            let activated = (*status == ReleaseStatus::Active).then_some(now_ms);
            let res = sqlx::query(
                "UPDATE releases SET status = $1, failure = COALESCE($2, failure), \
                 activated_at = COALESCE(activated_at, $6) \
                 WHERE org = $3 AND app = $4 AND version = $5",
            )
            .bind(status.as_str())
            .bind(failure_json)
            .bind(org)
            .bind(app)
            .bind(big("release", *version)?)
            .bind(activated)
            .execute(&mut *tx)
            .await?;
            if res.rows_affected() == 0 {
                return Err(StoreError::not_found(format!(
                    "release {org}/{app}@v{version}"
                )));
            }
            if *status == ReleaseStatus::Failed {
                // A rollback that never ran pins nothing: the app is not held to it.
                sqlx::query(
                    "UPDATE apps SET pinned_release = NULL \
                     WHERE org = $1 AND name = $2 AND pinned_release = $3",
                )
                .bind(org)
                .bind(app)
                .bind(big("release", *version)?)
                .execute(&mut *tx)
                .await?;
            }
            let mut data = json!({"version": version, "status": status.as_str()});
            if let (ReleaseStatus::Failed, Some(f)) = (status, failure) {
                data["failure"] = f.clone();
            }
            events::insert(&mut tx, org, app, EventType::Release, &data, now_ms)
                .await?
                .ok_or_else(|| StoreError::not_found(format!("app {org}/{app}")))?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Record a release's build result.
    pub async fn set_release_artifact(
        &self,
        org: &str,
        app: &str,
        version: u64,
        artifact: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE releases SET artifact = $1 WHERE org = $2 AND app = $3 AND version = $4",
        )
        .bind(artifact)
        .bind(org)
        .bind(app)
        .bind(big("release", version)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Save the app's computed phase and status document for `release`, appending `events`
    /// (plane changes, phase changes, …) in the same transaction. Writes nothing and returns
    /// `false` when `release` is no longer the app's target or the app moved past
    /// `generation` (a newer deploy, scale or restart overtook the reader).
    /// The document says which release it describes and its phase; one without a release
    /// writes nothing.
    pub async fn save_status(
        &self,
        org: &str,
        app: &str,
        status: &StatusDoc,
        events_to_append: &[(EventType, Value)],
        generation: u64,
        now_ms: i64,
    ) -> Result<bool> {
        let Some(release) = status.release else {
            return Ok(false);
        };
        let phase = status.phase();
        let stamped = StatusDoc {
            generation: Some(generation),
            ..status.clone()
        };
        let status_json = to_json("app status", &stamped)?;
        let mut tx = self.begin_write().await?;
        let res = sqlx::query(
            "UPDATE apps SET phase = $1, status = $2 \
             WHERE org = $3 AND name = $4 AND target_release = $5 AND generation = $6",
        )
        .bind(phase.as_str())
        .bind(status_json)
        .bind(org)
        .bind(app)
        .bind(big("release", release)?)
        .bind(big("generation", generation)?)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        for (kind, data) in events_to_append {
            events::insert(&mut tx, org, app, *kind, data, now_ms).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Append events (e.g. a batch of build log lines) in one transaction.
    pub async fn append_events(
        &self,
        org: &str,
        app: &str,
        events_to_append: &[(EventType, Value)],
        now_ms: i64,
    ) -> Result<()> {
        if events_to_append.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for (kind, data) in events_to_append {
            events::insert(&mut tx, org, app, *kind, data, now_ms)
                .await?
                .ok_or_else(|| StoreError::not_found(format!("app {org}/{app}")))?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Set (or clear, with `None`) the engine's pending work for the app.
    pub async fn set_work(&self, org: &str, app: &str, work: Option<&Work>) -> Result<()> {
        let work_json = work.map(|w| to_json("app work", w)).transpose()?;
        sqlx::query("UPDATE apps SET work = $1 WHERE org = $2 AND name = $3")
            .bind(work_json)
            .bind(org)
            .bind(app)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Replace the work of `release` with `work` (or clear it) — only while `release` is still
    /// the app's target and the app is at `generation`, so a driver never overwrites the work
    /// of a newer deploy, scale or restart (the last two keep the release). Returns whether it
    /// wrote.
    pub async fn advance_work(
        &self,
        org: &str,
        app: &str,
        release: u64,
        generation: u64,
        work: Option<&Work>,
    ) -> Result<bool> {
        let work_json = work.map(|w| to_json("app work", w)).transpose()?;
        let res = sqlx::query(
            "UPDATE apps SET work = $1 \
             WHERE org = $2 AND name = $3 AND target_release = $4 AND generation = $5",
        )
        .bind(work_json)
        .bind(org)
        .bind(app)
        .bind(big("release", release)?)
        .bind(big("generation", generation)?)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Every app with pending work, as (org, app).
    pub async fn apps_with_work(&self) -> Result<Vec<(String, String)>> {
        let rows =
            sqlx::query("SELECT org, name FROM apps WHERE work IS NOT NULL ORDER BY org, name")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("org")?, r.try_get("name")?)))
            .collect()
    }

    /// Every app, as (org, app) — for sweeps over all apps (prober, drift).
    pub async fn all_apps(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT org, name FROM apps ORDER BY org, name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("org")?, r.try_get("name")?)))
            .collect()
    }

    /// Record a replica or build process group in the ledger.
    pub async fn ledger_record(&self, e: &LedgerEntry, now_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO replicas (pid, start_ticks, org, app, release, port, created_at, kind) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (pid) DO UPDATE SET start_ticks = excluded.start_ticks, org = excluded.org, \
             app = excluded.app, release = excluded.release, port = excluded.port, \
             created_at = excluded.created_at, kind = excluded.kind",
        )
        .bind(i64::from(e.pid))
        .bind(big("start ticks", e.start_ticks)?)
        .bind(&e.org)
        .bind(&e.app)
        .bind(big("release", e.release)?)
        .bind(i64::from(e.port))
        .bind(now_ms)
        .bind(e.kind.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Drop a process group from the ledger.
    pub async fn ledger_forget(&self, pid: u32) -> Result<()> {
        sqlx::query("DELETE FROM replicas WHERE pid = $1")
            .bind(i64::from(pid))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every process group in the ledger.
    pub async fn ledger_all(&self) -> Result<Vec<LedgerEntry>> {
        let rows = sqlx::query(
            "SELECT pid, start_ticks, org, app, release, port, kind FROM replicas ORDER BY pid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let pid: i64 = r.try_get("pid")?;
                let port: i64 = r.try_get("port")?;
                Ok(LedgerEntry {
                    pid: u32::try_from(pid)
                        .map_err(|_| StoreError::corrupt("replica pid", pid.to_string()))?,
                    start_ticks: to_u64("replica start ticks", r.try_get("start_ticks")?)?,
                    org: r.try_get("org")?,
                    app: r.try_get("app")?,
                    release: to_u64("replica release", r.try_get("release")?)?,
                    port: u16::try_from(port)
                        .map_err(|_| StoreError::corrupt("replica port", port.to_string()))?,
                    kind: ProcessKind::parse(r.try_get::<String, _>("kind")?.as_str()),
                })
            })
            .collect()
    }
}

impl AppRecord {
    /// The app as the engine's step function reads it.
    pub fn view(&self) -> AppView {
        AppView {
            org: self.org.clone(),
            name: self.name.clone(),
            generation: self.generation,
            spec: self.spec.clone(),
            hostnames: self.hostnames.clone(),
            domains: self.domains.clone(),
            active_release: self.active_release,
            target_release: self.target_release,
            phase: self.phase,
            updated_at_ms: self.updated_at_ms,
            status: self.status.clone(),
            work: self.work.clone(),
            operated: self.operated,
        }
    }
}

impl ReleaseRecord {
    /// The release as the engine's step function reads it for `app` as it is now: routing
    /// its routed hostnames, run with its scaled replica count and last restart (see
    /// [`Operated`](satusky_core::engine::Operated)), checked once here at the store boundary:
    /// a stored spec or hostname list that no longer validates is an error.
    pub fn view(&self, app: &AppView) -> Result<ReleaseView, DesiredError> {
        let spec = validate_spec(self.spec.clone()).map_err(DesiredError::Spec)?;
        let spec = match app.operated.replicas {
            Some(n) => spec.with_replicas(n).map_err(DesiredError::Spec)?,
            None => spec,
        };
        // A release that is not public routes nothing, whatever the app claims.
        let hostnames =
            AppHostnames::new(app.routed_for(spec.spec())).map_err(DesiredError::Hostnames)?;
        Ok(ReleaseView {
            version: self.version,
            source: self.source.clone(),
            spec,
            hostnames,
            context: self.context.clone(),
            artifact: self.artifact.clone(),
            secrets: Default::default(),
            restarted_at_ms: app.operated.restarted_at_ms,
        })
    }
}
