use std::process::ExitCode;

use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_: Args) -> Result<ExitCode> {
    print!("{}", gitopshq_crds::crds_yaml());
    Ok(ExitCode::SUCCESS)
}
