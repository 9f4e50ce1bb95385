use std::sync::Arc;
use std::time::Duration;

use gitopshq_crds::break_glass_session::{BreakGlassSession, BreakGlassSessionStatus};
use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_crds::release::Release;
use gitopshq_crds::testing::{from_json, from_yaml};
use kube::runtime::controller::Action;
use serde_json::json;

use super::condition;
use crate::index::Index;
use crate::mock_api::{self, Scenario, Seen};
use crate::reconcilers::break_glass::reconcile;

/// Session `sev1-checkout` of project `shop`, opened by bob at `created` for an hour.
fn session(created: &str) -> BreakGlassSession {
    from_yaml(&format!(
        r#"
apiVersion: gitopshq.io/v1alpha1
kind: BreakGlassSession
metadata:
  name: sev1-checkout
  namespace: shop
  generation: 1
  resourceVersion: "1"
  uid: uid-shop-sev1-checkout
  creationTimestamp: "{created}"
spec:
  justification: checkout is down for every customer since 09:25
  severity: SEV1
  scope:
    environments: [production]
  duration: 1h
  requestedBy: bob
"#
    ))
}

/// Release `name` of project `namespace`, made by bob under the session at 09:40.
fn release_under_session(name: &str, namespace: &str) -> Release {
    let mut release = Release::test(name, namespace);
    release.spec.break_glass_session = Some("sev1-checkout".into());
    release.spec.created_by = Some("bob".into());
    release.metadata.creation_timestamp = Some(from_json(json!("2026-12-01T09:40:00Z")));
    release
}

async fn run(index: Index, session: BreakGlassSession, scenario: Scenario) -> (Action, Vec<Seen>) {
    let cache = tempfile::tempdir().unwrap();
    let (ctx, server) = mock_api::context(index, cache.path());
    let verifier = server.run(scenario);
    let action = reconcile(Arc::new(session), ctx).await;
    let seen = verifier.finish().await;
    (action.expect("the reconciliation succeeds"), seen)
}

/// `session` with the status it was last given.
fn with_status(mut session: BreakGlassSession, status: &serde_json::Value) -> BreakGlassSession {
    session.status =
        Some(serde_json::from_value::<BreakGlassSessionStatus>(status.clone()).unwrap());
    session
}

#[tokio::test]
async fn a_new_session_is_active_until_it_expires_and_records_the_releases_made_under_it() {
    let mut index = Index::new();
    index
        .releases
        .insert(release_under_session("checkout-fix", "shop"));
    // Another project's release naming a session of the same name is not this session's.
    index
        .releases
        .insert(release_under_session("elsewhere", "billing"));
    let session = session("2026-12-01T09:30:00Z");
    let scenario = Scenario::new().status_patch(&session).event("shop");

    let (action, seen) = run(index, session, scenario).await;

    assert_eq!(seen.len(), 2);
    let status = &seen[0].body["status"];
    assert_eq!(status["phase"], "Active");
    assert_eq!(status["activatedAt"], "2026-12-01T09:30:00Z");
    assert_eq!(status["expiresAt"], "2026-12-01T10:30:00Z");
    assert!(status.get("endedAt").is_none(), "{status:#}");
    assert!(status.get("sealedDigest").is_none(), "{status:#}");
    assert_eq!(
        status["actions"],
        json!([{
            "time": "2026-12-01T09:40:00Z",
            "user": "bob",
            "release": "checkout-fix",
            "operation": "submitted Deploy release checkout-fix (checkout-fix) into staging",
        }])
    );
    let message = "Break-Glass Session Active until 2026-12-01T10:30:00Z — all actions are being recorded (1 so far)";
    let active = condition(status, types::ACTIVE);
    assert_eq!(active["status"], "True");
    assert_eq!(active["reason"], reasons::SESSION_ACTIVE);
    assert_eq!(active["message"], message);
    assert_eq!(active["lastTransitionTime"], mock_api::NOW);
    assert_eq!(condition(status, types::READY)["status"], "True");
    // Written conditionally on what was read.
    assert_eq!(seen[0].body["metadata"]["resourceVersion"], "1");
    // Everyone is told a session is open: a Warning.
    let event = &seen[1].body;
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["reason"], reasons::SESSION_ACTIVE);
    assert_eq!(event["regarding"]["kind"], "BreakGlassSession");
    assert_eq!(event["regarding"]["name"], "sev1-checkout");
    assert_eq!(
        event["note"],
        format!("break-glass session sev1-checkout (SEV1) by bob: {message}")
    );
    // Looked at again just after it expires, half an hour after NOW.
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(1800) + Duration::from_millis(200))
    );
}

