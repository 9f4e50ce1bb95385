//! `gitopshq sandbox`: a real local control plane with the bootstrap example applied, for a
//! newcomer's first minutes. Runs until Ctrl-C, then stops everything it started.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use gitopshq_testenv::{ADMIN, TestEnv};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the admin kubeconfig (default: DIR/kubeconfig).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig_out: Option<PathBuf>,
    /// Working folder: kubeconfigs and the GitOps repository the bootstrap Project points at.
    #[arg(long, value_name = "DIR", default_value = "/tmp/gitopshq-sandbox")]
    pub dir: PathBuf,
    /// Folder of objects to apply once the control plane is up.
    #[arg(long, value_name = "PATH", default_value = "examples/bootstrap")]
    pub apply: PathBuf,
    /// Where the web dashboard listens (another free port when this one is taken).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090")]
    pub dashboard_address: std::net::SocketAddr,
    /// Exit once ready instead of waiting for Ctrl-C (for scripts and tests).
    #[arg(long)]
    pub no_wait: bool,
}

const STEPS: usize = 10;

/// The GitOps repository the examples' Projects name; the sandbox points them at its own.
const EXAMPLE_REPOSITORY: &str = "file:///tmp/gitopshq-sandbox/gitops.git";
/// The release of examples/bootstrap the sandbox waits for.
const FIRST_RELEASE: (&str, &str) = ("payment-service", "payment-api-v1-0-0-dev");

fn step(n: usize, what: &str) {
    eprintln!("[{n}/{STEPS}] {what}");
}

