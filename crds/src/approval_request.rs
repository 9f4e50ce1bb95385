//! `ApprovalRequest`: the approvals of one release, created and owned by the controller.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, Time};

/// Spec of an `ApprovalRequest` (namespaced, next to its Release). Approvers append a decision
/// (`kubectl patch --type=json` add `/spec/decisions/-`, or `gitopshq approve`); the webhook
/// stamps `user`, `groups` and `time` and denies edits of earlier decisions.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[kube(
    group = "gitopshq.io",
    version = "v1alpha1",
    kind = "ApprovalRequest",
    namespaced,
    doc = "The approvals a release needs under an ApprovalPolicy. Approvers append to spec.decisions; identity is taken from the request.",
    status = "ApprovalRequestStatus",
    shortname = "ar",
    category = "gitopshq",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "Release", type_ = "string", json_path = ".spec.release"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Received", type_ = "integer", json_path = ".status.received"),
    printcolumn(name = "Required", type_ = "integer", json_path = ".status.required"),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.message",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequestSpec {
    /// Release name (same namespace).
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::schema::DNS_SUBDOMAIN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("release is immutable"))]
    pub release: String,
    /// ApprovalPolicy name.
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::schema::DNS_SUBDOMAIN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("policy is immutable"))]
    pub policy: String,
    /// `sha256:…` of the rendered content the approvers approve, written by the controller.
    /// When the inputs change after approval the controller records the new digest, and only
    /// decisions stamped with the current one count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_digest: Option<String>,
    /// The inputs the approved content was rendered from (`Workload/api`, `Tenant/eu-prod`,
    /// `Variables/prod`, `ChartVersion/base-1.0.0` …) → `sha256:` of their spec, written with
    /// `renderedDigest`, so a changed digest names what changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "inputs")]
    pub inputs: BTreeMap<String, String>,
    /// What changed since the previous `renderedDigest` (written with it), for approvers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub digest_change: Option<String>,
    /// Decisions, in the order they were made. Only appending is allowed. Always written, even
    /// empty, so approvers can append with a JSON patch `add /spec/decisions/-`.
    #[serde(default)]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("size(self) >= size(oldSelf)").message("decisions cannot be removed: append a new decision instead"))]
    pub decisions: Vec<Decision>,
}

fn inputs(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": 1024,
        "additionalProperties": {"type": "string", "maxLength": 80},
    })
}

/// One approver's decision.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// Approve or Reject.
    pub decision: DecisionKind,
    /// Why. Optional for approvals; customary for rejections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub comment: Option<String>,
    /// Stamped by the webhook from the request's user; optional because clients leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Stamped by the webhook from the request's groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Stamped by the webhook at admission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub time: Option<Time>,
    /// The request's `renderedDigest` when the decision was made (stamped by the webhook):
    /// what this decision approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_digest: Option<String>,
}

/// An approver's answer.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum DecisionKind {
    Approve,
    Reject,
}

/// Outcome of an approval request.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ApprovalPhase {
    /// Quorum not reached, nobody rejected.
    #[default]
    Pending,
    /// Quorum reached.
    Approved,
    /// An approver rejected.
    Rejected,
    /// Not needed: an active break-glass session the release names covers it, so the release
    /// went on without approvals (the message names the session).
    Bypassed,
    /// The release was cancelled before delivery: decisions no longer count (the message names
    /// who cancelled it and why).
    Cancelled,
}

/// Observed state of an `ApprovalRequest`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequestStatus {
    /// Absent until the first reconciliation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ApprovalPhase>,
    /// Valid approvals received.
    #[serde(default)]
    pub received: i32,
    /// Approvals needed.
    #[serde(default)]
    pub required: i32,
    /// Progress and what is missing ("1 of 2 approvals received; needs a team other than
    /// backend-team").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Standard conditions (`Ready`, `Approved`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    #[cfg_attr(feature = "ts", ts(as = "Vec<crate::ts::Condition>"))]
    pub conditions: Vec<Condition>,
}
