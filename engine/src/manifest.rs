//! Rendered Kubernetes objects: validation, namespace defaulting, canonical key order and the
//! deterministic install order.
//!
//! Key order of every serialised object: `apiVersion`, `kind`, `metadata` first, then the other
//! top-level keys sorted; every nested map has its keys sorted (byte order). The same object
//! therefore always gives the same bytes, whatever order the template wrote.
//!
//! Object order: by kind, Helm-like install order (see [`kind_rank`]), kinds outside that list
//! after it alphabetically; then namespace (cluster-scoped first); then name.

use std::cmp::Ordering;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::error::{NameField, RenderError, Result};

/// Kinds installed first come first; kinds not listed sort after these, alphabetically.
const KIND_ORDER: &[&str] = &[
    "Namespace",
    "CustomResourceDefinition",
    "PriorityClass",
    "StorageClass",
    "IngressClass",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Ingress",
];

/// Kinds that live outside namespaces: they never get the tenant's namespace.
const CLUSTER_SCOPED: &[&str] = &[
    "APIService",
    "CSIDriver",
    "CSINode",
    "CertificateSigningRequest",
    "ClusterIssuer",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "FlowSchema",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "RuntimeClass",
    "StorageClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
    "VolumeSnapshotClass",
];

/// Whether objects of `kind` are cluster-scoped.
pub fn is_cluster_scoped(kind: &str) -> bool {
    CLUSTER_SCOPED.contains(&kind)
}

/// Position of `kind` in the install order; unknown kinds share the last rank.
pub fn kind_rank(kind: &str) -> usize {
    KIND_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(KIND_ORDER.len())
}

/// One rendered Kubernetes object.
#[derive(Debug, Clone)]
pub struct RenderedManifest {
    pub api_version: String,
    pub kind: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
    /// The template file that produced it.
    pub source_template: String,
    /// The whole object, keys in canonical order.
    pub object: Value,
    /// `object` as YAML, serialised on first use: judging a release (admission, policies) needs
    /// only the objects, writing it needs the text, and serialising is a third of a render.
    rendered: OnceLock<String>,
}

/// Equal objects give equal text, so the serialised cache is not compared.
impl PartialEq for RenderedManifest {
    fn eq(&self, other: &Self) -> bool {
        self.api_version == other.api_version
            && self.kind == other.kind
            && self.namespace == other.namespace
            && self.name == other.name
            && self.source_template == other.source_template
            && self.object == other.object
    }
}

impl RenderedManifest {
    /// The object as YAML, keys in canonical order, ending with a newline. Serialises
    /// [`RenderedManifest::object`] as it is now; [`RenderedManifest::rendered_yaml`] serialises
    /// once and keeps the text.
    pub fn yaml(&self) -> Result<String> {
        serialize(
            &self.kind,
            self.namespace.as_deref(),
            &self.name,
            &self.object,
        )
    }

    /// The YAML of the object as rendered, serialised on first use and kept: the bytes of its
    /// file and of the render digest. Objects are not changed after the render.
    pub fn rendered_yaml(&self) -> Result<&str> {
        if let Some(text) = self.rendered.get() {
            return Ok(text);
        }
        let text = self.yaml()?;
        Ok(self.rendered.get_or_init(|| text))
    }

    /// The rendered YAML, consuming the manifest (no copy when it was already serialised).
    pub fn into_rendered_yaml(mut self) -> Result<String> {
        match self.rendered.take() {
            Some(text) => Ok(text),
            None => self.yaml(),
        }
    }

    /// An object no chart rendered (pasted on the dashboard's policy page), checked to be a
    /// Kubernetes object and otherwise kept exactly as written: no namespace is defaulted,
    /// since no tenant says which one it would get.
    pub(crate) fn from_object(object: Value) -> std::result::Result<Self, String> {
        let Value::Object(map) = &object else {
            return Err(format!(
                "expected a map with apiVersion, kind and metadata, found {}",
                crate::values::type_name(&object)
            ));
        };
        let api_version = non_empty_string(map, "apiVersion")?;
        let kind = non_empty_string(map, "kind")?;
        let metadata = match map.get("metadata") {
            Some(Value::Object(m)) => m,
            Some(_) => return Err(format!("{kind} metadata must be a map")),
            None => return Err(format!("{kind} has no metadata")),
        };
        let name = match metadata.get("name") {
            Some(Value::String(n)) if !n.trim().is_empty() => n.clone(),
            _ => return Err(format!("{kind} has no metadata.name")),
        };
        let namespace = metadata
            .get("namespace")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(RenderedManifest {
            api_version,
            kind,
            namespace,
            name,
            source_template: String::new(),
            object,
            rendered: OnceLock::new(),
        })
    }

