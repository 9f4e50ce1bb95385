//! `gitopshq`: the one binary of GitOpsHQ. Offline tools work on the same YAML a user would
//! `kubectl apply`; cluster commands talk to the Kubernetes API.
#![forbid(unsafe_code)]

mod commands;
mod load;
mod release_delivery;
mod table;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    init_tracing(cli.verbose);
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            // `{:#}` prints the whole context chain on one line: what failed, then why.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,gitopshq=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GITOPSHQ_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
