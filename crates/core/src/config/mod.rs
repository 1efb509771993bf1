//! `satusky.toml` (SPEC §2) → [`ValidatedApp`]: find and read the file, apply flag overrides,
//! check every rule with [`validate_spec`], and report each problem with file, line, column
//! and field.
//!
//! Owns the file format and its diagnostics; the rules themselves live in `validate` so the
//! server shares them. The only I/O is reading the file in [`load`].
//!
//! `[env]` and `[build.env]` values may be strings, integers or booleans (the latter two are
//! stringified as TOML writes them); floats, dates, arrays and tables are errors, because their
//! text form is ambiguous. `[secrets]` holds only names (`required = ["DATABASE_URL"]`), never
//! values. Quantities (`cpu`, `memory`, …) may also be bare numbers (`cpu = 2`).

mod convert;
pub mod detect;
mod fields;
mod flags;
mod read;
mod template;
mod vars;

use std::fmt;
use std::path::{Path, PathBuf};

use toml::de::DeTable;

pub use read::suggest;
pub use template::{init_template, init_template_for};

use crate::validate::{ValidatedApp, validate_spec};
use read::{Found, Reader, Span};

/// Values given on the command line; each one replaces the file's value. Flag names in
/// diagnostics are the kebab-case of the field (`--memory-limit`, `--checks-timeout`, `--env`).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub name: Option<String>,
    pub port: Option<u16>,
    pub replicas: Option<u32>,
    pub cpu: Option<String>,
    pub cpu_limit: Option<String>,
    pub memory: Option<String>,
    pub memory_limit: Option<String>,
    pub image: Option<String>,
    pub zone: Option<String>,
    pub command: Option<Vec<String>>,
    pub build_command: Option<String>,
    pub checks_path: Option<String>,
    pub checks_expect: Option<String>,
    /// A duration such as `2s`.
    pub checks_timeout: Option<String>,
    /// `rolling` or `recreate`.
    pub strategy: Option<String>,
    /// A duration such as `10m`.
    pub progress_deadline: Option<String>,
    /// `http`, `tcp` or `none`.
    pub expose: Option<String>,
    /// `KEY=VALUE` pairs, added to (or replacing entries of) `[env]`.
    pub env: Vec<(String, String)>,
}

/// A config file that was found, read and validated.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub path: PathBuf,
    pub app: ValidatedApp,
    /// The file (or `--replicas`) sets the replica count: a deploy of it replaces a count set
    /// with `1ctl app scale`; otherwise the scaled count is kept.
    pub sets_replicas: bool,
}

/// One problem, located. `file` is `None` (and `line` 0) for flags and I/O problems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: Option<PathBuf>,
    /// 1-based; 0 when there is no position.
    pub line: usize,
    /// 1-based, in characters; 0 when there is no position.
    pub column: usize,
    /// The dotted field path (`app.memory`), the flag (`--memory`), or empty for syntax errors.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}:", file.display())?;
            if self.line > 0 {
                write!(f, "{}:{}:", self.line, self.column)?;
            }
            f.write_str(" ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Everything wrong with a config: flags first, then the file's problems in text order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// A problem without a position (a flag, or the file as a whole).
    fn unlocated(field: &str, message: String) -> Self {
        ConfigError {
            diagnostics: vec![Diagnostic {
                file: None,
                line: 0,
                column: 0,
                field: field.to_owned(),
                message,
            }],
        }
    }
}

/// `satusky.toml`, or `satusky.NAME.toml` for `--config NAME`. Does not check NAME; see
/// [`validate_config_name`] (which [`load`] applies).
pub fn config_file_name(name: Option<&str>) -> String {
    match name {
        Some(name) => format!("satusky.{name}.toml"),
        None => "satusky.toml".to_owned(),
    }
}

/// A `--config` name that is not `[a-z0-9-]+`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{quoted} is not a config name: use lowercase letters, digits and '-', e.g. staging \
     (reads satusky.staging.toml)"
)]
pub struct ConfigNameError {
    /// The name, quoted.
    quoted: String,
}

/// A `--config` name: `[a-z0-9-]+`, e.g. `staging`.
pub fn validate_config_name(name: &str) -> Result<(), ConfigNameError> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ConfigNameError {
            quoted: crate::validate::limits::quoted(name),
        })
    }
}

