//! Catalog objects: published chart versions are immutable, workloads point at published
//! versions, environments have valid windows, policies compile and pass their own tests.

use gitopshq_crds::chart_version::ChartVersion;
use gitopshq_crds::environment::Environment;
use gitopshq_crds::policy::Policy;
use gitopshq_crds::workload::Workload;
use kube::ResourceExt;

use super::{Directory, Operation, Request, Rule, Verdict};
use crate::freeze::validate_windows;
use crate::policy::PolicyEngine;

/// A ChartVersion is named `<chart>-<version>` and, once published, only its deprecation
/// fields may change.
pub fn validate_chart_version(req: &Request<'_, ChartVersion>) -> Verdict {
    let Some(cv) = req.object else {
        return Verdict::allow();
    };
    let name = cv.name_any();
    let expected = format!("{}-{}", cv.spec.chart, cv.spec.version);
    if req.operation == Operation::Create && name != expected {
        return Verdict::deny(
            Rule::Invalid,
            format!(
                "chartversion {name} denied: metadata.name must be {expected} (<chart>-<version>) so workloads can find it; rename the object"
            ),
        );
    }
    if let (Operation::Update, Some(old)) = (req.operation, req.old) {
        let mut undeprecated = cv.spec.clone();
        undeprecated.deprecated = old.spec.deprecated;
        undeprecated.deprecation_message = old.spec.deprecation_message.clone();
        if undeprecated != old.spec {
            return Verdict::deny(
                Rule::Immutable,
                format!(
                    "chartversion {name} denied: a published chart version is immutable except spec.deprecated and spec.deprecationMessage; publish a new version (for example {}) with the change",
                    next_patch(&cv.spec.version)
                ),
            );
        }
    }
    Verdict::allow()
}

fn next_patch(version: &str) -> String {
    match semver::Version::parse(version) {
        Ok(mut v) => {
            v.patch += 1;
            v.pre = semver::Prerelease::EMPTY;
            v.to_string()
        }
        Err(_) => "a new semver version".into(),
    }
}

/// Every chart version a workload uses must be published (deprecated ones warn), and the parts
/// that reach one environment need the grant to release there ([`super::inputs`]).
pub fn validate_workload(req: &Request<'_, Workload>, directory: &dyn Directory) -> Verdict {
    let Some(workload) = req.object else {
        return Verdict::allow();
    };
    let name = workload.name_any();
    let chart = &workload.spec.chart;
    let mut uses: Vec<(String, &str)> =
        vec![("spec.version".into(), workload.spec.version.as_str())];
    for (env, over) in &workload.spec.environments {
        if let Some(version) = &over.version {
            uses.push((format!("spec.environments.{env}.version"), version));
        }
    }
    let mut verdict = Verdict::allow();
    for (field, version) in uses {
        let cv_name = format!("{chart}-{version}");
        match directory.chart_version(&cv_name) {
            None => {
                return Verdict::deny(
                    Rule::NotFound,
                    format!(
                        "workload {name} denied: {field} refers to chart {chart} version {version}, which is not published (no ChartVersion {cv_name}); publish it or pick one of kubectl get chartversions"
                    ),
                );
            }
            Some(cv) if cv.spec.deprecated => {
                let why = cv
                    .spec
                    .deprecation_message
                    .as_deref()
                    .unwrap_or("no reason given");
                verdict = verdict.warn(format!(
                    "workload {name}: {field} uses chart {chart} {version}, which is deprecated ({why}); move to a newer version"
                ));
            }
            Some(_) => {}
        }
    }
    let grants = super::inputs::workload_grants(req, directory);
    if grants.allowed() { verdict } else { grants }
}

/// Freeze windows must parse: a bad cron or time zone would silently never freeze.
pub fn validate_environment(req: &Request<'_, Environment>) -> Verdict {
    let Some(environment) = req.object else {
        return Verdict::allow();
    };
    match validate_windows(environment) {
        Ok(()) => Verdict::allow(),
        Err(error) => Verdict::deny(
            Rule::Invalid,
            format!("environment {} denied: {error}", environment.name_any()),
        ),
    }
}

/// A Policy must compile and pass its embedded tests before it can judge releases.
pub fn validate_policy(req: &Request<'_, Policy>, engine: &PolicyEngine) -> Verdict {
    let Some(policy) = req.object else {
        return Verdict::allow();
    };
    let name = policy.name_any();
    let check = engine.check(policy);
    if let Err(error) = &check.compiled {
        return Verdict::deny(
            Rule::PolicyInvalid,
            format!("policy {name} denied: {error}"),
        );
    }
    let failures = &check.tests.failures;
    if !failures.is_empty() {
        let cases: Vec<String> = failures
            .iter()
            .map(|f| match &f.error {
                Some(error) => format!("test {:?}: {error}", f.name),
                None => format!(
                    "test {:?}: expected deny {:?} warn {:?}, got deny {:?} warn {:?}",
                    f.name, f.expected.deny, f.expected.warn, f.got.deny, f.got.warn
                ),
            })
            .collect();
        return Verdict::deny(
            Rule::PolicyInvalid,
            format!(
                "policy {name} denied: {} of {} embedded tests failed: {}; fix the Rego or the test's expect (gitopshq policy test -f FILE)",
                failures.len(),
                policy.spec.tests.len(),
                cases.join("; ")
            ),
        );
    }
    Verdict::allow()
}
