//! `gitopshq sandbox --bench-releases N`: N successive releases of one workload to one tenant
//! through the whole loop, each stage timed when the object that proves it changes.
//!
//! A release changes an env value of payment-api, so each one is a new pod template: the
//! controller approves it (development needs no approval), commits and pushes, asks the GitOps
//! engine (Flux or Argo CD) to sync; the engine applies it to the workload cluster; the
//! Deployment rolls its pods out on KWOK's Nodes; the controller sees the rollout and reports
//! the release Healthy. Every mark is the moment a watch delivers the change (the controller's,
//! the engine's and the Deployment's status timestamps have whole-second precision): submitted
//! → Approved → commit → applied → Deployment available → Healthy.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::{Stream, StreamExt};
use gitopshq_crds::release::{Release, ReleasePhase, ReleaseSpec, WorkloadChange};
use gitopshq_engine::outcome::{self, WaitVerdict};
use gitopshq_localplane::RealLoop;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{DynamicObject, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;

use super::engine::Delivery;
use super::healthy::{
    BOOTSTRAP_RELEASE, ENVIRONMENT, TENANT, TENANT_NAMESPACE, WORKLOAD, tenant_object,
};

/// The user who submits the releases: a ReleaseManager of development in the example.
const SUBMITTER: &str = "alice";
/// The env value each release changes.
const MARKER: &str = "BENCH_RELEASE";
/// One release taking longer than this is stuck, not slow.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(180);

/// The stages, each from the previous mark (the first from the submission).
fn stages(delivery: Delivery) -> [String; 5] {
    let engine = delivery.name();
    [
        "submitted → Approved".into(),
        "Approved → commit pushed".into(),
        format!("commit → {engine} applied"),
        format!("{engine} applied → Deployment available"),
        "Deployment available → release Healthy".into(),
    ]
}

/// A change one of the watches delivered, and when.
enum Seen {
    Release(Box<Release>),
    EngineObject(Box<DynamicObject>),
    Deployment(Box<Deployment>),
}

/// When each stage of one release ended, from its submission.
#[derive(Default, Debug, Clone)]
struct Marks {
    approved: Option<Duration>,
    committed: Option<Duration>,
    applied: Option<Duration>,
    available: Option<Duration>,
    healthy: Option<Duration>,
}

impl Marks {
    fn all(&self) -> Option<[Duration; 5]> {
        Some([
            self.approved?,
            self.committed?,
            self.applied?,
            self.available?,
            self.healthy?,
        ])
    }

    fn missing(&self, delivery: Delivery) -> Vec<String> {
        let marks = [
            self.approved,
            self.committed,
            self.applied,
            self.available,
            self.healthy,
        ];
        stages(delivery)
            .into_iter()
            .zip(marks)
            .filter(|(_, m)| m.is_none())
            .map(|(s, _)| s)
            .collect()
    }
}

/// One finished release: the end of each stage, from its submission.
struct Timed {
    name: String,
    ends: [Duration; 5],
}

impl Timed {
    /// Each stage's own duration. A mark observed before the previous one (two watches
    /// delivering out of order) counts as a stage of zero.
    fn stages(&self) -> [Duration; 5] {
        let mut previous = Duration::ZERO;
        self.ends.map(|end| {
            let stage = end.saturating_sub(previous);
            previous = previous.max(end);
            stage
        })
    }

    fn approved_to_healthy(&self) -> Duration {
        self.ends[4].saturating_sub(self.ends[0])
    }
}

/// Runs `count` releases one after the other and returns the report to print.
pub async fn run(real_loop: &RealLoop, delivery: Delivery, count: usize) -> Result<String> {
    let (namespace, _) = BOOTSTRAP_RELEASE;
    let management = real_loop.management.client().await?;
    let workload = real_loop.workload.client().await?;
    let submitter: Api<Release> =
        Api::namespaced(real_loop.management.client_as(SUBMITTER).await?, namespace);
    let deployments: Api<Deployment> = Api::namespaced(workload, TENANT_NAMESPACE);
    let engine_object = tenant_object();

    let (seen, mut changes) = mpsc::unbounded_channel::<(Instant, Seen)>();
    let by_name = |name: &str| watcher::Config::default().fields(&format!("metadata.name={name}"));
    let watches = [
        forward(
            watcher(
                Api::<Release>::namespaced(management.clone(), namespace),
                watcher::Config::default(),
            ),
            seen.clone(),
            |r| Seen::Release(Box::new(r)),
        ),
        forward(
            watcher(
                Api::<DynamicObject>::namespaced_with(
                    management,
                    delivery.namespace(),
                    &delivery.tenant_resource(),
                ),
                by_name(&engine_object),
            ),
            seen.clone(),
            |k| Seen::EngineObject(Box::new(k)),
        ),
        forward(watcher(deployments.clone(), by_name(WORKLOAD)), seen, |d| {
            Seen::Deployment(Box::new(d))
        }),
    ];

    eprintln!(
        "release benchmark: {count} releases of {WORKLOAD} to tenant {TENANT} ({ENVIRONMENT}), one after the other, each changing env {MARKER}"
    );
    let mut timed = Vec::with_capacity(count);
    let outcome = async {
        for i in 1..=count {
            let name = format!("{WORKLOAD}-bench-{i:02}");
            let generation = deployments
                .get(WORKLOAD)
                .await
                .with_context(|| format!("reading Deployment {TENANT_NAMESPACE}/{WORKLOAD}"))?
                .metadata
                .generation
                .unwrap_or_default();
            // What the watches delivered before this release says nothing about it.
            while changes.try_recv().is_ok() {}
            let submitted = Instant::now();
            submitter
                .create(&PostParams::default(), &release(&name, i))
                .await
                .with_context(|| format!("{SUBMITTER} creating release {name}"))?;
            let watched = Watched {
                release: &name,
                generation_before: generation,
                engine_object: &engine_object,
                delivery,
            };
            let marks = follow(&watched, submitted, &mut changes).await?;
            let Some(ends) = marks.all() else {
                unreachable!("follow returns complete marks")
            };
            let one = Timed { name, ends };
            eprintln!(
                "  {:>2}/{count} {}: Healthy {} after submission ({})",
                i,
                one.name,
                secs(one.ends[4]),
                one.stages()
                    .iter()
                    .map(|s| secs(*s))
                    .collect::<Vec<_>>()
                    .join(" + ")
            );
            timed.push(one);
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    for watch in watches {
        watch.abort();
    }
    outcome?;
    Ok(report(&timed, delivery))
}

fn release(name: &str, i: usize) -> Release {
    let mut values = serde_json::Map::new();
    values.insert("env".into(), json!({ MARKER: i.to_string() }));
    let mut release = Release::new(
        name,
        ReleaseSpec {
            title: format!("{WORKLOAD}: benchmark release {i}"),
            environment: ENVIRONMENT.into(),
            tenants: vec![TENANT.into()],
            changes: vec![WorkloadChange {
                workload: WORKLOAD.into(),
                version: None,
                values,
                unset: Vec::new(),
            }],
            submitted: true,
            ..ReleaseSpec::default()
        },
    );
    release.metadata.namespace = Some(BOOTSTRAP_RELEASE.0.into());
    release
}

/// Sends every object a watch delivers, with the moment it arrived, until aborted.
fn forward<K, S>(
    stream: S,
    to: mpsc::UnboundedSender<(Instant, Seen)>,
    wrap: fn(K) -> Seen,
) -> tokio::task::JoinHandle<()>
where
    K: Send + 'static,
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        // The watcher retries a broken watch itself after an error, with backoff.
        let mut objects = stream.default_backoff().applied_objects().boxed();
        while let Some(next) = objects.next().await {
            if let Ok(object) = next
                && to.send((Instant::now(), wrap(object))).is_err()
            {
                return;
            }
        }
    })
}

