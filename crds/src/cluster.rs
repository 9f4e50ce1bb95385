//! `Cluster`: a workload cluster reached through a registered kubeconfig.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, Labels, Time};
use crate::consts::defaults;

/// Spec of a `Cluster` (cluster-scoped).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[kube(
    group = "gitopshq.io",
    version = "v1alpha1",
    kind = "Cluster",
    doc = "A workload cluster reached through a kubeconfig stored in a Secret, and the environments it serves.",
    status = "ClusterStatus",
    shortname = "cl",
    category = "gitopshq",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".status.serverVersion"
    ),
    printcolumn(
        name = "Heartbeat",
        type_ = "date",
        json_path = ".status.lastHeartbeat"
    ),
    printcolumn(
        name = "Environments",
        type_ = "string",
        json_path = ".spec.environments",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// Secret holding a kubeconfig for the cluster.
    pub kubeconfig_secret_ref: KubeconfigSecretRef,
    /// Environments this cluster serves. Tenants of other environments may not target it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::name_set")]
    pub environments: Vec<String>,
    /// Free labels (region, provider …) for selection and display.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    #[schemars(schema_with = "crate::schema::labels")]
    pub labels: Labels,
    /// How Secrets delivered to this cluster through Git are encrypted. Optional: without it,
    /// a Flux release that carries a Secret is Blocked (never committed in plaintext); Argo CD
    /// and Direct delivery apply Secrets straight to the cluster and need none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_encryption: Option<SecretEncryption>,
}

/// Encryption of the Secrets committed for a cluster: SOPS with age.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SecretEncryption {
    /// age public keys (`age1…`) the Secrets are encrypted for; the cluster's Flux holds one
    /// of the matching identities (the `sops-age` Secret its Kustomizations decrypt with).
    #[schemars(schema_with = "age_recipients")]
    pub age_recipients: Vec<String>,
}

fn age_recipients(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "minItems": 1,
        "maxItems": 16,
        "items": {"type": "string", "pattern": "^age1[02-9ac-hj-np-z]{58}$"},
    })
}

/// Where the kubeconfig of a cluster is stored.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct KubeconfigSecretRef {
    /// Namespace of the Secret (the Cluster itself has none).
    #[schemars(length(min = 1, max = 63), regex(pattern = crate::schema::DNS_LABEL))]
    pub namespace: String,
    /// Secret name.
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::schema::DNS_SUBDOMAIN))]
    pub name: String,
    /// Key of the kubeconfig inside the Secret. Defaulted (to "kubeconfig", what
    /// `gitopshq cluster register` writes) so that references stay short.
    #[serde(default = "default_kubeconfig_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

impl Default for KubeconfigSecretRef {
    fn default() -> Self {
        Self {
            namespace: String::new(),
            name: String::new(),
            key: default_kubeconfig_key(),
        }
    }
}

fn default_kubeconfig_key() -> String {
    defaults::KUBECONFIG_KEY.to_string()
}

/// Whether the operator reaches the cluster.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ClusterPhase {
    /// The last heartbeat succeeded.
    Connected,
    /// The cluster was never reached, or it cannot be tried (its Secret or kubeconfig is
    /// missing or unusable); `message` says why and what to fix.
    Unreachable,
    /// The cluster answered before and its API server stopped answering; its tenants' health
    /// is Unknown until it answers again.
    Disconnected,
}

/// Observed state of a `Cluster`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// Absent until the first heartbeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ClusterPhase>,
    /// `gitVersion` the cluster's API server reports (`v1.34.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// Time of the last successful contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub last_heartbeat: Option<Time>,
    /// Why the cluster is unreachable or disconnected, with the next step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Standard conditions (`Ready`, `Connected`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    #[cfg_attr(feature = "ts", ts(as = "Vec<crate::ts::Condition>"))]
    pub conditions: Vec<Condition>,
}
