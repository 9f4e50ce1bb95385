//! Cells, release summaries and decision checks, over objects written as a user would.

use super::*;
use gitopshq_crds::testing::from_yaml as object;

const NOW: &str = "2026-11-25T14:00:00Z";

fn workload(name: &str, env: &str, health: &str) -> Workload {
    object(&format!(
        "metadata: {{name: {name}, namespace: payments}}
spec: {{chart: api, version: 1.0.0, targetNamespace: payments}}
status:
  environments:
    {env}: {{version: 1.0.0, release: r1, commit: abc, health: {health}}}"
    ))
}

fn release(name: &str, env: &str, phase: &str, created: &str) -> Release {
    object(&format!(
        "metadata: {{name: {name}, namespace: payments, creationTimestamp: '{created}'}}
spec: {{title: Release {name}, environment: {env}, submitted: true, createdBy: carol}}
status: {{phase: {phase}}}"
    ))
}

fn tenant(name: &str, env: &str, drifted: bool) -> Tenant {
    let status = if drifted { "True" } else { "False" };
    object(&format!(
        "metadata: {{name: {name}, namespace: payments}}
spec: {{environment: {env}, cluster: eu-west-1, namespace: {name}}}
status:
  conditions:
    - {{type: Drifted, status: '{status}', reason: Compared, message: '', lastTransitionTime: '{NOW}'}}"
    ))
}

#[test]
fn a_healthy_environment_is_green_and_names_its_workloads() {
    let cell = environment_cell(
        "production",
        &[
            workload("api", "production", "Healthy"),
            workload("web", "staging", "Degraded"),
        ],
        &[tenant("eu", "production", false)],
        &[release(
            "r1",
            "production",
            "Healthy",
            "2026-11-25T10:00:00Z",
        )],
    );
    assert_eq!(cell.status, CellStatus::Green);
    assert_eq!(cell.summary, "1 workload healthy");
    assert_eq!(cell.workloads.len(), 1);
    assert_eq!(cell.workloads[0].version.as_deref(), Some("1.0.0"));
    assert_eq!(cell.last_release.as_ref().unwrap().name, "r1");
}

#[test]
fn the_newest_release_decides_and_a_failed_one_turns_the_cell_red() {
    let releases = [
        release("old-failed", "production", "Failed", "2026-11-24T10:00:00Z"),
        release(
            "new-healthy",
            "production",
            "Healthy",
            "2026-11-25T10:00:00Z",
        ),
    ];
    let work = [workload("api", "production", "Healthy")];
    assert_eq!(
        environment_cell("production", &work, &[], &releases).status,
        CellStatus::Green
    );
    let releases = [
        release(
            "old-healthy",
            "production",
            "Healthy",
            "2026-11-24T10:00:00Z",
        ),
        release(
            "new-blocked",
            "production",
            "Blocked",
            "2026-11-25T10:00:00Z",
        ),
    ];
    let cell = environment_cell("production", &work, &[], &releases);
    assert_eq!(cell.status, CellStatus::Red);
    assert_eq!(cell.summary, "release new-blocked is Blocked");
}

#[test]
fn an_unhealthy_workload_is_red_before_anything_that_waits() {
    let cell = environment_cell(
        "production",
        &[workload("api", "production", "Degraded")],
        &[tenant("eu", "production", true)],
        &[release(
            "r2",
            "production",
            "PendingApproval",
            "2026-11-25T10:00:00Z",
        )],
    );
    assert_eq!(cell.status, CellStatus::Red);
    assert_eq!(cell.summary, "api Degraded");
    assert_eq!(cell.pending_approvals, 1);
    assert!(cell.drift);
}

