//! `Environment.spec.promotion` and what a promotion carries.

use gitopshq_crds::common::Time;
use gitopshq_crds::release::{ReleaseStatus, TimelineEntry};
use gitopshq_crds::testing::from_yaml as object;

use super::*;
use crate::catalog::Catalog;
use crate::layout::{RecordedState, ReleaseAdditions, StateKey};

fn at(minutes: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + minutes * 60).unwrap()
}

fn release(name: &str, env: &str, kind: &str, values: &str) -> Release {
    object(&format!(
        "metadata: {{name: {name}, namespace: shop}}
spec: {{title: {name}, environment: {env}, type: {kind}, changes: [{{workload: api, values: {values}}}]}}"
    ))
}

fn healthy(mut release: Release, since: i64) -> Release {
    release.status = Some(ReleaseStatus {
        phase: Some(ReleasePhase::Healthy),
        timeline: vec![TimelineEntry {
            time: Time(at(since)),
            phase: ReleasePhase::Healthy,
            message: None,
            actor: None,
        }],
        ..ReleaseStatus::default()
    });
    release
}

fn state(release: &str, values: serde_json::Value) -> RecordedState {
    RecordedState {
        release: release.into(),
        chart: "web".into(),
        version: "1.0.0".into(),
        added: ReleaseAdditions {
            version: None,
            values: values.as_object().unwrap().clone(),
        },
        digest: "sha256:x".into(),
    }
}

/// staging runs release s1 (image.tag abc), Healthy since minute 0; production takes only
/// what ran Healthy in staging for 30m.
fn catalog() -> Catalog {
    let mut catalog = Catalog::default();
    catalog.projects.push(object(
        "metadata: {name: shop}\nspec: {environments: [staging, production], repository: {url: file:///tmp/x}}",
    ));
    catalog
        .environments
        .push(object("metadata: {name: staging}\nspec: {rank: 20}"));
    catalog.environments.push(object(
        "metadata: {name: production}\nspec: {rank: 30, promotion: {from: staging, soak: 30m}}",
    ));
    catalog.chart_versions.push(object(
        "metadata: {name: web-1.0.0}\nspec: {chart: web, version: 1.0.0, templates: {}}",
    ));
    catalog.workloads.push(object(
        "metadata: {name: api, namespace: shop}\nspec: {chart: web, version: 1.0.0}",
    ));
    for (tenant, env) in [("stg", "staging"), ("prod", "production")] {
        catalog.tenants.push(object(&format!(
            "metadata: {{name: {tenant}, namespace: shop}}\nspec: {{environment: {env}, cluster: c1, namespace: {tenant}}}"
        )));
    }
    catalog.releases.push(healthy(
        release("s1", "staging", "Deploy", "{image: {tag: abc}}"),
        0,
    ));
    catalog.recorded.insert(
        StateKey::new("shop", "staging", "stg", "api"),
        state("s1", serde_json::json!({"image": {"tag": "abc"}})),
    );
    catalog
}

#[test]
fn a_state_healthy_in_from_is_admitted_after_the_soak() {
    let catalog = catalog();
    let deploy = release("p1", "production", "Deploy", "{image: {tag: abc}}");
    match promotion_from_gate(&catalog, &deploy, at(10)) {
        FromGate::Soaking { until, message } => {
            assert_eq!(until, at(30));
            assert!(
                message.contains("api for tenant prod") && message.contains("10m of the 30m soak"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        promotion_from_gate(&catalog, &deploy, at(31)),
        FromGate::Open
    );
}

#[test]
fn a_state_that_never_ran_in_from_is_refused_naming_what_differs() {
    let catalog = catalog();
    let deploy = release("p2", "production", "Deploy", "{image: {tag: def}}");
    let FromGate::Refused { message } = promotion_from_gate(&catalog, &deploy, at(60)) else {
        panic!("refused");
    };
    assert!(
        message.contains("image.tag=def")
            && message.contains("stg runs release s1")
            && message.contains("image.tag def here, abc there"),
        "{message}"
    );
}

#[test]
fn a_deploy_merges_onto_what_runs_and_a_promotion_replaces_it() {
    let mut catalog = catalog();
    catalog.recorded.insert(
        StateKey::new("shop", "production", "prod", "api"),
        state("old", serde_json::json!({"replicas": 3})),
    );
    let deploy = release("p3", "production", "Deploy", "{image: {tag: abc}}");
    let FromGate::Refused { message } = promotion_from_gate(&catalog, &deploy, at(60)) else {
        panic!("a Deploy keeps replicas=3, which staging never ran");
    };
    assert!(
        message.contains("replicas 3 here, unset there"),
        "{message}"
    );
    let promoted = release("p4", "production", "Promotion", "{image: {tag: abc}}");
    assert_eq!(
        promotion_from_gate(&catalog, &promoted, at(60)),
        FromGate::Open
    );
}

#[test]
fn a_source_that_is_not_healthy_does_not_count_and_rollbacks_pass() {
    let mut catalog = catalog();
    catalog.releases[0].status.as_mut().unwrap().phase = Some(ReleasePhase::Degraded);
    let deploy = release("p5", "production", "Deploy", "{image: {tag: abc}}");
    let FromGate::Refused { message } = promotion_from_gate(&catalog, &deploy, at(60)) else {
        panic!("refused");
    };
    assert!(
        message.contains("not Healthy there: stg (release s1, Degraded)"),
        "{message}"
    );
    let rollback = release("p6", "production", "Rollback", "{}");
    assert_eq!(
        promotion_from_gate(&catalog, &rollback, at(60)),
        FromGate::Open
    );
}

#[test]
fn a_promotion_carries_the_state_its_source_recorded() {
    let catalog = catalog();
    let source = &catalog.releases[0];
    let changes = carried_changes(&catalog, source, None).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].workload, "api");
    assert_eq!(
        serde_json::Value::Object(changes[0].values.clone()),
        serde_json::json!({"image": {"tag": "abc"}})
    );
    let mut replaced = catalog.clone();
    replaced
        .recorded
        .values_mut()
        .for_each(|s| s.release = "s2".into());
    let problem = carried_changes(&replaced, source, None).unwrap_err();
    assert!(
        problem.contains("no longer runs in any tenant of staging"),
        "{problem}"
    );
}
