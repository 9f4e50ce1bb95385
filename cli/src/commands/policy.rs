//! `gitopshq policy test` / `policy eval`: the OPA workbench, offline. Policies are `Policy`
//! objects (YAML, as applied) or bare `.rego` files; inputs are JSON or YAML documents used as
//! `input` as they are.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use gitopshq_crds::policy::{Policy, PolicySpec};
use gitopshq_engine::policy::{
    CompiledPolicy, EvalLimits, PolicyCheck, PolicyEngine, PolicyError, PolicyOutcome,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::load;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Subcommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum Subcommand {
    /// Run every Policy's embedded tests, and evaluate --input files against every policy.
    Test(TestArgs),
    /// Evaluate one policy on one input and print the verdict as JSON.
    Eval(EvalArgs),
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Policy files or folders (YAML `Policy` objects, multi-document) or `.rego` files; may
    /// repeat.
    #[arg(short = 'f', long = "filename", required = true, value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// An input document (JSON or YAML) to evaluate against every policy; may repeat.
    #[arg(long = "input", value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// The policy: a file holding one `Policy` object, or a `.rego` file.
    #[arg(short = 'f', long = "filename", required = true, value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// Which policy, when the files hold several.
    #[arg(long, value_name = "NAME")]
    pub policy: Option<String>,
    /// The input document (JSON or YAML), used as `input` as is.
    #[arg(long = "input", value_name = "FILE")]
    pub input: PathBuf,
    /// Exit with status 1 when the policy denies (for CI checks).
    #[arg(long)]
    pub exit_code: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Subcommand::Test(args) => test(args),
        Subcommand::Eval(args) => eval(args),
    }
}

fn test(args: TestArgs) -> Result<ExitCode> {
    let policies = read_policies(&args.files)?;
    let inputs = args
        .inputs
        .iter()
        .map(|path| read_inputs(path))
        .collect::<Result<Vec<_>>>()?
        .concat();
    let engine = PolicyEngine::new(EvalLimits::default());
    let (mut passed, mut failed) = (0usize, 0usize);
    for (index, policy) in policies.iter().enumerate() {
        if index > 0 {
            println!();
        }
        let check = engine.check(policy);
        print_header(&check);
        let compiled = match &check.compiled {
            Ok(compiled) => compiled,
            Err(error) => {
                print_error(error, "  ");
                println!("  (lines count from the first line of the Rego module, spec.rego)");
                failed += 1 + policy.spec.tests.len();
                continue;
            }
        };
        for case in &check.cases {
            if case.passed {
                passed += 1;
                println!("  PASS  {}", case.name);
                continue;
            }
            failed += 1;
            println!("  FAIL  {}", case.name);
            match &case.error {
                Some(error) => print_error(error, "        "),
                None => {
                    print_expected_got("deny", &case.expected.deny, &case.got.deny);
                    print_expected_got("warn", &case.expected.warn, &case.got.warn);
                }
            }
            print_prints(&case.prints);
        }
        for (name, input) in &inputs {
            match engine.evaluate_in(compiled, input, name) {
                Ok(outcome) => print_outcome(name, &outcome),
                Err(error) => {
                    failed += 1;
                    println!("  ERROR input {name}");
                    print_error(&error, "        ");
                }
            }
        }
    }
    println!();
    println!(
        "{passed} passed, {failed} failed ({} {}, {} {})",
        policies.len(),
        plural(policies.len(), "policy", "policies"),
        inputs.len(),
        plural(inputs.len(), "input", "inputs")
    );
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn eval(args: EvalArgs) -> Result<ExitCode> {
    let policies = read_policies(&args.files)?;
    let policy = select(&policies, args.policy.as_deref())?;
    let name = policy.metadata.name.clone().unwrap_or_default();
    let mut inputs = read_inputs(&args.input)?;
    if inputs.len() != 1 {
        bail!(
            "{} holds {} documents: pass a file with exactly one input document",
            args.input.display(),
            inputs.len()
        );
    }
    let (input_name, input) = inputs.remove(0);
    let engine = PolicyEngine::new(EvalLimits::default());
    let compiled: std::sync::Arc<CompiledPolicy> = engine
        .compile(&name, &policy.spec.rego)
        .map_err(|e| anyhow::anyhow!(with_source_line(&e)))?;
    let outcome = engine
        .evaluate_in(&compiled, &input, &input_name)
        .map_err(|e| anyhow::anyhow!(with_source_line(&e)))?;
    let mut verdict = json!({
        "policy": name,
        "package": compiled.package(),
        "deny": outcome.deny,
        "warn": outcome.warn,
    });
    if !outcome.prints.is_empty() {
        verdict["prints"] = json!(outcome.prints);
    }
    println!("{}", serde_json::to_string_pretty(&verdict)?);
    Ok(if args.exit_code && !outcome.deny.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `Policy` objects from YAML (other kinds are skipped) and bare `.rego` files, which become a
/// policy named after the file, without tests.
fn read_policies(paths: &[PathBuf]) -> Result<Vec<Policy>> {
    let (rego_files, manifests): (Vec<&PathBuf>, Vec<&PathBuf>) = paths
        .iter()
        .partition(|p| p.extension().and_then(|e| e.to_str()) == Some("rego"));
    let mut policies = Vec::new();
    for path in rego_files {
        let rego = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}: check the -f path", path.display()))?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("policy")
            .to_string();
        policies.push(Policy::new(
            &name,
            PolicySpec {
                rego,
                ..PolicySpec::default()
            },
        ));
    }
    if !manifests.is_empty() {
        let manifests: Vec<PathBuf> = manifests.into_iter().cloned().collect();
        for doc in load::read_documents(&manifests)? {
            let kind = doc.value.get("kind").and_then(Value::as_str);
            let api_version = doc.value.get("apiVersion").and_then(Value::as_str);
            if kind != Some("Policy") || api_version != Some(gitopshq_crds::consts::API_VERSION) {
                continue;
            }
            let policy: Policy = serde_json::from_value(doc.value.clone()).with_context(|| {
                format!(
                    "{} is not a valid Policy: fix the field named above",
                    doc.describe()
                )
            })?;
            policies.push(policy);
        }
    }
    if policies.is_empty() {
        bail!(
            "no Policy objects (apiVersion {}) or .rego files in {}: pass them with -f",
            gitopshq_crds::consts::API_VERSION,
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(policies)
}

fn select<'a>(policies: &'a [Policy], name: Option<&str>) -> Result<&'a Policy> {
    let names = || {
        policies
            .iter()
            .filter_map(|p| p.metadata.name.as_deref())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (policies, name) {
        (_, Some(name)) => policies
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(name))
            .with_context(|| format!("no policy {name} in the files; they hold: {}", names())),
        ([only], None) => Ok(only),
        _ => bail!(
            "the files hold {} policies ({}): choose one with --policy NAME",
            policies.len(),
            names()
        ),
    }
}

/// Every document of a JSON or YAML file, named for messages.
fn read_inputs(path: &Path) -> Result<Vec<(String, Value)>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read input {}: check the --input path",
            path.display()
        )
    })?;
    let mut documents = Vec::new();
    for (index, document) in yaml_serde::Deserializer::from_str(&text).enumerate() {
        let value = Value::deserialize(document).with_context(|| {
            format!(
                "input {} (document {}) is neither JSON nor YAML: fix the syntax at the position shown",
                path.display(),
                index + 1
            )
        })?;
        if !value.is_null() {
            documents.push((index, value));
        }
    }
    if documents.is_empty() {
        bail!(
            "input {} is empty: write the input document in it",
            path.display()
        );
    }
    let several = documents.len() > 1;
    Ok(documents
        .into_iter()
        .map(|(index, value)| {
            let name = if several {
                format!("{} (document {})", path.display(), index + 1)
            } else {
                path.display().to_string()
            };
            (name, value)
        })
        .collect())
}

