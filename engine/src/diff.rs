//! Differences between two renders (release diff, drift, chart upgrade preview) and between
//! two sets of resolved values (environment compare).
//!
//! Objects are matched by kind, namespace and name; an `apiVersion` change shows as a field
//! change. Fields are compared structurally: maps key by key (sorted), lists index by index, so
//! `spec.template.spec.containers[0].env[3]` names exactly what moved.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::error::Result;
use crate::manifest::RenderedManifest;
use crate::values::{PathSegment, ValuePath};

/// Identity of an object across renders.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectId {
    pub fn of(manifest: &RenderedManifest) -> Self {
        Self {
            kind: manifest.kind.clone(),
            namespace: manifest.namespace.clone(),
            name: manifest.name.clone(),
        }
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One field that differs. `None` means the field is absent on that side.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub path: ValuePath,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<Value>| {
            v.as_ref()
                .map_or_else(|| "(absent)".to_owned(), Value::to_string)
        };
        let path = if self.path.is_root() {
            "(root)".to_owned()
        } else {
            self.path.to_string()
        };
        write!(f, "{path}: {} → {}", show(&self.old), show(&self.new))
    }
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectChange {
    Added(Value),
    Removed(Value),
    Changed(Vec<FieldChange>),
}

/// One object that differs.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectDiff {
    pub id: ObjectId,
    pub change: ObjectChange,
}

/// Differences between two sets of objects, sorted by object identity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ManifestDiff {
    pub objects: Vec<ObjectDiff>,
}

impl ManifestDiff {
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// (added, removed, changed) object counts.
    pub fn counts(&self) -> (usize, usize, usize) {
        self.objects
            .iter()
            .fold((0, 0, 0), |(a, r, c), o| match o.change {
                ObjectChange::Added(_) => (a + 1, r, c),
                ObjectChange::Removed(_) => (a, r + 1, c),
                ObjectChange::Changed(_) => (a, r, c + 1),
            })
    }

    /// `2 added, 0 removed, 1 changed`: the one-line summary a release status carries.
    pub fn summary(&self) -> String {
        let (a, r, c) = self.counts();
        format!("{a} added, {r} removed, {c} changed")
    }
}

/// One line per object (`+` added, `-` removed, `~` changed), then one indented line per
/// changed field: `    spec.replicas: 2 → 3`.
impl fmt::Display for ManifestDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.objects.is_empty() {
            return writeln!(f, "no changes");
        }
        for object in &self.objects {
            match &object.change {
                ObjectChange::Added(_) => writeln!(f, "+ {} (added)", object.id)?,
                ObjectChange::Removed(_) => writeln!(f, "- {} (removed)", object.id)?,
                ObjectChange::Changed(fields) => {
                    writeln!(f, "~ {}", object.id)?;
                    for field in fields {
                        writeln!(f, "    {field}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Diffs two renders.
pub fn diff_manifests(old: &[RenderedManifest], new: &[RenderedManifest]) -> ManifestDiff {
    diff_objects(
        old.iter().map(|m| (ObjectId::of(m), &m.object)),
        new.iter().map(|m| (ObjectId::of(m), &m.object)),
    )
}

/// Diffs two sets of identified objects (for instance live objects read back from a cluster).
/// If an id repeats on one side, the last one counts.
pub fn diff_objects<'a>(
    old: impl IntoIterator<Item = (ObjectId, &'a Value)>,
    new: impl IntoIterator<Item = (ObjectId, &'a Value)>,
) -> ManifestDiff {
    let old: BTreeMap<ObjectId, &Value> = old.into_iter().collect();
    let new: BTreeMap<ObjectId, &Value> = new.into_iter().collect();
    let mut objects = Vec::new();
    let mut ids: Vec<&ObjectId> = old.keys().chain(new.keys()).collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        let secret = id.kind == "Secret";
        let change = match (old.get(id), new.get(id)) {
            (None, Some(n)) if secret => ObjectChange::Added(redacted_secret(n)),
            (Some(o), None) if secret => ObjectChange::Removed(redacted_secret(o)),
            (None, Some(n)) => ObjectChange::Added((*n).clone()),
            (Some(o), None) => ObjectChange::Removed((*o).clone()),
            (Some(o), Some(n)) => {
                let fields = if secret {
                    secret_field_changes(o, n)
                } else {
                    field_changes(o, n)
                };
                if fields.is_empty() {
                    continue;
                }
                ObjectChange::Changed(fields)
            }
            (None, None) => continue,
        };
        objects.push(ObjectDiff {
            id: id.clone(),
            change,
        });
    }
    ManifestDiff { objects }
}

/// What a diff shows for a Secret value on either side: never the value itself.
pub const SECRET_VALUE: &str = "(secret value)";
/// What a diff shows for a Secret value that differs from the other side's.
pub const SECRET_VALUE_CHANGED: &str = "(secret value changed)";

/// The fields of a Secret that hold values (`data`, `stringData`) and its SOPS block, which
/// belongs to the encrypted file rather than to the object.
fn is_secret_field(path: &ValuePath) -> bool {
    matches!(path.0.first(), Some(PathSegment::Key(key)) if key == "data" || key == "stringData")
}

/// A Secret with each value replaced by [`SECRET_VALUE`] and without its SOPS block.
pub fn redacted_secret(secret: &Value) -> Value {
    let mut out = secret.clone();
    if let Some(map) = out.as_object_mut() {
        map.remove("sops");
        for field in ["data", "stringData"] {
            if let Some(Value::Object(values)) = map.get_mut(field) {
                for value in values.values_mut() {
                    *value = Value::String(SECRET_VALUE.into());
                }
            }
        }
    }
    out
}

/// [`field_changes`] of two Secrets, each value shown as [`SECRET_VALUE`] or
/// [`SECRET_VALUE_CHANGED`]: an approver sees which key changed, and a diff printed in a CI
/// log or a terminal never carries the value. A value encrypted on one side (SOPS) counts as
/// changed: without the key nothing can tell.
fn secret_field_changes(old: &Value, new: &Value) -> Vec<FieldChange> {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(map) = v.as_object_mut() {
            map.remove("sops");
        }
        v
    };
    field_changes(&strip(old), &strip(new))
        .into_iter()
        .map(|change| {
            if !is_secret_field(&change.path) {
                return change;
            }
            let hide = |v: Option<Value>, shown: &str| {
                v.map(|v| match v {
                    Value::Object(map) => Value::Object(
                        map.into_iter()
                            .map(|(k, _)| (k, Value::String(shown.into())))
                            .collect(),
                    ),
                    _ => Value::String(shown.into()),
                })
            };
            let changed = change.old.is_some() && change.new.is_some();
            FieldChange {
                path: change.path,
                old: hide(change.old, SECRET_VALUE),
                new: hide(
                    change.new,
                    if changed {
                        SECRET_VALUE_CHANGED
                    } else {
                        SECRET_VALUE
                    },
                ),
            }
        })
        .collect()
}

/// Differences between two values trees, leaf by leaf.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValuesDiff {
    pub changes: Vec<FieldChange>,
}

impl ValuesDiff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Display for ValuesDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            return writeln!(f, "no differences");
        }
        for change in &self.changes {
            writeln!(f, "{change}")?;
        }
        Ok(())
    }
}

