//! The release lifecycle: Draft → PendingApproval → Approved → Deploying → Deployed → Healthy,
//! or Rejected / Blocked / Failed / Degraded / Superseded / Cancelled.
//!
//! The controller reads the world (the release, its ApprovalRequest, policy verdicts, the
//! delivery outcome, live health), asks these functions what the release's next state is and
//! writes it. Every phase change leaves a timeline entry naming its actor, and the standard
//! conditions follow the phase, so `kubectl wait --for=condition=Ready` works on releases.

use std::collections::BTreeSet;

use gitopshq_crds::approval_policy::ApprovalPolicy;
use gitopshq_crds::common::Time;
use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_crds::policy::EnforcementMode;
use gitopshq_crds::release::{
    PolicyResult, PolicyVerdict, Release, ReleasePhase, ReleaseStatus, ReleaseType, TimelineEntry,
};
use jiff::Timestamp;
use kube::ResourceExt;

use crate::conditions::{self, Status};

pub mod gate;
pub mod observe;
pub mod project;
pub mod sla;
pub mod steps;

/// The actor of transitions the controller makes on its own.
pub const CONTROLLER: &str = "gitopshq-controller";

/// Timeline entries kept per release: a release that flaps between Healthy and Degraded for
/// weeks must not grow without bound (the API server refuses objects over 1.5 MiB).
pub const MAX_TIMELINE: usize = 100;

/// A state the release enters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub phase: ReleasePhase,
    /// CamelCase reason (`consts::reasons`).
    pub reason: &'static str,
    /// What happened and the next step, for people.
    pub message: String,
    /// Who caused it: a user, or [`CONTROLLER`].
    pub actor: String,
}

impl Step {
    pub fn new(phase: ReleasePhase, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            phase,
            reason,
            message: message.into(),
            actor: CONTROLLER.to_string(),
        }
    }

    pub fn by(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    /// Whether entering the step is a Warning Event: something stopped or undid the release.
    pub fn is_warning(&self) -> bool {
        matches!(
            self.phase,
            ReleasePhase::Blocked
                | ReleasePhase::Failed
                | ReleasePhase::Rejected
                | ReleasePhase::Degraded
        ) || self.reason == reasons::APPROVALS_VOIDED
    }
}

/// Whether a phase ends the release's life: nothing moves it any more (a retry of a Failed or
/// Blocked release is an explicit request, see [`retry_requested`]).
pub fn is_terminal(phase: ReleasePhase) -> bool {
    matches!(
        phase,
        ReleasePhase::Rejected | ReleasePhase::Superseded | ReleasePhase::Cancelled
    )
}

/// Whether a release in `phase` may still be cancelled: nothing of it is delivered or being
/// delivered. `None` is a submitted release the controller has not judged yet.
pub fn is_cancellable(phase: Option<ReleasePhase>) -> bool {
    matches!(
        phase,
        None | Some(
            ReleasePhase::Draft
                | ReleasePhase::PendingApproval
                | ReleasePhase::Approved
                | ReleasePhase::Blocked
        )
    )
}

/// The `Cancelled` step of a release whose `spec.cancellation` is set, while it is still
/// cancellable ([`is_cancellable`]) or already Cancelled (entering it again changes nothing).
/// `None` when the release is not cancelled, or when its delivery had started before the
/// cancellation was seen (admission refuses that; the approval gate before the commit is the
/// last place a cancellation stops a delivery, see [`gate::approval_gate`]).
pub fn cancellation(release: &Release, phase: Option<ReleasePhase>) -> Option<Step> {
    release.spec.cancellation.as_ref()?;
    (is_cancellable(phase) || phase == Some(ReleasePhase::Cancelled))
        .then(|| cancelled_step(release))
}

/// The step of a Draft: waiting to be submitted, or, when the webhook kept a submission as a
/// Draft because an Enforce policy refused it (`gitopshq.io/submission-refused`), that
/// refusal, by the person refused, with the next step.
pub fn draft_step(release: &Release) -> Step {
    let refused = release
        .annotations()
        .get(gitopshq_crds::consts::annotations::SUBMISSION_REFUSED);
    let Some(record) = refused else {
        return Step::new(
            ReleasePhase::Draft,
            reasons::DRAFT,
            "Draft: set spec.submitted to true (or `gitopshq release submit`) to render, check and deliver it",
        );
    };
    let (user, denial) = record
        .split_once(": ")
        .map(|(who, what)| (who.split(" at ").next().unwrap_or(who), what))
        .unwrap_or(("", record.as_str()));
    let step = Step::new(
        ReleasePhase::Draft,
        reasons::SUBMISSION_REFUSED,
        format!(
            "Draft: its submission was refused: {denial}; change the values (its policy results show what to fix) and submit it again"
        ),
    );
    if user.is_empty() { step } else { step.by(user) }
}

