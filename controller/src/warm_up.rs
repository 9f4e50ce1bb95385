//! Watch failures that are expected while the API server or the CRDs are still coming up
//! (connection refused, a 5xx or 429 answer, a kind not served yet): every watch retries them
//! with backoff, so they are logged as "waiting for …" at info level. The same failure lasting
//! past [`WARM_UP`] is a warning; any other failure (403, an object that does not decode) is an
//! error from the first time.

use std::time::{Duration, Instant};

use gitopshq_engine::error::Chain;
use kube::runtime::watcher;
use tracing::{error, info, warn};

/// How long a watch may keep failing in an expected way before it is worth a warning.
pub const WARM_UP: Duration = Duration::from_secs(60);

/// Whether `error` is what a starting API server answers: unreachable, overloaded, or not yet
/// serving the kind (its CRD is not Established yet).
pub fn is_warm_up(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => is_transient(e),
        watcher::Error::WatchError(status) => is_transient_code(status.code),
        watcher::Error::NoResourceVersion => false,
    }
}

fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => is_transient_code(status.code),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

fn is_transient_code(code: u16) -> bool {
    matches!(code, 404 | 429 | 500..=504)
}

/// The failures of one watch since it last succeeded, to log each at its level.
#[derive(Debug, Default)]
pub struct WatchFailures {
    since: Option<Instant>,
}

impl WatchFailures {
    /// The watch delivered an event: a later failure starts a new warm-up.
    pub fn succeeded(&mut self) {
        self.since = None;
    }

    /// Logs a failure of the watch of `kind`, which retries with backoff.
    pub fn failed(&mut self, kind: &str, failure: &watcher::Error) {
        let since = *self.since.get_or_insert_with(Instant::now);
        let error = Chain(failure);
        if !is_warm_up(failure) {
            error!(kind, %error, "watch failed; retrying with backoff");
        } else if since.elapsed() < WARM_UP {
            info!(kind, %error, "waiting for the API server to serve {kind}; retrying");
        } else {
            warn!(
                kind,
                %error,
                failing_for = ?since.elapsed(),
                "the API server still does not serve {kind}; retrying with backoff"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api(code: u16) -> watcher::Error {
        watcher::Error::InitialListFailed(kube::Error::Api(Box::new(
            Status::failure("answer", "Reason").with_code(code),
        )))
    }

    #[test]
    fn a_starting_api_server_is_waited_for_and_a_refusal_is_not() {
        for code in [404, 429, 500, 503] {
            assert!(is_warm_up(&api(code)), "{code}");
        }
        for code in [400, 401, 403, 409, 422] {
            assert!(!is_warm_up(&api(code)), "{code}");
        }
        let refused = watcher::Error::WatchStartFailed(kube::Error::Service(Box::new(
            std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        )));
        assert!(is_warm_up(&refused));
        assert!(!is_warm_up(&watcher::Error::NoResourceVersion));
    }
}
