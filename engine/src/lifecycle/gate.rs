//! What approvals count for. An approval binds to the content the approver saw: the request
//! records the digest of what would be delivered (and the inputs it came from), the webhook
//! stamps each decision with that digest, and only decisions on the digest of what would be
//! delivered *now* count — recounted against the policy that governs the release *now*, right
//! before every delivery. A Variables, Workload, Tenant or ChartVersion change after approval
//! therefore voids the approvals, and a status written by someone else (`phase: Approved`)
//! delivers nothing.
//!
//! Break-glass: a release that names an active BreakGlassSession covering it (checked by
//! [`crate::admission::named_session`], the rule that lifts the freeze) skips the approvals of
//! its ApprovalPolicy. Its request is still created, recording the digest of what went out, and
//! shows `Bypassed` with the session; the release's timeline says so with the submitter as the
//! actor. Who may name a session is decided at admission (the `break-glass` grant). A session
//! that is closed, expired or narrower than the release lifts nothing: approvals apply.
//!
//! Cancellation: a release whose `spec.cancellation` is set never opens the gate, whatever the
//! approvals say. The gate is asked right before every commit, so a cancellation admitted
//! before the delivery began stops it there at the latest.

use std::collections::BTreeMap;

use gitopshq_crds::approval_policy::ApprovalPolicy;
use gitopshq_crds::approval_request::{
    ApprovalPhase, ApprovalRequest, ApprovalRequestStatus, Decision, DecisionKind,
};
use gitopshq_crds::break_glass_session::BreakGlassSession;
use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_crds::release::{ApprovalProgress, Release, ReleasePhase, ReleaseType};
use kube::ResourceExt;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Step, approval_required};
use crate::admission::{approval_progress, release_authors, teams};
use crate::catalog::Catalog;
use crate::conditions::{self, Status};
use crate::plan::{self, PlanError};

/// `sha256:<hex>` of a value in canonical form (maps sorted).
fn spec_digest(spec: &impl Serialize) -> String {
    let value = serde_json::to_value(spec).unwrap_or_default();
    let canonical = crate::manifest::sorted(value).to_string();
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    )
}

/// The objects a release's content is rendered from, `Kind/name` → digest of their spec: the
/// changed workloads, the targeted tenants, the chart versions they render with, and the
/// Variables that apply to the environment or to one of those tenants. For a Rollback, the
/// release it restores. Secrets are left out: a value's digest would let anyone who reads the
/// request test guesses of it; a changed Secret still changes the rendered digest.
pub fn approval_inputs(catalog: &Catalog, release: &Release) -> BTreeMap<String, String> {
    let project = release.namespace().unwrap_or_default();
    let mut inputs = BTreeMap::new();
    if release.spec.type_ == ReleaseType::Rollback {
        if let Some(target) = release
            .spec
            .rollback_to
            .as_ref()
            .and_then(|t| catalog.release(&project, &t.release))
        {
            let delivered = target
                .status
                .as_ref()
                .map(|s| (&s.commit, &s.rendered_digest));
            inputs.insert(
                format!("Release/{}", target.name_any()),
                spec_digest(&(&target.spec, delivered)),
            );
        }
        return inputs;
    }
    let Ok(targets) = plan::release_targets(catalog, release) else {
        return inputs;
    };
    for target in &targets {
        if let Some(workload) = catalog.workload(&project, &target.workload) {
            inputs.insert(
                format!("Workload/{}", target.workload),
                spec_digest(&workload.spec),
            );
            let change = release
                .spec
                .changes
                .iter()
                .find(|c| c.workload == target.workload);
            let version = plan::chart_version_for(workload, &release.spec.environment, change);
            if let Some(cv) = catalog.chart_version(&workload.spec.chart, &version) {
                inputs.insert(
                    format!("ChartVersion/{}", cv.name_any()),
                    crate::charts::content_digest(cv),
                );
            }
        }
        if let Some(tenant) = catalog.tenant(&project, &target.tenant) {
            inputs.insert(
                format!("Tenant/{}", target.tenant),
                spec_digest(&tenant.spec),
            );
        }
    }
    let environment = &release.spec.environment;
    for variables in catalog.variables_of(&project) {
        let spec = &variables.spec;
        let applies = match (spec.tenant.as_deref(), spec.environment.as_deref()) {
            (Some(tenant), _) if !tenant.is_empty() => targets.iter().any(|t| t.tenant == tenant),
            (_, Some(env)) if !env.is_empty() => env == environment,
            _ => true,
        };
        if applies {
            inputs.insert(
                format!("Variables/{}", variables.name_any()),
                spec_digest(spec),
            );
        }
    }
    inputs
}

