//! Behaviour of the policy engine, rule by rule (API.md, `Policy`).

use std::time::{Duration, Instant};

use gitopshq_crds::policy::{
    EnforcementMode, Policy, PolicyBinding, PolicyMessages, PolicySpec, PolicyTest,
};
use gitopshq_crds::release::{PolicyVerdict, WorkloadChange};
use serde_json::{Value, json};

use super::*;
use crate::manifest::RenderedManifest;

/// The seed's policy, verbatim.
const SEED: &str = crate::policy::SEED_REGO;

const SEED_MESSAGE: &str = "Container 'api' in production must have resource limits";

fn engine() -> PolicyEngine {
    PolicyEngine::new(EvalLimits::default())
}

fn containers(limits: bool) -> Value {
    let resources = if limits {
        json!({"limits": {"cpu": "500m", "memory": "256Mi"}})
    } else {
        json!({"requests": {"cpu": "100m"}})
    };
    json!([{"name": "api", "image": "registry.example.com/api:1.0.0", "resources": resources}])
}

fn seed_input(environment: &str, limits: bool) -> Value {
    json!({"environment": environment, "spec": {"containers": containers(limits)}})
}

/// A rendered object, through the same validation and canonical ordering as rendering.
fn manifest(object: Value) -> RenderedManifest {
    let origin = crate::manifest::DocumentOrigin {
        chart: "test",
        template: "templates/object.yaml",
        document: 1,
    };
    crate::manifest::to_manifest(object, "payments", &[], &origin).unwrap()
}

fn deployment(name: &str, limits: bool) -> RenderedManifest {
    manifest(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "payments"},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": name}},
                 "spec": {"containers": containers(limits)}}}
    }))
}

fn service(name: &str) -> RenderedManifest {
    manifest(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "payments"},
        "spec": {"ports": [{"port": 80}]}
    }))
}

fn policy(name: &str, rego: &str, bindings: &[(&[&str], EnforcementMode)]) -> Policy {
    Policy::new(
        name,
        PolicySpec {
            description: None,
            rego: rego.to_string(),
            bindings: bindings
                .iter()
                .map(|(envs, mode)| PolicyBinding {
                    environments: envs.iter().map(|e| e.to_string()).collect(),
                    mode: *mode,
                })
                .collect(),
            tests: Vec::new(),
        },
    )
}

fn seed_policy() -> Policy {
    policy(
        "require-limits",
        SEED,
        &[
            (&["staging"], EnforcementMode::Warn),
            (&["production"], EnforcementMode::Enforce),
        ],
    )
}

fn subject<'a>(environment: &'a str, targets: Vec<SubjectTarget<'a>>) -> ReleaseSubject<'a> {
    ReleaseSubject {
        environment,
        project: "payments",
        release: "payment-api-v2",
        changes: &[],
        targets,
    }
}

fn target<'a>(tenant: &'a str, manifests: &'a [RenderedManifest]) -> SubjectTarget<'a> {
    SubjectTarget {
        tenant,
        workload: "payment-api",
        manifests,
    }
}

// ---------------------------------------------------------------------------------------------
// Syntax and rules

#[test]
fn seed_policy_works_verbatim_as_rego_v0() {
    let engine = engine();
    let compiled = engine.compile("require-limits", SEED).unwrap();
    assert_eq!(compiled.syntax(), RegoVersion::V0);
    assert_eq!(compiled.package(), "gitopshq.workload");
    assert_eq!(compiled.scope(), PolicyScope::Workload);
    assert!(compiled.has_deny() && !compiled.has_warn());

    let denied = engine
        .evaluate(&compiled, &seed_input("production", false))
        .unwrap();
    assert_eq!(denied.deny, vec![SEED_MESSAGE.to_string()]);
    assert!(denied.warn.is_empty());

    for clean in [seed_input("production", true), seed_input("staging", false)] {
        assert!(engine.evaluate(&compiled, &clean).unwrap().is_clean());
    }
}

