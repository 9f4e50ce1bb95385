//! `gitopshq breakglass open|close`: an audited, time-boxed exception to freezes. The webhook
//! stamps who opened it; closing seals what was done under it.

use std::process::ExitCode;

use anyhow::Result;
use gitopshq_crds::break_glass_session::{
    BreakGlassScope, BreakGlassSession, BreakGlassSessionSpec, Severity,
};
use gitopshq_engine::outcome::{Attempt, Kind};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::kube_client::{Failure, KubeArgs, Session, block_on, resources};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: BreakGlassCommand,
    #[command(flatten)]
    pub kube: KubeArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum BreakGlassCommand {
    /// Open a session: releases in its scope pass freezes until it closes or expires.
    Open(OpenArgs),
    /// Close a session early, with a note on what was done; it is sealed.
    Close(CloseArgs),
}

#[derive(Debug, clap::Args)]
pub struct OpenArgs {
    /// Session name (the incident id is customary: inc-2847).
    pub name: String,
    /// Environments covered (repeat).
    #[arg(long = "env", value_name = "ENV", required = true)]
    pub environments: Vec<String>,
    /// Workloads covered (repeat); default: every workload of the project.
    #[arg(long = "workload", value_name = "WORKLOAD")]
    pub workloads: Vec<String>,
    /// Tenants covered (repeat); default: every tenant of the environments.
    #[arg(long = "tenant", value_name = "TENANT")]
    pub tenants: Vec<String>,
    /// Incident severity.
    #[arg(long, value_enum, ignore_case = true)]
    pub severity: Sev,
    /// Why the emergency change is needed (at least 20 characters; kept for the review).
    #[arg(long)]
    pub justification: String,
    /// How long it lasts, at most 4h (90m, 1h).
    #[arg(long, default_value = "1h")]
    pub duration: String,
    /// Link to the incident.
    #[arg(long = "incident", value_name = "URL")]
    pub incident_url: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum Sev {
    Sev1,
    Sev2,
    Sev3,
    Sev4,
}

impl From<Sev> for Severity {
    fn from(s: Sev) -> Self {
        match s {
            Sev::Sev1 => Severity::SEV1,
            Sev::Sev2 => Severity::SEV2,
            Sev::Sev3 => Severity::SEV3,
            Sev::Sev4 => Severity::SEV4,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct CloseArgs {
    /// Session name.
    pub name: String,
    /// What was done and why the session ends.
    #[arg(long)]
    pub note: String,
}

pub fn run(args: Args) -> Result<ExitCode> {
    block_on(async move {
        let session = args.kube.connect().await?;
        match args.command {
            BreakGlassCommand::Open(open) => run_open(&session, open).await,
            BreakGlassCommand::Close(close) => run_close(&session, close).await,
        }
    })?
}

/// The session the flags describe.
pub fn session_from(args: &OpenArgs, namespace: &str) -> BreakGlassSession {
    let mut session = BreakGlassSession::new(
        &args.name,
        BreakGlassSessionSpec {
            justification: args.justification.clone(),
            severity: args.severity.into(),
            scope: BreakGlassScope {
                environments: args.environments.clone(),
                workloads: args.workloads.clone(),
                tenants: args.tenants.clone(),
            },
            duration: args.duration.clone(),
            incident_url: args.incident_url.clone(),
            ..BreakGlassSessionSpec::default()
        },
    );
    session.metadata.namespace = Some(namespace.to_string());
    session
}

async fn run_open(session: &Session, args: OpenArgs) -> Result<ExitCode> {
    let ns = session.namespace.as_str();
    let api: Api<BreakGlassSession> = Api::namespaced(session.client.clone(), ns);
    let object = session_from(&args, ns);
    let created = session
        .call(
            Attempt::new("create", resources::BREAK_GLASS_SESSIONS, Some(ns))
                .on(format!("break-glass session {}", args.name)),
            api.create(&PostParams::default(), &object),
        )
        .await?;
    println!(
        "breakglasssession.gitopshq.io/{} opened",
        created.name_any()
    );
    eprintln!(
        "{:?} for {}, {}; every release under it is recorded. Name it on a release with --break-glass {}, and close it with: gitopshq breakglass close {} -n {ns} --note \"…\"",
        created.spec.severity,
        scope_text(&created.spec.scope),
        created.spec.duration,
        created.name_any(),
        created.name_any()
    );
    Ok(ExitCode::SUCCESS)
}

fn scope_text(scope: &BreakGlassScope) -> String {
    let mut text = scope.environments.join(",");
    if !scope.workloads.is_empty() {
        text.push('/');
        text.push_str(&scope.workloads.join(","));
    }
    if !scope.tenants.is_empty() {
        text.push_str(&format!(" (tenants {})", scope.tenants.join(",")));
    }
    text
}

async fn run_close(session: &Session, args: CloseArgs) -> Result<ExitCode> {
    let ns = session.namespace.as_str();
    if args.note.trim().is_empty() {
        return Err(Failure::new(
            Kind::Invalid,
            "--note is empty: say what was done under the session".into(),
            None,
        )
        .into());
    }
    let api: Api<BreakGlassSession> = Api::namespaced(session.client.clone(), ns);
    let object = format!("break-glass session {}", args.name);
    let current = session
        .call(
            Attempt::new("get", resources::BREAK_GLASS_SESSIONS, Some(ns)).on(&object),
            api.get(&args.name),
        )
        .await?;
    if current.spec.closed {
        return Err(
            Failure::new(Kind::Conflict, format!("{object} is already closed"), None).into(),
        );
    }
    let patch = json!({"spec": {"closed": true, "closingNote": args.note}});
    session
        .call(
            Attempt::new("patch", resources::BREAK_GLASS_SESSIONS, Some(ns)).on(&object),
            api.patch(&args.name, &PatchParams::default(), &Patch::Merge(&patch)),
        )
        .await?;
    println!("breakglasssession.gitopshq.io/{} closed", args.name);
    eprintln!(
        "the controller seals it (status.sealedDigest); review it with: gitopshq audit -n {ns}"
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        args: OpenArgs,
    }

    #[test]
    fn flags_become_a_session() {
        let t = T::parse_from([
            "t",
            "inc-2847",
            "--env",
            "production",
            "--workload",
            "checkout-service",
            "--severity",
            "SEV1",
            "--justification",
            "checkout returns 500 for 40% of requests",
            "--duration",
            "1h",
            "--incident",
            "https://status.example.com/incidents/2847",
        ]);
        let s = session_from(&t.args, "payment-service");
        assert_eq!(s.spec.severity, Severity::SEV1);
        assert_eq!(s.spec.scope.environments, ["production"]);
        assert_eq!(s.spec.scope.workloads, ["checkout-service"]);
        assert_eq!(scope_text(&s.spec.scope), "production/checkout-service");
        assert!(!s.spec.closed);
    }
}
