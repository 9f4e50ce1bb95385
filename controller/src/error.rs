//! Errors of the reconcilers. Variant names are stable: they are the `error` label of the
//! reconcile-error metric.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API request failed while {action}")]
    Kube {
        action: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    Git(#[from] gitopshq_delivery::git::Error),
    #[error("cluster {cluster} is not usable: {reason}")]
    Cluster { cluster: String, reason: String },
    #[error("{object} changed while it was reconciled; reconciling it again")]
    Conflict { object: String },
    #[error("cannot decode {what}: {reason}")]
    Decode { what: String, reason: String },
    #[error("a blocking task failed")]
    Join(#[from] tokio::task::JoinError),
}

impl Error {
    /// The metric label of the error.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube { .. } => "Kube",
            Error::Git(_) => "Git",
            Error::Cluster { .. } => "Cluster",
            Error::Decode { .. } => "Decode",
            Error::Conflict { .. } => "Conflict",
            Error::Join(_) => "Join",
        }
    }
}

/// `map_err` helper naming what the request was for.
pub fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let action = action.into();
    move |source| Error::Kube { action, source }
}
