//! Subcommands of `gitopshq`, one module each.

mod compare;
mod controller;
mod crds;
mod deliver;
mod diff;
mod policy;
mod render;
mod sandbox;
mod vars;
mod webhook;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

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
    /// Start a local control plane (real kube-apiserver + etcd) with the bootstrap example.
    Sandbox(sandbox::Args),
    /// Run the controllers (reconcile every GitOpsHQ kind; leader election, metrics).
    Controller(controller::Args),
    /// Run the HTTPS admission webhook (or print its configuration with `webhook manifests`).
    Webhook(webhook::Args),
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
