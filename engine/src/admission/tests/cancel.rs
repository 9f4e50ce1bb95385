//! Cancelling a release: `spec.cancellation`, stamped with the canceller, admitted while nothing
//! is delivered, from the creator or a holder of the `cancel` grant, and final.

use std::sync::Arc;

use gitopshq_crds::release::Cancellation;

use super::grants::validate_as;
use super::*;

/// `payment-api-v2`, created and submitted by alice (backend-team), waiting for approval.
fn pending() -> Release {
    let mut release = release("payment-api-v2")
        .env("production")
        .change("payment-api")
        .submitted()
        .created_by("alice")
        .phase(ReleasePhase::PendingApproval);
    release.spec.submitted_by = Some("alice".into());
    release
}

/// backend-team: Developers (no gated verb); release-managers: ReleaseManager in production.
fn granted() -> Snapshot {
    let mut snapshot = Snapshot::default();
    snapshot
        .catalog
        .environments
        .push(environment("production"));
    snapshot.grants = Some(vec![
        Grant::environment("release-managers", NS, "release", "production"),
        Grant::environment("release-managers", NS, "cancel", "production"),
    ]);
    snapshot
}

fn alice() -> Requester {
    person("alice", &["backend-team", "system:authenticated"])
}

fn dave() -> Requester {
    person("dave", &["backend-team", "system:authenticated"])
}

fn rita() -> Requester {
    person("rita", &["release-managers", "system:authenticated"])
}

/// `old` with `spec.cancellation` as a client sends it (a forged user included).
fn cancelled(old: &Release, reason: &str) -> Release {
    let mut sent = old.clone();
    sent.spec.cancellation = Some(Cancellation {
        reason: Some(reason.into()),
        user: Some("mallory".into()),
        time: None,
    });
    sent
}

/// `user` cancels `old`, as on the cluster: the mutating webhook stamps the object the client
/// sent, the validating webhook judges the stamped one. Returns the stamped object and the
/// validating verdict.
fn cancel(directory: &Snapshot, user: &Requester, old: &Release) -> (Release, Verdict) {
    let sent = cancelled(old, "the change is not needed any more");
    let stamped = stamp(directory, user, old, &sent);
    let verdict = validate_change(directory, user, old, &stamped);
    (stamped, verdict)
}

/// `sent` as the mutating webhook stamps it when `user` changes `old` into it.
fn stamp(directory: &Snapshot, user: &Requester, old: &Release, sent: &Release) -> Release {
    let stamps = mutate_release(
        &update(user, old, sent),
        directory,
        &crate::policy::PolicyEngine::default(),
        &Settings::default(),
    );
    apply(sent, &stamps)
}

/// The validating webhook's verdict on `user` changing `old` into `new`.
fn validate_change(
    directory: &Snapshot,
    user: &Requester,
    old: &Release,
    new: &Release,
) -> Verdict {
    validate_release(
        &update(user, old, new),
        directory,
        &engine(),
        &Settings::default(),
    )
}

#[test]
fn the_creator_cancels_their_own_release_stamped_with_their_name() {
    let directory = granted();
    let (stamped, verdict) = cancel(&directory, &alice(), &pending());
    assert_allowed(&verdict);
    let cancellation = stamped.spec.cancellation.unwrap();
    assert_eq!(cancellation.user.as_deref(), Some("alice"), "never mallory");
    assert_eq!(cancellation.time, Some(k8s_time(NOW)));
    assert_eq!(
        cancellation.reason.as_deref(),
        Some("the change is not needed any more")
    );
    assert_eq!(
        audit(&verdict, "gitopshq.io/cancellation"),
        Some("alice: the change is not needed any more")
    );
    assert_warned(&verdict, &["release payment-api-v2 is cancelled by alice"]);
    // Cancelling does not make anyone an author.
    assert_eq!(stamped.spec.authors, ["alice"]);
}

#[test]
fn a_release_manager_cancels_someone_elses_release() {
    let directory = granted();
    let (stamped, verdict) = cancel(&directory, &rita(), &pending());
    assert_allowed(&verdict);
    assert_eq!(
        stamped.spec.cancellation.unwrap().user.as_deref(),
        Some("rita")
    );
}

#[test]
fn an_ordinary_role_may_not_cancel_someone_elses_release() {
    let directory = granted();
    let (_, verdict) = cancel(&directory, &dave(), &pending());
    let message = assert_denied(
        &verdict,
        Rule::NotPermitted,
        &[
            "release payment-api-v2 denied",
            "dave (groups: backend-team) may not cancel other people's releases of production",
            "ReleaseManager role in production",
            "ask alice, who created it, to cancel it",
        ],
    );
    assert_eq!(Rule::NotPermitted.status_code(), 403, "{message}");
}