/// The digest a Rollback's approval binds to: the release it restores, as delivered (its
/// recorded commit and digest), and the (tenant, workload) pairs restored.
pub fn rollback_digest(catalog: &Catalog, release: &Release) -> Result<String, PlanError> {
    let project = release.namespace().unwrap_or_default();
    let name = release
        .spec
        .rollback_to
        .as_ref()
        .map(|t| t.release.clone())
        .unwrap_or_default();
    let target = catalog
        .release(&project, &name)
        .ok_or_else(|| PlanError::ReleaseNotFound {
            project: project.clone(),
            release: name.clone(),
        })?;
    let scope = plan::rollback_scope(catalog, release, target)?;
    let delivered = target
        .status
        .as_ref()
        .map(|s| (s.commit.clone(), s.rendered_digest.clone()));
    Ok(spec_digest(&(
        "rollback",
        format!("{project}/{name}"),
        delivered,
        scope,
    )))
}

/// "Workload/api and Variables/prod changed; Tenant/eu-3 added" — what differs between the
/// inputs the approvers approved and those of the content now.
pub fn describe_input_change(
    approved: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
) -> String {
    let changed: Vec<&str> = now
        .iter()
        .filter(|(k, v)| approved.get(*k).is_some_and(|old| old != *v))
        .map(|(k, _)| k.as_str())
        .collect();
    let added: Vec<&str> = now
        .keys()
        .filter(|k| !approved.contains_key(*k))
        .map(String::as_str)
        .collect();
    let removed: Vec<&str> = approved
        .keys()
        .filter(|k| !now.contains_key(*k))
        .map(String::as_str)
        .collect();
    let mut parts = Vec::new();
    for (names, what) in [(changed, "changed"), (added, "added"), (removed, "removed")] {
        if !names.is_empty() {
            parts.push(format!("{} {what}", names.join(", ")));
        }
    }
    if parts.is_empty() {
        "the rendered content changed (a referenced Secret, or the chart's output)".into()
    } else {
        parts.join("; ")
    }
}

/// What the approval gate reads.
#[derive(Debug, Clone, Copy)]
pub struct GateFacts<'a> {
    pub release: &'a Release,
    /// The ApprovalPolicy that governs the release now ([`super::governing_approval_policy`]).
    pub policy: Option<&'a ApprovalPolicy>,
    /// The release's ApprovalRequest, when one exists.
    pub request: Option<&'a ApprovalRequest>,
    /// Whether `request` is the controller's request for this release (its controller owner is
    /// this release). Anything else was planted.
    pub request_owned: bool,
    /// Digest of the content that would be delivered now.
    pub digest: &'a str,
    /// The inputs of that content ([`approval_inputs`]).
    pub inputs: &'a BTreeMap<String, String>,
    /// The break-glass session the release names, as [`crate::admission::named_session`]
    /// judged it now.
    pub break_glass: BreakGlassCover<'a>,
}

