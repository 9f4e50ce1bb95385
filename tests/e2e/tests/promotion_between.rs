//! Promotion between environments on the real platform. Production takes only what has run
//! Healthy in staging for a soak (`Environment.spec.promotion`): a production release whose
//! values staging never ran is refused with what differs; the same state is refused while it
//! soaks; a Promotion with `toEnvironment: production` is refused before the soak and admitted
//! after it, and its batch release delivers exactly the state staging recorded.

use std::time::{Duration, Instant};

use gitopshq_e2e::{Platform, WAIT, with_stdin};

const NS: &str = "payment-service";
const SOAK_SECONDS: u64 = 20;
const PRODUCTION_DEPLOYMENT: &str =
    "projects/payment-service/production/eu-production/payment-api/deployment-payment-api.yaml";
const PRODUCTION_STATE: &str =
    "projects/payment-service/production/eu-production/payment-api/_state.yaml";

fn production_release(name: &str, tag: &str) -> String {
    format!(
        "apiVersion: gitopshq.io/v1alpha1\nkind: Release\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  title: {name}\n  environment: production\n  changes:\n    - workload: payment-api\n      values: {{image: {{tag: {tag}}}}}\n  submitted: true\n"
    )
}

fn promotion(name: &str) -> String {
    format!(
        "apiVersion: gitopshq.io/v1alpha1\nkind: Promotion\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  release: stg-v2\n  toEnvironment: production\n  batches:\n    - name: all\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_takes_only_what_soaked_healthy_in_staging() {
    let platform = Platform::start().await;
    let inputs = platform.example(&["bootstrap"]).replace(
        "  color: \"#c62828\"\n",
        &format!(
            "  color: \"#c62828\"\n  promotion:\n    from: staging\n    soak: {SOAK_SECONDS}s\n"
        ),
    );
    assert!(
        inputs.contains("from: staging"),
        "the production Environment"
    );
    platform.apply("admin", &inputs);
    platform.wait_delivered(NS, "payment-api-v1-0-0-dev");

    // alice releases v2.0.0 to staging; the real loop makes it Healthy.
    platform.gitopshq_as(
        "alice",
        &[
            "release",
            "create",
            "stg-v2",
            "-n",
            NS,
            "--env",
            "staging",
            "--workload",
            "payment-api",
            "--set",
            "image.tag=v2.0.0",
            "--submit",
        ],
    );
    platform.wait_for(Some(NS), "release", "stg-v2", "{.status.phase}", "Healthy");
    platform.wait_until(
        Some(NS),
        "workload",
        "payment-api",
        "{.status.environments.staging.tenants.eu-staging.release}",
        |r| r == "stg-v2",
        "the mirror of stg-v2's state",
    );

    // Something staging never ran: refused, naming the difference and the way forward.
    let never = platform.apply_refused("carol", &production_release("prod-v9", "v9.9.9"));
    assert!(
        never.contains("environment production takes only what has run Healthy in staging")
            && never.contains("image.tag v9.9.9 here, v2.0.0 there")
            && never.contains("spec.toEnvironment: production"),
        "{never}"
    );
    // Before the soak, the promotion of what staging runs is refused too, saying until when.
    let early = platform.apply_refused("carol", &promotion("v2-to-production"));
    assert!(
        early.contains("promotion v2-to-production denied") && early.contains("soak"),
        "{early}"
    );

    // After the soak it is admitted, and its batch release delivers staging's state.
    let deadline = Instant::now() + WAIT;
    loop {
        let out = with_stdin(
            platform.kubectl("carol").args(["apply", "-f", "-"]),
            &promotion("v2-to-production"),
        );
        if out.status.success() {
            break;
        }
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(said.contains("soak"), "refused for another reason: {said}");
        assert!(
            Instant::now() < deadline,
            "still soaking after {WAIT:?}: {said}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let batch = "v2-to-production-b1-all";
    platform.wait_delivered(NS, batch);
    assert_eq!(
        platform.get(Some(NS), "release", batch, "{.spec.environment}"),
        "production"
    );
    assert_eq!(
        platform.get(Some(NS), "release", batch, "{.spec.type}"),
        "Promotion"
    );
    let deployment = platform.file(PRODUCTION_DEPLOYMENT);
    assert!(
        deployment.contains("registry.example.com/payment-api:v2.0.0"),
        "{deployment}"
    );
    let state = platform.file(PRODUCTION_STATE);
    assert!(
        state.contains(&format!("release: {batch}")) && state.contains("tag: v2.0.0"),
        "{state}"
    );
    // And a Deploy of exactly that state is now admitted (it soaked).
    platform.apply("carol", &production_release("prod-v2", "v2.0.0"));
    platform.stop().await;
}
