//! `gitopshq cluster register|rotate|unregister`: a workload cluster onboarded in one command.
//!
//! `register` acts with the caller's own credentials (any kubeconfig user, exec plugins
//! included) on both clusters: in the workload cluster it applies a namespace, a ServiceAccount,
//! a ClusterRole with only the rights GitOpsHQ needs there (`engine::cluster_access::GRANTS`)
//! and its binding, and has the token controller issue a long-lived token; in the management
//! cluster it stores a kubeconfig with that token (server, CA, token: no exec plugin, nothing the
//! controller's image lacks) and applies the Cluster, then waits until the controller reports it
//! Connected. `rotate` swaps the token with no moment where the stored one is invalid;
//! `unregister` removes all of it, and waits for the tenants on the cluster to go first.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;
use gitopshq_crds::cluster::Cluster;
use gitopshq_crds::consts::{FIELD_MANAGER, annotations, defaults, labels, names};
use gitopshq_crds::project::Project;
use gitopshq_crds::tenant::Tenant;
use gitopshq_engine::cluster_access::{
    self, AccessMode, Endpoint, Record, RegisterProgress, Registration, ResourceName,
};
use gitopshq_engine::outcome::{Attempt, Kind};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use kube::{Api, Client, Config, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::time::Instant;

use crate::kube_client::{Failure, Session, block_on, parse_duration};

/// How long the token controller may take to fill a new token Secret.
const TOKEN_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: ClusterCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Give GitOpsHQ access to a workload cluster: a ServiceAccount there with only the rights
    /// it needs, its token in a kubeconfig Secret and a Cluster in the management cluster;
    /// waits until the Cluster is Connected.
    Register(RegisterArgs),
    /// Replace a registered cluster's token without downtime: a new token, the Secret switched
    /// to it, Connected again, then the old token deleted.
    Rotate(RotateArgs),
    /// Remove a registration from both clusters; refused while tenants use the cluster.
    Unregister(UnregisterArgs),
}

/// Where the two clusters are.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Clusters")]
pub struct Clusters {
    /// Kubeconfig with the contexts of both clusters; default: $KUBECONFIG, then
    /// ~/.kube/config.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Context of the management cluster, where GitOpsHQ runs; default: the kubeconfig's
    /// current context.
    #[arg(long, env = "GITOPSHQ_MANAGEMENT_CONTEXT", value_name = "NAME")]
    pub management_context: Option<String>,
    /// Namespace of the cluster's kubeconfig Secret in the management cluster.
    #[arg(
        short = 'n',
        long,
        env = "GITOPSHQ_SYSTEM_NAMESPACE",
        default_value = "gitopshq-system",
        value_name = "NAMESPACE"
    )]
    pub namespace: String,
    /// How long to wait until the controller reports the Cluster Connected.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    /// Name of the Cluster (tenants name it in spec.cluster).
    pub name: String,
    /// Context of the workload cluster to register.
    #[arg(long, value_name = "NAME")]
    pub context: String,
    /// What GitOpsHQ may do there: `deliver` (read, and write what delivery applies: needed by
    /// Flux and Direct projects and by Argo CD projects with Secrets) or `observe` (read only:
    /// health, drift, logs).
    #[arg(long, value_enum, default_value = "deliver", ignore_case = true)]
    pub mode: Mode,
    /// Environments the cluster serves (comma-separated); default: any.
    #[arg(long, value_delimiter = ',', value_name = "ENV,…")]
    pub environments: Vec<String>,
    /// Label of the Cluster (repeat): region=eu-central-1.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// A kind your charts render beyond the default ones, as RESOURCE.GROUP (repeat):
    /// servicemonitors.monitoring.coreos.com. It gets the rights of the delivered kinds.
    #[arg(long = "resource", value_name = "RESOURCE[.GROUP]", value_parser = parse_resource)]
    pub resources: Vec<ResourceName>,
    /// API server URL the controller reaches the cluster at, when it differs from the
    /// context's (a private endpoint, a kind cluster seen from inside another).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Namespace of GitOpsHQ's ServiceAccount in the workload cluster.
    #[arg(long, default_value = names::ACCESS_NAMESPACE, value_name = "NAMESPACE")]
    pub access_namespace: String,
    #[command(flatten)]
    pub clusters: Clusters,
}

#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// The registered Cluster.
    pub name: String,
    /// Context of its workload cluster.
    #[arg(long, value_name = "NAME")]
    pub context: String,
    #[command(flatten)]
    pub clusters: Clusters,
}

#[derive(Debug, clap::Args)]
pub struct UnregisterArgs {
    /// The registered Cluster.
    pub name: String,
    /// Context of its workload cluster, where the ServiceAccount, its ClusterRole and tokens
    /// are removed.
    #[arg(long, value_name = "NAME", required_unless_present = "management_only")]
    pub context: Option<String>,
    /// Remove only the registration in the management cluster (the workload cluster is gone or
    /// unreachable); what `register` created there stays, its token still valid.
    #[arg(long)]
    pub management_only: bool,
    #[command(flatten)]
    pub clusters: Clusters,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Deliver,
    Observe,
}

impl From<Mode> for AccessMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Deliver => AccessMode::Deliver,
            Mode::Observe => AccessMode::Observe,
        }
    }
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))?;
    let key_ok = !key.is_empty()
        && key.len() <= 253
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    let value_ok = value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !key_ok || !value_ok {
        return Err(format!(
            "{text:?} is not a label: keys and values are letters, digits, '-', '_' and '.' (values at most 63)"
        ));
    }
    Ok((key.to_string(), value.to_string()))
}

