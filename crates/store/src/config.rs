//! An app's env and secrets: app-level state that outlives releases, like its domains.
//!
//! **Env** (`app_env`): one row per key with its source — `file` (satusky.toml's `[env]`: a
//! deploy adds, updates and removes these) or `cli` (`1ctl env set`: a deploy keeps them and
//! the deploy's answer lists them). A release's spec carries the env as it was merged.
//!
//! **Secrets** (`app_secrets`): sealed by the caller's [`KeyRing`] inside the transaction that
//! allocates their version (the associated data binds org, app, name and version, so the
//! version must be known first); only the key id, nonce and ciphertext are stored, in hex.
//! Plaintext never enters a statement. An unset secret keeps a row without a value so its next
//! set continues the version count. A release records the versions it was made with.
//!
//! **A change is a release**: changing the env or a secret of an app with an active release
//! records release N+1 (source `config`) copying the active release's image, artifact and
//! context — so it is never rebuilt — with the env as it is now, in the same transaction.
//! Refused while a deploy is in flight ([`StoreError::DeployInFlight`]) — unless that release
//! is already active and only its endpoints are being checked. Setting a key to
//! its current value, or removing one that is not set, changes nothing; a change where
//! nothing changed records no release. A key is env or secret, never both
//! ([`StoreError::KeyClash`]).

use std::collections::BTreeMap;

use satusky_core::engine::Work;
use satusky_core::secrets::{Binding, KeyRing, Sealed, SecretEntry, SecretValue, Secrets};
use satusky_types::{AppSpec, EnvVar, Phase, SecretInfo, StagedOp, VarSource};
use sqlx::AnyConnection;
use sqlx::Row;

use crate::Store;
use crate::codec::{from_json, parse_enum, to_json, to_opt_u64, to_u64};
use crate::error::{Result, StoreError};
use crate::release_write::{NewPendingRelease, write_pending_release};
use crate::templates::{self, BindingRecord};

/// What a change of env or secrets did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigOutcome {
    /// Keys whose value changed (set to something new, or removed).
    pub changed: Vec<String>,
    /// Keys set to their current value, or removed while not set.
    pub unchanged: Vec<String>,
    /// The release recording the change (an app with an active release, something changed).
    pub release: Option<u64>,
    /// The active release it copies.
    pub from: Option<u64>,
    /// The rollback release the app stays pinned to.
    pub pinned: Option<u64>,
    /// Whether the app exists (values set before the first deploy wait for it).
    pub app_exists: bool,
    /// The change was staged for the next deploy (no release now).
    pub staged: bool,
}

/// How a change is made: staged for the next deploy, or now (with the engine's work started
/// for its release when `start_work`).
#[derive(Debug, Clone, Copy)]
struct How<'a> {
    stage: bool,
    start_work: bool,
    /// A binding written with the change (its target secret is the one change).
    binding: Option<&'a BindingRecord>,
}

/// Which of an app's two maps a change writes.
enum Target<'a> {
    Env(&'a BTreeMap<String, String>),
    Secrets(&'a BTreeMap<String, SecretValue>, &'a KeyRing),
}

