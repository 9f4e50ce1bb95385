//! Governance on the real API server: the admission webhook runs next to it and `kubectl`, as
//! the people of the scenarios, is allowed or refused exactly as the rules say.
//!
//! The controllers do not run here: the test plays their part where it must (a release's
//! phase, the ApprovalRequest the controller would create), always as the admin, so that each
//! admission rule is seen on its own. The scenarios with the controllers are in
//! `governance_delivery.rs` and `break_glass.rs`.

use std::path::Path;

use gitopshq_e2e::{fails as kubectl_err, ok as kubectl_ok, with_stdin};
use gitopshq_localplane::TestEnv;
use gitopshq_webhook::local::LocalWebhook;

const NS: &str = "payment-service";

/// Every team may edit GitOpsHQ objects and holds every gated verb in every environment: these
/// tests are about the rules the webhook adds on top (team grants are `team_rbac.rs`'s).
const TEAM_ACCESS: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: gitopshq-e2e-team}
rules:
  - apiGroups: [gitopshq.io]
    resources: ["*"]
    verbs: [get, list, watch, create, update, patch]
  - apiGroups: [gitopshq.io]
    resources: [environments]
    verbs: [release, rollback, approve, break-glass]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: gitopshq-e2e-team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: gitopshq-e2e-team}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: backend-team}
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: sre-team}
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: platform-team}
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: frontend-team}
"#;

fn example(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(path)
        .display()
        .to_string()
}

/// `kubectl apply -f` of files or folders of `examples/` as `user`, which must be admitted.
fn apply_examples(env: &TestEnv, user: &str, paths: &[&str]) {
    let mut cmd = env.kubectl(user);
    cmd.arg("apply");
    for path in paths {
        cmd.args(["-f", &example(path)]);
    }
    kubectl_ok(&mut cmd);
}

