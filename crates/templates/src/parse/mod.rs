//! `templates/NAME/template.toml` → [`Template`]: read every section, check every rule of the
//! format, and report each problem with the file, line:col and field (the config reader's
//! diagnostics). The app parts are not read as `satusky.toml` here — that needs values, and
//! happens in `resolve`; here their placeholders are checked.
//!
//! The format:
//!
//! ```toml
//! [template]
//! name = "redis"            # the catalog name (an app-name-like DNS label)
//! version = 1               # name@version is what a release records
//! description = "…"
//! expose = "tcp"            # http (default) | tcp | none — what the catalog shows; each
//!                           # app part must run with it (`[app] expose`, checked at resolve)
//! context = "none"          # none (default) | bundled (templates/NAME/context/) | user
//! bind_as = "REDIS_URL"     # the secret `--bind APP` writes the `url` output into
//! config = '''…'''          # the app part shared by the runtimes without their own
//!
//! [parameters.memory]       # one table per parameter, in the order shown to users
//! kind = "quantity"         # string | int | bool | enum | quantity | secret
//! unit = "memory"
//! default = "256Mi"
//! description = "…"
//!
//! [outputs]                 # texts a binding writes into another app; {host}:{port} is the
//! url = "redis://:{password}@{host}:{port}"   # app's internal address
//!
//! [runtimes.local]          # one table per runtime the template runs on
//! notes = "…"
//! binaries = ["redis-server"]   # programs the machine must have (a deploy without them
//! paths = ["/usr/lib/x/*/bin"]   # is refused, BinaryNotFound); looked for on PATH and here
//! packages = "redis-server"      # what provides them (named in that refusal)
//! config = '''              # a satusky.toml with {placeholders}
//! [app]
//! name = "{app}"
//! '''
//!
//! ```

mod parameters;
mod reader;
mod texts;

use std::collections::BTreeMap;

use satusky_core::ConfigError;
use satusky_core::config::suggest;
use satusky_core::validate::limits::{KIB, format_size, quoted, shortened};
use toml::de::DeTable;

use crate::diag::{Located, file_error};
use crate::model::{ContextKind, Expose, Kind, Parameter, Template, TemplateRef};
use reader::{Reader, Section, Span};

/// A template file, in bytes: a catalog entry is a few KiB.
pub const MAX_TEMPLATE_BYTES: usize = 256 * KIB;
/// Parameters per template.
pub const MAX_PARAMETERS: usize = 48;
/// Outputs per template.
pub const MAX_OUTPUTS: usize = 32;
/// The highest version number.
const MAX_VERSION: i64 = 1_000_000;

const SECTIONS: &[&str] = &["template", "parameters", "outputs", "runtimes"];
const TEMPLATE_KEYS: &[&str] = &[
    "name",
    "version",
    "description",
    "expose",
    "context",
    "bind_as",
    "config",
];
const RUNTIME_KEYS: &[&str] = &["notes", "binaries", "paths", "packages", "config"];

/// Reads and checks the template file `path` (used in diagnostics) holding `text`.
pub fn parse(path: &str, text: &str) -> Result<Template, ConfigError> {
    if text.len() > MAX_TEMPLATE_BYTES {
        let message = format!(
            "the file is {}; a template is at most {}",
            format_size(text.len()),
            format_size(MAX_TEMPLATE_BYTES)
        );
        return Err(file_error(path, text, vec![located(0..0, "", message)]));
    }
    let (root, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        let found = syntax
            .iter()
            .map(|e| {
                let span = e.span().unwrap_or(0..0);
                located(span, "", format!("invalid TOML: {}", e.message()))
            })
            .collect();
        return Err(file_error(path, text, found));
    }
    let mut r = Reader::default();
    let template = r.document(text, root.get_ref());
    match template {
        Some(mut t) if r.found.is_empty() => {
            t.path = path.to_owned();
            t.source = text.to_owned();
            Ok(t)
        }
        _ => Err(file_error(path, text, r.found)),
    }
}

fn located(span: Span, field: &str, message: String) -> Located {
    Located {
        span,
        field: field.to_owned(),
        message,
    }
}

/// What `[template]` says.
struct Head {
    reference: TemplateRef,
    description: String,
    expose: Expose,
    context: ContextKind,
    bind_as: Option<(String, Span)>,
    config: Option<(String, usize)>,
}

