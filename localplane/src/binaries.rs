use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{Mutex, OnceLock, PoisonError},
    time::{Duration, Instant, SystemTime},
};

use crate::{Error, Result};

/// Where kube-apiserver and etcd are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    pub kube_apiserver: PathBuf,
    pub etcd: PathBuf,
}

/// The build script lives next to this crate in the source tree; a binary built from it (the
/// sandbox) finds it there too. Elsewhere, point `GITOPSHQ_TESTENV_BIN` at prebuilt binaries.
const BUILD_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/testenv/build.sh");

/// Returns the binaries, building them first if the pinned versions are not in the cache yet.
///
/// The first build takes several minutes; `build.sh` reports its progress on stderr, which is
/// passed through so a waiting user sees why. Concurrent callers in one process share one run,
/// and `build.sh` takes a file lock so concurrent processes do too.
pub fn ensure_binaries() -> Result<Binaries> {
    static BUILT: OnceLock<Result<Binaries, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = locate_or_build(
                "kube-apiserver and etcd",
                BUILD_SCRIPT,
                "GITOPSHQ_TESTENV_BIN",
                &["kube-apiserver", "etcd"],
            )?;
            Ok(Binaries {
                kube_apiserver: dir.join("kube-apiserver"),
                etcd: dir.join("etcd"),
            })
        })
        .clone()
        .map_err(|message| Error::Build { message })
}

/// The sops build script, a Go module of its own next to the servers' one.
#[cfg(feature = "testing")]
const SOPS_BUILD_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/testenv/sops/build.sh"
);

/// Returns the real `sops` CLI, building it from the Go module proxy first when the pinned
/// version is not in the cache yet (about two minutes the first time).
///
/// Tests use it to prove that what GitOpsHQ encrypts decrypts with sops itself, so it is never
/// taken from PATH: a hand-installed sops of another version would prove something else.
/// `GITOPSHQ_SOPS_BIN` points at a folder with a prebuilt `sops` instead.
#[cfg(feature = "testing")]
pub fn sops_binary() -> Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = locate_or_build("sops", SOPS_BUILD_SCRIPT, "GITOPSHQ_SOPS_BIN", &["sops"])?;
            Ok(dir.join("sops"))
        })
        .clone()
        .map_err(|message| Error::SopsBuild { message })
}

/// kube-controller-manager and kube-scheduler, from the servers' Kubernetes release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerBinaries {
    pub kube_controller_manager: PathBuf,
    pub kube_scheduler: PathBuf,
}

/// Returns kube-controller-manager and kube-scheduler, building them first when the pinned
/// release is not in the cache yet (`tests/testenv/controllers/build.sh`; about 3 minutes once
/// kube-apiserver is built, whose compiled packages they share). `GITOPSHQ_CONTROLLERS_BIN`
/// points at a folder with prebuilt ones instead.
pub fn controller_binaries() -> Result<ControllerBinaries> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = component(
        &BUILT,
        "kube-controller-manager and kube-scheduler",
        CONTROLLERS_BUILD_SCRIPT,
        "GITOPSHQ_CONTROLLERS_BIN",
        &["kube-controller-manager", "kube-scheduler"],
    )?;
    Ok(ControllerBinaries {
        kube_controller_manager: dir.join("kube-controller-manager"),
        kube_scheduler: dir.join("kube-scheduler"),
    })
}

const CONTROLLERS_BUILD_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/testenv/controllers/build.sh"
);

/// KWOK and the upstream Stages it runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KwokBinary {
    pub kwok: PathBuf,
    /// KWOK's own Stage files (node set-up and heartbeat, pods Ready, completed and deleted),
    /// copied out of its module by the build script.
    pub stages_dir: PathBuf,
}

/// Returns KWOK, building it first when the pinned version is not in the cache yet
/// (`tests/testenv/kwok/build.sh`; about 3 minutes). `GITOPSHQ_KWOK_BIN` points at a folder with
/// a prebuilt `kwok` (and `../stages`) instead.
pub fn kwok_binary() -> Result<KwokBinary> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = component(
        &BUILT,
        "kwok",
        KWOK_BUILD_SCRIPT,
        "GITOPSHQ_KWOK_BIN",
        &["kwok", "../stages/pod-ready.yaml"],
    )?;
    Ok(KwokBinary {
        kwok: dir.join("kwok"),
        stages_dir: dir.join("..").join("stages"),
    })
}

const KWOK_BUILD_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/testenv/kwok/build.sh"
);

