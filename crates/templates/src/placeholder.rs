//! `{name}` placeholders in a template's texts, and replacing them.
//!
//! A placeholder is `{` + a lowercase name (`[a-z][a-z0-9_]*`) + `}`; anything else with
//! braces is plain text (`${PORT}`, inline tables `{ a = 1 }`). To write a literal
//! `{lowercase}`, use `\u007B` in a TOML string.
//!
//! In an app part (TOML) a placeholder is either inside a `"…"` string — replaced by the value
//! escaped for that string — or bare (`replicas = {replicas}`) — replaced by a TOML literal
//! of the value (a number, `true`/`false`, or a quoted string). Placeholders in `'…'` strings
//! are refused (a literal string cannot escape a value); comments are left alone. Other texts
//! (outputs, static-site settings) are plain: the value is inserted as it is.
//!
//! Replacing keeps a map from the result back to the template, so the config reader's
//! positions can be reported in the template file. Owns no rules about which names exist.

use std::ops::Range;

/// Where a placeholder sits in a TOML text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Outside any string: the value becomes a TOML literal.
    Bare,
    /// Inside a basic (`"…"` or `"""…"""`) string: the value is escaped for it.
    InString,
    /// In a plain (non-TOML) text.
    Plain,
}

/// One placeholder: its name and its byte range (braces included) in the scanned text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placeholder {
    pub name: String,
    pub range: Range<usize>,
    pub slot: Slot,
}

/// A placeholder where none can be replaced (in a `'…'` string): its range and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Misplaced {
    pub range: Range<usize>,
    pub message: String,
}

/// `{name}` at byte `i` of `text`: the name and the end of the closing brace.
fn placeholder_at(text: &str, i: usize) -> Option<(&str, usize)> {
    let rest = text.get(i..)?.strip_prefix('{')?;
    let len = rest
        .bytes()
        .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
        .count();
    let name = &rest[..len];
    let starts_well = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    (starts_well && rest[len..].starts_with('}')).then_some((name, i + 1 + len + 1))
}

/// The placeholders of a plain text.
pub(crate) fn scan_plain(text: &str) -> Vec<Placeholder> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if let Some((name, end)) = placeholder_at(text, i) {
            found.push(Placeholder {
                name: name.to_owned(),
                range: i..end,
                slot: Slot::Plain,
            });
            i = end;
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    found
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Normal,
    Comment,
    Basic,
    MultiBasic,
    Literal,
    MultiLiteral,
}

/// The placeholders of a TOML text, and those placed where they cannot be replaced. The
/// text need not be valid TOML before replacing (bare placeholders are not TOML).
pub(crate) fn scan_toml(text: &str) -> (Vec<Placeholder>, Vec<Misplaced>) {
    let mut found = Vec::new();
    let mut misplaced = Vec::new();
    let mut state = State::Normal;
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let step = rest.chars().next().map_or(1, char::len_utf8);
        match state {
            State::Comment if rest.starts_with('\n') => {
                state = State::Normal;
            }
            State::Normal
            | State::Basic
            | State::MultiBasic
            | State::Literal
            | State::MultiLiteral
                if rest.starts_with('{') =>
            {
                if let Some((name, end)) = placeholder_at(text, i) {
                    match state {
                        State::Literal | State::MultiLiteral => misplaced.push(Misplaced {
                            range: i..end,
                            message: format!(
                                "{{{name}}} is in a '…' string, which cannot hold an escaped \
                                 value: use a \"…\" string"
                            ),
                        }),
                        _ => found.push(Placeholder {
                            name: name.to_owned(),
                            range: i..end,
                            slot: if state == State::Normal {
                                Slot::Bare
                            } else {
                                Slot::InString
                            },
                        }),
                    }
                    i = end;
                    continue;
                }
            }
            State::Normal => {
                let (next, len) = if rest.starts_with("\"\"\"") {
                    (State::MultiBasic, 3)
                } else if rest.starts_with("'''") {
                    (State::MultiLiteral, 3)
                } else if rest.starts_with('"') {
                    (State::Basic, 1)
                } else if rest.starts_with('\'') {
                    (State::Literal, 1)
                } else if rest.starts_with('#') {
                    (State::Comment, 1)
                } else {
                    (State::Normal, step)
                };
                state = next;
                i += len;
                continue;
            }
            State::Basic | State::MultiBasic if rest.starts_with('\\') => {
                // Skip the escaped character (it may be a quote).
                i += 1 + text[i + 1..].chars().next().map_or(0, char::len_utf8);
                continue;
            }
            State::Basic if rest.starts_with('"') || rest.starts_with('\n') => {
                state = State::Normal;
            }
            State::Literal if rest.starts_with('\'') || rest.starts_with('\n') => {
                state = State::Normal;
            }
            State::MultiBasic if rest.starts_with("\"\"\"") => {
                state = State::Normal;
                i += 3;
                continue;
            }
            State::MultiLiteral if rest.starts_with("'''") => {
                state = State::Normal;
                i += 3;
                continue;
            }
            _ => {}
        }
        i += step;
    }
    (found, misplaced)
}

