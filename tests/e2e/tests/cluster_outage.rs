//! A workload cluster's API server stops: the Cluster turns Disconnected and its tenants'
//! health Unknown (never the last value seen, and the Healthy release running there is not
//! failed for it); when the API server answers again, the same controller sees the Cluster
//! Connected and the tenants Healthy, without a restart.

use std::time::Duration;

use gitopshq_e2e::{Platform, ok};

const NS: &str = "payment-service";
const RELEASE: &str = "payment-api-v1-0-0-dev";
const TENANT: &str = "eu-development";
const CLUSTER: &str = "eu-west-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_cluster_outage_turns_its_tenants_unknown_and_recovers_without_a_restart() {
    let mut platform = Platform::start().await;
    platform.apply("admin", &platform.example(&["bootstrap"]));
    platform.wait_for(Some(NS), "release", RELEASE, "{.status.phase}", "Healthy");
    platform.wait_for(Some(NS), "tenant", TENANT, "{.status.health}", "Healthy");
    platform.wait_for(None, "cluster", CLUSTER, "{.status.phase}", "Connected");

    // A kubeconfig that authenticates with an exec plugin (EKS's) is reported, not run.
    platform.apply(
        "admin",
        r#"apiVersion: v1
kind: Secret
metadata: {name: cluster-eks-prod, namespace: gitopshq-system}
stringData:
  kubeconfig: |
    apiVersion: v1
    kind: Config
    clusters: [{name: eks, cluster: {server: "https://eks.example.com"}}]
    users: [{name: eks, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws, args: [eks, get-token, --cluster-name, prod]}}}]
    contexts: [{name: eks, context: {cluster: eks, user: eks}}]
    current-context: eks
---
apiVersion: gitopshq.io/v1alpha1
kind: Cluster
metadata: {name: eks-prod}
spec:
  kubeconfigSecretRef: {namespace: gitopshq-system, name: cluster-eks-prod}
"#,
    );
    platform.wait_for(
        None,
        "cluster",
        "eks-prod",
        "{.status.conditions[?(@.type==\"Connected\")].reason}",
        "ExecPluginUnsupported",
    );
    let message = platform.get(None, "cluster", "eks-prod", "{.status.message}");
    assert!(
        message.contains("exec credential plugin \"aws\"")
            && message.contains("gitopshq cluster register eks-prod --context CTX"),
        "{message}"
    );
    assert_eq!(
        platform.get(None, "cluster", "eks-prod", "{.status.phase}"),
        "Unreachable"
    );

    // The outage.
    platform.workload.stop_apiserver();
    platform.wait_for(None, "cluster", CLUSTER, "{.status.phase}", "Disconnected");
    let message = platform.get(None, "cluster", CLUSTER, "{.status.message}");
    assert!(
        message.starts_with("API server of cluster eu-west-1 does not answer")
            && message.contains(
                "the health of its tenants is Unknown until cluster eu-west-1 answers again"
            ),
        "{message}"
    );
    assert_eq!(
        platform.get(
            None,
            "cluster",
            CLUSTER,
            "{.status.conditions[?(@.type==\"Connected\")].reason}"
        ),
        "Disconnected"
    );
    let events = ok(platform.admin().args([
        "get",
        "events",
        "-A",
        "--field-selector",
        "reason=Disconnected,type=Warning",
        "-o",
        "jsonpath={.items[*].involvedObject.name}",
    ]));
    assert!(
        events.contains(CLUSTER),
        "a Warning event names the cluster: {events:?}"
    );

    // What runs there is unseen: Unknown, not the Healthy seen last.
    platform.wait_for(Some(NS), "tenant", TENANT, "{.status.health}", "Unknown");
    let path = format!("{{.status.tenants[?(@.name==\"{TENANT}\")].message}}");
    let said = platform.wait_until(
        Some(NS),
        "release",
        RELEASE,
        &path,
        |m| m.starts_with("cluster eu-west-1 is Disconnected"),
        "the tenant's message naming the disconnected cluster",
    );
    assert!(said.contains("does not answer"), "{said}");
    // The release that runs there is not failed for an outage it did not cause.
    assert_eq!(
        platform.get(Some(NS), "release", RELEASE, "{.status.phase}"),
        "Healthy"
    );

    // The API server answers again: the same controller sees it, no restart.
    platform
        .workload
        .restart_apiserver(Duration::from_secs(120))
        .await
        .expect("the workload API server starts again");
    platform.wait_for(None, "cluster", CLUSTER, "{.status.phase}", "Connected");
    platform.wait_for(Some(NS), "tenant", TENANT, "{.status.health}", "Healthy");
    assert_eq!(
        platform.get(Some(NS), "release", RELEASE, "{.status.phase}"),
        "Healthy"
    );

    // A new kubeconfig in the Cluster's Secret (a rotated token) reaches the copy Flux reads at
    // once: the Secret's change is watched, not waited for until the project's resync (5 min).
    let rotated = format!(
        "{}\n# rotated\n",
        platform
            .workload
            .admin_kubeconfig_yaml()
            .expect("kubeconfig")
    );
    let file = platform.dir().join("rotated.kubeconfig");
    std::fs::write(&file, rotated).expect("write");
    let secret = ok(platform.admin().args([
        "-n",
        "gitopshq-system",
        "create",
        "secret",
        "generic",
        "cluster-eu-west-1",
        &format!("--from-file=kubeconfig={}", file.display()),
        "--dry-run=client",
        "-o",
        "yaml",
    ]));
    platform.apply("admin", &secret);
    platform.wait_until(
        Some("flux-system"),
        "secret",
        "gitopshq-kubeconfig-eu-west-1",
        "{.data.value}",
        |value| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(value)
                .is_ok_and(|copy| String::from_utf8_lossy(&copy).contains("# rotated"))
        },
        "the rotated kubeconfig in Flux's copy",
    );
    platform.wait_for(None, "cluster", CLUSTER, "{.status.phase}", "Connected");

    platform.stop().await;
}
