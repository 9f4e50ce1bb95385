//! The recorded state of a workload folder: what produced `<root>/<env>/<tenant>/<workload>/`.
//!
//! Every delivery writes `_state.yaml` beside the rendered objects: the chart and version that
//! rendered, the release that delivered, what the releases added on top of the Workload (a chart
//! version a release pinned, the values releases set, accumulated) and the render digest. The
//! next release of that workload in that environment starts from it, a Rollback restores it with
//! the folder, and because it lives in Git an offline delivery or a rebuilt management cluster
//! computes exactly what the controller computes. It holds release values as written, HQ
//! variable references unresolved: never a Secret's value.

use std::collections::BTreeMap;

use gitopshq_crds::workload::{Workload, WorkloadTenantStatus};
use kube::ResourceExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{LayoutError, workload_dir};

/// The file (in a workload folder) holding its [`RecordedState`]; not a kustomize resource.
/// Object files never start with `_`, so it cannot collide with one.
pub const STATE_FILE: &str = "_state.yaml";

/// What the releases of a workload added on top of its Workload spec, carried from one release
/// to the next in an environment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseAdditions {
    /// A chart version a release set: kept until another release sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The values releases set, merged in release order (`null` in a release drops a key).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub values: Map<String, Value>,
}

impl ReleaseAdditions {
    pub fn is_empty(&self) -> bool {
        self.version.is_none() && self.values.is_empty()
    }

    /// These additions with a release's change on top: the paths it unsets stop being carried,
    /// its version replaces, its values merge deeply (lists and scalars replace; a `null`
    /// stays, so the key remains deleted in every later render).
    pub fn with_change(
        &self,
        version: Option<&str>,
        values: &Map<String, Value>,
        unset: &[String],
    ) -> Self {
        let mut merged = self.values.clone();
        for path in unset {
            remove_path(&mut merged, path);
        }
        merge_keeping_nulls(&mut merged, values);
        ReleaseAdditions {
            version: version.map(str::to_string).or_else(|| self.version.clone()),
            values: merged,
        }
    }
}

/// Removes the dotted `path` (`image.tag`) from `values`, and the maps it leaves empty.
fn remove_path(values: &mut Map<String, Value>, path: &str) {
    fn remove(map: &mut Map<String, Value>, keys: &[&str]) {
        let Some((first, rest)) = keys.split_first() else {
            return;
        };
        if rest.is_empty() {
            map.shift_remove(*first);
            return;
        }
        if let Some(Value::Object(inner)) = map.get_mut(*first) {
            remove(inner, rest);
            if inner.is_empty() {
                map.shift_remove(*first);
            }
        }
    }
    let keys: Vec<&str> = path.split('.').filter(|k| !k.is_empty()).collect();
    remove(values, &keys);
}