/// The break-glass session a release names in `spec.breakGlassSession`, judged by
/// [`crate::admission::named_session`] (the freeze bypass's own rule): only a session the
/// release names counts, never one that merely happens to cover it.
#[derive(Debug, Clone, Copy, Default)]
pub enum BreakGlassCover<'a> {
    /// The release names no session.
    #[default]
    None,
    /// The named session is active and covers everything the release touches.
    Covers(&'a BreakGlassSession),
    /// The named session grants nothing now: why (closed, expired, missing, narrower scope).
    Lapsed(&'a str),
}

impl<'a> BreakGlassCover<'a> {
    /// From what [`crate::admission::named_session`] returned.
    pub fn from_check(
        check: Option<&'a Result<std::sync::Arc<BreakGlassSession>, String>>,
    ) -> Self {
        match check {
            None => BreakGlassCover::None,
            Some(Ok(session)) => BreakGlassCover::Covers(session),
            Some(Err(problem)) => BreakGlassCover::Lapsed(problem),
        }
    }
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalGate {
    /// No ApprovalPolicy governs the release.
    NotNeeded(Step),
    /// Enough approvals of exactly this content under the governing policy.
    Approved {
        progress: ApprovalProgress,
        step: Step,
    },
    /// The request must record `digest` and `inputs` (and be created when absent); the
    /// approvals given so far do not count for this content.
    Record {
        digest: String,
        inputs: BTreeMap<String, String>,
        /// What changed since the recorded digest; `None` for a new request.
        change: Option<String>,
        progress: ApprovalProgress,
        step: Step,
    },
    /// Waiting for approvals of the recorded content.
    Pending {
        progress: ApprovalProgress,
        step: Step,
    },
    Rejected {
        progress: ApprovalProgress,
        step: Step,
    },
    /// An active break-glass session the release names covers it: the governing policy's
    /// approvals are not needed. The request shows `Bypassed` naming the session, and records
    /// `digest` and `inputs` (what went out without approval) when `record` says so (it is
    /// created when absent).
    Bypassed {
        session: String,
        digest: String,
        inputs: BTreeMap<String, String>,
        /// The request is absent or records another digest.
        record: bool,
        progress: ApprovalProgress,
        step: Step,
    },
    Blocked(Step),
    /// The release was cancelled (`spec.cancellation`): nothing is delivered, whatever the
    /// approvals say; its request shows `Cancelled`.
    Cancelled(Step),
}

impl ApprovalGate {
    /// The step the release enters.
    pub fn step(&self) -> &Step {
        match self {
            ApprovalGate::NotNeeded(step)
            | ApprovalGate::Blocked(step)
            | ApprovalGate::Cancelled(step) => step,
            ApprovalGate::Approved { step, .. }
            | ApprovalGate::Record { step, .. }
            | ApprovalGate::Pending { step, .. }
            | ApprovalGate::Rejected { step, .. }
            | ApprovalGate::Bypassed { step, .. } => step,
        }
    }

    /// The quorum progress to show, when a policy governs.
    pub fn progress(&self) -> Option<&ApprovalProgress> {
        match self {
            ApprovalGate::Approved { progress, .. }
            | ApprovalGate::Record { progress, .. }
            | ApprovalGate::Pending { progress, .. }
            | ApprovalGate::Rejected { progress, .. }
            | ApprovalGate::Bypassed { progress, .. } => Some(progress),
            ApprovalGate::NotNeeded(_) | ApprovalGate::Blocked(_) | ApprovalGate::Cancelled(_) => {
                None
            }
        }
    }

    /// The phase the release's ApprovalRequest shows, when a policy governs.
    pub fn request_phase(&self) -> Option<ApprovalPhase> {
        match self {
            ApprovalGate::Approved { .. } => Some(ApprovalPhase::Approved),
            ApprovalGate::Rejected { .. } => Some(ApprovalPhase::Rejected),
            ApprovalGate::Bypassed { .. } => Some(ApprovalPhase::Bypassed),
            ApprovalGate::Cancelled(_) => Some(ApprovalPhase::Cancelled),
            ApprovalGate::Record { .. } | ApprovalGate::Pending { .. } => {
                Some(ApprovalPhase::Pending)
            }
            ApprovalGate::NotNeeded(_) | ApprovalGate::Blocked(_) => None,
        }
    }

    /// Whether delivery may go on.
    pub fn open(&self) -> bool {
        matches!(
            self,
            ApprovalGate::NotNeeded(_)
                | ApprovalGate::Approved { .. }
                | ApprovalGate::Bypassed { .. }
        )
    }

    /// The break-glass session that lifted the gate, when one did.
    pub fn bypassed_by(&self) -> Option<&str> {
        match self {
            ApprovalGate::Bypassed { session, .. } => Some(session),
            _ => None,
        }
    }
}

/// The ApprovalRequest's status for `phase` and `progress`: counts, message, and the
/// `Approved` and `Ready` conditions.
pub fn request_status(
    previous: Option<&ApprovalRequestStatus>,
    phase: ApprovalPhase,
    progress: &ApprovalProgress,
    message: &str,
    generation: Option<i64>,
    now: jiff::Timestamp,
) -> ApprovalRequestStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.phase = Some(phase);
    status.received = progress.received;
    status.required = progress.required;
    status.message = Some(message.to_string());
    let (approved, reason) = match phase {
        ApprovalPhase::Approved => (Status::True, reasons::APPROVED),
        ApprovalPhase::Rejected => (Status::False, reasons::REJECTED),
        ApprovalPhase::Pending => (Status::Unknown, reasons::AWAITING_APPROVAL),
        ApprovalPhase::Bypassed => (Status::True, reasons::APPROVAL_BYPASSED),
        ApprovalPhase::Cancelled => (Status::False, reasons::CANCELLED),
    };
    for (type_, value) in [
        (types::APPROVED, approved),
        (
            types::READY,
            Status::from_bool(matches!(
                phase,
                ApprovalPhase::Approved | ApprovalPhase::Bypassed
            )),
        ),
    ] {
        conditions::set(
            &mut status.conditions,
            type_,
            value,
            reason,
            message,
            generation,
            now,
        );
    }
    status
}

/// The status of a cancelled release's ApprovalRequest: `Cancelled`, the counts it had, and the
/// release's message (who cancelled it and why).
pub fn cancelled_request_status(
    previous: Option<&ApprovalRequestStatus>,
    message: &str,
    generation: Option<i64>,
    now: jiff::Timestamp,
) -> ApprovalRequestStatus {
    let progress = ApprovalProgress {
        required: previous.map_or(0, |p| p.required),
        received: previous.map_or(0, |p| p.received),
        ..ApprovalProgress::default()
    };
    request_status(
        previous,
        ApprovalPhase::Cancelled,
        &progress,
        message,
        generation,
        now,
    )
}

/// Whether `request` is the controller's request for `release`: its controlling owner is this
/// very release (by UID). A request someone else created, or one left by an earlier release of
/// the same name, is not.
pub fn request_owned_by(request: &ApprovalRequest, release: &Release) -> bool {
    let uid = release.metadata.uid.as_ref();
    request
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && Some(&o.uid) == uid)
}

