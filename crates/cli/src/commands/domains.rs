//! `1ctl domains add/list/check/setup/remove`: an app's custom domains. Hostnames are checked
//! here first with the server's rule (a valid hostname), so a typo is exit 2 before any
//! request; everything else (the platform zone, redirect targets) the server decides.
//! `check` exits 0 when every plane is ready and 12 when one is not, like a deploy's
//! endpoints; the others exit 0.

use comfy_table::Cell;
use satusky_types::{
    AddDomainRequest, Domain, DomainCheck, DomainRemoved, DomainSetup, DomainsAdded,
    OwnershipState, Plane,
};

use crate::cli::{DomainsCommand, DomainsTarget};
use crate::commands::{Env, Session};
use crate::exit::{self, CliError};
use crate::output::{self, state_cell};

pub async fn run(cmd: DomainsCommand, env: &Env) -> Result<u8, CliError> {
    match cmd {
        DomainsCommand::Add {
            host,
            redirect_to,
            with_www,
            target,
        } => add(&host, redirect_to, with_www, &target, env).await,
        DomainsCommand::List { target } => list(&target, env).await,
        DomainsCommand::Check { host, target } => check(&host, &target, env).await,
        DomainsCommand::Setup { host, target } => setup(&host, &target, env).await,
        DomainsCommand::Remove { host, yes, target } => remove(&host, yes, &target, env).await,
    }
}

/// The app (locally, before any request), the session and the org.
async fn resolve(target: &DomainsTarget, env: &Env) -> Result<(Session, String, String), CliError> {
    super::target::resolve_named(target.app.as_deref(), target.config.as_deref(), env).await
}

/// `HOST` checked as a hostname, lower-case, without a trailing dot.
fn hostname(host: &str) -> Result<String, CliError> {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    satusky_core::names::validate_hostname(&h)
        .map_err(|e| CliError::Invalid(format!("HOST: {e}")))?;
    Ok(h)
}

async fn add(
    host: &str,
    redirect_to: Option<String>,
    with_www: bool,
    target: &DomainsTarget,
    env: &Env,
) -> Result<u8, CliError> {
    let host = hostname(host)?;
    let (session, org, app) = resolve(target, env).await?;
    let body = AddDomainRequest {
        hostname: host.clone(),
        redirect_to,
        with_www,
    };
    let added: DomainsAdded = session
        .client
        .post(&["v1", "orgs", &org, "apps", &app, "domains"], &body)
        .await?;
    if env.json() {
        return output::json(&added).map(|()| exit::OK);
    }
    for d in &added.added {
        output::line(&format!(
            "added {} to {org}/{app} ({}){}",
            d.hostname,
            what(d),
            if d.routed {
                ""
            } else {
                ": not served until its ownership is proven"
            }
        ));
    }
    output::line("");
    output::line("Create these DNS records at your DNS provider:");
    let records: Vec<_> = added.setup.iter().flat_map(|s| s.records.iter()).collect();
    let mut t = output::table(&["NAME", "TYPE", "VALUE"]);
    for r in records {
        t.add_row(vec![r.name.clone(), r.kind.clone(), r.value.clone()]);
    }
    output::print_table(&t);
    output::line("");
    output::line(&format!(
        "then `1ctl domains check {host}` proves ownership and shows route, DNS, TLS and HTTP"
    ));
    Ok(exit::OK)
}

async fn list(target: &DomainsTarget, env: &Env) -> Result<u8, CliError> {
    let (session, org, app) = resolve(target, env).await?;
    let domains: Vec<Domain> = session
        .client
        .get(&["v1", "orgs", &org, "apps", &app, "domains"])
        .await?;
    if env.json() {
        return output::json(&domains).map(|()| exit::OK);
    }
    output::print_table(&table(&domains));
    for d in domains.iter().filter(|d| !d.routed) {
        if let (Some(name), Some(value)) = (&d.ownership.txt_name, &d.ownership.txt_value) {
            output::line(&format!(
                "{}: not served — create TXT {name} = \"{value}\", then `1ctl domains check {}`",
                d.hostname, d.hostname
            ));
        }
    }
    Ok(exit::OK)
}

async fn check(host: &str, target: &DomainsTarget, env: &Env) -> Result<u8, CliError> {
    let host = hostname(host)?;
    let (session, org, app) = resolve(target, env).await?;
    let c: DomainCheck = session
        .client
        .get(&["v1", "orgs", &org, "apps", &app, "domains", &host, "check"])
        .await?;
    let ready = planes(&c).iter().all(|(_, p)| p.state.is_satisfied());
    if env.json() {
        output::json(&c)?;
    } else {
        output::line(&format!("{host} ({org}/{app}):"));
        let mut t = output::table(&["PLANE", "STATE", "REASON", "MESSAGE"]);
        for (name, p) in planes(&c) {
            t.add_row(vec![
                Cell::new(name),
                state_cell(p.state),
                Cell::new(p.reason),
                Cell::new(&p.message),
            ]);
        }
        output::print_table(&t);
        for (name, p) in planes(&c) {
            if let Some(fix) = p.remediation.as_deref().filter(|_| !p.state.is_satisfied()) {
                output::line(&format!("fix ({name}): {fix}"));
            }
        }
    }
    Ok(if ready { exit::OK } else { exit::DEGRADED })
}

