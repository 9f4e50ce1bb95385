//! The Kubernetes shell of GitOpsHQ: the reconcilers of every kind, Git delivery, remote
//! cluster access, metrics and leader election. Decisions are the engine's; this crate reads
//! the API, calls the engine and writes the results.
#![forbid(unsafe_code)]

pub mod argocd;
pub mod cluster_kubeconfig;
pub mod clusters;
pub mod config;
pub mod context;
pub mod delivery;
pub mod engine_namespace;
pub mod error;
pub mod flux;
pub mod git;
pub mod index;
pub mod logs_api;
pub mod metrics;
#[cfg(test)]
mod mock_api;
pub mod notifier;
pub mod pod_logs;
pub mod preview;
pub mod receiver;
pub mod reconcilers;
pub mod remote;
pub mod run;
pub mod runner;
pub mod server;
pub mod signing_key;
pub mod sops;
pub mod warm_up;
pub mod workload_watches;

pub use config::{ControllerArgs, Settings, Shard};
pub use context::Context;
pub use run::{Running, start};
