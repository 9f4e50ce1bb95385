//! Pod logs of a workload or release on its tenants' clusters, read with the clusters'
//! registered credentials (the workload cluster's API server proxies each request to the pod's
//! kubelet). Who may read them is decided before: see [`crate::logs_api`].

use std::collections::BTreeMap;
use std::time::Duration;

use futures::io::AsyncBufReadExt;
use futures::stream::{self, StreamExt};
use gitopshq_crds::cluster::Cluster;
use gitopshq_crds::release::Release;
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::workload::Workload;
use gitopshq_engine::admission::{changed_workloads, restores_workloads_of};
use gitopshq_engine::logs::{LIMIT_BYTES, LogRequest, MAX_PODS, Source, Target};
use gitopshq_engine::plan;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams};
use kube::{Api, Client, ResourceExt};

use crate::cluster_clients::{ClusterError, ClusterPool};

/// The longest a workload cluster may take to list a tenant's pods.
const LIST_TIMEOUT: Duration = Duration::from_secs(20);

/// Why no logs can be read; each names what was looked for and the next step.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{message}")]
    NotFound { message: String, next_step: String },
    #[error("{message}")]
    Cluster { message: String, next_step: String },
    #[error("reading GitOpsHQ objects failed: {0}")]
    Management(#[source] kube::Error),
}

impl LogError {
    pub fn next_step(&self) -> &str {
        match self {
            LogError::NotFound { next_step, .. } | LogError::Cluster { next_step, .. } => next_step,
            LogError::Management(_) => "retry; if it persists, check the GitOpsHQ webhook's logs",
        }
    }
}

fn not_found(message: String, next_step: String) -> LogError {
    LogError::NotFound { message, next_step }
}

/// The containers a request selects, with a client of each tenant's cluster.
pub struct Gathered {
    pub sources: Vec<Source>,
    /// Tenants with more than [`MAX_PODS`] pods, of which only the first are read.
    pub capped: Vec<String>,
    clients: BTreeMap<String, Client>,
}

impl Gathered {
    pub fn client_of(&self, source: &Source) -> Client {
        self.clients
            .get(&source.tenant)
            .cloned()
            .expect("every source's tenant has a client")
    }
}

/// Finds the pods and containers of `target` in `namespace` on its tenants' clusters.
pub async fn gather(
    client: &Client,
    pool: &ClusterPool,
    namespace: &str,
    target: &Target,
    request: &LogRequest,
) -> Result<Gathered, LogError> {
    let (workloads, tenants) = targets(client, namespace, target, request).await?;
    let mut sources = Vec::new();
    let mut capped = Vec::new();
    let mut clients = BTreeMap::new();
    let mut places = Vec::new();
    for tenant in &tenants {
        let (cluster, cluster_client) = cluster_of(client, pool, tenant).await?;
        let tenant_name = tenant.name_any();
        let tenant_namespace = tenant.spec.namespace.clone();
        let pods: Api<Pod> = Api::namespaced(cluster_client.clone(), &tenant_namespace);
        let mut found: Vec<Pod> = Vec::new();
        for workload in &workloads {
            let selector = format!("app.kubernetes.io/name={workload}");
            let list = tokio::time::timeout(
                LIST_TIMEOUT,
                pods.list(&ListParams::default().labels(&selector)),
            )
            .await
            .map_err(|_| LogError::Cluster {
                message: format!("cluster {cluster} did not answer listing pods of {workload}"),
                next_step: "check the cluster: kubectl get cluster".into(),
            })?
            .map_err(|e| {
                cluster_failure(
                    &e,
                    &cluster,
                    &format!("list pods in namespace {tenant_namespace}"),
                )
            })?;
            found.extend(list.items);
        }
        found.sort_by_key(|p| p.name_any());
        found.dedup_by_key(|p| p.name_any());
        if found.len() > MAX_PODS {
            found.truncate(MAX_PODS);
            capped.push(tenant_name.clone());
        }
        for pod in &found {
            let containers = pod
                .spec
                .as_ref()
                .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
                .unwrap_or_else(Vec::new);
            for container in containers {
                if request.container.as_ref().is_some_and(|c| *c != container) {
                    continue;
                }
                sources.push(Source {
                    tenant: tenant_name.clone(),
                    cluster: cluster.clone(),
                    namespace: tenant_namespace.clone(),
                    pod: pod.name_any(),
                    container,
                });
            }
        }
        places.push(format!(
            "{tenant_name} (cluster {cluster}, namespace {tenant_namespace})"
        ));
        clients.insert(tenant_name, cluster_client);
    }
    if sources.is_empty() {
        let message = match &request.container {
            Some(c) => format!("no container {c} in the pods of {}", workloads.join(", ")),
            None => format!(
                "no pods labelled app.kubernetes.io/name={} in {}",
                workloads.join(","),
                places.join(", ")
            ),
        };
        return Err(not_found(
            message,
            "is the release synced to the cluster? gitopshq status shows its tenants".into(),
        ));
    }
    Ok(Gathered {
        sources,
        capped,
        clients,
    })
}

