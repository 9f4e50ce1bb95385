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
use kube::Resource;
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

fn by_name<'a, K: Resource + 'a>(
    objects: impl IntoIterator<Item = &'a K>,
    name: &str,
) -> Option<&'a K> {
    objects.into_iter().find(|o| named(o.meta(), name))
}

/// Namespaced objects of a project live in the namespace named after it.
fn of_project<'a, 'p, K: Resource>(
    objects: &'a [K],
    project: &'p str,
) -> impl Iterator<Item = &'a K> + use<'a, 'p, K> {
    objects
        .iter()
        .filter(move |o| in_namespace(o.meta(), project))
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
        by_name(&self.projects, name)
    }

    pub fn environment(&self, name: &str) -> Option<&Environment> {
        by_name(&self.environments, name)
    }

    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        by_name(&self.clusters, name)
    }

    /// The published version `<chart>@<version>`, found by its spec (not its object name), so a
    /// misnamed object still resolves and the webhook can report the name separately.
    pub fn chart_version(&self, chart: &str, version: &str) -> Option<&ChartVersion> {
        self.chart_versions
            .iter()
            .find(|cv| cv.spec.chart == chart && cv.spec.version == version)
    }

    pub fn workloads_of<'a, 'p>(
        &'a self,
        project: &'p str,
    ) -> impl Iterator<Item = &'a Workload> + use<'a, 'p> {
        of_project(&self.workloads, project)
    }

    pub fn workload(&self, project: &str, name: &str) -> Option<&Workload> {
        by_name(self.workloads_of(project), name)
    }

    pub fn tenants_of<'a, 'p>(
        &'a self,
        project: &'p str,
    ) -> impl Iterator<Item = &'a Tenant> + use<'a, 'p> {
        of_project(&self.tenants, project)
    }

    pub fn tenant(&self, project: &str, name: &str) -> Option<&Tenant> {
        by_name(self.tenants_of(project), name)
    }

    pub fn variables_of<'a, 'p>(
        &'a self,
        project: &'p str,
    ) -> impl Iterator<Item = &'a Variables> + use<'a, 'p> {
        of_project(&self.variables, project)
    }

    pub fn release(&self, project: &str, name: &str) -> Option<&Release> {
        by_name(of_project(&self.releases, project), name)
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
                    || of_project(&self.releases, project).any(|r| {
                        r.spec.environment == **environment
                            && r.status.as_ref().is_some_and(|s| s.commit.is_some())
                    })
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use gitopshq_crds::testing::from_yaml as object;

    use super::Catalog;

    /// Project `shop` with chart `web` 1.0.0 (one ConfigMap naming its workload and tenant),
    /// `workloads` running it, and `tenants` tenants `t00`, `t01`, … in `prod`, each with its
    /// own replica count so that every target renders differently.
    pub(crate) fn shop(workloads: &[&str], tenants: usize) -> Catalog {
        let mut catalog = Catalog::default();
        catalog.projects.push(object(
            "metadata: {name: shop}\nspec: {environments: [prod], repository: {url: file:///tmp/x}}",
        ));
        catalog.chart_versions.push(object(
            "metadata: {name: web-1.0.0}
spec:
  chart: web
  version: 1.0.0
  values: {replicas: 1}
  templates:
    cm.yaml: |
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: {{workload.name}}
      data:
        tenant: {{tenant.name}}
        replicas: {{quote values.replicas}}",
        ));
        for w in workloads {
            catalog.workloads.push(object(&format!(
                "metadata: {{name: {w}, namespace: shop}}\nspec: {{chart: web, version: 1.0.0}}"
            )));
        }
        for t in 0..tenants {
            catalog.tenants.push(object(&format!(
                "metadata: {{name: t{t:02}, namespace: shop}}
spec: {{environment: prod, cluster: c1, namespace: ns-{t}, values: {{replicas: {t}}}}}"
            )));
        }
        catalog
    }
}
