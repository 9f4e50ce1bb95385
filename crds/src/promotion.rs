//! `Promotion`: a release rolled out batch by batch, with approval and soak gates.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, LabelSelector, Time};

/// Spec of a `Promotion` (namespaced, in the project's namespace).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[kube(
    group = "gitopshq.io",
    version = "v1alpha1",
    kind = "Promotion",
    namespaced,
    doc = "Rolls a release out to tenants in ordered batches (canary first …), each gated by an optional approval and a health soak; pauses on degradation.",
    status = "PromotionStatus",
    shortname = "promo",
    category = "gitopshq",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "Release", type_ = "string", json_path = ".spec.release"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Batch", type_ = "string", json_path = ".status.currentBatch"),
    printcolumn(name = "Progress", type_ = "string", json_path = ".status.progress"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct PromotionSpec {
    /// The source Release whose changes are promoted.
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::schema::DNS_SUBDOMAIN))]
    pub release: String,
    /// The environment the batches deliver to. Optional: the source release's environment
    /// (its other tenants, batch by batch). Another environment receives the state the source
    /// release recorded (its chart version and the values releases added), under that
    /// environment's approval policy, freezes and policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = crate::schema::DNS_LABEL))]
    pub to_environment: Option<String>,
    /// Batches, in order. At least one.
    #[schemars(length(min = 1, max = 32))]
    pub batches: Vec<PromotionBatch>,
    /// Whether a degraded batch pauses the promotion. Defaults to true: stopping is the safe
    /// reaction, continuing must be explicit.
    #[serde(default = "yes")]
    pub pause_on_degraded: bool,
    /// Set to pause after the current batch; unset to resume.
    #[serde(default)]
    pub paused: bool,
    /// User who created the promotion, stamped by the webhook. The batch releases carry them
    /// as author, so every approval rule applies to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

fn yes() -> bool {
    true
}

/// One batch of tenants.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PromotionBatch {
    /// Batch name (`canary`, `wave-1`).
    #[schemars(length(min = 1, max = 63), regex(pattern = crate::schema::DNS_LABEL))]
    pub name: String,
    /// Tenants of the batch by label. Exclusive with `tenants`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<crate::ts::LabelSelector>"))]
    pub tenant_selector: Option<LabelSelector>,
    /// Tenants of the batch by name. Exclusive with `tenantSelector`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::name_set")]
    pub tenants: Vec<String>,
    /// How long the batch must stay healthy before the next one starts, a Go duration
    /// (`10m`). Optional: no soak when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 32), regex(pattern = crate::schema::GO_DURATION))]
    pub soak: Option<String>,
    /// Whether the batch's release needs approval before it starts.
    #[serde(default)]
    pub require_approval: bool,
}

/// Lifecycle of a promotion.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum PromotionPhase {
    /// Working through the batches.
    #[default]
    Progressing,
    /// Paused by `spec.paused` or by a degraded batch.
    Paused,
    /// Every batch is healthy.
    Succeeded,
    /// A batch failed.
    Failed,
}

/// Lifecycle of one batch.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum BatchPhase {
    /// Not started.
    #[default]
    Pending,
    /// Waiting for the batch release's approvals.
    AwaitingApproval,
    /// Being delivered.
    Deploying,
    /// Healthy; waiting out the soak time.
    Soaking,
    /// Healthy for the soak time.
    Succeeded,
    /// Degraded.
    Degraded,
    /// Delivery failed.
    Failed,
}

/// Observed state of a `Promotion`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PromotionStatus {
    /// Absent until the first reconciliation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PromotionPhase>,
    /// Name of the batch in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_batch: Option<String>,
    /// Succeeded batches out of all ("1/3"), for `kubectl get` (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// What is happening and the next step (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// One entry per started batch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batches: Vec<BatchStatus>,
    /// Standard conditions (`Ready`, `Progressing`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    #[cfg_attr(feature = "ts", ts(as = "Vec<crate::ts::Condition>"))]
    pub conditions: Vec<Condition>,
}

/// State of one batch.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct BatchStatus {
    /// Batch name.
    pub name: String,
    /// Release created for the batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Batch phase.
    pub phase: BatchPhase,
    /// When the batch started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub started_at: Option<Time>,
    /// When the batch became healthy (soak starts here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub healthy_at: Option<Time>,
    /// When the batch finished its soak (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub succeeded_at: Option<Time>,
    /// Who approved the batch's release (addition).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// Tenants of the batch (addition).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<String>,
    /// What the batch is waiting for, or why it stopped (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
