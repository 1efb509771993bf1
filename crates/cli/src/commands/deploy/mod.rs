//! `1ctl deploy`: validate the config locally, pack the build context (when there is no
//! image), upload it, `PUT` the spec, then wait for the verdict (SPEC §5).
//!
//! Any config or flag error, and a context too large to send, exits 2 before a single
//! request. Progress goes to stderr; with `-o json` stdout gets exactly one document at the
//! end: the readiness report plus `exit_code`. In table mode stdout gets what was accepted
//! and, at the end, a summary with the URLs. A deploy that ends a rollback's pin says so
//! (on stderr, so the JSON stays one document).
//!
//! - [`upload`]: packing and uploading the context;
//! - [`crate::commands::lifecycle`]: the wait, its progress display and the verdict, shared
//!   with `app rollback`.

pub(crate) mod upload;

use std::path::Path;

use satusky_core::config::{self, Overrides};
use satusky_core::validate::limits::quoted;
use satusky_types::{DeployAccepted, PutAppRequest, SecretsMissing};

use crate::cli::{DeployArgs, OverrideArgs};
use crate::commands::lifecycle::{self, Kind, Release};
use crate::commands::{Env, current_dir};
use crate::exit::CliError;
use crate::output;

pub async fn run(args: &DeployArgs, env: &Env) -> Result<u8, CliError> {
    let cwd = current_dir()?;
    let dir = args.dir.clone().unwrap_or_else(|| cwd.clone());
    let overrides = overrides(&args.overrides)?;
    let loaded = config::load(&dir, args.config.as_deref(), &overrides)
        .map_err(|e| config_error(e, &cwd))?;
    let config_dir = loaded.path.parent().unwrap_or(&dir).to_path_buf();
    let keep_scaled_replicas = !loaded.sets_replicas;
    let spec = loaded.app.into_spec();
    let app = spec.name.clone();
    let live = output::stderr_is_live();

    // Packed before any request, so a context too large to send changes nothing.
    let context = match &spec.image {
        Some(_) => None,
        None => Some(upload::pack_context(&config_dir, &spec.build, &cwd)?),
    };

    let session = env.session()?;
    let org = session.org().await?.value;
    let client = &session.client;
    // Required secrets are asked about before anything is uploaded or recorded.
    if !spec.secrets.required.is_empty() {
        let names = spec.secrets.required.join(",");
        let answer: SecretsMissing = client
            .get_query(
                &["v1", "orgs", &org, "apps", &app, "secrets", "missing"],
                &[("names", &names)],
            )
            .await?;
        if !answer.missing.is_empty() {
            return Err(CliError::Invalid(missing_secrets(&app, &answer.missing)));
        }
    }
    let context = match context {
        Some(ctx) => Some(upload::upload(client, &org, ctx, live).await?),
        None => None,
    };
    let accepted: DeployAccepted = client
        .put(
            &["v1", "orgs", &org, "apps", &app],
            &PutAppRequest {
                spec,
                context,
                keep_scaled_replicas,
            },
        )
        .await?;
    if !env.json() {
        print_accepted(&accepted);
    }
    if let Some(pin) = accepted.unpinned {
        output::note(&unpin_note(&accepted.app, pin));
    }
    for key in &accepted.kept_env {
        output::note(&format!(
            "kept env {key} (set with 1ctl env set): add it to [env] in satusky.toml, or 1ctl env unset {key}"
        ));
    }
    for change in &accepted.staged_applied {
        output::note(&format!("applied the staged change: {change}"));
    }
    for note in &accepted.notes {
        output::note(&format!("note: {note}"));
    }
    for host in &accepted.kept {
        output::note(&format!(
            "kept {host} (added with 1ctl domains add): add it to satusky.toml, or 1ctl domains remove {host}"
        ));
    }
    let release = Release {
        client,
        org: &org,
        app: &app,
        version: accepted.release,
        kind: Kind::Deploy,
        https_port: accepted.https_port,
    };
    lifecycle::follow(&release, &args.wait, env).await
}

