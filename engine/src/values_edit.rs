//! The values editor's write side: the layer a person opens (its text and the version of the
//! object that holds it), whether they may save it (asked of the webhook's own rules before
//! they type), and the server-side apply that saves it. Nothing here calls the API: the caller
//! saves as the person, and the webhook judges the write as it judges kubectl's.

use gitopshq_crds::common::Values;
use gitopshq_crds::consts::API_VERSION;
use gitopshq_crds::release::Release;
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::workload::Workload;
use jiff::Timestamp;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde_json::{Value, json};

use crate::admission::{
    Grant, Operation, Request, Requester, Rule, Snapshot, require, submit_verb, validate_workload,
};
use crate::catalog::Catalog;
use crate::plan::{PlanError, find_tenant, find_workload};
use crate::rbac::verbs;
use crate::values_check::ValuesScope;

/// The layer of values one editor shows, as stored now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ValuesLayer {
    /// The kind and name of the object that holds the layer (`Workload payment-api`, or
    /// `Tenant eu-production` for a tenant's override).
    pub kind: String,
    pub name: String,
    /// The layer as YAML; empty when the layer sets nothing.
    pub text: String,
    /// The object's `metadata.resourceVersion`: a save carries it back, so a change made by
    /// someone else meanwhile is refused instead of overwritten.
    pub resource_version: Option<String>,
}

/// Whether the person may save the layer, before they type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct EditCheck {
    pub allowed: bool,
    /// Why not, in the words the API server or the webhook would answer.
    pub reason: Option<String>,
}

impl EditCheck {
    pub fn allowed() -> Self {
        Self {
            allowed: true,
            reason: None,
        }
    }

    pub fn refused(reason: String) -> Self {
        Self {
            allowed: false,
            reason: Some(reason),
        }
    }
}

/// Which of the webhook's denials, asked beforehand, disable a button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disabling {
    /// Only a missing grant: other rules are answered at the click.
    Grants,
    /// Every denial (a gate the person cannot pass now either).
    Every,
}

/// The webhook's answer to `judge`, asked beforehand over `catalog` with `grant` (a verb and
/// an environment the person holds it in, when they do) as their only grant: the same rule
/// the click will be judged by, never a substitute for it.
pub(crate) fn asked_beforehand(
    catalog: &Catalog,
    user: &Requester,
    project: &str,
    grant: Option<(&str, &str)>,
    disabling: Disabling,
    judge: impl FnOnce(&Snapshot) -> crate::admission::Verdict,
) -> EditCheck {
    let grants = grant
        .map(|(verb, environment)| Grant::environment(&user.username, project, verb, environment))
        .into_iter()
        .collect();
    let directory = Snapshot {
        catalog: catalog.clone(),
        grants: Some(grants),
        ..Snapshot::default()
    };
    match judge(&directory).denial {
        Some(denial) if disabling == Disabling::Every || denial.rule == Rule::NotPermitted => {
            EditCheck::refused(denial.message)
        }
        _ => EditCheck::allowed(),
    }
}

/// What the API server says about the person, asked as that person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EditAccess {
    /// RBAC lets them patch the object that holds the layer.
    pub may_patch: bool,
    /// A project grant gives them `release` in the layer's environment (only asked for an
    /// environment's layer).
    pub holds_release: bool,
}

/// The object that holds `scope`'s layer of `workload`: its kind, the resource RBAC names and
/// its name.
pub fn holder(workload: &str, scope: &ValuesScope) -> (String, String, String) {
    match scope {
        ValuesScope::Tenant(tenant) => (
            Tenant::kind(&()).into(),
            Tenant::plural(&()).into(),
            tenant.clone(),
        ),
        _ => (
            Workload::kind(&()).into(),
            Workload::plural(&()).into(),
            workload.to_string(),
        ),
    }
}

