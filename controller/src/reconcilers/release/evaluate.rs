//! A submitted release is judged: rendered (which tenants, which objects), checked by the
//! policies bound to its environment, and sent for approval when an ApprovalPolicy governs it.

use std::collections::BTreeSet;
use std::sync::Arc;

use gitopshq_crds::policy::Policy;
use gitopshq_crds::release::{ReleaseType, TenantRollout, TenantRolloutPhase};
use gitopshq_engine::error::Chain;
use gitopshq_engine::lifecycle;
use gitopshq_engine::plan::{self, PlanError};
use kube::ResourceExt;

use super::{Next, Work, approval};
use crate::context::Context;
use crate::error::Result;

pub(crate) async fn evaluate(work: &mut Work, ctx: &Arc<Context>) -> Result<Next> {
    let (catalog, _) = ctx.release_catalog(&work.release).await?;
    let catalog = Arc::new(catalog);
    let actor = lifecycle::gate::submitter(&work.release);

    let judged = {
        let ctx = Arc::clone(ctx);
        let release = work.release.clone();
        let catalog = Arc::clone(&catalog);
        tokio::task::spawn_blocking(move || judge(&ctx, &catalog, &release)).await?
    };
    let tenants = match judged {
        Ok(Judged { tenants, policies }) => {
            if let Some(results) = policies {
                let blocked = lifecycle::policy_gate(&work.name(), &results);
                lifecycle::record_policies(
                    &mut work.status,
                    results,
                    work.release.metadata.generation,
                    ctx.now(),
                );
                if let Some(step) = blocked {
                    work.enter(ctx, step.by(actor)).await?;
                    return Ok(Next::Wait);
                }
            }
            tenants
        }
        Err(error) => {
            let step = lifecycle::steps::render_refused(&work.name(), &error).by(actor);
            work.enter(ctx, step).await?;
            return Ok(Next::Wait);
        }
    };
    work.status.tenants = tenants
        .into_iter()
        .map(|name| TenantRollout {
            name,
            phase: TenantRolloutPhase::Pending,
            ..TenantRollout::default()
        })
        .collect();
    work.status.diff = preview_summary(ctx, &catalog, &work.release).await;

    match approval::gate(work, ctx, &catalog).await? {
        Ok(gated) => approval::enforce(work, ctx, gated).await,
        Err(problem) => approval::cannot_render(work, ctx, problem).await,
    }
}

/// A Draft whose submission a policy refused: its policy results, as a submission would get
/// them now. One that does not render keeps none (submitting it reports why).
pub(crate) async fn record_draft_policies(work: &mut Work, ctx: &Arc<Context>) -> Result<()> {
    let (catalog, _) = ctx.release_catalog(&work.release).await?;
    let catalog = Arc::new(catalog);
    let judged = {
        let ctx = Arc::clone(ctx);
        let release = work.release.clone();
        tokio::task::spawn_blocking(move || judge(&ctx, &catalog, &release)).await?
    };
    if let Ok(Judged {
        policies: Some(results),
        ..
    }) = judged
    {
        lifecycle::record_policies(
            &mut work.status,
            results,
            work.release.metadata.generation,
            ctx.now(),
        );
    }
    Ok(())
}

/// `status.diff`: what the release changes in the repository, as it stands when the release is
/// judged, so approvers see it (Rollbacks and Promotions too). Best effort: a preview that
/// cannot be made leaves none, and delivery reports the cause if it persists.
async fn preview_summary(
    ctx: &Arc<Context>,
    catalog: &Arc<gitopshq_engine::catalog::Catalog>,
    release: &gitopshq_crds::release::Release,
) -> Option<gitopshq_crds::release::DiffSummary> {
    let project = catalog.project(&release.namespace().unwrap_or_default())?;
    let remote = ctx.git_remote(project).await.ok()?;
    let previewed = {
        let ctx = Arc::clone(ctx);
        let catalog = Arc::clone(catalog);
        let release = release.clone();
        tokio::task::spawn_blocking(move || {
            gitopshq_delivery::preview::preview_release(
                &catalog,
                &release,
                remote,
                &ctx.settings.cache_dir,
                ctx.gitops_settings(),
            )
        })
        .await
    };
    match previewed {
        Ok(Ok((preview, _))) => Some(gitopshq_engine::preview::diff_summary(&preview)),
        Ok(Err(error)) => {
            tracing::warn!(error = %Chain(&error), "no preview of the release");
            None
        }
        Err(error) => {
            tracing::warn!(%error, "no preview of the release");
            None
        }
    }
}

struct Judged {
    /// Target tenant names, sorted.
    tenants: Vec<String>,
    /// Policy verdicts; `None` for a Rollback (it restores content that was judged already).
    policies: Option<Vec<gitopshq_crds::release::PolicyResult>>,
}

fn judge(
    ctx: &Context,
    catalog: &gitopshq_engine::catalog::Catalog,
    release: &gitopshq_crds::release::Release,
) -> std::result::Result<Judged, Box<PlanError>> {
    if release.spec.type_ == ReleaseType::Rollback {
        let namespace = release.namespace().unwrap_or_default();
        let target_name = release
            .spec
            .rollback_to
            .as_ref()
            .map(|t| t.release.clone())
            .unwrap_or_default();
        let target = catalog.release(&namespace, &target_name).ok_or_else(|| {
            PlanError::ReleaseNotFound {
                project: namespace.clone(),
                release: target_name.clone(),
            }
        })?;
        let scope = plan::rollback_scope(catalog, release, target)?;
        let tenants: BTreeSet<String> = scope.into_iter().map(|(t, _)| t).collect();
        return Ok(Judged {
            tenants: tenants.into_iter().collect(),
            policies: None,
        });
    }
    let targets = plan::release_targets(catalog, release)?;
    let rendered = ctx.policies.renders().render_targets(catalog, targets)?;
    plan::check_secret_encryption(catalog, &rendered)?;
    let tenants: BTreeSet<String> = rendered.iter().map(|r| r.target.tenant.clone()).collect();
    let policies: Vec<Policy> = ctx
        .index
        .policies
        .store
        .state()
        .iter()
        .map(|p| (**p).clone())
        .collect();
    let results = lifecycle::evaluate_policies(&ctx.policies, &policies, release, &rendered)
        .map_err(|e| PlanError::Policy {
            release: release.name_any(),
            reason: e.to_string(),
        })?;
    Ok(Judged {
        tenants: tenants.into_iter().collect(),
        policies: Some(results),
    })
}
