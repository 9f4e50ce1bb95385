//! Policies on a release: which policies apply in the environment and how (bindings), one
//! evaluation per object or per release depending on the package, messages tagged with the
//! object they came from, and the verdict per policy.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use gitopshq_crds::policy::{EnforcementMode, Policy};
use gitopshq_crds::release::{PolicyResult, PolicyVerdict};

use super::PolicyEngine;
use super::cache::Digest;
use super::compile::{CompiledPolicy, PolicyScope};
use super::error::PolicyError;
use super::evaluate::{PolicyOutcome, Runner, to_rego};
use super::input::{
    ReleaseSubject, SubjectTarget, object_origin, pod_spec, rego_release_input,
    rego_workload_input, release_input_digest, workload_input_digest,
};
use crate::manifest::RenderedManifest;

/// Verdict of one policy on a release, with its `deny` and `warn` messages kept apart (a
/// [`PolicyResult`] merges them). Messages end with where they came from:
/// `… (Deployment payments/payment-api, tenant acme)` or `… (release payment-api-v2)`.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyReport {
    pub policy: String,
    pub mode: EnforcementMode,
    pub verdict: PolicyVerdict,
    /// `deny` messages, sorted, deduplicated.
    pub deny: Vec<String>,
    /// `warn` messages, sorted, deduplicated.
    pub warn: Vec<String>,
    /// Inputs the policy was evaluated on (objects with a pod spec, or 1 for the release).
    pub evaluations: usize,
    /// Set when a `Warn`-bound policy could not be evaluated: it then warns with the error
    /// instead of blocking (an `Enforce`-bound one fails the whole evaluation instead).
    pub error: Option<PolicyError>,
}

impl PolicyReport {
    /// The `Release.status.policyResults` entry: `deny` messages first, then `warn` messages.
    pub fn to_result(&self) -> PolicyResult {
        let mut messages: Vec<String> = Vec::with_capacity(self.deny.len() + self.warn.len());
        for message in self.deny.iter().chain(&self.warn) {
            if !messages.contains(message) {
                messages.push(message.clone());
            }
        }
        PolicyResult {
            policy: self.policy.clone(),
            mode: self.mode,
            verdict: self.verdict,
            messages,
        }
    }
}

/// Mode of a policy in an environment: `None` when no binding names it (an empty environment
/// list names every environment); `Enforce` wins when several bindings match.
pub fn binding_mode(policy: &Policy, environment: &str) -> Option<EnforcementMode> {
    let mut mode = None;
    for binding in &policy.spec.bindings {
        if binding.environments.is_empty() || binding.environments.iter().any(|e| e == environment)
        {
            mode = match (mode, binding.mode) {
                (_, EnforcementMode::Enforce) | (Some(EnforcementMode::Enforce), _) => {
                    Some(EnforcementMode::Enforce)
                }
                _ => Some(EnforcementMode::Warn),
            };
        }
    }
    mode
}

/// The verdict of a policy bound `mode` that produced these messages: `deny` blocks only
/// under `Enforce`; every other message warns.
pub(crate) fn verdict_of(mode: EnforcementMode, deny: &[String], warn: &[String]) -> PolicyVerdict {
    match (mode, deny.is_empty(), warn.is_empty()) {
        (_, true, true) => PolicyVerdict::Pass,
        (EnforcementMode::Enforce, false, _) => PolicyVerdict::Deny,
        _ => PolicyVerdict::Warn,
    }
}

/// Name of a policy object (cluster-scoped: just `metadata.name`).
pub(crate) fn policy_name(policy: &Policy) -> &str {
    policy.metadata.name.as_deref().unwrap_or("<unnamed>")
}

/// The release's objects, each converted to regorus's value model at most once and shared by
/// every input built from it.
struct Objects<'s> {
    entries: Vec<(&'s SubjectTarget<'s>, &'s RenderedManifest)>,
    converted: Vec<OnceLock<Result<regorus::Value, String>>>,
}

impl<'s> Objects<'s> {
    fn new(subject: &'s ReleaseSubject<'s>) -> Self {
        let entries: Vec<_> = subject
            .targets
            .iter()
            .flat_map(|t| t.manifests.iter().map(move |m| (t, m)))
            .collect();
        let converted = entries.iter().map(|_| OnceLock::new()).collect();
        Objects { entries, converted }
    }

