//! The Kubernetes shell of GitOpsHQ: the reconcilers of every kind, remote cluster access,
//! metrics and leader election. Decisions are the engine's and Git delivery is
//! `gitopshq_delivery`'s; this crate reads the API, calls them and writes the results.
#![forbid(unsafe_code)]

pub mod argocd;
pub mod cluster_clients;
pub mod cluster_kubeconfig;
pub mod cluster_objects;
pub mod config;
pub mod context;
pub mod engine_namespace;
pub mod error;
pub mod flux;
pub mod flux_artifacts;
pub mod index;
pub mod logs_api;
pub mod manager;
pub mod metrics;
#[cfg(test)]
mod mock_api;
pub mod notifier;
pub mod pod_logs;
pub mod receiver;
pub mod reconcile_loop;
pub mod reconcilers;
pub mod server;
pub mod signing_key;
pub mod warm_up;
pub mod workload_watches;

pub use config::{ControllerArgs, FluxArtifacts, Settings, Shard};
pub use context::Context;
pub use manager::{Running, start};