    /// `deployment-payment-api.yaml`: lowercase kind, then name.
    pub fn file_name(&self) -> String {
        format!("{}-{}.yaml", self.kind.to_ascii_lowercase(), self.name)
    }

    /// `namespace/name`, or `name` for cluster-scoped objects.
    pub fn display_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// Install order, as described in the module docs.
    pub fn install_order(&self, other: &Self) -> Ordering {
        let rank = kind_rank(&self.kind).cmp(&kind_rank(&other.kind));
        rank.then_with(|| self.kind.cmp(&other.kind))
            .then_with(|| self.namespace.cmp(&other.namespace))
            .then_with(|| self.name.cmp(&other.name))
            .then_with(|| self.api_version.cmp(&other.api_version))
            .then_with(|| self.source_template.cmp(&other.source_template))
    }
}

/// Where a document came from, for error messages.
pub(crate) struct DocumentOrigin<'a> {
    pub chart: &'a str,
    pub template: &'a str,
    /// 1-based.
    pub document: usize,
}

fn serialize(kind: &str, namespace: Option<&str>, name: &str, object: &Value) -> Result<String> {
    crate::yaml_writer::to_yaml(object).map_err(|e| RenderError::Serialize {
        what: match namespace {
            Some(ns) => format!("{kind} {ns}/{name}"),
            None => format!("{kind} {name}"),
        },
        message: e.to_string(),
    })
}

/// Checks that `doc` is a Kubernetes object, defaults its namespace to `default_namespace`
/// unless its kind is cluster-scoped, sets `labels` in its `metadata.labels` (over the
/// template's own; a `labels` that is not a map is left alone), puts its keys in canonical order
/// and serialises it.
pub(crate) fn to_manifest(
    doc: Value,
    default_namespace: &str,
    labels: &[(&str, &str)],
    origin: &DocumentOrigin<'_>,
) -> Result<RenderedManifest> {
    let not_object = |problem: String| RenderError::NotAnObject {
        chart: origin.chart.to_owned(),
        template: origin.template.to_owned(),
        document: origin.document,
        problem,
    };
    let Value::Object(mut map) = doc else {
        return Err(not_object(format!(
            "expected a map with apiVersion, kind and metadata, found {}",
            crate::values::type_name(&doc)
        )));
    };
    let api_version = non_empty_string(&map, "apiVersion").map_err(&not_object)?;
    let kind = non_empty_string(&map, "kind").map_err(&not_object)?;
    let metadata = match map.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        Some(_) => return Err(not_object(format!("{kind} metadata must be a map"))),
        None => return Err(not_object(format!("{kind} has no metadata"))),
    };
    let name = match metadata.get("name") {
        Some(Value::String(n)) => n.clone(),
        Some(other) => {
            return Err(not_object(format!(
                "{kind} metadata.name must be a string, found {}",
                crate::values::type_name(other)
            )));
        }
        None => return Err(not_object(format!("{kind} has no metadata.name"))),
    };
    let invalid = |field: NameField, value: &str, reason: String| RenderError::InvalidName {
        chart: origin.chart.to_owned(),
        template: origin.template.to_owned(),
        kind: kind.as_str().into(),
        field,
        name: value.to_owned(),
        reason: reason.into(),
    };
    check_dns1123_subdomain(&name).map_err(|r| invalid(NameField::Name, &name, r))?;

    let namespace = match metadata.get("namespace") {
        Some(Value::String(ns)) => {
            check_dns1123_label(ns).map_err(|r| invalid(NameField::Namespace, ns, r))?;
            Some(ns.clone())
        }
        Some(Value::Null) | None => None,
        Some(other) => {
            return Err(not_object(format!(
                "{kind} metadata.namespace must be a string, found {}",
                crate::values::type_name(other)
            )));
        }
    };
    let namespace = if is_cluster_scoped(&kind) {
        metadata.remove("namespace");
        None
    } else {
        let ns = namespace.unwrap_or_else(|| default_namespace.to_owned());
        metadata.insert("namespace".to_owned(), Value::String(ns.clone()));
        Some(ns)
    };
    if !labels.is_empty()
        && let Value::Object(existing) = metadata
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()))
    {
        for (key, value) in labels {
            existing.insert((*key).to_owned(), Value::String((*value).to_owned()));
        }
    }

    let object = canonical_object(map);
    Ok(RenderedManifest {
        api_version,
        kind,
        namespace,
        name,
        source_template: origin.template.to_owned(),
        object,
        rendered: OnceLock::new(),
    })
}