fn parse_resource(text: &str) -> Result<ResourceName, String> {
    ResourceName::parse(text).map_err(|e| e.to_string())
}

pub fn run(args: Args) -> Result<ExitCode> {
    block_on(async move {
        match args.command {
            ClusterCommand::Register(args) => register(args).await,
            ClusterCommand::Rotate(args) => rotate(args).await,
            ClusterCommand::Unregister(args) => unregister(args).await,
        }
    })?
}

/// The caller's kubeconfig, with the contexts of both clusters.
struct Contexts {
    kubeconfig: Kubeconfig,
    /// How the file is named in messages.
    source: String,
}

impl Contexts {
    fn load(path: Option<&PathBuf>) -> Result<Self> {
        let invalid = |what: String, e: &dyn std::fmt::Display| {
            Failure::new(
                Kind::Invalid,
                format!("{what}: {e}"),
                Some(
                    "pass the kubeconfig holding both clusters' contexts with --kubeconfig".into(),
                ),
            )
        };
        match path {
            Some(path) => Ok(Self {
                kubeconfig: Kubeconfig::read_from(path).map_err(|e| {
                    invalid(format!("cannot read kubeconfig {}", path.display()), &e)
                })?,
                source: path.display().to_string(),
            }),
            None => Ok(Self {
                kubeconfig: Kubeconfig::read().map_err(|e| {
                    invalid(
                        "cannot read the kubeconfig ($KUBECONFIG or ~/.kube/config)".into(),
                        &e,
                    )
                })?,
                source: std::env::var("KUBECONFIG").unwrap_or_else(|_| "~/.kube/config".into()),
            }),
        }
    }

    /// `context`, which must exist.
    fn context(&self, context: &str, flag: &str) -> Result<&kube::config::Context> {
        self.kubeconfig
            .contexts
            .iter()
            .find(|c| c.name == context)
            .and_then(|c| c.context.as_ref())
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .kubeconfig
                    .contexts
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect();
                Failure::new(
                    Kind::Invalid,
                    format!(
                        "kubeconfig {} has no context {context:?} (it has: {})",
                        self.source,
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                    Some(format!(
                        "pick one with {flag} (kubectl config get-contexts), or pass another kubeconfig with --kubeconfig"
                    )),
                )
                .into()
            })
    }

    /// The management cluster's context: the flag's, else the current one.
    fn management(&self, clusters: &Clusters) -> Result<String> {
        let name = clusters
            .management_context
            .clone()
            .or_else(|| self.kubeconfig.current_context.clone())
            .ok_or_else(|| {
                Failure::new(
                    Kind::Invalid,
                    format!("kubeconfig {} has no current context", self.source),
                    Some("name the management cluster's context with --management-context".into()),
                )
            })?;
        self.context(&name, "--management-context")?;
        Ok(name)
    }

    /// A client acting as the context's user (exec plugins, client certificates, tokens: as
    /// kubectl does).
    async fn connect(&self, context: &str, namespace: &str) -> Result<Session> {
        let options = KubeConfigOptions {
            context: Some(context.to_string()),
            cluster: None,
            user: None,
        };
        let mut config = Config::from_custom_kubeconfig(self.kubeconfig.clone(), &options)
            .await
            .map_err(|e| {
                Failure::new(
                    Kind::Invalid,
                    format!("context {context} of kubeconfig {}: {e}", self.source),
                    Some("fix the context's cluster or user (kubectl --context CONTEXT get ns shows the same error)".into()),
                )
            })?;
        config
            .connect_timeout
            .get_or_insert(Duration::from_secs(10));
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(|e| {
            Failure::new(
                Kind::Runtime,
                format!("cannot build a client for context {context} ({server}): {e}"),
                Some("check the context's cluster and credentials".into()),
            )
        })?;
        Ok(Session {
            client,
            namespace: namespace.to_string(),
            server,
        })
    }

    /// Where the controller is to reach the context's cluster: its server and CA as this
    /// kubeconfig has them, the server replaced by `server` when given.
    fn endpoint(&self, context: &str, server: Option<&str>) -> Result<Endpoint> {
        let cluster_name = &self.context(context, "--context")?.cluster;
        let cluster = self
            .kubeconfig
            .clusters
            .iter()
            .find(|c| &c.name == cluster_name)
            .and_then(|c| c.cluster.as_ref())
            .ok_or_else(|| {
                Failure::new(
                    Kind::Invalid,
                    format!(
                        "context {context} names cluster {cluster_name:?}, which kubeconfig {} does not hold",
                        self.source
                    ),
                    Some("fix the kubeconfig (kubectl config view)".into()),
                )
            })?;
        let ca_file = match (
            &cluster.certificate_authority_data,
            &cluster.certificate_authority,
        ) {
            (None, Some(path)) => Some(std::fs::read(path).map_err(|e| {
                Failure::new(
                    Kind::Invalid,
                    format!(
                        "cannot read certificate-authority {path} of cluster {cluster_name}: {e}"
                    ),
                    None,
                )
            })?),
            _ => None,
        };
        let mut endpoint =
            Endpoint::from_cluster(cluster, ca_file.as_deref()).ok_or_else(|| {
                Failure::new(
                    Kind::Invalid,
                    format!("cluster {cluster_name} of context {context} has no server"),
                    Some("fix the kubeconfig, or pass --server URL".into()),
                )
            })?;
        if let Some(server) = server {
            endpoint.server = server.to_string();
        }
        Ok(endpoint)
    }
}

