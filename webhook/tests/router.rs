//! The admission router in process: AdmissionReview bodies handed to the axum `Router` with
//! `oneshot`, no TLS and no socket, one table row per decision. The HTTPS tests keep covering
//! the server itself (TLS, probes, body limits on the wire).

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use gitopshq_crds::policy::Policy;
use gitopshq_webhook::server::router;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The bodies the router reads are far below this; a larger answer is a bug in itself.
const ANSWER_LIMIT: usize = 1 << 20;

/// The API server gives up on a webhook after its timeout; a policy that never ends must be
/// cut off well before that, so an answer that takes longer is a failure, not a slow pass.
const ANSWER_BUDGET: Duration = Duration::from_secs(30);

/// One router per test: what a request leaves behind (evaluation caches, metrics) is seen by the
/// requests after it, as on the served port.
struct App(Router);

impl App {
    fn new() -> Self {
        Self::with_policies(Vec::new())
    }

    fn with_policies(policies: Vec<Policy>) -> Self {
        Self(router(context(snapshot(policies))))
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, String) {
        let answer = tokio::time::timeout(ANSWER_BUDGET, self.0.clone().oneshot(request))
            .await
            .expect("answered within the webhook's timeout budget")
            .expect("the router answers");
        let status = answer.status();
        let bytes = axum::body::to_bytes(answer.into_body(), ANSWER_LIMIT)
            .await
            .expect("a readable answer");
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let request = Request::get(path)
            .body(Body::empty())
            .expect("a valid request");
        self.send(request).await
    }

    async fn post(&self, path: &str, body: Vec<u8>) -> (StatusCode, String) {
        let request = Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .expect("a valid request");
        self.send(request).await
    }

    /// Sends every case with its own uid, in order, and checks its answer.
    async fn check(&self, cases: Vec<Case>) {
        for (i, case) in cases.into_iter().enumerate() {
            let uid = format!("7d1c{i:04}-8f7e-4c43-b4c2-4a3b1f0e{i:04}");
            let (status, body) = self
                .post(case.endpoint, case.request.clone().uid(uid.clone()).body())
                .await;
            assert_eq!(status, StatusCode::OK, "{}: {body}", case.name);
            let review: Value = serde_json::from_str(&body).expect("JSON");
            assert_eq!(
                review["apiVersion"], "admission.k8s.io/v1",
                "{}: {review}",
                case.name
            );
            assert_eq!(review["kind"], "AdmissionReview", "{}: {review}", case.name);
            let response = &review["response"];
            assert_eq!(response["uid"], uid.as_str(), "{}: {response}", case.name);
            case.assert_answered(response);
        }
    }

    /// `body` on `path` is answered 400, naming each of `expected`.
    async fn assert_refused(&self, what: &str, path: &str, body: Vec<u8>, expected: &[&str]) {
        let (status, answer) = self.post(path, body).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{what} on {path}: {answer}"
        );
        for part in expected {
            assert!(answer.contains(part), "{what} on {path}: {answer}");
        }
    }

    /// What came before did not leave the router unable to answer an ordinary review.
    async fn assert_healthy(&self) {
        assert_eq!(self.get("/healthz").await, (StatusCode::OK, "ok".into()));
        self.check(vec![
            Case::validate(
                "a draft after bad input",
                dave_creates(release_json("still-fine", OPEN, false)),
            )
            .allowed(),
        ])
        .await;
    }
}

// ---------------------------------------------------------------------------------------------
// Reviews and what their answers must show

/// One review and what its answer must show; every failure names the case.
struct Case {
    name: String,
    endpoint: &'static str,
    request: ReviewRequest,
    expect: Vec<Expect>,
}