fn non_empty_string(map: &Map<String, Value>, key: &str) -> std::result::Result<String, String> {
    match map.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(format!("{key} is empty")),
        Some(other) => Err(format!(
            "{key} must be a string, found {}",
            crate::values::type_name(other)
        )),
        None => Err(format!("{key} is missing")),
    }
}

/// RFC 1123 subdomain: at most 253 characters, lowercase letters, digits, `-` and `.`, each
/// dot-separated part starting and ending with a letter or digit.
pub fn check_dns1123_subdomain(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if name.len() > 253 {
        return Err(format!(
            "must be at most 253 characters, has {}",
            name.len()
        ));
    }
    for part in name.split('.') {
        check_label_chars(part).map_err(|r| {
            format!("{r} (a lowercase RFC 1123 subdomain such as \"payment-api\" or \"api.example.com\")")
        })?;
    }
    Ok(())
}

/// RFC 1123 label: at most 63 characters, lowercase letters, digits and `-`, starting and
/// ending with a letter or digit. Namespaces are labels.
pub fn check_dns1123_label(name: &str) -> std::result::Result<(), String> {
    if name.len() > 63 {
        return Err(format!("must be at most 63 characters, has {}", name.len()));
    }
    check_label_chars(name)
        .map_err(|r| format!("{r} (a lowercase RFC 1123 label such as \"payments\")"))
}

fn check_label_chars(part: &str) -> std::result::Result<(), String> {
    if part.is_empty() {
        return Err("has an empty part".to_owned());
    }
    if let Some(c) = part
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!("contains {c:?}"));
    }
    if part.starts_with('-') || part.ends_with('-') {
        return Err("must start and end with a lowercase letter or digit".to_owned());
    }
    Ok(())
}

/// `apiVersion`, `kind`, `metadata` first, then the rest sorted; nested maps sorted.
fn canonical_object(mut map: Map<String, Value>) -> Value {
    let mut out = Map::with_capacity(map.len());
    for key in ["apiVersion", "kind", "metadata"] {
        if let Some(v) = map.shift_remove(key) {
            out.insert(key.to_owned(), sorted(v));
        }
    }
    map.sort_keys();
    for (k, v) in map {
        out.insert(k, sorted(v));
    }
    Value::Object(out)
}

