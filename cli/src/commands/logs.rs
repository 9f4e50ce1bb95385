//! `gitopshq logs RELEASE|WORKLOAD`: the pod logs of a workload on its tenants' clusters,
//! through GitOpsHQ's pod-logs API (`logs.gitopshq.io`, served by the webhook behind the
//! Kubernetes API server). Reading them needs `get` on `workloads/log` or `releases/log` in
//! that API group (the Developer, Operator and Admin project roles), never the clusters'
//! credentials. The limits (lines, time range, pods) are stated on stderr before anything
//! streams, and unbounded requests are refused.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use futures::io::AsyncBufReadExt;
use futures::stream::StreamExt;
use gitopshq_crds::release::Release;
use gitopshq_engine::logs::{LogRequest, Target, WireLine, check_since};
use gitopshq_engine::outcome::{Attempt, Kind};
use kube::Api;

use crate::kube_client::{
    Failure, KubeArgs, Session, block_on, failure_of, parse_duration, resources,
};

pub use gitopshq_engine::logs::parse_tail;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A release (its workloads on the tenants it went to) or a workload (on its tenants).
    pub target: String,
    /// Only these tenants (repeat).
    #[arg(long = "tenant", value_name = "TENANT")]
    pub tenants: Vec<String>,
    /// Only tenants of this environment (for a workload).
    #[arg(long = "env", value_name = "ENV")]
    pub environment: Option<String>,
    /// Only this container; default: every container of each pod.
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Lines per container, counted back from the newest (at most 10000).
    #[arg(long, default_value = "100", value_parser = parse_tail, allow_hyphen_values = true)]
    pub tail: i64,
    /// Only lines newer than this (at most 168h).
    #[arg(long, default_value = "1h", value_parser = parse_since)]
    pub since: Duration,
    /// Only lines containing this text (among the lines the limits select).
    #[arg(long)]
    pub grep: Option<String>,
    /// Keep streaming new lines until interrupted.
    #[arg(short, long)]
    pub follow: bool,
    /// Logs of the previous container instance (after a crash).
    #[arg(short, long)]
    pub previous: bool,
    /// Prefix each line with its timestamp.
    #[arg(long)]
    pub timestamps: bool,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// `--since`: a positive duration up to MAX_SINCE.
pub fn parse_since(text: &str) -> Result<Duration, String> {
    if matches!(text.trim(), "0" | "all" | "-1") {
        return check_since(text, Duration::ZERO);
    }
    check_since(text, parse_duration(text)?)
}

impl Args {
    fn request(&self) -> LogRequest {
        LogRequest {
            tenants: self.tenants.clone(),
            environment: self.environment.clone(),
            container: self.container.clone(),
            tail: self.tail,
            since: self.since,
            grep: self.grep.clone(),
            follow: self.follow,
            previous: self.previous,
            timestamps: self.timestamps,
        }
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    block_on(async move {
        let session = args.kube.connect().await?;
        logs(&session, &args).await
    })?
}

/// A release of that name in the session's project, else a workload.
async fn target_of(session: &Session, name: &str) -> Result<Target> {
    let releases: Api<Release> = Api::namespaced(session.client.clone(), &session.namespace);
    let release = session
        .get_opt(
            Attempt::new("get", resources::RELEASES, Some(&session.namespace))
                .on(format!("release {name}")),
            releases.get(name),
        )
        .await?;
    Ok(match release {
        Some(_) => Target::Release(name.to_string()),
        None => Target::Workload(name.to_string()),
    })
}

/// The lines of `target`'s logs as the pod-logs API sends them.
pub async fn open(
    session: &Session,
    target: &Target,
    request: &LogRequest,
) -> Result<impl futures::Stream<Item = std::io::Result<String>> + use<>> {
    let ns = &session.namespace;
    let path = format!("{}?{}", target.path(ns), request.query());
    let http = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| anyhow::anyhow!("building the logs request: {e}"))?;
    let subresource = format!("{}/log", target.resource());
    let attempt = Attempt::new("get", &subresource, Some(ns))
        .on(format!("the pod logs of {}", target.name()));
    let reader = session
        .client
        .request_stream(http)
        .await
        .map_err(|e| {
            let mut failure = failure_of(&e, &attempt, &session.server);
            match failure.0.kind {
                Kind::NotPermitted => {
                    failure.0.next_step = Some(format!(
                        "pod logs need get on {subresource} in API group logs.gitopshq.io: ask the project's admins for the Developer, Operator or Admin role (kubectl auth can-i get {subresource}.logs.gitopshq.io -n {ns})"
                    ));
                }
                Kind::Runtime | Kind::NotFound if failure.0.next_step.is_none() => {
                    failure.0.next_step = Some(
                        "the GitOpsHQ webhook serves pod logs: kubectl get apiservice v1alpha1.logs.gitopshq.io".into(),
                    );
                }
                _ => {}
            }
            failure
        })?;
    Ok(reader.lines())
}

async fn logs(session: &Session, args: &Args) -> Result<ExitCode> {
    let target = target_of(session, &args.target).await?;
    let mut lines = open(session, &target, &args.request()).await?;
    let (mut read, mut failed) = (0usize, 0usize);
    while let Some(line) = lines.next().await {
        let line = line.map_err(|e| {
            Failure::new(
                Kind::Runtime,
                format!("the log stream broke off: {e}"),
                Some("run the command again".into()),
            )
        })?;
        match WireLine::parse(&line) {
            Some(WireLine::Statement(statement)) => {
                eprintln!("{statement}; use --tail/--since to change")
            }
            Some(WireLine::Line(..)) | None => {
                read += 1;
                println!("{line}");
            }
            Some(WireLine::Failure(origin, why)) => {
                failed += 1;
                eprintln!("{origin} {why}");
            }
            Some(WireLine::KeepAlive) => {}
        }
    }
    if read == 0 && failed > 0 {
        return Err(Failure::new(
            Kind::Runtime,
            format!("no log could be read from any of {failed} containers"),
            Some("the pods may not be running yet; see the messages above".into()),
        )
        .into());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn flags_are_bounded() {
        assert_eq!(parse_since("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_since("0").unwrap_err().contains("unbounded"));
        assert!(parse_since("200h").is_err());
        assert!(T::try_parse_from(["t", "x", "--tail", "-1"]).is_err());
    }

    #[test]
    fn flags_become_the_request() {
        let t = T::parse_from([
            "t", "x", "--tail", "20", "--since", "30m", "--grep", "ERROR", "-f", "--tenant", "a",
        ]);
        let request = t.args.request();
        assert_eq!(request.tail, 20);
        assert_eq!(request.since, Duration::from_secs(1800));
        assert_eq!(request.tenants, ["a"]);
        assert!(request.follow);
    }
}