/// The layer as stored in `catalog`.
pub fn layer(
    catalog: &Catalog,
    project: &str,
    workload: &str,
    scope: &ValuesScope,
) -> Result<ValuesLayer, PlanError> {
    let found = find_workload(catalog, project, workload)?;
    match scope {
        ValuesScope::Tenant(tenant) => Ok(tenant_layer(
            find_tenant(catalog, project, tenant)?,
            workload,
        )),
        ValuesScope::Environment(environment) => {
            crate::plan::check_environment(catalog, project, environment)?;
            Ok(workload_layer(found, scope))
        }
        ValuesScope::Workload => Ok(workload_layer(found, scope)),
    }
}

/// The workload's own layer, or its layer in the scope's environment.
pub fn workload_layer(workload: &Workload, scope: &ValuesScope) -> ValuesLayer {
    let none = Values::new();
    let values = match scope {
        ValuesScope::Environment(environment) => workload
            .spec
            .environments
            .get(environment)
            .map(|o| &o.values)
            .unwrap_or(&none),
        _ => &workload.spec.values,
    };
    ValuesLayer {
        kind: Workload::kind(&()).into(),
        name: workload.name_any(),
        text: values_text(values),
        resource_version: workload.resource_version(),
    }
}

/// `tenant`'s layer over `workload`.
pub fn tenant_layer(tenant: &Tenant, workload: &str) -> ValuesLayer {
    let none = Values::new();
    ValuesLayer {
        kind: Tenant::kind(&()).into(),
        name: tenant.name_any(),
        text: values_text(
            tenant
                .spec
                .workloads
                .get(workload)
                .map(|w| &w.values)
                .unwrap_or(&none),
        ),
        resource_version: tenant.resource_version(),
    }
}

/// A values map as the editor shows it: YAML, nothing for an empty map.
pub fn values_text(values: &Values) -> String {
    if values.is_empty() {
        return String::new();
    }
    yaml_serde::to_string(values).unwrap_or_default()
}

/// Whether `user` may save `scope`'s layer of `workload`: RBAC on the object, then for an
/// environment's layer the webhook's rule for Workloads (`release` in that environment).
pub fn edit_check(
    catalog: &Catalog,
    user: &Requester,
    project: &str,
    workload: &str,
    scope: &ValuesScope,
    access: EditAccess,
    now: Timestamp,
) -> EditCheck {
    let (kind, resource, name) = holder(workload, scope);
    if !access.may_patch {
        return EditCheck {
            allowed: false,
            reason: Some(format!(
                "not permitted: {} may not change {} {name} in project {project} (RBAC grants no patch on {resource}); ask a project Admin for the Developer role",
                user.username,
                kind.to_lowercase(),
            )),
        };
    }
    let ValuesScope::Environment(environment) = scope else {
        return EditCheck {
            allowed: true,
            reason: None,
        };
    };
    let Some(stored) = catalog.workload(project, workload) else {
        return EditCheck {
            allowed: true,
            reason: None,
        };
    };
    // The webhook judges a change of this environment's overrides; any change asks the same.
    let mut proposed = stored.clone();
    proposed
        .spec
        .environments
        .entry(environment.clone())
        .or_default()
        .values
        .insert("gitopshq.io/edit-check".into(), Value::Bool(true));
    asked_beforehand(
        catalog,
        user,
        project,
        access
            .holds_release
            .then_some((verbs::RELEASE, environment.as_str())),
        Disabling::Grants,
        |directory| {
            validate_workload(
                &Request {
                    operation: Operation::Update,
                    user,
                    object: Some(&proposed),
                    old: Some(stored),
                    now,
                },
                directory,
            )
        },
    )
}

