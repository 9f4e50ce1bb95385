//! PendingApproval: the release's ApprovalRequest (created here, owned by the release) collects
//! decisions whose identities the webhook stamped; quorum progress is counted by the engine and
//! written to both objects.

use std::collections::BTreeMap;
use std::sync::Arc;

use gitopshq_crds::approval_request::{
    ApprovalPhase, ApprovalRequest, ApprovalRequestSpec, ApprovalRequestStatus, DecisionKind,
};
use gitopshq_crds::consts::{conditions as types, labels, reasons};
use gitopshq_crds::release::ReleasePhase;
use gitopshq_engine::admission::approval_progress;
use gitopshq_engine::conditions::{self, Status};
use gitopshq_engine::lifecycle::Step;
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};

use super::{Next, Work};
use crate::context::Context;
use crate::error::{Result, kube as kube_error};

/// Creates the release's ApprovalRequest unless it exists.
pub(crate) async fn ensure_request(work: &Work, ctx: &Context, policy: &str) -> Result<()> {
    let namespace = work.namespace();
    let name = work.name();
    let api: Api<ApprovalRequest> = Api::namespaced(ctx.client.clone(), &namespace);
    if lookup(work, ctx).await?.is_some() {
        return Ok(());
    }
    let request = ApprovalRequest {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            labels: Some(BTreeMap::from([
                (labels::RELEASE.to_string(), name.clone()),
                (labels::PROJECT.to_string(), namespace.clone()),
                (
                    labels::MANAGED_BY.to_string(),
                    labels::MANAGED_BY_VALUE.to_string(),
                ),
            ])),
            owner_references: work.release.controller_owner_ref(&()).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: ApprovalRequestSpec {
            release: name.clone(),
            policy: policy.to_string(),
            rendered_digest: None,
            digest_change: None,
            decisions: Vec::new(),
        },
        status: None,
    };
    match api.create(&PostParams::default(), &request).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(e) => Err(kube_error(format!(
            "creating ApprovalRequest {namespace}/{name}"
        ))(e)),
    }
}

/// The release's ApprovalRequest, from the cache or (just created) from the API.
async fn lookup(work: &Work, ctx: &Context) -> Result<Option<ApprovalRequest>> {
    let namespace = work.namespace();
    let name = work
        .status
        .approval_request
        .clone()
        .unwrap_or_else(|| work.name());
    let cached = ctx
        .index
        .approval_requests
        .store
        .get(&ObjectRef::new(&name).within(&namespace));
    if let Some(found) = cached {
        return Ok(Some((*found).clone()));
    }
    Api::<ApprovalRequest>::namespaced(ctx.client.clone(), &namespace)
        .get_opt(&name)
        .await
        .map_err(kube_error(format!(
            "reading ApprovalRequest {namespace}/{name}"
        )))
}

pub(crate) async fn check(work: &mut Work, ctx: &Arc<Context>) -> Result<Next> {
    let Some(request) = lookup(work, ctx).await? else {
        let policy = governing_policy_name(work, ctx);
        ensure_request(work, ctx, &policy).await?;
        return Ok(Next::Wait);
    };
    let policy_name = request.spec.policy.clone();
    let Some(policy) = ctx
        .index
        .approval_policies
        .store
        .get(&ObjectRef::new(&policy_name))
    else {
        let step = Step::new(
            ReleasePhase::PendingApproval,
            reasons::NOT_FOUND,
            format!(
                "ApprovalPolicy {policy_name} of ApprovalRequest {} no longer exists; restore it, or submit a new release",
                request.name_any()
            ),
        );
        work.enter(ctx, step).await?;
        return Ok(Next::Wait);
    };
    let (phase, progress, message) = approval_progress(&policy, &request.spec.decisions);
    write_request_status(ctx, &request, phase, &progress, &message).await?;
    let missing = progress.missing.clone();
    work.status.approvals = Some(progress);
    match phase {
        ApprovalPhase::Approved => {
            let last = work
                .status
                .approvals
                .as_ref()
                .and_then(|p| p.approvers.last())
                .map(|a| a.user.clone())
                .unwrap_or_default();
            let who: Vec<String> = work
                .status
                .approvals
                .iter()
                .flat_map(|p| &p.approvers)
                .map(
                    |a| match a.groups.iter().find(|g| !g.starts_with("system:")) {
                        Some(team) => format!("{} ({team})", a.user),
                        None => a.user.clone(),
                    },
                )
                .collect();
            let step = Step::new(
                ReleasePhase::Approved,
                reasons::APPROVED,
                format!("{message}: {}", who.join(", ")),
            )
            .by(last);
            work.enter(ctx, step).await?;
            Ok(Next::Continue)
        }
        ApprovalPhase::Rejected => {
            let rejection = request
                .spec
                .decisions
                .iter()
                .find(|d| d.decision == DecisionKind::Reject);
            let by = rejection.and_then(|d| d.user.clone()).unwrap_or_default();
            let comment = rejection
                .and_then(|d| d.comment.clone())
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            let step = Step::new(
                ReleasePhase::Rejected,
                reasons::REJECTED,
                format!("{message}{comment}; submit a new release with the requested changes"),
            )
            .by(by);
            work.enter(ctx, step).await?;
            Ok(Next::Wait)
        }
        ApprovalPhase::Pending => {
            let needs = if missing.is_empty() {
                String::new()
            } else {
                format!("; still needed: {}", missing.join(", "))
            };
            let step = Step::new(
                ReleasePhase::PendingApproval,
                reasons::AWAITING_APPROVAL,
                format!("{message}{needs}"),
            );
            work.enter(ctx, step).await?;
            Ok(Next::Wait)
        }
    }
}

fn governing_policy_name(work: &Work, ctx: &Context) -> String {
    let policies = ctx.index.approval_policies.store.state();
    gitopshq_engine::lifecycle::governing_approval_policy(
        policies.iter().map(|p| p.as_ref()),
        &work.release,
    )
    .map(|p| p.name_any())
    .unwrap_or_default()
}

async fn write_request_status(
    ctx: &Context,
    request: &ApprovalRequest,
    phase: ApprovalPhase,
    progress: &gitopshq_crds::release::ApprovalProgress,
    message: &str,
) -> Result<()> {
    let mut status: ApprovalRequestStatus = request.status.clone().unwrap_or_default();
    status.phase = Some(phase);
    status.received = progress.received;
    status.required = progress.required;
    status.message = Some(message.to_string());
    let (approved, reason) = match phase {
        ApprovalPhase::Approved => (Status::True, reasons::APPROVED),
        ApprovalPhase::Rejected => (Status::False, reasons::REJECTED),
        ApprovalPhase::Pending => (Status::Unknown, reasons::AWAITING_APPROVAL),
    };
    let generation = request.metadata.generation;
    let now = ctx.now();
    conditions::set(
        &mut status.conditions,
        types::APPROVED,
        approved,
        reason,
        message,
        generation,
        now,
    );
    conditions::set(
        &mut status.conditions,
        types::READY,
        Status::from_bool(phase == ApprovalPhase::Approved),
        reason,
        message,
        generation,
        now,
    );
    if request.status.as_ref() != Some(&status) {
        ctx.patch_status(request, &status).await?;
    }
    Ok(())
}
