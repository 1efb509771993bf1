//! Parameter values: checking one against its parameter's rules, checking the `--set`
//! values of a deploy (unknown names with a did-you-mean, twice, too many, too long, wrong
//! kind, not in the enum, out of bounds, pattern), and what is stored between deploys.
//!
//! Errors are the config reader's: one [`Diagnostic`] per problem, the field naming the
//! parameter (`--set memory` for a given value, `memory` for a stored or missing one) and the
//! message the rule — so a bad `--set` reads like a bad flag of `1ctl deploy` (exit 2).
//! A secret's value is never quoted in a message.

use std::collections::{BTreeMap, HashSet};

use satusky_core::config::suggest;
use satusky_core::secrets::SecretValue;
use satusky_core::validate::limits::{KIB, format_size, quoted, shortened};
use satusky_core::{ConfigError, Diagnostic};

use crate::diag::unlocated;
use crate::model::{Kind, Parameter, Template, Value};

/// `--set` values one deploy may give: templates have a handful of parameters.
pub const MAX_SET_VALUES: usize = 64;
/// One parameter value, in bytes (names, sizes, passwords: all short). Longer data belongs in
/// the app's env or secrets, set directly.
pub const MAX_VALUE_BYTES: usize = 4 * KIB;

/// A parameter's value as stored with the app between deploys (a secret sealed by the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredValue {
    Plain(String),
    Secret(SecretValue),
}

impl StoredValue {
    /// The value's text (a secret's included: only for checking and resolving it).
    pub fn text(&self) -> &str {
        match self {
            StoredValue::Plain(s) => s,
            StoredValue::Secret(s) => s.expose(),
        }
    }

    pub fn is_secret(&self) -> bool {
        matches!(self, StoredValue::Secret(_))
    }

    pub(crate) fn of(value: &Value) -> Self {
        match value {
            Value::Secret(s) => StoredValue::Secret(s.clone()),
            other => StoredValue::Plain(other.text()),
        }
    }
}

/// An app's stored parameters, by name.
pub type StoredParameters = BTreeMap<String, StoredValue>;

/// `lo–hi`, `at least lo` or `at most hi`.
fn bounds<T: std::fmt::Display>(min: Option<&T>, max: Option<&T>) -> String {
    match (min, max) {
        (Some(lo), Some(hi)) => format!("use {lo}–{hi}"),
        (Some(lo), None) => format!("use at least {lo}"),
        (None, Some(hi)) => format!("use at most {hi}"),
        (None, None) => String::new(),
    }
}

/// `raw` checked against `param`'s kind and rules: the typed value, or what is wrong (a
/// message that names the rule; a secret's value is never quoted).
pub fn check_value(param: &Parameter, raw: &str) -> Result<Value, String> {
    if raw.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "the value is {}; a parameter value is at most {}",
            format_size(raw.len()),
            format_size(MAX_VALUE_BYTES)
        ));
    }
    match &param.kind {
        Kind::String {
            pattern,
            max_length,
        } => {
            let length = raw.chars().count();
            if length > *max_length {
                return Err(format!(
                    "is {length} characters; {} takes at most {max_length}",
                    param.name
                ));
            }
            if let Some(p) = pattern
                && !p.matches(raw)
            {
                return Err(format!("{} does not match the pattern {p}", quoted(raw)));
            }
            Ok(Value::Text(raw.to_owned()))
        }
        Kind::Int { min, max } => {
            let Ok(n) = raw.parse::<i64>() else {
                return Err(format!(
                    "expected a whole number, found {}: e.g. {}=2",
                    quoted(raw),
                    param.name
                ));
            };
            if min.is_some_and(|lo| n < lo) || max.is_some_and(|hi| n > hi) {
                return Err(format!(
                    "{n} is out of range: {}",
                    bounds(min.as_ref(), max.as_ref())
                ));
            }
            Ok(Value::Int(n))
        }
        Kind::Bool => match raw {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("expected true or false, found {}", quoted(raw))),
        },
        Kind::Enum { values } => {
            if values.iter().any(|v| v == raw) {
                return Ok(Value::Text(raw.to_owned()));
            }
            let hint = suggest(raw, values.iter().map(String::as_str))
                .map(|s| format!(" (did you mean {s:?}?)"))
                .unwrap_or_default();
            Err(format!(
                "{} is not one of: {}{hint}",
                quoted(raw),
                values.join(", ")
            ))
        }
        Kind::Quantity { unit, min, max } => {
            let q = unit.quantity(raw).map_err(|e| e.to_string())?;
            let below = min.as_ref().is_some_and(|lo| q.value() < lo.value());
            let above = max.as_ref().is_some_and(|hi| q.value() > hi.value());
            if below || above {
                return Err(format!(
                    "{q} is out of range: {}",
                    bounds(min.as_ref(), max.as_ref())
                ));
            }
            Ok(Value::Text(q.text().to_owned()))
        }
        Kind::Secret { pattern, .. } => {
            if raw.is_empty() {
                return Err("is empty: give a value, or leave it out to have one generated".into());
            }
            if raw.chars().any(char::is_control) {
                return Err("holds a control character (the value is not shown)".into());
            }
            if let Some(p) = pattern
                && !p.matches(raw)
            {
                return Err(format!(
                    "does not match the pattern {p} (the value is not shown)"
                ));
            }
            Ok(Value::Secret(SecretValue::new(raw)))
        }
    }
}

/// The field of a given value in diagnostics.
pub(crate) fn set_field(name: &str) -> String {
    format!("--set {}", shortened(name))
}

/// Checks the `--set NAME=VALUE` pairs of a deploy against `template`'s parameters: every
/// problem found, or the typed values by name. Missing required parameters are not judged
/// here (an earlier deploy may have stored them): see `resolve`.
pub fn check_values(
    template: &Template,
    given: &[(String, String)],
) -> Result<BTreeMap<String, Value>, ConfigError> {
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    if given.len() > MAX_SET_VALUES {
        diagnostics.push(unlocated(
            "--set".into(),
            format!(
                "{} values given; a deploy takes at most {MAX_SET_VALUES}",
                given.len()
            ),
        ));
        return Err(ConfigError { diagnostics });
    }
    let mut values = BTreeMap::new();
    let mut seen = HashSet::new();
    for (name, raw) in given {
        let field = set_field(name);
        if !seen.insert(name.as_str()) {
            diagnostics.push(unlocated(
                field,
                "given twice: give each parameter once".into(),
            ));
            continue;
        }
        let Some(param) = template.parameter(name) else {
            diagnostics.push(unlocated(field, unknown(template, name)));
            continue;
        };
        match check_value(param, raw) {
            Ok(value) => {
                values.insert(name.clone(), value);
            }
            Err(message) => diagnostics.push(unlocated(field, message)),
        }
    }
    if diagnostics.is_empty() {
        Ok(values)
    } else {
        Err(ConfigError { diagnostics })
    }
}

/// The message for a parameter `template` does not have.
fn unknown(template: &Template, name: &str) -> String {
    let known: Vec<&str> = template
        .parameters
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    let reference = &template.reference;
    if known.is_empty() {
        return format!(
            "unknown parameter {}: {reference} takes no parameters",
            quoted(name)
        );
    }
    match suggest(name, known.iter().copied()) {
        Some(s) => format!(
            "unknown parameter {} of {reference}: did you mean {s:?}?",
            quoted(name)
        ),
        None => format!(
            "unknown parameter {} of {reference}: it takes {}",
            quoted(name),
            known.join(", ")
        ),
    }
}
