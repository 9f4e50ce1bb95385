//! Seed scenario 3: a release that drops CACHE_ENDPOINT sends pods into CrashLoopBackOff; the
//! release turns Degraded with the count and the rollback command; a service-scoped rollback,
//! approved by the SRE team, is a new commit restoring the earlier content, and the pods
//! recover. On the real loop: the GitOps engine (Flux or Argo CD) applies each commit, the bad
//! release's new pods really crash-loop (KWOK, through the pod label the release sets) while
//! the old ones keep serving, and the rollback's rollout really replaces them.

use crate::{Engine, Platform, git};

const NS: &str = "payment-service";
/// The good and the bad release of the incident.
pub const GOOD: &str = "checkout-v3-1-0";
pub const BAD: &str = "checkout-v3-2-0";
const ROLLBACK: &str = "rollback-checkout-v3-2-0";
const TENANT_DIR: &str = "projects/payment-service/production/eu-checkout";

fn deployment_at(platform: &Platform, commit: &str) -> String {
    git(
        platform.dir(),
        &[
            "--git-dir",
            &platform.repository.display().to_string(),
            "show",
            &format!("{commit}:{TENANT_DIR}/checkout-service/deployment-checkout-service.yaml"),
        ],
    )
}

/// Before the incident: the bootstrap project with checkout-service and its rollback approval
/// policy, and the good release Healthy.
pub fn the_good_checkout_release_is_healthy(platform: &Platform) {
    platform.apply(
        "admin",
        &platform.example(&[
            "bootstrap",
            "incident-rollback/10-checkout-service.yaml",
            "incident-rollback/30-approval-policy.yaml",
        ]),
    );
    platform.wait_for(Some(NS), "release", GOOD, "{.status.phase}", "Healthy");
}

/// Runs the scenario on a platform delivering with `engine`.
pub async fn run(engine: Engine) {
    let platform = Platform::start_with(engine).await;
    the_good_checkout_release_is_healthy(&platform);
    assert_eq!(
        platform.workload_get(
            "checkout",
            "deployment",
            "checkout-service",
            "{.status.availableReplicas}"
        ),
        "5"
    );
    let good = platform.get(Some(NS), "release", GOOD, "{.status.commit}");

    // The bad release: delivered, applied by the engine, and its new pods crash.
    platform.apply_server_side(
        "admin",
        &platform.example(&["incident-rollback/20-bad-release.yaml"]),
    );
    platform.wait_delivered(NS, BAD);
    let bad = platform.get(Some(NS), "release", BAD, "{.status.commit}");
    assert!(!deployment_at(&platform, &bad).contains("CACHE_ENDPOINT"));
    assert!(deployment_at(&platform, &good).contains("CACHE_ENDPOINT"));
    let message = platform.wait_until(
        Some(NS),
        "release",
        BAD,
        "{.status.message}",
        |m| m.contains("pods CrashLoopBackOff"),
        "pods in CrashLoopBackOff",
    );
    let pods = platform.workload_pods("checkout", "app.kubernetes.io/name=checkout-service");
    let crashing = pods
        .iter()
        .filter(|(_, ready, waiting, _)| !ready && waiting == "CrashLoopBackOff")
        .count();
    assert!(
        crashing > 0 && crashing < pods.len(),
        "new pods crash, old ones keep serving: {pods:?}"
    );
    assert!(
        message.contains("eu-checkout: Deployment checkout/checkout-service"),
        "{message}"
    );
    assert_eq!(
        platform.get(Some(NS), "release", BAD, "{.status.phase}"),
        "Degraded"
    );
    assert!(
        message.contains(&format!("gitopshq rollback checkout-service --to {GOOD}")),
        "{message}"
    );
    assert_eq!(
        platform.get(
            Some(NS),
            "release",
            BAD,
            "{.status.conditions[?(@.type==\"Healthy\")].reason}"
        ),
        "Degraded"
    );
    platform.wait_for(
        Some(NS),
        "tenant",
        "eu-checkout",
        "{.status.health}",
        "Degraded",
    );

    // bob (sre-team) rolls back; the policy wants one approval from sre-team, not his own.
    platform.apply(
        "bob",
        &platform.example(&["incident-rollback/40-rollback.yaml"]),
    );
    platform.wait_for(
        Some(NS),
        "release",
        ROLLBACK,
        "{.status.phase}",
        "PendingApproval",
    );
    let approve = |user: &str| {
        platform
            .kubectl(user)
            .args(["-n", NS, "patch", "approvalrequest", ROLLBACK, "--type=json", "-p",
                r#"[{"op":"add","path":"/spec/decisions/-","value":{"decision":"Approve","comment":"matches the incident timeline"}}]"#])
            .output()
            .expect("kubectl runs")
    };
    let own = approve("bob");
    assert!(!own.status.success());
    assert!(
        String::from_utf8_lossy(&own.stderr).contains("cannot approve"),
        "{}",
        String::from_utf8_lossy(&own.stderr)
    );
    assert!(approve("frank").status.success());
    platform.wait_delivered(NS, ROLLBACK);
    let restored = platform.get(Some(NS), "release", ROLLBACK, "{.status.commit}");
    assert_eq!(
        deployment_at(&platform, &restored),
        deployment_at(&platform, &good),
        "exactly what checkout-v3-1-0 delivered"
    );
    let delivery = &platform.commits()[0];
    for trailer in [
        "GitOpsHQ-Release-Type: Rollback",
        "GitOpsHQ-Approved-By: frank",
        &format!("GitOpsHQ-Rollback-To: payment-service/{GOOD}@{good}"),
    ] {
        assert!(
            delivery.contains(trailer),
            "{trailer} missing in\n{delivery}"
        );
    }
    platform.wait_for(Some(NS), "release", BAD, "{.status.phase}", "Superseded");

    // The engine applies the restored content; the crashing pods are replaced and all five run.
    platform.wait_for(Some(NS), "release", ROLLBACK, "{.status.phase}", "Healthy");
    let pods = platform.workload_pods("checkout", "app.kubernetes.io/name=checkout-service");
    assert!(
        pods.len() == 5 && pods.iter().all(|(_, ready, _, _)| *ready),
        "{pods:?}"
    );
    platform.wait_for(
        Some(NS),
        "tenant",
        "eu-checkout",
        "{.status.health}",
        "Healthy",
    );
    let actors = platform.get(Some(NS), "release", ROLLBACK, "{.status.timeline[*].actor}");
    assert!(
        actors.starts_with("bob frank "),
        "who asked, who approved: {actors}"
    );
    platform.stop().await;
}
