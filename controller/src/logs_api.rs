//! The aggregated API `logs.gitopshq.io/v1alpha1`: pod logs of a project's workloads and
//! releases, for whoever RBAC lets `get` their `log` subresource, without access to the
//! clusters' credentials. The API server authenticates and authorizes the caller and forwards
//! the request with who they are ([`UserInfo`], set by the webhook's front-proxy guard); this
//! router asks again with a SubjectAccessReview (the API server is not the only thing that can
//! reach the Service) and reads the logs with the cluster's registered credentials.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::stream::{self, BoxStream, StreamExt};
use gitopshq_engine::logs::{
    API_GROUP, API_VERSION, KEEP_ALIVE, LogQuery, LogRequest, SUBRESOURCE, Source, Target, WireLine,
};
use k8s_openapi::api::authentication::v1::UserInfo;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client};
use tracing::{info, warn};

use crate::cluster_clients::ClusterPool;
use crate::pod_logs::{self, LogError};

struct Shared {
    client: Client,
    pool: ClusterPool,
}

/// The discovery documents the API server reads to know the group is served (public).
pub fn discovery() -> Router {
    Router::new()
        .route(&format!("/apis/{API_GROUP}"), get(group))
        .route(&format!("/apis/{API_GROUP}/{API_VERSION}"), get(resources))
}

/// The log routes; each request must carry its caller's [`UserInfo`].
pub fn routes(client: Client) -> Router {
    let shared = Arc::new(Shared {
        pool: ClusterPool::new(client.clone()),
        client,
    });
    let base = format!("/apis/{API_GROUP}/{API_VERSION}/namespaces/{{namespace}}");
    Router::new()
        .route(
            &format!("{base}/workloads/{{name}}/{SUBRESOURCE}"),
            get(workload_log),
        )
        .route(
            &format!("{base}/releases/{{name}}/{SUBRESOURCE}"),
            get(release_log),
        )
        .with_state(shared)
}

async fn group() -> Response {
    let version = serde_json::json!({
        "groupVersion": format!("{API_GROUP}/{API_VERSION}"),
        "version": API_VERSION,
    });
    json(serde_json::json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": API_GROUP,
        "versions": [version],
        "preferredVersion": version,
    }))
}

async fn resources() -> Response {
    let log = |resource: &str| {
        serde_json::json!({
            "name": format!("{resource}/{SUBRESOURCE}"),
            "singularName": "",
            "namespaced": true,
            "kind": "PodLogs",
            "verbs": ["get"],
        })
    };
    json(serde_json::json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": format!("{API_GROUP}/{API_VERSION}"),
        "resources": [log("workloads"), log("releases")],
    }))
}

fn json(body: serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn workload_log(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<UserInfo>,
    Path((namespace, name)): Path<(String, String)>,
    Query(query): Query<LogQuery>,
) -> Response {
    answer(shared, user, namespace, Target::Workload(name), query).await
}

async fn release_log(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<UserInfo>,
    Path((namespace, name)): Path<(String, String)>,
    Query(query): Query<LogQuery>,
) -> Response {
    answer(shared, user, namespace, Target::Release(name), query).await
}

async fn answer(
    shared: Arc<Shared>,
    user: UserInfo,
    namespace: String,
    target: Target,
    query: LogQuery,
) -> Response {
    let who = user.username.clone().unwrap_or_default();
    let request = match LogRequest::from_query(&query) {
        Ok(request) => request,
        Err(why) => return status(StatusCode::BAD_REQUEST, "BadRequest", &why),
    };
    match allowed(&shared.client, &user, &namespace, &target).await {
        Ok(None) => {}
        Ok(Some(refusal)) => {
            info!(user = %who, %namespace, target = target.name(), "pod logs refused by RBAC");
            return status(StatusCode::FORBIDDEN, "Forbidden", &refusal);
        }
        Err(error) => {
            warn!(%error, "a SubjectAccessReview for pod logs failed");
            return status(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                &format!("cannot check whether {who} may read these logs: {error}; retry"),
            );
        }
    }
    let gathered =
        match pod_logs::gather(&shared.client, &shared.pool, &namespace, &target, &request).await {
            Ok(gathered) => gathered,
            Err(error) => {
                let (code, reason) = match &error {
                    LogError::NotFound { .. } => (StatusCode::NOT_FOUND, "NotFound"),
                    LogError::Cluster { .. } => (StatusCode::BAD_GATEWAY, "ClusterUnavailable"),
                    LogError::Management(_) => {
                        (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable")
                    }
                };
                return status(code, reason, &format!("{error}; {}", error.next_step()));
            }
        };
    info!(
        user = %who,
        %namespace,
        target = target.name(),
        containers = gathered.sources.len(),
        follow = request.follow,
        "reading pod logs"
    );
    let statement = WireLine::Statement(gitopshq_engine::logs::statement(
        &request,
        &gathered.sources,
        &gathered.capped,
    ));
    let sources = gathered.sources.clone();
    let follow = request.follow;
    let per_source = move |source: Source| {
        let client = gathered.client_of(&source);
        let origin = source.origin();
        let lines: BoxStream<'static, Result<String, String>> = if request.follow {
            pod_logs::follow(client, source, request.clone()).boxed()
        } else {
            pod_logs::read_once(client, source, request.clone()).boxed()
        };
        lines
            .map(move |line| match line {
                Ok(text) => WireLine::Line(origin.clone(), text),
                Err(why) => WireLine::Failure(origin.clone(), why),
            })
            .boxed()
    };
    let lines: BoxStream<'static, WireLine> = if follow {
        with_keep_alive(
            stream::select_all(sources.into_iter().map(per_source)).boxed(),
            KEEP_ALIVE,
        )
    } else {
        stream::iter(sources).flat_map(per_source).boxed()
    };
    let body = stream::once(async move { statement })
        .chain(lines)
        .map(|line| Ok::<_, Infallible>(format!("{line}\n")));
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        Body::from_stream(body),
    )
        .into_response()
}

