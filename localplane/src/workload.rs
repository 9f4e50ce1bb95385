use std::{
    ops::Deref,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, ServiceAccount};
use kube::{
    Api, Client,
    api::{DeleteParams, PostParams},
};
use serde_json::json;

use crate::{
    Error, Result, TestEnv, TestEnvBuilder,
    binaries::{ControllerBinaries, KwokBinary, ensure_workload_binaries, off_the_runtime},
    ports::free_port,
    probe::http_ok,
    process::Process,
    users::ADMIN,
};

/// The pod label KWOK's crash-loop Stage selects (`localplane/stages/pod-crash-loop.yaml`):
/// a pod carrying it with the value [`CRASH_LOOP`] runs, never becomes Ready, and its containers
/// wait in `CrashLoopBackOff` with a rising `restartCount`.
pub const SIMULATE_LABEL: &str = "gitopshq.io/simulate";
/// The value of [`SIMULATE_LABEL`] that makes a pod crash-loop.
pub const CRASH_LOOP: &str = "crash-loop";

/// The controllers a workload cluster needs for what GitOps applies to it: workloads and their
/// pods, garbage collection and pruning, namespaces with their `default` ServiceAccount and
/// `kube-root-ca.crt`, Services' endpoints, and nodes whose heartbeat stops. Names as in
/// kubernetes `cmd/kube-controller-manager/names/controller_names.go`.
const CONTROLLERS: &[&str] = &[
    "deployment-controller",
    "replicaset-controller",
    "statefulset-controller",
    "daemonset-controller",
    "job-controller",
    "cronjob-controller",
    "disruption-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "node-lifecycle-controller",
    "pod-garbage-collector-controller",
];

/// KWOK's upstream Stages, in the order they are handed to it (see `tests/testenv/kwok/build.sh`).
const UPSTREAM_STAGES: &[&str] = &[
    "node-initialize.yaml",
    "node-heartbeat-with-lease.yaml",
    "pod-ready.yaml",
    "pod-complete.yaml",
    "pod-delete.yaml",
];
const CRASH_LOOP_STAGE: &str = include_str!("../stages/pod-crash-loop.yaml");
/// A crash-looping pod whose label is taken off recovers in place (the cause went away).
const CRASH_RECOVER_STAGE: &str = include_str!("../stages/pod-crash-recover.yaml");

/// Where the scheduler and KWOK prove themselves before [`WorkloadCluster::start`] returns.
const CANARY_NAMESPACE: &str = "kube-system";
const CANARY_POD: &str = "gitopshq-localplane-canary";

/// Options for a [`WorkloadCluster`]; see [`WorkloadCluster::builder`].
#[derive(Debug, Clone)]
pub struct WorkloadClusterBuilder {
    cluster_name: String,
    nodes: usize,
    ready_timeout: Duration,
}

impl Default for WorkloadClusterBuilder {
    fn default() -> Self {
        WorkloadClusterBuilder {
            cluster_name: "workload".to_owned(),
            nodes: 3,
            ready_timeout: Duration::from_secs(120),
        }
    }
}

impl WorkloadClusterBuilder {
    /// The cluster's name in kubeconfigs (default `workload`).
    pub fn cluster_name(mut self, name: impl Into<String>) -> Self {
        self.cluster_name = name.into();
        self
    }

    /// How many fake Nodes KWOK runs (default 3), named `kwok-node-0` onwards.
    pub fn nodes(mut self, count: usize) -> Self {
        self.nodes = count;
        self
    }

