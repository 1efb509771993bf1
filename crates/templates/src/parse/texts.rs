//! The parts of a template that hold texts with placeholders — outputs, the app part of
//! each runtime, the static-site settings — and the checks that every placeholder names
//! something that exists where it is used, that secrets never reach an app part, and that
//! every other parameter is used somewhere.

use std::collections::BTreeMap;

use satusky_core::config::suggest;
use toml::de::DeTable;

use super::parameters;
use super::reader::{Reader, Section, Span};
use super::{Head, MAX_OUTPUTS, RUNTIME_KEYS};
use crate::model::{Kind, OutputTemplate, Parameter, RuntimeKind, RuntimeSupport, Template, Text};
use crate::placeholder::{Placeholder, scan_plain, scan_toml};

impl Reader {
    pub(super) fn outputs(&mut self, file: &str, root: &DeTable<'_>) -> Vec<OutputTemplate> {
        let Some(value) = root.get("outputs") else {
            return Vec::new();
        };
        let Some(section) = self.table("outputs", value) else {
            return Vec::new();
        };
        if section.table.len() > MAX_OUTPUTS {
            self.error(
                section.span(),
                "outputs".into(),
                format!("a template has at most {MAX_OUTPUTS} outputs"),
            );
            return Vec::new();
        }
        let mut outputs = Vec::new();
        for (key, _) in section.table.iter() {
            let name = key.get_ref().as_ref();
            if let Err(message) = parameters::check_name(name).or_else(|e| {
                // host and port are reserved for parameters, not for outputs.
                if parameters::RESERVED.contains(&name) {
                    Ok(())
                } else {
                    Err(e)
                }
            }) {
                self.error(
                    key.span(),
                    section.field(name),
                    message.replace("parameter", "output"),
                );
                continue;
            }
            if let Some(text) = self.plain_text(file, &section, name) {
                outputs.push(OutputTemplate {
                    name: name.to_owned(),
                    text,
                });
            }
        }
        outputs
    }

