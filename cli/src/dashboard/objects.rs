//! Reading GitOpsHQ objects as the signed-in person: what RBAC hides is left out, not an
//! error, so every page shows what that person may see.

use futures::future::join_all;
use gitopshq_crds::environment::Environment;
use gitopshq_crds::project::Project;
use gitopshq_engine::outcome::{Attempt, Kind};
use kube::api::ListParams;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use super::auth::Person;
use super::error::ApiResult;
use crate::kube_client::Failure;

/// A namespaced kind the dashboard reads.
pub trait Namespaced:
    Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + DeserializeOwned
    + std::fmt::Debug
{
}

impl<K> Namespaced for K where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
{
}

/// A cluster-scoped kind the dashboard reads.
pub trait Cataloged:
    Resource<Scope = k8s_openapi::ClusterResourceScope, DynamicType = ()>
    + Clone
    + DeserializeOwned
    + std::fmt::Debug
{
}

impl<K> Cataloged for K where
    K: Resource<Scope = k8s_openapi::ClusterResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
{
}

/// Every object of a cluster-scoped kind; none when RBAC hides the kind.
pub async fn list_all<K: Cataloged>(person: &Person, resource: &str) -> ApiResult<Vec<K>> {
    let api: Api<K> = Api::all(person.client.clone());
    let listed = person
        .session("")
        .call(
            Attempt::new("list", resource, None),
            api.list(&ListParams::default()),
        )
        .await;
    hidden_is_empty(listed.map(|l| l.items))
}

/// Every object of a namespaced kind in `namespace`; `None` when RBAC hides them.
pub async fn list_in<K: Namespaced>(
    person: &Person,
    namespace: &str,
    resource: &str,
) -> ApiResult<Option<Vec<K>>> {
    let api: Api<K> = Api::namespaced(person.client.clone(), namespace);
    let listed = person
        .session(namespace)
        .call(
            Attempt::new("list", resource, Some(namespace)),
            api.list(&ListParams::default()),
        )
        .await;
    match listed {
        Ok(list) => Ok(Some(list.items)),
        Err(e) if is_hidden(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The objects of a namespaced kind in all of `namespaces`, read concurrently; those RBAC
/// hides are left out.
pub async fn list_each<K: Namespaced>(
    person: &Person,
    namespaces: &[String],
    resource: &str,
) -> ApiResult<Vec<K>> {
    let lists = join_all(
        namespaces
            .iter()
            .map(|ns| list_in::<K>(person, ns, resource)),
    )
    .await;
    let mut out = Vec::new();
    for listed in lists {
        out.extend(listed?.unwrap_or_default());
    }
    Ok(out)
}

/// One namespaced object; `None` when it does not exist.
pub async fn get_in<K: Namespaced>(
    person: &Person,
    namespace: &str,
    resource: &str,
    name: &str,
) -> ApiResult<Option<K>> {
    let api: Api<K> = Api::namespaced(person.client.clone(), namespace);
    Ok(person
        .session(namespace)
        .get_opt(
            Attempt::new("get", resource, Some(namespace)).on(format!("{resource} {name}")),
            api.get(name),
        )
        .await?)
}

fn is_hidden(error: &anyhow::Error) -> bool {
    error
        .chain()
        .find_map(|e| e.downcast_ref::<Failure>())
        .is_some_and(|f| f.0.kind == Kind::NotPermitted)
}

fn hidden_is_empty<T>(listed: anyhow::Result<Vec<T>>) -> ApiResult<Vec<T>> {
    match listed {
        Ok(items) => Ok(items),
        Err(e) if is_hidden(&e) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Projects the person can see, with their namespaces, sorted by name.
pub async fn projects(person: &Person) -> ApiResult<Vec<Project>> {
    let mut projects = list_all::<Project>(person, "projects.gitopshq.io").await?;
    projects.sort_by_key(kube::ResourceExt::name_any);
    Ok(projects)
}

/// Environments by rank, then name.
pub async fn environments(person: &Person) -> ApiResult<Vec<Environment>> {
    let mut environments = list_all::<Environment>(person, "environments.gitopshq.io").await?;
    environments.sort_by_key(|e| (e.spec.rank, kube::ResourceExt::name_any(e)));
    Ok(environments)
}
