//! Dry runs of one policy, for the dashboard's policy page: on objects a person pastes, or on
//! what a release renders. The inputs are those admission builds ([`workload_input`],
//! [`release_input`]), the verdict is the one the policy's binding gives in the environment,
//! and nothing is admitted or recorded. An evaluation that fails is reported as an error, never
//! as a pass.

use std::time::Instant;

use gitopshq_crds::policy::{EnforcementMode, Policy};
use gitopshq_crds::release::{PolicyVerdict, Release, ReleaseType};
use kube::ResourceExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::PolicyEngine;
use super::compile::{CompiledPolicy, PolicyScope};
use super::error::PolicyError;
use super::input::{ReleaseSubject, SubjectTarget, pod_spec, release_input, workload_input};
use super::release::{binding_mode, policy_name, verdict_of};
use crate::catalog::Catalog;
use crate::error::Chain;
use crate::manifest::RenderedManifest;
use crate::plan;

/// Objects one pasted text may hold: each is evaluated on its own for a `.workload` policy, and
/// a person reads every result.
pub const MAX_PASTED_OBJECTS: usize = 200;

/// Which input the policy saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum DryRunScope {
    /// One evaluation per object with a pod template or pod spec.
    Workload,
    /// One evaluation with every object as `manifests`.
    Release,
}

impl From<PolicyScope> for DryRunScope {
    fn from(scope: PolicyScope) -> Self {
        match scope {
            PolicyScope::Workload => DryRunScope::Workload,
            PolicyScope::Release => DryRunScope::Release,
        }
    }
}

/// What a release in the environment would get from this policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum DryRunVerdict {
    Pass,
    Warn,
    Deny,
    /// No binding names the environment: admission does not evaluate the policy there.
    NotBound,
    /// The policy could not be evaluated (it does not compile, the objects are not readable,
    /// an evaluation failed): not a pass.
    Error,
}

impl From<PolicyVerdict> for DryRunVerdict {
    fn from(verdict: PolicyVerdict) -> Self {
        match verdict {
            PolicyVerdict::Pass => DryRunVerdict::Pass,
            PolicyVerdict::Warn => DryRunVerdict::Warn,
            PolicyVerdict::Deny => DryRunVerdict::Deny,
        }
    }
}

/// Which text a problem's line counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum ProblemSource {
    /// The policy's `spec.rego`.
    Rego,
    /// The pasted objects.
    Object,
    /// The release: it does not render, or is not judged by policies.
    Release,
}

/// Why a dry run (or the tests) could not produce a verdict, at a line when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PolicyProblem {
    pub source: ProblemSource,
    /// 1-based line of the text `source` names.
    pub line: Option<u32>,
    /// 1-based column on that line.
    pub column: Option<u32>,
    pub message: String,
}

impl PolicyProblem {
    /// A policy error, at its line of the Rego when it has one.
    pub fn in_rego(error: &PolicyError) -> Self {
        let position = error.position();
        PolicyProblem {
            source: ProblemSource::Rego,
            line: position.and_then(|p| p.line),
            column: position.and_then(|p| p.column),
            message: error.to_string(),
        }
    }

    fn in_object(line: Option<usize>, column: Option<usize>, message: String) -> Self {
        let narrow = |n: Option<usize>| n.and_then(|n| u32::try_from(n).ok());
        PolicyProblem {
            source: ProblemSource::Object,
            line: narrow(line),
            column: narrow(column),
            message,
        }
    }

    fn in_release(message: String) -> Self {
        PolicyProblem {
            source: ProblemSource::Release,
            line: None,
            column: None,
            message,
        }
    }
}

/// What the policy said about one input: an object (`.workload`) or all of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct InputResult {
    /// `Deployment payments/payment-api, tenant acme`, `release payment-api-v2`, or `the pasted
    /// objects`.
    pub origin: String,
    /// `deny` messages, sorted.
    pub deny: Vec<String>,
    /// `warn` messages, sorted.
    pub warn: Vec<String>,
    /// `print()` output of the rules.
    pub prints: Vec<String>,
    /// Why this input could not be evaluated.
    pub error: Option<String>,
}

