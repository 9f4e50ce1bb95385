//! A measurement for BENCHMARKS.md, not a check: what the admission webhook adds to a write as a
//! user feels it. On a real API server, the same server-side creates of Workloads and Draft
//! Releases and the same approvals (a decision appended to an ApprovalRequest by an approver,
//! as `gitopshq approve` does: decisions that need no Rego), first with no webhook registered,
//! then with it: the
//! latency of each request at the client, p50 and p99, and the difference; beside it the API
//! server's own `apiserver_admission_webhook_admission_duration_seconds`, and a smaller sample
//! of `kubectl apply` (a process per request).
//!
//! `GITOPSHQ_ADMISSION_REQUESTS=1000 cargo test --release -p gitopshq-e2e --test admission_overhead -- --ignored --nocapture`

use std::process::Command;
use std::time::{Duration, Instant};

use gitopshq_e2e::{examples_dir, ok, with_stdin};
use gitopshq_localplane::TestEnv;
use gitopshq_webhook::local::LocalWebhook;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client};

const NS: &str = "payment-service";

fn count() -> usize {
    std::env::var("GITOPSHQ_ADMISSION_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn workload(name: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "gitopshq.io/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "chart": "microservice-base",
            "version": "1.0.0",
            "values": {"image": {"repository": "registry.example.com/bench", "tag": "v1"}},
        },
    })
}

fn draft_release(name: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "gitopshq.io/v1alpha1",
        "kind": "Release",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "title": "A draft",
            "environment": "development",
            "type": "Deploy",
            "changes": [{"workload": "payment-api", "version": "1.0.0"}],
        },
    })
}

/// The approver of the approval measurements: `sre-team`, the project's Approver team.
const APPROVER: &str = "bob";
const POLICY: &str = "bench-production";

/// The approval policy of production, and what the project reconciler would grant the approver
/// team: patching ApprovalRequests and the `approve` verb on production (the webhook asks the
/// API server about it with a SubjectAccessReview).
const APPROVAL_SETUP: &str = r#"
apiVersion: gitopshq.io/v1alpha1
kind: ApprovalPolicy
metadata:
  name: bench-production
spec:
  environments: [production]
  minApprovals: 2
  distinctTeams: true
  forbidSelfApproval: true
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: bench-approver
  namespace: payment-service
rules:
  - apiGroups: [gitopshq.io]
    resources: [approvalrequests]
    verbs: [get, list, watch, patch]
  - apiGroups: [gitopshq.io]
    resources: [environments]
    resourceNames: [production]
    verbs: [approve]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: bench-approver
  namespace: payment-service
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: bench-approver
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: Group
    name: sre-team
"#;

/// Release `name` of production, waiting for approval, and its ApprovalRequest, written as the
/// controller would (before the webhook is registered: only the controller may create one).
async fn pending_approval(client: &Client, name: &str) {
    let mut release = draft_release(name);
    release["spec"]["environment"] = "production".into();
    let release: DynamicObject = serde_json::from_value(release).unwrap();
    api(client, "Release")
        .create(&PostParams::default(), &release)
        .await
        .unwrap_or_else(|e| panic!("release {name}: {e}"));
    let status = serde_json::json!({"status": {"phase": "PendingApproval"}});
    api(client, "Release")
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap_or_else(|e| panic!("release {name} status: {e}"));
    let request: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "gitopshq.io/v1alpha1",
        "kind": "ApprovalRequest",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"release": name, "policy": POLICY, "renderedDigest": format!("sha256:{name}")},
    }))
    .unwrap();
    api(client, "ApprovalRequest")
        .create(&PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("approvalrequest {name}: {e}"));
}

/// Latencies of the approver appending an Approve to the ApprovalRequests `names`, a JSON patch
/// each (`add /spec/decisions/-`, what `kubectl patch --type=json` and `gitopshq approve` send).
async fn approvals(approver: &Client, names: &[String]) -> Vec<Duration> {
    let api = api(approver, "ApprovalRequest");
    let add: json_patch::Patch = serde_json::from_value(serde_json::json!([
        {"op": "add", "path": "/spec/decisions/-", "value": {"decision": "Approve"}}
    ]))
    .unwrap();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let start = Instant::now();
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Json::<()>(add.clone()),
        )
        .await
        .unwrap_or_else(|e| panic!("approve {name}: {e}"));
        out.push(start.elapsed());
    }
    out
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

fn api(client: &Client, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("gitopshq.io", "v1alpha1", kind);
    Api::namespaced_with(client.clone(), NS, &ApiResource::from_gvk(&gvk))
}

/// Latencies of `n` server-side creates of `make(name)`.
async fn creates(
    client: &Client,
    kind: &str,
    prefix: &str,
    n: usize,
    make: fn(&str) -> serde_json::Value,
) -> Vec<Duration> {
    let api = api(client, kind);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let object: DynamicObject = serde_json::from_value(make(&format!("{prefix}-{i}"))).unwrap();
        let start = Instant::now();
        api.create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("{kind} {prefix}-{i}: {e}"));
        out.push(start.elapsed());
    }
    out
}

