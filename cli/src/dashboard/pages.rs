//! The read side of the dashboard: each handler reads as the signed-in person, asks the
//! engine what it means, and answers JSON (docs/dashboard-api.md).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State as Shared};
use gitopshq_crds::approval_policy::ApprovalPolicy;
use gitopshq_crds::approval_request::{ApprovalRequest, DecisionKind};
use gitopshq_crds::break_glass_session::BreakGlassSession;
use gitopshq_crds::chart::Chart;
use gitopshq_crds::chart_version::ChartVersion;
use gitopshq_crds::cluster::Cluster;
use gitopshq_crds::project::Project;
use gitopshq_crds::release::{Release, ReleasePhase, ReleaseType};
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::variables::Variables;
use gitopshq_crds::workload::Workload;
use gitopshq_engine::admission::session_is_active;
use gitopshq_engine::catalog::Catalog;
use gitopshq_engine::compare::{Side, compare};
use gitopshq_engine::overview::{self, Access, DecisionCheck};
use gitopshq_engine::rbac::verbs;
use gitopshq_engine::{FieldChange, ObjectChange};
use kube::ResourceExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::State;
use super::auth::Person;
use super::error::{ApiError, ApiResult};
use super::objects::{environments, get_in, list_all, list_each, list_in, projects};
use crate::commands::diff;
use crate::kube_client::resources;
use crate::release_delivery::RepoArgs;

type Answer = ApiResult<Json<Value>>;

const GROUP: &str = gitopshq_crds::consts::GROUP;

/// What one project holds in its namespace, as far as the person may read it.
struct ProjectObjects {
    project: Project,
    workloads: Vec<Workload>,
    tenants: Vec<Tenant>,
    releases: Vec<Release>,
}

async fn project_objects(person: &Person, project: Project) -> ApiResult<Option<ProjectObjects>> {
    let ns = project.namespace_name();
    let (workloads, tenants, releases) = futures::join!(
        list_in::<Workload>(person, &ns, resources::WORKLOADS),
        list_in::<Tenant>(person, &ns, resources::TENANTS),
        list_in::<Release>(person, &ns, resources::RELEASES),
    );
    let (Some(workloads), Some(tenants), Some(releases)) = (workloads?, tenants?, releases?) else {
        return Ok(None);
    };
    Ok(Some(ProjectObjects {
        project,
        workloads,
        tenants,
        releases,
    }))
}

async fn visible(person: &Person) -> ApiResult<Vec<ProjectObjects>> {
    let all = projects(person).await?;
    let read = futures::future::join_all(all.into_iter().map(|p| project_objects(person, p))).await;
    let mut out = Vec::new();
    for objects in read {
        if let Some(objects) = objects? {
            out.push(objects);
        }
    }
    Ok(out)
}

fn environment_json(env: &gitopshq_crds::environment::Environment) -> Value {
    let status = env.status.clone().unwrap_or_default();
    json!({
        "name": env.name_any(),
        "displayName": env.spec.display_name.clone().unwrap_or_else(|| env.name_any()),
        "rank": env.spec.rank,
        "color": env.spec.color,
        "frozen": status.frozen,
        "freeze": status.active_freeze.map(|f| json!({
            "name": f.name, "reason": f.reason, "until": f.until.0.to_string(),
        })),
    })
}

fn display_name(project: &Project) -> String {
    project
        .spec
        .display_name
        .clone()
        .unwrap_or_else(|| project.name_any())
}

/// Every break-glass session of `namespaces`, newest first.
async fn sessions_in(person: &Person, namespaces: &[String]) -> ApiResult<Vec<BreakGlassSession>> {
    let mut sessions =
        list_each::<BreakGlassSession>(person, namespaces, resources::BREAK_GLASS_SESSIONS).await?;
    sessions.sort_by_key(|s| std::cmp::Reverse(s.metadata.creation_timestamp.clone()));
    Ok(sessions)
}

