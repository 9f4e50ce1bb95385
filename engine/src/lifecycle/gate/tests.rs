use gitopshq_crds::approval_policy::{ApprovalPolicy, ApprovalPolicySpec};
use gitopshq_crds::approval_request::ApprovalRequestSpec;
use gitopshq_crds::release::ReleaseSpec;

use super::*;

const APPROVED: &str = "sha256:approved";

fn release() -> Release {
    let mut release = Release::new(
        "api-v2",
        ReleaseSpec {
            title: "api v2".into(),
            environment: "production".into(),
            submitted: true,
            created_by: Some("alice".into()),
            submitted_by: Some("erin".into()),
            authors: vec!["alice".into(), "erin".into()],
            ..ReleaseSpec::default()
        },
    );
    release.metadata.namespace = Some("payments".into());
    release
}

fn policy(min: i32) -> ApprovalPolicy {
    ApprovalPolicy::new(
        "production",
        ApprovalPolicySpec {
            environments: vec!["production".into()],
            min_approvals: min,
            ..ApprovalPolicySpec::default()
        },
    )
}

fn decision(user: &str, team: &str, kind: DecisionKind, digest: &str) -> Decision {
    Decision {
        decision: kind,
        comment: Some(format!("{user} says so")),
        user: Some(user.into()),
        groups: vec![team.into()],
        time: None,
        rendered_digest: Some(digest.into()),
    }
}

fn request(decisions: Vec<Decision>) -> ApprovalRequest {
    ApprovalRequest::new(
        "api-v2",
        ApprovalRequestSpec {
            release: "api-v2".into(),
            policy: "production".into(),
            rendered_digest: Some(APPROVED.into()),
            inputs: inputs(&[("Workload/api", "sha256:1"), ("Variables/prod", "sha256:2")]),
            decisions,
            ..ApprovalRequestSpec::default()
        },
    )
}

fn inputs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn gate(
    policy: Option<&ApprovalPolicy>,
    request: Option<&ApprovalRequest>,
    digest: &str,
    now: &BTreeMap<String, String>,
) -> ApprovalGate {
    let release = release();
    approval_gate(&GateFacts {
        release: &release,
        policy,
        request,
        request_owned: true,
        digest,
        inputs: now,
    })
}

fn same_inputs() -> BTreeMap<String, String> {
    inputs(&[("Workload/api", "sha256:1"), ("Variables/prod", "sha256:2")])
}

#[test]
fn without_a_policy_nothing_waits() {
    let verdict = gate(None, None, "", &BTreeMap::new());
    assert!(verdict.open());
    assert_eq!(verdict.step().reason, reasons::NO_APPROVAL_NEEDED);
    assert_eq!(verdict.step().actor, "erin");
}

#[test]
fn a_new_request_records_the_digest_and_inputs() {
    let policy = policy(2);
    let now = same_inputs();
    let verdict = gate(Some(&policy), None, APPROVED, &now);
    let ApprovalGate::Record {
        digest,
        inputs,
        change,
        progress,
        step,
    } = verdict
    else {
        panic!("expected a request to record: {verdict:?}");
    };
    assert_eq!(digest, APPROVED);
    assert_eq!(inputs, now);
    assert_eq!(change, None);
    assert_eq!(progress.required, 2);
    assert_eq!(step.phase, ReleasePhase::PendingApproval);
    assert!(
        step.message
            .contains("0 of 2 approvals received (ApprovalPolicy production)")
    );
}

#[test]
fn approvals_count_only_for_the_content_they_saw() {
    let policy = policy(1);
    let approved = request(vec![decision(
        "bob",
        "sre-team",
        DecisionKind::Approve,
        APPROVED,
    )]);
    let verdict = gate(Some(&policy), Some(&approved), APPROVED, &same_inputs());
    assert!(verdict.open(), "{verdict:?}");
    assert_eq!(verdict.step().actor, "bob");
    assert_eq!(verdict.progress().unwrap().received, 1);

    // The Variables changed after the approval: the digest moved, the approval is void and the
    // change is named.
    let now = inputs(&[("Workload/api", "sha256:1"), ("Variables/prod", "sha256:9")]);
    let verdict = gate(Some(&policy), Some(&approved), "sha256:new", &now);
    let ApprovalGate::Record {
        digest,
        change,
        step,
        progress,
        ..
    } = &verdict
    else {
        panic!("expected the new digest to be recorded: {verdict:?}");
    };
    assert!(!verdict.open());
    assert_eq!(digest, "sha256:new");
    assert_eq!(change.as_deref(), Some("Variables/prod changed"));
    assert_eq!(progress.received, 0);
    assert!(
        step.message.contains("changed since the approval request recorded it (Variables/prod changed); the approvals given so far do not count"),
        "{}",
        step.message
    );

    // Once the new digest is recorded, the old decision still does not count.
    let mut redigested = approved.clone();
    redigested.spec.rendered_digest = Some("sha256:new".into());
    redigested.spec.inputs = now.clone();
    let verdict = gate(Some(&policy), Some(&redigested), "sha256:new", &now);
    assert!(
        matches!(verdict, ApprovalGate::Pending { .. }),
        "{verdict:?}"
    );
    let mut approved_again = redigested.clone();
    approved_again.spec.decisions.push(decision(
        "frank",
        "sre-team",
        DecisionKind::Approve,
        "sha256:new",
    ));
    assert!(gate(Some(&policy), Some(&approved_again), "sha256:new", &now).open());
}

