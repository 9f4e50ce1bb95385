use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use kube::{
    Client, Config,
    config::{KubeConfigOptions, Kubeconfig},
};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    Error, Result,
    binaries::{Binaries, ensure_binaries},
    crds, kubeconfig,
    pki::{FRONT_PROXY_CLIENT, Pki, SERVICE_CLUSTER_IP_RANGE},
    ports::free_port,
    process::Process,
    users::{ADMIN, Account, USERS, random_token},
};

/// The workspace's CRDs, used unless the builder says otherwise.
const DEFAULT_CRD_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/crd");

/// Who did what, for the audit trail: request bodies for our own API group (the objects people
/// create are the record), metadata for everything else, nothing for health probes and the API
/// server talking to itself.
const AUDIT_POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    nonResourceURLs: ["/readyz*", "/livez*", "/healthz*", "/version", "/openapi*", "/api*"]
  - level: None
    users: ["system:apiserver"]
  - level: RequestResponse
    resources: [{ group: "gitopshq.io" }]
  - level: Metadata
"#;

const DIR_PREFIX: &str = "gitopshq-localplane-";
const OWNER_FILE: &str = "owner.pid";

/// A killed test process never runs its destructors, so its servers die with it (see
/// `process.rs`) but its temporary folder stays. Each process removes the folders of owners that
/// no longer exist before making its own.
fn remove_folders_of_dead_owners() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        // No owner file yet: a folder being set up right now.
        let Ok(owner) = std::fs::read_to_string(entry.path().join(OWNER_FILE)) else {
            continue;
        };
        let alive = Path::new("/proc").join(owner.trim()).exists();
        if !alive && cfg!(target_os = "linux") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A fresh `$TMPDIR/gitopshq-localplane-<name>-*` folder recording this process as its owner, so
/// that the next run removes it if this one is killed before removing it itself.
pub(crate) fn owned_temp_dir(name: &str) -> Result<TempDir> {
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(remove_folders_of_dead_owners);
    let dir = tempfile::Builder::new()
        .prefix(&format!("{DIR_PREFIX}{name}-"))
        .tempdir()
        .map_err(Error::io("cannot create a temporary folder"))?;
    let owner = dir.path().join(OWNER_FILE);
    std::fs::write(&owner, std::process::id().to_string())
        .map_err(Error::io(format!("cannot write {}", owner.display())))?;
    Ok(dir)
}

/// A port taken by someone else between our probe and the server's bind makes a start fail;
/// a new set of ports almost always succeeds.
const START_ATTEMPTS: usize = 3;

/// Options for a [`TestEnv`]; see [`TestEnv::builder`].
#[derive(Debug, Clone)]
pub struct TestEnvBuilder {
    cluster_name: String,
    crd_dir: Option<PathBuf>,
    crd_dir_required: bool,
    extra_users: Vec<(String, Vec<String>)>,
    audit_log: bool,
    ready_timeout: Duration,
    service_account_admission: bool,
}

impl Default for TestEnvBuilder {
    fn default() -> Self {
        TestEnvBuilder {
            cluster_name: "gitopshq".to_owned(),
            crd_dir: Some(PathBuf::from(DEFAULT_CRD_DIR)),
            crd_dir_required: false,
            extra_users: Vec::new(),
            audit_log: true,
            ready_timeout: Duration::from_secs(120),
            service_account_admission: false,
        }
    }
}

impl TestEnvBuilder {
    /// The cluster's name in kubeconfigs (default `gitopshq`).
    pub fn cluster_name(mut self, name: impl Into<String>) -> Self {
        self.cluster_name = name.into();
        self
    }

