//! The container registry webhook receiver: `POST /registry/<source>[/<token>]`.
//!
//! A shell over the engine: [`registry_events`] authenticates and parses a delivery,
//! [`image_update`] judges each pushed tag for each Workload whose `spec.imageUpdate` follows
//! the repository and names the releases it makes. This module reads the shared secrets, the
//! Workloads and their Project, writes the new value (conditional on the resourceVersion the
//! verdict was taken on, so a concurrent edit is never lost: on a conflict it reads and judges
//! again), records `status.latestImageTag`, creates the submitted auto releases (named per
//! digest, so the same push twice finds the release it made), publishes Events on the Workload
//! and answers with a JSON summary of what it did.
//!
//! Secrets: one Secret (`--receiver-secret NAMESPACE/NAME`) holds one shared secret per source,
//! keyed by [`Source::name`] (`harbor`, `github`, `gitlab`, `dockerhub`, `quay`, `generic`); it
//! is read on each delivery, so a rotation needs no restart. A source without a key is refused.
//!
//! Status codes: 200 with the summary, 202 for a well-formed event that pushes nothing, 400 for
//! a body that is not the source's event (with the reason), 401 unsigned, 403 wrong signature or
//! token (or no secret for the source), 404 unknown source, 409 replayed (a delivery already
//! handled, or a signed timestamp outside the window), 413 body too large, 503 when the
//! Secret or the API cannot be read (the registry retries).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gitopshq_crds::consts::reasons;
use gitopshq_crds::project::Project;
use gitopshq_crds::release::Release;
use gitopshq_crds::workload::Workload;
use gitopshq_engine::error::Chain;
use gitopshq_engine::image_update::{self, Verdict};
use gitopshq_engine::registry_events::{
    self, AuthError, Delivery, ImagePush, MAX_BODY_BYTES, Parsed, ReplayCache, Source,
    normalize_repository,
};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::{Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde_json::json;
use tracing::{Instrument, info, info_span, warn};

use crate::index::Index;
use crate::metrics::Metrics;

/// Field manager of the value the receiver writes on a Workload.
pub const FIELD_MANAGER: &str = "gitopshq-receiver";
/// Reporter of the receiver's Events.
pub const REPORTER: &str = "gitopshq-receiver";
/// Times a Workload is read and judged again after a concurrent change.
const CONFLICT_RETRIES: usize = 5;

/// How the receiver is reached and where its secrets are.
#[derive(Debug, Clone, clap::Args)]
pub struct ReceiverOptions {
    /// Secret (NAMESPACE/NAME) holding one shared secret per registry source, keyed by the
    /// source name: harbor, github, gitlab, dockerhub, quay, generic.
    #[arg(
        long = "receiver-secret",
        env = "GITOPSHQ_RECEIVER_SECRET",
        default_value = "gitopshq-system/gitopshq-registry-webhooks",
        value_name = "NAMESPACE/NAME"
    )]
    pub secret: String,
    /// PEM certificate (chain) to serve the receiver over HTTPS; plain HTTP without it.
    #[arg(long, env = "GITOPSHQ_RECEIVER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "GITOPSHQ_RECEIVER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Largest request body accepted, in bytes (413 above).
    #[arg(long = "receiver-max-body", env = "GITOPSHQ_RECEIVER_MAX_BODY", default_value_t = MAX_BODY_BYTES)]
    pub max_body: usize,
}

impl Default for ReceiverOptions {
    fn default() -> Self {
        Self {
            secret: "gitopshq-system/gitopshq-registry-webhooks".into(),
            tls_cert: None,
            tls_key: None,
            max_body: MAX_BODY_BYTES,
        }
    }
}

/// Why the receiver cannot start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "--receiver-secret {0:?} is not NAMESPACE/NAME: name the Secret holding the registry secrets, e.g. gitopshq-system/gitopshq-registry-webhooks"
    )]
    SecretRef(String),
    #[error(
        "cannot read the receiver TLS certificate or key ({cert} / {key}): {reason}; check --tls-cert and --tls-key"
    )]
    Tls {
        cert: String,
        key: String,
        reason: String,
    },
    #[error("cannot listen on --receiver-address {address} (pick a free address or port)")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Where Workloads and Projects are read from.
