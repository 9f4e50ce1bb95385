//! Template helpers available to every chart, next to Handlebars' own `if`, `unless`, `each`,
//! `with`, `lookup` and the comparison helpers `eq`, `ne`, `gt`, `gte`, `lt`, `lte`, `and`,
//! `or`, `not`, `len` (kept as shipped: `eq`/`ne` compare JSON values exactly, so `1` and `"1"`
//! differ; `and`/`or`/`not` use Handlebars truthiness, where `0`, `""`, `[]`, `{}`, `null` and
//! `false` are false; a missing path passed to them is an error in strict mode).
//!
//! | helper | result |
//! |---|---|
//! | `toYaml v` | `v` as YAML, no trailing newline |
//! | `toYaml v indent=N` | a newline, then `v` as YAML with every line indented by N spaces (Helm's `toYaml v \| nindent N`) |
//! | `quote v` | `v` as a double-quoted YAML/JSON string; non-strings are written as text first |
//! | `default v fallback` | `v`, or `fallback` when `v` is missing, `null`, `""`, `[]` or `{}` (`0` and `false` are kept) |
//! | `b64enc v` | standard base64 of `v`'s text |
//! | `sha256 v` | lowercase hex SHA-256 of `v`'s text |
//! | `lower v`, `upper v` | case-mapped text |
//! | `trunc v n` | first `n` characters; a negative `n` keeps the last `-n` |
//! | `json v` | compact JSON of `v` |
//!
//! "Text" of a value: a string as is, `null` as empty, anything else as compact JSON.
//!
//! Why `indent=N` starts with a newline: the output is then valid YAML wherever the helper
//! stands: after a key on the same line (`resources: {{toYaml values.resources indent=12}}`),
//! or alone on its own line, indented or not (`{{toYaml values.resources indent=12}}`), since
//! YAML ignores the blank line that precedes the block.
//!
//! Every helper returns a JSON value, so helpers compose as subexpressions:
//! `{{quote (lower values.name)}}`. Only `default` accepts a missing path; every other helper
//! reports it as a strict-mode error naming the path.

use base64::Engine as _;
use handlebars::{
    Context, Handlebars, Helper, HelperDef, PathAndJson, RenderContext, RenderError,
    RenderErrorReason, ScopedJson,
};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// Indentation beyond this is a typo, and refusing it bounds memory use on hostile input.
const MAX_INDENT: u64 = 256;

type HelperFn = fn(&Helper<'_>) -> Result<Value, RenderError>;

struct ValueHelper(HelperFn);

impl HelperDef for ValueHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        (self.0)(h).map(ScopedJson::Derived)
    }
}

/// Registers the chart helpers on `registry`.
pub fn register(registry: &mut Handlebars<'_>) {
    let helpers: [(&str, HelperFn); 10] = [
        ("toYaml", to_yaml),
        ("quote", quote),
        ("default", default),
        ("b64enc", b64enc),
        ("sha256", sha256),
        ("lower", lower),
        ("upper", upper),
        ("trunc", trunc),
        ("json", json),
        ("nindent", nindent),
    ];
    for (name, f) in helpers {
        registry.register_helper(name, Box::new(ValueHelper(f)));
    }
}

fn param<'a, 'rc>(
    h: &'a Helper<'rc>,
    index: usize,
    helper: &'static str,
) -> Result<&'a PathAndJson<'rc>, RenderError> {
    let p = h
        .param(index)
        .ok_or(RenderErrorReason::ParamNotFoundForIndex(helper, index))?;
    if p.is_value_missing() {
        return Err(RenderError::strict_error(p.relative_path()));
    }
    Ok(p)
}

fn value<'a>(
    h: &'a Helper<'_>,
    index: usize,
    helper: &'static str,
) -> Result<&'a Value, RenderError> {
    param(h, index, helper).map(PathAndJson::value)
}

fn other(message: String) -> RenderError {
    RenderErrorReason::Other(message).into()
}

/// The text of a value, as described in the module docs.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `value` as YAML without the trailing newline.
pub fn yaml_text(value: &Value) -> Result<String, String> {
    let mut yaml = crate::yaml_writer::to_yaml(value).map_err(|e| e.to_string())?;
    while yaml.ends_with('\n') {
        yaml.pop();
    }
    Ok(yaml)
}

/// A newline, then `text` with each non-empty line indented by `indent` spaces.
pub fn newline_indent(text: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::with_capacity(text.len() + (indent + 1) * (text.lines().count() + 1));
    for line in text.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    out
}

