//! Starting the controllers: every reconciler over the shared watches, the metrics server, and
//! (in a cluster) leader election so that one replica per shard works while others stand by.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use gitopshq_crds::cluster::Cluster;
use gitopshq_crds::release::Release;
use gitopshq_crds::tenant::Tenant;
use gitopshq_engine::lifecycle;
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::{ControllerArgs, Settings};
use crate::context::Context;
use crate::index::{Index, Scope};
use crate::metrics::Metrics;
use crate::reconcile_loop::controller;
use crate::reconcilers::{
    break_glass, chart, cluster, environment, policy, project, promotion, release,
};
use crate::workload_watches::WorkloadChange;

/// Controllers running on the current runtime. Dropping it stops them.
pub struct Running {
    pub context: Arc<Context>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    artifacts: Option<crate::receiver::Serving>,
}

impl Running {
    /// Serves the per-tenant Flux artifacts when the settings ask for them
    /// ([`crate::Settings::flux_artifacts`]); stopped with the controllers.
    pub async fn serve_flux_artifacts(&mut self) -> Result<(), crate::receiver::Error> {
        if let Some(artifacts) = &self.context.settings.flux_artifacts
            && self.artifacts.is_none()
        {
            self.artifacts = Some(
                crate::flux_artifacts::serve(Arc::clone(&self.context), artifacts.address).await?,
            );
        }
        Ok(())
    }

