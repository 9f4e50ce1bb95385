//! A release as a compare side: the canary's values against the rest.

use super::*;
use crate::layout::{RecordedState, ReleaseAdditions, StateKey};
use gitopshq_crds::testing::from_yaml as object;

fn catalog() -> Catalog {
    let mut catalog = Catalog::default();
    catalog.projects.push(object(
        "metadata: {name: shop}\nspec: {environments: [prod], repository: {url: file:///tmp/x}}",
    ));
    catalog.chart_versions.push(object(
        "metadata: {name: web-1.0.0}
spec:
  chart: web
  version: 1.0.0
  values: {replicas: 1, tag: stable}
  templates:
    cm.yaml: |
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: '{{workload.name}}'}
      data: {tag: '{{values.tag}}', replicas: '{{values.replicas}}'}",
    ));
    catalog.workloads.push(object(
        "metadata: {name: api, namespace: shop}\nspec: {chart: web, version: 1.0.0}",
    ));
    for t in ["canary", "rest"] {
        catalog.tenants.push(object(&format!(
            "metadata: {{name: {t}, namespace: shop}}\nspec: {{environment: prod, cluster: c1, namespace: {t}}}"
        )));
    }
    catalog.releases.push(object(
        "metadata: {name: v2, namespace: shop}
spec: {title: v2, environment: prod, tenants: [canary], changes: [{workload: api, values: {tag: v2}}]}",
    ));
    // The canary already runs replicas 3 from an earlier release.
    catalog.recorded.insert(
        StateKey::new("shop", "prod", "canary", "api"),
        RecordedState {
            release: "v1".into(),
            chart: "web".into(),
            version: "1.0.0".into(),
            added: ReleaseAdditions {
                version: None,
                values: serde_json::json!({"replicas": 3})
                    .as_object()
                    .unwrap()
                    .clone(),
            },
            digest: String::new(),
        },
    );
    catalog
}

#[test]
fn a_release_side_is_its_tenant_with_the_release_applied() {
    let catalog = catalog();
    let left = Side::parse(&catalog, "shop", "release:v2", None).unwrap();
    assert_eq!(left.label(), "release v2");
    let right = Side::parse(&catalog, "shop", "rest", None).unwrap();
    let comparison = compare(&catalog, "shop", left, right, None).unwrap();
    let api = &comparison.workloads[0];
    let changed: Vec<String> = api
        .values
        .changes
        .iter()
        .map(|c| c.path.to_string())
        .collect();
    assert_eq!(changed, ["replicas", "tag"], "{:?}", api.values);
    assert!(!api.manifests.is_empty());
}

#[test]
fn a_release_side_names_a_tenant_it_targets() {
    let catalog = catalog();
    let side = Side::parse(&catalog, "shop", "release:v2", Some("rest")).unwrap();
    let error = compare(&catalog, "shop", side, Side::Tenant("rest".into()), None).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("tenant rest is not a target of release v2 (its tenants: canary)"),
        "{error}"
    );
}
