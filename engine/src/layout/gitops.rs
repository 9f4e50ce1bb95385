//! The Argo CD and Flux objects that point a GitOps agent at a tenant dir.

use serde_json::{Value, json};

use super::{LayoutError, LayoutRequest, TenantRender, gitops_object_name, tenant_dir};

/// Label and annotation keys stamped on every GitOps object, so `kubectl get -l` finds them.
pub mod labels {
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    pub const MANAGER: &str = "gitopshq";
    pub const PROJECT: &str = "gitopshq.io/project";
    pub const ENVIRONMENT: &str = "gitopshq.io/environment";
    pub const TENANT: &str = "gitopshq.io/tenant";
    pub const CLUSTER: &str = "gitopshq.io/cluster";
    pub const CLUSTER_SERVER: &str = "gitopshq.io/cluster-server";
}

/// The Secret (in the Flux namespace) holding the age identity Flux decrypts with, as key
/// `age.agekey`.
pub const SOPS_AGE_SECRET: &str = "sops-age";

/// A Secret key reference (Flux `kubeConfig.secretRef`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretKeyRef {
    pub name: String,
    /// `None` lets Flux use its default keys (`value`, then `value.yaml`).
    pub key: Option<String>,
}

/// Where the GitOps agents live; the defaults are those of a stock Argo CD / Flux install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitOpsSettings {
    pub argocd_namespace: String,
    /// Argo CD `AppProject` the Applications belong to.
    pub argocd_project: String,
    pub flux_namespace: String,
    /// Name of the Flux `GitRepository`; `None` = the GitOpsHQ project name.
    pub flux_source_name: Option<String>,
    /// Secret (in the Flux namespace) with the repository credentials, if it is private.
    pub flux_source_secret: Option<String>,
    /// Flux reconcile interval (Go duration).
    pub flux_interval: String,
}

impl Default for GitOpsSettings {
    fn default() -> Self {
        Self {
            argocd_namespace: "argocd".into(),
            argocd_project: "default".into(),
            flux_namespace: "flux-system".into(),
            flux_source_name: None,
            flux_source_secret: None,
            flux_interval: "5m".into(),
        }
    }
}

fn common_labels(req: &LayoutRequest, tenant: Option<&TenantRender>) -> Value {
    let mut l = serde_json::Map::new();
    l.insert(labels::MANAGED_BY.into(), labels::MANAGER.into());
    l.insert(labels::PROJECT.into(), req.project.clone().into());
    // The source is shared by every environment: an environment label would make each
    // environment's release rewrite it.
    if let Some(t) = tenant {
        l.insert(labels::ENVIRONMENT.into(), req.environment.clone().into());
        l.insert(labels::TENANT.into(), t.name.clone().into());
        l.insert(labels::CLUSTER.into(), t.cluster.name.clone().into());
    }
    Value::Object(l)
}

fn metadata(req: &LayoutRequest, tenant: &TenantRender, namespace: &str) -> Value {
    let mut meta = json!({
        "name": gitops_object_name(&req.project, &req.environment, &tenant.name),
        "namespace": namespace,
        "labels": common_labels(req, Some(tenant)),
    });
    if let Some(server) = &tenant.cluster.server {
        meta["annotations"] = json!({ labels::CLUSTER_SERVER: server });
    }
    meta
}

fn to_yaml(what: String, doc: &Value) -> Result<Vec<u8>, LayoutError> {
    yaml_serde::to_string(doc)
        .map(String::into_bytes)
        .map_err(|e| LayoutError::Serialize {
            what,
            message: e.to_string(),
        })
}

/// `argoproj.io/v1alpha1 Application` syncing `<root>/<env>/<tenant>` to the tenant namespace.
pub(super) fn argocd_application(
    req: &LayoutRequest,
    root: &str,
    tenant: &TenantRender,
) -> Result<Vec<u8>, LayoutError> {
    let s = &req.settings;
    let doc = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": metadata(req, tenant, &s.argocd_namespace),
        "spec": {
            "project": s.argocd_project,
            "source": {
                "repoURL": req.repository.url,
                "targetRevision": req.repository.branch,
                "path": tenant_dir(root, &req.environment, &tenant.name),
            },
            // By name, not server: Argo CD rejects both, and the name is what the cluster is
            // registered under.
            "destination": {
                "name": tenant.cluster.name,
                "namespace": tenant.namespace,
            },
            "syncPolicy": {
                "automated": { "prune": true, "selfHeal": true },
                "syncOptions": ["CreateNamespace=true"],
            },
        },
    });
    to_yaml(
        format!("Argo CD Application for tenant {}", tenant.name),
        &doc,
    )
}

/// `kustomize.toolkit.fluxcd.io/v1 Kustomization` applying `./<root>/<env>/<tenant>`.
pub(super) fn flux_kustomization(
    req: &LayoutRequest,
    root: &str,
    tenant: &TenantRender,
) -> Result<Vec<u8>, LayoutError> {
    let s = &req.settings;
    let mut spec = json!({
        "interval": s.flux_interval,
        "path": format!("./{}", tenant_dir(root, &req.environment, &tenant.name)),
        "prune": true,
        "sourceRef": {
            "kind": "GitRepository",
            "name": flux_source_name(req),
            "namespace": s.flux_namespace,
        },
        "targetNamespace": tenant.namespace,
    });
    if let Some(secret) = &tenant.cluster.kubeconfig_secret {
        let mut r = json!({ "name": secret.name });
        if let Some(key) = &secret.key {
            r["key"] = key.clone().into();
        }
        spec["kubeConfig"] = json!({ "secretRef": r });
    }
    // Set by the cluster's configuration, not by what this release renders: a release of one
    // workload must not drop the decryption another workload's Secrets need.
    if !tenant.cluster.age_recipients.is_empty() {
        spec["decryption"] = json!({
            "provider": "sops",
            "secretRef": { "name": SOPS_AGE_SECRET },
        });
    }
    let doc = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": metadata(req, tenant, &s.flux_namespace),
        "spec": spec,
    });
    to_yaml(
        format!("Flux Kustomization for tenant {}", tenant.name),
        &doc,
    )
}

/// `source.toolkit.fluxcd.io/v1 GitRepository` the Kustomizations reference.
pub(super) fn flux_git_repository(req: &LayoutRequest) -> Result<Vec<u8>, LayoutError> {
    let s = &req.settings;
    let mut spec = json!({
        "interval": s.flux_interval,
        "url": req.repository.url,
        "ref": { "branch": req.repository.branch },
    });
    if let Some(secret) = &s.flux_source_secret {
        spec["secretRef"] = json!({ "name": secret });
    }
    let doc = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {
            "name": flux_source_name(req),
            "namespace": s.flux_namespace,
            "labels": common_labels(req, None),
        },
        "spec": spec,
    });
    to_yaml("Flux GitRepository".into(), &doc)
}

fn flux_source_name(req: &LayoutRequest) -> String {
    req.settings
        .flux_source_name
        .clone()
        .unwrap_or_else(|| req.project.clone())
}
