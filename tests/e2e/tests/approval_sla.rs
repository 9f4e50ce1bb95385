//! `ApprovalPolicy.spec.sla` on the real platform: a production release that waits for its
//! approval longer than the policy allows is marked overdue (condition `ApprovalOverdue`, an
//! Event) and escalated once to the channel that was told it was pending, linking the release's
//! dashboard page and the CI build it carries.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use gitopshq_e2e::{DASHBOARD_URL, Platform, WAIT};
use serde_json::Value;

const NS: &str = "payment-service";
const RELEASE: &str = "payment-api-hotfix";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_waiting_past_the_sla_is_escalated() {
    let platform = Platform::start().await;
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = Arc::clone(&received);
    let app = Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let sink = Arc::clone(&sink);
            async move {
                if let Ok(value) = serde_json::from_slice::<Value>(&body) {
                    sink.lock().unwrap().push(value);
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });

    platform.apply("admin", &platform.example(&["bootstrap"]));
    platform.apply(
        "admin",
        &format!(
            r#"apiVersion: gitopshq.io/v1alpha1
kind: ApprovalPolicy
metadata: {{name: production-sla}}
spec:
  environments: [production]
  minApprovals: 1
  approverGroups: [sre-team]
  sla: 15s
---
apiVersion: v1
kind: Secret
metadata: {{name: release-hook, namespace: gitopshq-system}}
stringData: {{url: "http://{address}/hook"}}
---
apiVersion: gitopshq.io/v1alpha1
kind: NotificationChannel
metadata: {{name: release-hook}}
spec:
  type: Webhook
  urlSecretRef: {{namespace: gitopshq-system, name: release-hook}}
  events: [ReleasePendingApproval]
"#
        ),
    );
    platform.wait_for(None, "project", NS, "{.status.phase}", "Ready");
    platform.apply(
        "carol",
        &format!(
            "apiVersion: gitopshq.io/v1alpha1\nkind: Release\nmetadata: {{name: {RELEASE}, namespace: {NS}, annotations: {{gitopshq.io/build-url: 'https://ci.example.com/payment-api/pipelines/77'}}}}\nspec:\n  title: hotfix\n  notes: 'CI build: https://ci.example.com/payment-api/pipelines/77'\n  environment: production\n  changes:\n    - workload: payment-api\n      values: {{image: {{tag: v1.0.1}}}}\n  submitted: true\n"
        ),
    );
    let release = platform.release(NS, RELEASE);
    release.wait_phase("PendingApproval");
    release.wait_for(
        "{.status.conditions[?(@.type==\"ApprovalOverdue\")].status}",
        "True",
    );
    let message = release.get("{.status.conditions[?(@.type==\"ApprovalOverdue\")].message}");
    assert!(
        message.contains("past the 15s SLA of ApprovalPolicy production-sla")
            && message.contains("0 of 1 approvals received"),
        "{message}"
    );

    // The channel told of the pending release hears of the overdue one, once.
    let deadline = Instant::now() + WAIT;
    let overdue = loop {
        let events = received.lock().unwrap().clone();
        let found: Vec<Value> = events
            .into_iter()
            .filter(|e| e["event"] == "ReleaseApprovalOverdue")
            .collect();
        if let Some(first) = found.first() {
            break first.clone();
        }
        assert!(Instant::now() < deadline, "no escalation arrived");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(overdue["object"]["name"], RELEASE, "{overdue}");
    let text = overdue.to_string();
    assert!(text.contains("past the 15s SLA"), "{text}");
    assert_eq!(
        overdue["page"],
        format!("{DASHBOARD_URL}/#/releases/{NS}/{RELEASE}"),
        "{overdue}"
    );
    assert_eq!(
        overdue["build"], "https://ci.example.com/payment-api/pipelines/77",
        "{overdue}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let escalations = received
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "ReleaseApprovalOverdue")
        .count();
    assert_eq!(escalations, 1, "escalated once");
    platform.stop().await;
}
