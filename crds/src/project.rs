//! `Project`: a namespace, its GitOps repository, its environments in promotion order and its
//! team grants.

use kube::{CustomResource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, SecretRef};
use crate::consts::defaults;

/// Spec of a `Project` (cluster-scoped). The controller creates namespace `<name>`, the Roles and
/// RoleBindings of `teams`, and the repository skeleton `environments/<env>/values.yaml`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[kube(
    group = "gitopshq.io",
    version = "v1alpha1",
    kind = "Project",
    doc = "A project: its namespace (same name), GitOps repository, environments in promotion order and team grants.",
    status = "ProjectStatus",
    shortname = "proj",
    category = "gitopshq",
    derive = "PartialEq",
    derive = "Default",
    validation = Rule::new("size(self.metadata.name) <= 63 && !self.metadata.name.contains('.')").message("a Project name becomes its namespace's name, so it must be a DNS-1123 label: at most 63 characters and no dots"),
    printcolumn(name = "Delivery", type_ = "string", json_path = ".spec.delivery"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Environments", type_ = "string", json_path = ".spec.environments"),
    printcolumn(name = "Commit", type_ = "string", json_path = ".status.shortCommit", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSpec {
    /// Human-readable name. Optional: the object name is used when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub display_name: Option<String>,
    /// Free text. Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub description: Option<String>,
    /// Environment names in promotion order (first = earliest stage).
    #[schemars(schema_with = "environment_list")]
    pub environments: Vec<String>,
    /// The GitOps repository rendered manifests are committed to.
    pub repository: Repository,
    /// How rendered manifests reach workload clusters. Defaults to Argo CD, the most common
    /// setup.
    #[serde(default)]
    pub delivery: DeliveryMode,
    /// Group grants, turned into RoleBindings in the project namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub teams: Vec<TeamGrant>,
}

fn environment_list(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = crate::schema::name_list(generator);
    schema.insert("minItems".into(), 1.into());
    schema
}

impl Project {
    /// Folder inside the repository this project writes to: `spec.repository.path`, or
    /// `projects/<name>` when unset.
    pub fn repository_path(&self) -> String {
        self.spec
            .repository
            .path
            .as_deref()
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}{}", defaults::REPOSITORY_PATH_PREFIX, self.name_any()))
    }

    /// Namespace the project's namespaced objects live in: the project's own name.
    pub fn namespace_name(&self) -> String {
        self.name_any()
    }
}

/// A Git repository and where in it the project lives.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    /// Any URL git can push to: `https://`, `ssh://`, `git@host:path`, `file://`.
    #[schemars(length(min = 1, max = 2048))]
    pub url: String,
    /// Branch commits go to. Defaulted to "main" in the schema, so it is always set on objects
    /// read from the API server.
    #[serde(default = "default_branch")]
    #[schemars(length(min = 1, max = 255))]
    pub branch: String,
    /// Folder inside the repository. Optional because its default depends on the object name
    /// (`projects/<name>`), which a schema default cannot express. Relative, without `..`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 1024),
        regex(pattern = "^([A-Za-z0-9_-][A-Za-z0-9._-]*/)*[A-Za-z0-9_-][A-Za-z0-9._-]*$")
    )]
    pub path: Option<String>,
    /// Secret with `username` + `password` (or `token`) for HTTPS, or `sshPrivateKey` (and
    /// optional `knownHosts`) for SSH. Optional: public or `file://` repositories need none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretRef>,
}

impl Default for Repository {
    fn default() -> Self {
        Self {
            url: String::new(),
            branch: default_branch(),
            path: None,
            credentials_secret_ref: None,
        }
    }
}

fn default_branch() -> String {
    defaults::REPOSITORY_BRANCH.to_string()
}

/// How rendered manifests reach workload clusters.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum DeliveryMode {
    /// Commit to Git plus an Argo CD `Application` per tenant.
    #[default]
    ArgoCD,
    /// Commit to Git plus a Flux `Kustomization` per tenant.
    Flux,
    /// Commit to Git and server-side apply to the tenant's cluster, with pruning.
    Direct,
}

/// What a team may do in a project.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum TeamRole {
    /// Read everything.
    Viewer,
    /// Read everything and the pod logs of the project's workloads (on-call, SRE).
    Operator,
    /// Edit workloads, tenants, variables and draft releases.
    Developer,
    /// Submit releases, rollbacks and promotions.
    ReleaseManager,
    /// Approve or reject releases.
    Approver,
    /// Everything, including the project's own settings.
    Admin,
}

/// A role granted to a group, optionally limited to some environments.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TeamGrant {
    /// A Kubernetes group (from OIDC/SSO, or `system:serviceaccounts:<ns>`).
    #[schemars(length(min = 1, max = 256))]
    pub group: String,
    /// The role granted.
    pub role: TeamRole,
    /// Environments the grant applies to. Empty means every environment of the project.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::name_set")]
    pub environments: Vec<String>,
}

/// Lifecycle of a project's namespace, RBAC and repository skeleton.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ProjectPhase {
    /// Namespace, RBAC or repository skeleton not created yet.
    Pending,
    /// Everything is in place.
    Ready,
    /// The last reconciliation failed; see `message` and the conditions.
    Failed,
}

/// Observed state of a `Project`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ProjectStatus {
    /// The namespace the controller created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Absent until the first reconciliation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ProjectPhase>,
    /// Full SHA of the last commit the operator made for this project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_commit: Option<String>,
    /// First 7 characters of `lastCommit`, for `kubectl get` (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_commit: Option<String>,
    /// What went wrong, with the next step (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Standard conditions (`Ready`, `RepositoryReady`, `RBACReady`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    #[cfg_attr(feature = "ts", ts(as = "Vec<crate::ts::Condition>"))]
    pub conditions: Vec<Condition>,
}