pub async fn fleet(person: Person) -> Answer {
    let (environments, projects) = futures::join!(environments(&person), visible(&person));
    let (environments, projects) = (environments?, projects?);
    let namespaces: Vec<String> = projects
        .iter()
        .map(|p| p.project.namespace_name())
        .collect();
    let sessions = sessions_in(&person, &namespaces).await?;
    let now = jiff::Timestamp::now();
    let mut pending = 0;
    let rows: Vec<Value> = projects
        .iter()
        .map(|p| {
            let cells: serde_json::Map<String, Value> = p
                .project
                .spec
                .environments
                .iter()
                .map(|env| {
                    let cell =
                        overview::environment_cell(env, &p.workloads, &p.tenants, &p.releases);
                    pending += cell.pending_approvals;
                    (env.clone(), json!(cell))
                })
                .collect();
            json!({
                "name": p.project.name_any(),
                "displayName": display_name(&p.project),
                "cells": cells,
            })
        })
        .collect();
    Ok(Json(json!({
        "environments": environments.iter().map(environment_json).collect::<Vec<_>>(),
        "projects": rows,
        "breakGlass": sessions
            .into_iter()
            .filter(|s| session_is_active(s, now).is_ok())
            .collect::<Vec<_>>(),
        "pendingApprovals": pending,
    })))
}

fn not_found(what: String, next: &str) -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_FOUND, what, Some(next))
}

fn hidden_project(name: &str) -> ApiError {
    not_found(
        format!("project {name} does not exist or is hidden from you"),
        "pick a project on the fleet page",
    )
}

pub async fn project(person: Person, Path(name): Path<String>) -> Answer {
    let all = projects(&person).await?;
    let project = all
        .into_iter()
        .find(|p| p.name_any() == name)
        .ok_or_else(|| hidden_project(&name))?;
    let objects = project_objects(&person, project).await?.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            format!(
                "{} may not read the workloads, tenants and releases of project {name}",
                person.requester.username
            ),
            Some("ask a project Admin for a team grant (Viewer at least)"),
        )
    })?;
    let environments: Vec<Value> = objects
        .project
        .spec
        .environments
        .iter()
        .map(|env| {
            let cell = overview::environment_cell(
                env,
                &objects.workloads,
                &objects.tenants,
                &objects.releases,
            );
            let mut here: Vec<&Release> = objects
                .releases
                .iter()
                .filter(|r| &r.spec.environment == env)
                .collect();
            overview::newest_first(&mut here);
            let releases: Vec<Value> = here
                .iter()
                .take(20)
                .map(|r| json!(overview::release_summary(r)))
                .collect();
            json!({"name": env, "cell": cell, "releases": releases})
        })
        .collect();
    Ok(Json(json!({
        "project": objects.project,
        "environments": environments,
        "workloads": objects.workloads,
        "tenants": objects.tenants,
    })))
}

#[derive(Debug, Deserialize)]
pub struct ProjectQuery {
    pub project: Option<String>,
}

async fn namespaces_of(person: &Person, project: Option<&str>) -> ApiResult<Vec<String>> {
    let all = projects(person).await?;
    let names: Vec<String> = all
        .iter()
        .filter(|p| project.is_none_or(|name| p.name_any() == name))
        .map(Project::namespace_name)
        .collect();
    if let Some(name) = project
        && names.is_empty()
    {
        return Err(hidden_project(name));
    }
    Ok(names)
}

async fn releases_in(person: &Person, namespaces: &[String]) -> ApiResult<Vec<Release>> {
    list_each::<Release>(person, namespaces, resources::RELEASES).await
}

pub async fn releases(person: Person, Query(query): Query<ProjectQuery>) -> Answer {
    let namespaces = namespaces_of(&person, query.project.as_deref()).await?;
    let all = releases_in(&person, &namespaces).await?;
    let mut refs: Vec<&Release> = all.iter().collect();
    overview::newest_first(&mut refs);
    let summaries: Vec<Value> = refs
        .iter()
        .map(|r| json!(overview::release_summary(r)))
        .collect();
    Ok(Json(json!({ "releases": summaries })))
}

fn request_name(release: &Release) -> String {
    release
        .status
        .as_ref()
        .and_then(|s| s.approval_request.clone())
        .unwrap_or_else(|| release.name_any())
}

