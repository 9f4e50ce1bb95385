//! Property tests over the decode → decide → encode path (`review::review`): whatever the body,
//! the call returns (never panics) either a response whose uid is the request's uid, or a
//! [`ReviewError`] the server answers with 400.

mod common;

use std::sync::{Arc, OnceLock};

use common::*;
use gitopshq_webhook::{Context, Endpoint, ReviewError, review};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};

/// One context for every case: policies bound to `staging` (one per scope), so Release reviews
/// render and evaluate Rego too.
fn ctx() -> &'static Arc<Context> {
    static CONTEXT: OnceLock<Arc<Context>> = OnceLock::new();
    CONTEXT.get_or_init(|| {
        let mut policies = bench_policies(2);
        policies.push(policy(
            "replicas-warn",
            "package gitopshq.replicas.workload\nimport rego.v1\n\ndeny contains msg if {\n  input.object.spec.replicas < 5\n  msg := \"few replicas\"\n}\n",
            &[OPEN],
            "Warn",
        ));
        context(snapshot(policies))
    })
}

const KINDS: &[&str] = &[
    "Release",
    "ApprovalRequest",
    "BreakGlassSession",
    "ChartVersion",
    "Workload",
    "Environment",
    "Policy",
    "Project",
    "Deployment",
];

const OPERATIONS: &[&str] = &["CREATE", "UPDATE", "DELETE", "CONNECT"];

fn endpoint() -> impl Strategy<Value = Endpoint> {
    prop_oneof![Just(Endpoint::Validate), Just(Endpoint::Mutate)]
}

/// Any JSON value, at most 6 levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        "\\PC{0,16}".prop_map(Value::String),
        // Strings that mean something to the rules.
        prop::sample::select(vec![
            "Approve",
            "Reject",
            "1h",
            "5h",
            "0s",
            "-1h",
            "PT1H",
            "1.0.0",
            "v1",
            "staging",
            "production",
            "2026-12-25T12:00:00Z",
            "not a time",
            "* * * * *",
            "0 0 31 2 *",
            "Europe/Berlin",
            "Mars/Olympus",
            "SEV1",
            "Enforce",
            "Warn",
            "",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-zA-Z]{1,12}", inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Objects the rules know, as the API server would send them.
fn fixtures() -> Vec<Value> {
    let mut policy_object = serde_json::to_value(policy(
        "fixture",
        "package gitopshq.fixture.workload\nimport rego.v1\n\ndeny contains \"x\" if input.spec.hostNetwork\n",
        &[OPEN],
        "Enforce",
    ))
    .unwrap_or_default();
    policy_object["spec"]["tests"] =
        json!([{"name": "clean", "input": {"spec": {}}, "expect": {}}]);
    vec![
        release_json("fuzz", OPEN, true),
        release_json("fuzz", FROZEN, true),
        tagged_release_json("fuzz", "v9"),
        approval_request_json(json!([{"decision": "Approve"}])),
        approval_request_json(json!([])),
        new_session_json("fuzz"),
        session_json(),
        chart_version_json(),
        policy_object,
        json!({"apiVersion": "gitopshq.io/v1alpha1", "kind": "Workload",
               "metadata": {"name": WORKLOAD, "namespace": PROJECT},
               "spec": {"chart": CHART, "version": "1.0.0", "environments": {"staging": {"version": "2.0.0"}}}}),
        json!({"apiVersion": "gitopshq.io/v1alpha1", "kind": "Environment",
               "metadata": {"name": "qa"},
               "spec": {"displayName": "QA", "rank": 5, "freezeWindows": [
                   {"name": "weekly", "recurring": {"cron": "0 16 * * 5", "duration": "64h", "timeZone": "Europe/Berlin"}}]}}),
    ]
}

/// Every JSON pointer inside `value` (the root included).
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{at}/{escaped}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// A fixture with the subtree at one of its pointers replaced by `replacement`.
fn mutated(fixture: &Value, at: Index, replacement: Value) -> Value {
    let mut object = fixture.clone();
    let mut all = Vec::new();
    pointers(fixture, String::new(), &mut all);
    let pointer = &all[at.index(all.len())];
    if pointer.is_empty() {
        return replacement;
    }
    if let Some(slot) = object.pointer_mut(pointer) {
        *slot = replacement;
    }
    object
}

/// A GitOpsHQ-looking object: a fixture, a fixture with one subtree replaced, or anything.
fn object() -> impl Strategy<Value = Value> {
    let fixtures = fixtures();
    let count = fixtures.len();
    prop_oneof![
        2 => (0..count).prop_map({
            let fixtures = fixtures.clone();
            move |i| fixtures[i].clone()
        }),
        5 => (0..count, any::<Index>(), json_value()).prop_map({
            let fixtures = fixtures.clone();
            move |(i, at, replacement)| mutated(&fixtures[i], at, replacement)
        }),
        2 => json_value(),
        1 => Just(Value::Null),
    ]
}

fn username() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            CREATOR,
            "bob",
            "carol",
            "",
            "system:serviceaccount:x:y"
        ])
        .prop_map(String::from),
        "\\PC{0,12}",
    ]
}

