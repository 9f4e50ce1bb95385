//! Policies on submission: the Policies bound to the release's environment judge its rendered
//! manifests; Enforce denials deny, Warn findings warn, Rollbacks are not judged.

use std::sync::Arc;

use gitopshq_crds::policy::{EnforcementMode, Policy, PolicyBinding, PolicySpec};

use super::*;

/// The seed's policy, verbatim.
const SEED: &str = crate::policy::SEED_REGO;

/// The seed without its environment condition.
const EVERYWHERE: &str = r#"package gitopshq.workload

deny[msg] {
  container := input.spec.containers[_]
  not container.resources.limits
  msg := sprintf("Container '%s' must have resource limits", [container.name])
}
"#;

const SEED_MESSAGE: &str = "Container 'checkout-service' in production must have resource limits";

const LIMITS: &str = r#"{"resources": {"limits": {"cpu": "500m", "memory": "256Mi"}}}"#;

fn limits() -> Value {
    serde_json::from_str(LIMITS).unwrap()
}

/// Project `payments` (staging → production) with checkout-service on chart web 1.0.0, whose
/// Deployment takes its container's resources from values (requests only by default); tenant
/// acme in production and acme-staging in staging; no freezes; the given policies.
fn catalog(policies: Vec<Policy>) -> Snapshot {
    let mut snapshot = Snapshot::default();
    let catalog = &mut snapshot.catalog;
    catalog.projects.push(object(&format!(
        "metadata: {{name: {NS}}}
spec: {{environments: [staging, production], repository: {{url: 'file:///tmp/gitops.git'}}}}"
    )));
    catalog.environments = vec![environment("staging"), environment("production")];
    catalog.chart_versions.push(object(
        r#"metadata: {name: web-1.0.0}
spec:
  chart: web
  version: 1.0.0
  values:
    image: registry.example.com/checkout:1.4.2
    resources:
      requests: {cpu: 100m, memory: 128Mi}
  templates:
    deployment.yaml: |
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: {{workload.name}}
      spec:
        selector:
          matchLabels: {app: {{workload.name}}}
        template:
          metadata:
            labels: {app: {{workload.name}}}
          spec:
            containers:
              - name: {{workload.name}}
                image: {{quote values.image}}
                resources: {{json values.resources}}
    service.yaml: |
      apiVersion: v1
      kind: Service
      metadata:
        name: {{workload.name}}
      spec:
        ports: [{port: 80}]
"#,
    ));
    catalog.workloads.push(object(&format!(
        "metadata: {{name: checkout-service, namespace: {NS}}}
spec: {{chart: web, version: 1.0.0}}"
    )));
    for (tenant, env) in [("acme", "production"), ("acme-staging", "staging")] {
        catalog.tenants.push(object(&format!(
            "metadata: {{name: {tenant}, namespace: {NS}}}
spec: {{environment: {env}, cluster: eu-west-1, namespace: {tenant}}}"
        )));
    }
    catalog.releases.push(
        release("checkout-v1")
            .change("checkout-service")
            .submitted()
            .phase(ReleasePhase::Healthy),
    );
    snapshot.policies = policies.into_iter().map(Arc::new).collect();
    snapshot
}

fn bound(name: &str, rego: &str, environments: &[&str], mode: EnforcementMode) -> Policy {
    Policy::new(
        name,
        PolicySpec {
            description: None,
            rego: rego.into(),
            bindings: vec![PolicyBinding {
                environments: environments.iter().map(|e| e.to_string()).collect(),
                mode,
            }],
            tests: Vec::new(),
        },
    )
}

fn require_limits() -> Policy {
    bound(
        "require-limits",
        SEED,
        &["production"],
        EnforcementMode::Enforce,
    )
}

/// checkout-v2 of checkout-service into `environment`, with `values` on the change.
fn checkout(environment: &str, values: Value) -> Release {
    release("checkout-v2")
        .env(environment)
        .change_values("checkout-service", values)
        .submitted()
        .created_by("alice")
}

fn submit(directory: &Snapshot, release: &Release) -> Verdict {
    let alice = person("alice", &["backend-team"]);
    validate_release(
        &create(&alice, release),
        directory,
        &engine(),
        &Settings::default(),
    )
}

#[test]
fn an_enforced_policy_denies_a_release_without_limits() {
    let directory = catalog(vec![require_limits()]);
    let verdict = submit(&directory, &checkout("production", json!({})));
    let message = assert_denied(
        &verdict,
        Rule::PolicyDenied,
        &[
            "release checkout-v2 denied by 1 policy violation(s)",
            "policy require-limits (Enforce)",
            SEED_MESSAGE,
            "tenant acme",
            "fix the values and submit a new release",
        ],
    );
    assert!(
        !message.contains("Service"),
        "only pod specs are judged: {message}"
    );
    assert_eq!(
        audit(&verdict, "gitopshq.io/policy-verdicts"),
        Some("require-limits=Deny")
    );
    assert_eq!(verdict.label(), "PolicyDenied");
    assert_eq!(Rule::PolicyDenied.status_code(), 409);
}

