//! Policy evaluation (issue 5): the seed policy on one object, and a release of 20 tenants ×
//! microservice-base (80 objects, 20 Deployments) under 50 bound `.workload` policies —
//! 1,000 evaluations — with a cold evaluation cache (first evaluation) and a warm one (the same
//! release again). Compiled modules are cached in both cases, as in a running webhook.
//!
//! `cargo bench -p gitopshq-engine --bench policy` (criterion)
//! `cargo bench -p gitopshq-engine --bench policy -- --percentiles` (mean, p50, p99, max of
//! each case; what BENCHMARKS.md reports against the p99 targets)
//! `cargo bench -p gitopshq-engine --bench policy -- --export DIR` (writes the same policies
//! and inputs as files, for `scripts/bench-opa.sh` to run them through `opa bench`)
//! `cargo bench -p gitopshq-engine --bench policy -- --rvm` (regorus alone: the review on the
//! interpreter and on regorus's compiled VM, `rvm`; `--rvm-probes`: rules that error, on both)

use std::time::{Duration, Instant};

use criterion::Criterion;
use gitopshq_crds::policy::{EnforcementMode, Policy, PolicyBinding, PolicySpec};
use gitopshq_engine::policy::{
    CompiledPolicy, EvalLimits, PolicyEngine, ReleaseSubject, SEED_REGO as SEED, SubjectTarget,
    pod_spec, workload_input,
};
use gitopshq_engine::{CompiledChart, RenderOutput};
use serde_json::Value;

#[path = "../tests/common/mod.rs"]
mod common;

const TENANTS: usize = 20;
const POLICIES: usize = 50;

/// 50 different policies (five kinds of checks, v0 and v1), each in its own package so that
/// OPA can load them side by side; messages carry the index so no two texts are equal.
fn bench_rego(i: usize) -> String {
    let package = format!("package gitopshq.p{i:02}.workload");
    match i % 5 {
        0 => format!(
            "{package}\n\ndeny[msg] {{\n  input.environment == \"production\"\n  c := input.spec.containers[_]\n  not c.resources.limits\n  msg := sprintf(\"[{i}] container '%s' needs resource limits\", [c.name])\n}}\n"
        ),
        1 => format!(
            "{package}\nimport rego.v1\n\ndeny contains msg if {{\n  some c in input.spec.containers\n  not c.resources.requests.memory\n  msg := sprintf(\"[{i}] container '%s' needs a memory request\", [c.name])\n}}\n"
        ),
        2 => format!(
            "{package}\nimport rego.v1\n\nwarn contains msg if {{\n  some c in input.spec.containers\n  endswith(c.image, \":latest\")\n  msg := sprintf(\"[{i}] container '%s' uses the latest tag\", [c.name])\n}}\n"
        ),
        3 => format!(
            "{package}\n\ndeny[msg] {{\n  c := input.spec.containers[_]\n  c.securityContext.privileged == true\n  msg := sprintf(\"[{i}] container '%s' must not be privileged\", [c.name])\n}}\n\nwarn[msg] {{\n  not input.spec.securityContext.runAsNonRoot\n  msg := sprintf(\"[{i}] %s %s should run as non-root\", [input.kind, input.metadata.name])\n}}\n"
        ),
        _ => format!(
            "{package}\nimport rego.v1\n\ndeny contains msg if {{\n  required := {{\"app.kubernetes.io/name\", \"team\"}}\n  some label in required\n  not input.metadata.labels[label]\n  msg := sprintf(\"[{i}] %s %s needs label %s\", [input.kind, input.metadata.name, label])\n}}\n"
        ),
    }
}

fn policy(name: &str, rego: String) -> Policy {
    Policy::new(
        name,
        PolicySpec {
            description: None,
            rego,
            bindings: vec![PolicyBinding {
                environments: vec!["production".into()],
                mode: EnforcementMode::Enforce,
            }],
            tests: Vec::new(),
        },
    )
}

struct Fixture {
    rendered: Vec<(String, RenderOutput)>,
    policies: Vec<Policy>,
}

