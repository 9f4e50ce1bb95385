//! What the cluster commands share: the kubeconfig resolution kubectl users expect (`--kubeconfig`,
//! `$KUBECONFIG`, `~/.kube/config`, `--context`, the in-cluster ServiceAccount, or `--server` and
//! `--token` for CI), the project namespace, and failures told by kind (not permitted, gated,
//! runtime) with the exit code CI can test.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use gitopshq_engine::outcome::{self, Attempt, Classified, Kind};
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// How long one API request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Connection flags of every cluster command (global: they may follow any subcommand).
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Cluster connection")]
pub struct KubeArgs {
    /// Project (namespace) to work in; default: the kubeconfig context's namespace.
    #[arg(
        short = 'n',
        long = "namespace",
        visible_alias = "project",
        env = "GITOPSHQ_PROJECT",
        global = true,
        value_name = "PROJECT"
    )]
    pub namespace: Option<String>,
    /// Kubeconfig file; default: $KUBECONFIG, then ~/.kube/config, then the in-cluster
    /// ServiceAccount.
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use; default: its current context.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// API server URL, overriding the kubeconfig's (CI: with --token and
    /// --certificate-authority, no kubeconfig needed).
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// Bearer token (a ServiceAccount token in CI), replacing the kubeconfig's credentials.
    #[arg(
        long,
        env = "GITOPSHQ_TOKEN",
        global = true,
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// CA certificate file (PEM) of the API server.
    #[arg(long, global = true, value_name = "FILE")]
    pub certificate_authority: Option<PathBuf>,
    /// Accept any serving certificate (insecure; for throw-away clusters only).
    #[arg(long, global = true)]
    pub insecure_skip_tls_verify: bool,
}

/// A connected client and the project it works in.
pub struct Session {
    pub client: Client,
    pub namespace: String,
    /// The API server URL, for runtime failures.
    pub server: String,
}

impl KubeArgs {
    /// The configuration these flags select, with --server, --token, --certificate-authority,
    /// --insecure-skip-tls-verify and a connect timeout applied.
    pub async fn configured(&self) -> Result<Config> {
        let mut config = self.config().await?;
        if let Some(server) = &self.server {
            config.cluster_url = server
                .parse()
                .with_context(|| format!("--server {server} is not a URL"))?;
        }
        if let Some(token) = &self.token {
            config.auth_info = AuthInfo {
                token: Some(token.trim().to_string().into()),
                ..AuthInfo::default()
            };
        }
        if let Some(ca) = &self.certificate_authority {
            anyhow::ensure!(
                ca.is_file(),
                "--certificate-authority {} is not a file",
                ca.display()
            );
            config.root_cert_file = Some(ca.clone());
        }
        if self.insecure_skip_tls_verify {
            config.accept_invalid_certs = true;
        }
        if config.connect_timeout.is_none() {
            config.connect_timeout = Some(Duration::from_secs(10));
        }
        Ok(config)
    }

    pub async fn connect(&self) -> Result<Session> {
        let config = self.configured().await?;
        let namespace = self
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(|e| {
            Failure::new(
                Kind::Runtime,
                format!("cannot build a client for {server}: {e}"),
                Some("check the kubeconfig's cluster and credentials".into()),
            )
        })?;
        Ok(Session {
            client,
            namespace,
            server,
        })
    }

    async fn config(&self) -> Result<Config> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            cluster: None,
            user: None,
        };
        let invalid = |what: String, e: &dyn fmt::Display| {
            Failure::new(
                Kind::Invalid,
                format!("{what}: {e}"),
                Some("fix the kubeconfig, or pick another with --kubeconfig / --context".into()),
            )
        };
        if let Some(path) = &self.kubeconfig {
            let file = Kubeconfig::read_from(path)
                .map_err(|e| invalid(format!("cannot read kubeconfig {}", path.display()), &e))?;
            return Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| invalid(format!("kubeconfig {}", path.display()), &e).into());
        }
        let has_file = std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty())
            || home_kubeconfig().is_some_and(|p| p.is_file());
        if has_file {
            return Config::from_kubeconfig(&options)
                .await
                .map_err(|e| invalid("cannot load the kubeconfig".into(), &e).into());
        }
        if let Some(server) = &self.server {
            let uri = server
                .parse()
                .with_context(|| format!("--server {server} is not a URL"))?;
            return Ok(Config::new(uri));
        }
        if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
            return Config::incluster().map_err(|e| {
                invalid("cannot use the in-cluster ServiceAccount".into(), &e).into()
            });
        }
        Err(Failure::new(
            Kind::Invalid,
            "no kubeconfig: $KUBECONFIG is unset and ~/.kube/config does not exist".into(),
            Some(
                "pass --kubeconfig FILE, set KUBECONFIG, or (CI) pass --server URL --token TOKEN --certificate-authority CA".into(),
            ),
        )
        .into())
    }
}

fn home_kubeconfig() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube").join("config"))
}

