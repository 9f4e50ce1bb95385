use gitopshq_crds::consts::reasons;
use gitopshq_crds::release::ReleasePhase;

use super::*;

#[test]
fn every_phase_has_a_stage_and_a_freeze_is_waited_out() {
    assert_eq!(stage(None, None), Stage::Evaluate);
    assert_eq!(stage(Some(ReleasePhase::Draft), None), Stage::Evaluate);
    assert_eq!(
        stage(Some(ReleasePhase::PendingApproval), None),
        Stage::CheckApprovals
    );
    assert_eq!(
        stage(Some(ReleasePhase::Approved), None),
        Stage::StartDelivery
    );
    assert_eq!(
        stage(
            Some(ReleasePhase::Blocked),
            Some(reasons::ENVIRONMENT_FROZEN)
        ),
        Stage::StartDelivery
    );
    assert_eq!(
        stage(Some(ReleasePhase::Blocked), Some(reasons::POLICY_DENIED)),
        Stage::Settled,
        "a policy block waits for a person"
    );
    assert_eq!(stage(Some(ReleasePhase::Deploying), None), Stage::Deliver);
    for phase in [
        ReleasePhase::Deployed,
        ReleasePhase::Healthy,
        ReleasePhase::Degraded,
    ] {
        assert_eq!(stage(Some(phase), None), Stage::Observe);
    }
    for phase in [
        ReleasePhase::Failed,
        ReleasePhase::Rejected,
        ReleasePhase::Superseded,
        ReleasePhase::Cancelled,
    ] {
        assert_eq!(stage(Some(phase), None), Stage::Settled);
    }
}

#[test]
fn a_delivery_says_whether_it_committed_found_or_applied() {
    let commit = |created, found_in_history| Commit {
        sha: "0123456789abcdef",
        created,
        found_in_history,
        branch: "main",
        url: "https://git.example.com/gitops.git",
    };
    let step = deployed(commit(true, false), None, &[]);
    assert_eq!(step.phase, ReleasePhase::Deployed);
    assert_eq!(step.reason, reasons::COMMITTED);
    assert_eq!(
        step.message,
        "committed 0123456 to main of https://git.example.com/gitops.git"
    );
    let step = deployed(commit(false, true), None, &[]);
    assert_eq!(step.reason, reasons::COMMITTED);
    assert_eq!(step.message, "commit 0123456 already holds this release");
    let step = deployed(
        commit(false, false),
        Some("applied 3 objects to eu-1"),
        &["Flux is not ready to sync it: no kubeconfig".to_string()],
    );
    assert_eq!(step.reason, reasons::APPLIED);
    assert_eq!(
        step.message,
        "the repository already holds exactly this content (at 0123456); no new commit; applied 3 objects to eu-1; Flux is not ready to sync it: no kubeconfig"
    );
    let step = deployed(commit(false, false), None, &[]);
    assert_eq!(step.reason, reasons::NOTHING_TO_COMMIT);
}

#[test]
fn blocking_and_failing_steps_name_the_release_and_the_next_step() {
    let step = deploying(3, "production");
    assert_eq!(
        (step.phase, step.reason),
        (ReleasePhase::Deploying, reasons::PROGRESSING)
    );
    assert_eq!(step.message, "delivering to 3 tenant(s) of production");
    let step = project_missing("payments");
    assert_eq!(step.phase, ReleasePhase::Failed);
    assert!(
        step.message.contains("apply the Project, then retry"),
        "{}",
        step.message
    );
    let step = cannot_render("r1", "unknown chart");
    assert_eq!(step.reason, reasons::RENDER_FAILED);
    assert!(
        step.message
            .starts_with("release r1 cannot be rendered: unknown chart; fix the inputs"),
        "{}",
        step.message
    );
    assert!(frozen("frozen until Monday".into()).is_warning());
    assert_eq!(
        freeze_unreadable("bad window".into()).reason,
        reasons::INVALID_SPEC
    );
    assert!(records_policy_results(&Step::new(
        ReleasePhase::Draft,
        reasons::SUBMISSION_REFUSED,
        "refused"
    )));
    assert!(records_policy_results(&Step::new(
        ReleasePhase::Draft,
        reasons::DRAFT,
        "not submitted yet"
    )));
    assert!(!records_policy_results(&Step::new(
        ReleasePhase::PendingApproval,
        reasons::POLICIES_PASSED,
        "waiting"
    )));
}
