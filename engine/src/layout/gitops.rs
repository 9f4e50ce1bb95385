//! The Argo CD and Flux objects that point a GitOps agent at a tenant dir.

use gitopshq_crds::consts::engines;
use serde_json::{Value, json};

use super::{
    LayoutError, LayoutRequest, RepositoryRef, TenantRender, gitops_object_name, tenant_dir,
};

/// Label keys stamped on every GitOps object, so `kubectl get -l` finds them (declared once,
/// in `gitopshq_crds::consts::labels`).
pub mod labels {
    /// The API server URL of a tenant's cluster, recorded on its GitOps object.
    pub use gitopshq_crds::consts::annotations::CLUSTER_SERVER;
    /// The standard `app.kubernetes.io/managed-by`.
    pub use gitopshq_crds::consts::labels::K8S_MANAGED_BY as MANAGED_BY;
    /// Its value.
    pub use gitopshq_crds::consts::labels::MANAGED_BY_VALUE as MANAGER;
    pub use gitopshq_crds::consts::labels::{CLUSTER, ENVIRONMENT, PROJECT, TENANT};
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
    pub flux_namespace: String,
    /// Name of the Flux `GitRepository`; `None` = the GitOpsHQ project name.
    pub flux_source_name: Option<String>,
    /// Secret (in the Flux namespace) with the repository credentials, if it is private.
    pub flux_source_secret: Option<String>,
    /// Flux reconcile interval (Go duration).
    pub flux_interval: String,
    /// Each tenant's Kustomization follows the tenant's own `ExternalArtifact` (published by
    /// the controller, see [`crate::flux_artifacts`]) instead of the project's
    /// `GitRepository`: a commit then reconciles the tenants it changed, not all of them.
    pub flux_tenant_artifacts: bool,
}

impl Default for GitOpsSettings {
    fn default() -> Self {
        Self {
            argocd_namespace: "argocd".into(),
            flux_namespace: "flux-system".into(),
            flux_source_name: None,
            flux_source_secret: None,
            flux_interval: "5m".into(),
            flux_tenant_artifacts: false,
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
    crate::yaml_writer::to_yaml(doc)
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
            // The tenant's own AppProject (see `argocd_root_objects`): Argo CD refuses any
            // destination but the tenant's namespace on the tenant's cluster.
            "project": gitops_object_name(&req.project, &req.environment, &tenant.name),
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
    let (source, path) = if s.flux_tenant_artifacts {
        // The artifact holds the tenant's folder alone.
        let name = gitops_object_name(&req.project, &req.environment, &tenant.name);
        (("ExternalArtifact", name), "./".to_string())
    } else {
        (
            ("GitRepository", flux_source_name(req)),
            format!("./{}", tenant_dir(root, &req.environment, &tenant.name)),
        )
    };
    let mut spec = json!({
        "interval": s.flux_interval,
        "path": path,
        "prune": true,
        "sourceRef": {
            "kind": source.0,
            "name": source.1,
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

/// The tenant's `v1 Namespace` for Flux, never pruned: removing a tenant must not delete
/// what runs in its namespace, nor what another tenant of the namespace runs.
pub(super) fn tenant_namespace(
    req: &LayoutRequest,
    tenant: &TenantRender,
) -> Result<Vec<u8>, LayoutError> {
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": tenant.namespace,
            "labels": common_labels(req, Some(tenant)),
            "annotations": { engines::FLUX_PRUNE: "disabled" },
        },
    });
    to_yaml(format!("Namespace of tenant {}", tenant.name), &doc)
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
    source_name(&req.settings, &req.project)
}

/// The name of a Flux project's `GitRepository`: `flux_source_name`, else the project's.
pub fn flux_source(settings: &GitOpsSettings, project: &str) -> String {
    source_name(settings, project)
}

fn source_name(settings: &GitOpsSettings, project: &str) -> String {
    settings
        .flux_source_name
        .clone()
        .unwrap_or_else(|| project.to_string())
}

/// The name of a Flux project's root Kustomization of `environment`.
pub fn flux_root_name(project: &str, environment: &str) -> String {
    format!(
        "{}{project}-{environment}",
        gitopshq_crds::consts::names::FLUX_ROOT_PREFIX
    )
}

/// What makes Flux deliver a project, applied to the management cluster by the Project
/// controller: the `GitRepository` of the project's repository (as `_flux/gitrepository.yaml`
/// in the repository holds it), and per environment a root `Kustomization` applying
/// `<root>/<env>/_kustomizations`, where each release writes its tenants' Kustomizations.
/// Never one Kustomization at the repository root: Flux would then build every tenant folder
/// into one. Flux reads Git over http(s) and ssh only.
pub fn flux_root_objects(
    project: &str,
    repository: &RepositoryRef,
    environments: &[String],
    settings: &GitOpsSettings,
) -> Result<Vec<Value>, LayoutError> {
    let url = &repository.url;
    if !["http://", "https://", "ssh://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
    {
        return Err(LayoutError::FluxUrl {
            project: project.to_string(),
            url: url.clone(),
        });
    }
    let root = super::repository_root(project, repository.path.as_deref())?;
    let labels = json!({
        labels::MANAGED_BY: labels::MANAGER,
        labels::PROJECT: project,
    });
    let source = source_name(settings, project);
    let mut spec = json!({
        "interval": settings.flux_interval,
        "url": url,
        "ref": { "branch": repository.branch },
    });
    if let Some(secret) = &settings.flux_source_secret {
        spec["secretRef"] = json!({ "name": secret });
    }
    let mut objects = vec![json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": source, "namespace": settings.flux_namespace, "labels": labels},
        "spec": spec,
    })];
    for environment in environments {
        let mut labels = labels.clone();
        labels[labels::ENVIRONMENT] = environment.clone().into();
        objects.push(json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {
                "name": flux_root_name(project, environment),
                "namespace": settings.flux_namespace,
                "labels": labels,
            },
            "spec": {
                "interval": settings.flux_interval,
                "path": format!("./{root}/{environment}/{}", super::KUSTOMIZATIONS_DIR),
                "prune": true,
                "sourceRef": {
                    "kind": "GitRepository",
                    "name": source,
                    "namespace": settings.flux_namespace,
                },
            },
        }));
    }
    Ok(objects)
}
