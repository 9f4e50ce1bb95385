//! Test objects for the crates that build on the API (the `testing` feature, enabled only in
//! their dev-dependencies): a parser for objects written as YAML or JSON in a test, and
//! `Kind::test(..)` constructors giving a valid object with the defaults a test rarely cares
//! about, which the test then adjusts through the public fields.
//!
//! Objects come back as the API server would store them (generation 1, a resourceVersion, a
//! uid), because the shells write status conditionally on the resourceVersion and report the
//! generation they observed.

use serde::de::DeserializeOwned;

use crate::approval_policy::ApprovalPolicy;
use crate::approval_request::ApprovalRequest;
use crate::chart::Chart;
use crate::chart_version::ChartVersion;
use crate::environment::Environment;
use crate::policy::Policy;
use crate::project::Project;
use crate::promotion::Promotion;
use crate::release::{Release, ReleasePhase, ReleaseStatus};
use crate::tenant::Tenant;
use crate::workload::Workload;

/// An object written as YAML in a test.
///
/// # Panics
/// When the YAML does not describe a `T`, naming the problem and showing the YAML.
pub fn from_yaml<T: DeserializeOwned>(yaml: &str) -> T {
    yaml_serde::from_str(yaml).unwrap_or_else(|e| panic!("bad test object: {e}\n{yaml}"))
}

/// An object written as JSON (`serde_json::json!`) in a test.
///
/// # Panics
/// When the JSON does not describe a `T`, naming the problem and showing the JSON.
pub fn from_json<T: DeserializeOwned>(json: serde_json::Value) -> T {
    serde_json::from_value(json.clone())
        .unwrap_or_else(|e| panic!("bad test object: {e}\n{json:#}"))
}

/// The metadata every constructor gives: as stored, at generation 1.
fn stored(name: &str, namespace: Option<&str>) -> serde_json::Value {
    let mut metadata = serde_json::json!({
        "name": name,
        "generation": 1,
        "resourceVersion": "1",
        "uid": format!("uid-{}-{name}", namespace.unwrap_or("cluster")),
    });
    if let Some(namespace) = namespace {
        metadata["namespace"] = namespace.into();
    }
    metadata
}

fn object<T: DeserializeOwned>(
    kind: &str,
    name: &str,
    namespace: Option<&str>,
    spec: serde_json::Value,
) -> T {
    from_json(serde_json::json!({
        "apiVersion": "gitopshq.io/v1alpha1",
        "kind": kind,
        "metadata": stored(name, namespace),
        "spec": spec,
    }))
}

impl Environment {
    /// An environment of rank 0 with no freeze window.
    pub fn test(name: &str) -> Self {
        object("Environment", name, None, serde_json::json!({}))
    }
}

impl Project {
    /// A project with the environments `staging` and `production`, delivered by Argo CD from
    /// `url` (a test points it at a local bare repository, or at nothing).
    pub fn test(name: &str, url: &str) -> Self {
        object(
            "Project",
            name,
            None,
            serde_json::json!({
                "environments": ["staging", "production"],
                "repository": {"url": url},
            }),
        )
    }
}

impl Chart {
    /// A chart with no owners.
    pub fn test(name: &str) -> Self {
        object("Chart", name, None, serde_json::json!({}))
    }
}

impl ChartVersion {
    /// Version `version` of `chart` (named `<chart>-<version>`), with one ConfigMap template
    /// that renders the value `message`.
    pub fn test(chart: &str, version: &str) -> Self {
        object(
            "ChartVersion",
            &format!("{chart}-{version}"),
            None,
            serde_json::json!({
                "chart": chart,
                "version": version,
                "templates": {
                    "configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{workload.name}}\ndata:\n  message: \"{{values.message}}\"\n",
                },
                "values": {"message": "hello"},
            }),
        )
    }
}

impl Policy {
    /// A policy with the Rego module `rego`, no bindings and no embedded tests.
    pub fn test(name: &str, rego: &str) -> Self {
        object("Policy", name, None, serde_json::json!({"rego": rego}))
    }
}

impl ApprovalPolicy {
    /// One approval (not the submitter's) for releases to `environment`.
    pub fn test(name: &str, environment: &str) -> Self {
        object(
            "ApprovalPolicy",
            name,
            None,
            serde_json::json!({"environments": [environment]}),
        )
    }
}

