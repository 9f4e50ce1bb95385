//! Every body the dashboard API answers or accepts (docs/dashboard-api.md), as types. The
//! pages' TypeScript types are generated from these (`dashboard/src/generated/`, checked by
//! the test below), so a renamed field breaks the page's type check, not the page.
//!
//! GitOpsHQ objects travel as the API server returns them (the CRD's JSON); their TypeScript
//! shape is `KubeObject<Spec, Status>` over the CRD types.

use std::collections::BTreeMap;

use gitopshq_crds::approval_request::{ApprovalRequest, DecisionKind};
use gitopshq_crds::break_glass_session::{BreakGlassSession, Severity};
use gitopshq_crds::chart_version::ChartConsumer;
use gitopshq_crds::environment::ActiveFreeze;
use gitopshq_crds::policy::{EnforcementMode, PolicyBinding, PolicyStatus, PolicyTest};
use gitopshq_crds::project::Project;
use gitopshq_crds::promotion::Promotion;
use gitopshq_crds::release::Release;
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::workload::Workload;
use gitopshq_engine::audit::AuditEntry;
use gitopshq_engine::overview::{
    Cell, ClusterRow, DecisionCheck, ReleaseSummary, VariableOverview,
};
pub use gitopshq_engine::promotion::authoring::PromoteRequest;
use gitopshq_engine::variables_edit::ScopeVariables;
pub use gitopshq_engine::variables_edit::VariableEdit;
use serde::{Deserialize, Serialize};
use serde_json::Value;

// The TypeScript names of the objects' shapes (`ts(as = ..)` resolves them here).
#[cfg(test)]
use gitopshq_crds::{
    approval_request::{ApprovalRequestSpec, ApprovalRequestStatus},
    break_glass_session::{BreakGlassSessionSpec, BreakGlassSessionStatus},
    project::{ProjectSpec, ProjectStatus},
    promotion::{PromotionSpec, PromotionStatus},
    release::{ReleaseSpec, ReleaseStatus},
    tenant::{TenantSpec, TenantStatus},
    ts::KubeObject,
    workload::{WorkloadSpec, WorkloadStatus},
};

/// Every failure: what went wrong, naming the object and field, and the next step.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ErrorBody {
    pub error: String,
    pub next: Option<String>,
}

/// `POST /api/session`.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SignIn {
    pub token: String,
}

/// Who is signed in, as the API server tells it.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Session {
    pub user: String,
    pub groups: Vec<String>,
}

/// An environment as the fleet grid heads it.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct FleetEnvironment {
    pub name: String,
    pub display_name: String,
    pub rank: i32,
    pub color: Option<String>,
    pub frozen: bool,
    pub freeze: Option<ActiveFreeze>,
}

/// A project's row of the fleet grid: its cell per environment name.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct FleetProject {
    pub name: String,
    pub display_name: String,
    pub cells: BTreeMap<String, Cell>,
}

/// `GET /api/fleet`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Fleet {
    pub environments: Vec<FleetEnvironment>,
    pub projects: Vec<FleetProject>,
    /// The active sessions.
    #[cfg_attr(test, ts(as = "Vec<BreakGlassSessionObject>"))]
    pub break_glass: Vec<BreakGlassSession>,
    pub pending_approvals: usize,
}

/// One environment of a project: its cell and its newest releases.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ProjectEnvironment {
    pub name: String,
    pub cell: Cell,
    pub releases: Vec<ReleaseSummary>,
}

/// `GET /api/projects/{project}`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ProjectDetail {
    #[cfg_attr(test, ts(as = "ProjectObject"))]
    pub project: Project,
    pub environments: Vec<ProjectEnvironment>,
    #[cfg_attr(test, ts(as = "Vec<WorkloadObject>"))]
    pub workloads: Vec<Workload>,
    #[cfg_attr(test, ts(as = "Vec<TenantObject>"))]
    pub tenants: Vec<Tenant>,
}

