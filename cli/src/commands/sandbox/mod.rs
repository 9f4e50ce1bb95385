//! `gitopshq sandbox`: the whole GitOps loop on one machine, for a newcomer's first minutes.
//! A management cluster with Flux (or Argo CD, `--delivery argocd`), a workload cluster whose
//! pods really run (KWOK), a Git server, and GitOpsHQ's webhook, controllers and dashboard;
//! `examples/bootstrap` applied and its release followed until it is Healthy. Runs until
//! Ctrl-C, then stops everything it started.

mod bench;
mod engine;
mod healthy;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use gitopshq_localplane::{ADMIN, CONTROLLER, GitServer, RealLoop, TestEnv, WorkloadCluster};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

pub use engine::Delivery;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the admin kubeconfig (default: DIR/kubeconfig).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig_out: Option<PathBuf>,
    /// Working folder: kubeconfigs, tokens and the GitOps repository (DIR/gitops.git, created
    /// afresh at each start).
    #[arg(long, value_name = "DIR", default_value = "/tmp/gitopshq-sandbox")]
    pub dir: PathBuf,
    /// Folder of objects to apply once the control plane is up.
    #[arg(long, value_name = "PATH", default_value = "examples/bootstrap")]
    pub apply: PathBuf,
    /// Where the web dashboard listens (another free port when this one is taken).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090")]
    pub dashboard_address: SocketAddr,
    /// Where the Git server serves DIR/gitops.git, the URL the examples' Projects name
    /// (another free port when this one is taken; the examples are then pointed there).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8091")]
    pub git_address: SocketAddr,
    /// How long the bootstrap release may take to become Healthy once its objects are
    /// applied, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub healthy_timeout: u64,
    /// Exit once the bootstrap release is Healthy (status 0) or cannot become so (non-zero)
    /// instead of running until Ctrl-C; for scripts and tests.
    #[arg(long)]
    pub no_wait: bool,
    /// Once the bootstrap release is Healthy, deliver this many successive releases of
    /// payment-api to its development tenant and print how long each stage took (Approved →
    /// commit → Flux or Argo CD applied → Deployment available → Healthy).
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub bench_releases: Option<usize>,
    /// The GitOps engine that syncs the repository into the workload cluster: the examples'
    /// Projects are applied with its `spec.delivery`.
    #[arg(long, value_enum, default_value_t = Delivery::Flux, env = "GITOPSHQ_SANDBOX_DELIVERY")]
    pub delivery: Delivery,
}

/// The GitOps repository URL the examples' Projects name; the sandbox serves it there, or
/// points them at the address it got.
const EXAMPLE_REPOSITORY: &str = "http://127.0.0.1:8091/gitops.git";
/// The repository, under DIR and in URLs.
const REPOSITORY: &str = "gitops.git";
/// The workload cluster as `examples/bootstrap/20-cluster.yaml` registers it.
const WORKLOAD_CLUSTER: &str = "eu-west-1";
const CLUSTER_SECRET_NAMESPACE: &str = "gitopshq-system";
const CLUSTER_SECRET: &str = "cluster-eu-west-1";
/// The people of the examples, whose kubeconfigs and tokens are written to DIR.
const PEOPLE: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];

const STEPS: usize = 6;

/// When the command started: every progress line is timed from it.
static LAUNCHED: OnceLock<Instant> = OnceLock::new();

fn launched() -> Instant {
    *LAUNCHED.get_or_init(Instant::now)
}

fn step(n: usize, what: &str) {
    eprintln!("[{n}/{STEPS}] {:>6}  {what}", seconds(launched().elapsed()));
}

fn detail(what: &str) {
    eprintln!("      {what}");
}

/// A detail line with the time since launch, like the step lines.
fn timed(what: &str) {
    detail(&format!("{:>7}  {what}", seconds(launched().elapsed())));
}

/// `12.3 s`.
fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

pub fn run(args: Args) -> Result<ExitCode> {
    let launched = launched();
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
    runtime.block_on(sandbox(args, launched))
}

