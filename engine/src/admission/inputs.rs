//! Render inputs — Tenants, Variables and Workloads — decide what runs where. A write to one is
//! judged like a release into every environment it reaches: the requester must hold the
//! `release` grant there (the same SubjectAccessReview the release check makes), and a
//! (cluster, namespace) pair belongs to one environment of one project, so no input of another
//! environment or project can point objects at it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::variables::Variables;
use gitopshq_crds::workload::Workload;
use kube::ResourceExt;
use serde_json::json;

use super::approval::list_or_none;
use super::{
    Access, Directory, Operation, Permission, Request, Rule, Verdict, is_kubernetes_deleter, teams,
};
use crate::plan::tenant_runs;
use crate::rbac::verbs;

/// Namespaces of the cluster's own components: no tenant may deliver into them.
const SYSTEM_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease"];

/// A tenant's environment, cluster and namespace decide where a release of that environment
/// lands: creating one, moving one or deleting one needs the `release` grant in each
/// environment involved, the cluster must serve the environment, and the (cluster, namespace)
/// pair must not belong to another environment or project.
pub fn validate_tenant(req: &Request<'_, Tenant>, directory: &dyn Directory) -> Verdict {
    let Some(tenant) = req.object.or(req.old) else {
        return Verdict::allow();
    };
    if req.operation == Operation::Delete && is_kubernetes_deleter(req.user) {
        return Verdict::allow();
    }
    let name = tenant.name_any();
    let namespace = tenant.namespace().unwrap_or_default();
    let what = format!("tenant {name}");
    let placement = |t: &Tenant| {
        (
            t.spec.environment.clone(),
            t.spec.cluster.clone(),
            t.spec.namespace.clone(),
        )
    };
    let environments: BTreeSet<String> = match (req.operation, req.object, req.old) {
        (Operation::Delete, _, Some(old)) => [old.spec.environment.clone()].into(),
        (Operation::Update, Some(new), Some(old)) if placement(new) == placement(old) => {
            return Verdict::allow();
        }
        (Operation::Update, Some(new), Some(old)) => {
            [old.spec.environment.clone(), new.spec.environment.clone()].into()
        }
        (_, Some(new), _) => [new.spec.environment.clone()].into(),
        _ => return Verdict::allow(),
    };
    if let Err(denial) = release_grant(req, directory, &namespace, environments, &what) {
        return denial;
    }
    let Some(new) = req.object else {
        return Verdict::allow();
    };
    let target = &new.spec.namespace;
    if SYSTEM_NAMESPACES.contains(&target.as_str()) {
        return Verdict::deny(
            Rule::Invalid,
            format!(
                "{what} denied: spec.namespace {target} belongs to the cluster's own components; choose a namespace of the project"
            ),
        );
    }
    let mut verdict = Verdict::allow();
    match directory.cluster(&new.spec.cluster) {
        Some(cluster)
            if !cluster.spec.environments.is_empty()
                && !cluster.spec.environments.contains(&new.spec.environment) =>
        {
            return Verdict::deny(
                Rule::Invalid,
                format!(
                    "{what} denied: cluster {} serves {} (spec.environments of the Cluster), not {}; choose a cluster of {} or ask a platform admin to add the environment to the Cluster",
                    new.spec.cluster,
                    cluster.spec.environments.join(", "),
                    new.spec.environment,
                    new.spec.environment,
                ),
            );
        }
        Some(_) => {}
        None => {
            verdict = verdict.warn(format!(
                "{what}: cluster {} is not registered yet; releases to this tenant fail until it is (gitopshq cluster register {})",
                new.spec.cluster, new.spec.cluster
            ));
        }
    }
    let mut world = World::read(directory);
    world.replace_tenant(new);
    match world.conflict_of(|claim| claim.tenant == (namespace.clone(), name.clone())) {
        Some(conflict) => conflict.deny(&what),
        None => verdict,
    }
}