/// `GET /api/releases`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Releases {
    pub releases: Vec<ReleaseSummary>,
}

/// `GET /api/releases/{namespace}/{name}`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ReleaseDetail {
    #[cfg_attr(test, ts(as = "ReleaseObject"))]
    pub release: Release,
    #[cfg_attr(test, ts(as = "Option<ApprovalRequestObject>"))]
    pub approval_request: Option<ApprovalRequest>,
    /// Whether the signed-in person may approve.
    pub decision: Option<DecisionCheck>,
    /// Whether they may reject.
    pub reject_decision: Option<DecisionCheck>,
    /// For a Draft: whether they may submit it.
    pub submit: Option<gitopshq_engine::values_edit::EditCheck>,
    /// Whether they may start a rollback to this release (it was delivered; RBAC lets them
    /// create releases).
    pub rollback: gitopshq_engine::values_edit::EditCheck,
    /// For a delivered release: the environments it can be promoted into, with their tenants
    /// and whether the person may promote there.
    pub promotion_targets: Vec<gitopshq_engine::promotion::authoring::PromotionTarget>,
    /// The Promotions of this release, with their batches' progress.
    #[cfg_attr(test, ts(as = "Vec<PromotionObject>"))]
    pub promotions: Vec<Promotion>,
    /// What delivery would change, the commit that holds it, or why there is no preview.
    pub diff: Option<String>,
}

/// A release waiting for approval, with the person's checks.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ApprovalItem {
    pub release: ReleaseSummary,
    pub decision: Option<DecisionCheck>,
    pub reject_decision: Option<DecisionCheck>,
}

/// `GET /api/approvals`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Approvals {
    pub items: Vec<ApprovalItem>,
}

/// `POST /api/releases/{namespace}/{name}/decision`.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct DecisionBody {
    pub decision: DecisionKind,
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub comment: Option<String>,
}

/// The ApprovalRequest after a decision was appended.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Decided {
    #[cfg_attr(test, ts(as = "ApprovalRequestObject"))]
    pub approval_request: ApprovalRequest,
}

/// One field that differs; a side without it is `null`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct FieldDiff {
    pub path: String,
    pub left: Option<Value>,
    pub right: Option<Value>,
}

/// How a rendered object differs between the sides.
#[derive(Debug, Clone, Copy, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum ObjectChangeKind {
    Added,
    Removed,
    Changed,
}

/// A rendered object that differs: `Kind/name`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ManifestChange {
    pub object: String,
    pub change: ObjectChangeKind,
    pub fields: Vec<FieldDiff>,
}

/// One workload compared.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct WorkloadComparison {
    pub workload: String,
    /// `chart@version` per side; `null` where the side does not run the workload.
    pub left_chart: Option<String>,
    pub right_chart: Option<String>,
    pub values: Vec<FieldDiff>,
    pub manifests: Vec<ManifestChange>,
}

/// `GET /api/compare`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Comparison {
    pub left: String,
    pub right: String,
    pub identical: bool,
    pub workloads: Vec<WorkloadComparison>,
}

/// `GET /api/variables`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Variables {
    pub variables: Vec<VariableOverview>,
}

/// `GET /api/projects/{project}/variables`, and the answer to a change posted there: every
/// scope of the project with its variables and whether the person may change it.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct VariableScopes {
    pub scopes: Vec<ScopeVariables>,
}

/// `POST /api/releases/{namespace}/{name}/rollback`: a Rollback of `workload` to this release.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct RollbackBody {
    pub workload: String,
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub title: Option<String>,
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub notes: Option<String>,
    /// Only these tenants; empty: every tenant the release delivered to.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Submit now; otherwise a Draft whose page shows the rollback's diff before Submit.
    #[serde(default)]
    pub submit: bool,
}

/// `POST /api/releases/{namespace}/{name}/promote`: the Promotion created.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PromotionWritten {
    #[cfg_attr(test, ts(as = "PromotionObject"))]
    pub promotion: Promotion,
}

