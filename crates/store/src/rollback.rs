//! Rollback (SPEC §3): a NEW release N+1 that reconciles the snapshot of an older release vK —
//! same spec, same image or artifact (never rebuilt) — with source `rollback(from=vK)`, and the
//! app pinned to it until the next explicit deploy. Domains are app-level state: a rollback
//! keeps the current set (SPEC §10). History is never rewritten: vK stays what it was.

use satusky_types::{AppSpec, Hostname, Phase};
use sqlx::Row;

use crate::Store;
use crate::codec::{from_json, to_i64, to_opt_u64, to_u64};
use crate::error::{Result, StoreError};
use crate::release_write::{NewPendingRelease, write_pending_release};

/// What `record_rollback` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackRecord {
    pub generation: u64,
    /// The new release (N+1).
    pub release: u64,
    /// The snapshot it reconciles (K).
    pub from: u64,
    pub image: Option<String>,
    pub artifact: Option<String>,
}

impl Store {
    /// The latest release that was active before the current active one (whatever its
    /// status now): the default target of a rollback.
    pub async fn previous_active(&self, org: &str, app: &str) -> Result<Option<u64>> {
        let row = sqlx::query(
            "SELECT r.version FROM releases r JOIN apps a ON a.org = r.org AND a.name = r.app \
             WHERE r.org = $1 AND r.app = $2 AND r.activated_at IS NOT NULL \
             AND r.version <> COALESCE(a.active_release, -1) \
             ORDER BY r.activated_at DESC, r.version DESC LIMIT 1",
        )
        .bind(org)
        .bind(app)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => to_opt_u64("release version", Some(r.try_get("version")?)),
            None => Ok(None),
        }
    }

    /// Record a rollback to `from` in one transaction: the app's spec becomes the snapshot's
    /// (its domains stay as they are), a pending release N+1 copying vK's spec, image,
    /// artifact and context, the app pinned to it, older pending
    /// releases superseded, the engine's work started when `start_work`, events appended.
    pub async fn record_rollback(
        &self,
        org: &str,
        app: &str,
        from: u64,
        start_work: bool,
        now_ms: i64,
    ) -> Result<RollbackRecord> {
        let from_i = to_i64(from)
            .ok_or_else(|| StoreError::not_found(format!("release {org}/{app}@v{from}")))?;
        let mut tx = self.begin_write().await?;
        // Write first (row lock / write lock), allocating N+1 and pinning the app to it.
        let row = sqlx::query(
            "UPDATE apps SET generation = generation + 1, last_release = last_release + 1, \
             target_release = last_release + 1, pinned_release = last_release + 1, \
             phase = $1, updated_at = $2 WHERE org = $3 AND name = $4 \
             RETURNING generation, last_release",
        )
        .bind(Phase::Accepted.as_str())
        .bind(now_ms)
        .bind(org)
        .bind(app)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("app {org}/{app}")))?;
        let generation: i64 = row.try_get("generation")?;
        let version: i64 = row.try_get("last_release")?;
        let snap = sqlx::query(
            "SELECT spec, image, hostnames, context, artifact FROM releases \
             WHERE org = $1 AND app = $2 AND version = $3",
        )
        .bind(org)
        .bind(app)
        .bind(from_i)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("release {org}/{app}@v{from}")))?;
        let spec_json: String = snap.try_get("spec")?;
        let hostnames_json: String = snap.try_get("hostnames")?;
        let image: Option<String> = snap.try_get("image")?;
        let context: Option<String> = snap.try_get("context")?;
        let artifact: Option<String> = snap.try_get("artifact")?;
        // Decode to be sure the snapshot is sound before it becomes the desired state.
        let spec: AppSpec = from_json("release spec", &spec_json)?;
        let _hostnames: Vec<Hostname> = from_json("release hostnames", &hostnames_json)?;
        sqlx::query("UPDATE apps SET spec = $1 WHERE org = $2 AND name = $3")
            .bind(&spec_json)
            .bind(org)
            .bind(app)
            .execute(&mut *tx)
            .await?;
        // The snapshot's env comes back; the secrets stay as they are now.
        crate::config::track_env(&mut tx, org, app).await?;
        crate::config::restore_env(&mut tx, org, app, &spec.env, now_ms).await?;
        let source = format!("rollback(from=v{from})");
        let _kept = write_pending_release(
            &mut tx,
            &NewPendingRelease {
                org,
                app,
                version,
                generation,
                source: &source,
                image: image.as_deref(),
                context: context.as_deref(),
                artifact: artifact.as_deref(),
                spec_json: &spec_json,
                file_hostnames: None,
                start_work,
            },
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(RollbackRecord {
            generation: to_u64("app generation", generation)?,
            release: to_u64("release version", version)?,
            from,
            image,
            artifact,
        })
    }
}
