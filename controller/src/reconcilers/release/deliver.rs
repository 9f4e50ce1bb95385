//! Approved → Deploying → Deployed: the freeze gate (with break-glass), then one commit in the
//! GitOps repository with the audit trailers, and for `delivery: Direct` the server-side apply
//! of the same objects to each tenant's cluster with pruning.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gitopshq_crds::common::MicroTime;
use gitopshq_crds::project::DeliveryMode;
use gitopshq_crds::release::{Release, ReleaseType, TenantRolloutPhase};
use gitopshq_engine::admission::{FreezeCheck, Settings as AdmissionSettings, delivery_freeze};
use gitopshq_engine::catalog::Catalog;
use gitopshq_engine::error::Chain;
use gitopshq_engine::layout::{self, PolicyTrailer};
use gitopshq_engine::lifecycle::{self, steps};
use kube::ResourceExt;

use super::{Next, Work, approval};
use crate::cluster_objects;
use crate::context::Context;
use crate::error::Result;
use crate::reconcilers::environment::until;
use gitopshq_delivery::git::{self, DeliveryOutcome, GitRemote};
use gitopshq_delivery::{Audit, Committer, DeliveryError, HISTORY_DEPTH};

/// Approved (or Blocked by a freeze): may the release be delivered now?
pub(crate) async fn start(work: &mut Work, ctx: &Arc<Context>) -> Result<Next> {
    let now = ctx.now();
    let settings = AdmissionSettings {
        default_time_zone: ctx.settings.default_time_zone.clone(),
        ..AdmissionSettings::default()
    };
    match delivery_freeze(&work.release, ctx.index.as_ref(), now, &settings) {
        Err(problem) => {
            work.enter(ctx, steps::freeze_unreadable(problem)).await?;
            return Ok(Next::Requeue(Duration::from_secs(60)));
        }
        Ok(FreezeCheck::Frozen {
            until: end,
            message,
        }) => {
            work.enter(ctx, steps::frozen(message)).await?;
            return Ok(Next::Requeue(until(Some(end), now)));
        }
        Ok(FreezeCheck::BreakGlass(session)) => {
            work.status.break_glass_session = Some(session);
        }
        Ok(FreezeCheck::Open) => {}
    }
    let step = steps::deploying(work.status.tenants.len(), &work.release.spec.environment);
    for tenant in &mut work.status.tenants {
        tenant.phase = TenantRolloutPhase::Deploying;
    }
    work.enter(ctx, step).await?;
    Ok(Next::Continue)
}

/// What one delivery did.
struct Delivered {
    outcome: DeliveryOutcome,
    digest: String,
    /// The commit already held this release (a restart after the commit, before the status).
    found_in_history: bool,
    /// For Direct delivery: (tenant, workload) → files at the new commit and at its parent.
    direct: Vec<DirectTarget>,
}

struct DirectTarget {
    tenant: String,
    current: Vec<serde_json::Value>,
    previous: Vec<serde_json::Value>,
}

