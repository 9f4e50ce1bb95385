//! The seed scenarios that run with either GitOps engine: each test binary calls one with the
//! engine it proves (`bootstrap.rs` with Flux, `argocd_bootstrap.rs` with Argo CD, …).

pub mod bootstrap;
pub mod canary_rollout;
pub mod incident_rollback;
