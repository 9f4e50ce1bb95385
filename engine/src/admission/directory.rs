//! The other objects an admission decision reads, behind a trait: the webhook answers from its
//! watch caches, tests and the CLI from plain vectors.

use std::sync::Arc;

use gitopshq_crds::approval_policy::ApprovalPolicy;
use gitopshq_crds::break_glass_session::BreakGlassSession;
use gitopshq_crds::chart_version::ChartVersion;
use gitopshq_crds::environment::Environment;
use gitopshq_crds::policy::Policy;
use gitopshq_crds::release::Release;
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
    /// Whether `user` holds `verb` on environment `environment` in `namespace` (a project's
    /// team grant, see [`crate::rbac`]). The webhook asks the API server (SubjectAccessReview).
    fn permits(
        &self,
        user: &super::Requester,
        namespace: &str,
        verb: &str,
        environment: &str,
    ) -> Permission;
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
/// `environment` (`*` for every one) in `namespace`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub subject: String,
    pub namespace: String,
    pub verb: String,
    pub environment: String,
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

    fn permits(
        &self,
        user: &super::Requester,
        namespace: &str,
        verb: &str,
        environment: &str,
    ) -> Permission {
        let Some(grants) = &self.grants else {
            return Permission::Allowed;
        };
        let held = grants.iter().any(|g| {
            (g.subject == user.username || user.groups.contains(&g.subject))
                && g.namespace == namespace
                && g.verb == verb
                && (g.environment == "*" || g.environment == environment)
        });
        if held {
            Permission::Allowed
        } else {
            Permission::Denied
        }
    }
}