impl Reader {
    fn document(&mut self, file: &str, root: &DeTable<'_>) -> Option<Template> {
        for (key, _) in root.iter() {
            let name = key.get_ref().as_ref();
            if SECTIONS.contains(&name) {
                continue;
            }
            let message = match suggest(name, SECTIONS.iter().copied()) {
                Some(s) => format!("unknown section [{}]: did you mean [{s}]?", shortened(name)),
                None => format!(
                    "unknown section {}: expected one of {}",
                    quoted(name),
                    SECTIONS.join(", ")
                ),
            };
            self.error(key.span(), shortened(name), message);
        }
        let head = match root.get("template") {
            Some(v) => self.table("template", v).and_then(|s| self.head(file, &s)),
            None => {
                self.error(
                    0..0,
                    "template".into(),
                    "missing: start the file with [template] name, version and description".into(),
                );
                None
            }
        };
        let (parameters, declared_at) = self.parameters(root);
        let outputs = self.outputs(file, root);
        let runtimes = self.runtimes(file, root, head.as_ref());
        if let Some(Head {
            bind_as: Some((name, span)),
            ..
        }) = &head
            && !outputs.iter().any(|o| o.name == "url")
        {
            let message =
                format!("{name} receives the url output, and [outputs] has no url = \"…\"");
            self.error(span.clone(), "template.bind_as".to_owned(), message);
        }
        let head = head?;
        let template = Template {
            path: String::new(),
            source: String::new(),
            reference: head.reference,
            description: head.description,
            expose: head.expose,
            context: head.context,
            bind_as: head.bind_as.map(|(name, _)| name),
            parameters,
            outputs,
            runtimes,
        };
        self.placeholders(&template, &declared_at);
        Some(template)
    }

    fn head(&mut self, file: &str, s: &Section<'_, '_>) -> Option<Head> {
        self.unknown_keys(s, TEMPLATE_KEYS);
        let name = self.required(s, "name", "name = \"redis\"", |r| r.string(s, "name"));
        if let Some((name, span)) = &name
            && let Err(e) = satusky_core::validate_app_name(name)
        {
            self.error(span.clone(), s.field("name"), e.to_string());
        }
        let version = self.required(s, "version", "version = 1", |r| r.int(s, "version"));
        if let Some((v, span)) = &version
            && !(1..=MAX_VERSION).contains(v)
        {
            self.error(
                span.clone(),
                s.field("version"),
                format!("{v} is out of range: use 1–{MAX_VERSION}"),
            );
        }
        let description = self.required(s, "description", "description = \"…\"", |r| {
            r.string(s, "description")
        });
        let expose = match self.string(s, "expose") {
            None => Some(Expose::Http),
            Some((text, span)) => Expose::parse(&text).or_else(|| {
                let message = format!(
                    "{} is not an exposure: use http, tcp or none",
                    quoted(&text)
                );
                self.error(span, s.field("expose"), message);
                None
            }),
        };
        let context = match self.string(s, "context") {
            None => Some(ContextKind::None),
            Some((text, span)) => ContextKind::parse(&text).or_else(|| {
                let message = format!(
                    "{} is not a context: use none, bundled (templates/NAME/context/) or user",
                    quoted(&text)
                );
                self.error(span, s.field("context"), message);
                None
            }),
        };
        let bind_as = self.string(s, "bind_as");
        if let Some((name, span)) = &bind_as
            && let Err(message) = satusky_core::validate::app_var_name(name, "bind_as")
        {
            self.error(span.clone(), s.field("bind_as"), message);
        }
        let config = self.config(file, s, "config");
        Some(Head {
            reference: TemplateRef {
                name: name?.0,
                version: u32::try_from(version?.0).ok()?,
            },
            description: description?.0,
            expose: expose?,
            context: context?,
            bind_as,
            config,
        })
    }

    /// The parameters, and where each is declared.
    fn parameters(&mut self, root: &DeTable<'_>) -> (Vec<Parameter>, BTreeMap<String, Span>) {
        let mut declared_at = BTreeMap::new();
        let Some(value) = root.get("parameters") else {
            return (Vec::new(), declared_at);
        };
        let Some(section) = self.table("parameters", value) else {
            return (Vec::new(), declared_at);
        };
        let mut tables: Vec<_> = section.table.iter().collect();
        // The file's order (the table iterates sorted by name).
        tables.sort_by_key(|(_, v)| v.span().start);
        if tables.len() > MAX_PARAMETERS {
            self.error(
                section.span(),
                "parameters".into(),
                format!(
                    "{} parameters; a template has at most {MAX_PARAMETERS}",
                    tables.len()
                ),
            );
            return (Vec::new(), declared_at);
        }
        let mut parameters = Vec::new();
        let mut secrets: BTreeMap<String, String> = BTreeMap::new();
        for (key, value) in tables {
            let name = key.get_ref().as_ref();
            let path = format!("parameters.{name}");
            let Some(table) = self.table(&path, value) else {
                continue;
            };
            declared_at.insert(name.to_owned(), key.span());
            let Some(p) = self.parameter(name, &table) else {
                continue;
            };
            if let Kind::Secret { secret, .. } = &p.kind
                && let Some(other) = secrets.insert(secret.clone(), p.name.clone())
            {
                self.error(
                    table.span(),
                    table.field("secret"),
                    format!("{other} already writes the secret {secret}: use another name"),
                );
            }
            parameters.push(p);
        }
        (parameters, declared_at)
    }
}
