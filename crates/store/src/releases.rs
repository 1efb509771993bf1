//! Releases: the versioned snapshots a deploy records (SPEC §3). Each row keeps what is needed
//! to reproduce the deploy — spec, image, hostnames — and its status. Versions are allocated by
//! the app's `last_release` counter (see `apps.rs`), never by counting rows.

use satusky_core::DesiredError;
use satusky_core::runtime::DesiredWorkload;
use satusky_types::{AppSpec, Hostname, ReleaseInfo, ReleaseStatus};
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::codec::{from_json, parse_enum, to_i64, to_u64};
use crate::error::Result;

/// One stored release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRecord {
    pub version: u64,
    pub status: ReleaseStatus,
    /// The image (pinned to a digest once known); `None` while a build is pending.
    pub image: Option<String>,
    /// What made it: `deploy`, `rollback(from=vK)`, `env`, `secret`, `domain`.
    pub source: String,
    pub spec: AppSpec,
    pub hostnames: Vec<Hostname>,
    /// The app generation this release reconciles.
    pub generation: u64,
    pub created_at_ms: i64,
    /// The uploaded build context (`sha256:…`), if the deploy uploaded one.
    pub context: Option<String>,
    /// The build's output (artifact or pinned image), once built.
    pub artifact: Option<String>,
    /// Why it failed (`{"dimension", "reason", "message"}`), if it did.
    pub failure: Option<serde_json::Value>,
    /// When it first became active, if it ever did.
    pub activated_at_ms: Option<i64>,
    /// The versions of the app's secrets it was made with, by name.
    pub secrets: std::collections::BTreeMap<String, u64>,
}

impl ReleaseRecord {
    /// What a runtime must make true for this release of `app` as it is now (its routed
    /// hostnames, scaled count, last restart): its spec validated and the hostnames checked
    /// again as they are read back (the rules may have become stricter since it was
    /// recorded) — the one validation between the store and the runtimes.
    pub fn desired(
        &self,
        app: &satusky_core::engine::AppView,
    ) -> Result<DesiredWorkload, DesiredError> {
        Ok(self.view(app)?.desired(&app.org, &app.name))
    }

    /// The release as the API and `1ctl app releases` show it.
    pub fn info(&self) -> ReleaseInfo {
        ReleaseInfo {
            version: self.version,
            status: self.status,
            image: self.artifact.clone().or_else(|| self.image.clone()),
            source: self.source.clone(),
            created_at: satusky_core::time::rfc3339_ms(self.created_at_ms),
            generation: self.generation,
            secrets: self.secrets.clone(),
        }
    }
}

/// The columns `from_row` reads (a macro so the queries stay `'static` strings).
macro_rules! release_columns {
    () => {
        "version, status, image, source, spec, hostnames, generation, created_at, context, artifact, failure, activated_at, secrets"
    };
}

impl Store {
    /// The app's releases, newest first (empty when the app does not exist).
    pub async fn list_releases(&self, org: &str, app: &str) -> Result<Vec<ReleaseRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            release_columns!(),
            " FROM releases WHERE org = $1 AND app = $2 ORDER BY version DESC"
        ))
        .bind(org)
        .bind(app)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// One release of the app.
    pub async fn get_release(
        &self,
        org: &str,
        app: &str,
        version: u64,
    ) -> Result<Option<ReleaseRecord>> {
        let Some(version) = to_i64(version) else {
            return Ok(None);
        };
        let row = sqlx::query(concat!(
            "SELECT ",
            release_columns!(),
            " FROM releases WHERE org = $1 AND app = $2 AND version = $3"
        ))
        .bind(org)
        .bind(app)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }
}

/// A release about to be written, with its JSON columns already encoded.
pub(crate) struct NewRelease<'a> {
    pub org: &'a str,
    pub app: &'a str,
    pub version: i64,
    pub status: ReleaseStatus,
    pub image: Option<&'a str>,
    pub source: &'a str,
    pub context: Option<&'a str>,
    pub artifact: Option<&'a str>,
    pub spec_json: &'a str,
    pub hostnames_json: &'a str,
    /// The secret versions it is made with, as JSON.
    pub secrets_json: &'a str,
    pub generation: i64,
    pub created_at_ms: i64,
}

/// Inserts a release inside the caller's transaction.
pub(crate) async fn insert(conn: &mut AnyConnection, r: &NewRelease<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO releases \
         (org, app, version, status, image, source, spec, hostnames, generation, created_at, context, artifact, secrets) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(r.org)
    .bind(r.app)
    .bind(r.version)
    .bind(r.status.as_str())
    .bind(r.image)
    .bind(r.source)
    .bind(r.spec_json)
    .bind(r.hostnames_json)
    .bind(r.generation)
    .bind(r.created_at_ms)
    .bind(r.context)
    .bind(r.artifact)
    .bind(r.secrets_json)
    .execute(conn)
    .await?;
    Ok(())
}

fn from_row(row: &AnyRow) -> Result<ReleaseRecord> {
    let status: String = row.try_get("status")?;
    let spec: String = row.try_get("spec")?;
    let hostnames: String = row.try_get("hostnames")?;
    Ok(ReleaseRecord {
        version: to_u64("release version", row.try_get("version")?)?,
        status: parse_enum("release status", &status, ReleaseStatus::parse)?,
        image: row.try_get("image")?,
        source: row.try_get("source")?,
        spec: from_json("release spec", &spec)?,
        hostnames: from_json("release hostnames", &hostnames)?,
        generation: to_u64("release generation", row.try_get("generation")?)?,
        created_at_ms: row.try_get("created_at")?,
        context: row.try_get("context")?,
        artifact: row.try_get("artifact")?,
        failure: row
            .try_get::<Option<String>, _>("failure")?
            .map(|f| from_json("release failure", &f))
            .transpose()?,
        activated_at_ms: row.try_get("activated_at")?,
        secrets: from_json("release secrets", &row.try_get::<String, _>("secrets")?)?,
    })
}
