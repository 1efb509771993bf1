//! Reading a parsed `satusky.toml` document into an [`AppSpec`], section by section.
//!
//! Owns the file's shape: which sections and keys exist, their TOML types, their defaults, and
//! where each value sits in the text (so later rule errors can point at it). It does not check
//! the rules themselves — `validate_spec` does, once flags are applied. A value that cannot be
//! read is reported here, replaced by its default, and its field is marked so the rules do not
//! report it a second time.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use satusky_types::{
    AppSpec, BuildSpec, ChecksSpec, DeploySpec, DomainSpec, HpaSpec, PdbSpec, StaticSpec, Strategy,
    VolumeSpec, VpaMode, VpaSpec,
};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::convert::{millis, seconds};
use crate::validate::limits::{quoted, shortened};

/// A byte range of the config text.
pub(super) type Span = Range<usize>;

/// One problem found while reading: where (`None` for flags), which field, what to do.
#[derive(Debug)]
pub(super) struct Found {
    pub span: Option<Span>,
    pub field: String,
    pub message: String,
}

/// What reading learned besides the spec: spans of values, fields already reported, problems.
#[derive(Debug, Default)]
pub(super) struct Reader {
    /// Field path (`app.memory`, `domains[1].host`, `env.FOO`, `build.env.FOO`,
    /// `secrets.required[0]`, `vpa`) → span of its value (of the key for `env.*` and
    /// `build.env.*`, whose rules are about the name; of the header for sections).
    pub spans: HashMap<String, Span>,
    /// Fields with a problem already in `found`.
    pub errored: HashSet<String>,
    pub found: Vec<Found>,
}

const SECTIONS: &[(&str, &[&str])] = &[
    (
        "app",
        &[
            "name",
            "port",
            "replicas",
            "cpu",
            "cpu_limit",
            "memory",
            "memory_limit",
            "image",
            "command",
            "zone",
            "expose",
        ],
    ),
    ("build", &["dockerfile", "context", "command", "env"]),
    ("checks", &["path", "expect", "timeout"]),
    (
        "deploy",
        &[
            "strategy",
            "max_surge",
            "max_unavailable",
            "progress_deadline",
        ],
    ),
    ("env", &[]),
    ("secrets", &["required"]),
    ("domains", &["host", "redirect_to"]),
    ("volume", &["size", "mount", "storage_class"]),
    ("static", &["root", "index"]),
    ("hpa", &["min", "max", "cpu_target", "memory_target"]),
    (
        "vpa",
        &["mode", "min_cpu", "min_memory", "max_cpu", "max_memory"],
    ),
    ("pdb", &["min_available", "max_unavailable"]),
];

const DEFAULT_PORT: u16 = 8080;
const DEFAULT_REPLICAS: u32 = 1;
const DEFAULT_CPU: &str = "100m";
const DEFAULT_MEMORY: &str = "128Mi";
const DEFAULT_DOCKERFILE: &str = "Dockerfile";
const DEFAULT_CONTEXT: &str = ".";
const DEFAULT_CHECKS_PATH: &str = "/";
const DEFAULT_EXPECT: &str = "2xx";
const DEFAULT_TIMEOUT_MS: u64 = 2_000;
const DEFAULT_MAX_SURGE: &str = "25%";
const DEFAULT_MAX_UNAVAILABLE: &str = "0";
/// SPEC §2: the workload fails (exit 11) when it passes.
const DEFAULT_PROGRESS_DEADLINE_SECONDS: u64 = 600;

pub(super) type Value<'i> = Spanned<DeValue<'i>>;

/// One table of the document, with the path its fields are reported under.
pub(super) struct Section<'t, 'i> {
    pub path: String,
    pub table: &'t DeTable<'i>,
}

impl Reader {
    pub(super) fn error(&mut self, span: Option<Span>, field: String, message: String) {
        self.errored.insert(field.clone());
        self.found.push(Found {
            span,
            field,
            message,
        });
    }