/// `Cancelled`, by the user the webhook stamped on `spec.cancellation`, with the reason.
pub fn cancelled_step(release: &Release) -> Step {
    let cancellation = release.spec.cancellation.clone().unwrap_or_default();
    let user = cancellation
        .user
        .clone()
        .unwrap_or_else(|| "an unknown user".to_string());
    let reason = match cancellation.reason.as_deref().map(str::trim) {
        Some(reason) if !reason.is_empty() => format!(": {reason}"),
        _ => " (no reason given)".to_string(),
    };
    let step = Step::new(
        ReleasePhase::Cancelled,
        reasons::CANCELLED,
        format!(
            "release {} was cancelled by {user}{reason}; nothing of it is delivered and approvals no longer count; create a new release to deliver its changes",
            release.name_any()
        ),
    );
    match cancellation.user {
        Some(user) => step.by(user),
        None => step,
    }
}

/// Whether the release's content is (being) in the repository or on the cluster.
pub fn is_delivered(phase: ReleasePhase) -> bool {
    matches!(
        phase,
        ReleasePhase::Deployed | ReleasePhase::Healthy | ReleasePhase::Degraded
    )
}

/// Enters `step`: phase, reason and message; the conditions that follow from it; and a timeline
/// entry when the phase or its reason changes. Returns whether the status changed.
pub fn enter(
    status: &mut ReleaseStatus,
    step: &Step,
    generation: Option<i64>,
    now: Timestamp,
) -> bool {
    let new_state =
        status.phase != Some(step.phase) || status.reason.as_deref() != Some(step.reason);
    let changed = new_state || status.message.as_deref() != Some(step.message.as_str());
    if new_state {
        status.timeline.push(TimelineEntry {
            time: Time(now),
            phase: step.phase,
            message: Some(step.message.clone()),
            actor: Some(step.actor.clone()),
        });
        if status.timeline.len() > MAX_TIMELINE {
            // Keep the first entry (submission) and the newest ones.
            let excess = status.timeline.len() - MAX_TIMELINE;
            status.timeline.drain(1..=excess);
        }
    }
    status.phase = Some(step.phase);
    status.reason = Some(step.reason.to_string());
    status.message = Some(step.message.clone());
    let conditions_changed = phase_conditions(status, step, generation, now);
    changed || conditions_changed
}

fn phase_conditions(
    status: &mut ReleaseStatus,
    step: &Step,
    generation: Option<i64>,
    now: Timestamp,
) -> bool {
    let c = &mut status.conditions;
    let message = step.message.as_str();
    let mut set = |type_: &str, s: Status, reason: &str, message: &str| {
        conditions::set(c, type_, s, reason, message, generation, now)
    };
    let mut changed = false;
    use ReleasePhase as P;
    match step.phase {
        P::PendingApproval => {
            changed |= set(
                types::APPROVED,
                Status::Unknown,
                reasons::AWAITING_APPROVAL,
                message,
            );
        }
        P::Approved => {
            changed |= set(types::APPROVED, Status::True, step.reason, message);
        }
        P::Rejected => {
            changed |= set(types::APPROVED, Status::False, reasons::REJECTED, message);
        }
        P::Deploying => {
            changed |= set(
                types::DELIVERED,
                Status::Unknown,
                reasons::PROGRESSING,
                message,
            );
        }
        P::Deployed => {
            changed |= set(types::DELIVERED, Status::True, step.reason, message);
            changed |= set(
                types::HEALTHY,
                Status::Unknown,
                reasons::PROGRESSING,
                message,
            );
        }
        P::Healthy => {
            changed |= set(types::HEALTHY, Status::True, reasons::HEALTHY, message);
        }
        P::Degraded => {
            changed |= set(types::HEALTHY, Status::False, reasons::DEGRADED, message);
        }
        P::Failed
            if step.reason == reasons::DELIVERY_FAILED || step.reason == reasons::SYNC_FAILED =>
        {
            changed |= set(types::DELIVERED, Status::False, step.reason, message);
        }
        P::Failed if step.reason == reasons::PROGRESS_DEADLINE_EXCEEDED => {
            changed |= set(types::HEALTHY, Status::False, step.reason, message);
        }
        P::Blocked if step.reason == reasons::POLICY_DENIED => {
            changed |= set(types::POLICIES_PASSED, Status::False, step.reason, message);
        }
        P::Cancelled => {
            changed |= set(types::APPROVED, Status::False, reasons::CANCELLED, message);
        }
        P::Draft | P::Failed | P::Blocked | P::Superseded => {}
    }
    let ready = step.phase == P::Healthy;
    changed |= set(types::READY, Status::from_bool(ready), step.reason, message);
    changed
}

