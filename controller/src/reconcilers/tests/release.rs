use std::sync::Arc;

use gitopshq_crds::approval_policy::ApprovalPolicy;
use gitopshq_crds::approval_request::ApprovalRequest;
use gitopshq_crds::chart_version::ChartVersion;
use gitopshq_crds::consts::reasons;
use gitopshq_crds::environment::Environment;
use gitopshq_crds::project::{DeliveryMode, Project};
use gitopshq_crds::release::{Release, ReleasePhase};
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::testing::from_json;
use gitopshq_crds::workload::Workload;
use gitopshq_engine::lifecycle;
use http::{Method, StatusCode};
use kube::runtime::controller::Action;
use serde_json::json;

use crate::index::Index;
use crate::mock_api::{self, Reply, Scenario, Seen};
use crate::reconcilers::release::reconcile;

const APPROVAL_REQUESTS: &str = "/apis/gitopshq.io/v1alpha1/namespaces/shop/approvalrequests";

/// Release `r1`'s ApprovalRequest is not in the cache, so it is asked of the API: not found.
pub(super) fn approval_request_not_found() -> Scenario {
    Scenario::new().expect(
        Method::GET,
        format!("{APPROVAL_REQUESTS}/r1"),
        Reply::Error(
            StatusCode::NOT_FOUND,
            "approvalrequests \"r1\" not found".into(),
        ),
    )
}

/// Project `shop` (repository at `url`, delivered directly) with workload `api` on `web`
/// 1.0.0, tenant `eu-1` of staging, and the staging Environment.
pub(super) fn shop(url: &str) -> Index {
    let mut project = Project::test("shop", url);
    project.spec.delivery = DeliveryMode::Direct;
    let mut index = Index::new();
    index.projects.insert(project);
    index.environments.insert(Environment::test("staging"));
    index
        .chart_versions
        .insert(ChartVersion::test("web", "1.0.0"));
    index
        .workloads
        .insert(Workload::test("api", "shop", "web", "1.0.0"));
    index
        .tenants
        .insert(Tenant::test("eu-1", "shop", "staging", "eu"));
    index
}

/// Release `r1` changing `api`'s message.
fn release() -> Release {
    let mut release = Release::test("r1", "shop");
    release.spec.changes = vec![from_json(json!({
        "workload": "api",
        "values": {"message": "v2"},
    }))];
    release
}

pub(super) async fn run(index: Index, release: Release, scenario: Scenario) -> (Action, Vec<Seen>) {
    let cache = tempfile::tempdir().unwrap();
    let (ctx, server) = mock_api::context(index, cache.path());
    let verifier = server.run(scenario);
    let action = reconcile(Arc::new(release), ctx).await;
    let seen = verifier.finish().await;
    (action.expect("the reconciliation succeeds"), seen)
}

