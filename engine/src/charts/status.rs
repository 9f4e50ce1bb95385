//! The registry's statuses as the controller writes them: a ChartVersion's publication check,
//! digest and consumers; a Chart's table of versions; a Workload's conditions about the chart
//! versions it uses.

use gitopshq_crds::chart::{Chart, ChartStatus};
use gitopshq_crds::chart_version::{ChartConsumer, ChartVersion, ChartVersionStatus};
use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_crds::workload::{Workload, WorkloadStatus};
use jiff::Timestamp;

use crate::conditions::{self, Status};

/// `ChartVersion.status` after its publication check (`Ok(objects the default values render)`
/// or why not) with its `consumers`: `Valid`, `Ready` and `Deprecated` conditions.
pub fn version_status(
    cv: &ChartVersion,
    check: &Result<usize, String>,
    consumers: Vec<ChartConsumer>,
    now: Timestamp,
) -> ChartVersionStatus {
    let generation = cv.metadata.generation;
    let mut status = cv.status.clone().unwrap_or_default();
    status.digest = Some(super::content_digest(cv));
    status.consumer_count = i32::try_from(consumers.len()).unwrap_or(i32::MAX);
    status.consumers = consumers;
    let c = &mut status.conditions;
    let (valid, reason, message) = match check {
        Ok(objects) => (
            Status::True,
            reasons::PUBLISHED,
            format!("templates compile; the default values render {objects} object(s)"),
        ),
        Err(problem) => (
            Status::False,
            reasons::PUBLICATION_FAILED,
            format!("{problem}; publish a fixed version (published versions are immutable)"),
        ),
    };
    conditions::set(c, types::VALID, valid, reason, &message, generation, now);
    conditions::set(c, types::READY, valid, reason, &message, generation, now);
    let (deprecated, reason, message) = if cv.spec.deprecated {
        (
            Status::True,
            reasons::CHART_DEPRECATED,
            cv.spec
                .deprecation_message
                .clone()
                .unwrap_or_else(|| "deprecated".into()),
        )
    } else {
        (
            Status::False,
            reasons::CURRENT,
            "not deprecated".to_string(),
        )
    };
    conditions::set(
        c,
        types::DEPRECATED,
        deprecated,
        reason,
        &message,
        generation,
        now,
    );
    status
}

/// `Chart.status`: its versions with their consumer counts ([`super::chart_status`]) and `Ready`
/// once a version is published.
pub fn chart_status_at(
    chart: &Chart,
    versions: &[(&ChartVersion, i32)],
    now: Timestamp,
) -> ChartStatus {
    let mut status = super::chart_status(versions);
    status.conditions = chart
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let message = match &status.latest {
        Some(latest) => format!("{} version(s); latest {latest}", status.versions.len()),
        None => "no published version yet: publish a ChartVersion".to_string(),
    };
    conditions::set(
        &mut status.conditions,
        types::READY,
        Status::from_bool(status.latest.is_some()),
        reasons::RECONCILED,
        &message,
        chart.metadata.generation,
        now,
    );
    status
}

/// A Workload's status after checking the chart versions it uses, and the Warning to record
/// when a version it uses has just become deprecated.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadChartCheck {
    pub status: WorkloadStatus,
    pub newly_deprecated: Option<String>,
}

/// `Deprecated` and `Valid` conditions of `workload` in a project with `environments`.
pub fn workload_chart_status(
    workload: &Workload,
    environments: &[String],
    versions: &[&ChartVersion],
    now: Timestamp,
) -> WorkloadChartCheck {
    let generation = workload.metadata.generation;
    let mut status = workload.status.clone().unwrap_or_default();
    let deprecated = super::deprecations(workload, environments, versions);
    let missing = super::missing_versions(workload, environments, versions);
    let c = &mut status.conditions;
    if deprecated.is_empty() {
        conditions::set(
            c,
            types::DEPRECATED,
            Status::False,
            reasons::CURRENT,
            "every chart version in use is current",
            generation,
            now,
        );
    } else {
        conditions::set(
            c,
            types::DEPRECATED,
            Status::True,
            reasons::CHART_DEPRECATED,
            &format!("{}; upgrade spec.version", deprecated.join("; ")),
            generation,
            now,
        );
    }
    if missing.is_empty() {
        conditions::set(
            c,
            types::VALID,
            Status::True,
            reasons::RECONCILED,
            "every chart version in use is published",
            generation,
            now,
        );
    } else {
        conditions::set(
            c,
            types::VALID,
            Status::False,
            reasons::NOT_FOUND,
            &missing.join("; "),
            generation,
            now,
        );
    }
    let was_deprecated = workload
        .status
        .as_ref()
        .is_some_and(|s| conditions::is_true(&s.conditions, types::DEPRECATED));
    WorkloadChartCheck {
        status,
        newly_deprecated: (!deprecated.is_empty() && !was_deprecated)
            .then(|| deprecated.join("; ")),
    }
}
