//! The real GitOps loop the harness runs, proven component by component without GitOpsHQ:
//! the workload cluster's controller manager, scheduler and KWOK run Deployments for real
//! (scaling, garbage collection, a crash loop and its way back), and Flux syncs a repository
//! served by the harness's Git server into the workload cluster.
//!
//! One loop serves every test of this binary (started by the first test that asks, on a runtime
//! of its own); each test works in namespaces of its own. The first run on a machine builds the
//! Go components (see `tests/testenv/README.md`).

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gitopshq_e2e::{fails, git, ok, with_stdin};
use gitopshq_localplane::{CRASH_LOOP, RealLoop, SIMULATE_LABEL, TestEnv};
use serde_json::Value;

/// Long enough for two busy cores; a healthy loop gets there in seconds.
const WAIT: Duration = Duration::from_secs(120);

fn shared() -> &'static RealLoop {
    static SHARED: OnceLock<&'static RealLoop> = OnceLock::new();
    SHARED.get_or_init(|| {
        let (started, real_loop) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("real-loop".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a runtime for the loop");
                runtime.block_on(async move {
                    let begun = Instant::now();
                    let real_loop = RealLoop::start()
                        .await
                        .unwrap_or_else(|e| panic!("the real GitOps loop does not start: {e}"));
                    eprintln!("the real GitOps loop started in {:?}", begun.elapsed());
                    let real_loop: &'static RealLoop = Box::leak(Box::new(real_loop));
                    started
                        .send(real_loop)
                        .expect("the test waits for the loop");
                    std::future::pending::<()>().await;
                });
            })
            .expect("a thread for the loop");
        real_loop.recv().expect("the real GitOps loop starts")
    })
}

