//! The YAML text of an encrypted Secret.
//!
//! The MAC covers every value as sops reads it back with Go's YAML decoder, so each scalar must
//! come back with the type and bytes it was hashed with. A general-purpose serializer decides
//! quoting by its own resolver, which differs from Go's at the edges (`1_000`, `0o17`, YAML 1.1
//! booleans); here a string is written plain only when it cannot be read as anything but that
//! string, and double-quoted otherwise. Multi-line strings that fit (the armored age files) are
//! literal blocks, as sops writes them.

use std::fmt::Write;

use serde_json::{Map, Number, Value};

const INDENT: usize = 2;

/// The document: a mapping at the top level, keys in the order given, ending with a newline.
pub(super) fn document(document: &Map<String, Value>) -> Vec<u8> {
    let mut out = String::new();
    mapping(&mut out, document, 0);
    out.into_bytes()
}

fn mapping(out: &mut String, entries: &Map<String, Value>, indent: usize) {
    for (key, value) in entries {
        pad(out, indent);
        entry(out, key, value, indent);
    }
}

/// `key: value` at the current position; nested collections continue on the next lines.
fn entry(out: &mut String, key: &str, value: &Value, indent: usize) {
    scalar_text(out, key);
    out.push(':');
    match value {
        Value::Object(entries) if !entries.is_empty() => {
            out.push('\n');
            mapping(out, entries, indent + INDENT);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            sequence(out, items, indent + INDENT);
        }
        other => {
            out.push(' ');
            leaf(out, other, indent + INDENT);
        }
    }
}

fn sequence(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        pad(out, indent);
        out.push('-');
        match item {
            Value::Object(entries) if !entries.is_empty() => {
                // The first key shares the dash's line; the others align with it.
                for (position, (key, value)) in entries.iter().enumerate() {
                    if position == 0 {
                        out.push(' ');
                    } else {
                        pad(out, indent + INDENT);
                    }
                    entry(out, key, value, indent + INDENT);
                }
            }
            Value::Array(nested) if !nested.is_empty() => {
                out.push('\n');
                sequence(out, nested, indent + INDENT);
            }
            other => {
                out.push(' ');
                leaf(out, other, indent + INDENT);
            }
        }
    }
}

/// A scalar or an empty collection, then the line end. `block_indent` is where the lines of a
/// literal block go.
fn leaf(out: &mut String, value: &Value, block_indent: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => number_text(out, number),
        Value::String(text) if fits_literal_block(text) => {
            out.push_str("|\n");
            for line in text[..text.len() - 1].split('\n') {
                if !line.is_empty() {
                    pad(out, block_indent);
                    out.push_str(line);
                }
                out.push('\n');
            }
            return;
        }
        Value::String(text) => scalar_text(out, text),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
    out.push('\n');
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn number_text(out: &mut String, number: &Number) {
    match number.as_f64() {
        // Go reads `1` as an integer: a float keeps a fraction so it comes back a float.
        Some(float) if !number.is_i64() && !number.is_u64() => {
            let text = float.to_string();
            out.push_str(&text);
            if !text.contains('.') {
                out.push_str(".0");
            }
        }
        _ => {
            let _ = write!(out, "{number}");
        }
    }
}

fn scalar_text(out: &mut String, text: &str) {
    if is_plain_safe(text) {
        out.push_str(text);
    } else {
        double_quoted(out, text);
    }
}

/// Plain only when it starts with a letter or `_` (so it cannot be a number, a date or
/// `.inf`), uses a small set of characters without spaces (so no `: ` or ` #`), does not end
/// in `:`, and is no YAML 1.1 or 1.2 boolean or null in any case.
fn is_plain_safe(text: &str) -> bool {
    let mut chars = text.chars();
    let first_ok = match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => true,
        Some('.') => chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_'),
        _ => false,
    };
    const RESERVED: &[&str] = &[
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", ".inf", ".nan",
    ];
    first_ok
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    '_' | '.' | '/' | '-' | '+' | '=' | ',' | ':' | '[' | ']' | '@'
                )
        })
        && !text.ends_with(':')
        && !RESERVED.iter().any(|word| text.eq_ignore_ascii_case(word))
}

/// A literal block keeps every character as is, so only text that is printable, ends with
/// exactly one line break and whose lines do not start with a blank (which would change the
/// block's indentation) is written as one.
fn fits_literal_block(text: &str) -> bool {
    text.ends_with('\n')
        && !text.ends_with("\n\n")
        && !text.starts_with('\n')
        && text.chars().all(|c| c == '\n' || !unprintable(c))
        && text.split('\n').all(|line| !line.starts_with(' '))
}

/// What a double-quoted scalar must escape: its quote, its escape character, and what a YAML
/// stream cannot carry raw.
fn needs_escape(c: char) -> bool {
    matches!(c, '"' | '\\') || unprintable(c)
}

/// Control characters (tab and line feed included), and the characters YAML readers take as
/// line breaks or byte-order marks.
fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
}

fn double_quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let _ = if (c as u32) <= 0xff {
                    write!(out, "\\x{:02x}", c as u32)
                } else {
                    write!(out, "\\u{:04x}", c as u32)
                };
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn emitted(value: Value) -> String {
        String::from_utf8(document(value.as_object().unwrap())).unwrap()
    }

    #[test]
    fn strings_that_read_back_as_something_else_are_quoted() {
        let text = emitted(json!({
            "a": "yes", "b": "1_000", "c": "0o17", "d": "1.0", "e": "2026-01-01", "f": "",
            "g": "has space", "h": "ends:", "i": ".5", "j": "Null", "k": "~",
            "l": "plain-value_1.2/x", "m": "ENC[AES256_GCM,data:QQ==,iv:Qg==,tag:Qw==,type:str]",
        }));
        assert_eq!(
            text,
            "a: \"yes\"\nb: \"1_000\"\nc: \"0o17\"\nd: \"1.0\"\ne: \"2026-01-01\"\nf: \"\"\n\
             g: \"has space\"\nh: \"ends:\"\ni: \".5\"\nj: \"Null\"\nk: \"~\"\n\
             l: plain-value_1.2/x\nm: ENC[AES256_GCM,data:QQ==,iv:Qg==,tag:Qw==,type:str]\n"
        );
    }

    #[test]
    fn nested_collections_lists_and_literal_blocks() {
        let text = emitted(json!({
            "metadata": {"name": "db", "labels": {}, "finalizers": ["a", "b"]},
            "sops": {"age": [{"recipient": "age1x", "enc": "-----BEGIN-----\nQUJD\n-----END-----\n"}]},
            "n": 1, "f": 1.0, "t": true, "z": null, "e": [],
        }));
        assert_eq!(
            text,
            "metadata:\n  name: db\n  labels: {}\n  finalizers:\n    - a\n    - b\n\
             sops:\n  age:\n    - recipient: age1x\n      enc: |\n        -----BEGIN-----\n        QUJD\n        -----END-----\n\
             \"n\": 1\nf: 1.0\nt: true\nz: null\ne: []\n"
        );
    }

    #[test]
    fn control_characters_and_quotes_are_escaped() {
        let text = emitted(json!({"v": "a\"b\\c\nd\u{7f}\u{2028}é"}));
        assert_eq!(text, "v: \"a\\\"b\\\\c\\nd\\x7f\\u2028é\"\n");
        // And a YAML reader gets the same string back.
        let back: Value = yaml_serde::from_str(&text).unwrap();
        assert_eq!(back["v"], "a\"b\\c\nd\u{7f}\u{2028}é");
    }
}
