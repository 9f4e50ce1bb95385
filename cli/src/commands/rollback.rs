//! `gitopshq rollback WORKLOAD --to RELEASE`: a submitted, service-scoped Rollback release that
//! restores what RELEASE delivered for WORKLOAD, as a new commit (history is kept).

use std::process::ExitCode;

use anyhow::Result;
use gitopshq_crds::release::{Release, ReleaseSpec, ReleaseType, RollbackTarget, WorkloadChange};
use gitopshq_engine::outcome::{Attempt, Kind};
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

/// The Rollback release the flags describe, given the target release.
pub fn rollback_release(args: &Args, target: &Release, namespace: &str) -> Release {
    let environment = args
        .environment
        .clone()
        .unwrap_or_else(|| target.spec.environment.clone());
    let mut release = Release::new(
        args.name.as_deref().unwrap_or_default(),
        ReleaseSpec {
            title: args
                .title
                .clone()
                .unwrap_or_else(|| format!("Roll {} back to {}", args.workload, args.to)),
            notes: args.notes.clone(),
            environment,
            tenants: args.tenants.clone(),
            changes: vec![WorkloadChange {
                workload: args.workload.clone(),
                ..WorkloadChange::default()
            }],
            type_: ReleaseType::Rollback,
            rollback_to: Some(RollbackTarget {
                release: args.to.clone(),
            }),
            break_glass_session: args.break_glass.clone(),
            submitted: true,
            ..ReleaseSpec::default()
        },
    );
    if args.name.is_none() {
        release.metadata.name = None;
        let prefix: String = format!("rollback-{}-", args.workload)
            .chars()
            .take(200)
            .collect();
        release.metadata.generate_name = Some(prefix);
    }
    release.metadata.namespace = Some(namespace.to_string());
    release
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
    let delivered = target.status.as_ref().and_then(|s| s.commit.clone());
    if delivered.is_none() {
        return Err(Failure::new(
            Kind::Invalid,
            format!(
                "release {} has no delivery commit: there is nothing to restore",
                args.to
            ),
            Some(format!(
                "roll back to a release that was delivered: kubectl get releases -n {ns}"
            )),
        )
        .into());
    }
    if !target.spec.changes.is_empty()
        && !target
            .spec
            .changes
            .iter()
            .any(|c| c.workload == args.workload)
    {
        let workloads: Vec<&str> = target
            .spec
            .changes
            .iter()
            .map(|c| c.workload.as_str())
            .collect();
        return Err(Failure::new(
            Kind::Invalid,
            format!(
                "release {} did not change workload {} (it changed {})",
                args.to,
                args.workload,
                workloads.join(", ")
            ),
            Some("name a release that delivered this workload".into()),
        )
        .into());
    }
    let release = rollback_release(&args, &target, ns);
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
        "rollback of {} to {} (commit {}) submitted; follow it with: gitopshq wait {name} -n {ns} --for Healthy",
        args.workload,
        args.to,
        delivered.unwrap_or_default()
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
    fn a_rollback_is_service_scoped_submitted_and_in_the_targets_environment() {
        let target: Release = yaml_serde::from_str(
            "metadata: {name: good, namespace: shop}\nspec: {title: good, environment: production, changes: [{workload: checkout}]}",
        )
        .unwrap();
        let t = T::parse_from(["t", "checkout", "--to", "good", "-n", "shop"]);
        let r = rollback_release(&t.args, &target, "shop");
        assert_eq!(
            r.metadata.generate_name.as_deref(),
            Some("rollback-checkout-")
        );
        assert_eq!(r.spec.environment, "production");
        assert_eq!(r.spec.type_, ReleaseType::Rollback);
        assert_eq!(r.spec.rollback_to.as_ref().unwrap().release, "good");
        assert_eq!(r.spec.changes[0].workload, "checkout");
        assert!(r.spec.submitted);
        assert_eq!(r.spec.title, "Roll checkout back to good");
    }
}
