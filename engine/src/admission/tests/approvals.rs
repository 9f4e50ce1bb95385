//! Approvals (validating): append-only decisions by eligible approvers while the release waits,
//! and the quorum arithmetic behind `status.approvals`.

use std::sync::Arc;

use gitopshq_crds::approval_request::ApprovalPhase;

use super::*;

/// `payment-api-v2`, created by alice (backend-team), waiting for approval.
fn pending() -> Release {
    release("payment-api-v2")
        .env("production")
        .change("payment-api")
        .submitted()
        .created_by("alice")
        .phase(ReleasePhase::PendingApproval)
}

fn snapshot_with(release: Release, policy: ApprovalPolicy) -> Snapshot {
    let mut snapshot = Snapshot::default();
    snapshot.catalog.releases.push(release);
    snapshot.approval_policies.push(Arc::new(policy));
    snapshot
}

/// Two approvals from distinct teams, no self-approval.
fn two_teams() -> ApprovalPolicy {
    approval_policy().min_approvals(2).distinct_teams()
}

/// `user` appends a `kind` decision after `earlier`, as it happens on the cluster: the client
/// sends it without identity, the mutating webhook stamps it, the validating webhook judges
/// the stamped object.
fn decide(
    directory: &Snapshot,
    user: &Requester,
    earlier: &[Decision],
    kind: DecisionKind,
) -> Verdict {
    let old = approval_request("payment-api-v2", earlier.to_vec());
    let mut decisions = earlier.to_vec();
    decisions.push(sent(kind));
    let sent = approval_request("payment-api-v2", decisions);
    let stamps = mutate_approval_request(&update(user, &old, &sent));
    let stamped = apply(&sent, &stamps);
    validate_approval_request(
        &update(user, &old, &stamped),
        directory,
        &Settings::default(),
    )
}

fn bob() -> Requester {
    person("bob", &["backend-team", "system:authenticated"])
}

fn carol(groups: &[&str]) -> Requester {
    person("carol", groups)
}

fn bob_approved() -> Vec<Decision> {
    vec![approve("bob", &["backend-team", "system:authenticated"])]
}

#[test]
fn an_approval_from_an_eligible_approver_is_admitted_and_audited() {
    let directory = snapshot_with(pending(), approval_policy());
    let verdict = decide(&directory, &bob(), &[], DecisionKind::Approve);
    assert_allowed(&verdict);
    assert!(verdict.warnings.is_empty());
    assert_eq!(
        audit(&verdict, "gitopshq.io/decision"),
        Some("payment-api-v2 by bob")
    );
}

#[test]
fn earlier_decisions_cannot_be_edited() {
    let directory = snapshot_with(pending(), two_teams());
    let carol = carol(&["frontend-team"]);
    let old = approval_request("payment-api-v2", bob_approved());
    let words = [
        "approvalrequest payment-api-v2 denied",
        "earlier decisions cannot be edited or removed",
        "append a new decision to spec.decisions",
        "/spec/decisions/-",
        "gitopshq approve",
    ];

    let mut commented = bob_approved();
    commented[0].comment = Some("actually, I did not look".into());
    let edited = approval_request("payment-api-v2", commented);
    let verdict = validate_approval_request(
        &update(&carol, &old, &edited),
        &directory,
        &Settings::default(),
    );
    assert_denied(&verdict, Rule::DecisionEdited, &words);

    // Turning an approval into a rejection, even while appending, is an edit too.
    let mut flipped = bob_approved();
    flipped[0].decision = DecisionKind::Reject;
    flipped.push(approve("carol", &["frontend-team"]));
    let edited = approval_request("payment-api-v2", flipped);
    let verdict = validate_approval_request(
        &update(&carol, &old, &edited),
        &directory,
        &Settings::default(),
    );
    assert_denied(&verdict, Rule::DecisionEdited, &words);

    // So is putting one's name on someone else's decision.
    let mut renamed = bob_approved();
    renamed[0].user = Some("carol".into());
    let edited = approval_request("payment-api-v2", renamed);
    let verdict = validate_approval_request(
        &update(&carol, &old, &edited),
        &directory,
        &Settings::default(),
    );
    assert_denied(&verdict, Rule::DecisionEdited, &words);
}