impl Fixture {
    fn new() -> Self {
        let chart = CompiledChart::compile(&common::microservice_base()).expect("chart compiles");
        let rendered = (0..TENANTS)
            .map(|t| {
                let mut input = common::payment_api_production();
                input.tenant.name = format!("tenant-{t:02}");
                let output = chart.render(&input).expect("renders");
                (input.tenant.name, output)
            })
            .collect();
        let policies = (0..POLICIES)
            .map(|i| policy(&format!("p{i:02}"), bench_rego(i)))
            .collect();
        Fixture { rendered, policies }
    }

    fn subject(&self) -> ReleaseSubject<'_> {
        ReleaseSubject {
            environment: "production",
            project: "payment-service",
            release: "payment-api-v2",
            changes: &[],
            targets: self
                .rendered
                .iter()
                .map(|(tenant, output)| SubjectTarget {
                    tenant,
                    workload: "payment-api",
                    manifests: &output.manifests,
                })
                .collect(),
        }
    }

    /// The workload inputs of the release: one per object with a pod spec (20), in the order
    /// the release evaluates them.
    fn review_inputs(&self) -> Vec<Value> {
        let subject = self.subject();
        let mut inputs = Vec::new();
        for target in &subject.targets {
            for manifest in target.manifests {
                if let Some(spec) = pod_spec(&manifest.object) {
                    inputs.push(workload_input(&subject, target, manifest, spec));
                }
            }
        }
        inputs
    }

    /// The workload input of the first tenant's Deployment.
    fn one_input(&self) -> Value {
        let subject = self.subject();
        let target = &subject.targets[0];
        let manifest = target
            .manifests
            .iter()
            .find(|m| pod_spec(&m.object).is_some())
            .expect("the chart renders a Deployment");
        let spec = pod_spec(&manifest.object).expect("pod spec");
        workload_input(&subject, target, manifest, spec)
    }
}

struct Prepared {
    engine: PolicyEngine,
    /// The same engine limited to the calling thread (`parallelism: 1`): the CPU cost of a
    /// review, and the figure to compare with OPA's single-threaded evaluation.
    one_thread: PolicyEngine,
    fixture: Fixture,
    seed: std::sync::Arc<CompiledPolicy>,
    compiled: Vec<std::sync::Arc<CompiledPolicy>>,
    input: Value,
}

fn prepare() -> Prepared {
    let engine = PolicyEngine::new(EvalLimits::default());
    let fixture = Fixture::new();
    let seed = engine
        .compile("require-limits", SEED)
        .expect("seed compiles");
    let compiled = fixture
        .policies
        .iter()
        .map(|p| {
            engine
                .compile(p.metadata.name.as_deref().unwrap_or_default(), &p.spec.rego)
                .expect("bench policy compiles")
        })
        .collect();
    let input = fixture.one_input();
    // Sanity: the release is evaluated as described (and denied by the label policies).
    let reports = engine
        .evaluate_release_reports(&fixture.policies, &fixture.subject())
        .expect("release evaluates");
    assert_eq!(reports.len(), POLICIES);
    assert!(reports.iter().all(|r| r.evaluations == TENANTS));
    let one_thread = PolicyEngine::new(EvalLimits {
        parallelism: 1,
        ..EvalLimits::default()
    });
    assert_eq!(
        one_thread
            .evaluate_release_reports(&fixture.policies, &fixture.subject())
            .expect("release evaluates"),
        reports
    );
    Prepared {
        engine,
        one_thread,
        fixture,
        seed,
        compiled,
        input,
    }
}

impl Prepared {
    fn seed_cold(&self) {
        self.engine.clear_evaluation_cache();
        std::hint::black_box(
            self.engine
                .evaluate(&self.seed, &self.input)
                .expect("evaluates"),
        );
    }

    fn seed_warm(&self) {
        std::hint::black_box(
            self.engine
                .evaluate(&self.seed, &self.input)
                .expect("evaluates"),
        );
    }

    fn fifty_one_input_cold(&self) {
        self.engine.clear_evaluation_cache();
        for compiled in &self.compiled {
            std::hint::black_box(
                self.engine
                    .evaluate(compiled, &self.input)
                    .expect("evaluates"),
            );
        }
    }

    fn release_cold(&self, subject: &ReleaseSubject<'_>) {
        self.engine.clear_evaluation_cache();
        self.release_warm(subject);
    }