/// What one benchmark release is followed by.
struct Watched<'a> {
    release: &'a str,
    /// The Deployment's generation before the release.
    generation_before: i64,
    /// The engine's object that applies the tenant's folder.
    engine_object: &'a str,
    delivery: Delivery,
}

/// Reads the watches until the release is Healthy and every mark is set.
async fn follow(
    watched: &Watched<'_>,
    submitted: Instant,
    changes: &mut mpsc::UnboundedReceiver<(Instant, Seen)>,
) -> Result<Marks> {
    let name = watched.release;
    let deadline = tokio::time::Instant::from_std(submitted + RELEASE_TIMEOUT);
    let mut marks = Marks::default();
    let mut commit: Option<String> = None;
    // When the engine first reported each revision applied: the commit may be learnt after.
    let mut applied_at: HashMap<String, Duration> = HashMap::new();
    let mut last_state = String::from("no status yet");
    loop {
        if let (Some(commit), None) = (&commit, marks.applied) {
            marks.applied = applied_at.get(commit).copied();
        }
        if marks.all().is_some() {
            return Ok(marks);
        }
        let Ok(next) = tokio::time::timeout_at(deadline, changes.recv()).await else {
            bail!(
                "release {name} not done after {}: it is {last_state}; no mark yet for {}",
                secs(RELEASE_TIMEOUT),
                marks.missing(watched.delivery).join(", ")
            );
        };
        let Some((at, seen)) = next else {
            bail!("the watches stopped");
        };
        let at = at.saturating_duration_since(submitted);
        match seen {
            Seen::Release(release) if release.name_any() == name => {
                let status = release.status.clone().unwrap_or_default();
                let phase = status.phase;
                last_state = phase.map_or_else(|| "not reconciled".into(), |p| p.to_string());
                if let Some(message) = &status.message {
                    let _ = write!(last_state, ": {message}");
                }
                if outcome::past_approval(&status) {
                    marks.approved.get_or_insert(at);
                }
                if let Some(sha) = status.commit {
                    marks.committed.get_or_insert(at);
                    commit.get_or_insert(sha);
                }
                match outcome::wait_verdict(ReleasePhase::Healthy, phase) {
                    WaitVerdict::Reached => {
                        marks.healthy.get_or_insert(at);
                    }
                    WaitVerdict::Stop(_) => bail!("release {name} is {last_state}"),
                    WaitVerdict::Waiting => {}
                }
            }
            Seen::Release(_) => {}
            Seen::EngineObject(object) if object.name_any() == watched.engine_object => {
                let value = serde_json::to_value(&*object)?;
                if let Some(revision) = watched.delivery.applied_revision(&value) {
                    applied_at.entry(revision).or_insert(at);
                }
            }
            Seen::EngineObject(_) => {}
            Seen::Deployment(deployment) => {
                if rolled_out(&deployment, watched.generation_before) {
                    marks.available.get_or_insert(at);
                }
            }
        }
    }
}