    /// Installs the CRDs of this folder instead of the workspace's `config/crd`; unlike the
    /// default, a missing folder is an error.
    pub fn crd_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.crd_dir = Some(dir.into());
        self.crd_dir_required = true;
        self
    }

    /// Installs no CRDs, like a workload cluster.
    pub fn without_crds(mut self) -> Self {
        self.crd_dir = None;
        self
    }

    /// Adds a static-token user beyond [`USERS`](crate::USERS).
    pub fn user<G: Into<String>>(
        mut self,
        name: impl Into<String>,
        groups: impl IntoIterator<Item = G>,
    ) -> Self {
        self.extra_users
            .push((name.into(), groups.into_iter().map(Into::into).collect()));
        self
    }

    /// Writes the API server's audit log (on by default).
    pub fn audit_log(mut self, on: bool) -> Self {
        self.audit_log = on;
        self
    }

    /// How long etcd and kube-apiserver may take to become ready (default 120 s: two busy
    /// cores can be slow the first time).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Turns on the ServiceAccount admission plugin, for a cluster whose controller manager
    /// gives every namespace its `default` ServiceAccount (see `WorkloadCluster`).
    pub(crate) fn service_account_admission(mut self) -> Self {
        self.service_account_admission = true;
        self
    }

    pub async fn start(self) -> Result<TestEnv> {
        let binaries = tokio::task::spawn_blocking(ensure_binaries)
            .await
            .map_err(|e| Error::Build {
                message: format!("the build task failed: {e}"),
            })??;
        let crds = match &self.crd_dir {
            Some(dir) if dir.is_dir() => crds::read_dir(dir)?,
            Some(dir) if self.crd_dir_required => {
                return Err(Error::Crd {
                    file: dir.clone(),
                    message: "no such folder".to_owned(),
                });
            }
            _ => Vec::new(),
        };
        let mut attempt = 1;
        loop {
            match self.start_once(&binaries).await {
                Err(Error::Exited { .. }) if attempt < START_ATTEMPTS => attempt += 1,
                Err(e) => return Err(e),
                Ok(env) => {
                    if !crds.is_empty() {
                        crds::install(&env.client().await?, &crds, self.ready_timeout).await?;
                    }
                    return Ok(env);
                }
            }
        }
    }

    async fn start_once(&self, binaries: &Binaries) -> Result<TestEnv> {
        let dir = owned_temp_dir(&self.cluster_name)?;
        let path = |name: &str| dir.path().join(name);
        let write = |name: &str, contents: &str| {
            std::fs::write(path(name), contents).map_err(Error::io(format!("cannot write {name}")))
        };

        let pki = Pki::generate(&self.cluster_name)?;
        write("ca.crt", &pki.ca_pem)?;
        write("apiserver.crt", &pki.serving_cert_pem)?;
        write("apiserver.key", &pki.serving_key_pem)?;
        write("sa.key", &pki.sa_key_pem)?;
        write("sa.pub", &pki.sa_public_pem)?;
        write("front-proxy-ca.crt", &pki.front_proxy_ca_pem)?;
        write("front-proxy-client.crt", &pki.front_proxy_client_cert_pem)?;
        write("front-proxy-client.key", &pki.front_proxy_client_key_pem)?;

        let accounts: Vec<Account> = USERS
            .iter()
            .map(|u| {
                (
                    u.name.to_owned(),
                    u.groups.iter().map(|g| (*g).to_owned()).collect(),
                )
            })
            .chain(self.extra_users.iter().cloned())
            .map(|(name, groups)| Account {
                name,
                groups,
                token: random_token(),
            })
            .collect();
        write(
            "tokens.csv",
            &accounts
                .iter()
                .map(Account::token_file_line)
                .collect::<String>(),
        )?;
        write("audit-policy.yaml", AUDIT_POLICY)?;

        let etcd_port = free_port()?;
        let etcd_peer_port = free_port()?;
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{etcd_peer_port}");
        let mut etcd = Command::new(&binaries.etcd);
        etcd.arg("--name=testenv")
            .arg(format!("--data-dir={}", path("etcd").display()))
            .arg(format!("--listen-client-urls={etcd_url}"))
            .arg(format!("--advertise-client-urls={etcd_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=testenv={peer_url}"))
            // The data dies with the test; durability only costs time on a shared disk.
            .arg("--unsafe-no-fsync")
            .arg("--log-level=warn");
        let mut etcd = Process::spawn("etcd", etcd, &path("etcd.log"))?;
        wait_for_etcd(&mut etcd, etcd_port, self.ready_timeout).await?;

        let port = free_port()?;
        let server_url = format!("https://127.0.0.1:{port}");
        let audit_log = self.audit_log.then(|| path("audit.log"));
        let mut apiserver = Command::new(&binaries.kube_apiserver);
        apiserver
            .arg(format!("--etcd-servers={etcd_url}"))
            .arg(format!("--secure-port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            .arg(format!(
                "--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}"
            ))
            .arg(format!("--cert-dir={}", path("certs").display()))
            .arg(format!(
                "--tls-cert-file={}",
                path("apiserver.crt").display()
            ))
            .arg(format!(
                "--tls-private-key-file={}",
                path("apiserver.key").display()
            ))
            .arg("--authorization-mode=RBAC")
            .arg(format!(
                "--token-auth-file={}",
                path("tokens.csv").display()
            ))
            .arg(format!("--service-account-issuer={server_url}"))
            .arg(format!(
                "--service-account-key-file={}",
                path("sa.pub").display()
            ))
            .arg(format!(
                "--service-account-signing-key-file={}",
                path("sa.key").display()
            ))
            // The aggregation layer, as kubeadm configures it: aggregated APIs (GitOpsHQ's
            // pod logs) learn who calls from these headers, signed for by the front proxy.
            .arg(format!(
                "--requestheader-client-ca-file={}",
                path("front-proxy-ca.crt").display()
            ))
            .arg(format!(
                "--requestheader-allowed-names={FRONT_PROXY_CLIENT}"
            ))
            .arg("--requestheader-username-headers=X-Remote-User")
            .arg("--requestheader-group-headers=X-Remote-Group")
            .arg("--requestheader-extra-headers-prefix=X-Remote-Extra-")
            .arg(format!(
                "--proxy-client-cert-file={}",
                path("front-proxy-client.crt").display()
            ))
            .arg(format!(
                "--proxy-client-key-file={}",
                path("front-proxy-client.key").display()
            ))
            .arg("--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook")
            .arg("--profiling=false");
        if !self.service_account_admission {
            // Without a controller manager no namespace gets its `default` ServiceAccount, and
            // this plugin would refuse every Pod; tests write Pods to play workload health.
            apiserver.arg("--disable-admission-plugins=ServiceAccount");
        }
        if let Some(log) = &audit_log {
            apiserver
                .arg(format!(
                    "--audit-policy-file={}",
                    path("audit-policy.yaml").display()
                ))
                .arg(format!("--audit-log-path={}", log.display()))
                // Tests read the trail right after acting: no batching.
                .arg("--audit-log-mode=blocking");
        }
        let apiserver = Process::spawn("kube-apiserver", apiserver, &path("kube-apiserver.log"))?;

        let mut user_kubeconfigs = BTreeMap::new();
        let everyone: Vec<&Account> = accounts.iter().collect();
        let admin_config = kubeconfig::render(
            &self.cluster_name,
            &server_url,
            &pki.ca_pem,
            &everyone,
            ADMIN,
        )?;
        write("kubeconfig", &admin_config)?;
        for account in &accounts {
            let file = format!("kubeconfig-{}", account.name);
            let text = kubeconfig::render(
                &self.cluster_name,
                &server_url,
                &pki.ca_pem,
                &[account],
                &account.name,
            )?;
            write(&file, &text)?;
            user_kubeconfigs.insert(account.name.clone(), path(&file));
        }

        let mut env = TestEnv {
            apiserver,
            etcd,
            cluster_name: self.cluster_name.clone(),
            server_url,
            ca_pem: pki.ca_pem,
            accounts,
            kubeconfig: path("kubeconfig"),
            user_kubeconfigs,
            audit_log,
            dir,
        };
        env.wait_for_apiserver(self.ready_timeout).await?;
        Ok(env)
    }
}

