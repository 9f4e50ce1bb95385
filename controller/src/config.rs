//! `gitopshq controller` options: flags with environment fallbacks, as the Helm chart sets them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use gitopshq_engine::notifications::Backoff;

use crate::index::Scope;
use crate::signing_key::{SigningKeySecret, SigningKeySecretRef};
use gitopshq_delivery::git::Identity;
use gitopshq_delivery::sops::DerivationKey;

#[derive(Debug, Clone, clap::Args)]
pub struct ControllerArgs {
    /// Reconcile only the project whose namespace this is (namespaced kinds are watched there
    /// only). Without it, every project (`--watch-all`).
    #[arg(long, env = "GITOPSHQ_NAMESPACE", conflicts_with = "watch_all")]
    pub namespace: Option<String>,
    /// Reconcile every project (the default; spelled out for clarity in manifests).
    #[arg(long, env = "GITOPSHQ_WATCH_ALL")]
    pub watch_all: bool,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    #[arg(long, env = "GITOPSHQ_METRICS_ADDRESS", default_value = "0.0.0.0:8080")]
    pub metrics_address: SocketAddr,
    /// Bare clones of remote GitOps repositories live here.
    #[arg(long, env = "GITOPSHQ_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Author name of delivery commits.
    #[arg(long, env = "GITOPSHQ_AUTHOR_NAME", default_value = "GitOpsHQ")]
    pub author_name: String,
    /// Author e-mail of delivery commits.
    #[arg(
        long,
        env = "GITOPSHQ_AUTHOR_EMAIL",
        default_value = "gitopshq@localhost"
    )]
    pub author_email: String,
    /// Sign every commit with the OpenSSH ed25519 key in key `ssh-privatekey` of this Secret
    /// (NAMESPACE/NAME, or NAME in --lease-namespace), read at each delivery; while it is
    /// missing or unusable, deliveries wait rather than commit unsigned. Unsigned without it.
    #[arg(
        long,
        env = "GITOPSHQ_SIGNING_KEY_SECRET",
        value_name = "[NAMESPACE/]NAME"
    )]
    pub signing_key_secret: Option<SigningKeySecretRef>,
    /// Time zone of recurring freeze windows that name none.
    #[arg(long, env = "GITOPSHQ_DEFAULT_TIME_ZONE", default_value = "UTC")]
    pub default_time_zone: String,
    #[command(flatten)]
    pub gitops: GitOpsArgs,
    /// Hold a Lease before reconciling, so only one replica (per shard) works.
    #[arg(long, env = "GITOPSHQ_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Namespace of the leader-election Lease.
    #[arg(
        long,
        env = "GITOPSHQ_LEASE_NAMESPACE",
        default_value = "gitopshq-system"
    )]
    pub lease_namespace: String,
    /// This replica's identity in the Lease (the pod name in a cluster).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// This replica's shard: it reconciles the projects whose name hashes to it.
    #[arg(long, env = "GITOPSHQ_SHARD_INDEX", default_value_t = 0)]
    pub shard_index: u32,
    /// How many shards split the projects.
    #[arg(long, env = "GITOPSHQ_SHARD_COUNT", default_value_t = 1)]
    pub shard_count: u32,
    /// Seconds between health and drift checks of delivered releases.
    #[arg(long, env = "GITOPSHQ_HEALTH_INTERVAL", default_value_t = 15)]
    pub health_interval: u64,
    /// Seconds between heartbeats of a connected workload cluster (a cluster that stops
    /// answering turns Disconnected at the next one, its tenants' health Unknown).
    #[arg(long, env = "GITOPSHQ_CLUSTER_HEARTBEAT", default_value_t = 30)]
    pub cluster_heartbeat: u64,
    /// Reconciliations run at once, per controller.
    #[arg(long, env = "GITOPSHQ_CONCURRENCY", default_value_t = 4)]
    pub concurrency: u16,
    /// Serve the container registry webhook receiver (`POST /registry/<source>`) on this
    /// address (e.g. 0.0.0.0:8081); off without it.
    #[arg(long, env = "GITOPSHQ_RECEIVER_ADDRESS")]
    pub receiver_address: Option<SocketAddr>,
    #[command(flatten)]
    pub receiver: crate::receiver::ReceiverOptions,
    /// Namespace of notification URL Secrets whose `urlSecretRef` names none (default: the
    /// Lease namespace, where the operator runs).
    #[arg(long, env = "GITOPSHQ_NOTIFICATION_NAMESPACE")]
    pub notification_namespace: Option<String>,
    /// Attempts of one notification before it is dead-lettered.
    #[arg(long, env = "GITOPSHQ_NOTIFICATION_ATTEMPTS", default_value_t = 5)]
    pub notification_attempts: u32,
    /// The dashboard's external URL (`https://gitopshq.example.com`): release notifications
    /// link to the release's page there.
    #[arg(long, env = "GITOPSHQ_DASHBOARD_URL", value_name = "URL")]
    pub dashboard_url: Option<String>,
    /// Serve the per-tenant Flux artifacts (`--flux-artifacts-url`) on this address (plain
    /// HTTP, as Flux's own artifact servers; they hold what Git holds, Secrets SOPS-encrypted).
    #[arg(
        long,
        env = "GITOPSHQ_FLUX_ARTIFACTS_ADDRESS",
        default_value = "0.0.0.0:9090"
    )]
    pub flux_artifacts_address: SocketAddr,
}

