//! The catalog: every template of `templates/` embedded at compile time (an explicit list,
//! one `include_str!` per template and one `include_bytes!` per bundled context file), so
//! the binary serves exactly the catalog it was built and tested with, wherever it runs.
//!
//! A bundled context (`templates/NAME/context/`) is embedded as its file list and bytes: the
//! server packs them into an ordinary context archive and stores it like an upload (content
//! addressed, so every deploy of the same template version reuses it). A test checks the
//! list against the folders, so a file added there and forgotten here fails. Several
//! versions of a template may be listed (an older one as `templates/NAME/template@V.toml`).

use std::fmt;

use satusky_core::ConfigError;
use satusky_core::config::suggest;
use satusky_core::validate::limits::quoted;

use crate::model::{ContextKind, Template, TemplateRef};
use crate::parse::parse;

/// One file of a bundled build context.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BundledFile {
    /// Relative to the context's root, `/`-separated.
    pub path: &'static str,
    pub bytes: &'static [u8],
}

impl fmt::Debug for BundledFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} bytes)", self.path, self.bytes.len())
    }
}

/// One template of a catalog, as embedded.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Its path in the repository (what diagnostics name).
    pub path: &'static str,
    pub text: &'static str,
    pub context: &'static [BundledFile],
}

macro_rules! template {
    ($name:literal) => {
        template!($name, [])
    };
    // An older version, kept as `templates/NAME/template@V.toml` (no bundled context).
    ($name:literal @ $version:literal) => {
        Entry {
            path: concat!("templates/", $name, "/template@", $version, ".toml"),
            text: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"), "/../../templates/", $name, "/template@", $version, ".toml"
            )),
            context: &[],
        }
    };
    ($name:literal, [$($file:literal),* $(,)?]) => {
        Entry {
            path: concat!("templates/", $name, "/template.toml"),
            text: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"), "/../../templates/", $name, "/template.toml"
            )),
            context: &[$(BundledFile {
                path: $file,
                bytes: include_bytes!(concat!(
                    env!("CARGO_MANIFEST_DIR"), "/../../templates/", $name, "/context/", $file
                )),
            }),*],
        }
    };
}

/// The built-in catalog.
pub const ENTRIES: &[Entry] = &[
    template!("postgres"),
    template!("redis" @ "1"),
    template!("redis"),
    template!("static-site"),
    template!(
        "echo",
        [
            ".dockerignore",
            "Cargo.lock",
            "Cargo.toml",
            "Dockerfile",
            "src/main.rs",
        ]
    ),
    template!(
        "notes",
        [
            ".dockerignore",
            "Cargo.lock",
            "Cargo.toml",
            "Dockerfile",
            "src/main.rs",
        ]
    ),
];

/// A template of a catalog with its bundled context (empty unless `context = "bundled"`).
#[derive(Debug, Clone)]
pub struct CatalogTemplate {
    pub template: Template,
    pub context: &'static [BundledFile],
}

/// A catalog that cannot be loaded: a defect of the catalog itself.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("a catalog template does not parse")]
    Parse(#[source] ConfigError),
    #[error("{path} declares the template {name}: it belongs in templates/{name}/")]
    Folder { path: String, name: String },
    #[error("{reference} is in the catalog twice")]
    Duplicate { reference: TemplateRef },
    #[error(
        "{reference}: context = \"bundled\" needs the files of templates/{name}/context/ listed \
         in the catalog, and a template without it has none",
        name = reference.name
    )]
    Context { reference: TemplateRef },
}

/// A name or version the catalog does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("no template {quoted} in the catalog{hint}")]
    Name { quoted: String, hint: String },
    #[error("{name} has no version {version} (versions: {versions})")]
    Version {
        name: String,
        version: u32,
        versions: String,
    },
    #[error("{quoted} is not a template reference: use NAME or NAME@VERSION, e.g. redis@1")]
    Reference { quoted: String },
}

/// `NAME` or `NAME@VERSION`.
pub fn parse_reference(s: &str) -> Result<(&str, Option<u32>), LookupError> {
    let bad = || LookupError::Reference { quoted: quoted(s) };
    match s.split_once('@') {
        None if !s.is_empty() => Ok((s, None)),
        Some((name, version)) if !name.is_empty() => {
            let version = version.parse::<u32>().map_err(|_| bad())?;
            Ok((name, Some(version)))
        }
        _ => Err(bad()),
    }
}

/// Templates by name and version.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Sorted by name, then version.
    templates: Vec<CatalogTemplate>,
}

impl Catalog {
    /// The catalog built into this binary.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        Catalog::from_entries(ENTRIES)
    }

    /// A catalog of `entries` (the built-in one, or a test's).
    pub fn from_entries(entries: &[Entry]) -> Result<Catalog, CatalogError> {
        let mut templates: Vec<CatalogTemplate> = Vec::with_capacity(entries.len());
        for entry in entries {
            let template = parse(entry.path, entry.text).map_err(CatalogError::Parse)?;
            let reference = template.reference.clone();
            if !entry
                .path
                .starts_with(&format!("templates/{}/", reference.name))
            {
                return Err(CatalogError::Folder {
                    path: entry.path.to_owned(),
                    name: reference.name,
                });
            }
            if templates.iter().any(|t| t.template.reference == reference) {
                return Err(CatalogError::Duplicate { reference });
            }
            if (template.context == ContextKind::Bundled) == entry.context.is_empty() {
                return Err(CatalogError::Context { reference });
            }
            templates.push(CatalogTemplate {
                template,
                context: entry.context,
            });
        }
        templates.sort_by(|a, b| a.template.reference.cmp(&b.template.reference));
        Ok(Catalog { templates })
    }

    /// Every template, every version.
    pub fn all(&self) -> &[CatalogTemplate] {
        &self.templates
    }

    /// The newest version of each template, by name.
    pub fn latest(&self) -> Vec<&CatalogTemplate> {
        let mut latest: Vec<&CatalogTemplate> = Vec::new();
        for t in &self.templates {
            match latest.last_mut() {
                Some(last) if last.template.name() == t.template.name() => *last = t,
                _ => latest.push(t),
            }
        }
        latest
    }

    /// The versions of `name`, oldest first.
    pub fn versions(&self, name: &str) -> Vec<u32> {
        self.templates
            .iter()
            .filter(|t| t.template.name() == name)
            .map(|t| t.template.version())
            .collect()
    }

    /// `name` at `version`, or its newest version.
    pub fn get(&self, name: &str, version: Option<u32>) -> Result<&CatalogTemplate, LookupError> {
        let versions = self.versions(name);
        let Some(newest) = versions.last() else {
            let names = self.latest();
            let hint = suggest(name, names.iter().map(|t| t.template.name()))
                .map(|s| format!(": did you mean {s:?}?"))
                .unwrap_or_else(|| {
                    let all: Vec<&str> = names.iter().map(|t| t.template.name()).collect();
                    format!(" (it has {})", all.join(", "))
                });
            return Err(LookupError::Name {
                quoted: quoted(name),
                hint,
            });
        };
        let version = version.unwrap_or(*newest);
        self.templates
            .iter()
            .find(|t| t.template.name() == name && t.template.version() == version)
            .ok_or_else(|| LookupError::Version {
                name: name.to_owned(),
                version,
                versions: versions
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}
