//! A release is judged a policy at a time over all its objects (one engine per policy and
//! batch). These tests hold that to an independent oracle: every policy evaluated on every
//! object alone, through [`PolicyEngine::evaluate_in`], and the report assembled by hand.

use gitopshq_crds::policy::{EnforcementMode, Policy, PolicyBinding, PolicySpec};
use gitopshq_crds::release::PolicyVerdict;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::input::object_origin;
use super::release::policy_name;
use super::*;
use crate::manifest::RenderedManifest;

fn manifest(object: Value) -> RenderedManifest {
    let origin = crate::manifest::DocumentOrigin {
        chart: "test",
        template: "templates/object.yaml",
        document: 1,
    };
    crate::manifest::to_manifest(object, "payments", &[], &origin).unwrap()
}

/// What varies between the objects of a generated release.
#[derive(Debug, Clone)]
struct Shape {
    limits: bool,
    privileged: bool,
    latest: bool,
    /// `gitopshq.io/replicas`: a number, or text that `to_number` cannot read (an error in
    /// the `fragile` policy), or absent.
    replicas: Option<&'static str>,
    service: bool,
}

fn object(index: usize, shape: &Shape) -> RenderedManifest {
    let name = format!("api-{index:02}");
    if shape.service {
        return manifest(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": "payments"},
            "spec": {"ports": [{"port": 80}]}
        }));
    }
    let mut container = json!({
        "name": "api",
        "image": if shape.latest { "registry.example.com/api:latest" } else { "registry.example.com/api:1.0.0" },
        "resources": {"requests": {"cpu": "100m"}}
    });
    if shape.limits {
        container["resources"]["limits"] = json!({"cpu": "500m"});
    }
    if shape.privileged {
        container["securityContext"] = json!({"privileged": true});
    }
    let mut metadata = json!({"name": name, "namespace": "payments"});
    if let Some(replicas) = shape.replicas {
        metadata["annotations"] = json!({"gitopshq.io/replicas": replicas});
    }
    manifest(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {"template": {"spec": {"containers": [container]}}}
    }))
}

/// The policies a release may be judged by: v0 and v1, `deny` and `warn`, every message shape
/// ([`super::evaluate::messages`]), a release-scoped one, one that errors on some objects and
/// one that does not compile.
const POOL: &[(&str, &str)] = &[
    (
        "limits",
        "package gitopshq.limits.workload\n\ndeny[msg] {\n  input.environment == \"production\"\n  c := input.spec.containers[_]\n  not c.resources.limits\n  msg := sprintf(\"container '%s' needs limits\", [c.name])\n}\n",
    ),
    (
        "privileged",
        "package gitopshq.privileged.workload\nimport rego.v1\n\ndeny contains msg if {\n  some c in input.spec.containers\n  c.securityContext.privileged\n  msg := sprintf(\"%s: container '%s' is privileged\", [input.metadata.name, c.name])\n}\n\nwarn contains \"privileged containers are reviewed\" if {\n  some c in input.spec.containers\n  c.securityContext.privileged\n}\n",
    ),
    (
        "latest",
        "package gitopshq.latest.workload\nimport rego.v1\n\nwarn contains {\"msg\": sprintf(\"%s uses a latest tag\", [input.metadata.name])} if {\n  some c in input.spec.containers\n  endswith(c.image, \":latest\")\n}\n",
    ),
    (
        "first-object",
        "package gitopshq.first.workload\nimport rego.v1\n\ndeny if input.metadata.name == \"api-00\"\n",
    ),
    (
        "fragile",
        "package gitopshq.fragile.workload\nimport rego.v1\n\ndeny contains msg if {\n  n := to_number(input.metadata.annotations[\"gitopshq.io/replicas\"])\n  n > 3\n  msg := sprintf(\"%s asks for %d replicas\", [input.metadata.name, n])\n}\n",
    ),
    (
        "release-size",
        "package gitopshq.release\nimport rego.v1\n\nwarn contains msg if {\n  count(input.manifests) > 3\n  msg := sprintf(\"%d objects in one release\", [count(input.manifests)])\n}\n",
    ),
    (
        "broken",
        "package gitopshq.broken.workload\n\ndeny[msg] {\n",
    ),
];

