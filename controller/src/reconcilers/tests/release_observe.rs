//! The steps of a delivered release (observe: health from what the GitOps engine and the
//! workload cluster report), and the two that end a release before or after it: cancellation
//! and supersession.
//!
//! The GitOps engine's objects (Flux Kustomization, Argo CD Application) and the kubeconfig
//! Secret are read through the scripted API; the workload cluster is a [`LoopbackCluster`]
//! on 127.0.0.1 whose lists fill the watch caches health reads; the delivered objects come from
//! a local repository holding the release's commit.

use std::path::Path;
use std::time::Duration;

use gitopshq_crds::approval_request::ApprovalRequest;
use gitopshq_crds::cluster::Cluster;
use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_crds::project::{DeliveryMode, Project};
use gitopshq_crds::release::Release;
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::testing::from_json;
use gitopshq_crds::workload::Workload;
use http::{Method, StatusCode};
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::release::{approval_request_not_found, run};
use super::{assert_event, condition};
use crate::index::Index;
use crate::mock_api::{self, LoopbackCluster, Reply, Scenario, Seen};

const APPLICATION: &str =
    "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/shop-staging-eu-1";
const KUSTOMIZATION: &str =
    "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/shop-staging-eu-1";
const KUBECONFIG_SECRET: &str = "/api/v1/namespaces/gitopshq-system/secrets/cluster-eu";

/// A commit the release says it delivered, where no repository is read.
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
/// A repository URL nothing answers at, for releases whose objects are never read.
const NOWHERE: &str = "file:///nowhere/shop.git";

/// The ConfigMap release `r1` delivers to tenant `eu-1`, as committed.
const DELIVERED: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: api
  namespace: eu-1
  labels:
    gitopshq.io/tenant: eu-1
data:
  message: v2
";

/// A GitOps repository holding, on `main`, one commit with `api`'s folder for tenant `eu-1`
/// of staging (the default layout, `projects/shop/...`).
struct Repository {
    _dir: tempfile::TempDir,
    url: String,
    commit: String,
}

fn repository() -> Repository {
    let dir = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init(dir.path()).unwrap();
    let mut index = repo.index().unwrap();
    for (path, content) in [
        ("projects/shop/staging/eu-1/api/configmap.yaml", DELIVERED),
        (
            "projects/shop/staging/eu-1/api/kustomization.yaml",
            "resources:\n- configmap.yaml\n",
        ),
    ] {
        let file = dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, content).unwrap();
        index.add_path(Path::new(path)).unwrap();
    }
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let author = git2::Signature::now("GitOpsHQ", "gitopshq@localhost").unwrap();
    let commit = repo
        .commit(
            Some("refs/heads/main"),
            &author,
            &author,
            "release r1",
            &tree,
            &[],
        )
        .unwrap();
    Repository {
        url: format!("file://{}", dir.path().display()),
        commit: commit.to_string(),
        _dir: dir,
    }
}

/// Cluster `eu` (status as given), its kubeconfig in Secret `gitopshq-system/cluster-eu`.
fn cluster(status: Value) -> Cluster {
    let mut cluster = super::cluster::cluster();
    cluster.status = Some(from_json(status));
    cluster
}

/// Project `shop` (repository at `url`, delivered by `delivery`), workload `api` on `web`
/// 1.0.0, tenant `eu-1` of staging on cluster `eu` (Connected), the staging Environment.
fn shop(url: &str, delivery: DeliveryMode) -> Index {
    let mut index = super::release::shop(url);
    let mut project = Project::test("shop", url);
    project.spec.delivery = delivery;
    index.projects.insert(project);
    index.clusters.insert(cluster(json!({
        "phase": "Connected",
        "lastHeartbeat": "2026-12-01T09:59:50Z",
        "message": "connected; Kubernetes v1.34.1",
    })));
    index
}

