//! Deployed → Healthy / Degraded: the delivered objects as each tenant's cluster runs them,
//! their health and drift; the tenant and workload status that follow; and supersession by
//! newer releases.

use std::collections::BTreeSet;
use std::sync::Arc;

use gitopshq_crds::common::Health;
use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_crds::project::DeliveryMode;
use gitopshq_crds::release::{Release, ReleasePhase};
use gitopshq_engine::admission::release_workloads;
use gitopshq_engine::cluster_heartbeat;
use gitopshq_engine::conditions::{self, Status};
use gitopshq_engine::error::Chain;
use gitopshq_engine::health::{self, ObjectKey, TenantHealth};
use gitopshq_engine::layout;
use gitopshq_engine::lifecycle::observe::{Observed, TenantReport};
use gitopshq_engine::lifecycle::{self, Footprint};
use gitopshq_engine::sync::SyncState;
use kube::ResourceExt;

use super::{Next, Work};
use crate::cluster_objects;
use crate::context::Context;
use crate::error::Result;
use gitopshq_delivery::git;

/// The (tenant, workload) pairs a release delivers.
fn footprint(release: &Release, ctx: &Context) -> Footprint {
    let workloads = release_workloads(release, ctx.index.as_ref()).unwrap_or_default();
    let status = release.status.clone().unwrap_or_default();
    let pairs = status
        .tenants
        .iter()
        .flat_map(|t| workloads.iter().map(move |w| (t.name.clone(), w.clone())))
        .collect();
    Footprint {
        name: release.name_any(),
        environment: release.spec.environment.clone(),
        created: release
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(jiff::Timestamp::UNIX_EPOCH, |t| t.0),
        delivered: status.delivered_at.as_ref().map(|t| t.0),
        phase: status.phase.unwrap_or_default(),
        pairs,
    }
}

/// The newer delivered release that replaced this one everywhere, if any.
pub(crate) fn superseded_by(work: &Work, ctx: &Context) -> Option<String> {
    let phase = work.phase()?;
    if lifecycle::is_terminal(phase) {
        return None;
    }
    let namespace = work.namespace();
    let mut current = work.release.clone();
    current.status = Some(work.status.clone());
    let this = footprint(&current, ctx);
    let others: Vec<Footprint> = ctx
        .index
        .releases
        .store
        .state()
        .iter()
        .filter(|r| {
            r.namespace().as_deref() == Some(namespace.as_str()) && r.name_any() != this.name
        })
        .map(|r| footprint(r, ctx))
        .collect();
    lifecycle::superseded_by(&this, &others).map(str::to_string)
}

