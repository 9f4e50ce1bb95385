use std::{
    fs::File,
    io::{Read, Seek, SeekFrom},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Mutex, OnceLock, PoisonError, mpsc},
    time::{Duration, Instant},
};

use crate::{Error, Result};

/// A server process of the control plane, killed and reaped when dropped.
#[derive(Debug)]
pub(crate) struct Process {
    component: &'static str,
    child: Child,
    log: PathBuf,
    /// How it was started, to start it again ([`Process::restart`]).
    #[cfg(feature = "testing")]
    program: std::ffi::OsString,
    #[cfg(feature = "testing")]
    args: Vec<std::ffi::OsString>,
}

impl Process {
    /// Starts `cmd` with its stdout and stderr in `log`.
    pub fn spawn(component: &'static str, mut cmd: Command, log: &Path) -> Result<Self> {
        let out =
            File::create(log).map_err(Error::io(format!("cannot create {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(Error::io("cannot duplicate a log file handle"))?;
        #[cfg(feature = "testing")]
        let (program, args) = (
            cmd.get_program().to_owned(),
            cmd.get_args().map(ToOwned::to_owned).collect(),
        );
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        // Its own process group keeps a terminal's Ctrl-C from reaching the server before the
        // parent has had the chance to stop it in order.
        cmd.process_group(0);
        die_with_parent(&mut cmd);
        let child = spawn_from_long_lived_thread(cmd)
            .map_err(Error::io(format!("cannot start {component}")))?;
        Ok(Process {
            component,
            child,
            log: log.to_owned(),
            #[cfg(feature = "testing")]
            program,
            #[cfg(feature = "testing")]
            args,
        })
    }

    /// Kills the process (SIGKILL, as a crash or an outage would) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the process again with the same program and arguments (a killed one first is
    /// killed and reaped), its output appended to the same log.
    #[cfg(feature = "testing")]
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.log)
            .map_err(Error::io(format!("cannot open {}", self.log.display())))?;
        let err = log
            .try_clone()
            .map_err(Error::io("cannot duplicate a log file handle"))?;
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .process_group(0);
        die_with_parent(&mut cmd);
        self.child = spawn_from_long_lived_thread(cmd)
            .map_err(Error::io(format!("cannot start {} again", self.component)))?;
        Ok(())
    }

    pub fn component(&self) -> &'static str {
        self.component
    }

    /// The exit status, if the process is no longer running.
    pub fn exit_status(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("cannot tell: {e}")),
        }
    }

    /// The last lines of the log, for error messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log, 40)
    }

    pub fn exited_error(&mut self) -> Option<Error> {
        let status = self.exit_status()?;
        Some(Error::Exited {
            component: self.component,
            status,
            log_tail: self.log_tail(),
        })
    }

    /// Waits until `ready` says so, failing early with the log tail when the process exits,
    /// and with [`Error::NotReady`] after `deadline` (`timeout` is what the error reports).
    pub async fn wait_ready<F, Fut>(
        &mut self,
        deadline: Instant,
        timeout: Duration,
        ready: F,
    ) -> Result<()>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = bool>,
    {
        loop {
            if ready().await {
                return Ok(());
            }
            if let Some(e) = self.exited_error() {
                return Err(e);
            }
            if Instant::now() > deadline {
                return Err(Error::NotReady {
                    component: self.component,
                    timeout,
                    log_tail: self.log_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A home and temporary folder of the process's own, under `dir/name`: git and kustomize read
/// their home, and some processes clean their temporary folder when they start, which must
/// never reach another process's files.
pub(crate) fn own_folders(cmd: &mut Command, dir: &Path, name: &str) -> Result<()> {
    for (var, sub) in [("HOME", "home"), ("TMPDIR", "tmp")] {
        let path = dir.join(name).join(sub);
        std::fs::create_dir_all(&path)
            .map_err(Error::io(format!("cannot create {}", path.display())))?;
        cmd.env(var, path);
    }
    Ok(())
}

impl Drop for Process {
    fn drop(&mut self) {
        // SIGKILL rather than a graceful stop: the data is thrown away anyway, and
        // kube-apiserver's graceful shutdown waits for seconds.
        self.kill();
    }
}

fn log_tail(path: &Path, lines: usize) -> String {
    const MAX_BYTES: u64 = 16 * 1024;
    let Ok(mut file) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(MAX_BYTES)));
    let mut buf = Vec::new();
    let _ = file.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    let tail = all[all.len().saturating_sub(lines)..].join("\n");
    format!("{tail}\n(full log: {})", path.display())
}

/// The parent-death signal fires when the *thread* that forked the child exits, not the process.
/// Tests run on short-lived threads, and a `TestEnv` may outlive the thread that started it, so
/// every child is forked from one thread that lives as long as the process.
fn spawn_from_long_lived_thread(cmd: Command) -> std::io::Result<Child> {
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("gitopshq-localplane-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("cannot start the process spawner thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .send((cmd, reply_tx))
        .map_err(|_| std::io::Error::other("the process spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| std::io::Error::other("the process spawner thread is gone"))?
}

/// Makes the kernel SIGKILL the child when this process dies, however it dies (a panic that
/// aborts, SIGKILL from a test runner's timeout, Ctrl-C), so no server is ever left running.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed; it makes two raw syscalls (prctl, getppid), builds errors without
    // allocating, and touches no lock or allocator state shared with the parent.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl; the signal would then never come.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Elsewhere the processes are only stopped on drop.
#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}
