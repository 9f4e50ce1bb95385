//! Admission decisions: identity stamping, approvals, freezes, break-glass, immutability.
//!
//! Every function here takes what the API server sent (the requester, the object and the old
//! object) plus a read-only [`Directory`] of the other GitOpsHQ objects, and returns a
//! [`Verdict`]: allowed or denied with a message that names the object, the rule and the next
//! step; warnings that kubectl prints; and mutations (JSON pointer → value) for the mutating
//! webhook. The webhook only decodes, calls these and encodes.

mod approval;
mod break_glass;
mod cancel;
mod directory;
mod inputs;
mod objects;
mod permission;
mod promotion;
mod release;

pub use approval::{approval_progress, mutate_approval_request, validate_approval_request};
pub use break_glass::{
    MAX_SESSION_DURATION, MIN_JUSTIFICATION, SessionScope, admit_break_glass_session,
    mutate_break_glass_session, session_covers, session_expires_at, session_is_active,
    validate_break_glass_session,
};
pub use cancel::{stamp_cancellation, validate_cancellation};
pub use directory::{Access, Directory, Grant, Permission, Snapshot};
pub use inputs::{mutate_variables, validate_tenant, validate_variables};
pub use objects::{
    validate_chart_version, validate_environment, validate_policy, validate_workload,
};
pub use permission::require;
pub use promotion::{mutate_promotion, validate_promotion};
pub use release::{
    FreezeCheck, changed_workloads, delivery_freeze, is_submission, mutate_release, named_session,
    release_authors, release_workloads, restores_workloads_of, submit_verb, validate_release,
};

use jiff::Timestamp;
use serde_json::Value;

/// The operation of an admission request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// Who sent the request, as the API server authenticated them. Teams are groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requester {
    pub username: String,
    pub groups: Vec<String>,
}

impl Requester {
    pub fn new(username: impl Into<String>, groups: &[&str]) -> Self {
        Self {
            username: username.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    /// The groups that name teams: Kubernetes' own `system:` groups say nothing about a team.
    pub fn teams(&self) -> impl Iterator<Item = &str> {
        teams(&self.groups)
    }
}

/// Team groups of a group list (without Kubernetes' `system:` groups).
pub fn teams(groups: &[String]) -> impl Iterator<Item = &str> {
    groups
        .iter()
        .map(String::as_str)
        .filter(|g| !g.starts_with("system:"))
}

/// One admission request for an object of kind `K`.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a, K> {
    pub operation: Operation,
    pub user: &'a Requester,
    /// The object after the change (absent on DELETE).
    pub object: Option<&'a K>,
    /// The object before the change (UPDATE and DELETE).
    pub old: Option<&'a K>,
    pub now: Timestamp,
}

/// Operator-wide settings that admission decisions read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Time zone of recurring freeze windows that name none.
    pub default_time_zone: String,
    /// User names the GitOpsHQ controller authenticates as. Only they create ApprovalRequests,
    /// record the digest approvers approve, and name the authors of the releases they create
    /// for a Promotion or an image update.
    pub controller_users: Vec<String>,
    /// Groups whose members may delete records (submitted releases, approval requests,
    /// break-glass sessions): the platform administrators, never a project role.
    pub record_admin_groups: Vec<String>,
}

/// The controller's ServiceAccount as the Helm chart and `config/` install it.
pub const DEFAULT_CONTROLLER_USER: &str =
    "system:serviceaccount:gitopshq-system:gitopshq-controller";

/// Kubernetes' own controllers that delete objects when their namespace or owner goes away;
/// records are deleted only with what owns them.
pub const KUBERNETES_DELETERS: &[&str] = &[
    "system:serviceaccount:kube-system:generic-garbage-collector",
    "system:serviceaccount:kube-system:namespace-controller",
];

/// Whether `user` is Kubernetes deleting what a removed namespace or owner held: nobody chose
/// to delete that object, and refusing would leave the namespace or the owner stuck.
pub fn is_kubernetes_deleter(user: &Requester) -> bool {
    KUBERNETES_DELETERS.contains(&user.username.as_str())
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default_time_zone: crate::freeze::DEFAULT_TIME_ZONE.to_string(),
            controller_users: vec![DEFAULT_CONTROLLER_USER.to_string()],
            record_admin_groups: vec!["system:masters".to_string()],
        }
    }
}

impl Settings {
    /// Whether the request comes from the GitOpsHQ controller.
    pub fn is_controller(&self, user: &Requester) -> bool {
        self.controller_users.contains(&user.username)
    }

    /// Whether `user` may delete a record: a platform administrator, the controller, or
    /// Kubernetes deleting what a removed owner or namespace held.
    pub fn may_delete_records(&self, user: &Requester) -> bool {
        self.is_controller(user)
            || is_kubernetes_deleter(user)
            || user
                .groups
                .iter()
                .any(|g| self.record_admin_groups.contains(g))
    }
}

