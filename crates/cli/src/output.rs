//! Printing: pretty JSON of the wire types (SPEC §5 shapes) and comfy-table tables.
//!
//! Tables are plain (kubectl-like) and coloured only on a terminal without `NO_COLOR`.
//! Writes ignore a closed stdout (`1ctl app list | head`) instead of panicking.

use std::io::{IsTerminal, Write};

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use satusky_types::PlaneState;
use serde::Serialize;

use crate::exit::CliError;

/// Prints `text` and a newline on stdout.
pub fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
}

/// Prints a progress or note line on stderr.
pub fn note(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// Prints one pretty JSON document on stdout.
pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Unexpected(format!("cannot encode JSON: {e}")))?;
    line(&text);
    Ok(())
}

/// Whether stdout gets colours.
pub fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// Whether stderr is a terminal that can take a live (redrawn) progress display.
pub fn stderr_is_live() -> bool {
    std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// A table with a header row, styled for the terminal (or not).
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(Cell::new));
    if !colour() {
        t.force_no_tty();
    }
    t
}

/// Prints a table without the preset's one-space left margin and trailing blanks.
pub fn print_table(t: &Table) {
    for row in t.lines() {
        let row = row.strip_prefix(' ').unwrap_or(&row);
        line(row.trim_end());
    }
}

/// A cell for a plane state, coloured by how good it is.
pub fn state_cell(state: PlaneState) -> Cell {
    let cell = Cell::new(state.as_str());
    match state {
        PlaneState::Ready => cell.fg(Color::Green),
        PlaneState::NotApplicable => cell.fg(Color::DarkGrey),
        PlaneState::Failed => cell.fg(Color::Red),
        PlaneState::Pending | PlaneState::InProgress => cell.fg(Color::Yellow),
        PlaneState::Unknown => cell,
    }
}

/// `v5`, or `-` when there is none.
pub fn version(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("v{v}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_plain_without_a_terminal() {
        let mut t = table(&["NAME", "STATE"]);
        t.add_row(vec![Cell::new("api"), state_cell(PlaneState::Ready)]);
        let text = t.to_string();
        assert!(text.contains("NAME"), "{text}");
        assert!(text.contains("ready"), "{text}");
        assert!(
            !text.contains('\u{1b}'),
            "no escape codes off a terminal: {text:?}"
        );
    }

    #[test]
    fn versions_print_with_a_v() {
        assert_eq!(version(Some(3)), "v3");
        assert_eq!(version(None), "-");
    }
}
