//! Release: Draft → (render, policies) → PendingApproval → Approved → Deploying → Deployed →
//! Healthy, or Rejected / Blocked / Failed / Degraded / Superseded / Cancelled.
//!
//! Each reconciliation moves the release as far as it can, writing the status after every
//! step, so a restart at any point resumes from the last written phase. The only step with an
//! effect outside the API, the Git commit, is looked up in the repository history (by release
//! and rendered digest) before it is made: a second commit is never created.

mod approval;
mod deliver;
mod evaluate;
mod observe;

use std::sync::Arc;
use std::time::Duration;

use gitopshq_crds::consts::annotations;
use gitopshq_crds::release::{Release, ReleasePhase, ReleaseStatus};
use gitopshq_engine::lifecycle::steps::Stage;
use gitopshq_engine::lifecycle::{self, Step};
use kube::ResourceExt;
use kube::runtime::controller::Action;

use crate::context::Context;
use crate::error::Result;

/// Steps taken in one reconciliation before yielding to other objects.
const MAX_STEPS: usize = 8;

/// What to do after a step.
pub(crate) enum Next {
    /// The status moved on; take the next step now.
    Continue,
    /// Look again after this long.
    Requeue(Duration),
    /// Nothing to do until the release or something it watches changes.
    Wait,
}

/// A release being reconciled: the object as read and the status being built.
pub(crate) struct Work {
    pub release: Release,
    pub status: ReleaseStatus,
}

impl Work {
    pub fn phase(&self) -> Option<ReleasePhase> {
        self.status.phase
    }

    pub fn name(&self) -> String {
        self.release.name_any()
    }

    pub fn namespace(&self) -> String {
        self.release.namespace().unwrap_or_default()
    }

    /// Enters `step` and writes the status; an Event marks each phase change.
    pub async fn enter(&mut self, ctx: &Context, step: Step) -> Result<()> {
        let before = (self.status.phase, self.status.reason.clone());
        let changed = lifecycle::enter(
            &mut self.status,
            &step,
            self.release.metadata.generation,
            ctx.now(),
        );
        // Observations made before the step (drift, tenants' messages) are written with it.
        if changed || self.release.status.as_ref() != Some(&self.status) {
            self.write(ctx).await?;
        }
        if before != (Some(step.phase), Some(step.reason.to_string())) {
            ctx.event(
                &self.release,
                step.is_warning(),
                step.reason,
                step.message.clone(),
            )
            .await;
        }
        Ok(())
    }

    /// Writes the status as it is now.
    pub async fn write(&mut self, ctx: &Context) -> Result<()> {
        let written = ctx.patch_status(&self.release, &self.status).await?;
        self.release = written;
        Ok(())
    }
}

pub async fn reconcile(release: Arc<Release>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = release.namespace().unwrap_or_default();
    if !ctx.settings.shard.owns(&namespace) || release.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let mut work = Work {
        status: release.status.clone().unwrap_or_default(),
        release: (*release).clone(),
    };
    if let Some(step) = lifecycle::cancellation(&work.release, work.phase()) {
        approval::cancel(&mut work, &ctx, step).await?;
        return Ok(Action::await_change());
    }
    if !work.release.spec.submitted {
        let step = lifecycle::draft_step(&work.release);
        if lifecycle::steps::records_policy_results(&step) {
            // The release page shows the policy results a submission would get, before it.
            evaluate::record_draft_policies(&mut work, &ctx).await?;
        }
        work.enter(&ctx, step).await?;
        return Ok(Action::await_change());
    }
    retry_if_requested(&mut work);
    for _ in 0..MAX_STEPS {
        let next = step(&mut work, &ctx).await?;
        match next {
            Next::Continue => continue,
            Next::Requeue(after) => return Ok(Action::requeue(after)),
            Next::Wait => return Ok(Action::await_change()),
        }
    }
    Ok(Action::requeue(Duration::from_millis(100)))
}

/// A new `gitopshq.io/retry` value sends a Failed or Blocked release back to the start.
fn retry_if_requested(work: &mut Work) {
    let annotation = work.release.annotations().get(annotations::RETRY).cloned();
    if !lifecycle::retry_requested(annotation.as_deref(), work.status.observed_retry.as_deref()) {
        return;
    }
    work.status.observed_retry = annotation;
    if let Some(phase) = lifecycle::retried_phase(work.phase(), work.status.reason.as_deref()) {
        work.status.phase = Some(phase);
    }
}

async fn step(work: &mut Work, ctx: &Arc<Context>) -> Result<Next> {
    // Each status write returns the release as stored, so a cancellation admitted meanwhile is
    // seen before the next step.
    if let Some(step) = lifecycle::cancellation(&work.release, work.phase()) {
        approval::cancel(work, ctx, step).await?;
        return Ok(Next::Wait);
    }
    if let Some(newer) = observe::superseded_by(work, ctx) {
        work.enter(ctx, lifecycle::superseded_step(&newer)).await?;
        return Ok(Next::Wait);
    }
    match lifecycle::steps::stage(work.phase(), work.status.reason.as_deref()) {
        Stage::Evaluate => evaluate::evaluate(work, ctx).await,
        Stage::CheckApprovals => approval::check(work, ctx).await,
        Stage::StartDelivery => deliver::start(work, ctx).await,
        Stage::Deliver => deliver::deliver(work, ctx).await,
        Stage::Observe => observe::observe(work, ctx).await,
        Stage::Settled => Ok(Next::Wait),
    }
}
