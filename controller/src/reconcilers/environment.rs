//! Environment: `status.frozen`, the freeze in force and the next one, recomputed at every
//! window boundary.

use std::sync::Arc;
use std::time::Duration;

use gitopshq_crds::environment::Environment;
use gitopshq_engine::freeze::environment_status;
use kube::runtime::controller::Action;

use crate::context::Context;
use crate::error::Result;

/// Without a boundary in sight, look again after this long (clock changes, new zone data).
const IDLE_REQUEUE: Duration = Duration::from_secs(3600);

pub async fn reconcile(environment: Arc<Environment>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.settings.shard.owns_shared() {
        return Ok(Action::await_change());
    }
    let now = ctx.now();
    let (status, next) = environment_status(&environment, now, &ctx.settings.default_time_zone);
    if environment.status.as_ref() != Some(&status) {
        ctx.patch_status(environment.as_ref(), &status).await?;
    }
    Ok(Action::requeue(until(next, now)))
}

/// Time from `now` to `at` (at least a second, at most [`IDLE_REQUEUE`]).
pub fn until(at: Option<jiff::Timestamp>, now: jiff::Timestamp) -> Duration {
    at.and_then(|at| Duration::try_from(at.duration_since(now)).ok())
        .map(|d| d + Duration::from_millis(200))
        .unwrap_or(IDLE_REQUEUE)
        .clamp(Duration::from_secs(1), IDLE_REQUEUE)
}