/// The ApprovalRequest the controller creates for `release` under `policy`, recording the
/// digest and inputs approvers approve; owned by the release.
pub fn new_request(
    release: &Release,
    policy: &str,
    digest: &str,
    inputs: &BTreeMap<String, String>,
    change: Option<&str>,
) -> ApprovalRequest {
    use gitopshq_crds::consts::labels;
    use kube::Resource;
    let name = release.name_any();
    let namespace = release.namespace().unwrap_or_default();
    ApprovalRequest {
        metadata: kube::api::ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            labels: Some(BTreeMap::from([
                (labels::RELEASE.to_string(), name.clone()),
                (labels::PROJECT.to_string(), namespace),
                (
                    labels::MANAGED_BY.to_string(),
                    labels::MANAGED_BY_VALUE.to_string(),
                ),
            ])),
            owner_references: release.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        spec: gitopshq_crds::approval_request::ApprovalRequestSpec {
            release: name,
            policy: policy.to_string(),
            rendered_digest: Some(digest.to_string()),
            inputs: inputs.clone(),
            digest_change: change.map(str::to_string),
            decisions: Vec::new(),
        },
        status: None,
    }
}

/// Who submitted the release (the actor of its first steps).
pub fn submitter(release: &Release) -> String {
    release
        .spec
        .submitted_by
        .clone()
        .or_else(|| release.spec.created_by.clone())
        .unwrap_or_else(|| super::CONTROLLER.to_string())
}

