//! Clients of the registered workload clusters, built from their kubeconfig Secrets and kept
//! while the Secret does not change. Whether it changed is read at most once per
//! [`VERIFIED_FOR`] per cluster (and at every heartbeat, which the Secret's changes trigger):
//! a health check reads a cluster once per tenant, and a release across a thousand tenants
//! would otherwise read the Secret a thousand times per check.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gitopshq_crds::cluster::Cluster;
use gitopshq_engine::cluster_access;
use gitopshq_engine::cluster_heartbeat::Heartbeat;
use k8s_openapi::api::core::v1::Secret;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, ResourceExt};

/// How long a request to a workload cluster may take before it counts as unreachable.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long clients built from a kubeconfig Secret are used without reading the Secret again.
/// The heartbeat always reads it, and a change of the Secret triggers one at once, so a rotated
/// token is in use before `gitopshq cluster rotate` sees the cluster Connected and revokes the
/// old one; this bounds how long other readers (the logs API) may keep the old token.
pub const VERIFIED_FOR: Duration = Duration::from_secs(2);

/// Why a cluster cannot be used. Each names the Secret or the server and what to do.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ClusterError {
    #[error(
        "kubeconfig Secret {namespace}/{name} not found; create it (gitopshq cluster register {cluster} --context CTX) or fix spec.kubeconfigSecretRef"
    )]
    SecretNotFound {
        cluster: String,
        namespace: String,
        name: String,
    },
    #[error(
        "kubeconfig Secret {namespace}/{name} has no key {key:?}; store the kubeconfig under that key or set spec.kubeconfigSecretRef.key"
    )]
    KeyMissing {
        namespace: String,
        name: String,
        key: String,
    },
    #[error(
        "kubeconfig in Secret {namespace}/{name} (key {key:?}) is invalid: {reason}; re-register the cluster"
    )]
    InvalidKubeconfig {
        namespace: String,
        name: String,
        key: String,
        reason: String,
    },
    #[error(
        "kubeconfig in Secret {namespace}/{name} (key {key:?}) authenticates with the exec credential plugin {command:?}, which the controller does not run; register the cluster with a token instead: gitopshq cluster register {cluster} --context CTX"
    )]
    ExecPlugin {
        cluster: String,
        namespace: String,
        name: String,
        key: String,
        command: String,
    },
    #[error(
        "cannot read kubeconfig Secret {namespace}/{name}: {reason}; check that the controller may read Secrets there"
    )]
    SecretUnreadable {
        namespace: String,
        name: String,
        reason: String,
    },
    #[error(
        "API server of cluster {cluster} does not answer: {reason}; check the network path and the credentials in the kubeconfig"
    )]
    Unreachable { cluster: String, reason: String },
}

impl ClusterError {
    /// The condition reason for this error (`consts::reasons`).
    pub fn reason(&self) -> &'static str {
        use gitopshq_crds::consts::reasons;
        match self {
            ClusterError::SecretNotFound { .. } => reasons::SECRET_NOT_FOUND,
            ClusterError::KeyMissing { .. }
            | ClusterError::InvalidKubeconfig { .. }
            | ClusterError::SecretUnreadable { .. } => reasons::INVALID_SPEC,
            ClusterError::ExecPlugin { .. } => reasons::EXEC_PLUGIN_UNSUPPORTED,
            ClusterError::Unreachable { .. } => reasons::UNREACHABLE,
        }
    }

    /// What the heartbeat found, for the engine's [`heartbeat`](gitopshq_engine::cluster_heartbeat::heartbeat).
    pub fn heartbeat(&self) -> Heartbeat {
        match self {
            ClusterError::Unreachable { .. } => Heartbeat::NoAnswer {
                message: self.to_string(),
            },
            _ => Heartbeat::Misconfigured {
                reason: self.reason(),
                message: self.to_string(),
            },
        }
    }
}

struct Entry {
    /// The Secret (namespace, name, key) the clients were built from.
    source: (String, String, String),
    /// The Secret's resourceVersion the client was built from.
    version: String,
    /// When the Secret was last read and still held this version.
    verified: Instant,
    client: Client,
    watch_client: Client,
}

impl Entry {
    fn clients(&self) -> ClusterClients {
        ClusterClients {
            client: self.client.clone(),
            watch_client: self.watch_client.clone(),
            credentials: self.version.clone(),
        }
    }
}

/// The Secret reference of `cluster`, as an [`Entry`] records it.
fn source_of(cluster: &Cluster) -> (String, String, String) {
    let reference = &cluster.spec.kubeconfig_secret_ref;
    (
        reference.namespace.clone(),
        reference.name.clone(),
        reference.key.clone(),
    )
}

/// The clients of a workload cluster.
#[derive(Clone)]
pub struct ClusterClients {
    /// For requests: each must answer within [`REQUEST_TIMEOUT`].
    pub client: Client,
    /// For watches, which stay quiet for minutes: no read timeout (the server ends them).
    pub watch_client: Client,
    /// The version of the kubeconfig Secret both were built from.
    pub credentials: String,
}

/// Clients per cluster name.
pub struct ClusterPool {
    management: Client,
    clients: Mutex<HashMap<String, Entry>>,
}

