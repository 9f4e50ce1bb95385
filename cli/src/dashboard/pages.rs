//! The read side of the dashboard: each handler reads as the signed-in person, asks the
//! engine what it means, and answers JSON (docs/dashboard-api.md).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State as Shared};
use gitopshq_crds::approval_policy::ApprovalPolicy;
use gitopshq_crds::approval_request::{ApprovalRequest, DecisionKind};
use gitopshq_crds::break_glass_session::BreakGlassSession;
use gitopshq_crds::break_glass_session::Severity;
use gitopshq_crds::chart::Chart;
use gitopshq_crds::chart_version::ChartVersion;
use gitopshq_crds::cluster::Cluster;
use gitopshq_crds::project::Project;
use gitopshq_crds::promotion::Promotion;
use gitopshq_crds::release::Release;
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::variables::Variables;
use gitopshq_crds::workload::Workload;
use gitopshq_engine::admission::{
    MAX_SESSION_DURATION, MIN_JUSTIFICATION, session_is_active, submit_verb,
};
use gitopshq_engine::catalog::Catalog;
use gitopshq_engine::compare::{Side, compare};
use gitopshq_engine::overview::{self, Access, DecisionCheck};
use gitopshq_engine::plan::ChartCache;
use gitopshq_engine::promotion::authoring::{PromotionTarget, promotion_targets};
use gitopshq_engine::rbac::verbs;
use gitopshq_engine::{FieldChange, ObjectChange};
use gitopshq_engine::{rollback, values_check, values_edit};
use kube::ResourceExt;
use serde::Deserialize;

use super::State;
use super::api;
use super::auth::Person;
use super::error::{ApiError, ApiResult};
use super::objects::{environments, get_in, list_all, list_each, list_in, projects};
use crate::kube_client::resources;

type Answer<T> = ApiResult<Json<T>>;

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

