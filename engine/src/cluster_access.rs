//! How the management cluster reaches a workload cluster registered with
//! `gitopshq cluster register`: the objects it creates there (a namespace, a ServiceAccount, a
//! ClusterRole with only the rights GitOpsHQ needs, its binding and a long-lived token Secret),
//! the kubeconfig it stores in the management cluster (server, CA and that token; never an exec
//! plugin) and the Cluster pointing at it; and when `unregister` or a mode must be refused.
//!
//! The rights depend on who writes through the stored kubeconfig:
//!
//! - **observe**: GitOpsHQ only reads (health, drift, logs). For clusters where something holding
//!   its own credentials delivers, such as Argo CD with its own cluster Secret, and no Secret is
//!   rendered (Argo CD projects get their Secrets applied by GitOpsHQ).
//! - **deliver**: also writes the delivered kinds, Secrets and tenant namespaces. Needed by
//!   `delivery: Direct` (the controller applies), `delivery: Flux` (Flux runs in the management
//!   cluster and its Kustomizations apply through this same kubeconfig) and Argo CD projects that
//!   render Secrets.
//!
//! [`GRANTS`] is the one table of those rights: the ClusterRole is built from it and the README
//! prints it (a test keeps the two equal).

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use gitopshq_crds::cluster::{Cluster, ClusterPhase, ClusterSpec, KubeconfigSecretRef};
use gitopshq_crds::consts::{annotations, defaults, labels, names};
use gitopshq_crds::project::{DeliveryMode, Project};
use gitopshq_crds::tenant::Tenant;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use serde_json::json;

/// The type of a Secret the token controller fills with a ServiceAccount's token.
pub const TOKEN_SECRET_TYPE: &str = "kubernetes.io/service-account-token";
/// The annotation naming the ServiceAccount of such a Secret.
pub const TOKEN_SECRET_SERVICE_ACCOUNT: &str = "kubernetes.io/service-account.name";
/// The standard annotation a person reads to learn what an object is for.
pub const DESCRIPTION: &str = "kubernetes.io/description";

/// Who writes through the stored kubeconfig, and so which rights it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccessMode {
    /// Read only: health, drift, logs.
    Observe,
    /// Read, and write what delivery applies (Direct, Flux through this kubeconfig, the Secrets
    /// of Argo CD projects).
    Deliver,
}

impl AccessMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessMode::Observe => "observe",
            AccessMode::Deliver => "deliver",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "observe" => Some(AccessMode::Observe),
            "deliver" => Some(AccessMode::Deliver),
            _ => None,
        }
    }
}

impl std::fmt::Display for AccessMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the rights table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// `(API group, plural resource)`; `""` is the core group.
    pub resources: &'static [(&'static str, &'static str)],
    pub verbs: &'static [&'static str],
    /// `None`: every mode; `Some(mode)`: only that one.
    pub only: Option<AccessMode>,
    /// Why GitOpsHQ needs it.
    pub why: &'static str,
}

const READ: &[&str] = &["get", "list", "watch"];
/// Server-side apply is `patch` (and `create` when the object is new); prune is `delete`.
const WRITE: &[&str] = &["create", "patch", "delete"];

/// The kinds charts render into tenants, which GitOpsHQ delivers and compares for drift.
/// `--resource` adds more with the same rights.
pub const DELIVERED: &[(&str, &str)] = &[
    ("", "configmaps"),
    ("", "persistentvolumeclaims"),
    ("", "serviceaccounts"),
    ("", "services"),
    ("apps", "daemonsets"),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("batch", "cronjobs"),
    ("batch", "jobs"),
    ("autoscaling", "horizontalpodautoscalers"),
    ("policy", "poddisruptionbudgets"),
    ("networking.k8s.io", "ingresses"),
    ("networking.k8s.io", "networkpolicies"),
];

/// The rights of a registered cluster's ServiceAccount.
pub const GRANTS: &[Grant] = &[
    Grant {
        resources: &[("", "pods")],
        verbs: READ,
        only: None,
        why: "health: pods' readiness, CrashLoopBackOff and ImagePullBackOff; the pods `gitopshq logs` reads",
    },
    Grant {
        resources: &[("", "pods/log")],
        verbs: &["get"],
        only: None,
        why: "`gitopshq logs` and the dashboard read container logs",
    },
    Grant {
        resources: &[("apps", "replicasets")],
        verbs: READ,
        only: None,
        why: "a Deployment's rollout: the ReplicaSets that own its pods",
    },
    Grant {
        resources: &[("", "events"), ("events.k8s.io", "events")],
        verbs: READ,
        only: None,
        why: "why a pod is not Ready (scheduling, image pulls, probes)",
    },
    Grant {
        resources: &[("", "namespaces")],
        verbs: READ,
        only: None,
        why: "tenants' namespaces exist",
    },
    Grant {
        resources: DELIVERED,
        verbs: READ,
        only: None,
        why: "drift compares every delivered object with the live one; health reads the rollout of Deployments, StatefulSets and DaemonSets",
    },
    Grant {
        resources: DELIVERED,
        verbs: WRITE,
        only: Some(AccessMode::Deliver),
        why: "Direct delivery and Flux (in the management cluster, through this kubeconfig) server-side apply them (`patch`, `create` when new); pruning deletes what a release no longer renders",
    },
    Grant {
        resources: &[("", "secrets")],
        verbs: &["get", "list", "watch", "create", "patch", "delete"],
        only: Some(AccessMode::Deliver),
        why: "rendered Secrets: Flux applies them decrypted through this kubeconfig, the controller applies and prunes those of Argo CD and Direct projects; drift reads them (values are never shown)",
    },
    Grant {
        resources: &[("", "namespaces")],
        verbs: &["create", "patch"],
        only: Some(AccessMode::Deliver),
        why: "Direct delivery creates the tenant's namespace, Flux applies the one the tenant's folder holds; GitOpsHQ never deletes a namespace",
    },
];

