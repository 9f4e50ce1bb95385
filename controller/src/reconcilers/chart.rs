//! Chart registry: ChartVersion publication checks, digest and consumers; the Chart's table of
//! versions and consumer counts; deprecation reported on the Workloads that use a version.

use std::sync::Arc;

use gitopshq_crds::chart::Chart;
use gitopshq_crds::chart_version::ChartVersion;
use gitopshq_crds::consts::reasons;
use gitopshq_crds::workload::Workload;
use gitopshq_engine::charts;
use kube::ResourceExt;
use kube::runtime::controller::Action;

use crate::context::Context;
use crate::error::Result;

pub async fn reconcile_version(cv: Arc<ChartVersion>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.settings.shard.owns_shared() {
        return Ok(Action::await_change());
    }
    let workloads = ctx.index.workloads.store.state();
    let projects = ctx.index.projects.store.state();
    let workload_refs: Vec<&Workload> = workloads.iter().map(|w| w.as_ref()).collect();
    let project_refs: Vec<_> = projects.iter().map(|p| p.as_ref()).collect();
    let check = {
        let cv = Arc::clone(&cv);
        tokio::task::spawn_blocking(move || charts::publication_check(&cv)).await?
    };
    let consumers = charts::consumers(&cv, &workload_refs, &project_refs);
    let status = charts::version_status(&cv, &check, consumers, ctx.now());
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
    let status = charts::chart_status_at(&chart, &rows, ctx.now());
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
    let check = charts::workload_chart_status(&workload, &environments, &version_refs, ctx.now());
    if workload.status.as_ref() != Some(&check.status) {
        ctx.patch_status(workload.as_ref(), &check.status).await?;
        if let Some(deprecated) = check.newly_deprecated {
            ctx.event(
                workload.as_ref(),
                true,
                reasons::CHART_DEPRECATED,
                deprecated,
            )
            .await;
        }
    }
    Ok(Action::await_change())
}
