//! Which (workload × tenant) pairs an environment or a release targets, and the render input of
//! each: chart version choice, value layers, HQ variable scopes and template context.
//!
//! Layers, lowest first: chart values → Workload `spec.values` → Workload
//! `spec.environments[env].values` → Release `spec.changes[].values` → Tenant `spec.values` →
//! Tenant `spec.workloads[workload].values`. A release's change values sit under tenant
//! overrides so a tenant's own customisation (its size, its region) survives every release.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use gitopshq_crds::chart_version::ChartVersion;
use gitopshq_crds::consts::labels;
use gitopshq_crds::release::{Release, ReleaseType, WorkloadChange};
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::variables::Variables;
use gitopshq_crds::workload::Workload;
use kube::ResourceExt;
use rayon::iter::{IntoParallelIterator, ParallelIterator};
use serde_json::Value;

use crate::catalog::Catalog;
use crate::error::{Chain, RenderError, bulleted};
use crate::layout::{
    ClusterTarget, DeliveryMode, GitOpsSettings, LayoutError, LayoutRequest, RecordedState,
    ReleaseAdditions, RenderedFile, RepositoryRef, SecretSummary, StateKey, TenantRender,
    WorkloadRender,
};
use crate::render::{
    ChartSource, CompiledChart, ReleaseInfo, RenderInput, RenderOutput, TenantInfo, WorkloadInfo,
};
use crate::selector::{self, SelectorError};
use crate::values::ValueLayer;
use crate::variables::{Scope, VariableScopes};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("no Project found in the input: add the Project object (kind: Project) to the files")]
    NoProject,
    #[error("several projects are defined ({candidates}): pass --project to choose one")]
    AmbiguousProject { candidates: String },
    #[error("project {project:?} not found: apply its Project object or fix the name")]
    ProjectNotFound { project: String },
    #[error(
        "environment {environment:?} is not an environment of project {project} ({known}): add it to the Project's spec.environments or pick one of those"
    )]
    EnvironmentNotInProject {
        project: String,
        environment: String,
        known: String,
    },
    #[error(
        "tenant {tenant:?} not found in project {project}: check the name (`kubectl get tenants -n {project}`)"
    )]
    TenantNotFound { project: String, tenant: String },
    #[error(
        "tenant {project}/{tenant} runs on cluster {cluster}, which is not a registered Cluster: Flux would apply its objects to the management cluster itself; register it (gitopshq cluster register {cluster} --context CONTEXT) or fix spec.cluster of the tenant"
    )]
    ClusterNotRegistered {
        project: String,
        tenant: String,
        cluster: String,
    },
    #[error(
        "tenant {project}/{tenant} belongs to environment {tenant_environment}, not {environment}: pick a tenant of {environment}"
    )]
    TenantInOtherEnvironment {
        project: String,
        tenant: String,
        tenant_environment: String,
        environment: String,
    },
    #[error(
        "tenant {project}/{tenant} is suspended: set spec.suspended to false or leave it out of {what}"
    )]
    TenantSuspended {
        project: String,
        tenant: String,
        what: String,
    },
    #[error(
        "workload {workload:?} not found in project {project}: apply the Workload or fix the name"
    )]
    WorkloadNotFound { project: String, workload: String },
    #[error(
        "tenant {project}/{tenant} does not run workload {workload}: add it to the Tenant's spec.workloads or leave the tenant out"
    )]
    TenantDoesNotRunWorkload {
        project: String,
        tenant: String,
        workload: String,
    },
    #[error(
        "workload {project}/{workload} in {environment} uses chart {chart}@{version}, which is not published: publish ChartVersion {chart}-{version} or pin a published version"
    )]
    ChartVersionNotFound {
        project: String,
        workload: String,
        environment: String,
        chart: String,
        version: String,
    },
    #[error(
        "HQ variable {name} is defined twice at {scope} scope, by Variables {first} and {second}: keep one definition"
    )]
    VariableConflict {
        name: String,
        scope: String,
        first: String,
        second: String,
    },
    #[error(
        "HQ variable {name} of Variables {project}/{variables} reads Secret {secret} key {key}, which is not available: create the Secret or fix spec.secretRefs"
    )]
    SecretMissing {
        project: String,
        variables: String,
        name: String,
        secret: String,
        key: String,
    },
    #[error("release {release}: spec.tenantSelector is invalid")]
    Selector {
        release: String,
        #[source]
        source: SelectorError,
    },
    #[error(
        "release {release} changes no workload: add spec.changes (workload and optional version/values)"
    )]
    NoChanges { release: String },
    #[error(
        "release {release} selects no tenant in {environment} running {workloads}: check spec.tenants / spec.tenantSelector and the tenants' environment"
    )]
    NoTargets {
        release: String,
        environment: String,
        workloads: String,
    },
    #[error("cannot render {target}")]
    Render {
        target: String,
        #[source]
        source: Box<RenderError>,
    },
    #[error(
        "release {release:?} not found in project {project}: name an existing release (kubectl get releases -n {project})"
    )]
    ReleaseNotFound { project: String, release: String },
    #[error(
        "tenant {tenant} is not a target of release {release} (its tenants: {targets}); compare one of those"
    )]
    NotReleaseTenant {
        release: String,
        tenant: String,
        targets: String,
    },
    #[error("release {release}: policies could not be evaluated: {reason}")]
    Policy { release: String, reason: String },
    #[error(
        "tenant {project}/{tenant} renders Secret {secret}, but its cluster {cluster} has no spec.secretEncryption, and Flux delivery never commits a Secret in plaintext: create an age identity (age-keygen -o {cluster}.agekey), list its public key in Cluster {cluster} spec.secretEncryption.ageRecipients, give Flux the identity as key age.agekey of Secret sops-age in the Flux namespace, then retry (annotate gitopshq.io/retry)"
    )]
    SecretEncryptionMissing {
        project: String,
        tenant: String,
        cluster: String,
        secret: String,
    },
    #[error("project {project}: cannot lay out the GitOps repository")]
    Layout {
        project: String,
        #[source]
        source: LayoutError,
    },
    /// Independent faults of one plan or render (every target that cannot be built or
    /// rendered, every unresolved variable and invalid object in each), so one run shows
    /// everything to fix. Never holds a single fault or another `Several`: build it with
    /// [`PlanError::all`].
    #[error("{} problems:{}", problems.len(), bulleted(&problems.iter().map(|p| Chain(p).to_string()).collect::<Vec<_>>()))]
    Several { problems: Vec<PlanError> },
}

