//! `Release`: a change package delivered to the tenants of one environment.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, Health, LabelSelector, MicroTime, Time, Values};
use crate::policy::EnforcementMode;

/// Spec of a `Release` (namespaced, in the project's namespace). A Draft (`submitted: false`)
/// may change; once submitted the spec is immutable (the webhook enforces it; the schema forbids
/// un-submitting).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[kube(
    group = "gitopshq.io",
    version = "v1alpha1",
    kind = "Release",
    namespaced,
    doc = "A change package for one environment: workload changes, target tenants, and in status its path from Draft through approval and delivery to Healthy.",
    status = "ReleaseStatus",
    shortname = "rel",
    category = "gitopshq",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "Env", type_ = "string", json_path = ".spec.environment"),
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Approvals",
        type_ = "string",
        json_path = ".status.approvals.summary"
    ),
    printcolumn(name = "Commit", type_ = "string", json_path = ".status.shortCommit"),
    printcolumn(
        name = "Title",
        type_ = "string",
        json_path = ".spec.title",
        priority = 1
    ),
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
#[x_kube(
    validation = Rule::new("!(has(self.tenants) && size(self.tenants) > 0 && has(self.tenantSelector))").message("set either tenants (names) or tenantSelector, not both"),
    validation = Rule::new("self.type != 'Rollback' || has(self.rollbackTo)").message("a Rollback release needs rollbackTo.release: the release whose content to restore"),
    validation = Rule::new("!self.submitted || self.type == 'Rollback' || (has(self.changes) && size(self.changes) > 0)").message("a submitted Deploy or Promotion release needs at least one entry in changes"),
    validation = Rule::new("!has(oldSelf.submitted) || !oldSelf.submitted || self.submitted").message("a submitted release cannot return to Draft: create a new release instead"),
    validation = Rule::new("!has(oldSelf.cancellation) || has(self.cancellation)").message("a cancellation is final: it cannot be withdrawn; create a new release instead")
)]
pub struct ReleaseSpec {
    /// One-line summary.
    #[schemars(length(min = 1, max = 200))]
    pub title: String,
    /// Longer description (Markdown). Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16384))]
    pub notes: Option<String>,
    /// Target environment name.
    #[schemars(length(min = 1, max = 63), regex(pattern = crate::schema::DNS_LABEL))]
    pub environment: String,
    /// Target tenants by name. With `tenantSelector` also unset, every tenant of the environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "tenant_names")]
    pub tenants: Vec<String>,
    /// Target tenants by label. Optional, exclusive with `tenants`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<crate::ts::LabelSelector>"))]
    pub tenant_selector: Option<LabelSelector>,
    /// Workload changes carried by the release. Empty for a Rollback.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub changes: Vec<WorkloadChange>,
    /// Kind of release. Defaults to Deploy, the common case.
    #[serde(default, rename = "type")]
    pub type_: ReleaseType,
    /// For Rollback: restore the content that release delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_to: Option<RollbackTarget>,
    /// BreakGlassSession this release is made under: an active one covering it lets it pass a
    /// freeze and skip its ApprovalPolicy. Naming one needs the `break-glass` grant in the
    /// environment. Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::schema::DNS_SUBDOMAIN))]
    pub break_glass_session: Option<String>,
    /// `false` (default) keeps the release a Draft that may still change; `true` submits it.
    #[serde(default)]
    pub submitted: bool,
    /// User who created the release, stamped by the webhook from the admission request (a
    /// client-sent value is overwritten). Optional because it is absent until admission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// User whose request submitted the release (set `submitted` to true), stamped by the
    /// webhook. Absent while a Draft.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_by: Option<String>,
    /// Everyone whose request created or changed the spec, in order, stamped by the webhook;
    /// for a promotion batch, the Promotion's creator. Each of them counts as the release's
    /// own author for self-approval.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub authors: Vec<String>,
    /// Cancels the release before it is delivered (addition): set it (`gitopshq release
    /// cancel`, or a merge patch of `spec.cancellation.reason`) on a release that is a Draft,
    /// PendingApproval, Approved or Blocked, and it goes to `Cancelled` with its
    /// ApprovalRequest; nothing is delivered afterwards. The only change a submitted spec
    /// accepts; final once set. Who may: the release's creator or submitter, or a role with
    /// the `cancel` grant in the environment (ReleaseManager, Admin). A delivered release
    /// cannot be cancelled: roll it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation: Option<Cancellation>,
}