/// `resource.group`, or `resource` in the core group: how `kubectl auth can-i` names it.
fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

/// Why a registration cannot be made as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error(
        "cluster name {name:?} is not usable: {reason}; use at most 63 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
    )]
    InvalidName { name: String, reason: &'static str },
    #[error(
        "--resource {text:?} is not RESOURCE or RESOURCE.GROUP in lowercase (servicemonitors.monitoring.coreos.com): {reason}"
    )]
    InvalidResource { text: String, reason: &'static str },
    #[error("the kubeconfig {what} is invalid: {reason}")]
    InvalidKubeconfig { what: String, reason: String },
}

/// A kind `--resource` adds to the delivered ones: its plural resource and API group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceName {
    pub group: String,
    pub resource: String,
}

impl ResourceName {
    /// `RESOURCE[.GROUP]` as `kubectl create clusterrole --resource` takes it.
    pub fn parse(text: &str) -> Result<Self, AccessError> {
        let invalid = |reason| AccessError::InvalidResource {
            text: text.to_string(),
            reason,
        };
        let (resource, group) = text.split_once('.').unwrap_or((text, ""));
        if resource.is_empty() {
            return Err(invalid("the resource is empty"));
        }
        if text.contains('.') && group.is_empty() {
            return Err(invalid("the group after the dot is empty"));
        }
        if resource == "*" || group.split('.').any(|part| part == "*") {
            return Err(invalid(
                "wildcards are not granted; name each kind your charts render",
            ));
        }
        let lower = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        };
        if !lower(resource) || !lower(group) || group.starts_with('.') || group.ends_with('.') {
            return Err(invalid("only lowercase letters, digits, '-' and '.'"));
        }
        if group.is_empty() && resource == "secrets" {
            return Err(invalid(
                "Secrets are granted by --mode deliver, never in observe mode",
            ));
        }
        Ok(Self {
            group: group.to_string(),
            resource: resource.to_string(),
        })
    }

    /// `resource.group`, or `resource` in the core group: how `kubectl auth can-i` names it.
    pub fn qualified(&self) -> String {
        qualified(&self.group, &self.resource)
    }
}

