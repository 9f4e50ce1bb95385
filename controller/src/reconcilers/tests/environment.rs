use std::sync::Arc;
use std::time::Duration;

use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_crds::environment::{Environment, EnvironmentStatus};
use gitopshq_crds::testing::from_json;
use kube::runtime::controller::Action;
use serde_json::json;

use super::condition;
use crate::index::Index;
use crate::mock_api::{self, Scenario};
use crate::reconcilers::environment::reconcile;

/// Reconciles `environment` against `scenario`; returns the action and the requests sent.
async fn run(environment: Environment, scenario: Scenario) -> (Action, Vec<mock_api::Seen>) {
    let cache = tempfile::tempdir().unwrap();
    let (ctx, server) = mock_api::context(Index::new(), cache.path());
    let verifier = server.run(scenario);
    let action = reconcile(Arc::new(environment), ctx).await;
    let seen = verifier.finish().await;
    (action.expect("the reconciliation succeeds"), seen)
}

#[tokio::test]
async fn an_environment_without_windows_is_open_and_looked_at_again_in_an_hour() {
    let environment = Environment::test("staging");
    let scenario = Scenario::new().status_patch(&environment);

    let (action, seen) = run(environment, scenario).await;

    let status = &seen[0].body["status"];
    assert_eq!(status["frozen"], false);
    assert_eq!(condition(status, types::FROZEN)["status"], "False");
    assert_eq!(
        condition(status, types::FROZEN)["reason"],
        reasons::NO_FREEZE
    );
    assert_eq!(condition(status, types::READY)["status"], "True");
    assert_eq!(
        condition(status, types::READY)["message"],
        "open; no freeze window ahead"
    );
    // Conditional on what was read: a stale copy is refused, not written over.
    assert_eq!(seen[0].body["metadata"]["resourceVersion"], "1");
    assert!(
        seen[0].query.contains("fieldManager=gitopshq"),
        "{}",
        seen[0].query
    );
    assert_eq!(action, Action::requeue(Duration::from_secs(3600)));
}

#[tokio::test]
async fn an_environment_in_a_window_is_frozen_until_the_window_ends() {
    let mut environment = Environment::test("production");
    environment.spec.freeze_windows = vec![from_json(json!({
        "name": "year-end",
        "start": "2026-12-01T09:00:00Z",
        "end": "2026-12-01T10:30:00Z",
        "reason": "year-end close",
    }))];
    let scenario = Scenario::new().status_patch(&environment);

    let (action, seen) = run(environment, scenario).await;

    let status = &seen[0].body["status"];
    assert_eq!(status["frozen"], true);
    assert_eq!(status["activeFreeze"]["name"], "year-end");
    assert_eq!(condition(status, types::FROZEN)["status"], "True");
    assert_eq!(
        condition(status, types::FROZEN)["reason"],
        reasons::FREEZE_ACTIVE
    );
    let message = condition(status, types::READY)["message"].as_str().unwrap();
    assert!(message.contains("year-end close"), "{message}");
    // Looked at again just after the window ends (half an hour after NOW), not in an hour.
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(1800) + Duration::from_millis(200))
    );
}

#[tokio::test]
async fn an_unknown_time_zone_makes_the_environment_not_ready() {
    let mut environment = Environment::test("production");
    environment.spec.freeze_windows = vec![from_json(json!({
        "name": "weekends",
        "recurring": {"cron": "0 0 * * 6", "duration": "48h", "timeZone": "Mars/Olympus"},
    }))];
    let scenario = Scenario::new().status_patch(&environment);

    let (_, seen) = run(environment, scenario).await;

    let ready = condition(&seen[0].body["status"], types::READY);
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], reasons::INVALID_SPEC);
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .ends_with("fix spec.freezeWindows"),
        "{ready}"
    );
}

#[tokio::test]
async fn a_status_already_written_is_not_written_again() {
    let environment = Environment::test("staging");
    let scenario = Scenario::new().status_patch(&environment);
    let (_, seen) = run(environment.clone(), scenario).await;
    let mut written = environment;
    written.status =
        Some(serde_json::from_value::<EnvironmentStatus>(seen[0].body["status"].clone()).unwrap());

    // No request at all: the verifier fails the test on any write.
    let (_, seen) = run(written, Scenario::new()).await;

    assert!(seen.is_empty());
}
