//! Environment Compare: resolved values and rendered manifests of two sides, workload by
//! workload. A side is an environment (its own layers, no tenant's), a tenant, or a tenant seen
//! in another environment (its overrides with that environment's layers and variables).

use std::collections::BTreeMap;

use kube::ResourceExt;
use serde_json::Value;

use crate::catalog::Catalog;
use crate::diff::{ManifestDiff, ObjectId, ValuesDiff, diff_objects, diff_values};
use crate::plan::{self, ChartCache, PlanError, Result, Target, TenantView};
use crate::render::{ReleaseInfo, RenderOutput};

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    Environment(String),
    Tenant(String),
    /// Tenant `tenant`'s overrides, with environment `environment`'s layers and variables.
    TenantIn {
        tenant: String,
        environment: String,
    },
    /// What a tenant runs once `release` is delivered: its environment, the state recorded for
    /// the tenant, and the release's changes. `tenant` is one of the release's targets; `None`
    /// is the first of them.
    Release {
        release: String,
        tenant: Option<String>,
    },
}

/// How a release is named as a compare side: `release:NAME`.
pub const RELEASE_SIDE: &str = "release:";

impl Side {
    /// Reads `ENV`, `TENANT` or `ENV/TENANT`; a bare name is an environment when the project
    /// has one of that name, else a tenant. With `tenant` set, environments become
    /// `TenantIn { tenant, environment }`.
    pub fn parse(
        catalog: &Catalog,
        project: &str,
        text: &str,
        tenant: Option<&str>,
    ) -> Result<Side> {
        let is_env = |name: &str| {
            catalog
                .project(project)
                .is_some_and(|p| p.spec.environments.iter().any(|e| e == name))
        };
        if let Some(release) = text.strip_prefix(RELEASE_SIDE) {
            return Ok(Side::Release {
                release: release.to_string(),
                tenant: tenant.map(str::to_string),
            });
        }
        let side = match text.split_once('/') {
            Some((env, t)) => Side::TenantIn {
                tenant: t.to_string(),
                environment: env.to_string(),
            },
            None if is_env(text) => match tenant {
                Some(t) => Side::TenantIn {
                    tenant: t.to_string(),
                    environment: text.to_string(),
                },
                None => Side::Environment(text.to_string()),
            },
            None if catalog.tenant(project, text).is_some() => Side::Tenant(text.to_string()),
            None => {
                return Err(PlanError::EnvironmentNotInProject {
                    project: project.to_string(),
                    environment: text.to_string(),
                    known: catalog
                        .project(project)
                        .map(|p| p.spec.environments.join(", "))
                        .unwrap_or_default(),
                });
            }
        };
        Ok(side)
    }

    pub fn label(&self) -> String {
        match self {
            Side::Environment(env) => format!("environment {env}"),
            Side::Tenant(t) => format!("tenant {t}"),
            Side::TenantIn {
                tenant,
                environment,
            } => format!("tenant {tenant} in {environment}"),
            Side::Release { release, tenant } => match tenant {
                Some(t) => format!("release {release} for tenant {t}"),
                None => format!("release {release}"),
            },
        }
    }
}

/// One workload on both sides.
#[derive(Debug, Clone)]
pub struct WorkloadComparison {
    pub workload: String,
    /// `chart@version` per side; `None` when the side does not run the workload.
    pub left_chart: Option<String>,
    pub right_chart: Option<String>,
    pub values: ValuesDiff,
    /// Objects matched by kind and name: tenants differ by namespace by design, so namespaces
    /// are left out of the identity.
    pub manifests: ManifestDiff,
}

#[derive(Debug, Clone)]
pub struct Comparison {
    pub left: Side,
    pub right: Side,
    pub workloads: Vec<WorkloadComparison>,
}

impl Comparison {
    pub fn is_empty(&self) -> bool {
        self.workloads
            .iter()
            .all(|w| w.values.is_empty() && w.manifests.is_empty() && w.left_chart == w.right_chart)
    }
}

fn side_targets(
    catalog: &Catalog,
    project: &str,
    side: &Side,
    workload: Option<&str>,
) -> Result<Vec<Target>> {
    if let Side::Release { release, tenant } = side {
        return release_side_targets(catalog, project, release, tenant.as_deref(), workload);
    }
    let release = ReleaseInfo {
        release_type: "Deploy".into(),
        ..ReleaseInfo::default()
    };
    let (environment, view) = match side {
        Side::Release { .. } => unreachable!("handled above"),
        Side::Environment(env) => (env.clone(), TenantView::Environment),
        Side::Tenant(name) => {
            let t = catalog
                .tenant(project, name)
                .ok_or_else(|| PlanError::TenantNotFound {
                    project: project.to_string(),
                    tenant: name.clone(),
                })?;
            (t.spec.environment.clone(), TenantView::Tenant(t))
        }
        Side::TenantIn {
            tenant,
            environment,
        } => {
            let t = catalog
                .tenant(project, tenant)
                .ok_or_else(|| PlanError::TenantNotFound {
                    project: project.to_string(),
                    tenant: tenant.clone(),
                })?;
            (environment.clone(), TenantView::Tenant(t))
        }
    };
    plan::check_environment(catalog, project, &environment)?;
    let mut targets = Vec::new();
    let mut workloads: Vec<_> = catalog.workloads_of(project).collect();
    workloads.sort_by_key(|w| w.name_any());
    for w in workloads {
        let name = w.name_any();
        if workload.is_some_and(|only| only != name) {
            continue;
        }
        if let TenantView::Tenant(t) = view
            && !plan::tenant_runs(t, &name)
        {
            continue;
        }
        targets.push(plan::build_target(
            catalog,
            project,
            &environment,
            view,
            w,
            None,
            &release,
        )?);
    }
    Ok(targets)
}

