//! `/metrics`, `/healthz` and `/readyz` of the controller, and the start-up check that the
//! CRDs are installed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use gitopshq_crds::all_crds;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{Api, Client};

use crate::context::Context;
use crate::manager::RunError;
use crate::metrics::Metrics;

/// Ready once the controllers run (their caches are filled).
#[derive(Clone, Default)]
pub struct Health {
    context: Arc<OnceLock<Arc<Context>>>,
}

impl Health {
    pub fn set_ready(&self, context: Arc<Context>) {
        let _ = self.context.set(context);
    }
}

#[derive(Clone)]
struct Served {
    metrics: Arc<Metrics>,
    health: Health,
}

pub fn router(metrics: Arc<Metrics>, health: Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(Served { metrics, health })
}

async fn metrics_text(State(served): State<Served>) -> impl IntoResponse {
    if let Some(ctx) = served.health.context.get() {
        let mut phases: BTreeMap<String, i64> = BTreeMap::new();
        for release in ctx.index.releases.store.state() {
            let phase = release
                .status
                .as_ref()
                .and_then(|s| s.phase)
                .map_or("Unknown".to_string(), |p| format!("{p:?}"));
            *phases.entry(phase).or_default() += 1;
        }
        served.metrics.set_release_phases(phases);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        served.metrics.encode(),
    )
}

async fn readyz(State(served): State<Served>) -> impl IntoResponse {
    match served.health.context.get() {
        Some(_) => (StatusCode::OK, "ready"),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for the Lease or the watch caches",
        ),
    }
}

/// Binds `address` and serves in the background; returns the bound address.
pub async fn serve(
    address: SocketAddr,
    metrics: Arc<Metrics>,
    health: Health,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    let app = router(metrics, health);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "metrics server stopped");
        }
    });
    Ok(bound)
}

/// Fails with the install command when a CRD of the API is missing.
pub async fn check_crds(client: &Client) -> Result<(), RunError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut missing = Vec::new();
    for crd in all_crds() {
        let name = crd.metadata.name.unwrap_or_default();
        match api.get_opt(&name).await {
            Ok(Some(_)) => {}
            Ok(None) => missing.push(name),
            Err(e) => {
                return Err(RunError::Crds(format!(
                    "cannot check the CRDs ({e}); the controller needs to read customresourcedefinitions"
                )));
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(RunError::Crds(format!(
        "the GitOpsHQ CRDs {} are not installed: install them with `gitopshq crds | kubectl apply --server-side -f -` (or the Helm chart)",
        missing.join(", ")
    )))
}