/// Deep-merges `overlay` into `base`, a `null` replacing whatever was there (it is a deletion
/// the render applies, carried as such).
fn merge_keeping_nulls(base: &mut Map<String, Value>, overlay: &Map<String, Value>) {
    for (key, value) in overlay {
        match (base.get_mut(key), value) {
            (Some(Value::Object(existing)), Value::Object(inner)) => {
                merge_keeping_nulls(existing, inner)
            }
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// What produced one workload folder of one tenant in one environment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedState {
    /// The release whose render this is (for a restored folder: the release restored).
    pub release: String,
    pub chart: String,
    /// The chart version that rendered.
    pub version: String,
    /// What the releases added on top of the Workload, up to and including `release`.
    #[serde(default, skip_serializing_if = "ReleaseAdditions::is_empty")]
    pub added: ReleaseAdditions,
    /// `sha256:…` over the rendered objects (Secrets' plaintext included), as the render
    /// computes it.
    pub digest: String,
}

/// `(project, environment, tenant, workload)` → the state recorded in its folder.
pub type RecordedStates = BTreeMap<StateKey, RecordedState>;

/// Which folder a [`RecordedState`] describes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateKey {
    pub project: String,
    pub environment: String,
    pub tenant: String,
    pub workload: String,
}

impl StateKey {
    pub fn new(project: &str, environment: &str, tenant: &str, workload: &str) -> Self {
        StateKey {
            project: project.to_string(),
            environment: environment.to_string(),
            tenant: tenant.to_string(),
            workload: workload.to_string(),
        }
    }
}

/// `<root>/<env>/<tenant>/<workload>/_state.yaml`.
pub fn state_path(root: &str, environment: &str, tenant: &str, workload: &str) -> String {
    format!(
        "{}/{STATE_FILE}",
        workload_dir(root, environment, tenant, workload)
    )
}

/// The bytes of `_state.yaml`: a header for the person reading the repository, then the state.
pub fn state_file(
    tenant: &str,
    workload: &str,
    state: &RecordedState,
) -> Result<Vec<u8>, LayoutError> {
    let body = yaml_serde::to_string(state).map_err(|e| LayoutError::Serialize {
        what: format!("recorded state of {tenant}/{workload}"),
        message: e.to_string(),
    })?;
    let header = format!(
        "# What produced workload {workload} of tenant {tenant}, written by GitOpsHQ with every\n\
         # delivery. The next release of this workload here starts from `added`. Not a kustomize\n\
         # resource; edit it only through a release.\n"
    );
    Ok(format!("{header}{body}").into_bytes())
}

/// Reads a `_state.yaml` back; `path` names it in the error.
pub fn parse_state(path: &str, bytes: &[u8]) -> Result<RecordedState, LayoutError> {
    yaml_serde::from_slice(bytes).map_err(|e| LayoutError::State {
        path: path.to_string(),
        message: e.to_string(),
    })
}

/// The recorded states among `files` (repository path → content), for the environments of
/// `project` whose repository root is `root`. Files other than `_state.yaml` are ignored; an
/// unreadable state file is an error naming it, never silently a fresh start.
pub fn recorded_states<'a>(
    project: &str,
    root: &str,
    files: impl IntoIterator<Item = (&'a String, &'a Vec<u8>)>,
) -> Result<RecordedStates, LayoutError> {
    let prefix = format!("{}/", root.trim_end_matches('/'));
    let mut out = RecordedStates::new();
    for (path, bytes) in files {
        let Some(rest) = path.strip_prefix(&prefix) else {
            continue;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let [environment, tenant, workload, file] = parts.as_slice() else {
            continue;
        };
        if *file != STATE_FILE {
            continue;
        }
        let state = parse_state(path, bytes)?;
        out.insert(StateKey::new(project, environment, tenant, workload), state);
    }
    Ok(out)
}

/// The mirror of `state` in a Workload's `status.environments[env].tenants`, at `commit`.
pub fn tenant_status(state: &RecordedState, commit: Option<&str>) -> WorkloadTenantStatus {
    WorkloadTenantStatus {
        release: state.release.clone(),
        chart: state.chart.clone(),
        version: state.version.clone(),
        added_version: state.added.version.clone(),
        values: state.added.values.clone(),
        digest: state.digest.clone(),
        commit: commit.map(str::to_string),
    }
}

/// The states the Workloads' status mirrors: what the API knows of the repository between
/// deliveries (the admission webhook judges with it; deliveries read Git itself).
pub fn mirrored_states<'a>(workloads: impl IntoIterator<Item = &'a Workload>) -> RecordedStates {
    let mut out = RecordedStates::new();
    for workload in workloads {
        let (Some(project), Some(status)) = (workload.namespace(), workload.status.as_ref()) else {
            continue;
        };
        let name = workload.name_any();
        for (environment, env) in &status.environments {
            for (tenant, t) in &env.tenants {
                out.insert(
                    StateKey::new(&project, environment, tenant, &name),
                    RecordedState {
                        release: t.release.clone(),
                        chart: t.chart.clone(),
                        version: t.version.clone(),
                        added: ReleaseAdditions {
                            version: t.added_version.clone(),
                            values: t.values.clone(),
                        },
                        digest: t.digest.clone(),
                    },
                );
            }
        }
    }
    out
}

/// `status.environments[environment].tenants` of `workload` of `project` as `states` record
/// it: every tenant with a state there, none other. A tenant whose state did not change keeps
/// the commit `previous` names; the others were written by `commit`.
pub fn tenants_status(
    states: &RecordedStates,
    key: (&str, &str, &str),
    previous: &BTreeMap<String, WorkloadTenantStatus>,
    commit: &str,
) -> BTreeMap<String, WorkloadTenantStatus> {
    let (project, environment, workload) = key;
    states
        .iter()
        .filter(|(key, _)| {
            key.project == project && key.environment == environment && key.workload == workload
        })
        .map(|(key, state)| {
            let unchanged = previous.get(&key.tenant).filter(|old| {
                old.commit.is_some() && **old == tenant_status(state, old.commit.as_deref())
            });
            let status = match unchanged {
                Some(old) => old.clone(),
                None => tenant_status(state, Some(commit)),
            };
            (key.tenant.clone(), status)
        })
        .collect()
}