    /// A one-line text with placeholders (outputs, static settings).
    fn plain_text(&mut self, file: &str, section: &Section<'_, '_>, key: &str) -> Option<Text> {
        let (text, span) = self.string(section, key)?;
        // The content starts after the quote; escapes would shift later positions slightly,
        // which only moves where a problem is pointed at within the line.
        let raw = file.get(span.clone()).unwrap_or_default();
        let quote = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
            3
        } else {
            1
        };
        let placeholders = scan_plain(&text);
        Some(Text {
            text,
            offset: span.start + quote,
            placeholders,
        })
    }

    pub(super) fn runtimes(
        &mut self,
        file: &str,
        root: &DeTable<'_>,
        head: Option<&Head>,
    ) -> Vec<RuntimeSupport> {
        let Some(value) = root.get("runtimes") else {
            self.error(
                0..0,
                "runtimes".into(),
                "missing: add [runtimes.local] and/or [runtimes.kubernetes], each with notes \
                 and its app part (config)"
                    .into(),
            );
            return Vec::new();
        };
        let Some(section) = self.table("runtimes", value) else {
            return Vec::new();
        };
        let known: Vec<&str> = RuntimeKind::ALL.iter().map(|r| r.as_str()).collect();
        self.unknown_keys(&section, &known);
        let mut runtimes = Vec::new();
        for runtime in RuntimeKind::ALL {
            let Some(value) = section.table.get(runtime.as_str()) else {
                continue;
            };
            let path = format!("runtimes.{runtime}");
            let Some(s) = self.table(&path, value) else {
                continue;
            };
            self.unknown_keys(&s, RUNTIME_KEYS);
            let notes = self.required(&s, "notes", "notes = \"what runs, what it needs\"", |r| {
                r.string(&s, "notes")
            });
            let binaries = self.string_list(&s, "binaries").map(|(b, _)| b);
            let paths = self.string_list(&s, "paths").map(|(p, _)| p);
            if let Some(paths) = &paths
                && let Some(bad) = paths
                    .iter()
                    .find(|p| !p.starts_with('/') || p.matches('*').count() > 1)
            {
                self.error(
                    s.span(),
                    s.field("paths"),
                    format!(
                        "{bad:?}: each is an absolute folder, with at most one * (e.g. /usr/lib/postgresql/*/bin)"
                    ),
                );
            }
            let packages = self.string(&s, "packages").map(|(p, _)| p);
            let config = match self.config(file, &s, "config") {
                Some(c) => Some(c),
                None if s.table.contains_key("config") => None,
                None => {
                    let shared = head.and_then(|h| h.config.clone());
                    if shared.is_none() && head.is_some() {
                        self.error(
                            s.span(),
                            s.field("config"),
                            "missing: add config = '''…''' here (the app part), or one shared by \
                             every runtime under [template]"
                                .into(),
                        );
                    }
                    shared
                }
            };
            let (Some((notes, _)), Some((text, offset))) = (notes, config) else {
                continue;
            };
            let (placeholders, misplaced) = scan_toml(&text);
            for m in misplaced {
                let span = offset + m.range.start..offset + m.range.end;
                self.error(span, s.field("config"), m.message);
            }
            runtimes.push(RuntimeSupport {
                runtime,
                notes,
                binaries: binaries.unwrap_or_default(),
                paths: paths.unwrap_or_default(),
                packages,
                config: Text {
                    text,
                    offset,
                    placeholders,
                },
            });
        }
        if runtimes.is_empty() && section.table.is_empty() {
            self.error(
                section.span(),
                "runtimes".into(),
                "add [runtimes.local] and/or [runtimes.kubernetes]".into(),
            );
        }
        runtimes
    }

    /// Every placeholder names something that exists where it is used; secrets never reach
    /// the app part; every other parameter is used somewhere.
    pub(super) fn placeholders(&mut self, t: &Template, declared_at: &BTreeMap<String, Span>) {
        let mut used: Vec<String> = Vec::new();
        let mut check =
            |r: &mut Reader, text: &Text, field: &str, allowed: &[&str], secrets: bool| {
                for p in &text.placeholders {
                    used.push(p.name.clone());
                    if t.parameter(&p.name).is_none() && declared_at.contains_key(&p.name) {
                        // Declared, with its problem reported there.
                        continue;
                    }
                    r.placeholder(t, text, p, field, allowed, secrets);
                }
            };
        for rt in &t.runtimes {
            check(
                self,
                &rt.config,
                &format!("runtimes.{}.config", rt.runtime),
                &["app"],
                false,
            );
        }
        for o in &t.outputs {
            let field = format!("outputs.{}", o.name);
            check(self, &o.text, &field, &["app", "host", "port"], true);
        }
        if !self.found.is_empty() {
            // A parameter looks unused when the part using it did not read: say nothing.
            return;
        }
        for p in &t.parameters {
            let secret = matches!(p.kind, Kind::Secret { .. });
            if !secret && !used.contains(&p.name) {
                let span = declared_at.get(&p.name).cloned().unwrap_or(0..0);
                self.error(
                    span,
                    format!("parameters.{}", p.name),
                    format!(
                        "declared but never used: put {{{}}} in an app part, an output or \
                         [static], or remove it",
                        p.name
                    ),
                );
            }
        }
    }

    fn placeholder(
        &mut self,
        t: &Template,
        text: &Text,
        p: &Placeholder,
        field: &str,
        allowed: &[&str],
        secrets: bool,
    ) {
        if allowed.contains(&p.name.as_str()) {
            return;
        }
        let span = text.span_of(p);
        match t.parameter(&p.name) {
            Some(Parameter {
                kind: Kind::Secret { secret, .. },
                ..
            }) if !secrets => {
                let message = format!(
                    "{{{}}} is a secret: it reaches the app as the secret {secret} (list it in \
                     [secrets] required and read ${secret}), never in its config",
                    p.name
                );
                self.error(span, field.to_owned(), message);
            }
            Some(_) => {}
            None => {
                let names = t
                    .parameters
                    .iter()
                    .map(|p| p.name.as_str())
                    .chain(allowed.iter().copied());
                let hint = match suggest(&p.name, names) {
                    Some(s) => format!(": did you mean {{{s}}}?"),
                    None => format!(
                        ": declare it as [parameters.{}] (built in here: {})",
                        p.name,
                        allowed
                            .iter()
                            .map(|a| format!("{{{a}}}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                self.error(
                    span,
                    field.to_owned(),
                    format!("unknown placeholder {{{}}}{hint}", p.name),
                );
            }
        }
    }
}
