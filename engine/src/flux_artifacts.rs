//! Per-tenant Flux artifacts: with them a tenant's Kustomization follows an `ExternalArtifact`
//! holding only the tenant's folder, instead of the project's `GitRepository`, so a commit
//! makes Flux reconcile the tenants it changed or targeted, not every tenant of the project.
//! (Flux's own producer of such artifacts, source-watcher's ArtifactGenerator, splits a source
//! by path the same way; here the controller that commits is the producer.)
//!
//! The decisions: which tenants a commit publishes, the archive's address on the controller's
//! artifact server and how a request for it is read back, and the `ExternalArtifact` object
//! with its `status.artifact`. The archive itself and the writes are the shells'.

use serde_json::{Value, json};

use gitopshq_crds::consts::labels;

/// Recorded in `status.artifact.metadata`: the tree of the tenant's folder the archive holds.
pub const TREE: &str = "gitopshq.io/tree";
/// Recorded beside it: the archive format, so a format change republishes every tenant.
pub const FORMAT_KEY: &str = "gitopshq.io/archive-format";
/// This build's archive format.
pub const FORMAT: &str = "1";

/// What an `ExternalArtifact`'s status says is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub revision: String,
    pub tree: Option<String>,
    pub format: Option<String>,
}

/// What `status.artifact` of `object` (an `ExternalArtifact`) publishes, if anything.
pub fn published(object: &Value) -> Option<Published> {
    let artifact = object.pointer("/status/artifact")?;
    let text = |pointer: &str| {
        artifact
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Some(Published {
        revision: text("/revision")?,
        tree: text(&format!("/metadata/{}", pointer_escape(TREE))),
        format: text(&format!("/metadata/{}", pointer_escape(FORMAT_KEY))),
    })
}

fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Whether a commit publishes a new artifact for a tenant whose folder is `tree` at that
/// commit: when the commit targets the tenant (its release waits for Flux to apply this
/// commit, even when the folder did not change), when the folder changed, or when nothing or
/// another format is published.
pub fn needs_publishing(published: Option<&Published>, tree: &str, targeted: bool) -> bool {
    let Some(published) = published else {
        return true;
    };
    targeted
        || published.tree.as_deref() != Some(tree)
        || published.format.as_deref() != Some(FORMAT)
}

/// The revision Flux records for an artifact of `commit` on `branch`: the same form as a
/// `GitRepository`'s, so "the applied revision contains the release's commit" reads it.
pub fn revision(branch: &str, commit: &str) -> String {
    format!("{branch}@sha1:{commit}")
}

/// The path, on the artifact server, of the archive of folder `dir` of `project`'s repository
/// at `commit`: `/<project>/<commit>/<dir>.tar.gz`.
pub fn archive_path(project: &str, commit: &str, dir: &str) -> String {
    format!("/{project}/{commit}/{}.tar.gz", dir.trim_matches('/'))
}

/// An archive request read back: the project, the commit and the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRequest {
    pub project: String,
    pub commit: String,
    pub dir: String,
}

/// Reads `path` as [`archive_path`] writes it; `None` for anything else (no commit SHA, a
/// folder with `.`, `..` or empty segments). Whether the folder is a tenant folder of the
/// project is [`is_tenant_dir`]'s question.
pub fn archive_request(path: &str) -> Option<ArchiveRequest> {
    let rest = path.strip_prefix('/')?.strip_suffix(".tar.gz")?;
    let (project, rest) = rest.split_once('/')?;
    let (commit, dir) = rest.split_once('/')?;
    let sha = commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit());
    let clean = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains('\\');
    (sha && clean(project) && !project.contains('/') && dir.split('/').all(clean)).then(|| {
        ArchiveRequest {
            project: project.to_string(),
            commit: commit.to_ascii_lowercase(),
            dir: dir.to_string(),
        }
    })
}

/// Whether `dir` is `<root>/<environment>/<tenant>` for one of `environments`: the server
/// hands out tenant folders only, never the rest of the repository.
pub fn is_tenant_dir(dir: &str, root: &str, environments: &[String]) -> bool {
    let Some(rest) = dir.strip_prefix(root).and_then(|r| r.strip_prefix('/')) else {
        return false;
    };
    match rest.split_once('/') {
        Some((environment, tenant)) => {
            environments.iter().any(|e| e == environment)
                && !tenant.contains('/')
                && !tenant.starts_with('_')
        }
        None => false,
    }
}

/// The `ExternalArtifact` (`source.toolkit.fluxcd.io/v1`) of a tenant, without its status.
pub fn external_artifact(
    name: &str,
    namespace: &str,
    project: &str,
    environment: &str,
    tenant: &str,
) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "ExternalArtifact",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                labels::K8S_MANAGED_BY: labels::MANAGED_BY_VALUE,
                labels::PROJECT: project,
                labels::ENVIRONMENT: environment,
                labels::TENANT: tenant,
            },
        },
        "spec": {},
    })
}

/// One archive published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub url: String,
    pub revision: String,
    pub digest: String,
    pub size: u64,
    pub tree: String,
    /// RFC 3339.
    pub time: String,
}

/// The status that publishes `artifact`: Flux's `Artifact` fields, and `Ready` True.
pub fn artifact_status(artifact: &Artifact, generation: Option<i64>) -> Value {
    let path = artifact
        .url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map_or_else(|| artifact.url.clone(), |(_, path)| path.to_string());
    let mut ready = json!({
        "type": "Ready",
        "status": "True",
        "reason": "Succeeded",
        "message": format!("stored artifact for revision '{}'", artifact.revision),
        "lastTransitionTime": artifact.time,
    });
    if let Some(generation) = generation {
        ready["observedGeneration"] = generation.into();
    }
    json!({
        "status": {
            "artifact": {
                "path": path,
                "url": artifact.url,
                "revision": artifact.revision,
                "digest": artifact.digest,
                "size": artifact.size,
                "lastUpdateTime": artifact.time,
                "metadata": {
                    TREE: artifact.tree,
                    FORMAT_KEY: FORMAT,
                },
            },
            "conditions": [ready],
        }
    })
}

#[cfg(test)]
mod tests;
