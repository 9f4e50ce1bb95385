//! Cluster: reads the kubeconfig Secret, asks the API server for its version, and writes what
//! the engine makes of the answer (Connected, Disconnected or Unreachable, with a heartbeat).
//! A missing or broken Secret is a condition that says what to fix, never a crash.

use std::sync::Arc;
use std::time::Duration;

use gitopshq_crds::cluster::Cluster;
use gitopshq_engine::cluster_heartbeat::{self, Heartbeat, Intervals};
use kube::ResourceExt;
use kube::runtime::controller::Action;

use crate::context::Context;
use crate::error::Result;

/// The longest wait between two questions to a cluster that does not answer.
const RETRY: Duration = Duration::from_secs(10);

pub async fn reconcile(cluster: Arc<Cluster>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.settings.shard.owns_shared() {
        return Ok(Action::await_change());
    }
    if cluster.metadata.deletion_timestamp.is_some() {
        ctx.clusters.remove(&cluster.name_any());
        return Ok(Action::await_change());
    }
    let answer = match ctx.clusters.probe(&cluster).await {
        Ok(version) => Heartbeat::Answered { version },
        Err(error) => error.heartbeat(),
    };
    let before = cluster.status.clone().unwrap_or_default();
    let beat = cluster_heartbeat::heartbeat(
        &cluster.name_any(),
        &before,
        &answer,
        Intervals {
            interval: ctx.settings.cluster_heartbeat,
            retry: RETRY,
        },
        cluster.metadata.generation,
        ctx.now(),
    );
    ctx.patch_status(cluster.as_ref(), &beat.status).await?;
    if let Some((warning, reason, message)) = beat.event {
        ctx.event(cluster.as_ref(), warning, reason, message).await;
    }
    Ok(Action::requeue(beat.next))
}