/// A tenant-scoped Variables object is pinned to its tenant's environment (`spec.environment`
/// is set to it), so the values never follow the tenant's name into another environment.
pub fn mutate_variables(req: &Request<'_, Variables>, directory: &dyn Directory) -> Verdict {
    let Some(variables) = req.object else {
        return Verdict::allow();
    };
    let Some(tenant_name) = variables.spec.tenant.as_deref().filter(|t| !t.is_empty()) else {
        return Verdict::allow();
    };
    let namespace = variables.namespace().unwrap_or_default();
    match directory.tenant(&namespace, tenant_name) {
        Some(tenant)
            if variables.spec.environment.as_deref() != Some(&tenant.spec.environment)
                && variables
                    .spec
                    .environment
                    .as_deref()
                    .is_none_or(str::is_empty) =>
        {
            Verdict::allow().set("/spec/environment", json!(tenant.spec.environment))
        }
        _ => Verdict::allow(),
    }
}

/// Variables of an environment or a tenant change what that environment renders: writing them
/// needs the `release` grant there. A Secret reference needs `get` on that Secret, so nobody
/// publishes a value they cannot read.
pub fn validate_variables(req: &Request<'_, Variables>, directory: &dyn Directory) -> Verdict {
    let Some(variables) = req.object.or(req.old) else {
        return Verdict::allow();
    };
    if req.operation == Operation::Delete && is_kubernetes_deleter(req.user) {
        return Verdict::allow();
    }
    let name = variables.name_any();
    let namespace = variables.namespace().unwrap_or_default();
    let what = format!("variables {name}");
    if let (Operation::Update, Some(new), Some(old)) = (req.operation, req.object, req.old)
        && new.spec == old.spec
    {
        return Verdict::allow();
    }
    let mut environments = BTreeSet::new();
    for object in [req.old, req.object].into_iter().flatten() {
        match scope_environment(object, directory) {
            Ok(Some(environment)) => {
                environments.insert(environment);
            }
            Ok(None) => {}
            Err(problem) => {
                if Some(object) == req.object {
                    return Verdict::deny(Rule::NotFound, format!("{what} denied: {problem}"));
                }
            }
        }
    }
    if let Err(denial) = release_grant(req, directory, &namespace, environments, &what) {
        return denial;
    }
    let Some(new) = req.object else {
        return Verdict::allow();
    };
    if let (Some(tenant), Some(environment)) = (
        new.spec.tenant.as_deref().filter(|t| !t.is_empty()),
        new.spec.environment.as_deref().filter(|e| !e.is_empty()),
    ) && let Some(found) = directory.tenant(&namespace, tenant)
        && found.spec.environment != environment
    {
        return Verdict::deny(
            Rule::Invalid,
            format!(
                "{what} denied: spec.environment {environment} is not the environment of tenant {tenant} ({}); leave spec.environment empty (it is set to the tenant's) or fix it",
                found.spec.environment
            ),
        );
    }
    let unchanged = req.old.map(|o| &o.spec.secret_refs);
    for (variable, reference) in &new.spec.secret_refs {
        if unchanged.and_then(|refs| refs.get(variable)) == Some(reference) {
            continue;
        }
        let access = Access::read_secret(&namespace, &reference.name);
        let problem = match directory.may(req.user, &access) {
            Permission::Allowed => continue,
            Permission::Denied => format!(
                "{} (groups: {}) may not read Secret {namespace}/{} (get secrets), so may not make its key {} the HQ variable {variable}; ask a project Admin for read access to that Secret ({}) or reference a Secret you may read",
                req.user.username,
                list_or_none(teams(&req.user.groups)),
                reference.name,
                reference.key,
                access.can_i(),
            ),
            Permission::Unknown(reason) => format!(
                "cannot check whether {} may read Secret {namespace}/{} ({reason}); retry in a moment",
                req.user.username, reference.name
            ),
        };
        return Verdict::deny(
            Rule::NotPermitted,
            format!("{what} denied: spec.secretRefs.{variable}: {problem}"),
        );
    }
    Verdict::allow()
}

