//! The `input` documents policies see, built from rendered manifests (API.md, `Policy`):
//!
//! - package ending in `.workload`: one input per rendered object with a pod spec,
//!   `{environment, project, tenant, workload, release, kind, metadata, spec: <pod spec>,
//!   object: <whole object>}`;
//! - any other package: one input per release, `{environment, project, release,
//!   manifests: [objects], changes}`.
//!
//! Digests of these inputs are computed from their parts, without building the JSON document:
//! on a warm cache the document is never built at all.

use gitopshq_crds::release::WorkloadChange;
use serde_json::{Map, Value};

use super::cache::{Digest, Hasher};
use crate::manifest::RenderedManifest;

/// What a release delivers, as far as policies are concerned.
#[derive(Debug, Clone)]
pub struct ReleaseSubject<'a> {
    pub environment: &'a str,
    pub project: &'a str,
    pub release: &'a str,
    pub changes: &'a [WorkloadChange],
    /// One entry per (tenant × workload) the release renders.
    pub targets: Vec<SubjectTarget<'a>>,
}

/// The rendered objects of one workload for one tenant.
#[derive(Debug, Clone, Copy)]
pub struct SubjectTarget<'a> {
    pub tenant: &'a str,
    pub workload: &'a str,
    pub manifests: &'a [RenderedManifest],
}

/// The targets of a subject, one per rendered (tenant × workload).
pub fn subject_targets(rendered: &[crate::plan::RenderedTarget]) -> Vec<SubjectTarget<'_>> {
    rendered
        .iter()
        .map(|r| SubjectTarget {
            tenant: &r.target.tenant,
            workload: &r.target.workload,
            manifests: &r.output.manifests,
        })
        .collect()
}

/// Kinds whose pod spec is at `spec.template.spec`.
const POD_TEMPLATE_KINDS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
];

const POD: &[&str] = &["spec"];
const TEMPLATE: &[&str] = &["spec", "template", "spec"];
const CRON_JOB: &[&str] = &["spec", "jobTemplate", "spec", "template", "spec"];

/// The pod spec of an object that runs pods, if it has one: `Pod` → `spec`; Deployment,
/// StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job → `spec.template.spec`;
/// CronJob → `spec.jobTemplate.spec.template.spec`. Other kinds count when they carry a pod
/// template with containers at `spec.template.spec` (Argo Rollouts, Knative …).
pub fn pod_spec(object: &Value) -> Option<&Value> {
    pod_spec_path(object).and_then(|path| follow(object, path))
}

/// Where [`pod_spec`] is, as keys from the object's root.
fn pod_spec_path(object: &Value) -> Option<&'static [&'static str]> {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let path = match kind {
        "Pod" => POD,
        "CronJob" => CRON_JOB,
        k if POD_TEMPLATE_KINDS.contains(&k) => TEMPLATE,
        _ => {
            let spec = follow(object, TEMPLATE)?;
            if !spec.get("containers").is_some_and(Value::is_array) {
                return None;
            }
            TEMPLATE
        }
    };
    follow(object, path).map(|_| path)
}

fn follow<'v>(object: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter()
        .try_fold(object, |value, key| value.get(*key))
        .filter(|spec| spec.is_object())
}

/// Input of a `.workload` policy for one object (which must have a pod spec).
pub fn workload_input(
    subject: &ReleaseSubject<'_>,
    target: &SubjectTarget<'_>,
    manifest: &RenderedManifest,
    pod_spec: &Value,
) -> Value {
    let mut input = Map::new();
    input.insert("environment".into(), subject.environment.into());
    input.insert("project".into(), subject.project.into());
    input.insert("tenant".into(), target.tenant.into());
    input.insert("workload".into(), target.workload.into());
    input.insert("release".into(), subject.release.into());
    input.insert("kind".into(), manifest.kind.as_str().into());
    input.insert(
        "metadata".into(),
        manifest
            .object
            .get("metadata")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new())),
    );
    input.insert("spec".into(), pod_spec.clone());
    input.insert("object".into(), manifest.object.clone());
    Value::Object(input)
}

