//! The HTTPS admission server: a lean axum router behind rustls.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::middleware::AddExtension;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_server::Handle;
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use gitopshq_engine::error::Chain;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tower::Layer;
use tracing::{info, warn};

use crate::Context;
use crate::error::{Error, Result};
use crate::front_proxy::ClientCertificate;
use crate::review::{Endpoint, review};
use crate::tls::{TlsMaterial, install_crypto_provider};

/// The API server sends at most two objects of etcd's 1.5 MiB limit plus the envelope; more is
/// not a real AdmissionReview and is refused before it is read into memory.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// `/validate`, `/mutate`, `/healthz`, `/readyz`, `/metrics`.
pub fn router(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(ctx)
}

async fn validate(
    State(ctx): State<Arc<Context>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(ctx, body, Endpoint::Validate).await
}

async fn mutate(State(ctx): State<Arc<Context>>, body: Result<Bytes, BytesRejection>) -> Response {
    answer(ctx, body, Endpoint::Mutate).await
}

async fn answer(
    ctx: Arc<Context>,
    body: Result<Bytes, BytesRejection>,
    endpoint: Endpoint,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            // Over MAX_BODY_BYTES (413), or a body that could not be read: counted like the
            // bodies that are not AdmissionReviews.
            let reason = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                "TooLarge"
            } else {
                "Unreadable"
            };
            ctx.metrics.reject(reason);
            warn!(endpoint = endpoint.as_str(), error = %rejection.body_text(), "admission request body refused");
            return rejection.into_response();
        }
    };
    // Decisions may render a release or wait for an API lookup: off the async workers.
    let worker = Arc::clone(&ctx);
    let result = tokio::task::spawn_blocking(move || review(&body, endpoint, &worker)).await;
    match result {
        Ok(Ok(outcome)) => {
            if outcome.verdict != "allowed" {
                info!(
                    kind = %outcome.kind,
                    operation = outcome.operation,
                    verdict = outcome.verdict,
                    endpoint = endpoint.as_str(),
                    "admission decision"
                );
            }
            match serde_json::to_vec(&outcome.review) {
                Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
                Err(error) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response()
                }
            }
        }
        Ok(Err(error)) => {
            ctx.metrics.reject(error.label());
            let reason = Chain(&error).to_string();
            warn!(endpoint = endpoint.as_str(), error = %reason, "unreadable admission request");
            (StatusCode::BAD_REQUEST, reason).into_response()
        }
        Err(join) => {
            ctx.metrics.reject("Panic");
            warn!(endpoint = endpoint.as_str(), error = %join, "admission decision failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the admission decision failed; see the webhook's log",
            )
                .into_response()
        }
    }
}

async fn readyz(State(ctx): State<Arc<Context>>) -> Response {
    if ctx.is_ready() {
        "ok".into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "watch caches are still loading",
        )
            .into_response()
    }
}

async fn metrics(State(ctx): State<Arc<Context>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        ctx.metrics.encode(),
    )
        .into_response()
}

/// A running HTTPS server.
pub struct Running {
    pub address: SocketAddr,
    handle: Handle<SocketAddr>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// Stops accepting, lets in-flight reviews finish (up to 5 s) and waits for the server.
    pub async fn shutdown(mut self) -> Result<()> {
        self.handle
            .graceful_shutdown(Some(std::time::Duration::from_secs(5)));
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match task.await {
            Ok(result) => result.map_err(Error::Serve),
            Err(join) => Err(Error::Serve(std::io::Error::other(join))),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// Serves `router` over HTTPS on `address` (port 0 picks a free one).
pub async fn serve(router: Router, address: SocketAddr, tls: &TlsMaterial) -> Result<Running> {
    serve_with_client_ca(router, address, tls, None).await
}

/// As [`serve`]; with `client_ca` (PEM), a client may present a certificate that CA signed, and
/// each request carries the [`ClientCertificate`] of its connection. Clients without one (the
/// API server calling the admission webhook) are served as before.
pub async fn serve_with_client_ca(
    router: Router,
    address: SocketAddr,
    tls: &TlsMaterial,
    client_ca: Option<&str>,
) -> Result<Running> {
    install_crypto_provider();
    let config = server_config(tls, client_ca)?;
    let handle = Handle::new();
    let acceptor = CertificateAcceptor {
        inner: RustlsAcceptor::new(RustlsConfig::from_config(Arc::new(config))),
    };
    let server = axum_server::bind(address)
        .acceptor(acceptor)
        .handle(handle.clone());
    let task = tokio::spawn(server.serve(router.into_make_service()));
    let Some(address) = handle.listening().await else {
        let error = match task.await {
            Ok(Err(error)) => error,
            _ => std::io::Error::other("the server stopped before listening"),
        };
        return Err(Error::Bind {
            address: address.to_string(),
            source: error,
        });
    };
    Ok(Running {
        address,
        handle,
        task: Some(task),
    })
}

fn server_config(tls: &TlsMaterial, client_ca: Option<&str>) -> Result<ServerConfig> {
    let invalid = |what: &str| {
        let what = what.to_string();
        move |error: rustls::pki_types::pem::Error| Error::Tls(format!("{what}: {error}"))
    };
    let chain = CertificateDer::pem_slice_iter(tls.cert_pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(invalid("the serving certificate"))?;
    let key = PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes())
        .map_err(invalid("the serving key"))?;
    let builder = ServerConfig::builder();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for certificate in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots
                    .add(certificate.map_err(invalid("the client CA"))?)
                    .map_err(|error| Error::Tls(format!("the client CA: {error}")))?;
            }
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .allow_unauthenticated()
                .build()
                .map_err(|error| Error::Tls(format!("the client CA: {error}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|error| Error::Tls(error.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts TLS connections and hands each request the [`ClientCertificate`] its connection
/// presented (rustls has verified it against the client CA during the handshake).
#[derive(Clone)]
struct CertificateAcceptor {
    inner: RustlsAcceptor,
}

impl<I, S> Accept<I, S> for CertificateAcceptor
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Send + 'static,
{
    type Stream = TlsStream<I>;
    type Service = AddExtension<S, ClientCertificate>;
    type Future =
        futures::future::BoxFuture<'static, std::io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            let (stream, service) = inner.accept(stream, service).await?;
            let name = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| common_name(leaf.as_ref()));
            Ok((stream, Extension(ClientCertificate(name)).layer(service)))
        })
    }
}

fn common_name(der: &[u8]) -> Option<String> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    certificate
        .subject()
        .iter_common_name()
        .next()
        .and_then(|name| name.as_str().ok())
        .map(str::to_string)
}
