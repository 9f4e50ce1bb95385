//! BreakGlassSession: Active on creation, Closed with its note, Expired at `expiresAt`; the
//! releases made under it are recorded and the record is sealed when it ends.

use std::sync::Arc;

use gitopshq_crds::break_glass_session::BreakGlassSession;
use gitopshq_engine::sessions::{phase_event, session_status};
use kube::ResourceExt;
use kube::runtime::controller::Action;

use crate::context::Context;
use crate::error::Result;
use crate::reconcilers::environment::until;

pub async fn reconcile(session: Arc<BreakGlassSession>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = session.namespace().unwrap_or_default();
    if !ctx.settings.shard.owns(&namespace) {
        return Ok(Action::await_change());
    }
    let now = ctx.now();
    let releases: Vec<_> = ctx
        .index
        .releases
        .store
        .state()
        .into_iter()
        .filter(|r| r.namespace().as_deref() == Some(namespace.as_str()))
        .collect();
    let refs: Vec<_> = releases.iter().map(|r| r.as_ref()).collect();
    let (status, next) = session_status(&session, &refs, now);
    let before = session.status.as_ref().and_then(|s| s.phase);
    if session.status.as_ref() != Some(&status) {
        ctx.patch_status(session.as_ref(), &status).await?;
        if let Some(event) = phase_event(&session, before, &status) {
            ctx.event(session.as_ref(), event.warning, event.reason, event.note)
                .await;
        }
    }
    Ok(match next {
        Some(at) => Action::requeue(until(Some(at), now)),
        None => Action::await_change(),
    })
}