/// Whether the person may approve `release` now (the webhook's rule, asked beforehand).
async fn check(
    person: &Person,
    release: &Release,
    request: &ApprovalRequest,
    policies: &[ApprovalPolicy],
) -> ApiResult<(DecisionCheck, DecisionCheck)> {
    let ns = release.namespace().unwrap_or_default();
    let policy = policies
        .iter()
        .find(|p| p.name_any() == request.spec.policy);
    let request_name = request.name_any();
    let (may_patch, holds_approve) = futures::join!(
        person.can("patch", GROUP, "approvalrequests", &ns, Some(&request_name)),
        person.can(
            verbs::APPROVE,
            GROUP,
            "environments",
            &ns,
            Some(&release.spec.environment)
        ),
    );
    let access = Access {
        may_patch: may_patch?,
        holds_approve: holds_approve?,
    };
    let now = jiff::Timestamp::now();
    let ask = |kind| {
        overview::decision_check(
            kind,
            &person.requester,
            release,
            request,
            policy,
            access,
            now,
        )
    };
    Ok((ask(DecisionKind::Approve), ask(DecisionKind::Reject)))
}

/// The release's ApprovalRequest, if it has one, with the Approve and Reject checks of the
/// person on it.
async fn approval_of(
    person: &Person,
    release: &Release,
    policies: &[ApprovalPolicy],
) -> ApiResult<(
    Option<ApprovalRequest>,
    Option<DecisionCheck>,
    Option<DecisionCheck>,
)> {
    let ns = release.namespace().unwrap_or_default();
    let request = get_in::<ApprovalRequest>(
        person,
        &ns,
        resources::APPROVAL_REQUESTS,
        &request_name(release),
    )
    .await?;
    let Some(found) = &request else {
        return Ok((None, None, None));
    };
    let (approve, reject) = check(person, release, found, policies).await?;
    Ok((request, Some(approve), Some(reject)))
}

async fn approval_policies(person: &Person) -> ApiResult<Vec<ApprovalPolicy>> {
    list_all::<ApprovalPolicy>(person, "approvalpolicies.gitopshq.io").await
}

/// What the release would change in its repository, while it is not delivered yet; afterwards
/// the delivery commit holds it. A preview that cannot be made says why in its place.
async fn rendered_diff(person: &Person, state: &State, release: &Release) -> Option<String> {
    let status = release.status.as_ref();
    let phase = status.and_then(|s| s.phase).unwrap_or_default();
    if let Some(commit) = status.and_then(|s| s.commit.clone()) {
        return Some(format!(
            "delivered as commit {commit}: its diff is in the GitOps repository (git show {commit})"
        ));
    }
    if release.spec.type_ == ReleaseType::Rollback
        || matches!(
            phase,
            ReleasePhase::Rejected | ReleasePhase::Superseded | ReleasePhase::Draft
        )
    {
        return None;
    }
    let namespace = release.namespace().unwrap_or_default();
    let catalog = match catalog_of(person, &namespace).await {
        Ok(catalog) => catalog,
        Err(e) => return Some(format!("no preview: {}", e.error)),
    };
    let release = release.clone();
    let repo = RepoArgs {
        repo: None,
        branch: None,
        cache_dir: Some(state.git_cache.clone()),
    };
    let preview =
        tokio::task::spawn_blocking(move || diff::preview(&catalog, &release, &repo)).await;
    Some(match preview {
        Ok(Ok(p)) if p.unified.is_empty() => {
            "no change: the repository already holds what this release renders".into()
        }
        Ok(Ok(p)) => format!("{}\n{}", p.objects.summary(), p.unified),
        Ok(Err(e)) => format!("no preview: {e:#}"),
        Err(e) => format!("no preview: {e}"),
    })
}