/// Why a deploy with `[secrets] required` did not start: each missing key and its command.
fn missing_secrets(app: &str, missing: &[String]) -> String {
    let mut text = format!(
        "{app} requires secret(s) it does not have ([secrets] required in satusky.toml); nothing was uploaded or changed. Set them first:"
    );
    for key in missing {
        text.push_str(&format!("\n  1ctl secret set {key}=… --app {app}"));
    }
    text
}

/// The line a deploy that ends a rollback's pin prints.
fn unpin_note(app: &str, pin: u64) -> String {
    format!("note: this deploy unpins {app} from rollback release v{pin}")
}

/// Every diagnostic, one per line, with file names relative to the current folder.
fn config_error(mut e: config::ConfigError, cwd: &Path) -> CliError {
    for d in &mut e.diagnostics {
        if let Some(rel) = d.file.as_ref().and_then(|f| f.strip_prefix(cwd).ok()) {
            d.file = Some(rel.to_path_buf());
        }
    }
    CliError::Config(e.to_string())
}

/// The flags as `satusky-core` overrides; malformed `--env` / `--command` exit 2.
pub fn overrides(o: &OverrideArgs) -> Result<Overrides, CliError> {
    let env = o
        .env
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(CliError::Config(format!(
                "--env: {} is not KEY=VALUE (e.g. --env LOG_LEVEL=info)",
                quoted(kv)
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Overrides {
        name: o.name.clone(),
        port: o.port,
        replicas: o.replicas,
        cpu: o.cpu.clone(),
        cpu_limit: o.cpu_limit.clone(),
        memory: o.memory.clone(),
        memory_limit: o.memory_limit.clone(),
        image: o.image.clone(),
        zone: o.zone.clone(),
        command: command(&o.command)?,
        build_command: o.build_command.clone(),
        checks_path: o.checks_path.clone(),
        checks_expect: o.checks_expect.clone(),
        checks_timeout: o.checks_timeout.clone(),
        strategy: o.strategy.clone(),
        progress_deadline: o.progress_deadline.clone(),
        expose: o.expose.clone(),
        env,
    })
}

/// `--command a --command b`, or one `--command '["a", "b"]'`.
fn command(args: &[String]) -> Result<Option<Vec<String>>, CliError> {
    match args {
        [] => Ok(None),
        [one] if one.trim_start().starts_with('[') => {
            #[derive(serde::Deserialize)]
            struct Wrapper {
                v: Vec<String>,
            }
            toml::from_str::<Wrapper>(&format!("v = {one}"))
                .map(|w| Some(w.v))
                .map_err(|e| {
                    CliError::Config(format!(
                        "--command: {} is not an array of strings ({}): e.g. --command '[\"./server\", \"-v\"]'",
                        quoted(one),
                        e.message()
                    ))
                })
        }
        many => Ok(Some(many.to_vec())),
    }
}

fn print_accepted(a: &DeployAccepted) {
    let what = if a.created { "new app" } else { "update" };
    output::line(&format!(
        "deploying {} to org {}: generation {}, release v{} ({what})",
        a.app, a.org, a.generation, a.release
    ));
    for h in &a.hostnames {
        let to = h
            .redirect_to
            .as_ref()
            .map_or(String::new(), |t| format!(" → {t}"));
        output::line(&format!("  {} ({}){to}", h.hostname, h.kind.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_forms() {
        assert_eq!(command(&[]).ok(), Some(None));
        let many = vec!["./server".to_string(), "-v".to_string()];
        assert_eq!(command(&many).ok(), Some(Some(many.clone())));
        let one = vec![r#"["./server", "-v"]"#.to_string()];
        assert_eq!(command(&one).ok(), Some(Some(many)));
        let bad = vec!["[1, 2]".to_string()];
        assert_eq!(command(&bad).err().map(|e| e.code()), Some(2));
        let plain = vec!["./server --flag".to_string()];
        assert_eq!(
            command(&plain).ok(),
            Some(Some(vec!["./server --flag".to_string()])),
            "never shell-split"
        );
    }

    #[test]
    fn the_unpin_note_names_the_rollback_release() {
        assert_eq!(
            unpin_note("web", 4),
            "note: this deploy unpins web from rollback release v4"
        );
    }
}
