//! One watch per kind, shared by every controller: each kind's reflector fills an in-memory
//! store that reconcilers read instead of the API, and hands each event to the controllers that
//! subscribed to it. The watches start with [`Index::run`], after every controller subscribed.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::hash::Hash;

use futures::StreamExt;
use futures::future::BoxFuture;
use gitopshq_crds::approval_policy::ApprovalPolicy;
use gitopshq_crds::approval_request::ApprovalRequest;
use gitopshq_crds::break_glass_session::BreakGlassSession;
use gitopshq_crds::chart::Chart;
use gitopshq_crds::chart_version::ChartVersion;
use gitopshq_crds::cluster::Cluster;
use gitopshq_crds::environment::Environment;
use gitopshq_crds::policy::Policy;
use gitopshq_crds::project::Project;
use gitopshq_crds::promotion::Promotion;
use gitopshq_crds::release::Release;
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::variables::Variables;
use gitopshq_crds::workload::Workload;
use gitopshq_engine::catalog::Catalog;
use kube::runtime::reflector::{self, ReflectHandle, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use crate::warm_up::{WARM_UP, WatchFailures};

/// How many events a slow subscriber may lag behind before the watch waits for it.
const SUBSCRIBE_BUFFER: usize = 1024;

/// A store and, until the watches start, the writer that fills it.
pub struct Shared<K: Resource<DynamicType = ()> + Clone + 'static> {
    pub store: Store<K>,
    writer: Option<Writer<K>>,
    /// True once the watch delivered its first full list. Kept apart from the store's own
    /// readiness future, which wakes only the last task that polled it: the controllers built on
    /// the store wait on that one, and a second waiter would take their wake-up (or lose its own).
    loaded: tokio::sync::watch::Receiver<bool>,
    mark_loaded: Option<tokio::sync::watch::Sender<bool>>,
}

impl<K> Shared<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    fn new() -> Self {
        let (store, writer) = reflector::store_shared(SUBSCRIBE_BUFFER);
        let (mark_loaded, loaded) = tokio::sync::watch::channel(false);
        Self {
            store,
            writer: Some(writer),
            loaded,
            mark_loaded: Some(mark_loaded),
        }
    }

    /// Every event of this kind, for one controller.
    ///
    /// # Panics
    /// After [`Index::run`]: subscriptions are made while the controllers are built.
    pub fn subscribe(&self) -> ReflectHandle<K> {
        self.writer
            .as_ref()
            .and_then(Writer::subscribe)
            .expect("subscribe before the index runs")
    }

    /// Puts `object` in the store, as its watch would have: tests fill the index this way.
    ///
    /// # Panics
    /// After [`Index::run`], which hands the writer to the watch.
    #[cfg(test)]
    pub(crate) fn insert(&mut self, object: K) {
        self.writer
            .as_mut()
            .expect("insert before the index runs")
            .apply_watcher_event(&watcher::Event::Apply(object));
    }

    fn drive(
        &mut self,
        api: Api<K>,
        config: watcher::Config,
        watches: &mut Vec<BoxFuture<'static, ()>>,
    ) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        let mut failures = WatchFailures::default();
        let mark_loaded = self.mark_loaded.take();
        let stream = watcher(api, config)
            .default_backoff()
            .reflect_shared(writer)
            .for_each(move |event| {
                match event {
                    Ok(event) => {
                        if matches!(event, watcher::Event::InitDone)
                            && let Some(mark) = &mark_loaded
                        {
                            mark.send_replace(true);
                        }
                        failures.succeeded()
                    }
                    Err(error) => failures.failed(&K::kind(&()), &error),
                }
                std::future::ready(())
            });
        watches.push(Box::pin(stream));
    }
}

/// Where the controllers watch: every namespace, or one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Scope {
    #[default]
    All,
    /// Namespaced kinds only in this namespace (one project); cluster-scoped kinds are always
    /// watched whole, and only this project is reconciled.
    Namespace(String),
}