pub async fn release(
    person: Person,
    Shared(state): Shared<Arc<State>>,
    Path((namespace, name)): Path<(String, String)>,
) -> Answer {
    let (release, policies) = futures::join!(
        get_in::<Release>(&person, &namespace, resources::RELEASES, &name),
        approval_policies(&person),
    );
    let release = release?.ok_or_else(|| {
        not_found(
            format!("release {name} does not exist in project {namespace}"),
            "pick a release on the releases page",
        )
    })?;
    let (request, decision, reject) = approval_of(&person, &release, &policies?).await?;
    let diff = rendered_diff(&person, &state, &release).await;
    Ok(Json(json!({
        "release": release,
        "approvalRequest": request,
        "decision": decision,
        "rejectDecision": reject,
        "diff": diff,
    })))
}

pub async fn approvals(person: Person) -> Answer {
    let namespaces = namespaces_of(&person, None).await?;
    let all = releases_in(&person, &namespaces).await?;
    let mut waiting: Vec<&Release> = all
        .iter()
        .filter(|r| r.status.as_ref().and_then(|s| s.phase) == Some(ReleasePhase::PendingApproval))
        .collect();
    overview::newest_first(&mut waiting);
    let policies = approval_policies(&person).await?;
    let checked = futures::future::join_all(
        waiting
            .iter()
            .map(|release| approval_of(&person, release, &policies)),
    )
    .await;
    let mut items = Vec::new();
    for (release, checked) in waiting.iter().zip(checked) {
        let (_, decision, reject) = checked?;
        items.push(json!({
            "release": overview::release_summary(release),
            "decision": decision,
            "rejectDecision": reject,
        }));
    }
    Ok(Json(json!({ "items": items })))
}

/// Everything the engine needs to render `project`, read as the person (Secrets only when
/// they may read them; a Secret-backed variable otherwise fails the render by name).
async fn catalog_of(person: &Person, project: &str) -> ApiResult<Catalog> {
    let (projects, environments, clusters, chart_versions) = futures::join!(
        projects(person),
        environments(person),
        list_all::<Cluster>(person, resources::CLUSTERS),
        list_all::<ChartVersion>(person, "chartversions.gitopshq.io"),
    );
    let projects = projects?;
    let ns = &projects
        .iter()
        .find(|p| p.name_any() == project)
        .map(Project::namespace_name)
        .ok_or_else(|| hidden_project(project))?;
    let (workloads, tenants, variables, releases) = futures::join!(
        list_in::<Workload>(person, ns, resources::WORKLOADS),
        list_in::<Tenant>(person, ns, resources::TENANTS),
        list_in::<Variables>(person, ns, "variables.gitopshq.io"),
        list_in::<Release>(person, ns, resources::RELEASES),
    );
    Ok(Catalog {
        projects,
        environments: environments?,
        clusters: clusters?,
        chart_versions: chart_versions?,
        workloads: workloads?.unwrap_or_default(),
        tenants: tenants?.unwrap_or_default(),
        variables: variables?.unwrap_or_default(),
        releases: releases?.unwrap_or_default(),
        ..Catalog::default()
    })
}

#[derive(Debug, Deserialize)]
pub struct CompareQuery {
    pub project: String,
    pub left: String,
    pub right: String,
    pub workload: Option<String>,
}

fn fields(changes: &[FieldChange]) -> Vec<Value> {
    changes
        .iter()
        .map(|c| json!({"path": c.path.to_string(), "left": c.old, "right": c.new}))
        .collect()
}

pub async fn compare_sides(person: Person, Query(query): Query<CompareQuery>) -> Answer {
    let catalog = catalog_of(&person, &query.project).await?;
    let parse = |text: &str| {
        Side::parse(&catalog, &query.project, text, None).map_err(|e| {
            ApiError::bad_request(
                format!(
                    "{text:?} is not an environment or tenant of project {}: {e}",
                    query.project
                ),
                "pick an environment, a tenant, or ENV/TENANT",
            )
        })
    };
    let left = parse(&query.left)?;
    let right = parse(&query.right)?;
    let comparison = compare(
        &catalog,
        &query.project,
        left,
        right,
        query.workload.as_deref(),
    )?;
    let workloads: Vec<Value> = comparison
        .workloads
        .iter()
        .map(|w| {
            let manifests: Vec<Value> = w
                .manifests
                .objects
                .iter()
                .map(|o| {
                    let (change, changed) = match &o.change {
                        ObjectChange::Added(_) => ("added", Vec::new()),
                        ObjectChange::Removed(_) => ("removed", Vec::new()),
                        ObjectChange::Changed(changes) => ("changed", fields(changes)),
                    };
                    json!({"object": format!("{}/{}", o.id.kind, o.id.name), "change": change, "fields": changed})
                })
                .collect();
            json!({
                "workload": w.workload,
                "leftChart": w.left_chart,
                "rightChart": w.right_chart,
                "values": fields(&w.values.changes),
                "manifests": manifests,
            })
        })
        .collect();
    Ok(Json(json!({
        "left": comparison.left.label(),
        "right": comparison.right.label(),
        "identical": comparison.is_empty(),
        "workloads": workloads,
    })))
}