/// Records the policy verdicts in `status.policyResults` and the `PoliciesPassed` condition.
pub fn record_policies(
    status: &mut ReleaseStatus,
    results: Vec<PolicyResult>,
    generation: Option<i64>,
    now: Timestamp,
) {
    let denied = results
        .iter()
        .filter(|r| r.verdict == PolicyVerdict::Deny)
        .count();
    let warned = results
        .iter()
        .filter(|r| r.verdict == PolicyVerdict::Warn)
        .count();
    let (s, reason, message) = if denied > 0 {
        (
            Status::False,
            reasons::POLICY_DENIED,
            format!("{denied} of {} policies deny the release", results.len()),
        )
    } else if warned > 0 {
        (
            Status::True,
            reasons::POLICY_WARNED,
            format!("{warned} of {} policies warn (not blocking)", results.len()),
        )
    } else {
        (
            Status::True,
            reasons::POLICIES_PASSED,
            format!("{} policies pass", results.len()),
        )
    };
    conditions::set(
        &mut status.conditions,
        types::POLICIES_PASSED,
        s,
        reason,
        &message,
        generation,
        now,
    );
    status.policy_results = results;
}

/// `Blocked` when an `Enforce` policy denies: the message lists every violation and says what
/// to do. `None` when the release may go on.
pub fn policy_gate(release: &str, results: &[PolicyResult]) -> Option<Step> {
    let violations: Vec<String> = results
        .iter()
        .filter(|r| r.verdict == PolicyVerdict::Deny && r.mode == EnforcementMode::Enforce)
        .flat_map(|r| {
            r.messages
                .iter()
                .map(move |m| format!("policy {} (Enforce): {m}", r.policy))
        })
        .collect();
    if violations.is_empty() {
        return None;
    }
    Some(Step::new(
        ReleasePhase::Blocked,
        reasons::POLICY_DENIED,
        format!(
            "release {release} is blocked by {} policy violation(s): {}; fix the values and submit a new release",
            violations.len(),
            violations.join("; ")
        ),
    ))
}

/// The ApprovalPolicy that governs a release: bound to its environment and type. When several
/// bind, the strictest (most approvals, then distinct teams) governs, by name on a tie so the
/// choice is stable. A release annotated `gitopshq.io/require-approval: "true"` that no policy
/// binds by type falls back to the policies bound to its environment for any type.
pub fn governing_approval_policy<'a>(
    policies: impl IntoIterator<Item = &'a ApprovalPolicy>,
    release: &Release,
) -> Option<&'a ApprovalPolicy> {
    let policies: Vec<&ApprovalPolicy> = policies.into_iter().collect();
    let strictest = |filter: &dyn Fn(&ApprovalPolicy) -> bool| {
        policies
            .iter()
            .copied()
            .filter(|p| filter(p))
            .max_by(|a, b| {
                (a.spec.min_approvals, a.spec.distinct_teams)
                    .cmp(&(b.spec.min_approvals, b.spec.distinct_teams))
                    .then_with(|| b.name_any().cmp(&a.name_any()))
            })
    };
    let environment = &release.spec.environment;
    strictest(&|p| binds(p, environment, release.spec.type_)).or_else(|| {
        approval_required(release)
            .then(|| strictest(&|p| p.spec.environments.iter().any(|e| e == environment)))
            .flatten()
    })
}

/// Whether the release asks for approval whatever the policies' release types say.
pub fn approval_required(release: &Release) -> bool {
    release
        .annotations()
        .get(gitopshq_crds::consts::annotations::REQUIRE_APPROVAL)
        .is_some_and(|v| v == "true")
}

/// Whether an approval policy applies to releases of `release_type` into `environment`.
pub fn binds(policy: &ApprovalPolicy, environment: &str, release_type: ReleaseType) -> bool {
    policy.spec.environments.iter().any(|e| e == environment)
        && (policy.spec.release_types.is_empty()
            || policy.spec.release_types.contains(&release_type))
}

