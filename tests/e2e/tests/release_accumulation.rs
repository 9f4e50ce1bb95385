//! What runs accumulates. Three releases of payment-api in development (an image tag, then the
//! replicas, then a chart upgrade) each start from the state the previous one recorded in the
//! GitOps repository, so the last one still carries the first one's tag; `--unset` drops it. The
//! Workload's status mirrors what runs per tenant. An offline `gitopshq deliver` of the same
//! releases into a fresh repository gives a byte-identical tenant tree: the record lives in
//! Git, not in the management cluster.

use std::path::Path;
use std::process::Command;

use gitopshq_e2e::{Platform, git, gitopshq_binary};

const NS: &str = "payment-service";
/// The tenant's folder: its workloads' rendered objects and recorded states. (The Flux
/// Kustomization beside it carries the controller's own settings, such as its sync interval,
/// which an offline delivery does not know.)
const TENANT_DIR: &str = "projects/payment-service/development/eu-development";
const DEPLOYMENT: &str =
    "projects/payment-service/development/eu-development/payment-api/deployment-payment-api.yaml";
const STATE: &str = "projects/payment-service/development/eu-development/payment-api/_state.yaml";

/// `gitopshq release create NAME --env development --workload payment-api ARGS --submit` as
/// alice (backend-team, ReleaseManager in development), then waits for its delivery.
fn release(platform: &Platform, name: &str, args: &[&str]) {
    let mut create = vec![
        "release",
        "create",
        name,
        "-n",
        NS,
        "--env",
        "development",
        "--workload",
        "payment-api",
        "--submit",
    ];
    create.extend_from_slice(args);
    platform.gitopshq_as("alice", &create);
    platform.wait_delivered(NS, name);
}

