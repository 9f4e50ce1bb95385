//! Promotion between environments: what a promotion carries (the state its source release
//! recorded) and the gate of an environment fed by another (`Environment.spec.promotion`): a
//! Deploy or Promotion into it must deliver, for every tenant and workload, a state that has
//! been Healthy in `from` for `soak`. Kargo verifies Freight before promoting it; here the
//! check is the admission of the release itself.

use std::collections::BTreeMap;

use gitopshq_crds::promotion::Promotion;
use gitopshq_crds::release::{Release, ReleasePhase, ReleaseType, WorkloadChange};
use jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use serde_json::{Map, Value};

use crate::catalog::Catalog;
use crate::diff::diff_values;
use crate::freeze::parse_duration;
use crate::layout::{RecordedState, ReleaseAdditions, StateKey};
use crate::plan;

/// The changes a promotion's batch releases carry: for each workload its source release
/// changed, the state that release recorded where it runs (chart version and the values
/// releases added). `Err` says why there is none to carry.
pub fn carried_changes(
    catalog: &Catalog,
    source: &Release,
    promotion: Option<&Promotion>,
) -> Result<Vec<WorkloadChange>, String> {
    let project = source.namespace().unwrap_or_default();
    let name = source.name_any();
    // The promotion's own batch releases deliver the same state again (to the canary, for one):
    // what they recorded counts as the source's.
    let carriers: Vec<String> =
        std::iter::once(name.clone())
            .chain(promotion.into_iter().flat_map(|p| {
                (0..p.spec.batches.len()).map(move |i| super::batch_release_name(p, i))
            }))
            .collect();
    let environment = &source.spec.environment;
    let mut changes = Vec::new();
    for change in &source.spec.changes {
        let workload = &change.workload;
        let recorded: Vec<(&StateKey, &RecordedState)> = catalog
            .recorded
            .iter()
            .filter(|(key, state)| {
                key.project == project
                    && key.environment == *environment
                    && key.workload == *workload
                    && carriers.contains(&state.release)
            })
            .collect();
        let Some((_, first)) = recorded.first() else {
            return Err(format!(
                "release {name}'s state of {workload} no longer runs in any tenant of {environment} (a later release replaced it); promote the release that runs there now"
            ));
        };
        if let Some((other, _)) = recorded.iter().find(|(_, s)| s.added != first.added) {
            return Err(format!(
                "release {name} recorded different states of {workload} in {environment} (tenant {} differs): promote from a release that delivered one state",
                other.tenant
            ));
        }
        changes.push(WorkloadChange {
            workload: workload.clone(),
            version: first.added.version.clone(),
            values: first.added.values.clone(),
            unset: Vec::new(),
        });
    }
    Ok(changes)
}

/// What `Environment.spec.promotion` says of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromGate {
    /// The environment takes anything, or the release carries states Healthy long enough.
    Open,
    /// The states ran Healthy in `from`, not yet for the soak: admitted from `until` on.
    Soaking { until: Timestamp, message: String },
    /// Some state the release would deliver has not run Healthy in `from`.
    Refused { message: String },
}

/// Judges `release` (a Deploy or Promotion; a Rollback restores what already ran here and
/// always passes) against its environment's `spec.promotion`. States come from
/// [`Catalog::recorded`]; a release whose tenants or workloads do not resolve passes here, as
/// the render reports that.
pub fn promotion_from_gate(catalog: &Catalog, release: &Release, now: Timestamp) -> FromGate {
    if release.spec.type_ == ReleaseType::Rollback {
        return FromGate::Open;
    }
    let environment = &release.spec.environment;
    let Some(rule) = catalog
        .environment(environment)
        .and_then(|e| e.spec.promotion.as_ref())
    else {
        return FromGate::Open;
    };
    let project = release.namespace().unwrap_or_default();
    let Ok(tenants) = plan::release_tenants(catalog, release) else {
        return FromGate::Open;
    };
    let soak = rule
        .soak
        .as_deref()
        .and_then(parse_duration)
        .unwrap_or_default();
    let replaces = release.spec.type_ == ReleaseType::Promotion;
    let mut latest: Option<(Timestamp, String)> = None;
    for change in &release.spec.changes {
        let Some(workload) = catalog.workload(&project, &change.workload) else {
            return FromGate::Open;
        };
        let chart = &workload.spec.chart;
        for tenant in tenants
            .iter()
            .filter(|t| plan::tenant_runs(t, &change.workload))
        {
            let key = StateKey::new(&project, environment, &tenant.name_any(), &change.workload);
            let here = plan::recorded_state(catalog, &key, chart);
            let wanted = plan::release_additions(here, Some(change), replaces);
            let subject = format!("{} for tenant {}", change.workload, tenant.name_any());
            match healthy_since(
                catalog,
                &project,
                &rule.from,
                &change.workload,
                chart,
                &wanted,
            ) {
                Ok(since) => {
                    let until = since.checked_add(soak).unwrap_or(since);
                    if now < until && latest.as_ref().is_none_or(|(t, _)| until > *t) {
                        latest = Some((
                            until,
                            format!(
                                "{subject} carries a state Healthy in {} since {since}, {} of the {} soak",
                                rule.from,
                                human(now.duration_since(since)),
                                rule.soak.as_deref().unwrap_or("0s"),
                            ),
                        ));
                    }
                }
                Err(why) => {
                    return FromGate::Refused {
                        message: format!("{subject} would run {}, {why}", describe(&wanted, chart)),
                    };
                }
            }
        }
    }
    match latest {
        None => FromGate::Open,
        Some((until, message)) => FromGate::Soaking { until, message },
    }
}

