//! Which app a command is about: the name from `--app`, or satusky.toml in the current folder
//! (read locally, before any request), and the org of the session.

use crate::cli::AppTarget;
use crate::commands::{Env, Session, app_name, current_dir};
use crate::exit::CliError;

/// Resolves the app name (locally, before any request) and the org.
pub async fn resolve(target: &AppTarget, env: &Env) -> Result<(Session, String, String), CliError> {
    resolve_named(target.app.as_deref(), target.config.as_deref(), env).await
}

/// [`resolve`] from the app name given (else `[app] name` of `satusky[.CONFIG].toml`).
pub async fn resolve_named(
    app: Option<&str>,
    config: Option<&str>,
    env: &Env,
) -> Result<(Session, String, String), CliError> {
    let app = app_name(app, config, &current_dir()?)?;
    let session = env.session()?;
    let org = session.org().await?.value;
    Ok((session, org, app))
}
