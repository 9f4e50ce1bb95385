//! `gitopshq`: the one binary of GitOpsHQ. Offline tools work on the same YAML a user would
//! `kubectl apply`; cluster commands talk to the Kubernetes API.
#![forbid(unsafe_code)]

mod commands;
mod dashboard;
mod kube_client;
mod load;
mod release_delivery;
mod set_values;
mod table;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use gitopshq_engine::error::Chain;

// Policy evaluation and rendering allocate and free many small values on every core at once;
// glibc malloc contends on its arena locks there (admission of a new release: p50 4.7 ms with
// it, 2.5 ms with mimalloc).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = parse();
    init_tracing(cli.verbose);
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            // What failed, then why, on one line ("a: b: c"), each cause once.
            let causes: &(dyn std::error::Error + 'static) = error.as_ref();
            eprintln!("error: {}", Chain(causes));
            kube_client::exit_code_of(&error)
        }
    }
}

/// Invoked as `kubectl-gitopshq` (kubectl's plugin lookup for `kubectl gitopshq …`), the same
/// commands, with help and usage naming `kubectl gitopshq`.
fn parse() -> commands::Cli {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let as_plugin = std::path::Path::new(&argv0)
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("kubectl-gitopshq"));
    let mut command = commands::Cli::command();
    if as_plugin {
        command = command.bin_name("kubectl gitopshq");
    }
    let matches = command.get_matches();
    commands::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn init_tracing(verbose: u8) {
    // kube's HTTP layer logs every failed request at ERROR before its caller has decided
    // anything: while an API server is still starting, each expected retry would read as a
    // fault. Every caller here reports its own failures with context, at their level.
    let default = match verbose {
        0 => "warn,kube_client::client::builder=off",
        1 => "info,gitopshq=debug,kube_client::client::builder=off",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GITOPSHQ_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
