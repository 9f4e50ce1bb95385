//! `gitopshq release create|submit|cancel`: a Release from flags, for people and CI.

use std::process::ExitCode;

use anyhow::Result;
use gitopshq_crds::release::{Release, ReleaseSpec, ReleaseType, WorkloadChange};
use gitopshq_engine::outcome::{Attempt, Kind};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Map, json};

use crate::kube_client::{Failure, KubeArgs, Session, block_on, resources};
use crate::set_values;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: ReleaseCommand,
    #[command(flatten)]
    pub kube: KubeArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum ReleaseCommand {
    /// Create a Release for one workload (a Draft, or submitted with --submit).
    #[command(disable_version_flag = true)]
    Create(Box<CreateArgs>),
    /// Submit a Draft release: admission checks freezes, policies and grants now.
    Submit(SubmitArgs),
    /// Cancel a release that is not delivered yet (Draft, PendingApproval, Approved, Blocked).
    Cancel(super::release_cancel::CancelArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Release name (DNS name; CI usually puts the commit SHA in it).
    pub name: String,
    /// Target environment.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,
    /// The workload the release changes.
    #[arg(long)]
    pub workload: String,
    /// Chart version to deliver; default: the workload's.
    #[arg(long = "version", value_name = "SEMVER")]
    pub version: Option<String>,
    /// Values for this release, Helm style: image.tag=v2.4.0 (repeat, or separate with commas).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Like --set, but every value stays a string.
    #[arg(long = "set-string", value_name = "KEY=VALUE")]
    pub set_string: Vec<String>,
    /// Stops carrying a value earlier releases set (repeat): image.tag goes back to the
    /// Workload's. (`--set key=null` deletes the key instead, and keeps it deleted.)
    #[arg(long = "unset", value_name = "KEY")]
    pub unset: Vec<String>,
    /// Target tenants by name (repeat); default: every tenant of the environment running it.
    #[arg(long = "tenant", value_name = "TENANT")]
    pub tenants: Vec<String>,
    /// One-line summary; default: "<workload> to <env>" with the values set.
    #[arg(long)]
    pub title: Option<String>,
    /// Longer description (Markdown): the CI build link, the commit, the ticket.
    #[arg(long)]
    pub notes: Option<String>,
    /// A BreakGlassSession to release under: it passes a freeze and skips the ApprovalPolicy
    /// for what the session covers (needs the break-glass grant on the environment).
    #[arg(long = "break-glass", value_name = "SESSION")]
    pub break_glass: Option<String>,
    /// Submit at once (admission decides now) instead of leaving a Draft.
    #[arg(long)]
    pub submit: bool,
    /// Print the created object instead of its name.
    #[arg(short = 'o', long = "output", value_enum)]
    pub output: Option<Output>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Output {
    Yaml,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// Release name.
    pub name: String,
}

pub fn run(args: Args) -> Result<ExitCode> {
    block_on(async move {
        let session = args.kube.connect().await?;
        match args.command {
            ReleaseCommand::Create(create) => run_create(&session, *create).await,
            ReleaseCommand::Submit(submit) => run_submit(&session, submit).await,
            ReleaseCommand::Cancel(cancel) => {
                super::release_cancel::run_cancel(&session, cancel).await
            }
        }
    })?
}

/// The Release the flags describe.
pub fn release_from(args: &CreateArgs, namespace: &str) -> Result<Release> {
    let mut values = Map::new();
    for expr in &args.set {
        set_values::apply(&mut values, expr, true)?;
    }
    for expr in &args.set_string {
        set_values::apply(&mut values, expr, false)?;
    }

    let title = args.title.clone().unwrap_or_else(|| {
        let mut title = format!("{} to {}", args.workload, args.environment);
        let sets: Vec<String> = args
            .set
            .iter()
            .chain(&args.set_string)
            .cloned()
            .chain(args.unset.iter().map(|key| format!("unset {key}")))
            .collect();
        if let Some(version) = &args.version {
            title = format!("{} {version} to {}", args.workload, args.environment);
        }
        if !sets.is_empty() {
            title.push_str(&format!(" ({})", sets.join(", ")));
        }
        title.chars().take(200).collect()
    });
    let mut release = Release::new(
        &args.name,
        ReleaseSpec {
            title,
            notes: args.notes.clone(),
            environment: args.environment.clone(),
            tenants: args.tenants.clone(),
            changes: vec![WorkloadChange {
                workload: args.workload.clone(),
                version: args.version.clone(),
                values,
                unset: args.unset.clone(),
            }],
            type_: ReleaseType::Deploy,
            break_glass_session: args.break_glass.clone(),
            submitted: args.submit,
            ..ReleaseSpec::default()
        },
    );
    release.metadata.namespace = Some(namespace.to_string());
    Ok(release)
}

async fn run_create(session: &Session, args: CreateArgs) -> Result<ExitCode> {
    let release = release_from(&args, &session.namespace)?;
    let api: Api<Release> = Api::namespaced(session.client.clone(), &session.namespace);
    let attempt = Attempt::new("create", resources::RELEASES, Some(&session.namespace))
        .on(format!("release {}", args.name));
    let created = session
        .call(attempt, api.create(&PostParams::default(), &release))
        .await?;
    match args.output {
        Some(Output::Yaml) => print!("{}", yaml_serde::to_string(&created)?),
        Some(Output::Json) => println!("{}", serde_json::to_string_pretty(&created)?),
        None => println!("release.gitopshq.io/{} created", created.name_any()),
    }
    if args.submit && !created.spec.submitted {
        return Err(refused_submission(&created, &session.namespace).into());
    }
    if args.submit {
        eprintln!(
            "submitted; follow it with: gitopshq wait {} -n {} --for Healthy",
            created.name_any(),
            session.namespace
        );
    } else {
        eprintln!(
            "a Draft: submit it with: gitopshq release submit {} -n {}",
            created.name_any(),
            session.namespace
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_submit(session: &Session, args: SubmitArgs) -> Result<ExitCode> {
    let api: Api<Release> = Api::namespaced(session.client.clone(), &session.namespace);
    let object = format!("release {}", args.name);
    let current = session
        .call(
            Attempt::new("get", resources::RELEASES, Some(&session.namespace)).on(&object),
            api.get(&args.name),
        )
        .await?;
    if current.spec.submitted {
        let phase = current
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .map(|p| format!("{p:?}"))
            .unwrap_or_else(|| "not reconciled yet".into());
        return Err(Failure::new(
            Kind::Conflict,
            format!("{object} is already submitted (phase {phase})"),
            Some(format!(
                "follow it with: gitopshq status {} -n {}",
                args.name, session.namespace
            )),
        )
        .into());
    }
    let patch = json!({"spec": {"submitted": true}});
    let patched = session
        .call(
            Attempt::new("patch", resources::RELEASES, Some(&session.namespace)).on(&object),
            api.patch(&args.name, &PatchParams::default(), &Patch::Merge(&patch)),
        )
        .await?;
    if !patched.spec.submitted {
        return Err(refused_submission(&patched, &session.namespace).into());
    }
    println!("release.gitopshq.io/{} submitted", args.name);
    eprintln!(
        "follow it with: gitopshq wait {} -n {} --for Healthy",
        args.name, session.namespace
    );
    Ok(ExitCode::SUCCESS)
}

/// A submission the webhook kept as a Draft (an Enforce policy refused it): the refusal, and
/// what to do. The Draft exists; its page shows the policy results.
fn refused_submission(release: &Release, namespace: &str) -> Failure {
    let record = release
        .annotations()
        .get(gitopshq_crds::consts::annotations::SUBMISSION_REFUSED)
        .cloned()
        .unwrap_or_else(|| "the submission was not accepted".into());
    Failure::new(
        Kind::Conflict,
        format!(
            "release {} was kept as a Draft: {record}",
            release.name_any()
        ),
        Some(format!(
            "change its values (kubectl edit release {} -n {namespace}) and submit it again: gitopshq release submit {} -n {namespace}",
            release.name_any(),
            release.name_any()
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        args: CreateArgs,
    }

    #[test]
    fn flags_become_a_release() {
        let t = T::parse_from([
            "t",
            "api-abc123",
            "--env",
            "staging",
            "--workload",
            "payment-api",
            "--set",
            "image.tag=abc123,replicaCount=3",
            "--set-string",
            "build=42",
            "--tenant",
            "eu-staging",
            "--notes",
            "https://ci.example.com/build/42",
            "--submit",
        ]);
        let release = release_from(&t.args, "payment-service").unwrap();
        assert_eq!(
            release.metadata.namespace.as_deref(),
            Some("payment-service")
        );
        assert_eq!(release.spec.environment, "staging");
        assert_eq!(release.spec.tenants, ["eu-staging"]);
        assert!(release.spec.submitted);
        assert_eq!(
            release.spec.title,
            "payment-api to staging (image.tag=abc123,replicaCount=3, build=42)"
        );
        let change = &release.spec.changes[0];
        assert_eq!(change.workload, "payment-api");
        assert_eq!(
            serde_json::Value::Object(change.values.clone()),
            json!({"image": {"tag": "abc123"}, "replicaCount": 3, "build": "42"})
        );
    }

    #[test]
    fn unset_drops_a_carried_value() {
        let t = T::parse_from([
            "t",
            "r",
            "--env",
            "dev",
            "--workload",
            "w",
            "--unset",
            "image.tag",
            "--set",
            "replicas=2",
        ]);
        let release = release_from(&t.args, "p").unwrap();
        let change = &release.spec.changes[0];
        assert_eq!(
            serde_json::Value::Object(change.values.clone()),
            json!({"replicas": 2})
        );
        assert_eq!(change.unset, ["image.tag"]);
        assert_eq!(release.spec.title, "w to dev (replicas=2, unset image.tag)");
    }

    #[test]
    fn bad_set_values_are_refused() {
        let t = T::parse_from(["t", "r", "--env", "dev", "--workload", "w", "--set", "oops"]);
        let err = release_from(&t.args, "p").unwrap_err();
        assert!(err.to_string().contains("expected key=value"), "{err}");
    }
}