/// Release `name` changing `api`'s message, delivered as `commit` to `eu-1` at
/// `delivered_at`, now in `status` (merged over the delivered status).
fn delivered(name: &str, commit: &str, delivered_at: &str, status: Value) -> Release {
    let mut release = Release::test(name, "shop").submitted();
    release.spec.changes = vec![from_json(json!({
        "workload": "api",
        "values": {"message": "v2"},
    }))];
    let mut written = json!({
        "phase": "Deployed",
        "reason": reasons::COMMITTED,
        "message": format!("committed {} to main", &commit[..7]),
        "commit": commit,
        "shortCommit": &commit[..7],
        "deliveredAt": delivered_at,
        "tenants": [{"name": "eu-1", "phase": "Deployed"}],
        "timeline": [{"time": delivered_at, "phase": "Deployed"}],
    });
    for (key, value) in status.as_object().unwrap() {
        written[key] = value.clone();
    }
    release.status = Some(from_json(written));
    release
}

/// Release `r1`, delivered as [`COMMIT`] at `delivered_at` and not observed since.
fn just_delivered(delivered_at: &str) -> Release {
    delivered("r1", COMMIT, delivered_at, json!({}))
}

/// What a release found Healthy a minute after its 09:00 delivery last wrote.
fn healthy_since_nine() -> Value {
    json!({
        "phase": "Healthy",
        "reason": reasons::HEALTHY,
        "message": "1 of 1 tenants healthy",
        "tenants": [{"name": "eu-1", "phase": "Healthy", "health": "Healthy"}],
        "timeline": [
            {"time": "2026-12-01T09:00:00Z", "phase": "Deployed"},
            {"time": "2026-12-01T09:01:00Z", "phase": "Healthy"},
        ],
    })
}

/// The Argo CD Application of tenant `eu-1`, Synced at `revision`.
fn synced_application(revision: &str) -> Reply {
    Reply::Json(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "shop-staging-eu-1", "namespace": "argocd"},
        "status": {
            "sync": {"status": "Synced", "revision": revision},
            "health": {"status": "Healthy"},
        },
    }))
}

/// Workload cluster `eu`'s API server: it serves ConfigMaps and Pods, holds `configmaps` (with
/// the tenant label) and no pod in `eu-1` (one in another namespace).
async fn workload_cluster(configmaps: Vec<Value>) -> LoopbackCluster {
    let elsewhere = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "api", "namespace": "eu-2", "uid": "uid-eu-2-api",
            "resourceVersion": "95", "labels": {"app": "api"}},
        "spec": {"containers": [{"name": "api", "image": "api:1"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "api", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]},
    });
    serving(configmaps, ("/api/v1/pods", pod_list(vec![elsewhere]))).await
}

/// Workload cluster `eu`'s API server for credentials that may read pods only in the tenant's
/// namespace, as a kubeconfig written by hand for it would: listing pods everywhere is refused.
async fn namespace_only_cluster(configmaps: Vec<Value>) -> LoopbackCluster {
    let refused = mock_api::api_error(
        StatusCode::FORBIDDEN,
        "pods is forbidden: cannot list resource \"pods\" at the cluster scope",
    );
    serving(configmaps, ("/api/v1/pods", refused)).await
}

/// Checks that the cluster was first asked whether the credentials may list pods everywhere
/// (a list of at most one pod of any namespace), then had its pods listed and watched at
/// `path` only.
fn assert_pods_read_from(asked: &[String], path: &str) {
    let probe = |r: &str| {
        r.starts_with("GET /api/v1/pods?")
            && r.split(['?', '&']).any(|p| p == "limit=1")
            && !r.contains("watch=true")
    };
    let pod_reads: Vec<&String> = asked.iter().filter(|r| r.contains("pods")).collect();
    assert!(pod_reads.len() >= 2 && probe(pod_reads[0]), "{asked:#?}");
    let prefix = format!("GET {path}?");
    assert!(
        pod_reads[1..]
            .iter()
            .all(|r| r.starts_with(&prefix) && !probe(r)),
        "{asked:#?}"
    );
}

fn pod_list(items: Vec<Value>) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "PodList",
        "metadata": {"resourceVersion": "100"},
        "items": items,
    })
}

