//! The objects one decision looks at, gathered by a shell: the CLI fills it from YAML files,
//! the controller from its watch caches. Lookups only; no decisions.

use std::collections::BTreeMap;

use gitopshq_crds::chart_version::ChartVersion;
use gitopshq_crds::cluster::Cluster;
use gitopshq_crds::environment::Environment;
use gitopshq_crds::project::Project;
use gitopshq_crds::release::Release;
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::variables::Variables;
use gitopshq_crds::workload::Workload;
use kube::api::ObjectMeta;

use crate::layout::RecordedStates;

/// Whether `meta` names `name`, without the String that `ResourceExt::name_any` allocates:
/// these lookups run once per rendered target.
fn named(meta: &ObjectMeta, name: &str) -> bool {
    meta.name.as_deref() == Some(name)
}

fn in_namespace(meta: &ObjectMeta, namespace: &str) -> bool {
    meta.namespace.as_deref() == Some(namespace)
}

/// Secret data by (namespace, name) → key → value, for HQ variables backed by Secrets.
pub type SecretData = BTreeMap<(String, String), BTreeMap<String, String>>;

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub projects: Vec<Project>,
    pub environments: Vec<Environment>,
    pub clusters: Vec<Cluster>,
    pub chart_versions: Vec<ChartVersion>,
    pub workloads: Vec<Workload>,
    pub tenants: Vec<Tenant>,
    pub variables: Vec<Variables>,
    pub releases: Vec<Release>,
    pub secrets: SecretData,
    /// The state recorded in the GitOps repository for each delivered workload folder (see
    /// [`crate::layout::RecordedState`]): where the next release of it starts.
    pub recorded: RecordedStates,
}

impl Catalog {
    pub fn project(&self, name: &str) -> Option<&Project> {
        self.projects.iter().find(|p| named(&p.metadata, name))
    }

    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| named(&e.metadata, name))
    }

    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| named(&c.metadata, name))
    }

    /// The published version `<chart>@<version>`, found by its spec (not its object name), so a
    /// misnamed object still resolves and the webhook can report the name separately.
    pub fn chart_version(&self, chart: &str, version: &str) -> Option<&ChartVersion> {
        self.chart_versions
            .iter()
            .find(|cv| cv.spec.chart == chart && cv.spec.version == version)
    }

    /// Namespaced objects of a project live in the namespace named after it.
    pub fn workloads_of<'a, 'p>(
        &'a self,
        project: &'p str,
    ) -> impl Iterator<Item = &'a Workload> + use<'a, 'p> {
        self.workloads
            .iter()
            .filter(move |w| in_namespace(&w.metadata, project))
    }

    pub fn workload(&self, project: &str, name: &str) -> Option<&Workload> {
        self.workloads_of(project)
            .find(|w| named(&w.metadata, name))
    }

    pub fn tenants_of<'a, 'p>(
        &'a self,
        project: &'p str,
    ) -> impl Iterator<Item = &'a Tenant> + use<'a, 'p> {
        self.tenants
            .iter()
            .filter(move |t| in_namespace(&t.metadata, project))
    }

    pub fn tenant(&self, project: &str, name: &str) -> Option<&Tenant> {
        self.tenants_of(project).find(|t| named(&t.metadata, name))
    }

    pub fn variables_of<'a, 'p>(
        &'a self,
        project: &'p str,
    ) -> impl Iterator<Item = &'a Variables> + use<'a, 'p> {
        self.variables
            .iter()
            .filter(move |v| in_namespace(&v.metadata, project))
    }

    pub fn release(&self, project: &str, name: &str) -> Option<&Release> {
        self.releases
            .iter()
            .find(|r| in_namespace(&r.metadata, project) && named(&r.metadata, name))
    }

    /// Releases by name across projects: the CLI lets people name a release without its
    /// namespace when the name is unique.
    pub fn releases_named<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a Release> + use<'a, 'n> {
        self.releases
            .iter()
            .filter(move |r| named(&r.metadata, name))
    }

    /// The environments of `project` that something was committed for (a release of theirs has
    /// a commit), plus `committing`: those whose GitOps folder exists in the repository, so a
    /// GitOps engine pointed at it finds something to apply rather than a missing path.
    pub fn committed_environments(&self, project: &str, committing: Option<&str>) -> Vec<String> {
        let Some(found) = self.project(project) else {
            return Vec::new();
        };
        found
            .spec
            .environments
            .iter()
            .filter(|environment| {
                committing == Some(environment.as_str())
                    || self.releases.iter().any(|r| {
                        in_namespace(&r.metadata, project)
                            && r.spec.environment == **environment
                            && r.status.as_ref().is_some_and(|s| s.commit.is_some())
                    })
            })
            .cloned()
            .collect()
    }
}