/// Why and by whom a release was cancelled.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Cancellation {
    /// Why the release is cancelled. Optional; customary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub reason: Option<String>,
    /// User who cancelled it, stamped by the webhook from the admission request (a
    /// client-sent value is overwritten).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub user: Option<String>,
    /// When it was cancelled, stamped by the webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub time: Option<Time>,
}

/// How many tenants `spec.tenants` may name: a promotion's batch release names each tenant of
/// its batch (a tenth of a 10,000-tenant environment, or all of a 5,000-tenant one), while the
/// object stays far below the API server's 1.5 MB request limit.
pub const MAX_TENANTS: usize = 5_000;

fn tenant_names(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = crate::schema::name_set(generator);
    schema.insert("maxItems".into(), MAX_TENANTS.into());
    schema.insert(
        "items".into(),
        serde_json::json!({
            "type": "string",
            "maxLength": 253,
            "pattern": crate::schema::DNS_SUBDOMAIN,
        }),
    );
    schema
}

/// One workload change.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct WorkloadChange {
    /// Workload name.
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::schema::DNS_SUBDOMAIN))]
    pub workload: String,
    /// Chart version to deliver. Optional: a values-only change keeps the workload's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 5, max = 64), regex(pattern = crate::schema::SEMVER))]
    pub version: Option<String>,
    /// Values over the workload's values for this release. They accumulate over the releases
    /// of an environment; `null` deletes a key (and keeps it deleted).
    #[serde(default, skip_serializing_if = "Values::is_empty")]
    #[schemars(schema_with = "crate::schema::free_form_object")]
    pub values: Values,
    /// Value paths (`image.tag`) whose value earlier releases set, to stop carrying: the
    /// Workload's own value applies again (addition).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub unset: Vec<String>,
}

/// Kind of release.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ReleaseType {
    /// New versions or values.
    #[default]
    Deploy,
    /// Restore what an earlier release delivered (a new commit; history is kept).
    Rollback,
    /// Created by a Promotion from a release of an earlier environment.
    Promotion,
}

/// The release a rollback restores.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct RollbackTarget {
    /// Name of an earlier Release of the same environment.
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::schema::DNS_SUBDOMAIN))]
    pub release: String,
}

/// Lifecycle of a release: Draft → PendingApproval → Approved → Deploying → Deployed → Healthy,
/// or Rejected / Blocked / Failed / Degraded / Superseded / Cancelled.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ReleasePhase {
    /// Not submitted; may still change.
    #[default]
    Draft,
    /// Waiting for approvals (see `approvals`).
    PendingApproval,
    /// Approved (or no approval needed); waiting to be delivered.
    Approved,
    /// Rendering and committing.
    Deploying,
    /// Committed (or applied); waiting for health.
    Deployed,
    /// Every target tenant reports healthy.
    Healthy,
    /// An approver rejected it.
    Rejected,
    /// A policy, freeze or missing object stops it; `message` says what to do.
    Blocked,
    /// Rendering or delivery failed.
    Failed,
    /// Delivered, but a tenant reports degraded health.
    Degraded,
    /// A newer release of the same workloads and tenants replaced it before delivery.
    Superseded,
    /// Cancelled before delivery (`spec.cancellation`); nothing is delivered.
    Cancelled,
}