/// Checks that `name` can name the Cluster, the ServiceAccount and the labels of a registration.
pub fn validate_cluster_name(name: &str) -> Result<(), AccessError> {
    let invalid = |reason| AccessError::InvalidName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    // It is a label value (`gitopshq.io/cluster`) on everything a registration creates.
    if name.len() > 63 {
        return Err(invalid("it is longer than 63 characters"));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    if !name.chars().all(allowed) {
        return Err(invalid(
            "it has a character other than a-z, 0-9, '-' and '.'",
        ));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !alnum(name.chars().next()) || !alnum(name.chars().last()) {
        return Err(invalid("it must start and end with a letter or digit"));
    }
    if name.contains("..")
        || name
            .split('.')
            .any(|part| part.starts_with('-') || part.ends_with('-'))
    {
        return Err(invalid(
            "each dot-separated part must start and end with a letter or digit",
        ));
    }
    Ok(())
}

/// The verbs per `(group, resource)` that `mode` grants, with `extra` kinds delivered too.
pub fn rights(
    mode: AccessMode,
    extra: &[ResourceName],
) -> BTreeMap<(String, String), BTreeSet<&'static str>> {
    let mut out: BTreeMap<(String, String), BTreeSet<&'static str>> = BTreeMap::new();
    for grant in GRANTS.iter().filter(|g| g.only.is_none_or(|m| m == mode)) {
        for (group, resource) in grant.resources {
            out.entry((group.to_string(), resource.to_string()))
                .or_default()
                .extend(grant.verbs.iter().copied());
        }
    }
    for kind in extra {
        let verbs = out
            .entry((kind.group.clone(), kind.resource.clone()))
            .or_default();
        verbs.extend(READ.iter().copied());
        if mode == AccessMode::Deliver {
            verbs.extend(WRITE.iter().copied());
        }
    }
    out
}

/// The ClusterRole's rules for `rights`: per API group, one rule per distinct verb set, in a
/// stable order (groups, then verb sets, sorted).
pub fn policy_rules(
    rights: &BTreeMap<(String, String), BTreeSet<&'static str>>,
) -> Vec<PolicyRule> {
    let mut grouped: BTreeMap<(&str, Vec<&str>), Vec<&str>> = BTreeMap::new();
    for ((group, resource), verbs) in rights {
        grouped
            .entry((group.as_str(), verb_order(verbs)))
            .or_default()
            .push(resource.as_str());
    }
    grouped
        .into_iter()
        .map(|((group, verbs), resources)| PolicyRule {
            api_groups: Some(vec![group.to_string()]),
            resources: Some(resources.into_iter().map(str::to_string).collect()),
            verbs: verbs.into_iter().map(str::to_string).collect(),
            ..PolicyRule::default()
        })
        .collect()
}

/// Verbs in the order people read them: the reads, then the writes.
fn verb_order(verbs: &BTreeSet<&'static str>) -> Vec<&'static str> {
    const ORDER: &[&str] = &[
        "get", "list", "watch", "create", "patch", "update", "delete",
    ];
    let mut out: Vec<&'static str> = ORDER
        .iter()
        .copied()
        .filter(|v| verbs.contains(v))
        .collect();
    out.extend(verbs.iter().copied().filter(|v| !ORDER.contains(v)));
    out
}

/// The rights table as the README prints it (Markdown).
pub fn rights_markdown() -> String {
    let mut out = String::from("| resources | verbs | mode | why |\n| --- | --- | --- | --- |\n");
    let mut delivered_listed = false;
    for grant in GRANTS {
        let names: Vec<String> = grant
            .resources
            .iter()
            .map(|(group, resource)| format!("`{}`", qualified(group, resource)))
            .collect();
        let resources = match (grant.resources == DELIVERED, delivered_listed) {
            (true, true) => "the delivered kinds".to_string(),
            (true, false) => {
                delivered_listed = true;
                format!(
                    "the delivered kinds: {} (and each `--resource`)",
                    names.join(", ")
                )
            }
            (false, _) => names.join(", "),
        };
        let mode = grant.only.map_or("both", AccessMode::as_str);
        out.push_str(&format!(
            "| {resources} | {} | {mode} | {} |\n",
            grant.verbs.join(", "),
            grant.why
        ));
    }
    out
}

/// What one registration creates in the workload cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The Cluster's name.
    pub cluster: String,
    pub mode: AccessMode,
    /// Namespace of the ServiceAccount and its token Secrets in the workload cluster.
    pub access_namespace: String,
    /// Kinds delivered beyond the default ones (`--resource`).
    pub extra: Vec<ResourceName>,
}

impl Registration {
    /// The ServiceAccount the management cluster acts as: `gitopshq-<cluster>`.
    pub fn service_account(&self) -> String {
        service_account_name(&self.cluster)
    }

    /// The ClusterRole and ClusterRoleBinding: `gitopshq:access:<cluster>`.
    pub fn cluster_role_name(&self) -> String {
        cluster_role_name(&self.cluster)
    }

    /// `system:serviceaccount:<namespace>:<name>`, the user the cluster's API server sees.
    pub fn username(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.access_namespace,
            self.service_account()
        )
    }

    fn labels(&self) -> BTreeMap<String, String> {
        [
            (
                labels::K8S_MANAGED_BY.to_string(),
                labels::MANAGED_BY_VALUE.to_string(),
            ),
            (labels::CLUSTER.to_string(), self.cluster.clone()),
        ]
        .into()
    }

    fn meta(&self, name: String, namespace: Option<&str>, description: String) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: namespace.map(str::to_string),
            labels: Some(self.labels()),
            annotations: Some([(DESCRIPTION.to_string(), description)].into()),
            ..ObjectMeta::default()
        }
    }

    /// The namespace holding the ServiceAccounts of every registration of this cluster. Shared,
    /// so it carries no cluster label; `unregister` deletes it with the last one.
    pub fn namespace(&self) -> Namespace {
        Namespace {
            metadata: ObjectMeta {
                name: Some(self.access_namespace.clone()),
                labels: Some(
                    [(labels::K8S_MANAGED_BY.to_string(), labels::MANAGED_BY_VALUE.to_string())]
                        .into(),
                ),
                annotations: Some(
                    [(
                        DESCRIPTION.to_string(),
                        "ServiceAccounts through which GitOpsHQ management clusters reach this cluster (gitopshq cluster register)".to_string(),
                    )]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        }
    }

    pub fn service_account_object(&self) -> ServiceAccount {
        ServiceAccount {
            metadata: self.meta(
                self.service_account(),
                Some(&self.access_namespace),
                format!(
                    "GitOpsHQ reaches this cluster as this account, registered as Cluster {} ({} mode)",
                    self.cluster, self.mode
                ),
            ),
            ..ServiceAccount::default()
        }
    }

    pub fn cluster_role(&self) -> ClusterRole {
        ClusterRole {
            metadata: self.meta(
                self.cluster_role_name(),
                None,
                format!(
                    "What GitOpsHQ may do in this cluster as Cluster {} ({} mode); see the README's rights table",
                    self.cluster, self.mode
                ),
            ),
            rules: Some(policy_rules(&rights(self.mode, &self.extra))),
            ..ClusterRole::default()
        }
    }

    pub fn cluster_role_binding(&self) -> ClusterRoleBinding {
        ClusterRoleBinding {
            metadata: self.meta(
                self.cluster_role_name(),
                None,
                format!(
                    "Grants ClusterRole {} to GitOpsHQ's ServiceAccount",
                    self.cluster_role_name()
                ),
            ),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: self.cluster_role_name(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: self.service_account(),
                namespace: Some(self.access_namespace.clone()),
                ..Subject::default()
            }]),
        }
    }

    /// A new token Secret for the ServiceAccount (the API server names it from the prefix);
    /// the token controller fills `data.token` and `data.ca.crt`. Long-lived: it is valid until
    /// the Secret is deleted, which is what `rotate` and `unregister` do.
    pub fn token_secret(&self) -> Secret {
        let mut metadata = self.meta(
            String::new(),
            Some(&self.access_namespace),
            format!("Token of GitOpsHQ's ServiceAccount for Cluster {}; rotate with gitopshq cluster rotate {}", self.cluster, self.cluster),
        );
        metadata.name = None;
        metadata.generate_name = Some(format!("{}-token-", self.service_account()));
        metadata
            .annotations
            .get_or_insert_default()
            .insert(TOKEN_SECRET_SERVICE_ACCOUNT.into(), self.service_account());
        Secret {
            metadata,
            type_: Some(TOKEN_SECRET_TYPE.into()),
            ..Secret::default()
        }
    }

    /// The label selector of this registration's objects (its token Secrets among them).
    pub fn selector(&self) -> String {
        registration_selector(&self.cluster)
    }
}

