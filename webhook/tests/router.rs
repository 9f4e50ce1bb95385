//! The admission router in process: AdmissionReview bodies handed to the axum `Router` with
//! `oneshot`, no TLS and no socket, one table row per decision. The HTTPS tests keep covering
//! the server itself (TLS, body limits, keep-alive).

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use gitopshq_webhook::server::router;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The bodies the router reads are far below this; a larger answer is a bug in itself.
const ANSWER_LIMIT: usize = 1 << 20;

/// Sends `body` to `path` through a fresh router over the shared fixtures.
async fn post(path: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let app = router(context(snapshot(Vec::new())));
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("a valid request");
    let response = app.oneshot(request).await.expect("the router answers");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), ANSWER_LIMIT)
        .await
        .expect("a readable answer");
    (status, bytes.to_vec())
}

/// The `response` of the AdmissionReview the router answers `request` with.
async fn review(path: &str, request: &ReviewRequest) -> Value {
    let (status, body) = post(path, request.body()).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let review: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(review["kind"], "AdmissionReview", "{review}");
    review["response"].clone()
}

/// What a row expects: admitted, or denied with an HTTP code and the start of the message.
enum Expect {
    Allowed,
    Denied(u16, &'static str),
}

struct Case {
    name: &'static str,
    path: &'static str,
    request: ReviewRequest,
    expect: Expect,
}

fn cases() -> Vec<Case> {
    let approval_before = approval_request_json(json!([]));
    let approval_after = approval_request_json(json!([{"decision": "Approve"}]));
    let published = chart_version_json();
    let mut changed = published.clone();
    changed["spec"]["templates"]["configmap-00.yaml"] = json!("apiVersion: v1\nkind: ConfigMap\n");
    let mut deprecated = published.clone();
    deprecated["spec"]["deprecated"] = json!(true);
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": "not even a number"},
    });
    vec![
        Case {
            name: "a draft may be prepared in a frozen environment",
            path: "/validate",
            request: ReviewRequest::new(
                "Release",
                "CREATE",
                "dave",
                &["backend-team"],
                release_json("draft", FROZEN, false),
            ),
            expect: Expect::Allowed,
        },
        Case {
            name: "a submitted release into a frozen environment is denied",
            path: "/validate",
            request: ReviewRequest::new(
                "Release",
                "CREATE",
                "dave",
                &["backend-team"],
                release_json("frozen", FROZEN, true),
            ),
            expect: Expect::Denied(
                409,
                "release frozen denied: environment production is frozen until",
            ),
        },
        Case {
            name: "a submitted release into an open environment is admitted",
            path: "/validate",
            request: ReviewRequest::new(
                "Release",
                "CREATE",
                "dave",
                &["backend-team"],
                release_json("open", OPEN, true),
            ),
            expect: Expect::Allowed,
        },
        Case {
            name: "the release's creator cannot approve it",
            path: "/validate",
            request: ReviewRequest::new(
                "ApprovalRequest",
                "UPDATE",
                CREATOR,
                &["backend-team"],
                approval_after.clone(),
            )
            .old(approval_before.clone()),
            expect: Expect::Denied(403, "approvalrequest checkout-7 denied: alice created"),
        },
        Case {
            name: "another team's approver may approve",
            path: "/validate",
            request: ReviewRequest::new(
                "ApprovalRequest",
                "UPDATE",
                "bob",
                &["sre-team"],
                approval_after,
            )
            .old(approval_before),
            expect: Expect::Allowed,
        },
        Case {
            name: "a published chart version's templates cannot change",
            path: "/validate",
            request: ReviewRequest::new(
                "ChartVersion",
                "UPDATE",
                "dave",
                &["platform-team"],
                changed,
            )
            .old(published.clone()),
            expect: Expect::Denied(409, "chartversion web-chart-1.0.0 denied: a published"),
        },
        Case {
            name: "a published chart version may be deprecated",
            path: "/validate",
            request: ReviewRequest::new(
                "ChartVersion",
                "UPDATE",
                "dave",
                &["platform-team"],
                deprecated,
            )
            .old(published),
            expect: Expect::Allowed,
        },
        Case {
            name: "objects of other groups are validated untouched",
            path: "/validate",
            request: ReviewRequest::new("Deployment", "CREATE", "dave", &[], deployment.clone())
                .group("apps"),
            expect: Expect::Allowed,
        },
        Case {
            name: "objects of other groups are not mutated",
            path: "/mutate",
            request: ReviewRequest::new("Deployment", "CREATE", "dave", &[], deployment)
                .group("apps"),
            expect: Expect::Allowed,
        },
    ]
}

#[tokio::test]
async fn admission_decisions() {
    for case in cases() {
        let uid = format!("case-{}", case.name.replace(' ', "-"));
        let request = case.request.uid(uid.clone());
        let response = review(case.path, &request).await;
        assert_eq!(response["uid"], uid.as_str(), "{}: {response}", case.name);
        match case.expect {
            Expect::Allowed => {
                assert_eq!(response["allowed"], true, "{}: {response}", case.name);
            }
            Expect::Denied(code, message) => {
                assert_eq!(response["allowed"], false, "{}: {response}", case.name);
                assert_eq!(
                    response["status"]["code"], code,
                    "{}: {response}",
                    case.name
                );
                let text = response["status"]["message"].as_str().unwrap_or_default();
                assert!(text.starts_with(message), "{}: {text}", case.name);
            }
        }
    }
}

#[tokio::test]
async fn a_release_is_stamped_with_the_requester_on_mutation() {
    let mut object = release_json("web-1", OPEN, true);
    object["spec"]["createdBy"] = json!("mallory");
    let request = ReviewRequest::new("Release", "CREATE", "dave", &["backend-team"], object);

    let response = review("/mutate", &request).await;

    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(
        patch_operations(&response)[0],
        json!({"op": "add", "path": "/spec/createdBy", "value": "dave"})
    );
}

#[tokio::test]
async fn bodies_that_are_not_reviews_are_answered_400() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "malformed JSON",
            b"{\"apiVersion\": ".to_vec(),
            "not an AdmissionReview",
        ),
        (
            "another kind",
            br#"{"apiVersion": "v1", "kind": "Pod"}"#.to_vec(),
            "not an admission.k8s.io/v1 AdmissionReview: apiVersion \"v1\" kind \"Pod\"",
        ),
    ];
    for (name, body, expected) in cases {
        let (status, answer) = post("/validate", body).await;
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {answer}");
        assert!(answer.contains(expected), "{name}: {answer}");
    }
}

#[tokio::test]
async fn health_is_answered_without_a_review() {
    let app = router(context(snapshot(Vec::new())));
    let request = Request::get("/healthz")
        .body(Body::empty())
        .expect("a valid request");

    let response = app.oneshot(request).await.expect("the router answers");

    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), ANSWER_LIMIT)
        .await
        .unwrap();
    assert_eq!(&body[..], b"ok");
}
