//! `1ctl app list/get/status/releases/destroy`: read and remove apps of the org; and the
//! dispatch of `app rollback` ([`super::rollback`]) and `app drift` ([`super::drift`]).
//!
//! JSON output is exactly the wire types (SPEC §5 shapes); tables are for people. The app
//! defaults to `[app] name` of the folder's `satusky.toml` (or `--config`). `status --watch`
//! follows the event stream ([`crate::events`]).

use comfy_table::{Cell, Color};
use satusky_types::{
    AppDeleted, AppDetail, AppSummary, ReadinessReport, ReleaseInfo, ReleaseStatus,
};

use crate::cli::{AppCommand, AppTarget};
use crate::commands::target::resolve;
use crate::commands::{Env, Session, app_name, current_dir};
use crate::events::replay::Replay;
use crate::events::stream::{self, Msg};
use crate::events::{Feed, Update, clock};
use crate::exit::{self, CliError};
use crate::output::{self, state_cell, version};

pub async fn run(cmd: AppCommand, env: &Env) -> Result<u8, CliError> {
    match cmd {
        AppCommand::List => list(env).await,
        AppCommand::Get(target) => get(&target, env).await,
        AppCommand::Status { target, watch } => status(&target, watch, env).await,
        AppCommand::Releases(target) => releases(&target, env).await,
        AppCommand::Events {
            target,
            last,
            follow,
        } => super::events::run(&target, last, follow, env).await,
        AppCommand::Rollback(args) => super::rollback::run(&args, env).await,
        AppCommand::Scale(args) => super::operate::scale(&args, env).await,
        AppCommand::Restart(args) => super::operate::restart(&args, env).await,
        AppCommand::Drift { target, check } => super::drift::run(&target, check, env).await,
        AppCommand::Destroy {
            target,
            yes,
            purge_volumes,
        } => destroy(&target, yes, purge_volumes, env).await,
    }
}

async fn list(env: &Env) -> Result<u8, CliError> {
    let session = env.session()?;
    let org = session.org().await?.value;
    let apps: Vec<AppSummary> = session.client.get(&["v1", "orgs", &org, "apps"]).await?;
    if env.json() {
        return output::json(&apps).map(|()| exit::OK);
    }
    if apps.is_empty() {
        output::note(&format!(
            "no apps in org {org}: deploy one with `1ctl init && 1ctl deploy`"
        ));
        return Ok(exit::OK);
    }
    let mut t = output::table(&["NAME", "PHASE", "GENERATION", "ACTIVE", "HOSTNAMES"]);
    for a in &apps {
        t.add_row(vec![
            a.name.clone(),
            a.phase.to_string(),
            a.generation.to_string(),
            version(a.active_release),
            a.hostnames.join(", "),
        ]);
    }
    output::print_table(&t);
    Ok(exit::OK)
}

async fn get(target: &AppTarget, env: &Env) -> Result<u8, CliError> {
    let (session, org, app) = resolve(target, env).await?;
    let d: AppDetail = session
        .client
        .get(&["v1", "orgs", &org, "apps", &app])
        .await?;
    if env.json() {
        return output::json(&d).map(|()| exit::OK);
    }
    let s = &d.spec;
    let mut t = output::table(&["FIELD", "VALUE"]);
    let rows: Vec<(&str, String)> = vec![
        ("name", d.name.clone()),
        ("org", d.org.clone()),
        ("generation", d.generation.to_string()),
        ("active release", version(d.active_release)),
        ("target release", version(d.target_release)),
        ("hostnames", hostnames(&d)),
        (
            "internal address",
            d.internal_address.as_deref().map_or_else(
                || "-".into(),
                |a| format!("{a} (reachable by the org's apps)"),
            ),
        ),
        ("image", s.image.clone().unwrap_or_else(|| "(built)".into())),
        (
            "command",
            s.command.as_ref().map_or("-".into(), |c| c.join(" ")),
        ),
        ("port", s.port.to_string()),
        ("replicas", replicas(&d)),
        ("cpu", limits(&s.cpu, s.cpu_limit.as_deref())),
        ("memory", limits(&s.memory, s.memory_limit.as_deref())),
        ("zone", s.zone.clone().unwrap_or_else(|| "-".into())),
        (
            "checks",
            format!("{} expect {}", s.checks.path, s.checks.expect),
        ),
        ("env", s.env.keys().cloned().collect::<Vec<_>>().join(", ")),
        ("template", d.template.clone().unwrap_or_else(|| "-".into())),
        ("bindings", bindings(&d)),
        ("created", d.created_at.clone()),
        ("updated", d.updated_at.clone()),
    ];
    for (k, v) in rows {
        t.add_row(vec![k.to_string(), v]);
    }
    output::print_table(&t);
    Ok(exit::OK)
}

