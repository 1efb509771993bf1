//! `1ctl marketplace list / get / deploy / upgrade` and `1ctl bind`: apps made from catalog
//! templates. The control plane resolves a template into an ordinary spec and deploys it
//! through the one lifecycle, so the wait here is `1ctl deploy`'s ([`lifecycle::follow`]:
//! same progress, exit codes and `-o json` document). `--set` values are checked for shape
//! here (NAME=VALUE, each name once) and for their rules by the control plane (exit 2 naming
//! the parameter and the rule). A binding writes an output into another app's secret: that
//! app's config release is followed like `1ctl secret set`'s.

use std::collections::BTreeMap;

use comfy_table::Cell;
use satusky_types::{
    AppDetail, BindRequest, BindingAccepted, TemplateDeployRequest, TemplateDeployed,
    TemplateDetail, TemplateSummary,
};

use crate::cli::{
    BindArgs, MarketplaceCommand, MarketplaceDeployArgs, MarketplaceUpgradeArgs, WaitArgs,
};
use crate::commands::lifecycle::{self, Kind, Release};
use crate::commands::{Env, current_dir};
use crate::exit::{self, CliError};
use crate::output;

pub async fn run(cmd: MarketplaceCommand, env: &Env) -> Result<u8, CliError> {
    match cmd {
        MarketplaceCommand::List => list(env).await,
        MarketplaceCommand::Get { template } => get(&template, env).await,
        MarketplaceCommand::Deploy(args) => deploy(&args, env).await,
        MarketplaceCommand::Upgrade(args) => upgrade(&args, env).await,
    }
}

async fn list(env: &Env) -> Result<u8, CliError> {
    let session = env.session()?;
    let all: Vec<TemplateSummary> = session.client.get(&["v1", "templates"]).await?;
    if env.json() {
        return output::json(&all).map(|()| exit::OK);
    }
    let mut table = output::table(&["NAME", "VERSION", "EXPOSE", "RUNTIMES", "DESCRIPTION"]);
    for t in &all {
        let runtimes = if t.runs_here {
            t.runtimes.join(", ")
        } else {
            format!("{} (not this one)", t.runtimes.join(", "))
        };
        table.add_row(vec![
            Cell::new(&t.name),
            Cell::new(t.version),
            Cell::new(&t.expose),
            Cell::new(runtimes),
            Cell::new(&t.description),
        ]);
    }
    output::line(&table.to_string());
    output::note("deploy one with `1ctl marketplace deploy NAME [APP] [--set NAME=VALUE]`");
    Ok(exit::OK)
}

