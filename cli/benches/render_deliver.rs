//! Render and delivery end to end, through the same calls as `gitopshq deliver`: 1 project,
//! 1 environment, 100 tenants × 100 workloads on the `microservice-base` chart of
//! `examples/bootstrap/40-chart.yaml` (10,000 object sets), with a `Variables` object per
//! tenant as large platforms keep, committed into a fresh local bare repository.
//!
//! `cargo bench -p gitopshq --bench render_deliver` (timings)
//! `cargo bench -p gitopshq --bench render_deliver -- --memory` (one full run in its own
//! process: phase times and peak RSS; `GITOPSHQ_BENCH_TENANTS` and `GITOPSHQ_BENCH_WORKLOADS`
//! change the size, e.g. 1000 × 100 for 100,000 object sets)
//! `cargo bench -p gitopshq --bench render_deliver -- --incremental` (one workload changed
//! across every tenant of a repository that already holds them all: the daily case)

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion};
use gitopshq_crds::chart_version::ChartVersion;
use gitopshq_crds::cluster::Cluster;
use gitopshq_crds::environment::Environment;
use gitopshq_crds::project::Project;
use gitopshq_crds::release::Release;
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::testing::from_json as object;
use gitopshq_crds::variables::Variables;
use gitopshq_crds::workload::Workload;
use gitopshq_delivery::git::{self, Change, CommitMeta, DeliveryOutcome, GitRemote, Identity};
use gitopshq_engine::catalog::Catalog;
use gitopshq_engine::layout::{self, GitOpsSettings};
use gitopshq_engine::plan;
use serde_json::json;

/// mimalloc, the allocator of the `gitopshq` binary: with rendering on every core, glibc's
/// malloc took about a quarter of the run's CPU time (YAML parsing and serialisation allocate
/// heavily).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PROJECT: &str = "bench";
const ENVIRONMENT: &str = "production";
const TENANTS: usize = 100;
const WORKLOADS: usize = 100;
const REPOSITORY_URL: &str = "https://git.example.com/gitops.git";

/// The `microservice-base` ChartVersion of the bootstrap example.
fn chart_version() -> ChartVersion {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/bootstrap/40-chart.yaml");
    let text = std::fs::read_to_string(&path).expect("examples/bootstrap/40-chart.yaml");
    text.split("\n---")
        .filter_map(|doc| {
            let value: serde_json::Value = yaml_serde::from_str(doc).ok()?;
            (value["kind"] == "ChartVersion").then(|| object::<ChartVersion>(value))
        })
        .find(|cv| cv.spec.chart == "microservice-base")
        .expect("a microservice-base ChartVersion")
}

fn workload_name(w: usize) -> String {
    format!("svc-{w:03}")
}

fn tenant_name(t: usize) -> String {
    format!("tenant-{t:03}")
}

