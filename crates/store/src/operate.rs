//! Operating an app's running release (SPEC §10: scale and restart are not releases):
//! [`Store::operate`] records what `1ctl app scale N` or `app restart` sets on the app (its
//! scaled replica count, its last restart), moves the generation on, points the target back
//! at the active release and — when a runtime is attached — starts work that applies that
//! release again, with an `operation` event; all in one transaction.
//!
//! The rules (which counts are allowed, what a deploy keeps) are `satusky_core::operate`'s;
//! the engine's step function never fails the active release for an operation's rollout.

use satusky_core::engine::{Operation, Work};
use satusky_core::operate::check_scale;
use satusky_types::{AppSpec, EventType};
use serde_json::json;
use sqlx::Row;

use crate::codec::{from_json, to_i64, to_json, to_opt_u64, to_u64};
use crate::error::{Result, StoreError};
use crate::{Store, events};

/// What is asked of the running release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationRequest {
    /// Run this many replicas.
    Scale(u32),
    /// Replace every replica.
    Restart,
}

/// What [`Store::operate`] recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationRecord {
    /// The active release it operates on.
    pub release: u64,
    /// The app's generation after it (unchanged when nothing changed).
    pub generation: u64,
    /// `None` when nothing changed (a scale to the count that already runs).
    pub operation: Option<Operation>,
    /// The replica count before and after.
    pub replicas: (u32, u32),
    /// The seq of its `operation` event (a follower starts just before it); with nothing
    /// changed, the app's last event's.
    pub event_seq: u64,
}

impl Store {
    /// Record `request` on `org/app`'s active release. Refused: no such app
    /// ([`StoreError::NotFound`]); nothing runs yet ([`StoreError::NotRunning`]); another
    /// release is being deployed ([`StoreError::DeployInFlight`]); a count the rules refuse
    /// ([`StoreError::ScaleRefused`]). An operation already running on the active release is
    /// replaced by this one (the generation tells its driver it was overtaken).
    pub async fn operate(
        &self,
        org: &str,
        app: &str,
        request: OperationRequest,
        start_work: bool,
        now_ms: i64,
    ) -> Result<OperationRecord> {
        let mut tx = self.begin_write().await?;
        // Write first: SQLite's write lock is held since BEGIN IMMEDIATE; this takes
        // PostgreSQL's row lock on the app.
        let row = sqlx::query(
            "UPDATE apps SET updated_at = updated_at WHERE org = $1 AND name = $2 \
             RETURNING generation, active_release, work, scaled_replicas",
        )
        .bind(org)
        .bind(app)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("app {org}/{app}")))?;
        let generation = to_u64("app generation", row.try_get("generation")?)?;
        let Some(active) = to_opt_u64("active release", row.try_get("active_release")?)? else {
            return Err(StoreError::NotRunning {
                app: app.to_string(),
            });
        };
        let work: Option<String> = row.try_get("work")?;
        let work: Option<Work> = work.map(|w| from_json("app work", &w)).transpose()?;
        if let Some(w) = &work
            && w.release != active
        {
            return Err(StoreError::DeployInFlight { release: w.release });
        }
        let scaled = to_opt_u64("scaled replicas", row.try_get("scaled_replicas")?)?
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        let spec_row =
            sqlx::query("SELECT spec FROM releases WHERE org = $1 AND app = $2 AND version = $3")
                .bind(org)
                .bind(app)
                .bind(to_i64(active).unwrap_or(i64::MAX))
                .fetch_one(&mut *tx)
                .await?;
        let spec: String = spec_row.try_get("spec")?;
        let spec: AppSpec = from_json("release spec", &spec)?;
        let before = scaled.unwrap_or(spec.replicas);
        let (operation, after) = match request {
            OperationRequest::Scale(n) => {
                check_scale(&spec, n).map_err(StoreError::ScaleRefused)?;
                (
                    Operation::Scale {
                        from: before,
                        to: n,
                    },
                    n,
                )
            }
            OperationRequest::Restart => (Operation::Restart, before),
        };
        if operation
            == (Operation::Scale {
                from: before,
                to: before,
            })
        {
            // Already that many: nothing to record (a repeated request changes nothing).
            tx.rollback().await?;
            return Ok(OperationRecord {
                release: active,
                generation,
                operation: None,
                replicas: (before, before),
                event_seq: self.last_event_seq(org, app).await?.unwrap_or(0),
            });
        }
        let work = start_work.then(|| Work::operate(active, operation));
        let work_json = work.as_ref().map(|w| to_json("app work", w)).transpose()?;
        let row = match operation {
            Operation::Scale { to, .. } => sqlx::query(
                "UPDATE apps SET generation = generation + 1, scaled_replicas = $1, \
                     target_release = active_release, work = COALESCE($2, work), updated_at = $3 \
                     WHERE org = $4 AND name = $5 RETURNING generation",
            )
            .bind(i64::from(to)),
            Operation::Restart => sqlx::query(
                "UPDATE apps SET generation = generation + 1, restarted_at = $1, \
                 target_release = active_release, work = COALESCE($2, work), updated_at = $3 \
                 WHERE org = $4 AND name = $5 RETURNING generation",
            )
            .bind(now_ms),
        }
        .bind(work_json)
        .bind(now_ms)
        .bind(org)
        .bind(app)
        .fetch_one(&mut *tx)
        .await?;
        let generation = to_u64("app generation", row.try_get("generation")?)?;
        let message = match operation {
            Operation::Scale { from, to } => format!("scaled from {from} to {to} replicas"),
            Operation::Restart => format!("restart of v{active}'s {before} replica(s) asked"),
        };
        let mut data = json!({
            "operation": operation.name(),
            "release": active,
            "generation": generation,
            "message": message,
        });
        if let Operation::Scale { from, to } = operation {
            data["from"] = json!(from);
            data["to"] = json!(to);
        }
        let event = events::insert(&mut tx, org, app, EventType::Operation, &data, now_ms).await?;
        tx.commit().await?;
        Ok(OperationRecord {
            release: active,
            generation,
            operation: Some(operation),
            replicas: (before, after),
            event_seq: event.map_or(0, |e| e.seq),
        })
    }
}
