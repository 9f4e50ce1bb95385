//! What a release would change in its GitOps repository, decided before anyone approves it:
//! the repository's files before and after (a Deploy or Promotion laid out over them, or a
//! Rollback's folders restored from its target's commit), compared object by object, per
//! tenant, with a bounded summary for `Release.status.diff`. Secrets are compared and shown
//! with their values redacted.

use std::collections::BTreeMap;

use gitopshq_crds::release::{DiffSummary, TenantDiffSummary};
use serde::Deserialize;
use serde_json::Value;

use crate::diff::{ManifestDiff, ObjectId, diff_objects, redacted_secret, unified_diff};
use crate::layout::SecretSummary;

/// Tenants listed in a [`DiffSummary`] at most; the counts always cover all of them.
pub const SUMMARY_TENANTS: usize = 50;
/// Characters of [`DiffSummary::summary`] at most.
pub const SUMMARY_CHARS: usize = 1000;

/// A file of the repository that is not valid YAML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} in the repository is not valid YAML: {message}")]
pub struct PreviewError {
    pub path: String,
    pub message: String,
}

/// The change, whole and per tenant folder, and as a unified diff of the files.
#[derive(Debug, Clone, Default)]
pub struct Preview {
    pub objects: ManifestDiff,
    /// Tenant name → the change in its folder (`<environment_dir>/<tenant>/`), tenants with
    /// a change only, in name order.
    pub tenants: BTreeMap<String, ManifestDiff>,
    pub unified: String,
}

/// Compares `before` with `after` (repository path → bytes); tenant folders are the
/// directories right below `environment_dir`, other than `_`-prefixed ones.
pub fn preview(
    before: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
    environment_dir: &str,
) -> Result<Preview, PreviewError> {
    let old = objects_of_files(before)?;
    let new = objects_of_files(after)?;
    let base = format!("{}/", environment_dir.trim_end_matches('/'));
    // Objects are compared within their tenant's folder: tenants on different clusters may
    // hold objects of the same kind, namespace and name.
    let scope_of = |path: &str| {
        path.strip_prefix(&base)
            .and_then(|rest| rest.split_once('/'))
            .map(|(tenant, _)| tenant.to_string())
            .filter(|tenant| !tenant.starts_with('_'))
    };
    let mut scopes: Vec<Option<String>> = before
        .keys()
        .chain(after.keys())
        .map(|p| scope_of(p))
        .collect();
    scopes.sort();
    scopes.dedup();
    let mut objects = ManifestDiff::default();
    let mut tenants = BTreeMap::new();
    for scope in scopes {
        let within = |files: &[(String, ObjectId, Value)]| -> Vec<(String, ObjectId, Value)> {
            files
                .iter()
                .filter(|(path, _, _)| scope_of(path) == scope)
                .cloned()
                .collect()
        };
        let diff = diff_pairs(&within(&old), &within(&new));
        objects.objects.extend(diff.objects.iter().cloned());
        if let Some(tenant) = scope
            && !diff.is_empty()
        {
            tenants.insert(tenant, diff);
        }
    }
    let unified = unified_files_diff(before, after);
    Ok(Preview {
        objects,
        tenants,
        unified,
    })
}

/// A unified diff of every file that differs between `before` and `after` (repository path →
/// bytes), with `a/` and `b/` headers and Secret values redacted.
pub fn unified_files_diff(
    before: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
) -> String {
    let mut paths: Vec<&String> = before.keys().chain(after.keys()).collect();
    paths.sort();
    paths.dedup();
    let text = |files: &BTreeMap<String, Vec<u8>>, path: &str| {
        files
            .get(path)
            .map(|b| redacted_file(b).unwrap_or_else(|| String::from_utf8_lossy(b).into_owned()))
            .unwrap_or_default()
    };
    paths
        .iter()
        .map(|path| {
            unified_diff(
                &text(before, path),
                &text(after, path),
                &format!("a/{path}"),
                &format!("b/{path}"),
            )
        })
        .collect()
}

fn diff_pairs(
    old: &[(String, ObjectId, Value)],
    new: &[(String, ObjectId, Value)],
) -> ManifestDiff {
    diff_objects(
        old.iter().map(|(_, id, v)| (id.clone(), v)),
        new.iter().map(|(_, id, v)| (id.clone(), v)),
    )
}

/// `current` with each of `prefixes` (folders ending in `/`) holding exactly what `restored`
/// holds under it: what a Rollback leaves.
pub fn restored_tree(
    current: &BTreeMap<String, Vec<u8>>,
    prefixes: &[String],
    restored: &BTreeMap<String, Vec<u8>>,
) -> BTreeMap<String, Vec<u8>> {
    let inside = |path: &str| prefixes.iter().any(|p| path.starts_with(p.as_str()));
    current
        .iter()
        .filter(|(path, _)| !inside(path))
        .chain(restored.iter().filter(|(path, _)| inside(path)))
        .map(|(p, b)| (p.clone(), b.clone()))
        .collect()
}

