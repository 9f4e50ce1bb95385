//! What the dashboard shows at a glance, decided once here: the colour and summary of a project
//! in an environment, a release's one-line summary, and whether a person may approve a release
//! before they try (the webhook's own rule, asked in advance).

use std::collections::BTreeMap;
use std::sync::Arc;

use gitopshq_crds::approval_policy::ApprovalPolicy;
use gitopshq_crds::approval_request::{ApprovalRequest, Decision, DecisionKind};
use gitopshq_crds::common::Health;
use gitopshq_crds::consts;
use gitopshq_crds::release::{Release, ReleasePhase, ReleaseType};
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::workload::Workload;
use jiff::Timestamp;
use kube::ResourceExt;
use serde::Serialize;
use serde_json::Value;

use crate::admission::{
    Grant, Operation, Request, Requester, Rule, Snapshot, validate_approval_request,
};
use crate::catalog::Catalog;
use crate::conditions::is_true;
use crate::rbac::verbs;
use crate::variables::{Scope, VariableScopes};

mod clusters;
pub use clusters::{ClusterRow, ClusterTenant, REGISTER_COMMAND, cluster_rows};

/// Traffic-light state of a project in an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum CellStatus {
    /// Nothing runs there.
    Grey,
    /// Everything delivered is healthy.
    Green,
    /// Something is on its way or waits for people: approval, rollout, drift.
    Yellow,
    /// Something failed: a release failed, was blocked or degraded, or a workload is unhealthy.
    Red,
}

/// One workload as it runs in one environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct WorkloadCell {
    pub name: String,
    pub version: Option<String>,
    pub health: Health,
    pub release: Option<String>,
    pub commit: Option<String>,
}

/// A release named from a cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ReleaseRef {
    pub namespace: String,
    pub name: String,
    pub title: String,
    pub phase: ReleasePhase,
    #[serde(rename = "type")]
    pub type_: ReleaseType,
}

/// A project in an environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Cell {
    pub status: CellStatus,
    pub summary: String,
    pub workloads: Vec<WorkloadCell>,
    pub last_release: Option<ReleaseRef>,
    pub pending_approvals: usize,
    pub drift: bool,
}

fn phase_of(release: &Release) -> ReleasePhase {
    release
        .status
        .as_ref()
        .and_then(|s| s.phase)
        .unwrap_or_default()
}