async fn sandbox(args: Args, launched: Instant) -> Result<ExitCode> {
    step(
        1,
        "the loop's Go components: kube-apiserver, etcd, kube-controller-manager, kube-scheduler, KWOK, Flux, Argo CD (built from the Go module proxy the first time, about 20 minutes on 2 cores; then cached under ~/.cache/gitopshq/testenv)",
    );
    tokio::task::spawn_blocking(gitopshq_localplane::ensure_real_loop_binaries).await??;
    let build_time = report_builds(&gitopshq_localplane::builds_in_this_process());
    let started = Instant::now();

    step(2, "the GitOps repository and its Git server");
    let git = start_git_server(&args.dir, args.git_address)?;
    let repository_url = git.url(REPOSITORY);
    detail(&format!(
        "{repository_url} serves {} (a fresh repository)",
        args.dir.join(REPOSITORY).display()
    ));

    step(
        3,
        &format!(
            "starting the management cluster with {}, and workload cluster eu-west-1 with kube-controller-manager, kube-scheduler and KWOK",
            args.delivery.name()
        ),
    );
    let mut builder = RealLoop::builder();
    if args.delivery == Delivery::Argocd {
        builder = builder.argocd();
    }
    let real_loop = builder
        .git_server(git)
        .workload(WorkloadCluster::builder().cluster_name(WORKLOAD_CLUSTER))
        .progress(detail)
        .start()
        .await
        .context("starting the GitOps loop")?;

    let mut services = Services::default();
    let timing = Timing {
        launched,
        started,
        build_time,
    };
    let outcome = run_on(&args, &real_loop, &repository_url, &mut services, &timing).await;
    // Everything that watches the API servers stops before them, on every path: their
    // watches would otherwise fail, and say so, as the servers go away.
    services.stop().await;
    drop(real_loop);
    outcome
}

/// What GitOpsHQ runs beside the loop, stopped in order by [`Services::stop`].
#[derive(Default)]
struct Services {
    webhook: Option<gitopshq_webhook::local::LocalWebhook>,
    controllers: Option<gitopshq_controller::Running>,
    dashboard: Option<gitopshq_controller::receiver::Serving>,
}

impl Services {
    async fn stop(self) {
        if let Some(dashboard) = self.dashboard {
            dashboard.stop().await;
        }
        if let Some(controllers) = self.controllers {
            controllers.stop().await;
        }
        if let Some(webhook) = self.webhook {
            webhook.stop().await.ok();
        }
    }
}

struct Timing {
    /// When the command started.
    launched: Instant,
    /// When the loop's components began to start, the Go builds done.
    started: Instant,
    /// How long the Go builds of this run took (zero when all were cached).
    build_time: Duration,
}

