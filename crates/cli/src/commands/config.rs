//! `1ctl env set/unset/list` and `1ctl secret set/unset/list`: an app's env values and
//! secrets. Keys are checked here first with the server's rule (a valid variable name), so a
//! typo is exit 2 before any request. A change of an app that runs is a `config` release of
//! the active artifact — never rebuilt — followed to its verdict exactly like a deploy (same
//! progress, exit codes and `-o json` document); a change that changes nothing says so and
//! exits 0. Secret values come from the argument, a file (`KEY=@FILE`) or standard input
//! (`KEY=-`), and are never printed. `--stage` records a change for the next deploy instead
//! (also while a deploy is in flight); `list` shows staged changes as their own rows.

use std::collections::BTreeMap;
use std::io::Read;

use comfy_table::Cell;
use satusky_types::{ConfigChanged, ConfigPatch, EnvVar, SecretInfo, StagedOp};

use crate::cli::{DomainsTarget, EnvCommand, SecretCommand, WaitArgs};
use crate::commands::lifecycle::{self, Kind, Release};
use crate::commands::{Env, Session};
use crate::exit::{self, CliError};
use crate::output;

/// Which map a command changes, for paths and words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Map {
    Env,
    Secrets,
}

impl Map {
    fn path(self) -> &'static str {
        match self {
            Map::Env => "env",
            Map::Secrets => "secrets",
        }
    }
}

pub async fn env(cmd: EnvCommand, env: &Env) -> Result<u8, CliError> {
    match cmd {
        EnvCommand::Set {
            pairs,
            stage,
            target,
            wait,
        } => {
            let set = parse_pairs(&pairs, false)?;
            let patch = ConfigPatch {
                set,
                unset: Vec::new(),
                stage,
            };
            change(Map::Env, patch, &target, &wait, env).await
        }
        EnvCommand::Unset {
            keys,
            stage,
            target,
            wait,
        } => {
            let unset = check_keys(keys)?;
            let patch = ConfigPatch {
                set: BTreeMap::new(),
                unset,
                stage,
            };
            change(Map::Env, patch, &target, &wait, env).await
        }
        EnvCommand::List { target } => list_env(&target, env).await,
    }
}

pub async fn secret(cmd: SecretCommand, env: &Env) -> Result<u8, CliError> {
    match cmd {
        SecretCommand::Set {
            pairs,
            stage,
            target,
            wait,
        } => {
            let set = parse_pairs(&pairs, true)?;
            let patch = ConfigPatch {
                set,
                unset: Vec::new(),
                stage,
            };
            change(Map::Secrets, patch, &target, &wait, env).await
        }
        SecretCommand::Unset {
            keys,
            stage,
            target,
            wait,
        } => {
            let unset = check_keys(keys)?;
            let patch = ConfigPatch {
                set: BTreeMap::new(),
                unset,
                stage,
            };
            change(Map::Secrets, patch, &target, &wait, env).await
        }
        SecretCommand::List { target } => list_secrets(&target, env).await,
    }
}

async fn resolve(target: &DomainsTarget, env: &Env) -> Result<(Session, String, String), CliError> {
    super::target::resolve_named(target.app.as_deref(), target.config.as_deref(), env).await
}

fn check_key(key: &str) -> Result<(), CliError> {
    satusky_core::validate::app_var_name(key, "name").map_err(CliError::Invalid)
}

fn check_keys(keys: Vec<String>) -> Result<Vec<String>, CliError> {
    for k in &keys {
        check_key(k)?;
    }
    Ok(keys)
}

/// `KEY=VALUE` pairs; with `files`, also `KEY=@FILE` and `KEY=-` (standard input, once).
fn parse_pairs(pairs: &[String], files: bool) -> Result<BTreeMap<String, String>, CliError> {
    let mut out = BTreeMap::new();
    let mut stdin_used = false;
    for pair in pairs {
        let Some((key, raw)) = pair.split_once('=') else {
            return Err(CliError::Invalid(format!(
                "{pair:?} is not KEY=VALUE{}",
                if files { " (or KEY=@FILE, KEY=-)" } else { "" }
            )));
        };
        check_key(key)?;
        let value = if files && raw == "-" {
            if stdin_used {
                return Err(CliError::Invalid(format!(
                    "{key}=-: standard input can give only one value"
                )));
            }
            stdin_used = true;
            let mut buf = String::new();
            std::io::stdin().read_to_string(&mut buf).map_err(|e| {
                CliError::Invalid(format!("{key}=-: cannot read standard input: {e}"))
            })?;
            // A value typed or piped with `echo` ends with one newline that is not part of it.
            buf.strip_suffix('\n')
                .map(|b| b.strip_suffix('\r').unwrap_or(b).to_string())
                .unwrap_or(buf)
        } else if files && let Some(path) = raw.strip_prefix('@') {
            let bytes = std::fs::read(path).map_err(|e| {
                CliError::Invalid(format!("{key}=@{path}: cannot read {path}: {e}"))
            })?;
            String::from_utf8(bytes).map_err(|_| {
                CliError::Invalid(format!("{key}=@{path}: the file is not UTF-8 text"))
            })?
        } else {
            raw.to_string()
        };
        if out.insert(key.to_string(), value).is_some() {
            return Err(CliError::Invalid(format!("{key} is given twice")));
        }
    }
    Ok(out)
}

