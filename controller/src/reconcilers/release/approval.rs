//! The approval gate in the shell: read the governing policy, the release's ApprovalRequest and
//! the digest of what would be delivered now, ask the engine
//! ([`gitopshq_engine::lifecycle::gate`]) whether the approvals count for it, and write what it
//! says — the request (created here, owned by the release, recording the digest approvers
//! approve), its status and the release's phase. Called when a release is judged, whenever a
//! decision arrives, and right before every delivery. A release under an active break-glass
//! session that covers it gets its request too, marked `Bypassed` with the session, and the
//! session is recorded on the release (`status.breakGlassSession`, the commit's trailer).

use std::collections::BTreeMap;
use std::sync::Arc;

use gitopshq_crds::approval_request::ApprovalRequest;
use gitopshq_crds::consts::reasons;
use gitopshq_engine::admission::named_session;
use gitopshq_engine::catalog::Catalog;
use gitopshq_engine::error::Chain;
use gitopshq_engine::lifecycle::gate::{self, ApprovalGate, BreakGlassCover, GateFacts};
use gitopshq_engine::lifecycle::{self, Step};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::{Next, Work};
use crate::context::Context;

use crate::error::{Result, kube as kube_error};

/// The gate's answer and the digest it was asked about.
pub(crate) struct Gated {
    pub gate: ApprovalGate,
    /// Digest of the content that would be delivered now; `None` when no policy governs (no
    /// render was needed to decide).
    pub digest: Option<String>,
    request: Option<ApprovalRequest>,
}

/// Asks the engine's approval gate about `work` as things are now. `Err(problem)` when the
/// content cannot be rendered (the caller fails the release with it).
pub(crate) async fn gate(
    work: &Work,
    ctx: &Arc<Context>,
    catalog: &Arc<Catalog>,
) -> Result<std::result::Result<Gated, String>> {
    let policies = ctx.index.approval_policies.store.state();
    let policy =
        lifecycle::governing_approval_policy(policies.iter().map(|p| p.as_ref()), &work.release)
            .cloned();
    let request = match &policy {
        Some(_) => lookup(work, ctx).await?,
        None => None,
    };
    let (digest, inputs) = match &policy {
        None => (None, BTreeMap::new()),
        Some(_) => {
            let ctx = Arc::clone(ctx);
            let catalog = Arc::clone(catalog);
            let release = work.release.clone();
            let computed = tokio::task::spawn_blocking(move || {
                gitopshq_delivery::approval_digest(&catalog, &release, ctx.gitops_settings())
                    .map(|digest| (digest, gate::approval_inputs(&catalog, &release)))
                    .map_err(|error| Chain(&error).to_string())
            })
            .await?;
            match computed {
                Ok((digest, inputs)) => (Some(digest), inputs),
                Err(problem) => return Ok(Err(problem)),
            }
        }
    };
    let owned = request
        .as_ref()
        .is_some_and(|r| gate::request_owned_by(r, &work.release));
    let session = match &policy {
        Some(_) => named_session(&work.release, ctx.index.as_ref(), ctx.now()),
        None => None,
    };
    let decided = gate::approval_gate(&GateFacts {
        release: &work.release,
        policy: policy.as_ref(),
        request: request.as_ref(),
        request_owned: owned,
        digest: digest.as_deref().unwrap_or_default(),
        inputs: &inputs,
        break_glass: BreakGlassCover::from_check(session.as_ref()),
    });
    Ok(Ok(Gated {
        gate: decided,
        digest,
        request,
    }))
}

/// Writes what the gate decided: the request, its status, the release's approval progress and
/// phase. Returns how the reconciliation goes on.
pub(crate) async fn enforce(work: &mut Work, ctx: &Context, gated: Gated) -> Result<Next> {
    let Gated { gate, request, .. } = gated;
    if let ApprovalGate::Cancelled(step) = gate {
        cancel(work, ctx, step).await?;
        return Ok(Next::Wait);
    }
    if let Some(progress) = gate.progress() {
        work.status.approval_request = Some(work.name());
        work.status.approvals = Some(progress.clone());
    }
    let request = match &gate {
        ApprovalGate::Record {
            digest,
            inputs,
            change,
            ..
        } => Some(
            record(
                work,
                ctx,
                request.as_ref(),
                digest,
                inputs,
                change.as_deref(),
            )
            .await?,
        ),
        ApprovalGate::Bypassed {
            digest,
            inputs,
            record: true,
            ..
        } => Some(record(work, ctx, request.as_ref(), digest, inputs, None).await?),
        _ => request,
    };
    if let Some(session) = gate.bypassed_by() {
        work.status.break_glass_session = Some(session.to_string());
    }
    if let Some(request) = &request {
        write_request_status(ctx, request, &gate).await?;
    }
    let open = gate.open();
    let step: Step = gate.step().clone();
    work.enter(ctx, step).await?;
    if open {
        return Ok(Next::Continue);
    }
    // ApprovalPolicy spec.sla: an overdue release is marked once (the notifier escalates it);
    // before that, look again when it falls due.
    let policies = ctx.index.approval_policies.store.state();
    let policy =
        lifecycle::governing_approval_policy(policies.iter().map(|p| p.as_ref()), &work.release);
    let sla = lifecycle::sla::approval_sla(&work.status, policy, ctx.now());
    if lifecycle::sla::record_sla(
        &mut work.status.conditions,
        &sla,
        work.release.metadata.generation,
    ) {
        work.write(ctx).await?;
        if let lifecycle::sla::Sla::Overdue { message, .. } = &sla {
            ctx.event(&work.release, true, reasons::SLA_EXCEEDED, message.clone())
                .await;
        }
    }
    Ok(match sla {
        lifecycle::sla::Sla::Due(at) => {
            Next::Requeue(crate::reconcilers::environment::until(Some(at), ctx.now()))
        }
        _ => Next::Wait,
    })
}