/// The stores of every GitOpsHQ kind.
pub struct Index {
    pub environments: Shared<Environment>,
    pub clusters: Shared<Cluster>,
    pub projects: Shared<Project>,
    pub charts: Shared<Chart>,
    pub chart_versions: Shared<ChartVersion>,
    pub policies: Shared<Policy>,
    pub approval_policies: Shared<ApprovalPolicy>,
    pub workloads: Shared<Workload>,
    pub tenants: Shared<Tenant>,
    pub variables: Shared<Variables>,
    pub releases: Shared<Release>,
    pub approval_requests: Shared<ApprovalRequest>,
    pub sessions: Shared<BreakGlassSession>,
    pub promotions: Shared<Promotion>,
    ready: tokio::sync::OnceCell<()>,
}

impl Default for Index {
    fn default() -> Self {
        Self::new()
    }
}

impl Index {
    pub fn new() -> Self {
        Self {
            environments: Shared::new(),
            clusters: Shared::new(),
            projects: Shared::new(),
            charts: Shared::new(),
            chart_versions: Shared::new(),
            policies: Shared::new(),
            approval_policies: Shared::new(),
            workloads: Shared::new(),
            tenants: Shared::new(),
            variables: Shared::new(),
            releases: Shared::new(),
            approval_requests: Shared::new(),
            sessions: Shared::new(),
            promotions: Shared::new(),
            ready: tokio::sync::OnceCell::new(),
        }
    }

    /// Starts every watch; the returned future drives them and never ends.
    pub fn run(&mut self, client: &Client, scope: &Scope) -> BoxFuture<'static, ()> {
        let mut watches = Vec::new();
        let config = watcher::Config::default();
        macro_rules! cluster_scoped {
            ($($field:ident),*) => {$(
                self.$field.drive(Api::all(client.clone()), config.clone(), &mut watches);
            )*};
        }
        cluster_scoped!(
            environments,
            clusters,
            projects,
            charts,
            chart_versions,
            policies,
            approval_policies
        );
        macro_rules! namespaced {
            ($($field:ident),*) => {$(
                let api = match scope {
                    Scope::All => Api::all(client.clone()),
                    Scope::Namespace(namespace) => Api::namespaced(client.clone(), namespace),
                };
                self.$field.drive(api, config.clone(), &mut watches);
            )*};
        }
        namespaced!(
            workloads,
            tenants,
            variables,
            releases,
            approval_requests,
            sessions,
            promotions
        );
        Box::pin(async move {
            futures::future::join_all(watches).await;
        })
    }

    /// Waits until every store holds its first full list, saying which ones it still waits for
    /// when that takes long (a watch the API server refuses, a missing CRD). Any number of tasks
    /// may wait: one of them polls the stores, the others wait for it.
    pub async fn wait_ready(&self) {
        self.ready.get_or_init(|| self.load()).await;
    }

    async fn load(&self) {
        let all = futures::future::join_all(self.loaded_flags().into_iter().map(
            |(_, mut loaded)| async move {
                let _ = loaded.wait_for(|done| *done).await;
            },
        ));
        tokio::pin!(all);
        let started = std::time::Instant::now();
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(10), &mut all).await {
                Ok(_) => return,
                // Expected while the API server and the CRDs come up; worth a warning later.
                Err(_) if started.elapsed() < WARM_UP => {
                    info!(kinds = ?self.not_ready(), "waiting for the watch caches to load")
                }
                Err(_) => warn!(kinds = ?self.not_ready(), "the watch caches are still loading"),
            }
        }
    }

    /// The kinds whose store has not received its first full list.
    fn not_ready(&self) -> Vec<&'static str> {
        self.loaded_flags()
            .into_iter()
            .filter(|(_, loaded)| !*loaded.borrow())
            .map(|(kind, _)| kind)
            .collect()
    }

    /// Every store's name with its "first full list received" flag.
    fn loaded_flags(&self) -> [(&'static str, tokio::sync::watch::Receiver<bool>); 14] {
        macro_rules! flags {
            ($($field:ident),*) => {
                [$((stringify!($field), self.$field.loaded.clone())),*]
            };
        }
        flags!(
            environments,
            clusters,
            projects,
            charts,
            chart_versions,
            policies,
            approval_policies,
            workloads,
            tenants,
            variables,
            releases,
            approval_requests,
            sessions,
            promotions
        )
    }

    /// Everything a release of project `namespace` renders from, except Secret values (the
    /// caller reads the Secrets that [`secret_names`] lists).
    pub fn catalog(&self, namespace: &str) -> Catalog {
        let workloads = in_namespace(&self.workloads.store, namespace);
        let charts: BTreeSet<&str> = workloads.iter().map(|w| w.spec.chart.as_str()).collect();
        Catalog {
            projects: all(&self.projects.store)
                .into_iter()
                .filter(|p| p.name_any() == namespace)
                .collect(),
            environments: all(&self.environments.store),
            clusters: all(&self.clusters.store),
            chart_versions: all(&self.chart_versions.store)
                .into_iter()
                .filter(|cv| charts.contains(cv.spec.chart.as_str()))
                .collect(),
            tenants: in_namespace(&self.tenants.store, namespace),
            releases: in_namespace(&self.releases.store, namespace),
            variables: in_namespace(&self.variables.store, namespace),
            recorded: gitopshq_engine::layout::mirrored_states(&workloads),
            workloads,
            secrets: Default::default(),
        }
    }
}