#[derive(Debug)]
enum Text {
    Is(&'static str),
    StartsWith(&'static str),
    Contains(&'static str),
}

impl Text {
    fn matches(&self, text: &str) -> bool {
        match self {
            Text::Is(expected) => text == *expected,
            Text::StartsWith(prefix) => text.starts_with(prefix),
            Text::Contains(part) => text.contains(part),
        }
    }
}

enum Expect {
    Allowed(bool),
    Code(u16),
    Reason(&'static str),
    Message(Text),
    Patch(Vec<Value>),
    PatchedPaths(Vec<&'static str>),
    NoPatch,
    Audit(&'static str, &'static str),
    Warnings(usize),
    NoWarnings,
    /// Some warning matches.
    Warning(Text),
}

impl Case {
    fn validate(name: impl Into<String>, request: ReviewRequest) -> Self {
        Self::at("/validate", name, request)
    }

    fn mutate(name: impl Into<String>, request: ReviewRequest) -> Self {
        Self::at("/mutate", name, request)
    }

    fn at(endpoint: &'static str, name: impl Into<String>, request: ReviewRequest) -> Self {
        Self {
            name: name.into(),
            endpoint,
            request,
            expect: Vec::new(),
        }
    }

    fn expect(mut self, expect: Expect) -> Self {
        self.expect.push(expect);
        self
    }

    fn allowed(self) -> Self {
        self.expect(Expect::Allowed(true))
    }

    fn refused(self) -> Self {
        self.expect(Expect::Allowed(false))
    }

    fn denied(self, code: u16) -> Self {
        self.refused().expect(Expect::Code(code))
    }

    fn reason(self, reason: &'static str) -> Self {
        self.expect(Expect::Reason(reason))
    }

    fn message(self, message: &'static str) -> Self {
        self.expect(Expect::Message(Text::Is(message)))
    }

    fn message_starting(self, prefix: &'static str) -> Self {
        self.expect(Expect::Message(Text::StartsWith(prefix)))
    }

    fn message_containing(self, part: &'static str) -> Self {
        self.expect(Expect::Message(Text::Contains(part)))
    }

    fn patch(self, operations: Vec<Value>) -> Self {
        self.expect(Expect::Patch(operations))
    }

    fn patched_paths(self, paths: &[&'static str]) -> Self {
        self.expect(Expect::PatchedPaths(paths.to_vec()))
    }

    /// Neither patched nor warned about.
    fn untouched(self) -> Self {
        self.expect(Expect::NoPatch).expect(Expect::NoWarnings)
    }

    fn audit(self, key: &'static str, value: &'static str) -> Self {
        self.expect(Expect::Audit(key, value))
    }

    fn warnings(self, count: usize) -> Self {
        self.expect(Expect::Warnings(count))
    }

    fn warning(self, warning: &'static str) -> Self {
        self.expect(Expect::Warning(Text::Is(warning)))
    }

    fn warning_starting(self, prefix: &'static str) -> Self {
        self.expect(Expect::Warning(Text::StartsWith(prefix)))
    }

    fn warning_containing(self, part: &'static str) -> Self {
        self.expect(Expect::Warning(Text::Contains(part)))
    }

    fn assert_answered(&self, response: &Value) {
        let name = &self.name;
        for expect in &self.expect {
            match expect {
                Expect::Allowed(allowed) => {
                    assert_eq!(response["allowed"], *allowed, "{name}: {response}");
                }
                Expect::Code(code) => {
                    assert_eq!(response["status"]["code"], *code, "{name}: {response}");
                }
                Expect::Reason(reason) => {
                    assert_eq!(response["status"]["reason"], *reason, "{name}: {response}");
                }
                Expect::Message(text) => {
                    let message = response["status"]["message"].as_str().unwrap_or_default();
                    assert!(text.matches(message), "{name}: {message:?} is not {text:?}");
                }
                Expect::Patch(operations) => {
                    assert_eq!(patch_operations(response), *operations, "{name}");
                }
                Expect::PatchedPaths(paths) => {
                    let patched: Vec<Value> = patch_operations(response)
                        .into_iter()
                        .map(|operation| operation["path"].clone())
                        .collect();
                    assert_eq!(patched, *paths, "{name}");
                }
                Expect::NoPatch => {
                    assert!(response.get("patch").is_none(), "{name}: {response}");
                }
                Expect::Audit(key, value) => {
                    let annotation = &response["auditAnnotations"][key];
                    assert_eq!(annotation, value, "{name}: {response}");
                }
                Expect::Warnings(count) => {
                    let warnings = warnings(response);
                    assert_eq!(warnings.len(), *count, "{name}: {warnings:?}");
                }
                Expect::NoWarnings => {
                    assert!(response.get("warnings").is_none(), "{name}: {response}");
                }
                Expect::Warning(text) => {
                    let warnings = warnings(response);
                    assert!(
                        warnings.iter().any(|warning| text.matches(warning)),
                        "{name}: no warning is {text:?} in {warnings:?}"
                    );
                }
            }
        }
    }
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

fn create(kind: &str, user: &str, groups: &[&str], object: Value) -> ReviewRequest {
    ReviewRequest::new(kind, "CREATE", user, groups, object)
}

fn update(kind: &str, user: &str, groups: &[&str], old: Value, new: Value) -> ReviewRequest {
    ReviewRequest::new(kind, "UPDATE", user, groups, new).old(old)
}

/// A backend developer with no break-glass session of his own.
fn dave_creates(release: Value) -> ReviewRequest {
    create("Release", "dave", &["backend-team"], release)
}

fn dave_updates(old: Value, new: Value) -> ReviewRequest {
    update("Release", "dave", &["backend-team"], old, new)
}

/// The SRE who opened the break-glass session over `production/web`.
fn carol_creates(release: Value) -> ReviewRequest {
    create("Release", "carol", &["sre-team"], release)
}

/// A platform engineer, who writes the policies.
fn erin_creates_policy(policy: Value) -> ReviewRequest {
    create("Policy", "erin", &["platform-team"], policy)
}

/// `user` in `groups` turns the decisions of the pending release's ApprovalRequest from
/// `before` into `after`.
fn approval_by(user: &str, groups: &[&str], before: Value, after: Value) -> ReviewRequest {
    update(
        "ApprovalRequest",
        user,
        groups,
        approval_request_json(before),
        approval_request_json(after),
    )
}

/// The published `web-chart-1.0.0` changed into `new`.
fn chart_version_changed_to(new: Value) -> ReviewRequest {
    update(
        "ChartVersion",
        "dave",
        &["platform-team"],
        chart_version_json(),
        new,
    )
}

/// `policy` as a Policy object carrying one embedded `test`.
fn with_embedded_test(policy: &Policy, test: Value) -> Value {
    let mut object = serde_json::to_value(policy).expect("a Policy serialises");
    object["spec"]["tests"] = json!([test]);
    object
}

// ---------------------------------------------------------------------------------------------
// Decisions

#[tokio::test]
async fn a_frozen_environment_denies_a_submitted_release_with_409() {
    let mut under_session = release_json("web-4", FROZEN, true);
    under_session["spec"]["breakGlassSession"] = json!(SESSION);
    App::new().check(vec![
        Case::validate(
            "a submitted release into a frozen environment is denied",
            dave_creates(release_json("web-2", FROZEN, true)),
        )
        .denied(409)
        .reason("Conflict")
        .message("release web-2 denied: environment production is frozen until 2027-01-02T00:00:00Z (freeze window \"year-end\": Year-end change freeze); open a BreakGlassSession covering production/web or wait for the window to end"),
        Case::validate(
            "a draft may be prepared during the freeze",
            dave_creates(release_json("web-3", FROZEN, false)),
        )
        .allowed(),
        Case::validate(
            "under the covering break-glass session it is admitted with a warning",
            carol_creates(under_session),
        )
        .allowed()
        .warnings(1)
        .warning_containing("admitted under break-glass session incident-42"),
        Case::validate(
            "a submitted release into an open environment is admitted",
            dave_creates(release_json("open", OPEN, true)),
        )
        .allowed(),
    ])
    .await;
}

#[tokio::test]
async fn self_approval_is_denied_with_403() {
    let approve = || json!([{"decision": "Approve"}]);
    App::new().check(vec![
        Case::validate(
            "the release's creator cannot approve it",
            approval_by(CREATOR, &["backend-team"], json!([]), approve()),
        )
        .denied(403)
        .reason("Forbidden")
        .message("approvalrequest checkout-7 denied: alice created release checkout-7 and cannot approve it (approval policy production-approval forbids self-approval); ask an approver from another team"),
        Case::validate(
            "another team's approver may approve, and the decision is audited",
            approval_by("bob", &["sre-team"], json!([]), approve()),
        )
        .allowed()
        .audit("decision", "checkout-7 by bob"),
    ])
    .await;
}

#[tokio::test]
async fn a_published_chart_version_cannot_change_its_spec() {
    let mut changed = chart_version_json();
    changed["spec"]["templates"]["configmap-00.yaml"] = json!("apiVersion: v1\nkind: ConfigMap\n");
    let mut deprecated = chart_version_json();
    deprecated["spec"]["deprecated"] = json!(true);
    let mut explained = deprecated.clone();
    explained["spec"]["deprecationMessage"] = json!("use 2.x");
    App::new().check(vec![
        Case::validate(
            "a published chart version's templates cannot change",
            chart_version_changed_to(changed),
        )
        .denied(409)
        .message("chartversion web-chart-1.0.0 denied: a published chart version is immutable except spec.deprecated and spec.deprecationMessage; publish a new version (for example 1.0.1) with the change"),
        Case::validate(
            "a published chart version may be deprecated",
            chart_version_changed_to(deprecated),
        )
        .allowed(),
        Case::validate(
            "a published chart version may be deprecated with a message",
            chart_version_changed_to(explained),
        )
        .allowed(),
    ])
    .await;
}

#[tokio::test]
async fn a_cancellation_is_stamped_and_refused_once_delivery_started() {
    let mut pending = release_json("web-5", OPEN, true);
    pending["spec"]["createdBy"] = json!("dave");
    pending["spec"]["submittedBy"] = json!("dave");
    pending["spec"]["authors"] = json!(["dave"]);
    pending["status"] = json!({"phase": "PendingApproval"});
    let mut asked = pending.clone();
    asked["spec"]["cancellation"] = json!({"reason": "wrong tag", "user": "mallory"});
    let mut stamped = asked.clone();
    stamped["spec"]["cancellation"]["user"] = json!("dave");
    stamped["spec"]["cancellation"]["time"] = json!("2026-12-25T12:00:00Z");
    let mut delivering = pending.clone();
    delivering["status"] = json!({"phase": "Healthy", "shortCommit": "abc1234"});
    App::new().check(vec![
        Case::mutate(
            "the canceller is stamped from the request, never from the object",
            dave_updates(pending.clone(), asked),
        )
        .allowed()
        .patch(vec![
            json!({"op": "add", "path": "/spec/cancellation/user", "value": "dave"}),
            json!({"op": "add", "path": "/spec/cancellation/time", "value": "2026-12-25T12:00:00Z"}),
        ]),
        Case::validate(
            "a stamped cancellation before delivery is admitted and audited",
            dave_updates(pending, stamped.clone()),
        )
        .allowed()
        .audit("cancellation", "dave: wrong tag"),
        Case::validate(
            "once delivery started, the release cannot be cancelled: 409 with the rollback to use",
            dave_updates(delivering, stamped),
        )
        .denied(409)
        .message("release web-5 denied: it is Healthy, commit abc1234: its delivery has started, so it can no longer be cancelled; to undo it, roll it back to the release before it: gitopshq rollback web --to PREVIOUS-RELEASE -n payments"),
    ])
    .await;
}

#[tokio::test]
async fn objects_of_other_groups_are_allowed_untouched() {
    let deployment = || {
        create(
            "Deployment",
            "dave",
            &[],
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"replicas": "not even a number"},
            }),
        )
        .group("apps")
    };
    App::new()
        .check(vec![
            Case::validate("validated untouched", deployment())
                .allowed()
                .untouched(),
            Case::mutate("not mutated", deployment())
                .allowed()
                .untouched(),
        ])
        .await;
}

#[tokio::test]
async fn the_response_uid_is_the_request_uid() {
    let session = || {
        create(
            "BreakGlassSession",
            "carol",
            &["sre-team"],
            new_session_json("incident-43"),
        )
    };
    let workload = json!({
        "apiVersion": "gitopshq.io/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": "web", "namespace": "web-app"},
        "spec": {"chart": "microservice-base", "version": "1.0.0"},
    });
    App::new()
        .check(vec![
            Case::validate("a session validated", session()),
            Case::mutate("a session mutated", session()),
            Case::validate(
                "a denied release",
                dave_creates(release_json("x", FROZEN, true)),
            ),
            Case::validate(
                "a deletion, with only its old object",
                ReviewRequest::new("Workload", "DELETE", "dave", &[], Value::Null).old(workload),
            ),
        ])
        .await;
}

#[tokio::test]
async fn a_spec_with_wrong_types_is_denied_naming_the_kind() {
    let wrong_types = [
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
    let mut cases = Vec::new();
    for (kind, object, expected) in wrong_types {
        for endpoint in ["/validate", "/mutate"] {
            // Chart versions are not mutated: allowed there without being read.
            if kind == "ChartVersion" && endpoint == "/mutate" {
                continue;
            }
            let request = create(kind, "dave", &["backend-team"], object.clone());
            cases.push(
                Case::at(endpoint, format!("{kind} on {endpoint}"), request)
                    .denied(422)
                    .message_starting(expected),
            );
        }
    }
    let unreadable_old = json!({"apiVersion": "gitopshq.io/v1alpha1", "kind": "ChartVersion", "metadata": {"name": "web-chart-1.0.0"}, "spec": {"templates": 7}});
    cases.push(
        Case::validate(
            "a wrong old object is named as such",
            update(
                "ChartVersion",
                "dave",
                &[],
                unreadable_old,
                chart_version_json(),
            ),
        )
        .message_containing("the old object cannot be read as a ChartVersion"),
    );
    let app = App::new();
    app.check(cases).await;
    app.assert_healthy().await;
}

// ---------------------------------------------------------------------------------------------
// Mutations

#[tokio::test]
async fn release_creation_is_stamped_with_the_requester() {
    let mut forged = release_json("web-1", OPEN, true);
    forged["spec"]["createdBy"] = json!("mallory");
    let mut created = release_json("web-1", OPEN, false);
    created["spec"]["createdBy"] = json!("dave");
    created["spec"]["authors"] = json!(["dave"]);
    let mut reworded = created.clone();
    reworded["spec"]["createdBy"] = json!("erin");
    reworded["spec"]["title"] = json!("web 1, reworded");
    App::new().check(vec![
        Case::mutate(
            "a forged createdBy is replaced by the authenticated user",
            dave_creates(forged),
        )
        .allowed()
        .patch(vec![
            json!({"op": "add", "path": "/spec/createdBy", "value": "dave"}),
            json!({"op": "add", "path": "/spec/submittedBy", "value": "dave"}),
            json!({"op": "add", "path": "/spec/authors", "value": ["dave"]}),
        ]),
        Case::mutate(
            "submitted into the frozen environment, the covering break-glass session is recorded too",
            carol_creates(release_json("hotfix-1", FROZEN, true)),
        )
        .patch(vec![
            json!({"op": "add", "path": "/spec/createdBy", "value": "carol"}),
            json!({"op": "add", "path": "/spec/submittedBy", "value": "carol"}),
            json!({"op": "add", "path": "/spec/authors", "value": ["carol"]}),
            json!({"op": "add", "path": "/spec/breakGlassSession", "value": SESSION}),
        ]),
        Case::mutate(
            "on update the original creator is kept, and whoever changed the spec is an author",
            update("Release", "erin", &["backend-team"], created, reworded),
        )
        .patch(vec![
            json!({"op": "add", "path": "/spec/createdBy", "value": "dave"}),
            json!({"op": "add", "path": "/spec/authors", "value": ["dave", "erin"]}),
        ]),
    ])
    .await;
}

#[tokio::test]
async fn approval_decisions_are_stamped_with_user_groups_and_time() {
    let first = json!({"decision": "Approve", "user": "bob", "groups": ["sre-team"], "time": "2026-12-25T11:00:00Z"});
    App::new().check(vec![
        Case::mutate(
            "the user, groups and time of a decision come from the request",
            approval_by("bob", &["sre-team"], json!([]), json!([
                {"decision": "Approve", "comment": "looks good", "user": "mallory", "groups": ["admins"], "time": "2020-01-01T00:00:00Z"}
            ])),
        )
        .allowed()
        .patch(vec![
            json!({"op": "add", "path": "/spec/decisions/0/user", "value": "bob"}),
            json!({"op": "add", "path": "/spec/decisions/0/groups", "value": ["sre-team", "system:authenticated"]}),
            json!({"op": "add", "path": "/spec/decisions/0/time", "value": "2026-12-25T12:00:00Z"}),
        ]),
        Case::mutate(
            "earlier decisions are not touched; only the appended one is stamped",
            approval_by(
                "frank",
                &["backend-team"],
                json!([first.clone()]),
                json!([first, {"decision": "Approve"}]),
            ),
        )
        .patched_paths(&[
            "/spec/decisions/1/user",
            "/spec/decisions/1/groups",
            "/spec/decisions/1/time",
        ]),
    ])
    .await;
}

// ---------------------------------------------------------------------------------------------
// Policies

#[tokio::test]
async fn a_warn_policy_gives_warnings_and_an_enforce_policy_denies() {
    let warn_rego = "package gitopshq.replicas.workload\nimport rego.v1\n\ndeny contains msg if {\n  input.object.spec.replicas < 5\n  msg := sprintf(\"%s runs %d replicas, fewer than 5\", [input.metadata.name, input.object.spec.replicas])\n}\n";
    let enforce_rego = "package gitopshq.tags.release\nimport rego.v1\n\ndeny contains msg if {\n  some c in input.changes\n  c.values.image.tag == \"latest\"\n  msg := sprintf(\"workload %s may not use the latest tag\", [c.workload])\n}\n";
    let app = App::with_policies(vec![
        policy("replicas-warn", warn_rego, &[OPEN], "Warn"),
        policy("no-latest", enforce_rego, &[OPEN], "Enforce"),
    ]);
    // One warning per rendered Deployment, none from the ConfigMaps.
    let per_deployment = RENDERED_OBJECTS / 2;
    app.check(vec![
        Case::validate(
            "a release the Warn policy objects to is admitted with its warnings",
            dave_creates(tagged_release_json("web-5", "v1.2.3")),
        )
        .allowed()
        .warnings(per_deployment)
        .warning("policy replicas-warn (Warn): web-00 runs 3 replicas, fewer than 5 (Deployment web-staging/web-00, tenant acme-staging)")
        .audit("policy-verdicts", "no-latest=Pass,replicas-warn=Warn"),
        Case::validate(
            "a release the Enforce policy objects to is denied, the Warn policy's messages next to the denial",
            dave_creates(tagged_release_json("web-6", "latest")),
        )
        .denied(409)
        .message_starting("release web-6 denied by 1 policy violation(s): policy no-latest (Enforce): workload web may not use the latest tag (release web-6)")
        .warnings(per_deployment),
    ])
    .await;
}

/// 10^10 iterations: only the evaluation time limit ends it.
const LOOPING_REGO: &str = "package gitopshq.loop\nimport rego.v1\n\ndeny contains msg if {\n  some i in numbers.range(1, 100000)\n  some j in numbers.range(1, 100000)\n  i + j < 0\n  msg := \"never\"\n}\n";

/// Asks for a range of 10^9 elements.
const HUGE_RANGE_REGO: &str = "package gitopshq.big\nimport rego.v1\n\ndeny contains \"big\" if count(numbers.range(1, 1000000000)) > 0\n";

#[tokio::test]
async fn a_looping_policy_is_stopped_by_the_time_limit() {
    let looping = policy("loops", LOOPING_REGO, &[OPEN], "Enforce");
    let huge_range = policy("huge-range", HUGE_RANGE_REGO, &[OPEN], "Enforce");
    let judged_by_the_loop = || dave_creates(tagged_release_json("web-8", "v2.0.0"));
    let app = App::with_policies(vec![looping.clone()]);
    app.check(vec![
        Case::validate(
            "a release judged by the looping policy is denied, naming the limit",
            judged_by_the_loop(),
        )
        .denied(409)
        .message_starting("release web-8 denied: policy evaluation failed: policy loops exceeded its evaluation time limit of 100ms on "),
        Case::validate(
            "the same Policy object, with an embedded test, submitted for admission",
            erin_creates_policy(with_embedded_test(
                &looping,
                json!({"name": "terminates", "input": {}, "expect": {}}),
            )),
        )
        .denied(422)
        .message_starting("policy loops denied: ")
        .message_containing("exceeded its evaluation time limit of 100ms"),
        Case::validate(
            "a huge generated range is refused before it is built",
            erin_creates_policy(with_embedded_test(
                &huge_range,
                json!({"name": "small", "input": {}, "expect": {}}),
            )),
        )
        .refused()
        .message_containing("numbers.range would build more than 100000 elements"),
    ])
    .await;
    app.assert_healthy().await;
    app.check(vec![
        Case::validate(
            "the looping policy still answers the same way: its failure is not cached as a pass",
            judged_by_the_loop(),
        )
        .refused(),
    ])
    .await;
}

/// Loops only on a real input (an empty one ends at once), so only the run-time limit stops it:
/// 20 rendered objects make 100,000² iterations.
const SLOW_ON_INPUT: &str = "package gitopshq.slow.release\nimport rego.v1\n\ndeny contains msg if {\n  n := count(input.manifests) * 5000\n  some i in numbers.range(1, n)\n  some j in numbers.range(1, n)\n  i + j < 0\n  msg := \"never\"\n}\n";

/// Per rendered Deployment: 3 replicas make 90,000² iterations.
const SLOW_PER_OBJECT: &str = "package gitopshq.slow.workload\nimport rego.v1\n\ndeny contains msg if {\n  n := input.object.spec.replicas * 30000\n  some i in numbers.range(1, n)\n  some j in numbers.range(1, n)\n  i + j < 0\n  msg := \"never\"\n}\n";

#[tokio::test]
async fn a_policy_slow_on_real_input_is_stopped_at_run_time() {
    let slow = policy("slow", SLOW_ON_INPUT, &[OPEN], "Enforce");
    let manifests: Vec<Value> = (0..20)
        .map(|i| json!({"kind": "ConfigMap", "i": i}))
        .collect();
    let app = App::with_policies(vec![slow.clone()]);
    app.check(vec![
        Case::validate(
            "a release slow to judge is denied at the run-time limit",
            dave_creates(tagged_release_json("web-9", "v2.0.0")),
        )
        .denied(409)
        .message_starting("release web-9 denied: policy evaluation failed: policy slow exceeded its evaluation time limit of 100ms on release web-9; "),
        Case::validate(
            "its embedded test on a similar input fails the same way when the Policy is admitted",
            erin_creates_policy(with_embedded_test(
                &slow,
                json!({"name": "twenty objects", "input": {"manifests": manifests}, "expect": {}}),
            )),
        )
        .denied(422)
        .message_starting("policy slow denied: 1 of 1 embedded tests failed: test \"twenty objects\": policy slow exceeded its evaluation time limit of 100ms on "),
    ])
    .await;
    app.assert_healthy().await;

    let app = App::with_policies(vec![policy(
        "slow-objects",
        SLOW_PER_OBJECT,
        &[OPEN],
        "Warn",
    )]);
    app.check(vec![
        Case::validate(
            "bound Warn, a policy that times out on every Deployment warns instead of blocking",
            dave_creates(tagged_release_json("web-10", "v2.0.0")),
        )
        .allowed()
        .warnings(1)
        .warning_starting("policy slow-objects (Warn): policy slow-objects could not be evaluated and is bound Warn, so it does not block: policy slow-objects exceeded its evaluation time limit of 100ms on Deployment "),
    ])
    .await;
    app.assert_healthy().await;
}

// ---------------------------------------------------------------------------------------------
// Bodies that are not reviews

#[tokio::test]
async fn only_admission_reviews_of_v1_with_their_objects_are_answered() {
    let valid = create("Release", "dave", &[], release_json("web-9", OPEN, false)).json();
    let forged = |field: &str, value: &str| {
        let mut forged = valid.clone();
        forged[field] = json!(value);
        forged
    };
    let mut without_object = valid.clone();
    without_object["request"]["object"] = Value::Null;
    let delete_without_object =
        ReviewRequest::new("BreakGlassSession", "DELETE", "dave", &[], Value::Null).json();
    let v1 = "admission.k8s.io/v1 kind AdmissionReview";
    let cases: [(&str, Value, &[&str]); 4] = [
        (
            "a v1beta1 review",
            forged("apiVersion", "admission.k8s.io/v1beta1"),
            &["admission.k8s.io/v1beta1", v1],
        ),
        (
            "a ConfigMap",
            forged("kind", "ConfigMap"),
            &["ConfigMap", v1],
        ),
        (
            "a CREATE without its object cannot be judged",
            without_object,
            &["has no request.object"],
        ),
        (
            "a DELETE without the object it deletes cannot be judged",
            delete_without_object,
            &[],
        ),
    ];
    let app = App::new();
    for (what, review, expected) in cases {
        let body = serde_json::to_vec(&review).expect("serialisable");
        app.assert_refused(what, "/validate", body, expected).await;
    }
}

#[tokio::test]
async fn unreadable_bodies_are_answered_400() {
    let mut no_request = dave_creates(release_json("x", OPEN, false)).json();
    if let Some(review) = no_request.as_object_mut() {
        review.remove("request");
    }
    let mut bad_utf8 = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"gitopshq.io","version":"v1alpha1","kind":"Release"},"resource":{"group":"gitopshq.io","version":"v1alpha1","resource":"releases"},"operation":"CREATE","userInfo":{"username":""#.to_vec();
    bad_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    bad_utf8.extend_from_slice(br#""},"object":null}}"#);
    let not_a_review = "not an AdmissionReview";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "malformed JSON",
            b"{\"apiVersion\": ".to_vec(),
            not_a_review,
        ),
        ("empty body", Vec::new(), not_a_review),
        (
            "JSON, not a review",
            br#"{"hello": "world"}"#.to_vec(),
            not_a_review,
        ),
        ("a JSON array", b"[1, 2, 3]".to_vec(), not_a_review),
        (
            "another kind",
            br#"{"apiVersion": "v1", "kind": "Pod"}"#.to_vec(),
            "not an admission.k8s.io/v1 AdmissionReview: apiVersion \"v1\" kind \"Pod\"",
        ),
        (
            "a review without request",
            serde_json::to_vec(&no_request).expect("serialisable"),
            "has no request",
        ),
        ("invalid UTF-8", bad_utf8, not_a_review),
        (
            "raw binary",
            vec![0x00, 0x9f, 0x92, 0x96, 0xff],
            not_a_review,
        ),
    ];
    let app = App::new();
    for (what, body, expected) in cases {
        for path in ["/validate", "/mutate"] {
            app.assert_refused(what, path, body.clone(), &[expected])
                .await;
        }
    }
    app.assert_healthy().await;
}

#[tokio::test]
async fn deeply_nested_json_is_refused() {
    let app = App::new();
    let mut deep = vec![b'['; 100_000];
    deep.extend(vec![b']'; 100_000]);
    // Refused at the first byte: an AdmissionReview is an object.
    app.assert_refused(
        "a deep array",
        "/validate",
        deep,
        &["not an AdmissionReview"],
    )
    .await;

    let mut deep_object = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"deep","kind":{"group":"gitopshq.io","version":"v1alpha1","kind":"Release"},"resource":{"group":"gitopshq.io","version":"v1alpha1","resource":"releases"},"operation":"CREATE","userInfo":{"username":"dave"},"object":{"apiVersion":"gitopshq.io/v1alpha1","kind":"Release","metadata":{"name":"deep"},"spec":{"notes":"#.to_vec();
    for _ in 0..50_000 {
        deep_object.extend_from_slice(br#"{"a":"#);
    }
    deep_object.extend_from_slice(b"1");
    deep_object.extend(vec![b'}'; 50_000]);
    deep_object.extend_from_slice(b"}}}}");
    app.assert_refused(
        "the same depth inside the object of an otherwise valid review",
        "/mutate",
        deep_object,
        &["recursion limit exceeded"],
    )
    .await;

    let mut nested = json!("leaf");
    for _ in 0..100 {
        nested = json!({ "a": nested });
    }
    let mut object = release_json("nested", OPEN, false);
    object["spec"]["changes"][0]["values"] = nested;
    app.check(vec![Case::validate(
        "nesting up to the parser's limit is read and answered normally",
        create("Release", "dave", &[], object),
    )])
    .await;
    app.assert_healthy().await;
}

#[tokio::test]
async fn health_is_answered_without_a_review() {
    assert_eq!(
        App::new().get("/healthz").await,
        (StatusCode::OK, "ok".to_string())
    );
}