/// A release's side: every workload the tenant runs, those the release changes with its
/// change over the tenant's recorded state, as its delivery would render them.
fn release_side_targets(
    catalog: &Catalog,
    project: &str,
    name: &str,
    tenant: Option<&str>,
    workload: Option<&str>,
) -> Result<Vec<Target>> {
    let release = catalog
        .release(project, name)
        .ok_or_else(|| PlanError::ReleaseNotFound {
            project: project.to_string(),
            release: name.to_string(),
        })?;
    let targets = plan::release_tenants(catalog, release)?;
    let chosen = match tenant {
        None => targets.first().copied(),
        Some(wanted) => targets.iter().copied().find(|t| t.name_any() == wanted),
    }
    .ok_or_else(|| PlanError::NotReleaseTenant {
        release: name.to_string(),
        tenant: tenant.unwrap_or("(none)").to_string(),
        targets: targets
            .iter()
            .map(|t| t.name_any())
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    let info = ReleaseInfo {
        name: name.to_string(),
        title: release.spec.title.clone(),
        release_type: plan::release_type_name(release.spec.type_).to_string(),
    };
    let mut workloads: Vec<_> = catalog.workloads_of(project).collect();
    workloads.sort_by_key(|w| w.name_any());
    let mut out = Vec::new();
    for w in workloads {
        let wname = w.name_any();
        if workload.is_some_and(|only| only != wname) || !plan::tenant_runs(chosen, &wname) {
            continue;
        }
        let change = release.spec.changes.iter().find(|c| c.workload == wname);
        out.push(plan::build_target(
            catalog,
            project,
            &release.spec.environment,
            TenantView::Tenant(chosen),
            w,
            change,
            &info,
        )?);
    }
    Ok(out)
}

struct SideResult {
    chart: String,
    values: Value,
    output: RenderOutput,
}

fn evaluate(
    catalog: &Catalog,
    targets: Vec<Target>,
    charts: &mut ChartCache,
) -> Result<BTreeMap<String, SideResult>> {
    let mut out = BTreeMap::new();
    for target in targets {
        let chart = charts.get(catalog, &target)?;
        let values = chart
            .values_for(&target.input)
            .map_err(plan::render_failed(&target))?;
        let output = chart
            .render(&target.input)
            .map_err(plan::render_failed(&target))?;
        out.insert(
            target.workload.clone(),
            SideResult {
                chart: format!("{}@{}", target.chart, target.version),
                values,
                output,
            },
        );
    }
    Ok(out)
}

/// Compares two sides of one project, optionally for one workload.
pub fn compare(
    catalog: &Catalog,
    project: &str,
    left: Side,
    right: Side,
    workload: Option<&str>,
) -> Result<Comparison> {
    let mut charts = ChartCache::default();
    let left_results = evaluate(
        catalog,
        side_targets(catalog, project, &left, workload)?,
        &mut charts,
    )?;
    let right_results = evaluate(
        catalog,
        side_targets(catalog, project, &right, workload)?,
        &mut charts,
    )?;
    let mut names: Vec<&String> = left_results.keys().chain(right_results.keys()).collect();
    names.sort();
    names.dedup();
    let empty = Value::Object(Default::default());
    let mut workloads = Vec::new();
    for name in names {
        let l = left_results.get(name);
        let r = right_results.get(name);
        let objects = |side: Option<&SideResult>| -> Vec<(ObjectId, Value)> {
            side.map(|s| {
                s.output
                    .manifests
                    .iter()
                    .map(|m| {
                        let mut object = m.object.clone();
                        if let Some(meta) =
                            object.get_mut("metadata").and_then(Value::as_object_mut)
                        {
                            meta.remove("namespace");
                        }
                        (
                            ObjectId {
                                kind: m.kind.clone(),
                                namespace: None,
                                name: m.name.clone(),
                            },
                            object,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
        };
        let (lo, ro) = (objects(l), objects(r));
        workloads.push(WorkloadComparison {
            workload: name.clone(),
            left_chart: l.map(|s| s.chart.clone()),
            right_chart: r.map(|s| s.chart.clone()),
            values: diff_values(
                l.map_or(&empty, |s| &s.values),
                r.map_or(&empty, |s| &s.values),
            ),
            manifests: diff_objects(
                lo.iter().map(|(id, v)| (id.clone(), v)),
                ro.iter().map(|(id, v)| (id.clone(), v)),
            ),
        });
    }
    Ok(Comparison {
        left,
        right,
        workloads,
    })
}

#[cfg(test)]
mod tests;