    fn release_cold_one_thread(&self, subject: &ReleaseSubject<'_>) {
        self.one_thread.clear_evaluation_cache();
        std::hint::black_box(
            self.one_thread
                .evaluate_release(&self.fixture.policies, subject)
                .expect("evaluates"),
        );
    }

    fn release_warm(&self, subject: &ReleaseSubject<'_>) {
        std::hint::black_box(
            self.engine
                .evaluate_release(&self.fixture.policies, subject)
                .expect("evaluates"),
        );
    }
}

fn benches(c: &mut Criterion) {
    let p = prepare();
    let subject = p.fixture.subject();
    let mut g = c.benchmark_group("policy");
    g.bench_function("seed policy, one object, cold", |b| {
        b.iter(|| p.seed_cold())
    });
    g.bench_function("seed policy, one object, warm", |b| {
        b.iter(|| p.seed_warm())
    });
    g.bench_function("50 policies, one object, cold", |b| {
        b.iter(|| p.fifty_one_input_cold())
    });
    g.bench_function("release 50 policies x 20 objects, cold", |b| {
        b.iter(|| p.release_cold(&subject))
    });
    g.bench_function("release 50 policies x 20 objects, cold, one thread", |b| {
        b.iter(|| p.release_cold_one_thread(&subject))
    });
    g.bench_function("release 50 policies x 20 objects, warm", |b| {
        b.iter(|| p.release_warm(&subject))
    });
    g.bench_function("compile seed policy", |b| {
        b.iter(|| {
            let engine = PolicyEngine::new(EvalLimits::default());
            std::hint::black_box(engine.compile("require-limits", SEED).expect("compiles"));
        })
    });
    g.finish();
}

/// Mean and percentiles of `iterations` runs of `f`, after a warm-up.
///
/// `POLICY_BENCH_ONLY=NAME` runs only the cases whose name contains NAME;
/// `POLICY_BENCH_ITERATIONS=N` overrides the number of runs (for instruction counts under
/// `valgrind --tool=cachegrind`, which a loaded machine does not disturb).
fn percentiles(name: &str, iterations: usize, mut f: impl FnMut()) {
    if let Ok(only) = std::env::var("POLICY_BENCH_ONLY")
        && !name.contains(&only)
    {
        return;
    }
    let iterations = std::env::var("POLICY_BENCH_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(iterations);
    for _ in 0..iterations / 10 + 1 {
        f();
    }
    let mut samples: Vec<Duration> = (0..iterations)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "regorus {name:<42} n={iterations:<6} mean_ns={:<10} p50_ns={:<10} p99_ns={:<10} max_ns={}",
        mean.as_nanos(),
        at(0.50).as_nanos(),
        at(0.99).as_nanos(),
        samples[samples.len() - 1].as_nanos()
    );
}

fn percentiles_run() {
    let p = prepare();
    let subject = p.fixture.subject();
    println!("regorus review messages: {}", review_messages(&p, &subject));
    percentiles("seed-one-object-cold", 20_000, || p.seed_cold());
    percentiles("seed-one-object-warm", 20_000, || p.seed_warm());
    percentiles("fifty-policies-one-object-cold", 2_000, || {
        p.fifty_one_input_cold()
    });
    percentiles("release-50x20-cold", 500, || p.release_cold(&subject));
    percentiles("release-50x20-cold-one-thread", 500, || {
        p.release_cold_one_thread(&subject)
    });
    percentiles("release-50x20-warm", 2_000, || p.release_warm(&subject));
}

/// For OPA: every policy's `deny` and `warn` on each object of `input.objects`, object by
/// object (`with input as`), in one query: the release review as one evaluation.
const OPA_REVIEW: &str = r#"package gitopshq_review
import rego.v1

results[i] := r if {
  some i, obj in input.objects
  r := data.gitopshq with input as obj
}
"#;