/// One published version of a chart.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ChartVersionInfo {
    pub version: String,
    pub changelog: Option<String>,
    pub deprecated: bool,
    pub deprecation_message: Option<String>,
    pub consumers: Vec<ChartConsumer>,
}

/// A chart of the registry, newest version first.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ChartInfo {
    pub name: String,
    pub description: Option<String>,
    pub owners: Vec<String>,
    pub latest: Option<String>,
    pub versions: Vec<ChartVersionInfo>,
}

/// `GET /api/clusters`: the workload clusters the person may list, each with the tenants of
/// the projects the person may read.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Clusters {
    pub clusters: Vec<ClusterRow>,
    /// How a new cluster is registered.
    pub register: String,
}

/// `GET /api/charts`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Charts {
    pub charts: Vec<ChartInfo>,
}

/// What the admission webhook accepts for a new break-glass session, so the form offers only
/// that and checks it before sending.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct BreakGlassLimits {
    /// Characters the justification needs at least (surrounding spaces not counted).
    pub min_justification: usize,
    /// The longest session, as a duration (`4h`).
    pub max_duration: String,
    /// Durations to offer, shortest first, none longer than `maxDuration`.
    pub durations: Vec<String>,
    /// Every severity, most severe first.
    pub severities: Vec<Severity>,
}

/// `GET /api/breakglass`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct BreakGlass {
    /// Every session of every project the person can read, newest first.
    #[cfg_attr(test, ts(as = "Vec<BreakGlassSessionObject>"))]
    pub sessions: Vec<BreakGlassSession>,
    pub limits: BreakGlassLimits,
}

/// `POST /api/breakglass`.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct OpenBreakGlass {
    pub namespace: String,
    /// Default: one made of the person's name and the time.
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub name: Option<String>,
    pub justification: String,
    pub severity: Severity,
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default)]
    pub workloads: Vec<String>,
    #[serde(default)]
    pub tenants: Vec<String>,
    pub duration: String,
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub incident_url: Option<String>,
}

/// `POST /api/breakglass/{namespace}/{name}/close`.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CloseBreakGlass {
    pub note: String,
}

/// `POST /api/projects/{project}/workloads/{workload}/values/check`: the values editor's text,
/// checked as typed. The text replaces the workload's values, or its values in `environment`,
/// or `tenantOverride`'s values for it (at most one of the two).
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct CheckValues {
    pub text: String,
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub environment: Option<String>,
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub tenant_override: Option<String>,
    /// The tenant to render for; without it, the first that runs the workload there.
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub tenant: Option<String>,
}

/// The check: findings at their lines, or the rendered objects.
pub type ValuesChecked = gitopshq_engine::values_check::ValuesCheck;

/// `POST /api/projects/{project}/workloads/{workload}/values/preview`: what a release of the
/// text would change in the GitOps repository now, against what runs (the delivered files,
/// with the values releases recorded there), per tenant.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ValuesPreview {
    pub environment: String,
    /// Objects added, removed and changed, in a sentence.
    pub summary: String,
    /// Per tenant with a change: its sentence.
    pub tenants: BTreeMap<String, String>,
    /// The unified diff of the files, Secrets redacted; empty when nothing would change.
    pub unified: String,
}

/// `GET /api/projects/{project}/workloads/{workload}/values`: the values editor as opened, for
/// the layer the query names (`environment` or `tenantOverride`, at most one).
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ValuesEditor {
    pub layer: gitopshq_engine::values_edit::ValuesLayer,
    /// Whether the person may save it; the editor is read-only with the reason when not.
    pub edit: gitopshq_engine::values_edit::EditCheck,
    /// The chart and version the workload uses in this layer's environment (or its own).
    pub chart: String,
    pub version: String,
    /// The project's environments, in promotion order.
    pub environments: Vec<String>,
    /// The tenants that run the workload, with their environments.
    pub tenants: Vec<TenantChoice>,
}

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct TenantChoice {
    pub name: String,
    pub environment: String,
}