/// A running etcd + kube-apiserver pair on loopback, stopped and removed when dropped.
#[derive(Debug)]
pub struct TestEnv {
    // Fields drop in order: the API server stops before its etcd, and both before their folder
    // is removed.
    apiserver: Process,
    etcd: Process,
    cluster_name: String,
    server_url: String,
    ca_pem: String,
    accounts: Vec<Account>,
    kubeconfig: PathBuf,
    user_kubeconfigs: BTreeMap<String, PathBuf>,
    audit_log: Option<PathBuf>,
    dir: TempDir,
}

impl TestEnv {
    pub fn builder() -> TestEnvBuilder {
        TestEnvBuilder::default()
    }

    /// The management cluster with the defaults: workspace CRDs, all test users, audit log.
    pub async fn start() -> Result<TestEnv> {
        TestEnv::builder().start().await
    }

    /// An independent second control plane playing a remote workload cluster: same API and
    /// users, no GitOpsHQ CRDs, no audit log.
    #[cfg(feature = "testing")]
    pub async fn start_workload_cluster() -> Result<TestEnv> {
        TestEnv::builder()
            .cluster_name("workload")
            .without_crds()
            .audit_log(false)
            .start()
            .await
    }

    pub fn cluster_name(&self) -> &str {
        &self.cluster_name
    }

    /// `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The CA that signed the serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The admin kubeconfig. It also has a context per test user, named after the user
    /// (`kubectl --context alice`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kubeconfig with only `user`'s credentials.
    pub fn kubeconfig_for(&self, user: &str) -> Result<&Path> {
        self.user_kubeconfigs
            .get(user)
            .map(PathBuf::as_path)
            .ok_or_else(|| Error::UnknownUser(user.to_owned()))
    }

    /// The admin kubeconfig as text, with the CA embedded: what a Secret registering this
    /// cluster holds.
    pub fn admin_kubeconfig_yaml(&self) -> Result<String> {
        self.kubeconfig_yaml(ADMIN)
    }

    /// `user`'s kubeconfig as text.
    pub fn kubeconfig_yaml(&self, user: &str) -> Result<String> {
        let path = self.kubeconfig_for(user)?;
        std::fs::read_to_string(path).map_err(Error::io(format!("cannot read {}", path.display())))
    }

