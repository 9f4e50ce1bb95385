//! `BreakGlassSession`: a bounded, justified exception to freezes and approval gates, sealed
//! when it ends.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, Time};

/// Spec of a `BreakGlassSession` (namespaced, in the project's namespace).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[kube(
    group = "gitopshq.io",
    version = "v1alpha1",
    kind = "BreakGlassSession",
    namespaced,
    doc = "An emergency exception to freezes and approval gates for the releases that name it: scope, justification, severity and a duration of at most 4h. Active until closed or expired; what was done under it is sealed.",
    status = "BreakGlassSessionStatus",
    shortname = "bgs",
    category = "gitopshq",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Severity", type_ = "string", json_path = ".spec.severity"),
    printcolumn(name = "Expires", type_ = "date", json_path = ".status.expiresAt"),
    printcolumn(
        name = "Requested-By",
        type_ = "string",
        json_path = ".spec.requestedBy",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(oldSelf.closed) || !oldSelf.closed || self.closed").message("a closed break-glass session cannot be reopened: open a new session")
)]
pub struct BreakGlassSessionSpec {
    /// Why the emergency change is needed: at least 20 characters, for the audit trail.
    #[schemars(length(min = 20, max = 4096))]
    pub justification: String,
    /// Incident severity.
    pub severity: Severity,
    /// What the session covers.
    pub scope: BreakGlassScope,
    /// How long the session lasts after activation, a Go duration of at most 4h (`1h`, `90m`).
    #[schemars(length(min = 2, max = 32), regex(pattern = crate::schema::GO_DURATION))]
    #[x_kube(validation = Rule::new("duration(self) > duration('0s') && duration(self) <= duration('4h')").message("duration must be more than 0s and at most 4h (for example 1h or 90m); open a new session when more time is needed"))]
    pub duration: String,
    /// Link to the incident. Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), regex(pattern = "^https?://"))]
    pub incident_url: Option<String>,
    /// Set to true to end the session early. Cannot be set back to false.
    #[serde(default)]
    pub closed: bool,
    /// What was done and why the session ended. Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub closing_note: Option<String>,
    /// User who opened the session, stamped by the webhook from the admission request.
    /// Optional because it is absent until admission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

/// Incident severity.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    JsonSchema,
)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Severity {
    /// Critical: customer-facing outage.
    SEV1,
    /// Major.
    SEV2,
    /// Minor.
    SEV3,
    /// Low.
    #[default]
    SEV4,
}

/// What a break-glass session covers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct BreakGlassScope {
    /// Environments covered. At least one.
    #[schemars(schema_with = "environments_schema")]
    pub environments: Vec<String>,
    /// Workloads covered. Empty means every workload of the project.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::name_set")]
    pub workloads: Vec<String>,
    /// Tenants covered. Empty means every tenant of the covered environments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::name_set")]
    pub tenants: Vec<String>,
}

fn environments_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = crate::schema::name_set(generator);
    schema.insert("minItems".into(), 1.into());
    schema
}

/// Lifecycle of a session.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum BreakGlassPhase {
    /// In force until `expiresAt`.
    #[default]
    Active,
    /// Closed early by `spec.closed`.
    Closed,
    /// `expiresAt` passed.
    Expired,
}

/// Observed state of a `BreakGlassSession`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct BreakGlassSessionStatus {
    /// Absent until the controller activates the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<BreakGlassPhase>,
    /// When the session became active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub activated_at: Option<Time>,
    /// `activatedAt + duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub expires_at: Option<Time>,
    /// When the session was closed or expired (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub ended_at: Option<Time>,
    /// What was done under the session.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<BreakGlassAction>,
    /// `sha256:<hex>` over spec and actions, written once when the session ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_digest: Option<String>,
    /// Standard conditions (`Active`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    #[cfg_attr(feature = "ts", ts(as = "Vec<crate::ts::Condition>"))]
    pub conditions: Vec<Condition>,
}

/// One action taken under a session.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct BreakGlassAction {
    /// When.
    #[cfg_attr(feature = "ts", ts(as = "String"))]
    pub time: Time,
    /// Who.
    pub user: String,
    /// Release concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// What (`submit`, `deploy`, `rollback` …).
    pub operation: String,
}