/// A newer generation than `before` is rolled out as `kubectl rollout status` sees it:
/// observed, every replica updated and available, no old replica left, `Available`.
fn rolled_out(deployment: &Deployment, before: i64) -> bool {
    let generation = deployment.metadata.generation.unwrap_or_default();
    let wanted = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let Some(status) = &deployment.status else {
        return false;
    };
    generation > before
        && status.observed_generation.unwrap_or_default() >= generation
        && status.updated_replicas.unwrap_or_default() == wanted
        && status.available_replicas.unwrap_or_default() == wanted
        && status.replicas.unwrap_or_default() == wanted
        && status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Available" && c.status == "True")
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// The value at quantile `q` of `sorted` (nearest rank).
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut values: Vec<Duration>) -> Vec<Duration> {
    values.sort();
    values
}

fn report(timed: &[Timed], delivery: Delivery) -> String {
    let stages = stages(delivery);
    let mut out = String::new();
    let n = timed.len();
    let _ = writeln!(
        out,
        "Release benchmark ({}): {n} releases of {WORKLOAD} to {TENANT}, each from submission to Healthy",
        delivery.name()
    );
    let stage_values: Vec<Vec<Duration>> = (0..stages.len())
        .map(|s| sorted(timed.iter().map(|t| t.stages()[s]).collect()))
        .collect();
    let medians: Vec<Duration> = stage_values.iter().map(|v| quantile(v, 0.5)).collect();
    let median_sum: Duration = medians.iter().sum();
    let _ = writeln!(
        out,
        "  {:<40} {:>9} {:>9} {:>9}  share",
        "stage", "median", "p90", "max"
    );
    for (s, stage) in stages.iter().enumerate() {
        let values = &stage_values[s];
        let share = if median_sum.is_zero() {
            0.0
        } else {
            100.0 * medians[s].as_secs_f64() / median_sum.as_secs_f64()
        };
        let _ = writeln!(
            out,
            "  {stage:<40} {:>9} {:>9} {:>9}  {share:>4.0} %",
            secs(medians[s]),
            secs(quantile(values, 0.9)),
            secs(*values.last().unwrap_or(&Duration::ZERO)),
        );
    }
    for (label, values) in [
        (
            "Approved → Healthy",
            sorted(timed.iter().map(Timed::approved_to_healthy).collect()),
        ),
        (
            "submitted → Healthy",
            sorted(timed.iter().map(|t| t.ends[4]).collect()),
        ),
    ] {
        let _ = writeln!(
            out,
            "  {label:<40} {:>9} {:>9} {:>9}",
            secs(quantile(&values, 0.5)),
            secs(quantile(&values, 0.9)),
            secs(*values.last().unwrap_or(&Duration::ZERO)),
        );
    }
    let _ = write!(
        out,
        "  (share: of the sum of the stage medians, {})",
        secs(median_sum)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let values: Vec<Duration> = (1..=20).map(|v| ms(v * 100)).collect();
        assert_eq!(quantile(&values, 0.5), ms(1000));
        assert_eq!(quantile(&values, 0.9), ms(1800));
        assert_eq!(quantile(&[ms(7)], 0.9), ms(7));
    }

    #[test]
    fn a_mark_seen_before_the_previous_one_is_a_stage_of_zero() {
        let timed = Timed {
            name: "r".into(),
            ends: [ms(100), ms(400), ms(900), ms(800), ms(2000)],
        };
        assert_eq!(timed.stages(), [ms(100), ms(300), ms(500), ms(0), ms(1100)]);
        assert_eq!(timed.approved_to_healthy(), ms(1900));
    }
}
