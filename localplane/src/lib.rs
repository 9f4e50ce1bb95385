//! A real local Kubernetes control plane (etcd + kube-apiserver) for tests and the sandbox.
//!
//! [`TestEnv::start`] runs etcd and kube-apiserver built from the pinned Go modules in
//! `tests/testenv/` (built once into a cache under `$HOME` by `tests/testenv/build.sh`), on free
//! loopback ports, with generated certificates, RBAC, static-token test users, ServiceAccount
//! tokens and an audit log, then installs the GitOpsHQ CRDs. Dropping the [`TestEnv`] stops both
//! processes and removes their files; the processes also die with the process that started them,
//! so a panicking or killed test leaves nothing running.
//!
//! Around it, the real GitOps loop: [`WorkloadCluster`] adds kube-controller-manager,
//! kube-scheduler and KWOK (fake Nodes whose pods become Ready, or crash-loop when labelled
//! [`SIMULATE_LABEL`]`=`[`CRASH_LOOP`]), [`Flux`] runs source-controller and
//! kustomize-controller against a management cluster, [`ArgoCd`] runs Argo CD's
//! application-controller and repo-server there instead, [`GitServer`] serves bare
//! repositories over smart HTTP, and [`RealLoop`] starts them all. Each Go component is built
//! once from the Go module proxy by its script in `tests/testenv/`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let env = gitopshq_localplane::TestEnv::start().await?;
//! let out = env.kubectl("alice").args(["auth", "can-i", "create", "namespaces"]).output()?;
//! assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");
//! # Ok(()) }
//! ```

mod argocd;
mod binaries;
#[cfg(feature = "testing")]
pub mod command_line;
mod crds;
mod env;
mod error;
mod flux;
mod git_server;
mod kubeconfig;
mod pki;
mod ports;
mod probe;
mod process;
mod real_loop;
mod users;
mod workload;

pub use argocd::{ARGOCD_NAMESPACE, ArgoCd};
#[cfg(feature = "testing")]
pub use binaries::sops_binary;
pub use binaries::{
    ArgoCdBinaries, Binaries, ComponentBuild, ControllerBinaries, FluxBinaries, KwokBinary,
    argocd_binaries, builds_in_this_process, controller_binaries, ensure_binaries,
    ensure_real_loop_binaries, flux_binaries, kwok_binary,
};
pub use env::{TestEnv, TestEnvBuilder};
pub use error::{Error, Result};
pub use flux::{FLUX_NAMESPACE, Flux};
pub use git_server::GitServer;
pub use real_loop::{RealLoop, RealLoopBuilder};
pub use users::{ADMIN, CONTROLLER, USERS, User};
pub use workload::{CRASH_LOOP, SIMULATE_LABEL, WorkloadCluster, WorkloadClusterBuilder};
