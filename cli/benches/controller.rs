//! The controllers on the local control plane (a real kube-apiserver + etcd):
//!
//! 1. Approved → commit pushed, for a single-workload release: the bench appends the approval
//!    that completes the quorum (the admission webhook stamps it) and measures until the
//!    GitOps repository's branch moves (its ref polled every millisecond), for N releases.
//!    Controllers and webhook run in this process.
//! 2. `--memory`: the `gitopshq controller` binary in its own process, with 1,000 releases and
//!    10,000 tenants (10 projects) in its caches; its resident memory (VmRSS) once every
//!    release has been reconciled, and its peak (VmHWM).
//!
//! `cargo bench -p gitopshq --bench controller` (latency, 30 releases)
//! `cargo bench -p gitopshq --bench controller -- --releases 50`
//! `cargo bench -p gitopshq --bench controller -- --memory`

// The allocator of the `gitopshq` binary, so that the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gitopshq_crds::release::Release;
use gitopshq_crds::tenant::Tenant;
use gitopshq_engine::admission::Settings;
use gitopshq_localplane::TestEnv;
use gitopshq_webhook::local::LocalWebhook;
use kube::api::{Api, PostParams};
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if args.iter().any(|a| a == "--memory") {
        runtime.block_on(memory(
            value("--releases").unwrap_or(1_000),
            value("--tenants").unwrap_or(10_000),
        ));
    } else {
        runtime.block_on(latency(value("--releases").unwrap_or(30)));
    }
}