#[test]
fn rego_v1_with_and_without_the_import() {
    let engine = engine();
    for rego in [
        "package gitopshq.workload\nimport rego.v1\n\ndeny contains msg if {\n  some c in input.spec.containers\n  not c.resources.limits\n  msg := sprintf(\"Container '%s' in production must have resource limits\", [c.name])\n}\n",
        "package gitopshq.workload\n\ndeny contains msg if {\n  c := input.spec.containers[_]\n  not c.resources.limits\n  msg := sprintf(\"Container '%s' in production must have resource limits\", [c.name])\n}\n",
    ] {
        let compiled = engine.compile("v1", rego).unwrap();
        assert_eq!(compiled.syntax(), RegoVersion::V1);
        let outcome = engine
            .evaluate(&compiled, &seed_input("production", false))
            .unwrap();
        assert_eq!(outcome.deny, vec![SEED_MESSAGE.to_string()]);
    }
}

#[test]
fn v0_with_future_keywords_keeps_partial_set_semantics() {
    let rego = "package p\nimport future.keywords.if\nimport future.keywords.in\n\ndeny[msg] if {\n  some x in input.xs\n  msg := sprintf(\"bad %v\", [x])\n}\n";
    let engine = engine();
    let compiled = engine.compile("fk", rego).unwrap();
    assert_eq!(compiled.syntax(), RegoVersion::V0);
    let outcome = engine.evaluate(&compiled, &json!({"xs": [1, 2]})).unwrap();
    assert_eq!(outcome.deny, vec!["bad 1", "bad 2"]);
}

#[test]
fn warn_rules_and_missing_rules() {
    let engine = engine();
    let only_warn = engine
        .compile(
            "latest-tag",
            "package gitopshq.workload\nimport rego.v1\n\nwarn contains msg if {\n  some c in input.spec.containers\n  endswith(c.image, \":latest\")\n  msg := sprintf(\"Container '%s' uses the latest tag\", [c.name])\n}\n",
        )
        .unwrap();
    assert!(!only_warn.has_deny() && only_warn.has_warn());
    let input = json!({"spec": {"containers": [{"name": "api", "image": "api:latest"}]}});
    let outcome = engine.evaluate(&only_warn, &input).unwrap();
    assert!(
        outcome.deny.is_empty(),
        "a missing deny rule gives no messages"
    );
    assert_eq!(outcome.warn, vec!["Container 'api' uses the latest tag"]);

    let neither = engine
        .compile("empty", "package gitopshq.workload\n\nhelper := 1\n")
        .unwrap();
    assert!(engine.evaluate(&neither, &input).unwrap().is_clean());
}

#[test]
fn messages_are_sorted_and_deduplicated() {
    let engine = engine();
    let compiled = engine
        .compile(
            "dups",
            "package p\nimport rego.v1\n\ndeny contains \"b\" if true\ndeny contains \"a\" if true\ndeny contains msg if { some x in input.xs; msg := x }\n",
        )
        .unwrap();
    let outcome = engine
        .evaluate(&compiled, &json!({"xs": ["c", "a", "b", "a"]}))
        .unwrap();
    assert_eq!(outcome.deny, vec!["a", "b", "c"]);
}

#[test]
fn other_message_shapes() {
    let engine = engine();
    // Gatekeeper-style objects, a v1 `deny[msg] if` (an object {msg: true}) and a boolean rule.
    let cases = [
        (
            "package p\nimport rego.v1\n\ndeny contains {\"msg\": \"from object\"} if true\n",
            vec!["from object"],
        ),
        (
            "package p\nimport rego.v1\n\ndeny[msg] if { msg := \"keyed\" }\n",
            vec!["keyed"],
        ),
        (
            "package p\nimport rego.v1\n\ndeny if input.bad\n",
            vec!["data.p.deny is true"],
        ),
    ];
    for (rego, expected) in cases {
        let compiled = engine.compile("shapes", rego).unwrap();
        let outcome = engine.evaluate(&compiled, &json!({"bad": true})).unwrap();
        assert_eq!(outcome.deny, expected, "{rego}");
    }
}

#[test]
fn prints_are_collected_not_written() {
    let engine = engine();
    let compiled = engine
        .compile(
            "printer",
            "package p\nimport rego.v1\n\ndeny contains \"x\" if {\n  print(\"checking\", input.n)\n}\n",
        )
        .unwrap();
    let outcome = engine.evaluate(&compiled, &json!({"n": 3})).unwrap();
    assert_eq!(outcome.prints, vec!["policy.rego:5: checking 3"]);
}

// ---------------------------------------------------------------------------------------------
// Compile errors

