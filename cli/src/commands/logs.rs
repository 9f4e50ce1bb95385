//! `gitopshq logs RELEASE|WORKLOAD`: the pod logs of a workload on its tenants' clusters,
//! reached through the kubeconfig Secrets the Cluster objects name (the workload cluster's API
//! server proxies each request to the pod's kubelet). The limits (lines, time range, pods) are
//! stated on stderr before anything streams, and unbounded requests are refused.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use futures::io::AsyncBufReadExt;
use futures::stream::{self, BoxStream, StreamExt};
use gitopshq_controller::clusters::ClusterPool;
use gitopshq_crds::cluster::Cluster;
use gitopshq_crds::release::Release;
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::workload::Workload;
use gitopshq_engine::outcome::{Attempt, Kind};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{ListParams, LogParams};
use kube::{Api, Client, ResourceExt};

use crate::kube_client::{
    Failure, KubeArgs, Session, block_on, failure_of, parse_duration, resources,
};

/// Most lines per container one request may ask for.
pub const MAX_TAIL: i64 = 10_000;
/// Longest time range one request may ask for.
pub const MAX_SINCE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most pods per tenant whose logs are read.
pub const MAX_PODS: usize = 50;
/// Bytes per container at most (a guard against a container that writes huge lines).
pub const LIMIT_BYTES: i64 = 16 * 1024 * 1024;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A release (its workloads on the tenants it went to) or a workload (on its tenants).
    pub target: String,
    /// Only these tenants (repeat).
    #[arg(long = "tenant", value_name = "TENANT")]
    pub tenants: Vec<String>,
    /// Only tenants of this environment (for a workload).
    #[arg(long = "env", value_name = "ENV")]
    pub environment: Option<String>,
    /// Only this container; default: every container of each pod.
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Lines per container, counted back from the newest (at most 10000).
    #[arg(long, default_value = "100", value_parser = parse_tail, allow_hyphen_values = true)]
    pub tail: i64,
    /// Only lines newer than this (at most 168h).
    #[arg(long, default_value = "1h", value_parser = parse_since)]
    pub since: Duration,
    /// Only lines containing this text (among the lines the limits select).
    #[arg(long)]
    pub grep: Option<String>,
    /// Keep streaming new lines until interrupted.
    #[arg(short, long)]
    pub follow: bool,
    /// Logs of the previous container instance (after a crash).
    #[arg(short, long)]
    pub previous: bool,
    /// Prefix each line with its timestamp.
    #[arg(long)]
    pub timestamps: bool,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// `--tail`: 1..=MAX_TAIL; `-1`, `0` or `all` (everything) is refused.
pub fn parse_tail(text: &str) -> Result<i64, String> {
    let refuse = || {
        format!(
            "--tail {text}: unbounded or empty requests are refused; ask for 1 to {MAX_TAIL} lines per container"
        )
    };
    let n: i64 = text.trim().parse().map_err(|_| refuse())?;
    if n < 1 {
        return Err(refuse());
    }
    if n > MAX_TAIL {
        return Err(format!(
            "--tail {n} is more than {MAX_TAIL} lines per container; narrow it (or use --since and --grep)"
        ));
    }
    Ok(n)
}

/// `--since`: a positive duration up to MAX_SINCE.
pub fn parse_since(text: &str) -> Result<Duration, String> {
    if matches!(text.trim(), "0" | "all" | "-1") {
        return Err(format!(
            "--since {text}: unbounded requests are refused; give a time range such as 1h (at most 168h)"
        ));
    }
    let d = parse_duration(text)?;
    if d > MAX_SINCE {
        return Err(format!("--since {text} is longer than 168h; narrow it"));
    }
    Ok(d)
}

/// One container's log to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub tenant: String,
    pub cluster: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

impl Source {
    fn prefix(&self) -> String {
        format!("[{}/{}/{}]", self.tenant, self.pod, self.container)
    }
}

