//! Releases accumulate: each starts from the state recorded by the last delivery of the same
//! workload and tenant in the same environment.

use super::*;
use crate::layout::{self, RecordedState, RecordedStates};
use gitopshq_crds::testing::from_yaml as object;

fn chart(version: &str) -> ChartVersion {
    object(&format!(
        "metadata: {{name: web-{version}}}
spec:
  chart: web
  version: {version}
  values: {{replicas: 1, image: {{repository: shop/api, tag: stable}}}}
  templates:
    deploy.yaml: |
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: {{{{workload.name}}}}
        annotations:
          chart: {{{{chart.version}}}}
      spec:
        replicas: {{{{values.replicas}}}}
        template:
          spec:
            containers:
              - name: api
                image: {{{{values.image.repository}}}}:{{{{values.image.tag}}}}"
    ))
}

fn catalog() -> Catalog {
    let mut catalog = Catalog::default();
    catalog.projects.push(object(
        "metadata: {name: shop}\nspec: {environments: [staging, prod], repository: {url: file:///tmp/x}}",
    ));
    catalog.chart_versions.push(chart("1.0.0"));
    catalog.chart_versions.push(chart("1.1.0"));
    catalog.workloads.push(object(
        "metadata: {name: api, namespace: shop}\nspec: {chart: web, version: 1.0.0, values: {replicas: 2}}",
    ));
    for (tenant, env) in [
        ("acme", "prod"),
        ("globex", "prod"),
        ("acme-stg", "staging"),
    ] {
        catalog.tenants.push(object(&format!(
            "metadata: {{name: {tenant}, namespace: shop}}\nspec: {{environment: {env}, cluster: c1, namespace: {tenant}}}"
        )));
    }
    catalog
}

fn release(name: &str, env: &str, tenants: &[&str], change: &str) -> Release {
    object(&format!(
        "metadata: {{name: {name}, namespace: shop}}
spec:
  title: {name}
  environment: {env}
  tenants: [{}]
  changes: [{{workload: api, {change}}}]",
        tenants.join(", ")
    ))
}

/// Renders `release` against the recorded states, records what it delivered, and returns the
/// rendered Deployment of each tenant.
fn deliver(catalog: &mut Catalog, release: &Release) -> BTreeMap<String, String> {
    let targets = release_targets(catalog, release).unwrap();
    let rendered = render_target_files(catalog, targets).unwrap();
    let mut out = BTreeMap::new();
    let mut recorded = RecordedStates::new();
    for r in rendered {
        let state = r
            .state
            .clone()
            .expect("a tenant's target records its state");
        recorded.insert(
            StateKey::new(&r.project, &r.environment, &r.tenant, &r.workload),
            state,
        );
        let yaml: String = r
            .files
            .iter()
            .map(|f| String::from_utf8(f.yaml.clone()).unwrap())
            .collect();
        out.insert(r.tenant, yaml);
    }
    catalog.recorded.extend(recorded);
    out
}

#[test]
fn a_later_release_keeps_what_earlier_ones_set() {
    let mut catalog = catalog();
    let all = ["acme", "globex"];
    deliver(
        &mut catalog,
        &release("r1", "prod", &all, "values: {image: {tag: abc1234}}"),
    );
    let second = deliver(
        &mut catalog,
        &release("r2", "prod", &all, "values: {replicas: 5}"),
    );
    assert!(
        second["acme"].contains("image: shop/api:abc1234"),
        "{}",
        second["acme"]
    );
    assert!(second["acme"].contains("replicas: 5"), "{}", second["acme"]);
    let third = deliver(&mut catalog, &release("r3", "prod", &all, "version: 1.1.0"));
    let acme = &third["acme"];
    assert!(acme.contains("chart: 1.1.0"), "{acme}");
    assert!(
        acme.contains("image: shop/api:abc1234") && acme.contains("replicas: 5"),
        "{acme}"
    );
    let state = &catalog.recorded[&StateKey::new("shop", "prod", "acme", "api")];
    assert_eq!(state.release, "r3");
    assert_eq!(state.version, "1.1.0");
    assert_eq!(state.added.version.as_deref(), Some("1.1.0"));
    assert_eq!(
        serde_json::Value::Object(state.added.values.clone()),
        serde_json::json!({"image": {"tag": "abc1234"}, "replicas": 5})
    );
    // The version a release pinned stays until another release sets one.
    let fourth = deliver(
        &mut catalog,
        &release("r4", "prod", &all, "values: {replicas: 3}"),
    );
    assert!(
        fourth["acme"].contains("chart: 1.1.0"),
        "{}",
        fourth["acme"]
    );
}

