//! What a release says when the real loop cannot deliver it: Flux refuses to apply the commit
//! (the chart renders a kind the workload cluster does not serve), and a rollout that never
//! becomes available (its pods fit no node) outlives the environment's progress deadline. Each
//! ends in a Failed release whose message names the tenant, the cause and the next step, while
//! the release already running on the same tenant stays Healthy.

use gitopshq_e2e::Platform;

const NS: &str = "payment-service";
const BOOTSTRAP: &str = "payment-api-v1-0-0-dev";

/// A chart whose ServiceMonitor needs the Prometheus operator's CRDs, which the workload
/// cluster does not have, and a workload and release of it for the development tenant.
const UNSERVED_KIND: &str = r#"
apiVersion: gitopshq.io/v1alpha1
kind: Chart
metadata: {name: monitored-service}
spec:
  description: A Deployment with a Prometheus ServiceMonitor
  type: Handlebars
  owners: [platform-team]
---
apiVersion: gitopshq.io/v1alpha1
kind: ChartVersion
metadata: {name: monitored-service-1.0.0}
spec:
  chart: monitored-service
  version: 1.0.0
  values: {image: registry.example.com/metrics-api:v1.0.0}
  templates:
    deployment.yaml: |
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: {{workload.name}}}
      spec:
        replicas: 1
        selector: {matchLabels: {app.kubernetes.io/name: {{workload.name}}}}
        template:
          metadata: {labels: {app.kubernetes.io/name: {{workload.name}}}}
          spec:
            containers: [{name: app, image: {{quote values.image}}}]
    servicemonitor.yaml: |
      apiVersion: monitoring.coreos.com/v1
      kind: ServiceMonitor
      metadata: {name: {{workload.name}}}
      spec:
        selector: {matchLabels: {app.kubernetes.io/name: {{workload.name}}}}
        endpoints: [{port: http}]
---
apiVersion: gitopshq.io/v1alpha1
kind: Workload
metadata: {name: metrics-api, namespace: payment-service}
spec: {chart: monitored-service, version: 1.0.0}
---
apiVersion: gitopshq.io/v1alpha1
kind: Release
metadata: {name: metrics-api-v1-0-0-dev, namespace: payment-service}
spec:
  title: metrics-api with its ServiceMonitor
  environment: development
  tenants: [eu-development]
  changes: [{workload: metrics-api, version: 1.0.0}]
  submitted: true
"#;

/// A release of payment-api to staging whose pods ask for a node label no node has: they stay
/// Pending, the Deployment never becomes available.
const UNSCHEDULABLE: &str = r#"
apiVersion: gitopshq.io/v1alpha1
kind: Release
metadata: {name: payment-api-gpu-staging, namespace: payment-service}
spec:
  title: payment-api on GPU nodes
  environment: staging
  tenants: [eu-staging]
  changes:
    - workload: payment-api
      version: 1.0.0
      values: {replicaCount: 1, autoscaling: {enabled: false}, nodeSelector: {accelerator: gpu}}
  submitted: true
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_sync_and_a_missed_progress_deadline_fail_the_release_with_the_cause() {
    let platform = Platform::start().await;
    platform.apply("admin", &platform.example(&["bootstrap"]));
    platform.wait_for(Some(NS), "release", BOOTSTRAP, "{.status.phase}", "Healthy");

    // Flux cannot apply the commit: the cluster serves no ServiceMonitor.
    platform.apply("admin", UNSERVED_KIND);
    let release = "metrics-api-v1-0-0-dev";
    let message = platform.release(NS, release).wait_failed("SyncFailed");
    assert!(
        message.contains(&format!(
            "release {release} could not be applied to tenant eu-development: Flux could not apply commit"
        )) && message.contains("ServiceMonitor")
            && message.contains("annotate gitopshq.io/retry"),
        "{message}"
    );
    // What Flux applied before keeps running, and its release stays Healthy.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(
        platform.get(Some(NS), "release", BOOTSTRAP, "{.status.phase}"),
        "Healthy"
    );

    // A rollout that never becomes available fails once staging's deadline has passed.
    platform.apply(
        "admin",
        r##"{"apiVersion":"gitopshq.io/v1alpha1","kind":"Environment","metadata":{"name":"staging"},"spec":{"displayName":"Staging","rank":20,"color":"#f9a825","progressDeadline":"20s"}}"##,
    );
    platform.apply("admin", UNSCHEDULABLE);
    let release = "payment-api-gpu-staging";
    let message = platform
        .release(NS, release)
        .wait_failed("ProgressDeadlineExceeded");
    assert!(
        message.contains(&format!(
            "release {release} is not synced and healthy on tenant eu-staging after 20s (Environment staging spec.progressDeadline)"
        )) && message.contains("Deployment payments-staging/payment-api"),
        "{message}"
    );
    let pending = platform.workload_pods("payments-staging", "app.kubernetes.io/name=payment-api");
    assert!(
        !pending.is_empty() && pending.iter().all(|(_, ready, _, _)| !ready),
        "{pending:?}"
    );
    platform.stop().await;
}
