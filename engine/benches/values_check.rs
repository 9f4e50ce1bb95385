//! One keystroke in the values editor, checked as the dashboard checks it: the production
//! values of payment-api (examples/bootstrap) parsed, merged for tenant eu-production, its HQ
//! variables resolved, checked against microservice-base's schema and rendered; the chart
//! compiled again for each keystroke, as each request does.
//!
//! `cargo bench -p gitopshq-engine --bench values_check` prints the latency percentiles of
//! 2,000 keystrokes: a third that render, a third with an unresolved variable, a third that
//! are not YAML yet (a quote left open), with a warm-up before.

use std::path::Path;
use std::time::{Duration, Instant};

use gitopshq_engine::catalog::Catalog;
use gitopshq_engine::plan::ChartCache;
use gitopshq_engine::values_check::{ValuesScope, check_values};
use serde_json::Value;

const KEYSTROKES: usize = 2_000;
const WARM_UP: usize = 100;

/// The objects of examples/bootstrap, by kind.
fn bootstrap() -> Catalog {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/bootstrap");
    let mut catalog = Catalog::default();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/bootstrap")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        for doc in text.split("\n---") {
            let Ok(value) = yaml_serde::from_str::<Value>(doc) else {
                continue;
            };
            fn object<T: serde::de::DeserializeOwned>(value: &Value) -> T {
                serde_json::from_value(value.clone()).expect("an API object")
            }
            match value.get("kind").and_then(Value::as_str) {
                Some("Project") => catalog.projects.push(object(&value)),
                Some("Environment") => catalog.environments.push(object(&value)),
                Some("Cluster") => catalog.clusters.push(object(&value)),
                Some("ChartVersion") => catalog.chart_versions.push(object(&value)),
                Some("Workload") => catalog.workloads.push(object(&value)),
                Some("Tenant") => catalog.tenants.push(object(&value)),
                Some("Variables") => catalog.variables.push(object(&value)),
                _ => {}
            }
        }
    }
    catalog
}

/// The text after keystroke `n`: production's values with a replica count that changes, and
/// every third keystroke an unresolved variable or an unclosed quote.
fn keystroke(n: usize) -> String {
    let base = format!(
        "replicaCount: {}\nresources:\n  requests:\n    cpu: 250m\n    memory: 256Mi\n  limits:\n    cpu: \"1\"\n    memory: 512Mi\nautoscaling:\n  minReplicas: 3\n  maxReplicas: 12\n",
        3 + n % 7
    );
    match n % 3 {
        0 => base,
        1 => format!("{base}ingress:\n  host: \"{{{{hq.var.PUBLIC_HOSTNAME}}}}\"\n"),
        _ => format!("{base}ingress:\n  host: \"payments.example.com\n"),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let catalog = bootstrap();
    let scope = ValuesScope::Environment("production".into());
    let run = |n: usize| {
        let text = keystroke(n);
        let mut charts = ChartCache::default();
        let check = check_values(
            &catalog,
            &mut charts,
            "payment-service",
            "payment-api",
            &scope,
            Some("eu-production"),
            &text,
        )
        .expect("the workload and tenant exist");
        assert_eq!(
            check.findings.is_empty(),
            n.is_multiple_of(3),
            "keystroke {n}: {:?}",
            check.findings
        );
    };
    for n in 0..WARM_UP {
        run(n);
    }
    let mut times = Vec::with_capacity(KEYSTROKES);
    for n in 0..KEYSTROKES {
        let start = Instant::now();
        run(n);
        times.push(start.elapsed());
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / KEYSTROKES as u32;
    println!(
        "values check, one keystroke ({KEYSTROKES}): p50 {:.2?}, p90 {:.2?}, p99 {:.2?}, max {:.2?}, mean {mean:.2?}",
        percentile(&times, 0.50),
        percentile(&times, 0.90),
        percentile(&times, 0.99),
        times[KEYSTROKES - 1],
    );
}