async fn get(reference: &str, env: &Env) -> Result<u8, CliError> {
    let (name, version) = parse_reference(reference, None)?;
    let session = env.session()?;
    let t = detail(&session.client, name, version).await?;
    if env.json() {
        return output::json(&t).map(|()| exit::OK);
    }
    output::line(&format!(
        "{}@{} — {} (expose {}; versions {})",
        t.name,
        t.version,
        t.description,
        t.expose,
        t.versions
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if t.parameters.is_empty() {
        output::line("no parameters");
    } else {
        let mut table = output::table(&["PARAMETER", "KIND", "DEFAULT", "RULE", "DESCRIPTION"]);
        for p in &t.parameters {
            let default = match (&p.default, &p.secret, p.required) {
                (Some(d), _, _) => d.clone(),
                (None, Some(secret), _) => format!("generated (secret {secret})"),
                (None, None, true) => "required".to_string(),
                (None, None, false) => String::new(),
            };
            table.add_row(vec![
                Cell::new(&p.name),
                Cell::new(&p.kind),
                Cell::new(default),
                Cell::new(p.rule.as_deref().unwrap_or("")),
                Cell::new(&p.description),
            ]);
        }
        output::line(&table.to_string());
    }
    for o in &t.outputs {
        let bound = match (&t.bind_as, o.name.as_str()) {
            (Some(secret), "url") => format!(" (`--bind APP` writes it into APP's {secret})"),
            _ => String::new(),
        };
        output::line(&format!("output {}: {}{bound}", o.name, o.text));
    }
    for r in &t.runtimes {
        let needs = if r.binaries.is_empty() {
            String::new()
        } else {
            format!(" (needs {})", r.binaries.join(", "))
        };
        output::line(&format!("on {}{needs}: {}", r.runtime, r.notes));
    }
    if !t.runs_here {
        output::note(&format!(
            "{} does not run on this control plane's runtime",
            t.name
        ));
    }
    Ok(exit::OK)
}

async fn detail(
    client: &crate::client::Client,
    name: &str,
    version: Option<u32>,
) -> Result<TemplateDetail, CliError> {
    let v = version.map(|v| v.to_string());
    let query: Vec<(&str, &str)> = v.iter().map(|v| ("version", v.as_str())).collect();
    client.get_query(&["v1", "templates", name], &query).await
}

async fn deploy(args: &MarketplaceDeployArgs, env: &Env) -> Result<u8, CliError> {
    let (name, version) = parse_reference(&args.template, args.version)?;
    let set = parse_set(&args.set)?;
    let app = args.app.clone().unwrap_or_else(|| name.to_string());
    satusky_core::validate_app_name(&app).map_err(|e| CliError::Invalid(format!("APP: {e}")))?;
    let session = env.session()?;
    let org = session.org().await?.value;
    let client = &session.client;
    let t = detail(client, name, version).await?;
    // A template that serves the user's files takes the folder, packed and uploaded like a
    // deploy's context.
    let context = if t.context == "user" {
        let cwd = current_dir()?;
        let dir = args.dir.clone().unwrap_or_else(|| cwd.clone());
        let build = satusky_types::BuildSpec {
            dockerfile: String::new(),
            context: ".".into(),
            command: None,
            env: BTreeMap::new(),
        };
        let packed = super::deploy::upload::pack_context(&dir, &build, &cwd)?;
        Some(super::deploy::upload::upload(client, &org, packed, output::stderr_is_live()).await?)
    } else {
        if args.dir.is_some() {
            return Err(CliError::Invalid(format!(
                "--dir: {} uploads no files of yours (it builds from {})",
                t.name,
                if t.context == "bundled" {
                    "the files it brings"
                } else {
                    "nothing"
                }
            )));
        }
        None
    };
    let request = TemplateDeployRequest {
        app: app.clone(),
        version,
        set,
        upgrade: false,
        context,
        bind: args.bind.clone(),
    };
    let accepted: TemplateDeployed = client
        .post(&["v1", "orgs", &org, "templates", name, "deploy"], &request)
        .await?;
    follow(client, &org, &accepted, &args.wait, env).await
}

async fn upgrade(args: &MarketplaceUpgradeArgs, env: &Env) -> Result<u8, CliError> {
    let set = parse_set(&args.set)?;
    let session = env.session()?;
    let org = session.org().await?.value;
    let client = &session.client;
    let app: AppDetail = client.get(&["v1", "orgs", &org, "apps", &args.app]).await?;
    let Some(template) = app.template else {
        return Err(CliError::Invalid(format!(
            "{} was not deployed from a template: deploy its satusky.toml with `1ctl deploy` instead",
            args.app
        )));
    };
    let (name, _) = parse_reference(&template, None)?;
    let request = TemplateDeployRequest {
        app: args.app.clone(),
        version: args.version,
        set,
        upgrade: true,
        context: None,
        bind: Vec::new(),
    };
    let accepted: TemplateDeployed = client
        .post(&["v1", "orgs", &org, "templates", name, "deploy"], &request)
        .await?;
    follow(client, &org, &accepted, &args.wait, env).await
}

/// Prints what was accepted, follows the service's release, then each bound app's config
/// release; the exit code is the first that is not 0.
async fn follow(
    client: &crate::client::Client,
    org: &str,
    accepted: &TemplateDeployed,
    wait: &WaitArgs,
    env: &Env,
) -> Result<u8, CliError> {
    for line in accepted_lines(accepted) {
        if env.json() {
            output::note(&line);
        } else {
            output::line(&line);
        }
    }
    for note in &accepted.deploy.notes {
        output::note(&format!("note: {note}"));
    }
    let release = Release {
        client,
        org,
        app: &accepted.deploy.app,
        version: accepted.deploy.release,
        kind: Kind::Deploy,
        https_port: accepted.deploy.https_port,
    };
    let code = lifecycle::follow(&release, wait, env).await?;
    if code != exit::OK {
        return Ok(code);
    }
    for b in &accepted.bindings {
        let code = follow_binding(client, b, wait, env).await?;
        if code != exit::OK {
            return Ok(code);
        }
    }
    Ok(exit::OK)
}

/// What a template deploy did, one line each.
fn accepted_lines(a: &TemplateDeployed) -> Vec<String> {
    let d = &a.deploy;
    let what = match (d.created, a.previous_version) {
        (true, _) => "new app".to_string(),
        (false, Some(v)) if a.template != format!("{}@{v}", template_name(&a.template)) => {
            format!("from version {v}")
        }
        (false, _) => "update".to_string(),
    };
    let mut out = vec![format!(
        "deploying {} from template {} to org {}: generation {}, release v{} ({what})",
        d.app, a.template, d.org, d.generation, d.release
    )];
    let params: Vec<String> = a
        .parameters
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !params.is_empty() {
        out.push(format!("  parameters: {}", params.join(" ")));
    }
    if !a.generated.is_empty() {
        out.push(format!(
            "  generated: {} (kept with the app; never shown)",
            a.generated.join(", ")
        ));
    }
    if !a.dropped.is_empty() {
        out.push(format!(
            "  dropped (not in this version): {}",
            a.dropped.join(", ")
        ));
    }
    for h in &d.hostnames {
        out.push(format!("  {} ({})", h.hostname, h.kind.as_str()));
    }
    for b in &a.bindings {
        out.push(format!(
            "  bound: {}'s {} → {}'s secret {}",
            b.binding.service, b.binding.output, b.binding.target, b.binding.secret
        ));
    }
    out
}

fn template_name(reference: &str) -> &str {
    reference.split('@').next().unwrap_or(reference)
}

pub async fn bind(args: &BindArgs, env: &Env) -> Result<u8, CliError> {
    let session = env.session()?;
    let org = session.org().await?.value;
    let client = &session.client;
    let accepted: BindingAccepted = client
        .post(
            &["v1", "orgs", &org, "apps", &args.service, "bindings"],
            &BindRequest {
                target: args.target.clone(),
                output: args.output.clone(),
                secret: args.secret.clone(),
            },
        )
        .await?;
    let b = &accepted.binding;
    let line = format!(
        "bound {}'s {} into {}'s secret {}",
        b.service, b.output, b.target, b.secret
    );
    if env.json() {
        output::note(&line);
    } else {
        output::line(&line);
    }
    follow_binding(client, &accepted, &args.wait, env).await
}

/// Follows the config release a binding gave its target (none: says why, exits 0).
async fn follow_binding(
    client: &crate::client::Client,
    accepted: &BindingAccepted,
    wait: &WaitArgs,
    env: &Env,
) -> Result<u8, CliError> {
    let c = &accepted.change;
    output::note(&c.message);
    let (Some(version), Some(from)) = (c.release, c.from) else {
        if env.json() {
            output::json(accepted)?;
        }
        return Ok(exit::OK);
    };
    let release = Release {
        client,
        org: &c.org,
        app: &c.app,
        version,
        kind: Kind::Config { from },
        https_port: c.https_port,
    };
    lifecycle::follow(&release, wait, env).await
}

/// `NAME` or `NAME@VERSION`; `--version` must agree with an `@VERSION`.
fn parse_reference(s: &str, flag: Option<u32>) -> Result<(&str, Option<u32>), CliError> {
    let (name, at) = match s.split_once('@') {
        Some((n, v)) => {
            let v: u32 = v.parse().map_err(|_| {
                CliError::Invalid(format!(
                    "{s:?} is not NAME@VERSION: the version is a whole number, e.g. redis@1"
                ))
            })?;
            (n, Some(v))
        }
        None => (s, None),
    };
    if name.is_empty() {
        return Err(CliError::Invalid(
            "name a template, e.g. redis (`1ctl marketplace list` shows them)".into(),
        ));
    }
    match (at, flag) {
        (Some(a), Some(f)) if a != f => Err(CliError::Invalid(format!(
            "{s} and --version {f} name different versions: give one"
        ))),
        (a, f) => Ok((name, a.or(f))),
    }
}

/// `--set NAME=VALUE` values, each name once.
fn parse_set(pairs: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut out = BTreeMap::new();
    for pair in pairs {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(CliError::Invalid(format!(
                "--set {pair:?} is not NAME=VALUE (e.g. --set memory=512Mi)"
            )));
        };
        if name.is_empty() {
            return Err(CliError::Invalid(format!(
                "--set {pair:?} names no parameter (e.g. --set memory=512Mi)"
            )));
        }
        if out.insert(name.to_string(), value.to_string()).is_some() {
            return Err(CliError::Invalid(format!(
                "--set {name} is given twice: give each parameter once"
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_set_values_are_checked_before_any_request() {
        assert_eq!(parse_reference("redis", None).unwrap(), ("redis", None));
        assert_eq!(
            parse_reference("redis@2", None).unwrap(),
            ("redis", Some(2))
        );
        assert_eq!(
            parse_reference("redis", Some(3)).unwrap(),
            ("redis", Some(3))
        );
        for (bad, flag, says) in [
            ("redis@x", None, "whole number"),
            ("redis@1", Some(2), "different versions"),
            ("@1", None, "name a template"),
        ] {
            let err = parse_reference(bad, flag).unwrap_err();
            assert!(format!("{err}").contains(says), "{bad}: {err}");
            assert_eq!(err.code(), 2);
        }
        let set = parse_set(&["memory=512Mi".into(), "banner=a=b".into()]).unwrap();
        assert_eq!(set["memory"], "512Mi");
        assert_eq!(set["banner"], "a=b", "only the first = splits");
        for (bad, says) in [
            (vec!["memory"], "is not NAME=VALUE"),
            (vec!["=1"], "names no parameter"),
            (vec!["a=1", "a=2"], "given twice"),
        ] {
            let bad: Vec<String> = bad.into_iter().map(String::from).collect();
            let err = parse_set(&bad).unwrap_err();
            assert!(format!("{err}").contains(says), "{bad:?}: {err}");
        }
    }
}
