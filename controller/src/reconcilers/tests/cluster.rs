use std::sync::Arc;
use std::time::Duration;

use gitopshq_crds::cluster::Cluster;
use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_crds::testing::{from_json, from_yaml};
use http::{Method, StatusCode};
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::{assert_event, condition};
use crate::index::Index;
use crate::mock_api::{self, LoopbackCluster, Reply, Scenario, Seen};
use crate::reconcilers::cluster::reconcile;

const SECRET: &str = "/api/v1/namespaces/gitopshq-system/secrets/cluster-eu";

/// Cluster `eu`, its kubeconfig in Secret `gitopshq-system/cluster-eu`.
pub(super) fn cluster() -> Cluster {
    from_yaml(
        r#"
apiVersion: gitopshq.io/v1alpha1
kind: Cluster
metadata:
  name: eu
  generation: 1
  resourceVersion: "1"
  uid: uid-cluster-eu
spec:
  kubeconfigSecretRef:
    namespace: gitopshq-system
    name: cluster-eu
"#,
    )
}

/// The Secret answer holding `kubeconfig`.
fn secret(kubeconfig: &str) -> Reply {
    Reply::Json(mock_api::kubeconfig_secret(
        "gitopshq-system",
        "cluster-eu",
        kubeconfig,
    ))
}