    /// How long each component may take to become ready (default 120 s).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    pub async fn start(self) -> Result<WorkloadCluster> {
        let (controllers, kwok) = off_the_runtime(
            "the workload cluster's components",
            ensure_workload_binaries,
        )
        .await?;
        let env = TestEnvBuilder::default()
            .cluster_name(&self.cluster_name)
            .without_crds()
            .audit_log(false)
            .service_account_admission()
            .ready_timeout(self.ready_timeout)
            .start()
            .await?;
        let client = env.client().await?;
        let mut cluster = WorkloadCluster {
            controller_manager: start_controller_manager(&env, &controllers)?,
            scheduler: start_scheduler(&env, &controllers)?,
            kwok: None,
            kwok_port: 0,
            nodes: (0..self.nodes).map(|i| format!("kwok-node-{i}")).collect(),
            env,
        };
        for node in &cluster.nodes {
            create_node(&client, node).await?;
        }
        let (kwok, kwok_port) = start_kwok(&cluster.env, &kwok)?;
        cluster.kwok = Some(kwok);
        cluster.kwok_port = kwok_port;
        cluster
            .wait_until_ready(&client, self.ready_timeout)
            .await?;
        Ok(cluster)
    }
}

/// A workload cluster that runs what is applied to it: kube-apiserver and etcd ([`TestEnv`]),
/// kube-controller-manager, kube-scheduler, and KWOK playing the kubelets of fake Nodes. A
/// Deployment gets its ReplicaSets and Pods, the pods are scheduled onto the Nodes and become
/// Ready; scaling, rollouts, rollbacks, garbage collection and namespace deletion work. A pod
/// labelled [`SIMULATE_LABEL`]`=`[`CRASH_LOOP`] crash-loops instead, until the label is taken off
/// the pod (it then recovers in place, as a container whose cause of crashing went away).
///
/// It dereferences to its [`TestEnv`] (`kubectl`, clients, kubeconfigs). Every process is killed
/// when it is dropped, and by the kernel when the test process dies; their logs are in
/// [`TestEnv::dir`].
#[derive(Debug)]
pub struct WorkloadCluster {
    // Fields drop in order: the clients of the API server stop before it does.
    kwok: Option<Process>,
    scheduler: Process,
    controller_manager: Process,
    env: TestEnv,
    kwok_port: u16,
    nodes: Vec<String>,
}

impl WorkloadCluster {
    pub fn builder() -> WorkloadClusterBuilder {
        WorkloadClusterBuilder::default()
    }

    /// A workload cluster named `workload` with three Nodes.
    pub async fn start() -> Result<WorkloadCluster> {
        WorkloadCluster::builder().start().await
    }

    pub fn env(&self) -> &TestEnv {
        &self.env
    }

    /// Kills the cluster's API server, as an outage would: its controllers, scheduler and
    /// KWOK keep running and retry, as they would against a real one.
    #[cfg(feature = "testing")]
    pub fn stop_apiserver(&mut self) {
        self.env.stop_apiserver();
    }

    /// Starts the API server again (same address, certificates and data) and waits until it
    /// is ready.
    #[cfg(feature = "testing")]
    pub async fn restart_apiserver(&mut self, timeout: Duration) -> Result<()> {
        self.env.restart_apiserver(timeout).await
    }

    /// The fake Nodes' names.
    pub fn node_names(&self) -> &[String] {
        &self.nodes
    }

