//! A scripted Kubernetes API for reconciler tests: the [`Context`]'s client talks to a
//! [`tower_test::mock`] service, and a verifier answers each request with the next exchange of
//! a [`Scenario`] — after checking it is the request the scenario expects (method and path) —
//! and records what the reconciler sent. A request the scenario does not expect, or one more
//! than it lists, fails the test naming the request.
//!
//! A test fills the [`Index`] (what the watches would have loaded), scripts the scenario,
//! runs the reconciler and then [`Verifier::finish`]es, which returns the requests' bodies for
//! the test to check what each write said.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use jiff::Timestamp;
use kube::client::Body;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::config::Settings;
use crate::context::Context;
use crate::index::Index;
use crate::metrics::Metrics;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// How long the verifier waits for the next request. A guard against a test that hangs (a
/// reconciler waiting forever), never a measure: a healthy test ends well before it.
const REQUEST_GUARD: Duration = Duration::from_secs(30);

/// The time every mocked context reads: decisions and condition timestamps are reproducible.
pub(crate) const NOW: &str = "2026-12-01T10:00:00Z";

fn fixed_now() -> Timestamp {
    NOW.parse().expect("NOW is a timestamp")
}

/// A context over the mocked API, reading `index` and keeping its caches under `cache_dir`.
pub(crate) fn context(index: Index, cache_dir: &Path) -> (Arc<Context>, ApiServer) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let mut ctx = Context::new(
        client,
        Arc::new(index),
        Settings::local(cache_dir.to_path_buf()),
        Arc::new(Metrics::default()),
    );
    ctx.clock = fixed_now;
    (Arc::new(ctx), ApiServer { handle })
}

/// The server side of the mocked API, until a scenario runs on it.
pub(crate) struct ApiServer {
    handle: Handle,
}

impl ApiServer {
    /// Answers the client's requests with `scenario`, in order, until the client is dropped.
    pub(crate) fn run(self, scenario: Scenario) -> Verifier {
        Verifier {
            task: tokio::spawn(verify(self.handle, scenario.exchanges)),
        }
    }
}

/// A request the reconciler sent.
#[derive(Debug)]
pub(crate) struct Seen {
    pub method: Method,
    pub path: String,
    pub query: String,
    /// The JSON body (`Null` when there was none).
    pub body: Value,
}

/// The answer to an expected request.
pub(crate) enum Reply {
    /// 200 with the request's own body, as a create or an Event would be stored.
    Echo,
    /// 200 with this object and the `status` the request sent, as a status write is stored.
    WithStatus(Value),
    /// 200 with this body.
    Json(Value),
    /// An API error (`Status` object) with this code and message.
    Error(StatusCode, String),
}

struct Exchange {
    method: Method,
    path: String,
    reply: Reply,
}

/// The requests a test expects, in order, and their answers.
#[derive(Default)]
pub(crate) struct Scenario {
    exchanges: Vec<Exchange>,
}

impl Scenario {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Expects `method` on `path` (without the query) next, answered with `reply`.
    pub(crate) fn expect(mut self, method: Method, path: impl Into<String>, reply: Reply) -> Self {
        self.exchanges.push(Exchange {
            method,
            path: path.into(),
            reply,
        });
        self
    }

    /// Expects the status of `object` to be written next (server-side apply on `/status`).
    pub(crate) fn status_patch<K>(self, object: &K) -> Self
    where
        K: Resource<DynamicType = ()> + Serialize,
    {
        let path = format!("{}/status", object_path(object));
        let stored = serde_json::to_value(object).expect("the object serialises");
        self.expect(Method::PATCH, path, Reply::WithStatus(stored))
    }

    /// Expects an Event about an object in `namespace` (`default` for cluster-scoped ones).
    pub(crate) fn event(self, namespace: &str) -> Self {
        self.expect(
            Method::POST,
            format!("/apis/events.k8s.io/v1/namespaces/{namespace}/events"),
            Reply::Echo,
        )
    }
}

/// The API path of `object`.
pub(crate) fn object_path<K: Resource<DynamicType = ()>>(object: &K) -> String {
    let url = K::url_path(&(), object.namespace().as_deref());
    format!("{url}/{}", object.name_any())
}

/// The task answering the requests; [`Verifier::finish`] ends it.
pub(crate) struct Verifier {
    task: JoinHandle<Vec<Seen>>,
}