pub fn run(args: Args) -> Result<ExitCode> {
    if !args.apply.is_dir() {
        bail!(
            "{} is not a folder: run the sandbox from the repository root or pass --apply PATH",
            args.apply.display()
        );
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(sandbox(args))
}

async fn sandbox(args: Args) -> Result<ExitCode> {
    step(
        1,
        "kube-apiserver and etcd binaries (built from the Go module proxy the first time: about 10 minutes on 2 cores, then cached under ~/.cache/gitopshq/testenv)",
    );
    let binaries = tokio::task::spawn_blocking(gitopshq_testenv::ensure_binaries).await??;
    eprintln!("      using {}", binaries.kube_apiserver.display());

    step(
        2,
        "starting etcd + kube-apiserver (management cluster) and installing the CRDs",
    );
    let management = TestEnv::start()
        .await
        .context("starting the management control plane")?;
    eprintln!("      {} ready", management.server_url());

    step(
        3,
        "starting the admission webhook (HTTPS on 127.0.0.1) and registering it with the API server",
    );
    let webhook = gitopshq_webhook::local::LocalWebhook::start(
        management.client().await?,
        gitopshq_engine::admission::Settings {
            controller_users: vec![gitopshq_testenv::CONTROLLER.to_string()],
            ..gitopshq_engine::admission::Settings::default()
        },
    )
    .await
    .context("starting the admission webhook")?;
    eprintln!("      https://{} ready", webhook.address);

    step(
        4,
        "starting a second kube-apiserver as workload cluster eu-west-1",
    );
    let workload = TestEnv::start_workload_cluster()
        .await
        .context("starting the workload control plane")?;
    register_workload_cluster(&management, &workload)?;
    eprintln!(
        "      {} ready; kubeconfig stored in Secret gitopshq-system/cluster-eu-west-1",
        workload.server_url()
    );

    step(
        5,
        "creating the GitOps repository the bootstrap Project points at",
    );
    let repo = args.dir.join("gitops.git");
    if !repo.exists() {
        let created = git2::Repository::init_opts(
            &repo,
            git2::RepositoryInitOptions::new()
                .bare(true)
                .initial_head("main"),
        )
        .with_context(|| format!("cannot create {}", repo.display()))?;
        drop(created);
    }
    eprintln!("      {}", repo.display());

    step(
        6,
        "starting the controllers (projects, clusters, releases, promotions, charts, sessions)",
    );
    let controllers = gitopshq_controller::start(
        management.client_as(gitopshq_testenv::CONTROLLER).await?,
        gitopshq_controller::Settings::local(args.dir.join("git-cache")),
        gitopshq_controller::index::Scope::All,
    )
    .await;
    eprintln!("      watching every GitOpsHQ kind");

    step(7, &format!("kubectl apply -f {}", args.apply.display()));
    let yaml = example_yaml(
        &args.apply,
        &format!("file://{}", repo.canonicalize()?.display()),
    )?;
    kubectl_apply(&management, &yaml)?;

    step(8, "waiting for the bootstrap release to be delivered");
    let delivered = wait_for_delivery(&management).await;
    eprintln!("      {delivered}");

    step(9, "writing kubeconfigs");
    let kubeconfig = args
        .kubeconfig_out
        .clone()
        .unwrap_or_else(|| args.dir.join("kubeconfig"));
    copy_file(management.kubeconfig_path(), &kubeconfig)?;
    for user in ["alice", "erin", "bob", "frank", "carol", "dave"] {
        copy_file(
            management.kubeconfig_for(user)?,
            &args.dir.join(format!("kubeconfig-{user}")),
        )?;
    }
    copy_file(
        workload.kubeconfig_path(),
        &args.dir.join("kubeconfig-workload"),
    )?;

    step(10, "starting the web dashboard");
    let base = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(management.kubeconfig_path())?,
        &kube::config::KubeConfigOptions::default(),
    )
    .await?;
    let cache = args.dir.join("dashboard-cache");
    let dashboard =
        match crate::dashboard::serve_local(base.clone(), args.dashboard_address, cache.clone())
            .await
        {
            Ok(serving) => serving,
            Err(_) => {
                let any_port = std::net::SocketAddr::new(args.dashboard_address.ip(), 0);
                crate::dashboard::serve_local(base, any_port, cache).await?
            }
        };
    let people = ["alice", "bob", "carol", "dave", "erin", "frank"];
    for user in people {
        std::fs::write(
            args.dir.join(format!("token-{user}")),
            management.token_for(user)?,
        )?;
    }
    eprintln!("      http://{}", dashboard.address);

    let kc = kubeconfig.display();
    let dir = args.dir.display();
    println!("sandbox ready: export KUBECONFIG={kc}");
    println!();
    println!("{delivered}");
    println!();
    println!("Try:");
    println!("  kubectl get environments,clusters,projects");
    println!("  kubectl -n payment-service get releases,tenants,workloads");
    println!("  gitopshq status payment-api-v1-0-0-dev -n payment-service");
    println!(
        "  git --git-dir {} log --format='%h %s%n%b' -1",
        repo.display()
    );
    println!("  kubectl explain release.spec.changes");
    println!(
        "  kubectl --kubeconfig {dir}/kubeconfig-alice auth can-i create workloads.gitopshq.io -n payment-service   # alice@backend-team: yes"
    );
    println!();
    println!(
        "The workload cluster has no nodes: play Argo CD and the kubelet to see the release turn Healthy:"
    );
    println!(
        "  git clone -q {} {dir}/checkout && kubectl --kubeconfig {dir}/kubeconfig-workload create namespace payments-dev",
        repo.display()
    );
    println!(
        "  kubectl --kubeconfig {dir}/kubeconfig-workload apply -k {dir}/checkout/projects/payment-service/development/eu-development"
    );
    println!(
        "  kubectl --kubeconfig {dir}/kubeconfig-workload -n payments-dev patch deployment payment-api --subresource=status --type=merge -p '{{\"status\":{{\"observedGeneration\":1,\"replicas\":1,\"updatedReplicas\":1,\"availableReplicas\":1}}}}'"
    );
    println!();
    println!(
        "Users: {dir}/kubeconfig-{{alice,erin}} (backend-team), -{{bob,frank}} (sre-team), -carol (platform-team), -dave (frontend-team); workload cluster: {dir}/kubeconfig-workload"
    );
    println!();
    println!(
        "Dashboard: http://{} — sign in with a user's token, e.g. alice's: {}",
        dashboard.address,
        management.token_for("alice")?
    );
    println!("  (every user's token is in {dir}/token-<user>)");
    std::io::stdout().flush()?;
    if !args.no_wait {
        eprintln!("running until Ctrl-C");
        tokio::signal::ctrl_c().await?;
        eprintln!("stopping: removing both control planes");
    }
    // Everything that watches the API servers stops before them: their watches would
    // otherwise fail, and say so, as the servers go away.
    dashboard.stop().await;
    controllers.stop().await;
    webhook.stop().await.ok();
    drop(workload);
    drop(management);
    Ok(ExitCode::SUCCESS)
}