/// One policy evaluated on pasted objects or on a release.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    pub policy: String,
    /// `None` when the module does not compile.
    pub package: Option<String>,
    pub scope: Option<DryRunScope>,
    /// The environment the input carried and whose binding decides the verdict.
    pub environment: String,
    /// How the policy binds there; `None`: not at all.
    pub mode: Option<EnforcementMode>,
    pub verdict: DryRunVerdict,
    /// The verdict in a sentence: what admission would do with a release there.
    pub summary: String,
    /// One entry per input the policy was evaluated on.
    pub results: Vec<InputResult>,
    /// Set exactly when the verdict is `Error`.
    pub problem: Option<PolicyProblem>,
}

impl DryRun {
    fn failed(policy: &Policy, environment: &str, problem: PolicyProblem) -> Self {
        let mode = binding_mode(policy, environment);
        DryRun {
            policy: policy_name(policy).to_string(),
            package: None,
            scope: None,
            environment: environment.to_string(),
            mode,
            verdict: DryRunVerdict::Error,
            summary: error_summary(environment, mode),
            results: Vec::new(),
            problem: Some(problem),
        }
    }
}

/// The environment a dry run on pasted objects uses when the person names none: the one where
/// the policy weighs most — the last of `environments` (in rank order) where it is bound
/// `Enforce`, else the last where it is bound at all, else the first environment a binding
/// names, else the first of `environments`.
pub fn default_environment(policy: &Policy, environments: &[String]) -> Option<String> {
    let strictest = |mode: EnforcementMode| {
        environments
            .iter()
            .rev()
            .find(|e| binding_mode(policy, e) == Some(mode))
    };
    strictest(EnforcementMode::Enforce)
        .or_else(|| strictest(EnforcementMode::Warn))
        .cloned()
        .or_else(|| {
            policy
                .spec
                .bindings
                .iter()
                .flat_map(|b| b.environments.first())
                .next()
                .cloned()
        })
        .or_else(|| environments.first().cloned())
}

/// Every object of a pasted text: JSON (an object, or an array or `List` of objects) or a YAML
/// stream of documents. A problem names its line when the parser gives one.
pub fn parse_objects(text: &str) -> Result<Vec<RenderedManifest>, PolicyProblem> {
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(PolicyProblem::in_object(
            None,
            None,
            "nothing to evaluate: paste a Kubernetes object as YAML or JSON".into(),
        ));
    }
    // JSON first when it looks like JSON: YAML rejects tabs that JSON allows, and serde_json
    // names the line of a JSON mistake more precisely.
    let documents: Vec<Value> = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            PolicyProblem::in_object(
                Some(e.line()),
                Some(e.column()),
                format!("not valid JSON: {e}"),
            )
        })?;
        match value {
            Value::Array(items) => items,
            other => vec![other],
        }
    } else {
        let mut documents = Vec::new();
        for document in yaml_serde::Deserializer::from_str(text) {
            let value = Value::deserialize(document).map_err(|e| {
                let location = e.location();
                PolicyProblem::in_object(
                    location.as_ref().map(|l| l.line()),
                    location.as_ref().map(|l| l.column()),
                    format!("not valid YAML: {e}"),
                )
            })?;
            if !value.is_null() {
                documents.push(value);
            }
        }
        documents
    };
    let objects: Vec<Value> = documents
        .into_iter()
        .flat_map(|document| match document {
            Value::Object(mut map)
                if map.get("kind").and_then(Value::as_str) == Some("List")
                    && map.get("items").is_some_and(Value::is_array) =>
            {
                match map.remove("items") {
                    Some(Value::Array(items)) => items,
                    _ => Vec::new(),
                }
            }
            other => vec![other],
        })
        .collect();
    if objects.is_empty() {
        return Err(PolicyProblem::in_object(
            None,
            None,
            "the text holds no object: paste a Kubernetes object as YAML or JSON".into(),
        ));
    }
    if objects.len() > MAX_PASTED_OBJECTS {
        return Err(PolicyProblem::in_object(
            None,
            None,
            format!(
                "the text holds {} objects, more than the {MAX_PASTED_OBJECTS} evaluated at once: paste fewer",
                objects.len()
            ),
        ));
    }
    let several = objects.len() > 1;
    objects
        .into_iter()
        .enumerate()
        .map(|(index, object)| {
            RenderedManifest::from_object(object).map_err(|problem| {
                let which = if several {
                    format!("object {}", index + 1)
                } else {
                    "the object".to_string()
                };
                PolicyProblem::in_object(
                    None,
                    None,
                    format!("{which} is not a Kubernetes object: {problem}"),
                )
            })
        })
        .collect()
}