async fn change(
    map: Map,
    body: ConfigPatch,
    target: &DomainsTarget,
    wait: &WaitArgs,
    env: &Env,
) -> Result<u8, CliError> {
    let (session, org, app) = resolve(target, env).await?;
    let changed: ConfigChanged = session
        .client
        .patch(&["v1", "orgs", &org, "apps", &app, map.path()], &body)
        .await?;
    for line in accepted_lines(&changed) {
        output::note(&line);
    }
    let (Some(version), Some(from)) = (changed.release, changed.from) else {
        if env.json() {
            output::json(&changed)?;
        }
        return Ok(exit::OK);
    };
    let release = Release {
        client: &session.client,
        org: &org,
        app: &app,
        version,
        kind: Kind::Config { from },
        https_port: changed.https_port,
    };
    lifecycle::follow(&release, wait, env).await
}

/// What the change did, one line each (on stderr: stdout is the verdict's).
fn accepted_lines(c: &ConfigChanged) -> Vec<String> {
    let mut out = vec![c.message.clone()];
    if !c.changed.is_empty() && c.release.is_some() {
        out.push(format!("changed: {}", c.changed.join(", ")));
    }
    if !c.unchanged.is_empty() && !c.changed.is_empty() {
        out.push(format!(
            "already so (no change): {}",
            c.unchanged.join(", ")
        ));
    }
    if let Some(pinned) = c.pinned {
        out.push(format!(
            "{} stays pinned to rollback v{pinned} until the next `1ctl deploy`",
            c.app
        ));
    }
    out
}

async fn list_env(target: &DomainsTarget, env: &Env) -> Result<u8, CliError> {
    let (session, org, app) = resolve(target, env).await?;
    let vars: Vec<EnvVar> = session
        .client
        .get(&["v1", "orgs", &org, "apps", &app, "env"])
        .await?;
    if env.json() {
        return output::json(&vars).map(|()| exit::OK);
    }
    if vars.is_empty() {
        output::line(&format!(
            "{app} has no env values: set them in satusky.toml [env] or with `1ctl env set KEY=VALUE`"
        ));
        return Ok(exit::OK);
    }
    let mut table = output::table(&["KEY", "VALUE", "SET BY", "UPDATED"]);
    for v in &vars {
        let (value, by) = match v.staged {
            Some(StagedOp::Set) => (v.value.as_str(), "staged: set at next deploy"),
            Some(StagedOp::Unset) => ("", "staged: unset at next deploy"),
            None => (
                v.value.as_str(),
                match v.source {
                    satusky_types::VarSource::File => "satusky.toml",
                    satusky_types::VarSource::Cli => "1ctl env set",
                },
            ),
        };
        table.add_row(vec![
            Cell::new(&v.name),
            Cell::new(value),
            Cell::new(by),
            Cell::new(&v.updated_at),
        ]);
    }
    output::line(&table.to_string());
    Ok(exit::OK)
}

async fn list_secrets(target: &DomainsTarget, env: &Env) -> Result<u8, CliError> {
    let (session, org, app) = resolve(target, env).await?;
    let secrets: Vec<SecretInfo> = session
        .client
        .get(&["v1", "orgs", &org, "apps", &app, "secrets"])
        .await?;
    if env.json() {
        return output::json(&secrets).map(|()| exit::OK);
    }
    if secrets.is_empty() {
        output::line(&format!(
            "{app} has no secrets: set one with `1ctl secret set KEY=VALUE` (or KEY=@FILE, KEY=-)"
        ));
        return Ok(exit::OK);
    }
    let mut table = output::table(&["NAME", "VERSION", "UPDATED"]);
    for s in &secrets {
        let version = match s.staged {
            Some(StagedOp::Set) => "staged: set at next deploy".to_string(),
            Some(StagedOp::Unset) => "staged: unset at next deploy".to_string(),
            None => s.version.to_string(),
        };
        table.add_row(vec![
            Cell::new(&s.name),
            Cell::new(version),
            Cell::new(&s.updated_at),
        ]);
    }
    output::line(&table.to_string());
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_checked_before_any_request() {
        let ok = parse_pairs(&["A=1".into(), "B=x=y".into()], false).unwrap();
        assert_eq!(ok["A"], "1");
        assert_eq!(ok["B"], "x=y", "only the first = splits");
        for (bad, says) in [
            ("A", "is not KEY=VALUE"),
            ("1A=x", "letters, digits and underscores"),
            ("A-B=x", "letters, digits and underscores"),
        ] {
            let err = parse_pairs(&[bad.into()], false).unwrap_err();
            assert!(format!("{err}").contains(says), "{bad}: {err}");
        }
        let twice = parse_pairs(&["A=1".into(), "A=2".into()], false).unwrap_err();
        assert!(format!("{twice}").contains("A is given twice"), "{twice}");
    }

    #[test]
    fn a_secret_may_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        std::fs::write(&path, "-----BEGIN-----\nabc\n").unwrap();
        let arg = format!("TLS_KEY=@{}", path.display());
        let got = parse_pairs(std::slice::from_ref(&arg), true).unwrap();
        assert_eq!(
            got["TLS_KEY"], "-----BEGIN-----\nabc\n",
            "the file's bytes, as they are"
        );
        let env_only = parse_pairs(&[arg], false).unwrap();
        assert!(
            env_only["TLS_KEY"].starts_with('@'),
            "env set takes values literally"
        );
        let missing = parse_pairs(&["K=@/nonexistent/x".into()], true).unwrap_err();
        assert!(
            format!("{missing}").contains("cannot read /nonexistent/x"),
            "{missing}"
        );
    }
}
