//! Typed reading of one key of a `satusky.toml` table: strings, quantities, whole numbers,
//! durations, lists and enums, each recording the value's span and reporting a wrong type
//! with the fix (the conversions themselves are in [`super::convert`]).

use std::time::Duration;

use satusky_types::{Expose, Strategy, VpaMode};
use toml::Spanned;
use toml::de::DeValue;

use super::convert::{ConvertError, duration_in, integer, parse_expose, parse_strategy};
use super::read::{Reader, Section, Value, section_header};
use crate::validate::limits::quoted;

impl Reader {
    pub(super) fn get<'t, 'i>(
        &mut self,
        section: &Section<'t, 'i>,
        key: &str,
    ) -> Option<(String, &'t Value<'i>)> {
        let value = section.table.get(key)?;
        let field = format!("{}.{key}", section.path);
        self.spans.insert(field.clone(), value.span());
        Some((field, value))
    }

    pub(super) fn wrong_type(
        &mut self,
        field: String,
        value: &Value<'_>,
        expected: &str,
        fix: &str,
    ) {
        let found = value.get_ref().type_str();
        let message = format!(
            "expected {expected}, found {} {found}: {fix}",
            article(found)
        );
        self.error(Some(value.span()), field, message);
    }

    pub(super) fn string(&mut self, section: &Section<'_, '_>, key: &str) -> Option<String> {
        let (field, value) = self.get(section, key)?;
        match value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.wrong_type(field, value, "a string", "put the value in double quotes");
                None
            }
        }
    }

    /// A Kubernetes quantity: a string, or a bare number (`cpu = 2`, `cpu = 0.5`) taken as written.
    pub(super) fn quantity(&mut self, section: &Section<'_, '_>, key: &str) -> Option<String> {
        let (field, value) = self.get(section, key)?;
        match value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            DeValue::Integer(i) if i.radix() == 10 => Some(i.as_str().to_owned()),
            DeValue::Float(f) => Some(f.as_str().to_owned()),
            _ => {
                self.wrong_type(
                    field,
                    value,
                    "a quantity string",
                    "write it in quotes, e.g. \"256Mi\" or \"250m\"",
                );
                None
            }
        }
    }

    /// An integer or a percentage: `max_surge = 1`, `max_surge = "25%"`.
    pub(super) fn int_or_string(&mut self, section: &Section<'_, '_>, key: &str) -> Option<String> {
        let (field, value) = self.get(section, key)?;
        match value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            DeValue::Integer(_) => integer(value.get_ref()).map(|i| i.to_string()),
            _ => {
                self.wrong_type(
                    field,
                    value,
                    "an integer or a percentage",
                    "write e.g. 1 or \"25%\"",
                );
                None
            }
        }
    }

    pub(super) fn uint(
        &mut self,
        section: &Section<'_, '_>,
        key: &str,
        min: u64,
        max: u64,
        range: &str,
    ) -> Option<u64> {
        let (field, value) = self.get(section, key)?;
        let Some(n) = integer(value.get_ref()) else {
            self.wrong_type(field, value, "a whole number", "remove the quotes");
            return None;
        };
        match u64::try_from(n) {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.error(
                    Some(value.span()),
                    field,
                    format!("{n} is out of range: {range}"),
                );
                None
            }
        }
    }

    pub(super) fn small_uint(
        &mut self,
        section: &Section<'_, '_>,
        key: &str,
        range: &str,
    ) -> Option<u32> {
        let n = self.uint(section, key, 0, u64::from(u32::MAX), range)?;
        u32::try_from(n).ok()
    }

    pub(super) fn duration(
        &mut self,
        section: &Section<'_, '_>,
        key: &str,
        unit: fn(Duration) -> Result<u64, ConvertError>,
    ) -> Option<u64> {
        let (field, value) = self.get(section, key)?;
        let DeValue::String(s) = value.get_ref() else {
            self.wrong_type(
                field,
                value,
                "a duration string",
                "write it with a unit in quotes, e.g. \"2s\" or \"10m\"",
            );
            return None;
        };
        match duration_in(s, unit) {
            Ok(n) => Some(n),
            Err(e) => {
                self.error(Some(value.span()), field, e.to_string());
                None
            }
        }
    }

    pub(super) fn string_list(
        &mut self,
        section: &Section<'_, '_>,
        key: &str,
    ) -> Option<Vec<String>> {
        let (field, value) = self.get(section, key)?;
        let items = match value.get_ref() {
            DeValue::Array(items) => items
                .iter()
                .map(|i| i.get_ref().as_str().map(str::to_owned))
                .collect(),
            _ => None,
        };
        if items.is_none() {
            let message = format!(
                "expected an array of strings: write the program and its arguments separately, e.g. {key} = [\"./server\", \"--verbose\"]"
            );
            self.error(Some(value.span()), field, message);
        }
        items
    }

    pub(super) fn strategy(&mut self, section: &Section<'_, '_>) -> Option<Strategy> {
        let raw = self.string(section, "strategy")?;
        parse_strategy(&raw)
            .map_err(|e| {
                self.error(
                    section.table.get("strategy").map(Spanned::span),
                    "deploy.strategy".into(),
                    e.to_string(),
                )
            })
            .ok()
    }

    /// `[app] expose`: `"http"`, `"tcp"` or `"none"` (any case).
    pub(super) fn expose(&mut self, section: &Section<'_, '_>) -> Option<Expose> {
        let raw = self.string(section, "expose")?;
        parse_expose(&raw)
            .map_err(|e| {
                self.error(
                    section.table.get("expose").map(Spanned::span),
                    format!("{}.expose", section.path),
                    e.to_string(),
                )
            })
            .ok()
    }

    pub(super) fn vpa_mode(&mut self, section: &Section<'_, '_>, key: &str) -> Option<VpaMode> {
        let raw = self.string(section, key)?;
        let mode = match raw.to_ascii_lowercase().as_str() {
            "off" => Some(VpaMode::Off),
            "initial" => Some(VpaMode::Initial),
            "auto" => Some(VpaMode::Auto),
            _ => None,
        };
        if mode.is_none() {
            let message = format!(
                "{} is not a VPA mode: use \"Off\", \"Initial\" or \"Auto\"",
                quoted(&raw)
            );
            self.error(
                section.table.get(key).map(Spanned::span),
                format!("{}.{key}", section.path),
                message,
            );
        }
        mode
    }

    /// A key without a default: reports it missing (at the section header) when absent.
    pub(super) fn required<'t, 'i, T>(
        &mut self,
        section: &Section<'t, 'i>,
        key: &str,
        example: &str,
        read: impl FnOnce(&mut Self, &Section<'t, 'i>, &str) -> Option<T>,
    ) -> Option<T> {
        if let Some(v) = read(self, section, key) {
            return Some(v);
        }
        let field = format!("{}.{key}", section.path);
        if section.table.get(key).is_none() {
            let header = section_header(section.path.split('[').next().unwrap_or_default());
            let span = self.spans.get(&section.path).cloned();
            self.error(
                span,
                field.clone(),
                format!("missing: add {example} under {header}"),
            );
        }
        self.errored.insert(field);
        None
    }
}

fn article(type_name: &str) -> &'static str {
    if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}
