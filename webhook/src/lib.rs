//! The admission shell of GitOpsHQ: an HTTPS server that answers the API server's
//! AdmissionReviews for GitOpsHQ objects by calling the engine's admission rules.
//!
//! - [`review`] decodes one review, calls the rule for its kind and encodes the answer;
//! - [`server`] is the axum router (`/validate`, `/mutate`, `/healthz`, `/readyz`, `/metrics`)
//!   and the rustls listener;
//! - [`directory`] keeps watch caches of the objects decisions read;
//! - [`config`] generates the Mutating/ValidatingWebhookConfiguration;
//! - [`front_proxy`] believes the caller of a request the API server forwards to an
//!   aggregated API only on the API server's front-proxy client certificate;
//! - [`certs`] keeps a self-managed serving certificate in a Secret and the caBundle in step;
//! - [`local`] runs all of it next to a local API server (sandbox and end-to-end tests).
#![forbid(unsafe_code)]

pub mod certs;
pub mod config;
pub mod directory;
pub mod error;
pub mod front_proxy;
pub mod local;
pub mod metrics;
pub mod review;
pub mod run;
pub mod server;
pub mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gitopshq_engine::admission::{Directory, Settings};
use gitopshq_engine::policy::{EvalLimits, PolicyEngine};

pub use error::{Error, Result, ReviewError};
pub use metrics::Metrics;
pub use review::{Endpoint, review};

/// Everything a review reads. Shared by all requests; decisions never write to it.
pub struct Context {
    pub directory: Arc<dyn Directory + Send + Sync>,
    pub policies: PolicyEngine,
    pub settings: Settings,
    pub metrics: Metrics,
    /// The time decisions use; tests pin it.
    pub clock: fn() -> jiff::Timestamp,
    ready: AtomicBool,
}

impl Context {
    pub fn new(directory: Arc<dyn Directory + Send + Sync>, settings: Settings) -> Self {
        Self {
            directory,
            policies: PolicyEngine::new(EvalLimits::default()),
            settings,
            metrics: Metrics::default(),
            clock: jiff::Timestamp::now,
            ready: AtomicBool::new(false),
        }
    }

    pub fn with_clock(mut self, clock: fn() -> jiff::Timestamp) -> Self {
        self.clock = clock;
        self
    }

    /// Ready once the watch caches have their first full list: earlier answers could deny
    /// releases for objects the cache has not seen yet.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}
