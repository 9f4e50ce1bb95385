//! `Chart`: a named chart in the registry; its content lives in `ChartVersion` objects.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::Condition;

/// Spec of a `Chart` (cluster-scoped).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[kube(
    group = "gitopshq.io",
    version = "v1alpha1",
    kind = "Chart",
    doc = "A chart of the registry: its description, template engine and owning groups. Its published versions are ChartVersion objects named <chart>-<version>.",
    status = "ChartStatus",
    shortname = "chart",
    category = "gitopshq",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Latest", type_ = "string", json_path = ".status.latest"),
    printcolumn(
        name = "Description",
        type_ = "string",
        json_path = ".spec.description",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ChartSpec {
    /// Free text. Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub description: Option<String>,
    /// Template engine. Defaulted because Handlebars is the only one today.
    #[serde(default, rename = "type")]
    pub type_: ChartType,
    /// Groups allowed to publish versions of this chart. Empty means anyone allowed to create
    /// ChartVersion objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::group_set")]
    pub owners: Vec<String>,
}

/// Template engine of a chart.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ChartType {
    /// Handlebars templates, HTML escaping off, strict mode on.
    #[default]
    Handlebars,
}

/// Observed state of a `Chart`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ChartStatus {
    /// Published versions, highest semver first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<ChartVersionSummary>,
    /// Highest non-deprecated, non-pre-release version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<String>,
    /// Standard conditions (`Ready`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    #[cfg_attr(feature = "ts", ts(as = "Vec<crate::ts::Condition>"))]
    pub conditions: Vec<Condition>,
}

/// One published version as listed on its chart.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ChartVersionSummary {
    /// Semantic version.
    pub version: String,
    /// Whether the version is deprecated.
    #[serde(default)]
    pub deprecated: bool,
    /// Number of (project, workload, environment) triples that use it.
    #[serde(default)]
    pub consumers: i32,
}