    /// The last lines of each component's log, for a test's failure message.
    pub fn log_tails(&self) -> String {
        let mut processes = vec![&self.controller_manager, &self.scheduler];
        processes.extend(self.kwok.as_ref());
        processes
            .into_iter()
            .map(|p| format!("--- {} ---\n{}", p.component(), p.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn wait_until_ready(&mut self, client: &Client, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let kwok_port = self.kwok_port;
        self.wait_for("kwok", deadline, timeout, || async move {
            Ok(http_ok(kwok_port, "/healthz").await)
        })
        .await?;
        let nodes: Api<Node> = Api::all(client.clone());
        let names = self.nodes.clone();
        self.wait_for("kwok", deadline, timeout, || {
            let (nodes, names) = (nodes.clone(), names.clone());
            async move {
                for name in &names {
                    if !condition_true(
                        nodes
                            .get(name)
                            .await?
                            .status
                            .and_then(|s| s.conditions)
                            .into_iter()
                            .flatten()
                            .map(|c| (c.type_, c.status)),
                        "Ready",
                    ) {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
        })
        .await?;
        // The ServiceAccount admission plugin refuses pods until their namespace has its
        // `default` ServiceAccount; the root CA ConfigMap is the other half of what pods mount.
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), CANARY_NAMESPACE);
        let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), CANARY_NAMESPACE);
        self.wait_for("kube-controller-manager", deadline, timeout, || {
            let (accounts, config_maps) = (accounts.clone(), config_maps.clone());
            async move {
                Ok(accounts.get_opt("default").await?.is_some()
                    && config_maps.get_opt("kube-root-ca.crt").await?.is_some())
            }
        })
        .await?;
        // One pod through the scheduler and KWOK's pod Stages: Ready, then deleted for good.
        let pods: Api<Pod> = Api::namespaced(client.clone(), CANARY_NAMESPACE);
        let canary: Pod = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": { "name": CANARY_POD },
            "spec": { "containers": [{ "name": "canary", "image": "registry.k8s.io/pause:3.10" }] },
        }))
        .map_err(|e| Error::Encode {
            what: "the canary pod",
            message: e.to_string(),
        })?;
        pods.create(&PostParams::default(), &canary).await?;
        self.wait_for("kube-scheduler", deadline, timeout, || {
            let pods = pods.clone();
            async move {
                let pod = pods.get(CANARY_POD).await?;
                Ok(condition_true(
                    pod.status
                        .and_then(|s| s.conditions)
                        .into_iter()
                        .flatten()
                        .map(|c| (c.type_, c.status)),
                    "Ready",
                ))
            }
        })
        .await?;
        pods.delete(CANARY_POD, &DeleteParams::default()).await?;
        self.wait_for("kwok", deadline, timeout, || {
            let pods = pods.clone();
            async move { Ok(pods.get_opt(CANARY_POD).await?.is_none()) }
        })
        .await
    }

    /// Polls `ready` until it holds; a component that exits, or the deadline, ends the wait with
    /// the log tail of `component`, the one expected to make it hold.
    async fn wait_for<F, Fut>(
        &mut self,
        component: &'static str,
        deadline: Instant,
        timeout: Duration,
        mut ready: F,
    ) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<bool>>,
    {
        loop {
            if ready().await? {
                return Ok(());
            }
            let mut processes = vec![&mut self.controller_manager, &mut self.scheduler];
            processes.extend(self.kwok.as_mut());
            for process in processes {
                if let Some(e) = process.exited_error() {
                    return Err(e);
                }
            }
            if Instant::now() > deadline {
                let log_tail = [&self.controller_manager, &self.scheduler]
                    .into_iter()
                    .chain(self.kwok.as_ref())
                    .find(|p| p.component() == component)
                    .map(Process::log_tail)
                    .unwrap_or_default();
                return Err(Error::NotReady {
                    component,
                    timeout,
                    log_tail,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Deref for WorkloadCluster {
    type Target = TestEnv;

    fn deref(&self) -> &TestEnv {
        &self.env
    }
}

fn condition_true(mut conditions: impl Iterator<Item = (String, String)>, wanted: &str) -> bool {
    conditions.any(|(type_, status)| type_ == wanted && status == "True")
}

fn admin_kubeconfig(env: &TestEnv) -> Result<String> {
    Ok(format!(
        "--kubeconfig={}",
        env.kubeconfig_for(ADMIN)?.display()
    ))
}

fn start_controller_manager(env: &TestEnv, binaries: &ControllerBinaries) -> Result<Process> {
    let dir = env.dir();
    let mut cmd = Command::new(&binaries.kube_controller_manager);
    cmd.arg(admin_kubeconfig(env)?)
        .arg("--leader-elect=false")
        .arg("--secure-port=0")
        .arg(format!("--controllers={}", CONTROLLERS.join(",")))
        // The key the API server verifies ServiceAccount tokens with, and the CA pods trust.
        .arg(format!(
            "--service-account-private-key-file={}",
            dir.join("sa.key").display()
        ))
        .arg(format!("--root-ca-file={}", dir.join("ca.crt").display()))
        .arg("--use-service-account-credentials=false")
        // Tests create and scale many objects at once; the defaults (20/30) throttle them.
        .arg("--kube-api-qps=100")
        .arg("--kube-api-burst=200");
    Process::spawn(
        "kube-controller-manager",
        cmd,
        &dir.join("kube-controller-manager.log"),
    )
}

fn start_scheduler(env: &TestEnv, binaries: &ControllerBinaries) -> Result<Process> {
    let mut cmd = Command::new(&binaries.kube_scheduler);
    cmd.arg(admin_kubeconfig(env)?)
        .arg("--leader-elect=false")
        .arg("--secure-port=0")
        .arg("--kube-api-qps=100")
        .arg("--kube-api-burst=200");
    Process::spawn("kube-scheduler", cmd, &env.dir().join("kube-scheduler.log"))
}

/// KWOK finds no kubelet to replace on a Node it did not see created, and it only plays the
/// kubelet of Nodes that exist, so the Nodes are created as a cloud provider would.
async fn create_node(client: &Client, name: &str) -> Result<()> {
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": { "kwok.x-k8s.io/node": "fake" },
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            },
        },
    }))
    .map_err(|e| Error::Encode {
        what: "a Node",
        message: e.to_string(),
    })?;
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await?;
    Ok(())
}