/// Compares the resolved values of two environments or tenants (`left` → `right`).
pub fn diff_values(left: &Value, right: &Value) -> ValuesDiff {
    ValuesDiff {
        changes: field_changes(left, right),
    }
}

fn field_changes(old: &Value, new: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk(&ValuePath::root(), Some(old), Some(new), &mut out);
    out
}

fn walk(path: &ValuePath, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (old, new) {
        (Some(Value::Object(o)), Some(Value::Object(n))) => {
            let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                walk(&path.key(key), o.get(key), n.get(key), out);
            }
        }
        (Some(Value::Array(o)), Some(Value::Array(n))) => match (names(o), names(n)) {
            // Lists of named objects (containers, env, ports, volumes) pair up by name, as
            // Kubernetes merges them: a removed entry is one change, not a shift of all others.
            (Some(old_names), Some(new_names)) => {
                let mut all: Vec<&str> = old_names.iter().chain(&new_names).copied().collect();
                let mut seen = std::collections::BTreeSet::new();
                all.retain(|name| seen.insert(*name));
                for name in all {
                    walk(&path.named(name), named(o, name), named(n, name), out);
                }
            }
            _ => {
                for i in 0..o.len().max(n.len()) {
                    walk(&path.index(i), o.get(i), n.get(i), out);
                }
            }
        },
        (o, n) if o != n => out.push(FieldChange {
            path: path.clone(),
            old: o.cloned(),
            new: n.cloned(),
        }),
        _ => {}
    }
}

fn named<'v>(items: &'v [Value], name: &str) -> Option<&'v Value> {
    items
        .iter()
        .find(|i| i.get("name").and_then(Value::as_str) == Some(name))
}

/// The `name` of every element when all are objects with distinct string names.
fn names(items: &[Value]) -> Option<Vec<&str>> {
    let names: Vec<&str> = items
        .iter()
        .map(|i| i.get("name").and_then(Value::as_str))
        .collect::<Option<_>>()?;
    let distinct: std::collections::BTreeSet<&str> = names.iter().copied().collect();
    (!names.is_empty() && distinct.len() == names.len()).then_some(names)
}

/// A unified diff (3 lines of context) of two texts, for people: `--- old_label` / `+++
/// new_label` headers. Empty when the texts are equal.
pub fn unified_diff(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_label, new_label)
        .to_string()
}

