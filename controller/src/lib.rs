//! The Kubernetes shell of GitOpsHQ: reconcilers, Git delivery, remote cluster access.
#![forbid(unsafe_code)]

pub mod git;