#[derive(Clone)]
pub enum Objects {
    /// The controller's watch caches (the receiver runs in the controller).
    Index(Arc<Index>),
    /// The API, listed on each push (`gitopshq receiver` alone).
    Api,
}

/// The receiver's state.
pub struct Receiver {
    client: Client,
    objects: Objects,
    secret_namespace: String,
    secret_name: String,
    max_body: usize,
    replays: Mutex<ReplayCache>,
    metrics: Arc<Metrics>,
    recorder: Recorder,
    /// Serve `/metrics` on the receiver's port too (standalone: it has no other).
    serve_metrics: bool,
    clock: fn() -> Timestamp,
}

impl Receiver {
    pub fn new(
        client: Client,
        objects: Objects,
        options: &ReceiverOptions,
        metrics: Arc<Metrics>,
    ) -> Result<Self, Error> {
        let (namespace, name) = options
            .secret
            .split_once('/')
            .filter(|(ns, name)| !ns.is_empty() && !name.is_empty() && !name.contains('/'))
            .ok_or_else(|| Error::SecretRef(options.secret.clone()))?;
        let reporter = Reporter {
            controller: REPORTER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Ok(Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            objects,
            secret_namespace: namespace.to_string(),
            secret_name: name.to_string(),
            max_body: options.max_body.max(1),
            replays: Mutex::new(ReplayCache::default()),
            metrics,
            serve_metrics: false,
            clock: Timestamp::now,
        })
    }

    /// Also serve `/metrics` on the receiver's port.
    pub fn with_metrics_endpoint(mut self) -> Self {
        self.serve_metrics = true;
        self
    }

    /// The clock the replay window uses (tests move it).
    pub fn with_clock(mut self, clock: fn() -> Timestamp) -> Self {
        self.clock = clock;
        self
    }