/// Decides whether the approvals of a release count for the content that would be delivered
/// now; see the module documentation.
pub fn approval_gate(facts: &GateFacts<'_>) -> ApprovalGate {
    let release = facts.release;
    if release.spec.cancellation.is_some() {
        return ApprovalGate::Cancelled(super::cancelled_step(release));
    }
    let name = release.name_any();
    let Some(policy) = facts.policy else {
        if approval_required(release) {
            return ApprovalGate::Blocked(Step::new(
                ReleasePhase::Blocked,
                reasons::NOT_FOUND,
                format!(
                    "release {name} requires approval, but no ApprovalPolicy binds environment {}; create one (kubectl apply -f approval-policy.yaml), then retry (annotate gitopshq.io/retry)",
                    release.spec.environment
                ),
            ));
        }
        return ApprovalGate::NotNeeded(
            Step::new(
                ReleasePhase::Approved,
                reasons::NO_APPROVAL_NEEDED,
                format!(
                    "no ApprovalPolicy governs {} releases into {}; delivering",
                    release_type_name(release),
                    release.spec.environment
                ),
            )
            .by(submitter(release)),
        );
    };
    let policy_name = policy.name_any();
    if let Some(request) = facts.request
        && !facts.request_owned
    {
        return ApprovalGate::Blocked(Step::new(
            ReleasePhase::Blocked,
            reasons::INVALID_SPEC,
            format!(
                "ApprovalRequest {} was not created by GitOpsHQ for release {name}, so its decisions do not count; a platform administrator must delete it (kubectl delete approvalrequest {} -n {}), then retry (annotate gitopshq.io/retry)",
                request.name_any(),
                request.name_any(),
                release.namespace().unwrap_or_default()
            ),
        ));
    }
    if let BreakGlassCover::Covers(session) = facts.break_glass {
        return bypassed(facts, policy, session);
    }
    let lapsed = match facts.break_glass {
        BreakGlassCover::Lapsed(problem) => {
            format!("; {problem}, so its ApprovalPolicy applies")
        }
        _ => String::new(),
    };
    let Some(request) = facts.request else {
        let (_, progress, message) = approval_progress(policy, &[]);
        return ApprovalGate::Record {
            digest: facts.digest.to_string(),
            inputs: facts.inputs.clone(),
            change: None,
            progress,
            step: Step::new(
                ReleasePhase::PendingApproval,
                reasons::AWAITING_APPROVAL,
                format!(
                    "{message} (ApprovalPolicy {policy_name}); approvers: gitopshq approve {name} or append a decision to ApprovalRequest {name}{lapsed}"
                ),
            )
            .by(submitter(release)),
        };
    };
    if request.spec.rendered_digest.as_deref() != Some(facts.digest) {
        let change = match &request.spec.rendered_digest {
            Some(_) => describe_input_change(&request.spec.inputs, facts.inputs),
            None => "the approved content was not recorded".to_string(),
        };
        let (_, progress, message) = approval_progress(policy, &[]);
        let given = request.spec.decisions.iter().any(|d| {
            d.decision == DecisionKind::Approve
                && d.rendered_digest.is_some()
                && d.rendered_digest == request.spec.rendered_digest
        });
        let void = if !given {
            String::new()
        } else {
            "; the approvals given so far do not count for the new content".into()
        };
        return ApprovalGate::Record {
            digest: facts.digest.to_string(),
            inputs: facts.inputs.clone(),
            change: Some(change.clone()),
            progress,
            step: Step::new(
                ReleasePhase::PendingApproval,
                if void.is_empty() {
                    reasons::AWAITING_APPROVAL
                } else {
                    reasons::APPROVALS_VOIDED
                },
                format!(
                    "the content to deliver changed since the approval request recorded it ({change}){void}; {message} (ApprovalPolicy {policy_name}); approvers see the new diff with gitopshq diff or on the release page{lapsed}"
                ),
            ),
        };
    }
    let decisions = counted(facts, policy, request);
    let (phase, progress, message) = approval_progress(policy, &decisions);
    match phase {
        ApprovalPhase::Approved => {
            let last = progress
                .approvers
                .last()
                .map(|a| a.user.clone())
                .unwrap_or_default();
            let who: Vec<String> = progress
                .approvers
                .iter()
                .map(|a| match teams(&a.groups).next() {
                    Some(team) => format!("{} ({team})", a.user),
                    None => a.user.clone(),
                })
                .collect();
            ApprovalGate::Approved {
                step: Step::new(
                    ReleasePhase::Approved,
                    reasons::APPROVED,
                    format!("{message}: {}", who.join(", ")),
                )
                .by(last),
                progress,
            }
        }
        ApprovalPhase::Rejected => {
            let rejection = decisions
                .iter()
                .find(|d| d.decision == DecisionKind::Reject);
            let by = rejection.and_then(|d| d.user.clone()).unwrap_or_default();
            let comment = rejection
                .and_then(|d| d.comment.clone())
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            ApprovalGate::Rejected {
                step: Step::new(
                    ReleasePhase::Rejected,
                    reasons::REJECTED,
                    format!("{message}{comment}; submit a new release with the requested changes"),
                )
                .by(by),
                progress,
            }
        }
        // Counting decisions never gives Bypassed or Cancelled: only a break-glass session or
        // the release's cancellation does, above.
        ApprovalPhase::Pending | ApprovalPhase::Bypassed | ApprovalPhase::Cancelled => {
            let mut needs = if progress.missing.is_empty() {
                String::new()
            } else {
                format!("; still needed: {}", progress.missing.join(", "))
            };
            if let Some(change) = &request.spec.digest_change {
                needs.push_str(&format!(
                    "; the content changed since earlier approvals ({change}): they do not count"
                ));
            }
            ApprovalGate::Pending {
                step: Step::new(
                    ReleasePhase::PendingApproval,
                    reasons::AWAITING_APPROVAL,
                    format!("{message}{needs}{lapsed}"),
                ),
                progress,
            }
        }
    }
}

