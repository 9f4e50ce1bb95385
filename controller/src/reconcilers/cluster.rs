//! Cluster: reads the kubeconfig Secret, asks the API server for its version, and reports
//! Connected or Unreachable with a heartbeat. A missing or broken Secret is a condition that
//! says what to fix, never a crash.

use std::sync::Arc;
use std::time::Duration;

use gitopshq_crds::cluster::{Cluster, ClusterPhase};
use gitopshq_crds::common::Time;
use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_engine::conditions::{self, Status};
use kube::ResourceExt;
use kube::runtime::controller::Action;

use crate::context::Context;
use crate::error::Result;

/// Heartbeat of a connected cluster.
const HEARTBEAT: Duration = Duration::from_secs(30);
/// Retry of an unreachable or misconfigured cluster.
const RETRY: Duration = Duration::from_secs(10);

pub async fn reconcile(cluster: Arc<Cluster>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.settings.shard.owns_shared() {
        return Ok(Action::await_change());
    }
    if cluster.metadata.deletion_timestamp.is_some() {
        ctx.clusters.remove(&cluster.name_any());
        return Ok(Action::await_change());
    }
    let now = ctx.now();
    let generation = cluster.metadata.generation;
    let mut status = cluster.status.clone().unwrap_or_default();
    let was = status.phase;
    let probe = ctx.clusters.probe(&cluster).await;
    let next = match &probe {
        Ok(version) => {
            status.phase = Some(ClusterPhase::Connected);
            status.server_version = Some(version.clone());
            status.last_heartbeat = Some(Time(now));
            status.message = Some(format!("connected; Kubernetes {version}"));
            HEARTBEAT
        }
        Err(error) => {
            status.phase = Some(ClusterPhase::Unreachable);
            status.message = Some(error.to_string());
            RETRY
        }
    };
    let message = status.message.clone().unwrap_or_default();
    let (s, reason) = match &probe {
        Ok(_) => (Status::True, reasons::CONNECTED),
        Err(error) => (Status::False, error.reason()),
    };
    let c = &mut status.conditions;
    conditions::set(c, types::CONNECTED, s, reason, &message, generation, now);
    conditions::set(c, types::READY, s, reason, &message, generation, now);
    ctx.patch_status(cluster.as_ref(), &status).await?;
    if was != status.phase {
        let warning = probe.is_err();
        ctx.event(cluster.as_ref(), warning, reason, message).await;
    }
    Ok(Action::requeue(next))
}
