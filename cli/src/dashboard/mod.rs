//! `gitopshq dashboard`: the web pages of GitOpsHQ and their JSON API on one port. It adds no
//! decisions: pages show what the API holds and what the engine makes of it, and every action
//! is made as the signed-in person, so RBAC and the admission webhook decide as for kubectl.

mod actions;
mod api;
mod assets;
mod auth;
mod authoring;
mod diagnostics;
mod error;
mod events;
mod objects;
mod pages;
mod repository;
mod variables;
mod workbench;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use axum::Router;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gitopshq_controller::receiver::{Error as ServeError, serve_router};

use crate::kube_client::{KubeArgs, block_on};
use error::ApiError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to serve the pages and API on.
    #[arg(
        long,
        env = "GITOPSHQ_DASHBOARD_ADDRESS",
        default_value = "127.0.0.1:8090"
    )]
    pub address: SocketAddr,
    /// PEM certificate to serve HTTPS with (then the session cookie is Secure).
    #[arg(long, env = "GITOPSHQ_DASHBOARD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "GITOPSHQ_DASHBOARD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Where clones of GitOps repositories are cached for the audit page.
    #[arg(
        long,
        env = "GITOPSHQ_CACHE_DIR",
        value_name = "DIR",
        default_value = "/tmp/gitopshq-dashboard-cache"
    )]
    pub cache_dir: PathBuf,
    /// Mark the session cookie Secure even over plain HTTP (behind a TLS-terminating proxy).
    #[arg(long, env = "GITOPSHQ_DASHBOARD_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Only the API server's address and CA are used from these: people sign in with their own
    /// tokens, and the dashboard never acts with its own credentials for them.
    #[command(flatten)]
    pub kube: KubeArgs,
    /// The controller's: release previews lay out the Argo CD and Flux objects as it does.
    #[command(flatten)]
    pub gitops: gitopshq_controller::config::GitOpsArgs,
}

/// What every request shares.
pub struct State {
    people: auth::People,
    git_cache: PathBuf,
    secure_cookies: bool,
    /// How the controller lays out Argo CD and Flux objects, for the previews.
    gitops: gitopshq_engine::layout::GitOpsSettings,
    /// The policy page's evaluations: the admission webhook's engine, its caches shared by
    /// everyone signed in (they are keyed by content, so no one sees another's results).
    policies: gitopshq_engine::policy::PolicyEngine,
}

impl State {
    /// `base`: where the API server is and how to trust it; its credentials are never used.
    pub fn new(
        base: kube::Config,
        git_cache: PathBuf,
        secure_cookies: bool,
        gitops: gitopshq_engine::layout::GitOpsSettings,
    ) -> Arc<Self> {
        Arc::new(Self {
            people: auth::People::new(base),
            git_cache,
            secure_cookies,
            gitops,
            policies: gitopshq_engine::policy::PolicyEngine::default(),
        })
    }
}

impl State {
    /// What `release` would change in its repository now, read through the clone cache and
    /// laid out with the controller's settings (off the runtime: it reads Git).
    pub async fn preview(
        &self,
        catalog: gitopshq_engine::catalog::Catalog,
        release: gitopshq_crds::release::Release,
    ) -> Result<anyhow::Result<crate::commands::diff::Preview>, tokio::task::JoinError> {
        let repo = crate::release_delivery::RepoArgs {
            repo: None,
            branch: None,
            cache_dir: Some(self.git_cache.clone()),
        };
        let settings = self.gitops.clone();
        tokio::task::spawn_blocking(move || {
            crate::commands::diff::preview(&catalog, &release, &repo, settings)
        })
        .await
    }
}

