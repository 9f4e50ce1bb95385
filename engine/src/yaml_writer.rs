//! YAML text of rendered objects, written directly for the common case and byte for byte what
//! `yaml_serde::to_string` writes.
//!
//! Writing objects back out was a fifth of a large render's CPU time through `yaml_serde`'s
//! general emitter (an event stream through a port of libyaml). Kubernetes objects are mostly
//! maps, lists, integers and one-line ASCII strings; for those the emitter's choices are few and
//! are reproduced here: block style with two-space indents, lists inside maps not indented,
//! and each string plain or single-quoted by the same rules (`yaml_serde`'s guess whether the
//! string would read back as another type, then libyaml's analysis of indicators and spaces).
//! Anything else (floats, multi-line or non-ASCII strings, long keys, keys that would read as
//! tags) makes [`to_string`] return `None`, and the caller uses `yaml_serde`. A property test
//! compares the two on generated objects.

use std::fmt::Write as _;
use std::num::ParseIntError;

use serde_json::{Map, Value};

/// libyaml writes keys longer than this as complex keys (`? key`).
const MAX_SIMPLE_KEY: usize = 128;

/// What `yaml_serde::to_string(value)` gives: written here where this writer can, else by
/// `yaml_serde`.
pub(crate) fn to_yaml(value: &Value) -> Result<String, yaml_serde::Error> {
    match to_string(value) {
        Some(text) => Ok(text),
        None => yaml_serde::to_string(value),
    }
}

/// The YAML `yaml_serde::to_string(value)` gives, or `None` where `value` holds something this
/// writer leaves to `yaml_serde`.
fn to_string(value: &Value) -> Option<String> {
    let mut out = String::with_capacity(512);
    match value {
        Value::Object(map) if !map.is_empty() => write_map(map, 0, false, &mut out)?,
        Value::Array(items) if !items.is_empty() => write_list(items, 0, false, &mut out)?,
        other => {
            write_flow_or_scalar(other, &mut out)?;
            out.push('\n');
        }
    }
    // Hundreds of thousands of these are kept until they are committed.
    out.shrink_to_fit();
    Some(out)
}

fn indent(width: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', width));
}

/// A block map at `width`; `inline`: its first key follows a list item's `- `.
fn write_map(map: &Map<String, Value>, width: usize, inline: bool, out: &mut String) -> Option<()> {
    for (i, (key, value)) in map.iter().enumerate() {
        // A one-entry map whose key starts with `!` is written as a tagged value.
        if key.len() > MAX_SIMPLE_KEY || key.starts_with('!') {
            return None;
        }
        if i > 0 || !inline {
            indent(width, out);
        }
        write_string(key, out)?;
        out.push(':');
        match value {
            Value::Object(m) if !m.is_empty() => {
                out.push('\n');
                write_map(m, width + 2, false, out)?;
            }
            // A list in a map is not indented.
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                write_list(items, width, false, out)?;
            }
            other => {
                out.push(' ');
                write_flow_or_scalar(other, out)?;
                out.push('\n');
            }
        }
    }
    Some(())
}

/// A block list at `width`; `inline`: its first item follows an outer list item's `- `.
fn write_list(items: &[Value], width: usize, inline: bool, out: &mut String) -> Option<()> {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline {
            indent(width, out);
        }
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => write_map(m, width + 2, true, out)?,
            Value::Array(inner) if !inner.is_empty() => write_list(inner, width + 2, true, out)?,
            other => {
                write_flow_or_scalar(other, out)?;
                out.push('\n');
            }
        }
    }
    Some(())
}

/// An empty map or list (`{}`, `[]`), or a scalar.
fn write_flow_or_scalar(value: &Value, out: &mut String) -> Option<()> {
    match value {
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
        scalar => write_scalar(scalar, out)?,
    }
    Some(())
}

fn write_scalar(value: &Value, out: &mut String) -> Option<()> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else {
                // Floats: `yaml_serde` formats them with its own float printer.
                return None;
            }
        }
        Value::String(s) => write_string(s, out)?,
        Value::Object(_) | Value::Array(_) => return None,
    }
    Some(())
}

