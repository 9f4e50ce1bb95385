//! Admission webhook load and latency.
//!
//! 1. Decision latency in process (`review::review`, decode → decide → encode) of the reviews
//!    that need no Rego: an ApprovalRequest decision, a BreakGlassSession creation, a Release
//!    submitted during a freeze, a ChartVersion spec change.
//! 2. The same reviews over real HTTPS: the server on 127.0.0.1 (rustls, generated
//!    certificate) and a keep-alive reqwest client with N concurrent tasks in the same process,
//!    a fixed number of reviews; end-to-end p50/p99, reviews/s, and the server-side decision
//!    time from the server's own histogram.
//! 3. A Release judged by 50 bound policies on 20 rendered objects: first evaluation (new
//!    release, compiled policies, evaluation cache cold for it) and re-evaluation of the same
//!    rendered objects (evaluation cache warm), plus a fully cold engine for reference.
//!
//! `cargo bench -p gitopshq-webhook --bench admission`
//! `cargo bench -p gitopshq-webhook --bench admission -- --reviews 20000 --concurrency 16`
//! `cargo bench -p gitopshq-webhook --bench admission -- --release-only --first 1000`
//! `cargo bench -p gitopshq-webhook --bench admission -- --first-only --first 100` (under
//! callgrind: the first evaluations alone)

#[path = "../tests/common/mod.rs"]
mod common;

// The allocator of the `gitopshq` binary, so that the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use gitopshq_engine::plan;
use gitopshq_engine::policy::ReleaseSubject;
use gitopshq_webhook::{Context, Endpoint, review};
use serde_json::json;

/// Stops the HTTPS load run if it takes longer than this.
const LOAD_DEADLINE: Duration = Duration::from_secs(300);

struct Options {
    reviews: usize,
    concurrency: usize,
    in_process: usize,
    first_evaluations: usize,
    warm_evaluations: usize,
    /// Only section 3 (`--release-only`), e.g. under a profiler.
    release_only: bool,
    /// Only the first evaluations of section 3 (`--first-only`), for instruction counts.
    first_only: bool,
}

impl Options {
    fn parse() -> Self {
        let mut options = Options {
            reviews: 20_000,
            concurrency: 16,
            in_process: 20_000,
            first_evaluations: 300,
            warm_evaluations: 3_000,
            release_only: false,
            first_only: false,
        };
        let args: Vec<String> = std::env::args().collect();
        let value = |name: &str| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
                .and_then(|v| v.parse::<usize>().ok())
        };
        if let Some(v) = value("--reviews") {
            options.reviews = v;
        }
        if let Some(v) = value("--concurrency") {
            options.concurrency = v.max(1);
        }
        if let Some(v) = value("--in-process") {
            options.in_process = v;
        }
        if let Some(v) = value("--first") {
            options.first_evaluations = v;
        }
        if let Some(v) = value("--warm") {
            options.warm_evaluations = v;
        }
        options.first_only = args.iter().any(|a| a == "--first-only");
        options.release_only = options.first_only || args.iter().any(|a| a == "--release-only");
        options
    }
}

