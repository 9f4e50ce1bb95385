use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
};

use crate::{Error, Result};

/// Where kube-apiserver and etcd are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    pub kube_apiserver: PathBuf,
    pub etcd: PathBuf,
}

impl Binaries {
    fn in_dir(dir: &Path) -> Self {
        Binaries {
            kube_apiserver: dir.join("kube-apiserver"),
            etcd: dir.join("etcd"),
        }
    }

    fn exist(&self) -> bool {
        self.kube_apiserver.is_file() && self.etcd.is_file()
    }
}

/// The build script lives next to this crate in the source tree; a binary built from it (the
/// sandbox) finds it there too. Elsewhere, point `GITOPSHQ_TESTENV_BIN` at prebuilt binaries.
const BUILD_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testenv/build.sh");

/// Returns the binaries, building them first if the pinned versions are not in the cache yet.
///
/// The first build takes several minutes; `build.sh` reports its progress on stderr, which is
/// passed through so a waiting user sees why. Concurrent callers in one process share one run,
/// and `build.sh` takes a file lock so concurrent processes do too.
pub fn ensure_binaries() -> Result<Binaries> {
    static BUILT: OnceLock<Result<Binaries, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| locate_or_build().map_err(|e| e.to_string()))
        .clone()
        .map_err(|message| Error::Build { message })
}

fn locate_or_build() -> Result<Binaries> {
    // Prebuilt binaries win: no Go toolchain needed where someone already provides them.
    if let Some(dir) = std::env::var_os("GITOPSHQ_TESTENV_BIN") {
        let found = Binaries::in_dir(Path::new(&dir));
        if found.exist() {
            return Ok(found);
        }
    }
    let script = Path::new(BUILD_SCRIPT);
    if !script.is_file() {
        return Err(Error::Build {
            message: format!(
                "{} is missing; set GITOPSHQ_TESTENV_BIN to a folder with kube-apiserver and etcd",
                script.display()
            ),
        });
    }
    let out = Command::new("bash")
        .arg(script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(Error::io(format!("cannot run {}", script.display())))?;
    if !out.status.success() {
        return Err(Error::Build {
            message: format!(
                "{} failed ({}); its output is above",
                script.display(),
                out.status
            ),
        });
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = stdout.lines().last().unwrap_or_default().trim();
    let found = Binaries::in_dir(Path::new(dir));
    if found.exist() {
        Ok(found)
    } else {
        Err(Error::Build {
            message: format!(
                "{} reported {dir:?}, which lacks kube-apiserver or etcd",
                script.display()
            ),
        })
    }
}

/// The sops build script, a Go module of its own next to the servers' one.
const SOPS_BUILD_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testenv/sops/build.sh");

/// Returns the real `sops` CLI, building it from the Go module proxy first when the pinned
/// version is not in the cache yet (about two minutes the first time).
///
/// Tests use it to prove that what GitOpsHQ encrypts decrypts with sops itself, so it is never
/// taken from PATH: a hand-installed sops of another version would prove something else.
/// `GITOPSHQ_SOPS_BIN` points at a folder with a prebuilt `sops` instead.
pub fn sops_binary() -> Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| locate_or_build_sops().map_err(|e| e.to_string()))
        .clone()
        .map_err(|message| Error::SopsBuild { message })
}

fn locate_or_build_sops() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("GITOPSHQ_SOPS_BIN") {
        let found = Path::new(&dir).join("sops");
        if found.is_file() {
            return Ok(found);
        }
    }
    let script = Path::new(SOPS_BUILD_SCRIPT);
    if !script.is_file() {
        return Err(Error::SopsBuild {
            message: format!(
                "{} is missing; set GITOPSHQ_SOPS_BIN to a folder with sops",
                script.display()
            ),
        });
    }
    let out = Command::new("bash")
        .arg(script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(Error::io(format!("cannot run {}", script.display())))?;
    if !out.status.success() {
        return Err(Error::SopsBuild {
            message: format!(
                "{} failed ({}); its output is above",
                script.display(),
                out.status
            ),
        });
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = stdout.lines().last().unwrap_or_default().trim();
    let found = Path::new(dir).join("sops");
    if found.is_file() {
        Ok(found)
    } else {
        Err(Error::SopsBuild {
            message: format!("{} reported {dir:?}, which lacks sops", script.display()),
        })
    }
}