/// A one-line ASCII string, plain where `yaml_serde` writes it plain, else single-quoted.
fn write_string(s: &str, out: &mut String) -> Option<()> {
    if !s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        // Line breaks, tabs, control and non-ASCII characters take other styles.
        return None;
    }
    if reads_as_another_type(s) || !plain_allowed(s.as_bytes()) {
        out.push('\'');
        for c in s.chars() {
            if c == '\'' {
                out.push('\'');
            }
            out.push(c);
        }
        out.push('\'');
    } else {
        out.push_str(s);
    }
    Some(())
}

/// libyaml's analysis of a one-line printable ASCII scalar in block context: whether it may be
/// written plain (no indicator where it would be read as one, no leading or trailing space).
fn plain_allowed(s: &[u8]) -> bool {
    let Some((&first, _)) = s.split_first() else {
        return true;
    };
    if s.starts_with(b"---") || s.starts_with(b"...") {
        return false;
    }
    if first == b' ' || s.last() == Some(&b' ') {
        return false;
    }
    let followed_by_space = |i: usize| s.get(i + 1).is_none_or(|b| *b == b' ');
    if matches!(
        first,
        b'#' | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    ) {
        return false;
    }
    if matches!(first, b'?' | b':' | b'-') && followed_by_space(0) {
        return false;
    }
    for i in 1..s.len() {
        match s[i] {
            b':' if followed_by_space(i) => return false,
            b'#' if s[i - 1] == b' ' => return false,
            _ => {}
        }
    }
    true
}

/// Whether `yaml_serde` would read `s`, written plain, as null, a boolean or a number (or as a
/// string only by YAML 1.2's leading-zero rule): it then quotes it. Follows `yaml_serde`'s own
/// scalar resolution (`de::visit_untagged_scalar`).
pub(crate) fn reads_as_another_type(s: &str) -> bool {
    let Some(first) = s.bytes().next() else {
        return true;
    };
    // Numbers start with a digit, a sign or a dot; most strings (names, images, paths) do not.
    if first.is_ascii_alphabetic() {
        return matches!(
            s,
            "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
        );
    }
    s == "~"
        || parse_unsigned_int(s, u64::from_str_radix).is_some()
        || parse_negative_int(s, i64::from_str_radix).is_some()
        || parse_unsigned_int(s, u128::from_str_radix).is_some()
        || parse_negative_int(s, i128::from_str_radix).is_some()
        || digits_but_not_number(s)
        || parse_f64(s)
}

fn digits_but_not_number(scalar: &str) -> bool {
    let scalar = scalar.strip_prefix(['-', '+']).unwrap_or(scalar);
    scalar.len() > 1 && scalar.starts_with('0') && scalar[1..].bytes().all(|b| b.is_ascii_digit())
}

fn parse_unsigned_int<T>(
    scalar: &str,
    from_str_radix: fn(&str, u32) -> Result<T, ParseIntError>,
) -> Option<T> {
    let unpositive = scalar.strip_prefix('+').unwrap_or(scalar);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unpositive.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(int) = from_str_radix(rest, radix) {
                return Some(int);
            }
        }
    }
    if unpositive.starts_with(['+', '-']) || digits_but_not_number(scalar) {
        return None;
    }
    from_str_radix(unpositive, 10).ok()
}

fn parse_negative_int<T>(
    scalar: &str,
    from_str_radix: fn(&str, u32) -> Result<T, ParseIntError>,
) -> Option<T> {
    for (prefix, radix) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(rest) = scalar.strip_prefix(prefix)
            && let Ok(int) = from_str_radix(&format!("-{rest}"), radix)
        {
            return Some(int);
        }
    }
    if digits_but_not_number(scalar) {
        return None;
    }
    from_str_radix(scalar, 10).ok()
}