/// Where the org's other apps reach the app, on one line.
pub fn internal_address_line(address: &str) -> String {
    format!("internal address {address} (reachable by the org's apps)")
}

/// The count that runs: the spec's, or the one set with `1ctl app scale` (saying so), and
/// the last restart.
fn replicas(d: &AppDetail) -> String {
    let mut out = match d.scaled_replicas {
        Some(n) if n != d.spec.replicas => format!(
            "{n} (set with `1ctl app scale`; the spec says {})",
            d.spec.replicas
        ),
        Some(n) => format!("{n} (set with `1ctl app scale`)"),
        None => d.spec.replicas.to_string(),
    };
    if let Some(at) = &d.restarted_at {
        out.push_str(&format!(", restarted {at}"));
    }
    out
}

/// Each binding the app takes part in, from its side: what it writes, or what it holds.
fn bindings(d: &AppDetail) -> String {
    if d.bindings.is_empty() {
        return "-".into();
    }
    d.bindings
        .iter()
        .map(|b| {
            if b.service == d.name {
                format!("{} → {}'s secret {}", b.output, b.target, b.secret)
            } else {
                format!("secret {} ← {}'s {}", b.secret, b.service, b.output)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The app's hostnames; none public when its `expose` says so.
fn hostnames(d: &AppDetail) -> String {
    if d.spec.expose.is_public() {
        d.hostnames.join(", ")
    } else {
        format!(
            "none public (expose = \"{}\"; {} is reserved, not served)",
            d.spec.expose,
            d.hostnames.join(", ")
        )
    }
}

fn limits(request: &str, limit: Option<&str>) -> String {
    match limit {
        Some(l) => format!("{request} (limit {l})"),
        None => request.to_string(),
    }
}

async fn status(target: &AppTarget, watch: bool, env: &Env) -> Result<u8, CliError> {
    let (session, org, app) = resolve(target, env).await?;
    let path = ["v1", "orgs", org.as_str(), "apps", app.as_str(), "status"];
    let report: ReadinessReport = session.client.get(&path).await?;
    if !watch {
        if env.json() {
            output::json(&report)?;
        } else {
            print_status(&report);
        }
        return Ok(exit::OK);
    }
    if env.json() {
        output::line(&compact(&report)?);
    } else {
        print_status(&report);
        output::line("");
    }
    follow(&session, org, app, report.target_release.unwrap_or(0), env).await
}

/// `--watch`: the app's events from its current release on, one line each (JSON: the event
/// itself), until Ctrl-C. A dropped connection is resumed from the last event seen. The
/// replayed history is framed by marker lines ([`Replay`]; on stderr with `-o json`, so
/// stdout stays one event per line).
async fn follow(
    session: &Session,
    org: String,
    app: String,
    from: u64,
    env: &Env,
) -> Result<u8, CliError> {
    let mut feed = Feed::new(from, None);
    let mut replay = Replay::default();
    let marker = |text: &str| {
        if env.json() {
            output::note(text);
        } else {
            output::line(text);
        }
    };
    let mut stream = stream::follow(session.client.clone(), org, app, 0);
    let mut lost = false;
    while let Some(msg) = stream.rx.recv().await {
        match msg {
            Msg::Connected { last_seq } => {
                if lost {
                    output::note("event stream back");
                }
                lost = false;
                replay.connected(last_seq);
            }
            Msg::Event(e) => {
                if let Some(update) = Update::parse(&e).filter(|u| feed.admit(u)) {
                    if let Some(m) = replay.before_shown(e.seq) {
                        marker(m);
                    }
                    if env.json() {
                        output::line(&compact(&e)?);
                    } else {
                        output::line(&format!("{} {}", clock(&e.at), update.line()));
                    }
                }
                if let Some(m) = replay.after(e.seq) {
                    marker(m);
                }
            }
            Msg::Lost(why) => {
                if !lost {
                    output::note(&format!("event stream lost ({why}): reconnecting…"));
                }
                lost = true;
            }
            Msg::Gone(e) => return Err(e),
        }
    }
    Ok(exit::OK)
}

/// One JSON document on one line.
fn compact<T: serde::Serialize>(value: &T) -> Result<String, CliError> {
    serde_json::to_string(value)
        .map_err(|e| CliError::Unexpected(format!("cannot encode JSON: {e}")))
}

/// The readiness report as tables: the dimensions, then every plane of every hostname.
pub fn print_status(r: &ReadinessReport) {
    output::line(&format!(
        "app {} (org {}): phase {}, generation {}, active {}, target {}",
        r.app,
        r.org,
        r.phase,
        r.generation,
        version(r.active_release),
        version(r.target_release)
    ));
    if let Some(address) = &r.internal_address {
        output::line(&internal_address_line(address));
    }
    output::line("");
    let mut t = output::table(&["DIMENSION", "STATE", "REASON", "MESSAGE"]);
    t.add_row(vec![
        Cell::new("build"),
        state_cell(r.build.state),
        Cell::new(r.build.reason),
        Cell::new(&r.build.message),
    ]);
    let c = r.workload.replicas;
    let replicas = format!(
        "replicas: {} desired, {} updated, {} ready, {} available",
        c.desired, c.updated, c.ready, c.available
    );
    // The counts go after the message's first line, not after the output it may quote.
    let message = match r.workload.plane.message.split_once('\n') {
        _ if r.workload.plane.message.is_empty() => replicas,
        Some((first, rest)) => format!("{first} ({replicas})\n{rest}"),
        None => format!("{} ({replicas})", r.workload.plane.message),
    };
    t.add_row(vec![
        Cell::new("workload"),
        state_cell(r.workload.plane.state),
        Cell::new(r.workload.plane.reason),
        Cell::new(message),
    ]);
    output::print_table(&t);
    let mut fixes = Vec::new();
    for (name, p) in [("build", &r.build), ("workload", &r.workload.plane)] {
        if let Some(fix) = &p.remediation {
            fixes.push(format!("{name}: {fix}"));
        }
    }
    if !r.endpoints.is_empty() {
        output::line("");
        print_endpoints(r, &mut fixes);
    }
    if !fixes.is_empty() {
        output::line("");
        output::line("to fix:");
        for f in fixes {
            output::line(&format!("  {f}"));
        }
    }
}

/// Every plane of every hostname as a table; their fixes are added to `fixes`.
fn print_endpoints(r: &ReadinessReport, fixes: &mut Vec<String>) {
    let mut t = output::table(&["HOSTNAME", "KIND", "PLANE", "STATE", "REASON", "MESSAGE"]);
    for e in &r.endpoints {
        for (i, (name, p)) in e.planes().into_iter().enumerate() {
            let (host, kind) = if i == 0 {
                (e.hostname.as_str(), e.kind.as_str())
            } else {
                ("", "")
            };
            t.add_row(vec![
                Cell::new(host),
                Cell::new(kind),
                Cell::new(name),
                state_cell(p.state),
                Cell::new(p.reason),
                Cell::new(&p.message),
            ]);
            if let Some(fix) = &p.remediation {
                fixes.push(format!("{} {name}: {fix}", e.hostname));
            }
        }
    }
    output::print_table(&t);
}

async fn releases(target: &AppTarget, env: &Env) -> Result<u8, CliError> {
    let (session, org, app) = resolve(target, env).await?;
    let list: Vec<ReleaseInfo> = session
        .client
        .get(&["v1", "orgs", &org, "apps", &app, "releases"])
        .await?;
    if env.json() {
        return output::json(&list).map(|()| exit::OK);
    }
    output::print_table(&releases_table(&list));
    Ok(exit::OK)
}

/// The releases, newest first; `*` in the first column marks the active one.
fn releases_table(list: &[ReleaseInfo]) -> comfy_table::Table {
    let mut t = output::table(&["", "VERSION", "STATUS", "IMAGE", "SOURCE", "CREATED"]);
    for r in list {
        let active = r.status == ReleaseStatus::Active;
        t.add_row(vec![
            Cell::new(if active { "*" } else { "" }),
            Cell::new(format!("v{}", r.version)),
            release_status_cell(r.status),
            Cell::new(r.image.as_deref().unwrap_or("-")),
            Cell::new(&r.source),
            Cell::new(&r.created_at),
        ]);
    }
    t
}

fn release_status_cell(status: ReleaseStatus) -> Cell {
    let cell = Cell::new(status.as_str());
    match status {
        ReleaseStatus::Active => cell.fg(Color::Green),
        ReleaseStatus::Failed => cell.fg(Color::Red),
        ReleaseStatus::Pending => cell.fg(Color::Yellow),
        ReleaseStatus::Superseded => cell,
    }
}

async fn destroy(
    target: &AppTarget,
    yes: bool,
    purge_volumes: bool,
    env: &Env,
) -> Result<u8, CliError> {
    let app = app_name(
        target.app.as_deref(),
        target.config.as_deref(),
        &current_dir()?,
    )?;
    if !yes {
        let volumes = if purge_volumes {
            ", and its volumes with their data"
        } else {
            " (its volumes are kept)"
        };
        return Err(CliError::Invalid(format!(
            "destroying {app} deletes its workload, releases and hostnames{volumes}: pass --yes to confirm"
        )));
    }
    let session = env.session()?;
    let org = session.org().await?.value;
    let query: &[(&str, &str)] = if purge_volumes {
        &[("purge_volumes", "true")]
    } else {
        &[]
    };
    let gone: AppDeleted = session
        .client
        .delete_query(&["v1", "orgs", &org, "apps", &app], query)
        .await?;
    if env.json() {
        return output::json(&gone).map(|()| exit::OK);
    }
    for line in destroyed_lines(&gone) {
        output::line(&line);
    }
    for b in &gone.bindings_removed {
        if b.service == gone.app {
            output::note(&format!(
                "warning: {} keeps its secret {} (bound from {}'s {}), which now points at nothing: bind another service (`1ctl bind SERVICE {} --as {}`) or `1ctl secret unset {} --app {}`",
                b.target, b.secret, b.service, b.output, b.target, b.secret, b.secret, b.target
            ));
        } else {
            output::line(&format!(
                "  removed binding: {}'s {} into {}'s secret {}",
                b.service, b.output, b.target, b.secret
            ));
        }
    }
    Ok(exit::OK)
}

/// What `app destroy` says it did, line by line.
fn destroyed_lines(gone: &AppDeleted) -> Vec<String> {
    let mut lines = Vec::new();
    // A second destroy with --purge-volumes: the app was gone, only its volumes were left.
    let only_volumes = gone.releases_removed == 0
        && gone.hostnames_released.is_empty()
        && !gone.volumes_purged.is_empty();
    if only_volumes {
        lines.push(format!(
            "deleted the volumes app {} left in org {}",
            gone.app, gone.org
        ));
    } else {
        lines.push(format!("destroyed app {} in org {}", gone.app, gone.org));
        lines.push(format!(
            "  removed: the workload and {} release(s)",
            gone.releases_removed
        ));
        for h in &gone.hostnames_released {
            lines.push(format!("  released hostname: {h}"));
        }
    }
    for v in &gone.volumes_purged {
        lines.push(format!("  deleted volume: {v} (with its data)"));
    }
    for v in &gone.volumes_kept {
        lines.push(format!("  kept volume: {v}"));
    }
    if !gone.volumes_kept.is_empty() {
        lines.push(format!(
            "  its data stays: an app deployed again as {app} uses it; to delete it, run \
             `1ctl app destroy {app} --yes --purge-volumes` (works now that the app is gone)",
            app = gone.app
        ));
    }
    if !only_volumes {
        lines.push(
            "  remains: DNS records you created for custom domains (remove them at your DNS provider)"
                .to_string(),
        );
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deleted(kept: &[&str], purged: &[&str], releases: u64) -> AppDeleted {
        AppDeleted {
            app: "web".into(),
            org: "acme".into(),
            releases_removed: releases,
            hostnames_released: Vec::new(),
            bindings_removed: Vec::new(),
            volumes_kept: kept.iter().map(|s| s.to_string()).collect(),
            volumes_purged: purged.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn destroy_names_the_volumes_it_kept_and_how_to_delete_them() {
        let pvc = "persistentvolumeclaim satusky-acme/web-data (5Gi)";
        let kept = destroyed_lines(&deleted(&[pvc], &[], 2)).join("\n");
        assert!(kept.starts_with("destroyed app web in org acme"), "{kept}");
        assert!(kept.contains(&format!("  kept volume: {pvc}")), "{kept}");
        assert!(
            kept.contains("`1ctl app destroy web --yes --purge-volumes`"),
            "{kept}"
        );
        let purged = destroyed_lines(&deleted(&[], &[pvc], 2)).join("\n");
        assert!(
            purged.contains(&format!("  deleted volume: {pvc} (with its data)")),
            "{purged}"
        );
        assert!(!purged.contains("kept volume"), "{purged}");
        // The app was destroyed before: only its volumes went.
        let later = destroyed_lines(&deleted(&[], &[pvc], 0));
        assert_eq!(later[0], "deleted the volumes app web left in org acme");
        assert!(!later.join("\n").contains("release(s)"), "{later:?}");
        // No volumes: nothing said about them.
        let plain = destroyed_lines(&deleted(&[], &[], 1)).join("\n");
        assert!(!plain.contains("volume"), "{plain}");
    }

    fn release(version: u64, status: ReleaseStatus, source: &str) -> ReleaseInfo {
        ReleaseInfo {
            version,
            status,
            image: Some(format!("ghcr.io/acme/web@sha256:{version}")),
            source: source.into(),
            created_at: format!("2026-01-01T12:00:0{version}.000Z"),
            generation: version,
            secrets: Default::default(),
        }
    }

    #[test]
    fn the_active_release_is_starred() {
        let t = releases_table(&[
            release(4, ReleaseStatus::Active, "rollback(from=v1)"),
            release(3, ReleaseStatus::Superseded, "deploy"),
        ]);
        let lines: Vec<String> = t.lines().map(|l| l.trim_end().to_string()).collect();
        assert_eq!(lines.len(), 3, "{lines:#?}");
        let words = |l: &str| l.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
        assert_eq!(words(&lines[0]), "VERSION STATUS IMAGE");
        assert_eq!(words(&lines[1]), "* v4 active");
        assert!(lines[1].contains("rollback(from=v1)"), "{lines:#?}");
        assert_eq!(words(&lines[2]), "v3 superseded ghcr.io/acme/web@sha256:3");
    }
}
