//! Values layering and value paths.
//!
//! Layers apply lowest first: chart values, then each [`ValueLayer`] in order. Maps merge
//! deeply; lists and scalars replace whatever was there; JSON `null` deletes the key. A `null`
//! never survives layering, so templates and the schema see only present values.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::{RenderError, Result};

/// One source of value overrides, with a label that error messages and the compare view show,
/// e.g. `Workload payment-api spec.environments.production.values`.
///
/// The values are shared: a release to thousands of tenants gives each target the same
/// Workload layer, not a copy of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueLayer {
    pub source: String,
    pub values: Arc<Value>,
}

impl ValueLayer {
    pub fn new(source: impl Into<String>, values: Value) -> Self {
        Self::shared(source, Arc::new(values))
    }

    pub fn shared(source: impl Into<String>, values: Arc<Value>) -> Self {
        Self {
            source: source.into(),
            values,
        }
    }
}

/// Merges `layers` over `base` (the chart's default values) and returns the result.
///
/// An empty layer (`null`) is allowed and changes nothing; any other non-map layer is an error
/// naming its source, because replacing the whole values tree is never what an author means.
pub fn merge_layers(base: &Value, layers: &[ValueLayer]) -> Result<Value> {
    let mut merged = match base {
        Value::Null => Value::Object(Map::new()),
        Value::Object(map) => Value::Object(without_nulls(map)),
        other => {
            return Err(RenderError::LayerNotAMap {
                source_label: "chart values".to_owned(),
                found: type_name(other).to_owned(),
            });
        }
    };
    for layer in layers {
        match &*layer.values {
            Value::Null => {}
            Value::Object(_) => merge_into(&mut merged, &layer.values),
            other => {
                return Err(RenderError::LayerNotAMap {
                    source_label: layer.source.clone(),
                    found: type_name(other).to_owned(),
                });
            }
        }
    }
    Ok(merged)
}

/// Deep-merges `overlay` into `base` with the layering rules above.
pub fn merge_into(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match value {
                    // shift_remove keeps the remaining keys in the order authors wrote them.
                    Value::Null => {
                        base.shift_remove(key);
                    }
                    Value::Object(_) => match base.get_mut(key) {
                        Some(existing @ Value::Object(_)) => merge_into(existing, value),
                        _ => {
                            base.insert(key.clone(), strip_nulls(value));
                        }
                    },
                    _ => {
                        base.insert(key.clone(), strip_nulls(value));
                    }
                }
            }
        }
        (base, overlay) => *base = strip_nulls(overlay),
    }
}

// A map introduced by a layer may itself carry `null`s meant as deletions; with nothing
// underneath to delete they simply disappear. That holds for maps inside a list too (a list
// replaces what was there, so its items' `null` keys delete nothing either); a `null` item of a
// list is the item itself and stays.
fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(without_nulls(map)),
        Value::Array(items) => Value::Array(items.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

fn without_nulls(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), strip_nulls(v)))
        .collect()
}

pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// One step of a [`ValuePath`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathSegment {
    Key(String),
    Index(usize),
    /// The element of a list of named objects (containers, env, ports) with this `name`.
    Named(String),
}

/// Where a value sits in a values tree or an object, written the way people read it:
/// `database.host`, `env[2].value`, `metadata.labels["app.kubernetes.io/name"]`, and for lists
/// of named objects `containers[api].env[LOG_LEVEL]`.
/// The root is the empty path and displays as an empty string.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ValuePath(pub Vec<PathSegment>);

impl ValuePath {
    pub fn root() -> Self {
        Self::default()
    }

    pub fn key(&self, key: &str) -> Self {
        let mut next = self.clone();
        next.0.push(PathSegment::Key(key.to_owned()));
        next
    }

    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(PathSegment::Index(index));
        next
    }

    pub fn named(&self, name: &str) -> Self {
        let mut next = self.clone();
        next.0.push(PathSegment::Named(name.to_owned()));
        next
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Builds the path of a JSON pointer (`/env/2/value`) inside `value`: a segment is an index
    /// only where `value` holds a list, so numeric map keys stay keys.
    pub fn from_pointer(pointer: &str, value: &Value) -> Self {
        let mut path = Self::root();
        let mut current = Some(value);
        for raw in pointer.split('/').skip(1) {
            let segment = raw.replace("~1", "/").replace("~0", "~");
            match current {
                Some(Value::Array(items)) => match segment.parse::<usize>() {
                    Ok(i) => {
                        current = items.get(i);
                        path.0.push(PathSegment::Index(i));
                    }
                    Err(_) => {
                        current = None;
                        path.0.push(PathSegment::Key(segment));
                    }
                },
                Some(Value::Object(map)) => {
                    current = map.get(&segment);
                    path.0.push(PathSegment::Key(segment));
                }
                _ => {
                    current = None;
                    path.0.push(PathSegment::Key(segment));
                }
            }
        }
        path
    }
}

