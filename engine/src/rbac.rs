//! The RBAC a Project's team grants become: one Role and one RoleBinding per grant in the
//! project's namespace, and read access to the shared catalog for every team of the project.
//!
//! Kubernetes RBAC cannot look inside an object, so the gated actions are custom verbs on the
//! `environments` resource, the way `escalate`, `bind` and `impersonate` are verbs Kubernetes
//! checks itself: `release` (submit a Deploy or Promotion), `rollback` (submit a Rollback),
//! `approve` (append an approval decision), `break-glass` (open a session), `cancel` (cancel
//! someone else's release that is not delivered yet). A grant limited to
//! some environments lists them as `resourceNames`. The admission webhook asks the API server
//! (SubjectAccessReview) whether the requester holds the verb for the release's environment in
//! the project's namespace, so ServiceAccounts bound to these Roles by hand work the same way.

use std::collections::BTreeMap;

use gitopshq_crds::consts::{GROUP, labels};
use gitopshq_crds::project::{Project, TeamGrant, TeamRole};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use sha2::{Digest, Sha256};

/// Custom verbs on `environments`, checked by the admission webhook.
pub mod verbs {
    /// Submit a Deploy or Promotion release into the environment.
    pub const RELEASE: &str = "release";
    /// Submit a Rollback release into the environment.
    pub const ROLLBACK: &str = "rollback";
    /// Append an approval decision for a release of the environment.
    pub const APPROVE: &str = "approve";
    /// Open a BreakGlassSession covering the environment.
    pub const BREAK_GLASS: &str = "break-glass";
    /// Cancel a release of the environment that is not delivered yet, whoever created it
    /// (ReleaseManager, Admin). A release's own creator and submitter need no grant to cancel
    /// it: see [`super::may_cancel_without_grant`].
    pub const CANCEL: &str = "cancel";
}

/// Whether `user` may cancel `release` on their own account, without the [`verbs::CANCEL`]
/// grant: they created or submitted it. Everyone else needs the grant for its environment.
pub fn may_cancel_without_grant(user: &str, release: &gitopshq_crds::release::Release) -> bool {
    release.spec.created_by.as_deref() == Some(user)
        || release.spec.submitted_by.as_deref() == Some(user)
}

/// The ClusterRole every team of some project is bound to: read the shared catalog.
pub const CATALOG_READER: &str = "gitopshq:catalog-reader";

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete",
];

/// Namespaced GitOpsHQ kinds (plural resource names).
const PROJECT_RESOURCES: &[&str] = &[
    "workloads",
    "tenants",
    "variables",
    "releases",
    "approvalrequests",
    "breakglasssessions",
    "promotions",
];

/// Cluster-scoped kinds every team may read.
const CATALOG_RESOURCES: &[&str] = &[
    "projects",
    "environments",
    "clusters",
    "charts",
    "chartversions",
    "policies",
    "approvalpolicies",
];

/// Roles and RoleBindings in the project's namespace, one pair per grant, plus the
/// ClusterRoleBinding that lets the project's teams read the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectRbac {
    pub roles: Vec<Role>,
    pub role_bindings: Vec<RoleBinding>,
    pub catalog_binding: Option<ClusterRoleBinding>,
}

/// The RBAC objects for `project`'s team grants.
pub fn project_rbac(project: &Project) -> ProjectRbac {
    let name = project.name_any();
    let namespace = project.namespace_name();
    let mut roles = Vec::new();
    let mut role_bindings = Vec::new();
    for grant in &project.spec.teams {
        let shared = project
            .spec
            .teams
            .iter()
            .filter(|g| g.role == grant.role && g.group == grant.group)
            .count()
            > 1;
        let object_name = grant_object_name(grant, shared);
        let meta = ObjectMeta {
            name: Some(object_name.clone()),
            namespace: Some(namespace.clone()),
            labels: Some(owned_labels(&name)),
            ..ObjectMeta::default()
        };
        roles.push(Role {
            metadata: meta.clone(),
            rules: Some(rules_for(grant)),
        });
        role_bindings.push(RoleBinding {
            metadata: meta,
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "Role".into(),
                name: object_name,
            },
            subjects: Some(vec![group_subject(&grant.group)]),
        });
    }
    let mut groups: Vec<&str> = project
        .spec
        .teams
        .iter()
        .map(|g| g.group.as_str())
        .collect();
    groups.sort();
    groups.dedup();
    let catalog_binding = (!groups.is_empty()).then(|| ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(format!("gitopshq:{name}:catalog-readers")),
            labels: Some(owned_labels(&name)),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: CATALOG_READER.into(),
        },
        subjects: Some(groups.into_iter().map(group_subject).collect()),
    });
    ProjectRbac {
        roles,
        role_bindings,
        catalog_binding,
    }
}