impl ControllerArgs {
    /// What the index watches.
    pub fn scope(&self) -> Scope {
        match &self.namespace {
            Some(ns) => Scope::Namespace(ns.clone()),
            None => Scope::All,
        }
    }

    pub fn settings(&self) -> Settings {
        Settings {
            cache_dir: self
                .cache_dir
                .clone()
                .unwrap_or_else(gitopshq_delivery::git::default_cache_dir),
            author: Identity {
                name: self.author_name.clone(),
                email: self.author_email.clone(),
            },
            signing_key_secret: self
                .signing_key_secret
                .as_ref()
                .map(|r| r.resolve(&self.lease_namespace)),
            default_time_zone: self.default_time_zone.clone(),
            argocd_namespace: self.gitops.argocd_namespace.clone(),
            flux_namespace: self.gitops.flux_namespace.clone(),
            flux_interval: self.gitops.flux_interval.clone(),
            flux_artifacts: self
                .gitops
                .flux_artifacts_url
                .clone()
                .map(|url| FluxArtifacts {
                    url,
                    address: self.flux_artifacts_address,
                }),
            health_interval: Duration::from_secs(self.health_interval.max(1)),
            cluster_heartbeat: Duration::from_secs(self.cluster_heartbeat.max(1)),
            shard: Shard {
                index: self.shard_index,
                count: self.shard_count.max(1),
            },
            concurrency: self.concurrency.max(1),
            notifications: NotifierSettings {
                secret_namespace: self
                    .notification_namespace
                    .clone()
                    .unwrap_or_else(|| self.lease_namespace.clone()),
                dashboard_url: self.dashboard_url.clone(),
                backoff: Backoff {
                    attempts: self.notification_attempts.max(1),
                    ..Backoff::default()
                },
            },
            // The binary sets it from its own key material.
            secret_derivation_key: None,
        }
    }
}

/// Per-tenant Flux artifacts: the base URL Flux fetches them from, and the address the
/// controller serves them on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FluxArtifacts {
    pub url: String,
    pub address: SocketAddr,
}

/// Which projects this replica reconciles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether `project` belongs to this shard (a stable hash of the name, the same on every
    /// replica and release of the operator).
    pub fn owns(&self, project: &str) -> bool {
        use sha2::{Digest, Sha256};
        if self.count <= 1 {
            return true;
        }
        let digest = Sha256::digest(project.as_bytes());
        let value = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        value % self.count == self.index
    }

    /// Cluster-scoped objects that belong to no project are the first shard's.
    pub fn owns_shared(&self) -> bool {
        self.index == 0
    }
}

