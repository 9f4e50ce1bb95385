//! Dry runs and test runs of one policy, as the dashboard's policy page asks for them.

use gitopshq_crds::policy::{
    EnforcementMode, Policy, PolicyBinding, PolicyMessages, PolicySpec, PolicyTest,
};
use gitopshq_crds::release::Release;
use gitopshq_crds::testing::from_yaml;
use serde_json::json;

use super::*;
use crate::policy::EvalLimits;

/// The seed's policy, verbatim, bound as `examples/governance/policy-require-limits.yaml`.
const SEED: &str = crate::policy::SEED_REGO;

const SEED_MESSAGE: &str = "Container 'api' in production must have resource limits";

const WITHOUT_LIMITS: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: payment-api
  namespace: payments
spec:
  template:
    spec:
      containers:
        - name: api
          image: registry.example.com/payment-api:v2.0.0
          resources:
            requests: {cpu: 250m}
";

fn engine() -> PolicyEngine {
    PolicyEngine::new(EvalLimits::default())
}

fn policy(rego: &str, bindings: &[(&[&str], EnforcementMode)], tests: Vec<PolicyTest>) -> Policy {
    Policy::new(
        "require-resource-limits",
        PolicySpec {
            description: None,
            rego: rego.to_string(),
            bindings: bindings
                .iter()
                .map(|(environments, mode)| PolicyBinding {
                    environments: environments.iter().map(|e| e.to_string()).collect(),
                    mode: *mode,
                })
                .collect(),
            tests,
        },
    )
}

fn seed(tests: Vec<PolicyTest>) -> Policy {
    policy(
        SEED,
        &[
            (&["staging"], EnforcementMode::Warn),
            (&["production"], EnforcementMode::Enforce),
        ],
        tests,
    )
}

