//! Command dispatch and what commands share: the resolved context, an authenticated
//! client, the org, and the default app name from the folder's config.
//!
//! Each submodule owns one command group; none of them prints errors (they return
//! [`CliError`]s that `main` prints).

pub mod app;
pub mod auth;
mod config;
pub mod deploy;
mod domains;
pub mod drift;
mod events;
pub mod init;
pub mod lifecycle;
mod logs;
mod marketplace;
mod operate;
pub mod org;
pub mod profile;
pub mod rollback;
mod target;
pub mod token;

use std::path::{Path, PathBuf};

use satusky_types::Whoami;

use crate::cli::{Cli, Command, GlobalArgs, Output};
use crate::client::Client;
use crate::exit::{CliError, io_error};
use crate::profile::{Context, Inputs, ProfileFile, Sourced, config_path, resolve};

/// Everything a command needs to know about the invocation.
#[derive(Debug, Clone)]
pub struct Env {
    pub global: GlobalArgs,
    /// The global values with flag/env told apart.
    pub inputs: Inputs,
    pub output: Output,
}

impl Env {
    pub fn new(global: GlobalArgs, inputs: Inputs) -> Self {
        let output = global.output;
        Env {
            global,
            inputs,
            output,
        }
    }

    pub fn json(&self) -> bool {
        self.output == Output::Json
    }

    /// The profile file and its path.
    pub fn profiles(&self) -> Result<(PathBuf, ProfileFile), CliError> {
        let path = config_path()?;
        let file = ProfileFile::load(&path)?;
        Ok((path, file))
    }

    /// Flags > env > profile > default.
    pub fn context(&self) -> Result<Context, CliError> {
        let (_, file) = self.profiles()?;
        let selected = file.selected(self.global.profile.as_deref())?;
        Ok(resolve(
            &self.inputs,
            selected.as_ref().map(|(n, p)| (n.as_str(), p)),
        ))
    }

    /// A client with a token, and the context it came from. No token is exit 3.
    pub fn session(&self) -> Result<Session, CliError> {
        let ctx = self.context()?;
        let Some(token) = ctx.token.as_ref().map(|t| t.value.clone()) else {
            return Err(CliError::Unauthenticated(format!(
                "no token for the control plane at {}: run `1ctl auth login` or set SATUSKY_TOKEN",
                ctx.api_url.value
            )));
        };
        let client = Client::new(&ctx.api_url.value, Some(token))?;
        Ok(Session { ctx, client })
    }
}

/// An authenticated client plus the context it was resolved from.
#[derive(Debug, Clone)]
pub struct Session {
    pub ctx: Context,
    pub client: Client,
}

impl Session {
    /// `GET /v1/whoami`.
    pub async fn whoami(&self) -> Result<Whoami, CliError> {
        self.client.get(&["v1", "whoami"]).await
    }

    /// The org to act on: `--org`, else the profile's, else the token's.
    pub async fn org(&self) -> Result<Sourced<String>, CliError> {
        if let Some(org) = &self.ctx.org {
            return Ok(org.clone());
        }
        let who = self.whoami().await?;
        Ok(Sourced {
            value: who.org,
            source: crate::profile::Source::Token,
        })
    }
}

/// Runs the parsed command; `Ok` holds the exit code (non-zero only from `deploy`).
pub async fn run(cli: Cli, env: Env) -> Result<u8, CliError> {
    match cli.command {
        Command::Auth(cmd) => auth::run(cmd, &env).await,
        Command::Profile(cmd) => profile::run(cmd, &env),
        Command::Org(cmd) => org::run(cmd, &env).await,
        Command::Init(args) => init::run(&args, &env),
        Command::Deploy(args) => deploy::run(&args, &env).await,
        Command::App(cmd) => app::run(cmd, &env).await,
        Command::Token(cmd) => token::run(cmd, &env).await,
        Command::Domains(cmd) => domains::run(cmd, &env).await,
        Command::Logs(args) => logs::run(&args, &env).await,
        Command::Env(cmd) => config::env(cmd, &env).await,
        Command::Secret(cmd) => config::secret(cmd, &env).await,
        Command::Marketplace(cmd) => marketplace::run(cmd, &env).await,
        Command::Bind(args) => marketplace::bind(&args, &env).await,
    }
}

/// The current folder, or an error naming why it is unknown.
pub fn current_dir() -> Result<PathBuf, CliError> {
    std::env::current_dir()
        .map_err(|e| CliError::Unexpected(format!("cannot read the current folder: {e}")))
}

/// The app a command is about: the argument, else `[app] name` of the folder's config.
pub fn app_name(arg: Option<&str>, config: Option<&str>, dir: &Path) -> Result<String, CliError> {
    if let Some(app) = arg {
        return Ok(app.to_string());
    }
    if let Some(c) = config {
        satusky_core::config::validate_config_name(c)
            .map_err(|e| CliError::Invalid(e.to_string()))?;
    }
    let file = satusky_core::config::config_file_name(config);
    let path = dir.join(&file);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::Invalid(format!(
                "no app given and no {file} in {}: pass the app name, or run in the app's folder",
                dir.display()
            )));
        }
        Err(e) => return Err(io_error("read", &path, &e)),
    };
    name_from_config(&text).ok_or_else(|| {
        CliError::Invalid(format!(
            "no app given and {} has no [app] name: pass the app name",
            path.display()
        ))
    })
}

/// `[app] name` of a config file, read leniently (the rest is not validated here).
fn name_from_config(text: &str) -> Option<String> {
    let table: toml::Table = toml::from_str(text).ok()?;
    table
        .get("app")?
        .get("name")?
        .as_str()
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_app_name_comes_from_the_config() {
        assert_eq!(
            name_from_config("[app]\nname = \"api\"\nmemory = \"12 apples\"\n").as_deref(),
            Some("api")
        );
        assert_eq!(name_from_config("[app]\nport = 1\n"), None);
        assert_eq!(name_from_config("not toml ["), None);
    }

    #[test]
    fn app_argument_wins_and_missing_config_is_invalid_input() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            app_name(Some("x"), None, dir.path()).ok().as_deref(),
            Some("x")
        );
        let err = app_name(None, None, dir.path()).err();
        assert_eq!(err.map(|e| e.code()), Some(2));
        std::fs::write(
            dir.path().join("satusky.prod.toml"),
            "[app]\nname = \"p\"\n",
        )
        .expect("write");
        assert_eq!(
            app_name(None, Some("prod"), dir.path()).ok().as_deref(),
            Some("p")
        );
    }
}