/// p50, p99, max and mean of a sample, in microseconds.
struct Summary {
    n: usize,
    p50: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

fn summarise(samples: &mut [Duration]) -> Summary {
    samples.sort_unstable();
    let n = samples.len();
    let at = |q: f64| {
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
        samples[rank].as_secs_f64() * 1e6
    };
    let total: f64 = samples.iter().map(|d| d.as_secs_f64()).sum();
    Summary {
        n,
        p50: at(0.50),
        p99: at(0.99),
        max: samples.last().map_or(0.0, |d| d.as_secs_f64() * 1e6),
        mean: total / n.max(1) as f64 * 1e6,
    }
}

fn print_row(label: &str, s: &Summary) {
    println!(
        "  {label:<44} n={:<6} p50 {:>9.1} µs  p99 {:>9.1} µs  max {:>9.1} µs  mean {:>9.1} µs",
        s.n, s.p50, s.p99, s.max, s.mean
    );
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// CPU time counters of the whole machine (`/proc/stat`): (steal, total), in ticks. On a shared
/// virtual machine, time stolen by the host shows up in latency but is none of the code's.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    Some((*fields.get(7)?, fields.iter().take(8).sum()))
}

/// The share of CPU time the host took away between two [`cpu_ticks`] readings.
fn steal_share(before: Option<(u64, u64)>) -> String {
    match (before, cpu_ticks()) {
        (Some((s0, t0)), Some((s1, t1))) if t1 > t0 => {
            format!("{:.1} %", (s1 - s0) as f64 * 100.0 / (t1 - t0) as f64)
        }
        _ => "unknown".into(),
    }
}

/// The four no-Rego reviews, each with the verdict it must get: (label, endpoint, body, verdict).
fn no_rego_reviews() -> Vec<(&'static str, Endpoint, Vec<u8>, &'static str)> {
    let approval = ReviewRequest::new(
        "ApprovalRequest",
        "UPDATE",
        "bob",
        &["sre-team"],
        approval_request_json(json!([{"decision": "Approve", "comment": "ok"}])),
    )
    .old(approval_request_json(json!([])))
    .uid("bench-approval");
    let session = ReviewRequest::new(
        "BreakGlassSession",
        "CREATE",
        "carol",
        &["sre-team"],
        new_session_json("incident-99"),
    )
    .uid("bench-session");
    let frozen = ReviewRequest::new(
        "Release",
        "CREATE",
        "dave",
        &["backend-team"],
        release_json("bench-frozen", FROZEN, true),
    )
    .uid("bench-frozen");
    let old_chart = chart_version_json();
    let mut new_chart = old_chart.clone();
    new_chart["spec"]["values"]["replicas"] = json!(4);
    let chart = ReviewRequest::new(
        "ChartVersion",
        "UPDATE",
        "erin",
        &["platform-team"],
        new_chart,
    )
    .old(old_chart)
    .uid("bench-chart");
    vec![
        (
            "ApprovalRequest decision /validate",
            Endpoint::Validate,
            approval.body(),
            "allowed",
        ),
        (
            "ApprovalRequest decision /mutate",
            Endpoint::Mutate,
            approval.body(),
            "allowed",
        ),
        (
            "BreakGlassSession create /validate",
            Endpoint::Validate,
            session.body(),
            "warned",
        ),
        (
            "BreakGlassSession create /mutate",
            Endpoint::Mutate,
            session.body(),
            "allowed",
        ),
        (
            "Release during a freeze /validate",
            Endpoint::Validate,
            frozen.body(),
            "Frozen",
        ),
        (
            "Release during a freeze /mutate",
            Endpoint::Mutate,
            frozen.body(),
            "allowed",
        ),
        (
            "ChartVersion spec change /validate",
            Endpoint::Validate,
            chart.body(),
            "Immutable",
        ),
    ]
}

fn path_of(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Validate => "/validate",
        Endpoint::Mutate => "/mutate",
    }
}

fn in_process(options: &Options) {
    println!(
        "\n1. Decision latency in process (review::review: decode, decide, encode), {} per review:",
        options.in_process
    );
    let ctx = context(snapshot(Vec::new()));
    let reviews = no_rego_reviews();
    let mut all = Vec::new();
    for (label, endpoint, body, verdict) in &reviews {
        let outcome = review(body, *endpoint, &ctx).expect("answered");
        assert_eq!(outcome.verdict, *verdict, "{label}");
        for _ in 0..1_000 {
            std::hint::black_box(review(body, *endpoint, &ctx).expect("answered"));
        }
        let mut samples = Vec::with_capacity(options.in_process);
        for _ in 0..options.in_process {
            let started = Instant::now();
            let outcome = review(std::hint::black_box(body), *endpoint, &ctx).expect("answered");
            samples.push(started.elapsed());
            std::hint::black_box(outcome);
        }
        all.extend_from_slice(&samples);
        print_row(label, &summarise(&mut samples));
    }
    print_row("all no-Rego reviews", &summarise(&mut all));
}

