//! Reading `[parameters.NAME]`: the kind, the keys each kind takes, and a default checked
//! against the parameter's own rules (a catalog whose default breaks its rule never ships).

use satusky_core::validate::limits::quoted;
use toml::de::DeValue;

use super::reader::{Reader, Section};
use crate::model::{Kind, Parameter, Unit, Value};
use crate::pattern::Pattern;
use crate::values::{MAX_VALUE_BYTES, check_value};

/// Names a parameter may not take: the app's name in app parts, the internal address in
/// outputs.
pub(super) const RESERVED: &[&str] = &["app", "host", "port"];
/// The longest parameter name (a `--set` key).
const MAX_NAME: usize = 40;
/// A string parameter's `max_length` when none is given, in characters.
const DEFAULT_MAX_LENGTH: usize = 256;
/// A generated secret's length when none is given: 32 characters of `[A-Za-z0-9]` are about
/// 190 bits.
const DEFAULT_SECRET_LENGTH: i64 = 32;
/// Bounds of a generated secret's length: at least ~95 bits, at most what every consumer of
/// a password takes.
const SECRET_LENGTHS: (i64, i64) = (16, 128);

const COMMON: &[&str] = &["kind", "description", "required", "default"];
const KINDS: &[(&str, &[&str])] = &[
    ("string", &["pattern", "max_length"]),
    ("int", &["min", "max"]),
    ("bool", &[]),
    ("enum", &["values"]),
    ("quantity", &["unit", "min", "max"]),
    ("secret", &["secret", "length", "pattern"]),
];

/// `[a-z][a-z0-9_]*`, at most [`MAX_NAME`], not reserved.
pub(super) fn check_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok || name.len() > MAX_NAME {
        return Err(format!(
            "{} is not a parameter name: use lowercase letters, digits and _, starting with a \
             letter, at most {MAX_NAME} characters (it is what --set takes)",
            quoted(name)
        ));
    }
    if RESERVED.contains(&name) {
        return Err(format!(
            "{name:?} is reserved ({{app}} is the app's name, {{host}} and {{port}} its \
             internal address): rename the parameter"
        ));
    }
    Ok(())
}

impl Reader {
    /// One `[parameters.NAME]` table; `None` when it has a problem (reported).
    pub(super) fn parameter(&mut self, name: &str, section: &Section<'_, '_>) -> Option<Parameter> {
        let before = self.found.len();
        if let Err(message) = check_name(name) {
            self.error(section.span(), section.path.to_owned(), message);
        }
        let kind_names: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
        let kind = self.required(section, "kind", "kind = \"string\"", |r| {
            r.string(section, "kind")
        });
        let description = self.required(section, "description", "description = \"…\"", |r| {
            r.string(section, "description")
        });
        let required = self.bool(section, "required").unwrap_or(false);
        let (kind, kind_span) = kind?;
        let Some((_, own)) = KINDS.iter().find(|(k, _)| *k == kind) else {
            self.error(
                kind_span,
                section.field("kind"),
                format!(
                    "{} is not a parameter kind: use one of {}",
                    quoted(&kind),
                    kind_names.join(", ")
                ),
            );
            return None;
        };
        self.kind_keys(section, &kind, own);
        let kind = self.kind(&kind, section)?;
        let default = self.default(name, section, &kind);
        if required && section.table.contains_key("default") {
            self.error(
                section.span(),
                section.field("required"),
                "a parameter with a default is never missing: remove required or the default"
                    .into(),
            );
        }
        let is_secret = matches!(kind, Kind::Secret { .. });
        if !required && !is_secret && !section.table.contains_key("default") {
            self.error(
                section.span(),
                section.path.to_owned(),
                "give a default, or required = true (only secrets can be generated)".into(),
            );
        }
        let param = Parameter {
            name: name.to_owned(),
            description: description.map(|(d, _)| d).unwrap_or_default(),
            kind,
            required,
            default: default.flatten(),
        };
        (self.found.len() == before).then_some(param)
    }

    /// Keys of another kind, or no kind's at all.
    fn kind_keys(&mut self, section: &Section<'_, '_>, kind: &str, own: &[&str]) {
        let known: Vec<&str> = COMMON.iter().chain(own).copied().collect();
        for (key, _) in section.table.iter() {
            let key_name = key.get_ref().as_ref();
            let owners: Vec<&str> = KINDS
                .iter()
                .filter(|(_, keys)| keys.contains(&key_name))
                .map(|(k, _)| *k)
                .collect();
            if known.contains(&key_name) || owners.is_empty() {
                continue;
            }
            self.error(
                key.span(),
                section.field(key_name),
                format!(
                    "{key_name} does not apply to kind {kind} (it applies to {})",
                    owners.join(", ")
                ),
            );
        }
        let all: Vec<&str> = COMMON
            .iter()
            .chain(KINDS.iter().flat_map(|(_, keys)| keys.iter()))
            .copied()
            .collect();
        self.unknown_keys(section, &all);
    }

    fn pattern(&mut self, section: &Section<'_, '_>) -> Option<Pattern> {
        let (text, span) = self.string(section, "pattern")?;
        Pattern::parse(&text)
            .map_err(|e| self.error(span, section.field("pattern"), e.to_string()))
            .ok()
    }

