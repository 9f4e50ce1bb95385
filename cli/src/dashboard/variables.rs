//! The HQ variables editor: a project's scopes with their variables (Secret-backed ones by
//! reference only) and one variable's change, written as the signed-in person so RBAC and the
//! webhook (the `release` grant of the scope's environment, `get` on a referenced Secret)
//! judge it exactly as they judge kubectl.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::Path;
use gitopshq_crds::consts::GROUP;
use gitopshq_crds::variables::Variables;
use gitopshq_engine::outcome::Attempt;
use gitopshq_engine::rbac::verbs;
use gitopshq_engine::variables_edit::{self, ScopeAccess, VariableWrite, namespace_of};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};

use super::api;
use super::auth::Person;
use super::authoring::write_over_opened;
use super::error::{ApiError, ApiResult};
use super::pages::catalog_of;
use crate::kube_client::resources;

const RESOURCE: &str = "variables";

/// Every scope of the project with its variables and whether the person may change it.
pub async fn scopes(
    person: Person,
    Path(project): Path<String>,
) -> ApiResult<Json<api::VariableScopes>> {
    let catalog = catalog_of(&person, &project).await?;
    let namespace = namespace_of(&catalog, &project);
    let objects: BTreeSet<String> = catalog
        .variables_of(&project)
        .map(|v| v.name_any())
        .collect();
    let mut environments: BTreeSet<String> = catalog
        .project(&project)
        .map(|p| p.spec.environments.iter().cloned().collect())
        .unwrap_or_default();
    environments.extend(
        catalog
            .tenants_of(&project)
            .map(|t| t.spec.environment.clone()),
    );
    // Asked as the person, all at once: patch on each object, create, release per environment.
    let patches = futures::future::try_join_all(objects.iter().map(|name| async {
        let may = person
            .can("patch", GROUP, RESOURCE, &namespace, Some(name))
            .await?;
        Ok::<_, ApiError>((name.clone(), may))
    }));
    let (patches, releases, may_create) = futures::try_join!(
        patches,
        person.holds_in(verbs::RELEASE, &namespace, &environments),
        person.can("create", GROUP, RESOURCE, &namespace, None)
    )?;
    let patches: BTreeMap<String, bool> = patches.into_iter().collect();
    let may_write = |object: Option<&str>| match object {
        Some(name) => patches.get(name).copied().unwrap_or(false),
        None => may_create,
    };
    let holds_release = |environment: &str| releases.get(environment).copied().unwrap_or(false);
    Ok(Json(api::VariableScopes {
        scopes: variables_edit::scopes(
            &catalog,
            &person.requester,
            &project,
            &ScopeAccess {
                may_write: &may_write,
                holds_release: &holds_release,
            },
            jiff::Timestamp::now(),
        ),
    }))
}

/// Sets, references or removes one variable in one scope, as the person.
pub async fn change(
    person: Person,
    Path(project): Path<String>,
    Json(edit): Json<api::VariableEdit>,
) -> ApiResult<Json<api::VariableScopes>> {
    let catalog = catalog_of(&person, &project).await?;
    let namespace = namespace_of(&catalog, &project);
    let write = variables_edit::plan_edit(&catalog, &project, &edit).map_err(|e| {
        ApiError::bad_request(
            format!("{}: {e}; nothing was saved", edit.scope.label()),
            "fix the field and save again",
        )
    })?;
    let api: Api<Variables> = Api::namespaced(person.client.clone(), &namespace);
    let written = match &write {
        VariableWrite::Patch { object, patch } => {
            let what = format!("variables {object}");
            write_over_opened(
                &person,
                Attempt::new("patch", resources::VARIABLES, Some(&namespace)).on(what.clone()),
                &what,
                api.patch(object, &PatchParams::default(), &Patch::Merge(patch)),
            )
            .await?
        }
        VariableWrite::Create(object) => {
            let what = format!("variables {}", object.name_any());
            write_over_opened(
                &person,
                Attempt::new("create", resources::VARIABLES, Some(&namespace)).on(what.clone()),
                &what,
                api.create(&PostParams::default(), object),
            )
            .await?
        }
    };
    tracing::info!(project = %project, object = %written.name_any(), variable = %edit.name, user = %person.requester.username, "variable changed from the dashboard");
    scopes(person, Path(project)).await
}