fn print_header(check: &PolicyCheck) {
    let package = check.package.as_deref().unwrap_or("no package");
    match &check.compiled {
        Ok(compiled) => println!(
            "policy {} ({package}, {}): {} passed, {} failed",
            check.name,
            compiled.syntax(),
            check.tests.passed,
            check.tests.failed
        ),
        Err(_) => println!("policy {} ({package}): does not compile", check.name),
    }
}

fn print_expected_got(rule: &str, expected: &[String], got: &[String]) {
    if expected == got {
        return;
    }
    println!("        expected {rule}: {}", list(expected));
    println!("        got      {rule}: {}", list(got));
}

fn print_outcome(name: &str, outcome: &PolicyOutcome) {
    let verdict = if !outcome.deny.is_empty() {
        "DENY"
    } else if !outcome.warn.is_empty() {
        "WARN"
    } else {
        "PASS"
    };
    println!("  {verdict:<5} input {name}");
    for message in &outcome.deny {
        println!("        deny: {message}");
    }
    for message in &outcome.warn {
        println!("        warn: {message}");
    }
    print_prints(&outcome.prints);
}

fn print_prints(prints: &[String]) {
    for line in prints {
        println!("        print: {line}");
    }
}

fn print_error(error: &PolicyError, indent: &str) {
    for line in with_source_line(error).lines() {
        println!("{indent}{line}");
    }
}

/// The error, then the offending line of Rego with a caret under the column.
fn with_source_line(error: &PolicyError) -> String {
    let mut text = error.to_string();
    if let Some(position) = error.position()
        && let (Some(line), Some(source)) = (position.line, &position.source_line)
    {
        let gutter = format!("{line} | ");
        text.push_str(&format!("\n    {gutter}{source}"));
        if let Some(column) = position.column {
            let pad = gutter.len() + column.saturating_sub(1) as usize;
            text.push_str(&format!("\n    {:pad$}^", ""));
        }
    }
    text
}

fn list(messages: &[String]) -> String {
    serde_json::to_string(messages).unwrap_or_default()
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}