pub(crate) async fn deliver(work: &mut Work, ctx: &Arc<Context>) -> Result<Next> {
    if let Some(wait) = lifecycle::delivery_wait(&work.status, ctx.now()) {
        return Ok(Next::Requeue(wait));
    }
    let namespace = work.namespace();
    let (catalog, unread) = ctx.release_catalog(&work.release).await?;
    let catalog = Arc::new(catalog);
    let Some(project) = catalog.project(&namespace).cloned() else {
        let step = steps::project_missing(&namespace);
        work.enter(ctx, step).await?;
        return Ok(Next::Wait);
    };
    // Without the recorded states the content would drop what earlier releases set (and the
    // approvals would not match it): wait for the repository.
    if let Some(problem) = unread {
        return retry_later(work, ctx, problem).await;
    }
    // What is approved is what is delivered: the approvals are counted again, on the content
    // as it renders now and under the policy that governs now, whatever the phase says.
    let gated = match approval::gate(work, ctx, &catalog).await? {
        Ok(gated) => gated,
        Err(problem) => return approval::cannot_render(work, ctx, problem).await,
    };
    if !gated.gate.open() {
        return approval::enforce(work, ctx, gated).await;
    }
    if let Some(progress) = gated.gate.progress() {
        work.status.approvals = Some(progress.clone());
    }
    let approved = gated.digest;
    let remote = match ctx.git_remote(&project).await {
        Ok(remote) => remote,
        Err(problem) => return retry_later(work, ctx, problem).await,
    };
    let committer = match ctx.committer().await {
        Ok(committer) => committer,
        Err(problem) => return retry_later(work, ctx, problem).await,
    };
    let audit = audit_of(work);
    let started = Instant::now();
    let direct = project.spec.delivery == DeliveryMode::Direct;
    let delivered = {
        let ctx = Arc::clone(ctx);
        let release = work.release.clone();
        let catalog = Arc::clone(&catalog);
        tokio::task::spawn_blocking(move || {
            commit(
                &ctx,
                &catalog,
                &release,
                remote,
                &committer,
                &audit,
                approved.as_deref(),
            )
        })
        .await?
    };
    let delivered = match delivered {
        Ok(delivered) => delivered,
        // The inputs moved between the gate and the commit: judge again.
        Err(DeliveryError::ContentChanged { .. }) => return Ok(Next::Continue),
        Err(error) if error.is_transient() => {
            ctx.metrics.delivered("Failed", started.elapsed());
            let problem = Chain(&error).to_string();
            return retry_later(work, ctx, problem).await;
        }
        Err(error) => {
            ctx.metrics.delivered("Failed", started.elapsed());
            work.enter(ctx, steps::delivery_failed(&work.name(), &error))
                .await?;
            return Ok(Next::Wait);
        }
    };
    let commit = delivered.outcome.commit.clone();
    let short = commit[..commit.len().min(7)].to_string();
    let mut applied = None;
    let mut notes = Vec::new();
    // Argo CD delivery has targets too when it keeps Secrets out of Git.
    if direct || !delivered.direct.is_empty() {
        match apply_direct(ctx, &catalog, &namespace, &delivered.direct).await {
            Ok(summary) => applied = Some(summary),
            Err(problem) => {
                ctx.metrics.delivered("Failed", started.elapsed());
                work.status.commit = Some(commit.clone());
                work.status.short_commit = Some(short);
                return retry_later(work, ctx, problem).await;
            }
        }
    }
    mirror_states(ctx, &catalog, &work.release, &commit).await;
    if project.spec.delivery == DeliveryMode::Flux {
        // What Flux needs for a cluster a tenant started using, then the sync now rather than
        // at Flux's interval.
        if let Err(problem) = crate::flux::ensure_project(
            ctx,
            &project,
            &catalog,
            Some(&work.release.spec.environment),
        )
        .await
        {
            notes.push(format!("Flux is not ready to sync it: {problem}"));
        }
        // Without its artifact Flux never sees the commit: like a failed apply, the
        // delivery is tried again (the commit is in history by then).
        let targeted: Vec<String> = work.status.tenants.iter().map(|t| t.name.clone()).collect();
        match crate::flux_artifacts::publish(
            ctx,
            &project,
            &catalog,
            &work.release.spec.environment,
            &commit,
            &targeted,
        )
        .await
        {
            Ok(Some(published)) => tracing::info!(%published, "Flux artifacts"),
            Ok(None) => {}
            Err(problem) => {
                ctx.metrics.delivered("Failed", started.elapsed());
                work.status.commit = Some(commit.clone());
                work.status.short_commit = Some(short);
                let problem = format!("the tenants' Flux artifacts were not published: {problem}");
                return retry_later(work, ctx, problem).await;
            }
        }
        crate::flux::request_sync(ctx, &namespace).await;
    }
    if project.spec.delivery == DeliveryMode::ArgoCD {
        // What Argo CD needs for a tenant or cluster this release starts using, then the
        // refresh now rather than at Argo CD's poll interval.
        if let Err(problem) = crate::argocd::ensure_project(
            ctx,
            &project,
            &catalog,
            Some(&work.release.spec.environment),
        )
        .await
        {
            notes.push(format!("Argo CD is not ready to sync it: {problem}"));
        }
        let root = layout::argocd_root_name(&namespace, &work.release.spec.environment);
        let applications: Vec<String> = std::iter::once(root)
            .chain(work.status.tenants.iter().map(|t| {
                layout::gitops_object_name(&namespace, &work.release.spec.environment, &t.name)
            }))
            .collect();
        crate::argocd::request_refresh(ctx, &applications).await;
    }
    let step = steps::deployed(
        steps::Commit {
            sha: &commit,
            created: delivered.outcome.created,
            found_in_history: delivered.found_in_history,
            branch: &project.spec.repository.branch,
            url: &project.spec.repository.url,
        },
        applied.as_deref(),
        &notes,
    );
    ctx.metrics.delivered(step.reason, started.elapsed());
    work.status.commit = Some(commit);
    work.status.short_commit = Some(short);
    work.status.rendered_digest = Some(delivered.digest);
    work.status.delivered_at = Some(MicroTime(ctx.now()));
    work.status.delivery_retry = None;
    for tenant in &mut work.status.tenants {
        tenant.phase = TenantRolloutPhase::Deployed;
        tenant.message = None;
    }
    work.enter(ctx, step).await?;
    Ok(Next::Requeue(Duration::from_millis(500)))
}

