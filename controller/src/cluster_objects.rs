//! Objects on a workload cluster through its registered kubeconfig: server-side apply with
//! pruning for `delivery: Direct`, and reading live objects and pods for health and drift.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use gitopshq_crds::consts::{FIELD_MANAGER, labels};
use gitopshq_engine::health::{self, ObjectKey};
use gitopshq_engine::manifest::kind_rank;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use kube::{Api, Client};
use serde_json::Value;

use crate::workload_watches::{self, Watched, WorkloadWatches};

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
    #[error(
        "cluster {cluster}: the watch of {what} did not list within {}s; check that the cluster answers and that its kubeconfig may list and watch them",
        within.as_secs()
    )]
    NotWatched {
        cluster: String,
        what: String,
        within: std::time::Duration,
    },
}

/// Resolved API resources, per cluster and kind.
#[derive(Default)]
pub struct Discovery {
    resolved: Mutex<Resolved>,
}

/// (cluster, apiVersion, kind) → how the cluster serves that kind.
type Resolved = HashMap<(String, String, String), (ApiResource, ApiCapabilities)>;

impl Discovery {
    pub(crate) async fn resolve(
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

/// A workload cluster as its watch caches are keyed: its name, the version of the
/// credentials its clients were built from, and the clients.
pub struct WatchedCluster<'a> {
    pub name: &'a str,
    pub credentials: &'a str,
    /// For discovery.
    pub client: &'a Client,
    /// For the watches.
    pub watch_client: &'a Client,
}

impl<'a> WatchedCluster<'a> {
    /// Where a cache of `resource` on this cluster watches.
    fn watched(
        &self,
        resource: &'a ApiResource,
        namespace: Option<&'a str>,
        selector: Option<&'a str>,
        trim: fn(&mut DynamicObject),
    ) -> Watched<'a> {
        Watched {
            cluster: self.name,
            credentials: self.credentials,
            client: self.watch_client,
            resource,
            namespace,
            selector,
            trim,
        }
    }

    /// Whether these credentials may list pods in every namespace: asked once (a LIST of at
    /// most one pod's metadata), then remembered until the credentials change. A kubeconfig
    /// written by hand for the tenant namespaces only is refused (403) and answered per
    /// namespace.
    async fn lists_pods_everywhere(&self, watches: &WorkloadWatches) -> Result<bool, RemoteError> {
        if let Some(known) = watches.pods_everywhere(self.name, self.credentials) {
            return Ok(known);
        }
        let pods: Api<Pod> = Api::all(self.client.clone());
        let everywhere = match pods.list_metadata(&ListParams::default().limit(1)).await {
            Ok(_) => true,
            Err(kube::Error::Api(status)) if status.code == 403 => false,
            Err(source) => {
                return Err(RemoteError::Request {
                    object: "pods in every namespace".to_string(),
                    action: "list",
                    source,
                });
            }
        };
        watches.remember_pods_everywhere(self.name, self.credentials, everywhere);
        Ok(everywhere)
    }
}

/// What a cache of delivered objects keeps: all but the managed fields, never read and the
/// largest part of most objects' metadata.
fn trim_object(object: &mut DynamicObject) {
    object.metadata.managed_fields = None;
}

/// What a cache of pods keeps: the metadata health reads (name, namespace, labels, deletion
/// timestamp; the resource version and uid that identify it) and the spec and status it reads
/// ([`health::slim_pod`]), so a cache of every pod of a cluster stays small.
fn trim_pod(pod: &mut DynamicObject) {
    let metadata = std::mem::take(&mut pod.metadata);
    pod.metadata = ObjectMeta {
        name: metadata.name,
        namespace: metadata.namespace,
        labels: metadata.labels,
        deletion_timestamp: metadata.deletion_timestamp,
        resource_version: metadata.resource_version,
        uid: metadata.uid,
        ..ObjectMeta::default()
    };
    health::slim_pod(&mut pod.data);
}

/// The live objects under `keys` that exist on the cluster, from its watch caches.
pub async fn live_objects(
    discovery: &Discovery,
    watches: &WorkloadWatches,
    cluster: &WatchedCluster<'_>,
    keys: &[ObjectKey],
) -> Result<BTreeMap<ObjectKey, Value>, RemoteError> {
    let mut found = BTreeMap::new();
    for key in keys {
        let (resource, capabilities) =
            match discovery.resolve(cluster.name, cluster.client, key).await {
                Ok(resolved) => resolved,
                // A kind the cluster does not serve cannot have live objects: reported as missing.
                Err(RemoteError::UnknownKind { .. }) => continue,
                Err(e) => return Err(e),
            };
        let namespace = match capabilities.scope {
            Scope::Namespaced => key.namespace.as_deref(),
            Scope::Cluster => None,
        };
        // One cache per kind for every tenant of the cluster: what GitOpsHQ rendered carries
        // the tenant label (an object that lost it reads as missing: it drifted).
        let store = watches
            .objects(&cluster.watched(&resource, None, Some(labels::TENANT), trim_object))
            .await?;
        if let Some(mut value) = workload_watches::get(&store, &resource, namespace, &key.name) {
            value["apiVersion"] = Value::String(key.api_version.clone());
            value["kind"] = Value::String(key.kind.clone());
            found.insert(key.clone(), value);
        }
    }
    Ok(found)
}

/// The pods of `namespace`, as JSON (trimmed to what health reads), from the cluster's watch
/// cache of pods: one for the whole cluster, so a thousand tenant namespaces cost one watch,
/// not a thousand; one per namespace when the credentials may not list pods everywhere.
pub async fn pods(
    watches: &WorkloadWatches,
    cluster: &WatchedCluster<'_>,
    namespace: &str,
) -> Result<Vec<Value>, RemoteError> {
    let resource = ApiResource::erase::<Pod>(&());
    let scope = match cluster.lists_pods_everywhere(watches).await? {
        true => None,
        false => Some(namespace),
    };
    let store = watches
        .objects(&cluster.watched(&resource, scope, None, trim_pod))
        .await?;
    let mut pods = workload_watches::in_namespace(&store, namespace);
    for pod in &mut pods {
        pod["apiVersion"] = "v1".into();
        pod["kind"] = "Pod".into();
    }
    // The order a list would give, so what is reported does not depend on the cache's.
    pods.sort_by(|a, b| {
        let name = |v: &Value| {
            v.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        name(a).cmp(&name(b))
    });
    Ok(pods)
}
