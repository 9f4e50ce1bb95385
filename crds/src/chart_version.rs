//! `ChartVersion`: an immutable published version of a chart (templates and default values).

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, Values};

/// Spec of a `ChartVersion` (cluster-scoped, named `<chart>-<version>`). Immutable once created
/// except `deprecated` and `deprecationMessage`: the schema pins `chart` and `version`, the
/// webhook the rest.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[kube(
    group = "gitopshq.io",
    version = "v1alpha1",
    kind = "ChartVersion",
    doc = "A published, immutable version of a chart: Handlebars templates and default values. Named <chart>-<version>.",
    status = "ChartVersionStatus",
    shortname = "cv",
    category = "gitopshq",
    derive = "PartialEq",
    derive = "Default",
    validation = Rule::new("self.metadata.name == self.spec.chart + '-' + self.spec.version").message("a ChartVersion must be named <chart>-<version>, for example microservice-base-1.0.0 for chart microservice-base version 1.0.0"),
    printcolumn(name = "Chart", type_ = "string", json_path = ".spec.chart"),
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
    printcolumn(name = "Deprecated", type_ = "boolean", json_path = ".spec.deprecated"),
    printcolumn(name = "Consumers", type_ = "integer", json_path = ".status.consumerCount"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ChartVersionSpec {
    /// Name of the Chart this version belongs to.
    #[schemars(length(min = 1, max = 63), regex(pattern = crate::schema::DNS_LABEL))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("chart is immutable: publish a new ChartVersion instead"))]
    pub chart: String,
    /// Semantic version (`1.2.0`, `2.0.0-rc.1`). Lower case only, since it is part of the
    /// object name.
    #[schemars(length(min = 5, max = 64), regex(pattern = crate::schema::SEMVER))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("version is immutable: publish a new ChartVersion instead"))]
    pub version: String,
    /// What changed since the previous version. Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16384))]
    pub changelog: Option<String>,
    /// Template file name → Handlebars text. A template may render several documents.
    #[serde(default)]
    #[schemars(schema_with = "templates_schema")]
    pub templates: BTreeMap<String, String>,
    /// Default values, the lowest layer of values.
    #[serde(default, skip_serializing_if = "Values::is_empty")]
    #[schemars(schema_with = "crate::schema::free_form_object")]
    pub values: Values,
    /// JSON Schema the merged values must satisfy before rendering. Optional: without it any
    /// values are accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::free_form_object")]
    pub values_schema: Option<serde_json::Value>,
    /// Whether new uses of this version are discouraged (existing ones keep working).
    #[serde(default)]
    pub deprecated: bool,
    /// Why, and what to use instead; shown as a warning to those who reference the version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub deprecation_message: Option<String>,
}

fn templates_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": 256,
        "additionalProperties": {"type": "string", "maxLength": 262144},
    })
}

/// Observed state of a `ChartVersion`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ChartVersionStatus {
    /// Every (project, workload, environment) that uses this version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<ChartConsumer>,
    /// Number of `consumers`, for `kubectl get` (addition).
    #[serde(default)]
    pub consumer_count: i32,
    /// `sha256:<hex>` of templates and values, to detect tampering with a published version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Standard conditions (`Ready`, `Valid`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    #[cfg_attr(feature = "ts", ts(as = "Vec<crate::ts::Condition>"))]
    pub conditions: Vec<Condition>,
}

/// A use of a chart version.
#[derive(
    Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ChartConsumer {
    /// Project name.
    pub project: String,
    /// Workload name (in the project's namespace).
    pub workload: String,
    /// Environment name.
    pub environment: String,
}