fn catalog(tenants: usize, workloads: usize) -> Catalog {
    let tenant_count = tenants;
    let project = object::<Project>(json!({
        "apiVersion": "gitopshq.io/v1alpha1", "kind": "Project",
        "metadata": {"name": PROJECT},
        "spec": {
            "displayName": "Bench",
            "environments": [ENVIRONMENT],
            "repository": {"url": REPOSITORY_URL, "branch": "main"},
            "delivery": "ArgoCD",
        },
    }));
    let environment = object::<Environment>(json!({
        "apiVersion": "gitopshq.io/v1alpha1", "kind": "Environment",
        "metadata": {"name": ENVIRONMENT},
        "spec": {"displayName": "Production", "rank": 30},
    }));
    let clusters = (0..4)
        .map(|c| {
            object::<Cluster>(json!({
                "apiVersion": "gitopshq.io/v1alpha1", "kind": "Cluster",
                "metadata": {"name": format!("cluster-{c}")},
                "spec": {
                    "kubeconfigSecretRef": {"namespace": "gitopshq-system", "name": format!("cluster-{c}"), "key": "kubeconfig"},
                    "environments": [ENVIRONMENT],
                },
            }))
        })
        .collect();
    let workloads = (0..workloads)
        .map(|w| {
            let name = workload_name(w);
            object::<Workload>(json!({
                "apiVersion": "gitopshq.io/v1alpha1", "kind": "Workload",
                "metadata": {"name": name, "namespace": PROJECT},
                "spec": {
                    "chart": "microservice-base",
                    "version": "1.0.0",
                    "values": {
                        "image": {"repository": format!("registry.example.com/{name}"), "tag": format!("v1.{w}.0")},
                        "containerPort": 8000 + w,
                        "env": {
                            "DATABASE_HOST": "{{hq.var.DATABASE_HOST}}",
                            "DATABASE_URL": format!("postgres://{{{{hq.var.DATABASE_HOST}}}}:5432/{name}"),
                            "LOG_LEVEL": "{{hq.var.LOG_LEVEL}}",
                            "BUCKET": "{{hq.var.TENANT_BUCKET}}",
                        },
                        "ingress": {"enabled": w % 2 == 0, "host": format!("{name}.example.com")},
                    },
                    "environments": {
                        ENVIRONMENT: {"values": {"resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}}},
                    },
                },
            }))
        })
        .collect();
    let tenants = (0..tenants)
        .map(|t| {
            object::<Tenant>(json!({
                "apiVersion": "gitopshq.io/v1alpha1", "kind": "Tenant",
                "metadata": {"name": tenant_name(t), "namespace": PROJECT},
                "spec": {
                    "environment": ENVIRONMENT,
                    "cluster": format!("cluster-{}", t % 4),
                    "namespace": tenant_name(t),
                    "labels": {"region": if t % 2 == 0 { "eu" } else { "us" }},
                    "values": {"env": {"TENANT": tenant_name(t)}},
                },
            }))
        })
        .collect();
    // One Variables object per tenant, as platforms keep a tenant's own endpoints.
    let per_tenant = (0..tenant_count).map(|t| {
        object::<Variables>(json!({
            "apiVersion": "gitopshq.io/v1alpha1", "kind": "Variables",
            "metadata": {"name": format!("vars-{}", tenant_name(t)), "namespace": PROJECT},
            "spec": {"tenant": tenant_name(t), "values": {"TENANT_BUCKET": format!("s3://{}", tenant_name(t))}},
        }))
    });
    let variables = vec![
        object::<Variables>(json!({
            "apiVersion": "gitopshq.io/v1alpha1", "kind": "Variables",
            "metadata": {"name": "project", "namespace": PROJECT},
            "spec": {"values": {"LOG_LEVEL": "info"}},
        })),
        object::<Variables>(json!({
            "apiVersion": "gitopshq.io/v1alpha1", "kind": "Variables",
            "metadata": {"name": ENVIRONMENT, "namespace": PROJECT},
            "spec": {"environment": ENVIRONMENT, "values": {"DATABASE_HOST": "db.prod.internal"}},
        })),
    ]
    .into_iter()
    .chain(per_tenant)
    .collect();
    Catalog {
        projects: vec![project],
        environments: vec![environment],
        clusters,
        chart_versions: vec![chart_version()],
        workloads,
        tenants,
        variables,
        ..Catalog::default()
    }
}

fn release(tenants: usize, workloads: usize) -> Release {
    release_of(
        tenants,
        &(0..workloads).map(workload_name).collect::<Vec<_>>(),
    )
}

fn release_of(tenants: usize, workloads: &[String]) -> Release {
    object::<Release>(json!({
        "apiVersion": "gitopshq.io/v1alpha1", "kind": "Release",
        "metadata": {"name": "everything", "namespace": PROJECT},
        "spec": {
            "title": "Deploy everything",
            "environment": ENVIRONMENT,
            "tenants": (0..tenants).map(tenant_name).collect::<Vec<_>>(),
            "type": "Deploy",
            "changes": workloads.iter().map(|w| json!({"workload": w, "version": "1.0.0"})).collect::<Vec<_>>(),
            "submitted": true,
        },
    }))
}

/// What `gitopshq deliver` computes before it commits (cli/src/release_delivery.rs).
fn plan_change(catalog: &Catalog, release: &Release, url: &str) -> Change {
    let t = Instant::now();
    let targets = plan::release_targets(catalog, release).expect("targets");
    let t_targets = t.elapsed();
    let rss_targets = vm_rss_kib().unwrap_or(0) / 1024;
    let rendered = plan::render_target_files(catalog, targets).expect("renders");
    let t_render = t.elapsed();
    let rss_render = vm_rss_kib().unwrap_or(0) / 1024;
    let repository = plan::repository_ref(catalog, PROJECT, Some(url)).expect("repository");
    let request = plan::layout_request(
        catalog,
        PROJECT,
        ENVIRONMENT,
        rendered,
        repository,
        GitOpsSettings::default(),
    )
    .expect("layout request");
    let t_request = t.elapsed();
    let layout = layout::release_layout_owned(request).expect("layout");
    let t_layout = t.elapsed();
    if std::env::var_os("GITOPSHQ_BENCH_PHASES").is_some() {
        eprintln!(
            "phases: targets {t_targets:.2?} render {t_render:.2?} request {t_request:.2?} layout {t_layout:.2?}"
        );
        eprintln!(
            "resident: after targets {rss_targets} MiB, after render {rss_render} MiB, after layout {} MiB",
            vm_rss_kib().unwrap_or(0) / 1024
        );
    }
    let environments = vec![ENVIRONMENT.to_string()];
    let mut change = Change::from(layout);
    change.seeds = layout::project_skeleton(PROJECT, None, &environments).expect("skeleton");
    change
}

fn meta() -> CommitMeta {
    CommitMeta {
        message: "Deploy everything\n\nGitOpsHQ-Release: bench/everything\n".into(),
        author: Identity {
            name: "GitOpsHQ".into(),
            email: "gitopshq@example.com".into(),
        },
        committer: None,
        time: Some(1_767_225_600),
        signing_key: None,
    }
}

struct Repo {
    dir: tempfile::TempDir,
    remote: GitRemote,
    cache: PathBuf,
}

fn fresh_repo() -> Repo {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("gitops.git");
    git2::Repository::init_bare(&path).expect("bare repository");
    Repo {
        remote: GitRemote::new(format!("file://{}", path.display()), "main"),
        cache: dir.path().join("cache"),
        dir,
    }
}

/// Render and commit `release` into `repo`.
fn run(catalog: &Catalog, release: &Release, repo: &Repo) -> DeliveryOutcome {
    let change = plan_change(catalog, release, &repo.remote.url);
    git::deliver(&repo.remote, &repo.cache, &change, &meta()).expect("delivers")
}

fn vm_hwm_kib() -> Option<u64> {
    status_kib("VmHWM:")
}

fn vm_rss_kib() -> Option<u64> {
    status_kib("VmRSS:")
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The size of a one-off run: `GITOPSHQ_BENCH_<NAME>`, or `default`.
fn size_from_env(name: &str, default: usize) -> usize {
    std::env::var(format!("GITOPSHQ_BENCH_{name}"))
        .ok()
        .map(|v| v.parse().expect("a count"))
        .unwrap_or(default)
}

fn print_peak_rss() {
    match vm_hwm_kib() {
        Some(kib) => println!("peak RSS (VmHWM): {:.1} MiB", kib as f64 / 1024.0),
        None => println!("peak RSS (VmHWM): unavailable"),
    }
}

/// One full run, nothing else in the process: phase times and peak resident memory.
fn memory_run() {
    let (tenants, workloads) = (
        size_from_env("TENANTS", TENANTS),
        size_from_env("WORKLOADS", WORKLOADS),
    );
    let start = Instant::now();
    let catalog = catalog(tenants, workloads);
    let release = release(tenants, workloads);
    let repo = fresh_repo();
    let built = start.elapsed();

    // The Applications name the Project's URL (not the temporary directory), so the commit id
    // is the same on every run and every revision that writes the same bytes.
    let t = Instant::now();
    let change = plan_change(&catalog, &release, REPOSITORY_URL);
    let planned = t.elapsed();
    let files = change.files.len();
    let bytes: usize = change.files.values().map(Vec::len).sum();
    if let Some(kib) = vm_hwm_kib() {
        println!(
            "peak RSS after render + layout: {:.1} MiB ({:.1} MiB of file contents)",
            kib as f64 / 1024.0,
            bytes as f64 / (1024.0 * 1024.0)
        );
    }

    let t = Instant::now();
    let out = git::deliver(&repo.remote, &repo.cache, &change, &meta()).expect("delivers");
    let delivered = t.elapsed();
    assert!(out.created);

    println!("catalog: {tenants} tenants × {workloads} workloads, built in {built:.2?}");
    println!("render + layout: {planned:.2?} ({files} files)");
    println!("deliver: {delivered:.2?} (commit {})", out.commit);
    println!("render + deliver: {:.2?}", planned + delivered);
    print_peak_rss();
    let packs = repo.dir.path().join("gitops.git/objects/pack");
    let bytes: u64 = std::fs::read_dir(&packs)
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    println!(
        "objects on disk: {:.1} MiB",
        bytes as f64 / (1024.0 * 1024.0)
    );
    if let Some(keep) = std::env::var_os("GITOPSHQ_BENCH_KEEP") {
        // Left for inspection (`git -C <dir> fsck`).
        let _ = std::fs::rename(repo.dir.path().join("gitops.git"), keep);
    }
}

/// The daily case: a repository already holds every tenant's workloads, and one release
/// changes one workload across all the tenants.
fn incremental_run() {
    let (tenants, workloads) = (
        size_from_env("TENANTS", 10_000),
        size_from_env("WORKLOADS", 10),
    );
    let catalog = catalog(tenants, workloads);
    let repo = fresh_repo();
    let t = Instant::now();
    let everything = plan_change(&catalog, &release(tenants, workloads), REPOSITORY_URL);
    let seeded = git::deliver(&repo.remote, &repo.cache, &everything, &meta()).expect("delivers");
    assert!(seeded.created);
    println!(
        "seed: {tenants} tenants × {workloads} workloads ({} files) in {:.2?}",
        everything.files.len(),
        t.elapsed()
    );
    drop(everything);

    let mut changed = catalog.clone();
    changed.workloads[0].spec.values["image"]["tag"] = serde_json::json!("v2.0.0");
    let one = release_of(tenants, &[workload_name(0)]);
    let t = Instant::now();
    let change = plan_change(&changed, &one, REPOSITORY_URL);
    let planned = t.elapsed();
    let files = change.files.len();
    // As after a restart: every tree the commit edits is read from the repository.
    git::forget_cached_trees();
    let t = Instant::now();
    let out = git::deliver(&repo.remote, &repo.cache, &change, &meta()).expect("delivers");
    let delivered = t.elapsed();
    assert!(out.created, "the changed image makes a new commit");
    println!(
        "one workload across {tenants} tenants: render + layout {planned:.2?} ({files} files)"
    );
    println!(
        "commit onto the seeded repository, trees read from it: {delivered:.2?} (commit {})",
        out.commit
    );
    println!("render + commit: {:.2?}", planned + delivered);

    // The steady state of a running controller: the trees it edits are those its previous
    // deliveries wrote or read.
    changed.workloads[0].spec.values["image"]["tag"] = serde_json::json!("v3.0.0");
    let change = plan_change(&changed, &one, REPOSITORY_URL);
    let t = Instant::now();
    let out = git::deliver(&repo.remote, &repo.cache, &change, &meta()).expect("delivers");
    let delivered = t.elapsed();
    assert!(out.created, "the changed image makes a new commit");
    println!(
        "the next such commit, trees remembered: {delivered:.2?} (commit {})",
        out.commit
    );
    print_peak_rss();
}

fn benches(c: &mut Criterion) {
    let full_catalog = catalog(TENANTS, WORKLOADS);
    let full_release = release(TENANTS, WORKLOADS);
    let one_release = release(1, 1);

    let mut g = c.benchmark_group("render_deliver");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function(
        "100 tenants × 100 workloads into an empty bare repo",
        |b| {
            b.iter_batched(
                fresh_repo,
                |repo| {
                    assert!(run(&full_catalog, &full_release, &repo).created);
                    repo
                },
                BatchSize::PerIteration,
            )
        },
    );
    g.finish();

    let mut g = c.benchmark_group("render_single");
    g.bench_function("1 tenant × 1 workload: plan + render + layout", |b| {
        b.iter(|| plan_change(&full_catalog, &one_release, "file:///unused"))
    });
    g.finish();

    let mut g = c.benchmark_group("render_deliver_single");
    g.sample_size(20);
    g.bench_function("1 tenant × 1 workload into an empty bare repo", |b| {
        b.iter_batched(
            fresh_repo,
            |repo| {
                assert!(run(&full_catalog, &one_release, &repo).created);
                repo
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn main() {
    if std::env::args().any(|a| a == "--memory") {
        memory_run();
        return;
    }
    if std::env::args().any(|a| a == "--incremental") {
        incremental_run();
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
