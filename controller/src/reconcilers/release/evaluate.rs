//! A submitted release is judged: rendered (which tenants, which objects), checked by the
//! policies bound to its environment, and sent for approval when an ApprovalPolicy governs it.

use std::collections::BTreeSet;
use std::sync::Arc;

use gitopshq_crds::consts::reasons;
use gitopshq_crds::policy::Policy;
use gitopshq_crds::release::{
    ApprovalProgress, ReleasePhase, ReleaseType, TenantRollout, TenantRolloutPhase,
};
use gitopshq_engine::RenderError;
use gitopshq_engine::lifecycle::{self, Step};
use gitopshq_engine::plan::{self, PlanError};
use kube::ResourceExt;

use super::{Next, Work, approval};
use crate::context::Context;
use crate::error::Result;

/// The actor of the evaluation: whoever submitted the release.
fn submitter(work: &Work) -> String {
    work.release
        .spec
        .created_by
        .clone()
        .unwrap_or_else(|| lifecycle::CONTROLLER.to_string())
}

pub(crate) async fn evaluate(work: &mut Work, ctx: &Arc<Context>) -> Result<Next> {
    let namespace = work.namespace();
    let catalog = ctx.project_catalog(&namespace).await?;
    let actor = submitter(work);

    let judged = {
        let ctx = Arc::clone(ctx);
        let release = work.release.clone();
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
                format!("release {} is blocked: {error}", work.name()),
            )
            .by(actor);
            work.enter(ctx, step).await?;
            return Ok(Next::Wait);
        }
        Err(error) => {
            let reason = match error.as_ref() {
                PlanError::Render { source, .. }
                    if matches!(**source, RenderError::UnresolvedVariable { .. }) =>
                {
                    reasons::UNRESOLVED_VARIABLE
                }
                PlanError::Render { source, .. }
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
                    "release {} cannot be rendered: {error}; fix the inputs and retry (annotate gitopshq.io/retry) or submit a new release",
                    work.name()
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

    let policies: Vec<_> = ctx.index.approval_policies.store.state();
    let governing =
        lifecycle::governing_approval_policy(policies.iter().map(|p| p.as_ref()), &work.release);
    match governing {
        Some(policy) => {
            let required = policy.spec.min_approvals.max(1);
            work.status.approval_request = Some(work.name());
            work.status.approvals = Some(ApprovalProgress {
                required,
                received: 0,
                summary: Some(format!("0/{required}")),
                missing: vec![format!(
                    "{required} approval{}",
                    if required == 1 { "" } else { "s" }
                )],
                approvers: Vec::new(),
            });
            let step = Step::new(
                ReleasePhase::PendingApproval,
                reasons::AWAITING_APPROVAL,
                format!(
                    "0 of {required} approvals received (ApprovalPolicy {}); approvers: gitopshq approve {} or append a decision to ApprovalRequest {}",
                    policy.name_any(),
                    work.name(),
                    work.name()
                ),
            )
            .by(actor);
            work.enter(ctx, step).await?;
            approval::ensure_request(work, ctx, &policy.name_any()).await?;
        }
        None if lifecycle::approval_required(&work.release) => {
            let step = Step::new(
                ReleasePhase::Blocked,
                reasons::NOT_FOUND,
                format!(
                    "release {} requires approval, but no ApprovalPolicy binds environment {}; create one (kubectl apply -f approval-policy.yaml), then retry (annotate gitopshq.io/retry)",
                    work.name(),
                    work.release.spec.environment
                ),
            )
            .by(actor);
            work.enter(ctx, step).await?;
            return Ok(Next::Wait);
        }
        None => {
            let step = Step::new(
                ReleasePhase::Approved,
                reasons::NO_APPROVAL_NEEDED,
                format!(
                    "no ApprovalPolicy governs {:?} releases into {}; delivering",
                    work.release.spec.type_, work.release.spec.environment
                ),
            )
            .by(actor);
            work.enter(ctx, step).await?;
        }
    }
    Ok(Next::Continue)
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
