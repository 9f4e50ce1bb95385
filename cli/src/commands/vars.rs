use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::Result;
use gitopshq_engine::plan::{self, Target};
use gitopshq_engine::{merge_layers, variable_uses};
use serde_json::Value;

use super::Inputs;
use crate::table::Table;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub inputs: Inputs,
    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,
    /// Only this tenant (its tenant-scoped variables apply).
    #[arg(long)]
    pub tenant: Option<String>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (catalog, project, targets) =
        args.inputs
            .environment_targets(&args.environment, args.tenant.as_deref(), None)?;

    let mut uses = Table::new([
        "TENANT",
        "WORKLOAD",
        "VALUE PATH",
        "REFERENCE",
        "SCOPE",
        "RESOLVES TO",
    ]);
    let mut unresolved = 0;
    let mut referenced = BTreeSet::new();
    for target in &targets {
        for u in uses_of(&catalog, target)? {
            referenced.insert(u.reference.name.clone());
            let (scope, value) = match &u.resolved {
                Some((scope, value)) => (scope.to_string(), show(value)),
                None => {
                    unresolved += 1;
                    ("-".to_string(), "UNRESOLVED".to_string())
                }
            };
            uses.row([
                target.tenant.clone(),
                target.workload.clone(),
                u.path.to_string(),
                format!("{{{{{}}}}}", u.reference),
                scope,
                value,
            ]);
        }
    }
    println!(
        "HQ variables in use: project {project}, environment {}",
        args.environment
    );
    print!("{uses}");

    // Per variable: what each scope defines and which definition wins for each tenant.
    println!();
    println!("Definitions (most specific scope wins: tenant, then environment, then project)");
    let mut defs = Table::new([
        "VARIABLE",
        "PROJECT",
        "ENVIRONMENT",
        "TENANT",
        "TENANT VALUE",
        "EFFECTIVE",
    ]);
    let tenants: BTreeSet<&str> = targets.iter().map(|t| t.tenant.as_str()).collect();
    for tenant in tenants {
        let scopes = plan::variable_scopes(&catalog, &project, &args.environment, Some(tenant))?;
        let names: BTreeSet<&String> = scopes
            .project
            .keys()
            .chain(scopes.environment.keys())
            .chain(scopes.tenant.keys())
            .chain(referenced.iter())
            .collect();
        for name in names {
            let cell = |v: Option<&Value>| v.map(show).unwrap_or_else(|| "-".into());
            let effective = scopes
                .lookup(name, false)
                .map(|(scope, v)| format!("{} ({scope})", show(v)))
                .unwrap_or_else(|| "UNRESOLVED".into());
            defs.row([
                name.clone(),
                cell(scopes.project.get(name)),
                cell(scopes.environment.get(name)),
                tenant.to_string(),
                cell(scopes.tenant.get(name)),
                effective,
            ]);
        }
    }
    print!("{defs}");
    if unresolved > 0 {
        eprintln!(
            "error: {unresolved} variable reference(s) do not resolve in {}: define them in a Variables object (project, environment or tenant scope)",
            args.environment
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn uses_of(
    catalog: &gitopshq_engine::catalog::Catalog,
    target: &Target,
) -> Result<Vec<gitopshq_engine::VariableUse>> {
    let chart = catalog
        .chart_version(&target.chart, &target.version)
        .map(|cv| Value::Object(cv.spec.values.clone()))
        .unwrap_or(Value::Null);
    let merged = merge_layers(&chart, &target.input.layers)?;
    Ok(variable_uses(&merged, &target.input.variables))
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