/// Serves discovery of ConfigMaps and Pods, `configmaps`, the tenant namespace's pods (none)
/// and `pods_everywhere`, the answer to a list of pods in every namespace.
async fn serving(configmaps: Vec<Value>, pods_everywhere: (&str, Value)) -> LoopbackCluster {
    let resource = |name: &str, kind: &str| {
        json!({
            "name": name,
            "singularName": kind.to_lowercase(),
            "namespaced": true,
            "kind": kind,
            "verbs": ["get", "list", "watch", "patch", "delete"],
        })
    };
    let list = |kind: &str, items: Vec<Value>| {
        json!({
            "apiVersion": "v1",
            "kind": format!("{kind}List"),
            "metadata": {"resourceVersion": "100"},
            "items": items,
        })
    };
    LoopbackCluster::serve(vec![
        (
            "/api/v1",
            json!({
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": "v1",
                "resources": [resource("configmaps", "ConfigMap"), resource("pods", "Pod")],
            }),
        ),
        ("/api/v1/configmaps", list("ConfigMap", configmaps)),
        ("/api/v1/namespaces/eu-1/pods", pod_list(Vec::new())),
        pods_everywhere,
    ])
    .await
}

/// ConfigMap `eu-1/api` as the cluster runs it, with `message`.
fn live_configmap(message: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "api",
            "namespace": "eu-1",
            "uid": "uid-eu-1-api",
            "resourceVersion": "90",
            "labels": {"gitopshq.io/tenant": "eu-1"},
        },
        "data": {"message": message},
    })
}

/// The answer to the read of cluster `eu`'s kubeconfig Secret, pointing at `api`.
fn kubeconfig_of(api: &LoopbackCluster) -> Reply {
    Reply::Json(mock_api::kubeconfig_secret(
        "gitopshq-system",
        "cluster-eu",
        &mock_api::kubeconfig(&api.url),
    ))
}

/// The reads of one tenant Argo CD synced to `commit`: its Application, then the cluster's
/// kubeconfig Secret (the release's objects are then read from `api`'s caches).
fn reads_of_a_synced_tenant(commit: &str, api: &LoopbackCluster) -> Scenario {
    Scenario::new()
        .expect(Method::GET, APPLICATION, synced_application(commit))
        .expect(Method::GET, KUBECONFIG_SECRET, kubeconfig_of(api))
}

/// The status writes of tenant `eu-1` and workload `api` that follow an observation.
fn tenant_and_workload(scenario: Scenario) -> Scenario {
    scenario
        .status_patch(&Tenant::test("eu-1", "shop", "staging", "eu"))
        .status_patch(&Workload::test("api", "shop", "web", "1.0.0"))
}

/// Flux has no Kustomization for tenant `eu-1` yet: the release stays as it is, written once,
/// and nothing else is read.
fn not_applied_by_flux(release: &Release) -> Scenario {
    tenant_and_workload(
        Scenario::new()
            .expect(
                Method::GET,
                KUSTOMIZATION,
                Reply::Error(
                    StatusCode::NOT_FOUND,
                    "kustomizations.kustomize.toolkit.fluxcd.io \"shop-staging-eu-1\" not found"
                        .into(),
                ),
            )
            .status_patch(release),
    )
}

/// A phase change judged from the index alone: the release's status and its Event, then the
/// tenant and workload writes.
fn judged_without_reads(release: &Release) -> Scenario {
    tenant_and_workload(Scenario::new().status_patch(release).event("shop"))
}

/// Delivery through Argo CD to workload cluster `eu`: the repository holding the release's
/// commit, and the cluster's API server.
struct ArgoCdDelivery {
    repository: Repository,
    api: LoopbackCluster,
}

impl ArgoCdDelivery {
    /// The cluster runs `configmaps` in `eu-1`.
    async fn running(configmaps: Vec<Value>) -> Self {
        Self {
            repository: repository(),
            api: workload_cluster(configmaps).await,
        }
    }

    /// The same, through credentials that may read pods only in `eu-1`.
    async fn through_namespace_only_credentials(configmaps: Vec<Value>) -> Self {
        Self {
            repository: repository(),
            api: namespace_only_cluster(configmaps).await,
        }
    }

    fn commit(&self) -> &str {
        &self.repository.commit
    }

    fn index(&self) -> Index {
        shop(&self.repository.url, DeliveryMode::ArgoCD)
    }