/// Whether `user` may submit the Draft `release`: RBAC on the release, then the webhook's
/// grant rule (`release` in its environment, `rollback` for a Rollback: `access.holds_release`
/// says whether they hold that one). Freezes and policies are judged at the click and answered
/// then, as for kubectl.
pub fn submit_check(
    user: &Requester,
    release: &Release,
    access: EditAccess,
    now: Timestamp,
) -> EditCheck {
    let namespace = release.namespace().unwrap_or_default();
    let name = release.name_any();
    if !access.may_patch {
        return EditCheck {
            allowed: false,
            reason: Some(format!(
                "not permitted: {} may not change release {name} in project {namespace} (RBAC grants no patch on releases); ask a project Admin for the ReleaseManager role in {}",
                user.username, release.spec.environment
            )),
        };
    }
    let verb = submit_verb(release.spec.type_);
    let grants = if access.holds_release {
        vec![Grant::environment(
            &user.username,
            &namespace,
            verb,
            &release.spec.environment,
        )]
    } else {
        Vec::new()
    };
    let directory = Snapshot {
        grants: Some(grants),
        ..Snapshot::default()
    };
    let request = Request {
        operation: Operation::Update,
        user,
        object: Some(release),
        old: Some(release),
        now,
    };
    match require(
        &request,
        &directory,
        &namespace,
        verb,
        std::slice::from_ref(&release.spec.environment),
        &format!("release {name}"),
    ) {
        Ok(()) => EditCheck {
            allowed: true,
            reason: None,
        },
        Err(denial) => EditCheck {
            allowed: false,
            reason: denial.denial.map(|d| d.message),
        },
    }
}

/// The server-side apply body that saves `values` as `scope`'s layer of `workload` in
/// `project`, only over the object at `resource_version` (the API server answers 409 when it
/// changed since).
pub fn save_patch(
    project: &str,
    workload: &str,
    scope: &ValuesScope,
    values: &Values,
    resource_version: Option<&str>,
) -> Value {
    let (kind, _, name) = holder(workload, scope);
    let spec = match scope {
        ValuesScope::Workload => json!({ "values": values }),
        ValuesScope::Environment(environment) => {
            json!({ "environments": { environment: { "values": values } } })
        }
        ValuesScope::Tenant(_) => json!({ "workloads": { workload: { "values": values } } }),
    };
    let mut metadata = json!({ "name": name, "namespace": project });
    if let Some(version) = resource_version {
        metadata["resourceVersion"] = json!(version);
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": metadata,
        "spec": spec,
    })
}

