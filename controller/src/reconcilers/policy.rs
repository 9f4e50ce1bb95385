//! Policy: compiles the Rego module and runs its embedded tests (the OPA workbench), and
//! reports both in status, so a policy that slipped past admission (the webhook was down, or
//! regorus changed) shows it cannot judge releases.

use std::sync::Arc;

use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_crds::policy::Policy;
use gitopshq_engine::conditions::{self, Status};
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
    let mut status = check.status();
    status.conditions = policy
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let c = &mut status.conditions;
    match &check.compiled {
        Ok(_) => conditions::set(
            c,
            types::COMPILED,
            Status::True,
            reasons::COMPILED,
            "the Rego module compiles",
            generation,
            now,
        ),
        Err(error) => conditions::set(
            c,
            types::COMPILED,
            Status::False,
            reasons::COMPILE_ERROR,
            &error.to_string(),
            generation,
            now,
        ),
    };
    let (passed, failed) = (check.tests.passed, check.tests.failed);
    let tests_message = match check.problem() {
        Some(problem) => problem,
        None => format!("{passed} of {} embedded tests pass", passed + failed),
    };
    let (ok, reason) = if failed == 0 && check.compiled.is_ok() {
        (Status::True, reasons::TESTS_PASSED)
    } else {
        (Status::False, reasons::TESTS_FAILED)
    };
    conditions::set(
        c,
        types::TESTS_PASSED,
        ok,
        reason,
        &tests_message,
        generation,
        now,
    );
    let ready_reason = if check.compiled.is_err() {
        reasons::COMPILE_ERROR
    } else {
        reason
    };
    conditions::set(
        c,
        types::READY,
        ok,
        ready_reason,
        &tests_message,
        generation,
        now,
    );
    if policy.status.as_ref() != Some(&status) {
        ctx.patch_status(policy.as_ref(), &status).await?;
    }
    Ok(Action::await_change())
}
