//! What every reconciler shares: the API client, the watch caches, remote cluster clients,
//! the policy engine, metrics, the event recorder and the settings; plus the status writer.

use std::fmt::Debug;
use std::sync::Arc;

use gitopshq_crds::consts::FIELD_MANAGER;
use gitopshq_engine::error::Chain;
use gitopshq_engine::layout::GitOpsSettings;
use gitopshq_engine::policy::{EvalLimits, PolicyEngine};
use jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::warn;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use gitopshq_crds::project::Project;
use gitopshq_crds::release::{Release, ReleaseType};
use gitopshq_engine::catalog::Catalog;
use k8s_openapi::api::core::v1::{ObjectReference, Secret};

use crate::cluster_clients::ClusterPool;
use crate::cluster_objects::Discovery;
use crate::config::Settings;
use crate::error::{Result, kube as kube_error};
use crate::index::Index;
use crate::metrics::Metrics;
use crate::workload_watches::WorkloadWatches;
use gitopshq_delivery::git::GitRemote;
use gitopshq_delivery::{Committer, credentials_from_secret};

/// The component name in Events and timelines.
pub const REPORTER: &str = "gitopshq-controller";

pub struct Context {
    pub client: Client,
    pub index: Arc<Index>,
    pub clusters: ClusterPool,
    pub discovery: Discovery,
    /// Watch caches of the workload clusters, which health and drift read.
    pub workload_watches: WorkloadWatches,
    pub policies: PolicyEngine,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    pub settings: Settings,
    /// The time decisions use; tests move it.
    pub clock: fn() -> Timestamp,
    /// Delivered objects by (commit, workload folder): immutable, so cached.
    delivered: Mutex<DeliveredObjects>,
}

/// (commit, workload folder) → the objects the commit holds there.
type DeliveredObjects = HashMap<(String, String), Arc<Vec<serde_json::Value>>>;

/// Entries of the delivered-objects cache before it starts over.
const DELIVERED_CACHE_ENTRIES: usize = 4096;

impl Context {
    pub fn new(
        client: Client,
        index: Arc<Index>,
        settings: Settings,
        metrics: Arc<Metrics>,
    ) -> Self {
        let reporter = Reporter {
            controller: REPORTER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            clusters: ClusterPool::new(client.clone()),
            discovery: Discovery::default(),
            workload_watches: WorkloadWatches::default(),
            policies: PolicyEngine::new(EvalLimits::default()),
            index,
            metrics,
            settings,
            clock: Timestamp::now,
            delivered: Mutex::new(HashMap::new()),
            client,
        }
    }

    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// Where the Argo CD / Flux objects the layout writes live.
    pub fn gitops_settings(&self) -> GitOpsSettings {
        self.settings.gitops()
    }

