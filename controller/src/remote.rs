//! Objects on a workload cluster through its registered kubeconfig: server-side apply with
//! pruning for `delivery: Direct`, and reading live objects and pods for health and drift.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use gitopshq_crds::consts::{FIELD_MANAGER, labels};
use gitopshq_engine::health::ObjectKey;
use gitopshq_engine::manifest::kind_rank;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use kube::{Api, Client};
use serde_json::Value;

/// What went wrong on a workload cluster, naming the object.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(
        "{object}: the cluster does not serve {api_version} {kind}; install its CRD or fix the chart"
    )]
    UnknownKind {
        object: String,
        api_version: String,
        kind: String,
    },
    #[error("{object}: {action} failed")]
    Request {
        object: String,
        action: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("{object}: not a Kubernetes object (apiVersion, kind and metadata.name are required)")]
    NotAnObject { object: String },
}

/// Resolved API resources, per cluster and kind.
#[derive(Default)]
pub struct Discovery {
    resolved: Mutex<Resolved>,
}

/// (cluster, apiVersion, kind) → how the cluster serves that kind.
type Resolved = HashMap<(String, String, String), (ApiResource, ApiCapabilities)>;

impl Discovery {
    async fn resolve(
        &self,
        cluster: &str,
        client: &Client,
        key: &ObjectKey,
    ) -> Result<(ApiResource, ApiCapabilities), RemoteError> {
        let id = (
            cluster.to_string(),
            key.api_version.clone(),
            key.kind.clone(),
        );
        if let Some(found) = self.lock().get(&id) {
            return Ok(found.clone());
        }
        let (group, version) = match key.api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), key.api_version.clone()),
        };
        let gvk = GroupVersionKind::gvk(&group, &version, &key.kind);
        let found = kube::discovery::pinned_kind(client, &gvk)
            .await
            .map_err(|_| RemoteError::UnknownKind {
                object: key.describe(),
                api_version: key.api_version.clone(),
                kind: key.kind.clone(),
            })?;
        self.lock().insert(id, found.clone());
        Ok(found)
    }

    /// The dynamic API of `key`'s kind, in its namespace when the kind is namespaced.
    pub async fn api(
        &self,
        cluster: &str,
        client: &Client,
        key: &ObjectKey,
    ) -> Result<Api<DynamicObject>, RemoteError> {
        let (resource, capabilities) = self.resolve(cluster, client, key).await?;
        Ok(match (&capabilities.scope, &key.namespace) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resource),
            _ => Api::all_with(client.clone(), &resource),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Resolved> {
        self.resolved.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Server-side applies `objects` (install order: namespaces and CRDs first), creating the
/// tenant's namespace when missing. Every object is applied with the one field manager and
/// `force`, so the delivered content wins over hand edits, as Argo CD's self-heal does.
pub async fn apply(
    discovery: &Discovery,
    cluster: &str,
    client: &Client,
    namespace: &str,
    objects: &[Value],
) -> Result<Vec<ObjectKey>, RemoteError> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns_object = serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {labels::K8S_MANAGED_BY: labels::MANAGED_BY_VALUE}},
    });
    namespaces
        .patch(namespace, &params, &Patch::Apply(ns_object))
        .await
        .map_err(|source| RemoteError::Request {
            object: format!("Namespace {namespace}"),
            action: "server-side apply",
            source,
        })?;
    let mut ordered: Vec<&Value> = objects.iter().collect();
    ordered.sort_by_key(|o| kind_rank(o.get("kind").and_then(Value::as_str).unwrap_or_default()));
    let mut applied = Vec::new();
    for object in ordered {
        let key = ObjectKey::of(object).ok_or_else(|| RemoteError::NotAnObject {
            object: object.to_string().chars().take(80).collect(),
        })?;
        let api = discovery.api(cluster, client, &key).await?;
        api.patch(&key.name, &params, &Patch::Apply(object))
            .await
            .map_err(|source| RemoteError::Request {
                object: key.describe(),
                action: "server-side apply",
                source,
            })?;
        applied.push(key);
    }
    Ok(applied)
}

/// Deletes the objects of `previous` that are not in `current` (what the previous delivery
/// owned and this one no longer renders). An object already gone is fine.
pub async fn prune(
    discovery: &Discovery,
    cluster: &str,
    client: &Client,
    previous: &[ObjectKey],
    current: &[ObjectKey],
) -> Result<Vec<ObjectKey>, RemoteError> {
    let mut pruned = Vec::new();
    for key in previous.iter().filter(|k| !current.contains(k)) {
        let api = discovery.api(cluster, client, key).await?;
        match api.delete(&key.name, &DeleteParams::background()).await {
            Ok(_) => pruned.push(key.clone()),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(source) => {
                return Err(RemoteError::Request {
                    object: key.describe(),
                    action: "prune (delete)",
                    source,
                });
            }
        }
    }
    Ok(pruned)
}

/// The live objects under `keys` that exist on the cluster.
pub async fn live_objects(
    discovery: &Discovery,
    cluster: &str,
    client: &Client,
    keys: &[ObjectKey],
) -> Result<BTreeMap<ObjectKey, Value>, RemoteError> {
    let mut found = BTreeMap::new();
    for key in keys {
        let api = match discovery.api(cluster, client, key).await {
            Ok(api) => api,
            // A kind the cluster does not serve cannot have live objects: reported as missing.
            Err(RemoteError::UnknownKind { .. }) => continue,
            Err(e) => return Err(e),
        };
        let object = api
            .get_opt(&key.name)
            .await
            .map_err(|source| RemoteError::Request {
                object: key.describe(),
                action: "read",
                source,
            })?;
        if let Some(object) = object {
            let mut value = serde_json::to_value(&object).unwrap_or_default();
            // DynamicObject keeps apiVersion/kind in `types`; make sure they are on the value.
            value["apiVersion"] = Value::String(key.api_version.clone());
            value["kind"] = Value::String(key.kind.clone());
            found.insert(key.clone(), value);
        }
    }
    Ok(found)
}

/// The pods of `namespace`, as JSON.
pub async fn pods(client: &Client, namespace: &str) -> Result<Vec<Value>, RemoteError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|source| RemoteError::Request {
            object: format!("pods in namespace {namespace}"),
            action: "list",
            source,
        })?;
    Ok(list
        .items
        .into_iter()
        .map(|p| {
            let mut v = serde_json::to_value(p).unwrap_or_default();
            v["apiVersion"] = "v1".into();
            v["kind"] = "Pod".into();
            v
        })
        .collect())
}
