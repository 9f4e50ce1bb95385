//! Project: its namespace, the Roles and RoleBindings of its team grants (and read access to
//! the catalog), and the GitOps repository skeleton `environments/<env>/values.yaml`.
//!
//! RBAC objects carry an owner reference to the Project, so the garbage collector removes them
//! with it; the namespace does not, so deleting a Project never deletes its workloads,
//! releases and audit trail.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use gitopshq_crds::consts::{FIELD_MANAGER, labels};
use gitopshq_crds::project::{DeliveryMode, Project};
use gitopshq_engine::error::Chain;
use gitopshq_engine::layout;
use gitopshq_engine::lifecycle::project::{
    ProjectOutcome, ProjectWork, RbacProblem, project_status,
};
use gitopshq_engine::rbac;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::Context;
use crate::error::{Result, kube as kube_error};
use gitopshq_delivery::git::{self, Change, CommitMeta};

/// RBAC drift (someone edited a Role) is repaired this often.
const RESYNC: Duration = Duration::from_secs(300);
const RETRY: Duration = Duration::from_secs(15);

pub async fn reconcile(project: Arc<Project>, ctx: Arc<Context>) -> Result<Action> {
    let name = project.name_any();
    if !ctx.settings.shard.owns(&name) || project.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = project.namespace_name();
    let rbac = ensure_namespace_and_rbac(&project, &ctx)
        .await
        .map_err(|e| RbacProblem {
            error: e.to_string(),
            chain: Chain(&e).to_string(),
        });
    let repository = initialise_repository(&project, &ctx).await;
    // Flux and Argo CD need their root objects and the clusters' credentials in the management
    // cluster; a failure there is shown, but releases still commit (the engine catches up once
    // fixed).
    let gitops = match project.spec.delivery {
        DeliveryMode::Flux => {
            let catalog = ctx.index.catalog(&name);
            Some(crate::flux::ensure_project(&ctx, &project, &catalog, None).await)
        }
        DeliveryMode::ArgoCD => {
            let catalog = ctx.index.catalog(&name);
            Some(crate::argocd::ensure_project(&ctx, &project, &catalog, None).await)
        }
        _ => None,
    };
    let work = ProjectWork {
        namespace,
        rbac,
        repository,
        gitops,
    };
    let ProjectOutcome {
        status,
        ready,
        event,
    } = project_status(&project, &work, ctx.now());
    if project.status.as_ref() != Some(&status) {
        ctx.patch_status(project.as_ref(), &status).await?;
        if let Some((warning, reason, message)) = event {
            ctx.event(project.as_ref(), warning, reason, message).await;
        }
    }
    Ok(Action::requeue(if ready { RESYNC } else { RETRY }))
}

/// Applies the namespace, the catalog ClusterRole, one Role + RoleBinding per grant and the
/// catalog binding; deletes Roles and RoleBindings of grants that were removed. Returns how
/// many grants are in place.
async fn ensure_namespace_and_rbac(project: &Project, ctx: &Context) -> Result<usize> {
    let name = project.name_any();
    let namespace = project.namespace_name();
    let owner = project.controller_owner_ref(&()).map(|o| vec![o]);
    let ns = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(namespace.clone()),
            labels: Some(BTreeMap::from([
                (labels::PROJECT.to_string(), name.clone()),
                (
                    labels::MANAGED_BY.to_string(),
                    labels::MANAGED_BY_VALUE.to_string(),
                ),
            ])),
            ..Default::default()
        },
        ..Namespace::default()
    };
    apply(Api::<Namespace>::all(ctx.client.clone()), &namespace, &ns).await?;
    apply(
        Api::<ClusterRole>::all(ctx.client.clone()),
        rbac::CATALOG_READER,
        &rbac::catalog_reader(),
    )
    .await?;

    let mut wanted = rbac::project_rbac(project);
    let roles: Api<Role> = Api::namespaced(ctx.client.clone(), &namespace);
    let bindings: Api<RoleBinding> = Api::namespaced(ctx.client.clone(), &namespace);
    for role in &mut wanted.roles {
        role.metadata.owner_references = owner.clone();
        apply(roles.clone(), &role.name_any(), role).await?;
    }
    for binding in &mut wanted.role_bindings {
        binding.metadata.owner_references = owner.clone();
        apply(bindings.clone(), &binding.name_any(), binding).await?;
    }
    let cluster_bindings: Api<ClusterRoleBinding> = Api::all(ctx.client.clone());
    let binding_name = format!("gitopshq:{name}:catalog-readers");
    match &mut wanted.catalog_binding {
        Some(binding) => {
            binding.metadata.owner_references = owner.clone();
            apply(cluster_bindings, &binding_name, binding).await?;
        }
        None => delete_if_present(&cluster_bindings, &binding_name).await?,
    }
    let keep: Vec<String> = wanted.roles.iter().map(|r| r.name_any()).collect();
    prune(&roles, &name, &keep).await?;
    prune(&bindings, &name, &keep).await?;
    Ok(wanted.roles.len())
}

async fn apply<K>(api: Api<K>, name: &str, object: &K) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + DeserializeOwned + Serialize,
{
    let mut body = serde_json::to_value(object).unwrap_or_default();
    body["apiVersion"] = K::api_version(&()).into();
    body["kind"] = K::kind(&()).into();
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
    .map_err(kube_error(format!("applying {} {name}", K::kind(&()))))?;
    Ok(())
}

async fn prune<K>(api: &Api<K>, project: &str, keep: &[String]) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + DeserializeOwned,
{
    let selector = format!(
        "{}={project},{}={}",
        labels::PROJECT,
        labels::MANAGED_BY,
        labels::MANAGED_BY_VALUE
    );
    let existing = api
        .list_metadata(&ListParams::default().labels(&selector))
        .await
        .map_err(kube_error(format!(
            "listing {} of project {project}",
            K::kind(&())
        )))?;
    for object in existing.items {
        let name = object.metadata.name.unwrap_or_default();
        if !keep.contains(&name) {
            delete_if_present(api, &name).await?;
        }
    }
    Ok(())
}

async fn delete_if_present<K>(api: &Api<K>, name: &str) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + DeserializeOwned,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(kube_error(format!("deleting {} {name}", K::kind(&())))(
            source,
        )),
    }
}

/// Commits the skeleton where it is missing (no commit when everything is there); returns the
/// branch head.
async fn initialise_repository(
    project: &Project,
    ctx: &Context,
) -> std::result::Result<String, String> {
    let remote = ctx.git_remote(project).await?;
    let name = project.name_any();
    let seeds = layout::project_skeleton(
        &name,
        project.spec.repository.path.as_deref(),
        &project.spec.environments,
    )
    .map_err(|e| format!("{e}; fix spec.repository.path"))?;
    let change = Change {
        seeds,
        ..Change::default()
    };
    let committer = ctx.committer().await?;
    let meta = CommitMeta {
        message: format!(
            "Initialise project {name}\n\nEnvironments: {}\n",
            project.spec.environments.join(", ")
        ),
        author: committer.identity,
        committer: None,
        time: None,
        signing_key: committer.signing_key,
    };
    let cache = ctx.settings.cache_dir.clone();
    tokio::task::spawn_blocking(move || git::deliver(&remote, &cache, &change, &meta))
        .await
        .map_err(|e| e.to_string())?
        .map(|outcome| outcome.commit)
        .map_err(|e| e.to_string())
}