/// How the step of a release that went on without approvals under a break-glass session
/// begins: the audit trail tells such a step from an approval by it.
pub const BYPASSED_BY: &str = "approval bypassed by break-glass session ";

/// The longest part of a session's justification a release message quotes; the session holds
/// the whole text.
const JUSTIFICATION_QUOTE: usize = 200;

/// The release goes on without approvals under `session`: the step says so plainly, naming the
/// session, its severity, who opened it and why, and the policy whose approvals it skips. The
/// actor is the person who submitted the release under the session.
fn bypassed(
    facts: &GateFacts<'_>,
    policy: &ApprovalPolicy,
    session: &BreakGlassSession,
) -> ApprovalGate {
    let release = facts.release;
    let session_name = session.name_any();
    let (_, mut progress, _) = approval_progress(policy, &[]);
    progress.missing.clear();
    progress.summary = Some("bypassed".into());
    let justification = session
        .spec
        .justification
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let quoted = match justification.char_indices().nth(JUSTIFICATION_QUOTE) {
        Some((cut, _)) => format!("{}…", &justification[..cut]),
        None => justification,
    };
    let required = progress.required;
    let approvals = if required == 1 {
        "1 approval".to_string()
    } else {
        format!("{required} approvals")
    };
    let message = format!(
        "{BYPASSED_BY}{session_name} ({}, opened by {}: \"{quoted}\"): ApprovalPolicy {} would require {approvals}; release {} goes on without them, Enforce policies still apply, and the session records it",
        session.spec.severity,
        session.spec.requested_by.as_deref().unwrap_or("unknown"),
        policy.name_any(),
        release.name_any(),
    );
    let record = facts
        .request
        .is_none_or(|r| r.spec.rendered_digest.as_deref() != Some(facts.digest));
    ApprovalGate::Bypassed {
        session: session_name,
        digest: facts.digest.to_string(),
        inputs: facts.inputs.clone(),
        record,
        progress,
        step: Step::new(ReleasePhase::Approved, reasons::APPROVAL_BYPASSED, message)
            .by(submitter(release)),
    }
}

/// The decisions that count: made on the current content, and (when the policy forbids
/// self-approval) not approvals by one of the release's own authors, whatever let them in.
fn counted(
    facts: &GateFacts<'_>,
    policy: &ApprovalPolicy,
    request: &ApprovalRequest,
) -> Vec<Decision> {
    let authors = release_authors(facts.release);
    request
        .spec
        .decisions
        .iter()
        .filter(|d| d.rendered_digest.as_deref() == Some(facts.digest))
        .filter(|d| {
            !(policy.spec.forbid_self_approval
                && d.decision == DecisionKind::Approve
                && d.user.as_deref().is_some_and(|u| authors.contains(u)))
        })
        .cloned()
        .collect()
}

fn release_type_name(release: &Release) -> &'static str {
    plan::release_type_name(release.spec.type_)
}

#[cfg(test)]
mod tests;
