//! `1ctl token create/list/revoke`: the org's API tokens (an admin token is needed; a member
//! gets exit 3). `create` prints the new secret alone on stdout in table mode, so
//! `TOKEN=$(1ctl token create --name ci)` works; `-o json` prints the wire type with it.
//! Names and lifetimes are checked here first with the server's own rules
//! ([`satusky_core::tokens`]), so bad input is exit 2 before any request.

use std::time::SystemTime;

use satusky_core::tokens::{parse_token_lifetime, validate_token_name};
use satusky_types::{ApiToken, CreateTokenRequest, Role, TokenCreated};

use crate::cli::{RoleArg, TokenCommand};
use crate::commands::Env;
use crate::exit::{self, CliError};
use crate::output;

pub async fn run(cmd: TokenCommand, env: &Env) -> Result<u8, CliError> {
    match cmd {
        TokenCommand::Create {
            role,
            expires,
            name,
        } => create(role, expires, name, env).await,
        TokenCommand::List => list(env).await,
        TokenCommand::Revoke { id } => revoke(&id, env).await,
    }
}

async fn create(
    role: RoleArg,
    expires: Option<String>,
    name: Option<String>,
    env: &Env,
) -> Result<u8, CliError> {
    if let Some(name) = &name {
        validate_token_name(name).map_err(|e| CliError::Invalid(format!("--name: {e}")))?;
    }
    if let Some(text) = &expires {
        parse_token_lifetime(text).map_err(|e| CliError::Invalid(format!("--expires: {e}")))?;
    }
    let session = env.session()?;
    let org = session.org().await?.value;
    let role = match role {
        RoleArg::Admin => Role::Admin,
        RoleArg::Member => Role::Member,
    };
    let body = CreateTokenRequest {
        role: Some(role),
        expires_in: expires,
        name,
    };
    let created: TokenCreated = session
        .client
        .post(&["v1", "orgs", &org, "tokens"], &body)
        .await?;
    if env.json() {
        return output::json(&created).map(|()| exit::OK);
    }
    output::line(&created.token);
    let expiry = created.info.expires_at.as_deref().map_or_else(
        || "does not expire".to_string(),
        |at| format!("expires at {at}"),
    );
    output::note(&format!(
        "created {role} token {} in org {org} ({expiry}); it is shown only now: store it where it is needed (e.g. SATUSKY_TOKEN in CI)",
        created.info.id
    ));
    Ok(exit::OK)
}

async fn list(env: &Env) -> Result<u8, CliError> {
    let session = env.session()?;
    let org = session.org().await?.value;
    let tokens: Vec<ApiToken> = session.client.get(&["v1", "orgs", &org, "tokens"]).await?;
    if env.json() {
        return output::json(&tokens).map(|()| exit::OK);
    }
    output::print_table(&table(&tokens, SystemTime::now()));
    Ok(exit::OK)
}

async fn revoke(id: &str, env: &Env) -> Result<u8, CliError> {
    let session = env.session()?;
    let org = session.org().await?.value;
    let gone: ApiToken = session
        .client
        .delete(&["v1", "orgs", &org, "tokens", id])
        .await?;
    if env.json() {
        return output::json(&gone).map(|()| exit::OK);
    }
    let name = gone
        .name
        .as_deref()
        .map_or_else(String::new, |n| format!(" ({n})"));
    output::line(&format!(
        "revoked token {}{name} of org {org} at {}",
        gone.id,
        gone.revoked_at.as_deref().unwrap_or("-")
    ));
    Ok(exit::OK)
}

/// The list as a table, with each token's state at `now`.
fn table(tokens: &[ApiToken], now: SystemTime) -> comfy_table::Table {
    let mut t = output::table(&[
        "ID",
        "NAME",
        "ROLE",
        "STATE",
        "CREATED",
        "EXPIRES",
        "LAST USED",
    ]);
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    for tok in tokens {
        t.add_row(vec![
            tok.id.clone(),
            or_dash(&tok.name),
            tok.role.to_string(),
            state(tok, now).to_string(),
            tok.created_at.clone(),
            or_dash(&tok.expires_at),
            or_dash(&tok.last_used_at),
        ]);
    }
    t
}

/// `revoked`, `expired` (its expiry is not after `now`) or `active`.
fn state(tok: &ApiToken, now: SystemTime) -> &'static str {
    if tok.revoked_at.is_some() {
        return "revoked";
    }
    let expired = tok
        .expires_at
        .as_deref()
        .and_then(|at| humantime::parse_rfc3339(at).ok())
        .is_some_and(|at| at <= now);
    if expired { "expired" } else { "active" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(expires_at: Option<&str>, revoked_at: Option<&str>) -> ApiToken {
        ApiToken {
            id: "tok_0123456789abcdef".into(),
            name: Some("ci".into()),
            role: Role::Member,
            created_at: "2026-01-01T00:00:00.000Z".into(),
            expires_at: expires_at.map(str::to_string),
            revoked_at: revoked_at.map(str::to_string),
            last_used_at: None,
            created_by: None,
        }
    }

    #[test]
    fn states_follow_revocation_then_expiry() {
        let now = humantime::parse_rfc3339("2026-06-01T00:00:00Z").expect("time");
        assert_eq!(state(&token(None, None), now), "active");
        assert_eq!(
            state(&token(Some("2026-07-01T00:00:00.000Z"), None), now),
            "active"
        );
        assert_eq!(
            state(&token(Some("2026-05-01T00:00:00.000Z"), None), now),
            "expired"
        );
        assert_eq!(
            state(
                &token(
                    Some("2026-07-01T00:00:00.000Z"),
                    Some("2026-02-01T00:00:00.000Z")
                ),
                now
            ),
            "revoked"
        );
    }

    #[test]
    fn the_table_shows_one_row_per_token_with_dashes_for_nothing() {
        let now = humantime::parse_rfc3339("2026-06-01T00:00:00Z").expect("time");
        let text = table(&[token(None, None)], now).to_string();
        let lines: Vec<_> = text.lines().map(str::trim).collect();
        assert_eq!(lines.len(), 2, "{text}");
        let cells: Vec<_> = lines[1].split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "tok_0123456789abcdef",
                "ci",
                "member",
                "active",
                "2026-01-01T00:00:00.000Z",
                "-",
                "-"
            ]
        );
    }
}
