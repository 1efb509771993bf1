//! `1ctl org list/current/switch`: the org commands act on. A token belongs to exactly one
//! org, so `list` shows that one; `switch` only records an org in the profile.

use serde::Serialize;

use crate::cli::OrgCommand;
use crate::commands::Env;
use crate::commands::profile::validate_org;
use crate::exit::{self, CliError};
use crate::output;

#[derive(Debug, Serialize)]
struct OrgView {
    org: String,
    source: &'static str,
    role: Option<satusky_types::Role>,
}

pub async fn run(cmd: OrgCommand, env: &Env) -> Result<u8, CliError> {
    match cmd {
        OrgCommand::List => list(env).await,
        OrgCommand::Current => current(env).await,
        OrgCommand::Switch { org } => switch(&org, env),
    }
}

async fn list(env: &Env) -> Result<u8, CliError> {
    let session = env.session()?;
    let who = session.whoami().await?;
    if env.json() {
        output::json(&[OrgView {
            org: who.org,
            source: "token",
            role: Some(who.role),
        }])?;
    } else {
        let mut t = output::table(&["ORG", "ROLE"]);
        t.add_row(vec![who.org, who.role.to_string()]);
        output::print_table(&t);
    }
    Ok(exit::OK)
}

async fn current(env: &Env) -> Result<u8, CliError> {
    let session = env.session()?;
    let org = session.org().await?;
    if env.json() {
        output::json(&OrgView {
            org: org.value,
            source: org.source.kind(),
            role: None,
        })?;
    } else {
        output::line(&format!("{} (from {})", org.value, org.source));
    }
    Ok(exit::OK)
}

fn switch(org: &str, env: &Env) -> Result<u8, CliError> {
    validate_org(org)?;
    let (path, mut file) = env.profiles()?;
    let Some(name) = env.global.profile.clone().or_else(|| file.current.clone()) else {
        return Err(CliError::NotFound(
            "no current profile to store the org in: create one with `1ctl profile create NAME --api-url URL`".into(),
        ));
    };
    let Some(profile) = file.profiles.get_mut(&name) else {
        return Err(CliError::NotFound(format!(
            "profile \"{name}\" does not exist: `1ctl profile list` shows the profiles"
        )));
    };
    profile.org = Some(org.to_string());
    file.save(&path)?;
    if env.json() {
        output::json(&serde_json::json!({"profile": name, "org": org}))?;
    } else {
        output::line(&format!(
            "profile {name} now acts on org {org} (the token must belong to it: tokens are org-scoped)"
        ));
    }
    Ok(exit::OK)
}