    fn kind(&mut self, kind: &str, section: &Section<'_, '_>) -> Option<Kind> {
        Some(match kind {
            "string" => {
                let max_length = match self.int(section, "max_length") {
                    None => DEFAULT_MAX_LENGTH,
                    Some((n, span)) => match usize::try_from(n) {
                        Ok(n) if (1..=MAX_VALUE_BYTES).contains(&n) => n,
                        _ => {
                            self.error(
                                span,
                                section.field("max_length"),
                                format!("{n} is out of range: use 1–{MAX_VALUE_BYTES}"),
                            );
                            return None;
                        }
                    },
                };
                Kind::String {
                    pattern: self.pattern(section),
                    max_length,
                }
            }
            "int" => {
                let min = self.int(section, "min");
                let max = self.int(section, "max");
                if let (Some((lo, _)), Some((hi, span))) = (&min, &max)
                    && hi < lo
                {
                    self.error(
                        span.clone(),
                        section.field("max"),
                        format!("{hi} is below min ({lo})"),
                    );
                }
                Kind::Int {
                    min: min.map(|(n, _)| n),
                    max: max.map(|(n, _)| n),
                }
            }
            "bool" => Kind::Bool,
            "enum" => {
                let (values, span) =
                    self.required(section, "values", "values = [\"a\", \"b\"]", |r| {
                        r.string_list(section, "values")
                    })?;
                let mut unique = values.clone();
                unique.sort();
                unique.dedup();
                if values.is_empty() || unique.len() != values.len() {
                    self.error(
                        span,
                        section.field("values"),
                        "list each value once, at least one".into(),
                    );
                }
                Kind::Enum { values }
            }
            "quantity" => {
                let (unit_text, span) =
                    self.required(section, "unit", "unit = \"memory\"", |r| {
                        r.string(section, "unit")
                    })?;
                let Some(unit) = Unit::parse(&unit_text) else {
                    self.error(
                        span,
                        section.field("unit"),
                        format!(
                            "{} is not a unit: use cpu, memory or storage",
                            quoted(&unit_text)
                        ),
                    );
                    return None;
                };
                let mut bound = |key: &str| {
                    let (text, span) = self.string(section, key)?;
                    unit.quantity(&text)
                        .map_err(|e| self.error(span, section.field(key), e.to_string()))
                        .ok()
                };
                let min = bound("min");
                let max = bound("max");
                if let (Some(lo), Some(hi)) = (&min, &max)
                    && hi.value() < lo.value()
                {
                    self.error(
                        section.span(),
                        section.field("max"),
                        format!("{hi} is below min ({lo})"),
                    );
                }
                Kind::Quantity { unit, min, max }
            }
            _ => {
                let (secret, span) =
                    self.required(section, "secret", "secret = \"PASSWORD\"", |r| {
                        r.string(section, "secret")
                    })?;
                if let Err(why) = satusky_core::validate::app_var_name(&secret, "secret name") {
                    self.error(span, section.field("secret"), why);
                }
                let length = match self.int(section, "length") {
                    None => DEFAULT_SECRET_LENGTH,
                    Some((n, span)) => {
                        let (lo, hi) = SECRET_LENGTHS;
                        if !(lo..=hi).contains(&n) {
                            self.error(
                                span,
                                section.field("length"),
                                format!("{n} is out of range: use {lo}–{hi}"),
                            );
                        }
                        n
                    }
                };
                Kind::Secret {
                    secret,
                    length: usize::try_from(length).unwrap_or(0),
                    pattern: self.pattern(section),
                }
            }
        })
    }

    /// The default, typed by the kind and checked by its rules: `Some(None)` when absent.
    fn default(
        &mut self,
        name: &str,
        section: &Section<'_, '_>,
        kind: &Kind,
    ) -> Option<Option<Value>> {
        let Some(value) = section.table.get("default") else {
            return Some(None);
        };
        let field = section.field("default");
        let text = match (kind, value.get_ref()) {
            (Kind::Secret { .. }, _) => {
                self.error(
                    value.span(),
                    field,
                    "a secret has no default (a default in the catalog is public): leave it out \
                     and one is generated"
                        .into(),
                );
                return None;
            }
            (Kind::Int { .. }, DeValue::Integer(_)) => self.int(section, "default")?.0.to_string(),
            (Kind::Bool, DeValue::Boolean(b)) => b.to_string(),
            (Kind::Int { .. } | Kind::Bool, _) => {
                let expected = if matches!(kind, Kind::Bool) {
                    "true or false"
                } else {
                    "a whole number"
                };
                self.error(
                    value.span(),
                    field,
                    format!("expected {expected}, found {}", value.get_ref().type_str()),
                );
                return None;
            }
            (_, DeValue::String(s)) => s.to_string(),
            (_, other) => {
                self.error(
                    value.span(),
                    field,
                    format!("expected a string, found {}", other.type_str()),
                );
                return None;
            }
        };
        let param = Parameter {
            name: name.to_owned(),
            description: String::new(),
            kind: kind.clone(),
            required: false,
            default: None,
        };
        match check_value(&param, &text) {
            Ok(v) => Some(Some(v)),
            Err(message) => {
                self.error(value.span(), field, message);
                None
            }
        }
    }
}
