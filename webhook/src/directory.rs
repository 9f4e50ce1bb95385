//! A [`Directory`] over watch caches: every lookup a decision makes is an in-memory read.
//! A name the cache has not seen yet (an object created a moment ago) is read from the API.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::BoxFuture;
use gitopshq_crds::approval_policy::ApprovalPolicy;
use gitopshq_crds::break_glass_session::BreakGlassSession;
use gitopshq_crds::chart_version::ChartVersion;
use gitopshq_crds::cluster::Cluster;
use gitopshq_crds::environment::Environment;
use gitopshq_crds::policy::Policy;
use gitopshq_crds::project::Project;
use gitopshq_crds::release::Release;
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::variables::Variables;
use gitopshq_crds::workload::Workload;
use gitopshq_engine::admission::{Access, Directory, Permission, Requester};
use gitopshq_engine::catalog::{Catalog, SecretData};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::runtime::Handle;
use tracing::warn;

/// How long a cache miss may wait for the API before the decision goes on without the object.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// How long an answer of the API server's authorizer is reused, as the API server's own
/// webhook authorizer caches (it sees RBAC changes after at most this long).
const PERMISSION_TTL: Duration = Duration::from_secs(10);

/// (user, groups, namespace, group, resource, verb, name).
type PermissionKey = (String, Vec<String>, String, String, String, String, String);

/// Watch caches of every kind admission decisions read.
#[derive(Clone)]
pub struct WatchDirectory {
    client: Client,
    runtime: Handle,
    environments: Store<Environment>,
    releases: Store<Release>,
    approval_policies: Store<ApprovalPolicy>,
    chart_versions: Store<ChartVersion>,
    sessions: Store<BreakGlassSession>,
    policies: Store<Policy>,
    projects: Store<Project>,
    clusters: Store<Cluster>,
    workloads: Store<Workload>,
    tenants: Store<Tenant>,
    variables: Store<Variables>,
    permissions: Arc<Mutex<HashMap<PermissionKey, (Instant, bool)>>>,
}

type Watches = Vec<BoxFuture<'static, ()>>;

fn watch<K>(client: &Client, watches: &mut Watches) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let api: Api<K> = Api::all(client.clone());
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .for_each(|event| async move {
            if let Err(error) = event {
                warn!(kind = %K::kind(&()), %error, "watch failed; retrying with backoff");
            }
        });
    watches.push(Box::pin(stream));
    reader
}

impl WatchDirectory {
    /// Starts the watches on the current runtime. The returned future drives them and never
    /// ends; run it next to the server.
    pub fn start(client: Client) -> (Self, BoxFuture<'static, ()>) {
        let mut watches: Watches = Vec::new();
        let directory = Self {
            runtime: Handle::current(),
            environments: watch(&client, &mut watches),
            releases: watch(&client, &mut watches),
            approval_policies: watch(&client, &mut watches),
            chart_versions: watch(&client, &mut watches),
            sessions: watch(&client, &mut watches),
            policies: watch(&client, &mut watches),
            projects: watch(&client, &mut watches),
            clusters: watch(&client, &mut watches),
            workloads: watch(&client, &mut watches),
            tenants: watch(&client, &mut watches),
            variables: watch(&client, &mut watches),
            permissions: Arc::new(Mutex::new(HashMap::new())),
            client,
        };
        let driver = Box::pin(async move {
            futures::future::join_all(watches).await;
        });
        (directory, driver)
    }

    /// Waits until every cache has its first full list.
    pub async fn wait_ready(&self) {
        // Errors only when the writer is dropped, which ends the process anyway.
        let _ = tokio::join!(
            self.environments.wait_until_ready(),
            self.releases.wait_until_ready(),
            self.approval_policies.wait_until_ready(),
            self.chart_versions.wait_until_ready(),
            self.sessions.wait_until_ready(),
            self.policies.wait_until_ready(),
            self.projects.wait_until_ready(),
            self.clusters.wait_until_ready(),
            self.workloads.wait_until_ready(),
            self.tenants.wait_until_ready(),
            self.variables.wait_until_ready(),
        );
    }

    /// A cached object, or (on a miss) the object read from the API. Called from blocking
    /// threads only (the server runs decisions with `spawn_blocking`).
    fn lookup<K>(&self, store: &Store<K>, api: Api<K>, key: ObjectRef<K>) -> Option<Arc<K>>
    where
        K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    {
        if let Some(found) = store.get(&key) {
            return Some(found);
        }
        let name = key.name.clone();
        let fetched = self.runtime.block_on(async move {
            tokio::time::timeout(LOOKUP_TIMEOUT, api.get_opt(&name)).await
        });
        match fetched {
            Ok(Ok(found)) => found.map(Arc::new),
            Ok(Err(error)) => {
                warn!(kind = %K::kind(&()), %error, "lookup after a cache miss failed");
                None
            }
            Err(_) => {
                warn!(kind = %K::kind(&()), "lookup after a cache miss timed out");
                None
            }
        }
    }

    fn cluster_scoped<K>(&self, store: &Store<K>, name: &str) -> Option<Arc<K>>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope>
            + Clone
            + Debug
            + DeserializeOwned
            + Send
            + Sync
            + 'static,
    {
        self.lookup(store, Api::all(self.client.clone()), ObjectRef::new(name))
    }

    fn in_namespace<K>(store: &Store<K>, namespace: &str) -> Vec<K>
    where
        K: Resource<DynamicType = ()> + Clone,
    {
        store
            .state()
            .into_iter()
            .filter(|o| o.namespace().as_deref() == Some(namespace))
            .map(|o| (*o).clone())
            .collect()
    }