/// One input of a dry run: where it came from, and the document the rules see.
struct DryRunInput {
    origin: String,
    document: Value,
}

impl PolicyEngine {
    /// `policy` on the objects of a pasted `text` (see [`parse_objects`]), as admission would
    /// judge them in `environment`. Project, tenant, workload and release are empty in the
    /// input: no release carries pasted objects.
    pub fn dry_run_objects(&self, policy: &Policy, text: &str, environment: &str) -> DryRun {
        let objects = match parse_objects(text) {
            Ok(objects) => objects,
            Err(problem) => return DryRun::failed(policy, environment, problem),
        };
        let subject = ReleaseSubject {
            environment,
            project: "",
            release: "",
            changes: &[],
            targets: vec![SubjectTarget {
                tenant: "",
                workload: "",
                manifests: &objects,
            }],
        };
        self.dry_run_subject(policy, &subject, "the pasted objects")
    }

    /// `policy` on what `release` renders from `catalog` (the plan and render functions of the
    /// controller and the webhook), in the release's environment.
    pub fn dry_run_release(&self, policy: &Policy, catalog: &Catalog, release: &Release) -> DryRun {
        let name = release.name_any();
        let environment = release.spec.environment.as_str();
        if release.spec.type_ == ReleaseType::Rollback {
            let restores = release
                .spec
                .rollback_to
                .as_ref()
                .map(|r| format!(" (release {})", r.release))
                .unwrap_or_default();
            return DryRun::failed(
                policy,
                environment,
                PolicyProblem::in_release(format!(
                    "release {name} is a Rollback: admission judges no policy on a rollback, which restores content judged when it was first released; evaluate the release it restores{restores} instead"
                )),
            );
        }
        let rendered = plan::release_targets(catalog, release)
            .and_then(|targets| self.renders().render_targets(catalog, targets));
        let rendered = match rendered {
            Ok(rendered) => rendered,
            Err(error) => {
                return DryRun::failed(
                    policy,
                    environment,
                    PolicyProblem::in_release(format!(
                        "release {name} does not render, so no policy can judge it (the controller fails it with the same error): {}",
                        Chain(&error)
                    )),
                );
            }
        };
        let project = release.namespace().unwrap_or_default();
        let subject = ReleaseSubject {
            environment,
            project: &project,
            release: &name,
            changes: &release.spec.changes,
            targets: super::subject_targets(&rendered),
        };
        self.dry_run_subject(policy, &subject, &format!("release {name}"))
    }

    /// The policy on every input its scope builds from `subject`, each evaluated on its own
    /// (so each object has its own messages), within the time budget of a release.
    fn dry_run_subject(
        &self,
        policy: &Policy,
        subject: &ReleaseSubject<'_>,
        whole: &str,
    ) -> DryRun {
        let environment = subject.environment;
        let compiled = match self.compile(policy_name(policy), &policy.spec.rego) {
            Ok(compiled) => compiled,
            Err(error) => {
                return DryRun::failed(policy, environment, PolicyProblem::in_rego(&error));
            }
        };
        let inputs = inputs_of(&compiled, subject, whole);
        let started = Instant::now();
        let mut results = Vec::with_capacity(inputs.len());
        let mut first_error: Option<PolicyError> = None;
        for (done, input) in inputs.iter().enumerate() {
            let outcome = if started.elapsed() > self.limits.time_per_release {
                Err(PolicyError::ReleaseBudgetExceeded {
                    release: whole.to_string(),
                    policy: compiled.name().to_string(),
                    context: input.origin.clone(),
                    limit: self.limits.time_per_release,
                    evaluated: done,
                })
            } else {
                self.evaluate_in(&compiled, &input.document, &input.origin)
            };
            results.push(match outcome {
                Ok(outcome) => InputResult {
                    origin: input.origin.clone(),
                    deny: outcome.deny,
                    warn: outcome.warn,
                    prints: outcome.prints,
                    error: None,
                },
                Err(error) => {
                    let result = InputResult {
                        origin: input.origin.clone(),
                        deny: Vec::new(),
                        warn: Vec::new(),
                        prints: Vec::new(),
                        error: Some(error.to_string()),
                    };
                    first_error.get_or_insert(error);
                    result
                }
            });
        }
        let mode = binding_mode(policy, environment);
        let scope = DryRunScope::from(compiled.scope());
        let mut run = DryRun {
            policy: compiled.name().to_string(),
            package: Some(compiled.package().to_string()),
            scope: Some(scope),
            environment: environment.to_string(),
            mode,
            verdict: DryRunVerdict::Error,
            summary: String::new(),
            results,
            problem: None,
        };
        if let Some(error) = first_error {
            run.summary = error_summary(environment, mode);
            run.problem = Some(PolicyProblem::in_rego(&error));
            return run;
        }
        let mut deny: Vec<String> = run.results.iter().flat_map(|r| r.deny.clone()).collect();
        let mut warn: Vec<String> = run.results.iter().flat_map(|r| r.warn.clone()).collect();
        deny.sort();
        deny.dedup();
        warn.sort();
        warn.dedup();
        run.verdict = match mode {
            Some(mode) => verdict_of(mode, &deny, &warn).into(),
            None => DryRunVerdict::NotBound,
        };
        run.summary = summary(&run, deny.len(), warn.len());
        run
    }
}