#[test]
fn earlier_decisions_cannot_be_removed_or_replaced() {
    let directory = snapshot_with(pending(), two_teams());
    let carol = carol(&["frontend-team"]);
    let old = approval_request(
        "payment-api-v2",
        vec![
            approve("bob", &["backend-team"]),
            reject("dave", &["sre-team"]),
        ],
    );
    for decisions in [
        vec![],
        vec![approve("bob", &["backend-team"])],
        vec![
            reject("dave", &["sre-team"]),
            approve("bob", &["backend-team"]),
        ],
        vec![
            approve("carol", &["frontend-team"]),
            reject("dave", &["sre-team"]),
        ],
    ] {
        let new = approval_request("payment-api-v2", decisions);
        let verdict = validate_approval_request(
            &update(&carol, &old, &new),
            &directory,
            &Settings::default(),
        );
        assert_denied(
            &verdict,
            Rule::DecisionEdited,
            &["earlier decisions cannot be edited or removed"],
        );
    }
}

#[test]
fn the_creator_cannot_approve_their_own_release() {
    let directory = snapshot_with(pending(), approval_policy());
    let alice = person("alice", &["backend-team"]);
    let verdict = decide(&directory, &alice, &[], DecisionKind::Approve);
    assert_denied(
        &verdict,
        Rule::SelfApproval,
        &[
            "approvalrequest payment-api-v2 denied",
            "alice created release payment-api-v2 and cannot approve it",
            "approval policy production-approvals forbids self-approval",
            "ask an approver from another team",
        ],
    );
    assert!(verdict.mutations.is_empty() && verdict.audit.is_empty());
}

#[test]
fn self_approval_is_allowed_when_the_policy_allows_it() {
    let directory = snapshot_with(pending(), approval_policy().self_approval_allowed());
    let alice = person("alice", &["backend-team"]);
    assert_allowed(&decide(&directory, &alice, &[], DecisionKind::Approve));
}

#[test]
fn the_creator_may_reject_their_own_release() {
    let directory = snapshot_with(pending(), approval_policy());
    let alice = person("alice", &["backend-team"]);
    assert_allowed(&decide(&directory, &alice, &[], DecisionKind::Reject));
}

#[test]
fn a_second_approval_from_the_same_team_is_denied_under_distinct_teams() {
    let directory = snapshot_with(pending(), two_teams());
    let verdict = decide(
        &directory,
        &carol(&["backend-team", "system:authenticated"]),
        &bob_approved(),
        DecisionKind::Approve,
    );
    assert_denied(
        &verdict,
        Rule::SameTeam,
        &[
            "approvalrequest payment-api-v2 denied",
            "release payment-api-v2 needs approval from a team other than backend-team",
            "approval policy production-approvals requires distinct teams",
            "carol counts for backend-team",
        ],
    );
}

#[test]
fn approvals_from_two_teams_are_admitted() {
    let directory = snapshot_with(pending(), two_teams());
    let verdict = decide(
        &directory,
        &carol(&["frontend-team"]),
        &bob_approved(),
        DecisionKind::Approve,
    );
    assert_allowed(&verdict);
    assert_eq!(
        audit(&verdict, "gitopshq.io/decision"),
        Some("payment-api-v2 by carol")
    );

    // A member of the approving team and another team brings the other team.
    let verdict = decide(
        &directory,
        &carol(&["backend-team", "sre-team"]),
        &bob_approved(),
        DecisionKind::Approve,
    );
    assert_allowed(&verdict);
}

#[test]
fn a_same_team_rejection_or_a_policy_without_distinct_teams_is_admitted() {
    let distinct = snapshot_with(pending(), two_teams());
    let teammate = carol(&["backend-team"]);
    assert_allowed(&decide(
        &distinct,
        &teammate,
        &bob_approved(),
        DecisionKind::Reject,
    ));

    let any_team = snapshot_with(pending(), approval_policy().min_approvals(2));
    assert_allowed(&decide(
        &any_team,
        &teammate,
        &bob_approved(),
        DecisionKind::Approve,
    ));
}

#[test]
fn system_groups_never_count_as_a_team() {
    let directory = snapshot_with(pending(), two_teams());
    // Sharing only Kubernetes' own groups does not make carol's team distinct.
    let verdict = decide(
        &directory,
        &carol(&["backend-team", "system:authenticated", "system:masters"]),
        &bob_approved(),
        DecisionKind::Approve,
    );
    assert_denied(
        &verdict,
        Rule::SameTeam,
        &[
            "a team other than backend-team",
            "carol counts for backend-team",
        ],
    );
    assert!(!verdict.denial.unwrap().message.contains("system:"));

    // Someone in no team at all cannot bring a distinct team, even first.
    let verdict = decide(
        &directory,
        &person("erin", &["system:authenticated", "system:masters"]),
        &[],
        DecisionKind::Approve,
    );
    assert_denied(
        &verdict,
        Rule::SameTeam,
        &[
            "release payment-api-v2 needs approval from a team (approval policy production-approvals requires distinct teams)",
            "erin counts for no team",
        ],
    );
}