    /// Secret values that the project's Variables reference, read on demand (rendering only).
    fn secrets(&self, namespace: &str, variables: &[Variables]) -> SecretData {
        let names: BTreeSet<&str> = variables
            .iter()
            .flat_map(|v| v.spec.secret_refs.values().map(|r| r.name.as_str()))
            .collect();
        let mut data = SecretData::new();
        if names.is_empty() {
            return data;
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        for name in names {
            let api = api.clone();
            let key = name.to_string();
            let fetched = self.runtime.block_on(async move {
                tokio::time::timeout(LOOKUP_TIMEOUT, api.get_opt(&key)).await
            });
            let Ok(Ok(Some(secret))) = fetched else {
                continue;
            };
            let values: BTreeMap<String, String> = secret
                .data
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(k, v)| String::from_utf8(v.0).ok().map(|v| (k, v)))
                .collect();
            data.insert((namespace.to_string(), name.to_string()), values);
        }
        data
    }
}

impl Directory for WatchDirectory {
    fn environment(&self, name: &str) -> Option<Arc<Environment>> {
        self.cluster_scoped(&self.environments, name)
    }

    fn release(&self, namespace: &str, name: &str) -> Option<Arc<Release>> {
        self.lookup(
            &self.releases,
            Api::namespaced(self.client.clone(), namespace),
            ObjectRef::new(name).within(namespace),
        )
    }

    fn approval_policy(&self, name: &str) -> Option<Arc<ApprovalPolicy>> {
        self.cluster_scoped(&self.approval_policies, name)
    }

    fn chart_version(&self, name: &str) -> Option<Arc<ChartVersion>> {
        self.cluster_scoped(&self.chart_versions, name)
    }

    fn break_glass_sessions(&self, namespace: &str) -> Vec<Arc<BreakGlassSession>> {
        self.sessions
            .state()
            .into_iter()
            .filter(|s| s.namespace().as_deref() == Some(namespace))
            .collect()
    }

    fn policies(&self) -> Vec<Arc<Policy>> {
        self.policies.state()
    }

    fn project(&self, name: &str) -> Option<Arc<Project>> {
        self.cluster_scoped(&self.projects, name)
    }

    fn cluster(&self, name: &str) -> Option<Arc<Cluster>> {
        self.cluster_scoped(&self.clusters, name)
    }

    fn tenant(&self, namespace: &str, name: &str) -> Option<Arc<Tenant>> {
        self.lookup(
            &self.tenants,
            Api::namespaced(self.client.clone(), namespace),
            ObjectRef::new(name).within(namespace),
        )
    }

    fn all_tenants(&self) -> Vec<Arc<Tenant>> {
        self.tenants.state()
    }

    fn all_workloads(&self) -> Vec<Arc<Workload>> {
        self.workloads.state()
    }

    fn may(&self, user: &Requester, access: &Access<'_>) -> Permission {
        let key: PermissionKey = (
            user.username.clone(),
            user.groups.clone(),
            access.namespace.to_string(),
            access.group.to_string(),
            access.resource.to_string(),
            access.verb.to_string(),
            access.name.to_string(),
        );
        {
            let mut cache = self.permissions.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() > 4096 {
                cache.retain(|_, (at, _)| at.elapsed() < PERMISSION_TTL);
            }
            if let Some((at, allowed)) = cache.get(&key)
                && at.elapsed() < PERMISSION_TTL
            {
                return if *allowed {
                    Permission::Allowed
                } else {
                    Permission::Denied
                };
            }
        }
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.username.clone()),
                groups: Some(user.groups.clone()),
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(access.namespace.to_string()),
                    verb: Some(access.verb.to_string()),
                    group: Some(access.group.to_string()),
                    resource: Some(access.resource.to_string()),
                    name: Some(access.name.to_string()),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let answer = self.runtime.block_on(async move {
            tokio::time::timeout(LOOKUP_TIMEOUT, api.create(&PostParams::default(), &review)).await
        });
        let allowed = match answer {
            Ok(Ok(review)) => review.status.is_some_and(|s| s.allowed),
            Ok(Err(error)) => {
                warn!(%error, "SubjectAccessReview failed");
                return Permission::Unknown(format!(
                    "the API server refused the access review: {error}"
                ));
            }
            Err(_) => return Permission::Unknown("the access review timed out".into()),
        };
        self.permissions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (Instant::now(), allowed));
        if allowed {
            Permission::Allowed
        } else {
            Permission::Denied
        }
    }

    fn project_catalog(&self, namespace: &str) -> Catalog {
        let workloads = Self::in_namespace(&self.workloads, namespace);
        let charts: BTreeSet<&str> = workloads.iter().map(|w| w.spec.chart.as_str()).collect();
        let variables = Self::in_namespace(&self.variables, namespace);
        let secrets = self.secrets(namespace, &variables);
        Catalog {
            projects: self
                .projects
                .state()
                .into_iter()
                .filter(|p| p.name_any() == namespace)
                .map(|p| (*p).clone())
                .collect(),
            environments: self
                .environments
                .state()
                .iter()
                .map(|e| (**e).clone())
                .collect(),
            clusters: self
                .clusters
                .state()
                .iter()
                .map(|c| (**c).clone())
                .collect(),
            chart_versions: self
                .chart_versions
                .state()
                .into_iter()
                .filter(|cv| charts.contains(cv.spec.chart.as_str()))
                .map(|cv| (*cv).clone())
                .collect(),
            tenants: Self::in_namespace(&self.tenants, namespace),
            releases: Self::in_namespace(&self.releases, namespace),
            // What runs, as the Workloads' status mirrors the repository: a release is judged
            // on what it will deliver, its predecessors' values included.
            recorded: gitopshq_engine::layout::mirrored_states(&workloads),
            workloads,
            variables,
            secrets,
        }
    }
}