fn kubectl_apply(env: &TestEnv, yaml: &str) {
    use std::io::Write;
    let mut child = env
        .kubectl("admin")
        .args(["apply", "--server-side", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn bootstrap_yaml(repository: &str) -> String {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/bootstrap");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n")
        .replace("file:///tmp/gitopshq-sandbox/gitops.git", repository)
}

fn bare_repository(dir: &Path) -> (std::path::PathBuf, String) {
    let path = dir.join("gitops.git");
    git2::Repository::init_opts(
        &path,
        git2::RepositoryInitOptions::new()
            .bare(true)
            .initial_head("main"),
    )
    .expect("bare repository");
    let url = format!("file://{}", path.display());
    (path, url)
}

fn head(repository: &Path) -> Option<String> {
    std::fs::read_to_string(repository.join("refs/heads/main"))
        .ok()
        .map(|s| s.trim().to_string())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn latency(releases: usize) {
    let env = TestEnv::start().await.expect("control plane");
    let dir = tempfile::tempdir().unwrap();
    let (repository, url) = bare_repository(dir.path());
    let client = env.client().await.unwrap();
    let webhook = LocalWebhook::start(
        client.clone(),
        Settings {
            controller_users: vec![gitopshq_localplane::CONTROLLER.to_string()],
            ..Settings::default()
        },
    )
    .await
    .expect("webhook");
    let controllers = gitopshq_controller::start(
        env.client_as(gitopshq_localplane::CONTROLLER)
            .await
            .expect("controller client"),
        gitopshq_controller::Settings::local(dir.path().join("cache")),
        gitopshq_controller::index::Scope::All,
    )
    .await;
    kubectl_apply(&env, &bootstrap_yaml(&url));
    kubectl_apply(
        &env,
        "apiVersion: gitopshq.io/v1alpha1\nkind: ApprovalPolicy\nmetadata: {name: development-one}\nspec: {environments: [development], minApprovals: 1}\n",
    );
    let api: Api<Release> = Api::namespaced(client.clone(), "payment-service");
    wait_phase(
        &api,
        "payment-api-v1-0-0-dev",
        &["Deployed", "PendingApproval"],
    )
    .await;

    let mut samples = Vec::with_capacity(releases);
    for i in 0..releases {
        let name = format!("bench-{i:03}");
        let release: Release = serde_json::from_value(json!({
            "apiVersion": "gitopshq.io/v1alpha1", "kind": "Release",
            "metadata": {"name": name, "namespace": "payment-service"},
            "spec": {
                "title": format!("bench {i}"), "environment": "development",
                "tenants": ["eu-development"],
                "changes": [{"workload": "payment-api", "values": {"replicaCount": 1 + (i % 5), "env": {"BENCH": i.to_string()}}}],
                "submitted": true,
            }
        }))
        .unwrap();
        api.create(&PostParams::default(), &release)
            .await
            .expect("release");
        wait_phase(&api, &name, &["PendingApproval"]).await;
        let before = head(&repository);
        // Bob approves (the webhook stamps him); the clock runs from his request to the
        // branch moving.
        let started = Instant::now();
        let out = env
            .kubectl("bob")
            .args([
                "-n",
                "payment-service",
                "patch",
                "approvalrequest",
                &name,
                "--type=json",
                "-p",
                r#"[{"op":"add","path":"/spec/decisions/-","value":{"decision":"Approve"}}]"#,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        loop {
            if head(&repository) != before {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                panic!("release {name} was not committed within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        samples.push(started.elapsed());
        wait_phase(
            &api,
            &name,
            &["Deployed", "Healthy", "Degraded", "Superseded"],
        )
        .await;
    }
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "approved → commit pushed, {} single-workload releases: median {:.1} ms, p90 {:.1} ms, max {:.1} ms, mean {:.1} ms (includes kubectl's approval request, ~the first 40–80 ms)",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.9).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
        mean.as_secs_f64() * 1e3,
    );
    controllers.stop().await;
    webhook.stop().await.ok();
}

async fn wait_phase(api: &Api<Release>, name: &str, phases: &[&str]) {
    let started = Instant::now();
    loop {
        if let Ok(release) = api.get(name).await {
            let phase = release
                .status
                .as_ref()
                .and_then(|s| s.phase)
                .map(|p| format!("{p:?}"));
            if phase.as_deref().is_some_and(|p| phases.contains(&p)) {
                return;
            }
            if started.elapsed() > Duration::from_secs(120) {
                panic!("release {name} is {phase:?}, waited for {phases:?}");
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The controller process, killed when dropped.
struct Controller(Child);

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn memory(releases: usize, tenants: usize) {
    const PROJECTS: usize = 10;
    let env = TestEnv::start().await.expect("control plane");
    let dir = tempfile::tempdir().unwrap();
    let (_repository, url) = bare_repository(dir.path());
    let client = env.client().await.unwrap();
    let started = Instant::now();
    // The catalog: environments, the chart, and 10 projects with a workload each.
    let bootstrap = bootstrap_yaml(&url);
    let catalog: String = bootstrap
        .split("\n---\n")
        .filter(|doc| {
            doc.contains("kind: Environment")
                || doc.contains("kind: Chart")
                || doc.contains("kind: ChartVersion")
                || doc.contains("kind: Cluster")
        })
        .collect::<Vec<_>>()
        .join("\n---\n");
    kubectl_apply(&env, &catalog);
    let mut projects = String::new();
    for p in 0..PROJECTS {
        projects.push_str(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: project-{p:02}}}\n---\napiVersion: gitopshq.io/v1alpha1\nkind: Project\nmetadata: {{name: project-{p:02}}}\nspec:\n  environments: [development, staging, production]\n  repository: {{url: \"{url}\"}}\n  teams: [{{group: team-{p:02}, role: Developer}}]\n---\napiVersion: gitopshq.io/v1alpha1\nkind: Workload\nmetadata: {{name: api, namespace: project-{p:02}}}\nspec: {{chart: microservice-base, version: 1.0.0, values: {{image: {{repository: registry.example.com/api, tag: v1.0.0}}}}}}\n---\n"
        ));
    }
    kubectl_apply(&env, &projects);
    // Tenants and releases through the API, a few requests at a time.
    let tenant_api =
        |p: usize| Api::<Tenant>::namespaced(client.clone(), &format!("project-{p:02}"));
    let release_api =
        |p: usize| Api::<Release>::namespaced(client.clone(), &format!("project-{p:02}"));
    let created = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for worker in 0..16usize {
        let tenant_apis: Vec<_> = (0..PROJECTS).map(tenant_api).collect();
        let release_apis: Vec<_> = (0..PROJECTS).map(release_api).collect();
        let created = Arc::clone(&created);
        tasks.push(tokio::spawn(async move {
            let mut t = worker;
            while t < tenants {
                let p = t % PROJECTS;
                let tenant: Tenant = serde_json::from_value(json!({
                    "apiVersion": "gitopshq.io/v1alpha1", "kind": "Tenant",
                    "metadata": {"name": format!("tenant-{t:05}"), "namespace": format!("project-{p:02}")},
                    "spec": {"environment": "production", "cluster": "eu-west-1", "namespace": format!("t-{t:05}"),
                        "labels": {"tier": if t % 10 == 0 { "canary" } else { "standard" }, "region": "eu"},
                        "values": {"replicaCount": 2, "env": {"TENANT_ID": t.to_string()}}}
                }))
                .unwrap();
                tenant_apis[p].create(&PostParams::default(), &tenant).await.expect("tenant");
                created.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                t += 16;
            }
            let mut r = worker;
            while r < releases {
                let p = r % PROJECTS;
                let release: Release = serde_json::from_value(json!({
                    "apiVersion": "gitopshq.io/v1alpha1", "kind": "Release",
                    "metadata": {"name": format!("release-{r:04}"), "namespace": format!("project-{p:02}")},
                    "spec": {"title": format!("api v1.{r}"), "notes": "Release notes of a typical size: what changed, why, and how to roll back.",
                        "environment": "production", "tenantSelector": {"matchLabels": {"tier": "canary"}},
                        "changes": [{"workload": "api", "values": {"image": {"tag": format!("v1.{r}.0")}}}]}
                }))
                .unwrap();
                release_apis[p].create(&PostParams::default(), &release).await.expect("release");
                r += 16;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    eprintln!(
        "created {releases} releases and {tenants} tenants in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let controller = Controller(
        Command::new(env!("CARGO_BIN_EXE_gitopshq"))
            .args([
                "controller",
                "--leader-election=false",
                "--metrics-address",
                &format!("127.0.0.1:{port}"),
                "--cache-dir",
                &dir.path().join("cache").display().to_string(),
            ])
            .env("KUBECONFIG", env.kubeconfig_path())
            .env("GITOPSHQ_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("gitopshq controller"),
    );
    let pid = controller.0.id();
    let loading = Instant::now();
    let api: Api<Release> = Api::all(client.clone());
    loop {
        let list = api.list(&Default::default()).await.unwrap();
        let reconciled = list
            .items
            .iter()
            .filter(|r| r.status.as_ref().and_then(|s| s.phase).is_some())
            .count();
        if reconciled == releases {
            break;
        }
        if loading.elapsed() > Duration::from_secs(600) {
            panic!("only {reconciled} of {releases} releases reconciled in 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let reconciled_in = loading.elapsed();
    // Settle, then sample.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut rss = Vec::new();
    for _ in 0..10 {
        rss.push(memory_kib(pid, "VmRSS:"));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let hwm = memory_kib(pid, "VmHWM:");
    let rss_max = *rss.iter().max().unwrap();
    let metrics = reqwest_metrics(port).await;
    println!(
        "controller with {releases} releases and {tenants} tenants ({PROJECTS} projects): every release reconciled {:.1} s after start; resident {:.1} MiB ({:.1} MB), peak {:.1} MiB ({:.1} MB); releases metric: {}",
        reconciled_in.as_secs_f64(),
        rss_max as f64 / 1024.0,
        rss_max as f64 * 1024.0 / 1e6,
        hwm as f64 / 1024.0,
        hwm as f64 * 1024.0 / 1e6,
        metrics
    );
    drop(controller);
}

/// The `gitopshq_controller_releases` lines of the controller's /metrics.
async fn reqwest_metrics(port: u16) -> String {
    use std::io::{Read, Write};
    let mut stream = match std::net::TcpStream::connect(("127.0.0.1", port)) {
        Ok(stream) => stream,
        Err(e) => return format!("metrics not reachable: {e}"),
    };
    let _ = stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body);
    body.lines()
        .filter(|l| l.starts_with("gitopshq_controller_releases{"))
        .collect::<Vec<_>>()
        .join(", ")
}