/// Latencies of `n` `kubectl apply -f -` of `make(name)`, a process each.
fn kubectl_applies(
    env: &TestEnv,
    prefix: &str,
    n: usize,
    make: fn(&str) -> serde_json::Value,
) -> Vec<Duration> {
    (0..n)
        .map(|i| {
            let body = make(&format!("{prefix}-{i}")).to_string();
            let mut cmd: Command = env.kubectl("admin");
            cmd.args(["apply", "-f", "-"]);
            let start = Instant::now();
            let out = with_stdin(&mut cmd, &body);
            let took = start.elapsed();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            took
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn summary(mut latencies: Vec<Duration>) -> (f64, f64) {
    latencies.sort();
    (percentile(&latencies, 0.5), percentile(&latencies, 0.99))
}

/// `(count, sum seconds)` of the API server's webhook admission histogram, per webhook name.
fn webhook_durations(env: &TestEnv) -> Vec<(String, f64, f64)> {
    let metrics = ok(env.kubectl("admin").args(["get", "--raw", "/metrics"]));
    let mut out: Vec<(String, f64, f64)> = Vec::new();
    for line in metrics.lines().filter(|l| {
        l.starts_with("apiserver_admission_webhook_admission_duration_seconds_sum{")
            || l.starts_with("apiserver_admission_webhook_admission_duration_seconds_count{")
    }) {
        let name = line
            .split("name=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_string();
        let kind = line
            .split("type=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default();
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let key = format!("{name} ({kind})");
        let entry = match out.iter_mut().find(|(k, _, _)| *k == key) {
            Some(entry) => entry,
            None => {
                out.push((key, 0.0, 0.0));
                out.last_mut().unwrap()
            }
        };
        if line.contains("_sum{") {
            entry.2 += value;
        } else {
            entry.1 += value;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement for BENCHMARKS.md"]
async fn what_the_webhook_adds_to_a_write() {
    let n = count();
    let env = TestEnv::start().await.expect("control plane starts");
    ok(env
        .kubectl("admin")
        .arg("apply")
        .arg("-f")
        .arg(examples_dir().join("bootstrap"))
        .arg("--server-side"));
    with_stdin(
        env.kubectl("admin").args(["apply", "-f", "-"]),
        APPROVAL_SETUP,
    );
    let client = env.client().await.unwrap();
    let approver = env.client_as(APPROVER).await.unwrap();
    // The releases waiting for approval of both runs, and their ApprovalRequests.
    let (warm_a, without_a, warm_b, with_a) = (
        names("warm-a", 20),
        names("a-a", n),
        names("warm-b", 20),
        names("b-a", n),
    );
    for name in warm_a
        .iter()
        .chain(&without_a)
        .chain(&warm_b)
        .chain(&with_a)
    {
        pending_approval(&client, name).await;
    }
    // Warm the API server's paths for these kinds before anything is timed.
    creates(&client, "Workload", "warm-w", 20, workload).await;
    creates(&client, "Release", "warm-r", 20, draft_release).await;
    approvals(&approver, &warm_a).await;

    let without_w = summary(creates(&client, "Workload", "a-w", n, workload).await);
    let without_r = summary(creates(&client, "Release", "a-r", n, draft_release).await);
    let without_d = summary(approvals(&approver, &without_a).await);
    let without_k = summary(kubectl_applies(&env, "a-k", n / 10, workload));

    let webhook = LocalWebhook::start(client.clone(), gitopshq_e2e::webhook_settings())
        .await
        .expect("webhook starts and is registered");
    creates(&client, "Workload", "warm-w2", 20, workload).await;
    creates(&client, "Release", "warm-r2", 20, draft_release).await;
    approvals(&approver, &warm_b).await;
    let before = webhook_durations(&env);
    let with_w = summary(creates(&client, "Workload", "b-w", n, workload).await);
    let with_r = summary(creates(&client, "Release", "b-r", n, draft_release).await);
    let with_d = summary(approvals(&approver, &with_a).await);
    let after = webhook_durations(&env);
    // The webhook judged the decisions, not waved them through: each carries the approver's
    // name, stamped from the request.
    let judged = api(&client, "ApprovalRequest")
        .get(&with_a[0])
        .await
        .unwrap();
    assert_eq!(judged.data["spec"]["decisions"][0]["user"], APPROVER);
    let with_k = summary(kubectl_applies(&env, "b-k", n / 10, workload));

    println!(
        "{n} server-side creates each (kubectl apply: {}), ms:",
        n / 10
    );
    for (what, without, with) in [
        ("Workload create", without_w, with_w),
        ("Release (Draft) create", without_r, with_r),
        ("ApprovalRequest decision (JSON patch)", without_d, with_d),
        ("kubectl apply Workload", without_k, with_k),
    ] {
        println!(
            "  {what}: without p50 {:.2} p99 {:.2}; with p50 {:.2} p99 {:.2}; added p50 {:+.2} p99 {:+.2}",
            without.0,
            without.1,
            with.0,
            with.1,
            with.0 - without.0,
            with.1 - without.1
        );
    }
    for (name, count, sum) in &after {
        let (c0, s0) = before
            .iter()
            .find(|(k, _, _)| k == name)
            .map(|(_, c, s)| (*c, *s))
            .unwrap_or((0.0, 0.0));
        let calls = count - c0;
        if calls > 0.0 {
            println!(
                "  API server's {name}: {calls} calls, mean {:.3} ms",
                (sum - s0) / calls * 1000.0
            );
        }
    }
    webhook.stop().await.unwrap();
}