#[test]
fn an_authors_approval_never_counts_where_self_approval_is_forbidden() {
    // However it got in (a webhook outage, an edit before authorship was stamped), erin
    // submitted the release and her approval is not counted.
    let policy = policy(1);
    let request = request(vec![decision(
        "erin",
        "backend-team",
        DecisionKind::Approve,
        APPROVED,
    )]);
    let verdict = gate(Some(&policy), Some(&request), APPROVED, &same_inputs());
    assert!(
        matches!(verdict, ApprovalGate::Pending { .. }),
        "{verdict:?}"
    );
    let mut lax = policy.clone();
    lax.spec.forbid_self_approval = false;
    assert!(gate(Some(&lax), Some(&request), APPROVED, &same_inputs()).open());
}

#[test]
fn decisions_are_recounted_under_the_policy_that_governs_now() {
    let request = request(vec![decision(
        "bob",
        "sre-team",
        DecisionKind::Approve,
        APPROVED,
    )]);
    assert!(gate(Some(&policy(1)), Some(&request), APPROVED, &same_inputs()).open());
    // The policy was tightened after the approval: one is no longer enough.
    let verdict = gate(Some(&policy(2)), Some(&request), APPROVED, &same_inputs());
    assert!(
        matches!(verdict, ApprovalGate::Pending { .. }),
        "{verdict:?}"
    );
    assert!(verdict.step().message.contains("1 of 2 approvals received"));
}

#[test]
fn a_planted_request_blocks() {
    let policy = policy(1);
    let planted = request(vec![decision(
        "carol",
        "platform",
        DecisionKind::Approve,
        APPROVED,
    )]);
    let release = release();
    let verdict = approval_gate(&GateFacts {
        release: &release,
        policy: Some(&policy),
        request: Some(&planted),
        request_owned: false,
        digest: APPROVED,
        inputs: &same_inputs(),
    });
    assert!(!verdict.open());
    assert_eq!(verdict.step().phase, ReleasePhase::Blocked);
    assert!(
        verdict
            .step()
            .message
            .contains("was not created by GitOpsHQ for release api-v2")
    );
}

#[test]
fn a_rejection_on_the_current_content_rejects() {
    let policy = policy(2);
    let request = request(vec![decision(
        "bob",
        "sre-team",
        DecisionKind::Reject,
        APPROVED,
    )]);
    let verdict = gate(Some(&policy), Some(&request), APPROVED, &same_inputs());
    assert!(matches!(verdict, ApprovalGate::Rejected { .. }));
    assert_eq!(verdict.step().actor, "bob");
    assert!(verdict.step().message.contains("bob says so"));
}

#[test]
fn input_changes_are_named() {
    let before = inputs(&[
        ("Workload/api", "1"),
        ("Tenant/eu", "2"),
        ("Variables/a", "3"),
    ]);
    let after = inputs(&[
        ("Workload/api", "9"),
        ("Tenant/eu", "2"),
        ("Tenant/us", "4"),
    ]);
    assert_eq!(
        describe_input_change(&before, &after),
        "Workload/api changed; Tenant/us added; Variables/a removed"
    );
    assert!(describe_input_change(&before, &before).contains("a referenced Secret"));
}

#[test]
fn the_request_status_follows_the_gate() {
    let policy = policy(1);
    let request = request(vec![decision(
        "bob",
        "sre-team",
        DecisionKind::Approve,
        APPROVED,
    )]);
    let verdict = gate(Some(&policy), Some(&request), APPROVED, &same_inputs());
    let status = request_status(
        None,
        verdict.request_phase().unwrap(),
        verdict.progress().unwrap(),
        &verdict.step().message,
        Some(1),
        jiff::Timestamp::UNIX_EPOCH,
    );
    assert_eq!(status.phase, Some(ApprovalPhase::Approved));
    assert_eq!((status.received, status.required), (1, 1));
}

#[test]
fn the_controllers_request_is_owned_by_its_release_by_uid() {
    let mut release = release();
    release.metadata.uid = Some("uid-1".into());
    let inputs = same_inputs();
    let request = new_request(&release, "production", APPROVED, &inputs, None);
    assert_eq!(request.spec.rendered_digest.as_deref(), Some(APPROVED));
    assert_eq!(request.spec.inputs, inputs);
    assert!(request_owned_by(&request, &release));
    // A release of the same name created later, or a request without an owner, is not it.
    let mut later = release.clone();
    later.metadata.uid = Some("uid-2".into());
    assert!(!request_owned_by(&request, &later));
    let mut planted = request.clone();
    planted.metadata.owner_references = None;
    assert!(!request_owned_by(&planted, &release));
}