    fn replays(&self) -> std::sync::MutexGuard<'_, ReplayCache> {
        self.replays.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `POST /registry/{source}`, `POST /registry/{source}/{token}`, `GET /healthz` (and
/// `/metrics` when asked).
pub fn router(receiver: Arc<Receiver>) -> Router {
    let mut router = Router::new()
        .route("/registry/{source}", post(without_token))
        .route("/registry/{source}/{token}", post(with_token))
        .route("/healthz", get(|| async { "ok" }));
    if receiver.serve_metrics {
        router = router.route("/metrics", get(metrics_text));
    }
    router.with_state(receiver)
}

async fn metrics_text(State(receiver): State<Arc<Receiver>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        receiver.metrics.encode(),
    )
}

/// The receiver, listening.
pub struct Serving {
    pub address: SocketAddr,
    pub tls: bool,
    handle: axum_server::Handle<SocketAddr>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Serving {
    /// Stops accepting and lets requests in flight finish (5 s at most).
    pub async fn stop(mut self) {
        self.handle
            .graceful_shutdown(Some(std::time::Duration::from_secs(5)));
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Until the server stops on its own (an accept error).
    pub async fn wait(mut self) -> std::io::Result<()> {
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// Serves the receiver on `address` (port 0 picks one), over HTTPS when the options name a
/// certificate and key.
pub async fn serve(
    receiver: Arc<Receiver>,
    address: SocketAddr,
    options: &ReceiverOptions,
) -> Result<Serving, Error> {
    let tls = options.tls_cert.as_deref().zip(options.tls_key.as_deref());
    let serving = serve_router(router(receiver), address, tls).await?;
    info!(address = %serving.address, tls = serving.tls, "serving the registry webhook receiver on /registry/<source>");
    Ok(serving)
}

/// Serves `app` on `address` (port 0 picks one), over HTTPS with `tls` (certificate and key
/// PEM files) when given; returns once it listens.
pub async fn serve_router(
    app: axum::Router,
    address: SocketAddr,
    tls: Option<(&std::path::Path, &std::path::Path)>,
) -> Result<Serving, Error> {
    let app = app.into_make_service();
    let handle = axum_server::Handle::new();
    let (task, tls) = match tls {
        Some((cert, key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(|e| Error::Tls {
                    cert: cert.display().to_string(),
                    key: key.display().to_string(),
                    reason: e.to_string(),
                })?;
            let server = axum_server::bind_rustls(address, config).handle(handle.clone());
            (tokio::spawn(server.serve(app)), true)
        }
        None => {
            let server = axum_server::bind(address).handle(handle.clone());
            (tokio::spawn(server.serve(app)), false)
        }
    };
    let Some(bound) = handle.listening().await else {
        let source = match task.await {
            Ok(Err(error)) => error,
            _ => std::io::Error::other("the server stopped before listening"),
        };
        return Err(Error::Bind { address, source });
    };
    Ok(Serving {
        address: bound,
        tls,
        handle,
        task: Some(task),
    })
}

/// The `token` query parameter, percent-decoded as the path form's token is. A `+` stays a
/// `+`: tokens are often base64, pasted into a registry's webhook form as they are. A value
/// that does not decode to UTF-8 is no token (the request is then refused as unauthenticated).
fn query_token(uri: &Uri) -> Option<String> {
    uri.query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "token")
        .and_then(|(_, value)| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .ok()
        })
        .map(|value| value.into_owned())
}

async fn without_token(
    State(receiver): State<Arc<Receiver>>,
    Path(source): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(receiver, source, None, query_token(&uri), headers, body).await
}

async fn with_token(
    State(receiver): State<Arc<Receiver>>,
    Path((source, token)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(
        receiver,
        source,
        Some(token),
        query_token(&uri),
        headers,
        body,
    )
    .await
}

/// A refusal: its status, the metric outcome and the reason told to the sender.
fn refuse(
    receiver: &Receiver,
    source: &str,
    status: StatusCode,
    outcome: &'static str,
    error: String,
) -> Response {
    receiver.metrics.registry_event(source, outcome);
    warn!(source, status = status.as_u16(), outcome, %error, "registry delivery refused");
    (
        status,
        axum::Json(json!({"outcome": outcome, "error": error})),
    )
        .into_response()
}

async fn handle(
    receiver: Arc<Receiver>,
    source_segment: String,
    path_token: Option<String>,
    query_token: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(source) = Source::from_path(&source_segment) else {
        let known: Vec<&str> = Source::ALL.iter().map(|s| s.name()).collect();
        return refuse(
            &receiver,
            "unknown",
            StatusCode::NOT_FOUND,
            "unknown_source",
            format!(
                "unknown registry source {source_segment:?}: POST to /registry/<source> with one of {}",
                known.join(", ")
            ),
        );
    };
    let name = source.name();
    let limit = receiver.max_body;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let too_large = || {
        refuse(
            &receiver,
            name,
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the body is larger than {limit} bytes; registries send a few KiB, so this is not a push event (raise --receiver-max-body if it is)"
            ),
        )
    };
    if declared.is_some_and(|d| d > limit) {
        return too_large();
    }
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return too_large();
    };
    let secret = match receiver.source_secret(source).await {
        Ok(secret) => secret,
        Err((status, outcome, error)) => return refuse(&receiver, name, status, outcome, error),
    };
    let header_pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let delivery = Delivery {
        source,
        headers: &header_pairs,
        path_token: path_token.as_deref(),
        query_token: query_token.as_deref(),
        body: &bytes,
    };
    let now = (receiver.clock)();
    let authenticated = match registry_events::authenticate(&delivery, &secret, now) {
        Ok(a) => a,
        Err(error) => {
            let status =
                StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
            let outcome = error.outcome();
            let text = match &error {
                AuthError::Unsigned(_) | AuthError::Invalid(_) => format!(
                    "{error} (the {name} secret is key {name} of Secret {}/{})",
                    receiver.secret_namespace, receiver.secret_name
                ),
                AuthError::Stale(_) => error.to_string(),
            };
            return refuse(&receiver, name, status, outcome, text);
        }
    };
    if receiver.replays().contains(&authenticated.delivery_id, now) {
        return refuse(
            &receiver,
            name,
            StatusCode::CONFLICT,
            "replayed",
            format!(
                "delivery {} was already handled: a replayed request changes nothing (send a new delivery to retry)",
                authenticated.delivery_id
            ),
        );
    }
    let pushes = match registry_events::parse(&delivery) {
        Ok(Parsed::Pushes(pushes)) => pushes,
        Ok(Parsed::Ignored(why)) => {
            receiver.replays().record(&authenticated.delivery_id, now);
            receiver.metrics.registry_event(name, "ignored");
            return (
                StatusCode::ACCEPTED,
                axum::Json(json!({"outcome": "ignored", "reason": why})),
            )
                .into_response();
        }
        Err(error) => {
            return refuse(
                &receiver,
                name,
                StatusCode::BAD_REQUEST,
                "bad_payload",
                error.to_string(),
            );
        }
    };
    let mut summaries = Vec::new();
    for push in &pushes {
        match receiver.apply_push(source, push).await {
            Ok(summary) => summaries.push(summary),
            Err(error) => {
                return refuse(
                    &receiver,
                    name,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "error",
                    format!("{}; the delivery can be retried", Chain(&error)),
                );
            }
        }
    }
    receiver.replays().record(&authenticated.delivery_id, now);
    receiver.metrics.registry_event(name, "accepted");
    (
        StatusCode::OK,
        axum::Json(json!({
            "outcome": "accepted",
            "source": name,
            "delivery": authenticated.delivery_id,
            "pushes": summaries,
        })),
    )
        .into_response()
}

/// What one push did.
#[derive(Debug, Serialize)]
pub struct PushSummary {
    pub repository: String,
    pub tag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub workloads: Vec<WorkloadSummary>,
}

/// What one push did to one Workload.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSummary {
    pub namespace: String,
    pub name: String,
    /// The verdict: `Updated`, `UpToDate`, `Downgrade`, `PatternMismatch`, …
    pub outcome: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<ReleaseSummary>,
}

/// An auto release: created now, already there, or refused by admission.
#[derive(Debug, Serialize)]
pub struct ReleaseSummary {
    pub name: String,
    pub environment: String,
    /// `Created`, `Exists` or `Refused`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A failure to read or write the API (503: the registry retries).
#[derive(Debug, thiserror::Error)]
#[error("{action}")]
pub struct ApiError {
    action: String,
    #[source]
    source: kube::Error,
}

fn api_error(action: impl Into<String>) -> impl FnOnce(kube::Error) -> ApiError {
    let action = action.into();
    move |source| ApiError { action, source }
}

type Refusal = (StatusCode, &'static str, String);

impl Receiver {
    /// The source's shared secret from the receiver Secret.
    async fn source_secret(&self, source: Source) -> Result<Vec<u8>, Refusal> {
        let (ns, secret_name) = (&self.secret_namespace, &self.secret_name);
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let secret = api.get_opt(secret_name).await.map_err(|e| {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "no_secret",
                format!("cannot read Secret {ns}/{secret_name} with the registry secrets: {e}"),
            )
        })?;
        let Some(secret) = secret else {
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                "no_secret",
                format!(
                    "Secret {ns}/{secret_name} with the registry secrets does not exist: create it, e.g. `kubectl -n {ns} create secret generic {secret_name} --from-literal={}=<secret>`",
                    source.name()
                ),
            ));
        };
        let value = secret
            .data
            .and_then(|d| d.get(source.name()).map(|v| v.0.clone()))
            .filter(|v| !v.is_empty());
        value.ok_or_else(|| {
            (
                StatusCode::FORBIDDEN,
                "no_secret",
                format!(
                    "source {} is not enabled: Secret {ns}/{secret_name} has no key {} (add the registry's shared secret under that key)",
                    source.name(),
                    source.name()
                ),
            )
        })
    }