/// `Err(denial)` unless the requester may release into every one of `environments`: what
/// these inputs change there is as much a release decision as a release.
fn release_grant<K>(
    req: &Request<'_, K>,
    directory: &dyn Directory,
    namespace: &str,
    environments: BTreeSet<String>,
    what: &str,
) -> Result<(), Verdict> {
    let environments: Vec<String> = environments.into_iter().collect();
    super::require(
        req,
        directory,
        namespace,
        verbs::RELEASE,
        &environments,
        what,
    )
}

/// The environment a Variables object's scope belongs to: its own, or its tenant's; `None` for
/// the project scope.
fn scope_environment(
    variables: &Variables,
    directory: &dyn Directory,
) -> Result<Option<String>, String> {
    if let Some(tenant) = variables.spec.tenant.as_deref().filter(|t| !t.is_empty()) {
        let namespace = variables.namespace().unwrap_or_default();
        return match directory.tenant(&namespace, tenant) {
            Some(found) => Ok(Some(found.spec.environment.clone())),
            None => Err(format!(
                "spec.tenant {tenant} does not exist in project {namespace}; create the Tenant first (kubectl get tenants -n {namespace})"
            )),
        };
    }
    Ok(variables.spec.environment.clone().filter(|e| !e.is_empty()))
}

/// The parts of a Workload that reach one environment only: its `environments.<env>` override
/// and its image update's `autoRelease` environments (a new tag releases there by itself) need
/// the `release` grant in that environment; a `targetNamespace` moves every tenant's objects,
/// so it needs the grant in every environment whose tenants run the workload, and the
/// namespaces it claims must be free.
pub fn workload_grants(req: &Request<'_, Workload>, directory: &dyn Directory) -> Verdict {
    let (Some(new), old) = (req.object, req.old) else {
        return Verdict::allow();
    };
    let name = new.name_any();
    let namespace = new.namespace().unwrap_or_default();
    let what = format!("workload {name}");
    let mut environments = BTreeSet::new();
    let old_overrides = old.map(|o| &o.spec.environments);
    for environment in new
        .spec
        .environments
        .keys()
        .chain(old_overrides.into_iter().flat_map(|o| o.keys()))
    {
        if new.spec.environments.get(environment) != old_overrides.and_then(|o| o.get(environment))
        {
            environments.insert(environment.clone());
        }
    }
    let old_update = old.and_then(|o| o.spec.image_update.as_ref());
    if new.spec.image_update.as_ref() != old_update {
        for environment in new.spec.image_update.iter().flat_map(|u| &u.auto_release) {
            environments.insert(environment.clone());
        }
    }
    let moved = new.spec.target_namespace.is_some()
        && new.spec.target_namespace != old.and_then(|o| o.spec.target_namespace.clone());
    let mut world = None;
    if moved {
        let mut read = World::read(directory);
        read.replace_workload(new);
        for tenant in read.tenants_running(&namespace, &name) {
            environments.insert(tenant.spec.environment.clone());
        }
        world = Some(read);
    }
    if let Err(denial) = release_grant(req, directory, &namespace, environments, &what) {
        return denial;
    }
    if let Some(world) = world
        && let Some(conflict) = world.conflict_of(|claim| {
            claim.workload.as_ref() == Some(&(namespace.clone(), name.clone()))
        })
    {
        return conflict.deny(&what);
    }
    Verdict::allow()
}

/// Everything that places objects: every tenant, and the workloads whose `targetNamespace`
/// moves a tenant's objects out of its own namespace.
struct World {
    tenants: Vec<Arc<Tenant>>,
    workloads: Vec<Arc<Workload>>,
}

/// A (cluster, namespace) pair taken by a tenant of a project's environment, directly or
/// through a workload's `targetNamespace`.
#[derive(Clone)]
struct Claim {
    cluster: String,
    namespace: String,
    project: String,
    environment: String,
    /// (project, name) of the tenant.
    tenant: (String, String),
    /// (project, name) of the workload whose `targetNamespace` makes the claim.
    workload: Option<(String, String)>,
}

