//! Seed scenario 7: team grants become RBAC; every team's actions are allowed or refused
//! exactly as granted, with `kubectl auth can-i` and with real requests; a release to an
//! environment the team may not submit to is refused as "not permitted" (403) naming the
//! missing role, while a Draft is fine; CI's ServiceAccount is held to the same grant; and
//! every refusal is in the API server's audit log.

use gitopshq_e2e::{Platform, ok, with_stdin};

fn release(name: &str, namespace: &str, environment: &str, submitted: bool) -> String {
    format!(
        "apiVersion: gitopshq.io/v1alpha1\nkind: Release\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n  title: {name}\n  environment: {environment}\n  changes: [{{workload: payment-api}}]\n  submitted: {submitted}\n"
    )
}

fn workload(namespace: &str) -> String {
    format!(
        "apiVersion: gitopshq.io/v1alpha1\nkind: Workload\nmetadata: {{name: probe, namespace: {namespace}}}\nspec: {{chart: microservice-base, version: 1.0.0}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_team_can_do_exactly_what_its_grants_allow() {
    let platform = Platform::start().await;
    platform.apply(
        "admin",
        &platform.example(&["bootstrap", "team-rbac/10-projects.yaml"]),
    );
    for project in [
        "payment-service",
        "order-service",
        "web-app",
        "infra-configs",
    ] {
        platform.wait_for(None, "project", project, "{.status.phase}", "Ready");
    }
    platform.apply(
        "admin",
        &platform.example(&["team-rbac/20-ci-deployer.yaml"]),
    );
    let ci_token =
        ok(platform
            .admin()
            .args(["-n", "payment-service", "create", "token", "ci-deployer"]));
    let ci = format!("--token={}", ci_token.trim());

    let can = |who: &str, verb: &str, resource: &str, namespace: &str| -> bool {
        let mut cmd = if who == "ci" {
            let mut cmd = platform.kubectl("admin");
            cmd.arg(&ci);
            cmd
        } else {
            platform.kubectl(who)
        };
        let out = cmd
            .args(["auth", "can-i", verb, resource, "-n", namespace])
            .output()
            .expect("kubectl runs");
        String::from_utf8_lossy(&out.stdout).trim() == "yes"
    };
    let matrix: &[(&str, &str, &str, &str, bool)] = &[
        (
            "alice",
            "create",
            "workloads.gitopshq.io",
            "payment-service",
            true,
        ),
        (
            "alice",
            "create",
            "workloads.gitopshq.io",
            "order-service",
            true,
        ),
        ("alice", "create", "workloads.gitopshq.io", "web-app", false),
        (
            "alice",
            "get",
            "workloads.gitopshq.io",
            "infra-configs",
            true,
        ),
        (
            "alice",
            "create",
            "workloads.gitopshq.io",
            "infra-configs",
            false,
        ),
        (
            "alice",
            "patch",
            "approvalrequests.gitopshq.io",
            "payment-service",
            false,
        ),
        (
            "alice",
            "release",
            "environments.gitopshq.io/staging",
            "payment-service",
            true,
        ),
        (
            "alice",
            "release",
            "environments.gitopshq.io/production",
            "payment-service",
            false,
        ),
        // Cancelling someone else's release: ReleaseManager (and Admin), where granted.
        (
            "alice",
            "cancel",
            "environments.gitopshq.io/staging",
            "payment-service",
            true,
        ),
        (
            "alice",
            "cancel",
            "environments.gitopshq.io/production",
            "payment-service",
            false,
        ),
        (
            "frank",
            "cancel",
            "environments.gitopshq.io/production",
            "payment-service",
            false,
        ),
        ("dave", "create", "workloads.gitopshq.io", "web-app", true),
        (
            "dave",
            "get",
            "releases.gitopshq.io",
            "payment-service",
            false,
        ),
        ("frank", "get", "releases.gitopshq.io", "web-app", true),
        (
            "frank",
            "patch",
            "approvalrequests.gitopshq.io",
            "order-service",
            true,
        ),
        (
            "frank",
            "rollback",
            "environments.gitopshq.io/production",
            "payment-service",
            true,
        ),
        (
            "frank",
            "create",
            "workloads.gitopshq.io",
            "payment-service",
            false,
        ),
        ("carol", "create", "secrets", "infra-configs", true),
        (
            "carol",
            "release",
            "environments.gitopshq.io/production",
            "web-app",
            true,
        ),
        (
            "carol",
            "cancel",
            "environments.gitopshq.io/production",
            "web-app",
            true,
        ),
        (
            "ci",
            "create",
            "releases.gitopshq.io",
            "payment-service",
            true,
        ),
        (
            "ci",
            "release",
            "environments.gitopshq.io/staging",
            "payment-service",
            true,
        ),
        (
            "ci",
            "create",
            "workloads.gitopshq.io",
            "payment-service",
            false,
        ),
        ("ci", "create", "releases.gitopshq.io", "web-app", false),
    ];
    for (who, verb, resource, namespace, expected) in matrix {
        assert_eq!(
            can(who, verb, resource, namespace),
            *expected,
            "{who} {verb} {resource} -n {namespace}"
        );
    }

    // Real requests. Cross-team writes are not permitted (RBAC).
    let cross = platform.apply_refused("dave", &workload("payment-service"));
    assert!(
        cross.contains("Forbidden") && cross.contains("\"dave\""),
        "{cross}"
    );
    platform.apply("dave", &workload("web-app"));

    // A developer's staging release is admitted; production is not permitted (the webhook says
    // which role is missing); a production Draft is fine.
    platform.apply(
        "alice",
        &release("api-staging", "payment-service", "staging", true),
    );
    let production = platform.apply_refused(
        "alice",
        &release("api-production", "payment-service", "production", true),
    );
    assert!(
        production.contains("alice (groups: backend-team) may not submit releases to production in project payment-service")
            && production.contains("ReleaseManager role in production"),
        "{production}"
    );
    platform.apply(
        "alice",
        &release(
            "api-production-draft",
            "payment-service",
            "production",
            false,
        ),
    );

    // CI is held to the same grant.
    let ci_apply = |yaml: &str| {
        let mut cmd = platform.kubectl("admin");
        cmd.arg(&ci);
        with_stdin(cmd.args(["apply", "-f", "-"]), yaml)
    };
    assert!(
        ci_apply(&release("ci-staging", "payment-service", "staging", true))
            .status
            .success()
    );
    let ci_production = ci_apply(&release(
        "ci-production",
        "payment-service",
        "production",
        true,
    ));
    assert!(!ci_production.status.success());
    assert!(
        String::from_utf8_lossy(&ci_production.stderr)
            .contains("system:serviceaccount:payment-service:ci-deployer")
            && String::from_utf8_lossy(&ci_production.stderr)
                .contains("may not submit releases to production"),
        "{}",
        String::from_utf8_lossy(&ci_production.stderr)
    );
    assert_eq!(
        platform.get(
            Some("payment-service"),
            "release",
            "ci-staging",
            "{.spec.createdBy}"
        ),
        "system:serviceaccount:payment-service:ci-deployer"
    );

    // Every refusal is in the audit trail, with who tried and the answer.
    let events = platform.management.audit_events().expect("audit log");
    let refused = |user: &str, name: &str| {
        events.iter().any(|e| {
            e["user"]["username"] == user
                && e["objectRef"]["name"] == name
                && e["responseStatus"]["code"].as_i64() == Some(403)
        })
    };
    assert!(
        refused("dave", "probe"),
        "dave's refused workload is audited"
    );
    assert!(
        refused("alice", "api-production"),
        "alice's refused production release is audited"
    );
    assert!(refused(
        "system:serviceaccount:payment-service:ci-deployer",
        "ci-production"
    ));
    platform.stop().await;
}