/// Whether `yaml_serde` reads `scalar` as a float (and the string is not a leading-zero
/// number, which it keeps as a string).
fn parse_f64(scalar: &str) -> bool {
    if digits_but_not_number(scalar) {
        return false;
    }
    let unpositive = match scalar.strip_prefix('+') {
        Some(u) if u.starts_with(['+', '-']) => return false,
        Some(u) => u,
        None => scalar,
    };
    matches!(unpositive, ".inf" | ".Inf" | ".INF")
        || matches!(
            scalar,
            "-.inf" | "-.Inf" | "-.INF" | ".nan" | ".NaN" | ".NAN"
        )
        || unpositive.parse::<f64>().is_ok_and(f64::is_finite)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::yaml_strategies::value;

    fn same_as_yaml_serde(value: &Value) {
        let expected = yaml_serde::to_string(value).unwrap();
        if let Some(ours) = to_string(value) {
            assert_eq!(ours, expected, "for {value}");
        }
    }

    #[test]
    fn writes_a_deployment_as_yaml_serde_does() {
        let deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "svc-001",
                "namespace": "tenant-001",
                "labels": {"app.kubernetes.io/version": "1.0.0", "gitopshq.io/tenant": "tenant-001"},
                "annotations": {"prometheus.io/port": "8080", "note": "a: b", "empty": ""},
            },
            "spec": {
                "replicas": 2,
                "template": {"spec": {
                    "containers": [{
                        "name": "app",
                        "image": "registry.example.com/svc-001:v1.1.0",
                        "args": ["--port", "8080", "-v", "true", "0x1f", "'quoted'", "# no"],
                        "env": [{"name": "URL", "value": "postgres://db:5432/x"}, {"name": "N", "value": null}],
                        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {}},
                        "ports": [],
                    }],
                    "matrix": [[1, 2], [], [{"a": true}]],
                }},
            },
        });
        let ours = to_string(&deployment).expect("written here");
        assert_eq!(ours, yaml_serde::to_string(&deployment).unwrap());
    }

    #[test]
    fn leaves_what_it_does_not_write_to_yaml_serde() {
        for value in [
            json!({"a": 1.5}),
            json!({"a": "two\nlines"}),
            json!({"a": "tab\there"}),
            json!({"a": "é"}),
            json!({"!tag": 1}),
            json!({"k".repeat(129): 1}),
        ] {
            assert_eq!(to_string(&value), None, "{value}");
        }
    }

    #[test]
    fn quotes_every_string_that_reads_as_another_type() {
        for s in [
            "",
            "~",
            "null",
            "NULL",
            "true",
            "False",
            "1",
            "-1",
            "+1",
            "0x1F",
            "-0b11",
            "0o7",
            "012",
            "-012",
            "1.5",
            "1e3",
            ".inf",
            "-.Inf",
            ".nan",
            "+.5",
            "18446744073709551616",
            "1.0.0",
            "250m",
            "yes",
            "no",
            "on",
            "inf",
            "nan",
            "1_000",
            "0x",
            "+-1",
            "- a",
            "-",
            "?",
            ":",
            "a:",
            "a: b",
            "a :b",
            "a #b",
            "a#b",
            "#a",
            "---x",
            "...x",
            " a",
            "a ",
            "it's",
            "@x",
            "%x",
            "`x",
            "x@",
            "-x",
            "?x",
            ":x",
            "[x",
            "x]",
            "x,y",
            "{}",
            "a  b",
            "True",
            "TRUE",
            "Null",
            "infinity",
            "NaN",
            "e5",
            "x1",
            "0",
            "-0",
            ".5",
            "5.",
        ] {
            same_as_yaml_serde(&json!({ s: s, "list": [s] }));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever it writes, it writes exactly as `yaml_serde` does.
        #[test]
        fn agrees_with_yaml_serde(value in value()) {
            same_as_yaml_serde(&value);
        }

        /// Objects of one-line ASCII text and integers are always written here, not left over.
        #[test]
        fn writes_plain_objects_itself(
            entries in prop::collection::vec(("[a-zA-Z0-9./-]{1,20}", "[ -~]{0,30}", any::<i32>()), 1..8)
        ) {
            let value = Value::Object(entries.into_iter().map(|(k, s, n)| {
                (k, json!({"text": s, "number": n, "list": [s.clone(), n]}))
            }).collect());
            prop_assert!(to_string(&value).is_some());
            same_as_yaml_serde(&value);
        }
    }
}