    /// Release `r1` as delivered at `delivered_at` and then written as `status`.
    fn release(&self, delivered_at: &str, status: Value) -> Release {
        delivered("r1", self.commit(), delivered_at, status)
    }

    /// The reads of tenant `eu-1`, synced to the commit.
    fn reads(&self) -> Scenario {
        reads_of_a_synced_tenant(self.commit(), &self.api)
    }

    /// The reads, the release's new phase and its Event, then the tenant and workload writes.
    fn phase_change(&self, release: &Release) -> Scenario {
        tenant_and_workload(self.reads().status_patch(release).event("shop"))
    }
}

/// Checks the tenant and workload writes (the last two requests) report `health` for release
/// `r1` at `commit`; returns the tenant's status.
fn assert_followers(seen: &[Seen], commit: &str, health: &str) -> Value {
    let [.., tenant, workload] = seen else {
        panic!("fewer than two requests: {seen:#?}");
    };
    assert!(
        tenant.path.ends_with("/tenants/eu-1/status"),
        "{}",
        tenant.path
    );
    let status = &tenant.body["status"];
    assert_eq!(status["lastRelease"], "r1");
    assert_eq!(status["commit"], commit);
    assert_eq!(status["health"], health);
    assert!(
        workload.path.ends_with("/workloads/api/status"),
        "{}",
        workload.path
    );
    let staging = &workload.body["status"]["environments"]["staging"];
    assert_eq!(staging["release"], "r1");
    assert_eq!(staging["version"], "1.0.0");
    assert_eq!(staging["commit"], commit);
    assert_eq!(staging["health"], health);
    status.clone()
}

#[tokio::test]
async fn a_deployed_release_synced_by_argocd_whose_objects_run_becomes_healthy() {
    let argocd = ArgoCdDelivery::running(vec![live_configmap("v2")]).await;
    let release = argocd.release("2026-12-01T09:58:00Z", json!({}));
    let scenario = argocd.phase_change(&release);

    let (action, seen) = run(argocd.index(), release, scenario).await;

    // Health was read from the cluster's caches: discovery, then one list (and a watch) of
    // the tenant-labelled ConfigMaps and, once the credentials were found to list pods
    // everywhere (a list of at most one), one of the cluster's pods; the crash-looping pod of
    // another namespace is not the tenant's.
    let asked = argocd.api.requests();
    assert_eq!(asked[0], "GET /api/v1?");
    assert!(
        asked
            .iter()
            .any(|r| r.starts_with("GET /api/v1/configmaps?")
                && r.contains("labelSelector=gitopshq.io%2Ftenant")
                && !r.contains("watch=true")),
        "{asked:#?}"
    );
    assert_pods_read_from(&asked, "/api/v1/pods");
    let status = &seen[2].body["status"];
    assert_eq!(status["phase"], "Healthy");
    assert_eq!(status["reason"], reasons::HEALTHY);
    assert_eq!(status["message"], "1 of 1 tenants healthy");
    assert_eq!(status["tenants"][0]["phase"], "Healthy");
    assert_eq!(status["tenants"][0]["health"], "Healthy");
    assert_eq!(
        status["tenants"][0]["message"],
        "1 objects delivered, all present"
    );
    assert_eq!(condition(status, types::HEALTHY)["status"], "True");
    assert_eq!(condition(status, types::READY)["status"], "True");
    assert_eq!(
        status["timeline"].as_array().unwrap().last().unwrap()["phase"],
        "Healthy"
    );
    // Nothing drifted: no Drifted condition appears.
    assert!(
        status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["type"] != types::DRIFTED),
        "{status:#}"
    );
    let event = assert_event(&seen[3], "Normal", reasons::HEALTHY);
    assert_eq!(event["note"], "1 of 1 tenants healthy");
    assert_followers(&seen, argocd.commit(), "Healthy");
    assert_eq!(seen.len(), 6);
    // Settled: looked at again at the health interval.
    assert_eq!(action, Action::requeue(Duration::from_secs(2)));
}

