//! Watch caches of the workload clusters that health and drift read: per cluster, one for each
//! kind GitOpsHQ delivers (across namespaces, only the objects carrying its tenant label) and
//! one for its pods (across namespaces, trimmed to what health reads; one per tenant namespace
//! when the cluster's credentials may not list pods everywhere); started the first time a
//! tenant is observed there and stopped once nobody has read it for [`IDLE`]. Reading
//! health costs the workload cluster nothing after the first list, and a change there (a pod
//! crashing, an object edited by hand) wakes the releases observing that namespace at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::cluster_objects::RemoteError;

/// A cache nobody read for this long is stopped.
pub const IDLE: Duration = Duration::from_secs(600);
/// How long a new cache may take for its first list before a read fails.
pub const FIRST_LIST: Duration = Duration::from_secs(10);
/// Changes buffered for the releases before the oldest are dropped (the periodic check
/// still sees what they said).
const CHANGES: usize = 1024;

/// A change seen on a workload cluster: which cluster, and which namespace (`None` for a
/// cluster-scoped object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadChange {
    pub cluster: String,
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    cluster: String,
    /// The kubeconfig Secret's version the client was built from: a rotated token starts new
    /// caches.
    credentials: String,
    namespace: Option<String>,
    selector: Option<String>,
    group: String,
    version: String,
    kind: String,
}

struct Cache {
    store: Store<DynamicObject>,
    task: JoinHandle<()>,
    last_read: Instant,
}

/// The caches of every workload cluster.
pub struct WorkloadWatches {
    caches: Mutex<Caches>,
    changes: broadcast::Sender<WorkloadChange>,
}

struct Caches {
    running: HashMap<CacheKey, Cache>,
    /// Per (cluster, credentials): whether they may list pods in every namespace.
    pods_everywhere: HashMap<(String, String), bool>,
    /// When idle caches were last looked for: reads do it at most once a [`SWEEP`].
    swept: Instant,
}

/// How often reads look for idle caches to stop.
const SWEEP: Duration = Duration::from_secs(60);

impl Default for WorkloadWatches {
    fn default() -> Self {
        Self {
            caches: Mutex::new(Caches {
                running: HashMap::new(),
                pods_everywhere: HashMap::new(),
                swept: Instant::now(),
            }),
            changes: broadcast::channel(CHANGES).0,
        }
    }
}

impl Drop for WorkloadWatches {
    fn drop(&mut self) {
        for cache in self.lock().running.values() {
            cache.task.abort();
        }
    }
}

/// Where a cache watches.
pub struct Watched<'a> {
    pub cluster: &'a str,
    pub credentials: &'a str,
    pub client: &'a Client,
    pub resource: &'a ApiResource,
    /// One namespace; `None`: every namespace (or a cluster-scoped kind).
    pub namespace: Option<&'a str>,
    /// A label selector the watched objects match.
    pub selector: Option<&'a str>,
    /// Drops from each object what is never read, before it is cached.
    pub trim: fn(&mut DynamicObject),
}

impl WorkloadWatches {
    /// The changes the caches see, for the release controller.
    pub fn subscribe(&self) -> broadcast::Receiver<WorkloadChange> {
        self.changes.subscribe()
    }

    /// How many caches run (a metric, and tests).
    pub fn running(&self) -> usize {
        self.lock().running.len()
    }

    /// Whether `cluster`'s `credentials` were found to list pods in every namespace, if asked.
    pub fn pods_everywhere(&self, cluster: &str, credentials: &str) -> Option<bool> {
        let key = (cluster.to_string(), credentials.to_string());
        self.lock().pods_everywhere.get(&key).copied()
    }

    /// Remembers what [`Self::pods_everywhere`] answers for `cluster`'s `credentials`.
    pub fn remember_pods_everywhere(&self, cluster: &str, credentials: &str, everywhere: bool) {
        let mut caches = self.lock();
        // Credentials rotated away are forgotten.
        caches.pods_everywhere.retain(|(c, _), _| c != cluster);
        caches
            .pods_everywhere
            .insert((cluster.to_string(), credentials.to_string()), everywhere);
    }