/// What a workload API server answers to `GET /version`.
fn version() -> Value {
    json!({
        "major": "1",
        "minor": "34",
        "gitVersion": "v1.34.1",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-09-01T00:00:00Z",
        "goVersion": "go1.24.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// A loopback address nothing listens on: connections are refused at once.
async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

/// The Secret answer pointing at `api`.
fn kubeconfig_of(api: &LoopbackCluster) -> Reply {
    secret(&mock_api::kubeconfig(&api.url))
}

/// The Secret answer pointing at a server that refuses every connection.
async fn kubeconfig_of_a_closed_port() -> Reply {
    secret(&mock_api::kubeconfig(&closed_port().await))
}

/// Cluster `eu` as last written while Connected to `version`, with a heartbeat 30s ago.
fn connected(version: &str) -> Cluster {
    let mut cluster = cluster();
    cluster.status = Some(from_json(json!({
        "phase": "Connected",
        "serverVersion": version,
        "lastHeartbeat": "2026-12-01T09:59:30Z",
        "message": format!("connected; Kubernetes {version}"),
    })));
    cluster
}

/// One heartbeat: the kubeconfig Secret is read (answered with `secret`), then the status is
/// written. A phase change adds its Event.
fn heartbeat(cluster: &Cluster, secret: Reply) -> Scenario {
    Scenario::new()
        .expect(Method::GET, SECRET, secret)
        .status_patch(cluster)
}

async fn run(cluster: Cluster, scenario: Scenario) -> (Action, Vec<Seen>) {
    let cache = tempfile::tempdir().unwrap();
    let (ctx, server) = mock_api::context(Index::new(), cache.path());
    let verifier = server.run(scenario);
    let action = reconcile(Arc::new(cluster), ctx).await;
    let seen = verifier.finish().await;
    (action.expect("the reconciliation succeeds"), seen)
}

/// Checks that the written `status` says `phase` for `reason`, in both conditions.
fn assert_phase(status: &Value, phase: &str, condition_status: &str, reason: &str) {
    assert_eq!(status["phase"], phase, "{status:#}");
    for type_ in [types::CONNECTED, types::READY] {
        let found = condition(status, type_);
        assert_eq!(found["status"], condition_status, "{found}");
        assert_eq!(found["reason"], reason, "{found}");
        assert_eq!(found["message"], status["message"], "{found}");
    }
}

/// Checks that the written `status` says the API server did not answer and ends with `advice`;
/// returns its message.
fn assert_not_answering<'a>(status: &'a Value, advice: &str) -> &'a str {
    let message = status["message"].as_str().unwrap();
    assert!(
        message.starts_with("API server of cluster eu does not answer: "),
        "{message}"
    );
    assert!(message.ends_with(advice), "{message}");
    message
}

#[tokio::test]
async fn a_cluster_that_answers_is_connected_with_its_version() {
    let api = LoopbackCluster::serve(vec![("/version", version())]).await;
    let cluster = cluster();
    let scenario = heartbeat(&cluster, kubeconfig_of(&api)).event("default");

    let (action, seen) = run(cluster, scenario).await;

    assert_eq!(api.requests(), ["GET /version?"]);
    let status = &seen[1].body["status"];
    assert_phase(status, "Connected", "True", reasons::CONNECTED);
    assert_eq!(status["message"], "connected; Kubernetes v1.34.1");
    assert_eq!(status["serverVersion"], "v1.34.1");
    assert_eq!(status["lastHeartbeat"], mock_api::NOW);
    assert_eq!(seen[1].body["metadata"]["resourceVersion"], "1");
    // Connecting is news, and good news.
    let event = assert_event(&seen[2], "Normal", reasons::CONNECTED);
    assert_eq!(event["regarding"]["kind"], "Cluster");
    assert_eq!(event["note"], "connected; Kubernetes v1.34.1");
    // Asked again at the heartbeat interval.
    assert_eq!(action, Action::requeue(Duration::from_secs(30)));
}

#[tokio::test]
async fn a_connected_cluster_that_answers_again_gets_a_heartbeat_without_an_event() {
    let api = LoopbackCluster::serve(vec![("/version", version())]).await;
    let cluster = connected("v1.34.0");
    let scenario = heartbeat(&cluster, kubeconfig_of(&api));

    let (action, seen) = run(cluster, scenario).await;

    let status = &seen[1].body["status"];
    assert_phase(status, "Connected", "True", reasons::CONNECTED);
    // The version the server reports now (upgraded meanwhile) and the new heartbeat.
    assert_eq!(status["serverVersion"], "v1.34.1");
    assert_eq!(status["lastHeartbeat"], mock_api::NOW);
    assert_eq!(action, Action::requeue(Duration::from_secs(30)));
}

#[tokio::test]
async fn a_cluster_never_reached_whose_server_refuses_connections_is_unreachable() {
    let cluster = cluster();
    let scenario = heartbeat(&cluster, kubeconfig_of_a_closed_port().await).event("default");

    let (action, seen) = run(cluster, scenario).await;

    let status = &seen[1].body["status"];
    assert_phase(status, "Unreachable", "False", reasons::UNREACHABLE);
    let message = assert_not_answering(
        status,
        "; check the network path and the credentials in the kubeconfig",
    );
    assert!(status.get("lastHeartbeat").is_none(), "{status:#}");
    assert!(status.get("serverVersion").is_none(), "{status:#}");
    let event = assert_event(&seen[2], "Warning", reasons::UNREACHABLE);
    assert_eq!(event["note"], message);
    // Asked again soon: at the retry interval, not the heartbeat's.
    assert_eq!(action, Action::requeue(Duration::from_secs(10)));
}

#[tokio::test]
async fn a_connected_cluster_that_stops_answering_is_disconnected_since_its_last_answer() {
    let cluster = connected("v1.34.1");
    let scenario = heartbeat(&cluster, kubeconfig_of_a_closed_port().await).event("default");

    let (action, seen) = run(cluster, scenario).await;

    let status = &seen[1].body["status"];
    assert_phase(status, "Disconnected", "False", reasons::DISCONNECTED);
    assert_not_answering(
        status,
        "; last answered at 2026-12-01T09:59:30Z; the health of its tenants is Unknown until cluster eu answers again",
    );
    // What it last said is kept: the heartbeat is when it last answered.
    assert_eq!(status["lastHeartbeat"], "2026-12-01T09:59:30Z");
    assert_eq!(status["serverVersion"], "v1.34.1");
    assert_event(&seen[2], "Warning", reasons::DISCONNECTED);
    assert_eq!(action, Action::requeue(Duration::from_secs(10)));
}

#[tokio::test]
async fn a_missing_kubeconfig_secret_is_unreachable_and_says_how_to_register_the_cluster() {
    let cluster = cluster();
    let not_found = Reply::Error(
        StatusCode::NOT_FOUND,
        "secrets \"cluster-eu\" not found".into(),
    );
    let scenario = heartbeat(&cluster, not_found).event("default");

    let (action, seen) = run(cluster, scenario).await;

    let status = &seen[1].body["status"];
    assert_phase(status, "Unreachable", "False", reasons::SECRET_NOT_FOUND);
    assert_eq!(
        status["message"],
        "kubeconfig Secret gitopshq-system/cluster-eu not found; create it (gitopshq cluster register eu --context CTX) or fix spec.kubeconfigSecretRef"
    );
    assert_event(&seen[2], "Warning", reasons::SECRET_NOT_FOUND);
    assert_eq!(action, Action::requeue(Duration::from_secs(10)));
}

#[tokio::test]
async fn an_invalid_kubeconfig_is_an_invalid_spec_naming_the_secret_and_the_problem() {
    let cluster = cluster();
    let scenario = heartbeat(&cluster, secret("apiVersion: v1\nkind: Config\n")).event("default");

    let (action, seen) = run(cluster, scenario).await;

    let status = &seen[1].body["status"];
    assert_phase(status, "Unreachable", "False", reasons::INVALID_SPEC);
    assert_eq!(
        status["message"],
        "kubeconfig in Secret gitopshq-system/cluster-eu (key \"kubeconfig\") is invalid: it has no current context; re-register the cluster"
    );
    assert_eq!(seen[2].body["reason"], reasons::INVALID_SPEC);
    assert_eq!(action, Action::requeue(Duration::from_secs(10)));
}

#[tokio::test]
async fn a_kubeconfig_with_an_exec_plugin_is_refused_without_running_it() {
    let kubeconfig = mock_api::kubeconfig("https://127.0.0.1:1").replace(
        "    token: test-token\n",
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n      args: [eks, get-token]\n",
    );
    let cluster = cluster();
    let scenario = heartbeat(&cluster, secret(&kubeconfig)).event("default");

    let (_, seen) = run(cluster, scenario).await;

    let status = &seen[1].body["status"];
    assert_phase(
        status,
        "Unreachable",
        "False",
        reasons::EXEC_PLUGIN_UNSUPPORTED,
    );
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains("the exec credential plugin \"aws\""),
        "{message}"
    );
    assert_eq!(seen[2].body["reason"], reasons::EXEC_PLUGIN_UNSUPPORTED);
}