/// `value` as the content of a TOML basic string.
pub(crate) fn toml_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// One replaced placeholder: where its value is in the result, where it was in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edit {
    out: Range<usize>,
    input: Range<usize>,
    name: String,
}

/// A text with its placeholders replaced, and the way back to the input.
#[derive(Debug, Clone)]
pub(crate) struct Replaced {
    pub text: String,
    edits: Vec<Edit>,
}

/// Replaces each of `placeholders` (in text order, as scanned from `text`) by what `value`
/// gives for it.
pub(crate) fn replace(
    text: &str,
    placeholders: &[Placeholder],
    mut value: impl FnMut(&Placeholder) -> String,
) -> Replaced {
    let mut out = String::with_capacity(text.len());
    let mut edits = Vec::with_capacity(placeholders.len());
    let mut at = 0;
    for p in placeholders {
        out.push_str(&text[at..p.range.start]);
        let start = out.len();
        out.push_str(&value(p));
        edits.push(Edit {
            out: start..out.len(),
            input: p.range.clone(),
            name: p.name.clone(),
        });
        at = p.range.end;
    }
    out.push_str(&text[at..]);
    Replaced { text: out, edits }
}

impl Replaced {
    /// The input offset of the result's byte `offset`, and the placeholder whose value holds
    /// it (its start in the input), if any.
    pub(crate) fn source_of(&self, offset: usize) -> (usize, Option<&str>) {
        let mut shift: isize = 0;
        for e in &self.edits {
            if offset < e.out.start {
                break;
            }
            if offset < e.out.end.max(e.out.start + 1) {
                return (e.input.start, Some(&e.name));
            }
            shift += isize::try_from(e.input.len()).unwrap_or(0)
                - isize::try_from(e.out.len()).unwrap_or(0);
        }
        (offset.saturating_add_signed(shift), None)
    }

    /// The placeholders whose values start within `range` of the result, each named once.
    pub(crate) fn names_in(&self, range: Range<usize>) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for e in self.edits.iter().filter(|e| range.contains(&e.out.start)) {
            if !names.contains(&e.name.as_str()) {
                names.push(&e.name);
            }
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(found: &[Placeholder]) -> Vec<(&str, Slot)> {
        found.iter().map(|p| (p.name.as_str(), p.slot)).collect()
    }

    #[test]
    fn toml_placeholders_know_whether_they_are_in_a_string() {
        let text = r#"
[app]
name = "{app}"          # {not_this}
replicas = {replicas}
command = ["sh", "-c", "exec x --port \"$PORT\" --dir ${DIR} {flag}"]
env = { A = 1 }
lit = 'no {subst} here'
multi = """
a {app} b
"""
"#;
        let (found, misplaced) = scan_toml(text);
        assert_eq!(
            names(&found),
            [
                ("app", Slot::InString),
                ("replicas", Slot::Bare),
                ("flag", Slot::InString),
                ("app", Slot::InString),
            ]
        );
        assert_eq!(misplaced.len(), 1);
        assert_eq!(&text[misplaced[0].range.clone()], "{subst}");
        assert!(misplaced[0].message.contains("\"…\" string"));
    }

    #[test]
    fn braces_that_are_not_placeholders_are_text() {
        for text in [
            "${PORT}",
            "{ a = 1 }",
            "{}",
            "{A}",
            "{9a}",
            "{a-b}",
            "{a b}",
            "{",
        ] {
            assert!(scan_plain(text).is_empty(), "{text}");
        }
        let found = scan_plain("postgres://{user}:{password}@{host}:{port}/{database}");
        let found: Vec<&str> = found.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(found, ["user", "password", "host", "port", "database"]);
    }

    #[test]
    fn escaping_keeps_a_value_inside_its_string() {
        assert_eq!(toml_escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(toml_escape("x\ny\u{7}"), "x\\ny\\u0007");
        let text = "v = \"{v}\"";
        let (found, _) = scan_toml(text);
        let out = replace(text, &found, |_| toml_escape("\" \n[evil]"));
        let parsed: toml::Table = toml::from_str(&out.text).unwrap();
        assert_eq!(parsed["v"].as_str(), Some("\" \n[evil]"));
    }

    #[test]
    fn positions_map_back_through_replacements() {
        let text = "ab{x}cd{yy}ef";
        let found = scan_plain(text);
        let out = replace(text, &found, |p| {
            if p.name == "x" { "1" } else { "22222" }.to_owned()
        });
        assert_eq!(out.text, "ab1cd22222ef");
        assert_eq!(out.source_of(0), (0, None));
        assert_eq!(out.source_of(2), (2, Some("x")));
        assert_eq!(out.source_of(3), (5, None)); // 'c'
        assert_eq!(out.source_of(7), (7, Some("yy")));
        assert_eq!(out.source_of(10), (11, None)); // 'e'
        assert_eq!(out.names_in(0..12), ["x", "yy"]);
        assert_eq!(out.names_in(3..12), ["yy"]);
        assert!(out.names_in(10..12).is_empty());
        // An empty value still maps its position to the placeholder.
        let out = replace(text, &found, |_| String::new());
        assert_eq!(out.text, "abcdef");
        assert_eq!(out.source_of(2), (2, Some("x")));
    }
}