fn inputs_of(
    compiled: &CompiledPolicy,
    subject: &ReleaseSubject<'_>,
    whole: &str,
) -> Vec<DryRunInput> {
    match compiled.scope() {
        PolicyScope::Workload => subject
            .targets
            .iter()
            .flat_map(|target| target.manifests.iter().map(move |m| (target, m)))
            .filter_map(|(target, manifest)| {
                let spec = pod_spec(&manifest.object)?;
                Some(DryRunInput {
                    origin: origin(manifest, target.tenant),
                    document: workload_input(subject, target, manifest, spec),
                })
            })
            .collect(),
        PolicyScope::Release => vec![DryRunInput {
            origin: whole.to_string(),
            document: release_input(subject),
        }],
    }
}

/// `Deployment payments/payment-api, tenant acme`, as release messages name their object;
/// without a tenant for pasted objects.
fn origin(manifest: &RenderedManifest, tenant: &str) -> String {
    let object = format!("{} {}", manifest.kind, manifest.display_name());
    if tenant.is_empty() {
        object
    } else {
        format!("{object}, tenant {tenant}")
    }
}

fn error_summary(environment: &str, mode: Option<EnforcementMode>) -> String {
    let consequence = match mode {
        Some(EnforcementMode::Enforce) => format!(
            "it is bound Enforce in {environment}, so admission would refuse a release there"
        ),
        Some(EnforcementMode::Warn) => format!(
            "it is bound Warn in {environment}, so admission would admit a release there with the error as a warning"
        ),
        None => {
            format!("it is not bound in {environment}, so admission does not evaluate it there")
        }
    };
    format!("the policy could not be evaluated, which is not a pass: {consequence}")
}

fn summary(run: &DryRun, deny: usize, warn: usize) -> String {
    let environment = &run.environment;
    let messages = match (deny, warn) {
        (0, 0) => "no deny or warn message".to_string(),
        (d, 0) => count(d, "deny message"),
        (0, w) => count(w, "warn message"),
        (d, w) => format!(
            "{} and {}",
            count(d, "deny message"),
            count(w, "warn message")
        ),
    };
    let nothing_to_judge = run.scope == Some(DryRunScope::Workload) && run.results.is_empty();
    let prefix = if nothing_to_judge {
        "no object has a pod template or pod spec, so this .workload policy evaluated nothing: "
    } else {
        ""
    };
    let consequence = match (run.verdict, run.mode) {
        (DryRunVerdict::NotBound, _) => format!(
            "the policy is not bound in {environment}, so admission does not evaluate it there"
        ),
        (DryRunVerdict::Pass, Some(mode)) => {
            format!(
                "a release in {environment} passes (bound {})",
                mode.as_str()
            )
        }
        (DryRunVerdict::Deny, _) => {
            format!("admission would refuse a release in {environment} (bound Enforce)")
        }
        (DryRunVerdict::Warn, Some(mode)) => format!(
            "admission would admit a release in {environment} with them as warnings (bound {})",
            mode.as_str()
        ),
        _ => String::new(),
    };
    format!("{prefix}{messages}: {consequence}")
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests;