/// Flux's source-controller and kustomize-controller, and the CRDs they serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FluxBinaries {
    pub source_controller: PathBuf,
    pub kustomize_controller: PathBuf,
    /// The six source.toolkit.fluxcd.io CRDs and the Kustomization CRD of the pinned release,
    /// copied out of the controllers' modules by the build script.
    pub crd_dir: PathBuf,
}

/// Returns Flux's controllers, building them first when the pinned release is not in the cache
/// yet (`tests/testenv/flux/build.sh`; the slowest build, see `tests/testenv/README.md`).
/// `GITOPSHQ_FLUX_BIN` points at a folder with prebuilt ones (and `../crds`) instead.
pub fn flux_binaries() -> Result<FluxBinaries> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = component(
        &BUILT,
        "Flux's controllers",
        FLUX_BUILD_SCRIPT,
        "GITOPSHQ_FLUX_BIN",
        &[
            "source-controller",
            "kustomize-controller",
            "../crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml",
        ],
    )?;
    Ok(FluxBinaries {
        source_controller: dir.join("source-controller"),
        kustomize_controller: dir.join("kustomize-controller"),
        crd_dir: dir.join("..").join("crds"),
    })
}

const FLUX_BUILD_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/testenv/flux/build.sh"
);

/// Argo CD's application-controller and repo-server (one binary), the kustomize CLI the
/// repo-server runs, and the CRDs the controller serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgoCdBinaries {
    /// `argocd`: `argocd-application-controller`, `argocd-repo-server` or `redis HOST:PORT`
    /// as its first argument, or the command named by `ARGOCD_BINARY_NAME`
    /// (`tests/testenv/argocd/main.go`).
    pub argocd: PathBuf,
    /// `kustomize`, at the version Argo CD's own libraries use; the repo-server finds it on
    /// `PATH` for sources with a `kustomization.yaml`. Its folder also holds
    /// `git-verify-wrapper.sh` and `gpg-wrapper.sh` from the argo-cd module, which Argo CD's
    /// image has next to its binaries and the repo-server runs from `PATH`.
    pub kustomize: PathBuf,
    /// The Application and AppProject CRDs of the pinned release, copied out of the argo-cd
    /// module by the build script.
    pub crd_dir: PathBuf,
}

/// Returns Argo CD, building it first when the pinned release is not in the cache yet
/// (`tests/testenv/argocd/build.sh`; Go 1.27 from the module proxy, and a build as long as
/// Flux's, see `tests/testenv/README.md`). `GITOPSHQ_ARGOCD_BIN` points at a folder with
/// prebuilt `argocd` and `kustomize` (and `../crds`) instead.
pub fn argocd_binaries() -> Result<ArgoCdBinaries> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = component(
        &BUILT,
        "Argo CD",
        ARGOCD_BUILD_SCRIPT,
        "GITOPSHQ_ARGOCD_BIN",
        &[
            "argocd",
            "kustomize",
            "git-verify-wrapper.sh",
            "../crds/application-crd.yaml",
            "../crds/appproject-crd.yaml",
        ],
    )?;
    Ok(ArgoCdBinaries {
        argocd: dir.join("argocd"),
        kustomize: dir.join("kustomize"),
        crd_dir: dir.join("..").join("crds"),
    })
}

const ARGOCD_BUILD_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/testenv/argocd/build.sh"
);

/// Which GitOps engines of the loop to build besides the clusters' components.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Engines {
    pub flux: bool,
    pub argocd: bool,
}

/// Ensures every binary of the real GitOps loop: the servers, the workload cluster's
/// controllers, KWOK, Flux and Argo CD. KWOK, Flux and Argo CD are separate Go modules with
/// separate locks and build side by side with the rest, so a cold machine pays about the
/// slowest chain rather than the sum.
pub fn ensure_real_loop_binaries() -> Result<()> {
    ensure_loop_binaries(Engines {
        flux: true,
        argocd: true,
    })
}

/// [`ensure_real_loop_binaries`] for a loop that runs only the engines named.
pub(crate) fn ensure_loop_binaries(engines: Engines) -> Result<()> {
    std::thread::scope(|scope| {
        let mut builds = vec![
            scope.spawn(servers_then_controllers),
            scope.spawn(|| kwok_binary().map(drop)),
        ];
        if engines.flux {
            builds.push(scope.spawn(|| flux_binaries().map(drop)));
        }
        if engines.argocd {
            builds.push(scope.spawn(|| argocd_binaries().map(drop)));
        }
        for build in builds {
            build
                .join()
                .unwrap_or_else(|_| Err(build_thread_panicked()))?;
        }
        Ok(())
    })
}