#[test]
fn unset_drops_an_accumulated_value_back_to_the_workload() {
    let mut catalog = catalog();
    let all = ["acme", "globex"];
    deliver(
        &mut catalog,
        &release(
            "r1",
            "prod",
            &all,
            "values: {image: {tag: abc1234}, replicas: 4}",
        ),
    );
    let dropped = deliver(
        &mut catalog,
        &release("r2", "prod", &all, "unset: [image.tag]"),
    );
    assert!(
        dropped["acme"].contains("image: shop/api:stable"),
        "{}",
        dropped["acme"]
    );
    assert!(
        dropped["acme"].contains("replicas: 4"),
        "{}",
        dropped["acme"]
    );
    let state = &catalog.recorded[&StateKey::new("shop", "prod", "acme", "api")];
    assert_eq!(
        serde_json::Value::Object(state.added.values.clone()),
        serde_json::json!({"replicas": 4})
    );
}

#[test]
fn null_deletes_a_key_and_keeps_it_deleted() {
    let mut catalog = catalog();
    let all = ["acme", "globex"];
    deliver(
        &mut catalog,
        &release("r1", "prod", &all, "values: {image: {tag: v2}}"),
    );
    // The state records the deletion, so every later release renders without the key.
    let key = StateKey::new("shop", "prod", "acme", "api");
    let deleting = release("r2", "prod", &all, "values: {image: {tag: null}}");
    let added = release_additions(
        catalog.recorded.get(&key),
        Some(&deleting.spec.changes[0]),
        false,
    );
    assert_eq!(
        serde_json::Value::Object(added.values.clone()),
        serde_json::json!({"image": {"tag": null}})
    );
    let later = release("r3", "prod", &all, "values: {replicas: 3}");
    let state = RecordedState {
        added,
        ..catalog.recorded[&key].clone()
    };
    let carried = release_additions(Some(&state), Some(&later.spec.changes[0]), false);
    assert_eq!(
        serde_json::Value::Object(carried.values),
        serde_json::json!({"image": {"tag": null}, "replicas": 3})
    );
    // The render deletes it (the strict template then names the missing value).
    let error = release_targets(&catalog, &deleting)
        .and_then(|targets| render_target_files(&catalog, targets))
        .unwrap_err();
    assert!(error.to_string().contains("cannot render"), "{error}");
    assert!(
        format!("{error:?}").contains("values.image.tag is missing"),
        "{error:?}"
    );
}

#[test]
fn state_is_per_tenant_and_per_environment() {
    let mut catalog = catalog();
    deliver(
        &mut catalog,
        &release(
            "canary",
            "prod",
            &["acme"],
            "values: {image: {tag: canary1}}",
        ),
    );
    deliver(
        &mut catalog,
        &release(
            "stg",
            "staging",
            &["acme-stg"],
            "values: {image: {tag: stg1}}",
        ),
    );
    let rest = deliver(
        &mut catalog,
        &release("r2", "prod", &["acme", "globex"], "values: {replicas: 3}"),
    );
    assert!(rest["acme"].contains(":canary1"), "{}", rest["acme"]);
    assert!(rest["globex"].contains(":stable"), "{}", rest["globex"]);
}

#[test]
fn a_folder_rendered_from_another_chart_carries_nothing_over() {
    let mut catalog = catalog();
    deliver(
        &mut catalog,
        &release("r1", "prod", &["acme"], "values: {image: {tag: abc1234}}"),
    );
    for state in catalog.recorded.values_mut() {
        state.chart = "other".into();
    }
    let next = deliver(
        &mut catalog,
        &release("r2", "prod", &["acme"], "values: {replicas: 3}"),
    );
    assert!(next["acme"].contains(":stable"), "{}", next["acme"]);
}

#[test]
fn the_state_file_round_trips_through_the_layout() {
    let mut catalog = catalog();
    let release = release("r1", "prod", &["acme"], "values: {image: {tag: abc1234}}");
    let targets = release_targets(&catalog, &release).unwrap();
    let rendered = render_target_files(&catalog, targets).unwrap();
    let request = layout_request(
        &catalog,
        "shop",
        "prod",
        rendered,
        repository_ref(&catalog, "shop", None).unwrap(),
        GitOpsSettings::default(),
    )
    .unwrap();
    let laid_out = layout::release_layout(&request).unwrap();
    let path = layout::state_path("projects/shop", "prod", "acme", "api");
    let bytes = &laid_out.files[&path];
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.starts_with("# What produced workload api of tenant acme"),
        "{text}"
    );
    let kustomization = &laid_out.files["projects/shop/prod/acme/api/kustomization.yaml"];
    assert!(
        !String::from_utf8_lossy(kustomization).contains(layout::STATE_FILE),
        "the state is not a kustomize resource"
    );
    let read = layout::recorded_states("shop", "projects/shop", &laid_out.files).unwrap();
    let state = &read[&StateKey::new("shop", "prod", "acme", "api")];
    assert_eq!(state.release, "r1");
    assert_eq!(state.version, "1.0.0");
    catalog.recorded = read;
    let unreadable: BTreeMap<String, Vec<u8>> = [(path.clone(), b"release: [".to_vec())]
        .into_iter()
        .collect();
    let error = layout::recorded_states("shop", "projects/shop", &unreadable).unwrap_err();
    assert!(error.to_string().contains(&path), "{error}");
}