    fn value(&self, index: usize) -> Result<&regorus::Value, String> {
        self.converted[index]
            .get_or_init(|| to_rego(&self.entries[index].1.object))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// Which document an input is.
enum Source {
    /// The `.workload` input of the object at this index of [`Objects`].
    Object(usize),
    /// The release-level input.
    Release,
}

/// One input of a release: its digest computed up front, its document built on first need.
struct LazyInput {
    digest: Digest,
    origin: String,
    source: Source,
    rego: OnceLock<Result<regorus::Value, String>>,
}

/// Every input of a release. Digests are computed once per release and shared by every policy
/// of the same scope; documents only when some policy misses the cache.
struct Inputs<'s> {
    subject: &'s ReleaseSubject<'s>,
    objects: Objects<'s>,
    workload: OnceLock<Vec<LazyInput>>,
    release: OnceLock<LazyInput>,
}

impl<'s> Inputs<'s> {
    fn new(subject: &'s ReleaseSubject<'s>) -> Self {
        Inputs {
            subject,
            objects: Objects::new(subject),
            workload: OnceLock::new(),
            release: OnceLock::new(),
        }
    }

    fn for_scope(&self, scope: PolicyScope) -> &[LazyInput] {
        match scope {
            PolicyScope::Workload => self.workload.get_or_init(|| {
                self.objects
                    .entries
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, manifest))| pod_spec(&manifest.object).is_some())
                    .map(|(index, (target, manifest))| LazyInput {
                        digest: workload_input_digest(self.subject, target, manifest),
                        origin: object_origin(manifest, target.tenant),
                        source: Source::Object(index),
                        rego: OnceLock::new(),
                    })
                    .collect()
            }),
            PolicyScope::Release => std::slice::from_ref(self.release.get_or_init(|| LazyInput {
                digest: release_input_digest(self.subject),
                origin: format!("release {}", self.subject.release),
                source: Source::Release,
                rego: OnceLock::new(),
            })),
        }
    }

    fn document<'i>(&self, input: &'i LazyInput) -> Result<&'i regorus::Value, String> {
        input
            .rego
            .get_or_init(|| match input.source {
                Source::Object(index) => {
                    let value = self.objects.value(index)?;
                    let (target, manifest) = self.objects.entries[index];
                    rego_workload_input(self.subject, target, manifest, value)
                        .ok_or_else(|| "the object has no pod spec".to_string())
                }
                Source::Release => {
                    let objects = (0..self.objects.entries.len())
                        .map(|i| self.objects.value(i).cloned())
                        .collect::<Result<Vec<_>, _>>()?;
                    rego_release_input(self.subject, objects)
                }
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// The release's time budget, shared by the threads evaluating it.
pub(crate) struct Budget<'a> {
    release: &'a str,
    started: Instant,
    total: Duration,
    evaluated: AtomicUsize,
}

impl Budget<'_> {
    fn exceeded(&self, policy: &str, context: &str) -> PolicyError {
        PolicyError::ReleaseBudgetExceeded {
            release: self.release.to_string(),
            policy: policy.to_string(),
            context: context.to_string(),
            limit: self.total,
            evaluated: self.evaluated.load(Ordering::Relaxed),
        }
    }
}

/// A bound policy, compiled, with an outcome or a pending evaluation per input.
struct Planned<'p> {
    name: &'p str,
    mode: EnforcementMode,
    compiled: Result<Arc<CompiledPolicy>, PolicyError>,
    inputs: &'p [LazyInput],
    slots: Vec<Slot>,
}

enum Slot {
    Cached(PolicyOutcome),
    /// Index into the list of evaluations to run.
    Pending(usize),
}

/// The cache misses of one policy on a release, judged one after the other on one engine
/// ([`super::evaluate::Runner`]): entries `first..first + inputs.len()` of the pending results.
struct Batch<'i> {
    compiled: Arc<CompiledPolicy>,
    inputs: Vec<&'i LazyInput>,
    first: usize,
}

/// Below this many evaluations per thread, spawning threads costs more than it saves.
const MIN_EVALUATIONS_PER_THREAD: usize = 32;

/// Largest batch: a policy over many objects is cut into batches of this size, so that the
/// threads of a release with few policies still share the work.
const MAX_BATCH: usize = 64;

