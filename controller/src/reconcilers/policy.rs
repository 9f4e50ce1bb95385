//! Policy: compiles the Rego module and runs its embedded tests (the OPA workbench), and
//! reports both in status, so a policy that slipped past admission (the webhook was down, or
//! regorus changed) shows it cannot judge releases.

use std::sync::Arc;

use gitopshq_crds::policy::Policy;
use kube::runtime::controller::Action;

use crate::context::Context;
use crate::error::Result;

pub async fn reconcile(policy: Arc<Policy>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.settings.shard.owns_shared() {
        return Ok(Action::await_change());
    }
    let now = ctx.now();
    let generation = policy.metadata.generation;
    let check = {
        let ctx = Arc::clone(&ctx);
        let policy = Arc::clone(&policy);
        tokio::task::spawn_blocking(move || ctx.policies.check(&policy)).await?
    };
    let status = check.status_with_conditions(policy.status.as_ref(), generation, now);
    if policy.status.as_ref() != Some(&status) {
        ctx.patch_status(policy.as_ref(), &status).await?;
    }
    Ok(Action::await_change())
}
