//! Flux in the management cluster: what a `delivery: Flux` project needs there (its root
//! objects and the copies of its clusters' kubeconfigs), the sync requested right after a
//! commit, and the tenants' Kustomizations read back. The objects come from the engine
//! ([`gitopshq_engine::layout::flux_root_objects`]); this module only writes and reads them.

use gitopshq_crds::consts::{engines, labels};
use gitopshq_crds::project::Project;
use gitopshq_engine::catalog::Catalog;
use gitopshq_engine::layout::{self, RepositoryRef};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use crate::context::Context;
use crate::engine_namespace::FLUX;

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn git_repositories() -> ApiResource {
    resource(
        "source.toolkit.fluxcd.io",
        "v1",
        "GitRepository",
        "gitrepositories",
    )
}

fn kustomizations() -> ApiResource {
    resource(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
        "kustomizations",
    )
}

fn api(ctx: &Context, resource: &ApiResource) -> Api<DynamicObject> {
    Api::namespaced_with(ctx.client.clone(), &ctx.settings.flux_namespace, resource)
}

/// Applies what Flux needs to deliver `project`: the copy of each of its tenants' clusters'
/// kubeconfig next to the Kustomizations, the GitRepository and one root Kustomization per
/// environment that has a folder in the repository (one was committed for, or `committing`
/// is being committed now). Returns what is in place, for the Project's status; `Err` says
/// what is missing and what to do.
pub async fn ensure_project(
    ctx: &Context,
    project: &Project,
    catalog: &Catalog,
    committing: Option<&str>,
) -> std::result::Result<String, String> {
    let name = project.name_any();
    let namespace = &ctx.settings.flux_namespace;
    let clusters = FLUX
        .apply_cluster_secrets(ctx, catalog, &name, |cluster_name, kubeconfig| {
            let copy = layout::flux_kubeconfig_secret(cluster_name);
            let secret = Secret {
                metadata: kube::api::ObjectMeta {
                    name: Some(copy.name.clone()),
                    namespace: Some(namespace.clone()),
                    labels: Some(
                        [
                            (
                                labels::MANAGED_BY.to_string(),
                                labels::MANAGED_BY_VALUE.to_string(),
                            ),
                            (labels::CLUSTER.to_string(), cluster_name.to_string()),
                        ]
                        .into(),
                    ),
                    ..Default::default()
                },
                data: Some(
                    [(
                        copy.key
                            .unwrap_or_else(|| layout::FLUX_KUBECONFIG_KEY.into()),
                        ByteString(kubeconfig),
                    )]
                    .into(),
                ),
                ..Secret::default()
            };
            Ok((secret, format!("the kubeconfig of cluster {cluster_name}")))
        })
        .await?;
    let repository = RepositoryRef::from(&project.spec.repository);
    let objects = layout::flux_root_objects(
        &name,
        &repository,
        &catalog.committed_environments(&name, committing),
        &ctx.gitops_settings(),
    )
    .map_err(|e| e.to_string())?;
    FLUX.apply_all(ctx, namespace, &objects, |kind| {
        if kind == "GitRepository" {
            git_repositories()
        } else {
            kustomizations()
        }
    })
    .await?;
    Ok(format!(
        "Flux GitRepository {namespace}/{} and {} root Kustomization(s) applied; {} cluster kubeconfig(s) copied",
        layout::flux_source(&ctx.gitops_settings(), &name),
        objects.len() - 1,
        clusters
    ))
}

/// Asks Flux to fetch the project's repository now rather than at its interval; the
/// Kustomizations follow the new revision by themselves. Best effort: the interval still
/// catches up when this fails.
pub async fn request_sync(ctx: &Context, project: &str) {
    let source = layout::flux_source(&ctx.gitops_settings(), project);
    let patch = json!({"metadata": {"annotations": {
        engines::FLUX_REQUESTED_AT: ctx.now().to_string(),
    }}});
    if let Err(error) = api(ctx, &git_repositories())
        .patch(&source, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        tracing::info!(%error, project, source = %source, "could not ask Flux to sync now");
    }
}

/// The Kustomization `name` in the Flux namespace, `None` when it does not exist (yet).
pub async fn kustomization(
    ctx: &Context,
    name: &str,
) -> std::result::Result<Option<Value>, String> {
    FLUX.read(
        ctx,
        &ctx.settings.flux_namespace,
        &kustomizations(),
        "Kustomization",
        name,
    )
    .await
}