/// What the reconcilers need to know besides the API.
#[derive(Debug, Clone)]
pub struct Settings {
    pub cache_dir: PathBuf,
    pub author: Identity,
    /// Where the key that signs commits is; `None`: commits are not signed.
    pub signing_key_secret: Option<SigningKeySecret>,
    pub default_time_zone: String,
    pub argocd_namespace: String,
    pub flux_namespace: String,
    /// Flux's reconcile interval in the objects the operator writes (a Go duration).
    pub flux_interval: String,
    /// Per-tenant Flux artifacts: where they are served, and where the server listens.
    pub flux_artifacts: Option<FluxArtifacts>,
    pub health_interval: Duration,
    /// Between two heartbeats of a connected workload cluster.
    pub cluster_heartbeat: Duration,
    pub shard: Shard,
    pub concurrency: u16,
    /// Where notification URL Secrets are and how deliveries are retried.
    pub notifications: NotifierSettings,
    /// The key Secrets committed for Flux are encrypted under (data keys and IVs derive from
    /// it, so unchanged Secrets keep their files). `None`: derived from the signing key when
    /// commits are signed, else a random key for this process (every Secret file is then
    /// rewritten once after a restart).
    pub secret_derivation_key: Option<DerivationKey>,
}

impl Settings {
    /// Where and how the layout writes Argo CD and Flux objects.
    pub fn gitops(&self) -> gitopshq_engine::layout::GitOpsSettings {
        gitopshq_engine::layout::GitOpsSettings {
            argocd_namespace: self.argocd_namespace.clone(),
            flux_namespace: self.flux_namespace.clone(),
            flux_interval: self.flux_interval.clone(),
            flux_tenant_artifacts: self.flux_artifacts.is_some(),
            ..gitopshq_engine::layout::GitOpsSettings::default()
        }
    }

    /// [`Settings::secret_derivation_key`], or this process's random key.
    pub fn secret_derivation_key(&self) -> DerivationKey {
        static PROCESS_KEY: OnceLock<DerivationKey> = OnceLock::new();
        self.secret_derivation_key
            .clone()
            .unwrap_or_else(|| PROCESS_KEY.get_or_init(DerivationKey::random).clone())
    }
}

impl Settings {
    /// Settings for tests and the sandbox: every project, caches under `cache_dir`.
    pub fn local(cache_dir: PathBuf) -> Self {
        Self {
            cache_dir,
            author: Identity {
                name: "GitOpsHQ".into(),
                email: "gitopshq@localhost".into(),
            },
            signing_key_secret: None,
            default_time_zone: "UTC".into(),
            argocd_namespace: "argocd".into(),
            flux_namespace: "flux-system".into(),
            flux_interval: "5m".into(),
            flux_artifacts: None,
            health_interval: Duration::from_secs(2),
            cluster_heartbeat: Duration::from_secs(30),
            shard: Shard::ALL,
            concurrency: 4,
            // Retries in a fraction of a second, so a local run shows a dead letter quickly.
            notifications: NotifierSettings {
                backoff: Backoff {
                    attempts: 3,
                    initial: Duration::from_millis(200),
                    max: Duration::from_secs(5),
                },
                ..NotifierSettings::default()
            },
            secret_derivation_key: None,
        }
    }
}