/// Applies YAML from stdin as `user`; returns (success, stdout, stderr).
fn apply_as(env: &TestEnv, user: &str, yaml: &str) -> (bool, String, String) {
    let out = with_stdin(env.kubectl(user).args(["apply", "-f", "-"]), yaml);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn apply_ok(env: &TestEnv, user: &str, yaml: &str) -> String {
    let (ok, stdout, stderr) = apply_as(env, user, yaml);
    assert!(ok, "{user} could not apply:\n{yaml}\n{stderr}");
    stdout + &stderr
}

fn apply_denied(env: &TestEnv, user: &str, yaml: &str) -> String {
    let (ok, stdout, stderr) = apply_as(env, user, yaml);
    assert!(
        !ok,
        "{user} applied but should have been refused:\n{yaml}\n{stdout}\n{stderr}"
    );
    stderr
}

fn get(env: &TestEnv, kind: &str, name: &str, path: &str) -> String {
    kubectl_ok(env.kubectl("admin").args([
        "-n",
        NS,
        "get",
        kind,
        name,
        "-o",
        &format!("jsonpath={path}"),
    ]))
}

/// `kubectl -n payment-service patch KIND/NAME --type=TYPE -p BODY` as `user`.
fn patch(
    env: &TestEnv,
    user: &str,
    target: &str,
    patch_type: &str,
    body: &str,
) -> std::process::Command {
    let mut cmd = env.kubectl(user);
    cmd.args([
        "-n",
        NS,
        "patch",
        target,
        &format!("--type={patch_type}"),
        "-p",
        body,
    ]);
    cmd
}

/// The controller's part until it exists: the admin writes a status.
fn patch_status(env: &TestEnv, user: &str, target: &str, body: &str) -> std::process::Command {
    let mut cmd = patch(env, user, target, "merge", body);
    cmd.arg("--subresource=status");
    cmd
}

async fn governed_env() -> (TestEnv, LocalWebhook) {
    let env = TestEnv::start().await.expect("control plane starts");
    let webhook = LocalWebhook::start(
        env.client().await.expect("client"),
        gitopshq_e2e::webhook_settings(),
    )
    .await
    .expect("webhook starts and is registered");
    apply_ok(&env, "admin", TEAM_ACCESS);
    apply_examples(&env, "admin", &["bootstrap"]);
    (env, webhook)
}

fn rollback_release(name: &str, session: Option<&str>) -> String {
    let session = session
        .map(|s| format!("  breakGlassSession: {s}\n"))
        .unwrap_or_default();
    format!(
        r#"apiVersion: gitopshq.io/v1alpha1
kind: Release
metadata: {{name: {name}, namespace: {NS}}}
spec:
  title: Roll checkout-service back to checkout-v1
  environment: production
  type: Rollback
  rollbackTo: {{release: checkout-v1}}
  changes: [{{workload: checkout-service}}]
  submitted: true
{session}"#
    )
}

fn session(name: &str, workload: &str, duration: &str) -> String {
    format!(
        r#"apiVersion: gitopshq.io/v1alpha1
kind: BreakGlassSession
metadata: {{name: {name}, namespace: {NS}}}
spec:
  justification: "P1 incident: checkout-service returns 500 errors at 40% since 14:35 UTC"
  severity: SEV1
  scope: {{environments: [production], workloads: [{workload}]}}
  duration: {duration}
  incidentUrl: https://status.example.com/incidents/2847
  requestedBy: mallory
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeze_denies_and_break_glass_admits_only_its_scope() {
    let (env, _webhook) = governed_env().await;
    apply_ok(
        &env,
        "admin",
        &format!(
            r#"apiVersion: gitopshq.io/v1alpha1
kind: Workload
metadata: {{name: checkout-service, namespace: {NS}}}
spec:
  chart: microservice-base
  version: 1.0.0
  values: {{image: {{repository: registry.example.com/checkout, tag: v3.1.0}}}}
---
apiVersion: gitopshq.io/v1alpha1
kind: Release
metadata: {{name: checkout-v1, namespace: {NS}}}
spec:
  title: checkout-service v3.1.0
  environment: production
  changes: [{{workload: checkout-service, version: 1.0.0}}]
  submitted: true
"#
        ),
    );

    // Production freezes for a maintenance window around now.
    let now = jiff::Timestamp::now();
    let start = now - jiff::SignedDuration::from_hours(1);
    let end = (now + jiff::SignedDuration::from_hours(2))
        .round(jiff::Unit::Second)
        .unwrap();
    kubectl_ok(env.kubectl("admin").args([
        "patch",
        "environment",
        "production",
        "--type=merge",
        "-p",
        &format!(
            r#"{{"spec":{{"freezeWindows":[{{"name":"db-upgrade","start":"{start:.0}","end":"{end:.0}","reason":"Database upgrade"}}]}}}}"#
        ),
    ]));

    // A rollback during the freeze is gated, with the window, its end and the next step.
    let denied = apply_denied(&env, "bob", &rollback_release("rollback-1", None));
    let until = end.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    assert!(
        denied.contains(&format!("environment production is frozen until {until}"))
            && denied.contains("db-upgrade")
            && denied.contains(
                "open a BreakGlassSession covering production/checkout-service or wait for the window to end"
            ),
        "{denied}"
    );

    // A session for another workload does not cover it; the requester is stamped, not claimed.
    let opened = apply_ok(
        &env,
        "bob",
        &session("payment-incident", "payment-api", "1h"),
    );
    assert!(
        opened.contains("Warning:") && opened.contains("every action"),
        "{opened}"
    );
    assert_eq!(
        get(
            &env,
            "breakglasssession",
            "payment-incident",
            "{.spec.requestedBy}"
        ),
        "bob"
    );
    let denied = apply_denied(
        &env,
        "bob",
        &rollback_release("rollback-2", Some("payment-incident")),
    );
    assert!(
        denied.contains("covers production/payment-api, not production/checkout-service"),
        "{denied}"
    );

    // A session scoped to production/checkout-service admits it and is recorded on the release.
    apply_ok(
        &env,
        "bob",
        &session("checkout-incident", "checkout-service", "1h"),
    );
    let admitted = apply_ok(&env, "bob", &rollback_release("rollback-3", None));
    assert!(
        admitted.contains("admitted under break-glass session checkout-incident"),
        "{admitted}"
    );
    assert_eq!(
        get(&env, "release", "rollback-3", "{.spec.breakGlassSession}"),
        "checkout-incident"
    );
    assert_eq!(
        get(&env, "release", "rollback-3", "{.spec.createdBy}"),
        "bob"
    );

    // Closing needs a note; a closed session is sealed and covers nothing any more.
    let denied = kubectl_err(&mut patch(
        &env,
        "bob",
        "breakglasssession/checkout-incident",
        "merge",
        r#"{"spec":{"closed":true}}"#,
    ));
    assert!(denied.contains("requires spec.closingNote"), "{denied}");
    kubectl_ok(&mut patch(
        &env,
        "bob",
        "breakglasssession/checkout-incident",
        "merge",
        r#"{"spec":{"closed":true,"closingNote":"Rolled back to checkout-v1; error rate at baseline"}}"#,
    ));
    let denied = kubectl_err(&mut patch(
        &env,
        "bob",
        "breakglasssession/checkout-incident",
        "merge",
        r#"{"spec":{"closingNote":"rewritten later"}}"#,
    ));
    assert!(denied.contains("closed and sealed"), "{denied}");
    let denied = apply_denied(
        &env,
        "bob",
        &rollback_release("rollback-4", Some("checkout-incident")),
    );
    assert!(denied.contains("checkout-incident is closed"), "{denied}");

    // An expired session no longer admits anything.
    apply_ok(
        &env,
        "bob",
        &session("short-incident", "checkout-service", "2s"),
    );
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let denied = apply_denied(
        &env,
        "bob",
        &rollback_release("rollback-5", Some("short-incident")),
    );
    assert!(denied.contains("short-incident expired at"), "{denied}");
    let denied = apply_denied(&env, "bob", &rollback_release("rollback-6", None));
    assert!(denied.contains("is frozen until"), "{denied}");

    // Sessions longer than 4h are refused by the API (schema) and the webhook alike.
    let denied = apply_denied(&env, "bob", &session("too-long", "checkout-service", "5h"));
    assert!(denied.contains("4h"), "{denied}");
}

fn production_release(name: &str, values: &str) -> String {
    format!(
        r#"apiVersion: gitopshq.io/v1alpha1
kind: Release
metadata: {{name: {name}, namespace: {NS}}}
spec:
  title: payment-api v1.1.0
  environment: production
  tenants: [eu-production]
  changes:
    - workload: payment-api
      version: 1.0.0
      values: {values}
  submitted: true
  createdBy: bob
"#
    )
}

fn decide(env: &TestEnv, user: &str, decision: &str, comment: &str) -> std::process::Output {
    // The client claims to be carol; the webhook stamps who really sent it.
    let body = format!(
        r#"[{{"op":"add","path":"/spec/decisions/-","value":{{"decision":"{decision}","comment":"{comment}","user":"carol","groups":["platform-team"]}}}}]"#
    );
    patch(env, user, "approvalrequest/payment-api-v1-1", "json", &body)
        .output()
        .expect("kubectl runs")
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_and_approvals_are_enforced_per_identity() {
    let (env, _webhook) = governed_env().await;

    // A Policy that does not compile is refused with its line.
    let broken = apply_denied(
        &env,
        "carol",
        "apiVersion: gitopshq.io/v1alpha1\nkind: Policy\nmetadata: {name: broken}\nspec:\n  rego: |\n    package gitopshq.workload\n\n    deny[msg] {\n      msg := \n    }\n",
    );
    assert!(
        broken.contains("policy broken denied") && broken.contains("line"),
        "{broken}"
    );

    // The scenario's policies as committed in examples/governance: the seed policy verbatim
    // (Enforce in production) and two approvals from distinct teams; a stricter policy warns in
    // staging.
    apply_examples(
        &env,
        "carol",
        &[
            "governance/policy-require-limits.yaml",
            "governance/approval-policy.yaml",
        ],
    );
    apply_ok(
        &env,
        "carol",
        "apiVersion: gitopshq.io/v1alpha1\nkind: Policy\nmetadata: {name: limits-everywhere}\nspec:\n  bindings:\n    - {environments: [staging], mode: Warn}\n  rego: |\n    package gitopshq.workload\n\n    warn[msg] {\n      container := input.spec.containers[_]\n      not container.resources.limits\n      msg := sprintf(\"Container '%s' has no resource limits\", [container.name])\n    }\n",
    );

    // Staging: the Warn policy's message comes back as a kubectl warning; the release is admitted.
    let staged = apply_ok(
        &env,
        "alice",
        &format!(
            "apiVersion: gitopshq.io/v1alpha1\nkind: Release\nmetadata: {{name: payment-api-staging, namespace: {NS}}}\nspec:\n  title: payment-api to staging\n  environment: staging\n  changes: [{{workload: payment-api, version: 1.0.0}}]\n  submitted: true\n"
        ),
    );
    assert!(
        staged.contains("Warning:")
            && staged.contains("policy limits-everywhere (Warn)")
            && staged.contains("has no resource limits"),
        "{staged}"
    );

    // Production without limits: the Enforce policy blocks it, naming the container; the same
    // release with limits in its values is admitted.
    apply_examples(&env, "alice", &["governance/releases/ledger-worker.yaml"]);
    // The refused submission is kept as a Draft with its record, the denial as a warning.
    let blocked = apply_ok(
        &env,
        "alice",
        &std::fs::read_to_string(example("governance/releases/1-without-limits.yaml"))
            .expect("example"),
    );
    assert!(
        blocked.contains("policy require-resource-limits (Enforce)")
            && blocked
                .contains("Container 'ledger-worker' in production must have resource limits")
            && blocked.contains("kept as a Draft"),
        "{blocked}"
    );
    assert_eq!(
        get(&env, "release", "ledger-worker-v0-9-0", "{.spec.submitted}"),
        "false"
    );
    let record = get(
        &env,
        "release",
        "ledger-worker-v0-9-0",
        "{.metadata.annotations.gitopshq\\.io/submission-refused}",
    );
    assert!(
        record.starts_with("alice at ") && record.contains("must have resource limits"),
        "{record}"
    );
    apply_examples(&env, "alice", &["governance/releases/2-with-limits.yaml"]);

    // With limits it is admitted, and the creator is alice whatever the YAML claimed.
    apply_ok(
        &env,
        "alice",
        &production_release("payment-api-v1-1", "{image: {tag: v1.1.0}}"),
    );
    assert_eq!(
        get(&env, "release", "payment-api-v1-1", "{.spec.createdBy}"),
        "alice"
    );
    let denied = kubectl_err(&mut patch(
        &env,
        "alice",
        "release/payment-api-v1-1",
        "merge",
        r#"{"spec":{"title":"something else"}}"#,
    ));
    assert!(denied.contains("immutable once submitted"), "{denied}");

    // The controller's part (played here, as the controller's user: only it may create approval
    // requests): the release waits for approval under the policy.
    kubectl_ok(&mut patch_status(
        &env,
        "admin",
        "release/payment-api-v1-1",
        r#"{"status":{"phase":"PendingApproval"}}"#,
    ));
    apply_ok(
        &env,
        gitopshq_localplane::CONTROLLER,
        &format!(
            "apiVersion: gitopshq.io/v1alpha1\nkind: ApprovalRequest\nmetadata: {{name: payment-api-v1-1, namespace: {NS}}}\nspec:\n  release: payment-api-v1-1\n  policy: production-two-teams\n  decisions: []\n"
        ),
    );

    // alice cannot approve her own release.
    let own = decide(&env, "alice", "Approve", "lgtm");
    assert!(!own.status.success());
    assert!(
        stderr_of(&own).contains("alice created release payment-api-v1-1 and cannot approve it"),
        "{}",
        stderr_of(&own)
    );

    // bob approves; his identity is stamped over what the client claimed.
    let first = decide(&env, "bob", "Approve", "checked the diff");
    assert!(first.status.success(), "{}", stderr_of(&first));
    assert_eq!(
        get(
            &env,
            "approvalrequest",
            "payment-api-v1-1",
            "{.spec.decisions[0].user}"
        ),
        "bob"
    );
    assert!(
        get(
            &env,
            "approvalrequest",
            "payment-api-v1-1",
            "{.spec.decisions[0].groups}"
        )
        .contains("sre-team")
    );
    assert!(
        !get(
            &env,
            "approvalrequest",
            "payment-api-v1-1",
            "{.spec.decisions[0].time}"
        )
        .is_empty()
    );

    // frank is in the same team as bob: no distinct-team quorum.
    let same_team = decide(&env, "frank", "Approve", "+1");
    assert!(!same_team.status.success());
    assert!(
        stderr_of(&same_team).contains("needs approval from a team other than sre-team"),
        "{}",
        stderr_of(&same_team)
    );

    // Earlier decisions cannot be edited.
    let edited = kubectl_err(&mut patch(
        &env,
        "bob",
        "approvalrequest/payment-api-v1-1",
        "json",
        r#"[{"op":"replace","path":"/spec/decisions/0/comment","value":"never mind"}]"#,
    ));
    assert!(edited.contains("cannot be edited or removed"), "{edited}");

    // carol of platform-team completes the quorum.
    let second = decide(&env, "carol", "Approve", "approved for platform");
    assert!(second.status.success(), "{}", stderr_of(&second));
    assert_eq!(
        get(
            &env,
            "approvalrequest",
            "payment-api-v1-1",
            "{.spec.decisions[1].user}"
        ),
        "carol"
    );

    // Once approved, further decisions are refused.
    kubectl_ok(&mut patch_status(
        &env,
        "admin",
        "release/payment-api-v1-1",
        r#"{"status":{"phase":"Approved"}}"#,
    ));
    let late = decide(&env, "dave", "Reject", "too late");
    assert!(!late.status.success());
    assert!(
        stderr_of(&late).contains("not PendingApproval"),
        "{}",
        stderr_of(&late)
    );
}