impl PlanError {
    /// One error for every fault in `errors`, in their order, each told once: `Ok` when there
    /// is none, the fault itself when there is one, [`PlanError::Several`] (flat) otherwise.
    pub fn all(errors: impl IntoIterator<Item = PlanError>) -> Result<()> {
        let mut problems: Vec<PlanError> = Vec::new();
        let mut told = std::collections::HashSet::new();
        for error in errors {
            let leaves = match error {
                PlanError::Several { problems: inner } => inner,
                leaf => vec![leaf],
            };
            for leaf in leaves {
                // The same chart or Variables fault is met by every target that reads it.
                if told.insert(Chain(&leaf).to_string()) {
                    problems.push(leaf);
                }
            }
        }
        match problems.len() {
            0 => Ok(()),
            1 => Err(problems.remove(0)),
            _ => Err(PlanError::Several { problems }),
        }
    }

    /// The single faults this error stands for: itself, or each of [`PlanError::Several`].
    pub fn problems(&self) -> &[PlanError] {
        match self {
            PlanError::Several { problems } => problems,
            leaf => std::slice::from_ref(leaf),
        }
    }
}

pub type Result<T, E = PlanError> = std::result::Result<T, E>;

/// One (workload × tenant) to render, with everything the render needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub project: String,
    pub environment: String,
    pub tenant: String,
    pub cluster: String,
    pub workload: String,
    pub chart: String,
    pub version: String,
    pub input: RenderInput,
    /// What the releases added up to this one, recorded with the delivery (a tenant's
    /// target); `None` for a view of the environment, which nothing delivers.
    pub additions: Option<ReleaseAdditions>,
}

impl Target {
    /// `project/environment/tenant/workload`, how errors and outputs name a target.
    pub fn id(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.project, self.environment, self.tenant, self.workload
        )
    }
}

/// Whose overrides a target carries.
#[derive(Debug, Clone, Copy)]
pub enum TenantView<'a> {
    /// A real tenant: its namespace, cluster, labels, values and variables.
    Tenant(&'a Tenant),
    /// The environment itself, without any tenant's overrides (environment compare).
    Environment,
}

/// The project a command means: the one named, or the only one defined.
pub fn resolve_project<'a>(catalog: &'a Catalog, name: Option<&str>) -> Result<&'a str> {
    match name {
        Some(name) => catalog
            .project(name)
            .map(|p| p.metadata.name.as_deref().unwrap_or_default())
            .ok_or_else(|| PlanError::ProjectNotFound {
                project: name.to_string(),
            }),
        None => match catalog.projects.as_slice() {
            [] => Err(PlanError::NoProject),
            [only] => Ok(only.metadata.name.as_deref().unwrap_or_default()),
            many => Err(PlanError::AmbiguousProject {
                candidates: many
                    .iter()
                    .map(|p| p.name_any())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        },
    }
}

/// Errors unless `environment` is one of the project's environments.
pub fn check_environment(catalog: &Catalog, project: &str, environment: &str) -> Result<()> {
    let Some(p) = catalog.project(project) else {
        return Err(PlanError::ProjectNotFound {
            project: project.to_string(),
        });
    };
    if p.spec.environments.iter().any(|e| e == environment) {
        Ok(())
    } else {
        Err(PlanError::EnvironmentNotInProject {
            project: project.to_string(),
            environment: environment.to_string(),
            known: p.spec.environments.join(", "),
        })
    }
}

/// Whether a tenant runs a workload: tenants listing workloads run exactly those; tenants
/// listing none run every workload of their project.
pub fn tenant_runs(tenant: &Tenant, workload: &str) -> bool {
    tenant.spec.workloads.is_empty() || tenant.spec.workloads.contains_key(workload)
}

/// Whether a tenant runs any of `workloads` (a tenant listing none runs every workload, so it
/// does even when `workloads` is empty).
pub fn tenant_runs_any(tenant: &Tenant, workloads: &[String]) -> bool {
    tenant.spec.workloads.is_empty() || workloads.iter().any(|w| tenant_runs(tenant, w))
}

/// `project`'s tenant `name`, or the error naming it.
pub(crate) fn find_tenant<'a>(
    catalog: &'a Catalog,
    project: &str,
    name: &str,
) -> Result<&'a Tenant> {
    catalog
        .tenant(project, name)
        .ok_or_else(|| tenant_not_found(project, name))
}

fn tenant_not_found(project: &str, name: &str) -> PlanError {
    PlanError::TenantNotFound {
        project: project.to_string(),
        tenant: name.to_string(),
    }
}

/// The named tenant, which must belong to `environment`.
fn tenant_in<'a>(
    catalog: &'a Catalog,
    project: &str,
    name: &str,
    environment: &str,
) -> Result<&'a Tenant> {
    let t = find_tenant(catalog, project, name)?;
    check_tenant_environment(t, project, environment)?;
    Ok(t)
}

fn check_tenant_environment(t: &Tenant, project: &str, environment: &str) -> Result<()> {
    if t.spec.environment != environment {
        return Err(PlanError::TenantInOtherEnvironment {
            project: project.to_string(),
            tenant: t.name_any(),
            tenant_environment: t.spec.environment.clone(),
            environment: environment.to_string(),
        });
    }
    Ok(())
}

/// `project`'s workload `name`, or the error naming it.
pub(crate) fn find_workload<'a>(
    catalog: &'a Catalog,
    project: &str,
    name: &str,
) -> Result<&'a Workload> {
    catalog
        .workload(project, name)
        .ok_or_else(|| PlanError::WorkloadNotFound {
            project: project.to_string(),
            workload: name.to_string(),
        })
}

/// What an environment runs now: every non-suspended tenant of `environment` × every workload
/// it runs, optionally narrowed to one tenant and/or one workload.
pub fn environment_targets(
    catalog: &Catalog,
    project: &str,
    environment: &str,
    tenant: Option<&str>,
    workload: Option<&str>,
) -> Result<Vec<Target>> {
    check_environment(catalog, project, environment)?;
    let tenants: Vec<&Tenant> = match tenant {
        Some(name) => {
            vec![tenant_in(catalog, project, name, environment)?]
        }
        None => sorted_tenants(catalog, project, environment),
    };
    let workloads: Vec<&Workload> = match workload {
        Some(name) => vec![find_workload(catalog, project, name)?],
        None => {
            let mut all: Vec<&Workload> = catalog.workloads_of(project).collect();
            all.sort_by_key(|w| w.name_any());
            all
        }
    };
    let release = ReleaseInfo {
        release_type: "Deploy".into(),
        ..ReleaseInfo::default()
    };
    let mut targets = Vec::new();
    let mut problems = Vec::new();
    let mut shared = SharedInputs::new(catalog, project, environment);
    for t in tenants {
        for w in &workloads {
            if tenant_runs(t, &w.name_any()) {
                match target_with(TenantView::Tenant(t), w, None, &release, &mut shared) {
                    Ok(target) => targets.push(target),
                    Err(error) => problems.push(error),
                }
            }
        }
    }
    PlanError::all(problems)?;
    Ok(targets)
}

