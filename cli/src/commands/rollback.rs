//! `gitopshq rollback WORKLOAD --to RELEASE`: a submitted, service-scoped Rollback release that
//! restores what RELEASE delivered for WORKLOAD, as a new commit (history is kept).

use std::process::ExitCode;

use anyhow::Result;
use gitopshq_crds::release::Release;
use gitopshq_engine::outcome::{Attempt, Kind};
use gitopshq_engine::rollback::{RollbackRequest, rollback_release};
use kube::api::PostParams;
use kube::{Api, ResourceExt};

use crate::kube_client::{Failure, KubeArgs, Session, block_on, resources};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The workload to roll back (only its folders are restored).
    pub workload: String,
    /// The earlier release whose content to restore.
    #[arg(long = "to", value_name = "RELEASE")]
    pub to: String,
    /// Environment; default: the target release's.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: Option<String>,
    /// Restore only these tenants (repeat); default: every tenant the target delivered to.
    #[arg(long = "tenant", value_name = "TENANT")]
    pub tenants: Vec<String>,
    /// Title; default: "Roll WORKLOAD back to RELEASE".
    #[arg(long)]
    pub title: Option<String>,
    /// Notes: the incident, what went wrong.
    #[arg(long)]
    pub notes: Option<String>,
    /// A BreakGlassSession to roll back under: it passes a freeze and skips the ApprovalPolicy
    /// for what the session covers (needs the break-glass grant on the environment).
    #[arg(long = "break-glass", value_name = "SESSION")]
    pub break_glass: Option<String>,
    /// Name of the rollback release; default: generated from rollback-WORKLOAD-.
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub kube: KubeArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    block_on(async move {
        let session = args.kube.connect().await?;
        rollback(&session, args).await
    })?
}

/// What the flags ask for.
pub fn request(args: &Args) -> RollbackRequest {
    RollbackRequest {
        workload: args.workload.clone(),
        environment: args.environment.clone(),
        tenants: args.tenants.clone(),
        title: args.title.clone(),
        notes: args.notes.clone(),
        break_glass_session: args.break_glass.clone(),
        name: args.name.clone(),
        submitted: true,
    }
}

async fn rollback(session: &Session, args: Args) -> Result<ExitCode> {
    let ns = session.namespace.as_str();
    let api: Api<Release> = Api::namespaced(session.client.clone(), ns);
    let target = session
        .call(
            Attempt::new("get", resources::RELEASES, Some(ns)).on(format!("release {}", args.to)),
            api.get(&args.to),
        )
        .await?;
    let release = rollback_release(&request(&args), &target, ns)
        .map_err(|e| Failure::new(Kind::Invalid, e.to_string(), Some(e.next(ns))))?;
    let delivered = target
        .status
        .as_ref()
        .and_then(|s| s.commit.clone())
        .unwrap_or_default();
    let created = session
        .call(
            Attempt::new("create", resources::RELEASES, Some(ns))
                .on(format!("rollback of {} to {}", args.workload, args.to)),
            api.create(&PostParams::default(), &release),
        )
        .await?;
    let name = created.name_any();
    println!("release.gitopshq.io/{name} created");
    eprintln!(
        "rollback of {} to {} (commit {delivered}) submitted; follow it with: gitopshq wait {name} -n {ns} --for Healthy",
        args.workload, args.to,
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn the_flags_ask_for_a_submitted_rollback_of_the_workload() {
        let t = T::parse_from([
            "t",
            "checkout",
            "--to",
            "good",
            "-n",
            "shop",
            "--env",
            "staging",
            "--tenant",
            "eu-1",
            "--break-glass",
            "incident-7",
        ]);
        assert_eq!(
            request(&t.args),
            RollbackRequest {
                workload: "checkout".into(),
                environment: Some("staging".into()),
                tenants: vec!["eu-1".into()],
                break_glass_session: Some("incident-7".into()),
                submitted: true,
                ..RollbackRequest::default()
            }
        );
    }
}