/// Since when `wanted` has run Healthy in `from` (the earliest among its tenants), or why it
/// has not.
fn healthy_since(
    catalog: &Catalog,
    project: &str,
    from: &str,
    workload: &str,
    chart: &str,
    wanted: &ReleaseAdditions,
) -> Result<Timestamp, String> {
    let there: BTreeMap<&str, &RecordedState> = catalog
        .recorded
        .iter()
        .filter(|(k, s)| {
            k.project == project
                && k.environment == from
                && k.workload == workload
                && s.chart == chart
        })
        .map(|(k, s)| (k.tenant.as_str(), s))
        .collect();
    let matching: Vec<(&str, &RecordedState)> = there
        .iter()
        .filter(|(_, s)| s.added == *wanted)
        .map(|(t, s)| (*t, *s))
        .collect();
    if matching.is_empty() {
        return Err(match there.iter().next() {
            None => format!("which has never run in {from} (no tenant of {from} runs {workload})"),
            Some((tenant, state)) => format!(
                "which no tenant of {from} runs ({tenant} runs release {}: {})",
                state.release,
                differences(wanted, &state.added)
            ),
        });
    }
    let mut not_healthy = Vec::new();
    let mut since: Option<Timestamp> = None;
    for (tenant, state) in matching {
        let release = catalog.release(project, &state.release);
        let status = release.and_then(|r| r.status.as_ref());
        let phase = status.and_then(|s| s.phase).unwrap_or_default();
        let entered = status.and_then(|s| {
            s.timeline
                .iter()
                .rev()
                .find(|t| t.phase == ReleasePhase::Healthy)
                .map(|t| t.time.0)
        });
        match (phase, entered) {
            (ReleasePhase::Healthy, Some(at)) => {
                since = Some(since.map_or(at, |s| s.min(at)));
            }
            _ => not_healthy.push(format!("{tenant} (release {}, {phase})", state.release)),
        }
    }
    since.ok_or_else(|| {
        format!(
            "which runs in {from} but is not Healthy there: {}",
            not_healthy.join(", ")
        )
    })
}

/// `chart 1.1.0 with image.tag=abc1234, replicaCount=3` (the version a release pinned, else
/// the chart alone).
fn describe(added: &ReleaseAdditions, chart: &str) -> String {
    let version = added
        .version
        .as_deref()
        .map(|v| format!("{chart} {v}"))
        .unwrap_or_else(|| format!("{chart} at the Workload's version"));
    let values = flatten(&added.values);
    if values.is_empty() {
        return format!("{version} with no release values");
    }
    let values: Vec<String> = values.iter().map(|(p, v)| format!("{p}={v}")).collect();
    format!("{version} with {}", values.join(", "))
}

/// The fields in which `ours` and `theirs` differ, named by value path.
fn differences(ours: &ReleaseAdditions, theirs: &ReleaseAdditions) -> String {
    let mut out = Vec::new();
    if ours.version != theirs.version {
        out.push(format!(
            "chart version {} here, {} there",
            ours.version.as_deref().unwrap_or("unpinned"),
            theirs.version.as_deref().unwrap_or("unpinned")
        ));
    }
    let show = |value: Option<&Value>| match value {
        None => "unset".to_string(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    let values = diff_values(
        &Value::Object(ours.values.clone()),
        &Value::Object(theirs.values.clone()),
    );
    for change in values.changes {
        out.push(format!(
            "{} {} here, {} there",
            change.path,
            show(change.old.as_ref()),
            show(change.new.as_ref())
        ));
    }
    if out.is_empty() {
        "the same values".into()
    } else {
        out.join("; ")
    }
}

fn flatten(values: &Map<String, Value>) -> BTreeMap<String, String> {
    fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&path, v, out);
                }
            }
            Value::String(s) => {
                out.insert(prefix.to_string(), s.clone());
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    for (k, v) in values {
        walk(k, v, &mut out);
    }
    out
}

fn human(d: SignedDuration) -> String {
    let secs = d.as_secs().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}