/// Observed state of a `Release`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ReleaseStatus {
    /// Current phase. Absent until the first reconciliation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ReleasePhase>,
    /// Machine-readable reason of the phase (CamelCase, see `consts::reasons`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What is happening and the next step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// One entry per policy that applies to the environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_results: Vec<PolicyResult>,
    /// Quorum progress. Absent when no ApprovalPolicy binds the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<ApprovalProgress>,
    /// Full SHA of the delivery commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// First 7 characters of `commit`, for `kubectl get` (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_commit: Option<String>,
    /// `sha256:<hex>` over the rendered manifests, the same for the same inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_digest: Option<String>,
    /// Summary of the manifest diff against what runs now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<DiffSummary>,
    /// History of the release, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<TimelineEntry>,
    /// Per-tenant delivery state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<TenantRollout>,
    /// BreakGlassSession the release was delivered under, as recorded at delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass_session: Option<String>,
    /// Name of the ApprovalRequest created for this release (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_request: Option<String>,
    /// The last `gitopshq.io/retry` annotation value the controller acted on (addition): a new
    /// value retries a Failed or Blocked release once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_retry: Option<String>,
    /// When delivery last changed what runs: the commit was made or the objects applied
    /// (addition). Soak times and supersession are counted from here. Microsecond precision:
    /// two releases delivered in the same second are still ordered by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub delivered_at: Option<MicroTime>,
    /// Delivery attempts that failed for a reason that may pass (the Git remote or the cluster
    /// unreachable), and when the next one is made (addition). Cleared by a delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_retry: Option<DeliveryRetry>,
    /// Standard conditions (`Ready`, `PoliciesPassed`, `Approved`, `Delivered`, `Healthy`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    #[cfg_attr(feature = "ts", ts(as = "Vec<crate::ts::Condition>"))]
    pub conditions: Vec<Condition>,
}

/// The backoff of a delivery that keeps failing for a passing reason.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRetry {
    /// Failed attempts so far.
    pub attempts: i32,
    /// When the next attempt is made; nothing is tried before.
    #[cfg_attr(feature = "ts", ts(as = "String"))]
    pub next_attempt_at: Time,
}

/// Verdict of one policy on a release.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PolicyResult {
    /// Policy name.
    pub policy: String,
    /// Mode the policy is bound with in this environment.
    pub mode: EnforcementMode,
    /// Outcome.
    pub verdict: PolicyVerdict,
    /// The rules' messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
}

/// Outcome of one policy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum PolicyVerdict {
    /// No `deny` or `warn` message.
    #[default]
    Pass,
    /// Messages that do not block (warn rules, or deny rules in Warn mode).
    Warn,
    /// Deny messages of an Enforce binding: the release is blocked.
    Deny,
}

/// Quorum progress of a release.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ApprovalProgress {
    /// Approvals needed.
    pub required: i32,
    /// Valid approvals received.
    pub received: i32,
    /// Who approved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<Approver>,
    /// What is still missing, one requirement per entry ("1 more approval", "an approver from a
    /// team other than backend-team").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// `received/required` ("1/2"), for `kubectl get` (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// One approval.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Approver {
    /// User name from the admission request.
    pub user: String,
    /// The user's groups from the admission request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// When the approval was given.
    #[cfg_attr(feature = "ts", ts(as = "String"))]
    pub time: Time,
    /// Approver's comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Size of a release's manifest diff.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct DiffSummary {
    /// Objects that will be created.
    #[serde(default)]
    pub added: i32,
    /// Objects that will change.
    #[serde(default)]
    pub changed: i32,
    /// Objects that will be deleted.
    #[serde(default)]
    pub removed: i32,
    /// Human-readable summary ("2 changed: Deployment payments/payment-api, ConfigMap …").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The counts per tenant with a change, in name order, at most 50 (addition).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<TenantDiffSummary>,
}

/// What a release changes in one tenant's folder.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TenantDiffSummary {
    pub name: String,
    #[serde(default)]
    pub added: i32,
    #[serde(default)]
    pub changed: i32,
    #[serde(default)]
    pub removed: i32,
}

/// One step in a release's history.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    /// When it happened.
    #[cfg_attr(feature = "ts", ts(as = "String"))]
    pub time: Time,
    /// Phase entered.
    pub phase: ReleasePhase,
    /// What happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// User or component that caused it (`alice`, `gitopshq-controller`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// Delivery state of one target tenant.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TenantRollout {
    /// Tenant name.
    pub name: String,
    /// Delivery phase on this tenant.
    pub phase: TenantRolloutPhase,
    /// Health of the delivered objects.
    #[serde(default)]
    pub health: Health,
    /// What the tenant's cluster reports, or why delivery failed there (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Delivery phase of a release on one tenant.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum TenantRolloutPhase {
    /// Not delivered yet.
    #[default]
    Pending,
    /// Being rendered and committed.
    Deploying,
    /// Committed (or applied).
    Deployed,
    /// Delivered objects are healthy.
    Healthy,
    /// Delivered objects are degraded.
    Degraded,
    /// Delivery failed.
    Failed,
    /// Skipped (suspended tenant) (addition).
    Skipped,
}