#[test]
fn approvals_drift_and_rollouts_are_yellow_in_that_order() {
    let work = [workload("api", "production", "Healthy")];
    let pending = [release("r2", "production", "PendingApproval", NOW)];
    let cell = environment_cell(
        "production",
        &work,
        &[tenant("eu", "production", true)],
        &pending,
    );
    assert_eq!(
        (cell.status, cell.summary.as_str()),
        (CellStatus::Yellow, "1 release waiting for approval")
    );
    let cell = environment_cell(
        "production",
        &work,
        &[tenant("eu", "production", true)],
        &[],
    );
    assert_eq!(
        (cell.status, cell.summary.as_str()),
        (CellStatus::Yellow, "drift on eu")
    );
    let deploying = [release("r3", "production", "Deploying", NOW)];
    let cell = environment_cell("production", &work, &[], &deploying);
    assert_eq!(
        (cell.status, cell.summary.as_str()),
        (CellStatus::Yellow, "release r3 is Deploying")
    );
    let cell = environment_cell(
        "production",
        &[workload("api", "production", "Progressing")],
        &[],
        &[],
    );
    assert_eq!(
        (cell.status, cell.summary.as_str()),
        (CellStatus::Yellow, "api rolling out")
    );
}

#[test]
fn an_environment_without_workloads_is_grey() {
    let cell = environment_cell(
        "staging",
        &[workload("api", "production", "Healthy")],
        &[],
        &[],
    );
    assert_eq!(
        (cell.status, cell.summary.as_str()),
        (CellStatus::Grey, "nothing deployed")
    );
    assert!(cell.last_release.is_none());
}

#[test]
fn a_release_summary_states_what_is_missing() {
    let mut r = release("r2", "production", "PendingApproval", NOW);
    r.status.as_mut().unwrap().approvals = Some(object(
        "{required: 2, received: 1, missing: [an approver from a team other than sre-team]}",
    ));
    let summary = release_summary(&r);
    assert_eq!(summary.created.as_deref(), Some(NOW));
    assert_eq!(summary.created_by.as_deref(), Some("carol"));
    assert_eq!(
        summary.approvals.unwrap().message.as_deref(),
        Some("1 of 2 approvals received; needs an approver from a team other than sre-team")
    );
}

fn governed() -> (Release, ApprovalRequest, ApprovalPolicy) {
    let release = release("r2", "production", "PendingApproval", NOW);
    let request: ApprovalRequest = object(
        "metadata: {name: r2, namespace: payments}
spec:
  release: r2
  policy: two-teams
  decisions:
    - {decision: Approve, user: bob, groups: [sre-team, 'system:authenticated']}
status: {phase: Pending, received: 1, required: 2, message: '1 of 2 approvals received; needs a team other than sre-team'}",
    );
    let policy: ApprovalPolicy = object(
        "metadata: {name: two-teams}
spec: {environments: [production], minApprovals: 2, distinctTeams: true, forbidSelfApproval: true}",
    );
    (release, request, policy)
}

const ALLOWED: Access = Access {
    may_patch: true,
    holds_approve: true,
};

fn check(user: &Requester, access: Access) -> DecisionCheck {
    let (release, request, policy) = governed();
    decision_check(
        DecisionKind::Approve,
        user,
        &release,
        &request,
        Some(&policy),
        access,
        NOW.parse().unwrap(),
    )
}

#[test]
fn an_approver_of_another_team_may_approve() {
    let verdict = check(&Requester::new("dave", &["frontend-team"]), ALLOWED);
    assert!(verdict.allowed && verdict.permitted, "{verdict:?}");
    assert_eq!(
        verdict.progress.as_deref(),
        Some("1 of 2 approvals received; needs a team other than sre-team")
    );
}

#[test]
fn the_creator_is_gated_by_the_self_approval_rule() {
    let verdict = check(&Requester::new("carol", &["platform-team"]), ALLOWED);
    assert!(!verdict.allowed && verdict.permitted, "{verdict:?}");
    assert!(
        verdict
            .reason
            .unwrap()
            .contains("carol created release r2 and cannot approve it"),
    );
}

#[test]
fn the_creator_may_still_reject_their_own_release() {
    let (release, request, policy) = governed();
    let carol = Requester::new("carol", &["platform-team"]);
    let verdict = decision_check(
        DecisionKind::Reject,
        &carol,
        &release,
        &request,
        Some(&policy),
        ALLOWED,
        NOW.parse().unwrap(),
    );
    assert!(verdict.allowed, "{verdict:?}");
}

#[test]
fn a_second_member_of_an_approving_team_is_gated() {
    let verdict = check(&Requester::new("frank", &["sre-team"]), ALLOWED);
    assert!(!verdict.allowed && verdict.permitted, "{verdict:?}");
    assert!(
        verdict
            .reason
            .unwrap()
            .contains("needs approval from a team other than sre-team")
    );
}