#[test]
fn approvers_outside_the_approver_groups_are_denied() {
    let policy = approval_policy().approver_groups(&["release-managers", "sre-team"]);
    let directory = snapshot_with(pending(), policy);
    let dave = person("dave", &["dev-team", "system:authenticated"]);
    for kind in [DecisionKind::Approve, DecisionKind::Reject] {
        let verdict = decide(&directory, &dave, &[], kind);
        assert_denied(
            &verdict,
            Rule::NotApprover,
            &[
                "approvalrequest payment-api-v2 denied",
                "dave (groups: dev-team) is not an approver under approval policy production-approvals",
                "decisions are accepted from members of release-managers, sre-team",
            ],
        );
    }

    let nobody = person("nobody", &["system:authenticated"]);
    let verdict = decide(&directory, &nobody, &[], DecisionKind::Approve);
    assert_denied(&verdict, Rule::NotApprover, &["nobody (groups: no team)"]);

    let erin = person("erin", &["dev-team", "sre-team"]);
    assert_allowed(&decide(&directory, &erin, &[], DecisionKind::Approve));
}

#[test]
fn a_person_decides_once() {
    let directory = snapshot_with(pending(), approval_policy().min_approvals(2));
    let verdict = decide(&directory, &bob(), &bob_approved(), DecisionKind::Approve);
    assert_denied(
        &verdict,
        Rule::AlreadyDecided,
        &[
            "approvalrequest payment-api-v2 denied",
            "bob already decided (Approve) on release payment-api-v2",
            "a person counts once, ask another approver",
        ],
    );

    let rejected = vec![reject("bob", &["backend-team"])];
    let verdict = decide(&directory, &bob(), &rejected, DecisionKind::Approve);
    assert_denied(
        &verdict,
        Rule::AlreadyDecided,
        &["bob already decided (Reject)"],
    );

    // Two decisions in one request are two decisions of the same person.
    let old = approval_request("payment-api-v2", vec![]);
    let twice = approval_request(
        "payment-api-v2",
        vec![sent(DecisionKind::Approve), sent(DecisionKind::Approve)],
    );
    let stamped = apply(
        &twice,
        &mutate_approval_request(&update(&bob(), &old, &twice)),
    );
    let verdict = validate_approval_request(
        &update(&bob(), &old, &stamped),
        &directory,
        &Settings::default(),
    );
    assert_denied(
        &verdict,
        Rule::AlreadyDecided,
        &["bob already decided (Approve)"],
    );
}

#[test]
fn decisions_are_accepted_only_while_the_release_waits_for_approval() {
    for (release, phase) in [
        (pending().phase(ReleasePhase::Draft), "Draft"),
        (pending().phase(ReleasePhase::Approved), "Approved"),
        (pending().phase(ReleasePhase::Rejected), "Rejected"),
        (pending().phase(ReleasePhase::Healthy), "Healthy"),
    ] {
        let directory = snapshot_with(release, approval_policy());
        let verdict = decide(&directory, &bob(), &[], DecisionKind::Approve);
        assert_denied(
            &verdict,
            Rule::NotPending,
            &[
                "approvalrequest payment-api-v2 denied",
                &format!("release payment-api-v2 is {phase}, not PendingApproval"),
                "decisions are accepted only while a release waits for approval",
            ],
        );
    }

    // A release the controller has not looked at yet has no status: a Draft.
    let mut fresh = pending();
    fresh.status = None;
    let directory = snapshot_with(fresh, approval_policy());
    let verdict = decide(&directory, &bob(), &[], DecisionKind::Approve);
    assert_denied(
        &verdict,
        Rule::NotPending,
        &["is Draft, not PendingApproval"],
    );
}

