//! A measurement for BENCHMARKS.md, not a check: GitOpsHQ at fleet size on the real loop.
//! One project with two workloads on `GITOPSHQ_FLEET_TENANTS` tenants (default 1000) spread
//! over `GITOPSHQ_FLEET_CLUSTERS` KWOK-backed workload clusters (default 4), real Flux applying
//! one Kustomization per tenant. It measures
//! - the first release of both workloads to every tenant, to the last tenant Healthy;
//! - a promotion of one workload across every tenant in 10 batches with no soak, to the last
//!   tenant Healthy (Flux's own benchmark: 4 min 16 s for 1,000 Kustomizations on 16 cores);
//! - requests per minute to each workload API server in steady state, with the controllers
//!   running and stopped (read from the API servers' `apiserver_request_total`);
//! - the test process's resident memory and CPU time (the controllers and the webhook run in
//!   it, with the harness), or with `GITOPSHQ_FLEET_CONTROLLER_BIN` (a release build of
//!   `gitopshq`) the controllers as `gitopshq controller` processes of their own, one per shard
//!   (`GITOPSHQ_FLEET_SHARDS`, default 1), each measured alone.
//!
//! `GITOPSHQ_FLEET_DELIVERY=Direct` has the controller apply each tenant itself instead of Flux,
//! so every tenant runs within minutes and the controller's memory is measured with every
//! tenant's objects and pods watched.
//!
//! `GITOPSHQ_FLEET_FLUX_ARTIFACTS=1` gives each tenant its own Flux artifact
//! (`--flux-artifacts-url`): a commit then reconciles the tenants it changed, not all of them.
//!
//! `GITOPSHQ_FLEET_TENANTS=1000 cargo test --release -p gitopshq-e2e --test fleet_scale -- --ignored --nocapture`

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gitopshq_e2e::{
    Platform, SIGNING_KEY_NAMESPACE, SIGNING_KEY_SECRET, apiserver_requests, flux_artifacts,
    with_stdin,
};
use gitopshq_localplane::{CONTROLLER, WorkloadCluster};

const NS: &str = "payment-service";
/// The projects the tenants are spread over (`GITOPSHQ_FLEET_PROJECTS`, 1 or 2): the bootstrap
/// project and a copy of it with its own repository, whose name hashes to the other of two
/// shards (`--shard-count 2`), so two shards split the fleet.
const PROJECTS: [&str; 2] = [NS, "payroll-service"];
const ENVIRONMENT: &str = "development";
const BATCHES: usize = 10;
/// How long any one phase may take before the measurement gives up.
const PHASE_LIMIT: Duration = Duration::from_secs(60 * 60);

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn tenant_name(i: usize) -> String {
    format!("t-{i:04}")
}

/// The workload clusters beside the platform's own (`eu-west-1`).
struct Fleet {
    extra: Vec<(String, WorkloadCluster)>,
}

impl Fleet {
    fn names(&self) -> Vec<String> {
        std::iter::once("eu-west-1".to_string())
            .chain(self.extra.iter().map(|(name, _)| name.clone()))
            .collect()
    }

    fn kubectl(&self, platform: &Platform, cluster: &str) -> Command {
        match self.extra.iter().find(|(name, _)| name == cluster) {
            Some((_, workload)) => workload.env().kubectl("admin"),
            None => platform.workload_admin(),
        }
    }

    fn requests(&self, platform: &Platform, cluster: &str) -> BTreeMap<String, f64> {
        apiserver_requests(self.kubectl(platform, cluster))
    }

    /// Requests per minute to each cluster over `window`.
    fn requests_per_minute(
        &self,
        platform: &Platform,
        window: Duration,
    ) -> BTreeMap<String, BTreeMap<String, f64>> {
        let before: Vec<_> = self
            .names()
            .iter()
            .map(|c| self.requests(platform, c))
            .collect();
        std::thread::sleep(window);
        let scale = 60.0 / window.as_secs_f64();
        self.names()
            .iter()
            .zip(before)
            .map(|(cluster, before)| {
                let delta = self
                    .requests(platform, cluster)
                    .into_iter()
                    .map(|(verb, n)| {
                        let d = (n - before.get(&verb).copied().unwrap_or(0.0)) * scale;
                        (verb, d.round())
                    })
                    .filter(|(_, n)| *n > 0.0)
                    .collect();
                (cluster.clone(), delta)
            })
            .collect()
    }
}

/// Resident memory now and at its peak (MiB), and CPU seconds used, of the process `pid` (a
/// number, or `self`).
fn usage_of(pid: &str) -> (f64, f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    (kib("VmRSS:"), kib("VmHWM:"), cpu)
}