#[tokio::test]
async fn a_draft_says_how_to_submit_it() {
    let release = release();
    let scenario = Scenario::new().status_patch(&release).event("shop");

    let (action, seen) = run(shop(""), release, scenario).await;

    let status = &seen[0].body["status"];
    assert_eq!(status["phase"], "Draft");
    assert_eq!(status["reason"], reasons::DRAFT);
    assert_eq!(seen[1].body["reason"], reasons::DRAFT);
    assert_eq!(seen[1].body["type"], "Normal");
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_submitted_release_under_an_approval_policy_waits_for_its_approval_request() {
    let mut index = shop("");
    index
        .approval_policies
        .insert(ApprovalPolicy::test("staging-approval", "staging"));
    let release = release().submitted();
    let request = ApprovalRequest::test("r1", "shop", "staging-approval");
    // Looked up before one is created.
    let scenario = approval_request_not_found()
        .expect(Method::POST, APPROVAL_REQUESTS, Reply::Echo)
        .status_patch(&request)
        .status_patch(&release)
        .event("shop");

    let (action, seen) = run(index, release, scenario).await;

    let created = &seen[1].body;
    assert_eq!(created["metadata"]["name"], "r1");
    assert_eq!(created["spec"]["release"], "r1");
    assert_eq!(created["spec"]["policy"], "staging-approval");
    // Approvers approve what would be delivered: the request records its digest.
    let digest = created["spec"]["renderedDigest"].as_str().unwrap();
    assert!(!digest.is_empty());
    // Owned by the release, so it goes with it.
    assert_eq!(created["metadata"]["ownerReferences"][0]["kind"], "Release");
    assert_eq!(created["metadata"]["ownerReferences"][0]["name"], "r1");
    assert_eq!(seen[2].body["status"]["phase"], "Pending");
    let status = &seen[3].body["status"];
    assert_eq!(status["phase"], "PendingApproval");
    assert_eq!(status["approvalRequest"], "r1");
    assert_eq!(status["approvals"]["required"], 1);
    assert_eq!(status["tenants"][0]["name"], "eu-1");
    assert_eq!(seen[4].body["reason"], reasons::AWAITING_APPROVAL);
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn an_approved_release_whose_repository_cannot_be_read_is_retried_later() {
    let missing = tempfile::tempdir().unwrap();
    let url = format!("file://{}/absent.git", missing.path().display());
    let mut release = release().submitted().in_phase(ReleasePhase::Approved);
    release.status.as_mut().unwrap().tenants =
        vec![from_json(json!({"name": "eu-1", "phase": "Pending"}))];
    let scenario = Scenario::new()
        .status_patch(&release)
        .event("shop")
        .status_patch(&release)
        .event("shop");

    let (action, seen) = run(shop(&url), release, scenario).await;

    let deploying = &seen[0].body["status"];
    assert_eq!(deploying["phase"], "Deploying");
    assert_eq!(deploying["reason"], reasons::PROGRESSING);
    assert_eq!(deploying["tenants"][0]["phase"], "Deploying");
    let retried = &seen[2].body["status"];
    assert_eq!(retried["phase"], "Deploying");
    assert_eq!(retried["reason"], reasons::DELIVERY_FAILED);
    assert_eq!(retried["deliveryRetry"]["attempts"], 1);
    let message = retried["message"].as_str().unwrap();
    assert!(
        message.starts_with("delivery attempt 1 failed"),
        "{message}"
    );
    assert!(message.contains("cannot be read"), "{message}");
    assert_eq!(seen[3].body["reason"], reasons::DELIVERY_FAILED);
    // Looked at again when the first retry falls due.
    assert_eq!(action, Action::requeue(lifecycle::DELIVERY_RETRY_FIRST));
}

#[tokio::test]
async fn an_approved_release_of_a_missing_project_fails() {
    // The Project was deleted after the release was approved: only its environment is left.
    let mut index = Index::new();
    index.environments.insert(Environment::test("staging"));
    let release = release().submitted().in_phase(ReleasePhase::Approved);
    let scenario = Scenario::new()
        .status_patch(&release)
        .event("shop")
        .status_patch(&release)
        .event("shop");

    let (action, seen) = run(index, release, scenario).await;

    assert_eq!(seen[0].body["status"]["phase"], "Deploying");
    let failed = &seen[2].body["status"];
    assert_eq!(failed["phase"], "Failed");
    assert_eq!(failed["reason"], reasons::DELIVERY_FAILED);
    assert_eq!(
        failed["message"],
        "project shop does not exist; apply the Project, then retry (annotate gitopshq.io/retry)"
    );
    assert_eq!(seen[3].body["type"], "Warning");
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_failed_release_stays_failed_without_a_request() {
    let mut release = release().submitted().in_phase(ReleasePhase::Failed);
    release.status.as_mut().unwrap().reason = Some(reasons::RENDER_FAILED.into());

    // The verifier fails the test on any request.
    let (action, seen) = run(shop(""), release, Scenario::new()).await;

    assert!(seen.is_empty());
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_release_that_does_not_render_fails_and_names_the_problem() {
    let mut release = release().submitted();
    release.spec.changes = vec![from_json(json!({"workload": "no-such-workload"}))];
    let scenario = Scenario::new().status_patch(&release).event("shop");

    let (action, seen) = run(shop(""), release, scenario).await;

    let status = &seen[0].body["status"];
    assert_eq!(status["phase"], "Failed");
    let message = status["message"].as_str().unwrap();
    assert!(message.contains("no-such-workload"), "{message}");
    assert_eq!(seen[1].body["type"], "Warning");
    assert_eq!(action, Action::await_change());
}
