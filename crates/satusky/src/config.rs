//! Resolving where the store is and reading `STATE_DIR/server.toml` (server settings that
//! flags and env vars override).

use std::path::Path;

use anyhow::{Context, Result};
use satusky_core::names;
use satusky_store::Store;
use serde::Deserialize;

use crate::cli::StoreArgs;

/// Open (and migrate) the store the flags point at, creating the state dir if needed.
pub async fn open_store(args: &StoreArgs) -> Result<Store> {
    let store = match &args.database_url {
        Some(url) => Store::open(url)
            .await
            .with_context(|| format!("cannot open the database at {}", redact(url)))?,
        None => {
            std::fs::create_dir_all(&args.state_dir).with_context(|| {
                format!("cannot create the state dir {}", args.state_dir.display())
            })?;
            let path = args.state_dir.join("state.db");
            Store::open_sqlite_file(&path)
                .await
                .with_context(|| format!("cannot open the SQLite store {}", path.display()))?
        }
    };
    store
        .migrate()
        .await
        .context("cannot apply the store's migrations")?;
    Ok(store)
}

/// A URL with any password blanked, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// `STATE_DIR/server.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerToml {
    pub dns_zone: Option<String>,
}

pub fn read_server_toml(state_dir: &Path) -> Result<ServerToml> {
    let path = state_dir.join("server.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => toml_parse(&text).with_context(|| format!("invalid {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ServerToml::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn toml_parse(text: &str) -> Result<ServerToml> {
    let parsed: ServerToml = toml::from_str(text)?;
    if let Some(zone) = &parsed.dns_zone {
        names::validate_hostname(zone).map_err(|e| anyhow::anyhow!("dns_zone: {e}"))?;
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn server_toml_rejects_unknown_keys() {
        assert!(toml_parse("dns_zonee = \"x.test\"").is_err());
        assert_eq!(
            toml_parse("dns_zone = \"apps.example.net\"")
                .unwrap()
                .dns_zone
                .as_deref(),
            Some("apps.example.net")
        );
        assert!(toml_parse("dns_zone = \"Not A Zone\"").is_err());
    }
}
