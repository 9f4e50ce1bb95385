//! Argo CD, run by the harness, delivers a repository served by the Git server into the workload
//! cluster through an AppProject made for it, follows new commits when asked to refresh, and
//! delivers nothing through the hardened `default` AppProject.

mod common;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use common::git;
use gitopshq_localplane::{ADMIN, ARGOCD_NAMESPACE, RealLoop, WorkloadCluster};
use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{ConfigMap, Namespace, Secret},
};
use kube::{
    Api,
    api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(120);
const CLUSTER: &str = "workload";
const REPOSITORY: &str = "demo.git";
const APP_PATH: &str = "apps/demo";

/// Writes the application folder with `greeting` in its ConfigMap, commits, pushes to `main`
/// and returns the commit.
fn push(clone: &Path, greeting: &str) -> String {
    let folder = clone.join(APP_PATH);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("deployment.yaml"),
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo
spec:
  replicas: 1
  selector:
    matchLabels: { app: demo }
  template:
    metadata:
      labels: { app: demo }
    spec:
      containers:
        - name: demo
          image: registry.k8s.io/pause:3.10
"#,
    )
    .unwrap();
    std::fs::write(
        folder.join("configmap.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  greeting: {greeting}\n"
        ),
    )
    .unwrap();
    git(clone, &["add", "-A"]);
    git(clone, &["commit", "--quiet", "-m", greeting]);
    git(clone, &["push", "--quiet", "origin", "HEAD:main"]);
    git(clone, &["rev-parse", "HEAD"])
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", kind),
        plural,
    )
}

fn object(value: Value) -> DynamicObject {
    serde_json::from_value(value).expect("a valid object")
}

fn application(name: &str, project: &str, url: &str, namespace: &str) -> DynamicObject {
    object(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": { "name": name },
        "spec": {
            "project": project,
            "source": { "repoURL": url, "targetRevision": "main", "path": APP_PATH },
            "destination": { "name": CLUSTER, "namespace": namespace },
            "syncPolicy": {
                "automated": {},
                "syncOptions": ["CreateNamespace=true"],
            },
        },
    }))
}

fn pointer<'a>(app: &'a DynamicObject, path: &str) -> Option<&'a Value> {
    app.data.pointer(path)
}

