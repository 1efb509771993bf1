//! The secret key ring: which key files seal and open secrets (and the local runtime's ACME
//! account and certificate keys, `satusky_local::acme`), and `satusky secrets rotate-key`.
//!
//! Keys come from `SATUSKY_SECRET_KEYS` (`ID=FILE,ID=FILE`) or else `server.toml`'s
//! `secret_keys = [{ id = "…", file = "…" }, …]`; the first one seals, every one opens. A key
//! file holds 64 hex characters (`openssl rand -hex 32`). `satusky dev` with neither creates
//! `STATE_DIR/secret-keys/dev.key` (0600) once and uses it. `serve` without a key starts only
//! while no secret is stored, and refuses to start when a stored secret's key is missing from
//! the ring, naming the key ids.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use satusky_core::secrets::{KeyRing, check_key_id, new_key_text, parse_key};
use satusky_store::Store;

use crate::cli::RotateKeyArgs;
use crate::config::{ServerToml, open_store, read_server_toml};

/// The environment variable listing the key files (`ID=FILE,…`); it replaces `secret_keys`.
pub const ENV: &str = "SATUSKY_SECRET_KEYS";

/// The dev key's id and file, under the state dir.
const DEV_KEY_ID: &str = "dev";
const DEV_KEY_FILE: &str = "secret-keys/dev.key";

/// Where the key list came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Env,
    ServerToml,
    Dev,
}

impl Origin {
    fn name(self) -> &'static str {
        match self {
            Origin::Env => ENV,
            Origin::ServerToml => "server.toml secret_keys",
            Origin::Dev => "the dev key",
        }
    }
}

/// Key files by id, the sealing one first.
type KeyFiles = Vec<(String, PathBuf)>;

/// The configured key files, first sealing: from [`ENV`] or else `secret_keys`.
fn configured(file: &ServerToml) -> Result<Option<(Origin, KeyFiles)>> {
    if let Ok(list) = std::env::var(ENV)
        && !list.trim().is_empty()
    {
        let mut keys = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((id, path)) = item.split_once('=') else {
                bail!(
                    "{ENV}: {item:?} is not ID=FILE (e.g. {ENV}=k2=/etc/satusky/k2.key,k1=/etc/satusky/k1.key)"
                );
            };
            keys.push((id.trim().to_string(), PathBuf::from(path.trim())));
        }
        return Ok(Some((Origin::Env, keys)));
    }
    if file.secret_keys.is_empty() {
        return Ok(None);
    }
    Ok(Some((
        Origin::ServerToml,
        file.secret_keys
            .iter()
            .map(|k| (k.id.clone(), k.file.clone()))
            .collect(),
    )))
}