#[test]
fn a_missing_release_or_approval_policy_is_not_found() {
    let mut no_release = snapshot_with(pending(), approval_policy());
    no_release.catalog.releases.clear();
    let verdict = decide(&no_release, &bob(), &[], DecisionKind::Approve);
    assert_denied(
        &verdict,
        Rule::NotFound,
        &["release payment-api-v2 does not exist in namespace payments"],
    );

    // A release of the same name in another project is another release.
    let mut elsewhere = snapshot_with(pending(), approval_policy());
    elsewhere.catalog.releases[0].metadata.namespace = Some("shop".into());
    let verdict = decide(&elsewhere, &bob(), &[], DecisionKind::Approve);
    assert_denied(
        &verdict,
        Rule::NotFound,
        &["does not exist in namespace payments"],
    );

    let mut no_policy = snapshot_with(pending(), approval_policy());
    no_policy.approval_policies.clear();
    let verdict = decide(&no_policy, &bob(), &[], DecisionKind::Approve);
    assert_denied(
        &verdict,
        Rule::NotFound,
        &[
            "approval policy production-approvals does not exist",
            "ask a platform admin to restore it",
        ],
    );
}

#[test]
fn requests_without_new_decisions_are_not_judged() {
    // The controller creates the request empty and updates its status after delivery: neither
    // needs the release to wait, nor the policy to exist.
    let directory = Snapshot::default();
    let controller = person(DEFAULT_CONTROLLER_USER, &[]);
    let empty = approval_request("payment-api-v2", vec![]);
    assert_eq!(
        validate_approval_request(
            &create(&controller, &empty),
            &directory,
            &Settings::default()
        ),
        Verdict::allow()
    );
    let decided = approval_request("payment-api-v2", bob_approved());
    assert_eq!(
        validate_approval_request(
            &update(&controller, &decided, &decided),
            &directory,
            &Settings::default()
        ),
        Verdict::allow()
    );
}

#[test]
fn only_the_controller_creates_approval_requests() {
    // An admin who pre-creates the request of their own future release, naming a lax policy,
    // is refused: the controller creates it with the policy the environment binds.
    let directory = snapshot_with(pending(), approval_policy().self_approval_allowed());
    let carol = person("carol", &["platform-team"]);
    let planted = approval_request("payment-api-v2", vec![]);
    let verdict =
        validate_approval_request(&create(&carol, &planted), &directory, &Settings::default());
    assert_denied(
        &verdict,
        Rule::NotPermitted,
        &[
            "created by the GitOpsHQ controller",
            "carol cannot create one",
        ],
    );
    // With a decision already in it, the answer is the same.
    let stamped = apply(
        &approval_request("payment-api-v2", vec![sent(DecisionKind::Approve)]),
        &mutate_approval_request(&create(&carol, &planted)),
    );
    let verdict =
        validate_approval_request(&create(&carol, &stamped), &directory, &Settings::default());
    assert_denied(&verdict, Rule::NotPermitted, &["carol cannot create one"]);
}

#[test]
fn the_request_fields_are_the_controllers_and_decisions_carry_the_digest_approved() {
    let directory = snapshot_with(pending(), approval_policy());
    let mut old = approval_request("payment-api-v2", vec![]);
    old.spec.rendered_digest = Some("sha256:approved".into());
    let mut swapped = old.clone();
    swapped.spec.policy = "lax".into();
    let verdict = validate_approval_request(
        &update(&bob(), &old, &swapped),
        &directory,
        &Settings::default(),
    );
    assert_denied(
        &verdict,
        Rule::Immutable,
        &["spec.policy", "only append a decision"],
    );
    let mut redigested = old.clone();
    redigested.spec.rendered_digest = Some("sha256:other".into());
    let verdict = validate_approval_request(
        &update(&bob(), &old, &redigested),
        &directory,
        &Settings::default(),
    );
    assert_denied(&verdict, Rule::Immutable, &["spec.renderedDigest"]);
    let controller = person(DEFAULT_CONTROLLER_USER, &[]);
    assert_allowed(&validate_approval_request(
        &update(&controller, &old, &redigested),
        &directory,
        &Settings::default(),
    ));

    // A decision records the digest the request held when it was made, whatever was sent.
    let mut decision = sent(DecisionKind::Approve);
    decision.rendered_digest = Some("sha256:forged".into());
    let appended = approval_request("payment-api-v2", vec![decision]);
    let mut appended_to = appended.clone();
    appended_to.spec.rendered_digest = old.spec.rendered_digest.clone();
    let stamped = apply(
        &appended_to,
        &mutate_approval_request(&update(&bob(), &old, &appended_to)),
    );
    assert_eq!(
        stamped.spec.decisions[0].rendered_digest.as_deref(),
        Some("sha256:approved")
    );
}