/// The ClusterRole behind [`CATALOG_READER`].
pub fn catalog_reader() -> ClusterRole {
    ClusterRole {
        metadata: ObjectMeta {
            name: Some(CATALOG_READER.into()),
            labels: Some(BTreeMap::from([(
                labels::MANAGED_BY.to_string(),
                labels::MANAGED_BY_VALUE.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        rules: Some(vec![rule(CATALOG_RESOURCES, READ, &[])]),
        ..ClusterRole::default()
    }
}

/// What a grant allows, as rules.
pub fn rules_for(grant: &TeamGrant) -> Vec<PolicyRule> {
    let envs = &grant.environments;
    let events = PolicyRule {
        api_groups: Some(vec![String::new(), "events.k8s.io".into()]),
        resources: Some(vec!["events".into()]),
        verbs: strings(READ),
        ..PolicyRule::default()
    };
    let mut rules = vec![rule(PROJECT_RESOURCES, READ, &[]), events];
    let gated = |verbs: &[&str]| environment_rule(verbs, envs);
    if matches!(
        grant.role,
        TeamRole::Operator | TeamRole::Developer | TeamRole::Admin
    ) {
        rules.push(pod_logs_rule());
    }
    match grant.role {
        TeamRole::Viewer | TeamRole::Operator => {}
        TeamRole::Developer => {
            rules.push(rule(
                &["workloads", "tenants", "variables", "releases"],
                WRITE,
                &[],
            ));
        }
        TeamRole::ReleaseManager => {
            rules.push(rule(&["releases", "promotions"], WRITE, &[]));
            rules.push(gated(&[verbs::RELEASE, verbs::ROLLBACK, verbs::CANCEL]));
        }
        TeamRole::Approver => {
            rules.push(rule(&["approvalrequests"], &["update", "patch"], &[]));
            rules.push(rule(&["releases", "breakglasssessions"], WRITE, &[]));
            rules.push(gated(&[
                verbs::APPROVE,
                verbs::ROLLBACK,
                verbs::BREAK_GLASS,
            ]));
        }
        TeamRole::Admin => {
            rules.push(rule(PROJECT_RESOURCES, WRITE, &[]));
            rules.push(PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["secrets".into()]),
                verbs: strings(WRITE),
                ..PolicyRule::default()
            });
            rules.push(gated(&[
                verbs::RELEASE,
                verbs::ROLLBACK,
                verbs::APPROVE,
                verbs::BREAK_GLASS,
                verbs::CANCEL,
            ]));
        }
    }
    rules
}

/// Pod logs of the project's workloads and releases, through the `logs.gitopshq.io` API: never
/// the clusters' credentials.
fn pod_logs_rule() -> PolicyRule {
    use crate::logs::{API_GROUP, SUBRESOURCE};
    PolicyRule {
        api_groups: Some(vec![API_GROUP.into()]),
        resources: Some(vec![
            format!("workloads/{SUBRESOURCE}"),
            format!("releases/{SUBRESOURCE}"),
        ]),
        verbs: vec!["get".into()],
        ..PolicyRule::default()
    }
}

fn environment_rule(verbs: &[&str], environments: &[String]) -> PolicyRule {
    let names: Vec<&str> = environments.iter().map(String::as_str).collect();
    rule(&["environments"], verbs, &names)
}

fn rule(resources: &[&str], verbs: &[&str], names: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![GROUP.to_string()]),
        resources: Some(strings(resources)),
        verbs: strings(verbs),
        resource_names: (!names.is_empty()).then(|| strings(names)),
        ..PolicyRule::default()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn group_subject(group: &str) -> Subject {
    Subject {
        api_group: Some("rbac.authorization.k8s.io".into()),
        kind: "Group".into(),
        name: group.to_string(),
        namespace: None,
    }
}

fn owned_labels(project: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::PROJECT.to_string(), project.to_string()),
        (
            labels::MANAGED_BY.to_string(),
            labels::MANAGED_BY_VALUE.to_string(),
        ),
    ])
}

/// `gitopshq:<role>:<group>`, a name people can bind a ServiceAccount to (`kubectl create
/// rolebinding ci --role=gitopshq:release-manager:backend-team …`). The group is reduced to the
/// characters RBAC names accept; a short digest of the grant is added when that altered the
/// group, or when the project grants the same role to the group more than once (`shared`), so
/// names stay distinct.
pub fn grant_object_name(grant: &TeamGrant, shared: bool) -> String {
    let role = match grant.role {
        TeamRole::Viewer => "viewer",
        TeamRole::Developer => "developer",
        TeamRole::Operator => "operator",
        TeamRole::ReleaseManager => "release-manager",
        TeamRole::Approver => "approver",
        TeamRole::Admin => "admin",
    };
    let clean: String = grant
        .group
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '_') {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(160)
        .collect();
    let mut name = format!("gitopshq:{role}:{clean}");
    if clean != grant.group || shared {
        let mut hasher = Sha256::new();
        hasher.update(grant.group.as_bytes());
        for env in &grant.environments {
            hasher.update(b"\0");
            hasher.update(env.as_bytes());
        }
        name.push('-');
        name.push_str(&hex::encode(&hasher.finalize()[..4]));
    }
    name
}

