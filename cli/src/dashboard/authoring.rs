//! The authoring side: the values editor (open a layer, save it) and releases created and
//! submitted from the dashboard. Every write is made as the signed-in person with their own
//! token, so RBAC and the admission webhook judge it exactly as they judge kubectl.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use gitopshq_crds::consts::GROUP;
use gitopshq_crds::promotion::Promotion;
use gitopshq_crds::release::{Release, ReleaseSpec, WorkloadChange};
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::workload::Workload;
use gitopshq_engine::outcome::Attempt;
use gitopshq_engine::plan::tenant_runs;
use gitopshq_engine::promotion::authoring::promotion_of;
use gitopshq_engine::rbac::verbs;
use gitopshq_engine::rollback::{RollbackRequest, rollback_release};
use gitopshq_engine::values_check::{self, ValuesScope};
use gitopshq_engine::values_edit::{self, EditAccess, ValuesLayer};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde::Deserialize;
use serde_json::json;

use super::actions::patch_release;
use super::api;
use super::auth::Person;
use super::error::{ApiError, ApiResult};
use super::objects::projects;
use super::pages::catalog_of;
use crate::kube_client::resources;

type Answer<T> = ApiResult<Json<T>>;

/// The field manager of the dashboard's server-side applies: `managedFields` then says the
/// layer was last saved here.
const FIELD_MANAGER: &str = "gitopshq-dashboard";

/// Which layer a request names: the workload's own, its values in `environment`, or
/// `tenant_override`'s values for it.
pub fn scope_of(
    environment: Option<String>,
    tenant_override: Option<String>,
) -> ApiResult<ValuesScope> {
    match (environment, tenant_override) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "environment and tenantOverride both set: the text is one layer",
            "send environment to edit the workload's values there, or tenantOverride to edit one tenant's",
        )),
        (Some(environment), None) => Ok(ValuesScope::Environment(environment)),
        (None, Some(tenant)) => Ok(ValuesScope::Tenant(tenant)),
        (None, None) => Ok(ValuesScope::Workload),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerQuery {
    pub environment: Option<String>,
    pub tenant_override: Option<String>,
}

/// The namespace of `project`, as far as the person may see the project.
async fn namespace_of(person: &Person, project: &str) -> ApiResult<String> {
    projects(person)
        .await?
        .iter()
        .find(|p| p.name_any() == project)
        .map(|p| p.namespace_name())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("project {project} does not exist or you may not read it"),
                Some("pick a project on the fleet page"),
            )
        })
}

pub async fn values_editor(
    person: Person,
    Path((project, workload)): Path<(String, String)>,
    Query(query): Query<LayerQuery>,
) -> Answer<api::ValuesEditor> {
    let scope = scope_of(query.environment, query.tenant_override)?;
    let catalog = catalog_of(&person, &project).await?;
    let layer = values_edit::layer(&catalog, &project, &workload, &scope)?;
    let found = catalog
        .workload(&project, &workload)
        .expect("the layer was found in it");
    let namespace = found.namespace().unwrap_or_default();
    let (_, resource, name) = values_edit::holder(&workload, &scope);
    let release_in = match &scope {
        ValuesScope::Environment(environment) => Some(environment.as_str()),
        _ => None,
    };
    let (may_patch, holds_release) = futures::join!(
        person.can("patch", GROUP, &resource, &namespace, Some(&name)),
        async {
            match release_in {
                Some(environment) => person.holds(verbs::RELEASE, &namespace, environment).await,
                None => Ok(false),
            }
        },
    );
    let edit = values_edit::edit_check(
        &catalog,
        &person.requester,
        &project,
        &workload,
        &scope,
        EditAccess {
            may_patch: may_patch?,
            holds_release: holds_release?,
        },
        jiff::Timestamp::now(),
    );
    let version = release_in
        .and_then(|e| found.spec.environments.get(e))
        .and_then(|o| o.version.clone())
        .unwrap_or_else(|| found.spec.version.clone());
    let tenants = catalog
        .tenants_of(&project)
        .filter(|t| tenant_runs(t, &workload))
        .map(|t| api::TenantChoice {
            name: t.name_any(),
            environment: t.spec.environment.clone(),
        })
        .collect();
    let environments = catalog
        .project(&project)
        .map(|p| p.spec.environments.clone())
        .unwrap_or_default();
    Ok(Json(api::ValuesEditor {
        layer,
        edit,
        chart: found.spec.chart.clone(),
        version,
        environments,
        tenants,
    }))
}

