//! Chart registry: ChartVersion publication checks, digest and consumers; the Chart's table of
//! versions and consumer counts; deprecation reported on the Workloads that use a version.

use std::sync::Arc;

use gitopshq_crds::chart::Chart;
use gitopshq_crds::chart_version::ChartVersion;
use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_crds::workload::Workload;
use gitopshq_engine::charts;
use gitopshq_engine::conditions::{self, Status};
use kube::ResourceExt;
use kube::runtime::controller::Action;

use crate::context::Context;
use crate::error::Result;

pub async fn reconcile_version(cv: Arc<ChartVersion>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.settings.shard.owns_shared() {
        return Ok(Action::await_change());
    }
    let now = ctx.now();
    let generation = cv.metadata.generation;
    let workloads = ctx.index.workloads.store.state();
    let projects = ctx.index.projects.store.state();
    let workload_refs: Vec<&Workload> = workloads.iter().map(|w| w.as_ref()).collect();
    let project_refs: Vec<_> = projects.iter().map(|p| p.as_ref()).collect();
    let check = {
        let cv = Arc::clone(&cv);
        tokio::task::spawn_blocking(move || charts::publication_check(&cv)).await?
    };
    let mut status = cv.status.clone().unwrap_or_default();
    status.digest = Some(charts::content_digest(&cv));
    status.consumers = charts::consumers(&cv, &workload_refs, &project_refs);
    status.consumer_count = i32::try_from(status.consumers.len()).unwrap_or(i32::MAX);
    let c = &mut status.conditions;
    let (valid, reason, message) = match &check {
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
    if cv.status.as_ref() != Some(&status) {
        ctx.patch_status(cv.as_ref(), &status).await?;
    }
    Ok(Action::await_change())
}

pub async fn reconcile_chart(chart: Arc<Chart>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.settings.shard.owns_shared() {
        return Ok(Action::await_change());
    }
    let name = chart.name_any();
    let versions: Vec<Arc<ChartVersion>> = ctx
        .index
        .chart_versions
        .store
        .state()
        .into_iter()
        .filter(|cv| cv.spec.chart == name)
        .collect();
    let workloads = ctx.index.workloads.store.state();
    let projects = ctx.index.projects.store.state();
    let workload_refs: Vec<&Workload> = workloads.iter().map(|w| w.as_ref()).collect();
    let project_refs: Vec<_> = projects.iter().map(|p| p.as_ref()).collect();
    let rows: Vec<(&ChartVersion, i32)> = versions
        .iter()
        .map(|cv| {
            let count = charts::consumers(cv, &workload_refs, &project_refs).len();
            (cv.as_ref(), i32::try_from(count).unwrap_or(i32::MAX))
        })
        .collect();
    let mut status = charts::chart_status(&rows);
    status.conditions = chart
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let message = match &status.latest {
        Some(latest) => format!("{} version(s); latest {latest}", status.versions.len()),
        None => "no published version yet: publish a ChartVersion".to_string(),
    };
    let ready = Status::from_bool(status.latest.is_some());
    conditions::set(
        &mut status.conditions,
        types::READY,
        ready,
        reasons::RECONCILED,
        &message,
        chart.metadata.generation,
        ctx.now(),
    );
    if chart.status.as_ref() != Some(&status) {
        ctx.patch_status(chart.as_ref(), &status).await?;
    }
    Ok(Action::await_change())
}

/// Workloads: a condition when a chart version they use is deprecated or missing.
pub async fn reconcile_workload(workload: Arc<Workload>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = workload.namespace().unwrap_or_default();
    if !ctx.settings.shard.owns(&namespace) {
        return Ok(Action::await_change());
    }
    let environments = ctx
        .index
        .projects
        .store
        .get(&kube::runtime::reflector::ObjectRef::new(&namespace))
        .map(|p| p.spec.environments.clone())
        .unwrap_or_default();
    let versions = ctx.index.chart_versions.store.state();
    let version_refs: Vec<&ChartVersion> = versions.iter().map(|v| v.as_ref()).collect();
    let now = ctx.now();
    let generation = workload.metadata.generation;
    let mut status = workload.status.clone().unwrap_or_default();
    let deprecated = charts::deprecations(&workload, &environments, &version_refs);
    let missing = charts::missing_versions(&workload, &environments, &version_refs);
    let c = &mut status.conditions;
    match deprecated.is_empty() {
        true => conditions::set(
            c,
            types::DEPRECATED,
            Status::False,
            reasons::CURRENT,
            "every chart version in use is current",
            generation,
            now,
        ),
        false => conditions::set(
            c,
            types::DEPRECATED,
            Status::True,
            reasons::CHART_DEPRECATED,
            &format!("{}; upgrade spec.version", deprecated.join("; ")),
            generation,
            now,
        ),
    };
    match missing.is_empty() {
        true => conditions::set(
            c,
            types::VALID,
            Status::True,
            reasons::RECONCILED,
            "every chart version in use is published",
            generation,
            now,
        ),
        false => conditions::set(
            c,
            types::VALID,
            Status::False,
            reasons::NOT_FOUND,
            &missing.join("; "),
            generation,
            now,
        ),
    };
    let was_deprecated = workload
        .status
        .as_ref()
        .is_some_and(|s| conditions::is_true(&s.conditions, types::DEPRECATED));
    if workload.status.as_ref() != Some(&status) {
        ctx.patch_status(workload.as_ref(), &status).await?;
        if !deprecated.is_empty() && !was_deprecated {
            ctx.event(
                workload.as_ref(),
                true,
                reasons::CHART_DEPRECATED,
                deprecated.join("; "),
            )
            .await;
        }
    }
    Ok(Action::await_change())
}
