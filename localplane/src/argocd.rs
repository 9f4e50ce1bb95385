use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams},
};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::{
    Error, Result, TestEnv,
    binaries::{argocd_binaries, off_the_runtime},
    crds,
    env::owned_temp_dir,
    ports::free_port,
    probe::{http_ok, tcp_open},
    process::{Process, own_folders},
    users::{ADMIN, random_token},
};

/// The namespace of Argo CD's own objects: its settings, cluster Secrets, AppProjects and the
/// Applications the controller reconciles (it watches no other namespace).
pub const ARGOCD_NAMESPACE: &str = "argocd";

/// What Argo CD's stock install puts in `argocd-cm` as `timeout.reconciliation`, and hands to the
/// controller (its periodic refresh) and the repo-server (how long it trusts a resolved branch
/// head) as `ARGOCD_RECONCILIATION_TIMEOUT`.
const RECONCILIATION_TIMEOUT: &str = "180s";

const FIELD_MANAGER: &str = "gitopshq-localplane";

/// Argo CD's application-controller and repo-server, run out of cluster against a management
/// cluster's API server, with an in-process Redis (miniredis) as their shared cache and the
/// Application and AppProject CRDs installed.
///
/// Everything lives in [`ARGOCD_NAMESPACE`]: `argocd-cm`, `argocd-secret` and `argocd-rbac-cm`
/// as a stock install has them, and a `default` AppProject that permits nothing (see
/// [`ArgoCd::start`]). A workload cluster is reached through a cluster Secret
/// (`argocd.argoproj.io/secret-type: cluster`) in that namespace; an Application delivers only
/// through an AppProject that names its repository and destination. `ARGOCD_FAKE_IN_CLUSTER`
/// makes the built-in `in-cluster` destination (`https://kubernetes.default.svc`) the
/// management cluster itself, as it is for an Argo CD installed there.
///
/// The processes are killed when this is dropped, and by the kernel when the test process
/// dies; their logs, homes and temporary folders (the repo-server's clones) are in
/// [`ArgoCd::dir`].
#[derive(Debug)]
pub struct ArgoCd {
    // Fields drop in order: the controller stops before the repo-server and the cache it uses,
    // and every process before its folder is removed.
    application_controller: Process,
    repo_server: Process,
    redis: Process,
    repo_server_addr: String,
    redis_addr: String,
    dir: TempDir,
}

impl ArgoCd {
    /// Installs the Application and AppProject CRDs into `management`, creates
    /// [`ARGOCD_NAMESPACE`] with Argo CD's settings and a `default` AppProject, starts Redis,
    /// the repo-server and the application-controller, and waits until each answers.
    ///
    /// The `default` AppProject permits no source repository and no destination. Argo CD's own
    /// install (its API server, which is not run here) creates `default` permitting everything,
    /// so an Application naming `project: default` deploys anything anywhere, the management
    /// cluster included. Here it reaches nothing: only AppProjects created on purpose, naming
    /// their repositories and destinations, deliver, and an Application that falls back to
    /// `default` shows up as refused (an `InvalidSpecError` condition) instead of succeeding.
    pub async fn start(management: &TestEnv) -> Result<ArgoCd> {
        ArgoCd::start_with_timeout(management, Duration::from_secs(120)).await
    }

