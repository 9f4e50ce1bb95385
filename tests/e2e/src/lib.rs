//! The platform an end-to-end scenario runs on, as a platform team would set it up: a
//! management cluster (real kube-apiserver + etcd) with the GitOpsHQ CRDs, the admission
//! webhook and the controllers; a second API server as the workload cluster, registered
//! through a kubeconfig Secret; and a bare Git repository as the GitOps remote. People act with
//! the machine's `kubectl`; tests play Argo CD (apply the committed tree to the workload
//! cluster) and the kubelet (write Deployment and Pod status). The controllers sign their
//! commits with a key made by the machine's `ssh-keygen`, kept in a Secret as in production.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use gitopshq_controller::Running;
use gitopshq_controller::index::Scope;
use gitopshq_controller::signing_key::{SSH_PRIVATE_KEY, SigningKeySecret};
use gitopshq_engine::admission::Settings;
use gitopshq_testenv::TestEnv;
use gitopshq_webhook::local::LocalWebhook;

/// The repository URL the examples name; scenarios point it at their own bare repository.
pub const EXAMPLE_REPOSITORY: &str = "file:///tmp/gitopshq-sandbox/gitops.git";
/// How long a scenario waits for the controllers to reach a state.
pub const WAIT: Duration = Duration::from_secs(90);
/// Where the key that signs the controllers' commits is kept.
pub const SIGNING_KEY_NAMESPACE: &str = "gitopshq-system";
pub const SIGNING_KEY_SECRET: &str = "gitopshq-signing-key";
/// The principal the allowed signers file names for that key.
pub const SIGNER: &str = "gitopshq@localhost";

pub struct Platform {
    pub management: TestEnv,
    pub workload: TestEnv,
    pub webhook: Option<LocalWebhook>,
    pub controllers: Option<Running>,
    /// Bare repository, the GitOps remote.
    pub repository: PathBuf,
    dir: tempfile::TempDir,
}