/// Read and parse the key files into a ring; errors name the setting and the file.
fn ring_of(origin: Origin, keys: &[(String, PathBuf)]) -> Result<KeyRing> {
    let mut bytes = Vec::new();
    for (id, path) in keys {
        check_key_id(id).with_context(|| origin.name())?;
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "{}: cannot read key {id:?} from {}",
                origin.name(),
                path.display()
            )
        })?;
        warn_if_readable_by_others(path);
        let key = parse_key(id, &text)
            .with_context(|| format!("{}: {}", origin.name(), path.display()))?;
        bytes.push((id.clone(), key));
    }
    KeyRing::new(bytes).with_context(|| origin.name())
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(file = %path.display(), "a secret key file is readable by other users: chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// The dev key under `state_dir`, created (0600) when missing.
fn dev_key(state_dir: &Path) -> Result<(String, PathBuf)> {
    let path = state_dir.join(DEV_KEY_FILE);
    if !path.exists() {
        let dir = path.parent().unwrap_or(state_dir);
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let text = new_key_text().context("cannot draw a random key")?;
        write_private(&path, &text)?;
        tracing::info!(file = %path.display(), "created the dev secret key");
    }
    Ok((DEV_KEY_ID.to_string(), path))
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The ring for this process: the configured keys, else (dev) the dev key, else none.
pub fn load(state_dir: &Path, file: &ServerToml, dev: bool) -> Result<Option<Arc<KeyRing>>> {
    let (origin, keys) = match configured(file)? {
        Some(c) => c,
        None if dev => (Origin::Dev, vec![dev_key(state_dir)?]),
        None => return Ok(None),
    };
    Ok(Some(Arc::new(ring_of(origin, &keys)?)))
}

/// Give `store` the ring, after checking it opens what is stored: with no ring, no secret may
/// be stored; with one, every stored secret's key must be in it.
pub async fn attach(store: Store, ring: Option<Arc<KeyRing>>) -> Result<Store> {
    let by_key = store
        .secrets_by_key()
        .await
        .context("cannot count the stored secrets")?;
    let stored: u64 = by_key.values().sum();
    match ring {
        None if stored > 0 => bail!(
            "{stored} secret(s) are stored, sealed with key(s) {}, and no secret key is configured: \
             set secret_keys in server.toml (e.g. secret_keys = [{{ id = \"{}\", file = \"/etc/satusky/{}.key\" }}]) \
             or {ENV}=ID=FILE to the key file(s) they were sealed with",
            ids(&by_key),
            first_id(&by_key),
            first_id(&by_key),
        ),
        None => Ok(store),
        Some(ring) => {
            let missing: BTreeMap<String, u64> = by_key
                .into_iter()
                .filter(|(id, _)| !ring.ids().contains(&id.as_str()))
                .collect();
            if !missing.is_empty() {
                bail!(
                    "stored secrets are sealed with key(s) {} that the key ring ({}) lacks: add them to secret_keys (or {ENV}); \
                     a key leaves the ring only after `satusky secrets rotate-key` re-sealed everything under the first key",
                    ids(&missing),
                    ring.ids().join(", ")
                );
            }
            Ok(store.with_keys(ring))
        }
    }
}

fn ids(by_key: &BTreeMap<String, u64>) -> String {
    by_key
        .iter()
        .map(|(id, n)| format!("{id:?} ({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn first_id(by_key: &BTreeMap<String, u64>) -> String {
    by_key.keys().next().cloned().unwrap_or_else(|| "k1".into())
}

/// `satusky secrets rotate-key`: re-seal every secret under the ring's first key, a batch at a
/// time (each value its own write: safe to interrupt, and to run again), then the ACME
/// account and certificate keys under `STATE_DIR/acme` (each file its own atomic write).
pub async fn rotate(args: RotateKeyArgs) -> Result<()> {
    let RotateKeyArgs { store: args, batch } = args;
    let file = read_server_toml(&args.state_dir)?;
    let Some(ring) = load(&args.state_dir, &file, false)? else {
        bail!(
            "no secret key is configured: list the keys in server.toml secret_keys (or {ENV}), the new one first"
        );
    };
    let store = open_store(&args).await?;
    let store = attach(store, Some(ring.clone())).await?;
    let primary = ring.primary().to_string();
    let mut total = 0u64;
    loop {
        let done = store
            .reseal_secrets(batch)
            .await
            .context("cannot re-seal a batch of secrets")?;
        if done == 0 {
            break;
        }
        total += done;
        eprintln!("satusky: re-sealed {total} secret(s) under key {primary:?} so far");
    }
    let by_key = store.secrets_by_key().await?;
    let left: u64 = by_key
        .iter()
        .filter(|(id, _)| **id != primary)
        .map(|(_, n)| n)
        .sum();
    if left > 0 {
        bail!(
            "{left} secret(s) are still under other keys ({}): they changed meanwhile; run rotate-key again",
            ids(&by_key)
        );
    }
    // The ACME account and certificate keys are sealed with the same ring (before the final
    // line: the old keys may leave only once these are re-sealed too).
    let acme_dir = args.state_dir.join("acme");
    let acme_files =
        satusky_local::acme::reseal_all(&args.state_dir, &ring).with_context(|| {
            format!(
                "cannot re-seal the ACME key files under {}",
                acme_dir.display()
            )
        })?;
    let others: Vec<&str> = ring.ids().into_iter().filter(|id| *id != primary).collect();
    println!(
        "every secret ({}) is sealed with key {primary:?}{}",
        by_key.get(&primary).copied().unwrap_or(0),
        if others.is_empty() {
            String::new()
        } else {
            format!("; key(s) {} can now leave secret_keys", others.join(", "))
        }
    );
    if acme_files > 0 {
        println!(
            "every ACME key file ({acme_files}) under {} is sealed with key {primary:?}",
            acme_dir.display()
        );
    }
    Ok(())
}