    /// The Workloads whose image update policy follows the pushed repository.
    async fn candidates(&self, repository: &str) -> Result<Vec<(String, String)>, ApiError> {
        let wanted = normalize_repository(repository);
        let follows = |w: &Workload| {
            w.spec
                .image_update
                .as_ref()
                .is_some_and(|p| normalize_repository(&p.repository) == wanted)
        };
        let mut found: Vec<(String, String)> = match &self.objects {
            Objects::Index(index) => index
                .workloads
                .store
                .state()
                .iter()
                .filter(|w| follows(w))
                .map(|w| (w.namespace().unwrap_or_default(), w.name_any()))
                .collect(),
            Objects::Api => Api::<Workload>::all(self.client.clone())
                .list(&Default::default())
                .await
                .map_err(api_error("listing Workloads"))?
                .items
                .iter()
                .filter(|w| follows(w))
                .map(|w| (w.namespace().unwrap_or_default(), w.name_any()))
                .collect(),
        };
        found.sort();
        Ok(found)
    }

    async fn project_environments(&self, project: &str) -> Result<Vec<String>, ApiError> {
        if let Objects::Index(index) = &self.objects
            && let Some(p) = index
                .projects
                .store
                .get(&kube::runtime::reflector::ObjectRef::new(project))
        {
            return Ok(p.spec.environments.clone());
        }
        let found = Api::<Project>::all(self.client.clone())
            .get_opt(project)
            .await
            .map_err(api_error(format!("reading Project {project}")))?;
        Ok(found.map(|p| p.spec.environments).unwrap_or_default())
    }