/// GitOpsHQ on the running loop: the webhook, the cluster registration, the controllers and
/// the dashboard, then the example applied and followed to Healthy, the benchmark if asked,
/// and Ctrl-C unless `--no-wait`.
async fn run_on(
    args: &Args,
    real_loop: &RealLoop,
    repository_url: &str,
    services: &mut Services,
    timing: &Timing,
) -> Result<ExitCode> {
    let files = write_access_files(args, real_loop)?;
    step(
        4,
        "starting GitOpsHQ: admission webhook, controllers, dashboard; registering cluster eu-west-1",
    );
    let management = &real_loop.management;
    let client = management.client().await?;
    let webhook = services.webhook.insert(
        gitopshq_webhook::local::LocalWebhook::start_serving(
            client.clone(),
            gitopshq_engine::admission::Settings {
                controller_users: vec![CONTROLLER.to_string()],
                ..gitopshq_engine::admission::Settings::default()
            },
            jiff::Timestamp::now,
            Some(crate::commands::webhook::pod_logs_api(client)),
        )
        .await
        .context("starting the admission webhook")?,
    );
    timed(&format!(
        "admission webhook https://{} ready",
        webhook.address
    ));
    register_workload_cluster(management, &real_loop.workload).await?;
    timed(&format!(
        "cluster {WORKLOAD_CLUSTER}: kubeconfig in Secret {CLUSTER_SECRET_NAMESPACE}/{CLUSTER_SECRET}"
    ));
    services.controllers = Some(
        gitopshq_controller::start(
            management.client_as(CONTROLLER).await?,
            gitopshq_controller::Settings::local(args.dir.join("git-cache")),
            gitopshq_controller::index::Scope::All,
        )
        .await,
    );
    timed("controllers watching every GitOpsHQ kind, caches filled");
    let dashboard = services
        .dashboard
        .insert(start_dashboard(management, args).await?)
        .address;
    timed(&format!("dashboard http://{dashboard}"));

    step(5, &format!("kubectl apply -f {}", args.apply.display()));
    let yaml = example_yaml(&args.apply, repository_url, args.delivery)?;
    kubectl_apply(management, &yaml)?;

    step(
        6,
        &format!(
            "waiting for release payment-service/payment-api-v1-0-0-dev: commit, {} sync, rollout, Healthy",
            args.delivery.name()
        ),
    );
    let outcome = healthy::wait(
        real_loop,
        Duration::from_secs(args.healthy_timeout),
        timing.launched,
    )
    .await;
    let shown = Shown {
        args,
        real_loop,
        repository_url,
        dashboard: &dashboard,
        files: &files,
    };
    let healthy = match &outcome {
        Ok(commit) => {
            print_ready(&shown, commit)?;
            let cold = if timing.build_time.is_zero() {
                String::new()
            } else {
                format!(
                    "; {} of it building the Go components, which later starts skip",
                    seconds(timing.build_time)
                )
            };
            eprintln!(
                "started in {} (launch to the bootstrap release Healthy{cold}; {} from the first component's start)",
                seconds(timing.launched.elapsed()),
                seconds(timing.started.elapsed())
            );
            true
        }
        Err(problem) => {
            eprintln!();
            eprintln!("error: {problem}");
            eprintln!("{}", healthy::diagnose(real_loop, args.delivery).await);
            if !args.no_wait {
                print_ready(&shown, "")?;
            }
            false
        }
    };

    let mut bench_failed = false;
    if let (true, Some(releases)) = (healthy, args.bench_releases) {
        match bench::run(real_loop, args.delivery, releases).await {
            Ok(report) => println!("\n{report}"),
            Err(problem) => {
                eprintln!("error: the release benchmark stopped: {problem:#}");
                eprintln!("{}", healthy::diagnose(real_loop, args.delivery).await);
                bench_failed = true;
            }
        }
    }
    std::io::stdout().flush()?;

    if !args.no_wait {
        eprintln!("running until Ctrl-C");
        tokio::signal::ctrl_c().await?;
        eprintln!(
            "stopping: the controllers, {} and both clusters",
            args.delivery.name()
        );
    }
    Ok(if healthy && !bench_failed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints each component this run built and how long it took; returns the longest, since the
/// builds run side by side.
fn report_builds(builds: &[gitopshq_localplane::ComponentBuild]) -> Duration {
    if builds.is_empty() {
        detail("all cached");
        return Duration::ZERO;
    }
    for build in builds {
        detail(&format!(
            "built {} in {} (once per machine and version)",
            build.component,
            seconds(build.duration)
        ));
    }
    builds.iter().map(|b| b.duration).max().unwrap_or_default()
}

/// A fresh bare repository at DIR/gitops.git served on `address`, or on a free port when that
/// one is taken. The repository is recreated at every start: the new management cluster knows
/// nothing of an earlier run's releases, and the repository records what they delivered.
fn start_git_server(dir: &Path, address: SocketAddr) -> Result<GitServer> {
    let repository = dir.join(REPOSITORY);
    for stale in [repository.clone(), dir.join("git-cache")] {
        if stale.exists() {
            std::fs::remove_dir_all(&stale)
                .with_context(|| format!("cannot remove {}", stale.display()))?;
        }
    }
    let git = match GitServer::start_on(dir, address) {
        Ok(git) => git,
        Err(e) if e.is_address_in_use() => {
            detail(&format!(
                "{address} is taken: serving on a free port instead"
            ));
            GitServer::start(dir)?
        }
        Err(e) => return Err(e.into()),
    };
    git.create_bare_repository(REPOSITORY)?;
    Ok(git)
}

/// What a user needs to reach both clusters and the dashboard, in DIR.
struct AccessFiles {
    kubeconfig: PathBuf,
    workload_kubeconfig: PathBuf,
}

fn write_access_files(args: &Args, real_loop: &RealLoop) -> Result<AccessFiles> {
    let management = &real_loop.management;
    let kubeconfig = args
        .kubeconfig_out
        .clone()
        .unwrap_or_else(|| args.dir.join("kubeconfig"));
    copy_file(management.kubeconfig_path(), &kubeconfig)?;
    for user in PEOPLE {
        copy_file(
            management.kubeconfig_for(user)?,
            &args.dir.join(format!("kubeconfig-{user}")),
        )?;
        let token = args.dir.join(format!("token-{user}"));
        std::fs::write(&token, management.token_for(user)?)
            .with_context(|| format!("cannot write {}", token.display()))?;
    }
    let workload_kubeconfig = args.dir.join("kubeconfig-workload");
    copy_file(real_loop.workload.kubeconfig_path(), &workload_kubeconfig)?;
    Ok(AccessFiles {
        kubeconfig,
        workload_kubeconfig,
    })
}

async fn start_dashboard(
    management: &TestEnv,
    args: &Args,
) -> Result<gitopshq_controller::receiver::Serving> {
    let base = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(management.kubeconfig_path())?,
        &kube::config::KubeConfigOptions::default(),
    )
    .await?;
    let cache = args.dir.join("dashboard-cache");
    // The sandbox's controllers run on the local settings: the previews lay out as they do.
    let gitops = gitopshq_controller::Settings::local(args.dir.join("git-cache")).gitops();
    match crate::dashboard::serve_local(
        base.clone(),
        args.dashboard_address,
        cache.clone(),
        gitops.clone(),
    )
    .await
    {
        Ok(serving) => Ok(serving),
        Err(_) => {
            let any_port = SocketAddr::new(args.dashboard_address.ip(), 0);
            crate::dashboard::serve_local(base, any_port, cache, gitops).await
        }
    }
}

/// Stores the workload cluster's kubeconfig where the bootstrap Cluster object expects it,
/// as `gitopshq cluster register` does for real clusters.
async fn register_workload_cluster(management: &TestEnv, workload: &TestEnv) -> Result<()> {
    let client = management.client().await?;
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(CLUSTER_SECRET_NAMESPACE.to_string()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    match Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
    {
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        other => {
            other.with_context(|| format!("creating namespace {CLUSTER_SECRET_NAMESPACE}"))?;
        }
    }
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(CLUSTER_SECRET.to_string()),
            namespace: Some(CLUSTER_SECRET_NAMESPACE.to_string()),
            ..ObjectMeta::default()
        },
        string_data: Some([("kubeconfig".to_string(), workload.admin_kubeconfig_yaml()?)].into()),
        ..Secret::default()
    };
    Api::<Secret>::namespaced(client, CLUSTER_SECRET_NAMESPACE)
        .create(&PostParams::default(), &secret)
        .await
        .with_context(|| format!("creating Secret {CLUSTER_SECRET_NAMESPACE}/{CLUSTER_SECRET}"))?;
    Ok(())
}