impl Platform {
    /// Both clusters, the webhook, the controllers and an empty GitOps repository.
    pub async fn start() -> Self {
        // GITOPSHQ_TEST_LOG=debug shows what the controllers and the webhook do.
        if let Ok(filter) = std::env::var("GITOPSHQ_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let management = TestEnv::start()
            .await
            .expect("management control plane starts");
        let workload = TestEnv::start_workload_cluster()
            .await
            .expect("workload control plane starts");
        let dir = tempfile::tempdir().expect("temporary folder");
        let repository = dir.path().join("gitops.git");
        git(
            dir.path(),
            &[
                "init",
                "--bare",
                "-b",
                "main",
                &repository.display().to_string(),
            ],
        );
        let webhook = LocalWebhook::start(
            management.client().await.expect("client"),
            webhook_settings(),
        )
        .await
        .expect("webhook starts and is registered");
        let controllers = start_controllers(&management, dir.path()).await;
        let platform = Self {
            management,
            workload,
            webhook: Some(webhook),
            controllers: Some(controllers),
            repository,
            dir,
        };
        platform.register_workload_cluster("eu-west-1");
        platform.store_signing_key();
        platform
    }

    /// A fresh ed25519 key from `ssh-keygen`, stored as the controllers' signing key Secret
    /// (`kubernetes.io/ssh-auth`), and an allowed signers file listing its public half.
    fn store_signing_key(&self) {
        let key = self.dir().join("signing-key");
        ok(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "gitopshq-e2e", "-f"])
            .arg(&key));
        let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
        std::fs::write(self.allowed_signers(), format!("{SIGNER} {public}"))
            .expect("write allowed signers");
        ok(self.admin().args([
            "-n",
            SIGNING_KEY_NAMESPACE,
            "create",
            "secret",
            "generic",
            SIGNING_KEY_SECRET,
            "--type=kubernetes.io/ssh-auth",
            &format!("--from-file={SSH_PRIVATE_KEY}={}", key.display()),
        ]));
    }

    /// git's allowed signers file with the controllers' signing key.
    pub fn allowed_signers(&self) -> PathBuf {
        self.dir().join("allowed_signers")
    }

    /// `git verify-commit` of a commit of the GitOps repository by the machine's git, trusting
    /// only the controllers' key; returns what git says (`Good "git" signature for …`).
    pub fn verify_commit(&self, sha: &str) -> String {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(&self.repository)
            .args(["-c", "gpg.format=ssh", "-c"])
            .arg(format!(
                "gpg.ssh.allowedSignersFile={}",
                self.allowed_signers().display()
            ))
            .args(["verify-commit", sha])
            .output()
            .expect("git runs");
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "git verify-commit {sha}: {said}");
        said
    }

    /// One platform for every test of the calling test binary, started by the first test that
    /// asks. It runs on a runtime of its own, on a thread that lives as long as the process, so
    /// tests (plain `#[test]`s, run in parallel) only drive it with kubectl; each test works
    /// in a project of its own. The clusters' processes end with the test process.
    pub fn shared() -> &'static Platform {
        static SHARED: std::sync::OnceLock<&'static Platform> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| {
            let (started, platform) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("shared-platform".into())
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()
                        .expect("a runtime for the shared platform");
                    runtime.block_on(async move {
                        let platform: &'static Platform = Box::leak(Box::new(Self::start().await));
                        started
                            .send(platform)
                            .expect("the test waits for the platform");
                        std::future::pending::<()>().await;
                    });
                })
                .expect("a thread for the shared platform");
            platform.recv().expect("the shared platform starts")
        })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the controllers, as a crash or a rollout of the operator would.
    pub async fn stop_controllers(&mut self) {
        if let Some(controllers) = self.controllers.take() {
            controllers.stop().await;
        }
    }

    /// Starts the controllers again (after [`Self::stop_controllers`]), with the same caches.
    pub async fn start_controllers(&mut self) {
        assert!(self.controllers.is_none(), "the controllers are running");
        self.controllers = Some(start_controllers(&self.management, self.dir.path()).await);
    }

    /// Serves the registry webhook receiver on a free loopback port (plain HTTP) from the
    /// running controllers' caches, as `gitopshq controller --receiver-address` does; its
    /// secrets are in `gitopshq-system/gitopshq-registry-webhooks`.
    pub async fn start_receiver(&self) -> gitopshq_controller::receiver::Serving {
        use gitopshq_controller::receiver::{self, Objects, ReceiverOptions};
        let context = &self
            .controllers
            .as_ref()
            .expect("the controllers are running")
            .context;
        let options = ReceiverOptions::default();
        let receiver = receiver::Receiver::new(
            self.management.client().await.expect("client"),
            Objects::Index(std::sync::Arc::clone(&context.index)),
            &options,
            std::sync::Arc::clone(&context.metrics),
        )
        .expect("receiver options");
        receiver::serve(
            std::sync::Arc::new(receiver),
            "127.0.0.1:0".parse().expect("address"),
            &options,
        )
        .await
        .expect("the receiver listens")
    }

    /// `file://` URL of the GitOps repository.
    pub fn repository_url(&self) -> String {
        format!("file://{}", self.repository.display())
    }

    /// Stores the workload cluster's kubeconfig in `gitopshq-system/cluster-<name>`, where the
    /// examples' Cluster objects expect it.
    pub fn register_workload_cluster(&self, name: &str) {
        let file = self.dir().join(format!("cluster-{name}.kubeconfig"));
        std::fs::write(
            &file,
            self.workload.admin_kubeconfig_yaml().expect("kubeconfig"),
        )
        .expect("write");
        let _ = self
            .admin()
            .args(["create", "namespace", "gitopshq-system"])
            .output();
        ok(self.admin().args([
            "-n",
            "gitopshq-system",
            "create",
            "secret",
            "generic",
            &format!("cluster-{name}"),
            &format!("--from-file=kubeconfig={}", file.display()),
        ]));
    }

    /// `kubectl` on the management cluster as `user`.
    pub fn kubectl(&self, user: &str) -> Command {
        self.management.kubectl(user)
    }

    /// `kubectl` on the management cluster as the admin.
    pub fn admin(&self) -> Command {
        self.management.kubectl("admin")
    }

    /// `kubectl` on the workload cluster as its admin.
    pub fn workload_admin(&self) -> Command {
        self.workload.kubectl("admin")
    }

    /// The YAML of `paths` (files or folders of `examples/`), with the example repository URL
    /// replaced by this platform's.
    pub fn example(&self, paths: &[&str]) -> String {
        let mut out = String::new();
        for path in paths {
            let full = examples_dir().join(path);
            let mut files: Vec<PathBuf> = if full.is_dir() {
                std::fs::read_dir(&full)
                    .expect("example folder")
                    .map(|e| e.expect("entry").path())
                    .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
                    .collect()
            } else {
                vec![full]
            };
            files.sort();
            for file in files {
                out.push_str(&std::fs::read_to_string(&file).expect("example file"));
                out.push_str("\n---\n");
            }
        }
        out.replace(EXAMPLE_REPOSITORY, &self.repository_url())
    }

    /// Applies YAML as `user`; returns the output (stdout + stderr, where warnings go).
    pub fn apply(&self, user: &str, yaml: &str) -> String {
        let out = with_stdin(self.kubectl(user).args(["apply", "-f", "-"]), yaml);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "{user} could not apply:\n{yaml}\n{text}"
        );
        text
    }

    /// Applies YAML as `user` with server-side apply: unlike client-side `kubectl apply`, it
    /// keeps `null` values (which delete a key in values layering).
    pub fn apply_server_side(&self, user: &str, yaml: &str) -> String {
        let out = with_stdin(
            self.kubectl(user)
                .args(["apply", "--server-side", "-f", "-"]),
            yaml,
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "{user} could not apply:\n{yaml}\n{text}"
        );
        text
    }

    /// Applies YAML as `user`, which must be refused; returns kubectl's error output.
    pub fn apply_refused(&self, user: &str, yaml: &str) -> String {
        let out = with_stdin(self.kubectl(user).args(["apply", "-f", "-"]), yaml);
        assert!(
            !out.status.success(),
            "{user} applied but should have been refused:\n{yaml}\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `kubectl get KIND NAME -o jsonpath=PATH` on the management cluster (`-n NS` when given).
    pub fn get(&self, namespace: Option<&str>, kind: &str, name: &str, path: &str) -> String {
        let mut cmd = self.admin();
        if let Some(ns) = namespace {
            cmd.args(["-n", ns]);
        }
        cmd.args(["get", kind, name, "-o", &format!("jsonpath={path}")]);
        let out = cmd.output().expect("kubectl runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until `get(..)` returns `want`; panics with the last value and `context()` after
    /// [`WAIT`].
    pub fn wait_for(
        &self,
        namespace: Option<&str>,
        kind: &str,
        name: &str,
        path: &str,
        want: &str,
    ) {
        self.wait_until(namespace, kind, name, path, |v| v == want, want);
    }

    /// Waits until `get(..)` satisfies `done`.
    pub fn wait_until(
        &self,
        namespace: Option<&str>,
        kind: &str,
        name: &str,
        path: &str,
        done: impl Fn(&str) -> bool,
        what: &str,
    ) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let value = self.get(namespace, kind, name, path);
            if done(&value) {
                return value;
            }
            if Instant::now() > deadline {
                let status = self.get(namespace, kind, name, "{.status}");
                panic!("{kind} {name}: {path} is {value:?}, waited for {what}; status: {status}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Plays Argo CD: checks the GitOps repository out and applies the tenant's folder to the
    /// workload cluster with kustomize, as an Argo CD Application would sync it (creating the
    /// destination namespace, as its `CreateNamespace=true` sync option asks).
    pub fn sync_tenant(&self, tenant_dir: &str, namespace: &str) {
        let exists = self
            .workload_admin()
            .args(["get", "namespace", namespace])
            .output()
            .expect("kubectl runs");
        if !exists.status.success() {
            ok(self
                .workload_admin()
                .args(["create", "namespace", namespace]));
        }
        let checkout = self
            .dir()
            .join(format!("checkout-{}", tenant_dir.replace('/', "-")));
        let _ = std::fs::remove_dir_all(&checkout);
        git(
            self.dir(),
            &[
                "clone",
                "-q",
                &self.repository.display().to_string(),
                &checkout.display().to_string(),
            ],
        );
        let folder = checkout.join(tenant_dir);
        assert!(folder.is_dir(), "{tenant_dir} is not in the repository");
        ok(self.workload_admin().args([
            "apply",
            "--server-side",
            "--force-conflicts",
            "-k",
            &folder.display().to_string(),
        ]));
    }

    /// Plays the Deployment controller and the kubelet: every Deployment of `namespace` on the
    /// workload cluster reports all its replicas updated and available.
    pub fn report_deployments_available(&self, namespace: &str) {
        for name in self.workload_names(namespace, "deployments") {
            let generation =
                self.workload_get(namespace, "deployment", &name, "{.metadata.generation}");
            let replicas = self.workload_get(namespace, "deployment", &name, "{.spec.replicas}");
            let replicas: i64 = replicas.parse().unwrap_or(1);
            let status = format!(
                r#"{{"status":{{"observedGeneration":{generation},"replicas":{replicas},"updatedReplicas":{replicas},"readyReplicas":{replicas},"availableReplicas":{replicas}}}}}"#
            );
            ok(self.workload_admin().args([
                "-n",
                namespace,
                "patch",
                "deployment",
                &name,
                "--subresource=status",
                "--type=merge",
                "-p",
                &status,
            ]));
        }
    }

    /// Pods of `workload` for `tenant` in `namespace` on the workload cluster (labelled as the
    /// chart's selector picks them), `crashing` of them waiting in CrashLoopBackOff and the
    /// rest running. The crashing ones get their status first, so a look in between sees
    /// some of them crashing out of `total`, never fewer pods.
    pub fn report_pods(
        &self,
        namespace: &str,
        workload: &str,
        tenant: &str,
        total: usize,
        crashing: usize,
    ) {
        let app = workload;
        for i in 0..total {
            let name = format!("{app}-{i}");
            let _ = self
                .workload_admin()
                .args([
                    "-n",
                    namespace,
                    "delete",
                    "pod",
                    &name,
                    "--ignore-not-found",
                ])
                .output();
            let pod = format!(
                r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","namespace":"{namespace}","labels":{{"app.kubernetes.io/name":"{app}","app.kubernetes.io/instance":"{app}-{tenant}"}}}},"spec":{{"containers":[{{"name":"{app}","image":"{app}"}}]}}}}"#
            );
            let out = with_stdin(self.workload_admin().args(["create", "-f", "-"]), &pod);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Statuses only once every pod exists, as a ReplicaSet creates them: whoever looks in
        // between counts all of them.
        for i in 0..total {
            let name = format!("{app}-{i}");
            let state = if i < crashing {
                r#"{"waiting":{"reason":"CrashLoopBackOff","message":"back-off restarting failed container"}}"#
            } else {
                r#"{"running":{"startedAt":"2026-01-01T00:00:00Z"}}"#
            };
            let status = format!(
                r#"{{"status":{{"phase":"Running","containerStatuses":[{{"name":"{app}","image":"{app}","imageID":"","ready":{},"restartCount":{},"state":{state}}}]}}}}"#,
                i >= crashing,
                if i < crashing { 5 } else { 0 }
            );
            ok(self.workload_admin().args([
                "-n",
                namespace,
                "patch",
                "pod",
                &name,
                "--subresource=status",
                "--type=merge",
                "-p",
                &status,
            ]));
        }
    }

    fn workload_names(&self, namespace: &str, kind: &str) -> Vec<String> {
        let out = ok(self.workload_admin().args([
            "-n",
            namespace,
            "get",
            kind,
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ]));
        out.split_whitespace().map(str::to_string).collect()
    }

    fn workload_get(&self, namespace: &str, kind: &str, name: &str, path: &str) -> String {
        ok(self.workload_admin().args([
            "-n",
            namespace,
            "get",
            kind,
            name,
            "-o",
            &format!("jsonpath={path}"),
        ]))
    }

    /// `git log` of the GitOps repository's main branch: full messages, newest first.
    pub fn commits(&self) -> Vec<String> {
        let out = git(
            self.dir(),
            &[
                "--git-dir",
                &self.repository.display().to_string(),
                "log",
                "--format=%H%n%B%x00",
                "main",
            ],
        );
        out.split('\0')
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect()
    }

    /// A file of the repository at the head of main.
    pub fn file(&self, path: &str) -> String {
        git(
            self.dir(),
            &[
                "--git-dir",
                &self.repository.display().to_string(),
                "show",
                &format!("main:{path}"),
            ],
        )
    }

    /// Stops the controllers and the webhook before the clusters go.
    pub async fn stop(mut self) {
        if let Some(controllers) = self.controllers.take() {
            controllers.stop().await;
        }
        if let Some(webhook) = self.webhook.take() {
            let _ = webhook.stop().await;
        }
    }
}

async fn start_controllers(management: &TestEnv, dir: &Path) -> Running {
    let mut settings = gitopshq_controller::Settings::local(dir.join("git-cache"));
    settings.health_interval = Duration::from_secs(1);
    settings.signing_key_secret = Some(SigningKeySecret {
        namespace: SIGNING_KEY_NAMESPACE.into(),
        name: SIGNING_KEY_SECRET.into(),
    });
    gitopshq_controller::start(
        management
            .client_as(gitopshq_testenv::CONTROLLER)
            .await
            .expect("client"),
        settings,
        Scope::All,
    )
    .await
}

/// The webhook's settings on the platform: the controller is the harness's controller user.
pub fn webhook_settings() -> Settings {
    Settings {
        controller_users: vec![gitopshq_testenv::CONTROLLER.to_string()],
        ..Settings::default()
    }
}

/// `examples/` of the repository.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Runs the machine's `git` in `dir`; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must succeed; returns stdout.
pub fn ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must fail; returns its stderr, where kubectl says why.
pub fn fails(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        !out.status.success(),
        "{cmd:?} succeeded but should have failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a command with `stdin` as its input.
pub fn with_stdin(cmd: &mut Command, stdin: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("command finishes")
}

/// The `gitopshq` binary of this workspace, built once per test process (a no-op when fresh).
pub fn gitopshq_binary() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .args([
                "build",
                "-q",
                "-p",
                "gitopshq",
                "--bin",
                "gitopshq",
                "--message-format=json-render-diagnostics",
            ])
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("cargo runs");
        assert!(out.status.success(), "cargo build -p gitopshq failed");
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "gitopshq")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo names the gitopshq executable")
    })
}
