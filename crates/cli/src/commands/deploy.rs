//! `1ctl deploy`: validate the config locally, `PUT` the spec, then poll the readiness
//! report until [`crate::verdict::verdict`] decides the exit code (SPEC §5).
//!
//! Any config or flag error exits 2 before a single request is sent. Progress goes to
//! stderr, one line per change; with `-o json` stdout gets exactly one document at the end:
//! the readiness report plus `exit_code`.

use std::path::Path;
use std::time::{Duration, Instant};

use satusky_core::config::{self, Overrides};
use satusky_types::{DeployAccepted, PutAppRequest, ReadinessReport, ReleaseInfo};

use crate::cli::{DeployArgs, OverrideArgs, WaitFor};
use crate::client::Client;
use crate::commands::{Env, current_dir};
use crate::exit::{self, CliError};
use crate::output;
use crate::progress::Progress;
use crate::verdict::{explain, needs_releases, verdict};

/// How often the readiness report is polled: fast enough to feel live, slow enough that a
/// few waiting CI jobs do not load the API.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

pub async fn run(args: &DeployArgs, env: &Env) -> Result<u8, CliError> {
    let cwd = current_dir()?;
    let dir = args.dir.clone().unwrap_or_else(|| cwd.clone());
    let overrides = overrides(&args.overrides)?;
    let loaded = config::load(&dir, args.config.as_deref(), &overrides)
        .map_err(|e| config_error(e, &cwd))?;
    let spec = loaded.app.into_spec();
    let app = spec.name.clone();

    let session = env.session()?;
    let org = session.org().await?.value;
    let client = &session.client;
    let accepted: DeployAccepted = client
        .put(
            &["v1", "orgs", &org, "apps", &app],
            &PutAppRequest {
                spec,
                context: None,
            },
        )
        .await?;
    if !env.json() {
        print_accepted(&accepted);
    }

    let target = Target {
        client,
        org: &org,
        app: &app,
    };
    if args.no_wait {
        if env.json() {
            let report = target.status().await?;
            print_json(&report, exit::OK)?;
        }
        return Ok(exit::OK);
    }
    let (code, report) = wait(&target, accepted.release, args.wait_for, args.timeout).await?;
    if env.json() {
        print_json(&report, code)?;
    } else if code == exit::OK {
        print_ready(&report, accepted.release, args.wait_for);
    }
    match explain(code, &report, accepted.release) {
        Some(message) => Err(CliError::Verdict { code, message }),
        None => Ok(code),
    }
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
                "--env: {kv:?} is not KEY=VALUE (e.g. --env LOG_LEVEL=info)"
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
                        "--command: {one:?} is not an array of strings ({}): e.g. --command '[\"./server\", \"-v\"]'",
                        e.message()
                    ))
                })
        }
        many => Ok(Some(many.to_vec())),
    }
}

/// The app the deploy talks about.
struct Target<'a> {
    client: &'a Client,
    org: &'a str,
    app: &'a str,
}

impl Target<'_> {
    async fn status(&self) -> Result<ReadinessReport, CliError> {
        self.client
            .get(&["v1", "orgs", self.org, "apps", self.app, "status"])
            .await
    }

    async fn releases(&self) -> Result<Vec<ReleaseInfo>, CliError> {
        self.client
            .get(&["v1", "orgs", self.org, "apps", self.app, "releases"])
            .await
    }
}

/// Errors worth retrying while waiting: the control plane restarting or failing briefly.
fn transient(e: &CliError) -> bool {
    matches!(e, CliError::Unreachable(_) | CliError::Unexpected(_))
}

/// Polls until a verdict; returns the exit code and the last report.
async fn wait(
    target: &Target<'_>,
    release: u64,
    wait_for: WaitFor,
    timeout: Duration,
) -> Result<(u8, ReadinessReport), CliError> {
    let deadline = Instant::now() + timeout;
    let mut progress = Progress::default();
    let mut last: Option<ReadinessReport> = None;
    let mut warned = false;
    loop {
        let timed_out = Instant::now() >= deadline;
        match poll_once(target, release, wait_for, timed_out).await {
            Ok((report, code)) => {
                for line in progress.changes(&report) {
                    output::note(&line);
                }
                if let Some(code) = code {
                    return Ok((code, report));
                }
                last = Some(report);
                warned = false;
            }
            Err(e) if transient(&e) => {
                if !warned {
                    output::note(&format!("warning: {e} (retrying)"));
                    warned = true;
                }
                if timed_out {
                    return match last {
                        Some(r) => {
                            let code = verdict(&r, release, &[], wait_for, true)
                                .unwrap_or(exit::TIMED_OUT);
                            Ok((code, r))
                        }
                        None => Err(e),
                    };
                }
            }
            Err(e) => return Err(e),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        // Sleep at most until the deadline, so the last poll happens right at it.
        tokio::time::sleep(POLL_INTERVAL.min(left)).await;
    }
}

async fn poll_once(
    target: &Target<'_>,
    release: u64,
    wait_for: WaitFor,
    timed_out: bool,
) -> Result<(ReadinessReport, Option<u8>), CliError> {
    let report = target.status().await?;
    let releases = if needs_releases(&report, release) {
        target.releases().await?
    } else {
        Vec::new()
    };
    let code = verdict(&report, release, &releases, wait_for, timed_out);
    Ok((report, code))
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

fn print_ready(report: &ReadinessReport, release: u64, wait_for: WaitFor) {
    let what = match wait_for {
        WaitFor::Build => "built",
        WaitFor::Workload => "running",
        WaitFor::Endpoint => "ready",
    };
    output::line(&format!(
        "{} v{release} is {what} (org {})",
        report.app, report.org
    ));
    if wait_for == WaitFor::Endpoint {
        for e in &report.endpoints {
            output::line(&format!("  https://{}", e.hostname));
        }
    }
}

/// The report with `exit_code` added: the one JSON document of `deploy -o json`.
fn print_json(report: &ReadinessReport, code: u8) -> Result<(), CliError> {
    let mut value = serde_json::to_value(report)
        .map_err(|e| CliError::Unexpected(format!("cannot encode the report: {e}")))?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("exit_code".into(), code.into());
    }
    output::json(&value)
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
}
