//! The platform an end-to-end scenario runs on, as a platform team would set it up: a
//! management cluster (real kube-apiserver + etcd) with the GitOpsHQ CRDs, the admission
//! webhook, the controllers and a GitOps engine (Flux's source-controller and
//! kustomize-controller, or Argo CD's application-controller and repo-server); a workload
//! cluster that runs what is applied to it (kube-controller-manager, kube-scheduler, KWOK
//! nodes), registered through a kubeconfig Secret; and a Git server (`git http-backend`)
//! serving the GitOps repository over HTTP. People act with the machine's `kubectl`; nothing
//! here applies delivered manifests or writes a status: the engine syncs, the Deployment controller
//! rolls out, KWOK plays the kubelets. The controllers sign their commits with a key made by
//! the machine's `ssh-keygen`, kept in a Secret as in production.

pub mod release;
pub mod scenarios;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use gitopshq_controller::Running;
use gitopshq_controller::index::Scope;
use gitopshq_controller::signing_key::{SSH_PRIVATE_KEY, SigningKeySecret};
use gitopshq_engine::admission::Settings;
use gitopshq_localplane::{ArgoCd, Flux, GitServer, TestEnv, WorkloadCluster};
use gitopshq_webhook::local::LocalWebhook;

/// The repository URL the examples name (the sandbox's Git server); scenarios point it at their
/// own.
pub const EXAMPLE_REPOSITORY: &str = "http://127.0.0.1:8091/gitops.git";

/// The project of `examples/governance` (and of `examples/bootstrap`).
pub const GOVERNED_PROJECT: &str = "payment-service";
/// How long a scenario waits for the controllers to reach a state: a rollout on the real loop
/// takes seconds, two busy cores take longer.
pub const WAIT: Duration = Duration::from_secs(150);
/// Where the key that signs the controllers' commits is kept.
pub const SIGNING_KEY_NAMESPACE: &str = "gitopshq-system";
pub const SIGNING_KEY_SECRET: &str = "gitopshq-signing-key";
/// The principal the allowed signers file names for that key.
pub const SIGNER: &str = "gitopshq@localhost";
/// How often Flux reconciles on the platform: its drift correction (self-heal) runs at this
/// interval; new commits are fetched at once, as the controllers ask.
pub const FLUX_INTERVAL: &str = "15s";
/// The dashboard's external URL the e2e controllers put in release notifications.
pub const DASHBOARD_URL: &str = "https://gitopshq.e2e.test";

/// The GitOps engine a platform delivers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Flux,
    ArgoCd,
}

impl Engine {
    /// The Project `spec.delivery` that selects it.
    pub fn delivery(self) -> &'static str {
        match self {
            Engine::Flux => "Flux",
            Engine::ArgoCd => "ArgoCD",
        }
    }

    /// The namespace of the management cluster the engine's objects live in.
    pub fn namespace(self) -> &'static str {
        match self {
            Engine::Flux => gitopshq_localplane::FLUX_NAMESPACE,
            Engine::ArgoCd => gitopshq_localplane::ARGOCD_NAMESPACE,
        }
    }
}

/// The running engine.
#[derive(Debug)]
pub enum GitOps {
    Flux(Flux),
    ArgoCd(ArgoCd),
}

impl GitOps {
    fn log_tails(&self) -> String {
        match self {
            GitOps::Flux(flux) => flux.log_tails(),
            GitOps::ArgoCd(argocd) => argocd.log_tails(),
        }
    }
}

pub struct Platform {
    // Fields drop in order: what watches a cluster stops before the cluster.
    pub webhook: Option<LocalWebhook>,
    pub controllers: Option<Running>,
    pub gitops: GitOps,
    pub git: GitServer,
    pub workload: WorkloadCluster,
    pub management: TestEnv,
    /// Bare repository served by [`Platform::git`], the GitOps remote.
    pub repository: PathBuf,
    dir: tempfile::TempDir,
}

