//! Turning problems found in a template's text into the config reader's diagnostics
//! (`satusky_core::Diagnostic`: file, line:col, field, message), so a template and a
//! `satusky.toml` report alike — and `--set` values too, as flags are (no position).

use std::ops::Range;

use satusky_core::{ConfigError, Diagnostic};

/// One problem, at a byte range of the template's text.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    pub span: Range<usize>,
    pub field: String,
    pub message: String,
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The byte offset of a 1-based line and column (in characters); the end of the text when
/// past it.
pub(crate) fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    text[start..]
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(text.len(), |(i, _)| start + i)
}

/// A diagnostic at `offset` of the file `path` holding `text`.
pub(crate) fn at(
    path: &str,
    text: &str,
    offset: usize,
    field: String,
    message: String,
) -> Diagnostic {
    let (line, column) = line_column(text, offset);
    Diagnostic {
        file: Some(path.into()),
        line,
        column,
        field,
        message,
    }
}

/// A problem without a position: a `--set` value or a stored parameter.
pub(crate) fn unlocated(field: String, message: String) -> Diagnostic {
    Diagnostic {
        file: None,
        line: 0,
        column: 0,
        field,
        message,
    }
}

/// Every problem of one file, in text order.
pub(crate) fn file_error(path: &str, text: &str, found: Vec<Located>) -> ConfigError {
    let mut diagnostics: Vec<Diagnostic> = found
        .into_iter()
        .map(|f| at(path, text, f.span.start, f.field, f.message))
        .collect();
    diagnostics.sort_by_key(|d| (d.line, d.column));
    ConfigError { diagnostics }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_round_trip() {
        let text = "ab\nçd\n\nx";
        for offset in [0, 1, 3, 5, 6, 7, 8] {
            let (line, column) = line_column(text, offset);
            assert_eq!(offset_of(text, line, column), offset, "{offset}");
        }
        assert_eq!(line_column(text, 5), (2, 2));
        assert_eq!(offset_of(text, 9, 1), text.len());
    }
}