/// `gitopshq-<cluster>`.
pub fn service_account_name(cluster: &str) -> String {
    format!("gitopshq-{cluster}")
}

/// `gitopshq:access:<cluster>`.
pub fn cluster_role_name(cluster: &str) -> String {
    format!("gitopshq:access:{cluster}")
}

/// The selector of what a registration created: `app.kubernetes.io/managed-by=gitopshq,gitopshq.io/cluster=<cluster>`.
pub fn registration_selector(cluster: &str) -> String {
    format!(
        "{}={},{}={cluster}",
        labels::K8S_MANAGED_BY,
        labels::MANAGED_BY_VALUE,
        labels::CLUSTER
    )
}

/// The selector of the controller's copies of a Cluster's kubeconfig (the Flux namespace's).
pub fn copies_selector(cluster: &str) -> String {
    format!(
        "{}={},{}={cluster}",
        labels::MANAGED_BY,
        labels::MANAGED_BY_VALUE,
        labels::CLUSTER
    )
}

/// `cluster-<cluster>`: the management cluster's Secret holding the kubeconfig.
pub fn kubeconfig_secret_name(cluster: &str) -> String {
    format!("{}{cluster}", names::KUBECONFIG_SECRET_PREFIX)
}

/// How the controller reaches the workload cluster's API server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoint {
    pub server: String,
    /// Base64 of the PEM CA bundle; `None` trusts the system's roots.
    pub certificate_authority_data: Option<String>,
    pub tls_server_name: Option<String>,
    pub proxy_url: Option<String>,
    pub insecure_skip_tls_verify: bool,
}

impl Endpoint {
    /// The endpoint of a kubeconfig's cluster entry. A CA given as a file is read by the caller
    /// and passed as `ca_file_pem`.
    pub fn from_cluster(
        cluster: &kube::config::Cluster,
        ca_file_pem: Option<&[u8]>,
    ) -> Option<Self> {
        let server = cluster.server.clone()?;
        let certificate_authority_data = cluster.certificate_authority_data.clone().or_else(|| {
            ca_file_pem.map(|pem| base64::engine::general_purpose::STANDARD.encode(pem))
        });
        Some(Self {
            server,
            certificate_authority_data,
            tls_server_name: cluster.tls_server_name.clone(),
            proxy_url: cluster.proxy_url.clone(),
            insecure_skip_tls_verify: cluster.insecure_skip_tls_verify.unwrap_or(false),
        })
    }
}

/// The kubeconfig stored for the controller: one cluster, one user with the ServiceAccount's
/// bearer token, one context, all named after the Cluster. Never an exec plugin, a token file or
/// a client certificate path: the controller's image has no cloud CLI and no files of the caller.
pub fn token_kubeconfig(cluster: &str, endpoint: &Endpoint, user: &str, token: &str) -> String {
    let mut entry = serde_json::Map::new();
    entry.insert("server".into(), endpoint.server.clone().into());
    if let Some(ca) = &endpoint.certificate_authority_data {
        entry.insert("certificate-authority-data".into(), ca.clone().into());
    }
    if let Some(name) = &endpoint.tls_server_name {
        entry.insert("tls-server-name".into(), name.clone().into());
    }
    if let Some(proxy) = &endpoint.proxy_url {
        entry.insert("proxy-url".into(), proxy.clone().into());
    }
    if endpoint.insecure_skip_tls_verify {
        entry.insert("insecure-skip-tls-verify".into(), true.into());
    }
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": entry}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "current-context": cluster,
    });
    // A JSON value of strings, booleans, lists and maps always serialises.
    yaml_serde::to_string(&config).unwrap_or_default()
}

/// What a stored kubeconfig says: where its cluster is and whether it authenticates with a
/// bearer token (the only credential the controller can use everywhere).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKubeconfig {
    pub endpoint: Endpoint,
    pub token: Option<String>,
    /// An embedded client certificate and key (base64 PEM, `client-certificate-data` and
    /// `client-key-data`), as a kubeconfig written by hand may carry instead of a token.
    pub client_certificate: Option<(String, String)>,
    /// The exec plugin's command, when its user has one.
    pub exec: Option<String>,
}

