//! `gitopshq webhook`: the server as it runs in a cluster, until it is told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use gitopshq_crds::release::Release;
use gitopshq_engine::admission::Settings;
use gitopshq_engine::error::Chain;
use kube::api::ListParams;
use kube::{Api, Client};
use tracing::{info, warn};

use crate::Context;
use crate::directory::WatchDirectory;
use crate::error::{Error, Result};
use crate::front_proxy::{FrontProxy, guard};
use crate::server::{router, serve_with_client_ca};
use crate::tls::TlsMaterial;

/// An aggregated API served beside the admission endpoints (`logs.gitopshq.io`).
pub struct AggregatedApi {
    /// Discovery documents, answered to anyone.
    pub discovery: Router,
    /// Answered only for requests the API server forwards, with the caller as a `UserInfo`.
    pub routes: Router,
}

/// The admission routes and, with `api`, the aggregated API behind the front-proxy guard; the
/// client CA the server must accept certificates of.
pub async fn routes(
    client: &Client,
    context: Arc<Context>,
    api: Option<AggregatedApi>,
) -> (Router, Option<String>) {
    let admission = router(context);
    let Some(api) = api else {
        return (admission, None);
    };
    let front_proxy = match FrontProxy::load(client).await {
        Ok(front_proxy) => front_proxy,
        Err(error) => {
            warn!(error = %Chain(&error), "cannot read the API server's front-proxy settings; the pod-logs API answers 503");
            None
        }
    };
    if front_proxy.is_none() {
        warn!("the API server has no front proxy configured; the pod-logs API answers 503");
    }
    let client_ca = front_proxy.as_ref().map(|f| f.ca_pem.clone());
    let router = admission
        .merge(api.discovery)
        .merge(guard(api.routes, front_proxy));
    (router, client_ca)
}

/// Checks the CRDs, starts the watches, serves `/healthz` at once and `/readyz` once the caches
/// are loaded, and stops gracefully once `shutdown` resolves (SIGTERM or Ctrl-C in a pod).
pub async fn run(
    client: Client,
    tls: TlsMaterial,
    address: SocketAddr,
    settings: Settings,
    api: Option<AggregatedApi>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    Api::<Release>::all(client.clone())
        .list_metadata(&ListParams::default().limit(1))
        .await
        .map_err(|error| Error::CrdsMissing(error.to_string()))?;
    let (directory, driver) = WatchDirectory::start(client.clone());
    let directory = Arc::new(directory);
    let context = Arc::new(Context::new(directory.clone(), settings));
    let (router, client_ca) = routes(&client, Arc::clone(&context), api).await;
    let server = serve_with_client_ca(router, address, &tls, client_ca.as_deref()).await?;
    info!(address = %server.address, "admission webhook listening");
    let watches = tokio::spawn(driver);
    let ready = {
        let context = Arc::clone(&context);
        tokio::spawn(async move {
            directory.wait_ready().await;
            context.set_ready();
            info!("watch caches loaded; ready");
        })
    };
    shutdown.await;
    info!("shutting down");
    ready.abort();
    watches.abort();
    server.shutdown().await
}
