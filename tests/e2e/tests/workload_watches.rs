//! Health and drift read watch caches of the workload cluster: in steady state GitOpsHQ lists
//! nothing there (the API server's own request counters say so), and a pod that starts
//! crash-looping turns the release Degraded at once, long before its next periodic check.

use std::time::Duration;

use gitopshq_e2e::{Platform, ok};
use gitopshq_localplane::{CRASH_LOOP, SIMULATE_LABEL};

const NS: &str = "payment-service";
const RELEASE: &str = "payment-api-v1-0-0-dev";
const POD_NAMESPACE: &str = "payments-dev";

/// `apiserver_request_total` of the workload API server for `verb`s of pods whose series
/// contain `also` (a scope, or nothing more), all codes summed.
fn pod_requests(platform: &Platform, verb: &str, also: &str) -> f64 {
    let metrics = ok(platform.workload_admin().args(["get", "--raw", "/metrics"]));
    metrics
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
        .filter(|l| l.contains("resource=\"pods\"") && l.contains(&format!("verb=\"{verb}\"")))
        .filter(|l| l.contains(also))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// LISTs of pods the workload API server answered, all codes summed.
fn pod_lists(platform: &Platform) -> f64 {
    pod_requests(platform, "LIST", "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reads_watch_caches_and_a_crash_reaches_the_release_at_once() {
    let mut platform = Platform::start().await;
    platform.apply("admin", &platform.example(&["bootstrap"]));
    platform.wait_for(Some(NS), "release", RELEASE, "{.status.phase}", "Healthy");

    // Steady state: the release is checked every second, from the caches; polling listed the
    // tenant's pods at every check.
    let before = pod_lists(&platform);
    std::thread::sleep(Duration::from_secs(8));
    let listed = pod_lists(&platform) - before;
    assert!(
        listed < 2.0,
        "{listed} LISTs of pods in 8 s of steady state: health should read the watch cache"
    );
    // One watch of the cluster's pods, not one per tenant namespace: nothing on this cluster
    // lists or watches pods of one namespace (its controller-manager, scheduler and KWOK watch
    // them everywhere too).
    let per_namespace = pod_requests(&platform, "WATCH", "scope=\"namespace\"")
        + pod_requests(&platform, "LIST", "scope=\"namespace\"");
    assert_eq!(
        per_namespace, 0.0,
        "pods were listed or watched per namespace: the pods of a cluster are one watch"
    );

    // Checked only every hour from now on: what the release sees sooner, a change told it.
    platform.stop_controllers().await;
    platform
        .start_controllers_checking_every(Duration::from_secs(3600))
        .await;
    platform.wait_for(Some(NS), "release", RELEASE, "{.status.phase}", "Healthy");
    let pods = platform.workload_pods(POD_NAMESPACE, "app.kubernetes.io/name=payment-api");
    assert_eq!(pods.len(), 1, "{pods:?}");
    let label = |change: &str| {
        ok(platform.workload_admin().args([
            "-n",
            POD_NAMESPACE,
            "label",
            "pod",
            &pods[0].0,
            change,
        ]));
    };
    label(&format!("{SIMULATE_LABEL}={CRASH_LOOP}"));
    platform.wait_for(Some(NS), "release", RELEASE, "{.status.phase}", "Degraded");
    let message = platform.get(Some(NS), "release", RELEASE, "{.status.message}");
    assert!(message.contains("payment-api"), "{message}");

    // It recovers the same way.
    label(&format!("{SIMULATE_LABEL}-"));
    platform.wait_for(Some(NS), "release", RELEASE, "{.status.phase}", "Healthy");

    platform.stop().await;
}

fn requests_by_verb(platform: &Platform) -> std::collections::BTreeMap<String, f64> {
    gitopshq_e2e::apiserver_requests(platform.workload_admin())
}

/// A measurement, not a check (BENCHMARKS.md): the requests GitOpsHQ sends a workload API
/// server per minute in steady state, as the difference between a window with the controllers
/// running (checking the release every second) and one with them stopped (what the cluster's
/// own controller-manager, scheduler and KWOK send).
/// `cargo test -p gitopshq-e2e --test workload_watches -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement for BENCHMARKS.md"]
async fn steady_state_requests_to_a_workload_cluster() {
    const WINDOW: Duration = Duration::from_secs(60);
    let mut platform = Platform::start().await;
    platform.apply("admin", &platform.example(&["bootstrap"]));
    platform.wait_for(Some(NS), "release", RELEASE, "{.status.phase}", "Healthy");
    std::thread::sleep(Duration::from_secs(5));
    let delta = |platform: &Platform| {
        let before = requests_by_verb(platform);
        std::thread::sleep(WINDOW);
        let after = requests_by_verb(platform);
        after
            .iter()
            .map(|(verb, n)| (verb.clone(), n - before.get(verb).copied().unwrap_or(0.0)))
            .filter(|(_, n)| *n > 0.0)
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let running = delta(&platform);
    platform.stop_controllers().await;
    let stopped = delta(&platform);
    println!("requests per minute to the workload API server, controllers running: {running:?}");
    println!("requests per minute to the workload API server, controllers stopped: {stopped:?}");
    platform.stop().await;
}
