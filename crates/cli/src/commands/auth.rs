//! `1ctl auth login/logout/status`: verify a token with `GET /v1/whoami`, store or remove
//! it in a profile, and say which API, token and org a command would use.
//!
//! The token is read from `--token`, else stdin when it is not a terminal, else a prompt
//! with echo off. The token itself is never printed.

use std::io::{BufRead, IsTerminal, Write};

use serde::Serialize;

use crate::cli::{AuthCommand, DEFAULT_API_URL};
use crate::client::Client;
use crate::commands::Env;
use crate::commands::profile::{validate_org, validate_profile_name};
use crate::exit::{self, CliError};
use crate::output;
use crate::profile::{Profile, Source};

/// The profile `auth login` writes when none is named and none is current.
const DEFAULT_PROFILE: &str = "default";

pub async fn run(cmd: AuthCommand, env: &Env) -> Result<u8, CliError> {
    match cmd {
        AuthCommand::Login => login(env).await,
        AuthCommand::Logout => logout(env),
        AuthCommand::Status => status(env).await,
    }
}

async fn login(env: &Env) -> Result<u8, CliError> {
    let (path, mut file) = env.profiles()?;
    let name = env
        .global
        .profile
        .clone()
        .or_else(|| file.current.clone())
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
    validate_profile_name(&name)?;
    let existing = file.profiles.get(&name).cloned().unwrap_or_default();
    let api_url = env
        .inputs
        .api_url
        .as_ref()
        .map(|s| s.value.clone())
        .or_else(|| existing.api_url.clone())
        .unwrap_or_else(|| DEFAULT_API_URL.to_string());
    let api_url = api_url.trim_end_matches('/').to_string();
    if let Some(org) = &env.inputs.org {
        validate_org(org)?;
    }
    let token = match env
        .inputs
        .token
        .as_ref()
        .filter(|t| t.source == Source::Flag)
    {
        Some(t) => t.value.clone(),
        None => read_token(&api_url)?,
    };
    let client = Client::new(&api_url, Some(token.clone()))?;
    let who: satusky_types::Whoami = client.get(&["v1", "whoami"]).await?;
    let org = env.inputs.org.clone().unwrap_or_else(|| who.org.clone());
    file.profiles.insert(
        name.clone(),
        Profile {
            api_url: Some(api_url.clone()),
            token: Some(token),
            org: Some(org.clone()),
        },
    );
    file.current = Some(name.clone());
    file.save(&path)?;
    if env.json() {
        output::json(&serde_json::json!({
            "profile": name, "api_url": api_url, "org": who.org, "role": who.role,
        }))?;
    } else {
        output::line(&format!(
            "logged in to {api_url} as org {} (role {}); saved in profile {name} ({})",
            who.org,
            who.role,
            path.display()
        ));
    }
    if org != who.org {
        output::note(&format!(
            "warning: the profile's org is {org} but the token belongs to {}; requests for {org} will be forbidden",
            who.org
        ));
    }
    Ok(exit::OK)
}

/// Reads a token from stdin (piped) or a prompt (terminal, echo off).
fn read_token(api_url: &str) -> Result<String, CliError> {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    if interactive {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "Token for {api_url}: ");
        let _ = err.flush();
        set_echo(false);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if interactive {
        set_echo(true);
        output::note("");
    }
    read.map_err(|e| CliError::Invalid(format!("cannot read the token from stdin: {e}")))?;
    let token = line.trim().to_string();
    if token.is_empty() {
        return Err(CliError::Invalid(
            "no token given: pass --token, pipe it on stdin, or type it at the prompt (`satusky token create --org ORG` makes one)".into(),
        ));
    }
    Ok(token)
}

/// Turns terminal echo off or on with `stty` (best effort; no unsafe code).
fn set_echo(on: bool) {
    let _ = std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

fn logout(env: &Env) -> Result<u8, CliError> {
    let (path, mut file) = env.profiles()?;
    let name = env.global.profile.clone().or_else(|| file.current.clone());
    let Some(name) = name else {
        return Err(CliError::NotFound(
            "no current profile to log out of: `1ctl profile list` shows the profiles".into(),
        ));
    };
    let Some(profile) = file.profiles.get_mut(&name) else {
        return Err(CliError::NotFound(format!(
            "profile \"{name}\" does not exist: `1ctl profile list` shows the profiles"
        )));
    };
    let had = profile.token.take().is_some();
    file.save(&path)?;
    if env.json() {
        output::json(&serde_json::json!({"profile": name, "removed_token": had}))?;
    } else if had {
        output::line(&format!("removed the token of profile {name}"));
    } else {
        output::line(&format!("profile {name} had no token"));
    }
    if env
        .inputs
        .token
        .as_ref()
        .is_some_and(|t| matches!(t.source, Source::Env(_)))
    {
        output::note("note: SATUSKY_TOKEN is set in the environment and still applies");
    }
    Ok(exit::OK)
}

#[derive(Debug, Serialize)]
struct StatusView {
    api_url: String,
    api_url_source: &'static str,
    profile: Option<String>,
    token_source: Option<&'static str>,
    org: String,
    org_source: &'static str,
    role: satusky_types::Role,
}

async fn status(env: &Env) -> Result<u8, CliError> {
    let session = env.session()?;
    let who = session.whoami().await?;
    let ctx = &session.ctx;
    let (org, org_source) = match &ctx.org {
        Some(o) => (o.value.clone(), o.source.clone()),
        None => (who.org.clone(), Source::Token),
    };
    if env.json() {
        output::json(&StatusView {
            api_url: ctx.api_url.value.clone(),
            api_url_source: ctx.api_url.source.kind(),
            profile: ctx.profile.clone(),
            token_source: ctx.token.as_ref().map(|t| t.source.kind()),
            org,
            org_source: org_source.kind(),
            role: who.role,
        })?;
        return Ok(exit::OK);
    }
    let token_source = ctx
        .token
        .as_ref()
        .map_or_else(|| "none".to_string(), |t| t.source.to_string());
    output::line(&format!(
        "logged in to {} (from {})",
        ctx.api_url.value, ctx.api_url.source
    ));
    output::line(&format!(
        "token:   from {token_source}; belongs to org {} (role {})",
        who.org, who.role
    ));
    output::line(&format!("org:     {org} (from {org_source})"));
    if let Some(p) = &ctx.profile {
        output::line(&format!("profile: {p}"));
    }
    if org != who.org {
        output::note(&format!(
            "warning: commands act on org {org} but the token belongs to {}: they will be forbidden",
            who.org
        ));
    }
    Ok(exit::OK)
}
