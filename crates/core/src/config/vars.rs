//! Reading the variable sections of `satusky.toml`: `[env]` (the replicas' variables),
//! `[build.env]` (the build's) and `[secrets]` (the names of secrets a deploy needs; their
//! values are never in the file).
//!
//! Owns the TOML shape of these sections and the spans their rule errors point at (a
//! variable's key, a secret name's string). The rules themselves — names, reserved names, a
//! secret also in `[env]` — are `validate_spec`'s.

use std::collections::BTreeMap;

use satusky_types::SecretsSpec;
use toml::de::{DeTable, DeValue};

use super::convert::integer;
use super::read::{Reader, Section};
use crate::validate::limits::{build_env_field, env_field, shortened};

/// How `required` is written, for messages.
const REQUIRED_EXAMPLE: &str = "required = [\"DATABASE_URL\", \"API_KEY\"]";

impl Reader {
    /// `[env]`.
    pub(super) fn env(&mut self, section: &Section<'_, '_>) -> BTreeMap<String, String> {
        self.vars(section.table, env_field)
    }

    /// `[build.env]`: the key `env` of `[build]`, a table like `[env]`.
    pub(super) fn build_env(&mut self, build: &Section<'_, '_>) -> BTreeMap<String, String> {
        let Some((field, value)) = self.get(build, "env") else {
            return BTreeMap::new();
        };
        let DeValue::Table(table) = value.get_ref() else {
            self.wrong_type(
                field,
                value,
                "a table",
                "write [build.env] on its own line after [build], then NAME = \"value\" lines",
            );
            return BTreeMap::new();
        };
        self.vars(table, build_env_field)
    }

    /// `[secrets]`: `required`, a list of names.
    pub(super) fn secrets(&mut self, root: &DeTable<'_>) -> SecretsSpec {
        let Some(section) = self.optional_section(root, "secrets") else {
            return SecretsSpec::default();
        };
        SecretsSpec {
            required: self.names(&section, "required").unwrap_or_default(),
        }
    }

    /// A table of variables: strings, integers and booleans (the latter two as TOML writes
    /// them). Each key's span is recorded under `field_of(key)`.
    fn vars(
        &mut self,
        table: &DeTable<'_>,
        field_of: fn(&str) -> String,
    ) -> BTreeMap<String, String> {
        let mut vars = BTreeMap::new();
        for (key, value) in table.iter() {
            let name = key.get_ref().to_string();
            let field = field_of(&name);
            self.spans.insert(field.clone(), key.span());
            let text = match value.get_ref() {
                DeValue::String(s) => Some(s.to_string()),
                DeValue::Boolean(b) => Some(b.to_string()),
                DeValue::Integer(_) => integer(value.get_ref()).map(|i| i.to_string()),
                _ => None,
            };
            match text {
                Some(text) => {
                    vars.insert(name, text);
                }
                None => self.wrong_type(
                    field,
                    value,
                    "a string",
                    &format!(
                        "write {} = \"…\" (integers and booleans are also accepted)",
                        shortened(&name)
                    ),
                ),
            }
        }
        vars
    }

    /// An array of names (strings), each one's span recorded under `KEY[i]`. An item that is
    /// not a string is reported and kept as `""`, so later items keep their index.
    fn names(&mut self, section: &Section<'_, '_>, key: &str) -> Option<Vec<String>> {
        let (field, value) = self.get(section, key)?;
        let fix = format!("write {REQUIRED_EXAMPLE}");
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type(field, value, "an array of names", &fix);
            return None;
        };
        let mut names = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let item_field = format!("{field}[{i}]");
            self.spans.insert(item_field.clone(), item.span());
            match item.get_ref() {
                DeValue::String(s) => names.push(s.to_string()),
                _ => {
                    self.wrong_type(item_field, item, "a name in quotes", &fix);
                    names.push(String::new());
                }
            }
        }
        Some(names)
    }
}