/// The decision-time histogram `/metrics` exposes, summed over all its series: cumulative
/// bucket counts by upper bound, the sum of seconds and the count.
#[derive(Default)]
struct Histogram {
    buckets: Vec<(f64, u64)>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn parse(metrics: &str) -> Self {
        let mut h = Histogram::default();
        for line in metrics.lines() {
            let Some(rest) = line.strip_prefix("gitopshq_webhook_admission_duration_seconds")
            else {
                continue;
            };
            let value: f64 = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            if rest.starts_with("_bucket") {
                let bound = rest
                    .split("le=\"")
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                    .and_then(|le| le.parse::<f64>().ok())
                    .unwrap_or(f64::INFINITY);
                match h.buckets.iter_mut().find(|(b, _)| *b == bound) {
                    Some((_, total)) => *total += value as u64,
                    None => h.buckets.push((bound, value as u64)),
                }
            } else if rest.starts_with("_sum") {
                h.sum += value;
            } else if rest.starts_with("_count") {
                h.count += value as u64;
            }
        }
        h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        h
    }

    /// What was observed between `before` and `self`.
    fn since(&self, before: &Histogram) -> Histogram {
        let buckets = self
            .buckets
            .iter()
            .map(|(bound, n)| {
                let earlier = before
                    .buckets
                    .iter()
                    .find(|(b, _)| b == bound)
                    .map_or(0, |(_, m)| *m);
                (*bound, n - earlier)
            })
            .collect();
        Histogram {
            buckets,
            sum: self.sum - before.sum,
            count: self.count - before.count,
        }
    }

    /// The upper bound of the bucket holding quantile `q`.
    fn quantile(&self, q: f64) -> String {
        let wanted = ((q * self.count as f64).ceil() as u64).max(1);
        match self.buckets.iter().find(|(_, n)| *n >= wanted) {
            Some((b, _)) if b.is_finite() => format!("≤ {:.0} µs", b * 1e6),
            Some(_) => "> 1 s".into(),
            None => "n/a".into(),
        }
    }

    fn mean_us(&self) -> f64 {
        self.sum / self.count.max(1) as f64 * 1e6
    }
}

async fn https_run(
    server: &Server,
    bodies: &Arc<Vec<(Endpoint, Vec<u8>)>>,
    total: usize,
    concurrency: usize,
) -> (Vec<Duration>, Duration, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = server.client.clone();
        let base = server.base.clone();
        let bodies = Arc::clone(bodies);
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(total / concurrency + 1);
            let mut failures = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let (endpoint, body) = &bodies[i % bodies.len()];
                let sent = Instant::now();
                let answer = client
                    .post(format!("{base}{}", path_of(*endpoint)))
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                let ok = match answer {
                    Ok(response) if response.status().is_success() => {
                        response.bytes().await.is_ok()
                    }
                    _ => false,
                };
                samples.push(sent.elapsed());
                if !ok {
                    failures += 1;
                }
            }
            (samples, failures)
        }));
    }
    let mut samples = Vec::with_capacity(total);
    let mut failures = 0;
    let joined = tokio::time::timeout(LOAD_DEADLINE, futures::future::join_all(tasks))
        .await
        .expect("the load run finished within its deadline");
    for result in joined {
        let (s, f) = result.expect("a load task");
        samples.extend(s);
        failures += f;
    }
    (samples, started.elapsed(), failures)
}

