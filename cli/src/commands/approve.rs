//! `gitopshq approve|reject RELEASE`: append a decision to the release's ApprovalRequest. The
//! webhook stamps who and when from the authenticated request and refuses self-approval,
//! same-team approvals and decisions on releases that are not pending.

use std::process::ExitCode;

use anyhow::Result;
use gitopshq_crds::approval_request::{ApprovalRequest, DecisionKind};
use gitopshq_crds::release::Release;
use gitopshq_engine::outcome::{self, Attempt, Kind};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::kube_client::{Failure, KubeArgs, Session, block_on, resources};

#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// The release to approve.
    pub release: String,
    /// Why (recorded with the decision).
    #[arg(long, short = 'm')]
    pub comment: Option<String>,
    #[command(flatten)]
    pub kube: KubeArgs,
}

#[derive(Debug, clap::Args)]
pub struct RejectArgs {
    /// The release to reject.
    pub release: String,
    /// Why: required, the release's author reads it.
    #[arg(long, short = 'm')]
    pub comment: String,
    #[command(flatten)]
    pub kube: KubeArgs,
}

pub fn run_approve(args: ApproveArgs) -> Result<ExitCode> {
    block_on(async move {
        let session = args.kube.connect().await?;
        decide(&session, &args.release, DecisionKind::Approve, args.comment).await
    })?
}

pub fn run_reject(args: RejectArgs) -> Result<ExitCode> {
    anyhow::ensure!(
        !args.comment.trim().is_empty(),
        "--comment is required to reject: say why, the release's author reads it"
    );
    block_on(async move {
        let session = args.kube.connect().await?;
        decide(
            &session,
            &args.release,
            DecisionKind::Reject,
            Some(args.comment),
        )
        .await
    })?
}

async fn decide(
    session: &Session,
    name: &str,
    decision: DecisionKind,
    comment: Option<String>,
) -> Result<ExitCode> {
    let ns = session.namespace.as_str();
    let releases: Api<Release> = Api::namespaced(session.client.clone(), ns);
    let release = session
        .call(
            Attempt::new("get", resources::RELEASES, Some(ns)).on(format!("release {name}")),
            releases.get(name),
        )
        .await?;
    let status = release.status.clone().unwrap_or_default();
    let request_name = status
        .approval_request
        .clone()
        .unwrap_or_else(|| name.to_string());
    let requests: Api<ApprovalRequest> = Api::namespaced(session.client.clone(), ns);
    let object = format!("approval request {request_name}");
    let found = session
        .get_opt(
            Attempt::new("get", resources::APPROVAL_REQUESTS, Some(ns)).on(&object),
            requests.get(&request_name),
        )
        .await?;
    if found.is_none() {
        let (message, next_step) = outcome::no_approval_request(&release);
        return Err(Failure::new(Kind::Gated, message, next_step).into());
    }
    let mut value = json!({ "decision": decision });
    if let Some(comment) = comment.filter(|c| !c.trim().is_empty()) {
        value["comment"] = json!(comment);
    }
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "add", "path": "/spec/decisions/-", "value": value}
    ]))?;
    let updated = session
        .call(
            Attempt::new("patch", resources::APPROVAL_REQUESTS, Some(ns)).on(&object),
            requests.patch(
                &request_name,
                &PatchParams::default(),
                &Patch::<()>::Json(patch),
            ),
        )
        .await?;
    let recorded = updated.spec.decisions.last();
    let who = recorded
        .and_then(|d| d.user.clone())
        .unwrap_or_else(|| "you".into());
    let teams: Vec<&str> = recorded
        .map(|d| gitopshq_engine::admission::teams(&d.groups).collect())
        .unwrap_or_default();
    let verb = match decision {
        DecisionKind::Approve => "approved",
        DecisionKind::Reject => "rejected",
    };
    println!(
        "release {name} {verb} by {who}{}",
        if teams.is_empty() {
            String::new()
        } else {
            format!(" ({})", teams.join(", "))
        }
    );
    eprintln!("quorum and what is missing: gitopshq status {name} -n {ns}");
    Ok(ExitCode::SUCCESS)
}