#[derive(Debug, Deserialize)]
pub struct RequiredProject {
    pub project: String,
}

pub async fn variables(person: Person, Query(query): Query<RequiredProject>) -> Answer {
    let catalog = catalog_of(&person, &query.project).await?;
    Ok(Json(
        json!({ "variables": overview::variable_overview(&catalog, &query.project) }),
    ))
}

pub async fn charts(person: Person) -> Answer {
    let (charts, versions) = futures::join!(
        list_all::<Chart>(&person, "charts.gitopshq.io"),
        list_all::<ChartVersion>(&person, "chartversions.gitopshq.io"),
    );
    let mut by_chart: BTreeMap<String, Vec<ChartVersion>> = BTreeMap::new();
    for version in versions? {
        by_chart
            .entry(version.spec.chart.clone())
            .or_default()
            .push(version);
    }
    let charts: Vec<Value> = charts?
        .iter()
        .map(|chart| {
            let mut versions = by_chart.remove(&chart.name_any()).unwrap_or_default();
            versions.sort_by(|a, b| {
                let parse = |v: &ChartVersion| semver::Version::parse(&v.spec.version).ok();
                parse(b).cmp(&parse(a))
            });
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| {
                    json!({
                        "version": v.spec.version,
                        "changelog": v.spec.changelog,
                        "deprecated": v.spec.deprecated,
                        "deprecationMessage": v.spec.deprecation_message,
                        "consumers": v.status.as_ref().map(|s| json!(s.consumers)).unwrap_or(json!([])),
                    })
                })
                .collect();
            json!({
                "name": chart.name_any(),
                "description": chart.spec.description,
                "owners": chart.spec.owners,
                "latest": chart.status.as_ref().and_then(|s| s.latest.clone()),
                "versions": versions,
            })
        })
        .collect();
    Ok(Json(json!({ "charts": charts })))
}

pub async fn break_glass(person: Person) -> Answer {
    let namespaces = namespaces_of(&person, None).await?;
    let sessions = sessions_in(&person, &namespaces).await?;
    Ok(Json(json!({ "sessions": sessions })))
}

pub async fn search(person: Person) -> Answer {
    let projects = visible(&person).await?;
    let environments = environments(&person).await?;
    let mut items = Vec::new();
    for env in &environments {
        items.push(json!({"kind": "environment", "label": env.name_any(), "detail": "environment", "href": "#/fleet"}));
    }
    for p in &projects {
        let name = p.project.name_any();
        items.push(json!({"kind": "project", "label": name, "detail": display_name(&p.project), "href": format!("#/projects/{name}")}));
        for w in &p.workloads {
            items.push(json!({"kind": "workload", "label": w.name_any(), "detail": format!("workload in {name}"), "href": format!("#/projects/{name}")}));
        }
        let mut releases: Vec<&Release> = p.releases.iter().collect();
        overview::newest_first(&mut releases);
        for r in releases.iter().take(200) {
            let ns = r.namespace().unwrap_or_default();
            items.push(json!({
                "kind": "release",
                "label": r.name_any(),
                "detail": format!("{} · {} · {:?}", r.spec.title, r.spec.environment, r.status.as_ref().and_then(|s| s.phase).unwrap_or_default()),
                "href": format!("#/releases/{ns}/{}", r.name_any()),
            }));
        }
    }
    Ok(Json(json!({ "items": items })))
}
