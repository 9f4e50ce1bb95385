//! Seed scenario 2: a canary release to one tenant, approved by an SRE, then a Promotion in
//! batches [alpha] → [beta, gamma] (approval) → [the rest]; each batch soaks healthy before the
//! next; a batch that turns Degraded pauses the promotion until it recovers and someone resumes.
//! On the real loop: the GitOps engine (Flux or Argo CD) applies each batch's commit, batches
//! are gated on pods that really become Ready, and tenant-delta's pods really crash-loop.

use crate::{Engine, Platform, ok};

const NS: &str = "payment-service";
const CANARY: &str = "payment-api-v2-3-0-canary";
const PROMOTION: &str = "payment-api-v2-3-0";

fn approve(platform: &Platform, user: &str, release: &str, comment: &str) {
    let body = format!(
        r#"[{{"op":"add","path":"/spec/decisions/-","value":{{"decision":"Approve","comment":"{comment}"}}}}]"#
    );
    ok(platform.kubectl(user).args([
        "-n",
        NS,
        "patch",
        "approvalrequest",
        release,
        "--type=json",
        "-p",
        &body,
    ]));
}

/// The pods of payment-api in `namespace` of the workload cluster: every one Ready, or waits.
fn pods_ready(platform: &Platform, namespace: &str) {
    let deadline = std::time::Instant::now() + crate::WAIT;
    loop {
        let pods = platform.workload_pods(namespace, "app.kubernetes.io/name=payment-api");
        if !pods.is_empty() && pods.iter().all(|(_, ready, _, _)| *ready) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "payment-api pods in {namespace} not Ready: {pods:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Runs the scenario on a platform delivering with `engine`.
pub async fn run(engine: Engine) {
    let platform = Platform::start_with(engine).await;
    // tenant-delta's own configuration is what v2.3.0 cannot run with: its pods will crash
    // (the label makes KWOK crash-loop them, as the container would).
    let tenants = platform.example(&["canary-rollout/10-tenants.yaml"]);
    let (before, delta) = tenants
        .split_once("name: tenant-delta")
        .expect("tenant-delta in the example");
    let tenants = format!(
        "{before}name: tenant-delta{}",
        delta.replace(
            "payment-api: {}",
            "payment-api: {values: {podLabels: {gitopshq.io/simulate: crash-loop}}}"
        )
    );
    platform.apply(
        "admin",
        &format!(
            "{}\n---\n{tenants}\n---\n{}",
            platform.example(&["bootstrap"]),
            platform.example(&["canary-rollout/20-approval-policy.yaml"])
        ),
    );
    platform.wait_for(None, "project", NS, "{.status.phase}", "Ready");

    // The canary, submitted by carol (platform-team Admin), approved by bob (sre-team).
    platform.apply(
        "carol",
        &platform.example(&["canary-rollout/30-canary-release.yaml"]),
    );
    platform.wait_for(
        Some(NS),
        "release",
        CANARY,
        "{.status.phase}",
        "PendingApproval",
    );
    approve(&platform, "bob", CANARY, "canary metrics plan ok");
    platform.wait_delivered(NS, CANARY);
    let approval = platform.get(
        Some(NS),
        "approvalrequest",
        CANARY,
        "{.spec.decisions[0].user} {.spec.decisions[0].comment}",
    );
    assert_eq!(approval, "bob canary metrics plan ok");
    assert!(
        !platform
            .get(
                Some(NS),
                "approvalrequest",
                CANARY,
                "{.spec.decisions[0].time}"
            )
            .is_empty()
    );
    let alpha = platform.file(
        "projects/payment-service/production/tenant-alpha/payment-api/deployment-payment-api.yaml",
    );
    assert!(
        alpha.contains("v2.3.0") && alpha.contains("FEATURE_NEW_CHECKOUT"),
        "{alpha}"
    );
    platform.wait_for(Some(NS), "release", CANARY, "{.status.phase}", "Healthy");
    pods_ready(&platform, "payments-alpha");

    // The promotion, with short soaks.
    let promotion = platform
        .example(&["canary-rollout/40-promotion.yaml"])
        .replace("soak: 30m", "soak: 2s")
        .replace("soak: 10m", "soak: 2s");
    platform.apply("carol", &promotion);
    let canary_batch = format!("{PROMOTION}-b1-canary");
    platform.wait_for(
        Some(NS),
        "promotion",
        PROMOTION,
        "{.status.batches[0].release}",
        &canary_batch,
    );
    platform.wait_for(
        Some(NS),
        "release",
        &canary_batch,
        "{.status.phase}",
        "Healthy",
    );
    assert_eq!(
        platform.get(Some(NS), "release", &canary_batch, "{.spec.type}"),
        "Promotion"
    );

    // wave-1 waits for an approval, then rolls out.
    let wave = format!("{PROMOTION}-b2-wave-1");
    platform.wait_for(
        Some(NS),
        "release",
        &wave,
        "{.status.phase}",
        "PendingApproval",
    );
    platform.wait_for(
        Some(NS),
        "promotion",
        PROMOTION,
        "{.status.batches[1].phase}",
        "AwaitingApproval",
    );
    assert_eq!(
        platform.get(Some(NS), "promotion", PROMOTION, "{.status.progress}"),
        "1/3"
    );
    approve(&platform, "bob", &wave, "canary healthy for 30 minutes");
    platform.wait_delivered(NS, &wave);
    assert_eq!(
        platform.get(Some(NS), "release", &wave, "{.spec.tenants}"),
        r#"["tenant-beta","tenant-gamma"]"#
    );
    platform.wait_for(Some(NS), "release", &wave, "{.status.phase}", "Healthy");
    pods_ready(&platform, "payments-beta");
    pods_ready(&platform, "payments-gamma");

    // The rest: delta crashes, and the promotion pauses.
    let rest = format!("{PROMOTION}-b3-rest");
    platform.wait_delivered(NS, &rest);
    assert_eq!(
        platform.get(Some(NS), "release", &rest, "{.spec.tenants}"),
        r#"["eu-production","tenant-delta"]"#
    );
    platform.wait_for(Some(NS), "promotion", PROMOTION, "{.spec.paused}", "true");
    platform.wait_for(
        Some(NS),
        "promotion",
        PROMOTION,
        "{.status.phase}",
        "Paused",
    );
    let message = platform.get(Some(NS), "promotion", PROMOTION, "{.status.message}");
    assert!(
        message.contains("batch rest is Degraded")
            && message.contains("tenant-delta")
            && message.contains("pods CrashLoopBackOff"),
        "{message}"
    );
    let crashing = platform.workload_pods("payments-delta", "app.kubernetes.io/name=payment-api");
    assert!(
        crashing
            .iter()
            .any(|(_, ready, waiting, _)| !ready && waiting == "CrashLoopBackOff"),
        "{crashing:?}"
    );

    // The fix: what delta's pods depended on comes back, their next restart succeeds (the
    // label goes, KWOK lets them run); the person resumes.
    for (pod, _, _, _) in &crashing {
        ok(platform.workload_admin().args([
            "-n",
            "payments-delta",
            "label",
            "pod",
            pod,
            "gitopshq.io/simulate-",
        ]));
    }
    platform.wait_for(Some(NS), "release", &rest, "{.status.phase}", "Healthy");
    ok(platform.kubectl("carol").args([
        "-n",
        NS,
        "patch",
        "promotion",
        PROMOTION,
        "--type=merge",
        "-p",
        r#"{"spec":{"paused":false}}"#,
    ]));
    platform.wait_for(
        Some(NS),
        "promotion",
        PROMOTION,
        "{.status.phase}",
        "Succeeded",
    );
    assert_eq!(
        platform.get(Some(NS), "promotion", PROMOTION, "{.status.progress}"),
        "3/3"
    );

    // The promotion's timeline: every batch with its times and approvers.
    let batches = platform.get(
        Some(NS),
        "promotion",
        PROMOTION,
        "{range .status.batches[*]}{.name}={.phase},{.approvers}|{end}",
    );
    assert_eq!(
        batches,
        r#"canary=Succeeded,|wave-1=Succeeded,["bob"]|rest=Succeeded,|"#
    );
    for field in ["startedAt", "healthyAt", "succeededAt"] {
        let times = platform.get(
            Some(NS),
            "promotion",
            PROMOTION,
            &format!("{{.status.batches[*].{field}}}"),
        );
        assert_eq!(times.split_whitespace().count(), 3, "{field}: {times}");
    }
    platform.wait_for(Some(NS), "release", CANARY, "{.status.phase}", "Superseded");
    platform.stop().await;
}