fn sorted_tenants<'a>(catalog: &'a Catalog, project: &str, environment: &str) -> Vec<&'a Tenant> {
    let mut tenants: Vec<&Tenant> = catalog
        .tenants_of(project)
        .filter(|t| t.spec.environment == environment && !t.spec.suspended)
        .collect();
    tenants.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    tenants
}

/// The tenants a release goes to: named ones (each must exist, be in the release's environment
/// and not be suspended), or those its selector picks, or every tenant of the environment.
pub fn release_tenants<'a>(catalog: &'a Catalog, release: &Release) -> Result<Vec<&'a Tenant>> {
    let project = release.namespace().unwrap_or_default();
    let release_name = release.name_any();
    let environment = &release.spec.environment;
    if !release.spec.tenants.is_empty() {
        // Indexed once: a release may name thousands of tenants.
        let by_name: HashMap<&str, &Tenant> = catalog
            .tenants_of(&project)
            .filter_map(|t| Some((t.metadata.name.as_deref()?, t)))
            .collect();
        let mut tenants = Vec::new();
        for name in &release.spec.tenants {
            let t = by_name
                .get(name.as_str())
                .copied()
                .ok_or_else(|| tenant_not_found(&project, name))?;
            check_tenant_environment(t, &project, environment)?;
            if t.spec.suspended {
                return Err(PlanError::TenantSuspended {
                    project: project.clone(),
                    tenant: name.clone(),
                    what: format!("release {release_name}'s spec.tenants"),
                });
            }
            tenants.push(t);
        }
        tenants.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        tenants.dedup_by(|a, b| a.metadata.name == b.metadata.name);
        return Ok(tenants);
    }
    let candidates = sorted_tenants(catalog, &project, environment);
    match &release.spec.tenant_selector {
        None => Ok(candidates),
        Some(sel) => {
            let mut chosen = Vec::new();
            for t in candidates {
                let hit = selector::matches(sel, &t.spec.labels).map_err(|source| {
                    PlanError::Selector {
                        release: release_name.clone(),
                        source,
                    }
                })?;
                if hit {
                    chosen.push(t);
                }
            }
            Ok(chosen)
        }
    }
}

/// Every (workload × tenant) a Deploy or Promotion release delivers.
pub fn release_targets(catalog: &Catalog, release: &Release) -> Result<Vec<Target>> {
    let project = release.namespace().unwrap_or_default();
    let release_name = release.name_any();
    check_environment(catalog, &project, &release.spec.environment)?;
    if release.spec.changes.is_empty() {
        return Err(PlanError::NoChanges {
            release: release_name,
        });
    }
    let tenants = release_tenants(catalog, release)?;
    let info = ReleaseInfo {
        name: release_name.clone(),
        title: release.spec.title.clone(),
        release_type: release_type_name(release.spec.type_).to_string(),
    };
    let explicit = !release.spec.tenants.is_empty();
    let mut shared = SharedInputs::new(catalog, &project, &release.spec.environment);
    let mut targets = Vec::new();
    let mut problems = Vec::new();
    for change in &release.spec.changes {
        let workload = find_workload(catalog, &project, &change.workload)?;
        for t in &tenants {
            if !tenant_runs(t, &change.workload) {
                if explicit {
                    return Err(PlanError::TenantDoesNotRunWorkload {
                        project: project.clone(),
                        tenant: t.name_any(),
                        workload: change.workload.clone(),
                    });
                }
                continue;
            }
            match target_with(
                TenantView::Tenant(t),
                workload,
                Some(change),
                &info,
                &mut shared,
            ) {
                Ok(target) => targets.push(target),
                Err(error) => problems.push(error),
            }
        }
    }
    PlanError::all(problems)?;
    if targets.is_empty() {
        return Err(PlanError::NoTargets {
            release: release_name,
            environment: release.spec.environment.clone(),
            workloads: workloads_of(release),
        });
    }
    targets.sort_by(|a, b| (&a.tenant, &a.workload).cmp(&(&b.tenant, &b.workload)));
    Ok(targets)
}

/// The chart version a workload uses in an environment: the release's change, else the
/// environment's pin, else the workload's version.
pub fn chart_version_for(
    workload: &Workload,
    environment: &str,
    change: Option<&WorkloadChange>,
) -> String {
    change
        .and_then(|c| c.version.clone())
        .or_else(|| {
            workload
                .spec
                .environments
                .get(environment)
                .and_then(|e| e.version.clone())
        })
        .unwrap_or_else(|| workload.spec.version.clone())
}

fn object_layer(source: String, values: &serde_json::Map<String, Value>) -> Option<ValueLayer> {
    (!values.is_empty()).then(|| ValueLayer::new(source, Value::Object(values.clone())))
}

/// [`object_layer`] for values that live in the catalog, copied once and shared by every
/// target that layers them.
fn catalog_layer<'a>(
    shared: &mut SharedInputs<'a>,
    source: String,
    values: &'a serde_json::Map<String, Value>,
) -> Option<ValueLayer> {
    (!values.is_empty()).then(|| ValueLayer::shared(source, shared.values(values)))
}

/// The state recorded for `(project, environment, tenant, workload)` when it was rendered from
/// `chart`: a folder rendered from another chart carries nothing over.
pub fn recorded_state<'a>(
    catalog: &'a Catalog,
    key: &StateKey,
    chart: &str,
) -> Option<&'a RecordedState> {
    catalog.recorded.get(key).filter(|s| s.chart == chart)
}

/// What the releases added once `change` is delivered over `recorded`: a Deploy's change
/// merges into the recorded additions (its version replaces, its values merge, `null` drops
/// one); a Promotion's change is the whole state it carries from its source and replaces them.
pub fn release_additions(
    recorded: Option<&RecordedState>,
    change: Option<&WorkloadChange>,
    replaces: bool,
) -> ReleaseAdditions {
    let base = match (recorded, replaces && change.is_some()) {
        (Some(state), false) => state.added.clone(),
        _ => ReleaseAdditions::default(),
    };
    match change {
        Some(change) => base.with_change(change.version.as_deref(), &change.values, &change.unset),
        None => base,
    }
}