#[test]
fn v0_compile_error_names_policy_line_and_column() {
    let broken = "package gitopshq.workload\n\ndeny[msg] {\n  container := input.spec.containers[_]\n  msg := sprintf(\"x %s\", [container.name]\n}\n";
    let error = engine().compile("require-limits", broken).unwrap_err();
    let PolicyError::Compile {
        policy,
        position,
        syntax,
        ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(policy, "require-limits");
    assert_eq!(*syntax, RegoVersion::V0);
    assert_eq!(position.line, Some(6), "{error}");
    assert!(position.column.is_some());
    let text = error.to_string();
    assert!(
        text.starts_with("policy require-limits does not compile: line 6, column"),
        "{text}"
    );
    assert!(text.contains("gitopshq policy test"), "{text}");
    assert!(error.status_message().starts_with("line 6, column"));
}

#[test]
fn v1_compile_error_is_reported_in_v1_terms() {
    let broken = "package p\nimport rego.v1\n\ndeny contains msg if {\n  msg := \n}\n";
    let error = engine().compile("v1-broken", broken).unwrap_err();
    let PolicyError::Compile {
        position, syntax, ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(*syntax, RegoVersion::V1);
    assert_eq!(position.line, Some(5), "{error}");
}

#[test]
fn unknown_functions_and_unsafe_variables_fail_at_compile_time() {
    let engine = engine();
    let unknown = "package p\nimport rego.v1\n\ndeny contains msg if {\n  msg := foo.bar(1)\n}\n";
    let error = engine.compile("unknown-fn", unknown).unwrap_err();
    assert_eq!(error.position().and_then(|p| p.line), Some(5), "{error}");
    assert!(error.to_string().contains("foo.bar"), "{error}");

    let unsafe_var = "package p\nimport rego.v1\n\ndeny contains msg if {\n  x := 1\n}\n";
    let error = engine.compile("unsafe", unsafe_var).unwrap_err();
    assert_eq!(error.reason(), "Compile");
    assert!(error.to_string().contains("var msg is unsafe"), "{error}");
}

// ---------------------------------------------------------------------------------------------
// Pod specs and inputs

#[test]
fn pod_spec_of_each_kind() {
    let pod = json!({"containers": [{"name": "c"}]});
    let template = json!({"template": {"spec": pod}});
    for kind in [
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "ReplicationController",
        "Job",
    ] {
        let object = json!({"kind": kind, "spec": template});
        assert_eq!(pod_spec(&object), Some(&pod), "{kind}");
    }
    assert_eq!(pod_spec(&json!({"kind": "Pod", "spec": pod})), Some(&pod));
    let cron = json!({"kind": "CronJob", "spec": {"schedule": "* * * * *",
        "jobTemplate": {"spec": template}}});
    assert_eq!(pod_spec(&cron), Some(&pod));
    // A custom kind with a pod template (Argo Rollout) counts; kinds without one do not.
    let rollout = json!({"kind": "Rollout", "spec": template});
    assert_eq!(pod_spec(&rollout), Some(&pod));
    assert_eq!(pod_spec(&service("s").object), None);
    assert_eq!(pod_spec(&json!({"kind": "ConfigMap", "data": {}})), None);
    assert_eq!(pod_spec(&json!({"kind": "Deployment", "spec": {}})), None);
}

#[test]
fn workload_input_has_the_documented_shape() {
    let manifests = [deployment("payment-api", false)];
    let subject = subject("production", vec![target("acme", &manifests)]);
    let spec = pod_spec(&manifests[0].object).unwrap();
    let input = workload_input(&subject, &subject.targets[0], &manifests[0], spec);
    assert_eq!(
        input,
        json!({
            "environment": "production",
            "project": "payments",
            "tenant": "acme",
            "workload": "payment-api",
            "release": "payment-api-v2",
            "kind": "Deployment",
            "metadata": manifests[0].object["metadata"],
            "spec": {"containers": containers(false)},
            "object": manifests[0].object,
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Releases: bindings, modes, scopes, messages

#[test]
fn seed_on_a_release_denies_in_production_with_the_object_named() {
    let engine = engine();
    let manifests = [
        service("payment-api"),
        deployment("payment-api", false),
        deployment("payment-worker", true),
    ];
    let subject = subject("production", vec![target("acme", &manifests)]);
    let results = engine.evaluate_release(&[seed_policy()], &subject).unwrap();
    assert_eq!(
        results,
        vec![gitopshq_crds::release::PolicyResult {
            policy: "require-limits".into(),
            mode: EnforcementMode::Enforce,
            verdict: PolicyVerdict::Deny,
            messages: vec![
                "Container 'api' in production must have resource limits (Deployment payments/payment-api, tenant acme)".into()
            ],
        }]
    );
    let reports = engine
        .evaluate_release_reports(&[seed_policy()], &subject)
        .unwrap();
    assert_eq!(reports[0].evaluations, 2, "only objects with a pod spec");
}

#[test]
fn modes_and_verdicts() {
    let engine = engine();
    let bad = [deployment("payment-api", false)];
    let good = [deployment("payment-api", true)];
    // The seed denies only in production: staging passes under Warn.
    let staging = subject("staging", vec![target("acme", &bad)]);
    let result = &engine.evaluate_release(&[seed_policy()], &staging).unwrap()[0];
    assert_eq!(
        (result.mode, result.verdict),
        (EnforcementMode::Warn, PolicyVerdict::Pass)
    );

    // Deny messages under a Warn binding give Warn.
    let everywhere = "package gitopshq.workload\n\ndeny[msg] {\n  c := input.spec.containers[_]\n  not c.resources.limits\n  msg := sprintf(\"Container '%s' must have resource limits\", [c.name])\n}\n";
    let warned = policy(
        "limits-everywhere",
        everywhere,
        &[(&["staging"], EnforcementMode::Warn)],
    );
    let result = &engine.evaluate_release(&[warned], &staging).unwrap()[0];
    assert_eq!(result.verdict, PolicyVerdict::Warn);
    assert_eq!(result.messages.len(), 1);

    // Warn messages give Warn even under Enforce.
    let warn_rule = "package gitopshq.workload\nimport rego.v1\n\nwarn contains \"replicas\" if input.object.spec.replicas < 3\n";
    let enforce_warn = policy("replicas", warn_rule, &[(&[], EnforcementMode::Enforce)]);
    let production_good = subject("production", vec![target("acme", &good)]);
    let result = &engine
        .evaluate_release(&[enforce_warn], &production_good)
        .unwrap()[0];
    assert_eq!(
        (result.mode, result.verdict),
        (EnforcementMode::Enforce, PolicyVerdict::Warn)
    );
    assert_eq!(
        result.messages,
        vec!["replicas (Deployment payments/payment-api, tenant acme)"]
    );

    // Compliant objects pass under Enforce.
    let result = &engine
        .evaluate_release(&[seed_policy()], &production_good)
        .unwrap()[0];
    assert_eq!(result.verdict, PolicyVerdict::Pass);
    assert!(result.messages.is_empty());
}

#[test]
fn bindings_select_policies_and_enforce_wins() {
    let seed_everywhere = policy("all-envs", SEED, &[(&[], EnforcementMode::Warn)]);
    assert_eq!(
        binding_mode(&seed_everywhere, "anything"),
        Some(EnforcementMode::Warn)
    );
    let unbound = policy("only-tested", SEED, &[]);
    assert_eq!(binding_mode(&unbound, "production"), None);
    let elsewhere = policy("dev", SEED, &[(&["development"], EnforcementMode::Enforce)]);
    assert_eq!(binding_mode(&elsewhere, "production"), None);
    let both = policy(
        "both",
        SEED,
        &[
            (&["production"], EnforcementMode::Enforce),
            (&[], EnforcementMode::Warn),
        ],
    );
    assert_eq!(
        binding_mode(&both, "production"),
        Some(EnforcementMode::Enforce)
    );
    assert_eq!(binding_mode(&both, "staging"), Some(EnforcementMode::Warn));

    let engine = engine();
    let manifests = [deployment("payment-api", false)];
    let subject = subject("production", vec![target("acme", &manifests)]);
    let results = engine
        .evaluate_release(&[unbound, elsewhere, both, seed_everywhere], &subject)
        .unwrap();
    let summary: Vec<_> = results
        .iter()
        .map(|r| (r.policy.as_str(), r.mode, r.verdict))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("all-envs", EnforcementMode::Warn, PolicyVerdict::Warn),
            ("both", EnforcementMode::Enforce, PolicyVerdict::Deny),
        ],
        "unbound policies are skipped, results sorted by name"
    );
}

#[test]
fn release_scoped_policies_run_once_on_all_manifests_and_changes() {
    let rego = r#"package gitopshq.release

deny[msg] {
  count(input.manifests) > 2
  msg := sprintf("release %s in %s renders %d objects, at most 2 allowed", [input.release, input.environment, count(input.manifests)])
}

warn[msg] {
  change := input.changes[_]
  not change.version
  msg := sprintf("change of %s has no version", [change.workload])
}
"#;
    let engine = engine();
    let compiled = engine.compile("size", rego).unwrap();
    assert_eq!(compiled.scope(), PolicyScope::Release);
    let a = [deployment("payment-api", true), service("payment-api")];
    let b = [deployment("payment-api", true)];
    let changes = [WorkloadChange {
        workload: "payment-api".into(),
        version: None,
        values: Default::default(),
        unset: Vec::new(),
    }];
    let mut subject = subject("production", vec![target("acme", &a), target("globex", &b)]);
    subject.changes = &changes;
    let reports = engine
        .evaluate_release_reports(
            &[policy("size", rego, &[(&[], EnforcementMode::Enforce)])],
            &subject,
        )
        .unwrap();
    let report = &reports[0];
    assert_eq!(report.evaluations, 1);
    assert_eq!(report.verdict, PolicyVerdict::Deny);
    assert_eq!(
        report.deny,
        vec![
            "release payment-api-v2 in production renders 3 objects, at most 2 allowed (release payment-api-v2)"
        ]
    );
    assert_eq!(
        report.warn,
        vec!["change of payment-api has no version (release payment-api-v2)"]
    );
    let input = release_input(&subject);
    assert_eq!(input["manifests"].as_array().map(Vec::len), Some(3));
    assert_eq!(input["changes"], json!([{"workload": "payment-api"}]));
}

#[test]
fn messages_from_several_objects_and_tenants_are_tagged_and_sorted() {
    let engine = engine();
    let a = [
        deployment("payment-api", false),
        deployment("payment-worker", false),
    ];
    let b = [deployment("payment-api", false)];
    let subject = subject("production", vec![target("globex", &a), target("acme", &b)]);
    let result = &engine.evaluate_release(&[seed_policy()], &subject).unwrap()[0];
    assert_eq!(
        result.messages,
        vec![
            format!("{SEED_MESSAGE} (Deployment payments/payment-api, tenant acme)"),
            format!("{SEED_MESSAGE} (Deployment payments/payment-api, tenant globex)"),
            format!("{SEED_MESSAGE} (Deployment payments/payment-worker, tenant globex)"),
        ]
    );
}

#[test]
fn broken_policies_block_only_when_enforced() {
    let engine = engine();
    let manifests = [deployment("payment-api", true)];
    let subject = subject("production", vec![target("acme", &manifests)]);
    let broken = "package gitopshq.workload\n\ndeny[msg] {\n";
    let warn = policy("broken", broken, &[(&[], EnforcementMode::Warn)]);
    let reports = engine.evaluate_release_reports(&[warn], &subject).unwrap();
    assert_eq!(reports[0].verdict, PolicyVerdict::Warn);
    assert!(matches!(
        reports[0].error,
        Some(PolicyError::Compile { .. })
    ));
    assert!(
        reports[0].warn[0].contains("does not block"),
        "{:?}",
        reports[0].warn
    );

    let enforce = policy("broken", broken, &[(&[], EnforcementMode::Enforce)]);
    let error = engine.evaluate_release(&[enforce], &subject).unwrap_err();
    assert_eq!(error.policy(), "broken");
    assert_eq!(error.reason(), "Compile");
}

// ---------------------------------------------------------------------------------------------
// Caches

#[test]
fn compiled_modules_are_cached_by_text_and_shared_between_names() {
    let engine = engine();
    let first = engine.compile("a", SEED).unwrap();
    let second = engine.compile("b", SEED).unwrap();
    assert_eq!(
        second.name(),
        "b",
        "the name is the caller's, the module is shared"
    );
    assert_eq!(first.digest(), second.digest());
    let stats = engine.cache_stats().compiled;
    assert_eq!((stats.hits, stats.misses, stats.entries), (1, 1, 1));

    // Failures are cached too, and named after whoever asks.
    let broken = "package p\ndeny[ {";
    assert_eq!(engine.compile("x", broken).unwrap_err().policy(), "x");
    assert_eq!(engine.compile("y", broken).unwrap_err().policy(), "y");
    assert_eq!(engine.cache_stats().compiled.hits, 2);
}

#[test]
fn evaluations_are_cached_by_policy_and_input() {
    let engine = engine();
    let compiled = engine.compile("require-limits", SEED).unwrap();
    let input = seed_input("production", false);
    let first = engine.evaluate(&compiled, &input).unwrap();
    let again = engine.evaluate(&compiled, &input).unwrap();
    assert_eq!(first, again);
    let other = engine
        .evaluate(&compiled, &seed_input("production", true))
        .unwrap();
    assert!(other.is_clean());
    let stats = engine.cache_stats().evaluations;
    assert_eq!((stats.hits, stats.misses), (1, 2));

    // A release re-evaluated: every evaluation is a hit.
    let manifests: Vec<_> = (0..5)
        .map(|i| deployment(&format!("api-{i}"), i % 2 == 0))
        .collect();
    let subject = subject("production", vec![target("acme", &manifests)]);
    let cold = engine.evaluate_release(&[seed_policy()], &subject).unwrap();
    let before = engine.cache_stats().evaluations;
    let warm = engine.evaluate_release(&[seed_policy()], &subject).unwrap();
    let after = engine.cache_stats().evaluations;
    assert_eq!(cold, warm);
    assert_eq!(after.hits - before.hits, 5);
    assert_eq!(after.misses, before.misses);
}

#[test]
fn caches_stay_bounded() {
    let engine = PolicyEngine::new(EvalLimits {
        compiled_cache_entries: 4,
        eval_cache_entries: 8,
        ..EvalLimits::default()
    });
    for i in 0..20 {
        let rego =
            format!("package p{i}\nimport rego.v1\n\ndeny contains \"x\" if input.n == {i}\n");
        let compiled = engine.compile("p", &rego).unwrap();
        for n in 0..5 {
            engine.evaluate(&compiled, &json!({"n": n})).unwrap();
        }
    }
    let stats = engine.cache_stats();
    assert!(stats.compiled.entries <= 4, "{stats:?}");
    assert!(stats.evaluations.entries <= 8, "{stats:?}");
}

// ---------------------------------------------------------------------------------------------
// Limits

#[test]
fn a_runaway_policy_is_stopped_with_an_error() {
    let engine = PolicyEngine::new(EvalLimits {
        time_per_evaluation: Duration::from_millis(50),
        ..EvalLimits::default()
    });
    let rego = "package p\nimport rego.v1\n\ndeny contains msg if {\n  some i in numbers.range(1, input.n)\n  some j in numbers.range(1, input.n)\n  some k in numbers.range(1, input.n)\n  i + j + k < 0\n  msg := \"never\"\n}\n";
    let compiled = engine.compile("runaway", rego).unwrap();
    let started = Instant::now();
    let error = engine
        .evaluate(&compiled, &json!({"n": 100_000}))
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "stopped, not hung"
    );
    let PolicyError::TimeLimitExceeded { policy, limit, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        (policy.as_str(), *limit),
        ("runaway", Duration::from_millis(50))
    );
    assert!(error.to_string().contains("50ms"), "{error}");

    // The engine is still usable afterwards.
    assert!(
        engine
            .evaluate(&compiled, &json!({"n": 3}))
            .unwrap()
            .is_clean()
    );
}

#[test]
fn huge_ranges_are_refused_before_they_are_built() {
    let engine = engine();
    let rego = "package p\nimport rego.v1\n\ndeny contains \"big\" if count(numbers.range(1, input.n)) > 0\n";
    let compiled = engine.compile("big-range", rego).unwrap();
    let error = engine
        .evaluate(&compiled, &json!({"n": 1_000_000_000_i64}))
        .unwrap_err();
    assert!(
        matches!(&error, PolicyError::SizeLimitExceeded { policy, builtin, limit: 100_000, .. }
            if policy == "big-range" && builtin == "numbers.range"),
        "{error:?}"
    );
    // Within the limit, the replacement behaves like OPA's: both ends, counting down too.
    let range = "package p\nimport rego.v1\n\ndeny contains x if { some x in numbers.range(3, 1) }\ndeny contains x if { some x in numbers.range_step(10, 14, 2) }\n";
    let compiled = engine.compile("range", range).unwrap();
    let outcome = engine.evaluate(&compiled, &json!({})).unwrap();
    assert_eq!(outcome.deny, vec!["1", "10", "12", "14", "2", "3"]);
}

#[test]
fn a_release_has_a_total_time_budget() {
    let engine = PolicyEngine::new(EvalLimits {
        time_per_evaluation: Duration::from_secs(10),
        time_per_release: Duration::from_millis(50),
        ..EvalLimits::default()
    });
    let rego = "package gitopshq.workload\nimport rego.v1\n\ndeny contains msg if {\n  n := input.object.spec.replicas * 25000\n  some i in numbers.range(1, n)\n  some j in numbers.range(1, n)\n  i + j < 0\n  msg := \"never\"\n}\n";
    let slow = policy("slow", rego, &[(&[], EnforcementMode::Warn)]);
    let manifests = [deployment("payment-api", true)];
    let subject = subject("production", vec![target("acme", &manifests)]);
    let error = engine.evaluate_release(&[slow], &subject).unwrap_err();
    assert!(
        matches!(&error, PolicyError::ReleaseBudgetExceeded { release, policy, .. }
            if release == "payment-api-v2" && policy == "slow"),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Workbench

fn test_case(name: &str, input: Value, deny: &[&str]) -> PolicyTest {
    PolicyTest {
        name: name.to_string(),
        input: input.as_object().cloned().unwrap_or_default(),
        expect: PolicyMessages {
            deny: deny.iter().map(|s| s.to_string()).collect(),
            warn: Vec::new(),
        },
    }
}

#[test]
fn embedded_tests_pass_and_fail_with_expected_versus_got() {
    let mut policy = seed_policy();
    policy.spec.tests = vec![
        test_case(
            "missing limits denied",
            seed_input("production", false),
            &[SEED_MESSAGE],
        ),
        test_case("limits pass", seed_input("production", true), &[]),
        test_case(
            "wrong expectation",
            seed_input("production", false),
            &["something else"],
        ),
    ];
    let check = engine().check(&policy);
    assert!(!check.is_ok());
    assert_eq!(check.package.as_deref(), Some("gitopshq.workload"));
    assert_eq!((check.tests.passed, check.tests.failed), (2, 1));
    let failure = &check.tests.failures[0];
    assert_eq!(failure.name, "wrong expectation");
    assert_eq!(failure.expected.deny, vec!["something else"]);
    assert_eq!(failure.got.deny, vec![SEED_MESSAGE]);
    let problem = check.problem().unwrap();
    assert!(
        problem.contains("wrong expectation") && problem.contains(SEED_MESSAGE),
        "{problem}"
    );

    let status = check.status();
    assert!(status.compiled);
    assert_eq!(status.error, None);
    assert_eq!(status.tests.unwrap().failed, 1);

    let at = jiff::Timestamp::from_second(1_780_000_000).unwrap();
    let failing = check.status_with_conditions(None, Some(2), at);
    let condition = |status: &gitopshq_crds::policy::PolicyStatus, type_: &str| {
        let c = status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .expect("condition");
        (c.status.clone(), c.reason.clone())
    };
    assert_eq!(
        condition(&failing, "Compiled"),
        ("True".into(), "Compiled".into())
    );
    assert_eq!(
        condition(&failing, "TestsPassed"),
        ("False".into(), "TestsFailed".into())
    );
    assert_eq!(
        condition(&failing, "Ready"),
        ("False".into(), "TestsFailed".into())
    );

    policy.spec.tests.pop();
    let check = engine().check(&policy);
    assert!(check.is_ok());
    let later = at + jiff::SignedDuration::from_secs(60);
    let passing = check.status_with_conditions(Some(&failing), Some(3), later);
    assert_eq!(
        condition(&passing, "Ready"),
        ("True".into(), "TestsPassed".into())
    );
    let compiled = passing
        .conditions
        .iter()
        .find(|c| c.type_ == "Compiled")
        .unwrap();
    assert_eq!(
        compiled.last_transition_time.0, at,
        "unchanged, so its transition time stays"
    );
    let ready = passing
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.message, "2 of 2 embedded tests pass");
}

#[test]
fn checking_a_policy_that_does_not_compile() {
    let mut policy = policy(
        "broken",
        "package gitopshq.workload\n\ndeny[msg] {\n  msg := \n}\n",
        &[],
    );
    policy.spec.tests = vec![test_case("t", json!({}), &[])];
    let check = engine().check(&policy);
    assert!(!check.is_ok());
    assert_eq!(check.package.as_deref(), Some("gitopshq.workload"));
    assert_eq!((check.tests.passed, check.tests.failed), (0, 1));
    let status = check.status();
    assert!(!status.compiled);
    assert!(status.error.unwrap().starts_with("line "));
    let now = jiff::Timestamp::from_second(1_780_000_000).unwrap();
    let ready = check
        .status_with_conditions(None, None, now)
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "CompileError")
    );
    assert!(
        check.tests.failures[0]
            .error
            .as_deref()
            .unwrap()
            .starts_with("not run: the policy does not compile")
    );
}

// ---------------------------------------------------------------------------------------------
// Sharing

#[test]
fn one_engine_serves_many_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PolicyEngine>();
    assert_send_sync::<CompiledPolicy>();

    let engine = engine();
    let compiled = engine.compile("require-limits", SEED).unwrap();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let engine = &engine;
            let compiled = &compiled;
            scope.spawn(move || {
                for i in 0..50 {
                    let input = json!({"environment": "production", "spec": {"containers": [
                        {"name": format!("c{t}-{i}")}]}});
                    let outcome = engine.evaluate(compiled, &input).unwrap();
                    assert_eq!(
                        outcome.deny,
                        vec![format!(
                            "Container 'c{t}-{i}' in production must have resource limits"
                        )]
                    );
                }
            });
        }
    });
}