/// What a release of an edited layer would be: `catalog` with the layer replaced by `values`,
/// and the Deploy release of `workload` the editor would create from it, in the layer's
/// environment (for the workload's own values, `tenant`'s, or the first tenant's that runs
/// it), to that tenant only for a tenant's override. Previewed against the repository, it says
/// what the edit changes in what runs now, with the values releases recorded there.
pub fn release_of_edit(
    catalog: &Catalog,
    project: &str,
    workload: &str,
    scope: &ValuesScope,
    tenant: Option<&str>,
    values: &Values,
) -> Result<(Catalog, Release), PlanError> {
    let stored = find_workload(catalog, project, workload)?;
    let namespace = stored.namespace().unwrap_or_default();
    let runs = |t: &&Tenant| crate::plan::tenant_runs(t, workload) && !t.spec.suspended;
    let (environment, tenants) = match scope {
        ValuesScope::Environment(environment) => {
            crate::plan::check_environment(catalog, project, environment)?;
            (environment.clone(), Vec::new())
        }
        ValuesScope::Tenant(name) => {
            let found = find_tenant(catalog, project, name)?;
            (found.spec.environment.clone(), vec![name.clone()])
        }
        ValuesScope::Workload => {
            let found = match tenant {
                Some(name) => Some(find_tenant(catalog, project, name)?),
                None => catalog
                    .tenants_of(project)
                    .filter(runs)
                    .min_by_key(|t| t.name_any()),
            };
            let found = found.ok_or_else(|| PlanError::NoTargets {
                release: format!("of the values of {workload}"),
                environment: "any environment".to_string(),
                workloads: workload.to_string(),
            })?;
            (found.spec.environment.clone(), Vec::new())
        }
    };
    let mut edited = catalog.clone();
    let here = |m: &kube::api::ObjectMeta, name: &str| {
        m.name.as_deref() == Some(name) && m.namespace == stored.metadata.namespace
    };
    let overridden = match scope {
        ValuesScope::Tenant(name) => edited.tenants.iter_mut().find(|t| here(&t.metadata, name)),
        _ => None,
    };
    if let Some(w) = edited
        .workloads
        .iter_mut()
        .find(|w| here(&w.metadata, workload))
    {
        crate::values_check::set_layer(scope, w, overridden, values.clone());
    }
    let mut release = Release::new(
        "values-preview",
        gitopshq_crds::release::ReleaseSpec {
            title: format!("values of {workload}"),
            environment,
            tenants,
            changes: vec![gitopshq_crds::release::WorkloadChange {
                workload: workload.to_string(),
                ..Default::default()
            }],
            submitted: true,
            ..Default::default()
        },
    );
    release.metadata.namespace = Some(namespace);
    Ok((edited, release))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values_check::tests::catalog;

    fn alice() -> Requester {
        Requester::new("alice", &["backend-team"])
    }

    fn may(may_patch: bool, holds_release: bool) -> EditAccess {
        EditAccess {
            may_patch,
            holds_release,
        }
    }

    #[test]
    fn each_layer_opens_as_stored_with_the_version_of_its_object() {
        let mut catalog = catalog();
        catalog.workloads[0].metadata.resource_version = Some("41".into());
        catalog.tenants[0].metadata.resource_version = Some("7".into());
        let base = layer(&catalog, "shop", "api", &ValuesScope::Workload).unwrap();
        assert_eq!(
            (base.kind.as_str(), base.name.as_str(), base.text.as_str()),
            ("Workload", "api", "db: plain\n")
        );
        assert_eq!(base.resource_version.as_deref(), Some("41"));
        let prod = layer(
            &catalog,
            "shop",
            "api",
            &ValuesScope::Environment("prod".into()),
        )
        .unwrap();
        assert_eq!(prod.text, "", "no overrides in prod yet");
        let tenant = layer(&catalog, "shop", "api", &ValuesScope::Tenant("eu-1".into())).unwrap();
        assert_eq!(
            (tenant.kind.as_str(), tenant.name.as_str()),
            ("Tenant", "eu-1")
        );
        assert_eq!(tenant.resource_version.as_deref(), Some("7"));
        let missing = layer(
            &catalog,
            "shop",
            "api",
            &ValuesScope::Environment("qa".into()),
        );
        assert!(missing.is_err());
    }

    #[test]
    fn an_environment_layer_needs_the_release_grant_there_as_the_webhook_says() {
        let catalog = catalog();
        let prod = ValuesScope::Environment("prod".into());
        let check = |scope: &ValuesScope, access| {
            edit_check(
                &catalog,
                &alice(),
                "shop",
                "api",
                scope,
                access,
                Timestamp::UNIX_EPOCH,
            )
        };
        let refused = check(&prod, may(true, false));
        assert!(!refused.allowed);
        let reason = refused.reason.unwrap();
        assert!(
            reason.contains("alice")
                && reason.contains("prod")
                && reason.contains("ReleaseManager"),
            "{reason}"
        );
        assert_eq!(
            check(&prod, may(true, true)),
            EditCheck {
                allowed: true,
                reason: None
            }
        );
        assert!(check(&ValuesScope::Workload, may(true, false)).allowed);
        assert!(check(&ValuesScope::Tenant("eu-1".into()), may(true, false)).allowed);
        let rbac = check(&ValuesScope::Tenant("eu-1".into()), may(false, true));
        assert!(!rbac.allowed);
        assert!(
            rbac.reason.unwrap().contains("may not change tenant eu-1"),
            "RBAC is asked about the object that holds the layer"
        );
    }

    #[test]
    fn a_draft_is_submitted_only_with_the_release_grant_in_its_environment() {
        let release: Release = gitopshq_crds::testing::from_yaml(
            "metadata: {name: api-v2, namespace: shop}\nspec: {title: v2, environment: prod}",
        );
        let at = Timestamp::UNIX_EPOCH;
        assert!(submit_check(&alice(), &release, may(true, true), at).allowed);
        let gated = submit_check(&alice(), &release, may(true, false), at);
        assert!(!gated.allowed);
        let reason = gated.reason.unwrap();
        assert!(
            reason.starts_with("release api-v2 denied: alice (groups: backend-team) may not")
                && reason.contains("ReleaseManager role in prod"),
            "{reason}"
        );
        let rbac = submit_check(&alice(), &release, may(false, true), at);
        assert!(
            rbac.reason
                .unwrap()
                .contains("RBAC grants no patch on releases")
        );
    }

    #[test]
    fn an_edit_becomes_the_release_the_editor_would_create_over_the_edited_catalog() {
        let catalog = catalog();
        let values: Values = serde_json::from_value(json!({"replicas": 3})).unwrap();
        let prod = ValuesScope::Environment("prod".into());
        let (edited, release) =
            release_of_edit(&catalog, "shop", "api", &prod, None, &values).unwrap();
        assert_eq!(release.spec.environment, "prod");
        assert!(release.spec.tenants.is_empty(), "every tenant of prod");
        assert_eq!(release.spec.changes[0].workload, "api");
        assert_eq!(release.namespace().as_deref(), Some("shop"));
        assert_eq!(
            edited.workload("shop", "api").unwrap().spec.environments["prod"].values,
            values
        );
        assert!(
            catalog
                .workload("shop", "api")
                .unwrap()
                .spec
                .environments
                .is_empty(),
            "the catalog read is left as it was"
        );
        let (edited, release) = release_of_edit(
            &catalog,
            "shop",
            "api",
            &ValuesScope::Tenant("eu-1".into()),
            None,
            &values,
        )
        .unwrap();
        assert_eq!(
            (
                release.spec.environment.as_str(),
                release.spec.tenants.as_slice()
            ),
            ("prod", &["eu-1".to_string()][..])
        );
        assert_eq!(
            edited.tenant("shop", "eu-1").unwrap().spec.workloads["api"].values,
            values
        );
        let (_, release) = release_of_edit(
            &catalog,
            "shop",
            "api",
            &ValuesScope::Workload,
            Some("dev-1"),
            &values,
        )
        .unwrap();
        assert_eq!(
            release.spec.environment, "dev",
            "the environment of the tenant picked"
        );
    }

    #[test]
    fn a_rollback_draft_asks_for_the_rollback_grant() {
        let rollback: Release = gitopshq_crds::testing::from_yaml(
            "metadata: {name: rollback-api-x1, namespace: shop}\nspec: {title: back, environment: prod, type: Rollback, rollbackTo: {release: api-v1}, changes: [{workload: api}]}",
        );
        let gated = submit_check(&alice(), &rollback, may(true, false), Timestamp::UNIX_EPOCH);
        let reason = gated.reason.unwrap();
        assert!(
            reason.contains("ReleaseManager or Approver role in prod"),
            "the rollback grant's roles: {reason}"
        );
        assert!(submit_check(&alice(), &rollback, may(true, true), Timestamp::UNIX_EPOCH).allowed);
    }

    #[test]
    fn a_save_applies_only_the_layer_over_the_version_opened() {
        let values: Values = serde_json::from_value(json!({"replicas": 3})).unwrap();
        let patch = save_patch(
            "shop",
            "api",
            &ValuesScope::Environment("prod".into()),
            &values,
            Some("41"),
        );
        assert_eq!(
            patch,
            json!({
                "apiVersion": "gitopshq.io/v1alpha1",
                "kind": "Workload",
                "metadata": {"name": "api", "namespace": "shop", "resourceVersion": "41"},
                "spec": {"environments": {"prod": {"values": {"replicas": 3}}}},
            })
        );
        let tenant = save_patch(
            "shop",
            "api",
            &ValuesScope::Tenant("eu-1".into()),
            &values,
            None,
        );
        assert_eq!(tenant["kind"], "Tenant");
        assert_eq!(
            tenant["metadata"],
            json!({"name": "eu-1", "namespace": "shop"})
        );
        assert_eq!(
            tenant["spec"],
            json!({"workloads": {"api": {"values": {"replicas": 3}}}})
        );
    }
}
