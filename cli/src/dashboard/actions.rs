//! The write side: signing in and out, approval decisions, cancelling a release and
//! break-glass sessions. Every
//! change is made as the signed-in person; the admission webhook stamps their identity and
//! applies its rules exactly as for kubectl.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State as Shared};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gitopshq_crds::approval_request::ApprovalRequest;
use gitopshq_crds::break_glass_session::{
    BreakGlassScope, BreakGlassSession, BreakGlassSessionSpec,
};
use gitopshq_crds::release::Release;
use gitopshq_engine::outcome::Attempt;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::State;
use super::api;
use super::auth::{COOKIE, Person};
use super::error::{ApiError, ApiResult};
use super::objects::get_in;
use crate::kube_client::resources;

/// How long a session cookie lives (the token may expire sooner; then the API says so).
const SESSION_SECONDS: u32 = 8 * 3600;

fn who(person: &Person) -> api::Session {
    api::Session {
        user: person.requester.username.clone(),
        groups: person.requester.groups.clone(),
    }
}

fn cookie(state: &State, value: &str, max_age: u32) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("the cookie is ASCII")
}

pub async fn sign_in(
    Shared(state): Shared<Arc<State>>,
    Json(body): Json<api::SignIn>,
) -> ApiResult<Response> {
    let token = body.token.trim();
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            "token: empty or not a bearer token (printable characters, no spaces)",
            "paste the token kubectl create token or your identity provider gave you",
        ));
    }
    let person = state.people.person(token).await?;
    let mut headers = HeaderMap::new();
    headers.insert(header::SET_COOKIE, cookie(&state, token, SESSION_SECONDS));
    Ok((headers, Json(who(&person))).into_response())
}

pub async fn whoami(person: Person) -> Json<api::Session> {
    Json(who(&person))
}

pub async fn sign_out(Shared(state): Shared<Arc<State>>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::SET_COOKIE, cookie(&state, "", 0));
    (StatusCode::NO_CONTENT, headers).into_response()
}

pub async fn decide(
    person: Person,
    Path((namespace, name)): Path<(String, String)>,
    Json(body): Json<api::DecisionBody>,
) -> ApiResult<Json<api::Decided>> {
    let release = get_in::<Release>(&person, &namespace, resources::RELEASES, &name)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("release {name} does not exist in project {namespace}"),
                Some("pick a release on the approvals page"),
            )
        })?;
    let request_name = release
        .status
        .as_ref()
        .and_then(|s| s.approval_request.clone())
        .unwrap_or_else(|| name.clone());
    let mut value = json!({ "decision": body.decision });
    if let Some(comment) = body.comment.filter(|c| !c.trim().is_empty()) {
        value["comment"] = json!(comment);
    }
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "add", "path": "/spec/decisions/-", "value": value}
    ]))
    .expect("a well-formed JSON patch");
    let api: Api<ApprovalRequest> = Api::namespaced(person.client.clone(), &namespace);
    let updated = person
        .session(&namespace)
        .call(
            Attempt::new("patch", resources::APPROVAL_REQUESTS, Some(&namespace))
                .on(format!("approval request {request_name}")),
            api.patch(
                &request_name,
                &PatchParams::default(),
                &Patch::<()>::Json(patch),
            ),
        )
        .await?;
    Ok(Json(api::Decided {
        approval_request: updated,
    }))
}

fn session_name(person: &Person) -> String {
    let user: String = person
        .requester
        .username
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let stamp = jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S");
    format!("bg-{}-{stamp}", user.trim_matches('-'))
}

pub async fn open_break_glass(
    person: Person,
    Json(body): Json<api::OpenBreakGlass>,
) -> ApiResult<(StatusCode, Json<api::SessionWritten>)> {
    let clean = |items: Vec<String>| -> Vec<String> {
        items
            .into_iter()
            .map(|i| i.trim().to_string())
            .filter(|i| !i.is_empty())
            .collect()
    };
    let name = body
        .name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| session_name(&person));
    let mut session = BreakGlassSession::new(
        &name,
        BreakGlassSessionSpec {
            justification: body.justification,
            severity: body.severity,
            scope: BreakGlassScope {
                environments: clean(body.environments),
                workloads: clean(body.workloads),
                tenants: clean(body.tenants),
            },
            duration: body.duration,
            incident_url: body.incident_url.filter(|u| !u.trim().is_empty()),
            ..BreakGlassSessionSpec::default()
        },
    );
    session.metadata.namespace = Some(body.namespace.clone());
    let api: Api<BreakGlassSession> = Api::namespaced(person.client.clone(), &body.namespace);
    let created = person
        .session(&body.namespace)
        .call(
            Attempt::new(
                "create",
                resources::BREAK_GLASS_SESSIONS,
                Some(&body.namespace),
            )
            .on(format!("break-glass session {name}")),
            api.create(&PostParams::default(), &session),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(api::SessionWritten { session: created }),
    ))
}

pub async fn close_break_glass(
    person: Person,
    Path((namespace, name)): Path<(String, String)>,
    Json(body): Json<api::CloseBreakGlass>,
) -> ApiResult<Json<api::SessionWritten>> {
    if body.note.trim().is_empty() {
        return Err(ApiError::bad_request(
            format!("break-glass session {name}: note is empty"),
            "say what was done under the session",
        ));
    }
    let patch = json!({"spec": {"closed": true, "closingNote": body.note}});
    let closed: BreakGlassSession = merge_patch(
        &person,
        &namespace,
        resources::BREAK_GLASS_SESSIONS,
        &format!("break-glass session {name}"),
        &name,
        &patch,
    )
    .await?;
    tracing::info!(session = %closed.name_any(), user = %person.requester.username, "break-glass session closed from the dashboard");
    Ok(Json(api::SessionWritten { session: closed }))
}

/// Cancels a release not delivered yet, as the signed-in person: the webhook stamps who and
/// when, and refuses a release whose delivery started or a person without the right.
pub async fn cancel_release(
    person: Person,
    Path((namespace, name)): Path<(String, String)>,
    Json(body): Json<api::CancelRelease>,
) -> ApiResult<Json<api::ReleaseWritten>> {
    let patch = crate::commands::release_cancel::cancel_patch(body.reason.as_deref());
    patch_release(&person, &namespace, &name, &patch, "cancelled").await
}

/// A merge patch of release `name` as the person, logged as `done` ("submitted").
pub(super) async fn patch_release(
    person: &Person,
    namespace: &str,
    name: &str,
    patch: &serde_json::Value,
    done: &str,
) -> ApiResult<Json<api::ReleaseWritten>> {
    let release: Release = merge_patch(
        person,
        namespace,
        resources::RELEASES,
        &format!("release {name}"),
        name,
        patch,
    )
    .await?;
    tracing::info!(release = %release.name_any(), user = %person.requester.username, "release {done} from the dashboard");
    Ok(Json(api::ReleaseWritten { release }))
}

/// A JSON merge patch of object `name` in `namespace`, as the person; `what` names it in
/// errors ("release payment-api-v2").
pub(super) async fn merge_patch<K>(
    person: &Person,
    namespace: &str,
    resource: &str,
    what: &str,
    name: &str,
    patch: &serde_json::Value,
) -> ApiResult<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(person.client.clone(), namespace);
    Ok(person
        .session(namespace)
        .call(
            Attempt::new("patch", resource, Some(namespace)).on(what.to_string()),
            api.patch(name, &PatchParams::default(), &Patch::Merge(patch)),
        )
        .await?)
}