    pub async fn start_with_timeout(management: &TestEnv, timeout: Duration) -> Result<ArgoCd> {
        let binaries = off_the_runtime("Argo CD", argocd_binaries).await?;
        let client = management.client().await?;
        crds::install_dir(&client, &binaries.crd_dir, timeout).await?;
        install_settings(&client).await?;

        let dir = owned_temp_dir("argocd")?;
        let kubeconfig = management.kubeconfig_for(ADMIN)?;

        let redis_port = free_port()?;
        let redis_addr = format!("127.0.0.1:{redis_port}");
        let mut redis_cmd = Command::new(&binaries.argocd);
        own_folders(&mut redis_cmd, dir.path(), "redis")?;
        redis_cmd.arg("redis").arg(&redis_addr);
        let mut redis = Process::spawn("redis", redis_cmd, &dir.path().join("redis.log"))?;
        let deadline = Instant::now() + timeout;
        redis
            .wait_ready(deadline, timeout, || tcp_open(redis_port))
            .await?;

        let repo_port = free_port()?;
        let repo_server_addr = format!("127.0.0.1:{repo_port}");
        let repo_metrics = free_port()?;
        let mut repo = argocd_command(
            &binaries.argocd,
            dir.path(),
            "argocd-repo-server",
            kubeconfig,
        )?;
        // Where a pod mounts argocd-tls-certs-cm, argocd-ssh-known-hosts-cm and the GnuPG keys
        // (`/app/config/...` by default), one set per process.
        let data = |process: &str, sub: &str| -> Result<PathBuf> {
            let path = dir.path().join(process).join(sub);
            std::fs::create_dir_all(&path)
                .map_err(Error::io(format!("cannot create {}", path.display())))?;
            Ok(path)
        };
        // kustomize and the wrapper scripts the repo-server runs (git-verify-wrapper.sh for
        // every commit it renders) come first, as in Argo CD's image.
        let tools = binaries
            .kustomize
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut path = vec![tools];
        path.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let path = std::env::join_paths(path).map_err(|e| Error::ComponentBuild {
            component: "argocd-repo-server",
            message: format!("cannot build its PATH: {e}"),
        })?;
        repo.env("PATH", path)
            .env("ARGOCD_GPG_ENABLED", "false")
            .env("ARGOCD_TLS_DATA_PATH", data("argocd-repo-server", "tls")?)
            .env("ARGOCD_SSH_DATA_PATH", data("argocd-repo-server", "ssh")?)
            .env("ARGOCD_GNUPGHOME", data("argocd-repo-server", "gpg/keys")?)
            .env(
                "ARGOCD_GPG_DATA_PATH",
                data("argocd-repo-server", "gpg/source")?,
            )
            // Config management plugins' sockets (none run here).
            .env(
                "ARGOCD_PLUGINSOCKFILEPATH",
                data("argocd-repo-server", "plugins")?,
            )
            // Git asks for credentials through this socket; the default is one fixed path in
            // /tmp, which two repo-servers on one machine would fight over.
            .env(
                "ARGOCD_ASK_PASS_SOCK",
                dir.path().join("argocd-repo-server").join("askpass.sock"),
            )
            .arg("--address=127.0.0.1")
            .arg(format!("--port={repo_port}"))
            .arg("--metrics-address=127.0.0.1")
            .arg(format!("--metrics-port={repo_metrics}"))
            .arg(format!("--redis={redis_addr}"))
            .arg("--disable-tls")
            // Its default names a file a pod would mount, and --disable-tls refuses any value.
            .arg("--client-ca-path=");
        let mut repo_server = Process::spawn(
            "argocd-repo-server",
            repo,
            &dir.path().join("argocd-repo-server.log"),
        )?;

        let controller_metrics = free_port()?;
        let mut controller = argocd_command(
            &binaries.argocd,
            dir.path(),
            "argocd-application-controller",
            kubeconfig,
        )?;
        controller
            // One controller, no sharding (the stock StatefulSet sets this too).
            .env("ARGOCD_CONTROLLER_REPLICAS", "1")
            .env(
                "ARGOCD_TLS_DATA_PATH",
                data("argocd-application-controller", "tls")?,
            )
            .env(
                "ARGOCD_SSH_DATA_PATH",
                data("argocd-application-controller", "ssh")?,
            )
            .arg(format!("--namespace={ARGOCD_NAMESPACE}"))
            .arg(format!("--redis={redis_addr}"))
            .arg(format!("--repo-server={repo_server_addr}"))
            .arg("--repo-server-plaintext")
            // It listens on 0.0.0.0: the controller has no flag for the metrics address.
            .arg(format!("--metrics-port={controller_metrics}"))
            .arg("--status-processors=2")
            .arg("--operation-processors=2");
        let mut application_controller = Process::spawn(
            "argocd-application-controller",
            controller,
            &dir.path().join("argocd-application-controller.log"),
        )?;

        // `full=true`: the repo-server calls its own gRPC health service, so ready means
        // serving, not only listening.
        repo_server
            .wait_ready(deadline, timeout, || {
                http_ok(repo_metrics, "/healthz?full=true")
            })
            .await?;
        // Served once its Application and AppProject informers have synced.
        application_controller
            .wait_ready(deadline, timeout, || {
                http_ok(controller_metrics, "/healthz")
            })
            .await?;
        Ok(ArgoCd {
            application_controller,
            repo_server,
            redis,
            repo_server_addr,
            redis_addr,
            dir,
        })
    }