#[test]
fn someone_who_already_decided_is_told_so() {
    let verdict = check(&Requester::new("bob", &["sre-team"]), ALLOWED);
    assert!(!verdict.allowed && verdict.permitted);
    assert!(verdict.reason.unwrap().contains("bob already decided"));
}

#[test]
fn without_rbac_or_a_project_grant_the_person_is_not_permitted() {
    let alice = Requester::new("alice", &["backend-team"]);
    let no_rbac = check(
        &alice,
        Access {
            may_patch: false,
            holds_approve: true,
        },
    );
    assert!(!no_rbac.allowed && !no_rbac.permitted);
    assert!(
        no_rbac
            .reason
            .unwrap()
            .starts_with("not permitted: alice may not add decisions")
    );
    let no_grant = check(
        &alice,
        Access {
            may_patch: true,
            holds_approve: false,
        },
    );
    assert!(!no_grant.allowed && !no_grant.permitted);
    assert!(
        no_grant
            .reason
            .unwrap()
            .contains("ask a project Admin for the Approver role in production")
    );
}

#[test]
fn a_release_that_no_longer_waits_accepts_no_decision() {
    let (mut release, request, policy) = governed();
    release.status.as_mut().unwrap().phase = Some(ReleasePhase::Healthy);
    let verdict = decision_check(
        DecisionKind::Approve,
        &Requester::new("dave", &["frontend-team"]),
        &release,
        &request,
        Some(&policy),
        ALLOWED,
        NOW.parse().unwrap(),
    );
    assert!(!verdict.allowed && verdict.permitted);
    assert!(verdict.reason.unwrap().contains("not PendingApproval"));
}

#[test]
fn variables_show_every_scope_and_what_wins_per_tenant_without_secret_values() {
    let catalog = Catalog {
        variables: vec![
            object(
                "metadata: {name: project, namespace: payments}\nspec: {values: {REGION: eu, LEVEL: info}, secretRefs: {DB_PASSWORD: {name: db, key: password}}}",
            ),
            object(
                "metadata: {name: prod, namespace: payments}\nspec: {environment: production, values: {LEVEL: warn}}",
            ),
            object(
                "metadata: {name: eu-one, namespace: payments}\nspec: {tenant: eu-one, values: {REGION: eu-west-1}}",
            ),
        ],
        tenants: vec![
            tenant("eu-one", "production", false),
            tenant("eu-two", "production", false),
            tenant("dev", "development", false),
        ],
        ..Catalog::default()
    };
    let overview = variable_overview(&catalog, "payments");
    let names: Vec<&str> = overview.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["DB_PASSWORD", "LEVEL", "REGION"]);
    let secret = &overview[0];
    assert_eq!(
        secret.definitions[0].value,
        serde_json::json!("(secret db/password)")
    );
    let level = &overview[1];
    assert_eq!(level.definitions.len(), 2);
    let of = |row: &VariableOverview, tenant: &str| {
        let r = row.resolved.iter().find(|r| r.tenant == tenant).unwrap();
        (r.value.clone().unwrap(), r.scope.clone().unwrap())
    };
    assert_eq!(
        of(level, "dev"),
        (serde_json::json!("info"), "project".to_string())
    );
    assert_eq!(
        of(level, "eu-two"),
        (
            serde_json::json!("warn"),
            "environment/production".to_string()
        )
    );
    let region = &overview[2];
    assert_eq!(
        of(region, "eu-one"),
        (serde_json::json!("eu-west-1"), "tenant/eu-one".to_string())
    );
    assert_eq!(
        of(region, "eu-two"),
        (serde_json::json!("eu"), "project".to_string())
    );
}

#[test]
fn the_approval_queue_holds_the_pending_releases_newest_first() {
    let releases = [
        release(
            "old",
            "production",
            "PendingApproval",
            "2026-11-25T10:00:00Z",
        ),
        release("done", "production", "Healthy", "2026-11-25T12:00:00Z"),
        release("new", "staging", "PendingApproval", "2026-11-25T13:00:00Z"),
    ];
    let names: Vec<String> = approval_queue(&releases)
        .into_iter()
        .map(|r| r.name_any())
        .collect();
    assert_eq!(names, ["new", "old"]);
}