#[test]
fn an_enforced_policy_admits_a_release_with_limits() {
    let directory = catalog(vec![require_limits()]);
    let verdict = submit(&directory, &checkout("production", limits()));
    assert_allowed(&verdict);
    assert!(verdict.warnings.is_empty(), "{:?}", verdict.warnings);
    assert_eq!(
        audit(&verdict, "gitopshq.io/policy-verdicts"),
        Some("require-limits=Pass")
    );
    assert_eq!(verdict.label(), "allowed");
}

#[test]
fn the_seed_passes_outside_production_even_where_it_is_bound() {
    let everywhere = bound("require-limits", SEED, &[], EnforcementMode::Enforce);
    let directory = catalog(vec![everywhere]);
    let verdict = submit(&directory, &checkout("staging", json!({})));
    assert_allowed(&verdict);
    assert_eq!(
        audit(&verdict, "gitopshq.io/policy-verdicts"),
        Some("require-limits=Pass")
    );
}

#[test]
fn a_warn_binding_admits_with_a_warning_naming_the_policy() {
    let directory = catalog(vec![
        require_limits(),
        bound(
            "limits-everywhere",
            EVERYWHERE,
            &["staging"],
            EnforcementMode::Warn,
        ),
    ]);
    let verdict = submit(&directory, &checkout("staging", json!({})));
    assert_allowed(&verdict);
    assert_warned(
        &verdict,
        &[
            "policy limits-everywhere (Warn)",
            "Container 'checkout-service' must have resource limits",
            "tenant acme-staging",
        ],
    );
    assert_eq!(verdict.label(), "warned");
    assert_eq!(
        audit(&verdict, "gitopshq.io/policy-verdicts"),
        Some("limits-everywhere=Warn")
    );

    let verdict = submit(&directory, &checkout("staging", limits()));
    assert_eq!(verdict.label(), "allowed");
}

#[test]
fn a_denial_keeps_the_warnings_of_warn_policies() {
    let directory = catalog(vec![
        require_limits(),
        bound(
            "limits-everywhere",
            EVERYWHERE,
            &["production"],
            EnforcementMode::Warn,
        ),
    ]);
    let verdict = submit(&directory, &checkout("production", json!({})));
    assert_denied(&verdict, Rule::PolicyDenied, &[SEED_MESSAGE]);
    assert_warned(&verdict, &["policy limits-everywhere (Warn)"]);
    assert_eq!(
        audit(&verdict, "gitopshq.io/policy-verdicts"),
        Some("limits-everywhere=Warn,require-limits=Deny")
    );
}

#[test]
fn a_policy_bound_to_another_environment_is_not_evaluated() {
    let always = r#"package gitopshq.release

deny[msg] {
  msg := "nothing goes out"
}
"#;
    let directory = catalog(vec![
        bound(
            "staging-gate",
            always,
            &["staging"],
            EnforcementMode::Enforce,
        ),
        // Would fail the whole evaluation if it were evaluated.
        bound(
            "staging-broken",
            "package gitopshq.release\n\ndeny[msg] {\n",
            &["staging"],
            EnforcementMode::Enforce,
        ),
    ]);
    let verdict = submit(&directory, &checkout("production", json!({})));
    assert_eq!(verdict, Verdict::allow());
    assert_eq!(audit(&verdict, "gitopshq.io/policy-verdicts"), None);

    // In its own environment it judges.
    let directory = catalog(vec![bound(
        "staging-gate",
        always,
        &["staging"],
        EnforcementMode::Enforce,
    )]);
    assert_denied(
        &submit(&directory, &checkout("staging", limits())),
        Rule::PolicyDenied,
        &["policy staging-gate (Enforce): nothing goes out"],
    );
}

#[test]
fn an_enforced_policy_that_fails_to_evaluate_denies() {
    let broken = bound(
        "broken",
        "package gitopshq.workload\n\ndeny[msg] {\n",
        &["production"],
        EnforcementMode::Enforce,
    );
    let verdict = submit(&catalog(vec![broken]), &checkout("production", limits()));
    assert_denied(
        &verdict,
        Rule::PolicyDenied,
        &[
            "release checkout-v2 denied: policy evaluation failed",
            "broken",
        ],
    );
}