/// The Secrets (name, in the project's namespace) that a catalog's Variables reference.
pub fn secret_names(catalog: &Catalog) -> BTreeSet<String> {
    catalog
        .variables
        .iter()
        .flat_map(|v| v.spec.secret_refs.values().map(|r| r.name.clone()))
        .collect()
}

fn all<K: Resource<DynamicType = ()> + Clone>(store: &Store<K>) -> Vec<K> {
    store.state().iter().map(|o| (**o).clone()).collect()
}

/// Objects of `store` in `namespace`.
pub fn in_namespace<K>(store: &Store<K>, namespace: &str) -> Vec<K>
where
    K: Resource<DynamicType = ()> + Clone,
    K::DynamicType: Eq + Hash,
{
    store
        .state()
        .into_iter()
        .filter(|o| o.namespace().as_deref() == Some(namespace))
        .map(|o| (*o).clone())
        .collect()
}

impl gitopshq_engine::admission::Directory for Index {
    fn environment(&self, name: &str) -> Option<std::sync::Arc<Environment>> {
        self.environments
            .store
            .get(&reflector::ObjectRef::new(name))
    }

    fn release(&self, namespace: &str, name: &str) -> Option<std::sync::Arc<Release>> {
        self.releases
            .store
            .get(&reflector::ObjectRef::new(name).within(namespace))
    }

    fn approval_policy(&self, name: &str) -> Option<std::sync::Arc<ApprovalPolicy>> {
        self.approval_policies
            .store
            .get(&reflector::ObjectRef::new(name))
    }

    fn chart_version(&self, name: &str) -> Option<std::sync::Arc<ChartVersion>> {
        self.chart_versions
            .store
            .get(&reflector::ObjectRef::new(name))
    }

    fn break_glass_sessions(&self, namespace: &str) -> Vec<std::sync::Arc<BreakGlassSession>> {
        self.sessions
            .store
            .state()
            .into_iter()
            .filter(|s| s.namespace().as_deref() == Some(namespace))
            .collect()
    }

    fn policies(&self) -> Vec<std::sync::Arc<Policy>> {
        self.policies.store.state()
    }

    fn project_catalog(&self, namespace: &str) -> Catalog {
        self.catalog(namespace)
    }

    fn project(&self, name: &str) -> Option<std::sync::Arc<Project>> {
        self.projects.store.get(&reflector::ObjectRef::new(name))
    }

    fn cluster(&self, name: &str) -> Option<std::sync::Arc<Cluster>> {
        self.clusters.store.get(&reflector::ObjectRef::new(name))
    }

    fn tenant(&self, namespace: &str, name: &str) -> Option<std::sync::Arc<Tenant>> {
        self.tenants
            .store
            .get(&reflector::ObjectRef::new(name).within(namespace))
    }

    fn all_tenants(&self) -> Vec<std::sync::Arc<Tenant>> {
        self.tenants.store.state()
    }

    fn all_workloads(&self) -> Vec<std::sync::Arc<Workload>> {
        self.workloads.store.state()
    }

    /// The controllers never judge people's grants: the admission webhook does.
    fn may(
        &self,
        _user: &gitopshq_engine::admission::Requester,
        _access: &gitopshq_engine::admission::Access<'_>,
    ) -> gitopshq_engine::admission::Permission {
        gitopshq_engine::admission::Permission::Unknown(
            "grants are checked at admission, not by the controllers".into(),
        )
    }
}
