//! `--set key.path=value` into a nested values map, the way Helm reads it: dots nest, `\.`
//! escapes a dot, `name[0]` indexes a list, commas separate pairs (`\,` escapes one),
//! `{a,b}` is a list; values are typed (`true`/`false`, `null`, integers without leading
//! zeros), everything else stays a string, so `1.10` remains the tag `"1.10"`. `--set-string`
//! keeps every value a string.

use serde_json::{Map, Value};

/// Longest list an index may create: a typo must not allocate a million nulls.
const MAX_INDEX: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetError {
    #[error("--set {expr:?}: expected key=value (for example image.tag=v2.4.0)")]
    MissingEquals { expr: String },
    #[error("--set {expr:?}: empty key segment in {key:?}")]
    EmptySegment { expr: String, key: String },
    #[error("--set {expr:?}: bad list index in {segment:?} (use name[0], at most {MAX_INDEX})")]
    BadIndex { expr: String, segment: String },
    #[error("--set {expr:?}: unclosed {{ in the value")]
    UnclosedList { expr: String },
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Applies one `--set` (or `--set-string` with `typed: false`) argument to `values`.
pub fn apply(values: &mut Map<String, Value>, expr: &str, typed: bool) -> Result<(), SetError> {
    for pair in split_unescaped(expr, ',', true) {
        if pair.is_empty() {
            continue;
        }
        let (key, raw) = split_key(&pair).ok_or_else(|| SetError::MissingEquals {
            expr: expr.to_string(),
        })?;
        let path = parse_key(&key, expr)?;
        let value = parse_value(&raw, typed, expr)?;
        set(values, &path, value);
    }
    Ok(())
}

/// Splits on `sep` outside `{…}` (when `braces`), keeping `\`-escapes for the next stage
/// except the escaped separator itself.
fn split_unescaped(text: &str, sep: char, braces: bool) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) if n == sep => out.last_mut().unwrap().push(n),
                Some(n) => {
                    let cur = out.last_mut().unwrap();
                    cur.push('\\');
                    cur.push(n);
                }
                None => out.last_mut().unwrap().push('\\'),
            },
            '{' if braces => {
                depth += 1;
                out.last_mut().unwrap().push(c);
            }
            '}' if braces && depth > 0 => {
                depth -= 1;
                out.last_mut().unwrap().push(c);
            }
            c if c == sep && depth == 0 => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// `key=value` at the first unescaped `=`.
fn split_key(pair: &str) -> Option<(String, String)> {
    let mut escaped = false;
    for (i, c) in pair.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '=' if !escaped => return Some((pair[..i].to_string(), pair[i + 1..].to_string())),
            _ => escaped = false,
        }
    }
    None
}

fn parse_key(key: &str, expr: &str) -> Result<Vec<Step>, SetError> {
    let mut steps = Vec::new();
    for segment in split_unescaped(key, '.', false) {
        let segment = segment.replace("\\=", "=").replace("\\\\", "\\");
        let (name, mut rest) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment.as_str(), ""),
        };
        if name.is_empty() && (rest.is_empty() || steps.is_empty()) {
            return Err(SetError::EmptySegment {
                expr: expr.to_string(),
                key: key.to_string(),
            });
        }
        if !name.is_empty() {
            steps.push(Step::Key(name.to_string()));
        }
        while !rest.is_empty() {
            let bad = || SetError::BadIndex {
                expr: expr.to_string(),
                segment: segment.clone(),
            };
            let inner = rest.strip_prefix('[').ok_or_else(bad)?;
            let close = inner.find(']').ok_or_else(bad)?;
            let index: usize = inner[..close].parse().map_err(|_| bad())?;
            if index > MAX_INDEX {
                return Err(bad());
            }
            steps.push(Step::Index(index));
            rest = &inner[close + 1..];
        }
    }
    Ok(steps)
}