fn start_kwok(env: &TestEnv, binary: &KwokBinary) -> Result<(Process, u16)> {
    let dir = env.dir();
    let config = dir.join("kwok.yaml");
    std::fs::write(&config, kwok_stages(&binary.stages_dir)?)
        .map_err(Error::io(format!("cannot write {}", config.display())))?;
    // KWOK reads ~/.kwok/kwok.yaml on its own; a home of its own keeps a user's out.
    let home = dir.join("kwok-home");
    std::fs::create_dir_all(&home)
        .map_err(Error::io(format!("cannot create {}", home.display())))?;
    let port = free_port()?;
    let mut cmd = Command::new(&binary.kwok);
    cmd.env("HOME", &home)
        .arg(admin_kubeconfig(env)?)
        .arg(format!("--config={}", config.display()))
        .arg("--manage-all-nodes=true")
        // The API server reaches a Node's kubelet (logs, exec) at its InternalIP and kubelet
        // port: KWOK's own server, on loopback, answers there instead of a dead address.
        .arg("--node-ip=127.0.0.1")
        .arg(format!("--node-port={port}"))
        // Outside the Service range (`--service-cluster-ip-range=10.0.0.0/16`).
        .arg("--cidr=10.1.0.0/16")
        .arg("--node-lease-duration-seconds=40")
        .arg(format!("--server-address=127.0.0.1:{port}"))
        // Its INFO lines are one per Node lease renewal; the tail of a failure should show
        // the Stages that failed.
        .arg("--v=WARN");
    Ok((Process::spawn("kwok", cmd, &dir.join("kwok.log"))?, port))
}

/// KWOK's Stages as one multi-document file: its upstream set, then our crash loop and its end.
fn kwok_stages(stages_dir: &Path) -> Result<String> {
    let mut all = Vec::new();
    for name in UPSTREAM_STAGES {
        let path = stages_dir.join(name);
        all.push(std::fs::read_to_string(&path).map_err(Error::io(format!(
            "cannot read KWOK's Stage {}",
            path.display()
        )))?);
    }
    all.push(CRASH_LOOP_STAGE.to_owned());
    all.push(CRASH_RECOVER_STAGE.to_owned());
    Ok(all.join("\n---\n"))
}