/// Reads a stored kubeconfig (its current context, or its only one).
pub fn read_stored(what: &str, text: &str) -> Result<StoredKubeconfig, AccessError> {
    use serde_json::Value;
    let invalid = |reason: String| AccessError::InvalidKubeconfig {
        what: what.to_string(),
        reason,
    };
    let config: Value = yaml_serde::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let named = |list: &str, name: &str| -> Option<Value> {
        config[list]
            .as_array()?
            .iter()
            .find(|entry| entry["name"].as_str() == Some(name))
            .cloned()
    };
    let contexts = config["contexts"].as_array().cloned().unwrap_or_default();
    let context = match config["current-context"].as_str() {
        Some(name) => named("contexts", name),
        None if contexts.len() == 1 => contexts.first().cloned(),
        None => None,
    }
    .map(|c| c["context"].clone())
    .filter(Value::is_object)
    .ok_or_else(|| invalid("it has no current context".into()))?;
    let cluster_name = context["cluster"].as_str().unwrap_or_default();
    let cluster = named("clusters", cluster_name)
        .map(|c| c["cluster"].clone())
        .filter(Value::is_object)
        .ok_or_else(|| {
            invalid(format!(
                "its context names cluster {cluster_name:?}, which it does not hold"
            ))
        })?;
    let text_of = |v: &Value, key: &str| v[key].as_str().map(str::to_string);
    let endpoint = Endpoint {
        server: text_of(&cluster, "server")
            .ok_or_else(|| invalid("its cluster has no server".into()))?,
        certificate_authority_data: text_of(&cluster, "certificate-authority-data"),
        tls_server_name: text_of(&cluster, "tls-server-name"),
        proxy_url: text_of(&cluster, "proxy-url"),
        insecure_skip_tls_verify: cluster["insecure-skip-tls-verify"]
            .as_bool()
            .unwrap_or(false),
    };
    let user = context["user"]
        .as_str()
        .and_then(|u| named("users", u))
        .map(|u| u["user"].clone())
        .unwrap_or_default();
    Ok(StoredKubeconfig {
        endpoint,
        token: text_of(&user, "token"),
        client_certificate: text_of(&user, "client-certificate-data")
            .zip(text_of(&user, "client-key-data")),
        exec: user
            .get("exec")
            .filter(|e| e.is_object())
            .map(|e| text_of(e, "command").unwrap_or_default()),
    })
}

/// What `register` records on the kubeconfig Secret, for `rotate` and `unregister`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub access_namespace: String,
    pub service_account: String,
    pub token_secret: String,
    pub mode: AccessMode,
}

impl Record {
    /// The record of a kubeconfig Secret; `None` when `register` did not write it.
    pub fn of(secret: &Secret) -> Option<Self> {
        let a = secret.metadata.annotations.as_ref()?;
        let (access_namespace, service_account) =
            a.get(annotations::SERVICE_ACCOUNT)?.split_once('/')?;
        let token_secret = a
            .get(annotations::TOKEN_SECRET)
            .and_then(|t| t.split_once('/'))
            .map(|(_, name)| name.to_string())
            .unwrap_or_default();
        let mode = a
            .get(annotations::ACCESS_MODE)
            .and_then(|m| AccessMode::parse(m))
            .unwrap_or(AccessMode::Deliver);
        Some(Self {
            access_namespace: access_namespace.to_string(),
            service_account: service_account.to_string(),
            token_secret,
            mode,
        })
    }
}

/// The management cluster's Secret `<namespace>/cluster-<cluster>` with the kubeconfig under
/// `kubeconfig`, labelled and annotated with what `register` created in the workload cluster.
pub fn kubeconfig_secret(
    cluster: &str,
    namespace: &str,
    kubeconfig: &str,
    record: &Record,
) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(kubeconfig_secret_name(cluster)),
            namespace: Some(namespace.to_string()),
            labels: Some(
                [
                    (
                        labels::K8S_MANAGED_BY.to_string(),
                        labels::MANAGED_BY_VALUE.to_string(),
                    ),
                    (labels::CLUSTER.to_string(), cluster.to_string()),
                ]
                .into(),
            ),
            annotations: Some(
                [
                    (
                        annotations::SERVICE_ACCOUNT.to_string(),
                        format!("{}/{}", record.access_namespace, record.service_account),
                    ),
                    (
                        annotations::TOKEN_SECRET.to_string(),
                        format!("{}/{}", record.access_namespace, record.token_secret),
                    ),
                    (
                        annotations::ACCESS_MODE.to_string(),
                        record.mode.to_string(),
                    ),
                ]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(
            [(
                defaults::KUBECONFIG_KEY.to_string(),
                ByteString(kubeconfig.as_bytes().to_vec()),
            )]
            .into(),
        ),
        ..Secret::default()
    }
}

