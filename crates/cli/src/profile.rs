//! Profiles and the resolution of where a command talks to, with which token, for which org.
//!
//! The file is `$SATUSKY_HOME/config.toml` (default `~/.satusky/config.toml`):
//! `current = "NAME"` and `[profiles.NAME] api_url, token, org`. It is written atomically
//! with mode 0600 and only by commands that change it; `SATUSKY_API_URL` + `SATUSKY_TOKEN`
//! alone need no file. Precedence: flags > env > profile > default (a pure function,
//! [`resolve`], unit-tested below). This module does no HTTP.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::DEFAULT_API_URL;
use crate::exit::{CliError, io_error};

/// One profile: a control plane, a token for it and an org.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
}

/// The whole `config.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// Where the file lives: `$SATUSKY_HOME/config.toml`, else `$HOME/.satusky/config.toml`.
pub fn config_path() -> Result<PathBuf, CliError> {
    if let Some(home) = std::env::var_os("SATUSKY_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home).join("config.toml"));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".satusky").join("config.toml")),
        None => Err(CliError::Invalid(
            "cannot find the profile folder: set SATUSKY_HOME or HOME".into(),
        )),
    }
}

impl ProfileFile {
    /// Reads the file; a missing file is an empty one.
    pub fn load(path: &Path) -> Result<Self, CliError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(io_error("read", path, &e)),
        };
        toml::from_str(&text).map_err(|e| {
            let msg = e.message().to_string();
            CliError::Invalid(format!(
                "{} is not a valid profile file ({msg}): fix or delete it",
                path.display()
            ))
        })
    }

    /// Writes the file atomically (temp file + rename), mode 0600, folder 0700.
    pub fn save(&self, path: &Path) -> Result<(), CliError> {
        let text = toml::to_string_pretty(self)
            .map_err(|e| CliError::Unexpected(format!("cannot encode profiles: {e}")))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir)?;
        let tmp = dir.join(".config.toml.tmp");
        write_private(&tmp, text.as_bytes())?;
        fs::rename(&tmp, path).map_err(|e| io_error("write", path, &e))
    }

    /// The profile to use: `--profile` (which must exist) else `current` (if it exists).
    pub fn selected(&self, flag: Option<&str>) -> Result<Option<(String, Profile)>, CliError> {
        match flag {
            Some(name) => match self.profiles.get(name) {
                Some(p) => Ok(Some((name.to_string(), p.clone()))),
                None => Err(CliError::Invalid(format!(
                    "profile \"{name}\" does not exist: create it with `1ctl profile create {name} --api-url URL` (see `1ctl profile list`)"
                ))),
            },
            None => Ok(self
                .current
                .as_ref()
                .and_then(|c| self.profiles.get(c).map(|p| (c.clone(), p.clone())))),
        }
    }
}

fn create_private_dir(dir: &Path) -> Result<(), CliError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| io_error("create", dir, &e))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| io_error("write", path, &e))?;
    #[cfg(unix)]
    {
        // `mode` only applies when the file is created; tighten a pre-existing one too.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|e| io_error("protect", path, &e))?;
    }
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error("write", path, &e))
}

/// Where a setting came from (printed by `auth status` and `org current`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env(&'static str),
    Profile(String),
    Default,
    /// The org of the token, asked from `GET /v1/whoami`.
    Token,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag => f.write_str("flag"),
            Source::Env(var) => write!(f, "env {var}"),
            Source::Profile(name) => write!(f, "profile \"{name}\""),
            Source::Default => f.write_str("default"),
            Source::Token => f.write_str("token"),
        }
    }
}

impl Source {
    /// The short machine form for JSON output: `flag`, `env`, `profile`, `default`, `token`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Flag => "flag",
            Source::Env(_) => "env",
            Source::Profile(_) => "profile",
            Source::Default => "default",
            Source::Token => "token",
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

/// What the command line said, with flags told apart from env (clap fills both in the
/// same field; `main` records which).
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub api_url: Option<Sourced<String>>,
    pub token: Option<Sourced<String>>,
    pub org: Option<String>,
}

/// The resolved context of one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub api_url: Sourced<String>,
    pub token: Option<Sourced<String>>,
    /// `None` when neither `--org` nor the profile names one: ask the token's org.
    pub org: Option<Sourced<String>>,
    /// The profile in use, if any.
    pub profile: Option<String>,
}

