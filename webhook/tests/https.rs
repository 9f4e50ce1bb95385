//! The admission webhook over real HTTPS: the server on 127.0.0.1:0 with a generated
//! certificate, a client that trusts only the generated CA, AdmissionReview (admission.k8s.io/v1)
//! bodies as the API server sends them.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

async fn server() -> Server {
    Server::start(context(snapshot(Vec::new()))).await
}

fn message(response: &Value) -> &str {
    response["status"]["message"].as_str().unwrap_or_default()
}

fn warnings(response: &Value) -> Vec<String> {
    response["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A review that must pass: the server is still answering normally.
async fn assert_healthy(server: &Server) {
    let (status, body) = server.get("/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let request = ReviewRequest::new(
        "Release",
        "CREATE",
        "dave",
        &["backend-team"],
        release_json("still-fine", OPEN, false),
    )
    .uid("after-bad-input");
    let response = server.review("/validate", &request).await;
    assert_eq!(response["uid"], "after-bad-input");
    assert_eq!(response["allowed"], true, "{response}");
}

// ---------------------------------------------------------------------------------------------
// Decisions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_creation_is_stamped_with_the_requester() {
    let server = server().await;
    // A forged createdBy is replaced by the authenticated user.
    let mut object = release_json("web-1", OPEN, true);
    object["spec"]["createdBy"] = json!("mallory");
    let request = ReviewRequest::new("Release", "CREATE", "dave", &["backend-team"], object)
        .uid("5f0c3a52-2b5e-4a39-9a55-2f1f3ad0c001");
    let response = server.review("/mutate", &request).await;
    assert_eq!(response["uid"], "5f0c3a52-2b5e-4a39-9a55-2f1f3ad0c001");
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(
        patch_operations(&response),
        vec![
            json!({"op": "add", "path": "/spec/createdBy", "value": "dave"}),
            json!({"op": "add", "path": "/spec/submittedBy", "value": "dave"}),
            json!({"op": "add", "path": "/spec/authors", "value": ["dave"]}),
        ]
    );

    // Submitted into the frozen environment: the covering break-glass session is recorded too.
    let request = ReviewRequest::new(
        "Release",
        "CREATE",
        "carol",
        &["sre-team"],
        release_json("hotfix-1", FROZEN, true),
    );
    let response = server.review("/mutate", &request).await;
    assert_eq!(response["uid"], request.uid.as_str());
    assert_eq!(
        patch_operations(&response),
        vec![
            json!({"op": "add", "path": "/spec/createdBy", "value": "carol"}),
            json!({"op": "add", "path": "/spec/submittedBy", "value": "carol"}),
            json!({"op": "add", "path": "/spec/authors", "value": ["carol"]}),
            json!({"op": "add", "path": "/spec/breakGlassSession", "value": SESSION}),
        ]
    );

    // On update the original creator is kept, and whoever changed the spec is an author.
    let mut old = release_json("web-1", OPEN, false);
    old["spec"]["createdBy"] = json!("dave");
    old["spec"]["authors"] = json!(["dave"]);
    let mut new = old.clone();
    new["spec"]["createdBy"] = json!("erin");
    new["spec"]["title"] = json!("web 1, reworded");
    let request = ReviewRequest::new("Release", "UPDATE", "erin", &["backend-team"], new).old(old);
    let response = server.review("/mutate", &request).await;
    assert_eq!(
        patch_operations(&response),
        vec![
            json!({"op": "add", "path": "/spec/createdBy", "value": "dave"}),
            json!({"op": "add", "path": "/spec/authors", "value": ["dave", "erin"]}),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admission_reviews_of_v1_with_their_objects_are_answered() {
    let server = server().await;
    let valid = ReviewRequest::new(
        "Release",
        "CREATE",
        "dave",
        &[],
        release_json("web-9", OPEN, false),
    );
    let mut body: Value = serde_json::from_slice(&valid.body()).unwrap();
    for (field, value, expected) in [
        (
            "apiVersion",
            json!("admission.k8s.io/v1beta1"),
            "admission.k8s.io/v1beta1",
        ),
        ("kind", json!("ConfigMap"), "ConfigMap"),
    ] {
        let mut forged = body.clone();
        forged[field] = value;
        let (status, answer) = server
            .post("/validate", serde_json::to_vec(&forged).unwrap())
            .await;
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(status, 400, "{field}: {answer}");
        assert!(answer.contains(expected), "{answer}");
        assert!(
            answer.contains("admission.k8s.io/v1 kind AdmissionReview"),
            "{answer}"
        );
    }
    // A CREATE without its object cannot be judged.
    body["request"]["object"] = Value::Null;
    let (status, answer) = server
        .post("/validate", serde_json::to_vec(&body).unwrap())
        .await;
    let answer = String::from_utf8_lossy(&answer);
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("has no request.object"), "{answer}");
    // A DELETE without the object it deletes neither.
    let delete = ReviewRequest::new("BreakGlassSession", "DELETE", "dave", &[], Value::Null);
    let (status, answer) = server.post("/validate", delete.body()).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&answer));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_decisions_are_stamped_with_user_groups_and_time() {
    let server = server().await;
    let old = approval_request_json(json!([]));
    let new = approval_request_json(json!([
        {"decision": "Approve", "comment": "looks good", "user": "mallory", "groups": ["admins"], "time": "2020-01-01T00:00:00Z"}
    ]));
    let request = ReviewRequest::new("ApprovalRequest", "UPDATE", "bob", &["sre-team"], new)
        .old(old)
        .uid("approval-1");
    let response = server.review("/mutate", &request).await;
    assert_eq!(response["uid"], "approval-1");
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(
        patch_operations(&response),
        vec![
            json!({"op": "add", "path": "/spec/decisions/0/user", "value": "bob"}),
            json!({"op": "add", "path": "/spec/decisions/0/groups", "value": ["sre-team", "system:authenticated"]}),
            json!({"op": "add", "path": "/spec/decisions/0/time", "value": "2026-12-25T12:00:00Z"}),
        ]
    );

    // Earlier decisions are not touched; only the appended one is stamped.
    let first = json!({"decision": "Approve", "user": "bob", "groups": ["sre-team"], "time": "2026-12-25T11:00:00Z"});
    let old = approval_request_json(json!([first.clone()]));
    let new = approval_request_json(json!([first, {"decision": "Approve"}]));
    let request =
        ReviewRequest::new("ApprovalRequest", "UPDATE", "frank", &["backend-team"], new).old(old);
    let response = server.review("/mutate", &request).await;
    let paths: Vec<Value> = patch_operations(&response)
        .into_iter()
        .map(|op| op["path"].clone())
        .collect();
    assert_eq!(
        paths,
        [
            "/spec/decisions/1/user",
            "/spec/decisions/1/groups",
            "/spec/decisions/1/time"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_approval_is_denied_with_403() {
    let server = server().await;
    let old = approval_request_json(json!([]));
    let new = approval_request_json(json!([{"decision": "Approve"}]));
    let request = ReviewRequest::new(
        "ApprovalRequest",
        "UPDATE",
        CREATOR,
        &["backend-team"],
        new.clone(),
    )
    .old(old.clone())
    .uid("self-approval");
    let response = server.review("/validate", &request).await;
    assert_eq!(response["uid"], "self-approval");
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 403);
    assert_eq!(response["status"]["reason"], "Forbidden");
    assert_eq!(
        message(&response),
        "approvalrequest checkout-7 denied: alice created release checkout-7 and cannot approve it (approval policy production-approval forbids self-approval); ask an approver from another team"
    );

    // Another approver's decision is admitted and audited.
    let request =
        ReviewRequest::new("ApprovalRequest", "UPDATE", "bob", &["sre-team"], new).old(old);
    let response = server.review("/validate", &request).await;
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(
        response["auditAnnotations"]["decision"], "checkout-7 by bob",
        "{response}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_environment_denies_a_submitted_release_with_409() {
    let server = server().await;
    let request = ReviewRequest::new(
        "Release",
        "CREATE",
        "dave",
        &["backend-team"],
        release_json("web-2", FROZEN, true),
    )
    .uid("frozen");
    let response = server.review("/validate", &request).await;
    assert_eq!(response["uid"], "frozen");
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 409);
    assert_eq!(response["status"]["reason"], "Conflict");
    assert_eq!(
        message(&response),
        "release web-2 denied: environment production is frozen until 2027-01-02T00:00:00Z (freeze window \"year-end\": Year-end change freeze); open a BreakGlassSession covering production/web or wait for the window to end"
    );

    // A draft may be prepared during the freeze.
    let request = ReviewRequest::new(
        "Release",
        "CREATE",
        "dave",
        &["backend-team"],
        release_json("web-3", FROZEN, false),
    );
    let response = server.review("/validate", &request).await;
    assert_eq!(response["allowed"], true, "{response}");

    // Under the covering break-glass session it is admitted with a warning.
    let mut object = release_json("web-4", FROZEN, true);
    object["spec"]["breakGlassSession"] = json!(SESSION);
    let request = ReviewRequest::new("Release", "CREATE", "carol", &["sre-team"], object);
    let response = server.review("/validate", &request).await;
    assert_eq!(response["allowed"], true, "{response}");
    let warnings = warnings(&response);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("admitted under break-glass session incident-42"),
        "{warnings:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_is_stamped_and_refused_once_delivery_started() {
    let server = server().await;
    let mut old = release_json("web-5", OPEN, true);
    old["spec"]["createdBy"] = json!("dave");
    old["spec"]["submittedBy"] = json!("dave");
    old["spec"]["authors"] = json!(["dave"]);
    old["status"] = json!({"phase": "PendingApproval"});
    let mut new = old.clone();
    new["spec"]["cancellation"] = json!({"reason": "wrong tag", "user": "mallory"});

    // The canceller is stamped from the request, never from the object.
    let request = ReviewRequest::new("Release", "UPDATE", "dave", &["backend-team"], new.clone())
        .old(old.clone());
    let response = server.review("/mutate", &request).await;
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(
        patch_operations(&response),
        vec![
            json!({"op": "add", "path": "/spec/cancellation/user", "value": "dave"}),
            json!({"op": "add", "path": "/spec/cancellation/time", "value": "2026-12-25T12:00:00Z"}),
        ]
    );
    new["spec"]["cancellation"]["user"] = json!("dave");
    new["spec"]["cancellation"]["time"] = json!("2026-12-25T12:00:00Z");
    let request = ReviewRequest::new("Release", "UPDATE", "dave", &["backend-team"], new.clone())
        .old(old.clone());
    let response = server.review("/validate", &request).await;
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(
        response["auditAnnotations"]["cancellation"], "dave: wrong tag",
        "{response}"
    );

    // Once delivery started, the release cannot be cancelled: 409 with the rollback to use.
    old["status"] = json!({"phase": "Healthy", "shortCommit": "abc1234"});
    let request = ReviewRequest::new("Release", "UPDATE", "dave", &["backend-team"], new).old(old);
    let response = server.review("/validate", &request).await;
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 409);
    assert_eq!(
        message(&response),
        "release web-5 denied: it is Healthy, commit abc1234: its delivery has started, so it can no longer be cancelled; to undo it, roll it back to the release before it: gitopshq rollback web --to PREVIOUS-RELEASE -n payments"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warn_policy_gives_warnings_and_an_enforce_policy_denies() {
    let warn_rego = "package gitopshq.replicas.workload\nimport rego.v1\n\ndeny contains msg if {\n  input.object.spec.replicas < 5\n  msg := sprintf(\"%s runs %d replicas, fewer than 5\", [input.metadata.name, input.object.spec.replicas])\n}\n";
    let enforce_rego = "package gitopshq.tags.release\nimport rego.v1\n\ndeny contains msg if {\n  some c in input.changes\n  c.values.image.tag == \"latest\"\n  msg := sprintf(\"workload %s may not use the latest tag\", [c.workload])\n}\n";
    let policies = vec![
        policy("replicas-warn", warn_rego, &[OPEN], "Warn"),
        policy("no-latest", enforce_rego, &[OPEN], "Enforce"),
    ];
    let server = Server::start(context(snapshot(policies))).await;

    let request = ReviewRequest::new(
        "Release",
        "CREATE",
        "dave",
        &["backend-team"],
        tagged_release_json("web-5", "v1.2.3"),
    );
    let response = server.review("/validate", &request).await;
    assert_eq!(response["allowed"], true, "{response}");
    let warnings = warnings(&response);
    // One warning per rendered Deployment (10), none from the ConfigMaps.
    assert_eq!(warnings.len(), RENDERED_OBJECTS / 2, "{warnings:?}");
    assert!(
        warnings.contains(
            &"policy replicas-warn (Warn): web-00 runs 3 replicas, fewer than 5 (Deployment web-staging/web-00, tenant acme-staging)".to_string()
        ),
        "{warnings:?}"
    );
    assert_eq!(
        response["auditAnnotations"]["policy-verdicts"],
        "no-latest=Pass,replicas-warn=Warn"
    );

    let request = ReviewRequest::new(
        "Release",
        "CREATE",
        "dave",
        &["backend-team"],
        tagged_release_json("web-6", "latest"),
    );
    let response = server.review("/validate", &request).await;
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 409);
    assert!(
        message(&response).starts_with("release web-6 denied by 1 policy violation(s): policy no-latest (Enforce): workload web may not use the latest tag (release web-6)"),
        "{response}"
    );
    // The Warn policy's messages still reach the user next to the denial.
    assert_eq!(warnings_of(&response), RENDERED_OBJECTS / 2);
}

fn warnings_of(response: &Value) -> usize {
    warnings(response).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_chart_version_cannot_change_its_spec() {
    let server = server().await;
    let old = chart_version_json();
    let mut new = old.clone();
    new["spec"]["templates"]["configmap-00.yaml"] = json!("apiVersion: v1\nkind: ConfigMap\n");
    let request = ReviewRequest::new("ChartVersion", "UPDATE", "dave", &["platform-team"], new)
        .old(old.clone())
        .uid("chart-change");
    let response = server.review("/validate", &request).await;
    assert_eq!(response["uid"], "chart-change");
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 409);
    assert_eq!(
        message(&response),
        "chartversion web-chart-1.0.0 denied: a published chart version is immutable except spec.deprecated and spec.deprecationMessage; publish a new version (for example 1.0.1) with the change"
    );

    // Deprecating it is the one allowed change.
    let mut deprecated = old.clone();
    deprecated["spec"]["deprecated"] = json!(true);
    deprecated["spec"]["deprecationMessage"] = json!("use 2.x");
    let request = ReviewRequest::new(
        "ChartVersion",
        "UPDATE",
        "dave",
        &["platform-team"],
        deprecated,
    )
    .old(old);
    let response = server.review("/validate", &request).await;
    assert_eq!(response["allowed"], true, "{response}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_of_other_groups_are_allowed_untouched() {
    let server = server().await;
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": "not even a number"},
    });
    for path in ["/validate", "/mutate"] {
        let request = ReviewRequest::new("Deployment", "CREATE", "dave", &[], deployment.clone())
            .group("apps")
            .uid(format!("other-group{path}"));
        let response = server.review(path, &request).await;
        assert_eq!(response["uid"], format!("other-group{path}"));
        assert_eq!(response["allowed"], true, "{response}");
        assert!(response.get("patch").is_none(), "{response}");
        assert!(response.get("warnings").is_none(), "{response}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_uid_is_the_request_uid() {
    let server = server().await;
    let cases = [
        (
            "/validate",
            ReviewRequest::new(
                "BreakGlassSession",
                "CREATE",
                "carol",
                &["sre-team"],
                new_session_json("incident-43"),
            ),
        ),
        (
            "/mutate",
            ReviewRequest::new(
                "BreakGlassSession",
                "CREATE",
                "carol",
                &["sre-team"],
                new_session_json("incident-43"),
            ),
        ),
        (
            "/validate",
            ReviewRequest::new(
                "Release",
                "CREATE",
                "dave",
                &[],
                release_json("x", FROZEN, true),
            ),
        ),
        (
            "/validate",
            ReviewRequest::new("Workload", "DELETE", "dave", &[], Value::Null).old(json!({
                "apiVersion": "gitopshq.io/v1alpha1",
                "kind": "Workload",
                "metadata": {"name": "web", "namespace": "web-app"},
                "spec": {"chart": "microservice-base", "version": "1.0.0"},
            })),
        ),
    ];
    for (i, (path, request)) in cases.into_iter().enumerate() {
        let uid = format!("7d1c{i:04}-8f7e-4c43-b4c2-4a3b1f0e{i:04}");
        let request = request.uid(uid.clone());
        let response = server.review(path, &request).await;
        assert_eq!(response["uid"], uid.as_str(), "{path}: {response}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let server = server().await;
    assert_eq!(server.get("/healthz").await, (200, "ok".to_string()));
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    server.context.set_ready();
    assert_eq!(server.get("/readyz").await, (200, "ok".to_string()));

    let frozen = ReviewRequest::new(
        "Release",
        "CREATE",
        "dave",
        &[],
        release_json("web-7", FROZEN, true),
    );
    server.review("/validate", &frozen).await;
    let approval = ReviewRequest::new(
        "ApprovalRequest",
        "UPDATE",
        "bob",
        &["sre-team"],
        approval_request_json(json!([{"decision": "Approve"}])),
    )
    .old(approval_request_json(json!([])));
    server.review("/mutate", &approval).await;
    server.post("/validate", b"{".to_vec()).await;

    let (status, metrics) = server.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("# TYPE gitopshq_webhook_admission_duration_seconds histogram"),
        "{metrics}"
    );
    let series = |endpoint: &str, kind: &str, operation: &str, verdict: &str| {
        format!(
            "gitopshq_webhook_admission_duration_seconds_count{{endpoint=\"{endpoint}\",kind=\"{kind}\",operation=\"{operation}\",verdict=\"{verdict}\"}} 1"
        )
    };
    for line in [
        series("validate", "Release", "CREATE", "Frozen"),
        series("mutate", "ApprovalRequest", "UPDATE", "allowed"),
    ] {
        assert!(metrics.contains(&line), "{line} missing from\n{metrics}");
    }
    assert!(
        metrics.contains("gitopshq_webhook_rejected_bodies_total{reason=\"Decode\"} 1"),
        "{metrics}"
    );
}

// ---------------------------------------------------------------------------------------------
// Bad input

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_bodies_are_answered_400() {
    let server = server().await;
    let mut no_request = ReviewRequest::new(
        "Release",
        "CREATE",
        "dave",
        &[],
        release_json("x", OPEN, false),
    )
    .json();
    if let Some(review) = no_request.as_object_mut() {
        review.remove("request");
    }
    let mut bad_utf8 = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"gitopshq.io","version":"v1alpha1","kind":"Release"},"resource":{"group":"gitopshq.io","version":"v1alpha1","resource":"releases"},"operation":"CREATE","userInfo":{"username":""#.to_vec();
    bad_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    bad_utf8.extend_from_slice(br#""},"object":null}}"#);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "malformed JSON",
            b"{\"apiVersion\": ".to_vec(),
            "not an AdmissionReview",
        ),
        ("empty body", Vec::new(), "not an AdmissionReview"),
        (
            "JSON, not a review",
            br#"{"hello": "world"}"#.to_vec(),
            "not an AdmissionReview",
        ),
        (
            "a JSON array",
            b"[1, 2, 3]".to_vec(),
            "not an AdmissionReview",
        ),
        (
            "a review without request",
            serde_json::to_vec(&no_request).unwrap(),
            "has no request",
        ),
        ("invalid UTF-8", bad_utf8, "not an AdmissionReview"),
        (
            "raw binary",
            vec![0x00, 0x9f, 0x92, 0x96, 0xff],
            "not an AdmissionReview",
        ),
    ];
    for (what, body, expected) in cases {
        for path in ["/validate", "/mutate"] {
            let (status, answer) = server.post(path, body.clone()).await;
            let answer = String::from_utf8_lossy(&answer);
            assert_eq!(status, 400, "{what} on {path}: {answer}");
            assert!(answer.contains(expected), "{what} on {path}: {answer}");
        }
    }
    assert_healthy(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_3_mib_is_refused_without_hanging() {
    let server = server().await;
    // A well-formed review whose object carries 4 MiB of data.
    let mut object = release_json("huge", OPEN, false);
    object["spec"]["notes"] = json!("x".repeat(4 * 1024 * 1024));
    let body = ReviewRequest::new("Release", "CREATE", "dave", &[], object).body();
    assert!(body.len() > gitopshq_webhook::server::MAX_BODY_BYTES);
    let sent = server
        .client
        .post(server.url("/validate"))
        .header("content-type", "application/json")
        .body(body);
    let answer = tokio::time::timeout(Duration::from_secs(60), sent.send())
        .await
        .expect("answered, not hung");
    match answer {
        Ok(response) => {
            assert_eq!(response.status().as_u16(), 413);
            let text = response.text().await.unwrap_or_default();
            assert!(text.contains("length limit exceeded"), "{text}");
        }
        // The server may close the connection once it has refused the body; a reset is an
        // answer too, as long as it comes.
        Err(error) => assert!(
            error.is_request() || error.is_body() || error.is_connect(),
            "{error:?}"
        ),
    }

    // A body of unknown length (chunked) over the limit is refused as well: 5 chunks of 1 MiB
    // written by hand over TLS, and the answer read back.
    let address = server.running.address;
    let ca = server.ca_pem.clone();
    let answer = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || chunked_post(address, &ca, "/mutate", 5, 1024 * 1024)),
    )
    .await
    .expect("answered, not hung")
    .expect("the raw client ran");
    // As above, the server may reset the connection once it refused the body, and a reset can
    // discard its 413 before the client reads it: a reset is an answer, a timeout is not.
    match answer {
        Ok(answer) => assert!(
            answer.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
            "{answer}"
        ),
        Err(kind) => assert!(
            matches!(
                kind,
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "no answer, the connection ended with {kind:?}"
        ),
    }
    assert_healthy(&server).await;
}

/// POSTs `chunks` chunks of `size` spaces with `Transfer-Encoding: chunked` over a fresh TLS
/// connection and returns what the server answered (head and body as text). Write errors after
/// the server stopped reading are expected; the answer is read anyway. Without any answer, the
/// error that ended the read.
fn chunked_post(
    address: std::net::SocketAddr,
    ca_pem: &str,
    path: &str,
    chunks: usize,
    size: usize,
) -> Result<String, std::io::ErrorKind> {
    use std::io::{Read, Write};
    use std::sync::Arc;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    gitopshq_webhook::tls::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA PEM"))
        .expect("CA added");
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from("127.0.0.1").expect("a server name");
    let connection = rustls::ClientConnection::new(Arc::new(config), name).expect("a TLS client");
    let socket = std::net::TcpStream::connect(address).expect("connects");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    socket
        .set_write_timeout(Some(Duration::from_secs(30)))
        .expect("write timeout");
    let mut tls = rustls::StreamOwned::new(connection, socket);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let chunk = vec![b' '; size];
    let mut written = tls.write_all(head.as_bytes());
    for _ in 0..chunks {
        if written.is_err() {
            break;
        }
        written = tls
            .write_all(format!("{size:x}\r\n").as_bytes())
            .and_then(|()| tls.write_all(&chunk))
            .and_then(|()| tls.write_all(b"\r\n"));
    }
    if written.is_ok() {
        let _ = tls.write_all(b"0\r\n\r\n");
    }
    let _ = tls.flush();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tls.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buffer[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(error) if answer.is_empty() => return Err(error.kind()),
            Err(_) => break,
        }
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_json_is_refused() {
    let server = server().await;
    let mut deep = vec![b'['; 100_000];
    deep.extend(vec![b']'; 100_000]);
    let (status, answer) = server.post("/validate", deep).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&answer));
    // Refused at the first byte: an AdmissionReview is an object.
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.contains("not an AdmissionReview"), "{answer}");

    // The same depth inside the object of an otherwise valid review.
    let mut body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"deep","kind":{"group":"gitopshq.io","version":"v1alpha1","kind":"Release"},"resource":{"group":"gitopshq.io","version":"v1alpha1","resource":"releases"},"operation":"CREATE","userInfo":{"username":"dave"},"object":{"apiVersion":"gitopshq.io/v1alpha1","kind":"Release","metadata":{"name":"deep"},"spec":{"notes":"#.to_vec();
    for _ in 0..50_000 {
        body.extend_from_slice(br#"{"a":"#);
    }
    body.extend_from_slice(b"1");
    body.extend(vec![b'}'; 50_000]);
    body.extend_from_slice(b"}}}}");
    let (status, answer) = server.post("/mutate", body).await;
    let answer = String::from_utf8_lossy(&answer);
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("recursion limit exceeded"), "{answer}");
    // Nesting up to the parser's limit is read and answered normally.
    let mut nested = json!("leaf");
    for _ in 0..100 {
        nested = json!({ "a": nested });
    }
    let mut object = release_json("nested", OPEN, false);
    object["spec"]["changes"][0]["values"] = nested;
    let request = ReviewRequest::new("Release", "CREATE", "dave", &[], object).uid("nested");
    let response = server.review("/validate", &request).await;
    assert_eq!(response["uid"], "nested");
    assert_healthy(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_with_wrong_types_is_denied_naming_the_kind() {
    let server = server().await;
    let cases = [
        (
            "Release",
            json!({"apiVersion": "gitopshq.io/v1alpha1", "kind": "Release",
                   "metadata": {"name": "typo", "namespace": PROJECT},
                   "spec": {"title": "t", "environment": 42, "submitted": "yes"}}),
            "release typo denied: the object cannot be read as a Release (",
        ),
        (
            "ApprovalRequest",
            approval_request_json(json!("approve please")),
            "approvalrequest checkout-7 denied: the object cannot be read as a ApprovalRequest (",
        ),
        (
            "BreakGlassSession",
            json!({"apiVersion": "gitopshq.io/v1alpha1", "kind": "BreakGlassSession",
                   "metadata": {"name": "bg", "namespace": PROJECT},
                   "spec": {"justification": ["a"], "severity": "SEV9", "scope": {}, "duration": 60}}),
            "breakglasssession bg denied: the object cannot be read as a BreakGlassSession (",
        ),
        (
            "ChartVersion",
            json!({"apiVersion": "gitopshq.io/v1alpha1", "kind": "ChartVersion",
                   "metadata": {"name": "c-1"}, "spec": null}),
            "chartversion c-1 denied: the object cannot be read as a ChartVersion (",
        ),
    ];
    for (kind, object, expected) in cases {
        for path in ["/validate", "/mutate"] {
            if kind == "ChartVersion" && path == "/mutate" {
                continue; // not mutated: allowed without reading it
            }
            let request =
                ReviewRequest::new(kind, "CREATE", "dave", &["backend-team"], object.clone())
                    .uid(format!("wrong-types-{kind}{path}"));
            let response = server.review(path, &request).await;
            assert_eq!(response["uid"], format!("wrong-types-{kind}{path}"));
            assert_eq!(response["allowed"], false, "{kind} {path}: {response}");
            assert_eq!(response["status"]["code"], 422, "{response}");
            assert!(message(&response).starts_with(expected), "{response}");
        }
    }
    // A wrong old object is named as such.
    let request = ReviewRequest::new(
        "ChartVersion",
        "UPDATE",
        "dave",
        &[],
        chart_version_json(),
    )
    .old(json!({"apiVersion": "gitopshq.io/v1alpha1", "kind": "ChartVersion", "metadata": {"name": "web-chart-1.0.0"}, "spec": {"templates": 7}}));
    let response = server.review("/validate", &request).await;
    assert!(
        message(&response).contains("the old object cannot be read as a ChartVersion"),
        "{response}"
    );
    assert_healthy(&server).await;
}

/// 10^10 iterations: only the evaluation time limit ends it.
const LOOPING_REGO: &str = "package gitopshq.loop\nimport rego.v1\n\ndeny contains msg if {\n  some i in numbers.range(1, 100000)\n  some j in numbers.range(1, 100000)\n  i + j < 0\n  msg := \"never\"\n}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_policy_is_stopped_by_the_time_limit() {
    let looping = policy("loops", LOOPING_REGO, &[OPEN], "Enforce");
    let server = Server::start(context(snapshot(vec![looping.clone()]))).await;

    // A release judged by the looping policy: denied, naming the limit, within bounded time.
    let request = ReviewRequest::new(
        "Release",
        "CREATE",
        "dave",
        &["backend-team"],
        tagged_release_json("web-8", "v2.0.0"),
    )
    .uid("looping-release");
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        server.review("/validate", &request),
    )
    .await
    .expect("answered within the webhook's timeout budget");
    assert_eq!(answer["uid"], "looping-release");
    assert_eq!(answer["allowed"], false, "{answer}");
    assert_eq!(answer["status"]["code"], 409);
    assert!(
        message(&answer).starts_with(
            "release web-8 denied: policy evaluation failed: policy loops exceeded its evaluation time limit of 100ms on "
        ),
        "{answer}"
    );

    // The same Policy object, with an embedded test, submitted for admission.
    let mut object = serde_json::to_value(&looping).unwrap();
    object["spec"]["tests"] = json!([{"name": "terminates", "input": {}, "expect": {}}]);
    let request = ReviewRequest::new("Policy", "CREATE", "erin", &["platform-team"], object)
        .uid("looping-policy");
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        server.review("/validate", &request),
    )
    .await
    .expect("answered within the webhook's timeout budget");
    assert_eq!(answer["uid"], "looping-policy");
    assert_eq!(answer["allowed"], false, "{answer}");
    assert_eq!(answer["status"]["code"], 422);
    assert!(
        message(&answer).starts_with("policy loops denied: ")
            && message(&answer).contains("exceeded its evaluation time limit of 100ms"),
        "{answer}"
    );

    // A huge generated range is refused before it is built.
    let mut object = serde_json::to_value(policy(
        "huge-range",
        "package gitopshq.big\nimport rego.v1\n\ndeny contains \"big\" if count(numbers.range(1, 1000000000)) > 0\n",
        &[OPEN],
        "Enforce",
    ))
    .unwrap();
    object["spec"]["tests"] = json!([{"name": "small", "input": {}, "expect": {}}]);
    let request = ReviewRequest::new("Policy", "CREATE", "erin", &["platform-team"], object);
    let answer = server.review("/validate", &request).await;
    assert_eq!(answer["allowed"], false, "{answer}");
    assert!(
        message(&answer).contains("numbers.range would build more than 100000 elements"),
        "{answer}"
    );

    assert_healthy(&server).await;
    // The looping policy still answers the same way (its failure is not cached as a pass).
    let request = ReviewRequest::new(
        "Release",
        "CREATE",
        "dave",
        &["backend-team"],
        tagged_release_json("web-8", "v2.0.0"),
    );
    let answer = server.review("/validate", &request).await;
    assert_eq!(answer["allowed"], false, "{answer}");
}

/// Loops only on a real input (an empty one ends at once), so only the run-time limit stops it:
/// 20 rendered objects make 100,000² iterations.
const SLOW_ON_INPUT: &str = "package gitopshq.slow.release\nimport rego.v1\n\ndeny contains msg if {\n  n := count(input.manifests) * 5000\n  some i in numbers.range(1, n)\n  some j in numbers.range(1, n)\n  i + j < 0\n  msg := \"never\"\n}\n";

/// Per rendered Deployment: 3 replicas make 90,000² iterations.
const SLOW_PER_OBJECT: &str = "package gitopshq.slow.workload\nimport rego.v1\n\ndeny contains msg if {\n  n := input.object.spec.replicas * 30000\n  some i in numbers.range(1, n)\n  some j in numbers.range(1, n)\n  i + j < 0\n  msg := \"never\"\n}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_slow_on_real_input_is_stopped_at_run_time() {
    let slow = policy("slow", SLOW_ON_INPUT, &[OPEN], "Enforce");
    let server = Server::start(context(snapshot(vec![slow.clone()]))).await;
    let request = ReviewRequest::new(
        "Release",
        "CREATE",
        "dave",
        &["backend-team"],
        tagged_release_json("web-9", "v2.0.0"),
    )
    .uid("slow-release");
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        server.review("/validate", &request),
    )
    .await
    .expect("answered within the webhook's timeout budget");
    assert_eq!(answer["uid"], "slow-release");
    assert_eq!(answer["allowed"], false, "{answer}");
    assert_eq!(answer["status"]["code"], 409);
    assert!(
        message(&answer).starts_with(
            "release web-9 denied: policy evaluation failed: policy slow exceeded its evaluation time limit of 100ms on release web-9; "
        ),
        "{answer}"
    );

    // Its embedded test on a similar input fails the same way when the Policy is admitted.
    let mut object = serde_json::to_value(&slow).unwrap();
    let manifests: Vec<Value> = (0..20)
        .map(|i| json!({"kind": "ConfigMap", "i": i}))
        .collect();
    object["spec"]["tests"] =
        json!([{"name": "twenty objects", "input": {"manifests": manifests}, "expect": {}}]);
    let request = ReviewRequest::new("Policy", "CREATE", "erin", &["platform-team"], object)
        .uid("slow-policy");
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        server.review("/validate", &request),
    )
    .await
    .expect("answered within the webhook's timeout budget");
    assert_eq!(answer["uid"], "slow-policy");
    assert_eq!(answer["allowed"], false, "{answer}");
    assert_eq!(answer["status"]["code"], 422);
    assert!(
        message(&answer).starts_with(
            "policy slow denied: 1 of 1 embedded tests failed: test \"twenty objects\": policy slow exceeded its evaluation time limit of 100ms on "
        ),
        "{answer}"
    );
    assert_healthy(&server).await;

    // Bound Warn, a policy that times out on every Deployment warns instead of blocking.
    let per_object = policy("slow-objects", SLOW_PER_OBJECT, &[OPEN], "Warn");
    let server = Server::start(context(snapshot(vec![per_object]))).await;
    let request = ReviewRequest::new(
        "Release",
        "CREATE",
        "dave",
        &["backend-team"],
        tagged_release_json("web-10", "v2.0.0"),
    );
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        server.review("/validate", &request),
    )
    .await
    .expect("answered within the webhook's timeout budget");
    assert_eq!(answer["allowed"], true, "{answer}");
    let warnings = warnings(&answer);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("policy slow-objects (Warn): policy slow-objects could not be evaluated and is bound Warn, so it does not block: policy slow-objects exceeded its evaluation time limit of 100ms on Deployment "),
        "{warnings:?}"
    );
    assert_healthy(&server).await;
}