/// Every YAML file of `folder` (sorted, as `kubectl apply -f` reads them), with the examples'
/// repository URL replaced by the sandbox's own.
/// The example's objects, pointed at `repository`, its Projects delivering with `delivery`.
fn example_yaml(folder: &Path, repository: &str, delivery: Delivery) -> Result<String> {
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
    Ok(yaml.replace(EXAMPLE_REPOSITORY, repository).replace(
        "\n  delivery: Flux\n",
        &format!("\n  delivery: {}\n", delivery.project_delivery()),
    ))
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
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        detail(line);
    }
    Ok(())
}

/// Where the user reaches what runs.
struct Shown<'a> {
    args: &'a Args,
    real_loop: &'a RealLoop,
    repository_url: &'a str,
    dashboard: &'a SocketAddr,
    files: &'a AccessFiles,
}

/// What runs, where to reach it, and what to try next. The first line is the one scripts wait
/// for; `commit` is empty when the bootstrap release is not Healthy.
fn print_ready(shown: &Shown<'_>, commit: &str) -> Result<()> {
    let Shown {
        args,
        real_loop,
        repository_url,
        dashboard,
        files,
    } = shown;
    let management = &real_loop.management;
    let workload = &real_loop.workload;
    let dir = args.dir.display();
    let kc = files.kubeconfig.display();
    let wk = files.workload_kubeconfig.display();
    let (namespace, release) = healthy::BOOTSTRAP_RELEASE;
    if commit.is_empty() {
        println!(
            "sandbox running, but the bootstrap release is not Healthy (see above): export KUBECONFIG={kc}"
        );
    } else {
        println!("sandbox ready: export KUBECONFIG={kc}");
        println!();
        println!(
            "release {namespace}/{release} is Healthy (commit {commit}): {} applied it to {WORKLOAD_CLUSTER} and its pods are Ready",
            args.delivery.name()
        );
    }
    println!();
    println!("Running:");
    println!(
        "  management cluster   {}   {kc} (admin), {dir}/kubeconfig-<user>",
        management.server_url()
    );
    println!(
        "  workload {WORKLOAD_CLUSTER}   {}   {wk}: kube-controller-manager, kube-scheduler, KWOK ({} Nodes)",
        workload.server_url(),
        workload.node_names().len()
    );
    println!(
        "  {:<20} {}, namespace {} of the management cluster",
        args.delivery.name(),
        args.delivery.processes(),
        args.delivery.namespace()
    );
    println!("  Git                  {repository_url} ({dir}/{REPOSITORY})");
    println!("  GitOpsHQ             controllers, admission webhook, dashboard http://{dashboard}");
    println!();
    println!("Try:");
    println!("  kubectl get environments,clusters,projects");
    println!("  kubectl -n {namespace} get releases,tenants,workloads");
    println!("  gitopshq status {release} -n {namespace}");
    println!(
        "  kubectl -n {} get {}",
        args.delivery.namespace(),
        args.delivery.kubectl_kinds()
    );
    println!("  kubectl --kubeconfig {wk} -n payments-dev get deployments,pods -o wide");
    println!(
        "  git clone -q {repository_url} {dir}/checkout && git -C {dir}/checkout log --format='%h %s%n%b' -1"
    );
    println!(
        "  # ship a change as alice (backend-team, ReleaseManager in development) and watch it roll out:"
    );
    println!(
        "  gitopshq release create payment-api-v1-0-1-dev -n {namespace} --kubeconfig {dir}/kubeconfig-alice --env development --workload payment-api --set image.tag=v1.0.1 --submit"
    );
    println!(
        "  gitopshq wait payment-api-v1-0-1-dev -n {namespace} --kubeconfig {dir}/kubeconfig-alice --for Healthy"
    );
    println!(
        "  kubectl --kubeconfig {dir}/kubeconfig-alice auth can-i create workloads.gitopshq.io -n {namespace}   # yes: backend-team"
    );
    println!();
    println!(
        "Users: {dir}/kubeconfig-{{alice,erin}} (backend-team), -{{bob,frank}} (sre-team), -carol (platform-team), -dave (frontend-team)"
    );
    println!(
        "Dashboard: http://{dashboard} — sign in with a user's token, e.g. alice's: {}",
        management.token_for("alice")?
    );
    println!("  (every user's token is in {dir}/token-<user>)");
    std::io::stdout().flush()?;
    Ok(())
}

fn copy_file(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .with_context(|| format!("cannot write {}", to.display()))
        .map(drop)
}