    /// [`ARGOCD_NAMESPACE`]: where its settings, cluster Secrets, AppProjects and Applications
    /// live.
    pub fn namespace(&self) -> &'static str {
        ARGOCD_NAMESPACE
    }

    /// The folder with the processes' logs, homes and temporary folders.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `127.0.0.1:<port>`, the repo-server's gRPC address (plaintext).
    pub fn repo_server_addr(&self) -> &str {
        &self.repo_server_addr
    }

    /// `127.0.0.1:<port>`, the Redis both processes cache in.
    pub fn redis_addr(&self) -> &str {
        &self.redis_addr
    }

    /// The last lines of each process's log, for a test's failure message.
    pub fn log_tails(&self) -> String {
        [&self.redis, &self.repo_server, &self.application_controller]
            .into_iter()
            .map(|p| format!("--- {} ---\n{}", p.component(), p.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// What both Argo CD processes share: the command chosen by `ARGOCD_BINARY_NAME` (as upstream's
/// Procfile runs them), the management cluster through `KUBECONFIG` with the in-cluster
/// destination faked onto it, the stock reconciliation timeout, and readable logs.
fn argocd_command(binary: &Path, dir: &Path, name: &str, kubeconfig: &Path) -> Result<Command> {
    let mut cmd = Command::new(binary);
    own_folders(&mut cmd, dir, name)?;
    cmd.env("ARGOCD_BINARY_NAME", name)
        .env("ARGOCD_FAKE_IN_CLUSTER", "true")
        .env("KUBECONFIG", kubeconfig)
        .env("ARGOCD_RECONCILIATION_TIMEOUT", RECONCILIATION_TIMEOUT)
        // Set in Argo CD's image: no DNS TXT lookups for gRPC service configs.
        .env("GRPC_ENABLE_TXT_SERVICE_CONFIG", "false")
        .arg("--loglevel=info")
        .arg("--logformat=text");
    Ok(cmd)
}

/// The namespace, the settings objects a stock install has (`argocd-cm`, `argocd-secret`,
/// `argocd-rbac-cm`; the processes read their flags from the command line here, so no
/// `argocd-cmd-params-cm`), and the `default` AppProject that permits nothing.
async fn install_settings(client: &Client) -> Result<()> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let namespace: Namespace = decode(
        "Argo CD's namespace",
        json!({"metadata": {"name": ARGOCD_NAMESPACE}}),
    )?;
    Api::<Namespace>::all(client.clone())
        .patch(ARGOCD_NAMESPACE, &params, &Patch::Apply(&namespace))
        .await?;
    // Argo CD reads only settings objects that carry this label.
    let labels =
        |name: &str| json!({"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "argocd"});
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), ARGOCD_NAMESPACE);
    for (name, data) in [
        (
            "argocd-cm",
            json!({"timeout.reconciliation": RECONCILIATION_TIMEOUT}),
        ),
        ("argocd-rbac-cm", json!({})),
    ] {
        let config_map: ConfigMap = decode(
            "an Argo CD ConfigMap",
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "labels": labels(name)},
                "data": data,
            }),
        )?;
        config_maps
            .patch(name, &params, &Patch::Apply(&config_map))
            .await?;
    }
    let secret: Secret = decode(
        "argocd-secret",
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "argocd-secret", "labels": labels("argocd-secret")},
            "type": "Opaque",
            // What its API server would generate on first start.
            "data": {"server.secretkey": BASE64.encode(random_token())},
        }),
    )?;
    Api::<Secret>::namespaced(client.clone(), ARGOCD_NAMESPACE)
        .patch("argocd-secret", &params, &Patch::Apply(&secret))
        .await?;
    // See `ArgoCd::start`: no sourceRepos and no destinations, so `project: default` reaches
    // nothing.
    let projects = app_projects(client);
    let default: DynamicObject = decode(
        "the default AppProject",
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": "default"},
            "spec": {"sourceRepos": [], "destinations": []},
        }),
    )?;
    projects
        .patch("default", &params, &Patch::Apply(&default))
        .await?;
    Ok(())
}

fn app_projects(client: &Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AppProject");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "appprojects");
    Api::namespaced_with(client.clone(), ARGOCD_NAMESPACE, &resource)
}

fn decode<T: serde::de::DeserializeOwned>(what: &'static str, value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| Error::Encode {
        what,
        message: e.to_string(),
    })
}