pub(crate) async fn observe(work: &mut Work, ctx: &Arc<Context>) -> Result<Next> {
    let interval = ctx.settings.health_interval;
    let namespace = work.namespace();
    let catalog = ctx.index.catalog(&namespace);
    let Some(project) = catalog.project(&namespace).cloned() else {
        return Ok(Next::Requeue(interval));
    };
    let Some(commit) = work.status.commit.clone() else {
        return Ok(Next::Requeue(interval));
    };
    // Without the repository nothing can be judged; each tenant says why, and the progress
    // deadline still applies rather than the release waiting in silence.
    let remote = ctx
        .git_remote(&project)
        .await
        .map_err(|why| format!("cannot read the GitOps repository: {why}"));
    let root = layout::repository_root(&namespace, project.spec.repository.path.as_deref())
        .unwrap_or_default();
    let workloads = release_workloads(&work.release, ctx.index.as_ref()).unwrap_or_default();
    let was_healthy = lifecycle::observe::was_healthy(&work.status.timeline);
    let environment = catalog.environment(&work.release.spec.environment);
    let deadline = lifecycle::observe::progress_deadline(environment);

    let mut reports: Vec<TenantReport> = Vec::new();
    let mut drifted: Vec<String> = Vec::new();
    let mut tenant_drift: std::collections::BTreeMap<String, String> = Default::default();
    let tenants: Vec<String> = work.status.tenants.iter().map(|t| t.name.clone()).collect();
    for tenant_name in &tenants {
        // A cluster that does not answer hides what runs there: Unknown, without asking it
        // (and waiting for its timeouts) once per tenant.
        let unobservable = catalog.tenant(&namespace, tenant_name).and_then(|tenant| {
            cluster_heartbeat::unobservable(
                &tenant.spec.cluster,
                catalog.cluster(&tenant.spec.cluster),
            )
        });
        let unobservable = match &remote {
            Ok(_) => unobservable,
            Err(why) => Some(why.clone()),
        };
        if let Some(why) = unobservable {
            reports.push(TenantReport {
                tenant: tenant_name.clone(),
                sync: SyncState::Pending(why.clone()),
                health: Health::Unknown,
                message: why,
            });
            continue;
        }
        let Ok(remote) = &remote else { continue };
        // Done means the GitOps engine says so: health counts once it applied the commit.
        let sync = engine_sync(
            ctx,
            project.spec.delivery,
            remote,
            &namespace,
            &work.release.spec.environment,
            tenant_name,
            &commit,
        )
        .await;
        if let Some(message) = sync.unsynced_message().map(str::to_owned) {
            reports.push(TenantReport {
                tenant: tenant_name.clone(),
                sync,
                health: Health::Progressing,
                message,
            });
            continue;
        }
        let report = tenant_report(
            ctx,
            &catalog,
            &namespace,
            tenant_name,
            remote,
            &commit,
            &root,
            &work.release.spec.environment,
            &workloads,
        )
        .await;
        let (health, message) = match report {
            Ok(report) => {
                // The engine applied the commit: what differs now was changed behind its back.
                if !report.drift.is_empty() {
                    let first = describe_drift(&report);
                    drifted.push(format!("{tenant_name}: {first}"));
                    tenant_drift.insert(tenant_name.clone(), first);
                }
                (
                    lifecycle::observe::settled_health(report.health, was_healthy),
                    report.message,
                )
            }
            Err(problem) => (Health::Unknown, problem),
        };
        reports.push(TenantReport {
            tenant: tenant_name.clone(),
            sync: SyncState::Synced,
            health,
            message,
        });
    }
    for report in &reports {
        if let Some(rollout) = work
            .status
            .tenants
            .iter_mut()
            .find(|t| t.name == report.tenant)
        {
            rollout.health = report.health;
            rollout.message = Some(report.message.clone());
            rollout.phase = report.phase();
        }
    }

    tracing::debug!(
        tenants = reports.len(),
        drifted = drifted.len(),
        "observed the release's tenants"
    );
    record_drift(work, ctx, &drifted).await;
    let rollback = rollback_hint(work, ctx);
    let step = lifecycle::observe::observed_step(
        &Observed {
            release: &work.name(),
            environment: &work.release.spec.environment,
            phase: work.phase().unwrap_or(ReleasePhase::Deployed),
            reason: work.status.reason.as_deref(),
            was_healthy,
            delivered_at: work.status.delivered_at.as_ref().map(|t| t.0),
            deadline,
            now: ctx.now(),
            rollback: &rollback,
        },
        &reports,
    );
    let next = lifecycle::observe::next_check(step.phase, interval);
    work.enter(ctx, step).await?;
    let triples: Vec<(String, Health, String)> = reports
        .iter()
        .map(|r| (r.tenant.clone(), r.health, r.message.clone()))
        .collect();
    update_tenants_and_workloads(work, ctx, &triples, &tenant_drift).await;
    Ok(next.map_or(Next::Wait, Next::Requeue))
}