fn attempt(verb: &str, resource: &str, namespace: Option<&str>, object: String) -> Attempt {
    Attempt::new(verb, resource, namespace).on(object)
}

/// Server-side apply with GitOpsHQ's field manager.
async fn apply<K>(session: &Session, api: &Api<K>, object: &K, what: Attempt) -> Result<K>
where
    K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    tracing::debug!(object = ?what.object, server = %session.server, "server-side apply");
    session
        .call(
            what,
            api.patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(object),
            ),
        )
        .await
}

/// Deletes `name`; `true` when it existed.
async fn delete<K>(session: &Session, api: &Api<K>, name: &str, what: Attempt) -> Result<bool>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    tracing::debug!(object = ?what.object, server = %session.server, "delete");
    Ok(session
        .get_opt(what, api.delete(name, &DeleteParams::background()))
        .await?
        .is_some())
}

/// Deletes `kind namespace/name` (`resource` as RBAC names it), noting it in `removed` when it
/// existed.
async fn remove<K>(
    session: &Session,
    api: &Api<K>,
    resource: &str,
    namespace: Option<&str>,
    name: &str,
    removed: &mut Vec<String>,
) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    let object = match namespace {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    };
    let what = attempt("delete", resource, namespace, object.clone());
    if delete(session, api, name, what).await? {
        removed.push(object);
    }
    Ok(())
}

fn token_of(secret: &Secret) -> Option<String> {
    secret
        .data
        .as_ref()?
        .get("token")
        .map(|t| String::from_utf8_lossy(&t.0).into_owned())
        .filter(|t| !t.is_empty())
}

/// The token Secrets of a registration's ServiceAccount, newest first.
async fn token_secrets(target: &Session, registration: &Registration) -> Result<Vec<Secret>> {
    let api: Api<Secret> = Api::namespaced(target.client.clone(), &registration.access_namespace);
    let list = target
        .call(
            Attempt::new("list", "secrets", Some(&registration.access_namespace)).on(format!(
                "token Secrets of ServiceAccount {}",
                registration.service_account()
            )),
            api.list(&ListParams::default().labels(&registration.selector())),
        )
        .await?;
    let mut secrets: Vec<Secret> = list
        .items
        .into_iter()
        .filter(|s| s.type_.as_deref() == Some(cluster_access::TOKEN_SECRET_TYPE))
        .filter(|s| {
            s.annotations()
                .get(cluster_access::TOKEN_SECRET_SERVICE_ACCOUNT)
                == Some(&registration.service_account())
        })
        .collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.creation_timestamp()));
    Ok(secrets)
}

