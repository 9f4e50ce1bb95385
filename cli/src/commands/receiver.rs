//! `gitopshq receiver`: the container registry webhook receiver on its own, for clusters that
//! expose it apart from the controller (`gitopshq controller --receiver-address` serves the
//! same endpoints from the controller's caches).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use gitopshq_controller::metrics::Metrics;
use gitopshq_controller::receiver::{self, Objects, ReceiverOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to serve `POST /registry/<source>[/<token>]`, `/healthz` and `/metrics` on.
    #[arg(
        long = "receiver-address",
        visible_alias = "address",
        env = "GITOPSHQ_RECEIVER_ADDRESS",
        default_value = "0.0.0.0:8081"
    )]
    pub address: SocketAddr,
    #[command(flatten)]
    pub options: ReceiverOptions,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let client = kube::Client::try_default().await.context(
            "cannot reach the Kubernetes API (in-cluster config or KUBECONFIG); the receiver reads Workloads and writes them and their Releases",
        )?;
        let receiver = receiver::Receiver::new(
            client,
            Objects::Api,
            &args.options,
            Arc::new(Metrics::default()),
        )?
        .with_metrics_endpoint();
        let serving = receiver::serve(Arc::new(receiver), args.address, &args.options).await?;
        eprintln!(
            "serving the registry webhook receiver on {}://{}/registry/<source>",
            if serving.tls { "https" } else { "http" },
            serving.address
        );
        tokio::select! {
            result = serving.wait() => result.context("the receiver stopped")?,
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(ExitCode::SUCCESS)
    })
}
