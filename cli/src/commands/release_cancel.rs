//! `gitopshq release cancel NAME [--reason TEXT]`: stop a release before it is delivered.
//!
//! It sets `spec.cancellation.reason` (a merge patch, as `kubectl patch` would); the admission
//! webhook stamps who cancelled it and when, and refuses a release whose delivery has started
//! (roll that back instead) or a requester who is neither its creator nor holds the `cancel`
//! grant. The controller then moves the release and its ApprovalRequest to `Cancelled`.

use std::process::ExitCode;

use anyhow::Result;
use gitopshq_crds::release::Release;
use gitopshq_engine::outcome::Attempt;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use crate::kube_client::{Session, resources};

#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    /// Release name.
    pub name: String,
    /// Why it is cancelled: recorded on the release, in its timeline and in the audit.
    #[arg(long)]
    pub reason: Option<String>,
}

/// The merge patch that cancels a release.
pub fn cancel_patch(reason: Option<&str>) -> Value {
    let mut cancellation = json!({});
    if let Some(reason) = reason.map(str::trim).filter(|r| !r.is_empty()) {
        cancellation["reason"] = json!(reason);
    }
    json!({"spec": {"cancellation": cancellation}})
}

pub async fn run_cancel(session: &Session, args: CancelArgs) -> Result<ExitCode> {
    let api: Api<Release> = Api::namespaced(session.client.clone(), &session.namespace);
    let object = format!("release {}", args.name);
    let patch = cancel_patch(args.reason.as_deref());
    let cancelled = session
        .call(
            Attempt::new("patch", resources::RELEASES, Some(&session.namespace)).on(&object),
            api.patch(&args.name, &PatchParams::default(), &Patch::Merge(&patch)),
        )
        .await?;
    let by = cancelled
        .spec
        .cancellation
        .as_ref()
        .and_then(|c| c.user.clone())
        .unwrap_or_else(|| "you".into());
    println!("release.gitopshq.io/{} cancelled by {by}", args.name);
    eprintln!(
        "nothing of it will be delivered; see it with: gitopshq status {} -n {}",
        args.name, session.namespace
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patch_sets_the_reason_or_an_empty_cancellation() {
        assert_eq!(
            cancel_patch(Some(" wrong tag ")),
            json!({"spec": {"cancellation": {"reason": "wrong tag"}}})
        );
        assert_eq!(cancel_patch(None), json!({"spec": {"cancellation": {}}}));
        assert_eq!(cancel_patch(Some("  ")), cancel_patch(None));
    }
}