/// Records a failure that may pass (phase stays Deploying) and waits for the next attempt,
/// backing off as the engine says.
async fn retry_later(work: &mut Work, ctx: &Context, problem: String) -> Result<Next> {
    let (step, wait) = lifecycle::delivery_failed(&mut work.status, &problem, ctx.now());
    work.enter(ctx, step).await?;
    Ok(Next::Requeue(wait))
}

/// The approvals, policy verdicts and break-glass session the commit records.
fn audit_of(work: &Work) -> Audit {
    Audit {
        approved_by: work
            .status
            .approvals
            .iter()
            .flat_map(|p| &p.approvers)
            .map(|a| a.user.clone())
            .collect(),
        policies: work
            .status
            .policy_results
            .iter()
            .map(|r| PolicyTrailer {
                policy: r.policy.clone(),
                verdict: r.verdict.to_string(),
            })
            .collect(),
        break_glass: work
            .status
            .break_glass_session
            .clone()
            .map(|s| format!("{}/{s}", work.namespace())),
    }
}

/// Mirrors the states recorded in Git for the release's environment into the status of the
/// project's Workloads (`status.environments[env].tenants`), where the admission webhook and
/// people read what runs. Best effort: Git stays the record, and the next delivery mirrors
/// again.
async fn mirror_states(
    ctx: &Arc<Context>,
    catalog: &Arc<Catalog>,
    release: &Release,
    commit: &str,
) {
    let project = release.namespace().unwrap_or_default();
    let environment = release.spec.environment.clone();
    let Some(project_object) = catalog.project(&project).cloned() else {
        return;
    };
    let Ok(remote) = ctx.git_remote(&project_object).await else {
        return;
    };
    let read = {
        let ctx = Arc::clone(ctx);
        // Only the Project is needed to find its folder: no copy of the whole catalog.
        let mut catalog = Catalog {
            projects: vec![project_object],
            ..Catalog::default()
        };
        let project = project.clone();
        let environment = environment.clone();
        tokio::task::spawn_blocking(move || {
            gitopshq_delivery::load_recorded_states(
                &mut catalog,
                &project,
                &environment,
                &remote,
                &ctx.settings.cache_dir,
            )
            .map(|()| catalog.recorded)
        })
        .await
    };
    let states = match read {
        Ok(Ok(states)) => states,
        Ok(Err(error)) => {
            tracing::warn!(error = %Chain(&error), "could not read the recorded states back");
            return;
        }
        Err(error) => {
            tracing::warn!(%error, "could not read the recorded states back");
            return;
        }
    };
    for workload in catalog.workloads_of(&project) {
        let name = workload.name_any();
        let Some(current) = ctx
            .index
            .workloads
            .store
            .get(&kube::runtime::reflector::ObjectRef::new(&name).within(&project))
        else {
            continue;
        };
        let mut status = current.status.clone().unwrap_or_default();
        let previous = status
            .environments
            .get(&environment)
            .map(|e| e.tenants.clone())
            .unwrap_or_default();
        let tenants =
            layout::tenants_status(&states, (&project, &environment, &name), &previous, commit);
        if tenants == previous {
            continue;
        }
        status
            .environments
            .entry(environment.clone())
            .or_default()
            .tenants = tenants;
        if let Err(error) = ctx.patch_status(current.as_ref(), &status).await {
            tracing::warn!(%error, workload = %name, "could not mirror the recorded states");
        }
    }
}

