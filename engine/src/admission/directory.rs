//! The other objects an admission decision reads, behind a trait: the webhook answers from its
//! watch caches, tests and the CLI from plain vectors.

use std::sync::Arc;

use gitopshq_crds::approval_policy::ApprovalPolicy;
use gitopshq_crds::break_glass_session::BreakGlassSession;
use gitopshq_crds::chart_version::ChartVersion;
use gitopshq_crds::cluster::Cluster;
use gitopshq_crds::environment::Environment;
use gitopshq_crds::policy::Policy;
use gitopshq_crds::project::Project;
use gitopshq_crds::release::Release;
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::workload::Workload;
use kube::ResourceExt;

use crate::catalog::Catalog;

/// Read-only lookups of GitOpsHQ objects. Lookups must be cheap (an in-memory index); only
/// [`Directory::project_catalog`] may cost more, and decisions call it only when they render.
pub trait Directory {
    fn environment(&self, name: &str) -> Option<Arc<Environment>>;
    fn release(&self, namespace: &str, name: &str) -> Option<Arc<Release>>;
    fn approval_policy(&self, name: &str) -> Option<Arc<ApprovalPolicy>>;
    /// A ChartVersion by object name (`<chart>-<version>`).
    fn chart_version(&self, name: &str) -> Option<Arc<ChartVersion>>;
    fn break_glass_sessions(&self, namespace: &str) -> Vec<Arc<BreakGlassSession>>;
    fn policies(&self) -> Vec<Arc<Policy>>;
    /// Everything needed to render releases of the project whose namespace is `namespace`.
    fn project_catalog(&self, namespace: &str) -> Catalog;
    fn project(&self, name: &str) -> Option<Arc<Project>>;
    fn cluster(&self, name: &str) -> Option<Arc<Cluster>>;
    fn tenant(&self, namespace: &str, name: &str) -> Option<Arc<Tenant>>;
    /// Every Tenant of every project: a (cluster, namespace) pair belongs to one of them.
    fn all_tenants(&self) -> Vec<Arc<Tenant>>;
    /// Every Workload of every project (their `targetNamespace` claims namespaces too).
    fn all_workloads(&self) -> Vec<Arc<Workload>>;
    /// Whether `user` may do `access`. The webhook asks the API server (SubjectAccessReview).
    fn may(&self, user: &super::Requester, access: &Access<'_>) -> Permission;

    /// Whether `user` holds `verb` on environment `environment` in `namespace` (a project's
    /// team grant, see [`crate::rbac`]).
    fn permits(
        &self,
        user: &super::Requester,
        namespace: &str,
        verb: &str,
        environment: &str,
    ) -> Permission {
        self.may(user, &Access::environment(namespace, verb, environment))
    }
}

/// One access a SubjectAccessReview asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Access<'a> {
    pub namespace: &'a str,
    /// API group: `gitopshq.io`, or empty for the core group.
    pub group: &'a str,
    /// Plural resource name.
    pub resource: &'a str,
    pub verb: &'a str,
    /// The object's name.
    pub name: &'a str,
}

impl<'a> Access<'a> {
    /// A project grant: `verb` on environment `environment` (see [`crate::rbac::verbs`]).
    pub fn environment(namespace: &'a str, verb: &'a str, environment: &'a str) -> Self {
        Self {
            namespace,
            group: gitopshq_crds::consts::GROUP,
            resource: "environments",
            verb,
            name: environment,
        }
    }

    /// `get` on Secret `name`.
    pub fn read_secret(namespace: &'a str, name: &'a str) -> Self {
        Self {
            namespace,
            group: "",
            resource: "secrets",
            verb: "get",
            name,
        }
    }

    /// How a person would check it: `kubectl auth can-i get secrets/db -n payments`.
    pub fn can_i(&self) -> String {
        let resource = if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        };
        format!(
            "kubectl auth can-i {} {resource}/{} -n {}",
            self.verb, self.name, self.namespace
        )
    }
}