/// The policies and inputs as files: `seed.rego`, `policies/pNN.rego`, `input.json` (one
/// object), `review.json` (`{"objects": [...]}`, the release's 20 workload inputs) and
/// `review.rego` (OPA's query over them, [`OPA_REVIEW`]).
fn export(dir: &std::path::Path) -> std::io::Result<()> {
    let fixture = Fixture::new();
    std::fs::create_dir_all(dir.join("policies"))?;
    std::fs::write(dir.join("seed.rego"), SEED)?;
    for p in &fixture.policies {
        let name = p.metadata.name.as_deref().unwrap_or_default();
        std::fs::write(dir.join(format!("policies/{name}.rego")), &p.spec.rego)?;
    }
    let input =
        serde_json::to_string_pretty(&fixture.one_input()).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("input.json"), input)?;
    let review = serde_json::json!({ "objects": fixture.review_inputs() });
    let review = serde_json::to_string_pretty(&review).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("review.json"), review)?;
    std::fs::write(dir.join("review.rego"), OPA_REVIEW)?;
    println!(
        "exported {} policies, input.json and the review to {}",
        POLICIES,
        dir.display()
    );
    Ok(())
}

/// regorus alone (no gitopshq layer, no cache, one thread), two ways to judge the review:
/// one query per policy and object (`set_input` + `eval_rule`, what [`PolicyEngine`] does on a
/// pooled engine per policy), or one query per policy over all objects, through a wrapper rule
/// `deny[i] := d if { some i, obj in input.objects; d := data.<pkg>.deny with input as obj }`.
/// Both must give the same messages per object. `--one-query`
fn one_query_comparison() {
    let fixture = Fixture::new();
    let inputs = regorus_inputs(&fixture);
    let objects = regorus::Value::from(
        [(
            regorus::Value::from("objects"),
            regorus::Value::from(inputs.clone()),
        )]
        .into_iter()
        .collect::<std::collections::BTreeMap<_, _>>(),
    );
    struct Judge {
        per_object: regorus::Engine,
        one_query: regorus::Engine,
        rules: Vec<String>,
    }
    let judges: Vec<Judge> = fixture
        .policies
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (per_object, defined) = interpreter_of(&p.spec.rego);
            let rules: Vec<String> = defined.into_iter().map(String::from).collect();
            let mut one_query = per_object.clone();
            one_query.set_rego_v0(false);
            let mut wrapper = String::from("package gitopshq_review\nimport rego.v1\n");
            for rule in &rules {
                wrapper.push_str(&format!(
                    "{rule}[i] := d if {{\n  some i, obj in input.objects\n  d := data.gitopshq.p{i:02}.workload.{rule} with input as obj\n}}\n"
                ));
            }
            one_query
                .add_policy("review.rego".into(), wrapper)
                .expect("parses");
            Judge {
                per_object,
                one_query,
                rules,
            }
        })
        .collect();
    let mut judges = judges;
    let per_object = |judges: &mut Vec<Judge>| -> Values {
        per_object_values(
            judges,
            &inputs,
            |judge| judge.rules.as_slice(),
            |judge, input| judge.per_object.set_input(input),
            |judge, p, rule| {
                judge
                    .per_object
                    .eval_rule(format!("data.gitopshq.p{p:02}.workload.{rule}"))
                    .expect("evaluates")
            },
        )
    };
    let one_query = |judges: &mut Vec<Judge>| -> Values {
        let mut out = Vec::new();
        for (p, judge) in judges.iter_mut().enumerate() {
            judge.one_query.set_input(objects.clone());
            for rule in &judge.rules {
                let value = judge
                    .one_query
                    .eval_rule(format!("data.gitopshq_review.{rule}"))
                    .expect("evaluates");
                for o in 0..inputs.len() {
                    let one = value[&regorus::Value::from(o)].clone();
                    out.push((p, rule.clone(), o, one));
                }
            }
        }
        out
    };
    let (mut a, mut b) = (per_object(&mut judges), one_query(&mut judges));
    a.sort();
    b.sort();
    assert_eq!(a, b);
    percentiles("regorus-only-review-query-per-object", 300, || {
        std::hint::black_box(per_object(&mut judges));
    });
    percentiles("regorus-only-review-one-query-per-policy", 300, || {
        std::hint::black_box(one_query(&mut judges));
    });
}

/// The review's objects as regorus values.
fn regorus_inputs(fixture: &Fixture) -> Vec<regorus::Value> {
    use serde::Deserialize;
    fixture
        .review_inputs()
        .iter()
        .map(|v| regorus::Value::deserialize(v).expect("converts"))
        .collect()
}

/// Values per (policy, rule, object index).
type Values = Vec<(usize, String, usize, regorus::Value)>;

