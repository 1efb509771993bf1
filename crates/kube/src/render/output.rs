//! The two text forms of a rendered set, as `satusky render` prints them: multi-document YAML
//! (`---` before each object) and a JSON `List`. Pure; byte-identical for equal input.
//!
//! The YAML is written here rather than by serde_yaml_ng on purpose: serde_yaml_ng writes YAML
//! 1.2, where `Off`, `yes`, `on`, `y`, `1_000` and `12:30` are plain strings and stay unquoted —
//! but kubectl and most Kubernetes tooling read YAML 1.1, where those are booleans and numbers
//! (a VPA's `updateMode: Off` would arrive as `false`; an env value `yes` as `true`). So every
//! string here is written plain only when it reads as that same string under both YAML 1.1
//! and 1.2, and double-quoted, with every non-printable character escaped, otherwise.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::{Object, RenderError, canonical};

/// Multi-document YAML: each object preceded by `---`, keys in sorted order.
pub fn to_yaml(objects: &[Object]) -> Result<String, RenderError> {
    let mut out = String::new();
    for object in objects {
        out.push_str("---\n");
        write_block(&mut out, object.as_value(), 0);
    }
    Ok(out)
}

/// `{"apiVersion": "v1", "kind": "List", "items": […]}`, pretty-printed, ending in a newline.
pub fn to_json_list(objects: &[Object]) -> Result<String, RenderError> {
    let mut list = Map::new();
    list.insert("apiVersion".to_owned(), Value::from("v1"));
    list.insert("kind".to_owned(), Value::from("List"));
    list.insert(
        "items".to_owned(),
        Value::Array(objects.iter().map(|o| o.as_value().clone()).collect()),
    );
    let mut text = serde_json::to_string_pretty(&canonical(Value::Object(list)))
        .map_err(RenderError::Serialize)?;
    text.push('\n');
    Ok(text)
}

/// Scalars YAML 1.1 resolves to booleans or null although 1.2 reads them as strings (and the
/// ones both resolve).
const YAML11_SPECIAL: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL",
];

/// Whether `s` can be written unquoted and read back as the same string by YAML 1.1 and 1.2:
/// it starts with a letter or `/` (so it is no number, date, time or indicator), holds only
/// letters, digits, `.`, `_`, `/`, `-`, `@` and `:` (never last, so never a key indicator),
/// and is none of the 1.1 booleans and nulls.
fn is_plain_safe(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '/')
        && chars
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-' | '@' | ':'))
        && !s.ends_with(':')
        && !YAML11_SPECIAL.contains(&s)
}

/// Plain when [`is_plain_safe`], else double-quoted with every character that is not
/// printable in YAML (controls, DEL, C1, the 1.1 line breaks NEL/LS/PS, BOM, non-characters)
/// escaped.
fn write_str(out: &mut String, s: &str) {
    if is_plain_safe(s) {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{feff}'
            | '\u{fffe}'
            | '\u{ffff}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

/// A scalar or an empty collection, written on the current line.
fn write_inline(out: &mut String, value: &Value) -> bool {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Array(_) | Value::Object(_) => return false,
    }
    true
}

/// A value in block style at `level`; the caller has written what precedes it.
fn write_block(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (i, (key, item)) in map.iter().enumerate() {
                // The first key of a mapping inside a sequence item follows its `- `.
                if i > 0 || !out.ends_with("- ") {
                    indent(out, level);
                }
                write_str(out, key);
                out.push(':');
                write_nested(out, item, level);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                if !out.ends_with("- ") {
                    indent(out, level);
                }
                out.push_str("- ");
                if !write_inline(out, item) {
                    write_block(out, item, level + 1);
                    continue;
                }
                out.push('\n');
            }
        }
        scalar => {
            write_inline(out, scalar);
            out.push('\n');
        }
    }
}

/// The value of a mapping key at `level`: inline after `: `, or a nested block. Sequences
/// under a key sit at the key's own indentation, as kubectl writes them.
fn write_nested(out: &mut String, value: &Value, level: usize) {
    out.push(' ');
    if write_inline(out, value) {
        out.push('\n');
        return;
    }
    out.pop();
    out.push('\n');
    match value {
        Value::Array(_) => write_block(out, value, level),
        _ => write_block(out, value, level + 1),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn yaml(value: &Value) -> String {
        let mut out = String::new();
        write_block(&mut out, value, 0);
        out
    }

    #[test]
    fn yaml11_ambiguous_strings_are_quoted() {
        for s in [
            "Off",
            "yes",
            "on",
            "y",
            "N",
            "1_000",
            "12:30",
            "2024-01-01",
            "0x10",
            "010",
            "~",
            "",
            "=",
            "<<",
            ".5",
            "-1",
            "a b",
            "x: y",
            "#c",
            "a:",
            "10Gi",
        ] {
            let out = yaml(&json!({ "k": s }));
            assert_eq!(
                out,
                format!("k: {}\n", serde_json::to_string(s).unwrap()),
                "{s}"
            );
        }
        for s in [
            "info",
            "apps/v1",
            "satusky.io/org",
            "my-api.example.com",
            "RollingUpdate",
            "registry.invalid/acme/web:unbuilt",
            "acme/web@v1",
            "sha256:00ff",
        ] {
            assert_eq!(yaml(&json!({ "k": s })), format!("k: {s}\n"), "{s}");
        }
        assert_eq!(yaml(&json!({"Y": "a"})), "\"Y\": a\n", "keys too");
        assert_eq!(
            yaml(&json!({"k": "a\u{7f}b\u{85}c\u{2028}\"\\"})),
            "k: \"a\\u007fb\\u0085c\\u2028\\\"\\\\\"\n",
            "non-printable characters are escaped"
        );
    }

    #[test]
    fn block_layout() {
        let value = json!({
            "a": {"b": 1, "c": [1, "x"], "d": []},
            "e": [{"f": true, "g": {"h": null}}, [2, 3]],
            "i": {},
            "j": "multi\nline",
        });
        assert_eq!(
            yaml(&value),
            "a:\n  b: 1\n  c:\n  - 1\n  - x\n  d: []\ne:\n- f: true\n  g:\n    h: null\n\
             - - 2\n  - 3\ni: {}\nj: \"multi\\nline\"\n"
        );
    }
}
