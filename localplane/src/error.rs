use std::{path::PathBuf, time::Duration};

/// Everything that can go wrong while bringing up or using the local control plane.
///
/// Process failures carry the tail of the process log: that is where the reason is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot build kube-apiserver and etcd: {message}")]
    Build { message: String },

    #[error("cannot build the sops CLI: {message}")]
    SopsBuild { message: String },

    #[error("cannot build {component}: {message}")]
    ComponentBuild {
        component: &'static str,
        message: String,
    },

    #[error("cannot generate certificates")]
    Certificate(#[from] rcgen::Error),

    #[error(
        "{component} exited before it was ready ({status}); last lines of its log:\n{log_tail}"
    )]
    Exited {
        component: &'static str,
        status: String,
        log_tail: String,
    },

    #[error("{component} was not ready after {timeout:?}; last lines of its log:\n{log_tail}")]
    NotReady {
        component: &'static str,
        timeout: Duration,
        log_tail: String,
    },

    #[error("invalid kubeconfig")]
    Kubeconfig(#[from] kube::config::KubeconfigError),

    #[error("Kubernetes API request failed")]
    Kube(#[from] kube::Error),

    #[error("cannot read CRDs from {file}: {message}")]
    Crd { file: PathBuf, message: String },

    #[error("CRD {name} was not Established after {timeout:?}")]
    CrdNotEstablished { name: String, timeout: Duration },

    #[error("unknown test user {0:?}; the users are listed in gitopshq_localplane::USERS")]
    UnknownUser(String),

    #[error("{action} failed: {stderr}")]
    Git { action: String, stderr: String },

    #[error("cannot encode {what}: {message}")]
    Encode { what: &'static str, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether this is a failure to listen on an address another process holds, which a
    /// caller may answer by taking a free port instead.
    pub fn is_address_in_use(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse)
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}