    /// The objects a commit holds in a workload folder (read once per commit and folder).
    pub async fn delivered_objects(
        &self,
        remote: &GitRemote,
        commit: &str,
        prefix: &str,
    ) -> std::result::Result<Arc<Vec<serde_json::Value>>, String> {
        let key = (commit.to_string(), prefix.to_string());
        if let Some(found) = self.lock_delivered().get(&key) {
            return Ok(Arc::clone(found));
        }
        let (remote, cache, commit_sha, folder) = (
            remote.clone(),
            self.settings.cache_dir.clone(),
            commit.to_string(),
            prefix.to_string(),
        );
        let objects = tokio::task::spawn_blocking(move || {
            gitopshq_delivery::read_objects(&remote, &cache, &commit_sha, &folder)
        })
        .await
        .map_err(|e| e.to_string())??;
        let objects = Arc::new(objects);
        let mut cache = self.lock_delivered();
        if cache.len() >= DELIVERED_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&objects));
        Ok(objects)
    }

    fn lock_delivered(&self) -> std::sync::MutexGuard<'_, DeliveredObjects> {
        self.delivered.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A Secret's data, `None` when it does not exist.
    pub async fn secret_data(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = api
            .get_opt(name)
            .await
            .map_err(kube_error(format!("reading Secret {namespace}/{name}")))?;
        Ok(secret.map(|s| {
            s.data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect()
        }))
    }

    /// Everything a release of project `namespace` renders from, with the values of the
    /// Secrets its Variables reference (a missing Secret leaves its variables unresolved, which
    /// rendering reports by name).
    pub async fn project_catalog(&self, namespace: &str) -> Result<Catalog> {
        let mut catalog = self.index.catalog(namespace);
        for name in crate::index::secret_names(&catalog) {
            if let Some(data) = self.secret_data(namespace, &name).await? {
                let values = data
                    .into_iter()
                    .filter_map(|(k, v)| String::from_utf8(v).ok().map(|v| (k, v)))
                    .collect();
                catalog
                    .secrets
                    .insert((namespace.to_string(), name), values);
            }
        }
        Ok(catalog)
    }

    /// [`Context::project_catalog`] for judging or delivering `release`: with the states
    /// recorded in the GitOps repository for its environment, where a Deploy or Promotion
    /// starts. A project whose repository cannot be addressed gets none (its delivery reports
    /// why); a repository that cannot be read now gives the catalog without them and the
    /// problem, which a delivery must not go past (it would drop what earlier releases set),
    /// while judging may (the delivery renders again, and a different digest goes back to
    /// approval).
    pub async fn release_catalog(&self, release: &Release) -> Result<(Catalog, Option<String>)> {
        let namespace = release.namespace().unwrap_or_default();
        let catalog = self.project_catalog(&namespace).await?;
        if release.spec.type_ == ReleaseType::Rollback {
            return Ok((catalog, None));
        }
        let Some(project) = catalog.project(&namespace).cloned() else {
            return Ok((catalog, None));
        };
        let Ok(remote) = self.git_remote(&project).await else {
            return Ok((catalog, None));
        };
        let cache = self.settings.cache_dir.clone();
        let environment = release.spec.environment.clone();
        let (catalog, read) = tokio::task::spawn_blocking(move || {
            let mut catalog = catalog;
            let read = gitopshq_delivery::load_recorded_states(
                &mut catalog,
                &namespace,
                &environment,
                &remote,
                &cache,
            );
            (catalog, read)
        })
        .await?;
        let unread = read.err().map(|error| {
            format!(
                "the states recorded in the GitOps repository cannot be read: {}",
                Chain(&error)
            )
        });
        Ok((catalog, unread))
    }

    /// The Git remote of `project`, with the credentials of its `credentialsSecretRef` (in the
    /// project's namespace unless the reference names another).
    pub async fn git_remote(&self, project: &Project) -> std::result::Result<GitRemote, String> {
        let repository = &project.spec.repository;
        if repository.url.is_empty() {
            return Err(format!(
                "project {} has no spec.repository.url: set the GitOps repository",
                project.name_any()
            ));
        }
        let remote = GitRemote::new(repository.url.clone(), repository.branch.clone());
        let Some(reference) = &repository.credentials_secret_ref else {
            return Ok(remote);
        };
        let namespace = reference
            .namespace
            .clone()
            .unwrap_or_else(|| project.namespace_name());
        let data = self
            .secret_data(&namespace, &reference.name)
            .await
            .map_err(|e| Chain(&e).to_string())?
            .ok_or_else(|| {
                format!(
                    "repository credentials Secret {namespace}/{} not found; create it or fix spec.repository.credentialsSecretRef",
                    reference.name
                )
            })?;
        let credentials = credentials_from_secret(&data).ok_or_else(|| {
            format!(
                "repository credentials Secret {namespace}/{} has none of the keys username/password, bearerToken, token or sshPrivateKey",
                reference.name
            )
        })?;
        Ok(remote.with_credentials(credentials))
    }

    /// Who the next commit is by and, when `--signing-key-secret` is set, the key that signs
    /// it, read now (a rotated key signs from the next commit on). A missing or unusable key
    /// is an error naming the Secret and the fix: never an unsigned commit instead.
    pub async fn committer(&self) -> std::result::Result<Committer, String> {
        let signing_key = match &self.settings.signing_key_secret {
            None => None,
            Some(secret) => {
                let data = self
                    .secret_data(&secret.namespace, &secret.name)
                    .await
                    .map_err(|e| Chain(&e).to_string())?;
                Some(Arc::new(secret.key_from(data.as_ref())?))
            }
        };
        Ok(Committer::new(
            self.settings.author.clone(),
            signing_key,
            self.settings.secret_derivation_key.as_ref(),
            || self.settings.secret_derivation_key(),
            self.now(),
        ))
    }

    /// Writes `status` of `object` by server-side apply with the operator's field manager.
    pub async fn patch_status<K, S>(&self, object: &K, status: &S) -> Result<K>
    where
        K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Serialize,
        S: Serialize,
    {
        // One writer for both scopes: the dynamic API addresses the object by its own scope.
        let resource = ApiResource::erase::<K>(&());
        let api: Api<DynamicObject> = match object.namespace() {
            Some(ns) => Api::namespaced_with(self.client.clone(), &ns, &resource),
            None => Api::all_with(self.client.clone(), &resource),
        };
        let name = object.name_any();
        // The resourceVersion read makes the write conditional: a decision taken on a copy the
        // cache had not refreshed yet (our own previous write still on its way) is refused
        // with a conflict and taken again on the fresh object, instead of overwriting it.
        let body = serde_json::json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "metadata": {"resourceVersion": object.resource_version()},
            "status": status,
        });
        let written = api
            .patch_status(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(body),
            )
            .await
            .map_err(|error| match error {
                kube::Error::Api(status) if status.code == 409 => crate::error::Error::Conflict {
                    object: format!("{} {name}", K::kind(&())),
                },
                error => {
                    kube_error(format!("writing the status of {} {name}", K::kind(&())))(error)
                }
            })?;
        written
            .try_parse::<K>()
            .map_err(|e| crate::error::Error::Decode {
                what: format!("{} {name} as written", K::kind(&())),
                reason: e.to_string(),
            })
    }

    /// Publishes an Event on `object`; a failure is logged, never fatal (Events are best
    /// effort in Kubernetes too).
    pub async fn event<K>(&self, object: &K, warning: bool, reason: &str, note: String)
    where
        K: Resource<DynamicType = ()>,
    {
        publish_event(
            &self.recorder,
            &object.object_ref(&()),
            warning,
            reason,
            note,
        )
        .await;
    }
}

/// Publishes an Event about `object`: the reason is also the action, the note is cut to the
/// 1 KiB the Events API keeps. A failure is logged, never fatal.
pub(crate) async fn publish_event(
    recorder: &Recorder,
    object: &ObjectReference,
    warning: bool,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.to_string(),
        note: Some(note.chars().take(1024).collect()),
        action: reason.to_string(),
        secondary: None,
    };
    if let Err(error) = recorder.publish(&event, object).await {
        warn!(%error, reason, "could not publish an event");
    }
}
