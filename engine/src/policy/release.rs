//! Policies on a release: which policies apply in the environment and how (bindings), one
//! evaluation per object or per release depending on the package, messages tagged with the
//! object they came from, and the verdict per policy.

use std::cell::OnceCell;
use std::time::{Duration, Instant};

use gitopshq_crds::policy::{EnforcementMode, Policy};
use gitopshq_crds::release::{PolicyResult, PolicyVerdict};
use serde_json::Value;

use super::PolicyEngine;
use super::cache::Digest;
use super::compile::PolicyScope;
use super::error::PolicyError;
use super::evaluate::{PolicyOutcome, to_rego};
use super::input::{
    ReleaseSubject, SubjectTarget, object_origin, pod_spec, release_input, release_input_digest,
    workload_input, workload_input_digest,
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

/// Name of a policy object (cluster-scoped: just `metadata.name`).
pub(crate) fn policy_name(policy: &Policy) -> &str {
    policy.metadata.name.as_deref().unwrap_or("<unnamed>")
}

/// One input of a release, its digest computed up front and its documents built on first need.
struct LazyInput<'s> {
    digest: Digest,
    origin: String,
    build: Box<dyn Fn() -> Value + 's>,
    rego: OnceCell<Result<regorus::Value, String>>,
}

impl LazyInput<'_> {
    fn rego(&self) -> Result<&regorus::Value, String> {
        self.rego
            .get_or_init(|| to_rego(&(self.build)()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// The release's time budget: how long the next evaluation may take.
pub(crate) struct Budget<'a> {
    pub(crate) release: &'a str,
    pub(crate) started: Instant,
    pub(crate) total: Duration,
    pub(crate) evaluated: usize,
}

impl Budget<'_> {
    fn exceeded(&self, policy: &str, context: &str) -> PolicyError {
        PolicyError::ReleaseBudgetExceeded {
            release: self.release.to_string(),
            policy: policy.to_string(),
            context: context.to_string(),
            limit: self.total,
            evaluated: self.evaluated,
        }
    }
}

impl PolicyEngine {
    /// Every policy bound in the subject's environment, evaluated on the release: one
    /// [`PolicyReport`] per bound policy, sorted by policy name. Unbound policies are skipped.
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

        let mut budget = Budget {
            release: subject.release,
            started: Instant::now(),
            total: self.limits.time_per_release,
            evaluated: 0,
        };
        // Inputs are shared by every policy of the same scope: digests are computed once per
        // release, documents only when some policy misses the cache.
        let objects: OnceCell<Vec<LazyInput<'_>>> = OnceCell::new();
        let whole: OnceCell<LazyInput<'_>> = OnceCell::new();

        let mut reports = Vec::with_capacity(bound.len());
        for (policy, mode) in bound {
            let name = policy_name(policy);
            let outcome = self.compile(name, &policy.spec.rego).and_then(|compiled| {
                let inputs: &[LazyInput<'_>] = match compiled.scope() {
                    PolicyScope::Workload => objects.get_or_init(|| object_inputs(subject)),
                    PolicyScope::Release => {
                        std::slice::from_ref(whole.get_or_init(|| whole_input(subject)))
                    }
                };
                let mut deny = Vec::new();
                let mut warn = Vec::new();
                for input in inputs {
                    let outcome = self.cached_run(
                        &compiled,
                        input.digest,
                        || input.rego(),
                        Some(&mut budget),
                        &|| input.origin.clone(),
                    )?;
                    let tag = |m: &String| format!("{m} ({})", input.origin);
                    deny.extend(outcome.deny.iter().map(tag));
                    warn.extend(outcome.warn.iter().map(tag));
                }
                Ok((deny, warn, inputs.len()))
            });
            let report = match outcome {
                Ok((mut deny, mut warn, evaluations)) => {
                    deny.sort();
                    deny.dedup();
                    warn.sort();
                    warn.dedup();
                    let verdict = match (mode, deny.is_empty(), warn.is_empty()) {
                        (_, true, true) => PolicyVerdict::Pass,
                        (EnforcementMode::Enforce, false, _) => PolicyVerdict::Deny,
                        _ => PolicyVerdict::Warn,
                    };
                    PolicyReport {
                        policy: name.to_string(),
                        mode,
                        verdict,
                        deny,
                        warn,
                        evaluations,
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
            };
            reports.push(report);
        }
        Ok(reports)
    }

    /// One evaluation through the evaluation cache. `budget` bounds the time of a release's
    /// evaluations together; `context` names the input in errors.
    pub(crate) fn cached_run<'i>(
        &self,
        compiled: &super::CompiledPolicy,
        input_digest: Digest,
        input: impl FnOnce() -> Result<&'i regorus::Value, String>,
        budget: Option<&mut Budget<'_>>,
        context: &dyn Fn() -> String,
    ) -> Result<PolicyOutcome, PolicyError> {
        let key = (compiled.module.digest, input_digest);
        if let Some(outcome) = self.evaluations.get(&key) {
            return Ok(outcome);
        }
        let value = input().map_err(|message| PolicyError::Evaluation {
            policy: compiled.name.clone(),
            context: context(),
            position: Default::default(),
            message,
        })?;
        let per_evaluation = self.limits.time_per_evaluation;
        let outcome = match budget {
            None => super::evaluate::run(
                &compiled.module,
                value,
                per_evaluation,
                &compiled.name,
                context,
                &self.limits,
            )?,
            Some(budget) => {
                let remaining = budget.total.saturating_sub(budget.started.elapsed());
                if remaining.is_zero() {
                    return Err(budget.exceeded(&compiled.name, &context()));
                }
                let limit = remaining.min(per_evaluation);
                let result = super::evaluate::run(
                    &compiled.module,
                    value,
                    limit,
                    &compiled.name,
                    context,
                    &self.limits,
                );
                budget.evaluated += 1;
                match result {
                    Err(PolicyError::TimeLimitExceeded { context, .. })
                        if limit < per_evaluation =>
                    {
                        return Err(budget.exceeded(&compiled.name, &context));
                    }
                    other => other?,
                }
            }
        };
        self.evaluations.insert(key, outcome.clone());
        Ok(outcome)
    }
}

fn object_inputs<'s>(subject: &'s ReleaseSubject<'s>) -> Vec<LazyInput<'s>> {
    let mut inputs = Vec::new();
    for target in &subject.targets {
        for manifest in target.manifests {
            if let Some(spec) = pod_spec(&manifest.object) {
                inputs.push(object_input(subject, target, manifest, spec));
            }
        }
    }
    inputs
}

fn object_input<'s>(
    subject: &'s ReleaseSubject<'s>,
    target: &'s SubjectTarget<'s>,
    manifest: &'s RenderedManifest,
    spec: &'s Value,
) -> LazyInput<'s> {
    LazyInput {
        digest: workload_input_digest(subject, target, manifest),
        origin: object_origin(manifest, target.tenant),
        build: Box::new(move || workload_input(subject, target, manifest, spec)),
        rego: OnceCell::new(),
    }
}

fn whole_input<'s>(subject: &'s ReleaseSubject<'s>) -> LazyInput<'s> {
    LazyInput {
        digest: release_input_digest(subject),
        origin: format!("release {}", subject.release),
        build: Box::new(move || release_input(subject)),
        rego: OnceCell::new(),
    }
}