#[tokio::test]
async fn a_cluster_being_deleted_is_neither_asked_nor_written() {
    let mut cluster = cluster();
    cluster.metadata.deletion_timestamp = Some(from_json(json!("2026-12-01T09:59:00Z")));

    // The verifier fails the test on any request, the Secret's included.
    let (action, seen) = run(cluster, Scenario::new()).await;

    assert!(seen.is_empty());
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn health_checks_reuse_the_clients_and_the_heartbeat_reads_the_secret_again() {
    let api = LoopbackCluster::serve(vec![("/version", version())]).await;
    let cluster = cluster();
    // One read for the checks of a thousand tenants in a moment, one for the heartbeat.
    let scenario = Scenario::new()
        .expect(Method::GET, SECRET, kubeconfig_of(&api))
        .expect(Method::GET, SECRET, kubeconfig_of(&api));
    let cache = tempfile::tempdir().unwrap();
    let (ctx, server) = mock_api::context(Index::new(), cache.path());
    let verifier = server.run(scenario);

    let first = ctx.clusters.clients(&cluster).await.unwrap();
    for _ in 0..1000 {
        let again = ctx.clusters.clients(&cluster).await.unwrap();
        assert_eq!(again.credentials, first.credentials);
    }
    assert_eq!(ctx.clusters.probe(&cluster).await.unwrap(), "v1.34.1");
    drop(ctx);
    let seen = verifier.finish().await;
    assert_eq!(seen.len(), 2);
}