impl Verifier {
    /// Waits until the client is gone (drop the context first) and returns what the reconciler
    /// sent; fails the test with the verifier's message when a request was not the expected one
    /// or an expected one never came.
    pub(crate) async fn finish(self) -> Vec<Seen> {
        match self.task.await {
            Ok(seen) => seen,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => panic!("the API verifier did not finish: {error}"),
        }
    }
}

async fn verify(mut handle: Handle, exchanges: Vec<Exchange>) -> Vec<Seen> {
    let mut expected: VecDeque<Exchange> = exchanges.into();
    let mut seen = Vec::new();
    loop {
        let next = tokio::time::timeout(REQUEST_GUARD, handle.next_request()).await;
        let Ok(next) = next else {
            panic!(
                "no request for {REQUEST_GUARD:?}; still expected: {}",
                describe(&expected)
            );
        };
        let Some((request, respond)) = next else {
            // The client is gone: every expected request must have come.
            assert!(
                expected.is_empty(),
                "the reconciler finished without sending: {}",
                describe(&expected)
            );
            return seen;
        };
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.expect("the request body reads");
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("a JSON request body")
        };
        let request = Seen {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or_default().to_string(),
            body,
        };
        let Some(exchange) = expected.pop_front() else {
            panic!(
                "unexpected request after the scenario ended: {} {}?{}\nbody: {:#}",
                request.method, request.path, request.query, request.body
            );
        };
        assert!(
            exchange.method == request.method && exchange.path == request.path,
            "unexpected request {} {}?{}\nexpected {} {}\nbody: {:#}",
            request.method,
            request.path,
            request.query,
            exchange.method,
            exchange.path,
            request.body
        );
        let (status, answer) = answer(exchange.reply, &request.body);
        let response = Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(
                serde_json::to_vec(&answer).expect("the answer serialises"),
            ))
            .expect("a valid response");
        respond.send_response(response);
        seen.push(request);
    }
}

fn answer(reply: Reply, body: &Value) -> (StatusCode, Value) {
    match reply {
        Reply::Echo => (StatusCode::OK, body.clone()),
        Reply::WithStatus(mut object) => {
            object["status"] = body["status"].clone();
            (StatusCode::OK, object)
        }
        Reply::Json(value) => (StatusCode::OK, value),
        Reply::Error(code, message) => (
            code,
            json!({
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": message,
                // The API server's reasons are the phrases in CamelCase ("NotFound"), which
                // is what kube's `is_not_found()` and the like compare.
                "reason": code.canonical_reason().unwrap_or_default().replace(' ', ""),
                "code": code.as_u16(),
            }),
        ),
    }
}

