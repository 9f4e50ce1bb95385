use std::time::Instant;

use tempfile::TempDir;

use crate::{
    ARGOCD_NAMESPACE, ArgoCd, Error, FLUX_NAMESPACE, Flux, GitServer, Result, TestEnv,
    WorkloadCluster, WorkloadClusterBuilder,
    binaries::{Engines, ensure_loop_binaries, off_the_runtime},
    env::owned_temp_dir,
};

/// The whole GitOps loop on one machine: a management cluster with the GitOpsHQ CRDs and a
/// GitOps engine (Flux, or Argo CD with [`RealLoopBuilder::argocd`]), a workload cluster that
/// runs what is applied to it, and a Git server both sides reach over HTTP.
///
/// Nothing is pre-wired: a test creates its repository on [`RealLoop::git`], its Flux or Argo CD
/// objects in [`RealLoop::management`] and the Secret of [`RealLoop::workload`] they name.
#[derive(Debug)]
pub struct RealLoop {
    // Fields drop in order: the engine stops before the API server it watches.
    flux: Option<Flux>,
    argocd: Option<ArgoCd>,
    pub git: GitServer,
    pub workload: WorkloadCluster,
    pub management: TestEnv,
    _git_root: Option<TempDir>,
}

impl RealLoop {
    pub fn builder() -> RealLoopBuilder {
        RealLoopBuilder::default()
    }

    /// Builds what is missing (every component the loop runs, at once), then starts the
    /// clusters side by side and Flux as soon as the management cluster serves. The Git server serves a temporary
    /// folder on a free port.
    pub async fn start() -> Result<RealLoop> {
        RealLoop::builder().start().await
    }

    /// Flux, unless the loop runs Argo CD.
    pub fn flux(&self) -> Option<&Flux> {
        self.flux.as_ref()
    }

    /// Argo CD, when the loop was started with [`RealLoopBuilder::argocd`].
    pub fn argocd(&self) -> Option<&ArgoCd> {
        self.argocd.as_ref()
    }

    /// The last log lines of the GitOps engine's processes (Flux's or Argo CD's).
    pub fn engine_log_tails(&self) -> String {
        self.flux
            .iter()
            .map(Flux::log_tails)
            .chain(self.argocd.iter().map(ArgoCd::log_tails))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The last log lines of every controller in the loop, for a test's failure message.
    pub fn log_tails(&self) -> String {
        format!(
            "{}\n{}\n--- git http-backend ---\n{}",
            self.engine_log_tails(),
            self.workload.log_tails(),
            std::fs::read_to_string(self.git.log_path()).unwrap_or_default()
        )
    }
}

type Progress = Box<dyn Fn(&str) + Send + Sync>;

/// Options for a [`RealLoop`]; see [`RealLoop::builder`].
#[derive(Default)]
pub struct RealLoopBuilder {
    git: Option<GitServer>,
    workload: WorkloadClusterBuilder,
    argocd: bool,
    progress: Option<Progress>,
}

impl std::fmt::Debug for RealLoopBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealLoopBuilder")
            .field("git", &self.git)
            .field("workload", &self.workload)
            .field("argocd", &self.argocd)
            .field("progress", &self.progress.as_ref().map(|_| "…"))
            .finish()
    }
}

impl RealLoopBuilder {
    /// Serves the loop's repositories with `git` (for instance one on a fixed address, see
    /// [`GitServer::start_on`]) instead of a server on a free port over a temporary folder.
    pub fn git_server(mut self, git: GitServer) -> Self {
        self.git = Some(git);
        self
    }

    /// Starts the workload cluster with these options (default: [`WorkloadCluster::start`]'s).
    pub fn workload(mut self, workload: WorkloadClusterBuilder) -> Self {
        self.workload = workload;
        self
    }

    /// Runs Argo CD (application-controller, repo-server and its Redis, see [`ArgoCd`]) as the
    /// GitOps engine instead of Flux; [`RealLoop::argocd`] is then set and [`RealLoop::flux`]
    /// is not. Only Argo CD is built for such a loop, not Flux.
    pub fn argocd(mut self) -> Self {
        self.argocd = true;
        self
    }

    /// Called with one line as each part of the loop becomes ready, for a user who waits
    /// ("Flux … ready after 3.2 s").
    pub fn progress(mut self, report: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.progress = Some(Box::new(report));
        self
    }

    pub async fn start(self) -> Result<RealLoop> {
        let engines = Engines {
            flux: !self.argocd,
            argocd: self.argocd,
        };
        off_the_runtime("the real GitOps loop", move || {
            ensure_loop_binaries(engines)
        })
        .await?;
        let started = Instant::now();
        let report = |what: &str| {
            if let Some(progress) = &self.progress {
                progress(&format!(
                    "{what} ready after {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
            }
        };
        let (git, git_root) = match self.git {
            Some(git) => (git, None),
            None => {
                let root = owned_temp_dir("repositories")?;
                (GitServer::start(root.path())?, Some(root))
            }
        };
        let management = async {
            let management = TestEnv::start().await?;
            report(&format!(
                "management cluster {} (etcd, kube-apiserver, GitOpsHQ CRDs)",
                management.server_url()
            ));
            let (flux, argocd) = if engines.argocd {
                let argocd = ArgoCd::start(&management).await?;
                report(&format!(
                    "Argo CD application-controller and repo-server (namespace {ARGOCD_NAMESPACE})"
                ));
                (None, Some(argocd))
            } else {
                let flux = Flux::start(&management).await?;
                report(&format!(
                    "Flux source-controller and kustomize-controller (namespace {FLUX_NAMESPACE})"
                ));
                (Some(flux), None)
            };
            Ok::<_, Error>((management, flux, argocd))
        };
        let workload = async {
            let workload = self.workload.start().await?;
            report(&format!(
                "workload cluster {} (kube-controller-manager, kube-scheduler, KWOK with {} Ready Nodes)",
                workload.server_url(),
                workload.node_names().len()
            ));
            Ok::<_, Error>(workload)
        };
        let ((management, flux, argocd), workload) = tokio::try_join!(management, workload)?;
        Ok(RealLoop {
            flux,
            argocd,
            git,
            workload,
            management,
            _git_root: git_root,
        })
    }
}