/// The Cluster `register` applies: its kubeconfig Secret and what the flags say. Environments
/// and labels are only set when given, so that a Cluster written by hand keeps its own.
pub fn cluster_object(
    cluster: &str,
    secret_namespace: &str,
    environments: &[String],
    cluster_labels: &BTreeMap<String, String>,
) -> Cluster {
    let mut object = Cluster::new(
        cluster,
        ClusterSpec {
            kubeconfig_secret_ref: KubeconfigSecretRef {
                namespace: secret_namespace.to_string(),
                name: kubeconfig_secret_name(cluster),
                key: defaults::KUBECONFIG_KEY.to_string(),
            },
            environments: environments.to_vec(),
            labels: cluster_labels.clone().into_iter().collect(),
            secret_encryption: None,
        },
    );
    object.metadata.labels = None;
    object
}

/// `namespace/name` of every Tenant (of any project) on `cluster`, sorted.
pub fn tenants_on(cluster: &str, tenants: &[Tenant]) -> Vec<String> {
    let mut out: Vec<String> = tenants
        .iter()
        .filter(|t| t.spec.cluster == cluster)
        .map(|t| format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any()))
        .collect();
    out.sort();
    out
}

/// Why `unregister` must wait: the tenants still on the cluster, with the next step.
pub fn unregister_refusal(cluster: &str, tenants: &[String]) -> Option<(String, String)> {
    if tenants.is_empty() {
        return None;
    }
    Some((
        format!(
            "cluster {cluster} is used by {} tenant(s): {}; unregistering it would leave them without a cluster",
            tenants.len(),
            tenants.join(", ")
        ),
        format!(
            "move them to another cluster (spec.cluster) or delete them (kubectl delete tenant -n NAMESPACE NAME), then run gitopshq cluster unregister {cluster} again"
        ),
    ))
}

/// Tenants on `cluster` whose project delivers through the stored kubeconfig (Flux, Direct):
/// `namespace/name (delivery)`, sorted. In observe mode their deliveries would be refused.
pub fn needs_deliver(cluster: &str, tenants: &[Tenant], projects: &[Project]) -> Vec<String> {
    let mut out: Vec<String> = tenants
        .iter()
        .filter(|t| t.spec.cluster == cluster)
        .filter_map(|t| {
            let ns = t.namespace().unwrap_or_default();
            let project = projects.iter().find(|p| p.name_any() == ns)?;
            match project.spec.delivery {
                DeliveryMode::Flux | DeliveryMode::Direct => Some(format!(
                    "{ns}/{} (project {ns} delivers with {:?})",
                    t.name_any(),
                    project.spec.delivery
                )),
                DeliveryMode::ArgoCD => None,
            }
        })
        .collect();
    out.sort();
    out
}

/// Where a cluster stands for `register`, which waits for the controller to connect with the
/// credentials it has just written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterProgress {
    /// Connected with a heartbeat after the credentials were written: the server's version.
    Connected {
        server_version: String,
    },
    /// The controller reports it cannot reach the cluster (yet): worth telling the person.
    Trouble {
        phase: ClusterPhase,
        message: String,
    },
    Waiting,
}

