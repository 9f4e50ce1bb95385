//! Runs one reconciler as a kube-runtime controller over the shared watch of its kind, with
//! metrics, a tracing span per object and exponential backoff on errors.

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::BoxFuture;
use gitopshq_engine::error::Chain;
use kube::Resource;
use kube::ResourceExt;
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::reflector::ObjectRef;
use serde::de::DeserializeOwned;
use tracing::{Instrument, info_span, warn};

use crate::context::Context;
use crate::error::Error;
use kube::runtime::reflector::{ReflectHandle, Store};

/// First retry after an error; doubles per consecutive failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// After a write conflict: the watch delivers the fresh object within milliseconds.
const CONFLICT_RETRY: Duration = Duration::from_millis(300);

/// Consecutive failures per object, for the backoff.
#[derive(Default)]
pub struct Failures(Mutex<HashMap<String, u32>>);

impl Failures {
    fn failed(&self, key: &str) -> Duration {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(key.to_string()).or_default();
        *n = n.saturating_add(1);
        FIRST_BACKOFF
            .saturating_mul(1 << (*n - 1).min(10))
            .min(MAX_BACKOFF)
    }

    fn succeeded(&self, key: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

fn key_of<K: Resource>(object: &K) -> String {
    match object.namespace() {
        Some(ns) => format!("{}/{ns}/{}", std::any::type_name::<K>(), object.name_any()),
        None => format!("{}/{}", std::any::type_name::<K>(), object.name_any()),
    }
}

/// A controller for `K`: `reconcile` is called with each object that changed (or asked to be
/// requeued) and returns when to look again.
pub fn controller<K, F, Fut>(
    name: &'static str,
    feed: ReflectHandle<K>,
    store: Store<K>,
    ctx: Arc<Context>,
    extra: impl FnOnce(Controller<K>) -> Controller<K>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    reconcile: F,
) -> BoxFuture<'static, ()>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone,
    F: Fn(Arc<K>, Arc<Context>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, Error>> + Send + 'static,
{
    let failures = Arc::new(Failures::default());
    let controller = Controller::for_shared_stream(feed, store)
        .with_config(Config::default().concurrency(ctx.settings.concurrency));
    let controller = extra(controller).graceful_shutdown_on(shutdown);
    let reconcile = Arc::new(reconcile);
    let run_failures = Arc::clone(&failures);
    let stream = controller.run(
        move |object: Arc<K>, ctx: Arc<Context>| {
            let reconcile = Arc::clone(&reconcile);
            let failures = Arc::clone(&run_failures);
            let span = info_span!(
                "reconcile",
                controller = name,
                kind = %K::kind(&()),
                object = %match object.namespace() {
                    Some(ns) => format!("{ns}/{}", object.name_any()),
                    None => object.name_any(),
                },
            );
            async move {
                // Decisions read every cache: none is made on a partly filled one (at start-up
                // or after a restart), where a missing object would look deleted.
                ctx.index.wait_ready().await;
                let started = Instant::now();
                let key = key_of(object.as_ref());
                let result = reconcile(object, Arc::clone(&ctx)).await;
                ctx.metrics.reconciled(name, started.elapsed());
                if result.is_ok() {
                    failures.succeeded(&key);
                }
                result
            }
            .instrument(span)
        },
        move |object: Arc<K>, error: &Error, ctx: Arc<Context>| {
            ctx.metrics.failed(name, error.metric_label());
            if let Error::Conflict { .. } = error {
                // Not a failure: the cache was behind; the fresh object is a moment away.
                tracing::debug!(controller = name, error = %Chain(error), "stale copy; reconciling again");
                return Action::requeue(CONFLICT_RETRY);
            }
            let delay = failures.failed(&key_of(object.as_ref()));
            warn!(
                controller = name,
                object = %ObjectRef::from_obj(object.as_ref()),
                error = %Chain(error),
                retry_in = ?delay,
                "reconcile failed",
            );
            Action::requeue(delay)
        },
        ctx,
    );
    Box::pin(stream.for_each(|_| futures::future::ready(())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let f = Failures::default();
        assert_eq!(f.failed("a"), Duration::from_secs(2));
        assert_eq!(f.failed("a"), Duration::from_secs(4));
        assert_eq!(f.failed("a"), Duration::from_secs(8));
        for _ in 0..20 {
            f.failed("a");
        }
        assert_eq!(f.failed("a"), MAX_BACKOFF);
        f.succeeded("a");
        assert_eq!(f.failed("a"), Duration::from_secs(2));
    }
}
