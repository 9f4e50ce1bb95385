//! `Workload`: a chart version deployed with values, with per-environment overrides.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, Health, Values};
use crate::consts::defaults;

/// Spec of a `Workload` (namespaced, in the project's namespace).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[kube(
    group = "gitopshq.io",
    version = "v1alpha1",
    kind = "Workload",
    namespaced,
    doc = "An application of a project: a chart version, its values, per-environment overrides and an image update policy.",
    status = "WorkloadStatus",
    shortname = "wl",
    category = "gitopshq",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "Chart", type_ = "string", json_path = ".spec.chart"),
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
    printcolumn(
        name = "Target-NS",
        type_ = "string",
        json_path = ".spec.targetNamespace"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSpec {
    /// Chart name.
    #[schemars(length(min = 1, max = 63), regex(pattern = crate::schema::DNS_LABEL))]
    pub chart: String,
    /// Chart version used unless an environment overrides it.
    #[schemars(length(min = 5, max = 64), regex(pattern = crate::schema::SEMVER))]
    pub version: String,
    /// Namespace in the workload cluster. Optional: the tenant's namespace is used when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = crate::schema::DNS_LABEL))]
    pub target_namespace: Option<String>,
    /// Values over the chart defaults.
    #[serde(default, skip_serializing_if = "Values::is_empty")]
    #[schemars(schema_with = "crate::schema::values_layer")]
    pub values: Values,
    /// Environment name → overrides for that environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "environment_overrides")]
    pub environments: BTreeMap<String, EnvironmentOverride>,
    /// Automatic image updates. Optional: absent means versions change only through releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_update: Option<ImageUpdate>,
}

fn environment_overrides(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = <BTreeMap<String, EnvironmentOverride>>::json_schema(generator);
    schema.insert("maxProperties".into(), 64.into());
    schema
}

/// Per-environment overrides of a workload.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentOverride {
    /// Values over the workload values, in this environment.
    #[serde(default, skip_serializing_if = "Values::is_empty")]
    #[schemars(schema_with = "crate::schema::values_layer")]
    pub values: Values,
    /// Chart version in this environment. Optional: the workload's `version` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 5, max = 64), regex(pattern = crate::schema::SEMVER))]
    pub version: Option<String>,
}

/// Watch an image repository and propose (or make) releases for new tags.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ImageUpdate {
    /// Image repository (`registry.example.com/payment-api`).
    #[schemars(length(min = 1, max = 512))]
    pub repository: String,
    /// Tags to consider: a semver range (`>=1.2.0 <2`) or a glob (`v*.*.*`).
    #[schemars(length(min = 1, max = 256))]
    pub tag_pattern: String,
    /// Dotted path of the value that holds the tag. Defaulted to "image.tag", the convention of
    /// the standard charts.
    #[serde(default = "default_value_path")]
    #[schemars(
        length(min = 1, max = 256),
        regex(pattern = "^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$")
    )]
    pub value_path: String,
    /// Environments where a new tag creates and submits a release by itself. Empty means none:
    /// new tags are only reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::name_set")]
    pub auto_release: Vec<String>,
}

impl Default for ImageUpdate {
    fn default() -> Self {
        Self {
            repository: String::new(),
            tag_pattern: String::new(),
            value_path: default_value_path(),
            auto_release: Vec::new(),
        }
    }
}

fn default_value_path() -> String {
    defaults::IMAGE_VALUE_PATH.to_string()
}

/// Observed state of a `Workload`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct WorkloadStatus {
    /// Environment name → what runs there.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, WorkloadEnvironmentStatus>,
    /// Newest tag seen by the image update policy (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_image_tag: Option<String>,
    /// Standard conditions (`Ready`, `Valid`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    #[cfg_attr(feature = "ts", ts(as = "Vec<crate::ts::Condition>"))]
    pub conditions: Vec<Condition>,
}

/// What a workload runs in one environment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct WorkloadEnvironmentStatus {
    /// Chart version delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Release that delivered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Commit that delivered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Aggregated health over the environment's tenants.
    #[serde(default)]
    pub health: Health,
    /// Tenant name → what runs for it, as recorded in the GitOps repository (the folder's
    /// `_state.yaml`) by the last delivery there (addition).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tenants: BTreeMap<String, WorkloadTenantStatus>,
}

/// What runs for one tenant: the state its last delivery recorded in Git. The next release of
/// the workload there starts from `addedVersion` and `values`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct WorkloadTenantStatus {
    /// Release whose render runs (for a rollback: the release restored).
    pub release: String,
    pub chart: String,
    /// Chart version that rendered.
    pub version: String,
    /// Chart version a release pinned, carried until a release sets another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_version: Option<String>,
    /// Values the releases added over the Workload's, accumulated.
    #[serde(default, skip_serializing_if = "Values::is_empty")]
    #[schemars(schema_with = "crate::schema::free_form_object")]
    pub values: Values,
    /// Render digest (`sha256:…`).
    pub digest: String,
    /// Commit holding this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}