fn parse_value(raw: &str, typed: bool, expr: &str) -> Result<Value, SetError> {
    if let Some(inner) = raw.strip_prefix('{') {
        let inner = inner
            .strip_suffix('}')
            .ok_or_else(|| SetError::UnclosedList {
                expr: expr.to_string(),
            })?;
        if inner.is_empty() {
            return Ok(Value::Array(Vec::new()));
        }
        return split_unescaped(inner, ',', true)
            .iter()
            .map(|item| parse_value(item, typed, expr))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    let text = raw.replace("\\\\", "\\");
    if !typed {
        return Ok(Value::String(text));
    }
    Ok(typed_scalar(&text))
}

/// Helm's typing of a `--set` value.
fn typed_scalar(text: &str) -> Value {
    match text {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        "null" => return Value::Null,
        _ => {}
    }
    let digits = text.strip_prefix('-').unwrap_or(text);
    let integer = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if integer && let Ok(n) = text.parse::<i64>() {
        return Value::from(n);
    }
    Value::String(text.to_string())
}

fn set(values: &mut Map<String, Value>, path: &[Step], value: Value) {
    let Some((Step::Key(first), rest)) = path.split_first() else {
        return;
    };
    let slot = values.entry(first.clone()).or_insert(Value::Null);
    set_in(slot, rest, value);
}

fn set_in(slot: &mut Value, path: &[Step], value: Value) {
    let Some((step, rest)) = path.split_first() else {
        *slot = value;
        return;
    };
    match step {
        Step::Key(key) => {
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let map = slot.as_object_mut().expect("an object");
            set_in(map.entry(key.clone()).or_insert(Value::Null), rest, value);
        }
        Step::Index(index) => {
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            let list = slot.as_array_mut().expect("a list");
            if list.len() <= *index {
                list.resize(index + 1, Value::Null);
            }
            set_in(&mut list[*index], rest, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(sets: &[&str]) -> Value {
        let mut map = Map::new();
        for s in sets {
            apply(&mut map, s, true).unwrap();
        }
        Value::Object(map)
    }

    #[test]
    fn dotted_keys_nest_and_merge() {
        assert_eq!(
            values(&[
                "image.tag=v2.4.0",
                "image.repository=registry.example.com/api"
            ]),
            json!({"image": {"tag": "v2.4.0", "repository": "registry.example.com/api"}})
        );
    }

    #[test]
    fn values_are_typed_like_helm() {
        assert_eq!(
            values(&["a=true,b=false,c=null,d=3,e=-7,f=0,g=1.10,h=007,i=,j=v1,k=1e3"]),
            json!({"a": true, "b": false, "c": null, "d": 3, "e": -7, "f": 0,
                   "g": "1.10", "h": "007", "i": "", "j": "v1", "k": "1e3"})
        );
        let mut map = Map::new();
        apply(&mut map, "replicas=3,flag=true", false).unwrap();
        assert_eq!(Value::Object(map), json!({"replicas": "3", "flag": "true"}));
    }

    #[test]
    fn escapes_lists_and_indexes() {
        assert_eq!(
            values(&[r"nodeSelector.kubernetes\.io/os=linux"]),
            json!({"nodeSelector": {"kubernetes.io/os": "linux"}})
        );
        assert_eq!(values(&[r"note=a\,b"]), json!({"note": "a,b"}));
        assert_eq!(
            values(&["hosts={a.example.com,b.example.com}"]),
            json!({"hosts": ["a.example.com", "b.example.com"]})
        );
        assert_eq!(values(&["ports={80,443}"]), json!({"ports": [80, 443]}));
        assert_eq!(
            values(&["env[1].name=LOG_LEVEL", "env[1].value=debug"]),
            json!({"env": [null, {"name": "LOG_LEVEL", "value": "debug"}]})
        );
        assert_eq!(
            values(&["matrix[0][1]=x"]),
            json!({"matrix": [[null, "x"]]})
        );
        assert_eq!(
            values(&["url=https://x/?a=b"]),
            json!({"url": "https://x/?a=b"})
        );
    }

    #[test]
    fn later_values_replace_earlier_ones() {
        assert_eq!(values(&["a=1", "a.b=2"]), json!({"a": {"b": 2}}));
        assert_eq!(values(&["a.b=2", "a=1"]), json!({"a": 1}));
    }

    #[test]
    fn bad_input_is_refused_with_the_argument() {
        let mut map = Map::new();
        let err = apply(&mut map, "image.tag", true).unwrap_err();
        assert!(err.to_string().contains("expected key=value"), "{err}");
        assert!(matches!(
            apply(&mut map, "a..b=1", true),
            Err(SetError::EmptySegment { .. })
        ));
        assert!(matches!(
            apply(&mut map, "a[x]=1", true),
            Err(SetError::BadIndex { .. })
        ));
        assert!(matches!(
            apply(&mut map, "a[99999]=1", true),
            Err(SetError::BadIndex { .. })
        ));
        assert!(matches!(
            apply(&mut map, "a={1,2", true),
            Err(SetError::UnclosedList { .. })
        ));
        assert!(matches!(
            apply(&mut map, "[0]=1", true),
            Err(SetError::EmptySegment { .. })
        ));
    }
}
