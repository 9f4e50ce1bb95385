//! Argo CD in the management cluster: what a `delivery: ArgoCD` project needs there (its
//! AppProjects, its app-of-apps roots and its clusters' Secrets), the refresh asked for right
//! after a commit, so Argo CD compares with the repository at once rather than at its poll
//! interval, and the tenants' Applications read back. The objects come from the engine
//! ([`gitopshq_engine::layout::argocd_root_objects`]); this module only writes and reads them.

use gitopshq_crds::consts::engines;
use gitopshq_crds::project::Project;
use gitopshq_engine::catalog::Catalog;
use gitopshq_engine::cluster_access;
use gitopshq_engine::layout::{self, ArgoTenant, RepositoryRef};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use crate::context::Context;
use crate::engine_namespace::ARGOCD;

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", kind),
        plural,
    )
}

fn applications() -> ApiResource {
    resource("Application", "applications")
}

fn api(ctx: &Context, resource: &ApiResource) -> Api<DynamicObject> {
    Api::namespaced_with(ctx.client.clone(), &ctx.settings.argocd_namespace, resource)
}

/// Applies what Argo CD needs to deliver `project`: a cluster Secret for each of its tenants'
/// clusters, the project's AppProjects (its root's and each tenant's) and one app-of-apps root
/// Application per environment that has a folder in the repository (one was committed for, or
/// `committing` is being committed now). Returns what is in place, for the Project's status;
/// `Err` says what is missing and what to do.
pub async fn ensure_project(
    ctx: &Context,
    project: &Project,
    catalog: &Catalog,
    committing: Option<&str>,
) -> std::result::Result<String, String> {
    let name = project.name_any();
    let namespace = &ctx.settings.argocd_namespace;
    let clusters = ARGOCD
        .apply_cluster_secrets(ctx, catalog, &name, |cluster, kubeconfig| {
            let text = String::from_utf8_lossy(&kubeconfig);
            let stored =
                cluster_access::read_stored(&format!("the kubeconfig of cluster {cluster}"), &text)
                    .map_err(|e| e.to_string())?;
            let secret: Secret = serde_json::from_value(
                layout::argocd_cluster_secret(cluster, &stored, namespace)
                    .map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
            Ok((secret, format!("cluster {cluster} for Argo CD")))
        })
        .await?;
    let repository = RepositoryRef::from(&project.spec.repository);
    let tenants: Vec<ArgoTenant> = catalog
        .tenants_of(&name)
        .map(|t| ArgoTenant {
            name: t.name_any(),
            environment: t.spec.environment.clone(),
            cluster: t.spec.cluster.clone(),
            namespace: t.spec.namespace.clone(),
        })
        .collect();
    let environments = catalog.committed_environments(&name, committing);
    let objects =
        layout::argocd_root_objects(&name, &repository, &environments, &tenants, namespace)
            .map_err(|e| e.to_string())?;
    ARGOCD
        .apply_all(ctx, namespace, &objects, |kind| {
            if kind == "AppProject" {
                resource("AppProject", "appprojects")
            } else {
                applications()
            }
        })
        .await?;
    Ok(format!(
        "Argo CD AppProject {namespace}/{}, {} root Application(s) and {} tenant AppProject(s) applied; {} cluster Secret(s) written",
        layout::argocd_root_project(&name),
        environments.len(),
        tenants.len(),
        clusters
    ))
}

/// The Application `name` in the Argo CD namespace, `None` when it does not exist (yet).
pub async fn application(ctx: &Context, name: &str) -> std::result::Result<Option<Value>, String> {
    ARGOCD
        .read(
            ctx,
            &ctx.settings.argocd_namespace,
            &applications(),
            "Application",
            name,
        )
        .await
}

/// Asks Argo CD to refresh each Application now: the environment's root first (it creates a
/// new tenant's Application and updates changed ones), then the tenants'. Best effort: the poll
/// interval still catches up, and an Application the root has not created yet is created at
/// the new revision.
pub async fn request_refresh(ctx: &Context, names: &[String]) {
    let patch = json!({"metadata": {"annotations": {engines::ARGOCD_REFRESH: "normal"}}});
    for name in names {
        if let Err(error) = api(ctx, &applications())
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            tracing::debug!(%error, application = %name, "could not ask Argo CD to refresh now");
        }
    }
}