    /// Stops every controller (in-flight reconciliations finish) and waits for them.
    pub async fn stop(mut self) {
        if let Some(artifacts) = self.artifacts.take() {
            artifacts.stop().await;
        }
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .is_err()
        {
            warn!("controllers did not stop within 30s");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Starts the watches and every controller, and waits until the caches are filled.
pub async fn start(client: Client, settings: Settings, scope: Scope) -> Running {
    start_with(
        client,
        settings,
        scope,
        Arc::new(Metrics::default()),
        jiff::Timestamp::now,
    )
    .await
}

/// [`start`] with the metrics registry and the clock to use.
pub async fn start_with(
    client: Client,
    settings: Settings,
    scope: Scope,
    metrics: Arc<Metrics>,
    clock: fn() -> jiff::Timestamp,
) -> Running {
    let (stop, stopped) = watch::channel(false);
    let shutdown = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let mut index = Index::new();
    // Subscriptions are made while the controllers are built, before the watches start.
    let controllers = build(&mut index, &scope, shutdown);
    let watches = index.run(&client, &scope);
    let mut context = Context::new(client.clone(), Arc::new(index), settings, metrics);
    context.clock = clock;
    let context = Arc::new(context);
    let ready = Arc::clone(&context);
    let ctx = Arc::clone(&context);
    let task = tokio::spawn(async move {
        let watch_task = tokio::spawn(watches);
        let runs: Vec<_> = controllers
            .into_iter()
            .map(|c| c(Arc::clone(&ctx)))
            .collect();
        futures::future::join_all(runs).await;
        watch_task.abort();
    });
    ready.index.wait_ready().await;
    info!("controllers started");
    Running {
        context,
        stop,
        task: Some(task),
        artifacts: None,
    }
}

type Start = Box<dyn FnOnce(Arc<Context>) -> BoxFuture<'static, ()> + Send>;

/// The releases to look at now because something changed where their tenants run.
fn releases_woken_by(
    changes: tokio::sync::broadcast::Receiver<WorkloadChange>,
    releases: Store<Release>,
    tenants: Store<Tenant>,
) -> impl futures::Stream<Item = ObjectRef<Release>> + Send + 'static {
    use tokio::sync::broadcast::error::RecvError;
    futures::stream::unfold(changes, |mut changes| async move {
        loop {
            match changes.recv().await {
                Ok(change) => return Some((change, changes)),
                // Dropped changes: the periodic check sees what they said.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    })
    .flat_map(move |change| {
        let releases = releases.state();
        let tenants = tenants.state();
        let tenant_refs: Vec<&Tenant> = tenants.iter().map(AsRef::as_ref).collect();
        let woken = lifecycle::observe::observing(
            releases.iter().map(AsRef::as_ref),
            &tenant_refs,
            &change.cluster,
            change.namespace.as_deref(),
        );
        futures::stream::iter(
            woken
                .into_iter()
                .map(|(namespace, name)| ObjectRef::new(&name).within(&namespace)),
        )
    })
}

/// The metadata (never the data) of the Secrets that may hold a cluster's kubeconfig, as they
/// change; only the names matter here.
fn kubeconfig_secret_changes(
    client: &Client,
    scope: &Scope,
) -> impl futures::Stream<Item = Result<PartialObjectMeta<Secret>, watcher::Error>> + Send + 'static
{
    // An Api over PartialObjectMeta lists and watches metadata only.
    let api: Api<PartialObjectMeta<Secret>> = match scope {
        Scope::All => Api::all(client.clone()),
        Scope::Namespace(namespace) => Api::namespaced(client.clone(), namespace),
    };
    watcher(api, watcher::Config::default())
        .default_backoff()
        .touched_objects()
}

/// The Clusters whose `kubeconfigSecretRef` names `secret`.
fn clusters_using<'a>(
    clusters: &'a [Arc<Cluster>],
    secret: &'a PartialObjectMeta<Secret>,
) -> impl Iterator<Item = &'a Arc<Cluster>> + 'a {
    clusters.iter().filter(move |c| {
        let reference = &c.spec.kubeconfig_secret_ref;
        secret.metadata.namespace.as_deref() == Some(reference.namespace.as_str())
            && secret.metadata.name.as_deref() == Some(reference.name.as_str())
    })
}

/// Every controller, subscribed to the watches it needs; each starts once the context exists.
fn build<S, F>(index: &mut Index, scope: &Scope, shutdown: S) -> Vec<Start>
where
    S: Fn() -> F,
    F: std::future::Future<Output = ()> + Send + Sync + 'static,
{
    let mut all: Vec<Start> = Vec::new();
    macro_rules! plain {
        ($name:literal, $field:ident, $reconcile:path) => {{
            let feed = index.$field.subscribe();
            let store = index.$field.store.clone();
            let stop = shutdown();
            all.push(Box::new(move |ctx| {
                controller($name, feed, store, ctx, |c| c, stop, $reconcile)
            }));
        }};
    }
    plain!("environment", environments, environment::reconcile);
    plain!("policy", policies, policy::reconcile);

    // A kubeconfig Secret that changes (a rotated token) reaches its Clusters at once, and the
    // projects whose GitOps engine reads a copy of it, instead of at the next resync.
    let feed = index.clusters.subscribe();
    let store = index.clusters.store.clone();
    let clusters = index.clusters.store.clone();
    let (stop, scope_of_secrets) = (shutdown(), scope.clone());
    all.push(Box::new(move |ctx| {
        let changes = kubeconfig_secret_changes(&ctx.client, &scope_of_secrets);
        controller(
            "cluster",
            feed,
            store,
            ctx,
            move |c| {
                c.watches_stream(changes, move |secret| {
                    clusters_using(&clusters.state(), &secret)
                        .map(|c| ObjectRef::from_obj(c.as_ref()))
                        .collect::<Vec<_>>()
                })
            },
            stop,
            cluster::reconcile,
        )
    }));
    let feed = index.projects.subscribe();
    let store = index.projects.store.clone();
    let (clusters, tenants) = (index.clusters.store.clone(), index.tenants.store.clone());
    let (stop, scope_of_secrets) = (shutdown(), scope.clone());
    all.push(Box::new(move |ctx| {
        let changes = kubeconfig_secret_changes(&ctx.client, &scope_of_secrets);
        controller(
            "project",
            feed,
            store,
            ctx,
            move |c| {
                c.watches_stream(changes, move |secret| {
                    let clusters = clusters.state();
                    let used: Vec<String> = clusters_using(&clusters, &secret)
                        .map(|c| c.name_any())
                        .collect();
                    let projects: std::collections::BTreeSet<String> = tenants
                        .state()
                        .iter()
                        .filter(|t| used.contains(&t.spec.cluster))
                        .filter_map(|t| t.namespace())
                        .collect();
                    projects
                        .into_iter()
                        .map(|p| ObjectRef::<gitopshq_crds::project::Project>::new(&p))
                        .collect::<Vec<_>>()
                })
            },
            stop,
            project::reconcile,
        )
    }));

    // The registry: versions follow the workloads that use them, charts their versions, and
    // workloads the versions they use (deprecation).
    let feed = index.chart_versions.subscribe();
    let store = index.chart_versions.store.clone();
    let users = index.workloads.subscribe();
    let versions = index.chart_versions.store.clone();
    let stop = shutdown();
    all.push(Box::new(move |ctx| {
        controller(
            "chart-version",
            feed,
            store,
            ctx,
            move |c| {
                c.watches_shared_stream(users, move |w: Arc<gitopshq_crds::workload::Workload>| {
                    versions
                        .state()
                        .into_iter()
                        .filter(|cv| cv.spec.chart == w.spec.chart)
                        .map(|cv| ObjectRef::from_obj(cv.as_ref()))
                        .collect::<Vec<_>>()
                })
            },
            stop,
            chart::reconcile_version,
        )
    }));
    let feed = index.charts.subscribe();
    let store = index.charts.store.clone();
    let chart_versions = index.chart_versions.subscribe();
    let stop = shutdown();
    all.push(Box::new(move |ctx| {
        controller(
            "chart",
            feed,
            store,
            ctx,
            move |c| {
                c.watches_shared_stream(
                    chart_versions,
                    |cv: Arc<gitopshq_crds::chart_version::ChartVersion>| {
                        Some(ObjectRef::new(&cv.spec.chart))
                    },
                )
            },
            stop,
            chart::reconcile_chart,
        )
    }));
    let feed = index.workloads.subscribe();
    let store = index.workloads.store.clone();
    let used = index.chart_versions.subscribe();
    let workloads = index.workloads.store.clone();
    let stop = shutdown();
    all.push(Box::new(move |ctx| {
        controller(
            "workload",
            feed,
            store,
            ctx,
            move |c| {
                c.watches_shared_stream(
                    used,
                    move |cv: Arc<gitopshq_crds::chart_version::ChartVersion>| {
                        workloads
                            .state()
                            .into_iter()
                            .filter(|w| w.spec.chart == cv.spec.chart)
                            .map(|w| ObjectRef::from_obj(w.as_ref()))
                            .collect::<Vec<_>>()
                    },
                )
            },
            stop,
            chart::reconcile_workload,
        )
    }));

    // Sessions record the releases made under them.
    let feed = index.sessions.subscribe();
    let store = index.sessions.store.clone();
    let releases = index.releases.subscribe();
    let stop = shutdown();
    all.push(Box::new(move |ctx| {
        controller(
            "break-glass",
            feed,
            store,
            ctx,
            move |c| {
                c.watches_shared_stream(releases, |r: Arc<Release>| {
                    let ns = r.namespace().unwrap_or_default();
                    let named = r.spec.break_glass_session.clone();
                    let recorded = r
                        .status
                        .as_ref()
                        .and_then(|s| s.break_glass_session.clone());
                    named
                        .into_iter()
                        .chain(recorded)
                        .map(move |s| ObjectRef::new(&s).within(&ns))
                        .collect::<Vec<_>>()
                })
            },
            stop,
            break_glass::reconcile,
        )
    }));

    // Promotions follow the releases of their batches and their source release.
    let feed = index.promotions.subscribe();
    let store = index.promotions.store.clone();
    let batch_releases = index.releases.subscribe();
    let promotions = index.promotions.store.clone();
    let stop = shutdown();
    all.push(Box::new(move |ctx| {
        controller(
            "promotion",
            feed,
            store,
            ctx,
            move |c| {
                c.watches_shared_stream(batch_releases, move |r: Arc<Release>| {
                    let ns = r.namespace();
                    let name = r.name_any();
                    let owner = r
                        .labels()
                        .get(gitopshq_crds::consts::labels::PROMOTION)
                        .cloned();
                    promotions
                        .state()
                        .into_iter()
                        .filter(|p| {
                            p.namespace() == ns
                                && (p.spec.release == name || Some(p.name_any()) == owner)
                        })
                        .map(|p| ObjectRef::from_obj(p.as_ref()))
                        .collect::<Vec<_>>()
                })
            },
            stop,
            promotion::reconcile,
        )
    }));

    // Releases follow their ApprovalRequests, and older releases of an environment look again
    // when a newer one is delivered (supersession).
    let feed = index.releases.subscribe();
    let store = index.releases.store.clone();
    let requests = index.approval_requests.subscribe();
    let deliveries = index.releases.subscribe();
    let siblings = index.releases.store.clone();
    let (observed, tenants) = (index.releases.store.clone(), index.tenants.store.clone());
    let stop = shutdown();
    all.push(Box::new(move |ctx| {
        let woken = releases_woken_by(ctx.workload_watches.subscribe(), observed, tenants);
        controller(
            "release",
            feed,
            store,
            ctx,
            move |c| {
                c.reconcile_on(woken)
                    .owns_shared_stream(requests)
                    .watches_shared_stream(deliveries, move |r: Arc<Release>| {
                        let delivered = r
                            .status
                            .as_ref()
                            .and_then(|s| s.phase)
                            .is_some_and(lifecycle::is_delivered);
                        if !delivered {
                            return Vec::new();
                        }
                        let ns = r.namespace();
                        siblings
                            .state()
                            .into_iter()
                            .filter(|o| {
                                o.namespace() == ns
                                    && o.name_any() != r.name_any()
                                    && o.spec.environment == r.spec.environment
                                    && !o
                                        .status
                                        .as_ref()
                                        .and_then(|s| s.phase)
                                        .is_some_and(lifecycle::is_terminal)
                            })
                            .map(|o| ObjectRef::from_obj(o.as_ref()))
                            .collect()
                    })
            },
            stop,
            release::reconcile,
        )
    }));

    // Notifications follow releases and break-glass sessions; they only read and enqueue.
    all.push(crate::notifier::start(index, shutdown()));
    all
}

/// `gitopshq controller`: checks the CRDs, serves metrics and health, takes the Lease (unless
/// disabled) and runs every controller until SIGTERM / Ctrl-C or the Lease is lost.
pub async fn run(args: ControllerArgs) -> Result<(), RunError> {
    let client = Client::try_default().await.map_err(RunError::Client)?;
    crate::server::check_crds(&client).await?;
    let settings = args.settings();
    let metrics = Arc::new(Metrics::default());
    let health = crate::server::Health::default();
    let server = crate::server::serve(args.metrics_address, Arc::clone(&metrics), health.clone())
        .await
        .map_err(RunError::Serve)?;
    info!(address = %server, "serving /metrics, /healthz and /readyz");

    let mut leadership = None;
    if args.leader_election {
        let identity = args
            .identity
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| format!("gitopshq-{}", std::process::id()));
        let lease = match settings.shard.count {
            1 => "gitopshq-controller".to_string(),
            _ => format!("gitopshq-controller-shard-{}", settings.shard.index),
        };
        let manager = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), &lease)
            .with_namespace(&args.lease_namespace)
            .with_identity(&identity)
            .with_duration(15)
            .with_grace(5)
            .build()
            .await
            .map_err(|e| RunError::Lease(e.to_string()))?;
        let (mut leader, task) = manager.watch().await;
        info!(%lease, %identity, "waiting for the Lease");
        tokio::select! {
            got = leader.wait_for(|l| *l) => { got.map_err(|e| RunError::Lease(e.to_string()))?; }
            _ = shutdown_signal() => { return Ok(()); }
        }
        info!(%lease, %identity, "holding the Lease: reconciling");
        leadership = Some((leader, task));
    }
    let mut running = start_with(
        client,
        settings,
        args.scope(),
        Arc::clone(&metrics),
        jiff::Timestamp::now,
    )
    .await;
    health.set_ready(Arc::clone(&running.context));
    let receiver = match args.receiver_address {
        Some(address) => {
            let objects = crate::receiver::Objects::Index(Arc::clone(&running.context.index));
            let receiver = crate::receiver::Receiver::new(
                running.context.client.clone(),
                objects,
                &args.receiver,
                Arc::clone(&metrics),
            )?;
            Some(crate::receiver::serve(Arc::new(receiver), address, &args.receiver).await?)
        }
        None => None,
    };
    running.serve_flux_artifacts().await?;
    let lost = async {
        match &mut leadership {
            Some((leader, _)) => {
                let _ = leader.wait_for(|l| !*l).await;
            }
            None => futures::future::pending::<()>().await,
        }
    };
    let result = tokio::select! {
        _ = shutdown_signal() => { info!("shutting down"); Ok(()) }
        _ = lost => { error!("lost the Lease; stopping so that the new holder works alone"); Err(RunError::LeaseLost) }
    };
    if let Some(receiver) = receiver {
        receiver.stop().await;
    }
    running.stop().await;
    if let Some((leader, task)) = leadership {
        // Hand the Lease over at once instead of letting it expire: the standby takes over in
        // a moment rather than after the Lease duration.
        drop(leader);
        if let Ok(Ok(manager)) = task.await
            && let Err(error) = manager.release().await
        {
            warn!(%error, "could not release the Lease; it expires on its own");
        }
    }
    result
}

/// Resolves on Ctrl-C or SIGTERM (how Kubernetes stops a pod).
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Why `gitopshq controller` stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot reach the Kubernetes API (in-cluster config or KUBECONFIG)")]
    Client(#[source] kube::Error),
    #[error("{0}")]
    Crds(String),
    #[error("cannot serve metrics")]
    Serve(#[source] std::io::Error),
    #[error("leader election failed: {0}")]
    Lease(String),
    #[error("lost the leader Lease")]
    LeaseLost,
    #[error(transparent)]
    Receiver(#[from] crate::receiver::Error),
}