/// Answer of [`Directory::permits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permission {
    Allowed,
    Denied,
    /// The check could not be made (the API server did not answer): the request is refused,
    /// with this reason.
    Unknown(String),
}

/// One permission of a [`Snapshot`]: `subject` (a user name or a group) holds `verb` on
/// `resource` named `name` (`*` for every one) in `namespace`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub subject: String,
    pub namespace: String,
    /// Plural resource name: `environments` for the project grants.
    pub resource: String,
    pub verb: String,
    pub name: String,
}

impl Grant {
    /// `subject` holds the project grant `verb` on `environment` (`*`: all).
    pub fn environment(subject: &str, namespace: &str, verb: &str, environment: &str) -> Self {
        Self {
            subject: subject.into(),
            namespace: namespace.into(),
            resource: "environments".into(),
            verb: verb.into(),
            name: environment.into(),
        }
    }
}

/// A [`Directory`] over plain vectors: tests, the CLI, and anything without watch caches.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub catalog: Catalog,
    pub approval_policies: Vec<Arc<ApprovalPolicy>>,
    pub break_glass_sessions: Vec<Arc<BreakGlassSession>>,
    pub policies: Vec<Arc<Policy>>,
    /// `None`: every permission is held (tests about other rules). `Some`: only these.
    pub grants: Option<Vec<Grant>>,
}

impl Directory for Snapshot {
    fn environment(&self, name: &str) -> Option<Arc<Environment>> {
        self.catalog.environment(name).cloned().map(Arc::new)
    }

    fn release(&self, namespace: &str, name: &str) -> Option<Arc<Release>> {
        self.catalog
            .releases
            .iter()
            .find(|r| r.namespace().as_deref() == Some(namespace) && r.name_any() == name)
            .cloned()
            .map(Arc::new)
    }

    fn approval_policy(&self, name: &str) -> Option<Arc<ApprovalPolicy>> {
        self.approval_policies
            .iter()
            .find(|p| p.name_any() == name)
            .cloned()
    }

    fn chart_version(&self, name: &str) -> Option<Arc<ChartVersion>> {
        self.catalog
            .chart_versions
            .iter()
            .find(|cv| cv.name_any() == name)
            .cloned()
            .map(Arc::new)
    }

    fn break_glass_sessions(&self, namespace: &str) -> Vec<Arc<BreakGlassSession>> {
        self.break_glass_sessions
            .iter()
            .filter(|s| s.namespace().as_deref() == Some(namespace))
            .cloned()
            .collect()
    }

    fn policies(&self) -> Vec<Arc<Policy>> {
        self.policies.clone()
    }

    fn project_catalog(&self, _namespace: &str) -> Catalog {
        self.catalog.clone()
    }

    fn project(&self, name: &str) -> Option<Arc<Project>> {
        self.catalog.project(name).cloned().map(Arc::new)
    }

    fn cluster(&self, name: &str) -> Option<Arc<Cluster>> {
        self.catalog.cluster(name).cloned().map(Arc::new)
    }

    fn tenant(&self, namespace: &str, name: &str) -> Option<Arc<Tenant>> {
        self.catalog.tenant(namespace, name).cloned().map(Arc::new)
    }

    fn all_tenants(&self) -> Vec<Arc<Tenant>> {
        self.catalog.tenants.iter().cloned().map(Arc::new).collect()
    }

    fn all_workloads(&self) -> Vec<Arc<Workload>> {
        self.catalog
            .workloads
            .iter()
            .cloned()
            .map(Arc::new)
            .collect()
    }

    fn may(&self, user: &super::Requester, access: &Access<'_>) -> Permission {
        let Some(grants) = &self.grants else {
            return Permission::Allowed;
        };
        let held = grants.iter().any(|g| {
            (g.subject == user.username || user.groups.contains(&g.subject))
                && g.namespace == access.namespace
                && g.resource == access.resource
                && g.verb == access.verb
                && (g.name == "*" || g.name == access.name)
        });
        if held {
            Permission::Allowed
        } else {
            Permission::Denied
        }
    }
}
