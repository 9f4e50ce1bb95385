//! What makes Argo CD deliver a project, applied to the management cluster by the Project
//! controller (the same way it applies Flux's root objects), so pointing Argo CD at the
//! repository takes no hand step:
//!
//! - an AppProject `gitopshq-<project>` that may only create Applications in Argo CD's own
//!   namespace, from the project's repository;
//! - per environment an app-of-apps root Application `gitopshq-<project>-<environment>` of that
//!   AppProject, applying `<root>/<env>/_applications`, where each release writes its tenants'
//!   Applications;
//! - per tenant an AppProject `<project>-<environment>-<tenant>` that its Application belongs
//!   to, restricting destinations to the tenant's cluster and namespace: a manifest that names
//!   another namespace, or a cluster-scoped object other than the tenant's Namespace, is refused
//!   by Argo CD itself;
//! - per cluster a cluster Secret made from the Cluster's stored kubeconfig.
//!
//! The AppProjects come from the API (what admission judged), not from the repository: whoever
//! can push to the repository can change an Application, not widen what it may reach.

use gitopshq_crds::consts::{engines, names};
use serde_json::{Value, json};

use super::{APPLICATIONS_DIR, LayoutError, RepositoryRef, gitops::labels, gitops_object_name};
use crate::cluster_access::StoredKubeconfig;

/// A tenant of the project, as its AppProject needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgoTenant {
    pub name: String,
    pub environment: String,
    pub cluster: String,
    pub namespace: String,
}

/// The AppProject of a project's app-of-apps roots: `gitopshq-<project>`.
pub fn argocd_root_project(project: &str) -> String {
    format!("{}{project}", names::ARGOCD_ROOT_PREFIX)
}

/// The app-of-apps root Application of `environment`: `gitopshq-<project>-<environment>`.
pub fn argocd_root_name(project: &str, environment: &str) -> String {
    format!("{}{project}-{environment}", names::ARGOCD_ROOT_PREFIX)
}

/// The Argo CD cluster Secret of `cluster`: `gitopshq-cluster-<cluster>`.
pub fn argocd_cluster_secret_name(cluster: &str) -> String {
    format!("{}{cluster}", names::ARGOCD_CLUSTER_PREFIX)
}

fn project_labels(project: &str) -> serde_json::Map<String, Value> {
    let mut labels = serde_json::Map::new();
    labels.insert(labels::MANAGED_BY.into(), labels::MANAGER.into());
    labels.insert(labels::PROJECT.into(), project.into());
    labels
}

/// The root AppProject, the root Application of each of `environments` and the AppProject of
/// each of `tenants`, in the order they must be applied (a project before what belongs to it).
pub fn argocd_root_objects(
    project: &str,
    repository: &RepositoryRef,
    environments: &[String],
    tenants: &[ArgoTenant],
    argocd_namespace: &str,
) -> Result<Vec<Value>, LayoutError> {
    let root = super::repository_root(project, repository.path.as_deref())?;
    let root_project = argocd_root_project(project);
    let mut objects = vec![json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {
            "name": root_project,
            "namespace": argocd_namespace,
            "labels": project_labels(project),
        },
        "spec": {
            "description": format!("GitOpsHQ project {project}: the Applications of its tenants, from its repository"),
            "sourceRepos": [repository.url],
            "destinations": [{"server": engines::ARGOCD_IN_CLUSTER, "namespace": argocd_namespace}],
            "clusterResourceWhitelist": [],
            "namespaceResourceWhitelist": [{"group": "argoproj.io", "kind": "Application"}],
        },
    })];
    for environment in environments {
        let mut labels = project_labels(project);
        labels.insert(labels::ENVIRONMENT.into(), environment.clone().into());
        objects.push(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {
                "name": argocd_root_name(project, environment),
                "namespace": argocd_namespace,
                "labels": labels,
            },
            "spec": {
                "project": root_project,
                "source": {
                    "repoURL": repository.url,
                    "targetRevision": repository.branch,
                    "path": format!("{root}/{environment}/{APPLICATIONS_DIR}"),
                },
                "destination": {"server": engines::ARGOCD_IN_CLUSTER, "namespace": argocd_namespace},
                // Pruning a removed tenant's Application leaves what it delivered in place:
                // the tenants' Applications carry no deletion finalizer.
                "syncPolicy": {"automated": {"prune": true, "selfHeal": true}},
            },
        }));
    }
    for tenant in tenants {
        let mut labels = project_labels(project);
        labels.insert(
            labels::ENVIRONMENT.into(),
            tenant.environment.clone().into(),
        );
        labels.insert(labels::TENANT.into(), tenant.name.clone().into());
        labels.insert(labels::CLUSTER.into(), tenant.cluster.clone().into());
        objects.push(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {
                "name": gitops_object_name(project, &tenant.environment, &tenant.name),
                "namespace": argocd_namespace,
                "labels": labels,
            },
            "spec": {
                "description": format!(
                    "GitOpsHQ tenant {} of project {project} in {}: namespace {} of cluster {} only",
                    tenant.name, tenant.environment, tenant.namespace, tenant.cluster
                ),
                "sourceRepos": [repository.url],
                "destinations": [{"name": tenant.cluster, "namespace": tenant.namespace}],
                // Its own Namespace (CreateNamespace=true) and no other cluster-scoped object.
                "clusterResourceWhitelist": [{"group": "", "kind": "Namespace", "name": tenant.namespace}],
            },
        }));
    }
    Ok(objects)
}

