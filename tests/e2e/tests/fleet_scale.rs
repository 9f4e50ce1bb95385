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
//!   it, with the harness).
//!
//! `GITOPSHQ_FLEET_TENANTS=1000 cargo test --release -p gitopshq-e2e --test fleet_scale -- --ignored --nocapture`

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use gitopshq_e2e::{Platform, apiserver_requests, with_stdin};
use gitopshq_localplane::WorkloadCluster;

const NS: &str = "payment-service";
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

/// Resident memory now and at its peak (MiB), and CPU seconds used, of this process.
fn process_usage() -> (f64, f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
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

fn wait(platform: &Platform, kind: &str, name: &str, path: &str, want: &[&str]) -> Duration {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < PHASE_LIMIT {
        let value = platform.get(Some(NS), kind, name, path);
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
        platform.get(Some(NS), kind, name, "{.status}")
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
    platform
        .start_controllers_with(|settings| settings.flux_interval = "10m".into())
        .await;

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
    let mut objects = platform.example(&[
        "bootstrap/00-namespaces.yaml",
        "bootstrap/10-environments.yaml",
        "bootstrap/20-cluster.yaml",
        "bootstrap/30-project.yaml",
        "bootstrap/40-chart.yaml",
        "bootstrap/50-workload.yaml",
        "bootstrap/70-variables.yaml",
    ]);
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
    apply(&platform, &objects);
    platform.wait_for(None, "project", NS, "{.status.phase}", "Ready");
    let names = fleet.names();
    let started = Instant::now();
    for chunk in (0..tenants).collect::<Vec<_>>().chunks(200) {
        let yaml: String = chunk
            .iter()
            .map(|&i| {
                format!(
                    "apiVersion: gitopshq.io/v1alpha1\nkind: Tenant\nmetadata:\n  name: {t}\n  namespace: {NS}\nspec:\n  environment: {ENVIRONMENT}\n  cluster: {cluster}\n  namespace: {t}\n  labels:\n    wave: \"{wave}\"\n---\n",
                    t = tenant_name(i),
                    cluster = names[i % names.len()],
                    wave = i * BATCHES / tenants,
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
    let (_, _, cpu_before) = process_usage();
    apply(
        &platform,
        &format!(
            "apiVersion: gitopshq.io/v1alpha1\nkind: Release\nmetadata:\n  name: fleet-initial\n  namespace: {NS}\nspec:\n  title: Both workloads everywhere\n  environment: {ENVIRONMENT}\n  type: Deploy\n  changes:\n    - workload: payment-api\n      version: 1.0.0\n    - workload: ledger-api\n      version: 1.0.0\n  submitted: true\n"
        ),
    );
    let delivered = wait(
        &platform,
        "release",
        "fleet-initial",
        "{.status.phase}",
        &["Deployed", "Healthy"],
    );
    let healthy = wait(
        &platform,
        "release",
        "fleet-initial",
        "{.status.phase}",
        &["Healthy"],
    );
    let (rss, peak, cpu_after) = process_usage();
    println!(
        "first release: {} object sets committed {:.1}s after apply, last tenant Healthy after {:.1}s more; process RSS {rss:.0} MiB (peak {peak:.0} MiB), CPU {:.1}s",
        2 * tenants,
        delivered.as_secs_f64(),
        healthy.as_secs_f64(),
        cpu_after - cpu_before,
    );

    // Steady state: nothing changes; the controllers check every release each second.
    std::thread::sleep(Duration::from_secs(10));
    let window = Duration::from_secs(60);
    let running = fleet.requests_per_minute(&platform, window);
    let (rss, peak, cpu) = process_usage();
    println!("steady state, process RSS {rss:.0} MiB (peak {peak:.0} MiB), CPU so far {cpu:.1}s");
    for (cluster, verbs) in &running {
        println!("  requests/min to {cluster} with the controllers running: {verbs:?}");
    }

    if setting("GITOPSHQ_FLEET_PROMOTE", 1) == 1 {
        promote(&platform, tenants);
    }

    platform.stop_controllers().await;
    let stopped = fleet.requests_per_minute(&platform, window);
    for (cluster, verbs) in &stopped {
        println!("  requests/min to {cluster} with the controllers stopped: {verbs:?}");
    }
    drop(fleet);
    platform.stop().await;
}

/// A new image tag on one tenant, then promoted to every tenant in 10 batches, no soak.
fn promote(platform: &Platform, tenants: usize) {
    apply(
        platform,
        &format!(
            "apiVersion: gitopshq.io/v1alpha1\nkind: Release\nmetadata:\n  name: fleet-canary\n  namespace: {NS}\nspec:\n  title: payment-api v1.1.0 on the canary\n  environment: {ENVIRONMENT}\n  tenants: [{}]\n  type: Deploy\n  changes:\n    - workload: payment-api\n      values:\n        image:\n          tag: v1.1.0\n  submitted: true\n",
            tenant_name(0)
        ),
    );
    wait(
        platform,
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
    let (_, _, cpu_before) = process_usage();
    let started = Instant::now();
    apply(
        platform,
        &format!(
            "apiVersion: gitopshq.io/v1alpha1\nkind: Promotion\nmetadata:\n  name: fleet-v1-1-0\n  namespace: {NS}\nspec:\n  release: fleet-canary\n  batches:\n{batches}"
        ),
    );
    wait(
        platform,
        "promotion",
        "fleet-v1-1-0",
        "{.status.phase}",
        &["Succeeded", "Failed"],
    );
    let promoted = started.elapsed();
    let phase = platform.get(Some(NS), "promotion", "fleet-v1-1-0", "{.status.phase}");
    let (rss, peak, cpu_after) = process_usage();
    println!(
        "promotion of payment-api to {tenants} tenants in {BATCHES} batches: {phase} after {:.1}s; process RSS {rss:.0} MiB (peak {peak:.0} MiB), CPU {:.1}s",
        promoted.as_secs_f64(),
        cpu_after - cpu_before,
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