/// `GET /api/projects/{project}/repository/log`: the project's history in its GitOps
/// repository, newest first.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RepositoryLog {
    pub url: String,
    pub branch: String,
    /// The folder of the repository the project's files are in.
    pub root: String,
    pub commits: Vec<CommitRow>,
}

/// One commit, with its GitOpsHQ trailers linked to what they name.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CommitRow {
    pub commit: String,
    pub short: String,
    pub title: String,
    pub author: String,
    /// RFC 3339.
    pub time: String,
    pub trailers: Vec<gitopshq_engine::repository_view::TrailerRow>,
}

/// `GET /api/projects/{project}/repository/commits/{commit}`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CommitDetail {
    pub commit: CommitRow,
    pub notes: Option<String>,
    /// Unified diff of the project's files against the commit's first parent.
    pub diff: String,
}

/// `GET /api/projects/{project}/repository/tree?commit=C&path=P`: a folder's entries, or a
/// file's text, at a commit (the project's newest without `commit`).
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RepositoryTree {
    /// `None` when the project has no commit yet.
    pub commit: Option<String>,
    pub root: String,
    pub path: String,
    pub entries: Vec<gitopshq_engine::repository_view::TreeEntry>,
    /// The file's text when `path` is a file.
    pub file: Option<String>,
}

/// `POST /api/projects/{project}/workloads/{workload}/values`: saves the text as the layer,
/// as the person, over the object at `resourceVersion` (what the editor opened).
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SaveValues {
    pub text: String,
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub environment: Option<String>,
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub tenant_override: Option<String>,
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub resource_version: Option<String>,
}

/// `POST /api/projects/{project}/releases`: a release created as the person, as a Draft or
/// submitted; the webhook judges it as it judges kubectl's.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct CreateRelease {
    pub name: String,
    pub title: String,
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub notes: Option<String>,
    pub environment: String,
    /// Tenant names; empty (and no `tenantSelector`): every tenant of the environment that
    /// runs the changed workloads.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Tenants by label, `tier=canary,region=eu` (exclusive with `tenants`).
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub tenant_selector: Option<String>,
    pub changes: Vec<ReleaseChangeBody>,
    pub submit: bool,
}

/// One change of a [`CreateRelease`]: a workload, optionally at another chart version.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ReleaseChangeBody {
    pub workload: String,
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub version: Option<String>,
}

/// `POST /api/releases/{namespace}/{name}/cancel`.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CancelRelease {
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub reason: Option<String>,
}

/// A release as created, submitted or cancelled.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ReleaseWritten {
    #[cfg_attr(test, ts(as = "ReleaseObject"))]
    pub release: Release,
}

/// A session as created or closed.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SessionWritten {
    #[cfg_attr(test, ts(as = "BreakGlassSessionObject"))]
    pub session: BreakGlassSession,
}

/// `GET /api/audit`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Audit {
    pub entries: Vec<AuditEntry>,
    /// What is left out and why.
    pub notes: Vec<String>,
}

/// One log line; `time` when the line carried a timestamp.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct LogLine {
    pub time: Option<String>,
    pub tenant: String,
    pub pod: String,
    pub container: String,
    pub text: String,
}

/// A container whose log could not be read (any more), on the followed stream.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct LogFailure {
    pub tenant: String,
    pub pod: String,
    pub container: String,
    pub message: String,
}

/// `GET /api/logs`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Logs {
    /// The limits applied, as `gitopshq logs` states them.
    pub statement: String,
    pub lines: Vec<LogLine>,
    /// Containers whose log could not be read, and why.
    pub failures: Vec<String>,
}