/// Polls `check` every half second until it returns `Some`; on timeout, fails with what was
/// last seen and the controllers' logs.
fn wait_until<T>(what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        match check() {
            Ok(found) => return found,
            Err(seen) if Instant::now() > deadline => panic!(
                "{what}: not reached after {WAIT:?}; last seen: {seen}\n{}",
                shared().log_tails()
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

fn apply(env: &TestEnv, yaml: &str) {
    let out = with_stdin(env.kubectl("admin").args(["apply", "-f", "-"]), yaml);
    assert!(
        out.status.success(),
        "kubectl apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn get_json(env: &TestEnv, args: &[&str]) -> Value {
    let out = ok(env.kubectl("admin").args(args).args(["-o", "json"]));
    serde_json::from_str(&out).expect("kubectl prints JSON")
}

/// The pods of `namespace` with label `app=<app>`, ignoring those being deleted.
fn pods(env: &TestEnv, namespace: &str, app: &str) -> Vec<Value> {
    get_json(
        env,
        &["-n", namespace, "get", "pods", "-l", &format!("app={app}")],
    )["items"]
        .as_array()
        .expect("a pod list")
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .cloned()
        .collect()
}

fn name(object: &Value) -> String {
    object["metadata"]["name"]
        .as_str()
        .expect("a name")
        .to_owned()
}

fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn is_true(object: &Value, type_: &str) -> bool {
    condition(object, type_).is_some_and(|c| c["status"] == "True")
}

fn deployment(namespace: &str, name: &str, replicas: u32, labels: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: {namespace}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {namespace}
spec:
  replicas: {replicas}
  progressDeadlineSeconds: 20
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}{labels}
    spec:
      containers:
      - name: {name}
        image: registry.example/{name}:1.0.0
"#
    )
}

#[test]
fn deployments_schedule_become_ready_scale_and_are_collected() {
    let real_loop = shared();
    let workload = real_loop.workload.env();
    apply(workload, &deployment("scale", "web", 3, ""));

    let ready = wait_until("3 Ready pods of scale/web", || {
        let pods = pods(workload, "scale", "web");
        let ready: Vec<Value> = pods
            .iter()
            .filter(|p| is_true(p, "Ready"))
            .cloned()
            .collect();
        if ready.len() == 3 && pods.len() == 3 {
            Ok(ready)
        } else {
            Err(format!("{} pods, {} Ready", pods.len(), ready.len()))
        }
    });
    let nodes = real_loop.workload.node_names();
    for pod in &ready {
        let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
        assert!(
            nodes.iter().any(|n| n == node),
            "{} runs on {node:?}, not a KWOK node",
            name(pod)
        );
        assert_eq!(pod["status"]["phase"], "Running");
        // A ReplicaSet of the Deployment made the pod: the controller manager did its work.
        let owner = &pod["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "ReplicaSet", "{pod}");
        // The ServiceAccount admission plugin is on: the namespace got its default account.
        assert_eq!(pod["spec"]["serviceAccountName"], "default");
    }
    wait_until("scale/web Available with 3 replicas", || {
        let deployment = get_json(workload, &["-n", "scale", "get", "deployment", "web"]);
        if is_true(&deployment, "Available") && deployment["status"]["availableReplicas"] == 3 {
            Ok(())
        } else {
            Err(deployment["status"].to_string())
        }
    });

    ok(workload
        .kubectl("admin")
        .args(["-n", "scale", "scale", "deployment/web", "--replicas=1"]));
    let left = wait_until("scale/web down to 1 pod", || {
        let pods = pods(workload, "scale", "web");
        if pods.len() == 1 {
            Ok(name(&pods[0]))
        } else {
            Err(format!("{} pods", pods.len()))
        }
    });
    let before: Vec<String> = ready.iter().map(name).collect();
    assert!(before.contains(&left), "{left} is not one of {before:?}");
    // The two others are gone from the API, not only marked for deletion: KWOK finished them.
    wait_until("the two removed pods deleted", || {
        let all = get_json(workload, &["-n", "scale", "get", "pods"]);
        let count = all["items"].as_array().map_or(0, Vec::len);
        if count == 1 {
            Ok(())
        } else {
            Err(format!("{count} pod objects"))
        }
    });

    // Garbage collection: the Deployment's ReplicaSet and pods follow it.
    ok(workload
        .kubectl("admin")
        .args(["-n", "scale", "delete", "deployment", "web"]));
    wait_until("the ReplicaSet and pod of scale/web collected", || {
        let sets = get_json(workload, &["-n", "scale", "get", "replicasets"]);
        let pods = get_json(workload, &["-n", "scale", "get", "pods"]);
        let (sets, pods) = (
            sets["items"].as_array().map_or(0, Vec::len),
            pods["items"].as_array().map_or(0, Vec::len),
        );
        if sets == 0 && pods == 0 {
            Ok(())
        } else {
            Err(format!("{sets} ReplicaSets, {pods} pods"))
        }
    });

    // The namespace controller empties and removes a deleted namespace.
    apply(workload, &deployment("scale", "web", 2, ""));
    ok(workload
        .kubectl("admin")
        .args(["delete", "namespace", "scale", "--wait=false"]));
    wait_until("namespace scale removed", || {
        let out = workload
            .kubectl("admin")
            .args([
                "get",
                "namespace",
                "scale",
                "--ignore-not-found",
                "-o",
                "name",
            ])
            .output()
            .map_err(|e| e.to_string())?;
        let left = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left} {}", String::from_utf8_lossy(&out.stderr)))
        }
    });
}

fn restart_counts(pod: &Value) -> Vec<u64> {
    pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["restartCount"].as_u64().unwrap_or_default())
        .collect()
}

fn crash_looping(pod: &Value) -> bool {
    let statuses = pod["status"]["containerStatuses"].as_array();
    pod["status"]["phase"] == "Running"
        && !is_true(pod, "Ready")
        && statuses.is_some_and(|all| {
            !all.is_empty()
                && all.iter().all(|c| {
                    c["ready"] == false && c["state"]["waiting"]["reason"] == "CrashLoopBackOff"
                })
        })
}