#[tokio::test]
async fn an_active_session_records_a_delivery_without_announcing_itself_again() {
    let session = session("2026-12-01T09:30:00Z");
    let mut index = Index::new();
    index
        .releases
        .insert(release_under_session("checkout-fix", "shop"));
    let scenario = Scenario::new().status_patch(&session).event("shop");
    let (_, seen) = run(index, session.clone(), scenario).await;
    let active = with_status(session, &seen[0].body["status"]);

    // The release was delivered since: one more action, the same phase, so no Event.
    let mut delivered = release_under_session("checkout-fix", "shop");
    delivered.status = Some(from_json(json!({
        "phase": "Deployed",
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "deliveredAt": "2026-12-01T09:50:00.000000Z",
    })));
    let mut index = Index::new();
    index.releases.insert(delivered);
    let scenario = Scenario::new().status_patch(&active);

    let (action, seen) = run(index, active, scenario).await;

    let status = &seen[0].body["status"];
    assert_eq!(status["phase"], "Active");
    let operations: Vec<&str> = status["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        operations,
        [
            "submitted Deploy release checkout-fix (checkout-fix) into staging",
            "delivered release checkout-fix as commit 0123456789ab",
        ]
    );
    assert!(
        condition(status, types::ACTIVE)["message"]
            .as_str()
            .unwrap()
            .ends_with("(2 so far)"),
        "{status:#}"
    );
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(1800) + Duration::from_millis(200))
    );
}

#[tokio::test]
async fn an_active_session_with_nothing_new_is_not_written_again() {
    let session = session("2026-12-01T09:30:00Z");
    let scenario = Scenario::new().status_patch(&session).event("shop");
    let (_, seen) = run(Index::new(), session.clone(), scenario).await;
    let active = with_status(session, &seen[0].body["status"]);

    // No request at all: the verifier fails the test on any write or Event.
    let (action, seen) = run(Index::new(), active, Scenario::new()).await;

    assert!(seen.is_empty());
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(1800) + Duration::from_millis(200))
    );
}

#[tokio::test]
async fn a_session_past_its_time_expires_and_is_sealed() {
    // Opened at 08:30 for an hour: over at 09:30, before NOW (10:00).
    let session = session("2026-12-01T08:30:00Z");
    let active = with_status(
        session.clone(),
        &json!({
            "phase": "Active",
            "activatedAt": "2026-12-01T08:30:00Z",
            "expiresAt": "2026-12-01T09:30:00Z",
        }),
    );
    let scenario = Scenario::new().status_patch(&session).event("shop");

    let (action, seen) = run(Index::new(), active, scenario).await;

    assert_eq!(seen.len(), 2);
    let status = &seen[0].body["status"];
    assert_eq!(status["phase"], "Expired");
    // It ended when its time was up, not when the controller noticed.
    assert_eq!(status["endedAt"], "2026-12-01T09:30:00Z");
    let digest = status["sealedDigest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:"), "{digest}");
    let message = "expired at 2026-12-01T09:30:00Z; open a new session if the incident goes on";
    let active = condition(status, types::ACTIVE);
    assert_eq!(active["status"], "False");
    assert_eq!(active["reason"], reasons::SESSION_EXPIRED);
    assert_eq!(active["message"], message);
    let event = &seen[1].body;
    assert_eq!(event["type"], "Normal");
    assert_eq!(event["reason"], reasons::SESSION_EXPIRED);
    assert_eq!(
        event["note"],
        format!("break-glass session sev1-checkout (SEV1) by bob: {message}")
    );
    // Sealed: nothing to look at again.
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_closed_session_ends_now_with_its_note_and_is_sealed() {
    let mut session = session("2026-12-01T09:30:00Z");
    session.spec.closed = true;
    session.spec.closing_note = Some("rolled checkout back to v1".into());
    let scenario = Scenario::new().status_patch(&session).event("shop");

    let (action, seen) = run(Index::new(), session, scenario).await;

    assert_eq!(seen.len(), 2);
    let status = &seen[0].body["status"];
    assert_eq!(status["phase"], "Closed");
    assert_eq!(status["endedAt"], mock_api::NOW);
    assert!(
        status["sealedDigest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{status:#}"
    );
    let active = condition(status, types::ACTIVE);
    assert_eq!(active["status"], "False");
    assert_eq!(active["reason"], reasons::SESSION_CLOSED);
    assert_eq!(active["message"], "closed: rolled checkout back to v1");
    let event = &seen[1].body;
    assert_eq!(event["type"], "Normal");
    assert_eq!(event["reason"], reasons::SESSION_CLOSED);
    assert_eq!(
        event["note"],
        "break-glass session sev1-checkout (SEV1) by bob: closed: rolled checkout back to v1"
    );
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_sealed_session_is_never_written_again() {
    let mut session = session("2026-12-01T08:30:00Z");
    session.spec.closed = true;
    let scenario = Scenario::new().status_patch(&session).event("shop");
    let (_, seen) = run(Index::new(), session.clone(), scenario).await;
    let sealed = with_status(session, &seen[0].body["status"]);
    // A release naming the session after it ended changes nothing in the sealed record.
    let mut index = Index::new();
    index.releases.insert(release_under_session("late", "shop"));

    let (action, seen) = run(index, sealed, Scenario::new()).await;

    assert!(seen.is_empty());
    assert_eq!(action, Action::await_change());
}