fn created(release: &Release) -> Option<Timestamp> {
    release.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Newest first, by creation time, then by name for a stable order.
pub fn newest_first(releases: &mut [&Release]) {
    releases.sort_by(|a, b| {
        created(b)
            .cmp(&created(a))
            .then_with(|| a.name_any().cmp(&b.name_any()))
    });
}

/// The approval queue: the releases waiting for approval, newest first.
pub fn approval_queue(releases: &[Release]) -> Vec<&Release> {
    let mut waiting: Vec<&Release> = releases
        .iter()
        .filter(|r| phase_of(r) == ReleasePhase::PendingApproval)
        .collect();
    newest_first(&mut waiting);
    waiting
}

/// The cell of one project (its workloads, tenants and releases, in any environment) in
/// `environment`.
pub fn environment_cell(
    environment: &str,
    workloads: &[Workload],
    tenants: &[Tenant],
    releases: &[Release],
) -> Cell {
    let cells: Vec<WorkloadCell> = workloads
        .iter()
        .filter_map(|w| {
            let status = w.status.as_ref()?.environments.get(environment)?;
            Some(WorkloadCell {
                name: w.name_any(),
                version: status.version.clone(),
                health: status.health,
                release: status.release.clone(),
                commit: status.commit.clone(),
            })
        })
        .collect();
    let drifted: Vec<String> = tenants
        .iter()
        .filter(|t| t.spec.environment == environment)
        .filter(|t| {
            t.status
                .as_ref()
                .is_some_and(|s| is_true(&s.conditions, consts::conditions::DRIFTED))
        })
        .map(ResourceExt::name_any)
        .collect();
    let mut here: Vec<&Release> = releases
        .iter()
        .filter(|r| r.spec.environment == environment)
        .collect();
    newest_first(&mut here);
    let pending = here
        .iter()
        .filter(|r| phase_of(r) == ReleasePhase::PendingApproval)
        .count();
    let last = here.first().map(|r| ReleaseRef {
        namespace: r.namespace().unwrap_or_default(),
        name: r.name_any(),
        title: r.spec.title.clone(),
        phase: phase_of(r),
        type_: r.spec.type_,
    });

    let unhealthy: Vec<String> = cells
        .iter()
        .filter(|c| matches!(c.health, Health::Degraded | Health::Missing))
        .map(|c| format!("{} {}", c.name, c.health))
        .collect();
    let failed = last.as_ref().filter(|l| {
        matches!(
            l.phase,
            ReleasePhase::Failed | ReleasePhase::Blocked | ReleasePhase::Degraded
        )
    });
    let moving = last.as_ref().filter(|l| {
        matches!(
            l.phase,
            ReleasePhase::Approved | ReleasePhase::Deploying | ReleasePhase::Deployed
        )
    });
    let progressing: Vec<&str> = cells
        .iter()
        .filter(|c| matches!(c.health, Health::Progressing | Health::Unknown))
        .map(|c| c.name.as_str())
        .collect();

    let (status, summary) = if let Some(release) = failed {
        (
            CellStatus::Red,
            format!("release {} is {}", release.name, release.phase),
        )
    } else if !unhealthy.is_empty() {
        (CellStatus::Red, unhealthy.join(", "))
    } else if pending > 0 {
        let noun = if pending == 1 { "release" } else { "releases" };
        (
            CellStatus::Yellow,
            format!("{pending} {noun} waiting for approval"),
        )
    } else if !drifted.is_empty() {
        (
            CellStatus::Yellow,
            format!("drift on {}", drifted.join(", ")),
        )
    } else if let Some(release) = moving {
        (
            CellStatus::Yellow,
            format!("release {} is {}", release.name, release.phase),
        )
    } else if !progressing.is_empty() {
        (
            CellStatus::Yellow,
            format!("{} rolling out", progressing.join(", ")),
        )
    } else if cells.is_empty() {
        let summary = match &last {
            Some(release) => format!("release {} is {}", release.name, release.phase),
            None => "nothing deployed".to_string(),
        };
        (CellStatus::Grey, summary)
    } else {
        let noun = if cells.len() == 1 {
            "workload"
        } else {
            "workloads"
        };
        (CellStatus::Green, format!("{} {noun} healthy", cells.len()))
    };
    Cell {
        status,
        summary,
        workloads: cells,
        last_release: last,
        pending_approvals: pending,
        drift: !drifted.is_empty(),
    }
}

/// A release in one line of a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ReleaseSummary {
    pub namespace: String,
    pub name: String,
    pub title: String,
    pub environment: String,
    #[serde(rename = "type")]
    pub type_: ReleaseType,
    pub phase: ReleasePhase,
    pub created_by: Option<String>,
    pub created: Option<String>,
    pub message: Option<String>,
    pub approvals: Option<ApprovalsSummary>,
    /// Pending approval past its ApprovalPolicy's SLA: what the condition `ApprovalOverdue`
    /// says, while the release still waits.
    pub overdue: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ApprovalsSummary {
    pub required: i32,
    pub received: i32,
    pub message: Option<String>,
}

pub fn release_summary(release: &Release) -> ReleaseSummary {
    let status = release.status.as_ref();
    ReleaseSummary {
        namespace: release.namespace().unwrap_or_default(),
        name: release.name_any(),
        title: release.spec.title.clone(),
        environment: release.spec.environment.clone(),
        type_: release.spec.type_,
        phase: phase_of(release),
        created_by: release.spec.created_by.clone(),
        created: created(release).map(crate::admission::format_time),
        message: status.and_then(|s| s.message.clone()),
        approvals: status
            .and_then(|s| s.approvals.as_ref())
            .map(|a| ApprovalsSummary {
                required: a.required,
                received: a.received,
                message: (!a.missing.is_empty()).then(|| {
                    format!(
                        "{} of {} approvals received; needs {}",
                        a.received,
                        a.required,
                        a.missing.join(", ")
                    )
                }),
            }),
        overdue: status
            .filter(|s| s.phase == Some(ReleasePhase::PendingApproval))
            .and_then(|s| {
                crate::conditions::get(
                    &s.conditions,
                    gitopshq_crds::consts::conditions::APPROVAL_OVERDUE,
                )
            })
            .filter(|c| c.status == crate::conditions::Status::True.as_str())
            .map(|c| c.message.clone()),
    }
}

/// Whether the signed-in person may approve a release now, before they click.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct DecisionCheck {
    /// An approval by this person would be admitted now.
    pub allowed: bool,
    /// Their grants let them approve in the release's environment at all; `false` is "not
    /// permitted", `true` with `allowed: false` is "permitted, but gated".
    pub permitted: bool,
    /// Why not, in the words the webhook would answer.
    pub reason: Option<String>,
    /// Quorum progress ("1 of 2 approvals received; needs a team other than backend-team").
    pub progress: Option<String>,
}

/// What the API server says about the person, asked as that person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// RBAC lets them patch the ApprovalRequest (append a decision).
    pub may_patch: bool,
    /// A project grant gives them the `approve` verb on the release's environment.
    pub holds_approve: bool,
}