#[test]
fn a_crash_loop_marker_keeps_pods_crashing_until_the_template_drops_it() {
    let real_loop = shared();
    let workload = real_loop.workload.env();
    let marker = format!("\n        {SIMULATE_LABEL}: {CRASH_LOOP}");
    apply(workload, &deployment("crash", "api", 2, &marker));

    let first = wait_until("2 crash-looping pods of crash/api", || {
        let pods = pods(workload, "crash", "api");
        if pods.len() == 2 && pods.iter().all(crash_looping) {
            Ok(pods)
        } else {
            Err(serde_json::to_string(&pods).unwrap_or_default())
        }
    });
    let watched = name(&first[0]);
    let restarts = restart_counts(&first[0]);
    wait_until("the restart count of a crashing pod rising", || {
        let pod = get_json(workload, &["-n", "crash", "get", "pod", &watched]);
        let now = restart_counts(&pod);
        if crash_looping(&pod) && now.iter().zip(&restarts).all(|(now, then)| now > then) {
            Ok(())
        } else {
            Err(format!("{now:?} after {restarts:?}"))
        }
    });
    // The Deployment gives up on its rollout and never becomes available.
    let stuck = wait_until("crash/api past its progress deadline", || {
        let deployment = get_json(workload, &["-n", "crash", "get", "deployment", "api"]);
        match condition(&deployment, "Progressing") {
            Some(c) if c["reason"] == "ProgressDeadlineExceeded" => Ok(deployment),
            _ => Err(deployment["status"].to_string()),
        }
    });
    assert!(!is_true(&stuck, "Available"), "{}", stuck["status"]);
    assert_eq!(
        stuck["status"]["availableReplicas"]
            .as_u64()
            .unwrap_or_default(),
        0,
        "{}",
        stuck["status"]
    );
    assert!(pods(workload, "crash", "api").iter().all(crash_looping));

    // Back to a template without the marker, as a rollback commit would apply it: new pods
    // become Ready and replace the crashing ones.
    apply(workload, &deployment("crash", "api", 2, ""));
    wait_until("crash/api available with 2 Ready pods", || {
        let deployment = get_json(workload, &["-n", "crash", "get", "deployment", "api"]);
        let pods = pods(workload, "crash", "api");
        let ready = pods.iter().filter(|p| is_true(p, "Ready")).count();
        if is_true(&deployment, "Available") && pods.len() == 2 && ready == 2 {
            Ok(())
        } else {
            Err(format!(
                "{} pods, {ready} Ready: {}",
                pods.len(),
                deployment["status"]
            ))
        }
    });
    let crashing = pods(workload, "crash", "api")
        .iter()
        .any(|p| p["metadata"]["labels"][SIMULATE_LABEL] == CRASH_LOOP);
    assert!(!crashing, "a crash-looping pod is left");
}

fn commit_all(work: &Path, message: &str) -> String {
    git(work, &["add", "--all"]);
    git(
        work,
        &[
            "-c",
            "user.name=Platform Team",
            "-c",
            "user.email=platform@example.com",
            "commit",
            "--quiet",
            "-m",
            message,
        ],
    );
    git(work, &["push", "--quiet", "origin", "HEAD:main"]);
    git(work, &["rev-parse", "HEAD"]).trim().to_owned()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent folder")).expect("create folder");
    std::fs::write(path, text).expect("write file");
}

/// The tenant folder of the repository: a namespace, a deployment and, while `with_config`, a
/// ConfigMap that a later commit removes.
fn write_tenant(work: &Path, replicas: u32, with_config: bool) {
    let dir = work.join("apps/shop");
    let mut resources = vec!["namespace.yaml", "deployment.yaml"];
    if with_config {
        resources.push("configmap.yaml");
        write(
            &dir.join("configmap.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cart-config\n  namespace: shop\ndata:\n  currency: EUR\n",
        );
    } else {
        let _ = std::fs::remove_file(dir.join("configmap.yaml"));
    }
    let (namespace, deployment) = deployment("shop", "cart", replicas, "")
        .split_once("---\n")
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .expect("two documents");
    write(&dir.join("namespace.yaml"), &namespace);
    write(&dir.join("deployment.yaml"), &deployment);
    write(
        &dir.join("kustomization.yaml"),
        &format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n{}",
            resources
                .iter()
                .map(|r| format!("- {r}\n"))
                .collect::<String>()
        ),
    );
}