/// What is shown, said before anything streams.
pub fn statement(args: &Args, sources: &[Source], capped: &[String]) -> String {
    let pods: BTreeSet<(&str, &str)> = sources
        .iter()
        .map(|s| (s.tenant.as_str(), s.pod.as_str()))
        .collect();
    let tenants: BTreeSet<String> = sources
        .iter()
        .map(|s| {
            format!(
                "{} (cluster {}, namespace {})",
                s.tenant, s.cluster, s.namespace
            )
        })
        .collect();
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let mut text = format!(
        "showing the last {} per container of {} ({}) since {}",
        plural(args.tail as usize, "line", "lines"),
        plural(pods.len(), "pod", "pods"),
        plural(sources.len(), "container", "containers"),
        short_duration(args.since),
    );
    if args.previous {
        text.push_str(", previous container instances");
    }
    text.push_str(&format!(
        " in {}",
        tenants.into_iter().collect::<Vec<_>>().join(", ")
    ));
    if let Some(grep) = &args.grep {
        text.push_str(&format!("; only lines containing {grep:?} among them"));
    }
    if args.follow {
        text.push_str("; then following new lines until interrupted");
    }
    for tenant in capped {
        text.push_str(&format!(
            "; tenant {tenant} has more than {MAX_PODS} pods, only the first {MAX_PODS} by name"
        ));
    }
    text
}

fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    block_on(async move {
        let session = args.kube.connect().await?;
        logs(&session, &args).await
    })?
}

/// A tenant's namespace on its cluster, with a client of that cluster.
struct Place {
    tenant: String,
    cluster: String,
    namespace: String,
    client: Client,
}

/// The containers whose logs `args` selects, with a client of each one's cluster.
pub struct Gathered {
    pub sources: Vec<Source>,
    /// Tenants with more than [`MAX_PODS`] pods, of which only the first are read.
    pub capped: Vec<String>,
    places: Vec<Place>,
}

impl Gathered {
    pub fn client_of(&self, source: &Source) -> Client {
        self.places
            .iter()
            .find(|p| p.tenant == source.tenant)
            .map(|p| p.client.clone())
            .expect("every source has a place")
    }
}