#[test]
fn every_phase_before_delivery_may_be_cancelled() {
    let directory = granted();
    for phase in [
        ReleasePhase::Draft,
        ReleasePhase::PendingApproval,
        ReleasePhase::Approved,
        ReleasePhase::Blocked,
    ] {
        let (_, verdict) = cancel(&directory, &alice(), &pending().phase(phase));
        assert_allowed(&verdict);
    }
    // Submitted, not judged yet.
    let mut fresh = pending();
    fresh.status = None;
    assert_allowed(&cancel(&directory, &alice(), &fresh).1);
    // A Draft too, by its creator.
    let draft = release("payment-api-v3")
        .change("payment-api")
        .created_by("alice");
    assert_allowed(&cancel(&directory, &alice(), &draft).1);
}

#[test]
fn a_delivered_release_is_refused_with_the_rollback_to_use_instead() {
    let directory = granted();
    for phase in [
        ReleasePhase::Deploying,
        ReleasePhase::Deployed,
        ReleasePhase::Healthy,
        ReleasePhase::Degraded,
        ReleasePhase::Failed,
    ] {
        let mut delivered = pending().phase(phase);
        delivered.status.as_mut().unwrap().short_commit = Some("abc1234".into());
        let (_, verdict) = cancel(&directory, &rita(), &delivered);
        assert_denied(
            &verdict,
            Rule::NotCancellable,
            &[
                "release payment-api-v2 denied",
                &format!("it is {phase}, commit abc1234"),
                "can no longer be cancelled",
                "gitopshq rollback payment-api --to PREVIOUS-RELEASE -n payments",
            ],
        );
    }
    for phase in [ReleasePhase::Rejected, ReleasePhase::Superseded] {
        let (_, verdict) = cancel(&directory, &alice(), &pending().phase(phase));
        assert_denied(
            &verdict,
            Rule::NotCancellable,
            &[&format!("it is {phase}"), "nothing to cancel"],
        );
    }
    assert_eq!(Rule::NotCancellable.status_code(), 409);
}

#[test]
fn a_cancellation_changes_nothing_else() {
    let directory = granted();
    let old = pending();
    let mut sent = cancelled(&old, "wrong tag");
    sent.spec.title = "something else".into();
    let verdict = validate_change(&directory, &alice(), &old, &sent);
    assert_denied(
        &verdict,
        Rule::Immutable,
        &["set spec.cancellation alone", "gitopshq release cancel"],
    );
}

#[test]
fn a_cancelled_release_is_final() {
    let directory = granted();
    let (stamped, _) = cancel(&directory, &alice(), &pending());
    let old = stamped.clone().phase(ReleasePhase::Cancelled);
    // Another reason, or another user claimed: refused.
    let mut changed = old.clone();
    changed.spec.cancellation.as_mut().unwrap().reason = Some("another reason".into());
    let verdict = validate_change(&directory, &rita(), &old, &changed);
    assert_denied(
        &verdict,
        Rule::Immutable,
        &["it was cancelled by alice", "create a new release instead"],
    );
    // A cancelled Draft cannot be submitted.
    let draft = release("payment-api-v3")
        .change("payment-api")
        .created_by("alice");
    let (cancelled_draft, _) = cancel(&directory, &alice(), &draft);
    let submitted = cancelled_draft.clone().submitted();
    let verdict = validate_change(&directory, &alice(), &cancelled_draft, &submitted);
    assert_denied(&verdict, Rule::Immutable, &["it was cancelled by alice"]);
    // Re-applying the same object (stamps re-sent or not) passes unchanged.
    let mut resent = old.clone();
    resent.spec.cancellation.as_mut().unwrap().user = Some("mallory".into());
    let restamped = stamp(&directory, &rita(), &old, &resent);
    assert_eq!(restamped.spec, old.spec);
    assert_allowed(&validate_change(&directory, &rita(), &old, &restamped));
}

#[test]
fn a_release_cannot_be_created_cancelled() {
    let directory = granted();
    let sent = cancelled(&release("payment-api-v4").change("payment-api"), "typo");
    let verdict = validate_as(&alice(), &directory, &sent);
    assert_denied(&verdict, Rule::Invalid, &["cannot be created cancelled"]);
}

#[test]
fn no_decision_is_admitted_on_a_cancelled_release() {
    let (stamped, _) = cancel(&granted(), &alice(), &pending());
    let mut snapshot = Snapshot::default();
    // The cache may still show PendingApproval: the cancellation alone refuses the decision.
    snapshot.catalog.releases.push(stamped);
    snapshot.approval_policies.push(Arc::new(approval_policy()));
    let old = approval_request("payment-api-v2", Vec::new());
    let sent = approval_request(
        "payment-api-v2",
        vec![approve("frank", &["sre-team", "system:authenticated"])],
    );
    let frank = person("frank", &["sre-team", "system:authenticated"]);
    let verdict = validate_approval_request(
        &update(&frank, &old, &sent),
        &snapshot,
        &Settings::default(),
    );
    assert_denied(
        &verdict,
        Rule::NotPending,
        &["release payment-api-v2 was cancelled by alice"],
    );
}