impl Store {
    /// The app's env, by name (copied from its spec first if it predates `app_env`).
    pub async fn list_env(&self, org: &str, app: &str) -> Result<Vec<EnvVar>> {
        let mut tx = self.begin_write().await?;
        track_env(&mut tx, org, app).await?;
        let rows = sqlx::query(
            "SELECT name, value, source, updated_at FROM app_env \
             WHERE org = $1 AND app = $2 ORDER BY name",
        )
        .bind(org)
        .bind(app)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut vars = rows
            .iter()
            .map(|r| {
                let source: String = r.try_get("source")?;
                Ok(EnvVar {
                    name: r.try_get("name")?,
                    value: r.try_get("value")?,
                    source: parse_enum("env source", &source, VarSource::parse)?,
                    updated_at: satusky_core::time::rfc3339_ms(r.try_get("updated_at")?),
                    staged: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        for (name, op, value, at) in staged_rows(&self.pool, org, app, "env").await? {
            vars.push(EnvVar {
                name,
                value: value.unwrap_or_default(),
                source: VarSource::Cli,
                updated_at: satusky_core::time::rfc3339_ms(at),
                staged: Some(op),
            });
        }
        vars.sort_by(|a, b| {
            (a.name.as_str(), a.staged.is_some()).cmp(&(b.name.as_str(), b.staged.is_some()))
        });
        Ok(vars)
    }

    /// The app's secrets: names, versions, when each changed — never values.
    pub async fn list_secrets(&self, org: &str, app: &str) -> Result<Vec<SecretInfo>> {
        let rows = sqlx::query(
            "SELECT name, version, updated_at FROM app_secrets \
             WHERE org = $1 AND app = $2 AND ciphertext IS NOT NULL",
        )
        .bind(org)
        .bind(app)
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(SecretInfo {
                    name: r.try_get("name")?,
                    version: to_u64("secret version", r.try_get("version")?)?,
                    updated_at: satusky_core::time::rfc3339_ms(r.try_get("updated_at")?),
                    staged: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        for (name, op, _, at) in staged_rows(&self.pool, org, app, "secret").await? {
            let version = out.iter().find(|s| s.name == name).map_or(0, |s| s.version);
            out.push(SecretInfo {
                name,
                version,
                updated_at: satusky_core::time::rfc3339_ms(at),
                staged: Some(op),
            });
        }
        out.sort_by(|a, b| {
            (a.name.as_str(), a.staged.is_some()).cmp(&(b.name.as_str(), b.staged.is_some()))
        });
        Ok(out)
    }

    /// The app's secrets, opened with the store's key ring (in memory only). An app without
    /// secrets needs no ring; one with secrets and no ring fails with
    /// [`StoreError::NoKeyRing`].
    pub async fn open_secrets(&self, org: &str, app: &str) -> Result<Secrets> {
        let ring = self.keys();
        let mut conn = self.pool.acquire().await?;
        let sealed = sealed_secrets(&mut conn, org, app).await?;
        if sealed.is_empty() {
            return Ok(Secrets::new());
        }
        let ring = ring.ok_or(StoreError::NoKeyRing)?;
        let mut out = Secrets::new();
        for (name, (version, sealed)) in sealed {
            let binding = Binding::AppSecret {
                org,
                app,
                name: &name,
                version,
            };
            let value = opened_text(ring, &binding, &sealed)?;
            out.insert(name, SecretEntry { version, value });
        }
        Ok(out)
    }

    /// Set and remove env keys of `org/app` (see the module docs); with `stage`, record the
    /// change for the next deploy instead.
    #[allow(clippy::too_many_arguments)]
    pub async fn change_env(
        &self,
        org: &str,
        app: &str,
        set: &BTreeMap<String, String>,
        unset: &[String],
        stage: bool,
        start_work: bool,
        now_ms: i64,
    ) -> Result<ConfigOutcome> {
        let how = How {
            stage,
            start_work,
            binding: None,
        };
        self.change(org, app, Target::Env(set), unset, how, now_ms)
            .await
    }

    /// Set (sealed with the key ring's first key) and remove secrets of `org/app`; with
    /// `stage`, record the change for the next deploy instead. Without a key ring:
    /// [`StoreError::NoKeyRing`].
    #[allow(clippy::too_many_arguments)]
    pub async fn change_secrets(
        &self,
        org: &str,
        app: &str,
        set: &BTreeMap<String, SecretValue>,
        unset: &[String],
        stage: bool,
        start_work: bool,
        now_ms: i64,
    ) -> Result<ConfigOutcome> {
        let ring = self.keys().ok_or(StoreError::NoKeyRing)?;
        let how = How {
            stage,
            start_work,
            binding: None,
        };
        self.change(org, app, Target::Secrets(set, ring), unset, how, now_ms)
            .await
    }

    /// Writes `value` into the target's secret named by `binding` and records the binding, in
    /// one transaction: the target gets a config release like `1ctl secret set` gives it
    /// (none when the value is already the one set). The target must exist.
    pub async fn bind(
        &self,
        org: &str,
        binding: &BindingRecord,
        value: &SecretValue,
        start_work: bool,
    ) -> Result<ConfigOutcome> {
        let ring = self.keys().ok_or(StoreError::NoKeyRing)?;
        let how = How {
            stage: false,
            start_work,
            binding: Some(binding),
        };
        let set = BTreeMap::from([(binding.secret.clone(), value.clone())]);
        self.change(
            org,
            &binding.target,
            Target::Secrets(&set, ring),
            &[],
            how,
            binding.created_at_ms,
        )
        .await
    }

    async fn change(
        &self,
        org: &str,
        app: &str,
        target: Target<'_>,
        unset: &[String],
        how: How<'_>,
        now_ms: i64,
    ) -> Result<ConfigOutcome> {
        let start_work = how.start_work;
        let mut tx = self.begin_write().await?;
        if sqlx::query("SELECT 1 AS one FROM orgs WHERE name = $1")
            .bind(org)
            .fetch_optional(&mut *tx)
            .await?
            .is_none()
        {
            return Err(StoreError::not_found(format!("org {org}")));
        }
        // Write first: SQLite's write lock is held since BEGIN IMMEDIATE; this takes
        // PostgreSQL's row lock on the app.
        let app_row = sqlx::query(
            "UPDATE apps SET updated_at = updated_at WHERE org = $1 AND name = $2 \
             RETURNING work, active_release, pinned_release",
        )
        .bind(org)
        .bind(app)
        .fetch_optional(&mut *tx)
        .await?;
        track_env(&mut tx, org, app).await?;
        let env = env_map(&mut tx, org, app).await?;
        let sealed = sealed_secrets(&mut tx, org, app).await?;
        let mut outcome = ConfigOutcome {
            app_exists: app_row.is_some(),
            ..ConfigOutcome::default()
        };
        if how.binding.is_some() && app_row.is_none() {
            return Err(StoreError::not_found(format!("app {app}")));
        }
        // Decide every key before writing any.
        match &target {
            Target::Env(set) => {
                for (name, value) in *set {
                    if sealed.contains_key(name) {
                        return Err(StoreError::KeyClash {
                            name: name.clone(),
                            is: "a secret",
                        });
                    }
                    let same = env.get(name).is_some_and(|(v, _)| v == value);
                    push(&mut outcome, name, !same);
                }
                for name in unset {
                    push(&mut outcome, name, env.contains_key(name));
                }
            }
            Target::Secrets(set, ring) => {
                for (name, value) in *set {
                    if env.contains_key(name) {
                        return Err(StoreError::KeyClash {
                            name: name.clone(),
                            is: "an env key",
                        });
                    }
                    let same = match sealed.get(name) {
                        Some((version, s)) => {
                            let binding = Binding::AppSecret {
                                org,
                                app,
                                name,
                                version: *version,
                            };
                            // A value sealed under a key no longer in the ring cannot be
                            // compared: setting it again is a change.
                            ring.open_text(&binding, s).ok().as_ref() == Some(value)
                        }
                        None => false,
                    };
                    push(&mut outcome, name, !same);
                }
                for name in unset {
                    push(&mut outcome, name, sealed.contains_key(name));
                }
            }
        }
        if outcome.changed.is_empty() {
            if let Some(binding) = how.binding {
                templates::record_binding(&mut tx, org, binding).await?;
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            return Ok(outcome);
        }
        if how.stage {
            stage(&mut tx, org, app, &target, unset, &outcome.changed, now_ms).await?;
            tx.commit().await?;
            outcome.staged = true;
            return Ok(outcome);
        }
        if let Some(row) = &app_row {
            let work: Option<String> = row.try_get("work")?;
            let active: Option<i64> = row.try_get("active_release")?;
            if let Some(work) = work {
                let work: Work = from_json("app work", &work)?;
                // A release whose workload is already active only waits for its endpoints to
                // be checked: the change goes on top of it. Any other is still deploying.
                if to_opt_u64("active release", active)? != Some(work.release) {
                    return Err(StoreError::DeployInFlight {
                        release: work.release,
                    });
                }
            }
        }
        match &target {
            Target::Env(set) => {
                for (name, value) in *set {
                    if outcome.changed.contains(name) {
                        upsert_env(&mut tx, org, app, name, value, VarSource::Cli, now_ms).await?;
                    }
                }
                for name in unset {
                    delete_env(&mut tx, org, app, name).await?;
                }
            }
            Target::Secrets(set, ring) => {
                for (name, value) in *set {
                    if outcome.changed.contains(name) {
                        seal_next(&mut tx, org, app, name, value, ring, now_ms).await?;
                    }
                }
                for name in unset {
                    tombstone(&mut tx, org, app, name, now_ms).await?;
                }
            }
        }
        if let Some(row) = &app_row {
            let active: Option<i64> = row.try_get("active_release")?;
            let pinned: Option<i64> = row.try_get("pinned_release")?;
            outcome.pinned = to_opt_u64("pinned release", pinned)?;
            if let Some(active) = active {
                outcome.from = Some(to_u64("release version", active)?);
                outcome.release =
                    Some(config_release(&mut tx, org, app, active, start_work, now_ms).await?);
            }
        }
        if let Some(binding) = how.binding {
            templates::record_binding(&mut tx, org, binding).await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// Re-seal up to `limit` secrets not sealed under the key ring's first key; returns how many
    /// it re-sealed (0: every value is under the first key). Each value is its own
    /// statement, so an interrupted run leaves every value sealed under one key of the ring.
    pub async fn reseal_secrets(&self, limit: u32) -> Result<u64> {
        let ring = self.keys().ok_or(StoreError::NoKeyRing)?;
        let rows = sqlx::query(
            "SELECT org, app, name, version, key_id, nonce, ciphertext FROM app_secrets \
             WHERE ciphertext IS NOT NULL AND key_id <> $1 ORDER BY org, app, name LIMIT $2",
        )
        .bind(ring.primary())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut done = 0;
        for r in &rows {
            let (org, app, name): (String, String, String) =
                (r.try_get("org")?, r.try_get("app")?, r.try_get("name")?);
            let version: i64 = r.try_get("version")?;
            let sealed = decode_sealed(r)?;
            let binding = Binding::AppSecret {
                org: &org,
                app: &app,
                name: &name,
                version: to_u64("secret version", version)?,
            };
            let again = resealed(ring, &binding, &sealed)?;
            // Only if unchanged meanwhile (same version, same ciphertext).
            let res = sqlx::query(
                "UPDATE app_secrets SET key_id = $1, nonce = $2, ciphertext = $3 \
                 WHERE org = $4 AND app = $5 AND name = $6 AND version = $7 AND ciphertext = $8",
            )
            .bind(&again.key_id)
            .bind(hex(&again.nonce))
            .bind(hex(&again.ciphertext))
            .bind(&org)
            .bind(&app)
            .bind(&name)
            .bind(version)
            .bind(hex(&sealed.ciphertext))
            .execute(&self.pool)
            .await?;
            done += res.rows_affected();
        }
        let left = i64::from(limit) - i64::try_from(rows.len()).unwrap_or(i64::MAX);
        if left > 0 {
            done += self.reseal_staged(ring, left).await?;
        }
        Ok(done)
    }

    /// [`Store::reseal_secrets`] for staged secret values.
    async fn reseal_staged(&self, ring: &KeyRing, limit: i64) -> Result<u64> {
        let rows = sqlx::query(
            "SELECT org, app, name, key_id, nonce, ciphertext FROM app_staged \
             WHERE kind = 'secret' AND ciphertext IS NOT NULL AND key_id <> $1 \
             ORDER BY org, app, name LIMIT $2",
        )
        .bind(ring.primary())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut done = 0;
        for r in &rows {
            let (org, app, name): (String, String, String) =
                (r.try_get("org")?, r.try_get("app")?, r.try_get("name")?);
            let sealed = decode_sealed(r)?;
            let binding = Binding::Staged {
                org: &org,
                app: &app,
                name: &name,
            };
            let again = resealed(ring, &binding, &sealed)?;
            let res = sqlx::query(
                "UPDATE app_staged SET key_id = $1, nonce = $2, ciphertext = $3 \
                 WHERE org = $4 AND app = $5 AND kind = 'secret' AND name = $6 AND ciphertext = $7",
            )
            .bind(&again.key_id)
            .bind(hex(&again.nonce))
            .bind(hex(&again.ciphertext))
            .bind(&org)
            .bind(&app)
            .bind(&name)
            .bind(hex(&sealed.ciphertext))
            .execute(&self.pool)
            .await?;
            done += res.rows_affected();
        }
        Ok(done)
    }

    /// The names of `required` the app has no secret for.
    pub async fn missing_secrets(
        &self,
        org: &str,
        app: &str,
        required: &[String],
    ) -> Result<Vec<String>> {
        let mut conn = self.pool.acquire().await?;
        missing_secrets(&mut conn, org, app, required).await
    }

    /// How many secret values (staged ones included) each key id seals.
    pub async fn secrets_by_key(&self) -> Result<BTreeMap<String, u64>> {
        let rows = sqlx::query(
            "SELECT key_id, COUNT(*) AS n FROM (SELECT key_id FROM app_secrets \
             WHERE ciphertext IS NOT NULL UNION ALL SELECT key_id FROM app_staged \
             WHERE kind = 'secret' AND ciphertext IS NOT NULL) AS sealed GROUP BY key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("key_id")?,
                    to_u64("secret count", r.try_get("n")?)?,
                ))
            })
            .collect()
    }
}

/// The staged changes of one kind (`env`, `secret`): name, op, env value, when.
async fn staged_rows(
    pool: &sqlx::AnyPool,
    org: &str,
    app: &str,
    kind: &str,
) -> Result<Vec<(String, StagedOp, Option<String>, i64)>> {
    let rows = sqlx::query(
        "SELECT name, op, value, staged_at FROM app_staged \
         WHERE org = $1 AND app = $2 AND kind = $3 ORDER BY name",
    )
    .bind(org)
    .bind(app)
    .bind(kind)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let op: String = r.try_get("op")?;
            Ok((
                r.try_get("name")?,
                parse_enum("staged op", &op, StagedOp::parse)?,
                r.try_get("value")?,
                r.try_get("staged_at")?,
            ))
        })
        .collect()
}

/// Record the `changed` keys of a change for the next deploy (a later staged change of the
/// same key replaces it).
async fn stage(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
    target: &Target<'_>,
    unset: &[String],
    changed: &[String],
    now_ms: i64,
) -> Result<()> {
    let kind = match target {
        Target::Env(_) => "env",
        Target::Secrets(..) => "secret",
    };
    for name in changed {
        let (op, value, sealed) = if unset.contains(name) {
            (StagedOp::Unset, None, None)
        } else {
            match target {
                Target::Env(set) => (StagedOp::Set, set.get(name).cloned(), None),
                Target::Secrets(set, ring) => {
                    let Some(value) = set.get(name) else { continue };
                    let binding = Binding::Staged { org, app, name };
                    let sealed = ring
                        .seal(&binding, value.expose().as_bytes())
                        .map_err(StoreError::Sealing)?;
                    (StagedOp::Set, None, Some(sealed))
                }
            }
        };
        sqlx::query(
            "INSERT INTO app_staged \
             (org, app, kind, name, op, value, key_id, nonce, ciphertext, staged_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (org, app, kind, name) DO UPDATE SET op = excluded.op, \
             value = excluded.value, key_id = excluded.key_id, nonce = excluded.nonce, \
             ciphertext = excluded.ciphertext, staged_at = excluded.staged_at",
        )
        .bind(org)
        .bind(app)
        .bind(kind)
        .bind(name)
        .bind(op.as_str())
        .bind(value)
        .bind(sealed.as_ref().map(|s| s.key_id.clone()))
        .bind(sealed.as_ref().map(|s| hex(&s.nonce)))
        .bind(sealed.as_ref().map(|s| hex(&s.ciphertext)))
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A deploy applies the app's staged changes (env, then secrets) and forgets them; returns
/// what it applied, e.g. `secret API_KEY set`.
pub(crate) async fn apply_staged(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
    ring: Option<&KeyRing>,
    now_ms: i64,
) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT kind, name, op, value, key_id, nonce, ciphertext FROM app_staged \
         WHERE org = $1 AND app = $2 ORDER BY kind, name",
    )
    .bind(org)
    .bind(app)
    .fetch_all(&mut *conn)
    .await?;
    let mut applied = Vec::new();
    for r in &rows {
        let (kind, name, op): (String, String, String) =
            (r.try_get("kind")?, r.try_get("name")?, r.try_get("op")?);
        let op = parse_enum("staged op", &op, StagedOp::parse)?;
        match (kind.as_str(), op) {
            ("env", StagedOp::Set) => {
                let value: Option<String> = r.try_get("value")?;
                let value = value.unwrap_or_default();
                upsert_env(conn, org, app, &name, &value, VarSource::Cli, now_ms).await?;
            }
            ("env", StagedOp::Unset) => delete_env(conn, org, app, &name).await?,
            ("secret", StagedOp::Set) => {
                let ring = ring.ok_or(StoreError::NoKeyRing)?;
                let sealed = decode_sealed(r)?;
                let binding = Binding::Staged {
                    org,
                    app,
                    name: &name,
                };
                let value = opened_text(ring, &binding, &sealed)?;
                seal_next(conn, org, app, &name, &value, ring, now_ms).await?;
            }
            ("secret", StagedOp::Unset) => {
                tombstone(&mut *conn, org, app, &name, now_ms).await?;
            }
            _ => {
                return Err(StoreError::corrupt(
                    "staged change",
                    format!("unknown kind {kind:?}"),
                ));
            }
        }
        applied.push(format!("{kind} {name} {}", op.as_str()));
    }
    sqlx::query("DELETE FROM app_staged WHERE org = $1 AND app = $2")
        .bind(org)
        .bind(app)
        .execute(&mut *conn)
        .await?;
    Ok(applied)
}

fn push(outcome: &mut ConfigOutcome, name: &str, changed: bool) {
    let list = match changed {
        true => &mut outcome.changed,
        false => &mut outcome.unchanged,
    };
    if !list.iter().any(|n| n == name) {
        list.push(name.to_string());
    }
}

/// Release N+1 of `org/app` copying release `from` (the active one) with the env as it is
/// now: never rebuilt (its artifact is the active release's), its work started when asked.
async fn config_release(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
    from: i64,
    start_work: bool,
    now_ms: i64,
) -> Result<u64> {
    let snap = sqlx::query(
        "SELECT spec, image, context, artifact FROM releases \
         WHERE org = $1 AND app = $2 AND version = $3",
    )
    .bind(org)
    .bind(app)
    .bind(from)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::not_found(format!("release {org}/{app}@v{from}")))?;
    let spec_json: String = snap.try_get("spec")?;
    let mut spec: AppSpec = from_json("release spec", &spec_json)?;
    spec.env = env_map(conn, org, app)
        .await?
        .into_iter()
        .map(|(k, (v, _))| (k, v))
        .collect();
    let spec_json = to_json("app spec", &spec)?;
    let image: Option<String> = snap.try_get("image")?;
    let context: Option<String> = snap.try_get("context")?;
    let artifact: Option<String> = snap.try_get("artifact")?;
    let row = sqlx::query(
        "UPDATE apps SET generation = generation + 1, last_release = last_release + 1, \
         target_release = last_release + 1, spec = $1, phase = $2, updated_at = $3 \
         WHERE org = $4 AND name = $5 RETURNING generation, last_release",
    )
    .bind(&spec_json)
    .bind(Phase::Accepted.as_str())
    .bind(now_ms)
    .bind(org)
    .bind(app)
    .fetch_one(&mut *conn)
    .await?;
    let generation: i64 = row.try_get("generation")?;
    let version: i64 = row.try_get("last_release")?;
    write_pending_release(
        conn,
        &NewPendingRelease {
            org,
            app,
            version,
            generation,
            source: "config",
            image: image.as_deref(),
            context: context.as_deref(),
            artifact: artifact.as_deref().or(image.as_deref()),
            spec_json: &spec_json,
            file_hostnames: None,
            start_work,
        },
        now_ms,
    )
    .await?;
    to_u64("release version", version)
}

/// Copies the env of an app that predates `app_env` from its spec (as `file` keys), once.
pub(crate) async fn track_env(conn: &mut AnyConnection, org: &str, app: &str) -> Result<()> {
    let row = sqlx::query("SELECT spec FROM apps WHERE org = $1 AND name = $2 AND env_tracked = 0")
        .bind(org)
        .bind(app)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(());
    };
    let spec: String = row.try_get("spec")?;
    let spec: AppSpec = from_json("app spec", &spec)?;
    for (name, value) in &spec.env {
        sqlx::query(
            "INSERT INTO app_env (org, app, name, value, source, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 0) ON CONFLICT (org, app, name) DO NOTHING",
        )
        .bind(org)
        .bind(app)
        .bind(name)
        .bind(value)
        .bind(VarSource::File.as_str())
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("UPDATE apps SET env_tracked = 1 WHERE org = $1 AND name = $2")
        .bind(org)
        .bind(app)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The app's env: value and source by name.
pub(crate) async fn env_map(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
) -> Result<BTreeMap<String, (String, VarSource)>> {
    let rows = sqlx::query("SELECT name, value, source FROM app_env WHERE org = $1 AND app = $2")
        .bind(org)
        .bind(app)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            let source: String = r.try_get("source")?;
            Ok((
                r.try_get("name")?,
                (
                    r.try_get("value")?,
                    parse_enum("env source", &source, VarSource::parse)?,
                ),
            ))
        })
        .collect()
}

/// A deploy's `[env]` merged into the app's env: the file's keys added or updated (as
/// `file`), `file` keys the file no longer lists removed, `cli` keys kept. Returns the merged
/// env and the kept `cli` keys the file does not list. A file key that is a secret fails
/// with [`StoreError::KeyClash`].
pub(crate) async fn merge_file_env(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
    file: &BTreeMap<String, String>,
    now_ms: i64,
) -> Result<(BTreeMap<String, String>, Vec<String>)> {
    let secrets = sealed_secrets(conn, org, app).await?;
    if let Some(name) = file.keys().find(|k| secrets.contains_key(*k)) {
        return Err(StoreError::KeyClash {
            name: name.clone(),
            is: "a secret",
        });
    }
    let current = env_map(conn, org, app).await?;
    for (name, value) in file {
        let same = current
            .get(name)
            .is_some_and(|(v, s)| v == value && *s == VarSource::File);
        if !same {
            upsert_env(conn, org, app, name, value, VarSource::File, now_ms).await?;
        }
    }
    let mut kept = Vec::new();
    for (name, (_, source)) in &current {
        if file.contains_key(name) {
            continue;
        }
        match source {
            VarSource::File => delete_env(conn, org, app, name).await?,
            VarSource::Cli => kept.push(name.clone()),
        }
    }
    let merged = env_map(conn, org, app)
        .await?
        .into_iter()
        .map(|(k, (v, _))| (k, v))
        .collect();
    Ok((merged, kept))
}

/// A rollback's env: the snapshot's values, each key keeping its source when it still has
/// one (else `file`); keys the snapshot lacks removed.
pub(crate) async fn restore_env(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
    snapshot: &BTreeMap<String, String>,
    now_ms: i64,
) -> Result<()> {
    let current = env_map(conn, org, app).await?;
    for (name, value) in snapshot {
        let source = current.get(name).map_or(VarSource::File, |(_, s)| *s);
        if current.get(name).map(|(v, _)| v) != Some(value) {
            upsert_env(conn, org, app, name, value, source, now_ms).await?;
        }
    }
    for name in current.keys().filter(|k| !snapshot.contains_key(*k)) {
        delete_env(conn, org, app, name).await?;
    }
    Ok(())
}

/// The versions of the app's live secrets, by name.
pub(crate) async fn secret_versions(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
) -> Result<BTreeMap<String, u64>> {
    Ok(sealed_secrets(conn, org, app)
        .await?
        .into_iter()
        .map(|(k, (v, _))| (k, v))
        .collect())
}

/// Names of `required` the app has no secret for.
pub(crate) async fn missing_secrets(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
    required: &[String],
) -> Result<Vec<String>> {
    let have = sealed_secrets(conn, org, app).await?;
    Ok(required
        .iter()
        .filter(|n| !have.contains_key(*n))
        .cloned()
        .collect())
}

/// Removes the app's env and secrets (the app is destroyed).
pub(crate) async fn forget(conn: &mut AnyConnection, org: &str, app: &str) -> Result<()> {
    for statement in [
        "DELETE FROM app_env WHERE org = $1 AND app = $2",
        "DELETE FROM app_secrets WHERE org = $1 AND app = $2",
        "DELETE FROM app_staged WHERE org = $1 AND app = $2",
    ] {
        sqlx::query(statement)
            .bind(org)
            .bind(app)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Seals `value` as `name`'s next version unless it already holds it (a template deploy's
/// secrets); a key set as env is refused. Returns whether it wrote.
pub(crate) async fn write_secret_if_changed(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
    name: &str,
    value: &SecretValue,
    ring: &KeyRing,
    now_ms: i64,
) -> Result<bool> {
    if env_map(&mut *conn, org, app).await?.contains_key(name) {
        return Err(StoreError::KeyClash {
            name: name.to_string(),
            is: "an env key",
        });
    }
    let sealed = sealed_secrets(&mut *conn, org, app).await?;
    if let Some((version, s)) = sealed.get(name) {
        let binding = Binding::AppSecret {
            org,
            app,
            name,
            version: *version,
        };
        if ring.open_text(&binding, s).ok().as_ref() == Some(value) {
            return Ok(false);
        }
    }
    seal_next(conn, org, app, name, value, ring, now_ms).await?;
    Ok(true)
}

/// An unset secret: its value gone, its row (and version count) kept.
async fn tombstone(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
    name: &str,
    now_ms: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE app_secrets SET key_id = NULL, nonce = NULL, ciphertext = NULL, \
         updated_at = $1 WHERE org = $2 AND app = $3 AND name = $4",
    )
    .bind(now_ms)
    .bind(org)
    .bind(app)
    .bind(name)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn upsert_env(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
    name: &str,
    value: &str,
    source: VarSource,
    now_ms: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO app_env (org, app, name, value, source, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org, app, name) DO UPDATE SET \
         value = excluded.value, source = excluded.source, updated_at = excluded.updated_at",
    )
    .bind(org)
    .bind(app)
    .bind(name)
    .bind(value)
    .bind(source.as_str())
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn delete_env(conn: &mut AnyConnection, org: &str, app: &str, name: &str) -> Result<()> {
    sqlx::query("DELETE FROM app_env WHERE org = $1 AND app = $2 AND name = $3")
        .bind(org)
        .bind(app)
        .bind(name)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Seal `value` as the next version of `name` and store it.
async fn seal_next(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
    name: &str,
    value: &SecretValue,
    ring: &KeyRing,
    now_ms: i64,
) -> Result<()> {
    let row =
        sqlx::query("SELECT version FROM app_secrets WHERE org = $1 AND app = $2 AND name = $3")
            .bind(org)
            .bind(app)
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
    let version = match row {
        Some(r) => to_u64("secret version", r.try_get("version")?)? + 1,
        None => 1,
    };
    let binding = Binding::AppSecret {
        org,
        app,
        name,
        version,
    };
    let sealed = ring
        .seal(&binding, value.expose().as_bytes())
        .map_err(StoreError::Sealing)?;
    let version = i64::try_from(version)
        .map_err(|_| StoreError::corrupt("secret version", "out of range"))?;
    sqlx::query(
        "INSERT INTO app_secrets (org, app, name, version, key_id, nonce, ciphertext, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (org, app, name) DO UPDATE SET \
         version = excluded.version, key_id = excluded.key_id, nonce = excluded.nonce, \
         ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
    )
    .bind(org)
    .bind(app)
    .bind(name)
    .bind(version)
    .bind(&sealed.key_id)
    .bind(hex(&sealed.nonce))
    .bind(hex(&sealed.ciphertext))
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The app's live secrets, sealed: version and sealed value by name.
pub(crate) async fn sealed_secrets(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
) -> Result<BTreeMap<String, (u64, Sealed)>> {
    let rows = sqlx::query(
        "SELECT name, version, key_id, nonce, ciphertext FROM app_secrets \
         WHERE org = $1 AND app = $2 AND ciphertext IS NOT NULL",
    )
    .bind(org)
    .bind(app)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("name")?,
                (
                    to_u64("secret version", r.try_get("version")?)?,
                    decode_sealed(r)?,
                ),
            ))
        })
        .collect()
}

fn decode_sealed(r: &sqlx::any::AnyRow) -> Result<Sealed> {
    let key_id: String = r.try_get("key_id")?;
    let nonce: String = r.try_get("nonce")?;
    let ciphertext: String = r.try_get("ciphertext")?;
    let nonce = unhex(&nonce)
        .and_then(|n| <[u8; 12]>::try_from(n).ok())
        .ok_or_else(|| StoreError::corrupt("secret nonce", "not 12 bytes of hex"))?;
    let ciphertext =
        unhex(&ciphertext).ok_or_else(|| StoreError::corrupt("secret ciphertext", "not hex"))?;
    Ok(Sealed {
        key_id,
        nonce,
        ciphertext,
    })
}

/// `sealed` opened for `binding`; the error names the value ([`Binding`]'s `Display`).
pub(crate) fn opened_text(
    ring: &KeyRing,
    binding: &Binding<'_>,
    sealed: &Sealed,
) -> Result<SecretValue> {
    ring.open_text(binding, sealed)
        .map_err(|source| StoreError::Unsealable {
            what: binding.to_string(),
            source,
        })
}

/// `sealed` opened for `binding` and sealed again under the ring's first key.
fn resealed(ring: &KeyRing, binding: &Binding<'_>, sealed: &Sealed) -> Result<Sealed> {
    let plain = ring
        .open(binding, sealed)
        .map_err(|source| StoreError::Unsealable {
            what: binding.to_string(),
            source,
        })?;
    ring.seal(binding, &plain).map_err(StoreError::Sealing)
}

fn hex(bytes: &[u8]) -> String {
    satusky_core::digest::hex(bytes)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}