#[tokio::test]
async fn credentials_that_may_not_list_pods_everywhere_are_read_per_namespace() {
    let argocd =
        ArgoCdDelivery::through_namespace_only_credentials(vec![live_configmap("v2")]).await;
    let release = argocd.release("2026-12-01T09:58:00Z", json!({}));
    let scenario = argocd.phase_change(&release);

    let (_, seen) = run(argocd.index(), release, scenario).await;

    assert_pods_read_from(&argocd.api.requests(), "/api/v1/namespaces/eu-1/pods");
    let status = &seen[2].body["status"];
    assert_eq!(status["phase"], "Healthy", "{status:#}");
    assert_eq!(status["tenants"][0]["health"], "Healthy");
}

#[tokio::test]
async fn a_healthy_release_whose_object_is_gone_from_the_cluster_is_degraded() {
    // The ConfigMap was deleted behind the engine's back.
    let argocd = ArgoCdDelivery::running(Vec::new()).await;
    let release = argocd.release("2026-12-01T09:00:00Z", healthy_since_nine());
    let scenario = argocd.phase_change(&release);

    let (action, seen) = run(argocd.index(), release, scenario).await;

    let status = &seen[2].body["status"];
    // Missing after it was Healthy: removed, not yet to come.
    assert_eq!(status["phase"], "Degraded");
    assert_eq!(status["reason"], reasons::DEGRADED);
    assert_eq!(
        status["message"],
        "0 of 1 tenants healthy; eu-1: ConfigMap eu-1/api is not on the cluster yet"
    );
    assert_eq!(status["tenants"][0]["phase"], "Degraded");
    assert_eq!(status["tenants"][0]["health"], "Degraded");
    let healthy = condition(status, types::HEALTHY);
    assert_eq!(healthy["status"], "False");
    assert_eq!(healthy["reason"], reasons::DEGRADED);
    assert_eq!(condition(status, types::READY)["status"], "False");
    assert_event(&seen[3], "Warning", reasons::DEGRADED);
    assert_followers(&seen, argocd.commit(), "Degraded");
    assert_eq!(seen.len(), 6);
    assert_eq!(action, Action::requeue(Duration::from_secs(2)));
}

#[tokio::test]
async fn a_live_object_edited_by_hand_is_reported_as_drift_once() {
    let argocd = ArgoCdDelivery::running(vec![live_configmap("edited by hand")]).await;
    let mut healthy = healthy_since_nine();
    healthy["tenants"][0]["message"] = json!("1 objects delivered, all present");
    let release = argocd.release("2026-12-01T09:00:00Z", healthy);
    // The drift Event comes first; still Healthy, so no phase Event.
    let scenario = tenant_and_workload(argocd.reads().event("shop").status_patch(&release));

    let (action, seen) = run(argocd.index(), release.clone(), scenario).await;

    let event = assert_event(&seen[2], "Warning", reasons::DRIFT_DETECTED);
    let note = event["note"].as_str().unwrap();
    assert!(
        note.starts_with("eu-1: ConfigMap eu-1/api differs: "),
        "{note}"
    );
    assert!(note.contains("data.message"), "{note}");
    let status = &seen[3].body["status"];
    assert_eq!(status["phase"], "Healthy");
    let drifted = condition(status, types::DRIFTED);
    assert_eq!(drifted["status"], "True");
    assert_eq!(drifted["reason"], reasons::DRIFT_DETECTED);
    assert_eq!(drifted["message"], note);
    let tenant = assert_followers(&seen, argocd.commit(), "Healthy");
    // The fleet view's drift badge: the tenant names the release that found it.
    let tenant_drift = condition(&tenant, types::DRIFTED);
    assert_eq!(tenant_drift["status"], "True");
    assert!(
        tenant_drift["message"]
            .as_str()
            .unwrap()
            .starts_with("release r1: ConfigMap eu-1/api differs: "),
        "{tenant_drift}"
    );
    assert_eq!(seen.len(), 6);
    assert_eq!(action, Action::requeue(Duration::from_secs(2)));

    // Looked at again with what was written (release, tenant and workload as stored): the
    // drift is known, so only the reads are made; no Event, no write.
    let mut again = release;
    again.status = Some(from_json(seen[3].body["status"].clone()));
    let mut index = argocd.index();
    let mut tenant = Tenant::test("eu-1", "shop", "staging", "eu");
    tenant.status = Some(from_json(seen[4].body["status"].clone()));
    index.tenants.insert(tenant);
    let mut workload = Workload::test("api", "shop", "web", "1.0.0");
    workload.status = Some(from_json(seen[5].body["status"].clone()));
    index.workloads.insert(workload);
    let (action, seen) = run(index, again, argocd.reads()).await;

    assert_eq!(seen.len(), 2);
    assert_eq!(action, Action::requeue(Duration::from_secs(2)));
}