fn groups() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(vec!["sre-team", "backend-team", "system:masters", ""])
                .prop_map(String::from),
            "\\PC{0,8}",
        ],
        0..4,
    )
}

/// A structurally valid AdmissionReview with arbitrary objects.
fn admission_review() -> impl Strategy<Value = (String, Value)> {
    (
        "[a-z0-9-]{0,36}",
        prop::sample::select(KINDS.to_vec()),
        prop_oneof![4 => Just("gitopshq.io"), 1 => Just("apps")],
        prop::sample::select(OPERATIONS.to_vec()),
        username(),
        groups(),
        object(),
        prop_oneof![2 => Just(Value::Null), 3 => object()],
    )
        .prop_map(
            |(uid, kind, group, operation, user, groups, object, old)| {
                let review = json!({
                    "apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview",
                    "request": {
                        "uid": uid,
                        "kind": {"group": group, "version": "v1alpha1", "kind": kind},
                        "resource": {"group": group, "version": "v1alpha1", "resource": resource_of(kind)},
                        "name": object["metadata"]["name"].as_str().unwrap_or("fuzz"),
                        "namespace": PROJECT,
                        "operation": operation,
                        "userInfo": {"username": user, "groups": groups},
                        "object": object,
                        "oldObject": old,
                    },
                });
                (uid, review)
            },
        )
}

/// The one property: a response carries the request's uid, or the body was refused.
fn check(body: &[u8], endpoint: Endpoint) -> Result<(), TestCaseError> {
    match review(body, endpoint, ctx()) {
        Ok(outcome) => {
            // serde skips unknown fields without checking their UTF-8, so an answered body may
            // hold invalid bytes there; the fields that were read (uid among them) are valid.
            let text = String::from_utf8_lossy(body);
            let sent: Value = serde_json::from_str(&text).map_err(|e| {
                TestCaseError::fail(format!("answered a body that is not JSON: {e}"))
            })?;
            let response = outcome
                .review
                .response
                .as_ref()
                .ok_or_else(|| TestCaseError::fail("an answer without response"))?;
            prop_assert_eq!(Some(response.uid.as_str()), sent["request"]["uid"].as_str());
            prop_assert!(outcome.review.request.is_none());
            // The answer is what the server writes: it must serialise.
            let encoded = serde_json::to_vec(&outcome.review)
                .map_err(|e| TestCaseError::fail(format!("unencodable answer: {e}")))?;
            let decoded: Value = serde_json::from_slice(&encoded)
                .map_err(|e| TestCaseError::fail(format!("answer is not JSON: {e}")))?;
            // The answer speaks the version of the review it answers.
            prop_assert_eq!(&decoded["apiVersion"], &sent["apiVersion"]);
            prop_assert_eq!(&decoded["kind"], &sent["kind"]);
            if !response.allowed {
                prop_assert!(
                    !response.result.message.is_empty(),
                    "a denial without a message"
                );
                prop_assert!(
                    [403, 409, 422].contains(&response.result.code),
                    "unexpected code {}",
                    response.result.code
                );
            }
            Ok(())
        }
        Err(
            ReviewError::Decode(_)
            | ReviewError::MissingRequest
            | ReviewError::Envelope(_)
            | ReviewError::Patch(_),
        ) => Ok(()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES=20000 for a longer run.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        max_shrink_iters: 2_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512), endpoint in endpoint()) {
        check(&body, endpoint)?;
    }

    #[test]
    fn damaged_reviews_never_panic(
        (_, review) in admission_review(),
        edits in prop::collection::vec((any::<Index>(), any::<u8>(), 0u8..3), 1..8),
        endpoint in endpoint(),
    ) {
        // A valid body with a few bytes replaced, inserted or removed.
        let mut body = serde_json::to_vec(&review).unwrap_or_default();
        for (at, byte, how) in edits {
            if body.is_empty() {
                break;
            }
            let i = at.index(body.len());
            match how {
                0 => body[i] = byte,
                1 => body.insert(i, byte),
                _ => {
                    body.remove(i);
                }
            }
        }
        check(&body, endpoint)?;
    }

    #[test]
    fn valid_reviews_with_arbitrary_objects_are_answered((_, review) in admission_review(), endpoint in endpoint()) {
        let body = serde_json::to_vec(&review).unwrap_or_default();
        check(&body, endpoint)?;
    }
}

/// Fixtures decode and are answered (so the properties above start from real reviews).
#[test]
fn every_fixture_is_answered() {
    for object in fixtures() {
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        for endpoint in [Endpoint::Validate, Endpoint::Mutate] {
            let request = ReviewRequest::new(&kind, "CREATE", "bob", &["sre-team"], object.clone())
                .uid(format!("fixture-{kind}"));
            let outcome =
                review(&request.body(), endpoint, ctx()).unwrap_or_else(|e| panic!("{kind}: {e}"));
            let response = outcome.review.response.expect("a response");
            assert_eq!(response.uid, format!("fixture-{kind}"));
        }
    }
}