/// One target's render input. `view` decides whose overrides apply; with a tenant of another
/// environment it answers "what would this tenant get in `environment`".
///
/// A tenant's target starts from the state recorded in its folder ([`Catalog::recorded`]):
/// the chart version and values earlier releases added stay unless `change` replaces them
/// (a `null` value drops one). The version is the release's, else a release-pinned one, else
/// the environment's pin, else the workload's.
pub fn build_target(
    catalog: &Catalog,
    project: &str,
    environment: &str,
    view: TenantView<'_>,
    workload: &Workload,
    change: Option<&WorkloadChange>,
    release: &ReleaseInfo,
) -> Result<Target> {
    let mut shared = SharedInputs::new(catalog, project, environment);
    target_with(view, workload, change, release, &mut shared)
}

/// What the targets of one (project, environment) share, worked out once: HQ variable scopes
/// per tenant (a release to thousands of tenants × workloads would otherwise scan and sort
/// every Variables object of the project for each target) and the value maps of the catalog's
/// objects (copied once, not per target).
struct SharedInputs<'a> {
    catalog: &'a Catalog,
    project: &'a str,
    environment: &'a str,
    /// The project's Variables of no particular tenant, in name order.
    untenanted: Vec<&'a Variables>,
    /// Tenant-scoped Variables by tenant, each list in name order.
    by_tenant: HashMap<&'a str, Vec<&'a Variables>>,
    known: HashMap<Option<String>, Arc<VariableScopes>>,
    /// By the address of the map in the catalog, which outlives `self`.
    values: HashMap<usize, Arc<Value>>,
}

impl<'a> SharedInputs<'a> {
    fn new(catalog: &'a Catalog, project: &'a str, environment: &'a str) -> Self {
        let mut objects: Vec<&Variables> = catalog.variables_of(project).collect();
        objects.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let mut untenanted = Vec::new();
        let mut by_tenant: HashMap<&str, Vec<&Variables>> = HashMap::new();
        for v in objects {
            match v.spec.tenant.as_deref().filter(|t| !t.is_empty()) {
                Some(t) => by_tenant.entry(t).or_default().push(v),
                None => untenanted.push(v),
            }
        }
        Self {
            catalog,
            project,
            environment,
            untenanted,
            by_tenant,
            known: HashMap::new(),
            values: HashMap::new(),
        }
    }

    fn values(&mut self, map: &'a serde_json::Map<String, Value>) -> Arc<Value> {
        let key = std::ptr::from_ref(map) as usize;
        self.values
            .entry(key)
            .or_insert_with(|| Arc::new(Value::Object(map.clone())))
            .clone()
    }

    fn of(&mut self, tenant: Option<&str>) -> Result<Arc<VariableScopes>> {
        if let Some(scopes) = self.known.get(&tenant.map(str::to_owned)) {
            return Ok(scopes.clone());
        }
        let mut objects = self.untenanted.clone();
        if let Some(own) = tenant.and_then(|t| self.by_tenant.get(t)) {
            objects.extend(own);
            objects.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        }
        // An error is not kept: each target reports it, as without the memo.
        let scopes = Arc::new(scopes_of(
            self.catalog,
            self.project,
            self.environment,
            tenant,
            objects,
        )?);
        self.known.insert(tenant.map(str::to_owned), scopes.clone());
        Ok(scopes)
    }
}

fn target_with<'a>(
    view: TenantView<'a>,
    workload: &'a Workload,
    change: Option<&WorkloadChange>,
    release: &ReleaseInfo,
    shared: &mut SharedInputs<'a>,
) -> Result<Target> {
    let (catalog, project, environment) = (shared.catalog, shared.project, shared.environment);
    let workload_name = workload.name_any();
    let chart = workload.spec.chart.clone();
    let recorded = match view {
        TenantView::Tenant(t) => {
            let key = StateKey::new(project, environment, &t.name_any(), &workload_name);
            recorded_state(catalog, &key, &chart)
        }
        TenantView::Environment => None,
    };
    let replaces = release.release_type == release_type_name(ReleaseType::Promotion);
    let additions = release_additions(recorded, change, replaces);
    // A Promotion's values are a whole state: no recorded values beneath them.
    let recorded = recorded.filter(|_| !(replaces && change.is_some()));
    let version = additions
        .version
        .clone()
        .unwrap_or_else(|| chart_version_for(workload, environment, None));
    if catalog.chart_version(&chart, &version).is_none() {
        return Err(PlanError::ChartVersionNotFound {
            project: project.to_string(),
            workload: workload_name,
            environment: environment.to_string(),
            chart,
            version,
        });
    }
    let mut layers: Vec<ValueLayer> = Vec::new();
    layers.extend(catalog_layer(
        shared,
        format!("Workload {workload_name} spec.values"),
        &workload.spec.values,
    ));
    if let Some(env) = workload.spec.environments.get(environment) {
        layers.extend(catalog_layer(
            shared,
            format!("Workload {workload_name} spec.environments.{environment}.values"),
            &env.values,
        ));
    }
    let release_source = match (change, recorded) {
        (Some(change), None) => format!(
            "Release {} spec.changes[{}].values",
            release.name, change.workload
        ),
        (Some(change), Some(state)) => format!(
            "Release {} spec.changes[{}].values over the values recorded by release {}",
            release.name, change.workload, state.release
        ),
        (None, Some(state)) => format!("values recorded by release {}", state.release),
        (None, None) => String::new(),
    };
    layers.extend(object_layer(release_source, &additions.values));
    let target_namespace = workload.spec.target_namespace.clone();
    let (tenant_info, tenant_name) = match view {
        TenantView::Tenant(t) => {
            let name = t.name_any();
            layers.extend(catalog_layer(
                shared,
                format!("Tenant {name} spec.values"),
                &t.spec.values,
            ));
            if let Some(tw) = t.spec.workloads.get(&workload_name) {
                layers.extend(catalog_layer(
                    shared,
                    format!("Tenant {name} spec.workloads.{workload_name}.values"),
                    &tw.values,
                ));
            }
            let info = TenantInfo {
                name: name.clone(),
                namespace: t.spec.namespace.clone(),
                cluster: t.spec.cluster.clone(),
                labels: t.spec.labels.clone(),
            };
            (info, Some(name))
        }
        TenantView::Environment => {
            let namespace = target_namespace
                .clone()
                .unwrap_or_else(|| workload_name.clone());
            let info = TenantInfo {
                name: environment.to_string(),
                namespace,
                ..TenantInfo::default()
            };
            (info, None)
        }
    };
    let variables = shared.of(tenant_name.as_deref())?;
    let workload_namespace = target_namespace.unwrap_or_else(|| tenant_info.namespace.clone());
    let additions = tenant_name.is_some().then_some(additions);
    Ok(Target {
        project: project.to_string(),
        environment: environment.to_string(),
        tenant: tenant_info.name.clone(),
        cluster: tenant_info.cluster.clone(),
        workload: workload_name.clone(),
        chart,
        version,
        additions,
        input: RenderInput {
            release: release.clone(),
            project: project.to_string(),
            environment: environment.to_string(),
            tenant: tenant_info,
            workload: WorkloadInfo {
                name: workload_name,
                namespace: workload_namespace,
            },
            layers,
            variables,
        },
    })
}