/// One query per (policy, rule, object): for each judge (a policy) and each input, `set_input`,
/// then `eval(judge, policy index, rule)` for each of its `rules`.
fn per_object_values<J>(
    judges: &mut [J],
    inputs: &[regorus::Value],
    rules: impl Fn(&J) -> &[String],
    set_input: impl Fn(&mut J, regorus::Value),
    eval: impl Fn(&mut J, usize, &str) -> regorus::Value,
) -> Values {
    let mut out = Vec::new();
    for (p, judge) in judges.iter_mut().enumerate() {
        for (o, input) in inputs.iter().enumerate() {
            set_input(judge, input.clone());
            for r in 0..rules(judge).len() {
                let rule = rules(judge)[r].clone();
                let value = eval(judge, p, &rule);
                out.push((p, rule, o, value));
            }
        }
    }
    out
}

/// A policy on regorus's interpreter, and which of `deny` and `warn` it defines.
fn interpreter_of(rego: &str) -> (regorus::Engine, Vec<&'static str>) {
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(!rego.contains("rego.v1"));
    engine
        .add_policy("policy.rego".into(), rego.to_string())
        .expect("parses");
    let rules = ["deny", "warn"]
        .into_iter()
        .filter(|r| rego.contains(&format!("\n{r}")))
        .collect();
    (engine, rules)
}

/// regorus alone (no gitopshq layer, no cache, one thread): the review judged by the
/// interpreter (`set_input` + `eval_rule` per object and rule, on one engine per policy) and by
/// regorus's compiled VM (`rvm`: each policy compiled once to a program with `deny`/`warn` entry
/// points, `set_input` + `execute_entry_point_by_name` per object and rule, one VM per policy).
/// Both must give the same value for every (policy, rule, object). `--rvm`
fn rvm_comparison() {
    use regorus::languages::rego::compiler::Compiler;
    use regorus::rvm::vm::RegoVM;
    let fixture = Fixture::new();
    let inputs = regorus_inputs(&fixture);
    struct Judge {
        interpreter: regorus::Engine,
        vm: RegoVM,
        rules: Vec<String>,
    }
    let started = Instant::now();
    let mut judges: Vec<Judge> = fixture
        .policies
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (interpreter, defined) = interpreter_of(&p.spec.rego);
            let rules: Vec<String> = defined
                .into_iter()
                .map(|r| format!("data.gitopshq.p{i:02}.workload.{r}"))
                .collect();
            let compiled = interpreter
                .clone()
                .compile_with_entrypoint(&rules[0].as_str().into())
                .expect("compiles");
            let entry_points: Vec<&str> = rules.iter().map(String::as_str).collect();
            let program =
                Compiler::compile_from_policy(&compiled, &entry_points).expect("rvm compiles");
            let mut vm = RegoVM::new();
            vm.load_program(program);
            vm.set_max_instructions(usize::MAX);
            vm.set_strict_builtin_errors(true);
            Judge {
                interpreter,
                vm,
                rules,
            }
        })
        .collect();
    println!(
        "rvm: 50 policies compiled to programs in {} µs",
        started.elapsed().as_micros()
    );
    let interpreted = |judges: &mut Vec<Judge>| -> Values {
        per_object_values(
            judges,
            &inputs,
            |judge| judge.rules.as_slice(),
            |judge, input| judge.interpreter.set_input(input),
            |judge, _, rule| judge.interpreter.eval_rule(rule.into()).expect("evaluates"),
        )
    };
    let compiled = |judges: &mut Vec<Judge>| -> Values {
        per_object_values(
            judges,
            &inputs,
            |judge| judge.rules.as_slice(),
            |judge, input| judge.vm.set_input(input),
            |judge, _, rule| {
                judge
                    .vm
                    .execute_entry_point_by_name(rule)
                    .expect("evaluates")
            },
        )
    };
    let (a, b) = (interpreted(&mut judges), compiled(&mut judges));
    assert_eq!(a, b, "rvm gives the interpreter's values on the review");
    println!("rvm: the same {} (policy, rule, object) values", a.len());
    percentiles("regorus-only-review-interpreter", 300, || {
        std::hint::black_box(interpreted(&mut judges));
    });
    percentiles("regorus-only-review-rvm", 300, || {
        std::hint::black_box(compiled(&mut judges));
    });
}

