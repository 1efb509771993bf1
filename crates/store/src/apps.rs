//! Apps: the desired state per org (spec, generation, phase, hostnames) and the deploy that
//! records a new generation, its pending release and its events in one transaction. Release
//! versions come from the app row's `last_release` counter, bumped by the same upsert that
//! takes the row lock, so concurrent deploys get distinct, consecutive versions.

use std::collections::BTreeMap;

use satusky_core::engine::{Operated, StatusDoc, Work};
use satusky_core::operate::scale_after_deploy;
use satusky_types::{AppSpec, Hostname, Phase};
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;
use sqlx::error::ErrorKind;

use crate::codec::{from_json, parse_enum, to_json, to_opt_u64, to_u64};
use crate::error::{Result, StoreError};
use crate::release_write::{NewPendingRelease, write_pending_release};
use crate::templates::{self, TemplateDeploy};
use crate::{Store, config, domains};

/// What `record_deploy` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployRecord {
    /// The app's new generation (1 for a new app).
    pub generation: u64,
    /// The version of the pending release this deploy created.
    pub release: u64,
    /// Whether the app was created by this deploy.
    pub created: bool,
    /// The rollback release the app was pinned to, now unpinned by this deploy.
    pub unpinned: Option<u64>,
    /// Domains added with `1ctl domains add` that the deploy's file does not list: kept.
    pub kept: Vec<String>,
    /// Env keys set with `1ctl env set` that the deploy's `[env]` does not list: kept.
    pub kept_env: Vec<String>,
    /// Changes staged with `--stage` that this deploy applied (`env LOG_LEVEL set`, …).
    pub staged_applied: Vec<String>,
    /// What became of a replica count set with `1ctl app scale`.
    pub scale: ScaleAfterDeploy,
}

/// What a deploy did to a replica count set with `1ctl app scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScaleAfterDeploy {
    /// The app was not scaled.
    #[default]
    NotScaled,
    /// Kept: the file does not set `replicas`.
    Kept(u32),
    /// Replaced by the file's `replicas` (or dropped for `[hpa]`).
    Replaced { scaled: u32, now: u32 },
}

/// What a deploy writes (see [`Store::record_deploy_with`]).
#[derive(Debug, Clone, Copy)]
pub struct DeployInput<'a> {
    pub spec: &'a AppSpec,
    pub hostnames: &'a [Hostname],
    /// `deploy`, `rollback(from=vK)`, …
    pub source: &'a str,
    /// The uploaded build context (`sha256:…`), when there is one.
    pub context: Option<&'a str>,
    /// Whether the engine's pending work starts for the new release (`Work::new(version)`);
    /// `false` leaves the app without work (no runtime will build or apply it).
    pub start_work: bool,
    /// The deployed file sets `replicas` (an API caller's spec always does): it replaces a
    /// count set with `1ctl app scale`. `false` keeps that count.
    pub sets_replicas: bool,
    /// A deploy from a marketplace template: remembered on the app, its secrets written in
    /// the same transaction. `None` (a deploy from a file) forgets an earlier template.
    pub template: Option<TemplateDeploy<'a>>,
}

/// One app's stored desired state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRecord {
    pub org: String,
    pub name: String,
    pub generation: u64,
    pub spec: AppSpec,
    /// The release whose workload is serving, once one became ready.
    pub active_release: Option<u64>,
    /// The release being rolled out.
    pub target_release: Option<u64>,
    pub phase: Phase,
    /// Generated first, then aliases, then redirects, each by name (every claim of the app,
    /// routed or not).
    pub hostnames: Vec<Hostname>,
    /// The same, as domains: source, ownership proof, whether routed.
    pub domains: Vec<satusky_types::Domain>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// The engine's last computed status document (build, workload, endpoints), if any (one
    /// that no longer parses reads as absent: the engine writes a fresh one).
    pub status: Option<StatusDoc>,
    /// The engine's pending work, if any (one that no longer parses reads as absent).
    pub work: Option<Work>,
    /// What `1ctl app scale` / `app restart` set on the app.
    pub operated: Operated,
}