impl Platform {
    /// Both clusters, Flux, the Git server with an empty GitOps repository, the webhook and the
    /// controllers. The first run on a machine builds the Go components (see
    /// `tests/testenv/README.md`).
    pub async fn start() -> Self {
        Self::start_with(Engine::Flux).await
    }

    /// [`Platform::start`] with `engine` delivering: the examples' Projects are applied with
    /// its `spec.delivery` (see [`Platform::example`]).
    pub async fn start_with(engine: Engine) -> Self {
        // GITOPSHQ_TEST_LOG=debug shows what the controllers and the webhook do.
        if let Ok(filter) = std::env::var("GITOPSHQ_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        tokio::task::spawn_blocking(gitopshq_localplane::ensure_real_loop_binaries)
            .await
            .expect("the build task runs")
            .expect("the real loop's components build");
        let dir = tempfile::tempdir().expect("temporary folder");
        let git = GitServer::start(dir.path().join("repositories")).expect("the Git server starts");
        let repository = git
            .create_bare_repository("gitops.git")
            .expect("a bare repository");
        let management = async {
            let management = TestEnv::start()
                .await
                .expect("management control plane starts");
            let gitops = match engine {
                Engine::Flux => GitOps::Flux(Flux::start(&management).await.expect("Flux starts")),
                Engine::ArgoCd => {
                    GitOps::ArgoCd(ArgoCd::start(&management).await.expect("Argo CD starts"))
                }
            };
            (management, gitops)
        };
        let workload = async {
            WorkloadCluster::start()
                .await
                .expect("workload cluster starts")
        };
        let ((management, gitops), workload) = tokio::join!(management, workload);
        let client = management.client().await.expect("client");
        let webhook = LocalWebhook::start_serving(
            client.clone(),
            webhook_settings(),
            jiff::Timestamp::now,
            Some(pod_logs_api(client)),
        )
        .await
        .expect("webhook starts and is registered");
        let controllers = start_controllers(&management, dir.path(), None).await;
        let platform = Self {
            webhook: Some(webhook),
            controllers: Some(controllers),
            gitops,
            git,
            workload,
            management,
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
        self.controllers = Some(start_controllers(&self.management, self.dir.path(), None).await);
    }

    /// Starts the controllers again (after [`Self::stop_controllers`]) with the platform's
    /// settings changed by `configure` (a measurement at another scale than the tests').
    pub async fn start_controllers_with(
        &mut self,
        configure: impl FnOnce(&mut gitopshq_controller::Settings),
    ) {
        assert!(self.controllers.is_none(), "the controllers are running");
        let mut settings = controller_settings(self.dir.path(), None);
        configure(&mut settings);
        self.controllers = Some(start_controllers_with(&self.management, settings).await);
    }

    /// Starts the controllers again (after [`Self::stop_controllers`]) checking delivered
    /// releases only every `interval`: what they see sooner, a change woke them to.
    pub async fn start_controllers_checking_every(&mut self, interval: Duration) {
        assert!(self.controllers.is_none(), "the controllers are running");
        self.controllers =
            Some(start_controllers(&self.management, self.dir.path(), Some(interval)).await);
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

    /// The GitOps repository's URL on the platform's Git server.
    pub fn repository_url(&self) -> String {
        self.git.url("gitops.git")
    }

    /// The engine delivering on this platform.
    pub fn engine(&self) -> Engine {
        match self.gitops {
            GitOps::Flux(_) => Engine::Flux,
            GitOps::ArgoCd(_) => Engine::ArgoCd,
        }
    }

    /// The last log lines of the GitOps engine, the workload cluster's controllers and the Git server, for a
    /// failure message.
    pub fn loop_logs(&self) -> String {
        format!(
            "{}\n{}\n--- git http-backend ---\n{}",
            self.gitops.log_tails(),
            self.workload.log_tails(),
            std::fs::read_to_string(self.git.log_path()).unwrap_or_default()
        )
    }

    /// Stores the workload cluster's kubeconfig in `gitopshq-system/cluster-<name>`, where the
    /// examples' Cluster objects expect it.
    pub fn register_workload_cluster(&self, name: &str) {
        self.store_cluster_kubeconfig(
            name,
            &self.workload.admin_kubeconfig_yaml().expect("kubeconfig"),
        );
    }

    /// Stores `kubeconfig` as the Secret `gitopshq-system/cluster-<name>` a Cluster names.
    pub fn store_cluster_kubeconfig(&self, name: &str, kubeconfig: &str) {
        let file = self.dir().join(format!("cluster-{name}.kubeconfig"));
        std::fs::write(&file, kubeconfig).expect("write");
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
    /// replaced by this platform's, and the Projects delivering with this platform's engine.
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
        let out = out.replace(EXAMPLE_REPOSITORY, &self.repository_url());
        match self.engine() {
            Engine::Flux => out,
            engine => out.replace(
                "\n  delivery: Flux\n",
                &format!("\n  delivery: {}\n", engine.delivery()),
            ),
        }
    }

    /// The bootstrap example's project, chart, workload, variables and cluster eu-west-1,
    /// without its tenants and release, for a scenario that places tenants of its own.
    pub fn bootstrap_without_tenants_or_release(&self) -> String {
        self.example(&[
            "bootstrap/00-namespaces.yaml",
            "bootstrap/10-environments.yaml",
            "bootstrap/20-cluster.yaml",
            "bootstrap/30-project.yaml",
            "bootstrap/40-chart.yaml",
            "bootstrap/50-workload.yaml",
            "bootstrap/70-variables.yaml",
        ])
    }

    /// The governance scenario's platform, as the platform team sets it up: the bootstrap
    /// objects, the governed project ([`GOVERNED_PROJECT`]), the resource-limits policy and
    /// the two-team approval policy; returns once the Project is Ready.
    pub fn set_up_governance(&self) {
        self.apply(
            "admin",
            &self.example(&["bootstrap", "governance/project.yaml"]),
        );
        self.apply(
            "admin",
            &self.example(&[
                "governance/policy-require-limits.yaml",
                "governance/approval-policy.yaml",
            ]),
        );
        self.wait_for(
            None,
            "project",
            GOVERNED_PROJECT,
            "{.status.phase}",
            "Ready",
        );
    }

    /// Freezes production with the break-glass example's `10-freeze.yaml`, its window moved
    /// around now so that it is in force while the scenario runs; returns once the
    /// Environment reports itself frozen, which is when the webhook gates by it.
    pub fn freeze_production_now(&self) {
        let now = jiff::Timestamp::now();
        let start = now - jiff::SignedDuration::from_hours(1);
        let end = now + jiff::SignedDuration::from_hours(2);
        let freeze = self
            .example(&["break-glass/10-freeze.yaml"])
            .replace(
                "2026-11-25T12:00:00Z",
                &start.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            )
            .replace(
                "2026-11-25T18:00:00Z",
                &end.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            );
        self.apply("admin", &freeze);
        self.wait_for(
            None,
            "environment",
            "production",
            "{.status.frozen}",
            "true",
        );
    }

    /// Waits until the Policy `name` reports that its embedded tests pass (`TestsPassed`).
    pub fn wait_policy_tested(&self, name: &str) {
        self.wait_for(
            None,
            "policy",
            name,
            "{.status.conditions[?(@.type==\"TestsPassed\")].status}",
            "True",
        );
    }

    /// Applies YAML as `user`; returns the output (stdout + stderr, where warnings go).
    pub fn apply(&self, user: &str, yaml: &str) -> String {
        self.apply_with(user, yaml, &[])
    }

    /// Applies YAML as `user` with server-side apply: unlike client-side `kubectl apply`, it
    /// keeps `null` values (which delete a key in values layering).
    pub fn apply_server_side(&self, user: &str, yaml: &str) -> String {
        self.apply_with(user, yaml, &["--server-side"])
    }

    fn apply_with(&self, user: &str, yaml: &str, flags: &[&str]) -> String {
        let out = with_stdin(
            self.kubectl(user)
                .arg("apply")
                .args(flags)
                .args(["-f", "-"]),
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

    /// Waits until `release` in `namespace` is delivered: Deployed, or already past it (the
    /// real loop applies and rolls out within seconds); returns the phase.
    pub fn wait_delivered(&self, namespace: &str, release: &str) -> String {
        self.wait_until(
            Some(namespace),
            "release",
            release,
            "{.status.phase}",
            |p| matches!(p, "Deployed" | "Healthy" | "Degraded"),
            "Deployed (or Healthy, Degraded)",
        )
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
        let value = poll(|| self.get(namespace, kind, name, path), &done);
        value.unwrap_or_else(|value| {
            let status = self.get(namespace, kind, name, "{.status}");
            panic!(
                "{kind} {name}: {path} is {value:?}, waited for {what}; status: {status}\n{}",
                self.loop_logs()
            )
        })
    }

    /// `kubectl get KIND NAME -o jsonpath=PATH` in `namespace` of the workload cluster.
    pub fn workload_get(&self, namespace: &str, kind: &str, name: &str, path: &str) -> String {
        let out = self
            .workload_admin()
            .args(["-n", namespace, "get", kind, name, "-o"])
            .arg(format!("jsonpath={path}"))
            .output()
            .expect("kubectl runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until `workload_get(..)` satisfies `done`; panics after [`WAIT`] with the last
    /// value and the loop's logs.
    pub fn wait_in_workload(
        &self,
        namespace: &str,
        kind: &str,
        name: &str,
        path: &str,
        done: impl Fn(&str) -> bool,
        what: &str,
    ) -> String {
        poll(|| self.workload_get(namespace, kind, name, path), &done).unwrap_or_else(|value| {
            panic!(
                "workload cluster {kind} {namespace}/{name}: {path} is {value:?}, waited for {what}\n{}",
                self.loop_logs()
            )
        })
    }

    /// Sets the image of `container` in Deployment `namespace/deployment` of the workload
    /// cluster by hand (`kubectl set image`), as someone working around GitOpsHQ would.
    pub fn set_workload_image_by_hand(
        &self,
        namespace: &str,
        deployment: &str,
        container: &str,
        image: &str,
    ) {
        ok(self.workload_admin().args([
            "-n",
            namespace,
            "set",
            "image",
            &format!("deployment/{deployment}"),
            &format!("{container}={image}"),
        ]));
    }

    /// The pods of `namespace` in the workload cluster whose labels match `selector`, not being
    /// deleted: `(name, ready, waiting reason, restart count)` of each pod's first container.
    pub fn workload_pods(
        &self,
        namespace: &str,
        selector: &str,
    ) -> Vec<(String, bool, String, i64)> {
        let out = ok(self
            .workload_admin()
            .args(["-n", namespace, "get", "pods", "-l", selector, "-o", "json"]));
        let list: serde_json::Value = serde_json::from_str(&out).expect("kubectl prints JSON");
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .map(|p| {
                let container = &p["status"]["containerStatuses"][0];
                (
                    p["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    container["ready"].as_bool().unwrap_or(false),
                    container["state"]["waiting"]["reason"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    container["restartCount"].as_i64().unwrap_or(0),
                )
            })
            .collect()
    }

    /// The reasons of the Events in `namespace` of the management cluster that match
    /// `field_selector`, space-separated.
    pub fn event_reasons(&self, namespace: &str, field_selector: &str) -> String {
        ok(self.admin().args([
            "-n",
            namespace,
            "get",
            "events",
            "--field-selector",
            field_selector,
            "-o",
            "jsonpath={.items[*].reason}",
        ]))
    }

    /// Runs `gitopshq ARGS --kubeconfig <user's>` with nothing taken from the caller's
    /// environment (no KUBECONFIG, no GITOPSHQ_PROJECT, HOME in the platform's folder); it must
    /// succeed. Returns stdout.
    #[track_caller]
    pub fn gitopshq_as(&self, user: &str, args: &[&str]) -> String {
        let kubeconfig = self.management.kubeconfig_for(user).expect("a test user");
        let out = Command::new(gitopshq_binary())
            .env_remove("KUBECONFIG")
            .env_remove("GITOPSHQ_PROJECT")
            .env("HOME", self.dir())
            .args(args)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .output()
            .expect("gitopshq runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "gitopshq {args:?} as {user} failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
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

/// Reads a value every quarter second until `done` accepts it (`Ok`), or [`WAIT`] passed
/// (`Err` with the last value).
/// Reads until `done` holds, within the platform's wait; `Err` with the last value read.
pub fn poll(read: impl Fn() -> String, done: &impl Fn(&str) -> bool) -> Result<String, String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = read();
        if done(&value) {
            return Ok(value);
        }
        if Instant::now() > deadline {
            return Err(value);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

async fn start_controllers(
    management: &TestEnv,
    dir: &Path,
    health_interval: Option<Duration>,
) -> Running {
    start_controllers_with(management, controller_settings(dir, health_interval)).await
}

fn controller_settings(
    dir: &Path,
    health_interval: Option<Duration>,
) -> gitopshq_controller::Settings {
    let mut settings = gitopshq_controller::Settings::local(dir.join("git-cache"));
    settings.health_interval = health_interval.unwrap_or(Duration::from_secs(1));
    settings.cluster_heartbeat = Duration::from_secs(2);
    settings.flux_interval = FLUX_INTERVAL.to_string();
    settings.notifications.dashboard_url = Some(DASHBOARD_URL.to_string());
    settings.signing_key_secret = Some(SigningKeySecret {
        namespace: SIGNING_KEY_NAMESPACE.into(),
        name: SIGNING_KEY_SECRET.into(),
    });
    settings
}

async fn start_controllers_with(
    management: &TestEnv,
    settings: gitopshq_controller::Settings,
) -> Running {
    let mut running = gitopshq_controller::start(
        management
            .client_as(gitopshq_localplane::CONTROLLER)
            .await
            .expect("client"),
        settings,
        Scope::All,
    )
    .await;
    running
        .serve_flux_artifacts()
        .await
        .expect("the Flux artifact server starts");
    running
}

/// Per-tenant Flux artifacts (`--flux-artifacts-url`) served on a free loopback port, for
/// [`Platform::start_controllers_with`].
pub fn flux_artifacts() -> gitopshq_controller::FluxArtifacts {
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    gitopshq_controller::FluxArtifacts {
        url: format!("http://{address}"),
        address,
    }
}

/// The webhook's settings on the platform: the controller is the harness's controller user.
/// The pod-logs API the webhook serves beside admission, reading with `client`.
pub fn pod_logs_api(client: kube::Client) -> gitopshq_webhook::run::AggregatedApi {
    gitopshq_webhook::run::AggregatedApi {
        discovery: gitopshq_controller::logs_api::discovery(),
        routes: gitopshq_controller::logs_api::routes(client),
    }
}

/// Every request counter of an API server (`apiserver_request_total`, read with `kubectl`),
/// summed per verb, and per resource for WATCH and LIST.
pub fn apiserver_requests(mut kubectl: Command) -> std::collections::BTreeMap<String, f64> {
    let metrics = ok(kubectl.args(["get", "--raw", "/metrics"]));
    let mut out = std::collections::BTreeMap::new();
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let label = |name: &str| {
            line.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default()
                .to_string()
        };
        let verb = match label("verb").as_str() {
            verb @ ("WATCH" | "LIST") => format!("{verb} {}", label("resource")),
            other => other.to_string(),
        };
        if let Some(count) = line.rsplit(' ').next().and_then(|c| c.parse::<f64>().ok()) {
            *out.entry(verb).or_insert(0.0) += count;
        }
    }
    out
}

pub fn webhook_settings() -> Settings {
    Settings {
        controller_users: vec![gitopshq_localplane::CONTROLLER.to_string()],
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