pub async fn save_values(
    person: Person,
    Path((project, workload)): Path<(String, String)>,
    Json(body): Json<api::SaveValues>,
) -> Answer<ValuesLayer> {
    let scope = scope_of(body.environment, body.tenant_override)?;
    let values = values_check::parse(&body.text).map_err(|finding| {
        let at = finding
            .line
            .map(|line| format!(" (line {line})"))
            .unwrap_or_default();
        ApiError::bad_request(
            format!(
                "values of workload {workload}{at}: {}; nothing was saved",
                finding.message
            ),
            "fix the text at the marked line and save again",
        )
    })?;
    let namespace = namespace_of(&person, &project).await?;
    let patch = values_edit::save_patch(
        &namespace,
        &workload,
        &scope,
        &values,
        body.resource_version.as_deref(),
    );
    let (kind, _, name) = values_edit::holder(&workload, &scope);
    let what = format!("{} {name}", kind.to_lowercase());
    let apply = Applied {
        person: &person,
        namespace: &namespace,
        name: &name,
        what: &what,
        patch: &patch,
    };
    let layer = match &scope {
        ValuesScope::Tenant(_) => {
            let saved: Tenant = apply.run(resources::TENANTS).await?;
            values_edit::tenant_layer(&saved, &workload)
        }
        _ => {
            let saved: Workload = apply.run(resources::WORKLOADS).await?;
            values_edit::workload_layer(&saved, &scope)
        }
    };
    tracing::info!(project = %project, workload = %workload, object = %what, user = %person.requester.username, "values saved from the dashboard");
    Ok(Json(layer))
}

/// One layer's server-side apply, as the person, over the version the editor opened.
struct Applied<'a> {
    person: &'a Person,
    namespace: &'a str,
    name: &'a str,
    /// The object, for messages ("workload payment-api").
    what: &'a str,
    patch: &'a serde_json::Value,
}

impl Applied<'_> {
    /// Applies the patch to the `resource` object.
    async fn run<K>(&self, resource: &str) -> ApiResult<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.person.client.clone(), self.namespace);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        write_over_opened(
            self.person,
            Attempt::new("patch", resource, Some(self.namespace)).on(self.what.to_string()),
            self.what,
            api.patch(self.name, &params, &Patch::Apply(self.patch)),
        )
        .await
    }
}

/// Makes `write` as the person (within the session's request timeout); a refusal because the
/// object changed since the editor opened it (409) is said so.
pub(super) async fn write_over_opened<K>(
    person: &Person,
    attempt: Attempt,
    what: &str,
    write: impl std::future::Future<Output = Result<K, kube::Error>>,
) -> ApiResult<K> {
    let changed_meanwhile = AtomicBool::new(false);
    let namespace = attempt.namespace.clone().unwrap_or_default();
    let outcome = person
        .session(&namespace)
        .call(attempt, async {
            let outcome = write.await;
            if matches!(&outcome, Err(kube::Error::Api(status)) if status.code == 409) {
                changed_meanwhile.store(true, Ordering::Relaxed);
            }
            outcome
        })
        .await;
    if changed_meanwhile.load(Ordering::Relaxed) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "{what} changed since {} opened it, so nothing was saved (the API server refused to overwrite the newer version)",
                person.requester.username
            ),
            Some(
                "your change is kept in the editor: reload to see what is stored, apply your change to it, and save again",
            ),
        ));
    }
    Ok(outcome?)
}

pub async fn create_release(
    person: Person,
    Path(project): Path<String>,
    Json(body): Json<api::CreateRelease>,
) -> ApiResult<(StatusCode, Json<api::ReleaseWritten>)> {
    if body.changes.is_empty() {
        return Err(ApiError::bad_request(
            format!("release {}: changes is empty", body.name),
            "name at least one workload the release delivers",
        ));
    }
    let tenant_selector = gitopshq_engine::selector::parse_equalities(
        body.tenant_selector.as_deref().unwrap_or_default(),
    )
    .map_err(|e| {
        ApiError::bad_request(
            format!("release {}: tenantSelector: {e}", body.name),
            "fix the labels, or pick tenants by name",
        )
    })?;
    if tenant_selector.is_some() && !body.tenants.is_empty() {
        return Err(ApiError::bad_request(
            format!(
                "release {}: both tenants and tenantSelector are set",
                body.name
            ),
            "pick tenants by name or by label, not both",
        ));
    }
    let namespace = namespace_of(&person, &project).await?;
    let mut release = Release::new(
        &body.name,
        ReleaseSpec {
            title: body.title,
            notes: body.notes.filter(|n| !n.trim().is_empty()),
            environment: body.environment,
            tenants: body.tenants,
            tenant_selector,
            changes: body
                .changes
                .into_iter()
                .map(|c| WorkloadChange {
                    workload: c.workload,
                    version: c.version.filter(|v| !v.trim().is_empty()),
                    ..WorkloadChange::default()
                })
                .collect(),
            submitted: body.submit,
            ..ReleaseSpec::default()
        },
    );
    release.metadata.namespace = Some(namespace.clone());
    let api: Api<Release> = Api::namespaced(person.client.clone(), &namespace);
    let created = person
        .session(&namespace)
        .call(
            Attempt::new("create", resources::RELEASES, Some(&namespace))
                .on(format!("release {}", body.name)),
            api.create(&PostParams::default(), &release),
        )
        .await?;
    tracing::info!(release = %created.name_any(), user = %person.requester.username, submitted = body.submit, "release created from the dashboard");
    Ok((
        StatusCode::CREATED,
        Json(api::ReleaseWritten { release: created }),
    ))
}

