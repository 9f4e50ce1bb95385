//! Errors of the admission shell. Variant names are stable: they are metric labels.

use kube::core::admission::SerializePatchError;

/// A body the server cannot answer with an AdmissionResponse: answered with 400 and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("the body is not an AdmissionReview (admission.k8s.io/v1)")]
    Decode(#[source] serde_json::Error),
    #[error("the AdmissionReview has no request")]
    MissingRequest,
    #[error("not an admission.k8s.io/v1 AdmissionReview: {0}")]
    Envelope(String),
    #[error("the response patch could not be encoded")]
    Patch(#[source] SerializePatchError),
}

impl ReviewError {
    pub fn label(&self) -> &'static str {
        match self {
            ReviewError::Decode(_) => "Decode",
            ReviewError::MissingRequest => "MissingRequest",
            ReviewError::Envelope(_) => "Envelope",
            ReviewError::Patch(_) => "Patch",
        }
    }
}

/// Errors starting or running the webhook server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read TLS material {path}")]
    ReadTls {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS configuration is not usable: {0}")]
    Tls(String),
    #[error("cannot listen on {address}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("serving HTTPS failed")]
    Serve(#[source] std::io::Error),
    #[error("Kubernetes API request failed")]
    Kube(#[from] kube::Error),
    #[error("the API server's front-proxy settings are not usable: {0}")]
    FrontProxy(String),
    #[error("cannot generate a certificate")]
    Certificate(#[from] rcgen::Error),
    #[error(
        "the GitOpsHQ CRDs are not installed ({0}); install them with `gitopshq crds | kubectl apply --server-side -f -`"
    )]
    CrdsMissing(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