impl fmt::Display for ValuePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                PathSegment::Index(index) => write!(f, "[{index}]")?,
                PathSegment::Named(name) => write!(f, "[{name}]")?,
                PathSegment::Key(key) if is_plain_key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(key)?;
                }
                PathSegment::Key(key) => write!(f, "[{key:?}]")?,
            }
        }
        Ok(())
    }
}

fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn layer(values: Value) -> ValueLayer {
        ValueLayer::new("test layer", values)
    }

    #[test]
    fn maps_merge_deeply() {
        let base = json!({"image": {"repository": "app", "tag": "latest"}, "replicaCount": 2});
        let merged = merge_layers(&base, &[layer(json!({"image": {"tag": "v1"}}))]).unwrap();
        assert_eq!(
            merged,
            json!({"image": {"repository": "app", "tag": "v1"}, "replicaCount": 2})
        );
    }

    #[test]
    fn layers_apply_in_order() {
        let merged = merge_layers(
            &json!({"a": 1}),
            &[layer(json!({"a": 2})), layer(json!({"a": 3}))],
        )
        .unwrap();
        assert_eq!(merged, json!({"a": 3}));
    }

    #[test]
    fn null_keys_of_maps_inside_lists_are_dropped() {
        // The case property testing found: chart values with a list of maps holding a null.
        let merged = merge_layers(&json!({"a": [{"a": null, "b": 1}, null]}), &[]).unwrap();
        assert_eq!(merged, json!({"a": [{"b": 1}, null]}));
        let merged = merge_layers(
            &json!({"env": [{"name": "A"}]}),
            &[layer(json!({"env": [{"name": "B", "value": null}]}))],
        )
        .unwrap();
        assert_eq!(merged, json!({"env": [{"name": "B"}]}));
    }

    #[test]
    fn lists_replace_instead_of_merging() {
        let base = json!({"args": ["--a", "--b"], "ports": [{"port": 80}]});
        let merged = merge_layers(
            &base,
            &[layer(json!({"args": ["--c"], "ports": [{"name": "x"}]}))],
        )
        .unwrap();
        assert_eq!(merged, json!({"args": ["--c"], "ports": [{"name": "x"}]}));
    }

    #[test]
    fn scalars_replace_maps_and_maps_replace_scalars() {
        let merged = merge_layers(
            &json!({"a": {"x": 1}, "b": "text"}),
            &[layer(json!({"a": 5, "b": {"y": 2}}))],
        )
        .unwrap();
        assert_eq!(merged, json!({"a": 5, "b": {"y": 2}}));
    }

    #[test]
    fn null_deletes_a_key() {
        let base = json!({"resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "100m"}}});
        let merged = merge_layers(&base, &[layer(json!({"resources": {"limits": null}}))]).unwrap();
        assert_eq!(merged, json!({"resources": {"requests": {"cpu": "100m"}}}));
    }

    #[test]
    fn null_inside_new_map_and_chart_defaults_disappears() {
        let merged = merge_layers(
            &json!({"keep": null, "a": 1}),
            &[layer(json!({"new": {"x": null, "y": 1}}))],
        )
        .unwrap();
        assert_eq!(merged, json!({"a": 1, "new": {"y": 1}}));
    }

    #[test]
    fn deleting_a_missing_key_is_harmless() {
        let merged = merge_layers(&json!({"a": 1}), &[layer(json!({"b": null}))]).unwrap();
        assert_eq!(merged, json!({"a": 1}));
    }

    #[test]
    fn empty_layer_changes_nothing_and_non_map_layer_is_an_error() {
        assert_eq!(
            merge_layers(&json!({"a": 1}), &[layer(Value::Null)]).unwrap(),
            json!({"a": 1})
        );
        let err = merge_layers(
            &json!({}),
            &[ValueLayer::new("Tenant eu spec.values", json!([1]))],
        )
        .unwrap_err();
        assert!(err.to_string().contains("Tenant eu spec.values"), "{err}");
    }

    #[test]
    fn paths_read_like_yaml() {
        let path = ValuePath::root().key("env").index(2).key("value");
        assert_eq!(path.to_string(), "env[2].value");
        let labels = ValuePath::root()
            .key("metadata")
            .key("labels")
            .key("app.kubernetes.io/name");
        assert_eq!(
            labels.to_string(),
            r#"metadata.labels["app.kubernetes.io/name"]"#
        );
        let doc = json!({"env": [{}, {}, {"value": 1}], "m": {"0": 1}});
        assert_eq!(
            ValuePath::from_pointer("/env/2/value", &doc).to_string(),
            "env[2].value"
        );
        assert_eq!(ValuePath::from_pointer("/m/0", &doc).to_string(), "m.0");
    }
}