/// Submits a Draft as the person: the webhook checks their `release` grant, the freeze and
/// the policies, and stamps them as the submitter.
pub async fn submit_release(
    person: Person,
    Path((namespace, name)): Path<(String, String)>,
) -> Answer<api::ReleaseWritten> {
    let patch = json!({"spec": {"submitted": true}});
    patch_release(&person, &namespace, &name, &patch, "submitted").await
}

/// Starts a rollback to the release as the person: a Rollback release of `workload` restoring
/// what this release delivered (a Draft unless `submit`, so its page shows the rollback's diff
/// first). The webhook judges it as for `gitopshq rollback`: the `rollback` grant at
/// submission, freezes, policies.
pub async fn rollback_to(
    person: Person,
    Path((namespace, name)): Path<(String, String)>,
    Json(body): Json<api::RollbackBody>,
) -> ApiResult<(StatusCode, Json<api::ReleaseWritten>)> {
    let target = release_read(&person, &namespace, &name).await?;
    let api: Api<Release> = Api::namespaced(person.client.clone(), &namespace);
    let request = RollbackRequest {
        workload: body.workload.clone(),
        tenants: body.tenants,
        title: body.title,
        notes: body.notes,
        submitted: body.submit,
        ..RollbackRequest::default()
    };
    let release = rollback_release(&request, &target, &namespace).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.to_string(),
            Some(&e.next(&namespace)),
        )
    })?;
    let created = person
        .session(&namespace)
        .call(
            Attempt::new("create", resources::RELEASES, Some(&namespace))
                .on(format!("rollback of {} to {name}", body.workload)),
            api.create(&PostParams::default(), &release),
        )
        .await?;
    tracing::info!(release = %created.name_any(), target = %name, user = %person.requester.username, submitted = body.submit, "rollback created from the dashboard");
    Ok((
        StatusCode::CREATED,
        Json(api::ReleaseWritten { release: created }),
    ))
}

/// Promotes the release as the person: a Promotion of it into the chosen environment, batch by
/// batch as chosen. The webhook judges it as for kubectl: the `release` grant in the target
/// environment and its promotion gate; the controller then creates each batch's release.
pub async fn promote(
    person: Person,
    Path((namespace, name)): Path<(String, String)>,
    Json(body): Json<api::PromoteRequest>,
) -> ApiResult<(StatusCode, Json<api::PromotionWritten>)> {
    let source = release_read(&person, &namespace, &name).await?;
    let promotion = promotion_of(&body, &source).map_err(|e| {
        ApiError::bad_request(
            format!("promotion of release {name}: {e}; nothing was created"),
            "fix the batches and promote again",
        )
    })?;
    let api: Api<Promotion> = Api::namespaced(person.client.clone(), &namespace);
    let created = person
        .session(&namespace)
        .call(
            Attempt::new("create", resources::PROMOTIONS, Some(&namespace))
                .on(format!("promotion of release {name}")),
            api.create(&PostParams::default(), &promotion),
        )
        .await?;
    tracing::info!(promotion = %created.name_any(), release = %name, user = %person.requester.username, "promotion created from the dashboard");
    Ok((
        StatusCode::CREATED,
        Json(api::PromotionWritten { promotion: created }),
    ))
}

/// The release a rollback or a promotion starts from, read as the person.
async fn release_read(person: &Person, namespace: &str, name: &str) -> ApiResult<Release> {
    let api: Api<Release> = Api::namespaced(person.client.clone(), namespace);
    Ok(person
        .session(namespace)
        .call(
            Attempt::new("get", resources::RELEASES, Some(namespace)).on(format!("release {name}")),
            api.get(name),
        )
        .await?)
}