/// The controllers as `gitopshq controller` processes, one per shard, killed when dropped.
struct ControllerProcesses {
    children: Vec<Child>,
}

impl ControllerProcesses {
    /// Runs `shards` controllers of `binary` against the platform's management cluster as the
    /// controller user, with the platform's in-process settings (checks every second, Flux
    /// interval 10 m, commits signed).
    fn start(platform: &Platform, binary: &Path, shards: usize) -> Self {
        let kubeconfig = platform
            .management
            .kubeconfig_for(CONTROLLER)
            .expect("the controller's kubeconfig");
        let children = (0..shards)
            .map(|shard| {
                let log =
                    std::fs::File::create(platform.dir().join(format!("controller-{shard}.log")))
                        .expect("log file");
                let mut command = Command::new(binary);
                command.args(["controller", "--metrics-address", "127.0.0.1:0"]);
                if per_tenant_artifacts() {
                    let artifacts = flux_artifacts();
                    command
                        .args(["--flux-artifacts-url", &artifacts.url])
                        .args(["--flux-artifacts-address", &artifacts.address.to_string()]);
                }
                command
                    .args(["--identity", &format!("fleet-controller-{shard}")])
                    .args(["--shard-index", &shard.to_string()])
                    .args(["--shard-count", &shards.to_string()])
                    .args(["--health-interval", "1", "--cluster-heartbeat", "2"])
                    .args(["--flux-interval", "10m"])
                    .arg("--cache-dir")
                    .arg(platform.dir().join(format!("git-cache-{shard}")))
                    .args([
                        "--signing-key-secret",
                        &format!("{SIGNING_KEY_NAMESPACE}/{SIGNING_KEY_SECRET}"),
                    ])
                    .env("KUBECONFIG", kubeconfig)
                    .env("GITOPSHQ_LOG", "warn")
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .expect("gitopshq controller starts")
            })
            .collect();
        Self { children }
    }

    /// Each shard's [`usage_of`].
    fn usage(&self) -> Vec<(f64, f64, f64)> {
        self.children
            .iter()
            .map(|child| usage_of(&child.id().to_string()))
            .collect()
    }
}

impl Drop for ControllerProcesses {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Where the controllers run, and the figures of whatever runs them.
enum Controllers {
    InProcess,
    Processes(ControllerProcesses),
}

impl Controllers {
    /// Resident MiB, peak MiB and CPU seconds: of the test process, then of each controller
    /// process.
    fn usage(&self) -> Vec<(String, (f64, f64, f64))> {
        let mut out = vec![("test process".to_string(), usage_of("self"))];
        if let Controllers::Processes(processes) = self {
            for (shard, usage) in processes.usage().into_iter().enumerate() {
                out.push((format!("controller shard {shard}"), usage));
            }
        }
        out
    }

