//! Seed scenario 6: microservice-base 1.0.0 is used by workloads in two projects; 1.1.0 adds a
//! PodDisruptionBudget; consumers per version show in `kubectl get chartversions` and the
//! Chart's status; upgrading a workload moves it to 1.1.0; deprecating 1.0.0 warns its
//! consumers.

use gitopshq_e2e::{Platform, ok};

const CHART: &str = "microservice-base";
const V1: &str = "microservice-base-1.0.0";
const V11: &str = "microservice-base-1.1.0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_versions_report_consumers_upgrades_and_deprecation() {
    let platform = Platform::start().await;
    platform.apply(
        "admin",
        &platform.example(&[
            "bootstrap",
            "chart-catalog/10-chart-1.1.0.yaml",
            "chart-catalog/20-order-service.yaml",
        ]),
    );

    // Publication checks.
    platform.wait_for(
        None,
        "chartversion",
        V11,
        "{.status.conditions[?(@.type==\"Valid\")].status}",
        "True",
    );
    let valid = platform.get(
        None,
        "chartversion",
        V11,
        "{.status.conditions[?(@.type==\"Valid\")].message}",
    );
    assert!(
        valid.contains("templates compile") && valid.contains("render 4 object(s)"),
        "{valid}"
    );
    assert!(
        platform
            .get(None, "chartversion", V11, "{.status.digest}")
            .starts_with("sha256:")
    );

    // payment-api (payment-service) and order-api (order-service), each in three environments.
    platform.wait_for(None, "chartversion", V1, "{.status.consumerCount}", "6");
    platform.wait_for(None, "chartversion", V11, "{.status.consumerCount}", "0");
    let projects = platform.get(None, "chartversion", V1, "{.status.consumers[*].project}");
    assert!(
        projects.contains("order-service") && projects.contains("payment-service"),
        "{projects}"
    );
    let table = ok(platform.admin().args(["get", "chartversions"]));
    assert!(table.contains("CONSUMERS"), "{table}");
    platform.wait_for(None, "chart", CHART, "{.status.latest}", "1.1.0");
    assert_eq!(
        platform.get(None, "chart", CHART, "{.status.versions[*].version}"),
        "1.1.0 1.0.0"
    );

    // The upgrade of payment-api in development: the commit adds the PodDisruptionBudget and
    // development now counts for 1.1.0.
    platform.wait_for(
        None,
        "project",
        "payment-service",
        "{.status.phase}",
        "Ready",
    );
    platform.apply(
        "admin",
        &platform.example(&["chart-catalog/30-upgrade.yaml"]),
    );
    platform.wait_delivered("payment-service", "payment-api-chart-1-1-0");
    let pdb = platform.file("projects/payment-service/development/eu-development/payment-api/poddisruptionbudget-payment-api.yaml");
    assert!(
        pdb.contains("kind: PodDisruptionBudget") && pdb.contains("minAvailable: 1"),
        "{pdb}"
    );
    platform.wait_for(
        Some("payment-service"),
        "workload",
        "payment-api",
        "{.status.environments.development.version}",
        "1.1.0",
    );
    platform.wait_for(None, "chartversion", V11, "{.status.consumerCount}", "1");
    platform.wait_for(None, "chartversion", V1, "{.status.consumerCount}", "5");
    platform.wait_for(None, "chart", CHART, "{.status.versions[0].consumers}", "1");

    // Deprecating 1.0.0: its consumers say so, and workloads that still name it warn.
    ok(platform.admin().args([
        "patch", "chartversion", V1, "--type=merge", "-p",
        r#"{"spec":{"deprecated":true,"deprecationMessage":"upgrade to 1.1.0 for the PodDisruptionBudget"}}"#,
    ]));
    platform.wait_for(
        None,
        "chartversion",
        V1,
        "{.status.conditions[?(@.type==\"Deprecated\")].status}",
        "True",
    );
    platform.wait_for(
        Some("order-service"),
        "workload",
        "order-api",
        "{.status.conditions[?(@.type==\"Deprecated\")].status}",
        "True",
    );
    let message = platform.get(
        Some("order-service"),
        "workload",
        "order-api",
        "{.status.conditions[?(@.type==\"Deprecated\")].message}",
    );
    assert!(
        message.contains(
            "production uses microservice-base@1.0.0, which is deprecated: upgrade to 1.1.0"
        ),
        "{message}"
    );
    let warned = platform.apply(
        "alice",
        platform
            .example(&["chart-catalog/20-order-service.yaml"])
            .replace("tag: v4.2.1", "tag: v4.2.2")
            .split("---")
            .find(|d| d.contains("kind: Workload"))
            .unwrap(),
    );
    assert!(
        warned.contains("Warning:") && warned.contains("deprecated"),
        "{warned}"
    );
    platform.wait_for(
        None,
        "chart",
        CHART,
        "{.status.versions[1].deprecated}",
        "true",
    );
    assert_eq!(
        platform.get(None, "chart", CHART, "{.status.latest}"),
        "1.1.0"
    );
    platform.stop().await;
}