/// The kinds of access a person asks for, in words, for denials: "submit releases to production".
pub fn describe_verb(verb: &str) -> &'static str {
    match verb {
        verbs::RELEASE => "submit releases to",
        verbs::ROLLBACK => "submit rollbacks to",
        verbs::APPROVE => "approve releases of",
        verbs::BREAK_GLASS => "open break-glass sessions for",
        verbs::CANCEL => "cancel other people's releases of",
        _ => "act on",
    }
}

#[cfg(test)]
mod tests {
    use gitopshq_crds::project::ProjectSpec;

    use super::*;

    fn project() -> Project {
        let spec: ProjectSpec = yaml_serde::from_str(
            "environments: [development, staging, production]
repository: {url: file:///tmp/x}
teams:
  - {group: backend-team, role: Developer}
  - {group: backend-team, role: ReleaseManager, environments: [development, staging]}
  - {group: sre-team, role: Approver}
  - {group: 'oidc:Platform Team', role: Admin}",
        )
        .unwrap();
        Project::new("payment-service", spec)
    }

    #[test]
    fn one_role_and_binding_per_grant_in_the_project_namespace() {
        let rbac = project_rbac(&project());
        let names: Vec<_> = rbac.roles.iter().map(|r| r.name_any()).collect();
        assert_eq!(names.len(), 4);
        assert_eq!(names[0], "gitopshq:developer:backend-team");
        assert_eq!(names[1], "gitopshq:release-manager:backend-team");
        assert!(
            names[3].starts_with("gitopshq:admin:oidc:platform-team-"),
            "{}",
            names[3]
        );
        for (role, binding) in rbac.roles.iter().zip(&rbac.role_bindings) {
            assert_eq!(role.namespace().as_deref(), Some("payment-service"));
            assert_eq!(binding.role_ref.name, role.name_any());
        }
        assert_eq!(
            rbac.role_bindings[3].subjects.as_ref().unwrap()[0].name,
            "oidc:Platform Team"
        );
        let catalog = rbac.catalog_binding.unwrap();
        let groups: Vec<_> = catalog
            .subjects
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(groups, ["backend-team", "oidc:Platform Team", "sre-team"]);
    }

    #[test]
    fn gated_verbs_are_limited_to_the_granted_environments() {
        let rbac = project_rbac(&project());
        let gated = |role: &Role| {
            role.rules
                .as_ref()
                .unwrap()
                .iter()
                .find(|r| r.resources.as_deref() == Some(&["environments".to_string()][..]))
                .cloned()
        };
        assert_eq!(gated(&rbac.roles[0]), None, "developers hold no gated verb");
        let release_manager = gated(&rbac.roles[1]).unwrap();
        assert_eq!(release_manager.verbs, ["release", "rollback", "cancel"]);
        assert_eq!(
            release_manager.resource_names.unwrap(),
            ["development", "staging"]
        );
        let approver = gated(&rbac.roles[2]).unwrap();
        assert_eq!(approver.verbs, ["approve", "rollback", "break-glass"]);
        assert_eq!(
            approver.resource_names, None,
            "no environments: every environment"
        );
    }

    #[test]
    fn operators_developers_and_admins_read_pod_logs_and_no_secret() {
        let reads_logs = |role: TeamRole| {
            let rules = rules_for(&TeamGrant {
                group: "sre-team".into(),
                role,
                environments: vec![],
            });
            assert!(
                !rules.iter().any(|r| r
                    .resources
                    .as_ref()
                    .is_some_and(|r| r.contains(&"secrets".to_string())))
                    || role == TeamRole::Admin,
                "{role:?} may read Secrets"
            );
            rules.iter().any(|r| {
                r.api_groups.as_deref() == Some(&["logs.gitopshq.io".to_string()][..])
                    && r.verbs == ["get"]
                    && r.resources.as_deref()
                        == Some(&["workloads/log".to_string(), "releases/log".to_string()][..])
            })
        };
        for role in [TeamRole::Operator, TeamRole::Developer, TeamRole::Admin] {
            assert!(reads_logs(role), "{role:?}");
        }
        for role in [
            TeamRole::Viewer,
            TeamRole::ReleaseManager,
            TeamRole::Approver,
        ] {
            assert!(!reads_logs(role), "{role:?}");
        }
    }

    #[test]
    fn grant_names_are_stable_and_distinct() {
        let a = TeamGrant {
            group: "team".into(),
            role: TeamRole::Approver,
            environments: vec![],
        };
        let b = TeamGrant {
            environments: vec!["production".into()],
            ..a.clone()
        };
        assert_eq!(grant_object_name(&a, false), "gitopshq:approver:team");
        assert_eq!(grant_object_name(&b, false), "gitopshq:approver:team");
        assert_ne!(grant_object_name(&a, true), grant_object_name(&b, true));
        assert_eq!(
            grant_object_name(&b, true),
            grant_object_name(&b.clone(), true)
        );
    }
}