/// `lines`, with a [`WireLine::KeepAlive`] after each `every` of silence; it ends when `lines`
/// does.
fn with_keep_alive(
    lines: BoxStream<'static, WireLine>,
    every: std::time::Duration,
) -> BoxStream<'static, WireLine> {
    stream::unfold(lines, move |mut lines| async move {
        match tokio::time::timeout(every, lines.next()).await {
            Ok(Some(line)) => Some((line, lines)),
            Ok(None) => None,
            Err(_) => Some((WireLine::KeepAlive, lines)),
        }
    })
    .boxed()
}

/// `None` when RBAC lets `user` get the target's `log` subresource; otherwise the refusal, as
/// the API server words its own.
async fn allowed(
    client: &Client,
    user: &UserInfo,
    namespace: &str,
    target: &Target,
) -> Result<Option<String>, kube::Error> {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: user.username.clone(),
            groups: user.groups.clone(),
            extra: user.extra.clone(),
            uid: user.uid.clone(),
            resource_attributes: Some(ResourceAttributes {
                group: Some(API_GROUP.into()),
                version: Some(API_VERSION.into()),
                resource: Some(target.resource().into()),
                subresource: Some(SUBRESOURCE.into()),
                verb: Some("get".into()),
                namespace: Some(namespace.into()),
                name: Some(target.name().into()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let answer = Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await?;
    let status = answer.status.unwrap_or_default();
    if status.allowed && !status.denied.unwrap_or(false) {
        return Ok(None);
    }
    Ok(Some(format!(
        "{resource}.{API_GROUP} {name:?} is forbidden: User {user:?} cannot get resource \"{resource}/{SUBRESOURCE}\" in API group {API_GROUP:?} in the namespace {namespace:?}; pod logs need get on {resource}/{SUBRESOURCE} ({API_GROUP}), which the project roles Developer, Operator and Admin grant: ask the project's admins for one of them",
        resource = target.resource(),
        name = target.name(),
        user = user.username.clone().unwrap_or_default(),
    )))
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        gitopshq_engine::logs::status_json(code.as_u16(), reason, message),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitopshq_engine::logs::Origin;

    #[tokio::test]
    async fn a_quiet_follow_is_kept_alive_and_ends_with_its_lines() {
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let origin = Origin {
            tenant: "eu".into(),
            pod: "p".into(),
            container: "c".into(),
        };
        let line = WireLine::Line(origin, "started".into());
        let quiet_then_one_line = {
            let line = line.clone();
            stream::once(async move {
                let _ = rx.await;
                line
            })
            .boxed()
        };
        let mut followed =
            with_keep_alive(quiet_then_one_line, std::time::Duration::from_millis(10));
        // Without keep-alives nothing would come until the line is sent.
        let first = tokio::time::timeout(std::time::Duration::from_secs(10), followed.next()).await;
        assert_eq!(first, Ok(Some(WireLine::KeepAlive)));
        tx.send(()).unwrap();
        let mut rest = Vec::new();
        while let Some(next) = followed.next().await {
            rest.push(next);
        }
        assert_eq!(rest.last(), Some(&line));
        assert!(
            rest[..rest.len() - 1]
                .iter()
                .all(|l| *l == WireLine::KeepAlive)
        );
    }
}