/// A policy as the policy list shows it; counts as the controller last recorded them.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PolicySummary {
    pub name: String,
    pub description: Option<String>,
    pub package: Option<String>,
    /// `None` until the controller has checked the policy.
    pub compiled: Option<bool>,
    pub passed: i32,
    pub failed: i32,
    pub bindings: Vec<PolicyBinding>,
}

/// `GET /api/policies`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Policies {
    pub policies: Vec<PolicySummary>,
}

/// How a policy binds in one environment; `None`: it does not.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct EnvironmentBinding {
    pub name: String,
    pub mode: Option<EnforcementMode>,
}

/// `GET /api/policies/{name}`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PolicyDetail {
    pub name: String,
    pub description: Option<String>,
    pub rego: String,
    pub bindings: Vec<PolicyBinding>,
    pub tests: Vec<PolicyTest>,
    pub status: Option<PolicyStatus>,
    /// Every environment the person can list, by rank, then those only a binding names.
    pub environments: Vec<EnvironmentBinding>,
    /// Where an evaluation of pasted objects is judged unless the person picks another.
    pub default_environment: Option<String>,
}

/// `POST /api/policies/{name}/evaluate`: pasted objects (`object`, YAML or JSON, judged in
/// `environment`) or a release's rendered objects (`release`), exactly one of the two.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct EvaluatePolicy {
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub object: Option<String>,
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub environment: Option<String>,
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub release: Option<ReleaseName>,
}

/// A release by project namespace and name.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ReleaseName {
    pub namespace: String,
    pub name: String,
}

/// `POST /api/policies/{name}/test`: the embedded tests, run now.
pub type PolicyTested = gitopshq_engine::policy::TestRun;

/// `POST /api/policies/{name}/evaluate`.
pub type PolicyEvaluated = gitopshq_engine::policy::DryRun;

/// What the command palette can jump to.
#[derive(Debug, Clone, Copy, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum SearchKind {
    Environment,
    Project,
    Workload,
    Release,
    Policy,
}

/// One entry of the command palette.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SearchItem {
    pub kind: SearchKind,
    pub label: String,
    pub detail: String,
    /// The page's route (`#/releases/NS/NAME`).
    pub href: String,
}

/// `GET /api/search`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Search {
    pub items: Vec<SearchItem>,
}

/// The kinds whose changes `GET /api/events` reports, by plural resource name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum ChangedKind {
    Environments,
    Releases,
    ApprovalRequests,
    BreakGlassSessions,
    Workloads,
    Tenants,
}

/// One `change` event of `GET /api/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Change {
    pub kind: ChangedKind,
    pub namespace: Option<String>,
    pub name: String,
}

/// The TypeScript names of the GitOpsHQ objects the API returns.
#[cfg(test)]
mod objects {
    use super::*;

