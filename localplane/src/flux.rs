use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use tempfile::TempDir;

use crate::{
    Error, Result, TestEnv,
    binaries::{flux_binaries, off_the_runtime},
    crds,
    env::owned_temp_dir,
    ports::free_port,
    probe::http_ok,
    process::{Process, own_folders},
    users::ADMIN,
};

/// The namespace `flux install` creates, where Flux's objects usually live.
pub const FLUX_NAMESPACE: &str = "flux-system";

/// Flux's source-controller and kustomize-controller, run out of cluster against a management
/// cluster's API server, with the CRDs they serve installed there.
///
/// GitRepositories must use `http://` URLs (see [`GitServer`](crate::GitServer)); a
/// Kustomization reaches a workload cluster through `spec.kubeConfig.secretRef`, a Secret in
/// its own namespace whose `value` key holds a kubeconfig such as
/// [`TestEnv::admin_kubeconfig_yaml`]. Both controllers are killed when this is dropped, and by
/// the kernel when the test process dies; their logs are in [`Flux::dir`].
#[derive(Debug)]
pub struct Flux {
    // Fields drop in order: the controllers stop before their folder is removed.
    kustomize_controller: Process,
    source_controller: Process,
    storage_addr: String,
    dir: TempDir,
}

impl Flux {
    /// Installs the source.toolkit.fluxcd.io CRDs (all six: source-controller watches every
    /// kind) and the Kustomization CRD into `management`, creates [`FLUX_NAMESPACE`] as
    /// `flux install` does, starts both controllers watching all namespaces and waits until
    /// each answers `/readyz`.
    pub async fn start(management: &TestEnv) -> Result<Flux> {
        Flux::start_with_timeout(management, Duration::from_secs(120)).await
    }

    pub async fn start_with_timeout(management: &TestEnv, timeout: Duration) -> Result<Flux> {
        let binaries = off_the_runtime("Flux's controllers", flux_binaries).await?;
        let client = management.client().await?;
        crds::install_dir(&client, &binaries.crd_dir, timeout).await?;
        let namespace: k8s_openapi::api::core::v1::Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": FLUX_NAMESPACE}}))
                .map_err(|e| Error::ComponentBuild {
                    component: "Flux's namespace",
                    message: e.to_string(),
                })?;
        match kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client)
            .create(&kube::api::PostParams::default(), &namespace)
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(error) => return Err(error.into()),
        }

        let dir = owned_temp_dir("flux")?;
        let kubeconfig = management.kubeconfig_for(ADMIN)?;
        let storage_port = free_port()?;
        let storage_addr = format!("127.0.0.1:{storage_port}");
        let source_health = free_port()?;
        let mut source = controller(
            &binaries.source_controller,
            dir.path(),
            "source-controller",
            kubeconfig,
            source_health,
        )?;
        // It refuses a storage path that does not exist yet.
        let storage = dir.path().join("source-controller").join("storage");
        std::fs::create_dir_all(&storage)
            .map_err(Error::io(format!("cannot create {}", storage.display())))?;
        source
            .arg(format!("--storage-path={}", storage.display()))
            .arg(format!("--storage-addr={storage_addr}"))
            // The URL kustomize-controller downloads artifacts from.
            .arg(format!("--storage-adv-addr={storage_addr}"));
        let source_controller = Process::spawn(
            "source-controller",
            source,
            &dir.path().join("source-controller.log"),
        )?;
        let kustomize_health = free_port()?;
        let mut kustomize = controller(
            &binaries.kustomize_controller,
            dir.path(),
            "kustomize-controller",
            kubeconfig,
            kustomize_health,
        )?;
        // Tenants may follow their own ExternalArtifact (GitOpsHQ's per-tenant artifacts).
        kustomize.arg("--feature-gates=ExternalArtifact=true");
        let kustomize_controller = Process::spawn(
            "kustomize-controller",
            kustomize,
            &dir.path().join("kustomize-controller.log"),
        )?;
        let mut flux = Flux {
            kustomize_controller,
            source_controller,
            storage_addr,
            dir,
        };
        flux.wait_until_ready(source_health, kustomize_health, timeout)
            .await?;
        Ok(flux)
    }

    /// The folder with the controllers' logs, homes, temporary folders and artifact storage.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `127.0.0.1:<port>`, where source-controller serves the artifacts it fetched.
    pub fn storage_addr(&self) -> &str {
        &self.storage_addr
    }

    /// The last lines of both controllers' logs, for a test's failure message.
    pub fn log_tails(&self) -> String {
        [&self.source_controller, &self.kustomize_controller]
            .into_iter()
            .map(|p| format!("--- {} ---\n{}", p.component(), p.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn wait_until_ready(
        &mut self,
        source_health: u16,
        kustomize_health: u16,
        timeout: Duration,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        for (port, process) in [
            (source_health, &mut self.source_controller),
            (kustomize_health, &mut self.kustomize_controller),
        ] {
            process
                .wait_ready(deadline, timeout, || http_ok(port, "/readyz"))
                .await?;
        }
        Ok(())
    }
}

/// The flags both controllers share, and a home and temporary folder of each one's own:
/// kustomize-controller removes every `kustomization-*` folder of its temporary folder when it
/// starts, which must never reach another process's files.
fn controller(
    binary: &Path,
    dir: &Path,
    name: &str,
    kubeconfig: &Path,
    health_port: u16,
) -> Result<Command> {
    let mut cmd = Command::new(binary);
    own_folders(&mut cmd, dir, name)?;
    // Neither has a --kubeconfig flag; controller-runtime reads KUBECONFIG.
    cmd.env("KUBECONFIG", kubeconfig)
        .arg("--watch-all-namespaces")
        .arg("--enable-leader-election=false")
        .arg("--metrics-addr=0")
        .arg(format!("--health-addr=127.0.0.1:{health_port}"));
    Ok(cmd)
}