/// HQ variables visible to a tenant (or, without one, to the environment): one map per scope.
/// Several Variables objects may share a scope; defining one name twice there is an error.
pub fn variable_scopes(
    catalog: &Catalog,
    project: &str,
    environment: &str,
    tenant: Option<&str>,
) -> Result<VariableScopes> {
    let mut objects: Vec<&Variables> = catalog.variables_of(project).collect();
    objects.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    scopes_of(catalog, project, environment, tenant, objects)
}

/// [`variable_scopes`] over `objects`, the project's Variables in name order (those of other
/// tenants or environments may be among them; they are skipped).
fn scopes_of(
    catalog: &Catalog,
    project: &str,
    environment: &str,
    tenant: Option<&str>,
    objects: Vec<&Variables>,
) -> Result<VariableScopes> {
    let mut scopes = VariableScopes::default();
    let mut owners: HashMap<(Scope, String), String> = HashMap::new();
    for v in objects {
        let scope = match (v.spec.tenant.as_deref(), v.spec.environment.as_deref()) {
            (Some(t), _) if !t.is_empty() => {
                if Some(t) != tenant {
                    continue;
                }
                Scope::Tenant
            }
            (_, Some(e)) if !e.is_empty() => {
                if e != environment {
                    continue;
                }
                Scope::Environment
            }
            _ => Scope::Project,
        };
        let mut defined: BTreeMap<String, Value> = v.spec.values.clone().into_iter().collect();
        for (name, reference) in &v.spec.secret_refs {
            let secret = catalog
                .secrets
                .get(&(project.to_string(), reference.name.clone()))
                .and_then(|data| data.get(&reference.key));
            let Some(value) = secret else {
                return Err(PlanError::SecretMissing {
                    project: project.to_string(),
                    variables: v.name_any(),
                    name: name.clone(),
                    secret: reference.name.clone(),
                    key: reference.key.clone(),
                });
            };
            defined.insert(name.clone(), Value::String(value.clone()));
            scopes.secret_backed.insert((scope, name.clone()));
        }
        let map = match scope {
            Scope::Tenant => &mut scopes.tenant,
            Scope::Environment => &mut scopes.environment,
            Scope::Project => &mut scopes.project,
        };
        for (name, value) in defined {
            if let Some(first) = owners.insert((scope, name.clone()), v.name_any()) {
                return Err(PlanError::VariableConflict {
                    name,
                    scope: scope.to_string(),
                    first,
                    second: v.name_any(),
                });
            }
            map.insert(name, value);
        }
    }
    Ok(scopes)
}

/// The engine's view of a published chart version.
pub fn chart_source(cv: &ChartVersion) -> ChartSource {
    ChartSource {
        name: cv.spec.chart.clone(),
        version: cv.spec.version.clone(),
        templates: cv.spec.templates.clone(),
        values: Value::Object(cv.spec.values.clone()),
        values_schema: cv.spec.values_schema.clone(),
    }
}

/// A target and what it rendered to. The output is shared with the render cache, when one
/// rendered it: judging a release clones no object.
#[derive(Debug, Clone)]
pub struct RenderedTarget {
    pub target: Target,
    pub output: Arc<RenderOutput>,
}

/// Compiled chart versions, each compiled once however many targets use it.
#[derive(Default)]
pub struct ChartCache {
    charts: HashMap<(String, String), CompiledChart>,
}

impl ChartCache {
    /// The compiled chart version `target` renders with.
    pub fn get(&mut self, catalog: &Catalog, target: &Target) -> Result<&CompiledChart> {
        let key = (target.chart.clone(), target.version.clone());
        if !self.charts.contains_key(&key) {
            let cv = catalog.chart_version(&key.0, &key.1).ok_or_else(|| {
                PlanError::ChartVersionNotFound {
                    project: target.project.clone(),
                    workload: target.workload.clone(),
                    environment: target.environment.clone(),
                    chart: key.0.clone(),
                    version: key.1.clone(),
                }
            })?;
            let compiled =
                CompiledChart::compile(&chart_source(cv)).map_err(render_failed(target))?;
            self.charts.insert(key.clone(), compiled);
        }
        Ok(&self.charts[&key])
    }
}

/// Wraps a render error with the target it happened in: one [`PlanError::Render`] for each of
/// its faults.
pub fn render_failed(target: &Target) -> impl FnOnce(RenderError) -> PlanError + use<> {
    let id = target.id();
    move |source| {
        let mut problems: Vec<PlanError> = match source {
            RenderError::Several { problems } => problems,
            leaf => vec![leaf],
        }
        .into_iter()
        .map(|source| PlanError::Render {
            target: id.clone(),
            source: Box::new(source),
        })
        .collect();
        match problems.len() {
            1 => problems.remove(0),
            _ => PlanError::Several { problems },
        }
    }
}

/// A target's rendered objects as files, without the parsed objects: what a delivery writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFiles {
    pub project: String,
    pub environment: String,
    pub tenant: String,
    pub cluster: String,
    /// The tenant's namespace, the default namespace of its objects.
    pub namespace: String,
    pub workload: String,
    /// One file per object, as [`RenderOutput::files`] names them.
    pub files: Vec<RenderedFile>,
    /// The render digest ([`RenderOutput::digest`]).
    pub digest: String,
    /// What the delivery records in the folder ([`crate::layout::STATE_FILE`]).
    pub state: Option<RecordedState>,
}

impl RenderedFiles {
    /// `project/environment/tenant/workload`, as [`Target::id`].
    pub fn id(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.project, self.environment, self.tenant, self.workload
        )
    }
}

impl TryFrom<RenderedTarget> for RenderedFiles {
    type Error = PlanError;

