//! Seed scenario 4 with the controllers: the seed policy blocks a production release without
//! limits; the fixed release waits for two approvals from different teams (the creator and a
//! second member of the same team are refused), is committed with the approvers and policy
//! verdicts in its trailers, and becomes Healthy.

use gitopshq_e2e::Platform;

const NS: &str = "payment-service";
const RELEASE: &str = "ledger-worker-v0-9-0-limits";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_governed_production_release_is_blocked_fixed_approved_by_two_teams_and_delivered() {
    let platform = Platform::start().await;
    let release = platform.release(NS, RELEASE);
    // The platform team installs the project and the policies.
    platform.set_up_governance();
    platform.wait_policy_tested("require-resource-limits");

    // A developer adds the workload and its tenant (Developer grant).
    platform.apply(
        "alice",
        &platform.example(&["governance/releases/ledger-worker.yaml"]),
    );

    // Without limits: the submission is refused, naming the container and the next step, and
    // kept as a Draft whose status shows the policy results and who was refused.
    let refused = platform.apply(
        "alice",
        &platform.example(&["governance/releases/1-without-limits.yaml"]),
    );
    assert!(
        refused.contains("Container 'ledger-worker' in production must have resource limits")
            && refused.contains("fix the values and submit a new release")
            && refused.contains("kept as a Draft"),
        "{refused}"
    );
    let draft = platform.release(NS, "ledger-worker-v0-9-0");
    draft.wait_for("{.status.reason}", "SubmissionRefused");
    assert_eq!(draft.phase(), "Draft");
    assert_eq!(
        draft.get("{.status.policyResults[?(@.policy==\"require-resource-limits\")].verdict}"),
        "Deny"
    );
    let actors = draft.get("{.status.timeline[*].actor}");
    assert!(actors.contains("alice"), "{actors}");

    // With limits: admitted, then waits for two teams.
    platform.apply(
        "alice",
        &platform.example(&["governance/releases/2-with-limits.yaml"]),
    );
    release.wait_phase("PendingApproval");
    assert_eq!(release.get("{.status.approvals.summary}"), "0/2");
    let message = release.get("{.status.message}");
    assert!(
        message.starts_with("0 of 2 approvals received"),
        "{message}"
    );
    release.wait_approval_request("{.spec.policy}", "production-two-teams");

    // The creator's team holds no Approver grant: RBAC refuses before the webhook is asked.
    let own = release.decide("alice", "Approve", "looks good to me");
    assert!(!own.status.success());
    let own = String::from_utf8_lossy(&own.stderr);
    assert!(own.contains("Forbidden") && own.contains("alice"), "{own}");

    release.approve("bob", "limits set, rollout plan fine");
    release.wait_approvals("1/2");
    let message = release.get("{.status.message}");
    assert!(
        message.contains("1 of 2 approvals received; needs a team other than sre-team"),
        "{message}"
    );

    // A second sre-team approval does not make a distinct-team quorum.
    let same_team = release.decide("frank", "Approve", "+1");
    assert!(!same_team.status.success());
    let same_team = String::from_utf8_lossy(&same_team.stderr);
    assert!(
        same_team.contains("needs approval from a team other than sre-team"),
        "{same_team}"
    );

    release.approve("carol", "approved for the platform team");
    release.wait_until(
        "{.status.phase}",
        |p| p == "Deployed" || p == "Healthy",
        "Deployed or Healthy",
    );
    assert_eq!(release.get("{.status.approvals.summary}"), "2/2");
    assert_eq!(release.approval_request("{.status.phase}"), "Approved");

    let delivery = &platform.commits()[0];
    for trailer in [
        "GitOpsHQ-Release: payment-service/ledger-worker-v0-9-0-limits",
        "GitOpsHQ-Environment: production",
        "GitOpsHQ-Approved-By: bob",
        "GitOpsHQ-Approved-By: carol",
        "GitOpsHQ-Policy: require-resource-limits=Pass",
        "GitOpsHQ-Created-By: alice",
    ] {
        assert!(
            delivery.contains(trailer),
            "{trailer} missing in\n{delivery}"
        );
    }
    let sha = delivery.lines().next().expect("the commit's SHA");
    let verified = platform.verify_commit(sha);
    assert!(
        verified.contains("Good \"git\" signature for gitopshq@localhost with ED25519 key"),
        "{verified}"
    );

    release.wait_phase("Healthy");

    // One trail: who submitted, who approved, the policy verdict, the outcome.
    let phases = release.get("{.status.timeline[*].phase}");
    assert_eq!(
        phases,
        "PendingApproval Approved Deploying Deployed Healthy"
    );
    let actors = release.get("{.status.timeline[*].actor}");
    assert!(actors.starts_with("alice carol "), "{actors}");
    assert_eq!(release.get("{.status.policyResults[0].verdict}"), "Pass");
    let events = platform.event_reasons(NS, &format!("involvedObject.name={RELEASE}"));
    assert!(
        events.contains("AwaitingApproval")
            && events.contains("Approved")
            && events.contains("Committed")
            && events.contains("Healthy"),
        "{events}"
    );
    platform.stop().await;
}
