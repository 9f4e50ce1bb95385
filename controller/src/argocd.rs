//! Argo CD in the management cluster: the tenants' Applications read back, and a refresh asked
//! for right after a commit, so Argo CD compares with the repository at once rather than at its
//! poll interval. The Applications themselves come from the repository (app-of-apps).

use gitopshq_crds::consts::engines;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

use crate::context::Context;

fn applications() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    )
}

fn api(ctx: &Context) -> Api<DynamicObject> {
    Api::namespaced_with(
        ctx.client.clone(),
        &ctx.settings.argocd_namespace,
        &applications(),
    )
}

/// The Application `name` in the Argo CD namespace, `None` when it does not exist (yet).
pub async fn application(ctx: &Context, name: &str) -> std::result::Result<Option<Value>, String> {
    let found = api(ctx).get_opt(name).await.map_err(|error| {
        format!(
            "reading Argo CD Application {}/{name}: {error}",
            ctx.settings.argocd_namespace
        )
    })?;
    found
        .map(|a| serde_json::to_value(a).map_err(|e| e.to_string()))
        .transpose()
}

/// Asks Argo CD to refresh each Application now. Best effort: its poll interval still catches
/// up, and an Application the app-of-apps has not created yet is created at the new revision.
pub async fn request_refresh(ctx: &Context, names: &[String]) {
    let patch = json!({"metadata": {"annotations": {engines::ARGOCD_REFRESH: "normal"}}});
    for name in names {
        if let Err(error) = api(ctx)
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            tracing::debug!(%error, application = %name, "could not ask Argo CD to refresh now");
        }
    }
}