/// The commit (or the one found in history), blocking: libgit2 is synchronous.
fn commit(
    ctx: &Context,
    catalog: &Catalog,
    release: &Release,
    remote: GitRemote,
    committer: &Committer,
    audit: &Audit,
    approved: Option<&str>,
) -> Result<Delivered, DeliveryError> {
    let direct = catalog
        .project(&release.namespace().unwrap_or_default())
        .is_some_and(|p| p.spec.delivery == DeliveryMode::Direct);
    let cache = &ctx.settings.cache_dir;
    let id = gitopshq_delivery::release_id(release);
    let history = git::log(&remote, cache, HISTORY_DEPTH)?;
    // Secrets kept out of Git, per workload folder: applied here after the commit.
    let mut withheld = BTreeMap::new();
    let (expected_digest, prefixes) = match release.spec.type_ {
        ReleaseType::Rollback => {
            let plan = gitopshq_delivery::plan_rollback(catalog, release, remote.clone(), cache)?;
            (None, plan.scope_prefixes())
        }
        ReleaseType::Deploy | ReleaseType::Promotion => {
            let planned = gitopshq_delivery::plan_release(
                catalog,
                release,
                remote.clone(),
                ctx.gitops_settings(),
            )?;
            if let Some(approved) = approved
                && planned.digest != approved
            {
                return Err(DeliveryError::ContentChanged {
                    release: release.name_any(),
                    approved: approved.to_string(),
                    planned: planned.digest,
                });
            }
            let prefixes = planned.workload_prefixes();
            withheld = planned.withheld_secrets()?;
            (Some(planned.digest), prefixes)
        }
    };
    let found = gitopshq_delivery::find_delivery(&history, &id, expected_digest.as_deref());
    let (outcome, digest, found_in_history) = match found {
        Some(entry) => {
            let digest = entry
                .parsed
                .trailers
                .as_ref()
                .map(|t| format!("sha256:{}", t.rendered_digest))
                .unwrap_or_default();
            let outcome = DeliveryOutcome {
                commit: entry.commit.clone(),
                created: false,
                attempts: 0,
            };
            (outcome, digest, true)
        }
        None => {
            let delivered = gitopshq_delivery::deliver_release(
                catalog,
                release,
                remote.clone(),
                cache,
                committer,
                audit,
                ctx.gitops_settings(),
            )?;
            (delivered.outcome, delivered.digest, false)
        }
    };
    let keeps_secrets_out = direct
        || catalog
            .project(&release.namespace().unwrap_or_default())
            .is_some_and(|p| p.spec.delivery == DeliveryMode::ArgoCD);
    let mut direct_targets = Vec::new();
    if keeps_secrets_out {
        let parent = parent_of(&remote, cache, &outcome.commit)?;
        for (tenant, prefix) in prefixes {
            let read =
                |commit: &str, path: &str| git::read_tree_at(&remote, cache, Some(commit), path);
            let reference = format!("{prefix}{}", layout::SECRETS_REFERENCE_FILE);
            let (mut current, mut previous) = if direct {
                let previous = match &parent {
                    Some(p) => layout::workload_objects(&read(p, &prefix)?),
                    None => Vec::new(),
                };
                (
                    layout::workload_objects(&read(&outcome.commit, &prefix)?),
                    previous,
                )
            } else {
                (Vec::new(), Vec::new())
            };
            current.extend(withheld.remove(&prefix).unwrap_or_default());
            // Secrets the previous commit named and this one no longer does are pruned; a
            // Rollback re-applies none (their values are not in Git) and prunes only those.
            let named_now = secret_references(&read(&outcome.commit, &reference)?);
            if let Some(p) = &parent {
                previous.extend(
                    secret_references(&read(p, &reference)?)
                        .into_iter()
                        .filter(|old| !named_now.contains(old)),
                );
            }
            if !direct && current.is_empty() && previous.is_empty() {
                continue;
            }
            direct_targets.push(DirectTarget {
                tenant,
                current,
                previous,
            });
        }
    }
    Ok(Delivered {
        outcome,
        digest,
        found_in_history,
        direct: direct_targets,
    })
}