/// What `delete_app` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedApp {
    pub releases_removed: u64,
    /// The hostnames freed, sorted.
    pub hostnames: Vec<String>,
    /// The bindings it took part in, removed (a target keeps the secret a binding wrote).
    pub bindings: Vec<crate::BindingRecord>,
}

/// The app columns plus its LEFT JOINed hostnames; one statement, so one consistent snapshot.
macro_rules! app_query {
    ($where:literal) => {
        concat!(
            "SELECT a.org, a.name, a.generation, a.spec, a.active_release, a.target_release, \
             a.phase, a.created_at, a.updated_at, a.status, a.work, a.scaled_replicas, \
             a.restarted_at, ",
            domains::domain_columns!(),
            " FROM apps a LEFT JOIN domains d ON d.org = a.org AND d.app = a.name WHERE ",
            $where
        )
    };
}

impl Store {
    /// Records a deploy of `spec` into `org` with `hostnames`: the app's new generation, its
    /// hostnames, a pending release and the `release` and `phase` events, all or nothing.
    /// A hostname held by another app fails with [`StoreError::HostnameTaken`] and changes
    /// nothing; a missing org fails with [`StoreError::NotFound`].
    pub async fn record_deploy(
        &self,
        org: &str,
        spec: &AppSpec,
        hostnames: &[Hostname],
        source: &str,
        now_ms: i64,
    ) -> Result<DeployRecord> {
        let input = DeployInput {
            spec,
            hostnames,
            source,
            context: None,
            start_work: false,
            sets_replicas: true,
            template: None,
        };
        self.record_deploy_with(org, &input, now_ms).await
    }

    /// [`Store::record_deploy`] with the build context and the engine's pending work, written
    /// in the same transaction. Older pending releases are overtaken: they become
    /// `superseded`, each with a `release` event.
    pub async fn record_deploy_with(
        &self,
        org: &str,
        input: &DeployInput<'_>,
        now_ms: i64,
    ) -> Result<DeployRecord> {
        let DeployInput {
            spec,
            hostnames,
            source,
            context,
            start_work,
            sets_replicas,
            template,
        } = *input;
        let app = spec.name.as_str();
        let accepted = Phase::Accepted.as_str();

        let mut tx = self.begin_write().await?;
        // The app's env as it was before this deploy (an app from before app_env), then the
        // file's [env] merged into it: the release runs the merged env.
        config::track_env(&mut tx, org, app).await?;
        let staged_applied = config::apply_staged(&mut tx, org, app, self.keys(), now_ms).await?;
        let (env, kept_env) = config::merge_file_env(&mut tx, org, app, &spec.env, now_ms).await?;
        if let Some(t) = template
            && !t.secrets.is_empty()
        {
            let ring = self.keys().ok_or(StoreError::NoKeyRing)?;
            for (name, value) in t.secrets {
                config::write_secret_if_changed(&mut tx, org, app, name, value, ring, now_ms)
                    .await?;
            }
        }
        let missing = config::missing_secrets(&mut tx, org, app, &spec.secrets.required).await?;
        if !missing.is_empty() {
            return Err(StoreError::MissingSecrets { names: missing });
        }
        let mut merged = spec.clone();
        merged.env = env;
        let spec_json = to_json("app spec", &merged)?;
        // The first statement writes: it takes SQLite's write lock and PostgreSQL's row lock,
        // and allocates the release version.
        let row = sqlx::query(
            "INSERT INTO apps (org, name, generation, spec, active_release, target_release, \
             phase, last_release, last_event_seq, created_at, updated_at) \
             VALUES ($1, $2, 1, $3, NULL, 1, $4, 1, \
             (SELECT COALESCE(MAX(last_event_seq), 0) FROM event_seq_floors \
              WHERE org = $1 AND app = $2), $5, $5) \
             ON CONFLICT (org, name) DO UPDATE SET \
             generation = apps.generation + 1, spec = excluded.spec, \
             target_release = apps.last_release + 1, last_release = apps.last_release + 1, \
             phase = excluded.phase, updated_at = excluded.updated_at \
             RETURNING generation, last_release, scaled_replicas",
        )
        .bind(org)
        .bind(app)
        .bind(&spec_json)
        .bind(accepted)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| missing_org(e, org))?;
        let generation: i64 = row.try_get("generation")?;
        let version: i64 = row.try_get("last_release")?;
        let scaled = to_opt_u64("scaled replicas", row.try_get("scaled_replicas")?)?
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        let scale = match scaled {
            None => ScaleAfterDeploy::NotScaled,
            Some(n) => match scale_after_deploy(Some(n), spec, sets_replicas) {
                Some(kept) => ScaleAfterDeploy::Kept(kept),
                None => {
                    sqlx::query(
                        "UPDATE apps SET scaled_replicas = NULL WHERE org = $1 AND name = $2",
                    )
                    .bind(org)
                    .bind(app)
                    .execute(&mut *tx)
                    .await?;
                    ScaleAfterDeploy::Replaced {
                        scaled: n,
                        now: spec.replicas,
                    }
                }
            },
        };
        templates::remember(&mut tx, org, app, template.map(|t| t.used)).await?;
        // A deploy ends a rollback's pin (and says so).
        let unpinned = take_pin(&mut tx, org, app).await?;
        let kept = write_pending_release(
            &mut tx,
            &NewPendingRelease {
                org,
                app,
                version,
                generation,
                source,
                image: spec.image.as_deref(),
                context,
                artifact: None,
                spec_json: &spec_json,
                file_hostnames: Some(hostnames),
                start_work,
            },
            now_ms,
        )
        .await?;
        tx.commit().await?;