/// What the GitOps engine says about `tenant`'s delivery of `commit`: its Flux Kustomization
/// or Argo CD Application read back, and whether the revision it applied holds the commit (the
/// repository's history says). Direct delivery is applied by the controller itself.
async fn engine_sync(
    ctx: &Context,
    delivery: DeliveryMode,
    remote: &git::GitRemote,
    project: &str,
    environment: &str,
    tenant: &str,
    commit: &str,
) -> SyncState {
    let name = layout::gitops_object_name(project, environment, tenant);
    let (found, namespace) = match delivery {
        DeliveryMode::Direct => return SyncState::Synced,
        DeliveryMode::Flux => (
            crate::flux::kustomization(ctx, &name).await,
            &ctx.settings.flux_namespace,
        ),
        DeliveryMode::ArgoCD => (
            crate::argocd::application(ctx, &name).await,
            &ctx.settings.argocd_namespace,
        ),
    };
    let object = match found {
        Ok(found) => found,
        Err(problem) => return SyncState::Pending(problem),
    };
    let revisions = match (&object, delivery) {
        (None, _) => Vec::new(),
        (Some(application), DeliveryMode::ArgoCD) => {
            gitopshq_engine::sync::argocd_revisions(application)
        }
        (Some(kustomization), _) => gitopshq_engine::sync::flux_revisions(kustomization),
    };
    let holding: Vec<String> = {
        let (remote, cache, commit) = (
            remote.clone(),
            ctx.settings.cache_dir.clone(),
            commit.to_string(),
        );
        tokio::task::spawn_blocking(move || {
            revisions
                .into_iter()
                .filter(|r| git::contains(&remote, &cache, r, &commit).unwrap_or(false))
                .collect()
        })
        .await
        .unwrap_or_default()
    };
    let who = format!("{namespace}/{name}");
    let contains = |sha: &str| holding.iter().any(|h| h == sha);
    match delivery {
        DeliveryMode::ArgoCD => {
            gitopshq_engine::sync::argocd_application(object.as_ref(), &who, commit, &contains)
        }
        _ => gitopshq_engine::sync::flux_kustomization(object.as_ref(), &who, commit, &contains),
    }
}

#[allow(clippy::too_many_arguments)]
async fn tenant_report(
    ctx: &Context,
    catalog: &gitopshq_engine::catalog::Catalog,
    project: &str,
    tenant_name: &str,
    remote: &git::GitRemote,
    commit: &str,
    root: &str,
    environment: &str,
    workloads: &[String],
) -> std::result::Result<TenantHealth, String> {
    let tenant = catalog
        .tenant(project, tenant_name)
        .ok_or_else(|| format!("tenant {project}/{tenant_name} no longer exists"))?;
    let cluster = catalog
        .cluster(&tenant.spec.cluster)
        .ok_or_else(|| format!("cluster {} is not registered", tenant.spec.cluster))?;
    let mut delivered = Vec::new();
    for workload in workloads {
        let prefix = layout::workload_dir(root, environment, tenant_name, workload);
        delivered.extend(
            ctx.delivered_objects(remote, commit, &prefix)
                .await?
                .iter()
                .cloned(),
        );
    }
    let clients = ctx
        .clusters
        .clients(cluster)
        .await
        .map_err(|e| e.to_string())?;
    let watched = cluster_objects::WatchedCluster {
        name: &tenant.spec.cluster,
        credentials: &clients.credentials,
        client: &clients.client,
        watch_client: &clients.watch_client,
    };
    let keys: Vec<ObjectKey> = delivered.iter().filter_map(ObjectKey::of).collect();
    let live =
        cluster_objects::live_objects(&ctx.discovery, &ctx.workload_watches, &watched, &keys)
            .await
            .map_err(|e| format!("cluster {}: {}", tenant.spec.cluster, Chain(&e)))?;
    let pods = cluster_objects::pods(&ctx.workload_watches, &watched, &tenant.spec.namespace)
        .await
        .map_err(|e| format!("cluster {}: {}", tenant.spec.cluster, Chain(&e)))?;
    Ok(health::tenant_health(&delivered, &live, &pods))
}