    /// `user`'s bearer token.
    pub fn token_for(&self, user: &str) -> Result<&str> {
        self.account(user).map(|a| a.token.as_str())
    }

    /// The users this server knows, with their groups.
    pub fn users(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.accounts
            .iter()
            .map(|a| (a.name.as_str(), a.groups.as_slice()))
    }

    pub async fn client(&self) -> Result<Client> {
        self.client_as(ADMIN).await
    }

    pub async fn client_as(&self, user: &str) -> Result<Client> {
        let kubeconfig = Kubeconfig::read_from(self.kubeconfig_for(user)?)?;
        let config =
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        Ok(Client::try_from(config)?)
    }

    /// The machine's `kubectl` (or `$KUBECTL`) acting as `user`, with its own discovery cache
    /// so a server on a reused port never sees another server's stale API list.
    ///
    /// # Panics
    /// If `user` is not a user of this server; see [`TestEnv::kubeconfig_for`] to check.
    pub fn kubectl(&self, user: &str) -> Command {
        let kubeconfig = self.kubeconfig_for(user).unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = Command::new(std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into()));
        cmd.arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!(
                "--cache-dir={}",
                self.dir.path().join("kube-cache").display()
            ));
        cmd
    }

    /// The API server's audit log (JSON lines), if it was turned on.
    pub fn audit_log_path(&self) -> Option<&Path> {
        self.audit_log.as_deref()
    }

    /// The audit events written so far, oldest first; empty without an audit log.
    #[cfg(feature = "testing")]
    pub fn audit_events(&self) -> Result<Vec<serde_json::Value>> {
        let Some(path) = &self.audit_log else {
            return Ok(Vec::new());
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(Error::Io {
                    context: format!("cannot read {}", path.display()),
                    source: e,
                });
            }
        };
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// The folder holding this environment's files (certificates, logs, etcd data).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn account(&self, user: &str) -> Result<&Account> {
        self.accounts
            .iter()
            .find(|a| a.name == user)
            .ok_or_else(|| Error::UnknownUser(user.to_owned()))
    }

    /// Kills the API server, as an outage would; etcd keeps the data. Clients get connection
    /// errors until [`TestEnv::restart_apiserver`].
    #[cfg(feature = "testing")]
    pub fn stop_apiserver(&mut self) {
        self.apiserver.kill();
    }

    /// Starts the API server again on the same address with the same flags, certificates and
    /// tokens, and waits until it is ready.
    #[cfg(feature = "testing")]
    pub async fn restart_apiserver(&mut self, timeout: Duration) -> Result<()> {
        self.apiserver.restart()?;
        self.wait_for_apiserver(timeout).await
    }

    async fn wait_for_apiserver(&mut self, timeout: Duration) -> Result<()> {
        let client = self.client().await?;
        let deadline = Instant::now() + timeout;
        loop {
            let request = http::Request::get("/readyz")
                .body(Vec::new())
                .expect("a static request is valid");
            if let Ok(body) = client.request_text(request).await
                && body.trim() == "ok"
            {
                return Ok(());
            }
            for process in [&mut self.apiserver, &mut self.etcd] {
                if let Some(e) = process.exited_error() {
                    return Err(e);
                }
            }
            if Instant::now() > deadline {
                return Err(Error::NotReady {
                    component: self.apiserver.component(),
                    timeout,
                    log_tail: self.apiserver.log_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// etcd answers `/health` over plain HTTP on its client port once it has a leader.
async fn wait_for_etcd(etcd: &mut Process, port: u16, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if etcd_healthy(port).await {
            return Ok(());
        }
        if let Some(e) = etcd.exited_error() {
            return Err(e);
        }
        if Instant::now() > deadline {
            return Err(Error::NotReady {
                component: etcd.component(),
                timeout,
                log_tail: etcd.log_tail(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn etcd_healthy(port: u16) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let request = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut response = String::new();
    let read =
        tokio::time::timeout(Duration::from_secs(2), stream.read_to_string(&mut response)).await;
    matches!(read, Ok(Ok(_))) && response.contains("\"health\":\"true\"")
}

#[cfg(test)]
mod tests {
    /// The default is optional at run time (a binary built elsewhere has no workspace), so a
    /// stale path would silently install no CRDs: it must name the workspace's folder.
    #[test]
    fn the_default_crd_folder_is_the_workspaces() {
        let dir = std::path::Path::new(super::DEFAULT_CRD_DIR);
        assert!(
            dir.join("releases.gitopshq.io.yaml").is_file(),
            "{} holds no CRDs",
            dir.display()
        );
    }
}