impl Session {
    /// Runs one API call with [`REQUEST_TIMEOUT`], turning its error into a classified
    /// [`Failure`].
    pub async fn call<T>(
        &self,
        attempt: Attempt,
        request: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T> {
        match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.failure(&error, &attempt).into()),
            Err(_) => Err(self.timed_out(&attempt).into()),
        }
    }

    fn timed_out(&self, attempt: &Attempt) -> Failure {
        Failure::new(
            Kind::Runtime,
            format!(
                "the API server at {} did not answer within {}s ({} {})",
                self.server,
                REQUEST_TIMEOUT.as_secs(),
                attempt.verb,
                attempt.object.as_deref().unwrap_or(&attempt.resource)
            ),
            Some("retry; check the network path to the API server".into()),
        )
    }

    /// [`Session::call`] for reads where absence is an answer: a 404 gives `None`.
    pub async fn get_opt<T>(
        &self,
        attempt: Attempt,
        request: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<Option<T>> {
        match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
            Ok(Ok(value)) => Ok(Some(value)),
            Ok(Err(kube::Error::Api(status))) if status.code == 404 => Ok(None),
            Ok(Err(error)) => Err(self.failure(&error, &attempt).into()),
            Err(_) => Err(self.timed_out(&attempt).into()),
        }
    }

    /// The classified failure of a kube error.
    pub fn failure(&self, error: &kube::Error, attempt: &Attempt) -> Failure {
        failure_of(error, attempt, &self.server)
    }
}

/// The classified failure of a kube error against `server`.
pub fn failure_of(error: &kube::Error, attempt: &Attempt, server: &str) -> Failure {
    match error {
        kube::Error::Api(status) => Failure(outcome::classify(
            status.code,
            &status.reason,
            &status.message,
            attempt,
        )),
        kube::Error::Auth(e) => Failure::new(
            Kind::NotAuthenticated,
            format!("cannot authenticate to {server}: {e}"),
            Some("check the kubeconfig's credentials (token, client certificate or exec plugin)".into()),
        ),
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::RustlsTls(_) => {
            Failure::new(
                Kind::Runtime,
                format!("cannot reach the API server at {server}: {}", chain(error)),
                Some("check that the cluster is up, the network path to it, and --kubeconfig / --context".into()),
            )
        }
        other => Failure::new(
            Kind::Runtime,
            format!("request to {server} failed: {}", chain(other)),
            None,
        ),
    }
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// A failure told by kind; `main` exits with [`Kind::exit_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub Classified);

impl Failure {
    pub fn new(kind: Kind, message: String, next_step: Option<String>) -> Self {
        Failure(Classified {
            kind,
            message,
            next_step,
        })
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.0.kind.exit_code())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Failure {}

/// The exit code for an error of any command: a [`Failure`]'s, else 1.
pub fn exit_code_of(error: &anyhow::Error) -> ExitCode {
    error
        .chain()
        .find_map(|e| e.downcast_ref::<Failure>())
        .map(Failure::exit_code)
        .unwrap_or(ExitCode::FAILURE)
}

/// Runs `future` on a fresh runtime: the cluster commands are small clients.
pub fn block_on<F: Future>(future: F) -> Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(future))
}

/// `kubectl`-style resource names with their group, for messages and `auth can-i`.
pub mod resources {
    pub const RELEASES: &str = "releases.gitopshq.io";
    pub const APPROVAL_REQUESTS: &str = "approvalrequests.gitopshq.io";
    pub const BREAK_GLASS_SESSIONS: &str = "breakglasssessions.gitopshq.io";
    pub const WORKLOADS: &str = "workloads.gitopshq.io";
    pub const TENANTS: &str = "tenants.gitopshq.io";
    pub const VARIABLES: &str = "variables.gitopshq.io";
    pub const PROMOTIONS: &str = "promotions.gitopshq.io";
    pub const CLUSTERS: &str = "clusters.gitopshq.io";
    pub const PROJECTS: &str = "projects.gitopshq.io";
    pub const EVENTS: &str = "events.events.k8s.io";
}

/// A duration flag (`90s`, `10m`, `1h30m`), Go-style as kubectl writes them.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let parsed = gitopshq_engine::freeze::parse_duration(text)
        .ok_or_else(|| format!("{text:?} is not a positive duration such as 90s, 10m or 1h30m"))?;
    Duration::try_from(parsed).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_kubectl() {
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn failures_carry_their_exit_codes() {
        let gated: anyhow::Error = Failure::new(Kind::Gated, "frozen".into(), None).into();
        assert_eq!(exit_code_of(&gated), ExitCode::from(4));
        let wrapped = gated.context("while submitting");
        assert_eq!(exit_code_of(&wrapped), ExitCode::from(4));
        assert_eq!(exit_code_of(&anyhow::anyhow!("plain")), ExitCode::FAILURE);
        let shown = Failure::new(Kind::NotPermitted, "RBAC denies".into(), Some("ask".into()));
        assert_eq!(shown.to_string(), "not permitted: RBAC denies\n  next: ask");
    }
}