    /// The objects of `watched`'s kind, from its cache (started and listed first when new).
    pub async fn objects(
        &self,
        watched: &Watched<'_>,
    ) -> Result<Store<DynamicObject>, RemoteError> {
        let key = CacheKey {
            cluster: watched.cluster.to_string(),
            credentials: watched.credentials.to_string(),
            namespace: watched.namespace.map(str::to_string),
            selector: watched.selector.map(str::to_string),
            group: watched.resource.group.clone(),
            version: watched.resource.version.clone(),
            kind: watched.resource.kind.clone(),
        };
        let store = {
            let mut caches = self.lock();
            let now = Instant::now();
            if now.duration_since(caches.swept) >= SWEEP {
                caches.swept = now;
                caches.running.retain(|_, cache| {
                    let keep =
                        now.duration_since(cache.last_read) < IDLE && !cache.task.is_finished();
                    if !keep {
                        cache.task.abort();
                    }
                    keep
                });
            }
            let cache = caches
                .running
                .entry(key.clone())
                .or_insert_with(|| self.start(&key, watched));
            cache.last_read = now;
            cache.store.clone()
        };
        let what = || match watched.namespace {
            Some(ns) => format!("{} in namespace {ns}", watched.resource.plural),
            None => watched.resource.plural.clone(),
        };
        match tokio::time::timeout(FIRST_LIST, store.wait_until_ready()).await {
            Ok(Ok(())) => Ok(store),
            _ => {
                // Not listed in time (the cluster does not answer, or refuses the list): the
                // next read starts over.
                if let Some(cache) = self.lock().running.remove(&key) {
                    cache.task.abort();
                }
                Err(RemoteError::NotWatched {
                    cluster: watched.cluster.to_string(),
                    what: what(),
                    within: FIRST_LIST,
                })
            }
        }
    }

    fn start(&self, key: &CacheKey, watched: &Watched<'_>) -> Cache {
        let api: Api<DynamicObject> = match watched.namespace {
            Some(ns) => Api::namespaced_with(watched.client.clone(), ns, watched.resource),
            None => Api::all_with(watched.client.clone(), watched.resource),
        };
        let config = match watched.selector {
            Some(selector) => watcher::Config::default().labels(selector),
            None => watcher::Config::default(),
        };
        let writer = reflector::store::Writer::new(watched.resource.clone());
        let store = writer.as_reader();
        let changes = self.changes.clone();
        let cluster = key.cluster.clone();
        let trim = watched.trim;
        let span = tracing::debug_span!(
            "workload_watch",
            cluster = %key.cluster,
            kind = %key.kind,
            namespace = key.namespace.as_deref().unwrap_or(""),
        );
        let task = tokio::spawn(tracing::Instrument::instrument(
            async move {
                let events = watcher(api, config)
                    .default_backoff()
                    .modify(move |object: &mut DynamicObject| {
                        trim(object);
                        pack(object);
                    })
                    .reflect(writer);
                futures::pin_mut!(events);
                while let Some(event) = events.next().await {
                    match event {
                        Ok(watcher::Event::Apply(object) | watcher::Event::Delete(object)) => {
                            // Nobody listening is fine: the periodic check still runs.
                            let _ = changes.send(WorkloadChange {
                                cluster: cluster.clone(),
                                namespace: object.metadata.namespace.clone(),
                            });
                        }
                        Ok(_) => {}
                        Err(error) => tracing::debug!(%error, "watch interrupted; resuming"),
                    }
                }
            },
            span,
        ));
        Cache {
            store,
            task,
            last_read: Instant::now(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Caches> {
        self.caches.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Keeps what a cached object holds besides its metadata as its JSON text: a parsed JSON tree
/// takes several times the memory of its text, a cache holds every delivered object of a
/// cluster, and a health check reads a few of them. [`as_json`] reads it back.
fn pack(object: &mut DynamicObject) {
    if !object.data.is_string() {
        let text = serde_json::to_string(&object.data).unwrap_or_default();
        object.data = Value::String(text);
    }
}

/// A cached object as JSON: its metadata and the rest [`pack`] kept.
fn as_json(object: &DynamicObject) -> Value {
    let mut value = match &object.data {
        Value::String(text) => serde_json::from_str(text).unwrap_or_default(),
        other => other.clone(),
    };
    if !value.is_object() {
        value = Value::Object(Default::default());
    }
    value["metadata"] = serde_json::to_value(&object.metadata).unwrap_or_default();
    value
}

/// The object `name` of a cache's store, as JSON (`apiVersion` and `kind` are the caller's).
pub fn get(
    store: &Store<DynamicObject>,
    resource: &ApiResource,
    namespace: Option<&str>,
    name: &str,
) -> Option<Value> {
    let reference = ObjectRef::new_with(name, resource.clone());
    let reference = match namespace {
        Some(ns) => reference.within(ns),
        None => reference,
    };
    store.get(&reference).map(|o| as_json(&o))
}

/// The objects of `namespace` in a cache's store, as JSON, in no particular order.
pub fn in_namespace(store: &Store<DynamicObject>, namespace: &str) -> Vec<Value> {
    store
        .state()
        .iter()
        .filter(|o| o.metadata.namespace.as_deref() == Some(namespace))
        .map(|o| as_json(o))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_object_reads_back_as_it_was_listed() {
        let listed = serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "eu-1", "labels": {"gitopshq.io/tenant": "eu-1"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "api", "image": "api:2"}]}}},
            "status": {"availableReplicas": 2},
        });
        let mut object: DynamicObject = serde_json::from_value(listed.clone()).unwrap();
        pack(&mut object);
        assert!(object.data.is_string());
        pack(&mut object);
        let mut read = as_json(&object);
        read["apiVersion"] = listed["apiVersion"].clone();
        read["kind"] = listed["kind"].clone();
        assert_eq!(read, listed);
    }
}
