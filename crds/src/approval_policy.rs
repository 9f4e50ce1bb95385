//! `ApprovalPolicy`: who must approve releases into which environments.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::Condition;
use crate::release::ReleaseType;

/// Spec of an `ApprovalPolicy` (cluster-scoped).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[kube(
    group = "gitopshq.io",
    version = "v1alpha1",
    kind = "ApprovalPolicy",
    plural = "approvalpolicies",
    doc = "An approval rule: releases of the given types into the given environments need minApprovals approvals from approverGroups.",
    status = "ApprovalPolicyStatus",
    shortname = "ap",
    category = "gitopshq",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(
        name = "Environments",
        type_ = "string",
        json_path = ".spec.environments"
    ),
    printcolumn(name = "Min", type_ = "integer", json_path = ".spec.minApprovals"),
    printcolumn(
        name = "Distinct-Teams",
        type_ = "boolean",
        json_path = ".spec.distinctTeams"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalPolicySpec {
    /// Environment names the policy binds.
    #[schemars(schema_with = "environments_schema")]
    pub environments: Vec<String>,
    /// Release types that need approval. Empty means every type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 3))]
    pub release_types: Vec<ReleaseType>,
    /// Approvals needed. Defaults to 1, the smallest meaningful quorum.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 16))]
    pub min_approvals: i32,
    /// Whether approvals must come from different teams (groups).
    #[serde(default)]
    pub distinct_teams: bool,
    /// Whether the release's creator is barred from approving it. Defaults to true: four eyes
    /// is the point of approvals, and turning it off must be explicit.
    #[serde(default = "yes")]
    pub forbid_self_approval: bool,
    /// Groups whose members may approve. Empty means any authenticated user who may patch
    /// ApprovalRequests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::group_set")]
    pub approver_groups: Vec<String>,
    /// How long a release may wait for its approvals (Go-style duration: `4h`, `30m`). Past it
    /// the release is marked overdue (condition `ApprovalOverdue`) and escalated through the
    /// notification channels. Optional: no deadline when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 16), regex(pattern = "^([0-9]+(s|m|h))+$"))]
    pub sla: Option<String>,
}

impl Default for ApprovalPolicySpec {
    fn default() -> Self {
        Self {
            environments: Vec::new(),
            release_types: Vec::new(),
            min_approvals: one(),
            distinct_teams: false,
            forbid_self_approval: yes(),
            approver_groups: Vec::new(),
            sla: None,
        }
    }
}

fn one() -> i32 {
    1
}

fn yes() -> bool {
    true
}

fn environments_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = crate::schema::name_set(generator);
    schema.insert("minItems".into(), 1.into());
    schema
}

/// Observed state of an `ApprovalPolicy`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ApprovalPolicyStatus {
    /// Standard conditions (`Ready`, `Valid`: every environment exists).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    #[cfg_attr(feature = "ts", ts(as = "Vec<crate::ts::Condition>"))]
    pub conditions: Vec<Condition>,
}
