use std::sync::Arc;

use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_crds::policy::Policy;
use gitopshq_crds::testing::from_yaml;
use kube::runtime::controller::Action;
use serde_json::Value;

use super::condition;
use crate::index::Index;
use crate::mock_api::{self, Scenario};
use crate::reconcilers::policy::reconcile;

/// The governance example: the seed's Rego (v0 syntax) with three embedded tests that pass.
fn require_limits() -> Policy {
    from_yaml(include_str!(
        "../../../../examples/governance/policy-require-limits.yaml"
    ))
}

/// Reconciles `policy`, which must write its status once; returns the status written.
async fn written_status(policy: Policy) -> Value {
    let cache = tempfile::tempdir().unwrap();
    let (ctx, server) = mock_api::context(Index::new(), cache.path());
    let verifier = server.run(Scenario::new().status_patch(&policy));
    let action = reconcile(Arc::new(policy), ctx).await;
    let mut seen = verifier.finish().await;
    assert_eq!(
        action.expect("the reconciliation succeeds"),
        Action::await_change()
    );
    seen.remove(0).body["status"].take()
}

#[tokio::test]
async fn a_policy_whose_embedded_tests_pass_is_ready() {
    let status = written_status(require_limits()).await;

    assert_eq!(status["compiled"], true);
    assert_eq!(status["package"], "gitopshq.workload");
    assert_eq!(status["tests"]["passed"], 3);
    assert_eq!(status["tests"]["failed"], 0);
    assert_eq!(condition(&status, types::COMPILED)["status"], "True");
    let tests = condition(&status, types::TESTS_PASSED);
    assert_eq!(tests["status"], "True");
    assert_eq!(tests["message"], "3 of 3 embedded tests pass");
    assert_eq!(condition(&status, types::READY)["status"], "True");
}

#[tokio::test]
async fn a_failing_embedded_test_makes_the_policy_not_ready() {
    let mut policy = require_limits();
    policy.spec.tests[0].expect.deny = vec!["another message".into()];

    let status = written_status(policy).await;

    assert_eq!(status["compiled"], true);
    assert_eq!(status["tests"]["passed"], 2);
    assert_eq!(status["tests"]["failed"], 1);
    let tests = condition(&status, types::TESTS_PASSED);
    assert_eq!(tests["status"], "False");
    assert_eq!(tests["reason"], reasons::TESTS_FAILED);
    let ready = condition(&status, types::READY);
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], reasons::TESTS_FAILED);
}

#[tokio::test]
async fn a_module_that_does_not_compile_says_so() {
    let policy = Policy::test(
        "broken",
        "package gitopshq.workload\n\ndeny contains msg if {\n",
    );

    let status = written_status(policy).await;

    assert_eq!(status["compiled"], false);
    let compiled = condition(&status, types::COMPILED);
    assert_eq!(compiled["status"], "False");
    assert_eq!(compiled["reason"], reasons::COMPILE_ERROR);
    assert!(!compiled["message"].as_str().unwrap().is_empty());
    let ready = condition(&status, types::READY);
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], reasons::COMPILE_ERROR);
}