fn bound(name: &str, rego: &str, mode: EnforcementMode) -> Policy {
    Policy::new(
        name,
        PolicySpec {
            description: None,
            rego: rego.to_string(),
            bindings: vec![PolicyBinding {
                environments: vec!["production".into()],
                mode,
            }],
            tests: Vec::new(),
        },
    )
}

fn subject<'a>(targets: Vec<SubjectTarget<'a>>) -> ReleaseSubject<'a> {
    ReleaseSubject {
        environment: "production",
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

/// The oracle: each bound policy on each of its inputs alone, on a fresh engine.
fn one_at_a_time(
    policies: &[Policy],
    subject: &ReleaseSubject<'_>,
) -> Result<Vec<PolicyReport>, PolicyError> {
    let engine = PolicyEngine::new(EvalLimits {
        parallelism: 1,
        ..EvalLimits::default()
    });
    let mut bound: Vec<_> = policies
        .iter()
        .filter_map(|p| binding_mode(p, subject.environment).map(|mode| (p, mode)))
        .collect();
    bound.sort_by(|a, b| policy_name(a.0).cmp(policy_name(b.0)));
    let mut reports = Vec::new();
    for (policy, mode) in bound {
        let name = policy_name(policy);
        let judged = engine
            .compile(name, &policy.spec.rego)
            .and_then(|compiled| {
                let inputs: Vec<(Value, String)> = match compiled.scope() {
                    PolicyScope::Workload => subject
                        .targets
                        .iter()
                        .flat_map(|t| t.manifests.iter().map(move |m| (t, m)))
                        .filter_map(|(t, m)| {
                            let spec = pod_spec(&m.object)?;
                            Some((
                                workload_input(subject, t, m, spec),
                                object_origin(m, t.tenant),
                            ))
                        })
                        .collect(),
                    PolicyScope::Release => vec![(
                        release_input(subject),
                        format!("release {}", subject.release),
                    )],
                };
                let (mut deny, mut warn) = (Vec::new(), Vec::new());
                for (input, origin) in &inputs {
                    let outcome = engine.evaluate_in(&compiled, input, origin)?;
                    deny.extend(outcome.deny.iter().map(|m| format!("{m} ({origin})")));
                    warn.extend(outcome.warn.iter().map(|m| format!("{m} ({origin})")));
                }
                for messages in [&mut deny, &mut warn] {
                    messages.sort();
                    messages.dedup();
                }
                Ok((deny, warn, inputs.len()))
            });
        reports.push(match judged {
            Ok((deny, warn, evaluations)) => PolicyReport {
                policy: name.to_string(),
                mode,
                verdict: match (mode, deny.is_empty(), warn.is_empty()) {
                    (_, true, true) => PolicyVerdict::Pass,
                    (EnforcementMode::Enforce, false, _) => PolicyVerdict::Deny,
                    _ => PolicyVerdict::Warn,
                },
                deny,
                warn,
                evaluations,
                error: None,
            },
            Err(error) if mode == EnforcementMode::Enforce => return Err(error),
            Err(error) => PolicyReport {
                policy: name.to_string(),
                mode,
                verdict: PolicyVerdict::Warn,
                deny: Vec::new(),
                warn: vec![format!(
                    "policy {name} could not be evaluated and is bound Warn, so it does not block: {error}"
                )],
                evaluations: 0,
                error: Some(error),
            },
        });
    }
    Ok(reports)
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        any::<bool>(),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.3),
        prop::sample::select(vec![None, Some("2"), Some("5"), Some("many")]),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(limits, privileged, latest, replicas, service)| Shape {
            limits,
            privileged,
            latest,
            replicas,
            service,
        })
}

fn modes() -> impl Strategy<Value = Vec<Option<EnforcementMode>>> {
    prop::collection::vec(
        prop::sample::select(vec![
            None,
            Some(EnforcementMode::Warn),
            Some(EnforcementMode::Enforce),
        ]),
        POOL.len(),
    )
}

