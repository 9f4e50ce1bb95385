use std::process::ExitCode;

use anyhow::Result;
use gitopshq_engine::compare::{Side, compare};

use super::Inputs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub inputs: Inputs,
    /// Left side: an environment, a tenant, ENV/TENANT (a tenant seen in ENV), or release:NAME
    /// (a tenant of that release once it is delivered: --tenant, else its first target).
    pub left: String,
    /// Right side, as LEFT.
    pub right: String,
    /// Compare this tenant's overrides as they would apply in both environments (for a
    /// release:NAME side, which of its tenants).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only this workload.
    #[arg(long)]
    pub workload: Option<String>,
    /// Exit with status 1 when the sides differ (for CI checks).
    #[arg(long)]
    pub exit_code: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (catalog, project) = args.inputs.project_catalog()?;
    let left = Side::parse(&catalog, &project, &args.left, args.tenant.as_deref())?;
    let right = Side::parse(&catalog, &project, &args.right, args.tenant.as_deref())?;
    let comparison = compare(&catalog, &project, left, right, args.workload.as_deref())?;
    println!(
        "project {project}: {} ← → {}",
        comparison.left.label(),
        comparison.right.label()
    );
    for w in &comparison.workloads {
        let show = |c: &Option<String>| c.clone().unwrap_or_else(|| "(not running)".into());
        println!();
        println!(
            "== workload {}: {} | {}",
            w.workload,
            show(&w.left_chart),
            show(&w.right_chart)
        );
        println!("-- resolved values (left → right)");
        print!("{}", indent(&w.values.to_string()));
        println!("-- rendered manifests (left → right)");
        print!("{}", indent(&w.manifests.to_string()));
    }
    if comparison.workloads.is_empty() {
        println!("no workloads on either side");
    }
    let differ = !comparison.is_empty();
    println!();
    println!(
        "{}",
        if differ {
            "the sides differ"
        } else {
            "the sides are identical"
        }
    );
    Ok(if differ && args.exit_code {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("   {l}\n")).collect()
}
