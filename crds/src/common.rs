//! Types shared by several kinds.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Free-form values (chart defaults and every override layer). An absent field and an empty map
/// mean the same thing for values layering, so the Rust side uses a plain map with a default
/// instead of an `Option`.
pub type Values = serde_json::Map<String, serde_json::Value>;

/// A key of a Secret in the same namespace as the object that refers to it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::schema::DNS_SUBDOMAIN))]
    pub name: String,
    /// Key inside the Secret's `data`.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// A Secret referenced from a cluster-scoped object (no key: the consumer knows its keys).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Namespace of the Secret. Optional because most installations keep these Secrets next to
    /// the operator: when absent, the operator's own namespace is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = crate::schema::DNS_LABEL))]
    pub namespace: Option<String>,
    /// Secret name.
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::schema::DNS_SUBDOMAIN))]
    pub name: String,
}

/// Health of delivered objects, in the terms Argo CD uses.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Health {
    /// Every delivered object is ready.
    Healthy,
    /// Objects are still rolling out.
    Progressing,
    /// At least one object failed (CrashLoopBackOff, failed rollout …).
    Degraded,
    /// Delivered objects are missing from the cluster.
    Missing,
    /// Delivery is suspended (for example a suspended Tenant).
    Suspended,
    /// Health has not been observed yet.
    #[default]
    Unknown,
}

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    Condition, LabelSelector, MicroTime, Time,
};

/// Kubernetes-style labels (`map[string]string`).
pub type Labels = std::collections::BTreeMap<String, String>;