        let generation = to_u64("app generation", generation)?;
        Ok(DeployRecord {
            generation,
            release: to_u64("release version", version)?,
            created: generation == 1,
            unpinned: to_opt_u64("pinned release", unpinned)?,
            kept,
            kept_env,
            staged_applied,
            scale,
        })
    }

    /// One app with its hostnames.
    pub async fn get_app(&self, org: &str, app: &str) -> Result<Option<AppRecord>> {
        let rows = sqlx::query(app_query!("a.org = $1 AND a.name = $2"))
            .bind(org)
            .bind(app)
            .fetch_all(&self.pool)
            .await?;
        Ok(group(&rows)?.into_values().next())
    }

    /// The org's apps, by name.
    pub async fn list_apps(&self, org: &str) -> Result<Vec<AppRecord>> {
        let rows = sqlx::query(app_query!("a.org = $1"))
            .bind(org)
            .fetch_all(&self.pool)
            .await?;
        Ok(group(&rows)?.into_values().collect())
    }

    /// Every app of every org (one statement: one consistent snapshot), by org and name —
    /// what `/metrics` shows per app.
    pub async fn every_app(&self) -> Result<Vec<AppRecord>> {
        let rows = sqlx::query(app_query!("1 = 1 ORDER BY a.org, a.name"))
            .fetch_all(&self.pool)
            .await?;
        Ok(group(&rows)?.into_values().collect())
    }

    /// Removes the app with its releases, events, drift findings and hostnames, in one
    /// transaction, keeping its last event sequence number for an app created again under
    /// the same name. `None` when there was no such app.
    pub async fn delete_app(&self, org: &str, app: &str) -> Result<Option<DeletedApp>> {
        let mut tx = self.begin_write().await?;
        let freed =
            sqlx::query("DELETE FROM domains WHERE org = $1 AND app = $2 RETURNING hostname")
                .bind(org)
                .bind(app)
                .fetch_all(&mut *tx)
                .await?;
        sqlx::query(
            "INSERT INTO event_seq_floors (org, app, last_event_seq) \
             SELECT org, name, last_event_seq FROM apps WHERE org = $1 AND name = $2 \
             ON CONFLICT (org, app) DO UPDATE SET last_event_seq = excluded.last_event_seq",
        )
        .bind(org)
        .bind(app)
        .execute(&mut *tx)
        .await?;
        config::forget(&mut tx, org, app).await?;
        let bindings = templates::forget_bindings(&mut tx, org, app).await?;
        for statement in [
            "DELETE FROM events WHERE org = $1 AND app = $2",
            "DELETE FROM drift_findings WHERE org = $1 AND app = $2",
        ] {
            sqlx::query(statement)
                .bind(org)
                .bind(app)
                .execute(&mut *tx)
                .await?;
        }
        let releases = sqlx::query("DELETE FROM releases WHERE org = $1 AND app = $2")
            .bind(org)
            .bind(app)
            .execute(&mut *tx)
            .await?;
        let apps = sqlx::query("DELETE FROM apps WHERE org = $1 AND name = $2")
            .bind(org)
            .bind(app)
            .execute(&mut *tx)
            .await?;
        if apps.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        let mut hostnames = freed
            .iter()
            .map(|r| r.try_get::<String, _>("hostname"))
            .collect::<Result<Vec<_>, _>>()?;
        hostnames.sort();
        Ok(Some(DeletedApp {
            releases_removed: releases.rows_affected(),
            hostnames,
            bindings,
        }))
    }
}