async fn setup(host: &str, target: &DomainsTarget, env: &Env) -> Result<u8, CliError> {
    let host = hostname(host)?;
    let (session, org, app) = resolve(target, env).await?;
    let s: DomainSetup = session
        .client
        .get(&["v1", "orgs", &org, "apps", &app, "domains", &host, "setup"])
        .await?;
    if env.json() {
        return output::json(&s).map(|()| exit::OK);
    }
    output::line(&format!(
        "{} ({}): create these records at its DNS provider",
        s.hostname,
        if s.apex {
            "an apex: it points at the edge's addresses"
        } else {
            "a subdomain: it points at the app's generated hostname"
        }
    ));
    let mut t = output::table(&["NAME", "TYPE", "VALUE"]);
    for r in &s.records {
        t.add_row(vec![r.name.clone(), r.kind.clone(), r.value.clone()]);
    }
    output::print_table(&t);
    Ok(exit::OK)
}

async fn remove(host: &str, yes: bool, target: &DomainsTarget, env: &Env) -> Result<u8, CliError> {
    let host = hostname(host)?;
    if !yes {
        return Err(CliError::Invalid(format!(
            "removing {host} stops serving it at once: pass --yes to confirm"
        )));
    }
    let (session, org, app) = resolve(target, env).await?;
    let gone: DomainRemoved = session
        .client
        .delete(&["v1", "orgs", &org, "apps", &app, "domains", &host])
        .await?;
    if env.json() {
        return output::json(&gone).map(|()| exit::OK);
    }
    output::line(&format!(
        "removed {} from {org}/{app}: no longer routed",
        gone.hostname
    ));
    Ok(exit::OK)
}

fn planes(c: &DomainCheck) -> [(&'static str, &Plane); 5] {
    [
        ("ownership", &c.ownership),
        ("route", &c.route),
        ("dns", &c.dns),
        ("tls", &c.tls),
        ("http", &c.http),
    ]
}

/// `alias`, or `redirect → URL`.
fn what(d: &Domain) -> String {
    match &d.redirect_to {
        Some(to) => format!("redirect to {to}"),
        None => d.kind.as_str().to_string(),
    }
}

fn ownership_text(d: &Domain) -> String {
    match (d.ownership.state, &d.ownership.serving_until) {
        (OwnershipState::Grace, Some(until)) => format!("unproven, served until {until}"),
        (OwnershipState::NotRequired, _) => "platform".into(),
        (state, _) => state.as_str().replace('_', " "),
    }
}

fn table(domains: &[Domain]) -> comfy_table::Table {
    let mut t = output::table(&["HOSTNAME", "KIND", "SOURCE", "OWNERSHIP", "SERVED", "TLS"]);
    for d in domains {
        let tls = d
            .tls
            .as_ref()
            .map_or_else(|| "-".to_string(), |p| format!("{} {}", p.state, p.reason));
        t.add_row(vec![
            d.hostname.clone(),
            what(d),
            d.source.as_str().to_string(),
            ownership_text(d),
            if d.routed { "yes" } else { "no" }.to_string(),
            tls,
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use satusky_types::{DomainSource, HostnameKind, Ownership};

    fn domain(host: &str, state: OwnershipState, routed: bool) -> Domain {
        Domain {
            hostname: host.into(),
            kind: HostnameKind::Alias,
            redirect_to: None,
            source: DomainSource::Cli,
            ownership: Ownership {
                state,
                txt_name: Some(format!("_satusky-challenge.{host}")),
                txt_value: Some("satusky-verify=abc".into()),
                verified_at: None,
                checked_at: None,
                serving_until: None,
                message: String::new(),
            },
            routed,
            tls: None,
            created_at: "2026-12-07T00:00:00.000Z".into(),
        }
    }

    #[test]
    fn the_table_says_whether_each_domain_is_served_and_why() {
        let text = table(&[
            domain("shop.example.test", OwnershipState::Pending, false),
            domain("api.example.test", OwnershipState::Verified, true),
        ])
        .to_string();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows,
            [
                vec!["shop.example.test", "alias", "cli", "pending", "no", "-"],
                vec!["api.example.test", "alias", "cli", "verified", "yes", "-"],
            ]
        );
    }

    #[test]
    fn a_bad_hostname_is_refused_before_any_request() {
        let err = hostname("shop..example.test").unwrap_err();
        assert!(matches!(err, CliError::Invalid(_)), "{err:?}");
        assert_eq!(hostname("Shop.Example.TEST.").unwrap(), "shop.example.test");
    }
}