impl Workload {
    /// A workload of project `namespace` on `chart` at `version`.
    pub fn test(name: &str, namespace: &str, chart: &str, version: &str) -> Self {
        object(
            "Workload",
            name,
            Some(namespace),
            serde_json::json!({"chart": chart, "version": version}),
        )
    }
}

impl Tenant {
    /// A tenant of project `namespace` in `environment`, on cluster `cluster`, deployed to a
    /// namespace named after the tenant.
    pub fn test(name: &str, namespace: &str, environment: &str, cluster: &str) -> Self {
        object(
            "Tenant",
            name,
            Some(namespace),
            serde_json::json!({
                "environment": environment,
                "cluster": cluster,
                "namespace": name,
            }),
        )
    }
}

impl Release {
    /// A Draft deploy release of project `namespace` to `staging`, changing nothing yet.
    pub fn test(name: &str, namespace: &str) -> Self {
        object(
            "Release",
            name,
            Some(namespace),
            serde_json::json!({"title": name, "environment": "staging"}),
        )
    }

    /// The release as its author submitted it.
    pub fn submitted(mut self) -> Self {
        self.spec.submitted = true;
        self
    }

    /// The release with `phase` written in its status (the rest of the status as it was).
    pub fn in_phase(mut self, phase: ReleasePhase) -> Self {
        let status = self.status.get_or_insert_with(ReleaseStatus::default);
        status.phase = Some(phase);
        self
    }
}

impl ApprovalRequest {
    /// The request of release `release` of project `namespace` under `policy`, with no
    /// decision yet.
    pub fn test(release: &str, namespace: &str, policy: &str) -> Self {
        object(
            "ApprovalRequest",
            release,
            Some(namespace),
            serde_json::json!({"release": release, "policy": policy}),
        )
    }
}

impl Promotion {
    /// A promotion of release `release` of project `namespace`, one batch per name in
    /// `batches`, each selecting its tenants by name.
    pub fn test(name: &str, namespace: &str, release: &str, batches: &[(&str, &[&str])]) -> Self {
        let batches: Vec<serde_json::Value> = batches
            .iter()
            .map(|(batch, tenants)| serde_json::json!({"name": batch, "tenants": tenants}))
            .collect();
        object(
            "Promotion",
            name,
            Some(namespace),
            serde_json::json!({"release": release, "batches": batches}),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each constructor gives an object the API accepts: it goes through the kind's own
    /// deserializer, so a required field the constructor forgot fails here.
    #[test]
    fn constructors_give_stored_objects() {
        let release = Release::test("r1", "shop")
            .submitted()
            .in_phase(ReleasePhase::Failed);
        assert!(release.spec.submitted);
        assert_eq!(release.status.unwrap().phase, Some(ReleasePhase::Failed));
        assert_eq!(release.metadata.namespace.as_deref(), Some("shop"));
        assert_eq!(release.metadata.generation, Some(1));

        let project = Project::test("shop", "file:///nowhere");
        assert_eq!(project.spec.repository.branch, "main");
        assert_eq!(project.metadata.namespace, None);

        let version = ChartVersion::test("web", "1.0.0");
        assert_eq!(version.metadata.name.as_deref(), Some("web-1.0.0"));
        assert_eq!(version.spec.templates.len(), 1);

        let promotion = Promotion::test("p", "shop", "r1", &[("canary", &["t1"])]);
        assert_eq!(promotion.spec.batches.len(), 1);

        let policy = ApprovalPolicy::test("prod", "production");
        assert_eq!(policy.spec.min_approvals, 1);
        assert!(policy.spec.forbid_self_approval);

        let tenant = Tenant::test("t1", "shop", "staging", "c1");
        assert_eq!(tenant.spec.namespace, "t1");
        let _: Environment = Environment::test("staging");
        let _: Chart = Chart::test("web");
        let _: Policy = Policy::test("p", "package x");
        let _: Workload = Workload::test("api", "shop", "web", "1.0.0");
        let _: ApprovalRequest = ApprovalRequest::test("r1", "shop", "prod");
    }

    #[test]
    #[should_panic(expected = "bad test object")]
    fn from_yaml_names_a_bad_object() {
        let _: Release = from_yaml("kind: Release\nspec: 3\n");
    }
}