/// The rule that denied a request. Names are stable: they are metric labels and audit values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// The environment is frozen and no break-glass session covers the release.
    Frozen,
    /// A named break-glass session is not active or does not cover the release.
    BreakGlass,
    /// A submitted release, a published chart version or a sealed session was changed.
    Immutable,
    /// An earlier approval decision was edited or removed.
    DecisionEdited,
    /// The release's creator approved their own release.
    SelfApproval,
    /// A team that already approved approved again under a distinct-teams policy.
    SameTeam,
    /// The approver is not in the policy's approver groups.
    NotApprover,
    /// The approver already decided on this release.
    AlreadyDecided,
    /// The release is not waiting for approval.
    NotPending,
    /// An Enforce policy denied the release.
    PolicyDenied,
    /// A Policy does not compile or its embedded tests fail.
    PolicyInvalid,
    /// A referenced object does not exist.
    NotFound,
    /// The object is well-formed but not acceptable (duration, justification, windows …).
    Invalid,
    /// The requester holds no project grant for this action in this environment (the RBAC
    /// verbs of [`crate::rbac::verbs`]), or the action is the controller's alone.
    NotPermitted,
    /// A (cluster, namespace) pair already belongs to another environment or project.
    Claimed,
    /// A release whose delivery has started (or that ended otherwise) cannot be cancelled.
    NotCancellable,
    /// The environment takes only states that ran Healthy in another for a soak time
    /// (`Environment.spec.promotion`), and the release delivers one that did not.
    NotPromoted,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Frozen => "Frozen",
            Rule::BreakGlass => "BreakGlass",
            Rule::Immutable => "Immutable",
            Rule::DecisionEdited => "DecisionEdited",
            Rule::SelfApproval => "SelfApproval",
            Rule::SameTeam => "SameTeam",
            Rule::NotApprover => "NotApprover",
            Rule::AlreadyDecided => "AlreadyDecided",
            Rule::NotPending => "NotPending",
            Rule::PolicyDenied => "PolicyDenied",
            Rule::PolicyInvalid => "PolicyInvalid",
            Rule::NotFound => "NotFound",
            Rule::Invalid => "Invalid",
            Rule::NotPermitted => "NotPermitted",
            Rule::Claimed => "Claimed",
            Rule::NotCancellable => "NotCancellable",
            Rule::NotPromoted => "NotPromoted",
        }
    }

    /// The HTTP status the API server reports: 403 when the requester may not do this at all,
    /// 409 when the state of things gates it for now, 422 when the object itself is wrong.
    pub fn status_code(self) -> u16 {
        match self {
            Rule::SelfApproval
            | Rule::SameTeam
            | Rule::NotApprover
            | Rule::AlreadyDecided
            | Rule::NotPermitted => 403,
            Rule::Frozen
            | Rule::BreakGlass
            | Rule::Immutable
            | Rule::DecisionEdited
            | Rule::NotPending
            | Rule::PolicyDenied
            | Rule::Claimed
            | Rule::NotCancellable
            | Rule::NotPromoted => 409,
            Rule::PolicyInvalid | Rule::NotFound | Rule::Invalid => 422,
        }
    }
}

/// Why a request was denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub rule: Rule,
    pub message: String,
}

/// A change the mutating webhook makes: set the JSON pointer `path` to `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    pub path: String,
    pub value: Value,
}

/// The answer to one admission request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    pub denial: Option<Denial>,
    pub warnings: Vec<String>,
    pub mutations: Vec<Mutation>,
    /// Key → value recorded in the API server's audit log for this request.
    pub audit: Vec<(String, String)>,
}

impl Verdict {
    pub fn allow() -> Self {
        Self::default()
    }

    pub fn deny(rule: Rule, message: impl Into<String>) -> Self {
        Self {
            denial: Some(Denial {
                rule,
                message: message.into(),
            }),
            ..Self::default()
        }
    }

    pub fn allowed(&self) -> bool {
        self.denial.is_none()
    }

    /// The stable label of the verdict: `allowed`, `warned` or the denying rule.
    pub fn label(&self) -> &'static str {
        match &self.denial {
            Some(denial) => denial.rule.as_str(),
            None if self.warnings.is_empty() => "allowed",
            None => "warned",
        }
    }

    pub(crate) fn warn(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }

    pub(crate) fn set(mut self, path: &str, value: Value) -> Self {
        self.mutations.push(Mutation {
            path: path.to_string(),
            value,
        });
        self
    }

    pub(crate) fn record(mut self, key: &str, value: impl Into<String>) -> Self {
        self.audit.push((key.to_string(), value.into()));
        self
    }
}

/// A Kubernetes time as the API writes it (`2026-11-25T18:00:00Z`, whole seconds).
pub fn format_time(at: Timestamp) -> String {
    at.round(jiff::Unit::Second)
        .unwrap_or(at)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests;