fn over_https(options: &Options) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let server = Server::start(context(snapshot(Vec::new()))).await;
        server.context.set_ready();
        let bodies: Arc<Vec<(Endpoint, Vec<u8>)>> = Arc::new(
            no_rego_reviews()
                .into_iter()
                .map(|(_, endpoint, body, _)| (endpoint, body))
                .collect(),
        );
        // Warm up connections, allocator and caches; then reset nothing: the histogram is read
        // as a difference below.
        https_run(&server, &bodies, 2_000, options.concurrency).await;
        for (concurrency, total) in [(1, options.reviews / 4), (options.concurrency, options.reviews)] {
            let (_, before) = server.get("/metrics").await;
            let (mut samples, elapsed, failures) =
                https_run(&server, &bodies, total, concurrency).await;
            let (_, after) = server.get("/metrics").await;
            let rate = total as f64 / elapsed.as_secs_f64();
            println!(
                "\n2. Over HTTPS (keep-alive HTTP/1.1, rustls, loopback), {total} no-Rego reviews, {concurrency} concurrent client task(s), server and client on one 2-worker runtime:"
            );
            print_row("end to end (client send → body read)", &summarise(&mut samples));
            println!(
                "  sustained: {rate:.0} reviews/s over {:.2} s; failures: {failures}",
                elapsed.as_secs_f64()
            );
            let run = Histogram::parse(&after).since(&Histogram::parse(&before));
            println!(
                "  server-side decision (server histogram, this run): p50 {}, p99 {}, mean {:.1} µs over {} reviews",
                run.quantile(0.50),
                run.quantile(0.99),
                run.mean_us(),
                run.count
            );
        }
        server.running.shutdown().await.expect("clean shutdown");
    });
}