/// Finds the pods and containers of `args.target` on its tenants' clusters; an error when
/// there are none, naming where it looked.
pub async fn gather(session: &Session, args: &Args) -> Result<Gathered> {
    let (workloads, tenants) = targets(session, args).await?;
    let pool = ClusterPool::new(session.client.clone());
    let mut sources = Vec::new();
    let mut capped = Vec::new();
    let mut places = Vec::new();
    for tenant in &tenants {
        let place = place_of(session, &pool, tenant).await?;
        let pods: Api<Pod> = Api::namespaced(place.client.clone(), &place.namespace);
        let mut found: Vec<Pod> = Vec::new();
        for workload in &workloads {
            let selector = format!("app.kubernetes.io/name={workload}");
            let attempt = Attempt::new("list", resources::PODS, Some(&place.namespace))
                .on(format!("pods of {workload} on cluster {}", place.cluster));
            let list = tokio::time::timeout(
                crate::kube_client::REQUEST_TIMEOUT,
                pods.list(&ListParams::default().labels(&selector)),
            )
            .await
            .map_err(|_| {
                Failure::new(
                    Kind::Runtime,
                    format!("cluster {} did not answer listing pods", place.cluster),
                    Some("check the cluster: kubectl get cluster".into()),
                )
            })?
            .map_err(|e| cluster_failure(&e, &attempt, &place.cluster))?;
            found.extend(list.items);
        }
        found.sort_by_key(|p| p.name_any());
        found.dedup_by_key(|p| p.name_any());
        if found.len() > MAX_PODS {
            found.truncate(MAX_PODS);
            capped.push(place.tenant.clone());
        }
        for pod in &found {
            let containers: Vec<String> = pod
                .spec
                .as_ref()
                .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
                .unwrap_or_default();
            for container in containers {
                if args.container.as_ref().is_some_and(|c| *c != container) {
                    continue;
                }
                sources.push(Source {
                    tenant: place.tenant.clone(),
                    cluster: place.cluster.clone(),
                    namespace: place.namespace.clone(),
                    pod: pod.name_any(),
                    container,
                });
            }
        }
        places.push(place);
    }
    if sources.is_empty() {
        let what = match &args.container {
            Some(c) => format!("no container {c} in the pods of {}", workloads.join(", ")),
            None => format!(
                "no pods labelled app.kubernetes.io/name={} in {}",
                workloads.join(","),
                places
                    .iter()
                    .map(|p| format!(
                        "{} (cluster {}, namespace {})",
                        p.tenant, p.cluster, p.namespace
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        return Err(Failure::new(
            Kind::NotFound,
            what,
            Some("is the release synced to the cluster? gitopshq status shows its tenants".into()),
        )
        .into());
    }
    Ok(Gathered {
        sources,
        capped,
        places,
    })
}

async fn logs(session: &Session, args: &Args) -> Result<ExitCode> {
    let gathered = gather(session, args).await?;
    let Gathered {
        sources, capped, ..
    } = &gathered;
    let (sources, capped) = (sources.clone(), capped.clone());
    eprintln!(
        "{}; use --tail/--since to change",
        statement(args, &sources, &capped)
    );
    let client_of = |s: &Source| gathered.client_of(s);
    let mut failed = 0usize;
    if args.follow {
        let streams: Vec<BoxStream<'_, String>> = sources
            .iter()
            .map(|s| {
                let prefix = s.prefix();
                follow(client_of(s), s.clone(), args)
                    .filter_map(move |line| {
                        let shown = match line {
                            Ok(line) => Some(format!("{prefix} {line}")),
                            Err(why) => {
                                eprintln!("{prefix} {why}");
                                None
                            }
                        };
                        futures::future::ready(shown)
                    })
                    .boxed()
            })
            .collect();
        let mut merged = stream::select_all(streams);
        while let Some(line) = merged.next().await {
            println!("{line}");
        }
    } else {
        for source in &sources {
            let prefix = source.prefix();
            let print = |line: String| println!("{prefix} {line}");
            if let Err(e) = read_once(client_of(source), source, args, print).await {
                failed += 1;
                eprintln!("{} no logs: {e}", source.prefix());
            }
        }
    }
    if failed == sources.len() && !sources.is_empty() {
        return Err(Failure::new(
            Kind::Runtime,
            format!(
                "no log could be read from any of {} containers",
                sources.len()
            ),
            Some("the pods may not be running yet; see the messages above".into()),
        )
        .into());
    }
    Ok(ExitCode::SUCCESS)
}

/// The workloads and tenants `args.target` names.
async fn targets(session: &Session, args: &Args) -> Result<(Vec<String>, Vec<Tenant>)> {
    let ns = session.namespace.as_str();
    let releases: Api<Release> = Api::namespaced(session.client.clone(), ns);
    let workloads_api: Api<Workload> = Api::namespaced(session.client.clone(), ns);
    let tenants_api: Api<Tenant> = Api::namespaced(session.client.clone(), ns);
    let all_tenants = session
        .call(
            Attempt::new("list", resources::TENANTS, Some(ns)),
            tenants_api.list(&ListParams::default()),
        )
        .await?
        .items;
    let release = session
        .get_opt(
            Attempt::new("get", resources::RELEASES, Some(ns))
                .on(format!("release {}", args.target)),
            releases.get(&args.target),
        )
        .await?;
    let (workloads, mut chosen): (Vec<String>, Vec<Tenant>) = match release {
        Some(release) => {
            let mut workloads: Vec<String> = release
                .spec
                .changes
                .iter()
                .map(|c| c.workload.clone())
                .collect();
            if workloads.is_empty()
                && let Some(target) = &release.spec.rollback_to
                && let Some(t) = session
                    .get_opt(
                        Attempt::new("get", resources::RELEASES, Some(ns))
                            .on(format!("release {}", target.release)),
                        releases.get(&target.release),
                    )
                    .await?
            {
                workloads = t.spec.changes.iter().map(|c| c.workload.clone()).collect();
            }
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
                .filter(|t| runs_any(t, &workloads))
                .cloned()
                .collect();
            (workloads, chosen)
        }
        None => {
            let workload = session
                .get_opt(
                    Attempt::new("get", resources::WORKLOADS, Some(ns))
                        .on(format!("workload {}", args.target)),
                    workloads_api.get(&args.target),
                )
                .await?;
            if workload.is_none() {
                return Err(Failure::new(
                    Kind::NotFound,
                    format!(
                        "no release or workload named {} in project {ns}",
                        args.target
                    ),
                    Some(format!("list them: kubectl get releases,workloads -n {ns}")),
                )
                .into());
            }
            let workloads = vec![args.target.clone()];
            let chosen = all_tenants
                .iter()
                .filter(|t| !t.spec.suspended)
                .filter(|t| {
                    args.environment
                        .as_ref()
                        .is_none_or(|e| *e == t.spec.environment)
                })
                .filter(|t| runs_any(t, &workloads))
                .cloned()
                .collect();
            (workloads, chosen)
        }
    };
    if !args.tenants.is_empty() {
        let known: Vec<String> = chosen.iter().map(|t| t.name_any()).collect();
        chosen.retain(|t| args.tenants.contains(&t.name_any()));
        if chosen.is_empty() {
            return Err(Failure::new(
                Kind::NotFound,
                format!(
                    "none of the tenants {} runs {} here; its tenants are {}",
                    args.tenants.join(", "),
                    args.target,
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
                None,
            )
            .into());
        }
    }
    if chosen.is_empty() {
        return Err(Failure::new(
            Kind::NotFound,
            format!("no tenant runs {} in project {ns}", args.target),
            Some(format!("kubectl get tenants -n {ns}")),
        )
        .into());
    }
    Ok((workloads, chosen))
}

fn runs_any(tenant: &Tenant, workloads: &[String]) -> bool {
    tenant.spec.workloads.is_empty()
        || workloads
            .iter()
            .any(|w| tenant.spec.workloads.contains_key(w))
}

/// The tenant's cluster client, through its Cluster object and kubeconfig Secret.
async fn place_of(session: &Session, pool: &ClusterPool, tenant: &Tenant) -> Result<Place> {
    let clusters: Api<Cluster> = Api::all(session.client.clone());
    let name = &tenant.spec.cluster;
    let cluster = session
        .call(
            Attempt::new("get", resources::CLUSTERS, None).on(format!("cluster {name}")),
            clusters.get(name),
        )
        .await?;
    // Read the Secret here first: a refusal then names the permission instead of a bare reason.
    let reference = &cluster.spec.kubeconfig_secret_ref;
    let secrets: Api<Secret> = Api::namespaced(session.client.clone(), &reference.namespace);
    session
        .call(
            Attempt::new("get", resources::SECRETS, Some(&reference.namespace)).on(format!(
                "the kubeconfig Secret {}/{} of cluster {name}",
                reference.namespace, reference.name
            )),
            secrets.get(&reference.name),
        )
        .await
        .map_err(|e| {
            if let Some(f) = e.downcast_ref::<Failure>()
                && f.0.kind == Kind::NotPermitted
            {
                return Failure::new(
                    Kind::NotPermitted,
                    format!(
                        "{}; pod logs are read through cluster {name}'s kubeconfig, which only platform administrators may read",
                        f.0.message
                    ),
                    Some(format!(
                        "ask the platform team for get on secrets in {} (or run kubectl logs with your own access to the workload cluster)",
                        reference.namespace
                    )),
                )
                .into();
            }
            e
        })?;
    let client = pool.client(&cluster).await.map_err(|e| {
        let kind = match e {
            gitopshq_controller::clusters::ClusterError::Unreachable { .. } => Kind::Runtime,
            _ => Kind::Invalid,
        };
        Failure::new(kind, e.to_string(), None)
    })?;
    Ok(Place {
        tenant: tenant.name_any(),
        cluster: name.clone(),
        namespace: tenant.spec.namespace.clone(),
        client,
    })
}

fn cluster_failure(e: &kube::Error, attempt: &Attempt, cluster: &str) -> Failure {
    let mut failure = failure_of(e, attempt, &format!("cluster {cluster}"));
    if failure.0.kind == Kind::NotPermitted {
        failure.0.message = format!(
            "on cluster {cluster}: {}; the kubeconfig registered for it does not allow it",
            failure.0.message
        );
        failure.0.next_step = Some(
            "re-register the cluster with a kubeconfig that may read pods and pods/log".into(),
        );
    }
    failure
}

fn params(source: &Source, args: &Args, follow: bool) -> LogParams {
    LogParams {
        container: Some(source.container.clone()),
        follow,
        limit_bytes: Some(LIMIT_BYTES),
        previous: args.previous,
        since_seconds: Some(args.since.as_secs().max(1) as i64),
        tail_lines: Some(args.tail),
        // Following needs the times to resume after an idle read timeout.
        timestamps: args.timestamps || follow,
        ..LogParams::default()
    }
}

fn keep(line: &str, args: &Args) -> bool {
    args.grep.as_ref().is_none_or(|g| line.contains(g.as_str()))
}

/// Reads one container's log once, passing each kept line to `emit`.
pub async fn read_once(
    client: Client,
    source: &Source,
    args: &Args,
    mut emit: impl FnMut(String),
) -> Result<()> {
    let api: Api<Pod> = Api::namespaced(client, &source.namespace);
    let attempt = Attempt::new("get", resources::POD_LOGS, Some(&source.namespace))
        .on(format!("logs of pod {}", source.pod));
    let reader = api
        .log_stream(&source.pod, &params(source, args, false))
        .await
        .map_err(|e| cluster_failure(&e, &attempt, &source.cluster))?;
    let mut lines = reader.lines();
    while let Some(line) = lines.next().await {
        let line = line.map_err(|e| anyhow::anyhow!("reading the log stream: {e}"))?;
        if keep(&line, args) {
            emit(line);
        }
    }
    Ok(())
}

/// Splits `2026-01-01T10:00:00.123456789Z rest` into the time and the rest.
fn split_timestamp(line: &str) -> (Option<Timestamp>, &str) {
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
pub fn follow<'a>(
    client: Client,
    source: Source,
    args: &'a Args,
) -> impl futures::Stream<Item = Result<String, String>> + 'a {
    struct State {
        client: Client,
        source: Source,
        reader: Option<futures::io::Lines<Box<dyn futures::io::AsyncBufRead + Unpin + Send>>>,
        last: Option<Timestamp>,
        seen_at_last: Vec<String>,
        failures: u32,
        done: bool,
    }
    let state = State {
        client,
        source,
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
                let mut p = params(&st.source, args, true);
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
                        let attempt =
                            Attempt::new("get", resources::POD_LOGS, Some(&st.source.namespace));
                        let f = cluster_failure(&e, &attempt, &st.source.cluster);
                        return Some((Err(format!("no logs: {f}")), st));
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
                    if !keep(text, args) {
                        continue;
                    }
                    let shown = if args.timestamps { line.as_str() } else { text };
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
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        args: Args,
    }

    fn source(pod: &str) -> Source {
        Source {
            tenant: "eu-checkout".into(),
            cluster: "eu-west-1".into(),
            namespace: "checkout".into(),
            pod: pod.into(),
            container: "app".into(),
        }
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(parse_tail("100"), Ok(100));
        assert!(parse_tail("-1").unwrap_err().contains("unbounded"));
        assert!(parse_tail("0").is_err());
        assert!(parse_tail("all").is_err());
        assert!(parse_tail("10001").unwrap_err().contains("more than 10000"));
        assert_eq!(parse_since("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_since("0").unwrap_err().contains("unbounded"));
        assert!(parse_since("200h").is_err());
    }

    #[test]
    fn the_limits_are_stated_before_streaming() {
        let t = T::parse_from(["t", "checkout-v3-2-0"]);
        let text = statement(&t.args, &[source("a"), source("b"), source("c")], &[]);
        assert_eq!(
            text,
            "showing the last 100 lines per container of 3 pods (3 containers) since 1h in eu-checkout (cluster eu-west-1, namespace checkout)"
        );
        let t = T::parse_from([
            "t", "x", "--tail", "20", "--since", "30m", "--grep", "ERROR", "-f",
        ]);
        let text = statement(&t.args, &[source("a")], &["eu-checkout".into()]);
        assert!(
            text.starts_with(
                "showing the last 20 lines per container of 1 pod (1 container) since 30m"
            ),
            "{text}"
        );
        assert!(text.contains("only lines containing \"ERROR\" among them"));
        assert!(text.contains("following new lines"));
        assert!(text.contains("more than 50 pods"));
    }

    #[test]
    fn log_lines_split_their_timestamps() {
        let (t, rest) = split_timestamp("2026-01-01T10:00:00.5Z boom");
        assert!(t.is_some());
        assert_eq!(rest, "boom");
        assert_eq!(split_timestamp("no time here"), (None, "no time here"));
    }
}
