use tempfile::TempDir;

use crate::{
    Error, Flux, GitServer, Result, TestEnv, WorkloadCluster, binaries::ensure_real_loop_binaries,
    env::owned_temp_dir,
};

/// The whole GitOps loop on one machine: a management cluster with the GitOpsHQ CRDs and Flux,
/// a workload cluster that runs what is applied to it, and a Git server both sides reach over
/// HTTP.
///
/// Nothing is pre-wired: a test creates its repository on [`RealLoop::git`], its Flux objects in
/// [`RealLoop::management`] and the kubeconfig Secret of [`RealLoop::workload`] they name.
#[derive(Debug)]
pub struct RealLoop {
    // Fields drop in order: Flux stops before the API server it watches.
    pub flux: Flux,
    pub git: GitServer,
    pub workload: WorkloadCluster,
    pub management: TestEnv,
    _git_root: TempDir,
}

impl RealLoop {
    /// Builds what is missing (every component at once), then starts the clusters side by side
    /// and Flux as soon as the management cluster serves.
    pub async fn start() -> Result<RealLoop> {
        tokio::task::spawn_blocking(ensure_real_loop_binaries)
            .await
            .map_err(|e| Error::ComponentBuild {
                component: "the real GitOps loop",
                message: format!("the build task failed: {e}"),
            })??;
        let git_root = owned_temp_dir("repositories")?;
        let git = GitServer::start(git_root.path())?;
        let management = async {
            let management = TestEnv::start().await?;
            let flux = Flux::start(&management).await?;
            Ok::<_, Error>((management, flux))
        };
        let ((management, flux), workload) =
            tokio::try_join!(management, WorkloadCluster::start())?;
        Ok(RealLoop {
            flux,
            git,
            workload,
            management,
            _git_root: git_root,
        })
    }

    /// The last log lines of every controller in the loop, for a test's failure message.
    pub fn log_tails(&self) -> String {
        format!(
            "{}\n{}\n--- git http-backend ---\n{}",
            self.flux.log_tails(),
            self.workload.log_tails(),
            std::fs::read_to_string(self.git.log_path()).unwrap_or_default()
        )
    }
}