fn case(name: &str, environment: &str, limits: bool, deny: &[&str]) -> PolicyTest {
    let mut container = json!({"name": "api", "resources": {"requests": {"cpu": "250m"}}});
    if limits {
        container["resources"]["limits"] = json!({"cpu": "1"});
    }
    PolicyTest {
        name: name.to_string(),
        input: json!({"environment": environment, "spec": {"containers": [container]}})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        expect: PolicyMessages {
            deny: deny.iter().map(|m| m.to_string()).collect(),
            warn: Vec::new(),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Embedded tests

#[test]
fn a_test_run_is_the_check_admission_and_the_controller_use() {
    let engine = engine();
    let policy = seed(vec![
        case("denied", "production", false, &[SEED_MESSAGE]),
        case("with limits", "production", true, &[]),
        case("expects the wrong thing", "staging", false, &[SEED_MESSAGE]),
    ]);
    let check = engine.check(&policy);
    let run = check.test_run();
    assert!(run.compiled && run.problem.is_none());
    assert_eq!(run.package.as_deref(), Some("gitopshq.workload"));
    assert_eq!((run.passed, run.failed), (2, 1));
    assert_eq!(
        (run.passed, run.failed),
        (check.tests.passed, check.tests.failed),
        "the counts status.tests holds"
    );
    let names: Vec<(&str, bool)> = run
        .cases
        .iter()
        .map(|c| (c.name.as_str(), c.passed))
        .collect();
    assert_eq!(
        names,
        [
            ("denied", true),
            ("with limits", true),
            ("expects the wrong thing", false)
        ],
        "every case, in spec.tests order"
    );
    let failed = &run.cases[2];
    assert_eq!(failed.expected.deny, [SEED_MESSAGE]);
    assert!(failed.got.deny.is_empty() && failed.error.is_none());
    assert!(!check.is_ok(), "the webhook refuses this policy too");
}

#[test]
fn tests_of_a_policy_that_does_not_compile_all_fail_at_its_line() {
    let policy = seed(vec![case("denied", "production", false, &[SEED_MESSAGE])]);
    let broken = policy_with_rego(
        &policy,
        "package gitopshq.workload\n\ndeny[msg] {\n  msg := \n}\n",
    );
    let run = engine().check(&broken).test_run();
    assert!(!run.compiled);
    let problem = run.problem.expect("a compile problem");
    assert_eq!(problem.source, ProblemSource::Rego);
    assert!(problem.line.is_some(), "{problem:?}");
    assert_eq!((run.passed, run.failed), (0, 1));
    let error = run.cases[0].error.as_deref().unwrap_or_default();
    assert!(
        error.starts_with("not run: the policy does not compile"),
        "{error}"
    );
}

fn policy_with_rego(policy: &Policy, rego: &str) -> Policy {
    let mut changed = policy.clone();
    changed.spec.rego = rego.to_string();
    changed
}

// ---------------------------------------------------------------------------------------------
// Pasted objects

#[test]
fn a_pasted_deployment_without_limits_is_denied_where_the_policy_enforces() {
    let engine = engine();
    let policy = seed(Vec::new());
    let run = engine.dry_run_objects(&policy, WITHOUT_LIMITS, "production");
    assert_eq!(run.verdict, DryRunVerdict::Deny, "{run:?}");
    assert_eq!(run.mode, Some(EnforcementMode::Enforce));
    assert_eq!(run.scope, Some(DryRunScope::Workload));
    assert_eq!(run.results.len(), 1);
    assert_eq!(run.results[0].origin, "Deployment payments/payment-api");
    assert_eq!(run.results[0].deny, [SEED_MESSAGE]);
    assert!(run.problem.is_none());
    assert_eq!(
        run.summary,
        "1 deny message: admission would refuse a release in production (bound Enforce)"
    );

    let staging = engine.dry_run_objects(&policy, WITHOUT_LIMITS, "staging");
    assert_eq!(
        staging.verdict,
        DryRunVerdict::Pass,
        "the rule concerns production only"
    );
    assert_eq!(staging.mode, Some(EnforcementMode::Warn));

    let fixed = WITHOUT_LIMITS.replace("requests: {cpu: 250m}", "limits: {cpu: '1'}");
    let passed = engine.dry_run_objects(&policy, &fixed, "production");
    assert_eq!(passed.verdict, DryRunVerdict::Pass, "{passed:?}");
    assert!(passed.results[0].deny.is_empty());
}

#[test]
fn the_input_of_a_pasted_object_has_the_shape_of_api_md() {
    let rego = "package gitopshq.workload\nimport rego.v1\n\nwarn contains sprintf(\"%s %s %s %s|%s|%s|%s\", [input.environment, input.kind, input.metadata.name, input.object.apiVersion, input.project, input.tenant, input.spec.containers[0].name])\n";
    let policy = policy(rego, &[(&[], EnforcementMode::Warn)], Vec::new());
    let run = engine().dry_run_objects(&policy, WITHOUT_LIMITS, "staging");
    assert_eq!(run.verdict, DryRunVerdict::Warn, "{run:?}");
    assert_eq!(
        run.results[0].warn,
        ["staging Deployment payment-api apps/v1|||api"]
    );
}

#[test]
fn an_environment_the_policy_does_not_bind_gets_its_messages_but_no_verdict() {
    let policy = policy(
        SEED,
        &[(&["staging"], EnforcementMode::Enforce)],
        Vec::new(),
    );
    let run = engine().dry_run_objects(&policy, WITHOUT_LIMITS, "production");
    assert_eq!(run.verdict, DryRunVerdict::NotBound);
    assert_eq!(run.mode, None);
    assert_eq!(run.results[0].deny, [SEED_MESSAGE]);
    assert!(
        run.summary.contains("not bound in production"),
        "{}",
        run.summary
    );
}

#[test]
fn json_lists_and_yaml_streams_give_one_result_per_object() {
    let engine = engine();
    let policy = seed(Vec::new());
    let object: Value = yaml_serde::from_str(WITHOUT_LIMITS).unwrap();
    let mut other = object.clone();
    other["metadata"]["name"] = json!("ledger");
    // Tabs, which JSON allows and YAML does not.
    let json = serde_json::to_string_pretty(&json!([object, other]))
        .unwrap()
        .replace("  ", "\t");
    let run = engine.dry_run_objects(&policy, &json, "production");
    let origins: Vec<&str> = run.results.iter().map(|r| r.origin.as_str()).collect();
    assert_eq!(
        origins,
        [
            "Deployment payments/payment-api",
            "Deployment payments/ledger"
        ],
        "{run:?}"
    );

    let service =
        "apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec: {ports: [{port: 80}]}\n";
    let stream = format!("{WITHOUT_LIMITS}---\n{service}");
    let run = engine.dry_run_objects(&policy, &stream, "production");
    assert_eq!(run.results.len(), 1, "the Service runs no pods");
    assert_eq!(run.verdict, DryRunVerdict::Deny);

    let list = json!({"apiVersion": "v1", "kind": "List", "items": [object]}).to_string();
    let run = engine.dry_run_objects(&policy, &list, "production");
    assert_eq!(run.results.len(), 1, "{run:?}");
}

#[test]
fn a_workload_policy_on_objects_without_pods_evaluates_nothing_and_says_so() {
    let service = "apiVersion: v1\nkind: Service\nmetadata: {name: api}\n";
    let run = engine().dry_run_objects(&seed(Vec::new()), service, "production");
    assert_eq!(run.verdict, DryRunVerdict::Pass);
    assert!(run.results.is_empty());
    assert!(
        run.summary
            .starts_with("no object has a pod template or pod spec"),
        "{}",
        run.summary
    );
}

#[test]
fn a_release_policy_sees_the_pasted_objects_as_manifests() {
    let rego = "package gitopshq.release\nimport rego.v1\n\ndeny contains sprintf(\"%d objects, first %s\", [count(input.manifests), input.manifests[0].kind])\n";
    let policy = policy(
        rego,
        &[(&["production"], EnforcementMode::Enforce)],
        Vec::new(),
    );
    let run = engine().dry_run_objects(&policy, WITHOUT_LIMITS, "production");
    assert_eq!(run.scope, Some(DryRunScope::Release));
    assert_eq!(run.verdict, DryRunVerdict::Deny, "{run:?}");
    assert_eq!(run.results.len(), 1);
    assert_eq!(run.results[0].origin, "the pasted objects");
    assert_eq!(run.results[0].deny, ["1 objects, first Deployment"]);
}

#[test]
fn bad_yaml_is_an_error_at_its_line_never_a_pass() {
    let engine = engine();
    let policy = seed(Vec::new());
    let broken = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: [unclosed\n";
    let run = engine.dry_run_objects(&policy, broken, "production");
    assert_eq!(run.verdict, DryRunVerdict::Error);
    let problem = run.problem.expect("a problem");
    assert_eq!(problem.source, ProblemSource::Object);
    assert!(problem.message.starts_with("not valid YAML"), "{problem:?}");
    assert!(problem.line.is_some(), "{problem:?}");
    assert!(run.summary.contains("not a pass"), "{}", run.summary);

    // In a stream, the line counts from the start of the text.
    let stream = format!("{WITHOUT_LIMITS}---\nkind: Service\nmetadata: {{name: [x\n");
    let problem = engine
        .dry_run_objects(&policy, &stream, "production")
        .problem
        .expect("a problem");
    let line = problem.line.expect("a line") as usize;
    assert!(line > WITHOUT_LIMITS.lines().count(), "{problem:?}");

    let json = "{\n  \"kind\": \"Deployment\",\n  \"metadata\": {\n}\n";
    let problem = engine
        .dry_run_objects(&policy, json, "production")
        .problem
        .expect("a problem");
    assert!(problem.message.starts_with("not valid JSON"), "{problem:?}");
    assert_eq!(problem.line, Some(5), "{problem:?}");
}

#[test]
fn text_that_is_not_an_object_is_an_error() {
    let engine = engine();
    let policy = seed(Vec::new());
    for (text, says) in [
        ("", "nothing to evaluate"),
        ("---\n", "holds no object"),
        (
            "kind: Deployment\nmetadata: {name: x}\n",
            "apiVersion is missing",
        ),
        ("- a\n- b\n", "not a Kubernetes object"),
    ] {
        let run = engine.dry_run_objects(&policy, text, "production");
        assert_eq!(run.verdict, DryRunVerdict::Error, "{text:?}");
        let message = run.problem.map(|p| p.message).unwrap_or_default();
        assert!(message.contains(says), "{text:?}: {message}");
    }
}

#[test]
fn rego_that_does_not_compile_is_an_error_at_its_line() {
    let policy = policy(
        "package gitopshq.workload\n\ndeny[msg] {\n  msg := unknown_function(1)\n}\n",
        &[(&["production"], EnforcementMode::Enforce)],
        Vec::new(),
    );
    let run = engine().dry_run_objects(&policy, WITHOUT_LIMITS, "production");
    assert_eq!(run.verdict, DryRunVerdict::Error);
    assert_eq!(run.package, None);
    let problem = run.problem.expect("a problem");
    assert_eq!(problem.source, ProblemSource::Rego);
    assert_eq!(problem.line, Some(4), "{problem:?}");
    assert!(
        run.summary
            .contains("admission would refuse a release there"),
        "{}",
        run.summary
    );
}

#[test]
fn an_evaluation_that_fails_is_an_error_even_when_others_pass() {
    let rego = "package gitopshq.workload\nimport rego.v1\n\ndeny contains \"big\" if {\n  input.metadata.name == \"ledger\"\n  count(numbers.range(1, 1000000000)) > 0\n}\n";
    let policy = policy(rego, &[(&["staging"], EnforcementMode::Warn)], Vec::new());
    let ledger = WITHOUT_LIMITS.replace("name: payment-api", "name: ledger");
    let run = engine().dry_run_objects(
        &policy,
        &format!("{WITHOUT_LIMITS}---\n{ledger}"),
        "staging",
    );
    assert_eq!(run.verdict, DryRunVerdict::Error, "{run:?}");
    assert!(run.results[0].error.is_none());
    assert!(run.results[1].error.is_some());
    assert!(run.problem.is_some());
    assert!(
        run.summary.contains("bound Warn in staging"),
        "{}",
        run.summary
    );
}

// ---------------------------------------------------------------------------------------------
// Releases

const CHART: &str = "metadata: {name: web-1.0.0}
spec:
  chart: web
  version: 1.0.0
  values: {limits: false}
  templates:
    deploy.yaml: |
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: {{workload.name}}
      spec:
        template:
          spec:
            containers:
              - name: api
                image: shop/api:1
                {{#if values.limits}}
                resources:
                  limits: {cpu: '1'}
                {{/if}}
    service.yaml: |
      apiVersion: v1
      kind: Service
      metadata:
        name: {{workload.name}}
";

fn catalog() -> Catalog {
    let mut catalog = Catalog::default();
    catalog.projects.push(from_yaml(
        "metadata: {name: shop}\nspec: {environments: [staging, production], repository: {url: file:///tmp/x}}",
    ));
    for environment in ["staging", "production"] {
        catalog.environments.push(from_yaml(&format!(
            "metadata: {{name: {environment}}}\nspec: {{}}"
        )));
    }
    catalog.chart_versions.push(from_yaml(CHART));
    catalog.workloads.push(from_yaml(
        "metadata: {name: api, namespace: shop}\nspec: {chart: web, version: 1.0.0}",
    ));
    for (tenant, environment) in [
        ("acme", "production"),
        ("globex", "production"),
        ("acme-stg", "staging"),
    ] {
        catalog.tenants.push(from_yaml(&format!(
            "metadata: {{name: {tenant}, namespace: shop}}\nspec: {{environment: {environment}, cluster: c1, namespace: {tenant}}}"
        )));
    }
    catalog
}

fn release(environment: &str, extra: &str) -> Release {
    from_yaml(&format!(
        "metadata: {{name: api-v2, namespace: shop}}
spec:
  title: api v2
  environment: {environment}
  changes: [{{workload: api}}]
{extra}"
    ))
}

#[test]
fn a_release_is_rendered_and_judged_as_admission_judges_it() {
    let engine = engine();
    let catalog = catalog();
    let policy = seed(Vec::new());
    let release = release("production", "");
    let run = engine.dry_run_release(&policy, &catalog, &release);
    assert_eq!(run.verdict, DryRunVerdict::Deny, "{run:?}");
    assert_eq!(run.environment, "production");
    let origins: Vec<&str> = run.results.iter().map(|r| r.origin.as_str()).collect();
    assert_eq!(
        origins,
        [
            "Deployment acme/api, tenant acme",
            "Deployment globex/api, tenant globex"
        ],
        "one result per object with a pod spec, the Services left out"
    );

    // The same verdict and messages as the webhook's evaluation of the release.
    let targets = plan::release_targets(&catalog, &release).unwrap();
    let rendered = engine.renders().render_targets(&catalog, targets).unwrap();
    let subject = ReleaseSubject {
        environment: "production",
        project: "shop",
        release: "api-v2",
        changes: &release.spec.changes,
        targets: crate::policy::subject_targets(&rendered),
    };
    let reports = engine
        .evaluate_release_reports(std::slice::from_ref(&policy), &subject)
        .unwrap();
    assert_eq!(DryRunVerdict::from(reports[0].verdict), run.verdict);
    let tagged: Vec<String> = run
        .results
        .iter()
        .flat_map(|r| r.deny.iter().map(move |m| format!("{m} ({})", r.origin)))
        .collect();
    assert_eq!(reports[0].deny, tagged);

    let staging = engine.dry_run_release(&policy, &catalog, &self::release("staging", ""));
    assert_eq!(staging.verdict, DryRunVerdict::Pass, "{staging:?}");
    assert_eq!(staging.results.len(), 1);
}

#[test]
fn a_release_that_does_not_render_or_is_a_rollback_is_an_error() {
    let engine = engine();
    let catalog = catalog();
    let policy = seed(Vec::new());
    let mut unknown = release("production", "");
    unknown.spec.changes[0].workload = "missing".into();
    let run = engine.dry_run_release(&policy, &catalog, &unknown);
    assert_eq!(run.verdict, DryRunVerdict::Error);
    let problem = run.problem.expect("a problem");
    assert_eq!(problem.source, ProblemSource::Release);
    assert!(problem.message.contains("does not render"), "{problem:?}");

    let rollback = release(
        "production",
        "  type: Rollback\n  rollbackTo: {release: api-v1}\n",
    );
    let run = engine.dry_run_release(&policy, &catalog, &rollback);
    assert_eq!(run.verdict, DryRunVerdict::Error);
    let message = run.problem.map(|p| p.message).unwrap_or_default();
    assert!(
        message.contains("is a Rollback") && message.contains("api-v1"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------
// Environments

#[test]
fn the_default_environment_is_where_the_policy_weighs_most() {
    let environments: Vec<String> = ["development", "staging", "production"]
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(
        default_environment(&seed(Vec::new()), &environments).as_deref(),
        Some("production")
    );
    let warn_only = policy(SEED, &[(&["staging"], EnforcementMode::Warn)], Vec::new());
    assert_eq!(
        default_environment(&warn_only, &environments).as_deref(),
        Some("staging")
    );
    let everywhere = policy(SEED, &[(&[], EnforcementMode::Enforce)], Vec::new());
    assert_eq!(
        default_environment(&everywhere, &environments).as_deref(),
        Some("production")
    );
    let unbound = policy(SEED, &[], Vec::new());
    assert_eq!(
        default_environment(&unbound, &environments).as_deref(),
        Some("development")
    );
    let elsewhere = policy(SEED, &[(&["qa"], EnforcementMode::Warn)], Vec::new());
    assert_eq!(
        default_environment(&elsewhere, &environments).as_deref(),
        Some("qa"),
        "an environment the person cannot list is still the one the policy names"
    );
    assert_eq!(default_environment(&unbound, &[]), None);
}