/// What a [`WorkloadCluster`](crate::WorkloadCluster) runs besides its servers, built side by
/// side like [`ensure_real_loop_binaries`].
pub(crate) fn ensure_workload_binaries() -> Result<(ControllerBinaries, KwokBinary)> {
    std::thread::scope(|scope| {
        let kubernetes = scope.spawn(servers_then_controllers);
        let kwok = scope.spawn(kwok_binary);
        kubernetes
            .join()
            .unwrap_or_else(|_| Err(build_thread_panicked()))?;
        let kwok = kwok
            .join()
            .unwrap_or_else(|_| Err(build_thread_panicked()))?;
        Ok((controller_binaries()?, kwok))
    })
}

/// One after the other: the controllers share about 1,900 packages with kube-apiserver, which
/// two concurrent `go build`s would each compile (Go's cache does not share work in flight).
fn servers_then_controllers() -> Result<()> {
    ensure_binaries()?;
    controller_binaries()?;
    Ok(())
}

fn build_thread_panicked() -> Error {
    Error::ComponentBuild {
        component: "the real GitOps loop",
        message: "a build thread panicked".to_owned(),
    }
}

/// One build per component and process; the error is kept as text so every caller sees it.
fn component(
    built: &'static OnceLock<Result<PathBuf, String>>,
    name: &'static str,
    script: &str,
    override_var: &str,
    files: &[&str],
) -> Result<PathBuf> {
    built
        .get_or_init(|| locate_or_build(name, script, override_var, files))
        .clone()
        .map_err(|message| Error::ComponentBuild {
            component: name,
            message,
        })
}

/// Runs `build` (a build script that may take minutes on a new machine, or a cache look-up)
/// on a blocking thread, so the async runtime keeps serving what already runs.
pub(crate) async fn off_the_runtime<T: Send + 'static>(
    component: &'static str,
    build: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(build)
        .await
        .map_err(|e| Error::ComponentBuild {
            component,
            message: format!("the build task failed: {e}"),
        })?
}

/// A component this process built (rather than found in the cache), and how long its build
/// script ran: what a new machine pays once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentBuild {
    /// What was built ("kube-apiserver and etcd", "Flux's controllers" …).
    pub component: &'static str,
    /// Wall time of the build script, downloads and a wait for another process's build
    /// included. Components built side by side overlap.
    pub duration: Duration,
}

static BUILDS: Mutex<Vec<ComponentBuild>> = Mutex::new(Vec::new());

/// The components built by this process so far, in the order their builds finished; empty
/// when every one came from the cache.
pub fn builds_in_this_process() -> Vec<ComponentBuild> {
    BUILDS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// The folder holding `files`: the one `override_var` names when it holds them already (no Go
/// toolchain needed there), else the one the build script prints last after building.
///
/// The script reports its progress on stderr, which is passed through so a waiting user sees
/// why; it takes a file lock, so concurrent processes build once. A build it made is recorded
/// for [`builds_in_this_process`].
fn locate_or_build(
    name: &'static str,
    script: &str,
    override_var: &str,
    files: &[&str],
) -> Result<PathBuf, String> {
    let complete = |dir: &Path| files.iter().all(|f| dir.join(f).is_file());
    if let Some(dir) = std::env::var_os(override_var)
        && complete(Path::new(&dir))
    {
        return Ok(PathBuf::from(dir));
    }
    let script = Path::new(script);
    if !script.is_file() {
        return Err(format!(
            "{} is missing; set {override_var} to a folder with {}",
            script.display(),
            files.join(", ")
        ));
    }
    let started = Instant::now();
    let started_at = SystemTime::now();
    let out = Command::new("bash")
        .arg(script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}); its output is above",
            script.display(),
            out.status
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    if complete(&dir) {
        // The scripts write their stamp last, and only after a build.
        let stamped = std::fs::metadata(dir.join(".stamp")).and_then(|m| m.modified());
        if stamped.is_ok_and(|at| at >= started_at) {
            BUILDS
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(ComponentBuild {
                    component: name,
                    duration: started.elapsed(),
                });
        }
        Ok(dir)
    } else {
        Err(format!(
            "{} reported {}, which lacks one of {}",
            script.display(),
            dir.display(),
            files.join(", ")
        ))
    }
}