/// Kubernetes objects in a set of files, by identity, with the file each came from; files
/// without a kind (a `_state.yaml`) count as one object of kind `File` named by their path, so
/// their changes show too.
pub fn objects_of_files(
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<Vec<(String, ObjectId, Value)>, PreviewError> {
    let mut out = Vec::new();
    for (path, bytes) in files {
        let text = String::from_utf8_lossy(bytes);
        for document in yaml_serde::Deserializer::from_str(&text) {
            let value = Value::deserialize(document).map_err(|e| PreviewError {
                path: path.clone(),
                message: e.to_string(),
            })?;
            if value.is_null() {
                continue;
            }
            let text = |pointer: &str| value.pointer(pointer).and_then(Value::as_str);
            let id = ObjectId {
                kind: text("/kind").unwrap_or("File").to_string(),
                namespace: text("/metadata/namespace").map(str::to_string),
                name: text("/metadata/name").unwrap_or(path).to_string(),
            };
            out.push((path.clone(), id, value));
        }
    }
    Ok(out)
}

/// The file as YAML with every Secret value replaced, when it is a `v1` Secret (plain or
/// SOPS-encrypted).
pub fn redacted_file(bytes: &[u8]) -> Option<String> {
    let value: Value = yaml_serde::from_slice(bytes).ok()?;
    SecretSummary::of(&value)?;
    yaml_serde::to_string(&redacted_secret(&value)).ok()
}

/// `Release.status.diff`: counts over every object, then per tenant (at most
/// [`SUMMARY_TENANTS`]) and a sentence of at most [`SUMMARY_CHARS`] characters.
pub fn diff_summary(preview: &Preview) -> DiffSummary {
    let (added, removed, changed) = preview.objects.counts();
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let tenants: Vec<TenantDiffSummary> = preview
        .tenants
        .iter()
        .take(SUMMARY_TENANTS)
        .map(|(name, diff)| {
            let (a, r, c) = diff.counts();
            TenantDiffSummary {
                name: name.clone(),
                added: count(a),
                changed: count(c),
                removed: count(r),
            }
        })
        .collect();
    let mut summary = if preview.objects.is_empty() {
        "no change: the repository already holds this content".to_string()
    } else {
        let listed: Vec<String> = preview
            .tenants
            .iter()
            .map(|(name, diff)| format!("{name}: {}", diff.summary()))
            .collect();
        let more = preview.tenants.len().saturating_sub(SUMMARY_TENANTS);
        let mut text = listed.join("; ");
        if more > 0 {
            text.push_str(&format!(" (and {more} more tenants)"));
        }
        if listed.is_empty() {
            preview.objects.summary()
        } else {
            text
        }
    };
    if summary.chars().count() > SUMMARY_CHARS {
        summary = summary.chars().take(SUMMARY_CHARS - 1).collect::<String>() + "…";
    }
    DiffSummary {
        added: count(added),
        changed: count(changed),
        removed: count(removed),
        summary: Some(summary),
        tenants,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        entries
            .iter()
            .map(|(p, b)| (p.to_string(), b.as_bytes().to_vec()))
            .collect()
    }

    const DEPLOY_V1: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: a}\nspec: {replicas: 1}\n";
    const DEPLOY_V2: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: a}\nspec: {replicas: 2}\n";

    #[test]
    fn a_rollback_restores_its_folders_and_the_summary_counts_per_tenant() {
        let current = files(&[
            ("p/prod/a/api/deployment-api.yaml", DEPLOY_V2),
            (
                "p/prod/a/api/hpa-api.yaml",
                "kind: HorizontalPodAutoscaler\nmetadata: {name: api, namespace: a}\n",
            ),
            (
                "p/prod/a/api/pdb-api.yaml",
                "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: api, namespace: a}\n",
            ),
            ("p/prod/b/api/deployment-api.yaml", DEPLOY_V2),
            (
                "p/prod/_kustomizations/a.yaml",
                "kind: Kustomization\nmetadata: {name: a}\n",
            ),
        ]);
        let target = files(&[("p/prod/a/api/deployment-api.yaml", DEPLOY_V1)]);
        let after = restored_tree(&current, &["p/prod/a/api/".to_string()], &target);
        assert!(!after.contains_key("p/prod/a/api/pdb-api.yaml"));
        assert_eq!(
            after["p/prod/b/api/deployment-api.yaml"],
            DEPLOY_V2.as_bytes()
        );
        let preview = preview(&current, &after, "p/prod").unwrap();
        // (added, removed, changed): the PDB and the HPA go, the Deployment changes.
        assert_eq!(preview.objects.counts(), (0, 2, 1));
        assert_eq!(preview.tenants.keys().collect::<Vec<_>>(), ["a"]);
        let summary = diff_summary(&preview);
        assert_eq!((summary.added, summary.changed, summary.removed), (0, 1, 2));
        assert_eq!(
            (summary.tenants[0].changed, summary.tenants[0].removed),
            (1, 2)
        );
        assert_eq!(summary.tenants.len(), 1);
        assert_eq!(summary.tenants[0].name, "a");
        let text = summary.summary.unwrap();
        assert!(text.starts_with("a: "), "{text}");
        assert!(
            preview.unified.contains("-  replicas: 2") || preview.unified.contains("replicas: 2}"),
            "{}",
            preview.unified
        );
    }

    #[test]
    fn secrets_are_shown_redacted_and_summaries_stay_bounded() {
        let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: a}\nstringData: {password: hunter2-very-secret}\n";
        let before = BTreeMap::new();
        let mut after = files(&[("p/prod/a/db/secret-db.yaml", secret)]);
        for t in 0..80 {
            after.insert(
                format!("p/prod/t{t:03}/api/deployment-api.yaml"),
                DEPLOY_V1.as_bytes().to_vec(),
            );
        }
        let preview = preview(&before, &after, "p/prod").unwrap();
        assert!(!preview.unified.contains("hunter2"), "{}", preview.unified);
        let summary = diff_summary(&preview);
        assert_eq!(summary.added, 81);
        assert_eq!(summary.tenants.len(), SUMMARY_TENANTS);
        let text = summary.summary.unwrap();
        assert!(text.chars().count() <= SUMMARY_CHARS, "{}", text.len());
        assert!(!text.contains("hunter2"));
    }
}