    /// Judges and applies one push to every Workload that follows its repository.
    pub async fn apply_push(
        &self,
        source: Source,
        push: &ImagePush,
    ) -> Result<PushSummary, ApiError> {
        let mut workloads = Vec::new();
        for (namespace, name) in self.candidates(&push.repository).await? {
            let span =
                info_span!("image_update", kind = "Workload", %namespace, %name, tag = %push.tag);
            let summary = self
                .apply_to_workload(source, push, &namespace, &name)
                .instrument(span)
                .await?;
            self.metrics.image_update(summary.outcome);
            workloads.push(summary);
        }
        Ok(PushSummary {
            repository: push.repository.clone(),
            tag: push.tag.clone(),
            digest: push.digest.clone(),
            workloads,
        })
    }

    async fn apply_to_workload(
        &self,
        source: Source,
        push: &ImagePush,
        namespace: &str,
        name: &str,
    ) -> Result<WorkloadSummary, ApiError> {
        let api: Api<Workload> = Api::namespaced(self.client.clone(), namespace);
        let summary = |outcome, message| WorkloadSummary {
            namespace: namespace.to_string(),
            name: name.to_string(),
            outcome,
            message,
            releases: Vec::new(),
        };
        for _ in 0..CONFLICT_RETRIES {
            let Some(workload) = api
                .get_opt(name)
                .await
                .map_err(api_error(format!("reading Workload {namespace}/{name}")))?
            else {
                return Ok(summary("NotFound", "the workload was deleted".into()));
            };
            let verdict = image_update::judge(&workload, push);
            let message = verdict.message(&push.tag);
            let previous = match &verdict {
                Verdict::Update { previous } => previous.clone(),
                Verdict::UpToDate { ensure: true } => None,
                Verdict::InvalidPattern(_) | Verdict::Downgrade { .. } => {
                    self.event(
                        &workload,
                        true,
                        reasons::IMAGE_UPDATE_SKIPPED,
                        format!(
                            "{}:{} from {}: {message}",
                            push.repository,
                            push.tag,
                            source.name()
                        ),
                    )
                    .await;
                    return Ok(summary(verdict.outcome(), message));
                }
                _ => return Ok(summary(verdict.outcome(), message)),
            };
            let policy = workload.spec.image_update.clone().unwrap_or_default();
            if let Verdict::Update { .. } = verdict {
                let patch = image_update::value_patch(
                    &policy,
                    &push.tag,
                    workload.resource_version().as_deref(),
                );
                match api
                    .patch(
                        name,
                        &PatchParams {
                            field_manager: Some(FIELD_MANAGER.into()),
                            ..PatchParams::default()
                        },
                        &Patch::Merge(&patch),
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(kube::Error::Api(status)) if status.code == 409 => {
                        info!("the workload changed meanwhile; judging the push again");
                        continue;
                    }
                    Err(error) => {
                        return Err(api_error(format!(
                            "writing spec.values.{} of Workload {namespace}/{name}",
                            policy.value_path
                        ))(error));
                    }
                }
                // The value is set: the releases follow even if the status cannot be written
                // (a retried delivery then finds the workload up to date and its releases).
                if let Err(error) = api
                    .patch_status(
                        name,
                        &PatchParams {
                            field_manager: Some(FIELD_MANAGER.into()),
                            ..PatchParams::default()
                        },
                        &Patch::Merge(json!({"status": {"latestImageTag": push.tag}})),
                    )
                    .await
                {
                    warn!(%error, "could not write status.latestImageTag; the image update goes on");
                }
                info!(previous = ?previous, "image updated");
                self.event(
                    &workload,
                    false,
                    reasons::IMAGE_UPDATED,
                    format!(
                        "{} set to {} ({}:{} announced by {})",
                        policy.value_path,
                        push.tag,
                        push.repository,
                        push.tag,
                        source.name()
                    ),
                )
                .await;
            }
            let releases = self
                .auto_releases(&workload, source, push, previous.as_deref())
                .await?;
            return Ok(WorkloadSummary {
                releases,
                ..summary(verdict.outcome(), message)
            });
        }
        Ok(summary(
            "Conflict",
            format!(
                "Workload {namespace}/{name} kept changing while the push was applied; send the event again"
            ),
        ))
    }