/// The Argo CD cluster Secret of `cluster`, named by the Cluster's name, from its stored
/// kubeconfig. Argo CD runs no exec plugin of ours and reads no file of the controller: only a
/// bearer token (what `gitopshq cluster register` stores) or an embedded client certificate
/// can be handed over.
pub fn argocd_cluster_secret(
    cluster: &str,
    stored: &StoredKubeconfig,
    argocd_namespace: &str,
) -> Result<Value, LayoutError> {
    let refuse = |reason: String| LayoutError::ArgoCdCluster {
        cluster: cluster.to_string(),
        reason,
    };
    let endpoint = &stored.endpoint;
    let mut config = serde_json::Map::new();
    let mut tls = serde_json::Map::new();
    match (&stored.token, &stored.client_certificate, &stored.exec) {
        (Some(token), _, _) => {
            config.insert("bearerToken".into(), token.clone().into());
        }
        (None, Some((certificate, key)), _) => {
            tls.insert("certData".into(), certificate.clone().into());
            tls.insert("keyData".into(), key.clone().into());
        }
        (None, None, Some(command)) => {
            return Err(refuse(format!(
                "its kubeconfig authenticates with the exec plugin {command:?}, which Argo CD cannot run"
            )));
        }
        (None, None, None) => {
            return Err(refuse(
                "its kubeconfig has no bearer token and no embedded client certificate".into(),
            ));
        }
    }
    tls.insert("insecure".into(), endpoint.insecure_skip_tls_verify.into());
    if let Some(ca) = &endpoint.certificate_authority_data {
        tls.insert("caData".into(), ca.clone().into());
    }
    if let Some(name) = &endpoint.tls_server_name {
        tls.insert("serverName".into(), name.clone().into());
    }
    config.insert("tlsClientConfig".into(), tls.into());
    let mut config = Value::Object(config);
    if let Some(proxy) = &endpoint.proxy_url {
        config["proxyUrl"] = proxy.clone().into();
    }
    let mut labels = serde_json::Map::new();
    labels.insert(labels::MANAGED_BY.into(), labels::MANAGER.into());
    labels.insert(labels::CLUSTER.into(), cluster.into());
    labels.insert(engines::ARGOCD_SECRET_TYPE.into(), "cluster".into());
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": argocd_cluster_secret_name(cluster),
            "namespace": argocd_namespace,
            "labels": labels,
        },
        "type": "Opaque",
        "stringData": {
            "name": cluster,
            "server": endpoint.server,
            "config": config.to_string(),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster_access::Endpoint;

    fn repository() -> RepositoryRef {
        RepositoryRef {
            url: "https://git.example.com/payments.git".into(),
            branch: "main".into(),
            path: None,
        }
    }

    fn tenant() -> ArgoTenant {
        ArgoTenant {
            name: "acme".into(),
            environment: "production".into(),
            cluster: "prod-eu".into(),
            namespace: "payments-acme".into(),
        }
    }

    #[test]
    fn the_root_may_create_applications_in_argo_cds_namespace_only() {
        let objects = argocd_root_objects(
            "payments",
            &repository(),
            &["production".into()],
            &[tenant()],
            "argocd",
        )
        .unwrap();
        let kinds: Vec<_> = objects
            .iter()
            .map(|o| {
                (
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("AppProject", "gitopshq-payments"),
                ("Application", "gitopshq-payments-production"),
                ("AppProject", "payments-production-acme"),
            ]
        );
        let root = &objects[0]["spec"];
        assert_eq!(root["clusterResourceWhitelist"], json!([]));
        assert_eq!(
            root["namespaceResourceWhitelist"],
            json!([{"group": "argoproj.io", "kind": "Application"}])
        );
        assert_eq!(
            root["destinations"],
            json!([{"server": "https://kubernetes.default.svc", "namespace": "argocd"}])
        );
        let app = &objects[1]["spec"];
        assert_eq!(app["project"], "gitopshq-payments");
        assert_eq!(
            app["source"]["path"],
            "projects/payments/production/_applications"
        );
    }

    #[test]
    fn a_tenants_project_reaches_its_namespace_on_its_cluster_only() {
        let objects =
            argocd_root_objects("payments", &repository(), &[], &[tenant()], "argocd").unwrap();
        let spec = &objects[1]["spec"];
        assert_eq!(
            spec["destinations"],
            json!([{"name": "prod-eu", "namespace": "payments-acme"}])
        );
        assert_eq!(
            spec["clusterResourceWhitelist"],
            json!([{"group": "", "kind": "Namespace", "name": "payments-acme"}])
        );
        assert_eq!(
            spec["sourceRepos"],
            json!(["https://git.example.com/payments.git"])
        );
        assert!(spec.get("namespaceResourceWhitelist").is_none());
    }

    fn stored(token: Option<&str>, exec: Option<&str>) -> StoredKubeconfig {
        StoredKubeconfig {
            endpoint: Endpoint {
                server: "https://10.0.0.1:6443".into(),
                certificate_authority_data: Some("LS0tLS1CRUdJTg==".into()),
                ..Endpoint::default()
            },
            token: token.map(str::to_string),
            client_certificate: None,
            exec: exec.map(str::to_string),
        }
    }

    #[test]
    fn a_cluster_secret_carries_the_token_and_the_ca() {
        let secret =
            argocd_cluster_secret("prod-eu", &stored(Some("t0k3n"), None), "argocd").unwrap();
        assert_eq!(secret["metadata"]["name"], "gitopshq-cluster-prod-eu");
        assert_eq!(
            secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"],
            "cluster"
        );
        assert_eq!(secret["stringData"]["name"], "prod-eu");
        assert_eq!(secret["stringData"]["server"], "https://10.0.0.1:6443");
        let config: Value =
            serde_json::from_str(secret["stringData"]["config"].as_str().unwrap()).unwrap();
        assert_eq!(
            config,
            json!({"bearerToken": "t0k3n", "tlsClientConfig": {"insecure": false, "caData": "LS0tLS1CRUdJTg=="}})
        );
    }

    #[test]
    fn an_embedded_client_certificate_is_handed_over_without_a_token() {
        let mut with_certificate = stored(None, None);
        with_certificate.client_certificate = Some(("Q0VSVA==".into(), "S0VZ".into()));
        let secret = argocd_cluster_secret("prod-eu", &with_certificate, "argocd").unwrap();
        let config: Value =
            serde_json::from_str(secret["stringData"]["config"].as_str().unwrap()).unwrap();
        assert_eq!(
            config,
            json!({"tlsClientConfig": {"insecure": false, "caData": "LS0tLS1CRUdJTg==", "certData": "Q0VSVA==", "keyData": "S0VZ"}})
        );
        let error = argocd_cluster_secret("prod-eu", &stored(None, None), "argocd")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("no bearer token and no embedded client certificate"),
            "{error}"
        );
    }

    #[test]
    fn an_exec_plugin_cannot_be_handed_to_argo_cd() {
        let error = argocd_cluster_secret("prod-eu", &stored(None, Some("aws")), "argocd")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("cluster prod-eu cannot be given to Argo CD: its kubeconfig authenticates with the exec plugin \"aws\""),
            "{error}"
        );
        assert!(
            error.contains("gitopshq cluster register prod-eu"),
            "{error}"
        );
    }
}