/// [`workload_input`] in regorus's value model, built around the object converted once
/// (`object_value`): `metadata`, `spec` and `object` share it instead of converting the object's
/// JSON twice. `None` when the object has no pod spec.
pub(crate) fn rego_workload_input(
    subject: &ReleaseSubject<'_>,
    target: &SubjectTarget<'_>,
    manifest: &RenderedManifest,
    object_value: &regorus::Value,
) -> Option<regorus::Value> {
    let path = pod_spec_path(&manifest.object)?;
    let spec = path
        .iter()
        .fold(object_value, |value, key| &value[*key])
        .clone();
    let metadata = match &object_value["metadata"] {
        regorus::Value::Undefined => regorus::Value::new_object(),
        other => other.clone(),
    };
    let fields = [
        ("environment", regorus::Value::from(subject.environment)),
        ("project", regorus::Value::from(subject.project)),
        ("tenant", regorus::Value::from(target.tenant)),
        ("workload", regorus::Value::from(target.workload)),
        ("release", regorus::Value::from(subject.release)),
        ("kind", regorus::Value::from(manifest.kind.as_str())),
        ("metadata", metadata),
        ("spec", spec),
        ("object", object_value.clone()),
    ];
    Some(regorus::Value::from(
        fields
            .into_iter()
            .map(|(k, v)| (regorus::Value::from(k), v))
            .collect::<std::collections::BTreeMap<_, _>>(),
    ))
}

/// [`release_input`] in regorus's value model, from the objects converted once.
pub(crate) fn rego_release_input(
    subject: &ReleaseSubject<'_>,
    objects: Vec<regorus::Value>,
) -> Result<regorus::Value, String> {
    let changes = serde_json::to_value(subject.changes).map_err(|e| e.to_string())?;
    let fields = [
        ("environment", regorus::Value::from(subject.environment)),
        ("project", regorus::Value::from(subject.project)),
        ("release", regorus::Value::from(subject.release)),
        ("manifests", regorus::Value::from(objects)),
        ("changes", super::evaluate::to_rego(&changes)?),
    ];
    Ok(regorus::Value::from(
        fields
            .into_iter()
            .map(|(k, v)| (regorus::Value::from(k), v))
            .collect::<std::collections::BTreeMap<_, _>>(),
    ))
}

/// Digest of [`workload_input`]: everything the input is made of (kind, metadata and spec come
/// from the object).
pub(crate) fn workload_input_digest(
    subject: &ReleaseSubject<'_>,
    target: &SubjectTarget<'_>,
    manifest: &RenderedManifest,
) -> Digest {
    let mut hasher = Hasher::new("gitopshq.workload-input.v1");
    hasher
        .str(subject.environment)
        .str(subject.project)
        .str(target.tenant)
        .str(target.workload)
        .str(subject.release)
        .json(&manifest.object);
    hasher.finish()
}

/// Input of a release-level policy.
pub fn release_input(subject: &ReleaseSubject<'_>) -> Value {
    let manifests: Vec<Value> = subject
        .targets
        .iter()
        .flat_map(|t| t.manifests.iter().map(|m| m.object.clone()))
        .collect();
    let mut input = Map::new();
    input.insert("environment".into(), subject.environment.into());
    input.insert("project".into(), subject.project.into());
    input.insert("release".into(), subject.release.into());
    input.insert("manifests".into(), Value::Array(manifests));
    input.insert(
        "changes".into(),
        serde_json::to_value(subject.changes).unwrap_or_else(|_| Value::Array(Vec::new())),
    );
    Value::Object(input)
}

/// Digest of [`release_input`].
pub(crate) fn release_input_digest(subject: &ReleaseSubject<'_>) -> Digest {
    let mut hasher = Hasher::new("gitopshq.release-input.v1");
    hasher
        .str(subject.environment)
        .str(subject.project)
        .str(subject.release);
    for target in &subject.targets {
        for manifest in target.manifests {
            hasher.json(&manifest.object);
        }
    }
    // The separator byte after each object cannot occur in JSON, so the list ends unambiguously.
    hasher.str("changes").json(subject.changes);
    hasher.finish()
}

/// Digest of an arbitrary input document ([`super::PolicyEngine::evaluate`]).
pub(crate) fn input_digest(input: &Value) -> Digest {
    let mut hasher = Hasher::new("gitopshq.input.v1");
    hasher.json(input);
    hasher.finish()
}

/// `Deployment payments/payment-api, tenant acme`: where a message came from.
pub(crate) fn object_origin(manifest: &RenderedManifest, tenant: &str) -> String {
    format!(
        "{} {}, tenant {tenant}",
        manifest.kind,
        manifest.display_name()
    )
}