fn describe(expected: &VecDeque<Exchange>) -> String {
    expected
        .iter()
        .map(|e| format!("{} {}", e.method, e.path))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A workload cluster's API server on 127.0.0.1, for what reaches a cluster through its
/// kubeconfig (the heartbeat, health and drift) and so cannot go through the scripted API: it
/// answers a GET of a listed path with that path's JSON (a `Status` from [`api_error`] with its
/// code, whatever the request), holds a watch (`watch=true`) open
/// without sending an event (a cache stays as its list left it), and answers anything else
/// 404. It records the requests (`GET /path?query`) for the test to check.
pub(crate) struct LoopbackCluster {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl LoopbackCluster {
    /// Serves `answers`: (path without the query, JSON answer).
    pub(crate) async fn serve(answers: Vec<(&str, Value)>) -> Self {
        use axum::extract::State;
        use axum::response::IntoResponse;

        type Shared = (
            Arc<std::collections::HashMap<String, Value>>,
            Arc<std::sync::Mutex<Vec<String>>>,
        );
        async fn handle(
            State((answers, seen)): State<Shared>,
            request: axum::extract::Request,
        ) -> axum::response::Response {
            let path = request.uri().path().to_string();
            let query = request.uri().query().unwrap_or_default().to_string();
            seen.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(format!("{} {path}?{query}", request.method()));
            let watch = query
                .split('&')
                .any(|p| p == "watch=true" || p == "watch=1");
            match answers.get(&path) {
                Some(status) if status["kind"] == "Status" => {
                    let code = status["code"]
                        .as_u64()
                        .and_then(|c| StatusCode::from_u16(c as u16).ok())
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    (code, axum::Json(status.clone())).into_response()
                }
                Some(_) if watch => {
                    let quiet = futures::stream::pending::<
                        std::result::Result<axum::body::Bytes, std::convert::Infallible>,
                    >();
                    (
                        [("content-type", "application/json")],
                        axum::body::Body::from_stream(quiet),
                    )
                        .into_response()
                }
                Some(found) if request.method() == Method::GET => {
                    axum::Json(found.clone()).into_response()
                }
                _ => {
                    let status = api_error(StatusCode::NOT_FOUND, &format!("{path} not found"));
                    (StatusCode::NOT_FOUND, axum::Json(status)).into_response()
                }
            }
        }

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let answers: std::collections::HashMap<String, Value> = answers
            .into_iter()
            .map(|(path, value)| (path.to_string(), value))
            .collect();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let router = axum::Router::new()
            .fallback(handle)
            .with_state((Arc::new(answers), Arc::clone(&seen)));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { url, seen, task }
    }

    /// The requests it answered so far, in order (`GET /api/v1?`).
    pub(crate) fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for LoopbackCluster {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The API server's answer to a refused request: a `Status` with `code` and `message`.
pub(crate) fn api_error(code: StatusCode, message: &str) -> Value {
    answer(Reply::Error(code, message.to_string()), &Value::Null).1
}

/// A kubeconfig (one context, a token) for the API server at `server`.
pub(crate) fn kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\nusers:\n- name: u\n  user:\n    token: test-token\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n"
    )
}

/// The Secret `namespace/name` holding `kubeconfig` under the key `kubeconfig`, as the API
/// returns it (resourceVersion `1`).
pub(crate) fn kubeconfig_secret(namespace: &str, name: &str, kubeconfig: &str) -> Value {
    let secret = k8s_openapi::api::core::v1::Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            resource_version: Some("1".into()),
            ..Default::default()
        },
        data: Some(
            [(
                "kubeconfig".to_string(),
                k8s_openapi::ByteString(kubeconfig.as_bytes().to_vec()),
            )]
            .into(),
        ),
        ..Default::default()
    };
    let mut value = serde_json::to_value(secret).expect("a Secret serialises");
    value["apiVersion"] = "v1".into();
    value["kind"] = "Secret".into();
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "/api/v1/namespaces/shop/secrets/token";

    fn not_found() -> Reply {
        Reply::Error(StatusCode::NOT_FOUND, "not found".into())
    }

    /// Reads the Secrets `names` of namespace `shop` through a context over `scenario`.
    async fn read_secrets(names: &[&str], scenario: Scenario) -> Vec<Seen> {
        let cache = tempfile::tempdir().unwrap();
        let (ctx, server) = context(Index::new(), cache.path());
        let verifier = server.run(scenario);
        for name in names {
            let _ = ctx.secret_data("shop", name).await;
        }
        drop(ctx);
        verifier.finish().await
    }

    #[tokio::test]
    async fn the_expected_requests_are_answered_and_recorded() {
        let scenario = Scenario::new()
            .expect(Method::GET, TOKEN, not_found())
            .expect(Method::GET, TOKEN, not_found());

        let seen = read_secrets(&["token", "token"], scenario).await;

        assert_eq!(seen.len(), 2);
        assert_eq!(
            (&seen[0].method, seen[0].path.as_str()),
            (&Method::GET, TOKEN)
        );
    }

    #[tokio::test]
    #[should_panic(
        expected = "unexpected request GET /api/v1/namespaces/shop/secrets/other?\nexpected GET /api/v1/namespaces/shop/secrets/token"
    )]
    async fn a_request_other_than_the_expected_one_fails_the_test() {
        read_secrets(
            &["other"],
            Scenario::new().expect(Method::GET, TOKEN, not_found()),
        )
        .await;
    }

    #[tokio::test]
    #[should_panic(expected = "unexpected request after the scenario ended: GET")]
    async fn a_request_beyond_the_scenario_fails_the_test() {
        read_secrets(&["token"], Scenario::new()).await;
    }

    #[tokio::test]
    #[should_panic(expected = "the reconciler finished without sending: GET")]
    async fn an_expected_request_that_never_comes_fails_the_test() {
        read_secrets(&[], Scenario::new().expect(Method::GET, TOKEN, not_found())).await;
    }
}