    /// Creates the submitted auto release of each `autoRelease` environment (one per digest:
    /// an existing one is left as it is).
    async fn auto_releases(
        &self,
        workload: &Workload,
        source: Source,
        push: &ImagePush,
        previous: Option<&str>,
    ) -> Result<Vec<ReleaseSummary>, ApiError> {
        let Some(policy) = &workload.spec.image_update else {
            return Ok(Vec::new());
        };
        let namespace = workload.namespace().unwrap_or_default();
        let environments =
            image_update::auto_environments(policy, &self.project_environments(&namespace).await?);
        let api: Api<Release> = Api::namespaced(self.client.clone(), &namespace);
        let mut out = Vec::new();
        for environment in environments {
            let release =
                image_update::auto_release(workload, &environment, push, previous, source.name());
            let name = release.name_any();
            let result = api.create(&PostParams::default(), &release).await;
            let summary = match result {
                Ok(_) => {
                    self.event(
                        workload,
                        false,
                        reasons::AUTO_RELEASE_CREATED,
                        format!(
                            "release {name} \"{}\" submitted to {environment}",
                            release.spec.title
                        ),
                    )
                    .await;
                    ReleaseSummary {
                        name,
                        environment,
                        outcome: "Created",
                        message: None,
                    }
                }
                Err(kube::Error::Api(status)) if status.reason == "AlreadyExists" => {
                    ReleaseSummary {
                        name,
                        environment,
                        outcome: "Exists",
                        message: Some("created for this digest before".into()),
                    }
                }
                Err(kube::Error::Api(status)) if (400..500).contains(&status.code) => {
                    // Admission refused it (a freeze, a policy, a permission): the value
                    // stays updated and the next release of the environment carries it.
                    let message = format!(
                        "release {name} for {environment} was refused: {}; release it by hand once the gate allows (kubectl gitopshq release create …)",
                        status.message
                    );
                    self.event(
                        workload,
                        true,
                        reasons::AUTO_RELEASE_REFUSED,
                        message.clone(),
                    )
                    .await;
                    ReleaseSummary {
                        name,
                        environment,
                        outcome: "Refused",
                        message: Some(message),
                    }
                }
                Err(error) => {
                    return Err(api_error(format!("creating Release {namespace}/{name}"))(
                        error,
                    ));
                }
            };
            out.push(summary);
        }
        Ok(out)
    }