#[test]
fn rollback_releases_skip_policies() {
    let directory = catalog(vec![require_limits()]);
    let rollback = release("checkout-rollback")
        .rollback_to("checkout-v1")
        .change("checkout-service")
        .submitted()
        .created_by("oncall");
    let verdict = submit(&directory, &rollback);
    assert_eq!(verdict, Verdict::allow());

    let restore = release("checkout-restore")
        .rollback_to("checkout-v1")
        .submitted()
        .created_by("oncall");
    assert_eq!(submit(&directory, &restore), Verdict::allow());
}

#[test]
fn policies_judge_only_submissions() {
    let directory = catalog(vec![require_limits()]);
    let alice = person("alice", &["backend-team"]);
    let mut draft = checkout("production", json!({}));
    draft.spec.submitted = false;
    assert_eq!(submit(&directory, &draft), Verdict::allow());

    let submitted = checkout("production", json!({}));
    let mut annotated = submitted.clone();
    annotated
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert("note".into(), "reviewed".into());
    let verdict = validate_release(
        &update(&alice, &submitted, &annotated),
        &directory,
        &engine(),
        &Settings::default(),
    );
    assert_eq!(verdict, Verdict::allow());

    // Submitting the draft is judged.
    let verdict = validate_release(
        &update(&alice, &draft, &submitted),
        &directory,
        &engine(),
        &Settings::default(),
    );
    assert_denied(&verdict, Rule::PolicyDenied, &[SEED_MESSAGE]);
}

#[test]
fn a_release_that_does_not_render_is_admitted_with_a_warning() {
    let directory = catalog(vec![require_limits()]);
    let ghost = release("ghost-v1")
        .change("ghost-service")
        .submitted()
        .created_by("alice");
    let verdict = submit(&directory, &ghost);
    assert_allowed(&verdict);
    assert_warned(
        &verdict,
        &[
            "release ghost-v1: policies were not evaluated because rendering failed",
            "ghost-service",
        ],
    );
}

#[test]
fn a_release_admitted_under_break_glass_is_still_judged_by_policies() {
    let mut directory = catalog(vec![require_limits()]);
    directory.catalog.environments[1] = frozen_production();
    directory.break_glass_sessions = vec![Arc::new(session("bgs-checkout"))];
    let fix = checkout("production", json!({})).break_glass("bgs-checkout");
    assert_denied(
        &submit(&directory, &fix),
        Rule::PolicyDenied,
        &[SEED_MESSAGE],
    );
    let fix = checkout("production", limits()).break_glass("bgs-checkout");
    let verdict = submit(&directory, &fix);
    assert_allowed(&verdict);
    assert_warned(&verdict, &["under break-glass session bgs-checkout"]);
    assert_eq!(
        audit(&verdict, "gitopshq.io/break-glass-session"),
        Some("bgs-checkout")
    );
    assert_eq!(
        audit(&verdict, "gitopshq.io/policy-verdicts"),
        Some("require-limits=Pass")
    );
}

#[test]
fn a_refused_submission_is_kept_as_a_draft_with_its_record() {
    let directory = catalog(vec![require_limits()]);
    let alice = person("alice", &["backend-team"]);
    let release = checkout("production", json!({}));
    let verdict = mutate_release(
        &create(&alice, &release),
        &directory,
        &engine(),
        &Settings::default(),
    );
    assert!(verdict.allowed());
    let submitted = verdict
        .mutations
        .iter()
        .find(|m| m.path == "/spec/submitted")
        .map(|m| m.value.clone());
    assert_eq!(submitted, Some(json!(false)), "{:?}", verdict.mutations);
    let annotations = verdict
        .mutations
        .iter()
        .find(|m| m.path == "/metadata/annotations")
        .map(|m| m.value.clone())
        .expect("the refusal is recorded");
    let record = annotations["gitopshq.io/submission-refused"]
        .as_str()
        .unwrap_or_default();
    assert!(
        record.starts_with("alice at ") && record.contains(SEED_MESSAGE),
        "{record}"
    );
    assert!(
        verdict
            .warnings
            .iter()
            .any(|w| w.contains(SEED_MESSAGE) && w.contains("kept as a Draft")),
        "{:?}",
        verdict.warnings
    );

    // With limits the submission goes through untouched; a hand-written record is removed.
    let mut fixed = checkout("production", limits());
    fixed.metadata.annotations = Some(
        [(
            "gitopshq.io/submission-refused".to_string(),
            "forged".to_string(),
        )]
        .into(),
    );
    let verdict = mutate_release(
        &create(&alice, &fixed),
        &directory,
        &engine(),
        &Settings::default(),
    );
    assert!(
        !verdict
            .mutations
            .iter()
            .any(|m| m.path == "/spec/submitted")
    );
    let annotations = verdict
        .mutations
        .iter()
        .find(|m| m.path == "/metadata/annotations")
        .map(|m| m.value.clone())
        .expect("the forged record is dropped");
    assert!(annotations.get("gitopshq.io/submission-refused").is_none());
}
