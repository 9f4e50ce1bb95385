//! A Cluster's heartbeat: what its status becomes after the controller asked its API server
//! for its version, and whether its tenants can be observed at all.
//!
//! `Connected` means the last question was answered. A cluster that answered before and stops
//! answering is `Disconnected`: what ran there may still run, but nobody can see it, so its
//! tenants' health is `Unknown` (never the last value seen, never guessed Healthy). A cluster
//! never reached, or one that cannot be tried because its Secret or kubeconfig is unusable, is
//! `Unreachable`.

use std::time::Duration;

use gitopshq_crds::cluster::{Cluster, ClusterPhase, ClusterStatus};
use gitopshq_crds::common::Time;
use gitopshq_crds::consts::{conditions as types, reasons};
use jiff::Timestamp;

use crate::conditions::{self, Status};

/// What asking the cluster's API server found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heartbeat {
    /// The API server answered with its `gitVersion`.
    Answered { version: String },
    /// The API server did not answer (network, TLS, timeout, an error status); the message
    /// names the cluster and what to check.
    NoAnswer { message: String },
    /// The cluster cannot be tried: its Secret is missing, or its kubeconfig unusable. The
    /// reason is a `consts::reasons` value; the message says what to fix.
    Misconfigured {
        reason: &'static str,
        message: String,
    },
}

/// The status to write, and the Event to record when the phase changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Beat {
    pub status: ClusterStatus,
    /// `(warning, reason, message)` when the phase changed.
    pub event: Option<(bool, &'static str, String)>,
    /// When to ask again.
    pub next: Duration,
}

/// How often a cluster is asked: `interval` while it answers, at most `retry` while it does
/// not (a cluster coming back is seen soon, one that stays away is not hammered).
#[derive(Debug, Clone, Copy)]
pub struct Intervals {
    pub interval: Duration,
    pub retry: Duration,
}

/// The status after `beat`, from the status before it.
pub fn heartbeat(
    cluster: &str,
    before: &ClusterStatus,
    beat: &Heartbeat,
    intervals: Intervals,
    generation: Option<i64>,
    now: Timestamp,
) -> Beat {
    let mut status = before.clone();
    let retry = intervals.retry.min(intervals.interval);
    let (phase, condition, reason, message, next) = match beat {
        Heartbeat::Answered { version } => {
            status.server_version = Some(version.clone());
            status.last_heartbeat = Some(Time(now));
            (
                ClusterPhase::Connected,
                Status::True,
                reasons::CONNECTED,
                format!("connected; Kubernetes {version}"),
                intervals.interval,
            )
        }
        // Answered before: what was delivered may still run there, unseen.
        Heartbeat::NoAnswer { message } if before.last_heartbeat.is_some() => {
            let since = before
                .last_heartbeat
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default();
            (
                ClusterPhase::Disconnected,
                Status::False,
                reasons::DISCONNECTED,
                format!(
                    "{message}; last answered at {since}; the health of its tenants is Unknown until cluster {cluster} answers again"
                ),
                retry,
            )
        }
        Heartbeat::NoAnswer { message } => (
            ClusterPhase::Unreachable,
            Status::False,
            reasons::UNREACHABLE,
            message.clone(),
            retry,
        ),
        Heartbeat::Misconfigured { reason, message } => (
            ClusterPhase::Unreachable,
            Status::False,
            *reason,
            message.clone(),
            retry,
        ),
    };
    let changed = before.phase != Some(phase);
    status.phase = Some(phase);
    status.message = Some(message.clone());
    let c = &mut status.conditions;
    conditions::set(
        c,
        types::CONNECTED,
        condition,
        reason,
        &message,
        generation,
        now,
    );
    conditions::set(
        c,
        types::READY,
        condition,
        reason,
        &message,
        generation,
        now,
    );
    Beat {
        status,
        event: changed.then(|| (condition == Status::False, reason, message)),
        next,
    }
}

/// Why the tenants on `cluster` cannot be observed now, or `None` when they can (a cluster not
/// asked yet is tried). `name` is the tenant's `spec.cluster`.
pub fn unobservable(name: &str, cluster: Option<&Cluster>) -> Option<String> {
    let Some(cluster) = cluster else {
        return Some(format!(
            "cluster {name} does not exist; apply the Cluster (gitopshq cluster register {name} --context CTX) or fix the tenant's spec.cluster"
        ));
    };
    let status = cluster.status.as_ref()?;
    match status.phase? {
        ClusterPhase::Connected => None,
        phase @ (ClusterPhase::Disconnected | ClusterPhase::Unreachable) => Some(format!(
            "cluster {name} is {phase}: {}",
            status.message.as_deref().unwrap_or("no answer")
        )),
    }
}

#[cfg(test)]
mod tests;