/// A unified diff of two renders, object by object, with `a/` and `b/` file-name headers.
pub fn unified_manifest_diff(old: &[RenderedManifest], new: &[RenderedManifest]) -> Result<String> {
    let mut by_id: BTreeMap<ObjectId, (Option<&RenderedManifest>, Option<&RenderedManifest>)> =
        BTreeMap::new();
    for m in old {
        by_id.entry(ObjectId::of(m)).or_default().0 = Some(m);
    }
    for m in new {
        by_id.entry(ObjectId::of(m)).or_default().1 = Some(m);
    }
    let mut out = String::new();
    for (o, n) in by_id.values() {
        let name = n
            .or(*o)
            .map(RenderedManifest::file_name)
            .unwrap_or_default();
        let old_text = o
            .map(RenderedManifest::yaml)
            .transpose()?
            .unwrap_or_default();
        let new_text = n
            .map(RenderedManifest::yaml)
            .transpose()?
            .unwrap_or_default();
        let old_label = if o.is_some() {
            format!("a/{name}")
        } else {
            "/dev/null".to_owned()
        };
        let new_label = if n.is_some() {
            format!("b/{name}")
        } else {
            "/dev/null".to_owned()
        };
        out.push_str(&unified_diff(&old_text, &new_text, &old_label, &new_label));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_secret_diff_names_the_key_but_never_the_value() {
        let id = || ObjectId {
            kind: "Secret".into(),
            namespace: Some("acme".into()),
            name: "db".into(),
        };
        let old = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "labels": {"v": "1"}},
            "data": {"password": "aHVudGVyMg==", "user": "YXBw"}});
        let new = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "labels": {"v": "2"}},
            "data": {"password": "aHVudGVyMw==", "user": "YXBw"},
            "stringData": {"token": "ghp_s3cret"}});
        let diff = diff_objects([(id(), &old)], [(id(), &new)]);
        let text = diff.to_string();
        assert_eq!(
            text,
            "~ Secret acme/db\n    \
             data.password: \"(secret value)\" → \"(secret value changed)\"\n    \
             metadata.labels.v: \"1\" → \"2\"\n    \
             stringData: (absent) → {\"token\":\"(secret value)\"}\n"
        );
        let added = diff_objects([], [(id(), &new)]);
        let shown = format!("{:?}", added);
        for value in ["aHVudGVyMw==", "ghp_s3cret"] {
            assert!(!shown.contains(value), "{shown}");
        }
    }
    use serde_json::json;

    use super::*;

    fn id(kind: &str, name: &str) -> ObjectId {
        ObjectId {
            kind: kind.into(),
            namespace: Some("payments".into()),
            name: name.into(),
        }
    }

    #[test]
    fn objects_added_removed_and_changed() {
        let dep_old = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "app", "env": [{"name": "A", "value": "1"}, {"name": "CACHE_ENDPOINT", "value": "redis"}]}
        ]}}}});
        let dep_new = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [
            {"name": "app", "env": [{"name": "A", "value": "1"}]}
        ]}}}});
        let svc = json!({"spec": {"type": "ClusterIP"}});
        let hpa = json!({"spec": {"minReplicas": 2}});
        let diff = diff_objects(
            [
                (id("Deployment", "api"), &dep_old),
                (id("Service", "api"), &svc),
            ],
            [
                (id("Deployment", "api"), &dep_new),
                (id("HorizontalPodAutoscaler", "api"), &hpa),
            ],
        );
        assert_eq!(diff.counts(), (1, 1, 1));
        assert_eq!(diff.summary(), "1 added, 1 removed, 1 changed");
        let ObjectChange::Changed(fields) = &diff.objects[0].change else {
            panic!("{diff}");
        };
        let paths: Vec<String> = fields.iter().map(|f| f.path.to_string()).collect();
        assert_eq!(
            paths,
            vec![
                "spec.replicas",
                "spec.template.spec.containers[app].env[CACHE_ENDPOINT]"
            ]
        );
        assert_eq!(fields[1].new, None);
        let text = diff.to_string();
        assert_eq!(
            text,
            "~ Deployment payments/api\n    spec.replicas: 2 → 3\n    spec.template.spec.containers[app].env[CACHE_ENDPOINT]: {\"name\":\"CACHE_ENDPOINT\",\"value\":\"redis\"} → (absent)\n+ HorizontalPodAutoscaler payments/api (added)\n- Service payments/api (removed)\n"
        );
    }

    #[test]
    fn identical_objects_give_no_diff() {
        let v = json!({"a": [1, 2]});
        let diff = diff_objects([(id("ConfigMap", "c"), &v)], [(id("ConfigMap", "c"), &v)]);
        assert!(diff.is_empty());
        assert_eq!(diff.to_string(), "no changes\n");
    }

    #[test]
    fn values_diff_lists_leaf_paths() {
        let staging =
            json!({"database": {"host": "db.staging"}, "replicaCount": 2, "env": {"A": "1"}});
        let production = json!({"database": {"host": "db.prod"}, "replicaCount": 2, "tls": true});
        let diff = diff_values(&staging, &production);
        assert_eq!(
            diff.to_string(),
            "database.host: \"db.staging\" → \"db.prod\"\nenv: {\"A\":\"1\"} → (absent)\ntls: (absent) → true\n"
        );
    }

    #[test]
    fn unified_diff_shows_lines() {
        let text = unified_diff("a: 1\nb: 2\n", "a: 1\nb: 3\n", "a/x.yaml", "b/x.yaml");
        assert!(text.contains("--- a/x.yaml"), "{text}");
        assert!(text.contains("-b: 2\n+b: 3"), "{text}");
        assert_eq!(unified_diff("same", "same", "a", "b"), "");
    }
}