fn indent_arg(
    h: &Helper<'_>,
    helper: &'static str,
    positional: usize,
) -> Result<usize, RenderError> {
    let raw = match h.hash_get("indent") {
        Some(p) => Some(p.value()),
        None => h.param(positional).map(PathAndJson::value),
    };
    match raw {
        None => Ok(0),
        Some(v) => match v.as_u64() {
            Some(n) if n <= MAX_INDENT => Ok(n as usize),
            _ => Err(other(format!(
                "{helper}: indent must be a whole number from 0 to {MAX_INDENT}, got {v}"
            ))),
        },
    }
}

fn to_yaml(h: &Helper<'_>) -> Result<Value, RenderError> {
    let v = value(h, 0, "toYaml")?;
    let yaml = yaml_text(v).map_err(|e| other(format!("toYaml: {e}")))?;
    let indent = indent_arg(h, "toYaml", 1)?;
    Ok(Value::String(
        if indent == 0 && h.hash_get("indent").is_none() {
            yaml
        } else {
            newline_indent(&yaml, indent)
        },
    ))
}

/// `nindent N text`, as in Helm, for text built by other helpers.
fn nindent(h: &Helper<'_>) -> Result<Value, RenderError> {
    let indent = value(h, 0, "nindent")?
        .as_u64()
        .filter(|n| *n <= MAX_INDENT)
        .ok_or_else(|| {
            other(format!(
                "nindent: the first argument must be a whole number from 0 to {MAX_INDENT}"
            ))
        })?;
    let body = text(value(h, 1, "nindent")?);
    Ok(Value::String(newline_indent(&body, indent as usize)))
}

fn quote(h: &Helper<'_>) -> Result<Value, RenderError> {
    let v = value(h, 0, "quote")?;
    // A JSON string literal is also a valid YAML double-quoted scalar.
    Ok(Value::String(Value::String(text(v)).to_string()))
}

fn default(h: &Helper<'_>) -> Result<Value, RenderError> {
    let given = h
        .param(0)
        .ok_or(RenderErrorReason::ParamNotFoundForIndex("default", 0))?;
    let empty = given.is_value_missing()
        || match given.value() {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(m) => m.is_empty(),
            Value::Bool(_) | Value::Number(_) => false,
        };
    if empty {
        value(h, 1, "default").cloned()
    } else {
        Ok(given.value().clone())
    }
}

fn b64enc(h: &Helper<'_>) -> Result<Value, RenderError> {
    let t = text(value(h, 0, "b64enc")?);
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(t.as_bytes()),
    ))
}

fn sha256(h: &Helper<'_>) -> Result<Value, RenderError> {
    let t = text(value(h, 0, "sha256")?);
    Ok(Value::String(hex::encode(Sha256::digest(t.as_bytes()))))
}

fn lower(h: &Helper<'_>) -> Result<Value, RenderError> {
    Ok(Value::String(text(value(h, 0, "lower")?).to_lowercase()))
}

fn upper(h: &Helper<'_>) -> Result<Value, RenderError> {
    Ok(Value::String(text(value(h, 0, "upper")?).to_uppercase()))
}

fn trunc(h: &Helper<'_>) -> Result<Value, RenderError> {
    let t = text(value(h, 0, "trunc")?);
    let n = value(h, 1, "trunc")?
        .as_i64()
        .ok_or_else(|| other("trunc: the length must be a whole number".to_owned()))?;
    let count = t.chars().count();
    let keep = usize::try_from(n.unsigned_abs())
        .unwrap_or(usize::MAX)
        .min(count);
    Ok(Value::String(if n >= 0 {
        t.chars().take(keep).collect()
    } else {
        t.chars().skip(count - keep).collect()
    }))
}