fn fleet_environment(env: &gitopshq_crds::environment::Environment) -> api::FleetEnvironment {
    let status = env.status.clone().unwrap_or_default();
    api::FleetEnvironment {
        name: env.name_any(),
        display_name: env
            .spec
            .display_name
            .clone()
            .unwrap_or_else(|| env.name_any()),
        rank: env.spec.rank,
        color: env.spec.color.clone(),
        frozen: status.frozen,
        freeze: status.active_freeze,
    }
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

pub async fn fleet(person: Person) -> Answer<api::Fleet> {
    let (environments, projects) = futures::join!(environments(&person), visible(&person));
    let (environments, projects) = (environments?, projects?);
    let namespaces: Vec<String> = projects
        .iter()
        .map(|p| p.project.namespace_name())
        .collect();
    let sessions = sessions_in(&person, &namespaces).await?;
    let now = jiff::Timestamp::now();
    let mut pending = 0;
    let rows: Vec<api::FleetProject> = projects
        .iter()
        .map(|p| {
            let cells = p
                .project
                .spec
                .environments
                .iter()
                .map(|env| {
                    let cell =
                        overview::environment_cell(env, &p.workloads, &p.tenants, &p.releases);
                    pending += cell.pending_approvals;
                    (env.clone(), cell)
                })
                .collect();
            api::FleetProject {
                name: p.project.name_any(),
                display_name: display_name(&p.project),
                cells,
            }
        })
        .collect();
    Ok(Json(api::Fleet {
        environments: environments.iter().map(fleet_environment).collect(),
        projects: rows,
        break_glass: sessions
            .into_iter()
            .filter(|s| session_is_active(s, now).is_ok())
            .collect(),
        pending_approvals: pending,
    }))
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

pub async fn project(person: Person, Path(name): Path<String>) -> Answer<api::ProjectDetail> {
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
    let environments: Vec<api::ProjectEnvironment> = objects
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
            let releases = here
                .iter()
                .take(20)
                .map(|r| overview::release_summary(r))
                .collect();
            api::ProjectEnvironment {
                name: env.clone(),
                cell,
                releases,
            }
        })
        .collect();
    Ok(Json(api::ProjectDetail {
        project: objects.project,
        environments,
        workloads: objects.workloads,
        tenants: objects.tenants,
    }))
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

pub async fn releases(person: Person, Query(query): Query<ProjectQuery>) -> Answer<api::Releases> {
    let namespaces = namespaces_of(&person, query.project.as_deref()).await?;
    let all = releases_in(&person, &namespaces).await?;
    let mut refs: Vec<&Release> = all.iter().collect();
    overview::newest_first(&mut refs);
    let releases = refs.iter().map(|r| overview::release_summary(r)).collect();
    Ok(Json(api::Releases { releases }))
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
    // A Draft gets its preview too: its author reads it before submitting.
    if gitopshq_engine::lifecycle::is_terminal(phase) {
        return None;
    }
    let namespace = release.namespace().unwrap_or_default();
    let catalog = match catalog_of(person, &namespace).await {
        Ok(catalog) => catalog,
        Err(e) => return Some(format!("no preview: {}", e.error)),
    };
    Some(match state.preview(catalog, release.clone()).await {
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
) -> Answer<api::ReleaseDetail> {
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
    let submit = if release.spec.submitted {
        None
    } else {
        Some(submit_check(&person, &release).await?)
    };
    let may_create = person
        .can("create", GROUP, "releases", &namespace, None)
        .await?;
    let rollback = rollback::rollback_check(&person.requester, &release, may_create);
    let (promotion_targets, promotions) = promotions_of(&person, &release).await?;
    let diff = rendered_diff(&person, &state, &release).await;
    Ok(Json(api::ReleaseDetail {
        release,
        approval_request: request,
        decision,
        reject_decision: reject,
        submit,
        rollback,
        promotion_targets,
        promotions,
        diff,
    }))
}

/// For a delivered release: where the person may promote it (asked as them: `create` on
/// promotions, the `release` grant per environment, then the webhook's own rule), and the
/// promotions of it so far.
async fn promotions_of(
    person: &Person,
    release: &Release,
) -> ApiResult<(Vec<PromotionTarget>, Vec<Promotion>)> {
    let namespace = release.namespace().unwrap_or_default();
    let name = release.name_any();
    let mut promotions: Vec<Promotion> =
        list_in::<Promotion>(person, &namespace, resources::PROMOTIONS)
            .await?
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.spec.release == name)
            .collect();
    promotions.sort_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
    if release
        .status
        .as_ref()
        .and_then(|s| s.commit.as_ref())
        .is_none()
    {
        return Ok((Vec::new(), promotions));
    }
    let catalog = catalog_of(person, &namespace).await?;
    let environments: Vec<String> = catalog
        .project(&namespace)
        .map(|p| p.spec.environments.clone())
        .unwrap_or_default();
    let (grants, may_create) = futures::try_join!(
        person.holds_in(verbs::RELEASE, &namespace, &environments),
        person.can("create", GROUP, "promotions", &namespace, None)
    )?;
    let targets = promotion_targets(
        &catalog,
        &person.requester,
        release,
        may_create,
        &|environment| grants.get(environment).copied().unwrap_or(false),
        jiff::Timestamp::now(),
    );
    Ok((targets, promotions))
}

/// Whether the person may submit the Draft `release` (the webhook's grant rule, asked first).
async fn submit_check(person: &Person, release: &Release) -> ApiResult<values_edit::EditCheck> {
    let ns = release.namespace().unwrap_or_default();
    let name = release.name_any();
    let (may_patch, holds_release) = futures::join!(
        person.can("patch", GROUP, "releases", &ns, Some(&name)),
        person.holds(
            submit_verb(release.spec.type_),
            &ns,
            &release.spec.environment
        ),
    );
    Ok(values_edit::submit_check(
        &person.requester,
        release,
        values_edit::EditAccess {
            may_patch: may_patch?,
            holds_release: holds_release?,
        },
        jiff::Timestamp::now(),
    ))
}

pub async fn approvals(person: Person) -> Answer<api::Approvals> {
    let namespaces = namespaces_of(&person, None).await?;
    let all = releases_in(&person, &namespaces).await?;
    let waiting = overview::approval_queue(&all);
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
        items.push(api::ApprovalItem {
            release: overview::release_summary(release),
            decision,
            reject_decision: reject,
        });
    }
    Ok(Json(api::Approvals { items }))
}

/// Everything the engine needs to render `project`, read as the person (Secrets only when
/// they may read them; a Secret-backed variable otherwise fails the render by name).
pub(super) async fn catalog_of(person: &Person, project: &str) -> ApiResult<Catalog> {
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
    let workloads = workloads?.unwrap_or_default();
    Ok(Catalog {
        projects,
        environments: environments?,
        clusters: clusters?,
        chart_versions: chart_versions?,
        recorded: gitopshq_engine::layout::mirrored_states(&workloads),
        workloads,
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

fn fields(changes: &[FieldChange]) -> Vec<api::FieldDiff> {
    changes
        .iter()
        .map(|c| api::FieldDiff {
            path: c.path.to_string(),
            left: c.old.clone(),
            right: c.new.clone(),
        })
        .collect()
}

/// The values editor's text checked for one tenant, as the person: their view of the project
/// (a workload or tenant they cannot read is not found), nothing written.
pub async fn check_values(
    person: Person,
    Path((project, workload)): Path<(String, String)>,
    Json(body): Json<api::CheckValues>,
) -> Answer<api::ValuesChecked> {
    let scope = super::authoring::scope_of(body.environment, body.tenant_override)?;
    let catalog = catalog_of(&person, &project).await?;
    let checked = values_check::check_values(
        &catalog,
        &mut ChartCache::default(),
        &project,
        &workload,
        &scope,
        body.tenant.as_deref(),
        &body.text,
    )
    .map_err(|e| {
        ApiError::bad_request(
            format!("cannot check values of workload {workload} in project {project}: {e}"),
            "pick a workload, environment and tenant of this project",
        )
    })?;
    Ok(Json(checked))
}

/// What a release of the editor's text would change in the repository now, per tenant: the
/// release the editor would create, previewed against the delivered files as the controller
/// would deliver it (the values releases recorded there included).
pub async fn preview_values(
    person: Person,
    Shared(state): Shared<Arc<State>>,
    Path((project, workload)): Path<(String, String)>,
    Json(body): Json<api::CheckValues>,
) -> Answer<api::ValuesPreview> {
    let scope = super::authoring::scope_of(body.environment, body.tenant_override)?;
    let values = values_check::parse(&body.text).map_err(|finding| {
        ApiError::bad_request(
            format!("values of workload {workload}: {}", finding.message),
            "fix the text at the marked line first",
        )
    })?;
    let catalog = catalog_of(&person, &project).await?;
    let (edited, release) = values_edit::release_of_edit(
        &catalog,
        &project,
        &workload,
        &scope,
        body.tenant.as_deref(),
        &values,
    )?;
    let environment = release.spec.environment.clone();
    let preview = state
        .preview(edited, release)
        .await
        .map_err(|e| anyhow::anyhow!("the preview stopped: {e}"))?
        .map_err(|e| {
            ApiError::bad_request(
                format!("no preview of workload {workload} in {project}: {e:#}"),
                "check the values first: the findings say what does not render",
            )
        })?;
    Ok(Json(api::ValuesPreview {
        environment,
        summary: preview.objects.summary(),
        tenants: preview
            .tenants
            .iter()
            .map(|(tenant, diff)| (tenant.clone(), diff.summary()))
            .collect(),
        unified: preview.unified,
    }))
}

pub async fn compare_sides(
    person: Person,
    Query(query): Query<CompareQuery>,
) -> Answer<api::Comparison> {
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
    let workloads = comparison
        .workloads
        .iter()
        .map(|w| {
            let manifests = w
                .manifests
                .objects
                .iter()
                .map(|o| {
                    let (change, changed) = match &o.change {
                        ObjectChange::Added(_) => (api::ObjectChangeKind::Added, Vec::new()),
                        ObjectChange::Removed(_) => (api::ObjectChangeKind::Removed, Vec::new()),
                        ObjectChange::Changed(changes) => {
                            (api::ObjectChangeKind::Changed, fields(changes))
                        }
                    };
                    api::ManifestChange {
                        object: format!("{}/{}", o.id.kind, o.id.name),
                        change,
                        fields: changed,
                    }
                })
                .collect();
            api::WorkloadComparison {
                workload: w.workload.clone(),
                left_chart: w.left_chart.clone(),
                right_chart: w.right_chart.clone(),
                values: fields(&w.values.changes),
                manifests,
            }
        })
        .collect();
    Ok(Json(api::Comparison {
        left: comparison.left.label(),
        right: comparison.right.label(),
        identical: comparison.is_empty(),
        workloads,
    }))
}

#[derive(Debug, Deserialize)]
pub struct RequiredProject {
    pub project: String,
}

pub async fn variables(
    person: Person,
    Query(query): Query<RequiredProject>,
) -> Answer<api::Variables> {
    let catalog = catalog_of(&person, &query.project).await?;
    Ok(Json(api::Variables {
        variables: overview::variable_overview(&catalog, &query.project),
    }))
}

pub async fn charts(person: Person) -> Answer<api::Charts> {
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
    let charts = charts?
        .iter()
        .map(|chart| {
            let mut versions = by_chart.remove(&chart.name_any()).unwrap_or_default();
            versions.sort_by(|a, b| {
                let parse = |v: &ChartVersion| semver::Version::parse(&v.spec.version).ok();
                parse(b).cmp(&parse(a))
            });
            let versions = versions
                .into_iter()
                .map(|v| api::ChartVersionInfo {
                    version: v.spec.version,
                    changelog: v.spec.changelog,
                    deprecated: v.spec.deprecated,
                    deprecation_message: v.spec.deprecation_message,
                    consumers: v.status.map(|s| s.consumers).unwrap_or_default(),
                })
                .collect();
            api::ChartInfo {
                name: chart.name_any(),
                description: chart.spec.description.clone(),
                owners: chart.spec.owners.clone(),
                latest: chart.status.as_ref().and_then(|s| s.latest.clone()),
                versions,
            }
        })
        .collect();
    Ok(Json(api::Charts { charts }))
}

pub async fn clusters(person: Person) -> Answer<api::Clusters> {
    let (clusters, projects) = futures::join!(
        list_all::<Cluster>(&person, resources::CLUSTERS),
        visible(&person)
    );
    let tenants: Vec<Tenant> = projects?.into_iter().flat_map(|p| p.tenants).collect();
    Ok(Json(api::Clusters {
        clusters: overview::cluster_rows(&clusters?, &tenants),
        register: overview::REGISTER_COMMAND.to_string(),
    }))
}

pub async fn break_glass(person: Person) -> Answer<api::BreakGlass> {
    let namespaces = namespaces_of(&person, None).await?;
    let sessions = sessions_in(&person, &namespaces).await?;
    Ok(Json(api::BreakGlass {
        sessions,
        limits: break_glass_limits(),
    }))
}

/// The webhook's limits for a new session, from the engine's own constants.
pub(super) fn break_glass_limits() -> api::BreakGlassLimits {
    let max = MAX_SESSION_DURATION;
    let durations = SESSION_DURATION_STEPS
        .iter()
        .filter(|(_, length)| *length <= max)
        .map(|(text, _)| (*text).to_string())
        .collect();
    api::BreakGlassLimits {
        min_justification: MIN_JUSTIFICATION,
        max_duration: format!("{:#}", max),
        durations,
        severities: Severity::ALL.to_vec(),
    }
}

/// The durations the form offers, as far as the maximum allows.
const SESSION_DURATION_STEPS: [(&str, jiff::SignedDuration); 8] = [
    ("15m", jiff::SignedDuration::from_mins(15)),
    ("30m", jiff::SignedDuration::from_mins(30)),
    ("1h", jiff::SignedDuration::from_hours(1)),
    ("2h", jiff::SignedDuration::from_hours(2)),
    ("3h", jiff::SignedDuration::from_hours(3)),
    ("4h", jiff::SignedDuration::from_hours(4)),
    ("8h", jiff::SignedDuration::from_hours(8)),
    ("12h", jiff::SignedDuration::from_hours(12)),
];

pub async fn search(person: Person) -> Answer<api::Search> {
    let projects = visible(&person).await?;
    let environments = environments(&person).await?;
    let policies =
        list_all::<gitopshq_crds::policy::Policy>(&person, "policies.gitopshq.io").await?;
    let item = |kind, label: String, detail: String, href: String| api::SearchItem {
        kind,
        label,
        detail,
        href,
    };
    let mut items = Vec::new();
    for env in &environments {
        items.push(item(
            api::SearchKind::Environment,
            env.name_any(),
            "environment".into(),
            "#/fleet".into(),
        ));
    }
    for policy in &policies {
        let name = policy.name_any();
        items.push(item(
            api::SearchKind::Policy,
            name.clone(),
            policy
                .spec
                .description
                .clone()
                .unwrap_or_else(|| "policy · run its tests, evaluate it".into()),
            format!("#/policies/{name}"),
        ));
    }
    for p in &projects {
        let name = p.project.name_any();
        items.push(item(
            api::SearchKind::Project,
            name.clone(),
            display_name(&p.project),
            format!("#/projects/{name}"),
        ));
        items.push(item(
            api::SearchKind::Project,
            format!("{name} repository"),
            "the GitOps repository: history, trailers, files".to_string(),
            format!("#/projects/{name}/repository"),
        ));
        items.push(item(
            api::SearchKind::Project,
            format!("{name} variables"),
            "HQ variables: each scope, what wins per tenant, edit them".to_string(),
            format!("#/variables?project={name}"),
        ));
        for w in &p.workloads {
            items.push(item(
                api::SearchKind::Workload,
                w.name_any(),
                format!("workload in {name} · edit its values"),
                format!("#/projects/{name}/workloads/{}/values", w.name_any()),
            ));
        }
        let mut releases: Vec<&Release> = p.releases.iter().collect();
        overview::newest_first(&mut releases);
        for r in releases.iter().take(200) {
            let ns = r.namespace().unwrap_or_default();
            let phase = r.status.as_ref().and_then(|s| s.phase).unwrap_or_default();
            items.push(item(
                api::SearchKind::Release,
                r.name_any(),
                format!("{} · {} · {phase:?}", r.spec.title, r.spec.environment),
                format!("#/releases/{ns}/{}", r.name_any()),
            ));
        }
    }
    Ok(Json(api::Search { items }))
}