fn rego_release(options: &Options) {
    const POLICIES: usize = 50;
    println!(
        "\n3. Release into staging judged by {POLICIES} bound policies (25 per object, 25 per release) on {RENDERED_OBJECTS} rendered objects (10 Deployments, 10 ConfigMaps), in process:"
    );
    let ctx = context(snapshot(bench_policies(POLICIES)));
    let body = |name: &str| {
        ReviewRequest::new(
            "Release",
            "CREATE",
            "dave",
            &["backend-team"],
            tagged_release_json(name, "v2.0.0"),
        )
        .uid(name.to_string())
        .body()
    };
    // Compile the policies once (the webhook does when the Policy objects are admitted and the
    // first release meets them); check the verdict.
    let first = review(&body("warm-up"), Endpoint::Validate, &ctx).expect("answered");
    assert_eq!(first.verdict, "allowed", "{:?}", first.review.response);
    let stats = ctx.policies.cache_stats();
    println!(
        "  one review evaluates {} policy × input pairs",
        stats.evaluations.misses
    );

    // First evaluation: each release is new (its name is part of every input), so every
    // policy × input misses the evaluation cache; rendering and input building are included.
    let bodies: Vec<Vec<u8>> = (0..options.first_evaluations)
        .map(|i| body(&format!("release-{i:05}")))
        .collect();
    let mut samples = Vec::with_capacity(bodies.len());
    let ticks = cpu_ticks();
    for b in &bodies {
        let started = Instant::now();
        let outcome = review(b, Endpoint::Validate, &ctx).expect("answered");
        samples.push(started.elapsed());
        assert_eq!(outcome.verdict, "allowed", "{:?}", outcome.review.response);
    }
    // Whether reviews slow down as the caches fill: the median of each tenth of the run.
    let tenth = (samples.len() / 10).max(1);
    println!(
        "    median per tenth of the run (µs): {}",
        samples
            .chunks(tenth)
            .map(|chunk| {
                let mut chunk = chunk.to_vec();
                format!("{:.0}", summarise(&mut chunk).p50)
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut slowest: Vec<(usize, Duration)> = samples.iter().copied().enumerate().collect();
    slowest.sort_by_key(|(_, d)| std::cmp::Reverse(*d));
    print_row("first evaluation (new release)", &summarise(&mut samples));
    println!(
        "    CPU time taken by the host (steal) during these reviews: {}",
        steal_share(ticks)
    );
    println!(
        "    slowest (review index: µs): {}",
        slowest
            .iter()
            .take(6)
            .map(|(i, d)| format!("{i}: {:.0}", d.as_secs_f64() * 1e6))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if options.first_only {
        return;
    }

    // The same rendered objects again: every evaluation is a cache hit; rendering and
    // digests remain.
    let same = body("evaluated-before");
    review(&same, Endpoint::Validate, &ctx).expect("answered");
    let mut samples = Vec::with_capacity(options.warm_evaluations);
    for _ in 0..options.warm_evaluations {
        let started = Instant::now();
        let outcome = review(&same, Endpoint::Validate, &ctx).expect("answered");
        samples.push(started.elapsed());
        std::hint::black_box(outcome);
    }
    print_row("same rendered objects again", &summarise(&mut samples));

    // Where the time of a re-evaluated release goes: the render alone (targets, values,
    // templates, 20 objects), and the policies alone on the already rendered objects.
    let release: gitopshq_crds::release::Release =
        object(tagged_release_json("evaluated-before", "v2.0.0"));
    let catalog = catalog();
    let mut samples = Vec::with_capacity(options.warm_evaluations);
    let mut rendered = Vec::new();
    for _ in 0..options.warm_evaluations {
        let started = Instant::now();
        let targets = plan::release_targets(&catalog, &release).expect("targets");
        rendered = plan::render_targets(&catalog, targets).expect("renders");
        samples.push(started.elapsed());
    }
    let objects: usize = rendered.iter().map(|r| r.output.manifests.len()).sum();
    assert_eq!(objects, RENDERED_OBJECTS);
    print_row("  of which rendering 20 objects", &summarise(&mut samples));
    let chart = plan::chart_source(&catalog.chart_versions[0]);
    let mut samples = Vec::with_capacity(options.warm_evaluations);
    for _ in 0..options.warm_evaluations {
        let started = Instant::now();
        let compiled = gitopshq_engine::render::CompiledChart::compile(&chart).expect("compiles");
        samples.push(started.elapsed());
        std::hint::black_box(compiled);
    }
    print_row(
        "    of which compiling the chart's templates",
        &summarise(&mut samples),
    );
    let policies = bench_policies(POLICIES);
    let subject = ReleaseSubject {
        environment: OPEN,
        project: PROJECT,
        release: "evaluated-before",
        changes: &release.spec.changes,
        targets: gitopshq_engine::policy::subject_targets(&rendered),
    };
    let mut samples = Vec::with_capacity(options.warm_evaluations);
    for _ in 0..options.warm_evaluations {
        let started = Instant::now();
        let results = ctx
            .policies
            .evaluate_release(&policies, &subject)
            .expect("evaluated");
        samples.push(started.elapsed());
        std::hint::black_box(results);
    }
    print_row(
        "  of which 50 policies, cached outcomes",
        &summarise(&mut samples),
    );

    // For reference: a fresh engine each time (compile 50 modules, then evaluate).
    let mut samples = Vec::new();
    for i in 0..20 {
        let ctx: Arc<Context> = context(snapshot(bench_policies(POLICIES)));
        let b = body(&format!("cold-{i}"));
        let started = Instant::now();
        review(&b, Endpoint::Validate, &ctx).expect("answered");
        samples.push(started.elapsed());
    }
    print_row("cold engine (compile + evaluate)", &summarise(&mut samples));
    println!("  evaluation cache: {:?}", ctx.policies.cache_stats());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --benches` runs bench targets with `--bench` absent; keep that quick.
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let options = Options::parse();
    println!(
        "admission webhook bench — load average at start: {} ({} CPUs)",
        loadavg(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if !options.release_only {
        in_process(&options);
        over_https(&options);
    }
    rego_release(&options);
    println!("\nload average at end: {}", loadavg());
}