    macro_rules! object {
        ($name:ident, $spec:ty, $status:ty) => {
            #[derive(ts_rs::TS)]
            #[allow(dead_code)]
            pub struct $name(KubeObject<$spec, $status>);
        };
    }
    object!(ReleaseObject, ReleaseSpec, ReleaseStatus);
    object!(
        ApprovalRequestObject,
        ApprovalRequestSpec,
        ApprovalRequestStatus
    );
    object!(
        BreakGlassSessionObject,
        BreakGlassSessionSpec,
        BreakGlassSessionStatus
    );
    object!(ProjectObject, ProjectSpec, ProjectStatus);
    object!(PromotionObject, PromotionSpec, PromotionStatus);
    object!(WorkloadObject, WorkloadSpec, WorkloadStatus);
    object!(TenantObject, TenantSpec, TenantStatus);
}
#[cfg(test)]
use objects::*;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use ts_rs::{Config, TS};

    use super::*;

    /// Where the pages import the generated types from.
    fn generated() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboard/src/generated")
    }

    /// Every `.ts` file under `dir`, by path relative to it.
    fn files(dir: &Path) -> BTreeMap<String, String> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries {
                let path = entry.expect("a folder entry").path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    let name = path
                        .strip_prefix(root)
                        .expect("inside")
                        .display()
                        .to_string();
                    out.insert(name, std::fs::read_to_string(&path).expect("readable"));
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(dir, dir, &mut out);
        out
    }

    /// The declarations of every body of the API and of everything they hold, one file per
    /// type, and `index.ts` exporting them all.
    fn declarations() -> BTreeMap<String, String> {
        let out = tempfile::tempdir().expect("temporary folder");
        // Counts and sizes are far below 2^53: plain numbers, not bigint.
        let cfg = Config::new()
            .with_out_dir(out.path())
            .with_large_int("number");
        macro_rules! export {
            ($($t:ty),* $(,)?) => {
                $(<$t>::export_all(&cfg).unwrap_or_else(|e| panic!("{}: {e}", stringify!($t)));)*
            };
        }
        export!(
            ErrorBody,
            SignIn,
            Session,
            Fleet,
            ProjectDetail,
            Releases,
            ReleaseDetail,
            Approvals,
            DecisionBody,
            Decided,
            Comparison,
            Variables,
            VariableScopes,
            VariableEdit,
            Charts,
            Clusters,
            BreakGlass,
            OpenBreakGlass,
            CloseBreakGlass,
            SessionWritten,
            CancelRelease,
            ReleaseWritten,
            RollbackBody,
            PromoteRequest,
            PromotionWritten,
            CheckValues,
            ValuesChecked,
            ValuesPreview,
            ValuesEditor,
            RepositoryLog,
            CommitRow,
            CommitDetail,
            RepositoryTree,
            TenantChoice,
            SaveValues,
            CreateRelease,
            ReleaseChangeBody,
            Audit,
            Logs,
            LogFailure,
            Search,
            Policies,
            PolicyDetail,
            EvaluatePolicy,
            PolicyTested,
            PolicyEvaluated,
            Change,
        );
        let mut files = files(out.path());
        let index: String = files
            .keys()
            .map(|name| format!("export type * from './{}';\n", name.trim_end_matches(".ts")))
            .collect();
        files.insert(
            "index.ts".into(),
            format!(
                "// Generated by `GITOPSHQ_UPDATE_TS=1 cargo test -p gitopshq --bin gitopshq dashboard::api`: do not edit.\n{index}"
            ),
        );
        files
    }

    #[test]
    fn the_pages_typescript_types_are_generated_from_these() {
        let fresh = declarations();
        let dir = generated();
        if std::env::var_os("GITOPSHQ_UPDATE_TS").is_some() {
            let _ = std::fs::remove_dir_all(&dir);
            for (name, text) in &fresh {
                let path = dir.join(name);
                std::fs::create_dir_all(path.parent().expect("in a folder")).expect("writable");
                std::fs::write(&path, text).expect("writable");
            }
            return;
        }
        let committed = files(&dir);
        let stale = "dashboard/src/generated is stale: regenerate it with GITOPSHQ_UPDATE_TS=1 cargo test -p gitopshq --bin gitopshq dashboard::api, then rebuild the pages (cd dashboard && npm run build) and commit both";
        assert_eq!(
            fresh.keys().collect::<Vec<_>>(),
            committed.keys().collect::<Vec<_>>(),
            "{stale}"
        );
        for (name, text) in &fresh {
            assert!(committed[name] == *text, "{name}: {stale}");
        }
    }

    #[test]
    fn break_glass_limits_are_the_webhooks() {
        let limits = super::super::pages::break_glass_limits();
        assert_eq!(limits.min_justification, 20);
        assert_eq!(limits.max_duration, "4h");
        assert_eq!(limits.durations, ["15m", "30m", "1h", "2h", "3h", "4h"]);
        assert_eq!(
            serde_json::to_value(&limits.severities).unwrap(),
            serde_json::json!(["SEV1", "SEV2", "SEV3", "SEV4"])
        );
    }
}
