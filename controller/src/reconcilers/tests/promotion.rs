use std::sync::Arc;
use std::time::Duration;

use gitopshq_crds::consts::{labels, reasons};
use gitopshq_crds::promotion::Promotion;
use gitopshq_crds::release::Release;
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::testing::from_json;
use http::{Method, StatusCode};
use kube::runtime::controller::Action;
use serde_json::json;

use crate::index::Index;
use crate::mock_api::{self, Reply, Scenario, Seen};
use crate::reconcilers::promotion::reconcile;

const RELEASES: &str = "/apis/gitopshq.io/v1alpha1/namespaces/shop/releases";

/// Promotion `p` of release `r1` to production, one batch `canary` of tenant `eu-1`.
fn promotion() -> Promotion {
    let mut promotion = Promotion::test("p", "shop", "r1", &[("canary", &["eu-1"])]);
    promotion.spec.to_environment = Some("production".into());
    promotion
}

/// Release `r1` of staging, Healthy once; tenant `eu-1` of production.
fn healthy_source() -> Index {
    let mut source = Release::test("r1", "shop").submitted();
    source.status = Some(from_json(json!({
        "phase": "Healthy",
        "timeline": [{"time": "2026-12-01T09:00:00Z", "phase": "Healthy"}],
    })));
    let mut index = Index::new();
    index.releases.insert(source);
    index
        .tenants
        .insert(Tenant::test("eu-1", "shop", "production", "eu"));
    index
}

async fn run(index: Index, promotion: Promotion, scenario: Scenario) -> (Action, Vec<Seen>) {
    let cache = tempfile::tempdir().unwrap();
    let (ctx, server) = mock_api::context(index, cache.path());
    let verifier = server.run(scenario);
    let action = reconcile(Arc::new(promotion), ctx).await;
    let seen = verifier.finish().await;
    (action.expect("the reconciliation succeeds"), seen)
}

#[tokio::test]
async fn a_promotion_of_a_missing_release_fails_and_says_which() {
    let promotion = promotion();
    let scenario = Scenario::new().status_patch(&promotion);

    let (_, seen) = run(Index::new(), promotion, scenario).await;

    let status = &seen[0].body["status"];
    assert_eq!(status["phase"], "Failed");
    assert_eq!(
        status["message"],
        "source release r1 does not exist; create it or fix spec.release"
    );
}

#[tokio::test]
async fn the_first_batch_release_is_created_and_announced() {
    let promotion = promotion();
    let scenario = Scenario::new()
        .expect(Method::POST, RELEASES, Reply::Echo)
        .event("shop")
        .status_patch(&promotion);

    let (action, seen) = run(healthy_source(), promotion, scenario).await;

    let created = &seen[0].body;
    assert_eq!(created["metadata"]["name"], "p-b1-canary");
    assert_eq!(created["metadata"]["labels"][labels::PROMOTION], "p");
    assert_eq!(created["spec"]["environment"], "production");
    assert_eq!(created["spec"]["tenants"], json!(["eu-1"]));
    let event = &seen[1].body;
    assert_eq!(event["reason"], reasons::BATCH_STARTED);
    assert_eq!(event["note"], "created release p-b1-canary for eu-1");
    let status = &seen[2].body["status"];
    assert_eq!(status["phase"], "Progressing");
    assert_eq!(status["currentBatch"], "canary");
    assert_eq!(status["batches"][0]["release"], "p-b1-canary");
    assert_eq!(status["progress"], "0/1");
    assert_eq!(action, Action::requeue(Duration::from_secs(60)));
}

#[tokio::test]
async fn a_batch_release_refused_by_admission_waits_and_says_why() {
    let promotion = promotion();
    let scenario = Scenario::new()
        .expect(
            Method::POST,
            RELEASES,
            Reply::Error(
                StatusCode::FORBIDDEN,
                "production is frozen until 18:00 UTC".into(),
            ),
        )
        .status_patch(&promotion)
        .event("shop");

    let (action, seen) = run(healthy_source(), promotion, scenario).await;

    let status = &seen[1].body["status"];
    // The batch is not recorded as started: the next attempt creates its release again.
    assert!(
        status.get("batches").is_none_or(|b| b == &json!([])),
        "{status:#}"
    );
    assert_eq!(
        status["message"],
        "batch release p-b1-canary was refused: production is frozen until 18:00 UTC"
    );
    let event = &seen[2].body;
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["reason"], reasons::BATCH_REFUSED);
    assert_eq!(action, Action::requeue(Duration::from_secs(30)));
}

#[tokio::test]
async fn a_degraded_batch_pauses_the_promotion() {
    let mut promotion = promotion();
    promotion.status = Some(from_json(json!({
        "phase": "Progressing",
        "batches": [{
            "name": "canary",
            "phase": "Deploying",
            "release": "p-b1-canary",
            "tenants": ["eu-1"],
        }],
    })));
    let mut index = healthy_source();
    let mut batch = Release::test("p-b1-canary", "shop").submitted();
    batch.metadata.labels = Some([(labels::PROMOTION.to_string(), "p".to_string())].into());
    batch.status = Some(from_json(json!({
        "phase": "Degraded",
        "message": "eu-1: api crash-looping",
    })));
    index.releases.insert(batch);
    let scenario = Scenario::new()
        .expect(
            Method::PATCH,
            "/apis/gitopshq.io/v1alpha1/namespaces/shop/promotions/p",
            Reply::Json(serde_json::to_value(&promotion).unwrap()),
        )
        .event("shop")
        .status_patch(&promotion);

    let (_, seen) = run(index, promotion, scenario).await;

    assert_eq!(seen[0].body, json!({"spec": {"paused": true}}));
    let event = &seen[1].body;
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["reason"], reasons::PAUSED);
    let status = &seen[2].body["status"];
    assert_eq!(status["phase"], "Paused");
    assert_eq!(status["batches"][0]["phase"], "Degraded");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("eu-1: api crash-looping"),
        "{status:#}"
    );
}

#[tokio::test]
async fn a_promotion_being_deleted_is_left_alone() {
    let mut promotion = promotion();
    promotion.metadata.deletion_timestamp = Some(from_json(json!("2026-12-01T09:59:00Z")));

    let (action, seen) = run(healthy_source(), promotion, Scenario::new()).await;

    assert!(seen.is_empty());
    assert_eq!(action, Action::await_change());
}
