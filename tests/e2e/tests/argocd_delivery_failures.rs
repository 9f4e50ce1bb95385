//! What a release says when Argo CD refuses to sync it, and what that refusal protects: a chart
//! that renders an object into another tenant's namespace gets past rendering (Flux's
//! `targetNamespace` would pull it back into the tenant's), but the tenant's AppProject allows
//! only the tenant's namespace on the tenant's cluster. Argo CD refuses the whole sync, the
//! release fails with Argo CD's own words, the other namespace is untouched, and what ran
//! before keeps running.

use gitopshq_e2e::{Engine, Platform};

const NS: &str = "payment-service";
const BOOTSTRAP: &str = "payment-api-v1-0-0-dev";
const RELEASE: &str = "grabby-v1-0-0-dev";

/// A chart whose ConfigMap names the staging tenant's namespace, and a release of it for the
/// development tenant.
const OTHER_NAMESPACE: &str = r#"
apiVersion: gitopshq.io/v1alpha1
kind: Chart
metadata: {name: grabby}
spec:
  description: A ConfigMap written into a namespace of its choosing
  type: Handlebars
  owners: [platform-team]
---
apiVersion: gitopshq.io/v1alpha1
kind: ChartVersion
metadata: {name: grabby-1.0.0}
spec:
  chart: grabby
  version: 1.0.0
  values: {}
  templates:
    configmap.yaml: |
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: {{workload.name}}, namespace: payments-staging}
      data: {planted: "yes"}
---
apiVersion: gitopshq.io/v1alpha1
kind: Workload
metadata: {name: grabby, namespace: payment-service}
spec: {chart: grabby, version: 1.0.0}
---
apiVersion: gitopshq.io/v1alpha1
kind: Release
metadata: {name: grabby-v1-0-0-dev, namespace: payment-service}
spec:
  title: grabby into staging's namespace
  environment: development
  tenants: [eu-development]
  changes: [{workload: grabby, version: 1.0.0}]
  submitted: true
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argo_cd_refuses_another_tenants_namespace_and_the_release_fails_with_its_message() {
    let platform = Platform::start_with(Engine::ArgoCd).await;
    platform.apply("admin", &platform.example(&["bootstrap"]));
    platform.wait_for(Some(NS), "release", BOOTSTRAP, "{.status.phase}", "Healthy");

    platform.apply("admin", OTHER_NAMESPACE);
    let message = platform.release(NS, RELEASE).wait_failed("SyncFailed");
    assert!(
        message.contains(&format!(
            "release {RELEASE} could not be applied to tenant eu-development: Argo CD could not sync commit"
        )) && message.contains("ConfigMap payments-staging/grabby")
            && message.contains("namespace payments-staging is not permitted in project")
            && message.contains("annotate gitopshq.io/retry"),
        "{message}"
    );
    let planted = platform
        .workload_admin()
        .args(["-n", "payments-staging", "get", "configmap", "grabby"])
        .output()
        .expect("kubectl runs");
    assert!(
        !planted.status.success(),
        "nothing reached the other namespace: {}",
        String::from_utf8_lossy(&planted.stdout)
    );

    // What Argo CD applied before keeps running, and its release stays Healthy.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(
        platform.get(Some(NS), "release", BOOTSTRAP, "{.status.phase}"),
        "Healthy"
    );
    assert_eq!(
        platform.workload_get(
            "payments-dev",
            "deployment",
            "payment-api",
            "{.status.availableReplicas}"
        ),
        "1"
    );
    platform.stop().await;
}
