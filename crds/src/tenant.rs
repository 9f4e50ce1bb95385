//! `Tenant`: one deployment target of a project (cluster + namespace) in one environment.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, Health, Labels, Values};

/// Spec of a `Tenant` (namespaced, in the project's namespace).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[kube(
    group = "gitopshq.io",
    version = "v1alpha1",
    kind = "Tenant",
    namespaced,
    doc = "A deployment target of a project: a namespace on a cluster in one environment, with labels (tier=canary …) and value overrides.",
    status = "TenantStatus",
    shortname = "tn",
    category = "gitopshq",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "Env", type_ = "string", json_path = ".spec.environment"),
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.cluster"),
    printcolumn(name = "Namespace", type_ = "string", json_path = ".spec.namespace"),
    printcolumn(name = "Suspended", type_ = "boolean", json_path = ".spec.suspended"),
    printcolumn(name = "Health", type_ = "string", json_path = ".status.health"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct TenantSpec {
    /// Environment name.
    #[schemars(length(min = 1, max = 63), regex(pattern = crate::schema::DNS_LABEL))]
    pub environment: String,
    /// Cluster name (a `Cluster` object that serves `environment`).
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::schema::DNS_SUBDOMAIN))]
    pub cluster: String,
    /// Namespace on that cluster.
    #[schemars(length(min = 1, max = 63), regex(pattern = crate::schema::DNS_LABEL))]
    pub namespace: String,
    /// Labels used by tenant selectors (releases, promotion batches) and in templates.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    #[schemars(schema_with = "crate::schema::labels")]
    pub labels: Labels,
    /// Values over every workload's values, for this tenant.
    #[serde(default, skip_serializing_if = "Values::is_empty")]
    #[schemars(schema_with = "crate::schema::values_layer")]
    pub values: Values,
    /// Workload name → overrides for that workload on this tenant (the highest layer).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub workloads: BTreeMap<String, TenantWorkload>,
    /// A suspended tenant receives no deliveries; its last delivered state stays in place.
    #[serde(default)]
    pub suspended: bool,
}

/// Per-workload overrides on a tenant.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TenantWorkload {
    /// Values over everything else.
    #[serde(default, skip_serializing_if = "Values::is_empty")]
    #[schemars(schema_with = "crate::schema::values_layer")]
    pub values: Values,
}

/// Observed state of a `Tenant` (API.md names none beyond conditions; these are additions).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    /// Last release delivered to this tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_release: Option<String>,
    /// Commit of that delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Aggregated health of the objects delivered to this tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// Standard conditions (`Ready`, `Valid`, `Healthy`, `Drifted`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    #[cfg_attr(feature = "ts", ts(as = "Vec<crate::ts::Condition>"))]
    pub conditions: Vec<Condition>,
}