/// What a release touches: for supersession, which (tenant, workload) pairs it delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footprint {
    pub name: String,
    pub environment: String,
    pub created: Timestamp,
    /// When delivery last changed what runs, once delivered.
    pub delivered: Option<Timestamp>,
    pub phase: ReleasePhase,
    pub pairs: BTreeSet<(String, String)>,
}

/// Whether `other`'s content is newer than `older`'s. Two delivered releases are ordered by
/// delivery, since the later delivery is what Git holds whatever their creation order. One not
/// delivered yet is newer than a delivered one created in the same second: creation times
/// have second precision, and a tie says nothing about which the user meant to land last.
fn is_newer(other: &Footprint, older: &Footprint) -> bool {
    match (other.delivered, older.delivered) {
        (Some(theirs), Some(ours)) => {
            (theirs, other.created, &other.name) > (ours, older.created, &older.name)
        }
        (_, None) => other.created > older.created,
        (None, Some(_)) => (other.created, &other.name) > (older.created, &older.name),
    }
}

/// The newer delivered release(s) whose pairs cover all of `older`'s: the first of them by
/// name, or `None`. A release still waiting would overwrite newer content if delivered; a
/// delivered one no longer describes what runs. Releases in flight (Deploying) and finished
/// ones are left alone.
pub fn superseded_by<'a>(older: &Footprint, others: &'a [Footprint]) -> Option<&'a str> {
    let eligible = matches!(
        older.phase,
        ReleasePhase::PendingApproval
            | ReleasePhase::Approved
            | ReleasePhase::Blocked
            | ReleasePhase::Deployed
            | ReleasePhase::Healthy
            | ReleasePhase::Degraded
    );
    if !eligible || older.pairs.is_empty() {
        return None;
    }
    let newer: Vec<&Footprint> = others
        .iter()
        .filter(|o| {
            o.name != older.name
                && o.environment == older.environment
                && is_delivered(o.phase)
                && is_newer(o, older)
                && !o.pairs.is_disjoint(&older.pairs)
        })
        .collect();
    let covered: BTreeSet<&(String, String)> = newer.iter().flat_map(|o| &o.pairs).collect();
    if !older.pairs.iter().all(|p| covered.contains(p)) {
        return None;
    }
    newer.iter().map(|o| o.name.as_str()).min()
}

/// `Superseded` by `newer`.
pub fn superseded_step(newer: &str) -> Step {
    Step::new(
        ReleasePhase::Superseded,
        reasons::SUPERSEDED,
        format!(
            "release {newer} delivered newer content to every tenant and workload of this release"
        ),
    )
}

/// Where a release stands in delivery order: when it was delivered (its creation time for one
/// that does not say), then its creation time and name to break ties.
fn delivery_order(
    release: &Release,
    delivered: Option<Timestamp>,
) -> (Option<Timestamp>, Option<Timestamp>, String) {
    let created = release.metadata.creation_timestamp.as_ref().map(|t| t.0);
    (delivered.or(created), created, release.name_any())
}

/// Whether `release` may record itself as the last release where `recorded` is recorded now
/// (a tenant's `status.lastRelease`, a workload's release in an environment; `None`: nothing,
/// or a release that no longer exists): only when it was delivered after `recorded`. An older
/// release that is still observed (it stays current for another workload of the same tenants)
/// would otherwise take the record back at every check, and the newer release again at its
/// next, each time a write that wakes every release of the environment.
pub fn may_record(release: &Release, recorded: Option<&Release>) -> bool {
    let Some(recorded) = recorded else {
        return true;
    };
    let order = |r: &Release| {
        let delivered = r.status.as_ref().and_then(|s| s.delivered_at.as_ref());
        delivery_order(r, delivered.map(|t| t.0))
    };
    recorded.name_any() == release.name_any() || order(release) > order(recorded)
}

