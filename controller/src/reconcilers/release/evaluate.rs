//! A submitted release is judged: rendered (which tenants, which objects), checked by the
//! policies bound to its environment, and sent for approval when an ApprovalPolicy governs it.

use std::collections::BTreeSet;
use std::sync::Arc;

use gitopshq_crds::consts::reasons;
use gitopshq_crds::policy::Policy;
use gitopshq_crds::release::{ReleasePhase, ReleaseType, TenantRollout, TenantRolloutPhase};
use gitopshq_engine::RenderError;
use gitopshq_engine::error::Chain;
use gitopshq_engine::lifecycle::{self, Step};
use gitopshq_engine::plan::{self, PlanError};
use kube::ResourceExt;

use super::{Next, Work, approval};
use crate::context::Context;
use crate::error::Result;

pub(crate) async fn evaluate(work: &mut Work, ctx: &Arc<Context>) -> Result<Next> {
    let namespace = work.namespace();
    let catalog = Arc::new(ctx.project_catalog(&namespace).await?);
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
        Err(error) if matches!(*error, PlanError::SecretEncryptionMissing { .. }) => {
            // Not a fault of the release: the cluster needs configuring, then a retry.
            let step = Step::new(
                ReleasePhase::Blocked,
                reasons::SECRET_ENCRYPTION_MISSING,
                format!(
                    "release {} is blocked: {}",
                    work.name(),
                    Chain(error.as_ref())
                ),
            )
            .by(actor);
            work.enter(ctx, step).await?;
            return Ok(Next::Wait);
        }
        Err(error) => {
            // Several faults are named by the first one's reason; the message lists them all.
            let reason = match error.problems().first() {
                Some(PlanError::Render { source, .. })
                    if matches!(**source, RenderError::UnresolvedVariable { .. }) =>
                {
                    reasons::UNRESOLVED_VARIABLE
                }
                Some(PlanError::Render { source, .. })
                    if matches!(**source, RenderError::SecretValueOutsideSecret { .. }) =>
                {
                    reasons::SECRET_VALUE_OUTSIDE_SECRET
                }
                _ => reasons::RENDER_FAILED,
            };
            let step = Step::new(
                ReleasePhase::Failed,
                reason,
                format!(
                    "release {} cannot be rendered: {}; fix the inputs and retry (annotate gitopshq.io/retry) or submit a new release",
                    work.name(),
                    Chain(error.as_ref())
                ),
            )
            .by(actor);
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

    match approval::gate(work, ctx, &catalog).await? {
        Ok(gated) => approval::enforce(work, ctx, gated).await,
        Err(problem) => approval::cannot_render(work, ctx, problem).await,
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