/// Stores the workload cluster's kubeconfig where the bootstrap Cluster object expects it,
/// as `gitopshq cluster register` does for real clusters.
fn register_workload_cluster(management: &TestEnv, workload: &TestEnv) -> Result<()> {
    let secret_file = management.dir().join("cluster-eu-west-1.kubeconfig");
    std::fs::write(&secret_file, workload.admin_kubeconfig_yaml()?)?;
    let manifest = std::process::Command::new("kubectl")
        .args([
            "create",
            "secret",
            "generic",
            "cluster-eu-west-1",
            "--namespace",
            "gitopshq-system",
            "--dry-run=client",
            "-o",
            "yaml",
        ])
        .arg(format!("--from-file=kubeconfig={}", secret_file.display()))
        .output()
        .context("running kubectl: is it on PATH?")?;
    if !manifest.status.success() {
        bail!(
            "kubectl create secret failed: {}",
            String::from_utf8_lossy(&manifest.stderr)
        );
    }
    kubectl_ok(management, &["create", "namespace", "gitopshq-system"])?;
    let manifest_file = management.dir().join("cluster-eu-west-1.secret.yaml");
    std::fs::write(&manifest_file, &manifest.stdout)?;
    kubectl_ok(
        management,
        &["apply", "-f", &manifest_file.display().to_string()],
    )
}

/// Every YAML file of `folder` (sorted, as `kubectl apply -f` reads them), with the examples'
/// repository URL replaced by the sandbox's own.
fn example_yaml(folder: &Path, repository: &str) -> Result<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("cannot read {}", folder.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut yaml = String::new();
    for file in files {
        yaml.push_str(
            &std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?,
        );
        yaml.push_str("\n---\n");
    }
    Ok(yaml.replace(EXAMPLE_REPOSITORY, repository))
}

fn kubectl_apply(env: &TestEnv, yaml: &str) -> Result<()> {
    use std::process::Stdio;
    let mut child = env
        .kubectl(ADMIN)
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running kubectl: is it on PATH?")?;
    child
        .stdin
        .take()
        .context("kubectl's stdin")?
        .write_all(yaml.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "kubectl apply failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    eprint!("{}", indent(&String::from_utf8_lossy(&out.stdout)));
    Ok(())
}

/// "release payment-service/payment-api-v1-0-0-dev: Deployed (commit abc1234)", or what it is
/// waiting for after a minute.
async fn wait_for_delivery(env: &TestEnv) -> String {
    let (namespace, name) = FIRST_RELEASE;
    let started = std::time::Instant::now();
    loop {
        let out = env
            .kubectl(ADMIN)
            .args([
                "-n",
                namespace,
                "get",
                "release",
                name,
                "-o",
                "jsonpath={.status.phase} {.status.shortCommit} {.status.message}",
            ])
            .output();
        let text = out
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let mut parts = text.splitn(3, ' ');
        let phase = parts.next().unwrap_or_default();
        let commit = parts.next().unwrap_or_default();
        let message = parts.next().unwrap_or_default();
        if matches!(phase, "Deployed" | "Healthy") {
            return format!("release {namespace}/{name}: {phase} (commit {commit})");
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            return format!(
                "release {namespace}/{name} is {}: {message}",
                if phase.is_empty() {
                    "not reconciled yet"
                } else {
                    phase
                }
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

fn kubectl_ok(env: &TestEnv, args: &[&str]) -> Result<()> {
    let out = env
        .kubectl(ADMIN)
        .args(args)
        .output()
        .context("running kubectl: is it on PATH?")?;
    if !out.status.success() {
        bail!(
            "kubectl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    eprint!("{}", indent(&String::from_utf8_lossy(&out.stdout)));
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      {l}\n")).collect()
}

fn copy_file(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .with_context(|| format!("cannot write {}", to.display()))
        .map(drop)
}
