//! `gitopshq controller`: the operator's reconcilers, with metrics and leader election.

use std::process::ExitCode;

use anyhow::{Context, Result};
use gitopshq_controller::ControllerArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub controller: ControllerArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(gitopshq_controller::manager::run(args.controller))?;
    Ok(ExitCode::SUCCESS)
}
