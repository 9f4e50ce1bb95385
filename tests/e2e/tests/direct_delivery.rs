//! `delivery: Direct`: the controller commits the release and server-side applies the same
//! objects to the tenant's cluster, pruning what the previous release owned and this one does
//! not render; drift of live objects is reported; a broken cluster registration is a condition
//! that says what to fix.

use gitopshq_e2e::{Platform, ok};

const NS: &str = "payment-service";

fn release(name: &str, values: &str) -> String {
    format!(
        "apiVersion: gitopshq.io/v1alpha1\nkind: Release\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  title: {name}\n  environment: development\n  tenants: [eu-development]\n  changes:\n    - workload: payment-api\n      values: {values}\n  submitted: true\n"
    )
}

/// `jsonpath` of the live payment-api Deployment; kubectl must succeed.
fn payment_api_deployment(platform: &Platform, jsonpath: &str) -> String {
    ok(platform.workload_admin().args([
        "-n",
        "payments-dev",
        "get",
        "deployment",
        "payment-api",
        "-o",
        &format!("jsonpath={jsonpath}"),
    ]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_delivery_applies_prunes_reports_drift_and_survives_a_broken_secret() {
    let platform = Platform::start().await;
    let direct = platform
        .example(&["bootstrap"])
        .replace("delivery: Flux", "delivery: Direct")
        .replace(
            "autoscaling:\n          enabled: false",
            "autoscaling:\n          enabled: true",
        );
    platform.apply("admin", &direct);
    let first = platform.release(NS, "payment-api-v1-0-0-dev");
    first.wait_delivered();
    assert_eq!(
        first.get("{.status.conditions[?(@.type==\"Delivered\")].reason}"),
        "Applied"
    );
    let live = ok(platform.workload_admin().args([
        "-n",
        "payments-dev",
        "get",
        "deployments,services,hpa",
        "-o",
        "name",
    ]));
    assert!(
        live.contains("deployment.apps/payment-api")
            && live.contains("service/payment-api")
            && live.contains("horizontalpodautoscaler.autoscaling/payment-api"),
        "{live}"
    );
    let manager = payment_api_deployment(&platform, "{.metadata.managedFields[*].manager}");
    assert!(manager.contains("gitopshq"), "{manager}");
    first.wait_phase("Healthy");

    // Someone changes the image by hand: drift, with the field.
    platform.set_workload_image_by_hand(
        "payments-dev",
        "payment-api",
        "payment-api",
        "registry.example.com/payment-api:hotfix",
    );
    first.wait_for(
        "{.status.conditions[?(@.type==\"Drifted\")].status}",
        "True",
    );
    let drift = first.get("{.status.conditions[?(@.type==\"Drifted\")].message}");
    assert!(
        drift.contains("Deployment payments-dev/payment-api differs: spec.template.spec.containers[payment-api].image: want \"registry.example.com/payment-api:v1.0.0\", found \"registry.example.com/payment-api:hotfix\""),
        "{drift}"
    );
    let events = platform.event_reasons(NS, "reason=DriftDetected");
    assert!(!events.trim().is_empty(), "a DriftDetected event");

    // The next release turns autoscaling off: the HPA is pruned, the rest re-applied.
    platform.apply(
        "admin",
        &release("payment-api-no-hpa", "{autoscaling: {enabled: false}}"),
    );
    let no_hpa = platform.release(NS, "payment-api-no-hpa");
    no_hpa.wait_delivered();
    let message = no_hpa.get("{.status.timeline[?(@.phase==\"Deployed\")].message}");
    let timeline = no_hpa.get("{.status.timeline}");
    assert!(message.contains("pruned 1"), "{message}\n{timeline}");
    let left =
        ok(platform
            .workload_admin()
            .args(["-n", "payments-dev", "get", "hpa", "-o", "name"]));
    assert!(left.trim().is_empty(), "the HPA is gone: {left}");
    let image = payment_api_deployment(&platform, "{.spec.template.spec.containers[0].image}");
    assert_eq!(
        image, "registry.example.com/payment-api:v1.0.0",
        "server-side apply with force restores the delivered value"
    );
    first.wait_phase("Superseded");

    // The kubeconfig Secret goes away: the Cluster says so, and what to do.
    ok(platform.admin().args([
        "-n",
        "gitopshq-system",
        "delete",
        "secret",
        "cluster-eu-west-1",
    ]));
    platform.wait_for(
        None,
        "cluster",
        "eu-west-1",
        "{.status.phase}",
        "Unreachable",
    );
    assert_eq!(
        platform.get(
            None,
            "cluster",
            "eu-west-1",
            "{.status.conditions[?(@.type==\"Connected\")].reason}"
        ),
        "SecretNotFound"
    );
    let message = platform.get(None, "cluster", "eu-west-1", "{.status.message}");
    assert!(
        message.contains("gitopshq-system/cluster-eu-west-1 not found")
            && message.contains("gitopshq cluster register eu-west-1"),
        "{message}"
    );
    platform.register_workload_cluster("eu-west-1");
    platform.wait_for(None, "cluster", "eu-west-1", "{.status.phase}", "Connected");
    platform.stop().await;
}
