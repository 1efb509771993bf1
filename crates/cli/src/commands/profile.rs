//! `1ctl profile create/use/list/current/delete`: local only, never talks to the server.
//!
//! `create` takes the global `--api-url` (flag or SATUSKY_API_URL), `--token` (flag only:
//! an ambient SATUSKY_TOKEN is never stored silently) and `--org`.

use serde::Serialize;

use crate::cli::ProfileCommand;
use crate::client::parse_api_url;
use crate::commands::Env;
use crate::exit::{self, CliError};
use crate::output;
use crate::profile::{Profile, Source};

/// A profile as `profile list/current -o json` prints it (never the token itself).
#[derive(Debug, Serialize)]
struct ProfileView<'a> {
    name: &'a str,
    current: bool,
    api_url: Option<&'a str>,
    org: Option<&'a str>,
    has_token: bool,
}

fn view<'a>(name: &'a str, p: &'a Profile, current: bool) -> ProfileView<'a> {
    ProfileView {
        name,
        current,
        api_url: p.api_url.as_deref(),
        org: p.org.as_deref(),
        has_token: p.token.as_ref().is_some_and(|t| !t.is_empty()),
    }
}

pub fn run(cmd: ProfileCommand, env: &Env) -> Result<u8, CliError> {
    match cmd {
        ProfileCommand::Create { name } => create(&name, env),
        ProfileCommand::Use { name } => use_profile(&name, env),
        ProfileCommand::List => list(env),
        ProfileCommand::Current => current(env),
        ProfileCommand::Delete { name } => delete(&name, env),
    }
}

/// Profile names end up in TOML keys and messages: keep them simple.
pub fn validate_profile_name(name: &str) -> Result<(), CliError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(CliError::Invalid(format!(
            "invalid profile name \"{name}\": use 1–63 letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Checks an org name with the server's rule (`[a-z][a-z0-9]{0,19}`).
pub fn validate_org(org: &str) -> Result<(), CliError> {
    satusky_core::names::validate_org_name(org).map_err(|e| CliError::Invalid(e.to_string()))
}

fn create(name: &str, env: &Env) -> Result<u8, CliError> {
    validate_profile_name(name)?;
    let Some(api_url) = env.inputs.api_url.as_ref().map(|s| s.value.clone()) else {
        return Err(CliError::Invalid(format!(
            "profile create needs --api-url: e.g. `1ctl profile create {name} --api-url http://127.0.0.1:7070`"
        )));
    };
    parse_api_url(&api_url)?;
    let token = env
        .inputs
        .token
        .as_ref()
        .filter(|t| t.source == Source::Flag)
        .map(|t| t.value.clone());
    if let Some(org) = &env.inputs.org {
        validate_org(org)?;
    }
    let (path, mut file) = env.profiles()?;
    if file.profiles.contains_key(name) {
        return Err(CliError::Invalid(format!(
            "profile \"{name}\" already exists: delete it with `1ctl profile delete {name}` or log in to it with `1ctl auth login --profile {name}`"
        )));
    }
    let profile = Profile {
        api_url: Some(api_url.trim_end_matches('/').to_string()),
        token,
        org: env.inputs.org.clone(),
    };
    let make_current = file.current.is_none();
    file.profiles.insert(name.to_string(), profile.clone());
    if make_current {
        file.current = Some(name.to_string());
    }
    file.save(&path)?;
    if env.json() {
        output::json(&view(name, &profile, make_current))?;
    } else {
        let tail = if make_current {
            " (now the current profile)".to_string()
        } else {
            format!("; switch to it with `1ctl profile use {name}`")
        };
        output::line(&format!(
            "created profile {name} for {}{tail}",
            profile.api_url.as_deref().unwrap_or_default()
        ));
    }
    Ok(exit::OK)
}

fn use_profile(name: &str, env: &Env) -> Result<u8, CliError> {
    let (path, mut file) = env.profiles()?;
    if !file.profiles.contains_key(name) {
        return Err(not_found(name));
    }
    file.current = Some(name.to_string());
    file.save(&path)?;
    if env.json() {
        if let Some(p) = file.profiles.get(name) {
            output::json(&view(name, p, true))?;
        }
    } else {
        output::line(&format!("now using profile {name}"));
    }
    Ok(exit::OK)
}

fn list(env: &Env) -> Result<u8, CliError> {
    let (_, file) = env.profiles()?;
    let current = file.current.as_deref();
    let views: Vec<_> = file
        .profiles
        .iter()
        .map(|(n, p)| view(n, p, Some(n.as_str()) == current))
        .collect();
    if env.json() {
        return output::json(&views).map(|()| exit::OK);
    }
    if views.is_empty() {
        output::note(
            "no profiles: create one with `1ctl profile create NAME --api-url URL` or `1ctl auth login`",
        );
        return Ok(exit::OK);
    }
    let mut t = output::table(&["CURRENT", "NAME", "API URL", "ORG", "TOKEN"]);
    for v in &views {
        t.add_row(vec![
            if v.current { "*" } else { "" },
            v.name,
            v.api_url.unwrap_or("-"),
            v.org.unwrap_or("-"),
            if v.has_token { "set" } else { "-" },
        ]);
    }
    output::print_table(&t);
    Ok(exit::OK)
}

fn current(env: &Env) -> Result<u8, CliError> {
    let (_, file) = env.profiles()?;
    let selected = match env.global.profile.as_deref() {
        Some(name) => Some(name),
        None => file.current.as_deref(),
    };
    let Some((name, p)) = selected.and_then(|n| file.profiles.get_key_value(n)) else {
        return Err(CliError::NotFound(
            "no current profile: create one with `1ctl profile create NAME --api-url URL` or run `1ctl auth login`".into(),
        ));
    };
    if env.json() {
        output::json(&view(name, p, true))?;
    } else {
        output::line(name);
    }
    Ok(exit::OK)
}

fn delete(name: &str, env: &Env) -> Result<u8, CliError> {
    let (path, mut file) = env.profiles()?;
    if file.profiles.remove(name).is_none() {
        return Err(not_found(name));
    }
    let was_current = file.current.as_deref() == Some(name);
    if was_current {
        file.current = None;
    }
    file.save(&path)?;
    if env.json() {
        output::json(&serde_json::json!({"deleted": name, "was_current": was_current}))?;
    } else if was_current {
        output::line(&format!(
            "deleted profile {name}; there is no current profile now: pick one with `1ctl profile use NAME`"
        ));
    } else {
        output::line(&format!("deleted profile {name}"));
    }
    Ok(exit::OK)
}

fn not_found(name: &str) -> CliError {
    CliError::NotFound(format!(
        "profile \"{name}\" does not exist: `1ctl profile list` shows the profiles"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names() {
        assert!(validate_profile_name("dev").is_ok());
        assert!(validate_profile_name("prod-eu_1.x").is_ok());
        assert!(validate_profile_name("").is_err());
        assert!(validate_profile_name("a b").is_err());
        assert!(validate_profile_name("a]").is_err());
    }
}