#[tokio::test]
async fn a_release_flux_has_not_applied_yet_stays_deployed_and_says_what_it_waits_for() {
    let release = just_delivered("2026-12-01T09:58:00Z");
    // Neither the repository nor the cluster is read before Flux applied the commit.
    let scenario = not_applied_by_flux(&release);

    let (action, seen) = run(shop(NOWHERE, DeliveryMode::Flux), release, scenario).await;

    let status = &seen[1].body["status"];
    assert_eq!(status["phase"], "Deployed");
    // The reason the delivery gave stays; only the message is new: no Event.
    assert_eq!(status["reason"], reasons::COMMITTED);
    let waiting = "Flux Kustomization flux-system/shop-staging-eu-1 does not exist yet (the environment's root Kustomization creates it from the repository)";
    assert_eq!(
        status["message"],
        format!("0 of 1 tenants healthy; eu-1: {waiting}")
    );
    assert_eq!(status["tenants"][0]["phase"], "Deployed");
    assert_eq!(status["tenants"][0]["health"], "Progressing");
    assert_eq!(status["tenants"][0]["message"], waiting);
    assert_eq!(
        status["timeline"].as_array().unwrap().len(),
        1,
        "{status:#}"
    );
    assert_followers(&seen, COMMIT, "Progressing");
    assert_eq!(seen.len(), 4);
    // Still rolling out: looked at again within a second.
    assert_eq!(action, Action::requeue(Duration::from_secs(1)));
}