fn policies(modes: &[Option<EnforcementMode>]) -> Vec<Policy> {
    POOL.iter()
        .zip(modes)
        .filter_map(|((name, rego), mode)| mode.map(|mode| bound(name, rego, mode)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Same reports (verdicts, per-object messages, errors) as the oracle, cold and warm, on
    /// one thread and on several, whatever the policies, modes and objects.
    #[test]
    fn batched_evaluation_equals_one_at_a_time(
        tenants in prop::collection::vec(prop::collection::vec(shape(), 0..6), 1..4),
        modes in modes(),
        max_batch_split in any::<bool>(),
    ) {
        let manifests: Vec<Vec<RenderedManifest>> = tenants
            .iter()
            .enumerate()
            .map(|(t, shapes)| {
                // Many objects in one tenant, now and then: batches are cut and shared.
                let repeat = if max_batch_split && t == 0 { 30 } else { 1 };
                shapes
                    .iter()
                    .cycle()
                    .take(shapes.len() * repeat)
                    .enumerate()
                    .map(|(i, s)| object(i, s))
                    .collect()
            })
            .collect();
        let names: Vec<String> = (0..manifests.len()).map(|t| format!("tenant-{t}")).collect();
        let subject = subject(
            names
                .iter()
                .zip(&manifests)
                .map(|(name, manifests)| target(name, manifests))
                .collect(),
        );
        let policies = policies(&modes);
        let expected = one_at_a_time(&policies, &subject);
        // Fail closed: an object on which `fragile` errors is never judged "no message".
        let fragile_fails = tenants
            .iter()
            .flatten()
            .any(|s| !s.service && s.replicas == Some("many"));
        let fragile = POOL.iter().position(|(name, _)| *name == "fragile").unwrap();
        match (modes[fragile], &expected) {
            (Some(EnforcementMode::Enforce), _) if fragile_fails => {
                prop_assert!(expected.is_err(), "{:?}", expected);
            }
            (Some(EnforcementMode::Warn), Ok(reports)) if fragile_fails => {
                let report = reports.iter().find(|r| r.policy == "fragile").unwrap();
                prop_assert!(report.error.is_some(), "{:?}", report);
                prop_assert_eq!(report.verdict, PolicyVerdict::Warn);
            }
            _ => {}
        }
        for parallelism in [1, 0] {
            let engine = PolicyEngine::new(EvalLimits {
                parallelism,
                ..EvalLimits::default()
            });
            let cold = engine.evaluate_release_reports(&policies, &subject);
            prop_assert_eq!(&cold, &expected, "cold, parallelism {}", parallelism);
            let warm = engine.evaluate_release_reports(&policies, &subject);
            prop_assert_eq!(&warm, &expected, "warm, parallelism {}", parallelism);
        }
    }
}

/// A rule that errors on one object: bound `Enforce`, the release is refused with that
/// object named (fail closed: the error is never taken for "no message"); the other objects
/// are still judged, and judged as they are alone.
#[test]
fn an_error_on_one_object_denies_it_and_the_others_are_judged_normally() {
    let shapes = [
        Some("5"),
        Some("1"),
        Some("many"),
        None,
        Some("9"),
        Some("2"),
    ];
    let manifests: Vec<_> = shapes
        .iter()
        .enumerate()
        .map(|(i, replicas)| {
            object(
                i,
                &Shape {
                    limits: true,
                    privileged: false,
                    latest: false,
                    replicas: *replicas,
                    service: false,
                },
            )
        })
        .collect();
    let subject = subject(vec![target("acme", &manifests)]);
    let (_, fragile) = POOL.iter().find(|(n, _)| *n == "fragile").unwrap();

    for parallelism in [1, 0] {
        let engine = PolicyEngine::new(EvalLimits {
            parallelism,
            ..EvalLimits::default()
        });
        let enforce = [bound("fragile", fragile, EnforcementMode::Enforce)];
        let error = engine.evaluate_release(&enforce, &subject).unwrap_err();
        let PolicyError::Evaluation {
            policy, context, ..
        } = &error
        else {
            panic!("{error:?}")
        };
        assert_eq!(policy, "fragile");
        assert_eq!(context, "Deployment payments/api-02, tenant acme");
        assert_eq!(
            Err(error.clone()),
            one_at_a_time(&enforce, &subject),
            "the same error as judging that object alone"
        );
        // Every other object was judged in the same pass: their outcomes are cached, the
        // failing object's is not; each is what judging that object alone gives.
        assert_eq!(engine.cache_stats().evaluations.entries, shapes.len() - 1);
        let compiled = engine.compile("fragile", fragile).unwrap();
        for manifest in &manifests {
            let spec = pod_spec(&manifest.object).unwrap();
            let input = workload_input(&subject, &subject.targets[0], manifest, spec);
            let alone = PolicyEngine::default().evaluate(&compiled, &input);
            let name = manifest.object["metadata"]["name"].as_str().unwrap();
            assert_eq!(alone.is_err(), name == "api-02", "{alone:?}");
        }

        // Without the failing object: every other object's messages, exactly, all from the
        // outcomes of the pass that failed.
        let others: Vec<_> = manifests
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 2)
            .map(|(_, m)| m.clone())
            .collect();
        let others = self::subject(vec![target("acme", &others)]);
        let before = engine.cache_stats().evaluations;
        let reports = engine.evaluate_release_reports(&enforce, &others).unwrap();
        let after = engine.cache_stats().evaluations;
        assert_eq!(
            (after.hits - before.hits, after.misses - before.misses),
            (shapes.len() as u64 - 1, 0)
        );
        assert_eq!(
            reports[0].deny,
            vec![
                "api-00 asks for 5 replicas (Deployment payments/api-00, tenant acme)",
                "api-04 asks for 9 replicas (Deployment payments/api-04, tenant acme)",
            ]
        );
        assert_eq!(reports[0].verdict, PolicyVerdict::Deny);
        assert_eq!(Ok(reports), one_at_a_time(&enforce, &others));

        // Bound Warn, the error is reported and does not block.
        let engine = PolicyEngine::new(EvalLimits {
            parallelism,
            ..EvalLimits::default()
        });
        let warn = [bound("fragile", fragile, EnforcementMode::Warn)];
        let reports = engine.evaluate_release_reports(&warn, &subject).unwrap();
        assert_eq!(reports[0].verdict, PolicyVerdict::Warn);
        assert_eq!(reports[0].error, Some(error));
        assert_eq!(Ok(reports), one_at_a_time(&warn, &subject));
    }
}

/// More objects than one batch holds, over several threads: still the oracle's reports.
#[test]
fn large_releases_are_cut_into_batches_without_changing_the_reports() {
    let manifests: Vec<_> = (0..150)
        .map(|i| {
            object(
                i,
                &Shape {
                    limits: i % 3 == 0,
                    privileged: i % 7 == 0,
                    latest: i % 5 == 0,
                    replicas: [None, Some("7"), Some("1")][i % 3],
                    service: i % 11 == 0,
                },
            )
        })
        .collect();
    let subject = subject(vec![target("acme", &manifests)]);
    let policies = policies(&[
        Some(EnforcementMode::Enforce),
        Some(EnforcementMode::Enforce),
        Some(EnforcementMode::Warn),
        Some(EnforcementMode::Warn),
        Some(EnforcementMode::Enforce),
        Some(EnforcementMode::Warn),
        None,
    ]);
    let expected = one_at_a_time(&policies, &subject).unwrap();
    assert!(expected.iter().all(|r| r.error.is_none()));
    assert_eq!(expected[0].evaluations, 150 - 14);
    for parallelism in [1, 2, 0] {
        let engine = PolicyEngine::new(EvalLimits {
            parallelism,
            ..EvalLimits::default()
        });
        assert_eq!(
            engine
                .evaluate_release_reports(&policies, &subject)
                .unwrap(),
            expected
        );
    }
}