fn json(h: &Helper<'_>) -> Result<Value, RenderError> {
    Ok(Value::String(value(h, 0, "json")?.to_string()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(template: &str, data: Value) -> Result<String, String> {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(handlebars::no_escape);
        register(&mut hb);
        hb.render_template(template, &data)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn to_yaml_without_indent_is_plain_yaml() {
        let out = render(
            "{{toYaml v}}",
            json!({"v": {"cpu": "100m", "memory": "128Mi"}}),
        )
        .unwrap();
        assert_eq!(out, "cpu: 100m\nmemory: 128Mi");
    }

    #[test]
    fn to_yaml_with_indent_is_valid_on_its_own_line_and_after_a_key() {
        let data = json!({"v": {"requests": {"cpu": "100m"}, "limits": {"cpu": "1"}}});
        for template in [
            "resources:\n{{toYaml v indent=2}}\nafter: 1\n",
            "resources:\n  {{toYaml v indent=2}}\nafter: 1\n",
            "resources: {{toYaml v indent=2}}\nafter: 1\n",
        ] {
            let out = render(template, data.clone()).unwrap();
            let parsed: Value = yaml_serde::from_str(&out).unwrap();
            assert_eq!(
                parsed,
                json!({"resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "1"}}, "after": 1}),
                "{template:?} gave {out:?}"
            );
        }
        assert_eq!(
            render("{{toYaml v indent=4}}", json!({"v": ["a", "b"]})).unwrap(),
            "\n    - a\n    - b"
        );
    }

    #[test]
    fn to_yaml_rejects_absurd_indent_and_missing_values() {
        assert!(render("{{toYaml v indent=100000}}", json!({"v": 1})).is_err());
        let err = render("{{toYaml values.nope indent=2}}", json!({"values": {}})).unwrap_err();
        assert!(err.contains("values.nope"), "{err}");
    }

    #[test]
    fn quote_writes_a_double_quoted_scalar() {
        assert_eq!(
            render("{{quote v}}", json!({"v": "a\"b"})).unwrap(),
            r#""a\"b""#
        );
        assert_eq!(
            render("{{quote v}}", json!({"v": 8080})).unwrap(),
            r#""8080""#
        );
        assert_eq!(
            render("{{quote v}}", json!({"v": true})).unwrap(),
            r#""true""#
        );
    }

    #[test]
    fn default_falls_back_only_for_missing_or_empty() {
        let data = json!({"v": {"zero": 0, "no": false, "empty": "", "set": "x", "none": null}});
        assert_eq!(
            render("{{default v.missing 3}}", data.clone()).unwrap(),
            "3"
        );
        assert_eq!(
            render("{{default v.empty \"d\"}}", data.clone()).unwrap(),
            "d"
        );
        assert_eq!(
            render("{{default v.none \"d\"}}", data.clone()).unwrap(),
            "d"
        );
        assert_eq!(render("{{default v.zero 3}}", data.clone()).unwrap(), "0");
        assert_eq!(
            render("{{default v.no true}}", data.clone()).unwrap(),
            "false"
        );
        assert_eq!(render("{{default v.set \"d\"}}", data).unwrap(), "x");
    }

    #[test]
    fn text_helpers() {
        let data = json!({"s": "Hello World", "n": 42});
        assert_eq!(
            render("{{b64enc s}}", data.clone()).unwrap(),
            "SGVsbG8gV29ybGQ="
        );
        assert_eq!(
            render("{{sha256 s}}", data.clone()).unwrap(),
            "a591a6d40bf420404a011733cfb7b190d62c65bf0bcda32b57b277d9ad9f146e"
        );
        assert_eq!(render("{{lower s}}", data.clone()).unwrap(), "hello world");
        assert_eq!(render("{{upper s}}", data.clone()).unwrap(), "HELLO WORLD");
        assert_eq!(render("{{trunc s 5}}", data.clone()).unwrap(), "Hello");
        assert_eq!(render("{{trunc s -5}}", data.clone()).unwrap(), "World");
        assert_eq!(
            render("{{trunc s 500}}", data.clone()).unwrap(),
            "Hello World"
        );
        assert_eq!(render("{{trunc n 1}}", data.clone()).unwrap(), "4");
        assert_eq!(
            render("{{json this}}", json!({"a": [1, "x"]})).unwrap(),
            r#"{"a":[1,"x"]}"#
        );
        assert_eq!(
            render("{{quote (upper (trunc s 2))}}", data).unwrap(),
            r#""HE""#
        );
    }

    #[test]
    fn builtin_comparisons_keep_sane_semantics() {
        let data = json!({"a": "x", "b": "x", "n": 1, "t": true, "f": false, "z": 0});
        assert_eq!(render("{{eq a b}}", data.clone()).unwrap(), "true");
        assert_eq!(render("{{ne a b}}", data.clone()).unwrap(), "false");
        assert_eq!(render("{{eq n \"1\"}}", data.clone()).unwrap(), "false");
        assert_eq!(render("{{and t n}}", data.clone()).unwrap(), "true");
        assert_eq!(render("{{and t z}}", data.clone()).unwrap(), "false");
        assert_eq!(render("{{or f z}}", data.clone()).unwrap(), "false");
        assert_eq!(render("{{or f t}}", data.clone()).unwrap(), "true");
        assert_eq!(render("{{not f}}", data.clone()).unwrap(), "true");
        assert_eq!(
            render("{{#if (eq a \"x\")}}yes{{else}}no{{/if}}", data.clone()).unwrap(),
            "yes"
        );
        assert!(render("{{eq missing a}}", data).is_err());
    }

    #[test]
    fn nindent_indents_text() {
        assert_eq!(
            render("{{nindent 2 (toYaml v)}}", json!({"v": {"a": 1}})).unwrap(),
            "\n  a: 1"
        );
    }
}
