//! `gitopshq webhook`: the server as it runs in a cluster, until it is told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use gitopshq_crds::release::Release;
use gitopshq_engine::admission::Settings;
use kube::api::ListParams;
use kube::{Api, Client};
use tracing::info;

use crate::Context;
use crate::directory::WatchDirectory;
use crate::error::{Error, Result};
use crate::server::{router, serve};
use crate::tls::TlsMaterial;

/// Checks the CRDs, starts the watches, serves `/healthz` at once and `/readyz` once the caches
/// are loaded, and stops gracefully once `shutdown` resolves (SIGTERM or Ctrl-C in a pod).
pub async fn run(
    client: Client,
    tls: TlsMaterial,
    address: SocketAddr,
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    Api::<Release>::all(client.clone())
        .list_metadata(&ListParams::default().limit(1))
        .await
        .map_err(|error| Error::CrdsMissing(error.to_string()))?;
    let (directory, driver) = WatchDirectory::start(client);
    let directory = Arc::new(directory);
    let context = Arc::new(Context::new(directory.clone(), settings));
    let server = serve(router(Arc::clone(&context)), address, &tls).await?;
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
