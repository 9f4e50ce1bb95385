//! Delivery at scale: 100 tenants × 100 workloads (10,000 workload dirs, 40,000 object files)
//! into a local bare repository over file://.
//!
//! `cargo bench -p gitopshq-delivery --bench deliver`

use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use git2::Repository;
use gitopshq_delivery::git::{self, Change, CommitMeta, GitRemote, Identity};
use gitopshq_engine::layout::{
    self, ClusterTarget, DeliveryMode, GitOpsSettings, LayoutRequest, RenderedFile, RepositoryRef,
    TenantRender, WorkloadRender,
};

const TENANTS: usize = 100;
const WORKLOADS: usize = 100;
const OBJECTS: usize = 4;

fn request(version: &str, workloads: usize) -> LayoutRequest {
    let kinds = ["deployment", "service", "configmap", "serviceaccount"];
    LayoutRequest {
        project: "bench".into(),
        repository: RepositoryRef {
            url: "https://git.example.com/gitops.git".into(),
            branch: "main".into(),
            path: None,
        },
        delivery: DeliveryMode::ArgoCd,
        environment: "production".into(),
        tenants: (0..TENANTS)
            .map(|t| TenantRender {
                name: format!("tenant-{t:03}"),
                cluster: ClusterTarget {
                    name: format!("cluster-{}", t % 10),
                    ..Default::default()
                },
                namespace: format!("tenant-{t:03}"),
                workloads: (0..workloads)
                    .map(|w| WorkloadRender {
                        name: format!("workload-{w:03}"),
                        files: (0..OBJECTS)
                            .map(|i| RenderedFile {
                                file_name: format!("{}-workload-{w:03}.yaml", kinds[i]),
                                yaml: format!(
                                    "apiVersion: v1\nkind: {}\nmetadata:\n  name: workload-{w:03}\n  namespace: tenant-{t:03}\n  labels:\n    version: \"{version}\"\nspec:\n  replicas: 2\n",
                                    kinds[i]
                                )
                                .into_bytes(),
                                secret: None,
                            })
                            .collect(),
                        state: None,
                    })
                    .collect(),
            })
            .collect(),
        settings: GitOpsSettings::default(),
    }
}

fn meta() -> CommitMeta {
    CommitMeta {
        message: "Deploy everything\n\nGitOpsHQ-Release: bench/all\n".into(),
        author: Identity {
            name: "GitOpsHQ".into(),
            email: "gitopshq@example.com".into(),
        },
        committer: None,
        time: Some(1_767_225_600),
        signing_key: None,
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    remote: GitRemote,
    cache: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("remote.git");
    Repository::init_bare(&path).unwrap();
    let cache = dir.path().join("cache");
    Fixture {
        remote: GitRemote::new(format!("file://{}", path.display()), "main"),
        cache,
        _dir: dir,
    }
}

fn bench(c: &mut Criterion) {
    let full: Change = layout::release_layout(&request("1.0.0", WORKLOADS))
        .unwrap()
        .into();
    // One workload changes everywhere: the common release on top of a full repository.
    let one: Change = {
        let mut req = request("2.0.0", 1);
        for t in &mut req.tenants {
            t.workloads[0].name = "workload-042".into();
        }
        layout::release_layout(&req).unwrap().into()
    };
    eprintln!(
        "full release: {} files, {} owned dirs",
        full.files.len(),
        full.owned.len()
    );

    let mut g = c.benchmark_group("deliver");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("10000 workload dirs into an empty bare repo", |b| {
        b.iter_batched(
            fixture,
            |f| {
                let out = git::deliver(&f.remote, &f.cache, &full, &meta()).unwrap();
                assert!(out.created);
                f
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("1 workload × 100 tenants onto 10000 dirs", |b| {
        b.iter_batched(
            || {
                let f = fixture();
                git::deliver(&f.remote, &f.cache, &full, &meta()).unwrap();
                f
            },
            |f| {
                let out = git::deliver(&f.remote, &f.cache, &one, &meta()).unwrap();
                assert!(out.created);
                f
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("no-op re-delivery of 10000 dirs", |b| {
        let f = fixture();
        git::deliver(&f.remote, &f.cache, &full, &meta()).unwrap();
        b.iter(|| {
            let out = git::deliver(&f.remote, &f.cache, &full, &meta()).unwrap();
            assert!(!out.created);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