/// Rules that error in the interpreter on some input (which gitopshq turns into a denial under
/// `Enforce`), and what rvm gives on the same input. `--rvm-probes`
fn rvm_error_probes() {
    use regorus::languages::rego::compiler::Compiler;
    use regorus::rvm::vm::RegoVM;
    let probes: &[(&str, &str)] = &[
        (
            "to_number",
            "deny contains msg if {\n  n := to_number(input.s)\n  msg := sprintf(\"%v\", [n])\n}\n",
        ),
        (
            "conflict",
            "deny := \"a\" if input.x\ndeny := \"b\" if input.x\n",
        ),
        (
            "add-type",
            "deny contains msg if {\n  n := input.s + 1\n  msg := sprintf(\"%v\", [n])\n}\n",
        ),
        (
            "endswith-type",
            "deny contains \"x\" if endswith(input.n, \"x\")\n",
        ),
        (
            "object-conflict",
            "deny[k] := v if { some v in [1, 2]; k := \"a\" }\n",
        ),
        (
            "sprintf-type",
            "deny contains msg if { msg := sprintf(\"%d\", [input.s]) }\n",
        ),
        (
            "div-zero",
            "deny contains msg if { n := 1 / input.zero; msg := sprintf(\"%v\", [n]) }\n",
        ),
        (
            "two-bodies",
            "deny contains \"ok\" if true\ndeny contains msg if { msg := to_number(input.s) }\n",
        ),
        (
            "function-conflict",
            "f(x) := 1 if x\nf(x) := 2 if x\ndeny contains \"y\" if f(input.x) == 1\n",
        ),
        (
            "every",
            "deny contains \"all\" if { every c in input.cs { c > 1 } }\n",
        ),
        (
            "default",
            "default allow := false\nallow if input.x\ndeny contains \"not allowed\" if not allow\n",
        ),
    ];
    let input = regorus::Value::from_json_str(
        r#"{"s": "many", "x": true, "n": 3, "zero": 0, "cs": [2, 3]}"#,
    )
    .expect("json");
    for (name, body) in probes {
        let rego = format!("package probe\nimport rego.v1\n\n{body}");
        let mut engine = regorus::Engine::new();
        engine
            .add_policy("policy.rego".into(), rego)
            .expect("parses");
        engine.set_input(input.clone());
        let interpreted = engine.eval_rule("data.probe.deny".into());
        let compiled = engine
            .clone()
            .compile_with_entrypoint(&"data.probe.deny".into())
            .map_err(|e| e.to_string())
            .and_then(|c| {
                Compiler::compile_from_policy(&c, &["data.probe.deny"]).map_err(|e| e.to_string())
            });
        let vm = compiled.and_then(|program| {
            let mut vm = RegoVM::new();
            vm.load_program(program);
            vm.set_max_instructions(usize::MAX);
            vm.set_strict_builtin_errors(true);
            vm.set_input(input.clone());
            vm.execute_entry_point_by_name("data.probe.deny")
                .map_err(|e| e.to_string())
        });
        let show = |result: Result<regorus::Value, String>| match result {
            Ok(value) => value.to_json_str().unwrap_or_else(|e| e.to_string()),
            Err(error) => format!("error: {}", error.lines().last().unwrap_or_default()),
        };
        println!(
            "rvm probe {name:<18} interpreter: {:<60} rvm: {}",
            show(interpreted.map_err(|e| format!("{e:#}"))),
            show(vm)
        );
    }
}

/// Messages of the review, all policies together: the same count comes out of OPA's review
/// (`scripts/bench-opa.sh`).
fn review_messages(p: &Prepared, subject: &ReleaseSubject<'_>) -> usize {
    p.engine
        .evaluate_release(&p.fixture.policies, subject)
        .expect("evaluates")
        .iter()
        .map(|r| r.messages.len())
        .sum()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--export") {
        let dir = args.get(i + 1).expect("--export needs a directory");
        export(std::path::Path::new(dir)).expect("export");
        return;
    }
    if args.iter().any(|a| a == "--rvm-probes") {
        rvm_error_probes();
        return;
    }
    if args.iter().any(|a| a == "--rvm") {
        rvm_comparison();
        return;
    }
    if args.iter().any(|a| a == "--one-query") {
        one_query_comparison();
        return;
    }
    if args.iter().any(|a| a == "--percentiles") {
        percentiles_run();
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