fn text(app: &DynamicObject, path: &str) -> String {
    pointer(app, path)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Polls `check` every 200 ms until it returns `Some`, or panics after `timeout` with `context`.
async fn wait_until<T, F, Fut>(
    timeout: Duration,
    mut context: impl AsyncFnMut() -> String,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() > deadline {
            panic!("not within {timeout:?}:\n{}", context().await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the Application reports `revision` as synced, returning how long that took, or
/// `None` after `timeout`.
async fn synced_to(
    apps: &Api<DynamicObject>,
    name: &str,
    revision: &str,
    timeout: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        let app = apps.get(name).await.expect("the Application is readable");
        if text(&app, "/status/sync/status") == "Synced"
            && text(&app, "/status/sync/revision") == revision
        {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

async fn request_refresh(apps: &Api<DynamicObject>, name: &str, kind: &str) {
    apps.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(
            json!({ "metadata": { "annotations": { "argocd.argoproj.io/refresh": kind } } }),
        ),
    )
    .await
    .expect("the refresh annotation is set");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argocd_delivers_a_repository_through_its_project_only() {
    let started = Instant::now();
    let real_loop = RealLoop::builder()
        .argocd()
        .workload(WorkloadCluster::builder().cluster_name(CLUSTER).nodes(1))
        .progress(|line| eprintln!("{line}"))
        .start()
        .await
        .expect("the loop with Argo CD starts");
    eprintln!("loop ready after {:.1} s", started.elapsed().as_secs_f64());
    let argocd = real_loop.argocd().expect("the loop runs Argo CD");
    assert!(real_loop.flux().is_none());
    assert_eq!(argocd.namespace(), ARGOCD_NAMESPACE);
    let workload = real_loop.workload.env();
    let management = real_loop.management.client().await.unwrap();
    let workload_client = workload.client().await.unwrap();

    // The repository.
    real_loop.git.create_bare_repository(REPOSITORY).unwrap();
    let url = real_loop.git.url(REPOSITORY);
    let work = tempfile::tempdir().unwrap();
    git(work.path(), &["clone", "--quiet", &url, "clone"]);
    let clone = work.path().join("clone");
    let first = push(&clone, "hello");

    // The workload cluster, as Argo CD's cluster Secret has it.
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": format!("cluster-{CLUSTER}"),
            "labels": { "argocd.argoproj.io/secret-type": "cluster" },
        },
        "type": "Opaque",
        "stringData": {
            "name": CLUSTER,
            "server": workload.server_url(),
            "config": json!({
                "bearerToken": workload.token_for(ADMIN).unwrap(),
                "tlsClientConfig": { "caData": BASE64.encode(workload.ca_pem()) },
            }).to_string(),
        },
    }))
    .unwrap();
    Api::<Secret>::namespaced(management.clone(), ARGOCD_NAMESPACE)
        .create(&PostParams::default(), &secret)
        .await
        .expect("the cluster Secret is created");

    let projects: Api<DynamicObject> = Api::namespaced_with(
        management.clone(),
        ARGOCD_NAMESPACE,
        &resource("AppProject", "appprojects"),
    );
    projects
        .create(
            &PostParams::default(),
            &object(json!({
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AppProject",
                "metadata": { "name": "demo" },
                "spec": {
                    "sourceRepos": [url],
                    "destinations": [{ "name": CLUSTER, "namespace": "demo" }],
                    "clusterResourceWhitelist": [{ "group": "", "kind": "Namespace", "name": "demo" }],
                },
            })),
        )
        .await
        .expect("the AppProject is created");
    let apps: Api<DynamicObject> = Api::namespaced_with(
        management.clone(),
        ARGOCD_NAMESPACE,
        &resource("Application", "applications"),
    );
    let created = Instant::now();
    apps.create(
        &PostParams::default(),
        &application("demo", "demo", &url, "demo"),
    )
    .await
    .expect("the Application is created");

    let status = |name: &'static str| {
        let apps = apps.clone();
        let real_loop = &real_loop;
        async move || {
            let app = apps.get(name).await.map(|a| a.data["status"].clone());
            format!(
                "Application {name} status: {}\n{}",
                serde_json::to_string_pretty(&app.unwrap_or_default()).unwrap_or_default(),
                real_loop.log_tails()
            )
        }
    };

    match synced_to(&apps, "demo", &first, WAIT).await {
        Some(_) => eprintln!(
            "Application demo Synced at {first} {:.1} s after it was created",
            created.elapsed().as_secs_f64()
        ),
        None => panic!(
            "not Synced at {first} within {WAIT:?}:\n{}",
            status("demo")().await
        ),
    }
    let deployments: Api<Deployment> = Api::namespaced(workload_client.clone(), "demo");
    wait_until(WAIT, status("demo"), || {
        let deployments = deployments.clone();
        async move {
            let deployment = deployments.get_opt("demo").await.ok().flatten()?;
            let available = deployment
                .status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Available" && c.status == "True");
            available.then_some(())
        }
    })
    .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(workload_client.clone(), "demo");
    let greeting = |config_map: ConfigMap| config_map.data.and_then(|d| d.get("greeting").cloned());
    assert_eq!(
        greeting(config_maps.get("demo").await.unwrap()).as_deref(),
        Some("hello")
    );
    wait_until(WAIT, status("demo"), || {
        let apps = apps.clone();
        async move {
            let app = apps.get("demo").await.ok()?;
            (text(&app, "/status/health/status") == "Healthy").then_some(())
        }
    })
    .await;
    eprintln!(
        "Deployment demo/demo available and Application Healthy {:.1} s after the Application was created",
        created.elapsed().as_secs_f64()
    );

    // A new commit, then a refresh request: first a normal one, then a hard one.
    let second = push(&clone, "again");
    let asked = Instant::now();
    request_refresh(&apps, "demo", "normal").await;
    match synced_to(&apps, "demo", &second, WAIT).await {
        Some(took) => eprintln!(
            "refresh=normal: Synced at the new commit after {:.1} s",
            took.as_secs_f64()
        ),
        None => eprintln!(
            "refresh=normal: still not at the new commit after {:.1} s",
            asked.elapsed().as_secs_f64()
        ),
    }
    let third = push(&clone, "third");
    request_refresh(&apps, "demo", "hard").await;
    match synced_to(&apps, "demo", &third, WAIT).await {
        Some(took) => eprintln!(
            "refresh=hard: Synced at the new commit after {:.1} s",
            took.as_secs_f64()
        ),
        None => panic!(
            "refresh=hard: not Synced at {third} within {WAIT:?}:\n{}",
            status("demo")().await
        ),
    }
    wait_until(WAIT, status("demo"), || {
        let config_maps = config_maps.clone();
        async move {
            let config_map = config_maps.get("demo").await.ok()?;
            (greeting(config_map).as_deref() == Some("third")).then_some(())
        }
    })
    .await;

    // The hardened default project permits no repository and no destination: an Application
    // that names it is refused, and nothing reaches the workload cluster.
    apps.create(
        &PostParams::default(),
        &application("escape", "default", &url, "escape"),
    )
    .await
    .expect("the Application is created");
    let conditions = wait_until(WAIT, status("escape"), || {
        let apps = apps.clone();
        async move {
            let app = apps.get("escape").await.ok()?;
            let conditions = pointer(&app, "/status/conditions")?.as_array()?.clone();
            (!conditions.is_empty()).then_some(conditions)
        }
    })
    .await;
    for condition in &conditions {
        eprintln!(
            "default project: condition {}: {}",
            condition["type"].as_str().unwrap_or_default(),
            condition["message"].as_str().unwrap_or_default()
        );
    }
    assert!(
        conditions.iter().any(|c| c["type"] == "InvalidSpecError"
            && c["message"]
                .as_str()
                .is_some_and(|m| m.contains("not permitted") || m.contains("do not match"))),
        "{conditions:?}"
    );
    // Long enough for a sync that would have started to show.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let escape = apps.get("escape").await.unwrap();
    assert_ne!(
        text(&escape, "/status/sync/status"),
        "Synced",
        "{:?}",
        escape.data["status"]
    );
    assert!(
        pointer(&escape, "/status/operationState").is_none(),
        "{:?}",
        escape.data["status"]
    );
    assert!(
        Api::<Namespace>::all(workload_client.clone())
            .get_opt("escape")
            .await
            .unwrap()
            .is_none(),
        "the default project delivered a namespace"
    );
}