/// Asks the approval rules of the admission webhook about a decision of `kind` by `user` on
/// `request` (the ApprovalRequest of `release`), as they stand at `now`.
pub fn decision_check(
    kind: DecisionKind,
    user: &Requester,
    release: &Release,
    request: &ApprovalRequest,
    policy: Option<&ApprovalPolicy>,
    access: Access,
    now: Timestamp,
) -> DecisionCheck {
    let progress = request
        .status
        .as_ref()
        .and_then(|s| s.message.clone())
        .or_else(|| release.status.as_ref().and_then(|s| s.message.clone()));
    let namespace = request.namespace().unwrap_or_default();
    if !access.may_patch {
        return DecisionCheck {
            allowed: false,
            permitted: false,
            reason: Some(format!(
                "not permitted: {} may not add decisions to approvalrequest {} in project {namespace} (RBAC grants no patch on approvalrequests); ask a project Admin for the Approver role in {}",
                user.username,
                request.name_any(),
                release.spec.environment
            )),
            progress,
        };
    }
    let grants = if access.holds_approve {
        vec![Grant::environment(
            &user.username,
            &namespace,
            verbs::APPROVE,
            &release.spec.environment,
        )]
    } else {
        Vec::new()
    };
    let directory = Snapshot {
        catalog: Catalog {
            releases: vec![release.clone()],
            ..Catalog::default()
        },
        approval_policies: policy.cloned().map(Arc::new).into_iter().collect(),
        grants: Some(grants),
        ..Snapshot::default()
    };
    let mut proposed = request.clone();
    proposed.spec.decisions.push(Decision {
        decision: kind,
        comment: None,
        user: Some(user.username.clone()),
        groups: user.groups.clone(),
        time: None,
        rendered_digest: None,
    });
    let verdict = validate_approval_request(
        &Request {
            operation: Operation::Update,
            user,
            object: Some(&proposed),
            old: Some(request),
            now,
        },
        &directory,
        &crate::admission::Settings::default(),
    );
    match verdict.denial {
        None => DecisionCheck {
            allowed: true,
            permitted: true,
            reason: None,
            progress,
        },
        Some(denial) => DecisionCheck {
            allowed: false,
            permitted: denial.rule != Rule::NotPermitted,
            reason: Some(denial.message),
            progress,
        },
    }
}

/// Where one variable is defined.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct VariableDefinition {
    /// `project`, `environment/<env>` or `tenant/<tenant>`.
    pub scope: String,
    /// The value; a Secret-backed one is shown as `(secret NAME/KEY)`, never its content.
    pub value: Value,
}

/// What one variable resolves to for one tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct VariableResolution {
    pub tenant: String,
    pub environment: String,
    /// `None`: unresolved for this tenant (a render there would fail).
    pub value: Option<Value>,
    pub scope: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct VariableOverview {
    pub name: String,
    pub definitions: Vec<VariableDefinition>,
    pub resolved: Vec<VariableResolution>,
}

/// Every HQ variable of `project`: its definitions per scope and, per tenant, the definition
/// that wins (tenant, then environment, then project), by the same lookup a render uses.
pub fn variable_overview(catalog: &Catalog, project: &str) -> Vec<VariableOverview> {
    struct Defined<'a> {
        environment: Option<&'a str>,
        tenant: Option<&'a str>,
        values: BTreeMap<String, Value>,
    }
    let defined: Vec<Defined<'_>> = catalog
        .variables_of(project)
        .map(|v| {
            let mut values: BTreeMap<String, Value> = v.spec.values.clone();
            for (name, secret) in &v.spec.secret_refs {
                values.insert(
                    name.clone(),
                    Value::String(format!("(secret {}/{})", secret.name, secret.key)),
                );
            }
            Defined {
                environment: v.spec.environment.as_deref().filter(|e| !e.is_empty()),
                tenant: v.spec.tenant.as_deref().filter(|t| !t.is_empty()),
                values,
            }
        })
        .collect();
    let scope_label = |d: &Defined<'_>| match (d.tenant, d.environment) {
        (Some(t), _) => format!("tenant/{t}"),
        (None, Some(e)) => format!("environment/{e}"),
        (None, None) => "project".to_string(),
    };
    let mut overview: BTreeMap<String, VariableOverview> = BTreeMap::new();
    for d in &defined {
        for (name, value) in &d.values {
            overview
                .entry(name.clone())
                .or_insert_with(|| VariableOverview {
                    name: name.clone(),
                    definitions: Vec::new(),
                    resolved: Vec::new(),
                })
                .definitions
                .push(VariableDefinition {
                    scope: scope_label(d),
                    value: value.clone(),
                });
        }
    }
    let mut tenants: Vec<&Tenant> = catalog.tenants_of(project).collect();
    tenants.sort_by_key(|t| t.name_any());
    for tenant in tenants {
        let name = tenant.name_any();
        let environment = tenant.spec.environment.as_str();
        let mut scopes = VariableScopes::default();
        for d in &defined {
            let map = match (d.tenant, d.environment) {
                (Some(t), _) if t == name => &mut scopes.tenant,
                (None, Some(e)) if e == environment => &mut scopes.environment,
                (None, None) => &mut scopes.project,
                _ => continue,
            };
            map.extend(d.values.clone());
        }
        for (variable, row) in overview.iter_mut() {
            let found = scopes.lookup(variable, false);
            row.resolved.push(VariableResolution {
                tenant: name.clone(),
                environment: environment.to_string(),
                value: found.map(|(_, v)| v.clone()),
                scope: found.map(|(scope, _)| match scope {
                    Scope::Tenant => format!("tenant/{name}"),
                    Scope::Environment => format!("environment/{environment}"),
                    Scope::Project => "project".to_string(),
                }),
            });
        }
    }
    overview.into_values().collect()
}

#[cfg(test)]
mod tests;
