//! The policy workbench: a Policy's Rego and embedded tests, the tests run now, and the policy
//! evaluated on pasted objects or on what a release renders, by the admission webhook's own
//! engine. Everything is read as the signed-in person and nothing is written.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State as Shared};
use axum::http::StatusCode;
use gitopshq_crds::policy::Policy;
use gitopshq_crds::release::Release;
use gitopshq_engine::outcome::Attempt;
use gitopshq_engine::policy::{binding_mode, default_environment};
use gitopshq_engine::rbac::CATALOG_READER;
use kube::api::ListParams;
use kube::{Api, ResourceExt};

use super::State;
use super::api;
use super::auth::Person;
use super::error::{ApiError, ApiResult};
use super::objects::{environments, get_in, projects};
use super::pages::catalog_of;
use crate::kube_client::resources;

type Answer<T> = ApiResult<Json<T>>;

const POLICIES: &str = "policies.gitopshq.io";

/// RBAC's refusal keeps the API server's words; the next step says who grants the read.
fn with_next_step(error: anyhow::Error) -> ApiError {
    let mut error = ApiError::from(error);
    if error.status == StatusCode::FORBIDDEN {
        error.next = Some(format!(
            "ask a platform administrator for get and list on {POLICIES}: every team of a project has them through the ClusterRole {CATALOG_READER}"
        ));
    }
    error
}

/// Every Policy, by name. Unlike the catalog on other pages, a refusal is an answer here: the
/// page is about policies, and an empty list would say there are none.
async fn read_policies(person: &Person) -> ApiResult<Vec<Policy>> {
    let api: Api<Policy> = Api::all(person.client.clone());
    let mut policies = person
        .session("")
        .call(
            Attempt::new("list", POLICIES, None),
            api.list(&ListParams::default()),
        )
        .await
        .map_err(with_next_step)?
        .items;
    policies.sort_by_key(ResourceExt::name_any);
    Ok(policies)
}

async fn read_policy(person: &Person, name: &str) -> ApiResult<Policy> {
    let api: Api<Policy> = Api::all(person.client.clone());
    person
        .session("")
        .get_opt(
            Attempt::new("get", POLICIES, None).on(format!("policy {name}")),
            api.get(name),
        )
        .await
        .map_err(with_next_step)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("policy {name} does not exist"),
                Some("pick a policy on the policies page"),
            )
        })
}

pub async fn policies(person: Person) -> Answer<api::Policies> {
    let policies = read_policies(&person)
        .await?
        .into_iter()
        .map(|policy| {
            let status = policy.status.clone().unwrap_or_default();
            let tests = status.tests.unwrap_or_default();
            api::PolicySummary {
                name: policy.name_any(),
                description: policy.spec.description,
                package: status.package,
                compiled: policy.status.as_ref().map(|s| s.compiled),
                passed: tests.passed,
                failed: tests.failed,
                bindings: policy.spec.bindings,
            }
        })
        .collect();
    Ok(Json(api::Policies { policies }))
}

pub async fn policy(person: Person, Path(name): Path<String>) -> Answer<api::PolicyDetail> {
    let (policy, environments) =
        futures::join!(read_policy(&person, &name), environment_names(&person));
    let (policy, mut names) = (policy?, environments?);
    for binding in &policy.spec.bindings {
        for environment in &binding.environments {
            if !names.contains(environment) {
                names.push(environment.clone());
            }
        }
    }
    let default_environment = default_environment(&policy, &names);
    let environments = names
        .into_iter()
        .map(|name| api::EnvironmentBinding {
            mode: binding_mode(&policy, &name),
            name,
        })
        .collect();
    Ok(Json(api::PolicyDetail {
        name: policy.name_any(),
        description: policy.spec.description,
        rego: policy.spec.rego,
        bindings: policy.spec.bindings,
        tests: policy.spec.tests,
        status: policy.status,
        environments,
        default_environment,
    }))
}

/// The environments the person can list, by rank.
async fn environment_names(person: &Person) -> ApiResult<Vec<String>> {
    Ok(environments(person)
        .await?
        .iter()
        .map(ResourceExt::name_any)
        .collect())
}

/// The embedded tests, run now by the check the webhook admits a Policy by.
pub async fn run_tests(
    person: Person,
    Shared(state): Shared<Arc<State>>,
    Path(name): Path<String>,
) -> Answer<api::PolicyTested> {
    let policy = read_policy(&person, &name).await?;
    let run = tokio::task::spawn_blocking(move || state.policies.check(&policy).test_run())
        .await
        .map_err(interrupted)?;
    Ok(Json(run))
}

pub async fn evaluate(
    person: Person,
    Shared(state): Shared<Arc<State>>,
    Path(name): Path<String>,
    Json(body): Json<api::EvaluatePolicy>,
) -> Answer<api::PolicyEvaluated> {
    let policy = read_policy(&person, &name).await?;
    let run = match (body.object, body.release) {
        (Some(text), None) => {
            let environment = match body.environment.filter(|e| !e.is_empty()) {
                Some(environment) => environment,
                None => {
                    let names = environment_names(&person).await?;
                    default_environment(&policy, &names).ok_or_else(|| {
                        ApiError::bad_request(
                            format!(
                                "policy {name} binds no environment and you can list none, so there is no environment to judge the objects in"
                            ),
                            "send the environment to evaluate in",
                        )
                    })?
                }
            };
            tokio::task::spawn_blocking(move || {
                state.policies.dry_run_objects(&policy, &text, &environment)
            })
            .await
        }
        (None, Some(target)) => {
            let (catalog, release) = release_of(&person, &target).await?;
            tokio::task::spawn_blocking(move || {
                state.policies.dry_run_release(&policy, &catalog, &release)
            })
            .await
        }
        _ => {
            return Err(ApiError::bad_request(
                "send either object (the YAML or JSON text of the objects) or release ({namespace, name}), not both and not neither",
                "paste an object, or pick a release",
            ));
        }
    };
    Ok(Json(run.map_err(interrupted)?))
}

/// The release and everything needed to render it, as the person reads them.
async fn release_of(
    person: &Person,
    target: &api::ReleaseName,
) -> ApiResult<(gitopshq_engine::catalog::Catalog, Release)> {
    let project = projects(person)
        .await?
        .into_iter()
        .find(|p| p.namespace_name() == target.namespace)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "no project you can read has the namespace {}",
                    target.namespace
                ),
                Some("pick a release on the policy page's list"),
            )
        })?;
    let project = project.name_any();
    let (catalog, release) = futures::join!(
        catalog_of(person, &project),
        get_in::<Release>(person, &target.namespace, resources::RELEASES, &target.name),
    );
    let release = release?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "release {} does not exist in project {}",
                target.name, target.namespace
            ),
            Some("pick a release on the policy page's list"),
        )
    })?;
    Ok((catalog?, release))
}

fn interrupted(error: tokio::task::JoinError) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("the evaluation was interrupted: {error}"),
        Some("try again; if it persists, report it with the policy"),
    )
}
