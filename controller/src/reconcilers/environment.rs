//! Environment: `status.frozen`, the freeze in force and the next one, recomputed at every
//! window boundary.

use std::sync::Arc;
use std::time::Duration;

use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_crds::environment::Environment;
use gitopshq_engine::conditions::{self, Status};
use gitopshq_engine::freeze::freeze_state;
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
    let generation = environment.metadata.generation;
    let mut status = environment.status.clone().unwrap_or_default();
    let next = match freeze_state(&environment, now, &ctx.settings.default_time_zone) {
        Ok(state) => {
            status.frozen = state.frozen();
            status.active_freeze = state.active.as_ref().map(|p| p.to_active_freeze());
            status.next_freeze = state.next.as_ref().map(|p| p.to_active_freeze());
            let message = match &state.active {
                Some(p) => format!(
                    "frozen until {} (window {:?}{})",
                    gitopshq_engine::admission::format_time(p.until),
                    p.name,
                    p.reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
                None => match &state.next {
                    Some(p) => format!(
                        "open; next freeze {:?} from {}",
                        p.name,
                        gitopshq_engine::admission::format_time(p.from)
                    ),
                    None => "open; no freeze window ahead".into(),
                },
            };
            let (frozen, reason) = if state.frozen() {
                (Status::True, reasons::FREEZE_ACTIVE)
            } else {
                (Status::False, reasons::NO_FREEZE)
            };
            let c = &mut status.conditions;
            conditions::set(c, types::FROZEN, frozen, reason, &message, generation, now);
            conditions::set(
                c,
                types::READY,
                Status::True,
                reasons::RECONCILED,
                &message,
                generation,
                now,
            );
            state.next_boundary()
        }
        Err(error) => {
            let message = format!("{error}; fix spec.freezeWindows");
            let c = &mut status.conditions;
            conditions::set(
                c,
                types::READY,
                Status::False,
                reasons::INVALID_SPEC,
                &message,
                generation,
                now,
            );
            None
        }
    };
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