/// The first parent of `commit`. The commit is nearly always the branch head (just made, or
/// holding the same content), so the last two commits are read before the long history.
fn parent_of(
    remote: &GitRemote,
    cache: &std::path::Path,
    commit: &str,
) -> Result<Option<String>, DeliveryError> {
    for depth in [2, HISTORY_DEPTH] {
        let history = git::log(remote, cache, depth)?;
        if let Some(entry) = history.iter().find(|e| e.commit == commit) {
            return Ok(entry.parents.first().cloned());
        }
    }
    Ok(None)
}

/// The Secrets a workload folder's `secrets.yaml` names, as objects enough to prune them by.
fn secret_references(files: &BTreeMap<String, Vec<u8>>) -> Vec<serde_json::Value> {
    files
        .values()
        .filter_map(|bytes| yaml_serde::from_slice::<serde_json::Value>(bytes).ok())
        .filter_map(|doc| doc.get("secrets").and_then(|s| s.as_array()).cloned())
        .flatten()
        .map(|secret| {
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": secret.get("name"), "namespace": secret.get("namespace")},
            })
        })
        .collect()
}

/// Applies each tenant's objects to its cluster and prunes what the previous delivery owned.
async fn apply_direct(
    ctx: &Context,
    catalog: &Catalog,
    project: &str,
    targets: &[DirectTarget],
) -> std::result::Result<String, String> {
    let mut applied = 0;
    let mut pruned = 0;
    for target in targets {
        let tenant = catalog
            .tenant(project, &target.tenant)
            .ok_or_else(|| format!("tenant {project}/{} no longer exists", target.tenant))?;
        let cluster_name = &tenant.spec.cluster;
        let cluster = catalog.cluster(cluster_name).ok_or_else(|| {
            format!(
                "cluster {cluster_name} of tenant {} is not registered",
                target.tenant
            )
        })?;
        let client = ctx
            .clusters
            .client(cluster)
            .await
            .map_err(|e| e.to_string())?;
        let keys = cluster_objects::apply(
            &ctx.discovery,
            cluster_name,
            &client,
            &tenant.spec.namespace,
            &target.current,
        )
        .await
        .map_err(|e| format!("cluster {cluster_name}: {}", Chain(&e)))?;
        applied += keys.len();
        let previous: Vec<_> = target
            .previous
            .iter()
            .filter_map(gitopshq_engine::health::ObjectKey::of)
            .collect();
        pruned += cluster_objects::prune(&ctx.discovery, cluster_name, &client, &previous, &keys)
            .await
            .map_err(|e| format!("cluster {cluster_name}: {}", Chain(&e)))?
            .len();
    }
    Ok(format!("applied {applied} object(s), pruned {pruned}"))
}