/// Clears the app's rollback pin inside the caller's transaction; returns what it was.
pub(crate) async fn take_pin(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT pinned_release FROM apps WHERE org = $1 AND name = $2")
        .bind(org)
        .bind(app)
        .fetch_optional(&mut *conn)
        .await?;
    let pinned: Option<i64> = match row {
        Some(r) => r.try_get("pinned_release")?,
        None => None,
    };
    if pinned.is_some() {
        sqlx::query("UPDATE apps SET pinned_release = NULL WHERE org = $1 AND name = $2")
            .bind(org)
            .bind(app)
            .execute(&mut *conn)
            .await?;
    }
    Ok(pinned)
}

/// A foreign-key failure on the app insert means the org does not exist.
fn missing_org(err: sqlx::Error, org: &str) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.kind() == ErrorKind::ForeignKeyViolation => {
            StoreError::not_found(format!("org {org}"))
        }
        _ => StoreError::from(err),
    }
}

/// Folds app ⋈ domains rows into records keyed (and so ordered bytewise) by app name.
/// The joined rows grouped into apps, by (org, name).
fn group(rows: &[AnyRow]) -> Result<BTreeMap<(String, String), AppRecord>> {
    let mut apps: BTreeMap<(String, String), AppRecord> = BTreeMap::new();
    for row in rows {
        let key: (String, String) = (row.try_get("org")?, row.try_get("name")?);
        if !apps.contains_key(&key) {
            apps.insert(key.clone(), app_from_row(row)?);
        }
        if let (Some(domain), Some(app)) = (domains::domain_from_row(row)?, apps.get_mut(&key)) {
            app.domains.push(domain);
        }
    }
    for app in apps.values_mut() {
        domains::sort_domains(&mut app.domains);
        app.hostnames = app
            .domains
            .iter()
            .map(satusky_types::Domain::hostname)
            .collect();
    }
    Ok(apps)
}

fn opt_json(what: &str, text: Option<String>) -> Result<Option<serde_json::Value>> {
    text.map(|t| from_json(what, &t)).transpose()
}

fn app_from_row(row: &AnyRow) -> Result<AppRecord> {
    let spec: String = row.try_get("spec")?;
    let phase: String = row.try_get("phase")?;
    Ok(AppRecord {
        org: row.try_get("org")?,
        name: row.try_get("name")?,
        generation: to_u64("app generation", row.try_get("generation")?)?,
        spec: from_json("app spec", &spec)?,
        active_release: to_opt_u64("active release", row.try_get("active_release")?)?,
        target_release: to_opt_u64("target release", row.try_get("target_release")?)?,
        phase: parse_enum("app phase", &phase, Phase::parse)?,
        hostnames: Vec::new(),
        domains: Vec::new(),
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
        status: opt_json("app status", row.try_get("status")?)?
            .and_then(|v| StatusDoc::from_value(&v)),
        work: opt_json("app work", row.try_get("work")?)?.and_then(|v| Work::from_value(&v)),
        operated: Operated {
            replicas: to_opt_u64("scaled replicas", row.try_get("scaled_replicas")?)?
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            restarted_at_ms: row.try_get("restarted_at")?,
        },
    })
}
