//! Apps deployed from a marketplace template, and bindings.
//!
//! **Template use** (`apps.template`, JSON): the template an app was last deployed from — its
//! name, version and parameter values — so an upgrade starts from what the app runs. A secret
//! parameter is stored as the name of the app secret holding it: its value lives sealed in
//! `app_secrets` only, written in the deploy's transaction (see `Store::record_deploy_with`),
//! and is opened again here for the next resolution. A deploy from a `satusky.toml` clears it.
//!
//! **Bindings** (`bindings`): an output of a service app (e.g. its connection URL) written into
//! another app's secret. The secret is written through the ordinary secret change (so it is a
//! config release of the target, and never readable), and the binding row in the same
//! transaction. Destroying either app removes its bindings; the target's secret stays (the
//! caller says so).

use std::collections::BTreeMap;

use satusky_core::secrets::{Binding, SecretValue};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use sqlx::Row;

use crate::Store;
use crate::codec::{from_json, to_json};
use crate::config::{opened_text, sealed_secrets};
use crate::error::{Result, StoreError};

/// What an app was last deployed from (stored as JSON on the app).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateUse {
    pub name: String,
    pub version: u32,
    /// Parameter → value, for every parameter that is not a secret.
    #[serde(default)]
    pub plain: BTreeMap<String, String>,
    /// Secret parameter → the app secret that holds its value.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

impl TemplateUse {
    /// `template(NAME@VERSION)`: the release source of a deploy from it.
    pub fn source(&self) -> String {
        format!("template({}@{})", self.name, self.version)
    }
}

/// A template deploy's part of [`crate::DeployInput`]: what to remember, and the values of
/// its secrets (app secret name → value), written sealed in the deploy's transaction.
#[derive(Debug, Clone, Copy)]
pub struct TemplateDeploy<'a> {
    pub used: &'a TemplateUse,
    pub secrets: &'a BTreeMap<String, SecretValue>,
}

/// An app's template use with the values of its secret parameters, opened.
#[derive(Debug, Clone)]
pub struct StoredTemplate {
    pub used: TemplateUse,
    /// Secret parameter → its value (a parameter whose secret was unset since is absent).
    pub secret_values: BTreeMap<String, SecretValue>,
}

/// One binding: `service`'s output `output` written into `target`'s secret `secret`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingRecord {
    pub service: String,
    pub output: String,
    pub target: String,
    pub secret: String,
    pub created_at_ms: i64,
}

impl Store {
    /// The template `org/app` was last deployed from (`None`: no such app, or deployed from
    /// a `satusky.toml`).
    pub async fn template_use(&self, org: &str, app: &str) -> Result<Option<TemplateUse>> {
        let mut conn = self.pool.acquire().await?;
        read_use(&mut conn, org, app).await
    }

    /// [`Store::template_use`] with its secret parameters' values, opened.
    pub async fn template_of(&self, org: &str, app: &str) -> Result<Option<StoredTemplate>> {
        let mut conn = self.pool.acquire().await?;
        let Some(used) = read_use(&mut conn, org, app).await? else {
            return Ok(None);
        };
        let mut secret_values = BTreeMap::new();
        if !used.secrets.is_empty() {
            let ring = self.keys().ok_or(StoreError::NoKeyRing)?;
            let sealed = sealed_secrets(&mut conn, org, app).await?;
            for (parameter, name) in &used.secrets {
                if let Some((version, s)) = sealed.get(name) {
                    let binding = Binding::AppSecret {
                        org,
                        app,
                        name,
                        version: *version,
                    };
                    secret_values.insert(parameter.clone(), opened_text(ring, &binding, s)?);
                }
            }
        }
        Ok(Some(StoredTemplate {
            used,
            secret_values,
        }))
    }

    /// The bindings `app` takes part in, as service or as target, by service then target.
    pub async fn bindings_of(&self, org: &str, app: &str) -> Result<Vec<BindingRecord>> {
        let mut conn = self.pool.acquire().await?;
        let rows = sqlx::query(
            "SELECT service, output, target, secret, created_at FROM bindings \
             WHERE org = $1 AND (service = $2 OR target = $2) \
             ORDER BY service, target, secret",
        )
        .bind(org)
        .bind(app)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(binding_row).collect()
    }
}

async fn read_use(conn: &mut AnyConnection, org: &str, app: &str) -> Result<Option<TemplateUse>> {
    let row = sqlx::query("SELECT template FROM apps WHERE org = $1 AND name = $2")
        .bind(org)
        .bind(app)
        .fetch_optional(&mut *conn)
        .await?;
    let text: Option<String> = match row {
        Some(r) => r.try_get("template")?,
        None => None,
    };
    text.map(|t| from_json("app template", &t)).transpose()
}

/// Records `template` (or clears it: a deploy from a file) on the app, in the deploy's
/// transaction.
pub(crate) async fn remember(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
    template: Option<&TemplateUse>,
) -> Result<()> {
    let json = template.map(|t| to_json("app template", t)).transpose()?;
    sqlx::query("UPDATE apps SET template = $1 WHERE org = $2 AND name = $3")
        .bind(json)
        .bind(org)
        .bind(app)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records a binding (replacing the one that wrote the same target secret), in the caller's
/// transaction.
pub(crate) async fn record_binding(
    conn: &mut AnyConnection,
    org: &str,
    b: &BindingRecord,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO bindings (org, target, secret, service, output, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org, target, secret) DO UPDATE SET \
         service = excluded.service, output = excluded.output, created_at = excluded.created_at",
    )
    .bind(org)
    .bind(&b.target)
    .bind(&b.secret)
    .bind(&b.service)
    .bind(&b.output)
    .bind(b.created_at_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Removes every binding `app` takes part in (it is destroyed); returns them.
pub(crate) async fn forget_bindings(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
) -> Result<Vec<BindingRecord>> {
    let rows = sqlx::query(
        "DELETE FROM bindings WHERE org = $1 AND (service = $2 OR target = $2) \
         RETURNING service, output, target, secret, created_at",
    )
    .bind(org)
    .bind(app)
    .fetch_all(&mut *conn)
    .await?;
    let mut gone = rows.iter().map(binding_row).collect::<Result<Vec<_>>>()?;
    gone.sort_by(|a, b| {
        (&a.service, &a.target, &a.secret).cmp(&(&b.service, &b.target, &b.secret))
    });
    Ok(gone)
}

fn binding_row(r: &sqlx::any::AnyRow) -> Result<BindingRecord> {
    Ok(BindingRecord {
        service: r.try_get("service")?,
        output: r.try_get("output")?,
        target: r.try_get("target")?,
        secret: r.try_get("secret")?,
        created_at_ms: r.try_get("created_at")?,
    })
}