/// The release to roll `release` back to: among `others`, the last one delivered before it, in
/// its namespace and environment, that changed one of `workloads` and was Healthy at some
/// point. `delivered` is when `release` itself was delivered.
pub fn rollback_target<'a>(
    release: &Release,
    delivered: Option<Timestamp>,
    workloads: &BTreeSet<String>,
    others: impl IntoIterator<Item = &'a Release>,
) -> Option<&'a Release> {
    let this = delivery_order(release, delivered);
    others
        .into_iter()
        .filter_map(|r| {
            let status = r.status.as_ref()?;
            let eligible = r.namespace() == release.namespace()
                && r.name_any() != this.2
                && r.spec.environment == release.spec.environment
                && status.commit.is_some()
                && status
                    .timeline
                    .iter()
                    .any(|t| t.phase == ReleasePhase::Healthy)
                && r.spec
                    .changes
                    .iter()
                    .any(|c| workloads.contains(&c.workload));
            let order = delivery_order(r, status.delivered_at.as_ref().map(|t| t.0));
            (eligible && order < this).then_some((order, r))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, r)| r)
}

/// The first wait after a delivery failed for a reason that may pass; it doubles per attempt.
pub const DELIVERY_RETRY_FIRST: std::time::Duration = std::time::Duration::from_secs(10);
/// The longest wait between delivery attempts.
pub const DELIVERY_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(300);

/// How long a delivery waits before its next attempt, when an earlier one failed and its time
/// has not come: the reconciliation does nothing until then (a status write or a watch event
/// in between must not make an attempt the status did not announce).
pub fn delivery_wait(status: &ReleaseStatus, now: Timestamp) -> Option<std::time::Duration> {
    let retry = status.delivery_retry.as_ref()?;
    let wait = now.until(retry.next_attempt_at.0).ok()?;
    let wait = std::time::Duration::try_from(wait).ok()?;
    (!wait.is_zero()).then_some(wait)
}

/// A delivery attempt failed with `problem`, which may pass: the release stays Deploying, the
/// status records the attempt and when the next one is made (10 s doubling, at most 5 min),
/// and the step says so. The message depends only on the problem and the attempt, so the
/// status is written once per attempt.
pub fn delivery_failed(
    status: &mut ReleaseStatus,
    problem: &str,
    now: Timestamp,
) -> (Step, std::time::Duration) {
    let attempts = status
        .delivery_retry
        .as_ref()
        .map_or(0, |r| r.attempts)
        .saturating_add(1);
    let factor = 1u32 << attempts.clamp(1, 16).saturating_sub(1);
    let wait = DELIVERY_RETRY_FIRST
        .saturating_mul(factor)
        .min(DELIVERY_RETRY_MAX);
    let next = now
        .checked_add(jiff::SignedDuration::try_from(wait).unwrap_or_default())
        .unwrap_or(now);
    status.delivery_retry = Some(gitopshq_crds::release::DeliveryRetry {
        attempts,
        next_attempt_at: Time(next),
    });
    let step = Step::new(
        ReleasePhase::Deploying,
        reasons::DELIVERY_FAILED,
        format!(
            "delivery attempt {attempts} failed, next attempt in {}s at {}: {problem}",
            wait.as_secs(),
            crate::admission::format_time(next)
        ),
    );
    (step, wait)
}

/// Whether the `gitopshq.io/retry` annotation asks for a retry that has not been handled yet.
pub fn retry_requested(annotation: Option<&str>, handled: Option<&str>) -> bool {
    annotation.is_some_and(|a| Some(a) != handled)
}

/// Where a retry sends a release in `phase` (with `reason`): a Failed or Blocked release goes
/// back to Deploying when its delivery failed (delivered again as it was judged), else to Draft
/// (judged again); any other phase stays where it is (`None`).
pub fn retried_phase(phase: Option<ReleasePhase>, reason: Option<&str>) -> Option<ReleasePhase> {
    match phase {
        Some(ReleasePhase::Failed | ReleasePhase::Blocked) => {
            Some(if reason == Some(reasons::DELIVERY_FAILED) {
                ReleasePhase::Deploying
            } else {
                ReleasePhase::Draft
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;

/// Evaluates every policy bound to the release's environment on its rendered targets: the
/// `status.policyResults` of the release (empty when none binds).
pub fn evaluate_policies(
    engine: &crate::policy::PolicyEngine,
    policies: &[gitopshq_crds::policy::Policy],
    release: &Release,
    rendered: &[crate::plan::RenderedTarget],
) -> Result<Vec<PolicyResult>, crate::policy::PolicyError> {
    let project = release.namespace().unwrap_or_default();
    let name = release.name_any();
    let subject = crate::policy::ReleaseSubject {
        environment: &release.spec.environment,
        project: &project,
        release: &name,
        changes: &release.spec.changes,
        targets: crate::policy::subject_targets(rendered),
    };
    engine.evaluate_release(policies, &subject)
}
