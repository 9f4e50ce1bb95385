//! Writing into a GitOps engine's namespace of the management cluster (Flux's, Argo CD's), with
//! errors that say what to do next: the engine is not installed, or the controller is not
//! granted what it needs there.

use gitopshq_crds::consts::FIELD_MANAGER;
use gitopshq_engine::catalog::Catalog;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::Value;

use crate::cluster_kubeconfig;
use crate::context::Context;

/// One engine, as its errors name it.
#[derive(Debug)]
pub struct Engine {
    pub name: &'static str,
    /// The API groups of its kinds, named when they are not served.
    groups: &'static str,
    /// What to do when it is not installed.
    install: &'static str,
    /// The chart value and the kustomize folder that grant the controller its namespace.
    chart_value: &'static str,
    config: &'static str,
}

pub const FLUX: Engine = Engine {
    name: "Flux",
    groups: "source.toolkit.fluxcd.io/kustomize.toolkit.fluxcd.io",
    install: "install it (flux install) or deliver with ArgoCD or Direct",
    chart_value: "controller.flux.rbac",
    config: "config/flux",
};

pub const ARGOCD: Engine = Engine {
    name: "Argo CD",
    groups: "argoproj.io",
    install: "install it or deliver with Flux or Direct",
    chart_value: "controller.argocd.rbac",
    config: "config/argocd",
};

impl Engine {
    /// What to do when the controller's grants in the engine's namespace do not allow `action`.
    pub fn forbidden(&self, action: &str, refusal: &str) -> String {
        format!(
            "{action}: the controller may not ({refusal}); grant it with the chart's {}=true or kubectl apply -k {}",
            self.chart_value, self.config
        )
    }

    /// Explains an API error of one of the engine's kinds: a 404 on the kind means the engine
    /// is not installed.
    pub fn error(&'static self, action: String) -> impl FnOnce(kube::Error) -> String {
        move |error| match &error {
            kube::Error::Api(status) if status.code == 404 => format!(
                "{action}: {} is not installed in the management cluster (no {} kinds); {}",
                self.name, self.groups, self.install
            ),
            kube::Error::Api(status) if status.code == 403 => {
                self.forbidden(&action, &status.message)
            }
            _ => format!("{action}: {error}"),
        }
    }

    /// Server-side applies each of `objects` into `namespace`, the kind of each served as
    /// `resource_of(kind)` says; stops at the first refusal.
    pub async fn apply_all(
        &'static self,
        ctx: &Context,
        namespace: &str,
        objects: &[Value],
        resource_of: impl Fn(&str) -> ApiResource,
    ) -> Result<(), String> {
        for object in objects {
            let kind = object["kind"].as_str().unwrap_or_default();
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            let dynamic: DynamicObject =
                serde_json::from_value(object.clone()).map_err(|e| e.to_string())?;
            Api::<DynamicObject>::namespaced_with(
                ctx.client.clone(),
                namespace,
                &resource_of(kind),
            )
            .patch(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&dynamic),
            )
            .await
            .map_err(self.error(format!("applying {} {kind} {namespace}/{name}", self.name)))?;
        }
        Ok(())
    }

    /// Writes a Secret for each cluster `project`'s tenants run on, as `secret_of` builds it
    /// from the cluster's stored kubeconfig together with what it holds (for the error).
    /// Returns how many it wrote.
    pub async fn apply_cluster_secrets(
        &self,
        ctx: &Context,
        catalog: &Catalog,
        project: &str,
        secret_of: impl Fn(&str, Vec<u8>) -> Result<(Secret, String), String>,
    ) -> Result<usize, String> {
        let clusters = cluster_kubeconfig::clusters_of(catalog, project);
        for cluster in &clusters {
            let kubeconfig =
                cluster_kubeconfig::stored_kubeconfig(ctx, catalog, project, cluster).await?;
            let (secret, what) = secret_of(cluster, kubeconfig)?;
            self.apply_secret(ctx, &secret, &what).await?;
        }
        Ok(clusters.len())
    }

    /// The object `name` of one of the engine's kinds in `namespace`, `None` when it does not
    /// exist (yet); `kind` names it in the error.
    pub async fn read(
        &'static self,
        ctx: &Context,
        namespace: &str,
        resource: &ApiResource,
        kind: &str,
        name: &str,
    ) -> Result<Option<Value>, String> {
        let found = Api::<DynamicObject>::namespaced_with(ctx.client.clone(), namespace, resource)
            .get_opt(name)
            .await
            .map_err(self.error(format!("reading {} {kind} {namespace}/{name}", self.name)))?;
        found
            .map(|o| serde_json::to_value(o).map_err(|e| e.to_string()))
            .transpose()
    }

    /// Server-side applies `secret` (named, in the engine's namespace); `what` says what it
    /// holds, for the error.
    pub async fn apply_secret(
        &self,
        ctx: &Context,
        secret: &Secret,
        what: &str,
    ) -> Result<(), String> {
        let namespace = secret.metadata.namespace.as_deref().unwrap_or_default();
        let name = secret.metadata.name.as_deref().unwrap_or_default();
        Api::<Secret>::namespaced(ctx.client.clone(), namespace)
            .patch(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(secret),
            )
            .await
            .map(drop)
            .map_err(|e| match &e {
                kube::Error::Api(status) if status.code == 403 => self.forbidden(
                    &format!("writing {what} to Secret {namespace}/{name}"),
                    &status.message,
                ),
                _ => format!(
                    "writing {what} to Secret {namespace}/{name}: {e}; create namespace {namespace} (installing {} does)",
                    self.name
                ),
            })
    }
}