#[test]
fn approval_records_are_deleted_only_with_their_release() {
    let directory = snapshot_with(pending(), approval_policy());
    let request = approval_request("payment-api-v2", bob_approved());
    let delete = |user: &Requester| {
        validate_approval_request(
            &Request {
                operation: Operation::Delete,
                user,
                object: None,
                old: Some(&request),
                now: ts(NOW),
            },
            &directory,
            &Settings::default(),
        )
    };
    assert_denied(
        &delete(&bob()),
        Rule::NotPermitted,
        &["stays as long as the release does"],
    );
    assert_allowed(&delete(&person("root", &["system:masters"])));
    assert_allowed(&delete(&person(KUBERNETES_DELETERS[0], &[])));
    // Its release gone, the request goes with it.
    let orphan_directory = snapshot_with(release("other").submitted(), approval_policy());
    let verdict = validate_approval_request(
        &Request {
            operation: Operation::Delete,
            user: &bob(),
            object: None,
            old: Some(&request),
            now: ts(NOW),
        },
        &orphan_directory,
        &Settings::default(),
    );
    assert_allowed(&verdict);
}

// --- approval_progress ----------------------------------------------------------------------

#[test]
fn progress_counts_toward_the_quorum_and_names_the_missing_team() {
    let (phase, progress, message) = approval_progress(&two_teams(), &bob_approved());
    assert_eq!(phase, ApprovalPhase::Pending);
    assert_eq!((progress.received, progress.required), (1, 2));
    assert_eq!(progress.summary.as_deref(), Some("1/2"));
    assert_eq!(
        message,
        "1 of 2 approvals received; needs a team other than backend-team"
    );
    assert_eq!(
        progress.missing,
        ["1 approval from a team other than backend-team"]
    );
    assert_eq!(progress.approvers.len(), 1);
    assert_eq!(progress.approvers[0].user, "bob");
    assert_eq!(
        progress.approvers[0].groups,
        ["backend-team", "system:authenticated"]
    );
    assert_eq!(progress.approvers[0].time, k8s_time("2026-11-25T13:00:00Z"));
}

#[test]
fn progress_counts_a_team_once_under_distinct_teams() {
    let decisions = [
        approve("bob", &["backend-team"]),
        approve("carol", &["backend-team", "system:authenticated"]),
    ];
    let (phase, progress, message) = approval_progress(&two_teams(), &decisions);
    assert_eq!(phase, ApprovalPhase::Pending);
    assert_eq!(progress.summary.as_deref(), Some("1/2"));
    assert_eq!(
        message,
        "1 of 2 approvals received; needs a team other than backend-team"
    );

    // Without distinct teams both count.
    let (phase, progress, message) =
        approval_progress(&approval_policy().min_approvals(2), &decisions);
    assert_eq!(phase, ApprovalPhase::Approved);
    assert_eq!(progress.summary.as_deref(), Some("2/2"));
    assert_eq!(message, "2 of 2 approvals received");
}

#[test]
fn progress_reaches_approved_at_quorum() {
    let decisions = [
        approve("bob", &["backend-team"]),
        approve("carol", &["frontend-team"]),
    ];
    let (phase, progress, message) = approval_progress(&two_teams(), &decisions);
    assert_eq!(phase, ApprovalPhase::Approved);
    assert_eq!((progress.received, progress.required), (2, 2));
    assert_eq!(progress.summary.as_deref(), Some("2/2"));
    assert!(progress.missing.is_empty(), "{:?}", progress.missing);
    assert_eq!(message, "2 of 2 approvals received");
    let users: Vec<&str> = progress.approvers.iter().map(|a| a.user.as_str()).collect();
    assert_eq!(users, ["bob", "carol"]);
}

#[test]
fn progress_counts_a_person_once() {
    let decisions = [
        approve("bob", &["backend-team"]),
        approve("bob", &["frontend-team"]),
    ];
    let (phase, progress, _) = approval_progress(&approval_policy().min_approvals(2), &decisions);
    assert_eq!(phase, ApprovalPhase::Pending);
    assert_eq!(progress.received, 1);
    assert_eq!(progress.missing, ["1 approval"]);
}

