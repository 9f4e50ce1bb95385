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
    /// Exit once ready instead of waiting for Ctrl-C (for scripts and tests).
    #[arg(long)]
    pub no_wait: bool,
}

const STEPS: usize = 7;

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
        gitopshq_engine::admission::Settings::default(),
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

    step(6, &format!("kubectl apply -f {}", args.apply.display()));
    kubectl_ok(
        &management,
        &["apply", "-f", &args.apply.display().to_string()],
    )?;

    step(7, "writing kubeconfigs");
    let kubeconfig = args
        .kubeconfig_out
        .clone()
        .unwrap_or_else(|| args.dir.join("kubeconfig"));
    copy_file(management.kubeconfig_path(), &kubeconfig)?;
    for user in ["alice", "bob", "carol"] {
        copy_file(
            management.kubeconfig_for(user)?,
            &args.dir.join(format!("kubeconfig-{user}")),
        )?;
    }
    copy_file(
        workload.kubeconfig_path(),
        &args.dir.join("kubeconfig-workload"),
    )?;

    let kc = kubeconfig.display();
    let dir = args.dir.display();
    println!("sandbox ready: export KUBECONFIG={kc}");
    println!();
    println!("Try:");
    println!("  kubectl get environments,projects,releases -A");
    println!("  kubectl explain release.spec.changes");
    println!(
        "  kubectl --kubeconfig {dir}/kubeconfig-alice auth can-i create namespaces   # alice@backend-team: no"
    );
    println!(
        "  gitopshq deliver -f {} --release payment-api-v1-0-0-dev --repo {}",
        args.apply.display(),
        repo.display()
    );
    println!();
    println!(
        "Users: {dir}/kubeconfig-{{alice,bob,carol}}; workload cluster: {dir}/kubeconfig-workload"
    );
    std::io::stdout().flush()?;
    if args.no_wait {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("running until Ctrl-C");
    tokio::signal::ctrl_c().await?;
    eprintln!("stopping: removing both control planes");
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