fn describe_drift(report: &TenantHealth) -> String {
    report
        .drift
        .iter()
        .map(|(key, fields)| {
            let shown: Vec<String> = fields.iter().take(3).map(|f| f.describe()).collect();
            let more = fields.len().saturating_sub(3);
            let more = if more > 0 {
                format!(" (+{more} more)")
            } else {
                String::new()
            };
            format!("{} differs: {}{more}", key.describe(), shown.join("; "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The release `name` of `namespace`, as the index holds it.
fn release_named(ctx: &Context, namespace: &str, name: &Option<String>) -> Option<Arc<Release>> {
    let name = name.as_deref()?;
    ctx.index
        .releases
        .store
        .get(&kube::runtime::reflector::ObjectRef::new(name).within(namespace))
}

/// `Drifted` condition and a `DriftDetected` Event when live objects stop matching.
async fn record_drift(work: &mut Work, ctx: &Context, drifted: &[String]) {
    let generation = work.release.metadata.generation;
    let now = ctx.now();
    let was = conditions::is_true(&work.status.conditions, types::DRIFTED);
    if drifted.is_empty() {
        if conditions::get(&work.status.conditions, types::DRIFTED).is_some() {
            conditions::set(
                &mut work.status.conditions,
                types::DRIFTED,
                Status::False,
                reasons::IN_SYNC,
                "live objects match the delivered ones",
                generation,
                now,
            );
        }
        return;
    }
    let message = drifted.join("; ");
    conditions::set(
        &mut work.status.conditions,
        types::DRIFTED,
        Status::True,
        reasons::DRIFT_DETECTED,
        &message,
        generation,
        now,
    );
    if !was {
        ctx.event(&work.release, true, reasons::DRIFT_DETECTED, message)
            .await;
    }
}

/// "; roll back with: gitopshq rollback W --to R" naming the release delivered before this
/// one that was Healthy.
fn rollback_hint(work: &Work, ctx: &Context) -> String {
    let namespace = work.namespace();
    let workloads: BTreeSet<String> = release_workloads(&work.release, ctx.index.as_ref())
        .unwrap_or_default()
        .into_iter()
        .collect();
    let releases = ctx.index.releases.store.state();
    let delivered = work.status.delivered_at.as_ref().map(|t| t.0);
    let previous = lifecycle::rollback_target(
        &work.release,
        delivered,
        &workloads,
        releases.iter().map(AsRef::as_ref),
    );
    match (previous, workloads.iter().next()) {
        (Some(previous), Some(workload)) => format!(
            "; roll back with: gitopshq rollback {workload} --to {} -n {namespace}",
            previous.name_any()
        ),
        _ => String::new(),
    }
}

/// Tenant `status.{lastRelease, commit, health}` and Workload
/// `status.environments[env]` follow the release that runs there; a tenant's `Drifted`
/// condition (the fleet view's drift badge) follows what this release found there.
async fn update_tenants_and_workloads(
    work: &Work,
    ctx: &Context,
    reports: &[(String, Health, String)],
    drift: &std::collections::BTreeMap<String, String>,
) {
    let namespace = work.namespace();
    let name = work.name();
    let commit = work.status.commit.clone();
    for (tenant_name, health, _) in reports {
        let Some(tenant) = ctx
            .index
            .tenants
            .store
            .get(&kube::runtime::reflector::ObjectRef::new(tenant_name).within(&namespace))
        else {
            continue;
        };
        let mut status = tenant.status.clone().unwrap_or_default();
        if !lifecycle::may_record(
            &work.release,
            release_named(ctx, &namespace, &status.last_release).as_deref(),
        ) {
            continue;
        }
        status.last_release = Some(name.clone());
        status.commit = commit.clone();
        status.health = Some(*health);
        lifecycle::observe::tenant_drift(
            &mut status.conditions,
            &name,
            drift.get(tenant_name).map(String::as_str),
            tenant.metadata.generation,
            ctx.now(),
        );
        if tenant.status.as_ref() != Some(&status)
            && let Err(error) = ctx.patch_status(tenant.as_ref(), &status).await
        {
            tracing::warn!(%error, tenant = %tenant_name, "could not update the tenant's status");
        }
    }
    let (overall, _) = health::overall(reports);
    for change in &work.release.spec.changes {
        let Some(workload) =
            ctx.index.workloads.store.get(
                &kube::runtime::reflector::ObjectRef::new(&change.workload).within(&namespace),
            )
        else {
            continue;
        };
        let mut status = workload.status.clone().unwrap_or_default();
        let environment = &work.release.spec.environment;
        let entry = status.environments.entry(environment.clone()).or_default();
        if !lifecycle::may_record(
            &work.release,
            release_named(ctx, &namespace, &entry.release).as_deref(),
        ) {
            continue;
        }
        // The version that runs is what the delivery recorded for the release's tenants.
        let recorded = reports
            .iter()
            .find_map(|(tenant, _, _)| entry.tenants.get(tenant))
            .map(|t| t.version.clone());
        let version = recorded.unwrap_or_else(|| {
            gitopshq_engine::plan::chart_version_for(&workload, environment, Some(change))
        });
        entry.version = Some(version);
        entry.release = Some(name.clone());
        entry.commit = commit.clone();
        entry.health = overall;
        if workload.status.as_ref() != Some(&status)
            && let Err(error) = ctx.patch_status(workload.as_ref(), &status).await
        {
            tracing::warn!(%error, workload = %change.workload, "could not update the workload's status");
        }
    }
}