/// The workloads and tenants `target` names.
async fn targets(
    client: &Client,
    ns: &str,
    target: &Target,
    request: &LogRequest,
) -> Result<(Vec<String>, Vec<Tenant>), LogError> {
    let tenants_api: Api<Tenant> = Api::namespaced(client.clone(), ns);
    let all_tenants = tenants_api
        .list(&ListParams::default())
        .await
        .map_err(LogError::Management)?
        .items;
    let (workloads, mut chosen): (Vec<String>, Vec<Tenant>) = match target {
        Target::Release(name) => {
            let releases: Api<Release> = Api::namespaced(client.clone(), ns);
            let Some(release) = releases.get_opt(name).await.map_err(LogError::Management)? else {
                return Err(not_found(
                    format!("no release {name} in project {ns}"),
                    format!("list them: kubectl get releases -n {ns}"),
                ));
            };
            let workloads = match restores_workloads_of(&release) {
                None => changed_workloads(&release),
                Some(target) => releases
                    .get_opt(target)
                    .await
                    .map_err(LogError::Management)?
                    .map(|earlier| changed_workloads(&earlier))
                    .unwrap_or_default(),
            };
            let delivered: Vec<String> = release
                .status
                .as_ref()
                .map(|s| s.tenants.iter().map(|t| t.name.clone()).collect())
                .unwrap_or_default();
            let named = if delivered.is_empty() {
                release.spec.tenants.clone()
            } else {
                delivered
            };
            let chosen = all_tenants
                .iter()
                .filter(|t| t.spec.environment == release.spec.environment)
                .filter(|t| named.is_empty() || named.contains(&t.name_any()))
                .filter(|t| plan::tenant_runs_any(t, &workloads))
                .cloned()
                .collect();
            (workloads, chosen)
        }
        Target::Workload(name) => {
            let workloads_api: Api<Workload> = Api::namespaced(client.clone(), ns);
            if workloads_api
                .get_opt(name)
                .await
                .map_err(LogError::Management)?
                .is_none()
            {
                return Err(not_found(
                    format!("no release or workload named {name} in project {ns}"),
                    format!("list them: kubectl get releases,workloads -n {ns}"),
                ));
            }
            let workloads = vec![name.clone()];
            let chosen = all_tenants
                .iter()
                .filter(|t| !t.spec.suspended)
                .filter(|t| {
                    request
                        .environment
                        .as_ref()
                        .is_none_or(|e| *e == t.spec.environment)
                })
                .filter(|t| plan::tenant_runs_any(t, &workloads))
                .cloned()
                .collect();
            (workloads, chosen)
        }
    };
    if !request.tenants.is_empty() {
        let known: Vec<String> = chosen.iter().map(|t| t.name_any()).collect();
        chosen.retain(|t| request.tenants.contains(&t.name_any()));
        if chosen.is_empty() {
            return Err(not_found(
                format!(
                    "none of the tenants {} runs {} here; its tenants are {}",
                    request.tenants.join(", "),
                    target.name(),
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
                "name one of its tenants with --tenant".into(),
            ));
        }
    }
    if chosen.is_empty() {
        return Err(not_found(
            format!("no tenant runs {} in project {ns}", target.name()),
            format!("kubectl get tenants -n {ns}"),
        ));
    }
    Ok((workloads, chosen))
}

/// The tenant's cluster name and a client of it, through its Cluster object.
async fn cluster_of(
    client: &Client,
    pool: &ClusterPool,
    tenant: &Tenant,
) -> Result<(String, Client), LogError> {
    let name = &tenant.spec.cluster;
    let clusters: Api<Cluster> = Api::all(client.clone());
    let Some(cluster) = clusters.get_opt(name).await.map_err(LogError::Management)? else {
        return Err(not_found(
            format!(
                "tenant {} runs on cluster {name}, which is not registered",
                tenant.name_any()
            ),
            format!("register it: gitopshq cluster register {name} --context CTX"),
        ));
    };
    let cluster_client = pool.client(&cluster).await.map_err(|e| {
        let next_step = match e {
            ClusterError::Unreachable { .. } => "check the cluster: kubectl get cluster",
            _ => "fix the cluster's registration: gitopshq cluster rotate NAME --context CTX",
        };
        LogError::Cluster {
            message: e.to_string(),
            next_step: next_step.into(),
        }
    })?;
    Ok((name.clone(), cluster_client))
}

fn cluster_failure(e: &kube::Error, cluster: &str, action: &str) -> LogError {
    match e {
        kube::Error::Api(status) if status.code == 403 => LogError::Cluster {
            message: format!(
                "on cluster {cluster}: {action} is not permitted: {}; the credentials registered for it do not allow it",
                status.message
            ),
            next_step: "re-register the cluster (gitopshq cluster register) so that it may read pods and pods/log".into(),
        },
        other => LogError::Cluster {
            message: format!("on cluster {cluster}: {action} failed: {other}"),
            next_step: "check the cluster: kubectl get cluster".into(),
        },
    }
}

fn params(source: &Source, request: &LogRequest, follow: bool) -> LogParams {
    LogParams {
        container: Some(source.container.clone()),
        follow,
        limit_bytes: Some(LIMIT_BYTES),
        previous: request.previous,
        since_seconds: Some(request.since.as_secs().max(1) as i64),
        tail_lines: Some(request.tail),
        // Following needs the times to resume after an idle read timeout.
        timestamps: request.timestamps || follow,
        ..LogParams::default()
    }
}

fn keep(line: &str, request: &LogRequest) -> bool {
    request
        .grep
        .as_ref()
        .is_none_or(|g| line.contains(g.as_str()))
}

/// Reads one container's log once: its kept lines, then an `Err` saying why the rest could
/// not be read, if so.
pub fn read_once(
    client: Client,
    source: Source,
    request: LogRequest,
) -> impl futures::Stream<Item = Result<String, String>> + Send {
    let api: Api<Pod> = Api::namespaced(client, &source.namespace);
    let p = params(&source, &request, false);
    stream::once(async move {
        api.log_stream(&source.pod, &p).await.map_err(|e| {
            let failure = cluster_failure(
                &e,
                &source.cluster,
                &format!("reading the logs of pod {}", source.pod),
            );
            format!("no logs: {failure}")
        })
    })
    .flat_map(move |reader| match reader {
        Ok(reader) => {
            let request = request.clone();
            reader
                .lines()
                .map(|line| line.map_err(|e| format!("reading the log stream: {e}")))
                // Nothing is read after the first error.
                .scan(false, |failed, line| {
                    let next = (!*failed).then_some(line.clone());
                    *failed = *failed || line.is_err();
                    futures::future::ready(next)
                })
                .filter(move |line| {
                    futures::future::ready(line.as_ref().map_or(true, |l| keep(l, &request)))
                })
                .boxed()
        }
        Err(why) => stream::once(futures::future::ready(Err(why))).boxed(),
    })
}

/// Splits `2026-01-01T10:00:00.123456789Z rest` into the time and the rest.
pub fn split_timestamp(line: &str) -> (Option<Timestamp>, &str) {
    match line.split_once(' ') {
        Some((time, rest)) => match time.parse::<Timestamp>() {
            Ok(t) => (Some(t), rest),
            Err(_) => (None, line),
        },
        None => (None, line),
    }
}

/// A followed container's kept lines; the stream reconnects after idle read timeouts from
/// the last line's time, skipping lines already shown. It ends after an `Err` saying why the
/// log cannot be read (any more).
pub fn follow(
    client: Client,
    source: Source,
    request: LogRequest,
) -> impl futures::Stream<Item = Result<String, String>> + Send {
    struct State {
        client: Client,
        source: Source,
        request: LogRequest,
        reader: Option<futures::io::Lines<Box<dyn futures::io::AsyncBufRead + Unpin + Send>>>,
        last: Option<Timestamp>,
        seen_at_last: Vec<String>,
        failures: u32,
        done: bool,
    }
    let state = State {
        client,
        source,
        request,
        reader: None,
        last: None,
        seen_at_last: Vec::new(),
        failures: 0,
        done: false,
    };
    stream::unfold(state, move |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            if st.reader.is_none() {
                let api: Api<Pod> = Api::namespaced(st.client.clone(), &st.source.namespace);
                let mut p = params(&st.source, &st.request, true);
                if let Some(last) = st.last {
                    p.since_seconds = None;
                    p.tail_lines = None;
                    p.since_time = Some(last);
                }
                match api.log_stream(&st.source.pod, &p).await {
                    Ok(reader) => {
                        let boxed: Box<dyn futures::io::AsyncBufRead + Unpin + Send> =
                            Box::new(reader);
                        st.reader = Some(boxed.lines());
                    }
                    Err(e) => {
                        st.done = true;
                        let failure = cluster_failure(
                            &e,
                            &st.source.cluster,
                            &format!("reading the logs of pod {}", st.source.pod),
                        );
                        return Some((Err(format!("no logs: {failure}")), st));
                    }
                }
            }
            let reader = st.reader.as_mut().expect("connected");
            match reader.next().await {
                None => return None,
                Some(Err(e)) => {
                    st.reader = None;
                    if e.kind() != std::io::ErrorKind::TimedOut {
                        st.failures += 1;
                        if st.failures > 3 {
                            st.done = true;
                            return Some((Err(format!("stream ended: {e}")), st));
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Some(Ok(line)) => {
                    st.failures = 0;
                    let (time, text) = split_timestamp(&line);
                    if let (Some(t), Some(last)) = (time, st.last)
                        && (t < last || (t == last && st.seen_at_last.contains(&line)))
                    {
                        continue;
                    }
                    if let Some(t) = time {
                        if st.last != Some(t) {
                            st.seen_at_last.clear();
                        }
                        st.last = Some(t);
                        st.seen_at_last.push(line.clone());
                    }
                    if !keep(text, &st.request) {
                        continue;
                    }
                    let shown = if st.request.timestamps {
                        line.as_str()
                    } else {
                        text
                    };
                    let out = shown.to_string();
                    return Some((Ok(out), st));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_split_their_timestamps() {
        let (t, rest) = split_timestamp("2026-01-01T10:00:00.5Z boom");
        assert!(t.is_some());
        assert_eq!(rest, "boom");
        assert_eq!(split_timestamp("no time here"), (None, "no time here"));
    }
}