#[test]
fn inputs_built_for_regorus_match_the_documented_json() {
    let manifests = [
        deployment("payment-api", false),
        service("payment-api"),
        manifest(json!({"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "report"},
            "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec":
                {"containers": [{"name": "report", "image": "report:1"}]}}}}}})),
    ];
    let changes = [WorkloadChange {
        workload: "payment-api".into(),
        version: Some("2.0.0".into()),
        values: Default::default(),
        unset: Vec::new(),
    }];
    let mut subject = subject("production", vec![target("acme", &manifests)]);
    subject.changes = &changes;
    let target = &subject.targets[0];
    let mut objects = Vec::new();
    for manifest in &manifests {
        let object = evaluate::to_rego(&manifest.object).unwrap();
        let built = input::rego_workload_input(&subject, target, manifest, &object);
        match pod_spec(&manifest.object) {
            Some(spec) => {
                let expected = workload_input(&subject, target, manifest, spec);
                assert_eq!(built, Some(evaluate::to_rego(&expected).unwrap()));
            }
            None => assert_eq!(built, None),
        }
        objects.push(object);
    }
    assert_eq!(
        input::rego_release_input(&subject, objects).unwrap(),
        evaluate::to_rego(&release_input(&subject)).unwrap()
    );
}

#[test]
fn parallel_and_sequential_evaluation_agree() {
    let manifests: Vec<_> = (0..40)
        .map(|i| deployment(&format!("api-{i:02}"), i % 3 == 0))
        .collect();
    let subject = subject("production", vec![target("acme", &manifests)]);
    let policies: Vec<Policy> = (0..5)
        .map(|i| {
            let rego = format!(
                "package gitopshq.p{i}.workload\nimport rego.v1\n\ndeny contains msg if {{\n  some c in input.spec.containers\n  not c.resources.limits\n  msg := sprintf(\"[{i}] %s\", [input.metadata.name])\n}}\n"
            );
            policy(&format!("p{i}"), &rego, &[(&[], EnforcementMode::Enforce)])
        })
        .collect();
    let run = |parallelism| {
        PolicyEngine::new(EvalLimits {
            parallelism,
            ..EvalLimits::default()
        })
        .evaluate_release(&policies, &subject)
        .unwrap()
    };
    let sequential = run(1);
    assert_eq!(sequential.len(), 5);
    assert_eq!(sequential[0].messages.len(), 26);
    assert_eq!(run(4), sequential);
}