    /// "test process RSS 120 MiB (peak 130), CPU 12.0 s (+3.0 s); controller shard 0 …", the
    /// CPU beside what `since` had.
    fn describe(&self, since: &[(String, (f64, f64, f64))]) -> String {
        self.usage()
            .iter()
            .map(|(what, (rss, peak, cpu))| {
                let before = since
                    .iter()
                    .find(|(w, _)| w == what)
                    .map(|(_, (_, _, cpu))| *cpu)
                    .unwrap_or(0.0);
                format!(
                    "{what} RSS {rss:.0} MiB (peak {peak:.0}), CPU {cpu:.1} s (+{:.1} s)",
                    cpu - before
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn apply(platform: &Platform, yaml: &str) {
    let out = with_stdin(
        platform
            .admin()
            .args(["apply", "--server-side", "--force-conflicts", "-f", "-"]),
        yaml,
    );
    assert!(
        out.status.success(),
        "apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wait(
    platform: &Platform,
    ns: &str,
    kind: &str,
    name: &str,
    path: &str,
    want: &[&str],
) -> Duration {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < PHASE_LIMIT {
        let value = platform.get(Some(ns), kind, name, path);
        if want.contains(&value.as_str()) {
            return start.elapsed();
        }
        if value != last {
            println!(
                "  {:>6.1}s {kind} {name}: {value}",
                start.elapsed().as_secs_f64()
            );
            last = value;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!(
        "{kind} {name} is {last} after {PHASE_LIMIT:?}; status: {}",
        platform.get(Some(ns), kind, name, "{.status}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement for BENCHMARKS.md"]
async fn a_thousand_tenants_on_the_real_loop() {
    let tenants = setting("GITOPSHQ_FLEET_TENANTS", 1000);
    let clusters = setting("GITOPSHQ_FLEET_CLUSTERS", 4).max(1);
    let mut platform = Platform::start().await;
    // Flux reconciles each Kustomization on its interval whether or not anything changed; at
    // fleet size the tests' 15 s would be Flux's own load, not GitOpsHQ's.
    platform.stop_controllers().await;
    let controllers = match std::env::var_os("GITOPSHQ_FLEET_CONTROLLER_BIN") {
        Some(binary) => {
            let shards = setting("GITOPSHQ_FLEET_SHARDS", 1).max(1);
            Controllers::Processes(ControllerProcesses::start(
                &platform,
                Path::new(&binary),
                shards,
            ))
        }
        None => {
            platform
                .start_controllers_with(|settings| {
                    settings.flux_interval = "10m".into();
                    settings.flux_artifacts = per_tenant_artifacts().then(flux_artifacts);
                })
                .await;
            Controllers::InProcess
        }
    };
    let direct = std::env::var("GITOPSHQ_FLEET_DELIVERY").as_deref() == Ok("Direct");

    let started = Instant::now();
    let mut extra = Vec::new();
    for i in 1..clusters {
        let name = format!("fleet-{i}");
        let workload = WorkloadCluster::builder()
            .cluster_name(name.clone())
            .start()
            .await
            .expect("workload cluster starts");
        extra.push((name, workload));
    }
    let fleet = Fleet { extra };
    for (name, workload) in &fleet.extra {
        platform.store_cluster_kubeconfig(name, &workload.env().admin_kubeconfig_yaml().unwrap());
    }
    println!(
        "{} workload clusters started in {:.0}s",
        clusters,
        started.elapsed().as_secs_f64()
    );

    // The bootstrap project, a second workload, the clusters and the tenants.
    let mut objects = platform.bootstrap_without_tenants_or_release();
    objects.push_str(
        &platform
            .example(&["bootstrap/50-workload.yaml"])
            .replace("payment-api", "ledger-api"),
    );
    for (name, _) in &fleet.extra {
        objects.push_str(&format!(
            "apiVersion: gitopshq.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: {name}\nspec:\n  kubeconfigSecretRef: {{namespace: gitopshq-system, name: cluster-{name}, key: kubeconfig}}\n  environments: [{ENVIRONMENT}]\n---\n"
        ));
    }
    let projects = &PROJECTS[..setting("GITOPSHQ_FLEET_PROJECTS", 1).clamp(1, PROJECTS.len())];
    for project in &projects[1..] {
        objects.push_str(&copy_of_the_project(&platform, project));
    }
    if direct {
        objects = objects.replace("delivery: Flux", "delivery: Direct");
    }
    apply(&platform, &objects);
    for project in projects {
        platform.wait_for(None, "project", project, "{.status.phase}", "Ready");
    }
    let names = fleet.names();
    let per_project = tenants.div_ceil(projects.len());
    let started = Instant::now();
    for chunk in (0..tenants).collect::<Vec<_>>().chunks(200) {
        let yaml: String = chunk
            .iter()
            .map(|&i| {
                format!(
                    "apiVersion: gitopshq.io/v1alpha1\nkind: Tenant\nmetadata:\n  name: {t}\n  namespace: {ns}\nspec:\n  environment: {ENVIRONMENT}\n  cluster: {cluster}\n  namespace: {t}\n  labels:\n    wave: \"{wave}\"\n---\n",
                    t = tenant_name(i),
                    ns = projects[i % projects.len()],
                    cluster = names[i % names.len()],
                    wave = (i / projects.len()) * BATCHES / per_project,
                )
            })
            .collect();
        apply(&platform, &yaml);
    }
    println!(
        "{tenants} tenants applied in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // Both workloads to every tenant: one release, 2 × tenants object sets, one commit.
    let before = controllers.usage();
    let started = Instant::now();
    for project in projects {
        apply(
            &platform,
            &format!(
                "apiVersion: gitopshq.io/v1alpha1\nkind: Release\nmetadata:\n  name: fleet-initial\n  namespace: {project}\nspec:\n  title: Both workloads everywhere\n  environment: {ENVIRONMENT}\n  type: Deploy\n  changes:\n    - workload: payment-api\n      version: 1.0.0\n    - workload: ledger-api\n      version: 1.0.0\n  submitted: true\n"
            ),
        );
    }
    let in_every = |want: &[&str]| {
        for project in projects {
            let phase = "{.status.phase}";
            wait(&platform, project, "release", "fleet-initial", phase, want);
        }
        started.elapsed()
    };
    let delivered = in_every(&["Deployed", "Healthy"]);
    let healthy = in_every(&["Healthy"]) - delivered;
    println!(
        "first release: {} object sets committed {:.1}s after apply, last tenant Healthy after {:.1}s more; {}",
        2 * tenants,
        delivered.as_secs_f64(),
        healthy.as_secs_f64(),
        controllers.describe(&before),
    );

    // Steady state: nothing changes; the controllers check every release each second.
    std::thread::sleep(Duration::from_secs(10));
    let window = Duration::from_secs(60);
    let before = controllers.usage();
    let running = fleet.requests_per_minute(&platform, window);
    println!("steady state, a minute: {}", controllers.describe(&before));
    for (cluster, verbs) in &running {
        println!("  requests/min to {cluster} with the controllers running: {verbs:?}");
    }

    if setting("GITOPSHQ_FLEET_PROMOTE", 1) == 1 {
        promote(&platform, &controllers, per_project);
    }

    platform.stop_controllers().await;
    drop(controllers);
    let stopped = fleet.requests_per_minute(&platform, window);
    for (cluster, verbs) in &stopped {
        println!("  requests/min to {cluster} with the controllers stopped: {verbs:?}");
    }
    drop(fleet);
    platform.stop().await;
}

/// The bootstrap project's namespace, Project, workloads and variables under the name
/// `project`, delivering to a repository of its own on the platform's Git server.
fn copy_of_the_project(platform: &Platform, project: &str) -> String {
    let repository = format!("{project}.git");
    platform
        .git
        .create_bare_repository(&repository)
        .expect("a bare repository");
    let mut objects = platform.example(&[
        "bootstrap/00-namespaces.yaml",
        "bootstrap/30-project.yaml",
        "bootstrap/50-workload.yaml",
        "bootstrap/70-variables.yaml",
    ]);
    objects.push_str(
        &platform
            .example(&["bootstrap/50-workload.yaml"])
            .replace("payment-api", "ledger-api"),
    );
    objects
        .replace(NS, project)
        .replace(&platform.repository_url(), &platform.git.url(&repository))
}

/// A new image tag on one tenant, then promoted to every tenant in 10 batches, no soak.
fn promote(platform: &Platform, controllers: &Controllers, tenants: usize) {
    apply(
        platform,
        &format!(
            "apiVersion: gitopshq.io/v1alpha1\nkind: Release\nmetadata:\n  name: fleet-canary\n  namespace: {NS}\nspec:\n  title: payment-api v1.1.0 on the canary\n  environment: {ENVIRONMENT}\n  tenants: [{}]\n  type: Deploy\n  changes:\n    - workload: payment-api\n      values:\n        image:\n          tag: v1.1.0\n  submitted: true\n",
            tenant_name(0)
        ),
    );
    wait(
        platform,
        NS,
        "release",
        "fleet-canary",
        "{.status.phase}",
        &["Healthy"],
    );
    let batches: String = (0..BATCHES)
        .map(|wave| {
            format!("    - name: wave-{wave}\n      tenantSelector:\n        matchLabels:\n          wave: \"{wave}\"\n")
        })
        .collect();
    let before = controllers.usage();
    let started = Instant::now();
    apply(
        platform,
        &format!(
            "apiVersion: gitopshq.io/v1alpha1\nkind: Promotion\nmetadata:\n  name: fleet-v1-1-0\n  namespace: {NS}\nspec:\n  release: fleet-canary\n  batches:\n{batches}"
        ),
    );
    wait(
        platform,
        NS,
        "promotion",
        "fleet-v1-1-0",
        "{.status.phase}",
        &["Succeeded", "Failed"],
    );
    let promoted = started.elapsed();
    let phase = platform.get(Some(NS), "promotion", "fleet-v1-1-0", "{.status.phase}");
    println!(
        "promotion of payment-api to {tenants} tenants in {BATCHES} batches: {phase} after {:.1}s; {}",
        promoted.as_secs_f64(),
        controllers.describe(&before),
    );
    println!(
        "batches: {}",
        platform.get(
            Some(NS),
            "promotion",
            "fleet-v1-1-0",
            "{range .status.batches[*]}{.name} {.phase} {.startedAt} {.healthyAt}; {end}"
        )
    );

    // Per batch: created, committed (GitOpsHQ) and Healthy (Flux applied, pods ready).
    for wave in 0..BATCHES {
        let release = format!("fleet-v1-1-0-b{}-wave-{wave}", wave + 1);
        println!(
            "  {release}: created {} {}",
            platform.get(
                Some(NS),
                "release",
                &release,
                "{.metadata.creationTimestamp}"
            ),
            platform.get(
                Some(NS),
                "release",
                &release,
                "{range .status.timeline[*]}{.phase} {.time}; {end}"
            )
        );
    }
}

/// Whether each tenant follows its own Flux artifact (`GITOPSHQ_FLEET_FLUX_ARTIFACTS=1`).
fn per_tenant_artifacts() -> bool {
    std::env::var("GITOPSHQ_FLEET_FLUX_ARTIFACTS").as_deref() == Ok("1")
}