/// A new token Secret, once the token controller filled it: `(name, token)`.
async fn new_token(
    target: &Session,
    registration: &Registration,
    context: &str,
) -> Result<(String, String)> {
    let ns = registration.access_namespace.as_str();
    let api: Api<Secret> = Api::namespaced(target.client.clone(), ns);
    let created = target
        .call(
            Attempt::new("create", "secrets", Some(ns)).on(format!(
                "token Secret of ServiceAccount {ns}/{}",
                registration.service_account()
            )),
            api.create(&PostParams::default(), &registration.token_secret()),
        )
        .await?;
    let name = created.name_any();
    let deadline = Instant::now() + TOKEN_WAIT;
    loop {
        let secret = target
            .get_opt(
                attempt("get", "secrets", Some(ns), format!("Secret {ns}/{name}")),
                api.get(&name),
            )
            .await?;
        if let Some(token) = secret.as_ref().and_then(token_of) {
            return Ok((name, token));
        }
        if Instant::now() >= deadline {
            return Err(Failure::new(
                Kind::Runtime,
                format!(
                    "token Secret {ns}/{name} of ServiceAccount {} was not filled within {}s: the token controller of context {context} (kube-controller-manager with --service-account-private-key-file) issued no token{}",
                    registration.service_account(),
                    TOKEN_WAIT.as_secs(),
                    if secret.is_none() { "; it deleted the Secret" } else { "" }
                ),
                Some("check kube-controller-manager of that cluster; GitOpsHQ stores only a bearer token, never your exec plugin or certificate, so the cluster must issue one".into()),
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Checks that GitOpsHQ is installed in the management cluster and the Secret's namespace
/// exists, before anything is written anywhere.
async fn check_management(management: &Session, context: &str, namespace: &str) -> Result<()> {
    let clusters: Api<Cluster> = Api::all(management.client.clone());
    match tokio::time::timeout(
        crate::kube_client::REQUEST_TIMEOUT,
        clusters.list(&ListParams::default().limit(1)),
    )
    .await
    {
        Ok(Err(kube::Error::Api(status))) if status.code == 404 => {
            return Err(Failure::new(
                Kind::NotFound,
                format!("the management cluster (context {context}) does not serve clusters.gitopshq.io: GitOpsHQ is not installed there"),
                Some("install it (helm install gitopshq charts/gitopshq -n gitopshq-system --create-namespace), or name the management cluster with --management-context".into()),
            )
            .into());
        }
        Ok(Err(error)) => {
            return Err(management
                .failure(
                    &error,
                    &Attempt::new("list", crate::kube_client::resources::CLUSTERS, None),
                )
                .into());
        }
        Err(_) => {
            return Err(Failure::new(
                Kind::Runtime,
                format!(
                    "the management cluster at {} did not answer",
                    management.server
                ),
                Some("retry; check the network path and --management-context".into()),
            )
            .into());
        }
        Ok(Ok(_)) => {}
    }
    let namespaces: Api<Namespace> = Api::all(management.client.clone());
    let found = management
        .get_opt(
            attempt("get", "namespaces", None, format!("namespace {namespace}")),
            namespaces.get(namespace),
        )
        .await?;
    if found.is_none() {
        return Err(Failure::new(
            Kind::NotFound,
            format!("namespace {namespace} does not exist in the management cluster (context {context})"),
            Some("install GitOpsHQ there (its chart creates gitopshq-system), or pass --namespace with the namespace your Cluster Secrets live in".into()),
        )
        .into());
    }
    Ok(())
}

/// The Tenants of every project.
async fn all_tenants(management: &Session) -> Result<Vec<Tenant>> {
    let api: Api<Tenant> = Api::all(management.client.clone());
    Ok(management
        .call(
            Attempt::new("list", crate::kube_client::resources::TENANTS, None),
            api.list(&ListParams::default()),
        )
        .await?
        .items)
}

/// Writes the kubeconfig Secret; returns the time the API server recorded for the write.
async fn write_secret(management: &Session, secret: &Secret) -> Result<jiff::Timestamp> {
    let ns = secret.namespace().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(management.client.clone(), &ns);
    let written = apply(
        management,
        &api,
        secret,
        attempt(
            "patch",
            "secrets",
            Some(&ns),
            format!("Secret {ns}/{}", secret.name_any()),
        ),
    )
    .await?;
    Ok(written
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|f| f.manager.as_deref() == Some(FIELD_MANAGER))
        .filter_map(|f| f.time.as_ref().map(|t| t.0))
        .max()
        .unwrap_or_else(jiff::Timestamp::now))
}

/// Marks the Cluster's credentials as changed, so that the controller probes it with them at
/// once, after the second of `written` (heartbeats are whole seconds: one in that second may
/// have read the Secret before the write).
async fn nudge(management: &Session, cluster: &str, written: jiff::Timestamp) -> Result<()> {
    let next_second = jiff::Timestamp::from_second(written.as_second() + 1).unwrap_or(written);
    let wait = next_second.duration_since(jiff::Timestamp::now());
    if wait.is_positive() {
        tokio::time::sleep(
            Duration::try_from(wait).unwrap_or_default() + Duration::from_millis(50),
        )
        .await;
    }
    let api: Api<Cluster> = Api::all(management.client.clone());
    let patch = json!({"metadata": {"annotations": {
        annotations::CREDENTIALS_UPDATED_AT: jiff::Timestamp::now().to_string(),
    }}});
    management
        .call(
            attempt(
                "patch",
                crate::kube_client::resources::CLUSTERS,
                None,
                format!("cluster {cluster}"),
            ),
            api.patch(cluster, &PatchParams::default(), &Patch::Merge(&patch)),
        )
        .await?;
    Ok(())
}

/// Waits until the controller reports `cluster` Connected from a heartbeat after `written`;
/// returns its server version.
async fn wait_connected(
    management: &Session,
    cluster: &str,
    written: jiff::Timestamp,
    timeout: Duration,
    target_context: &str,
) -> Result<String> {
    let api: Api<Cluster> = Api::all(management.client.clone());
    let deadline = Instant::now() + timeout;
    let mut last_message: Option<String> = None;
    loop {
        let mut stream = watcher::watch_object(api.clone(), cluster).boxed();
        loop {
            let next = match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => {
                    let said = last_message
                        .clone()
                        .unwrap_or_else(|| "the controller has not reported on it (is gitopshq controller running against this management cluster?)".into());
                    return Err(Failure::new(
                        Kind::Runtime,
                        format!("cluster {cluster} is not Connected with its new credentials after {}s: {said}", timeout.as_secs()),
                        Some(format!(
                            "kubectl describe cluster {cluster}; if the controller reaches the API server at another address than context {target_context} does, run register again with --server URL; wait longer with --timeout"
                        )),
                    )
                    .into());
                }
                Ok(None) => break,
                Ok(Some(next)) => next,
            };
            match next {
                Ok(Some(object)) => match cluster_access::register_progress(&object, written) {
                    RegisterProgress::Connected { server_version } => return Ok(server_version),
                    RegisterProgress::Trouble { phase, message } => {
                        if last_message.as_ref() != Some(&message) {
                            eprintln!("cluster {cluster}: {phase}: {message}");
                            last_message = Some(message);
                        }
                    }
                    RegisterProgress::Waiting => {}
                },
                Ok(None) => {
                    return Err(Failure::new(
                        Kind::NotFound,
                        format!("cluster {cluster} was deleted while waiting for it"),
                        None,
                    )
                    .into());
                }
                Err(error) => {
                    tracing::debug!(%error, "watch of the Cluster interrupted; watching again");
                    break;
                }
            }
        }
        if tokio::time::timeout_at(deadline, tokio::time::sleep(Duration::from_secs(1)))
            .await
            .is_err()
        {
            continue;
        }
    }
}

/// Points the controller's copies of the Cluster's kubeconfig (next to Flux's Kustomizations)
/// at the new one, so that Flux never holds a deleted token. The controller rewrites them
/// with the same content on its next pass.
async fn refresh_copies(
    management: &Session,
    cluster: &str,
    kubeconfig: &str,
) -> Result<Vec<String>> {
    let api: Api<Secret> = Api::all(management.client.clone());
    let copies = management
        .call(
            Attempt::new("list", "secrets", None)
                .on(format!("copies of cluster {cluster}'s kubeconfig")),
            api.list(&ListParams::default().labels(&cluster_access::copies_selector(cluster))),
        )
        .await?;
    let encoded = k8s_openapi::ByteString(kubeconfig.as_bytes().to_vec());
    let mut refreshed = Vec::new();
    for copy in copies.items {
        let ns = copy.namespace().unwrap_or_default();
        let name = copy.name_any();
        let patch = json!({"data": {gitopshq_engine::layout::FLUX_KUBECONFIG_KEY: encoded}});
        management
            .call(
                attempt("patch", "secrets", Some(&ns), format!("Secret {ns}/{name}")),
                Api::<Secret>::namespaced(management.client.clone(), &ns).patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                ),
            )
            .await?;
        refreshed.push(format!("{ns}/{name}"));
    }
    Ok(refreshed)
}

async fn register(args: RegisterArgs) -> Result<ExitCode> {
    let name = args.name.as_str();
    cluster_access::validate_cluster_name(name)
        .map_err(|e| Failure::new(Kind::Invalid, e.to_string(), None))?;
    let contexts = Contexts::load(args.clusters.kubeconfig.as_ref())?;
    let management_context = contexts.management(&args.clusters)?;
    let endpoint = contexts.endpoint(&args.context, args.server.as_deref())?;
    if endpoint.insecure_skip_tls_verify {
        eprintln!(
            "warning: context {} skips TLS verification; the stored kubeconfig does too (register again with a kubeconfig holding the cluster's CA)",
            args.context
        );
    }
    let ns = args.clusters.namespace.as_str();
    let target = contexts
        .connect(&args.context, &args.access_namespace)
        .await?;
    let management = contexts.connect(&management_context, ns).await?;
    let mode = AccessMode::from(args.mode);

    // Everything that can refuse is asked before anything is written.
    check_management(&management, &management_context, ns).await?;
    if mode == AccessMode::Observe {
        let projects: Api<Project> = Api::all(management.client.clone());
        let projects = management
            .call(
                Attempt::new("list", crate::kube_client::resources::PROJECTS, None),
                projects.list(&ListParams::default()),
            )
            .await?
            .items;
        let writing =
            cluster_access::needs_deliver(name, &all_tenants(&management).await?, &projects);
        if !writing.is_empty() {
            return Err(Failure::new(
                Kind::Invalid,
                format!(
                    "cluster {name} serves tenants whose project delivers through its kubeconfig: {}; observe mode grants no writes, so their deliveries would be refused",
                    writing.join(", ")
                ),
                Some(format!("register it with --mode deliver: gitopshq cluster register {name} --context {} --mode deliver", args.context)),
            )
            .into());
        }
    }

    let registration = Registration {
        cluster: name.to_string(),
        mode,
        access_namespace: args.access_namespace.clone(),
        extra: args.resources.clone(),
    };
    let access_ns = registration.access_namespace.as_str();
    let sa = registration.service_account();
    let role = registration.cluster_role_name();
    eprintln!(
        "workload cluster (context {}): namespace {access_ns}, ServiceAccount {sa}, ClusterRole and ClusterRoleBinding {role} ({mode} mode)",
        args.context
    );
    let c = target.client.clone();
    apply(
        &target,
        &Api::<Namespace>::all(c.clone()),
        &registration.namespace(),
        attempt(
            "patch",
            "namespaces",
            None,
            format!("namespace {access_ns}"),
        ),
    )
    .await?;
    apply(
        &target,
        &Api::<ServiceAccount>::namespaced(c.clone(), access_ns),
        &registration.service_account_object(),
        attempt(
            "patch",
            "serviceaccounts",
            Some(access_ns),
            format!("ServiceAccount {access_ns}/{sa}"),
        ),
    )
    .await?;
    apply(
        &target,
        &Api::<ClusterRole>::all(c.clone()),
        &registration.cluster_role(),
        attempt(
            "patch",
            "clusterroles.rbac.authorization.k8s.io",
            None,
            format!("ClusterRole {role}"),
        ),
    )
    .await?;
    apply(
        &target,
        &Api::<ClusterRoleBinding>::all(c.clone()),
        &registration.cluster_role_binding(),
        attempt(
            "patch",
            "clusterrolebindings.rbac.authorization.k8s.io",
            None,
            format!("ClusterRoleBinding {role}"),
        ),
    )
    .await?;
    // A token issued by an earlier registration stays valid: registering again (another
    // mode, more kinds) does not change the stored credentials.
    let existing = token_secrets(&target, &registration)
        .await?
        .into_iter()
        .find_map(|s| token_of(&s).map(|t| (s.name_any(), t)));
    let (token_secret, token) = match existing {
        Some(found) => found,
        None => new_token(&target, &registration, &args.context).await?,
    };

    let kubeconfig = cluster_access::token_kubeconfig(name, &endpoint, &sa, &token);
    let record = Record {
        access_namespace: access_ns.to_string(),
        service_account: sa.clone(),
        token_secret: token_secret.clone(),
        mode,
    };
    let secret = cluster_access::kubeconfig_secret(name, ns, &kubeconfig, &record);
    let secret_name = secret.name_any();
    eprintln!(
        "management cluster (context {management_context}): Secret {ns}/{secret_name} (token of {access_ns}/{token_secret}), Cluster {name}"
    );
    let written = write_secret(&management, &secret).await?;
    let labels: BTreeMap<String, String> = args.labels.iter().cloned().collect();
    let object = cluster_access::cluster_object(name, ns, &args.environments, &labels);
    apply(
        &management,
        &Api::<Cluster>::all(management.client.clone()),
        &object,
        attempt(
            "patch",
            crate::kube_client::resources::CLUSTERS,
            None,
            format!("cluster {name}"),
        ),
    )
    .await?;
    nudge(&management, name, written).await?;
    let version = wait_connected(
        &management,
        name,
        written,
        args.clusters.timeout,
        &args.context,
    )
    .await?;

    println!("cluster {name} is Connected (Kubernetes {version}), {mode} mode");
    println!(
        "  in the workload cluster (context {}): ServiceAccount {access_ns}/{sa} with ClusterRole {role}, token Secret {access_ns}/{token_secret}",
        args.context
    );
    println!(
        "  in the management cluster (context {management_context}): Secret {ns}/{secret_name}, Cluster {name}"
    );
    println!(
        "its rights: kubectl --context {} auth can-i --list --as={}",
        args.context,
        registration.username()
    );
    let environment = args
        .environments
        .first()
        .map(String::as_str)
        .unwrap_or("ENVIRONMENT");
    println!(
        "next: put a tenant on it (in a project's namespace), then release to it:\n  kubectl apply -f - <<EOF\n  apiVersion: gitopshq.io/v1alpha1\n  kind: Tenant\n  metadata: {{name: {name}-{environment}, namespace: PROJECT}}\n  spec: {{environment: {environment}, cluster: {name}, namespace: NAMESPACE}}\n  EOF"
    );
    Ok(ExitCode::SUCCESS)
}

/// The kubeconfig Secret `register` wrote for `cluster`, and its record.
async fn registered_secret(
    management: &Session,
    cluster: &str,
    ns: &str,
    context: &str,
) -> Result<(Secret, Record)> {
    let name = cluster_access::kubeconfig_secret_name(cluster);
    let api: Api<Secret> = Api::namespaced(management.client.clone(), ns);
    let secret = management
        .get_opt(attempt("get", "secrets", Some(ns), format!("Secret {ns}/{name}")), api.get(&name))
        .await?
        .ok_or_else(|| {
            Failure::new(
                Kind::NotFound,
                format!("cluster {cluster} has no kubeconfig Secret {ns}/{name}"),
                Some(format!("register it: gitopshq cluster register {cluster} --context {context} (or pass --namespace where its Secret is)")),
            )
        })?;
    let record = Record::of(&secret).ok_or_else(|| {
        Failure::new(
            Kind::Invalid,
            format!(
                "Secret {ns}/{name} was not written by gitopshq cluster register (it has no {} annotation), so its credentials are not a token this command can replace",
                annotations::SERVICE_ACCOUNT
            ),
            Some(format!("register the cluster, which replaces the Secret: gitopshq cluster register {cluster} --context {context}")),
        )
    })?;
    Ok((secret, record))
}

async fn rotate(args: RotateArgs) -> Result<ExitCode> {
    let name = args.name.as_str();
    let ns = args.clusters.namespace.as_str();
    let contexts = Contexts::load(args.clusters.kubeconfig.as_ref())?;
    let management_context = contexts.management(&args.clusters)?;
    let management = contexts.connect(&management_context, ns).await?;
    let (secret, record) = registered_secret(&management, name, ns, &args.context).await?;
    let stored_text = secret
        .data
        .as_ref()
        .and_then(|d| d.get(defaults::KUBECONFIG_KEY))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .unwrap_or_default();
    let stored = cluster_access::read_stored(
        &format!("in Secret {ns}/{}", secret.name_any()),
        &stored_text,
    )
    .map_err(|e| {
        Failure::new(
            Kind::Invalid,
            e.to_string(),
            Some(format!(
                "register the cluster again: gitopshq cluster register {name} --context {}",
                args.context
            )),
        )
    })?;
    let registration = Registration {
        cluster: name.to_string(),
        mode: record.mode,
        access_namespace: record.access_namespace.clone(),
        extra: Vec::new(),
    };
    let access_ns = registration.access_namespace.as_str();
    let sa = registration.service_account();
    let target = contexts.connect(&args.context, access_ns).await?;
    let accounts: Api<ServiceAccount> = Api::namespaced(target.client.clone(), access_ns);
    if target
        .get_opt(
            attempt(
                "get",
                "serviceaccounts",
                Some(access_ns),
                format!("ServiceAccount {access_ns}/{sa}"),
            ),
            accounts.get(&sa),
        )
        .await?
        .is_none()
    {
        return Err(Failure::new(
            Kind::NotFound,
            format!("ServiceAccount {access_ns}/{sa} does not exist in context {}: is it the cluster registered as {name}?", args.context),
            Some(format!("pass the context of cluster {name}, or register it again: gitopshq cluster register {name} --context CONTEXT")),
        )
        .into());
    }
    let old: Vec<String> = token_secrets(&target, &registration)
        .await?
        .iter()
        .map(|s| s.name_any())
        .collect();

    let (token_secret, token) = new_token(&target, &registration, &args.context).await?;
    eprintln!(
        "new token Secret {access_ns}/{token_secret}; switching Secret {ns}/{} to it",
        secret.name_any()
    );
    let kubeconfig = cluster_access::token_kubeconfig(name, &stored.endpoint, &sa, &token);
    let record = Record {
        token_secret: token_secret.clone(),
        ..record
    };
    let written = write_secret(
        &management,
        &cluster_access::kubeconfig_secret(name, ns, &kubeconfig, &record),
    )
    .await?;
    nudge(&management, name, written).await?;
    let kept = || {
        format!(
            "the old token Secret(s) {} are kept, so nothing still using them breaks; run rotate again once it is",
            old.iter()
                .map(|o| format!("{access_ns}/{o}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let version = match wait_connected(
        &management,
        name,
        written,
        args.clusters.timeout,
        &args.context,
    )
    .await
    {
        Ok(version) => version,
        Err(error) => {
            let Some(Failure(failure)) = error.downcast_ref::<Failure>().cloned() else {
                return Err(error);
            };
            return Err(Failure::new(
                failure.kind,
                format!("{}; {}", failure.message, kept()),
                failure.next_step,
            )
            .into());
        }
    };
    let copies = refresh_copies(&management, name, &kubeconfig).await?;

    let api: Api<Secret> = Api::namespaced(target.client.clone(), access_ns);
    let mut deleted = Vec::new();
    for old in old.iter().filter(|o| **o != token_secret) {
        remove(&target, &api, "secrets", Some(access_ns), old, &mut deleted).await?;
    }
    println!(
        "cluster {name} is Connected with the new token (Kubernetes {version}): Secret {access_ns}/{token_secret}"
    );
    if !copies.is_empty() {
        println!(
            "  refreshed the controller's copies of its kubeconfig: {}",
            copies.join(", ")
        );
    }
    if deleted.is_empty() {
        println!("  no old token Secret to delete");
    } else {
        println!(
            "  deleted the old token(s), which stop authenticating within seconds: {}",
            deleted.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Removes what `register` created in the workload cluster: the binding, the role, the token
/// Secrets and the ServiceAccount, and the namespace when `register` created it and no other
/// registration's ServiceAccount is left in it. Returns what was there.
async fn remove_access(target: &Session, registration: &Registration) -> Result<Vec<String>> {
    let ns = registration.access_namespace.as_str();
    let role = registration.cluster_role_name();
    let c = target.client.clone();
    let mut removed = Vec::new();
    let bindings = Api::<ClusterRoleBinding>::all(c.clone());
    let resource = "clusterrolebindings.rbac.authorization.k8s.io";
    remove(target, &bindings, resource, None, &role, &mut removed).await?;
    let roles = Api::<ClusterRole>::all(c.clone());
    let resource = "clusterroles.rbac.authorization.k8s.io";
    remove(target, &roles, resource, None, &role, &mut removed).await?;
    let secrets: Api<Secret> = Api::namespaced(c.clone(), ns);
    for token in token_secrets(target, registration).await? {
        remove(
            target,
            &secrets,
            "secrets",
            Some(ns),
            &token.name_any(),
            &mut removed,
        )
        .await?;
    }
    let accounts: Api<ServiceAccount> = Api::namespaced(c.clone(), ns);
    let sa = registration.service_account();
    remove(
        target,
        &accounts,
        "serviceaccounts",
        Some(ns),
        &sa,
        &mut removed,
    )
    .await?;

    let namespaces: Api<Namespace> = Api::all(c);
    let namespace = target
        .get_opt(
            attempt("get", "namespaces", None, format!("namespace {ns}")),
            namespaces.get(ns),
        )
        .await?;
    let managed = |labels: &BTreeMap<String, String>| {
        labels.get(labels::K8S_MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE)
    };
    if !namespace.as_ref().is_some_and(|n| managed(n.labels())) {
        return Ok(removed);
    }
    let selector = format!("{}={}", labels::K8S_MANAGED_BY, labels::MANAGED_BY_VALUE);
    let others: Vec<String> = target
        .call(
            Attempt::new("list", "serviceaccounts", Some(ns)),
            accounts.list(&ListParams::default().labels(&selector)),
        )
        .await?
        .items
        .iter()
        .map(|a| a.name_any())
        .filter(|a| *a != sa)
        .collect();
    if others.is_empty() {
        remove(target, &namespaces, "namespaces", None, ns, &mut removed).await?;
    } else {
        eprintln!(
            "namespace {ns} stays: it holds the ServiceAccounts of other registrations ({})",
            others.join(", ")
        );
    }
    Ok(removed)
}

async fn unregister(args: UnregisterArgs) -> Result<ExitCode> {
    let name = args.name.as_str();
    let ns = args.clusters.namespace.as_str();
    let contexts = Contexts::load(args.clusters.kubeconfig.as_ref())?;
    let management_context = contexts.management(&args.clusters)?;
    let management = contexts.connect(&management_context, ns).await?;

    let tenants = cluster_access::tenants_on(name, &all_tenants(&management).await?);
    if let Some((message, next)) = cluster_access::unregister_refusal(name, &tenants) {
        return Err(Failure::new(Kind::Gated, message, Some(next)).into());
    }

    let clusters: Api<Cluster> = Api::all(management.client.clone());
    let cluster = management
        .get_opt(
            attempt(
                "get",
                crate::kube_client::resources::CLUSTERS,
                None,
                format!("cluster {name}"),
            ),
            clusters.get(name),
        )
        .await?;
    let (secret_ns, secret_name) = cluster
        .as_ref()
        .map(|c| {
            let r = &c.spec.kubeconfig_secret_ref;
            (r.namespace.clone(), r.name.clone())
        })
        .unwrap_or_else(|| (ns.to_string(), cluster_access::kubeconfig_secret_name(name)));
    let secrets: Api<Secret> = Api::namespaced(management.client.clone(), &secret_ns);
    let secret = management
        .get_opt(
            attempt(
                "get",
                "secrets",
                Some(&secret_ns),
                format!("Secret {secret_ns}/{secret_name}"),
            ),
            secrets.get(&secret_name),
        )
        .await?;
    let record = secret.as_ref().and_then(Record::of);

    // The workload cluster first: if it cannot be reached, the registration stays whole and
    // the command can run again (or with --management-only).
    let mut removed = Vec::new();
    if let Some(context) = args.context.as_deref().filter(|_| !args.management_only) {
        let registration = Registration {
            cluster: name.to_string(),
            mode: record.as_ref().map_or(AccessMode::Deliver, |r| r.mode),
            access_namespace: record.as_ref().map_or_else(
                || names::ACCESS_NAMESPACE.to_string(),
                |r| r.access_namespace.clone(),
            ),
            extra: Vec::new(),
        };
        let target = contexts
            .connect(context, &registration.access_namespace)
            .await?;
        removed = remove_access(&target, &registration).await?;
        if !removed.is_empty() {
            println!(
                "removed from the workload cluster (context {context}): {}",
                removed.join(", ")
            );
        }
    }

    let mut management_removed = Vec::new();
    let c = management.client.clone();
    if cluster.is_some() {
        let resource = crate::kube_client::resources::CLUSTERS;
        remove(
            &management,
            &clusters,
            resource,
            None,
            name,
            &mut management_removed,
        )
        .await?;
    }
    if secret.is_some() {
        let at = Some(secret_ns.as_str());
        remove(
            &management,
            &secrets,
            "secrets",
            at,
            &secret_name,
            &mut management_removed,
        )
        .await?;
    }
    let copies = management
        .call(
            Attempt::new("list", "secrets", None)
                .on(format!("copies of cluster {name}'s kubeconfig")),
            Api::<Secret>::all(c.clone())
                .list(&ListParams::default().labels(&cluster_access::copies_selector(name))),
        )
        .await?;
    for copy in copies.items {
        let copy_ns = copy.namespace().unwrap_or_default();
        let api = Api::<Secret>::namespaced(c.clone(), &copy_ns);
        let at = Some(copy_ns.as_str());
        remove(
            &management,
            &api,
            "secrets",
            at,
            &copy.name_any(),
            &mut management_removed,
        )
        .await?;
    }
    if !management_removed.is_empty() {
        println!(
            "removed from the management cluster (context {management_context}): {}",
            management_removed.join(", ")
        );
    }
    if removed.is_empty() && management_removed.is_empty() {
        return Err(Failure::new(
            Kind::NotFound,
            format!("cluster {name} is not registered: no Cluster {name}, no Secret {secret_ns}/{secret_name}, nothing of it in the workload cluster"),
            Some("kubectl get clusters lists the registered ones".into()),
        )
        .into());
    }
    if args.management_only && record.is_some() {
        println!(
            "the workload cluster keeps ServiceAccount {}/{} and its token: run gitopshq cluster unregister {name} --context CONTEXT there to remove them",
            record
                .as_ref()
                .map(|r| r.access_namespace.as_str())
                .unwrap_or_default(),
            record
                .as_ref()
                .map(|r| r.service_account.as_str())
                .unwrap_or_default(),
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: ClusterCommand,
    }

    #[test]
    fn register_flags_parse() {
        let cli = Cli::try_parse_from([
            "cluster",
            "register",
            "eu-central-1",
            "--context",
            "workload",
            "--mode",
            "observe",
            "--environments",
            "development,staging",
            "--label",
            "region=eu-central-1",
            "--resource",
            "servicemonitors.monitoring.coreos.com",
        ])
        .unwrap();
        let ClusterCommand::Register(args) = cli.command else {
            panic!("register");
        };
        assert_eq!(args.mode, Mode::Observe);
        assert_eq!(args.environments, ["development", "staging"]);
        assert_eq!(
            args.labels,
            [("region".to_string(), "eu-central-1".to_string())]
        );
        assert_eq!(args.resources[0].group, "monitoring.coreos.com");
        assert_eq!(args.clusters.namespace, "gitopshq-system");
        assert_eq!(args.clusters.timeout, Duration::from_secs(60));
        assert_eq!(args.access_namespace, "gitopshq-access");
    }

    #[test]
    fn unregister_needs_a_context_unless_management_only() {
        assert!(Cli::try_parse_from(["cluster", "unregister", "eu"]).is_err());
        assert!(Cli::try_parse_from(["cluster", "unregister", "eu", "--management-only"]).is_ok());
    }

    #[test]
    fn labels_are_checked() {
        assert_eq!(
            parse_label("tier=canary"),
            Ok(("tier".into(), "canary".into()))
        );
        assert_eq!(parse_label("empty="), Ok(("empty".into(), String::new())));
        assert!(parse_label("noequals").is_err());
        assert!(parse_label("=x").is_err());
        assert!(parse_label("a=b c").is_err());
        assert!(parse_resource("*").is_err());
    }
}