/// Waits until the Kustomization applied `commit` and is Ready; returns it.
fn wait_for_applied(management: &TestEnv, commit: &str) -> Value {
    let revision = format!("main@sha1:{commit}");
    wait_until(&format!("tenants/shop Ready at {revision}"), || {
        let kustomization = get_json(
            management,
            &[
                "-n",
                "tenants",
                "get",
                "kustomizations.kustomize.toolkit.fluxcd.io",
                "shop",
            ],
        );
        if kustomization["status"]["lastAppliedRevision"] == revision.as_str()
            && is_true(&kustomization, "Ready")
        {
            Ok(kustomization)
        } else {
            Err(kustomization["status"].to_string())
        }
    })
}

#[test]
fn flux_applies_each_commit_of_the_served_repository_to_the_workload_cluster() {
    let real_loop = shared();
    let (management, workload) = (&real_loop.management, real_loop.workload.env());
    real_loop
        .git
        .create_bare_repository("fleet.git")
        .expect("a bare repository");
    let url = real_loop.git.url("fleet.git");
    let scratch = tempfile::tempdir().expect("a temporary folder");
    git(scratch.path(), &["clone", "--quiet", &url, "fleet"]);
    let work = scratch.path().join("fleet");
    write_tenant(&work, 2, true);
    let first = commit_all(&work, "shop: cart with 2 replicas");

    // The workload cluster's kubeconfig, in the Kustomization's own namespace.
    ok(management
        .kubectl("admin")
        .args(["create", "namespace", "tenants"]));
    let kubeconfig = scratch.path().join("workload.kubeconfig");
    std::fs::write(
        &kubeconfig,
        workload
            .admin_kubeconfig_yaml()
            .expect("the workload kubeconfig"),
    )
    .expect("write the kubeconfig");
    ok(management.kubectl("admin").args([
        "-n",
        "tenants",
        "create",
        "secret",
        "generic",
        "workload-kubeconfig",
        &format!("--from-file=value={}", kubeconfig.display()),
    ]));
    // Intervals of an hour: only the reconcile request below can make the second sync fast.
    apply(
        management,
        &format!(
            r#"apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: fleet
  namespace: tenants
spec:
  url: {url}
  ref:
    branch: main
  interval: 1h
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: shop
  namespace: tenants
spec:
  sourceRef:
    kind: GitRepository
    name: fleet
  path: ./apps/shop
  prune: true
  wait: true
  timeout: 2m
  interval: 1h
  kubeConfig:
    secretRef:
      name: workload-kubeconfig
"#
        ),
    );
    // `wait: true`: Ready only once the Deployment's pods are Ready in the workload cluster.
    wait_for_applied(management, &first);
    let cart = get_json(workload, &["-n", "shop", "get", "deployment", "cart"]);
    assert_eq!(cart["status"]["readyReplicas"], 2, "{}", cart["status"]);
    let config = get_json(workload, &["-n", "shop", "get", "configmap", "cart-config"]);
    assert_eq!(config["data"]["currency"], "EUR");

    let second = {
        write_tenant(&work, 3, false);
        commit_all(&work, "shop: cart with 3 replicas, no config")
    };
    let requested_at = format!(
        "reconcile.fluxcd.io/requestedAt={}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("a clock after 1970")
            .as_nanos()
    );
    ok(management.kubectl("admin").args([
        "-n",
        "tenants",
        "annotate",
        "--overwrite",
        "gitrepositories.source.toolkit.fluxcd.io",
        "fleet",
        &requested_at,
    ]));
    let begun = Instant::now();
    wait_for_applied(management, &second);
    eprintln!(
        "the second commit was applied {:?} after the reconcile request",
        begun.elapsed()
    );
    let cart = get_json(workload, &["-n", "shop", "get", "deployment", "cart"]);
    assert_eq!(cart["status"]["readyReplicas"], 3, "{}", cart["status"]);
    // prune: true removed what the commit removed.
    let gone =
        fails(
            workload
                .kubectl("admin")
                .args(["-n", "shop", "get", "configmap", "cart-config"]),
        );
    assert!(
        gone.contains("NotFound"),
        "cart-config was not pruned: {gone}"
    );
}