/// `cluster`'s progress, its credentials having been written at `written`.
pub fn register_progress(cluster: &Cluster, written: jiff::Timestamp) -> RegisterProgress {
    let Some(status) = cluster.status.as_ref() else {
        return RegisterProgress::Waiting;
    };
    let heartbeat_after = status
        .last_heartbeat
        .as_ref()
        .is_some_and(|h| h.0.as_second() > written.as_second());
    match status.phase {
        Some(ClusterPhase::Connected) if heartbeat_after => RegisterProgress::Connected {
            server_version: status.server_version.clone().unwrap_or_default(),
        },
        Some(phase @ (ClusterPhase::Unreachable | ClusterPhase::Disconnected)) => {
            RegisterProgress::Trouble {
                phase,
                message: status.message.clone().unwrap_or_default(),
            }
        }
        _ => RegisterProgress::Waiting,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(mode: AccessMode) -> Registration {
        Registration {
            cluster: "eu-central-1".into(),
            mode,
            access_namespace: names::ACCESS_NAMESPACE.into(),
            extra: Vec::new(),
        }
    }

    fn verbs(mode: AccessMode, group: &str, resource: &str) -> Vec<&'static str> {
        rights(mode, &[])
            .get(&(group.to_string(), resource.to_string()))
            .map(|v| verb_order(v))
            .unwrap_or_default()
    }

    #[test]
    fn observe_reads_and_never_writes_nor_reads_secrets() {
        let all = rights(AccessMode::Observe, &[]);
        for ((group, resource), verbs) in &all {
            assert!(
                verbs.iter().all(|v| READ.contains(v)),
                "{group}/{resource}: {verbs:?}"
            );
        }
        assert!(!all.contains_key(&(String::new(), "secrets".into())));
        assert_eq!(
            verbs(AccessMode::Observe, "apps", "deployments"),
            ["get", "list", "watch"]
        );
        assert_eq!(verbs(AccessMode::Observe, "", "pods/log"), ["get"]);
    }

    #[test]
    fn deliver_writes_the_delivered_kinds_secrets_and_namespaces_but_deletes_no_namespace() {
        assert_eq!(
            verbs(AccessMode::Deliver, "apps", "deployments"),
            ["get", "list", "watch", "create", "patch", "delete"]
        );
        assert_eq!(
            verbs(AccessMode::Deliver, "", "secrets"),
            ["get", "list", "watch", "create", "patch", "delete"]
        );
        assert_eq!(
            verbs(AccessMode::Deliver, "", "namespaces"),
            ["get", "list", "watch", "create", "patch"]
        );
        // What only runs in the cluster is read, never written.
        assert_eq!(
            verbs(AccessMode::Deliver, "", "pods"),
            ["get", "list", "watch"]
        );
        assert_eq!(
            verbs(AccessMode::Deliver, "apps", "replicasets"),
            ["get", "list", "watch"]
        );
        // Neither mode may touch RBAC, nodes or every kind at once.
        for mode in [AccessMode::Observe, AccessMode::Deliver] {
            for ((group, resource), _) in rights(mode, &[]) {
                assert!(
                    group != "rbac.authorization.k8s.io" && resource != "nodes" && resource != "*"
                );
            }
        }
    }

    #[test]
    fn extra_resources_get_the_rights_of_delivered_kinds() {
        let monitors = ResourceName::parse("servicemonitors.monitoring.coreos.com").unwrap();
        assert_eq!(
            monitors.qualified(),
            "servicemonitors.monitoring.coreos.com"
        );
        let observe = rights(AccessMode::Observe, std::slice::from_ref(&monitors));
        let key = (
            "monitoring.coreos.com".to_string(),
            "servicemonitors".to_string(),
        );
        assert_eq!(verb_order(&observe[&key]), ["get", "list", "watch"]);
        let deliver = rights(AccessMode::Deliver, &[monitors]);
        assert_eq!(
            verb_order(&deliver[&key]),
            ["get", "list", "watch", "create", "patch", "delete"]
        );
        assert_eq!(
            ResourceName::parse("limitranges").unwrap().qualified(),
            "limitranges"
        );
        for bad in [
            "*",
            "*.apps",
            "Deployments.apps",
            "secrets",
            "x.",
            ".apps",
            "",
        ] {
            assert!(ResourceName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rules_group_resources_by_api_group_and_verbs() {
        let role = registration(AccessMode::Observe).cluster_role();
        let rules = role.rules.unwrap();
        let apps: Vec<_> = rules
            .iter()
            .filter(|r| r.api_groups.as_deref() == Some(&["apps".to_string()][..]))
            .collect();
        assert_eq!(apps.len(), 1);
        assert_eq!(
            apps[0].resources.as_deref().unwrap(),
            ["daemonsets", "deployments", "replicasets", "statefulsets"]
        );
        assert_eq!(apps[0].verbs, ["get", "list", "watch"]);
        // Same input, same rules: re-registering changes nothing.
        assert_eq!(
            registration(AccessMode::Observe)
                .cluster_role()
                .rules
                .unwrap(),
            rules
        );
    }

    #[test]
    fn objects_are_named_after_the_cluster_and_bound_together() {
        let r = registration(AccessMode::Deliver);
        assert_eq!(r.service_account(), "gitopshq-eu-central-1");
        assert_eq!(
            r.username(),
            "system:serviceaccount:gitopshq-access:gitopshq-eu-central-1"
        );
        let binding = r.cluster_role_binding();
        assert_eq!(binding.role_ref.name, "gitopshq:access:eu-central-1");
        let subject = &binding.subjects.unwrap()[0];
        assert_eq!(subject.name, "gitopshq-eu-central-1");
        assert_eq!(subject.namespace.as_deref(), Some("gitopshq-access"));
        let token = r.token_secret();
        assert_eq!(token.type_.as_deref(), Some(TOKEN_SECRET_TYPE));
        assert_eq!(
            token.metadata.generate_name.as_deref(),
            Some("gitopshq-eu-central-1-token-")
        );
        assert_eq!(
            token.metadata.annotations.unwrap()[TOKEN_SECRET_SERVICE_ACCOUNT],
            "gitopshq-eu-central-1"
        );
        assert_eq!(
            token.metadata.labels.unwrap()[labels::CLUSTER],
            "eu-central-1"
        );
        assert_eq!(
            r.selector(),
            "app.kubernetes.io/managed-by=gitopshq,gitopshq.io/cluster=eu-central-1"
        );
    }

    #[test]
    fn the_stored_kubeconfig_holds_a_token_and_reads_back() {
        let endpoint = Endpoint {
            server: "https://10.0.0.1:6443".into(),
            certificate_authority_data: Some("Q0E=".into()),
            tls_server_name: Some("kubernetes".into()),
            ..Endpoint::default()
        };
        let text = token_kubeconfig(
            "eu-central-1",
            &endpoint,
            "gitopshq-eu-central-1",
            "abc.def",
        );
        assert!(!text.contains("exec"), "{text}");
        let stored = read_stored("test", &text).unwrap();
        assert_eq!(stored.endpoint, endpoint);
        assert_eq!(stored.token.as_deref(), Some("abc.def"));
        assert_eq!(stored.exec, None);
    }

    #[test]
    fn an_exec_plugin_in_a_stored_kubeconfig_is_told() {
        let text = "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://eks'}}]\nusers: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws, args: [eks, get-token]}}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n";
        let stored = read_stored("test", text).unwrap();
        assert_eq!(stored.exec.as_deref(), Some("aws"));
        assert_eq!(stored.token, None);
        assert!(read_stored("test", "clusters: []").is_err());
    }

    #[test]
    fn the_record_on_the_secret_reads_back() {
        let record = Record {
            access_namespace: "gitopshq-access".into(),
            service_account: "gitopshq-eu".into(),
            token_secret: "gitopshq-eu-token-x1".into(),
            mode: AccessMode::Observe,
        };
        let secret = kubeconfig_secret("eu", "gitopshq-system", "kubeconfig text", &record);
        assert_eq!(secret.metadata.name.as_deref(), Some("cluster-eu"));
        assert_eq!(Record::of(&secret), Some(record));
        assert_eq!(Record::of(&Secret::default()), None);
    }

    #[test]
    fn names_must_fit_labels_and_service_accounts() {
        for good in ["eu-central-1", "prod.eu", "a", "x1"] {
            assert!(validate_cluster_name(good).is_ok(), "{good}");
        }
        let long = "a".repeat(64);
        for bad in [
            "",
            "EU",
            "-eu",
            "eu-",
            "eu_1",
            "a..b",
            "a.-b",
            long.as_str(),
        ] {
            assert!(validate_cluster_name(bad).is_err(), "{bad}");
        }
    }

    fn tenant(ns: &str, name: &str, cluster: &str) -> Tenant {
        let mut t = Tenant::new(
            name,
            gitopshq_crds::tenant::TenantSpec {
                environment: "development".into(),
                cluster: cluster.into(),
                namespace: "x".into(),
                ..Default::default()
            },
        );
        t.metadata.namespace = Some(ns.into());
        t
    }

    #[test]
    fn unregister_waits_for_the_tenants_of_every_project() {
        let tenants = [
            tenant("payment-service", "eu-dev", "eu-central-1"),
            tenant("checkout", "eu-prod", "eu-central-1"),
            tenant("checkout", "us-prod", "us-east-1"),
        ];
        let on = tenants_on("eu-central-1", &tenants);
        assert_eq!(on, ["checkout/eu-prod", "payment-service/eu-dev"]);
        let (message, next) = unregister_refusal("eu-central-1", &on).unwrap();
        assert!(
            message.contains("checkout/eu-prod, payment-service/eu-dev"),
            "{message}"
        );
        assert!(
            next.contains("gitopshq cluster unregister eu-central-1"),
            "{next}"
        );
        assert_eq!(unregister_refusal("eu-central-1", &[]), None);
    }

    #[test]
    fn observe_mode_is_refused_for_projects_that_deliver_through_the_kubeconfig() {
        let project = |name: &str, delivery| {
            Project::new(
                name,
                gitopshq_crds::project::ProjectSpec {
                    delivery,
                    ..Default::default()
                },
            )
        };
        let projects = [
            project("payment-service", DeliveryMode::Flux),
            project("checkout", DeliveryMode::ArgoCD),
        ];
        let tenants = [
            tenant("payment-service", "eu-dev", "eu-central-1"),
            tenant("checkout", "eu-prod", "eu-central-1"),
        ];
        assert_eq!(
            needs_deliver("eu-central-1", &tenants, &projects),
            ["payment-service/eu-dev (project payment-service delivers with Flux)"]
        );
    }

    #[test]
    fn the_readme_prints_the_rights_table() {
        let readme = include_str!("../../README.md");
        assert!(
            readme.contains(&rights_markdown()),
            "README.md's rights table differs from engine::cluster_access::GRANTS; paste this under \"Registering clusters\":\n{}",
            rights_markdown()
        );
    }

    /// `register` is done only on a Connected status with a heartbeat after its write; a
    /// cluster that cannot be reached is told with its message, anything else waits.
    #[test]
    fn register_waits_for_a_heartbeat_after_its_write() {
        use gitopshq_crds::cluster::ClusterStatus;
        use gitopshq_crds::common::Time;
        let written = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let with = |phase, heartbeat: i64| {
            let mut c = Cluster::new("eu-prod", ClusterSpec::default());
            c.status = Some(ClusterStatus {
                phase: Some(phase),
                message: Some("dial tcp 10.0.0.1:6443: connection refused".into()),
                last_heartbeat: Some(Time(
                    jiff::Timestamp::from_second(1_800_000_000 + heartbeat).unwrap(),
                )),
                server_version: Some("v1.34.4".into()),
                ..ClusterStatus::default()
            });
            c
        };
        assert_eq!(
            register_progress(&with(ClusterPhase::Connected, 1), written),
            RegisterProgress::Connected {
                server_version: "v1.34.4".into()
            }
        );
        assert_eq!(
            register_progress(&with(ClusterPhase::Connected, 0), written),
            RegisterProgress::Waiting,
            "connected with the old credentials"
        );
        assert_eq!(
            register_progress(&with(ClusterPhase::Unreachable, 1), written),
            RegisterProgress::Trouble {
                phase: ClusterPhase::Unreachable,
                message: "dial tcp 10.0.0.1:6443: connection refused".into()
            }
        );
        let unseen = Cluster::new("eu-prod", ClusterSpec::default());
        assert_eq!(
            register_progress(&unseen, written),
            RegisterProgress::Waiting
        );
    }
}