impl ClusterPool {
    pub fn new(management: Client) -> Self {
        Self {
            management,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// A client of `cluster`, rebuilt when its kubeconfig Secret changed.
    pub async fn client(&self, cluster: &Cluster) -> Result<Client, ClusterError> {
        self.clients(cluster).await.map(|c| c.client)
    }

    /// The clients of `cluster`, for requests and for watches: those built before while their
    /// Secret was read within [`VERIFIED_FOR`], or built from the Secret now.
    pub async fn clients(&self, cluster: &Cluster) -> Result<ClusterClients, ClusterError> {
        match self.recent(cluster) {
            Some(clients) => Ok(clients),
            None => self.read(cluster).await,
        }
    }

    /// The clients built before from the Secret `cluster` names, if it was read recently. The
    /// first caller after [`VERIFIED_FOR`] reads it again; callers meanwhile keep these.
    fn recent(&self, cluster: &Cluster) -> Option<ClusterClients> {
        let mut entries = self.lock();
        let entry = entries.get_mut(&cluster.name_any())?;
        if entry.source != source_of(cluster) {
            return None;
        }
        if entry.verified.elapsed() >= VERIFIED_FOR {
            entry.verified = Instant::now();
            return None;
        }
        Some(entry.clients())
    }

    /// Reads the cluster's kubeconfig Secret and returns clients of the version it holds,
    /// building them when it changed. A Secret gone or unusable forgets the clients; one that
    /// could not be read this time (the management API server busy) keeps them.
    async fn read(&self, cluster: &Cluster) -> Result<ClusterClients, ClusterError> {
        let read = self.read_secret(cluster).await;
        if let Err(error) = &read
            && !matches!(error, ClusterError::SecretUnreadable { .. })
        {
            self.remove(&cluster.name_any());
        }
        read
    }

    async fn read_secret(&self, cluster: &Cluster) -> Result<ClusterClients, ClusterError> {
        let reference = &cluster.spec.kubeconfig_secret_ref;
        let api: Api<Secret> = Api::namespaced(self.management.clone(), &reference.namespace);
        let secret = api
            .get_opt(&reference.name)
            .await
            .map_err(|e| ClusterError::SecretUnreadable {
                namespace: reference.namespace.clone(),
                name: reference.name.clone(),
                reason: e.to_string(),
            })?
            .ok_or_else(|| ClusterError::SecretNotFound {
                cluster: cluster.name_any(),
                namespace: reference.namespace.clone(),
                name: reference.name.clone(),
            })?;
        let version = secret.resource_version().unwrap_or_default();
        let name = cluster.name_any();
        if let Some(entry) = self.lock().get_mut(&name)
            && entry.version == version
            && entry.source == source_of(cluster)
        {
            entry.verified = Instant::now();
            return Ok(entry.clients());
        }
        let invalid = |reason: String| ClusterError::InvalidKubeconfig {
            namespace: reference.namespace.clone(),
            name: reference.name.clone(),
            key: reference.key.clone(),
            reason,
        };
        let bytes = secret
            .data
            .as_ref()
            .and_then(|d| d.get(&reference.key))
            .map(|b| b.0.clone())
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|d| d.get(&reference.key))
                    .map(|s| s.clone().into_bytes())
            })
            .ok_or_else(|| ClusterError::KeyMissing {
                namespace: reference.namespace.clone(),
                name: reference.name.clone(),
                key: reference.key.clone(),
            })?;
        let text = String::from_utf8(bytes).map_err(|_| invalid("not UTF-8 text".into()))?;
        // An exec plugin (aws, gke-gcloud-auth-plugin, kubelogin) is not in the controller's
        // image: running it would fail on every request with a message about a missing file.
        let stored = cluster_access::read_stored(
            &format!("Secret {}/{}", reference.namespace, reference.name),
            &text,
        )
        .map_err(|e| match e {
            cluster_access::AccessError::InvalidKubeconfig { reason, .. } => invalid(reason),
            other => invalid(other.to_string()),
        })?;
        if let Some(command) = stored.exec {
            return Err(ClusterError::ExecPlugin {
                cluster: cluster.name_any(),
                namespace: reference.namespace.clone(),
                name: reference.name.clone(),
                key: reference.key.clone(),
                command,
            });
        }
        let kubeconfig = Kubeconfig::from_yaml(&text).map_err(|e| invalid(e.to_string()))?;
        let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| invalid(e.to_string()))?;
        config.connect_timeout = Some(REQUEST_TIMEOUT);
        config.write_timeout = Some(REQUEST_TIMEOUT);
        // A watch is quiet while nothing changes: a read timeout would cut it every few
        // seconds and make the cache list again.
        let watch_client = Client::try_from(config.clone()).map_err(|e| invalid(e.to_string()))?;
        config.read_timeout = Some(REQUEST_TIMEOUT);
        let client = Client::try_from(config).map_err(|e| invalid(e.to_string()))?;
        self.lock().insert(
            name,
            Entry {
                source: source_of(cluster),
                version: version.clone(),
                verified: Instant::now(),
                client: client.clone(),
                watch_client: watch_client.clone(),
            },
        );
        Ok(ClusterClients {
            client,
            watch_client,
            credentials: version,
        })
    }

    /// Asks the cluster's API server for its version: the heartbeat, always with the clients
    /// of the Secret as it is now.
    pub async fn probe(&self, cluster: &Cluster) -> Result<String, ClusterError> {
        let client = self.read(cluster).await?.client;
        let info = tokio::time::timeout(REQUEST_TIMEOUT, client.apiserver_version())
            .await
            .map_err(|_| ClusterError::Unreachable {
                cluster: cluster.name_any(),
                reason: format!("no answer within {}s", REQUEST_TIMEOUT.as_secs()),
            })?
            .map_err(|e| ClusterError::Unreachable {
                cluster: cluster.name_any(),
                reason: e.to_string(),
            })?;
        Ok(info.git_version)
    }

    /// Forgets a deleted cluster.
    pub fn remove(&self, cluster: &str) {
        self.lock().remove(cluster);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }
}