/// The release is cancelled: its ApprovalRequest (when it has one) shows `Cancelled` with who
/// cancelled it and why, then the release enters the step. Both writes are idempotent, so a
/// restart between them finishes the job.
pub(crate) async fn cancel(work: &mut Work, ctx: &Context, step: Step) -> Result<()> {
    if let Some(request) = lookup(work, ctx).await?
        && gate::request_owned_by(&request, &work.release)
    {
        let status = gate::cancelled_request_status(
            request.status.as_ref(),
            &step.message,
            request.metadata.generation,
            ctx.now(),
        );
        let already = request
            .status
            .as_ref()
            .is_some_and(|s| s.phase == status.phase && s.message == status.message);
        if !already {
            ctx.patch_status(&request, &status).await?;
        }
    }
    work.enter(ctx, step).await
}

/// Creates the release's ApprovalRequest recording `digest`, or records the new digest on the
/// existing one (its earlier decisions then no longer count).
async fn record(
    work: &Work,
    ctx: &Context,
    existing: Option<&ApprovalRequest>,
    digest: &str,
    inputs: &BTreeMap<String, String>,
    change: Option<&str>,
) -> Result<ApprovalRequest> {
    let namespace = work.namespace();
    let name = work.name();
    let api: Api<ApprovalRequest> = Api::namespaced(ctx.client.clone(), &namespace);
    if existing.is_some() {
        let patch = json!({"spec": {
            "renderedDigest": digest,
            "inputs": inputs,
            "digestChange": change,
        }});
        return api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(kube_error(format!(
                "recording the new digest on ApprovalRequest {namespace}/{name}"
            )));
    }
    let policies = ctx.index.approval_policies.store.state();
    let policy =
        lifecycle::governing_approval_policy(policies.iter().map(|p| p.as_ref()), &work.release)
            .map(|p| p.name_any())
            .unwrap_or_default();
    let request = gate::new_request(&work.release, &policy, digest, inputs, change);
    match api.create(&PostParams::default(), &request).await {
        Ok(created) => Ok(created),
        // Created meanwhile (by an earlier attempt): the next reconciliation reads it.
        Err(kube::Error::Api(status)) if status.code == 409 => api.get(&name).await.map_err(
            kube_error(format!("reading ApprovalRequest {namespace}/{name}")),
        ),
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

/// PendingApproval: a decision arrived, or an input changed.
pub(crate) async fn check(work: &mut Work, ctx: &Arc<Context>) -> Result<Next> {
    let (catalog, unread) = ctx.release_catalog(&work.release).await?;
    if let Some(problem) = unread {
        // Judged without what runs, the content would look changed and the approvals given
        // would stop counting: look again when the repository answers.
        tracing::warn!(release = %work.name(), %problem, "approvals not judged now");
        return Ok(Next::Requeue(std::time::Duration::from_secs(30)));
    }
    let catalog = Arc::new(catalog);
    match gate(work, ctx, &catalog).await? {
        Ok(gated) => enforce(work, ctx, gated).await,
        Err(problem) => cannot_render(work, ctx, problem).await,
    }
}

/// The content to approve cannot be rendered: the release fails with the reason.
pub(crate) async fn cannot_render(work: &mut Work, ctx: &Context, problem: String) -> Result<Next> {
    let step = lifecycle::steps::cannot_render(&work.name(), &problem);
    work.enter(ctx, step).await?;
    Ok(Next::Wait)
}

async fn write_request_status(
    ctx: &Context,
    request: &ApprovalRequest,
    gate: &ApprovalGate,
) -> Result<()> {
    let (Some(phase), Some(progress)) = (gate.request_phase(), gate.progress()) else {
        return Ok(());
    };
    let status = gate::request_status(
        request.status.as_ref(),
        phase,
        progress,
        &gate.step().message,
        request.metadata.generation,
        ctx.now(),
    );
    if request.status.as_ref() != Some(&status) {
        ctx.patch_status(request, &status).await?;
    }
    Ok(())
}
