use std::sync::Arc;

use gitopshq_crds::chart::Chart;
use gitopshq_crds::chart_version::ChartVersion;
use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_crds::project::Project;
use gitopshq_crds::workload::Workload;
use kube::runtime::controller::Action;
use serde_json::Value;

use super::condition;
use crate::index::Index;
use crate::mock_api::{self, Scenario, Seen};
use crate::reconcilers::chart::{reconcile_chart, reconcile_version, reconcile_workload};

/// Project `shop` (staging and production) and its workload `api` on `web` 1.0.0.
fn shop() -> Index {
    let mut index = Index::new();
    index.projects.insert(Project::test("shop", ""));
    index
        .workloads
        .insert(Workload::test("api", "shop", "web", "1.0.0"));
    index
}

/// Runs `reconcile` over a mocked context reading `index`; returns what it sent.
async fn run<F, Fut>(index: Index, scenario: Scenario, reconcile: F) -> Vec<Seen>
where
    F: FnOnce(Arc<crate::context::Context>) -> Fut,
    Fut: std::future::Future<Output = crate::error::Result<Action>>,
{
    let cache = tempfile::tempdir().unwrap();
    let (ctx, server) = mock_api::context(index, cache.path());
    let verifier = server.run(scenario);
    let action = reconcile(ctx).await;
    let seen = verifier.finish().await;
    assert_eq!(
        action.expect("the reconciliation succeeds"),
        Action::await_change()
    );
    seen
}

async fn version_status(index: Index, cv: ChartVersion) -> Value {
    let scenario = Scenario::new().status_patch(&cv);
    let mut seen = run(index, scenario, |ctx| reconcile_version(Arc::new(cv), ctx)).await;
    seen.remove(0).body["status"].take()
}

#[tokio::test]
async fn a_published_version_lists_the_workloads_that_use_it() {
    let status = version_status(shop(), ChartVersion::test("web", "1.0.0")).await;

    assert!(status["digest"].as_str().is_some_and(|d| !d.is_empty()));
    // One workload, in each of the project's two environments.
    assert_eq!(status["consumerCount"], 2);
    assert_eq!(status["consumers"][0]["project"], "shop");
    assert_eq!(status["consumers"][0]["workload"], "api");
    let valid = condition(&status, types::VALID);
    assert_eq!(valid["status"], "True");
    assert_eq!(valid["reason"], reasons::PUBLISHED);
    assert_eq!(condition(&status, types::DEPRECATED)["status"], "False");
}

#[tokio::test]
async fn a_version_whose_templates_do_not_render_fails_publication() {
    let mut cv = ChartVersion::test("web", "1.1.0");
    cv.spec.templates.insert(
        "broken.yaml".into(),
        "kind: ConfigMap\ndata: {{values.missing.deeper}}\n".into(),
    );

    let status = version_status(shop(), cv).await;

    assert_eq!(status["consumerCount"], 0);
    let valid = condition(&status, types::VALID);
    assert_eq!(valid["status"], "False");
    assert_eq!(valid["reason"], reasons::PUBLICATION_FAILED);
    assert!(
        valid["message"]
            .as_str()
            .unwrap()
            .ends_with("publish a fixed version (published versions are immutable)"),
        "{valid}"
    );
    assert_eq!(condition(&status, types::READY)["status"], "False");
}

#[tokio::test]
async fn a_deprecated_version_says_why() {
    let mut cv = ChartVersion::test("web", "1.0.0");
    cv.spec.deprecated = true;
    cv.spec.deprecation_message = Some("CVE-2026-1234: upgrade to 1.1.0".into());

    let status = version_status(shop(), cv).await;

    let deprecated = condition(&status, types::DEPRECATED);
    assert_eq!(deprecated["status"], "True");
    assert_eq!(deprecated["reason"], reasons::CHART_DEPRECATED);
    assert_eq!(deprecated["message"], "CVE-2026-1234: upgrade to 1.1.0");
}

#[tokio::test]
async fn a_chart_lists_its_versions_and_the_latest() {
    let mut index = shop();
    index
        .chart_versions
        .insert(ChartVersion::test("web", "1.0.0"));
    index
        .chart_versions
        .insert(ChartVersion::test("web", "1.1.0"));
    // Another chart's version is not listed.
    index
        .chart_versions
        .insert(ChartVersion::test("worker", "2.0.0"));
    let chart = Chart::test("web");
    let scenario = Scenario::new().status_patch(&chart);

    let seen = run(index, scenario, |ctx| reconcile_chart(Arc::new(chart), ctx)).await;

    let status = &seen[0].body["status"];
    assert_eq!(status["latest"], "1.1.0");
    let versions: Vec<(&str, i64)> = status["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap(),
                v["consumers"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(versions.contains(&("1.0.0", 2)), "{versions:?}");
    assert!(versions.contains(&("1.1.0", 0)), "{versions:?}");
    assert_eq!(versions.len(), 2);
    let ready = condition(status, types::READY);
    assert_eq!(ready["status"], "True");
    assert_eq!(ready["message"], "2 version(s); latest 1.1.0");
}

#[tokio::test]
async fn a_chart_without_versions_asks_for_one() {
    let chart = Chart::test("web");
    let scenario = Scenario::new().status_patch(&chart);

    let seen = run(shop(), scenario, |ctx| {
        reconcile_chart(Arc::new(chart), ctx)
    })
    .await;

    let ready = condition(&seen[0].body["status"], types::READY);
    assert_eq!(ready["status"], "False");
    assert_eq!(
        ready["message"],
        "no published version yet: publish a ChartVersion"
    );
}

#[tokio::test]
async fn a_workload_on_a_deprecated_version_is_warned_once() {
    let mut index = shop();
    let mut cv = ChartVersion::test("web", "1.0.0");
    cv.spec.deprecated = true;
    index.chart_versions.insert(cv);
    let workload = Workload::test("api", "shop", "web", "1.0.0");
    let scenario = Scenario::new().status_patch(&workload).event("shop");

    let seen = run(index, scenario, |ctx| {
        reconcile_workload(Arc::new(workload), ctx)
    })
    .await;

    let status = &seen[0].body["status"];
    assert_eq!(condition(status, types::DEPRECATED)["status"], "True");
    assert_eq!(condition(status, types::VALID)["status"], "True");
    let event = &seen[1].body;
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["reason"], reasons::CHART_DEPRECATED);
    assert_eq!(event["regarding"]["name"], "api");
}

#[tokio::test]
async fn a_workload_on_an_unpublished_version_is_not_valid() {
    let workload = Workload::test("api", "shop", "web", "9.9.9");
    let scenario = Scenario::new().status_patch(&workload);

    // No ChartVersion in the index; and no Event, since nothing is deprecated.
    let seen = run(shop(), scenario, |ctx| {
        reconcile_workload(Arc::new(workload), ctx)
    })
    .await;

    let valid = condition(&seen[0].body["status"], types::VALID);
    assert_eq!(valid["status"], "False");
    assert_eq!(valid["reason"], reasons::NOT_FOUND);
}