/// `value` with every map's keys sorted. Maps are rebuilt rather than sorted in place: a
/// parsed map's spare capacity would stay with every object a large release keeps.
pub fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn origin() -> DocumentOrigin<'static> {
        DocumentOrigin {
            chart: "microservice-base@1.0.0",
            template: "deployment.yaml",
            document: 1,
        }
    }

    #[test]
    fn namespace_defaults_to_the_tenant_namespace() {
        let m = to_manifest(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}}),
            "payments",
            &[],
            &origin(),
        )
        .unwrap();
        assert_eq!(m.namespace.as_deref(), Some("payments"));
        assert_eq!(m.object["metadata"]["namespace"], "payments");
    }

    #[test]
    fn explicit_namespace_is_kept() {
        let m = to_manifest(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "other"}}),
            "payments",
            &[],
            &origin(),
        )
        .unwrap();
        assert_eq!(m.namespace.as_deref(), Some("other"));
    }

    #[test]
    fn cluster_scoped_kinds_get_no_namespace() {
        for kind in [
            "Namespace",
            "ClusterRole",
            "ClusterRoleBinding",
            "CustomResourceDefinition",
            "PriorityClass",
            "StorageClass",
            "IngressClass",
        ] {
            let m = to_manifest(
                json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": "x", "namespace": "stray"}}),
                "payments",
                &[],
                &origin(),
            )
            .unwrap();
            assert_eq!(m.namespace, None, "{kind}");
            assert!(m.object["metadata"].get("namespace").is_none(), "{kind}");
        }
    }

    #[test]
    fn missing_fields_are_reported() {
        let cases = [
            (
                json!({"kind": "Service", "metadata": {"name": "a"}}),
                "apiVersion is missing",
            ),
            (
                json!({"apiVersion": "v1", "metadata": {"name": "a"}}),
                "kind is missing",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Service"}),
                "Service has no metadata",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {}}),
                "Service has no metadata.name",
            ),
            (json!(["a"]), "found a list"),
            (json!("text"), "found a string"),
        ];
        for (doc, needle) in cases {
            let err = to_manifest(doc, "ns", &[], &origin()).unwrap_err();
            assert!(matches!(err, RenderError::NotAnObject { .. }), "{err}");
            let text = err.to_string();
            assert!(text.contains(needle), "{text} lacks {needle}");
            assert!(text.contains("deployment.yaml"), "{text}");
        }
    }

    #[test]
    fn bad_names_are_rejected() {
        for name in [
            "Payment-API",
            "-a",
            "a-",
            "a..b",
            "a_b",
            "",
            &"a".repeat(254),
        ] {
            let err = to_manifest(
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}}),
                "ns",
                &[],
                &origin(),
            )
            .unwrap_err();
            assert!(
                matches!(
                    err,
                    RenderError::InvalidName {
                        field: NameField::Name,
                        ..
                    }
                ),
                "{name}: {err}"
            );
        }
        for name in ["payment-api", "api.example.com", "a", "0abc"] {
            check_dns1123_subdomain(name).unwrap();
        }
        let err = to_manifest(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "Bad.NS"}}),
            "ns",
            &[],
            &origin(),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                RenderError::InvalidName {
                    field: NameField::Namespace,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn keys_are_canonical() {
        let m = to_manifest(
            json!({"spec": {"b": 1, "a": {"z": 1, "y": 2}}, "data": 1, "metadata": {"name": "x"}, "kind": "Thing", "apiVersion": "v1"}),
            "ns",
            &[],
            &origin(),
        )
        .unwrap();
        assert_eq!(
            m.yaml().unwrap(),
            "apiVersion: v1\nkind: Thing\nmetadata:\n  name: x\n  namespace: ns\ndata: 1\nspec:\n  a:\n    y: 2\n    z: 1\n  b: 1\n"
        );
        assert_eq!(m.file_name(), "thing-x.yaml");
    }

    #[test]
    fn labels_are_set_over_the_templates_and_sorted() {
        let labels = [("gitopshq.io/tenant", "acme"), ("app", "from-caller")];
        let m = to_manifest(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": {"z": "1", "app": "from-template"}}}),
            "ns",
            &labels,
            &origin(),
        )
        .unwrap();
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels:\n    app: from-caller\n    gitopshq.io/tenant: acme\n    z: '1'\n  name: cfg\n  namespace: ns\n";
        assert_eq!(m.rendered_yaml().unwrap(), text);
        assert_eq!(m.yaml().unwrap(), text);

        let m = to_manifest(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}}),
            "ns",
            &labels,
            &origin(),
        )
        .unwrap();
        assert_eq!(
            m.object["metadata"]["labels"],
            json!({"app": "from-caller", "gitopshq.io/tenant": "acme"})
        );

        // A `labels` that is not a map is the template's problem; it is left as written.
        let m = to_manifest(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": null}}),
            "ns",
            &labels,
            &origin(),
        )
        .unwrap();
        assert_eq!(m.object["metadata"]["labels"], Value::Null);
    }

    #[test]
    fn kind_rank_follows_install_order() {
        let order = [
            "Namespace",
            "CustomResourceDefinition",
            "ServiceAccount",
            "Secret",
            "ConfigMap",
            "ClusterRole",
            "RoleBinding",
            "Service",
            "Deployment",
            "CronJob",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "Ingress",
            "Certificate",
        ];
        let ranks: Vec<_> = order.iter().map(|k| kind_rank(k)).collect();
        let mut sorted_ranks = ranks.clone();
        sorted_ranks.sort();
        assert_eq!(ranks, sorted_ranks);
    }
}