/// Flags > env > profile > default, for the API URL, the token and the org.
pub fn resolve(inputs: &Inputs, profile: Option<(&str, &Profile)>) -> Context {
    let from_profile = |pick: fn(&Profile) -> Option<&String>| {
        profile.and_then(|(name, p)| {
            pick(p).filter(|v| !v.is_empty()).map(|v| Sourced {
                value: v.clone(),
                source: Source::Profile(name.to_string()),
            })
        })
    };
    let api_url = inputs
        .api_url
        .clone()
        .filter(|s| !s.value.is_empty())
        .or_else(|| from_profile(|p| p.api_url.as_ref()))
        .unwrap_or(Sourced {
            value: DEFAULT_API_URL.to_string(),
            source: Source::Default,
        });
    let token = inputs
        .token
        .clone()
        .filter(|s| !s.value.is_empty())
        .or_else(|| from_profile(|p| p.token.as_ref()));
    let org = inputs
        .org
        .clone()
        .filter(|o| !o.is_empty())
        .map(|value| Sourced {
            value,
            source: Source::Flag,
        })
        .or_else(|| from_profile(|p| p.org.as_ref()));
    Context {
        api_url: Sourced {
            value: api_url.value.trim_end_matches('/').to_string(),
            source: api_url.source,
        },
        token,
        org,
        profile: profile.map(|(n, _)| n.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(value: &str, source: Source) -> Sourced<String> {
        Sourced {
            value: value.to_string(),
            source,
        }
    }

    fn prof() -> Profile {
        Profile {
            api_url: Some("https://prof.example".into()),
            token: Some("prof-token".into()),
            org: Some("proforg".into()),
        }
    }

    #[test]
    fn defaults_without_anything() {
        let ctx = resolve(&Inputs::default(), None);
        assert_eq!(ctx.api_url, s(DEFAULT_API_URL, Source::Default));
        assert_eq!(ctx.token, None);
        assert_eq!(ctx.org, None);
        assert_eq!(ctx.profile, None);
    }

    #[test]
    fn profile_beats_default() {
        let p = prof();
        let ctx = resolve(&Inputs::default(), Some(("dev", &p)));
        let src = Source::Profile("dev".into());
        assert_eq!(ctx.api_url, s("https://prof.example", src.clone()));
        assert_eq!(ctx.token, Some(s("prof-token", src.clone())));
        assert_eq!(ctx.org, Some(s("proforg", src)));
        assert_eq!(ctx.profile.as_deref(), Some("dev"));
    }

    #[test]
    fn env_beats_profile_and_flag_beats_env() {
        let p = prof();
        let env_inputs = Inputs {
            api_url: Some(s("http://env:1/", Source::Env("SATUSKY_API_URL"))),
            token: Some(s("env-token", Source::Env("SATUSKY_TOKEN"))),
            org: None,
        };
        let ctx = resolve(&env_inputs, Some(("dev", &p)));
        assert_eq!(
            ctx.api_url,
            s("http://env:1", Source::Env("SATUSKY_API_URL"))
        );
        assert_eq!(
            ctx.token,
            Some(s("env-token", Source::Env("SATUSKY_TOKEN")))
        );
        assert_eq!(
            ctx.org.map(|o| o.source),
            Some(Source::Profile("dev".into()))
        );

        let flag_inputs = Inputs {
            api_url: Some(s("http://flag:2", Source::Flag)),
            token: Some(s("flag-token", Source::Flag)),
            org: Some("flagorg".into()),
        };
        let ctx = resolve(&flag_inputs, Some(("dev", &p)));
        assert_eq!(ctx.api_url, s("http://flag:2", Source::Flag));
        assert_eq!(ctx.token, Some(s("flag-token", Source::Flag)));
        assert_eq!(ctx.org, Some(s("flagorg", Source::Flag)));
    }

    #[test]
    fn env_alone_suffices_and_empty_values_do_not_count() {
        let inputs = Inputs {
            api_url: Some(s("http://ci:7070", Source::Env("SATUSKY_API_URL"))),
            token: Some(s("ci-token", Source::Env("SATUSKY_TOKEN"))),
            org: Some(String::new()),
        };
        let ctx = resolve(&inputs, None);
        assert_eq!(ctx.api_url.value, "http://ci:7070");
        assert_eq!(ctx.token.map(|t| t.value).as_deref(), Some("ci-token"));
        assert_eq!(ctx.org, None, "no org: the token's org is asked");

        let empty = Inputs {
            token: Some(s("", Source::Env("SATUSKY_TOKEN"))),
            ..Inputs::default()
        };
        let p = prof();
        let ctx = resolve(&empty, Some(("dev", &p)));
        assert_eq!(ctx.token.map(|t| t.value).as_deref(), Some("prof-token"));
    }

    #[test]
    fn selected_profile_honours_the_flag_and_current() {
        let mut file = ProfileFile::default();
        file.profiles.insert("a".into(), prof());
        file.profiles.insert("b".into(), Profile::default());
        assert!(matches!(file.selected(None), Ok(None)));
        file.current = Some("a".into());
        assert_eq!(
            file.selected(None).ok().flatten().map(|p| p.0).as_deref(),
            Some("a")
        );
        assert_eq!(
            file.selected(Some("b"))
                .ok()
                .flatten()
                .map(|p| p.0)
                .as_deref(),
            Some("b")
        );
        assert!(matches!(
            file.selected(Some("zzz")),
            Err(CliError::Invalid(_))
        ));
    }

    #[test]
    fn file_round_trips_with_private_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested").join("config.toml");
        let mut file = ProfileFile {
            current: Some("dev".into()),
            ..ProfileFile::default()
        };
        file.profiles.insert("dev".into(), prof());
        file.save(&path).expect("save");
        assert_eq!(ProfileFile::load(&path).expect("load"), file);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            ProfileFile::load(&dir.path().join("missing.toml")).expect("load"),
            ProfileFile::default()
        );
    }
}