    async fn event(&self, workload: &Workload, warning: bool, reason: &str, note: String) {
        crate::context::publish_event(
            &self.recorder,
            &workload.object_ref(&()),
            warning,
            reason,
            note,
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// A client of an API server that is nowhere: refusals made before any API read still
    /// answer.
    fn unreachable_client() -> Client {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        Client::try_from(config).unwrap()
    }

    fn unreachable_receiver(options: &ReceiverOptions) -> Receiver {
        Receiver::new(unreachable_client(), Objects::Api, options, Arc::default()).unwrap()
    }

    /// The status of the answer to a POST of `body` to `url`, and its JSON (`Null` when it
    /// has none).
    async fn post(
        http: &reqwest::Client,
        url: String,
        body: impl Into<reqwest::Body>,
    ) -> (reqwest::StatusCode, Value) {
        let answer = http.post(url).body(body).send().await.unwrap();
        let status = answer.status();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn serving(max_body: usize) -> Serving {
        let options = ReceiverOptions {
            max_body,
            ..ReceiverOptions::default()
        };
        let receiver = unreachable_receiver(&options).with_metrics_endpoint();
        serve(Arc::new(receiver), "127.0.0.1:0".parse().unwrap(), &options)
            .await
            .unwrap()
    }

    #[test]
    fn the_query_token_is_percent_decoded_and_keeps_its_plus_signs() {
        let token = |uri: &str| query_token(&uri.parse::<Uri>().unwrap());
        assert_eq!(
            token("/registry/quay?token=abc123").as_deref(),
            Some("abc123")
        );
        assert_eq!(
            token("/registry/quay?x=1&token=a%2Bb%2Fc%3D%3D").as_deref(),
            Some("a+b/c==")
        );
        assert_eq!(token("/registry/quay?token=a+b").as_deref(), Some("a+b"));
        assert_eq!(token("/registry/quay?token=%FF%FE"), None, "not UTF-8");
        assert_eq!(token("/registry/quay?tokens=x"), None);
        assert_eq!(token("/registry/quay"), None);
    }

    #[tokio::test]
    async fn unknown_sources_and_oversized_bodies_are_refused_before_anything_is_read() {
        let serving = serving(64).await;
        let base = format!("http://{}", serving.address);
        let http = reqwest::Client::new();
        let (status, body) = post(&http, format!("{base}/registry/nexus"), "{}").await;
        assert_eq!(status, 404);
        assert_eq!(body["outcome"], "unknown_source");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("dockerhub, harbor, github, gitlab, quay, generic"),
            "{body}"
        );
        let (status, body) = post(&http, format!("{base}/registry/harbor"), vec![b'x'; 65]).await;
        assert_eq!(status, 413);
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("larger than 64 bytes"),
            "{body}"
        );
        // The Secret cannot be read: 503, so the registry retries.
        let (status, _) = post(&http, format!("{base}/registry/harbor"), "{}").await;
        assert_eq!(status, 503);
        let metrics = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains(
                r#"gitopshq_controller_registry_events_total{source="harbor",outcome="too_large"} 1"#
            ),
            "{metrics}"
        );
        serving.stop().await;
    }

    #[tokio::test]
    async fn tls_is_served_with_the_given_certificate() {
        let tls = gitopshq_webhook::tls::TlsMaterial::generate(&["127.0.0.1"]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        std::fs::write(&cert, &tls.cert_pem).unwrap();
        std::fs::write(&key, &tls.key_pem).unwrap();
        let options = ReceiverOptions {
            tls_cert: Some(cert),
            tls_key: Some(key),
            ..ReceiverOptions::default()
        };
        let receiver = unreachable_receiver(&options);
        let serving = serve(Arc::new(receiver), "127.0.0.1:0".parse().unwrap(), &options)
            .await
            .unwrap();
        assert!(serving.tls);
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(tls.ca_pem.as_bytes()).unwrap())
            .build()
            .unwrap();
        let answer = http
            .get(format!("https://{}/healthz", serving.address))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert!(
            reqwest::get(format!("http://{}/healthz", serving.address))
                .await
                .is_err(),
            "plain HTTP is not served on the TLS port"
        );
        // A missing key file names both paths and the flags.
        let broken = ReceiverOptions {
            tls_key: Some(dir.path().join("missing.key")),
            ..options.clone()
        };
        let receiver = unreachable_receiver(&broken);
        let err = serve(Arc::new(receiver), "127.0.0.1:0".parse().unwrap(), &broken)
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("missing.key"), "{err}");
        assert!(
            err.to_string().contains("--tls-cert and --tls-key"),
            "{err}"
        );
        serving.stop().await;
    }

    #[tokio::test]
    async fn the_secret_reference_is_namespace_and_name() {
        let client = unreachable_client();
        for bad in ["gitopshq-registry-webhooks", "/name", "ns/", "a/b/c"] {
            let options = ReceiverOptions {
                secret: bad.into(),
                ..ReceiverOptions::default()
            };
            let err = Receiver::new(client.clone(), Objects::Api, &options, Arc::default())
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(err.to_string().contains("is not NAMESPACE/NAME"), "{err}");
        }
    }
}