impl PolicyEngine {
    /// Every policy bound in the subject's environment, evaluated on the release: one
    /// [`PolicyReport`] per bound policy, sorted by policy name. Unbound policies are skipped.
    ///
    /// Cost: cached outcomes are looked up first, under one lock; only the misses are evaluated,
    /// spread over [`super::EvalLimits::parallelism`] threads when there are many.
    ///
    /// Errors: a policy bound `Enforce` that does not compile or fails fails the whole call (the
    /// caller must not admit what it could not check); one bound `Warn` reports the error as a
    /// warning instead. Running past [`super::EvalLimits::time_per_release`] always fails.
    pub fn evaluate_release_reports(
        &self,
        policies: &[Policy],
        subject: &ReleaseSubject<'_>,
    ) -> Result<Vec<PolicyReport>, PolicyError> {
        let mut bound: Vec<(&Policy, EnforcementMode)> = policies
            .iter()
            .filter_map(|p| binding_mode(p, subject.environment).map(|mode| (p, mode)))
            .collect();
        bound.sort_by(|a, b| policy_name(a.0).cmp(policy_name(b.0)));

        let inputs = Inputs::new(subject);
        let budget = Budget {
            release: subject.release,
            started: Instant::now(),
            total: self.limits.time_per_release,
            evaluated: AtomicUsize::new(0),
        };

        // Compile (cached) and look every outcome up; the misses are grouped by policy.
        let mut batches: Vec<Batch<'_>> = Vec::new();
        let mut pending = 0;
        let mut plans: Vec<Planned<'_>> = Vec::with_capacity(bound.len());
        for (policy, mode) in bound {
            let name = policy_name(policy);
            let compiled = self.compile(name, &policy.spec.rego);
            let (inputs, slots) = match &compiled {
                Ok(compiled) => {
                    let inputs = inputs.for_scope(compiled.scope());
                    let keys: Vec<_> = inputs
                        .iter()
                        .map(|i| (compiled.module.digest, i.digest))
                        .collect();
                    let mut batch = Batch {
                        compiled: compiled.clone(),
                        inputs: Vec::new(),
                        first: pending,
                    };
                    let slots = self
                        .evaluations
                        .get_many(&keys)
                        .into_iter()
                        .zip(inputs)
                        .map(|(cached, input)| match cached {
                            Some(outcome) => Slot::Cached(outcome),
                            None => {
                                if batch.inputs.len() == MAX_BATCH {
                                    let next = Batch {
                                        compiled: compiled.clone(),
                                        inputs: Vec::new(),
                                        first: pending,
                                    };
                                    batches.push(std::mem::replace(&mut batch, next));
                                }
                                batch.inputs.push(input);
                                pending += 1;
                                Slot::Pending(pending - 1)
                            }
                        })
                        .collect();
                    if !batch.inputs.is_empty() {
                        batches.push(batch);
                    }
                    (inputs, slots)
                }
                Err(_) => (&[][..], Vec::new()),
            };
            plans.push(Planned {
                name,
                mode,
                compiled,
                inputs,
                slots,
            });
        }

        let results = self.run_pending(&batches, pending, &inputs, &budget);

        let mut reports = Vec::with_capacity(plans.len());
        for plan in plans {
            let outcome = plan.compiled.and_then(|_| {
                let mut deny = Vec::new();
                let mut warn = Vec::new();
                for (slot, input) in plan.slots.iter().zip(plan.inputs) {
                    let outcome = match slot {
                        Slot::Cached(outcome) => outcome,
                        Slot::Pending(index) => match results[*index].get() {
                            Some(Ok(outcome)) => outcome,
                            Some(Err(error)) => return Err(error.clone()),
                            None => return Err(budget.exceeded(plan.name, &input.origin)),
                        },
                    };
                    let tag = |m: &String| format!("{m} ({})", input.origin);
                    deny.extend(outcome.deny.iter().map(tag));
                    warn.extend(outcome.warn.iter().map(tag));
                }
                Ok((deny, warn))
            });
            let name = plan.name;
            let mode = plan.mode;
            reports.push(match outcome {
                Ok((mut deny, mut warn)) => {
                    deny.sort();
                    deny.dedup();
                    warn.sort();
                    warn.dedup();
                    let verdict = verdict_of(mode, &deny, &warn);
                    PolicyReport {
                        policy: name.to_string(),
                        mode,
                        verdict,
                        deny,
                        warn,
                        evaluations: plan.inputs.len(),
                        error: None,
                    }
                }
                Err(error @ PolicyError::ReleaseBudgetExceeded { .. }) => return Err(error),
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

    /// Evaluates the cache misses of a release (`pending` evaluations in `batches`), a batch at
    /// a time, on several threads when there are many. A slot left empty means the budget ran
    /// out before its turn.
    fn run_pending(
        &self,
        batches: &[Batch<'_>],
        pending: usize,
        inputs: &Inputs<'_>,
        budget: &Budget<'_>,
    ) -> Vec<OnceLock<Result<PolicyOutcome, PolicyError>>> {
        let results: Vec<OnceLock<Result<PolicyOutcome, PolicyError>>> =
            (0..pending).map(|_| OnceLock::new()).collect();
        let stop = AtomicBool::new(false);
        // The input documents the batches need, each once: built first, by every thread
        // together. Built on first use instead, threads starting on the same object would wait
        // for each other object after object.
        let mut documents: Vec<&LazyInput> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for batch in batches {
            for &input in &batch.inputs {
                if seen.insert(std::ptr::from_ref(input)) {
                    documents.push(input);
                }
            }
        }
        let next_document = AtomicUsize::new(0);
        let next = AtomicUsize::new(0);
        let work = || {
            loop {
                let index = next_document.fetch_add(1, Ordering::Relaxed);
                let Some(input) = documents.get(index) else {
                    break;
                };
                // An error is kept in the document and reported by each evaluation needing it.
                let _ = inputs.document(input);
            }
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= batches.len() || stop.load(Ordering::Relaxed) {
                    break;
                }
                let batch = &batches[index];
                let compiled = &batch.compiled;
                let mut runner = Runner::new(&compiled.module);
                let mut outcomes = Vec::with_capacity(batch.inputs.len());
                for (offset, input) in batch.inputs.iter().enumerate() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let result = match inputs.document(input) {
                        Ok(value) => {
                            self.run_budgeted(&mut runner, compiled, value, Some(budget), &|| {
                                input.origin.clone()
                            })
                        }
                        Err(message) => Err(PolicyError::Evaluation {
                            policy: compiled.name.clone(),
                            context: input.origin.clone(),
                            position: Default::default(),
                            message,
                        }),
                    };
                    match &result {
                        Ok(outcome) => {
                            outcomes.push(((compiled.module.digest, input.digest), outcome.clone()))
                        }
                        Err(PolicyError::ReleaseBudgetExceeded { .. }) => {
                            stop.store(true, Ordering::Relaxed)
                        }
                        Err(_) => {}
                    }
                    let _ = results[batch.first + offset].set(result);
                }
                drop(runner);
                self.evaluations.insert_many(outcomes);
            }
        };
        let threads = match self.limits.parallelism {
            0 => rayon::current_num_threads(),
            n => n,
        }
        .min(pending / MIN_EVALUATIONS_PER_THREAD)
        .min(batches.len())
        .max(1);
        if threads == 1 {
            work();
        } else {
            // On the shared pool, whose threads outlive the review, rather than on threads
            // started for it.
            let work = &work;
            rayon::scope(|scope| {
                for _ in 1..threads {
                    scope.spawn(move |_| work());
                }
                work();
            });
        }
        results
    }

    /// Evaluates one input and stores the outcome in the evaluation cache. `budget` bounds the
    /// time of a release's evaluations together.
    pub(crate) fn run_and_store(
        &self,
        compiled: &CompiledPolicy,
        input_digest: Digest,
        value: &regorus::Value,
        budget: Option<&Budget<'_>>,
        context: &dyn Fn() -> String,
    ) -> Result<PolicyOutcome, PolicyError> {
        let mut runner = Runner::new(&compiled.module);
        let outcome = self.run_budgeted(&mut runner, compiled, value, budget, context)?;
        drop(runner);
        self.evaluations
            .insert((compiled.module.digest, input_digest), outcome.clone());
        Ok(outcome)
    }

    /// Evaluates one input on `runner`'s engine, within the evaluation's time limit and what
    /// is left of the release's `budget`.
    fn run_budgeted(
        &self,
        runner: &mut Runner<'_>,
        compiled: &CompiledPolicy,
        value: &regorus::Value,
        budget: Option<&Budget<'_>>,
        context: &dyn Fn() -> String,
    ) -> Result<PolicyOutcome, PolicyError> {
        let per_evaluation = self.limits.time_per_evaluation;
        let mut run = |limit| runner.run(value, limit, &compiled.name, context, &self.limits);
        let Some(budget) = budget else {
            return run(per_evaluation);
        };
        let remaining = budget.total.saturating_sub(budget.started.elapsed());
        if remaining.is_zero() {
            return Err(budget.exceeded(&compiled.name, &context()));
        }
        let limit = remaining.min(per_evaluation);
        let result = run(limit);
        budget.evaluated.fetch_add(1, Ordering::Relaxed);
        match result {
            Err(PolicyError::TimeLimitExceeded { context, .. }) if limit < per_evaluation => {
                Err(budget.exceeded(&compiled.name, &context))
            }
            other => other,
        }
    }
}