impl Claim {
    fn describe(&self) -> String {
        match &self.workload {
            None => format!(
                "tenant {}/{} of environment {}",
                self.tenant.0, self.tenant.1, self.environment
            ),
            Some((project, workload)) => format!(
                "workload {project}/{workload} (spec.targetNamespace) on tenant {} of environment {}",
                self.tenant.1, self.environment
            ),
        }
    }
}

/// Two claims on one pair from different environments or projects.
struct Conflict {
    mine: Claim,
    theirs: Claim,
}

impl Conflict {
    fn deny(&self, what: &str) -> Verdict {
        Verdict::deny(
            Rule::Claimed,
            format!(
                "{what} denied: namespace {} on cluster {} belongs to {} (project {}, environment {}); {} would deliver environment {} of project {} into it. A namespace belongs to one environment of one project: choose another namespace or cluster",
                self.mine.namespace,
                self.mine.cluster,
                self.theirs.describe(),
                self.theirs.project,
                self.theirs.environment,
                self.mine.describe(),
                self.mine.environment,
                self.mine.project,
            ),
        )
    }
}

impl World {
    fn read(directory: &dyn Directory) -> Self {
        Self {
            tenants: directory.all_tenants(),
            workloads: directory.all_workloads(),
        }
    }

    fn replace_tenant(&mut self, tenant: &Tenant) {
        let key = (tenant.namespace(), tenant.name_any());
        self.tenants
            .retain(|t| (t.namespace(), t.name_any()) != key);
        self.tenants.push(Arc::new(tenant.clone()));
    }

    fn replace_workload(&mut self, workload: &Workload) {
        let key = (workload.namespace(), workload.name_any());
        self.workloads
            .retain(|w| (w.namespace(), w.name_any()) != key);
        self.workloads.push(Arc::new(workload.clone()));
    }

    fn tenants_running<'a>(
        &'a self,
        project: &'a str,
        workload: &'a str,
    ) -> impl Iterator<Item = &'a Tenant> + 'a {
        self.tenants
            .iter()
            .filter(move |t| t.namespace().as_deref() == Some(project) && tenant_runs(t, workload))
            .map(Arc::as_ref)
    }

    fn claims(&self) -> Vec<Claim> {
        let mut by_project: BTreeMap<String, Vec<&Workload>> = BTreeMap::new();
        for workload in &self.workloads {
            if workload.spec.target_namespace.is_some() {
                by_project
                    .entry(workload.namespace().unwrap_or_default())
                    .or_default()
                    .push(workload);
            }
        }
        let mut claims = Vec::new();
        for tenant in &self.tenants {
            let project = tenant.namespace().unwrap_or_default();
            let claim = |namespace: &str, workload: Option<(String, String)>| Claim {
                cluster: tenant.spec.cluster.clone(),
                namespace: namespace.to_string(),
                project: project.clone(),
                environment: tenant.spec.environment.clone(),
                tenant: (project.clone(), tenant.name_any()),
                workload,
            };
            claims.push(claim(&tenant.spec.namespace, None));
            for workload in by_project.get(&project).into_iter().flatten() {
                if let Some(target) = &workload.spec.target_namespace
                    && tenant_runs(tenant, &workload.name_any())
                {
                    claims.push(claim(target, Some((project.clone(), workload.name_any()))));
                }
            }
        }
        claims
    }

    /// The first claim made by `mine` that meets a claim of another environment or project.
    fn conflict_of(&self, mine: impl Fn(&Claim) -> bool) -> Option<Conflict> {
        let claims = self.claims();
        let (own, others): (Vec<Claim>, Vec<Claim>) = claims.into_iter().partition(&mine);
        for claim in own {
            if let Some(theirs) = others.iter().find(|o| {
                o.cluster == claim.cluster
                    && o.namespace == claim.namespace
                    && (o.project != claim.project || o.environment != claim.environment)
            }) {
                return Some(Conflict {
                    theirs: theirs.clone(),
                    mine: claim,
                });
            }
        }
        None
    }
}