    fn try_from(r: RenderedTarget) -> Result<Self> {
        let digest = r
            .output
            .digest()
            .map_err(render_failed(&r.target))?
            .to_owned();
        let secrets: Vec<Option<SecretSummary>> = r
            .output
            .manifests
            .iter()
            .map(|m| SecretSummary::of(&m.object))
            .collect();
        // Only a cached output is shared; an uncached one is taken apart without a copy.
        let files = Arc::unwrap_or_clone(r.output)
            .into_files()
            .map_err(render_failed(&r.target))?;
        let Target {
            project,
            environment,
            tenant,
            cluster,
            workload,
            chart,
            version,
            input,
            additions,
        } = r.target;
        let state = additions.map(|added| RecordedState {
            release: input.release.name.clone(),
            chart,
            version,
            added,
            digest: digest.clone(),
        });
        let files = files
            .into_iter()
            .zip(secrets)
            .map(|((file_name, yaml), secret)| RenderedFile {
                file_name,
                yaml: yaml.into_bytes(),
                secret,
            })
            .collect();
        Ok(RenderedFiles {
            project,
            environment,
            tenant,
            cluster,
            namespace: input.tenant.namespace,
            workload,
            files,
            digest,
            state,
        })
    }
}

/// Renders every target, compiling each chart version once per thread. Every object gets the
/// ownership labels (project, environment, tenant, workload, managed-by) that pruning and drift
/// use. Targets are rendered on every available core; the result keeps the targets' order, and
/// on failure the error lists every fault of every target, in the targets' order.
pub fn render_targets(catalog: &Catalog, targets: Vec<Target>) -> Result<Vec<RenderedTarget>> {
    render_parallel(catalog, targets, render_one)
}

/// [`render_targets`], keeping only each target's files: the parsed objects and values are
/// dropped as soon as each target is rendered, so a large release holds its YAML and nothing
/// more.
pub fn render_target_files(catalog: &Catalog, targets: Vec<Target>) -> Result<Vec<RenderedFiles>> {
    render_parallel(catalog, targets, |charts, catalog, target| {
        render_one(charts, catalog, target).and_then(RenderedFiles::try_from)
    })
}

/// Renders `targets` with `render`, on every core for large releases (the [`render_targets`]
/// machinery, for other render strategies such as [`crate::render_cache::RenderCache`]).
pub(crate) fn render_each<T: Send>(
    catalog: &Catalog,
    targets: Vec<Target>,
    render: impl Fn(&mut ChartCache, &Catalog, Target) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    render_parallel(catalog, targets, render)
}

/// Renders one target with an already compiled chart.
pub(crate) fn render_with(chart: &CompiledChart, target: Target) -> Result<RenderedTarget> {
    let owned = [
        (labels::K8S_MANAGED_BY, labels::MANAGED_BY_VALUE),
        (labels::PROJECT, target.project.as_str()),
        (labels::ENVIRONMENT, target.environment.as_str()),
        (labels::TENANT, target.tenant.as_str()),
        (labels::WORKLOAD, target.workload.as_str()),
    ];
    let output = chart
        .render_labelled(&target.input, &owned)
        .map_err(render_failed(&target))?;
    Ok(RenderedTarget {
        target,
        output: Arc::new(output),
    })
}

fn render_parallel<T: Send>(
    catalog: &Catalog,
    targets: Vec<Target>,
    render: impl Fn(&mut ChartCache, &Catalog, Target) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    // Every target is rendered even after one fails, so the error lists every fault.
    let chunk_of = |targets: Vec<Target>| -> Result<Vec<T>> {
        let mut charts = ChartCache::default();
        let mut out = Vec::with_capacity(targets.len());
        let mut problems = Vec::new();
        for target in targets {
            match render(&mut charts, catalog, target) {
                Ok(rendered) => out.push(rendered),
                Err(error) => problems.push(error),
            }
        }
        PlanError::all(problems)?;
        Ok(out)
    };
    let threads = rayon::current_num_threads();
    if threads < 2 || targets.len() < 2 * threads {
        return chunk_of(targets);
    }
    let chunk = targets.len().div_ceil(threads);
    let mut chunks: Vec<Vec<Target>> = Vec::with_capacity(threads);
    let mut rest = targets;
    while rest.len() > chunk {
        let tail = rest.split_off(chunk);
        chunks.push(rest);
        rest = tail;
    }
    chunks.push(rest);
    // On the shared pool, which also takes each target's templates when it has many.
    let results: Vec<Result<Vec<T>>> = chunks.into_par_iter().map(chunk_of).collect();
    let mut rendered = Vec::new();
    let mut problems = Vec::new();
    for result in results {
        match result {
            Ok(chunk) => rendered.extend(chunk),
            Err(error) => problems.push(error),
        }
    }
    PlanError::all(problems)?;
    Ok(rendered)
}