fn tree_of(repository: &Path, path: &str) -> String {
    git(
        repository,
        &[
            "--git-dir",
            &repository.display().to_string(),
            "rev-parse",
            &format!("main:{path}"),
        ],
    )
    .trim()
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_accumulate_in_git_and_an_offline_delivery_computes_the_same() {
    let platform = Platform::start().await;
    let inputs = platform.example(&["bootstrap", "chart-catalog/10-chart-1.1.0.yaml"]);
    platform.apply("admin", &inputs);
    platform.wait_delivered(NS, "payment-api-v1-0-0-dev");

    release(&platform, "acc-tag", &["--set", "image.tag=abc1234"]);
    release(&platform, "acc-replicas", &["--set", "replicaCount=3"]);
    let replicas = platform.file(DEPLOYMENT);
    assert!(
        replicas.contains("registry.example.com/payment-api:abc1234")
            && replicas.contains("replicas: 3"),
        "the second release keeps the first one's tag:\n{replicas}"
    );
    release(&platform, "acc-chart", &["--version", "1.1.0"]);
    let upgraded = platform.file(DEPLOYMENT);
    assert!(
        upgraded.contains("registry.example.com/payment-api:abc1234")
            && upgraded.contains("replicas: 3"),
        "the chart upgrade keeps the tag and the replicas:\n{upgraded}"
    );
    let state = platform.file(STATE);
    assert!(
        state.contains("release: acc-chart")
            && state.contains("version: 1.1.0")
            && state.contains("tag: abc1234"),
        "{state}"
    );
    // The PodDisruptionBudget of 1.1.0 is there: the chart really moved.
    platform.file(
        "projects/payment-service/development/eu-development/payment-api/poddisruptionbudget-payment-api.yaml",
    );

    // The Workload says what runs for the tenant, and what the releases added.
    let runs = "{.status.environments.development.tenants.eu-development}";
    platform.wait_until(
        Some(NS),
        "workload",
        "payment-api",
        runs,
        |v| v.contains("\"release\":\"acc-chart\""),
        "the mirror of acc-chart's state",
    );
    let mirror = platform.get(Some(NS), "workload", "payment-api", runs);
    let mirror: serde_json::Value = serde_json::from_str(&mirror).expect("JSON");
    assert_eq!(mirror["version"], "1.1.0", "{mirror}");
    assert_eq!(mirror["values"]["image"]["tag"], "abc1234", "{mirror}");
    assert_eq!(mirror["values"]["replicaCount"], 3, "{mirror}");
    assert_eq!(mirror["addedVersion"], "1.1.0", "{mirror}");
    assert!(
        mirror["commit"].as_str().is_some_and(|c| c.len() == 40),
        "{mirror}"
    );

    release(&platform, "acc-unset", &["--unset", "image.tag"]);
    let unset = platform.file(DEPLOYMENT);
    assert!(
        unset.contains("registry.example.com/payment-api:v1.0.0") && unset.contains("replicas: 3"),
        "--unset drops the tag back to the Workload's and keeps the rest:\n{unset}"
    );

    // The same releases delivered offline, in order, into a fresh repository: the same tree.
    let offline = platform.dir().join("offline.git");
    git(
        platform.dir(),
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            &offline.display().to_string(),
        ],
    );
    let files = platform.dir().join("offline-inputs");
    std::fs::create_dir_all(&files).expect("inputs folder");
    std::fs::write(files.join("inputs.yaml"), &inputs).expect("inputs");
    let releases = [
        "payment-api-v1-0-0-dev",
        "acc-tag",
        "acc-replicas",
        "acc-chart",
        "acc-unset",
    ];
    // The bootstrap release is among the inputs already; the others come from the cluster.
    for name in &releases[1..] {
        let yaml = gitopshq_e2e::ok(
            platform
                .admin()
                .args(["-n", NS, "get", "release", name, "-o", "yaml"]),
        );
        std::fs::write(files.join(format!("release-{name}.yaml")), yaml).expect("release file");
    }
    for name in releases {
        let out = Command::new(gitopshq_binary())
            .args(["deliver", "--release", name, "--repo"])
            .arg(&offline)
            .arg("-f")
            .arg(&files)
            .env("GITOPSHQ_CACHE_DIR", platform.dir().join("offline-cache"))
            .output()
            .expect("gitopshq runs");
        assert!(
            out.status.success(),
            "offline deliver {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let listing = |repository: &Path| {
        let text = git(
            repository,
            &[
                "--git-dir",
                &repository.display().to_string(),
                "ls-tree",
                "-r",
                "main",
                TENANT_DIR,
            ],
        );
        text.lines().map(str::to_string).collect::<Vec<_>>()
    };
    let (online, offline_files) = (listing(&platform.repository), listing(&offline));
    let differing: Vec<&String> = online
        .iter()
        .filter(|l| !offline_files.contains(l))
        .chain(offline_files.iter().filter(|l| !online.contains(l)))
        .collect();
    assert_eq!(
        tree_of(&offline, TENANT_DIR),
        tree_of(&platform.repository, TENANT_DIR),
        "the offline delivery gives the controller's tree byte for byte; differing: {differing:#?}"
    );

    // A Rollback is previewed like any release: offline with `gitopshq diff`, and in its
    // status once submitted. It restores acc-chart's folder, its recorded state included.
    let rollback = |submitted: bool| {
        format!(
            "apiVersion: gitopshq.io/v1alpha1\nkind: Release\nmetadata: {{name: acc-rollback, namespace: {NS}}}\nspec:\n  title: back to acc-chart\n  environment: development\n  type: Rollback\n  rollbackTo: {{release: acc-chart}}\n  submitted: {submitted}\n"
        )
    };
    std::fs::write(files.join("release-acc-rollback.yaml"), rollback(false)).expect("file");
    let out = Command::new(gitopshq_binary())
        .args(["diff", "--release", "acc-rollback", "--unified", "--repo"])
        .arg(&platform.repository)
        .arg("-f")
        .arg(&files)
        .env("GITOPSHQ_CACHE_DIR", platform.dir().join("offline-cache"))
        .output()
        .expect("gitopshq runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && said.contains("(Rollback)")
            && said.contains("tenant eu-development:")
            && said.contains("+        image: registry.example.com/payment-api:abc1234"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    platform.apply("alice", &rollback(true));
    platform.wait_delivered(NS, "acc-rollback");
    assert_eq!(
        platform.get(
            Some(NS),
            "release",
            "acc-rollback",
            "{.status.diff.tenants[0].name}"
        ),
        "eu-development"
    );
    let changed = platform.get(
        Some(NS),
        "release",
        "acc-rollback",
        "{.status.diff.changed}",
    );
    assert!(changed.parse::<u32>().is_ok_and(|n| n >= 1), "{changed}");
    assert!(platform.file(DEPLOYMENT).contains("payment-api:abc1234"));
    assert!(platform.file(STATE).contains("release: acc-chart"));
    platform.stop().await;
}