/// The pages and the API.
pub fn router(state: Arc<State>) -> Router {
    let api = Router::new()
        .route(
            "/session",
            get(actions::whoami)
                .post(actions::sign_in)
                .delete(actions::sign_out),
        )
        .route("/fleet", get(pages::fleet))
        .route("/projects/{name}", get(pages::project))
        .route(
            "/projects/{name}/workloads/{workload}/values",
            get(authoring::values_editor).post(authoring::save_values),
        )
        .route(
            "/projects/{name}/workloads/{workload}/values/check",
            post(pages::check_values),
        )
        .route(
            "/projects/{name}/workloads/{workload}/values/preview",
            post(pages::preview_values),
        )
        .route("/projects/{name}/releases", post(authoring::create_release))
        .route(
            "/projects/{name}/variables",
            get(variables::scopes).post(variables::change),
        )
        .route("/projects/{name}/repository/log", get(repository::history))
        .route("/projects/{name}/repository/tree", get(repository::tree))
        .route(
            "/projects/{name}/repository/commits/{commit}",
            get(repository::commit),
        )
        .route("/releases", get(pages::releases))
        .route("/releases/{namespace}/{name}", get(pages::release))
        .route(
            "/releases/{namespace}/{name}/decision",
            post(actions::decide),
        )
        .route(
            "/releases/{namespace}/{name}/cancel",
            post(actions::cancel_release),
        )
        .route(
            "/releases/{namespace}/{name}/submit",
            post(authoring::submit_release),
        )
        .route(
            "/releases/{namespace}/{name}/rollback",
            post(authoring::rollback_to),
        )
        .route(
            "/releases/{namespace}/{name}/promote",
            post(authoring::promote),
        )
        .route("/approvals", get(pages::approvals))
        .route("/compare", get(pages::compare_sides))
        .route("/variables", get(pages::variables))
        .route("/charts", get(pages::charts))
        .route("/clusters", get(pages::clusters))
        .route(
            "/breakglass",
            get(pages::break_glass).post(actions::open_break_glass),
        )
        .route(
            "/breakglass/{namespace}/{name}/close",
            post(actions::close_break_glass),
        )
        .route("/audit", get(diagnostics::trail))
        .route("/logs", get(diagnostics::pod_logs))
        .route("/logs/stream", get(diagnostics::pod_log_stream))
        .route("/policies", get(workbench::policies))
        .route("/policies/{name}", get(workbench::policy))
        .route("/policies/{name}/test", post(workbench::run_tests))
        .route("/policies/{name}/evaluate", post(workbench::evaluate))
        .route("/search", get(pages::search))
        .route("/events", get(events::stream))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no such API path",
                Some("see docs/dashboard-api.md"),
            )
        })
        .layer(middleware::from_fn(same_origin_writes));
    Router::new()
        .nest("/api", api)
        .route("/healthz", get(|| async { "ok" }))
        .fallback(assets::serve)
        .with_state(state)
}

/// A cross-site form can send a cookie but not a custom header: every change must carry
/// `X-Requested-With: gitopshq`.
async fn same_origin_writes(request: Request, next: Next) -> Response {
    let writes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let marked = request
        .headers()
        .get("x-requested-with")
        .is_some_and(|v| v.as_bytes() == b"gitopshq");
    if writes && !marked {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "request refused: changes must carry the header X-Requested-With: gitopshq",
            Some("use the dashboard's pages, or send the header from your script"),
        )
        .into_response();
    }
    next.run(request).await
}

/// Serves the dashboard on `address` for the API server `base` points at (its credentials are
/// not used), caching repository clones in `cache_dir` and previewing releases with the
/// controller's `gitops` settings; plain HTTP, for a local control plane.
pub async fn serve_local(
    base: kube::Config,
    address: SocketAddr,
    cache_dir: PathBuf,
    gitops: gitopshq_engine::layout::GitOpsSettings,
) -> Result<gitopshq_controller::receiver::Serving> {
    serve_router(
        router(State::new(base, cache_dir, false, gitops)),
        address,
        None,
    )
    .await
    .map_err(|e| anyhow::Error::new(e).context("starting the dashboard"))
}

pub fn run(args: Args) -> Result<ExitCode> {
    block_on(serve(args))?
}

async fn serve(args: Args) -> Result<ExitCode> {
    let config = args.kube.configured().await?;
    let state = State::new(
        config,
        args.cache_dir.clone(),
        args.secure_cookies || args.tls_cert.is_some(),
        args.gitops.settings(),
    );
    let server = state.people.server();
    let tls = args.tls_cert.as_deref().zip(args.tls_key.as_deref());
    let serving = serve_router(router(state), args.address, tls)
        .await
        .map_err(|e| match e {
            ServeError::Bind { address, source } => anyhow::anyhow!(
                "cannot listen on --address {address}: {source}; pick a free address or port"
            ),
            other => anyhow::Error::new(other).context("starting the dashboard"),
        })?;
    let scheme = if serving.tls { "https" } else { "http" };
    eprintln!(
        "dashboard on {scheme}://{} for the API server at {server}; sign in with your bearer token",
        serving.address
    );
    gitopshq_controller::manager::shutdown_signal().await;
    serving.stop().await;
    Ok(ExitCode::SUCCESS)
}