/// The workloads `release` changes, as a list for messages ("api, worker").
pub fn workloads_of(release: &Release) -> String {
    release
        .spec
        .changes
        .iter()
        .map(|c| c.workload.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
fn render_chunk(catalog: &Catalog, targets: Vec<Target>) -> Result<Vec<RenderedTarget>> {
    let mut charts = ChartCache::default();
    targets
        .into_iter()
        .map(|t| render_one(&mut charts, catalog, t))
        .collect()
}

/// One target rendered with its ownership labels.
fn render_one(
    charts: &mut ChartCache,
    catalog: &Catalog,
    target: Target,
) -> Result<RenderedTarget> {
    let chart = charts.get(catalog, &target)?;
    render_with(chart, target)
}

fn delivery_mode(mode: gitopshq_crds::project::DeliveryMode) -> DeliveryMode {
    use gitopshq_crds::project::DeliveryMode as Api;
    match mode {
        Api::ArgoCD => DeliveryMode::ArgoCd,
        Api::Flux => DeliveryMode::Flux,
        Api::Direct => DeliveryMode::Direct,
    }
}

/// The repository a project delivers to, with `url` overridden when the caller points
/// elsewhere (`--repo`).
pub fn repository_ref(
    catalog: &Catalog,
    project: &str,
    url_override: Option<&str>,
) -> Result<RepositoryRef> {
    let p = catalog
        .project(project)
        .ok_or_else(|| PlanError::ProjectNotFound {
            project: project.to_string(),
        })?;
    Ok(RepositoryRef {
        url: url_override
            .map(str::to_string)
            .unwrap_or_else(|| p.spec.repository.url.clone()),
        branch: p.spec.repository.branch.clone(),
        path: p.spec.repository.path.clone(),
    })
}

/// The folder of the repository a project writes to (`spec.repository.path`, default
/// `projects/<project>`), validated.
pub fn repository_root(catalog: &Catalog, project: &str) -> Result<String> {
    let repository = repository_ref(catalog, project, None)?;
    crate::layout::repository_root(project, repository.path.as_deref()).map_err(|source| {
        PlanError::Layout {
            project: project.to_string(),
            source,
        }
    })
}

/// Groups rendered targets of one project and environment by tenant into the layout's request:
/// what the GitOps repository must hold for them. The files are moved into the request.
pub fn layout_request(
    catalog: &Catalog,
    project: &str,
    environment: &str,
    rendered: impl IntoIterator<Item = RenderedFiles>,
    repository: RepositoryRef,
    settings: GitOpsSettings,
) -> Result<LayoutRequest> {
    let p = catalog
        .project(project)
        .ok_or_else(|| PlanError::ProjectNotFound {
            project: project.to_string(),
        })?;
    let delivery = delivery_mode(p.spec.delivery);
    let mut tenants: BTreeMap<String, TenantRender> = BTreeMap::new();
    for r in rendered {
        let tenant = match tenants.get_mut(&r.tenant) {
            Some(t) => t,
            None => {
                if delivery == crate::layout::DeliveryMode::Flux
                    && catalog.cluster(&r.cluster).is_none()
                {
                    return Err(PlanError::ClusterNotRegistered {
                        project: project.to_string(),
                        tenant: r.tenant,
                        cluster: r.cluster,
                    });
                }
                tenants.entry(r.tenant.clone()).or_insert(TenantRender {
                    name: r.tenant,
                    cluster: cluster_target(catalog, &r.cluster),
                    namespace: r.namespace,
                    workloads: Vec::new(),
                })
            }
        };
        tenant.workloads.push(WorkloadRender {
            name: r.workload,
            files: r.files,
            state: r.state,
        });
    }
    Ok(LayoutRequest {
        project: project.to_string(),
        repository,
        delivery,
        environment: environment.to_string(),
        tenants: tenants.into_values().collect(),
        settings,
    })
}

fn cluster_target(catalog: &Catalog, name: &str) -> ClusterTarget {
    // The copy of the Cluster's kubeconfig next to the Kustomizations, where Flux reads it
    // (the Project controller keeps it; Flux only reads Secrets of the Kustomization's own
    // namespace).
    let secret = catalog
        .cluster(name)
        .map(|_| crate::layout::flux_kubeconfig_secret(name));
    ClusterTarget {
        name: name.to_string(),
        server: None,
        kubeconfig_secret: secret,
        age_recipients: age_recipients(catalog, name),
    }
}

/// The age recipients a cluster's Secrets are encrypted for; empty when it has none.
pub fn age_recipients(catalog: &Catalog, cluster: &str) -> Vec<String> {
    catalog
        .cluster(cluster)
        .and_then(|c| c.spec.secret_encryption.as_ref())
        .map(|e| e.age_recipients.clone())
        .unwrap_or_default()
}

/// Flux commits a Secret only SOPS-encrypted for its cluster's age recipients: the first
/// rendered Secret whose tenant's cluster has none is an error naming the tenant, the cluster
/// and how to configure it. Argo CD and Direct delivery keep Secrets out of Git and need none.
pub fn check_secret_encryption(catalog: &Catalog, rendered: &[RenderedTarget]) -> Result<()> {
    for r in rendered {
        let target = &r.target;
        let flux = catalog
            .project(&target.project)
            .is_some_and(|p| p.spec.delivery == gitopshq_crds::project::DeliveryMode::Flux);
        if !flux || !age_recipients(catalog, &target.cluster).is_empty() {
            continue;
        }
        if let Some(secret) = r
            .output
            .manifests
            .iter()
            .find(|m| m.api_version == "v1" && m.kind == "Secret")
        {
            return Err(PlanError::SecretEncryptionMissing {
                project: target.project.clone(),
                tenant: target.tenant.clone(),
                cluster: target.cluster.clone(),
                secret: secret.display_name(),
            });
        }
    }
    Ok(())
}

/// `release.type` in templates and trailers: the API spelling.
pub fn release_type_name(release_type: gitopshq_crds::release::ReleaseType) -> &'static str {
    release_type.as_str()
}

/// The (tenant, workload) pairs a Rollback release restores: those the target release
/// delivered, narrowed to the rollback's own changes (service-scoped rollback) and tenants
/// when it names any.
pub fn rollback_scope(
    catalog: &Catalog,
    rollback: &Release,
    target: &Release,
) -> Result<Vec<(String, String)>> {
    let delivered = release_targets(catalog, target)?;
    let workloads: Vec<&str> = rollback
        .spec
        .changes
        .iter()
        .map(|c| c.workload.as_str())
        .collect();
    let tenants: Vec<&str> = rollback.spec.tenants.iter().map(String::as_str).collect();
    let scope: Vec<(String, String)> = delivered
        .into_iter()
        .filter(|t| workloads.is_empty() || workloads.contains(&t.workload.as_str()))
        .filter(|t| tenants.is_empty() || tenants.contains(&t.tenant.as_str()))
        .map(|t| (t.tenant, t.workload))
        .collect();
    if scope.is_empty() {
        return Err(PlanError::NoTargets {
            release: rollback.name_any(),
            environment: rollback.spec.environment.clone(),
            workloads: if workloads.is_empty() {
                "any workload".into()
            } else {
                workloads.join(", ")
            },
        });
    }
    Ok(scope)
}

#[cfg(test)]
mod accumulation_tests;

#[cfg(test)]
mod tests {
    use super::*;

    use gitopshq_crds::testing::from_yaml as object;

    fn catalog(tenants: usize) -> Catalog {
        crate::catalog::testing::shop(&["api", "worker"], tenants)
    }

    #[test]
    fn parallel_rendering_keeps_order_and_bytes() {
        let catalog = catalog(12);
        let targets = environment_targets(&catalog, "shop", "prod", None, None).unwrap();
        assert_eq!(targets.len(), 24);
        let parallel = render_targets(&catalog, targets.clone()).unwrap();
        let sequential = render_chunk(&catalog, targets).unwrap();
        let ids = |r: &[RenderedTarget]| r.iter().map(|t| t.target.id()).collect::<Vec<_>>();
        assert_eq!(ids(&parallel), ids(&sequential));
        for (p, s) in parallel.iter().zip(&sequential) {
            assert_eq!(
                p.output.yaml_stream().unwrap(),
                s.output.yaml_stream().unwrap()
            );
            assert_eq!(p.output.digest().unwrap(), s.output.digest().unwrap());
        }
        let t05 = &parallel
            .iter()
            .find(|r| r.target.tenant == "t05")
            .unwrap()
            .output;
        let yaml = t05.yaml_stream().unwrap();
        assert!(
            yaml.contains("replicas: '5'") && yaml.contains("namespace: ns-5"),
            "{yaml}"
        );
        assert!(yaml.contains("gitopshq.io/tenant: t05"), "{yaml}");
    }

    #[test]
    fn targets_share_what_the_catalog_holds_and_keep_each_tenants_own_variables() {
        let mut catalog = catalog(3);
        catalog.workloads[0].spec.values = object("{replicas: 2}");
        for (name, tenant, value) in [("a-t00", "t00", "eu"), ("b-t01", "t01", "us")] {
            catalog.variables.push(object(&format!(
                "metadata: {{name: {name}, namespace: shop}}\nspec: {{tenant: {tenant}, values: {{REGION: {value}}}}}"
            )));
        }
        catalog.variables.push(object(
            "metadata: {name: everyone, namespace: shop}\nspec: {values: {LEVEL: info}}",
        ));
        let release: Release = object(
            "metadata: {name: r1, namespace: shop}
spec: {title: t, environment: prod, tenants: [t02, t01, t00, t01], changes: [{workload: api}, {workload: worker}]}",
        );
        let targets = release_targets(&catalog, &release).unwrap();
        assert_eq!(
            targets.len(),
            6,
            "three tenants, named once each, × two workloads"
        );
        let of = |tenant: &str, workload: &str| {
            targets
                .iter()
                .find(|t| t.tenant == tenant && t.workload == workload)
                .unwrap()
        };
        // One copy of the Workload's values and one set of scopes per tenant, however many
        // targets use them.
        let (api_t00, api_t01) = (of("t00", "api"), of("t01", "api"));
        assert!(Arc::ptr_eq(
            &api_t00.input.layers[0].values,
            &api_t01.input.layers[0].values
        ));
        assert!(Arc::ptr_eq(
            &api_t00.input.variables,
            &of("t00", "worker").input.variables
        ));
        // Each tenant still sees its own tenant-scoped variables and the shared ones.
        for (tenant, region) in [("t00", Some("eu")), ("t01", Some("us")), ("t02", None)] {
            let scopes = &of(tenant, "worker").input.variables;
            assert_eq!(
                scopes.tenant.get("REGION").and_then(Value::as_str),
                region,
                "{tenant}"
            );
            assert_eq!(scopes.project.get("LEVEL"), Some(&Value::from("info")));
        }
        assert_eq!(
            variable_scopes(&catalog, "shop", "prod", Some("t01")).unwrap(),
            *api_t01.input.variables,
            "the shared scopes equal those worked out on their own"
        );
    }

    #[test]
    fn a_named_tenant_that_does_not_exist_is_named() {
        let catalog = catalog(2);
        let release: Release = object(
            "metadata: {name: r1, namespace: shop}
spec: {title: t, environment: prod, tenants: [t01, t07], changes: [{workload: api}]}",
        );
        let error = release_targets(&catalog, &release).unwrap_err().to_string();
        assert!(error.contains("t07") && error.contains("shop"), "{error}");
    }

    #[test]
    fn parallel_rendering_reports_every_failing_target_in_order() {
        let mut catalog = catalog(12);
        // `null` deletes `replicas` for tenants t03 and t09; the strict template reads it.
        for t in [9, 3] {
            catalog.tenants[t]
                .spec
                .values
                .insert("replicas".into(), Value::Null);
        }
        let targets = environment_targets(&catalog, "shop", "prod", None, None).unwrap();
        let err = render_targets(&catalog, targets).unwrap_err();
        let failed: Vec<&str> = err
            .problems()
            .iter()
            .map(|p| match p {
                PlanError::Render { target, .. } => target.as_str(),
                other => panic!("unexpected {other}"),
            })
            .collect();
        assert_eq!(
            failed,
            [
                "shop/prod/t03/api",
                "shop/prod/t03/worker",
                "shop/prod/t09/api",
                "shop/prod/t09/worker"
            ]
        );
        let text = err.to_string();
        assert!(text.starts_with("4 problems:"), "{text}");
        assert!(
            text.contains("cannot render shop/prod/t09/worker: chart web@1.0.0"),
            "{text}"
        );
    }

    #[test]
    fn every_unresolved_variable_of_every_tenant_is_one_error() {
        let mut catalog = catalog(3);
        for (w, value) in [
            ("api", "{{hq.var.API_KEY}}"),
            ("worker", "{{hq.var.QUEUE}}"),
        ] {
            let workload = catalog
                .workloads
                .iter_mut()
                .find(|x| x.name_any() == w)
                .unwrap();
            workload.spec.values.insert(
                "config".into(),
                serde_json::json!({"secret": value, "region": "{{hq.var.REGION}}"}),
            );
        }
        // Only t01 defines REGION.
        catalog.variables.push(object(
            "metadata: {name: t01-vars, namespace: shop}\nspec: {tenant: t01, values: {REGION: eu}}",
        ));
        let targets = environment_targets(&catalog, "shop", "prod", None, None).unwrap();
        let err = render_targets(&catalog, targets).unwrap_err();
        let found: Vec<(String, String, String, String, String)> = err
            .problems()
            .iter()
            .map(|p| match p {
                PlanError::Render { target, source } => match source.as_ref() {
                    RenderError::UnresolvedVariable {
                        variable,
                        environment,
                        tenant,
                        path,
                        ..
                    } => (
                        target.clone(),
                        variable.clone(),
                        environment.clone(),
                        tenant.clone(),
                        path.clone(),
                    ),
                    other => panic!("unexpected {other}"),
                },
                other => panic!("unexpected {other}"),
            })
            .collect();
        let row = |target: &str, variable: &str, tenant: &str, path: &str| {
            (
                format!("shop/prod/{tenant}/{target}"),
                format!("hq.var.{variable}"),
                "prod".to_string(),
                tenant.to_string(),
                path.to_string(),
            )
        };
        assert_eq!(
            found,
            [
                row("api", "API_KEY", "t00", "config.secret"),
                row("api", "REGION", "t00", "config.region"),
                row("worker", "QUEUE", "t00", "config.secret"),
                row("worker", "REGION", "t00", "config.region"),
                row("api", "API_KEY", "t01", "config.secret"),
                row("worker", "QUEUE", "t01", "config.secret"),
                row("api", "API_KEY", "t02", "config.secret"),
                row("api", "REGION", "t02", "config.region"),
                row("worker", "QUEUE", "t02", "config.secret"),
                row("worker", "REGION", "t02", "config.region"),
            ]
        );
        let text = err.to_string();
        assert!(text.starts_with("10 problems:\n  - cannot render shop/prod/t00/api: HQ variable hq.var.API_KEY used at value path config.secret is not defined for environment prod, tenant t00"), "{text}");
    }
}