#[test]
fn progress_is_rejected_by_an_eligible_rejection() {
    let decisions = [
        approve("bob", &["backend-team"]),
        reject("dave", &["sre-team"]),
        approve("carol", &["frontend-team"]),
    ];
    let (phase, progress, message) = approval_progress(&two_teams(), &decisions);
    assert_eq!(phase, ApprovalPhase::Rejected);
    assert_eq!(message, "rejected by dave");
    assert_eq!(progress.received, 2);

    // A rejection from outside the approver groups does not count, nor does its approval.
    let policy = approval_policy().approver_groups(&["sre-team"]);
    let decisions = [
        reject("mallory", &["dev-team"]),
        approve("mike", &["dev-team"]),
    ];
    let (phase, progress, message) = approval_progress(&policy, &decisions);
    assert_eq!(phase, ApprovalPhase::Pending);
    assert_eq!(progress.received, 0);
    assert_eq!(message, "0 of 1 approvals received");
    assert_eq!(progress.missing, ["1 approval from sre-team"]);
}

#[test]
fn progress_counts_only_approver_groups() {
    let policy = approval_policy()
        .min_approvals(2)
        .approver_groups(&["release-managers", "sre-team"]);
    let decisions = [
        approve("bob", &["backend-team"]),
        approve("dave", &["sre-team"]),
    ];
    let (phase, progress, message) = approval_progress(&policy, &decisions);
    assert_eq!(phase, ApprovalPhase::Pending);
    assert_eq!(progress.summary.as_deref(), Some("1/2"));
    assert_eq!(message, "1 of 2 approvals received");
    assert_eq!(
        progress.missing,
        ["1 approval from release-managers or sre-team"]
    );

    // Under distinct teams, only approver groups are teams: backend-team brings nothing.
    let policy = policy.distinct_teams();
    let decisions = [
        approve("dave", &["sre-team", "backend-team"]),
        approve("erin", &["sre-team", "backend-team"]),
        approve("frank", &["release-managers"]),
    ];
    let (phase, progress, message) = approval_progress(&policy, &decisions[..2]);
    assert_eq!(phase, ApprovalPhase::Pending);
    assert_eq!(
        message,
        "1 of 2 approvals received; needs a team other than sre-team"
    );
    assert_eq!(
        progress.missing,
        ["1 approval from a team other than sre-team"]
    );
    let (phase, _, _) = approval_progress(&policy, &decisions);
    assert_eq!(phase, ApprovalPhase::Approved);
}

#[test]
fn progress_ignores_system_groups_and_unstamped_decisions() {
    let decisions = [
        approve("bob", &["system:authenticated"]),
        sent(DecisionKind::Approve),
        approve("carol", &["system:masters", "frontend-team"]),
    ];
    let (phase, progress, message) = approval_progress(&two_teams(), &decisions);
    assert_eq!(phase, ApprovalPhase::Pending);
    assert_eq!(progress.received, 1);
    assert_eq!(
        message,
        "1 of 2 approvals received; needs a team other than frontend-team"
    );
}

#[test]
fn progress_before_any_decision() {
    let (phase, progress, message) = approval_progress(&two_teams(), &[]);
    assert_eq!(phase, ApprovalPhase::Pending);
    assert_eq!(progress.summary.as_deref(), Some("0/2"));
    assert_eq!(message, "0 of 2 approvals received");
    assert_eq!(progress.missing, ["2 approvals"]);

    // A quorum below one still needs one approval.
    let (phase, progress, _) = approval_progress(&approval_policy().min_approvals(0), &[]);
    assert_eq!(phase, ApprovalPhase::Pending);
    assert_eq!(progress.summary.as_deref(), Some("0/1"));
}

#[test]
fn after_a_content_change_approvers_decide_again() {
    let directory = snapshot_with(pending(), approval_policy().distinct_teams());
    let mut voided = approve("bob", &["backend-team"]);
    voided.rendered_digest = Some("sha256:before".into());
    let mut old = approval_request("payment-api-v2", vec![voided]);
    old.spec.rendered_digest = Some("sha256:after".into());
    let mut again = old.clone();
    again.spec.decisions.push(sent(DecisionKind::Approve));
    let stamped = apply(
        &again,
        &mutate_approval_request(&update(&bob(), &old, &again)),
    );
    assert_eq!(
        stamped.spec.decisions[1].rendered_digest.as_deref(),
        Some("sha256:after")
    );
    assert_allowed(&validate_approval_request(
        &update(&bob(), &old, &stamped),
        &directory,
        &Settings::default(),
    ));
    // On the current content a person still counts once.
    let mut twice = stamped.clone();
    twice.spec.decisions.push(stamped.spec.decisions[1].clone());
    assert_denied(
        &validate_approval_request(
            &update(&bob(), &stamped, &twice),
            &directory,
            &Settings::default(),
        ),
        Rule::AlreadyDecided,
        &["bob already decided"],
    );
}
