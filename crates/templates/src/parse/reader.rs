//! Typed reading of one key of a template's table — strings, whole numbers, booleans, lists
//! of strings, multi-line app parts — recording each problem with its span and field, in the
//! wording of the `satusky.toml` reader.

use satusky_core::config::suggest;
use satusky_core::validate::limits::quoted;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diag::Located;

pub(super) type Value<'i> = Spanned<DeValue<'i>>;
pub(super) type Span = std::ops::Range<usize>;

/// One table of the file, with the path its keys are reported under and its span.
#[derive(Clone, Copy)]
pub(super) struct Section<'t, 'i> {
    pub path: &'t str,
    pub table: &'t DeTable<'i>,
    pub span: (usize, usize),
}

impl Section<'_, '_> {
    pub fn span(&self) -> Span {
        self.span.0..self.span.1
    }

    pub fn field(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }
}

#[derive(Debug, Default)]
pub(super) struct Reader {
    pub found: Vec<Located>,
}

impl Reader {
    pub fn error(&mut self, span: Span, field: String, message: String) {
        self.found.push(Located {
            span,
            field,
            message,
        });
    }

    fn wrong_type(&mut self, field: String, value: &Value<'_>, expected: &str) {
        let found = value.get_ref().type_str();
        self.error(
            value.span(),
            field,
            format!("expected {expected}, found {found}"),
        );
    }

    /// The value of `path` as a table, or an error.
    pub fn table<'t, 'i>(
        &mut self,
        path: &'t str,
        value: &'t Value<'i>,
    ) -> Option<Section<'t, 'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(Section {
                path,
                table,
                span: (value.span().start, value.span().end),
            }),
            _ => {
                self.error(
                    value.span(),
                    path.to_owned(),
                    format!("must be a section: write [{path}] on its own line, then its keys"),
                );
                None
            }
        }
    }

    /// Reports every key of `section` not in `known`, suggesting the closest one.
    pub fn unknown_keys(&mut self, section: &Section<'_, '_>, known: &[&str]) {
        for (key, _) in section.table.iter() {
            let name = key.get_ref().as_ref();
            if known.contains(&name) {
                continue;
            }
            let message = match suggest(name, known.iter().copied()) {
                Some(s) => format!(
                    "unknown key {} in [{}]: did you mean {s:?}?",
                    quoted(name),
                    section.path
                ),
                None => format!(
                    "unknown key {} in [{}]: expected one of {}",
                    quoted(name),
                    section.path,
                    known.join(", ")
                ),
            };
            self.error(key.span(), section.field(name), message);
        }
    }

    pub fn string(&mut self, section: &Section<'_, '_>, key: &str) -> Option<(String, Span)> {
        let value = section.table.get(key)?;
        match value.get_ref() {
            DeValue::String(s) => Some((s.to_string(), value.span())),
            _ => {
                self.wrong_type(section.field(key), value, "a string");
                None
            }
        }
    }

    /// A key that must be there: reports it missing at the section's header.
    pub fn required<T>(
        &mut self,
        section: &Section<'_, '_>,
        key: &str,
        example: &str,
        read: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<T> {
        if section.table.get(key).is_none() {
            self.error(
                section.span(),
                section.field(key),
                format!("missing: add {example} under [{}]", section.path),
            );
            return None;
        }
        read(self)
    }

    pub fn int(&mut self, section: &Section<'_, '_>, key: &str) -> Option<(i64, Span)> {
        let value = section.table.get(key)?;
        let parsed = value
            .get_ref()
            .as_integer()
            .and_then(|i| i64::from_str_radix(i.as_str(), i.radix()).ok());
        match parsed {
            Some(n) => Some((n, value.span())),
            None if value.get_ref().is_integer() => {
                self.error(
                    value.span(),
                    section.field(key),
                    "the number is too large".into(),
                );
                None
            }
            None => {
                self.wrong_type(section.field(key), value, "a whole number");
                None
            }
        }
    }

    pub fn bool(&mut self, section: &Section<'_, '_>, key: &str) -> Option<bool> {
        let value = section.table.get(key)?;
        match value.get_ref().as_bool() {
            Some(b) => Some(b),
            None => {
                self.wrong_type(section.field(key), value, "true or false");
                None
            }
        }
    }

    pub fn string_list(
        &mut self,
        section: &Section<'_, '_>,
        key: &str,
    ) -> Option<(Vec<String>, Span)> {
        let value = section.table.get(key)?;
        let items: Option<Vec<String>> = value.get_ref().as_array().and_then(|items| {
            items
                .iter()
                .map(|i| i.get_ref().as_str().map(str::to_owned))
                .collect()
        });
        if items.is_none() {
            self.wrong_type(section.field(key), value, "an array of strings");
        }
        items.map(|items| (items, value.span()))
    }

    /// An app part: a multi-line literal string (`'''…'''`), so that its text is the
    /// `satusky.toml` exactly as written and positions in it are positions in the file.
    /// Returns the text and the byte offset of its first character in `file`.
    pub fn config(
        &mut self,
        file: &str,
        section: &Section<'_, '_>,
        key: &str,
    ) -> Option<(String, usize)> {
        let value = section.table.get(key)?;
        let span = value.span();
        let raw = file.get(span.clone()).unwrap_or_default();
        let Some(after) = raw.strip_prefix("'''") else {
            self.error(
                span,
                section.field(key),
                "write the app part between ''' and ''' (a multi-line literal string: its text \
                 is the satusky.toml as it is, escapes included)"
                    .into(),
            );
            return None;
        };
        let newline = if after.starts_with("\r\n") {
            2
        } else {
            usize::from(after.starts_with('\n'))
        };
        let text = value.get_ref().as_str()?.to_owned();
        Some((text, span.start + 3 + newline))
    }
}
