//! Where the release controller goes from each phase, and the steps it takes on the way that
//! are not judgements of their own (those are in `gate`, `observe`, `sla` and the parent
//! module): a freeze or a bad input that blocks delivery, the start of a delivery, a failed
//! render or delivery, and what a delivery that went through says.

use gitopshq_crds::consts::reasons;
use gitopshq_crds::release::ReleasePhase;

use super::Step;
use crate::RenderError;
use crate::error::Chain;
use crate::plan::PlanError;

/// What the release controller does for a release in a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Render, run the policies, route to an approval policy.
    Evaluate,
    /// Count the approvals.
    CheckApprovals,
    /// Check the freeze, then deliver (an approved release, or one a freeze holds).
    StartDelivery,
    /// Commit (and apply, for Direct targets).
    Deliver,
    /// Follow the GitOps engine, health and drift.
    Observe,
    /// Nothing until a person acts (retry, cancel) or the release changes.
    Settled,
}

/// The stage of a release in `phase` whose status gives `reason`.
pub fn stage(phase: Option<ReleasePhase>, reason: Option<&str>) -> Stage {
    match phase {
        None | Some(ReleasePhase::Draft) => Stage::Evaluate,
        Some(ReleasePhase::PendingApproval) => Stage::CheckApprovals,
        Some(ReleasePhase::Approved) => Stage::StartDelivery,
        // Held by a freeze: delivered when it ends.
        Some(ReleasePhase::Blocked) if reason == Some(reasons::ENVIRONMENT_FROZEN) => {
            Stage::StartDelivery
        }
        Some(ReleasePhase::Deploying) => Stage::Deliver,
        Some(ReleasePhase::Deployed | ReleasePhase::Healthy | ReleasePhase::Degraded) => {
            Stage::Observe
        }
        Some(
            ReleasePhase::Blocked
            | ReleasePhase::Failed
            | ReleasePhase::Rejected
            | ReleasePhase::Superseded
            | ReleasePhase::Cancelled,
        ) => Stage::Settled,
    }
}

/// Whether a release in `step` records the policy results its submission would get: every
/// Draft does, so its author sees them before submitting, and a refused one shows what to fix.
pub fn records_policy_results(step: &Step) -> bool {
    step.phase == ReleasePhase::Draft
}

/// The freeze rules could not be read (a bad window, an unknown time zone).
pub fn freeze_unreadable(problem: String) -> Step {
    Step::new(ReleasePhase::Blocked, reasons::INVALID_SPEC, problem)
}

/// A freeze holds the release; `message` names it and when it ends.
pub fn frozen(message: String) -> Step {
    Step::new(ReleasePhase::Blocked, reasons::ENVIRONMENT_FROZEN, message)
}

/// Delivery starts.
pub fn deploying(tenants: usize, environment: &str) -> Step {
    Step::new(
        ReleasePhase::Deploying,
        reasons::PROGRESSING,
        format!("delivering to {tenants} tenant(s) of {environment}"),
    )
}

/// The release's project is gone.
pub fn project_missing(project: &str) -> Step {
    Step::new(
        ReleasePhase::Failed,
        reasons::DELIVERY_FAILED,
        format!(
            "project {project} does not exist; apply the Project, then retry (annotate gitopshq.io/retry)"
        ),
    )
}

/// The delivery failed in a way a retry of the same inputs does not mend.
pub fn delivery_failed(release: &str, error: &(dyn std::error::Error + 'static)) -> Step {
    Step::new(
        ReleasePhase::Failed,
        reasons::DELIVERY_FAILED,
        format!(
            "delivery of release {release} failed: {}; fix it and retry (annotate gitopshq.io/retry)",
            Chain(error)
        ),
    )
}

/// The content to approve or deliver cannot be rendered.
pub fn cannot_render(release: &str, problem: &str) -> Step {
    render_failed(release, reasons::RENDER_FAILED, problem)
}

/// The release's render refused: Blocked when a cluster lacks Secret encryption (not the
/// release's fault: configure the cluster, then retry), otherwise Failed with the reason of
/// the first fault (the message lists them all).
pub fn render_refused(release: &str, error: &PlanError) -> Step {
    if matches!(error, PlanError::SecretEncryptionMissing { .. }) {
        return Step::new(
            ReleasePhase::Blocked,
            reasons::SECRET_ENCRYPTION_MISSING,
            format!("release {release} is blocked: {}", Chain(error)),
        );
    }
    let reason = match error.problems().first() {
        Some(PlanError::Render { source, .. }) => match **source {
            RenderError::UnresolvedVariable { .. } => reasons::UNRESOLVED_VARIABLE,
            RenderError::SecretValueOutsideSecret { .. } => reasons::SECRET_VALUE_OUTSIDE_SECRET,
            _ => reasons::RENDER_FAILED,
        },
        _ => reasons::RENDER_FAILED,
    };
    render_failed(release, reason, &Chain(error).to_string())
}

fn render_failed(release: &str, reason: &'static str, problem: &str) -> Step {
    Step::new(
        ReleasePhase::Failed,
        reason,
        format!(
            "release {release} cannot be rendered: {problem}; fix the inputs and retry (annotate gitopshq.io/retry) or submit a new release"
        ),
    )
}

/// What a delivery's commit was.
#[derive(Debug, Clone, Copy)]
pub struct Commit<'a> {
    /// The commit the branch holds for the release.
    pub sha: &'a str,
    /// Whether this delivery made it.
    pub created: bool,
    /// Whether an earlier delivery of the same release made it (a retry after a crash).
    pub found_in_history: bool,
    pub branch: &'a str,
    pub url: &'a str,
}

/// The release is Deployed: committed, or already in the repository; `applied` is what was
/// applied straight to clusters (Direct targets), `notes` what the GitOps engine still lacks.
pub fn deployed(commit: Commit<'_>, applied: Option<&str>, notes: &[String]) -> Step {
    let short = &commit.sha[..commit.sha.len().min(7)];
    let mut reason = if commit.created || commit.found_in_history {
        reasons::COMMITTED
    } else {
        reasons::NOTHING_TO_COMMIT
    };
    let mut message = match (commit.created, commit.found_in_history) {
        (true, _) => format!("committed {short} to {} of {}", commit.branch, commit.url),
        (false, true) => format!("commit {short} already holds this release"),
        (false, false) => {
            format!("the repository already holds exactly this content (at {short}); no new commit")
        }
    };
    if let Some(summary) = applied {
        reason = reasons::APPLIED;
        message = format!("{message}; {summary}");
    }
    for note in notes {
        message = format!("{message}; {note}");
    }
    Step::new(ReleasePhase::Deployed, reason, message)
}

#[cfg(test)]
mod tests;