    /// Reads the whole document. Problems are left in `self.found`.
    pub(super) fn document(&mut self, root: &DeTable<'_>) -> AppSpec {
        self.top_level_keys(root);
        let empty = DeTable::new();
        let app = self.section(root, "app", &empty);
        let build = self.section(root, "build", &empty);
        let checks = self.section(root, "checks", &empty);
        let deploy = self.section(root, "deploy", &empty);
        let env = self.section(root, "env", &empty);
        let port = self.uint(
            &app,
            "port",
            0,
            u64::from(u16::MAX),
            "use a port from 1 to 65535",
        );
        let replicas = self.uint(&app, "replicas", 0, u64::from(u32::MAX), "use 0–1000");
        AppSpec {
            name: self.string(&app, "name").unwrap_or_default(),
            port: port
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(DEFAULT_PORT),
            replicas: replicas
                .and_then(|r| u32::try_from(r).ok())
                .unwrap_or(DEFAULT_REPLICAS),
            cpu: self
                .quantity(&app, "cpu")
                .unwrap_or_else(|| DEFAULT_CPU.into()),
            cpu_limit: self.quantity(&app, "cpu_limit"),
            memory: self
                .quantity(&app, "memory")
                .unwrap_or_else(|| DEFAULT_MEMORY.into()),
            memory_limit: self.quantity(&app, "memory_limit"),
            image: self.string(&app, "image"),
            command: self.string_list(&app, "command"),
            zone: self.string(&app, "zone"),
            expose: self.expose(&app).unwrap_or_default(),
            build: BuildSpec {
                dockerfile: self
                    .string(&build, "dockerfile")
                    .unwrap_or_else(|| DEFAULT_DOCKERFILE.into()),
                context: self
                    .string(&build, "context")
                    .unwrap_or_else(|| DEFAULT_CONTEXT.into()),
                command: self.string(&build, "command"),
                env: self.build_env(&build),
            },
            checks: ChecksSpec {
                path: self
                    .string(&checks, "path")
                    .unwrap_or_else(|| DEFAULT_CHECKS_PATH.into()),
                expect: self
                    .string(&checks, "expect")
                    .unwrap_or_else(|| DEFAULT_EXPECT.into()),
                timeout_ms: self
                    .duration(&checks, "timeout", millis)
                    .unwrap_or(DEFAULT_TIMEOUT_MS),
            },
            deploy: DeploySpec {
                // `[volume]` has one writer: recreate unless a strategy is named (and then
                // the rules refuse `rolling`, naming both).
                strategy: self
                    .strategy(&deploy)
                    .unwrap_or(if root.get("volume").is_some() {
                        Strategy::Recreate
                    } else {
                        Strategy::Rolling
                    }),
                max_surge: self
                    .int_or_string(&deploy, "max_surge")
                    .unwrap_or_else(|| DEFAULT_MAX_SURGE.into()),
                max_unavailable: self
                    .int_or_string(&deploy, "max_unavailable")
                    .unwrap_or_else(|| DEFAULT_MAX_UNAVAILABLE.into()),
                progress_deadline_seconds: self
                    .duration(&deploy, "progress_deadline", seconds)
                    .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS),
            },
            env: self.env(&env),
            secrets: self.secrets(root),
            domains: self.domains(root),
            volume: self.optional_section(root, "volume").map(|s| VolumeSpec {
                size: self
                    .required(&s, "size", "size = \"1Gi\"", Self::quantity)
                    .unwrap_or_default(),
                mount: self
                    .required(&s, "mount", "mount = \"/data\"", Self::string)
                    .unwrap_or_default(),
                storage_class: self.string(&s, "storage_class"),
            }),
            static_site: self.optional_section(root, "static").map(|s| StaticSpec {
                root: self.string(&s, "root").unwrap_or_else(|| ".".into()),
                index: self
                    .string(&s, "index")
                    .unwrap_or_else(|| "index.html".into()),
            }),
            hpa: self.optional_section(root, "hpa").map(|s| HpaSpec {
                min: self.small_uint(&s, "min", "use 1–1000").unwrap_or(1),
                max: self
                    .required(&s, "max", "max = 5", |r, s, k| {
                        r.small_uint(s, k, "use 1–1000")
                    })
                    .unwrap_or(1),
                cpu_target: self.small_uint(&s, "cpu_target", "use a percentage from 1 to 100"),
                memory_target: self.small_uint(
                    &s,
                    "memory_target",
                    "use a percentage from 1 to 100",
                ),
            }),
            vpa: self.optional_section(root, "vpa").map(|s| VpaSpec {
                mode: self
                    .required(&s, "mode", "mode = \"Off\"", Self::vpa_mode)
                    .unwrap_or(VpaMode::Off),
                min_cpu: self.quantity(&s, "min_cpu"),
                min_memory: self.quantity(&s, "min_memory"),
                max_cpu: self.quantity(&s, "max_cpu"),
                max_memory: self.quantity(&s, "max_memory"),
            }),
            pdb: self.optional_section(root, "pdb").map(|s| PdbSpec {
                min_available: self.int_or_string(&s, "min_available"),
                max_unavailable: self.int_or_string(&s, "max_unavailable"),
            }),
        }
    }

    fn top_level_keys(&mut self, root: &DeTable<'_>) {
        for (key, value) in root.iter() {
            let name = key.get_ref().as_ref();
            if SECTIONS.iter().any(|(s, _)| *s == name) {
                continue;
            }
            let message = if !value.get_ref().is_table() {
                match SECTIONS.iter().find(|(_, keys)| keys.contains(&name)) {
                    Some((section, _)) => {
                        format!(
                            "{} is outside any section: move it under [{section}]",
                            quoted(name)
                        )
                    }
                    None => format!(
                        "unknown top-level key {}: settings belong in a section such as [app]",
                        quoted(name)
                    ),
                }
            } else {
                let known: Vec<String> = SECTIONS.iter().map(|(s, _)| section_header(s)).collect();
                match suggest(name, SECTIONS.iter().map(|(s, _)| *s)) {
                    Some(s) => format!(
                        "unknown section [{}]: did you mean {}?",
                        shortened(name),
                        section_header(s)
                    ),
                    None => format!(
                        "unknown section [{}]: expected one of {}",
                        shortened(name),
                        known.join(", ")
                    ),
                }
            };
            self.error(Some(key.span()), shortened(name), message);
        }
    }

    /// A section that defaults when absent (`empty` stands in for it).
    fn section<'t, 'i>(
        &mut self,
        root: &'t DeTable<'i>,
        name: &str,
        empty: &'t DeTable<'i>,
    ) -> Section<'t, 'i> {
        self.optional_section(root, name).unwrap_or(Section {
            path: name.to_owned(),
            table: empty,
        })
    }

    pub(super) fn optional_section<'t, 'i>(
        &mut self,
        root: &'t DeTable<'i>,
        name: &str,
    ) -> Option<Section<'t, 'i>> {
        let value = root.get(name)?;
        self.spans.insert(name.to_owned(), value.span());
        let DeValue::Table(table) = value.get_ref() else {
            let message =
                format!("must be a section: write [{name}] on its own line, then its keys");
            self.error(Some(value.span()), name.to_owned(), message);
            return None;
        };
        let section = Section {
            path: name.to_owned(),
            table,
        };
        self.unknown_keys(&section, name);
        Some(section)
    }

    fn unknown_keys(&mut self, section: &Section<'_, '_>, kind: &str) {
        let Some((_, known)) = SECTIONS.iter().find(|(s, _)| *s == kind) else {
            return;
        };
        if kind == "env" {
            return;
        }
        for (key, _) in section.table.iter() {
            let name = key.get_ref().as_ref();
            if known.contains(&name) {
                continue;
            }
            let header = section_header(kind);
            let message = match suggest(name, known.iter().copied()) {
                Some(s) => format!(
                    "unknown key {} in {header}: did you mean {s:?}?",
                    quoted(name)
                ),
                None => format!(
                    "unknown key {} in {header}: expected one of {}",
                    quoted(name),
                    known.join(", ")
                ),
            };
            self.error(
                Some(key.span()),
                format!("{}.{}", section.path, shortened(name)),
                message,
            );
        }
    }

    fn domains(&mut self, root: &DeTable<'_>) -> Vec<DomainSpec> {
        let Some(value) = root.get("domains") else {
            return Vec::new();
        };
        self.spans.insert("domains".into(), value.span());
        let DeValue::Array(items) = value.get_ref() else {
            let message =
                "write each domain as its own [[domains]] table, with host = \"…\"".to_owned();
            self.error(Some(value.span()), "domains".into(), message);
            return Vec::new();
        };
        let mut domains = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("domains[{i}]");
            self.spans.insert(path.clone(), item.span());
            let DeValue::Table(table) = item.get_ref() else {
                self.wrong_type(
                    path,
                    item,
                    "a table",
                    "write each domain as a [[domains]] table with host = \"…\"",
                );
                continue;
            };
            let section = Section { path, table };
            self.unknown_keys(&section, "domains");
            domains.push(DomainSpec {
                host: self
                    .required(&section, "host", "host = \"api.example.com\"", Self::string)
                    .unwrap_or_default(),
                redirect_to: self.string(&section, "redirect_to"),
            });
        }
        domains
    }
}

pub(super) fn section_header(name: &str) -> String {
    if name == "domains" {
        "[[domains]]".to_owned()
    } else {
        format!("[{name}]")
    }
}

/// The known name closest to a misspelt one, if it is close enough to be a likely typo.
/// A typo is within a couple of edits, or a prefix of at least three characters (`redirect`).
/// Shared with other readers of user-written names (template parameters), so every
/// "did you mean" agrees.
pub fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let prefix = |k: &str| name.len() >= 3 && (k.starts_with(name) || name.starts_with(k));
    known
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) && *d < k.len() || prefix(k))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}