#[tokio::test]
async fn a_commit_flux_failed_to_apply_fails_the_release_with_fluxs_message() {
    let release = just_delivered("2026-12-01T09:58:00Z");
    let kustomization = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "shop-staging-eu-1", "namespace": "flux-system"},
        "status": {
            "lastAttemptedRevision": format!("main@sha1:{COMMIT}"),
            "conditions": [{
                "type": "Ready",
                "status": "False",
                "reason": "ReconciliationFailed",
                "message": "ConfigMap/eu-1/api dry-run failed: namespaces \"eu-1\" not found",
            }],
        },
    });
    let scenario = tenant_and_workload(
        Scenario::new()
            .expect(Method::GET, KUSTOMIZATION, Reply::Json(kustomization))
            .status_patch(&release)
            .event("shop"),
    );

    let (action, seen) = run(shop(NOWHERE, DeliveryMode::Flux), release, scenario).await;

    let status = &seen[1].body["status"];
    assert_eq!(status["phase"], "Failed");
    assert_eq!(status["reason"], reasons::SYNC_FAILED);
    assert_eq!(
        status["message"],
        "release r1 could not be applied to tenant eu-1: Flux could not apply commit 0123456 (flux-system/shop-staging-eu-1, ReconciliationFailed): ConfigMap/eu-1/api dry-run failed: namespaces \"eu-1\" not found; fix the cause and retry (annotate gitopshq.io/retry)"
    );
    assert_eq!(status["tenants"][0]["phase"], "Failed");
    let delivered = condition(status, types::DELIVERED);
    assert_eq!(delivered["status"], "False");
    assert_eq!(delivered["reason"], reasons::SYNC_FAILED);
    assert_event(&seen[2], "Warning", reasons::SYNC_FAILED);
    assert_followers(&seen, COMMIT, "Progressing");
    assert_eq!(seen.len(), 5);
    // Failed: nothing until someone retries.
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_release_on_a_disconnected_cluster_fails_at_the_progress_deadline_without_asking_it() {
    let mut index = shop(NOWHERE, DeliveryMode::ArgoCD);
    index.clusters.insert(cluster(json!({
        "phase": "Disconnected",
        "lastHeartbeat": "2026-12-01T09:30:00Z",
        "message": "API server of cluster eu does not answer: connection refused",
    })));
    // Delivered 20 minutes ago; the default deadline is 10.
    let release = just_delivered("2026-12-01T09:40:00Z");
    // No read at all: neither Argo CD nor the cluster's Secret is asked.
    let scenario = judged_without_reads(&release);

    let (action, seen) = run(index, release, scenario).await;

    let status = &seen[0].body["status"];
    assert_eq!(status["phase"], "Failed");
    assert_eq!(status["reason"], reasons::PROGRESS_DEADLINE_EXCEEDED);
    assert_eq!(
        status["message"],
        "release r1 is not synced and healthy on tenant eu-1 after 10m (Environment staging spec.progressDeadline): cluster eu is Disconnected: API server of cluster eu does not answer: connection refused; see the workload's events (kubectl describe) and gitopshq logs r1"
    );
    assert_eq!(status["tenants"][0]["health"], "Unknown");
    let healthy = condition(status, types::HEALTHY);
    assert_eq!(healthy["status"], "False");
    assert_eq!(healthy["reason"], reasons::PROGRESS_DEADLINE_EXCEEDED);
    assert_event(&seen[1], "Warning", reasons::PROGRESS_DEADLINE_EXCEEDED);
    assert_followers(&seen, COMMIT, "Unknown");
    assert_eq!(seen.len(), 4);
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_healthy_release_whose_content_a_newer_release_delivered_is_superseded() {
    let mut index = shop(NOWHERE, DeliveryMode::ArgoCD);
    let healthy = json!({
        "phase": "Healthy",
        "reason": reasons::HEALTHY,
        "tenants": [{"name": "eu-1", "phase": "Healthy", "health": "Healthy"}],
    });
    let newer = delivered(
        "r2",
        "fedcba9876543210fedcba9876543210fedcba98",
        "2026-12-01T09:30:00Z",
        healthy.clone(),
    );
    index.releases.insert(newer);
    let release = delivered("r1", COMMIT, "2026-12-01T09:00:00Z", healthy);
    // Nothing is observed: the release no longer describes what runs.
    let scenario = Scenario::new().status_patch(&release).event("shop");

    let (action, seen) = run(index, release, scenario).await;

    let status = &seen[0].body["status"];
    assert_eq!(status["phase"], "Superseded");
    assert_eq!(status["reason"], reasons::SUPERSEDED);
    assert_eq!(
        status["message"],
        "release r2 delivered newer content to every tenant and workload of this release"
    );
    assert_eq!(condition(status, types::READY)["status"], "False");
    assert_event(&seen[1], "Normal", reasons::SUPERSEDED);
    assert_eq!(seen.len(), 2);
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_release_an_older_one_does_not_supersede_is_observed_as_usual() {
    // r0 was delivered before r1: it covers the same pairs but is older.
    let mut index = shop(NOWHERE, DeliveryMode::Flux);
    index.releases.insert(delivered(
        "r0",
        "fedcba9876543210fedcba9876543210fedcba98",
        "2026-12-01T09:00:00Z",
        json!({"phase": "Healthy", "reason": reasons::HEALTHY}),
    ));
    let release = just_delivered("2026-12-01T09:58:00Z");
    let scenario = not_applied_by_flux(&release);

    let (_, seen) = run(index, release, scenario).await;

    assert_eq!(seen[1].body["status"]["phase"], "Deployed");
}

#[tokio::test]
async fn a_cancelled_release_cancels_its_approval_request_then_itself() {
    let mut index = shop("", DeliveryMode::ArgoCD);
    let mut request = ApprovalRequest::test("r1", "shop", "staging-approval");
    request.metadata.owner_references = Some(vec![from_json(json!({
        "apiVersion": "gitopshq.io/v1alpha1",
        "kind": "Release",
        "name": "r1",
        "uid": "uid-shop-r1",
        "controller": true,
    }))]);
    index.approval_requests.insert(request.clone());
    let mut release = Release::test("r1", "shop").submitted();
    release.spec.cancellation = Some(from_json(json!({
        "user": "alice",
        "reason": "wrong values",
    })));
    release.status = Some(from_json(json!({
        "phase": "PendingApproval",
        "reason": reasons::AWAITING_APPROVAL,
        "approvalRequest": "r1",
    })));
    let scenario = Scenario::new()
        .status_patch(&request)
        .status_patch(&release)
        .event("shop");

    let (action, seen) = run(index, release, scenario).await;

    let message = "release r1 was cancelled by alice: wrong values; nothing of it is delivered and approvals no longer count; create a new release to deliver its changes";
    let cancelled_request = &seen[0].body["status"];
    assert_eq!(cancelled_request["phase"], "Cancelled");
    assert_eq!(cancelled_request["message"], message);
    let status = &seen[1].body["status"];
    assert_eq!(status["phase"], "Cancelled");
    assert_eq!(status["reason"], reasons::CANCELLED);
    assert_eq!(status["message"], message);
    let approved = condition(status, types::APPROVED);
    assert_eq!(approved["status"], "False");
    assert_eq!(approved["reason"], reasons::CANCELLED);
    // The timeline names who cancelled it.
    let last = status["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["phase"], "Cancelled");
    assert_eq!(last["actor"], "alice");
    let event = assert_event(&seen[2], "Normal", reasons::CANCELLED);
    assert_eq!(event["note"], message);
    assert_eq!(seen.len(), 3);
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_cancelled_release_without_an_approval_request_looks_it_up_then_cancels_itself() {
    let mut release = Release::test("r1", "shop").submitted();
    release.spec.cancellation = Some(from_json(json!({"user": "alice"})));
    release.status = Some(from_json(
        json!({"phase": "Approved", "reason": "Approved"}),
    ));
    let scenario = approval_request_not_found()
        .status_patch(&release)
        .event("shop");

    let (action, seen) = run(shop("", DeliveryMode::ArgoCD), release, scenario).await;

    let status = &seen[1].body["status"];
    assert_eq!(status["phase"], "Cancelled");
    assert_eq!(
        status["message"],
        "release r1 was cancelled by alice (no reason given); nothing of it is delivered and approvals no longer count; create a new release to deliver its changes"
    );
    assert_eq!(seen[2].body["reason"], reasons::CANCELLED);
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_cancellation_seen_after_delivery_started_does_not_cancel_a_deployed_release() {
    // Admission refuses it; were one to get through, what runs is observed, not cancelled.
    let mut release = just_delivered("2026-12-01T09:58:00Z");
    release.spec.cancellation = Some(from_json(json!({"user": "alice"})));
    let scenario = not_applied_by_flux(&release);

    let (_, seen) = run(shop(NOWHERE, DeliveryMode::Flux), release, scenario).await;

    assert_eq!(seen[1].body["status"]["phase"], "Deployed");
}

#[tokio::test]
async fn a_release_whose_repository_cannot_be_addressed_says_so_and_fails_at_the_deadline() {
    // The project lost its repository URL; the release was delivered 20 minutes ago (the
    // default deadline is 10).
    let release = just_delivered("2026-12-01T09:40:00Z");
    // Nothing is read: without the repository no engine or cluster can be judged.
    let scenario = judged_without_reads(&release);

    let (action, seen) = run(shop("", DeliveryMode::ArgoCD), release, scenario).await;

    let status = &seen[0].body["status"];
    assert_eq!(status["phase"], "Failed");
    assert_eq!(status["reason"], reasons::PROGRESS_DEADLINE_EXCEEDED);
    assert_eq!(
        status["message"],
        "release r1 is not synced and healthy on tenant eu-1 after 10m (Environment staging spec.progressDeadline): cannot read the GitOps repository: project shop has no spec.repository.url: set the GitOps repository; see the workload's events (kubectl describe) and gitopshq logs r1"
    );
    assert_eq!(status["tenants"][0]["health"], "Unknown");
    assert_eq!(seen[1].body["type"], "Warning");
    assert_followers(&seen, COMMIT, "Unknown");
    assert_eq!(seen.len(), 4);
    assert_eq!(action, Action::await_change());
}
