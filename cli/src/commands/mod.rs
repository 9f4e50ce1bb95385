//! Subcommands of `gitopshq`, one module each.

mod approve;
pub(crate) mod audit;
mod breakglass;
mod cluster;
mod compare;
mod controller;
mod crds;
mod deliver;
pub(crate) mod diff;
pub(crate) mod logs;
mod policy;
mod receiver;
mod release;
pub(crate) mod release_cancel;
mod render;
mod rollback;
mod sandbox;
pub(crate) mod status;
mod vars;
mod wait;
mod webhook;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use gitopshq_engine::catalog::Catalog;
use gitopshq_engine::plan::{self, Target};

#[derive(Debug, Parser)]
#[command(
    name = "gitopshq",
    version,
    about = "GitOps control plane for platform teams: render, diff, deliver and govern releases",
    propagate_version = true
)]
pub struct Cli {
    /// More log output (-v: info, -vv: debug); GITOPSHQ_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print every GitOpsHQ CustomResourceDefinition as multi-document YAML.
    Crds(crds::Args),
    /// Render what an environment (or one tenant / workload of it) runs.
    Render(render::Args),
    /// Show every HQ variable in use and what it resolves to, per scope.
    Vars(vars::Args),
    /// Compare resolved values and rendered manifests of two environments or tenants.
    Compare(compare::Args),
    /// Show what a release would change against what the GitOps repository holds now.
    Diff(diff::Args),
    /// Render a release and commit it to the GitOps repository.
    Deliver(deliver::Args),
    /// Test and evaluate OPA policies offline (the OPA workbench).
    Policy(policy::Args),
    /// Run the whole GitOps loop locally (management and workload clusters, Flux, KWOK, a Git
    /// server, GitOpsHQ) and deliver the bootstrap example until its release is Healthy.
    Sandbox(sandbox::Args),
    /// Run the controllers (reconcile every GitOpsHQ kind; leader election, metrics).
    Controller(controller::Args),
    /// Run the HTTPS admission webhook (or print its configuration with `webhook manifests`).
    Webhook(webhook::Args),
    /// Run the container registry webhook receiver alone (image updates and auto releases).
    Receiver(receiver::Args),
    /// Create or submit a Release (for people and CI).
    Release(release::Args),
    /// Approve a release: append your decision to its ApprovalRequest.
    Approve(approve::ApproveArgs),
    /// Reject a release, with a comment.
    Reject(approve::RejectArgs),
    /// Where a release stands: phase, quorum, policies, tenants, timeline, commit, next step.
    Status(status::Args),
    /// Wait until a release reaches a phase (Healthy by default); non-zero if it cannot.
    Wait(wait::Args),
    /// Roll a workload back to what an earlier release delivered (a new commit).
    Rollback(rollback::Args),
    /// Open or close a break-glass session (an audited exception to freezes).
    #[command(name = "breakglass", visible_alias = "break-glass")]
    BreakGlass(breakglass::Args),
    /// Pod logs of a release or workload on its tenants' clusters, with stated limits.
    Logs(logs::Args),
    /// The audit trail (who changed what, when, why), or `audit verify` of the repository.
    Audit(audit::Args),
    /// Serve the web dashboard: fleet, releases and approvals, compare, audit, diagnostics.
    Dashboard(crate::dashboard::Args),
    /// Register, rotate the token of, or unregister a workload cluster.
    Cluster(cluster::Args),
}

/// The YAML a user would `kubectl apply`, read offline.
#[derive(Debug, Clone, Args)]
pub struct Inputs {
    /// Files or folders of GitOpsHQ objects (YAML, multi-document); may repeat.
    #[arg(short = 'f', long = "filename", required = true, value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// Project to work on; needed only when the input defines several.
    #[arg(long, env = "GITOPSHQ_PROJECT")]
    pub project: Option<String>,
}

impl Inputs {
    /// The objects the files hold and the project they are about.
    pub fn project_catalog(&self) -> Result<(Catalog, String)> {
        let catalog = crate::load::catalog(&self.files)?;
        let project = plan::resolve_project(&catalog, self.project.as_deref())?.to_string();
        Ok((catalog, project))
    }

    /// As [`Inputs::project_catalog`], with the project's targets in `environment` (only
    /// `tenant`'s and `workload`'s when given).
    pub fn environment_targets(
        &self,
        environment: &str,
        tenant: Option<&str>,
        workload: Option<&str>,
    ) -> Result<(Catalog, String, Vec<Target>)> {
        let (catalog, project) = self.project_catalog()?;
        let targets = plan::environment_targets(&catalog, &project, environment, tenant, workload)?;
        Ok((catalog, project, targets))
    }
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Crds(args) => crds::run(args),
        Command::Render(args) => render::run(args),
        Command::Vars(args) => vars::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Deliver(args) => deliver::run(args),
        Command::Policy(args) => policy::run(args),
        Command::Sandbox(args) => sandbox::run(args),
        Command::Webhook(args) => webhook::run(args),
        Command::Controller(args) => controller::run(args),
        Command::Receiver(args) => receiver::run(args),
        Command::Release(args) => release::run(args),
        Command::Approve(args) => approve::run_approve(args),
        Command::Reject(args) => approve::run_reject(args),
        Command::Status(args) => status::run(args),
        Command::Wait(args) => wait::run(args),
        Command::Rollback(args) => rollback::run(args),
        Command::BreakGlass(args) => breakglass::run(args),
        Command::Logs(args) => logs::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Dashboard(args) => crate::dashboard::run(args),
        Command::Cluster(args) => cluster::run(args),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
