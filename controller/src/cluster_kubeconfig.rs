//! The kubeconfigs of the clusters a project's tenants run on, as `gitopshq cluster register`
//! stored them, for the GitOps engine that delivers there (Flux's copies, Argo CD's cluster
//! Secrets).

use std::collections::BTreeSet;

use gitopshq_engine::catalog::Catalog;

use crate::context::Context;

/// The clusters of `project`'s tenants, each once.
pub fn clusters_of<'c>(catalog: &'c Catalog, project: &str) -> BTreeSet<&'c str> {
    catalog
        .tenants_of(project)
        .map(|t| t.spec.cluster.as_str())
        .collect()
}

/// The stored kubeconfig of `cluster`; `Err` names what is missing and how to fix it.
pub async fn stored_kubeconfig(
    ctx: &Context,
    catalog: &Catalog,
    project: &str,
    cluster: &str,
) -> std::result::Result<Vec<u8>, String> {
    let Some(registered) = catalog.cluster(cluster) else {
        return Err(format!(
            "cluster {cluster} of a tenant of project {project} is not registered: gitopshq cluster register {cluster} --context CONTEXT"
        ));
    };
    let reference = &registered.spec.kubeconfig_secret_ref;
    let data = ctx
        .secret_data(&reference.namespace, &reference.name)
        .await
        .map_err(|e| e.to_string())?;
    data.and_then(|d| d.get(&reference.key).cloned())
        .ok_or_else(|| {
            format!(
                "Secret {}/{} of cluster {cluster} has no key {}: register the cluster again",
                reference.namespace, reference.name, reference.key
            )
        })
}
