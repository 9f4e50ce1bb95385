//! Seed scenario 2: a canary release to one tenant, approved by an SRE, then a Promotion in
//! batches [alpha] → [beta, gamma] (approval) → [the rest]; each batch soaks healthy before the
//! next; a batch that turns Degraded pauses the promotion until it recovers and someone resumes.

use gitopshq_e2e::{Platform, ok};

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

/// Argo CD syncs `tenant` and its Deployment rolls out with `crashing` of 3 pods crashing.
fn roll_out(platform: &Platform, tenant: &str, namespace: &str, crashing: usize) {
    platform.sync_tenant(
        &format!("projects/payment-service/production/{tenant}"),
        namespace,
    );
    platform.report_deployments_available(namespace);
    platform.report_pods(namespace, "payment-api", tenant, 3, crashing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_is_promoted_in_batches_with_soak_approval_and_a_pause_on_degradation() {
    let platform = Platform::start().await;
    platform.apply(
        "admin",
        &platform.example(&[
            "bootstrap",
            "canary-rollout/10-tenants.yaml",
            "canary-rollout/20-approval-policy.yaml",
        ]),
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
    platform.wait_for(Some(NS), "release", CANARY, "{.status.phase}", "Deployed");
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
    roll_out(&platform, "tenant-alpha", "payments-alpha", 0);
    platform.wait_for(Some(NS), "release", CANARY, "{.status.phase}", "Healthy");

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
    platform.wait_for(Some(NS), "release", &wave, "{.status.phase}", "Deployed");
    assert_eq!(
        platform.get(Some(NS), "release", &wave, "{.spec.tenants}"),
        r#"["tenant-beta","tenant-gamma"]"#
    );
    roll_out(&platform, "tenant-beta", "payments-beta", 0);
    roll_out(&platform, "tenant-gamma", "payments-gamma", 0);
    platform.wait_for(Some(NS), "release", &wave, "{.status.phase}", "Healthy");

    // The rest: delta crashes, and the promotion pauses.
    let rest = format!("{PROMOTION}-b3-rest");
    platform.wait_for(Some(NS), "release", &rest, "{.status.phase}", "Deployed");
    assert_eq!(
        platform.get(Some(NS), "release", &rest, "{.spec.tenants}"),
        r#"["eu-production","tenant-delta"]"#
    );
    roll_out(&platform, "eu-production", "payments", 0);
    roll_out(&platform, "tenant-delta", "payments-delta", 2);
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
            // The pause is taken on the first look at a crash: one or both crashing pods.
            && message.contains(" of 3 pods CrashLoopBackOff"),
        "{message}"
    );

    // The fix: the pods recover; the person resumes.
    platform.report_pods("payments-delta", "payment-api", "tenant-delta", 3, 0);
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