/// A Go duration as Flux reads it (`30s`, `5m`, `1h30m`): units h, m, s, ms, each after a
/// number, at least one second in all.
/// Where and how the layout writes Argo CD and Flux objects: the controller's delivery and the
/// dashboard's previews take the same flags, so a preview shows what a delivery commits.
#[derive(Debug, Clone, clap::Args)]
pub struct GitOpsArgs {
    /// Namespace of the Argo CD `Application`s the operator writes.
    #[arg(long, env = "GITOPSHQ_ARGOCD_NAMESPACE", default_value = "argocd")]
    pub argocd_namespace: String,
    /// Namespace of the Flux objects the operator writes.
    #[arg(long, env = "GITOPSHQ_FLUX_NAMESPACE", default_value = "flux-system")]
    pub flux_namespace: String,
    /// How often Flux re-fetches the repository and re-applies each tenant (correcting drift),
    /// as a Go duration. New commits do not wait for it: the operator asks Flux to sync at once.
    #[arg(long, env = "GITOPSHQ_FLUX_INTERVAL", default_value = "5m", value_parser = go_duration)]
    pub flux_interval: String,
    /// Publish each Flux tenant as its own `ExternalArtifact`, served by the controller at this
    /// base URL (as Flux's kustomize-controller reaches it, e.g.
    /// `http://gitopshq-artifacts.gitopshq-system.svc`), so a commit reconciles only the
    /// tenants it changed. Needs kustomize-controller with `--feature-gates=ExternalArtifact=true`.
    #[arg(long, env = "GITOPSHQ_FLUX_ARTIFACTS_URL", value_name = "URL", value_parser = artifacts_url)]
    pub flux_artifacts_url: Option<String>,
}

impl GitOpsArgs {
    pub fn settings(&self) -> gitopshq_engine::layout::GitOpsSettings {
        gitopshq_engine::layout::GitOpsSettings {
            argocd_namespace: self.argocd_namespace.clone(),
            flux_namespace: self.flux_namespace.clone(),
            flux_interval: self.flux_interval.clone(),
            flux_tenant_artifacts: self.flux_artifacts_url.is_some(),
            ..gitopshq_engine::layout::GitOpsSettings::default()
        }
    }
}

/// An `http(s)://host[:port][/path]` base URL, kept without its trailing `/`.
fn artifacts_url(value: &str) -> Result<String, String> {
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"))
        .ok_or_else(|| format!("{value:?} is not an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(['?', '#', ' ']) {
        return Err(format!(
            "{value:?} is not a base URL (http://host[:port][/path], no query)"
        ));
    }
    Ok(value.trim_end_matches('/').to_string())
}

fn go_duration(value: &str) -> Result<String, String> {
    let invalid = || {
        format!("{value:?} is not a Go duration of at least one second (examples: 30s, 5m, 1h30m)")
    };
    let mut rest = value;
    let mut millis: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        if digits == 0 {
            return Err(invalid());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let (unit, scale) = [("ms", 1), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)]
            .into_iter()
            .find(|(unit, _)| rest.starts_with(unit))
            .ok_or_else(invalid)?;
        rest = &rest[unit.len()..];
        millis = millis.saturating_add(number.saturating_mul(scale));
    }
    if millis < 1_000 {
        return Err(invalid());
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_project_has_exactly_one_shard() {
        for project in [
            "payment-service",
            "web-app",
            "infra-configs",
            "a",
            "order-service",
        ] {
            let owners = (0..3)
                .filter(|i| {
                    Shard {
                        index: *i,
                        count: 3,
                    }
                    .owns(project)
                })
                .count();
            assert_eq!(owners, 1, "{project}");
        }
        assert!(Shard::ALL.owns("anything"));
    }

    #[test]
    fn flux_intervals_are_go_durations_of_a_second_or_more() {
        for good in ["30s", "5m", "1h30m", "1500ms"] {
            assert_eq!(go_duration(good).as_deref(), Ok(good));
        }
        for bad in ["", "5", "m", "500ms", "5 m", "1d", "-5m"] {
            let error = go_duration(bad).unwrap_err();
            assert!(error.contains("Go duration"), "{bad}: {error}");
        }
    }
}

/// How notifications are sent.
#[derive(Debug, Clone)]
pub struct NotifierSettings {
    /// Namespace of the URL Secrets whose `urlSecretRef` names none (the operator's).
    pub secret_namespace: String,
    pub backoff: Backoff,
    /// The dashboard's external URL: release notifications link to the release's page there.
    pub dashboard_url: Option<String>,
}

impl Default for NotifierSettings {
    fn default() -> Self {
        Self {
            secret_namespace: "gitopshq-system".into(),
            backoff: Backoff::default(),
            dashboard_url: None,
        }
    }
}