/// Reads `DIR/satusky.toml` (or `DIR/satusky.NAME.toml`), applies the flags and validates.
pub fn load(
    dir: &Path,
    config: Option<&str>,
    overrides: &Overrides,
) -> Result<LoadedConfig, ConfigError> {
    if let Some(name) = config {
        validate_config_name(name)
            .map_err(|e| ConfigError::unlocated("--config", e.to_string()))?;
    }
    let file_name = config_file_name(config);
    let path = dir.join(&file_name);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let init = match config {
                Some(name) => format!("1ctl init --config {name}"),
                None => "1ctl init".to_owned(),
            };
            let message = format!(
                "no {file_name} in {} — run `{init}` to create one",
                dir.display()
            );
            return Err(ConfigError::unlocated("", message));
        }
        Err(e) => {
            return Err(ConfigError::unlocated(
                "",
                format!("could not read {}: {e}", path.display()),
            ));
        }
    };
    let app = parse_str(&text, &path, overrides)?;
    let sets_replicas = overrides.replicas.is_some() || sets_replicas(&text);
    Ok(LoadedConfig {
        path,
        app,
        sets_replicas,
    })
}

/// Whether config `text` sets `replicas` under `[app]` (text that does not parse sets
/// nothing; [`parse_str`] reports why).
pub fn sets_replicas(text: &str) -> bool {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Ok(root) = DeTable::parse(text) else {
        return false;
    };
    let Some(app) = root.get_ref().get("app") else {
        return false;
    };
    matches!(app.get_ref(), toml::de::DeValue::Table(t) if t.contains_key("replicas"))
}

/// Parses config text (`path` is only used in diagnostics), applies the flags and validates.
pub fn parse_str(
    text: &str,
    path: &Path,
    overrides: &Overrides,
) -> Result<ValidatedApp, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let locate = |span: Option<Span>, field: String, message: String| match span {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            Diagnostic {
                file: Some(path.to_owned()),
                line,
                column,
                field,
                message,
            }
        }
        None => Diagnostic {
            file: None,
            line: 0,
            column: 0,
            field,
            message,
        },
    };
    let (root, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        let diagnostics = syntax
            .iter()
            .map(|e| {
                let span = e.span().unwrap_or(0..0);
                locate(
                    Some(span),
                    String::new(),
                    format!("invalid TOML: {}", e.message()),
                )
            })
            .collect();
        return Err(ConfigError { diagnostics });
    }

    let mut reader = Reader::default();
    let mut spec = reader.document(root.get_ref());
    let flags = flags::apply(&mut spec, overrides, &mut reader);
    if spec.name.is_empty() && !flags.contains_key("app.name") {
        let reported = reader.errored.contains("app.name") || reader.errored.contains("app");
        if !reported {
            let span = reader.spans.get("app").cloned().unwrap_or(0..0);
            let message = "missing: add name = \"my-app\" under [app] (or pass --name)".to_owned();
            reader.found.push(Found {
                span: Some(span),
                field: "app.name".into(),
                message,
            });
        }
        reader.errored.insert("app.name".into());
    }

    let mut found = std::mem::take(&mut reader.found);
    let result = validate_spec(spec);
    if let Err(errors) = &result {
        for e in &errors.0 {
            if reader.errored.contains(&e.field) {
                continue;
            }
            // `app.command[2]` came from `--command` when `app.command` did.
            let flag = flags.get(&e.field).or_else(|| {
                let (base, _) = e.field.split_once('[')?;
                flags.get(base)
            });
            let located = match flag {
                Some(flag) => Found {
                    span: None,
                    field: flag.clone(),
                    message: e.message.clone(),
                },
                None => Found {
                    // Not in the file at all (a default, or a rule about a whole section): 1:1.
                    span: Some(span_of(&reader, &e.field).unwrap_or(0..0)),
                    field: e.field.clone(),
                    message: e.message.clone(),
                },
            };
            found.push(located);
        }
    }
    if found.is_empty() {
        // Every rule error is suppressed only when a reading problem was found for its field,
        // so an empty list means the rules passed; still, never return an empty error.
        return result.map_err(|e| ConfigError::unlocated("", e.to_string()));
    }
    let mut diagnostics: Vec<Diagnostic> = found
        .into_iter()
        .map(|f| locate(f.span, f.field, f.message))
        .collect();
    diagnostics.sort_by_key(|d| (d.file.is_some(), d.line, d.column));
    Err(ConfigError { diagnostics })
}

/// The span of a field, or of the closest enclosing thing in the file (`domains[1].host` →
/// `domains[1]` → `domains`).
fn span_of(reader: &Reader, field: &str) -> Option<Span> {
    let mut path = field;
    loop {
        if let Some(span) = reader.spans.get(path) {
            return Some(span.clone());
        }
        path = &path[..path.rfind(['.', '['])?];
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests;
