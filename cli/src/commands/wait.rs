//! `gitopshq wait RELEASE --for Healthy [--timeout 10m]`: watch a release until it reaches the
//! phase; stop early, non-zero and with the release's message, when it cannot get there.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;
use gitopshq_crds::release::{Release, ReleasePhase};
use gitopshq_engine::outcome::{self, Attempt, Kind, WaitVerdict};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use tokio::time::Instant;

use crate::kube_client::{
    Failure, KubeArgs, Session, block_on, failure_of, parse_duration, resources,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The release.
    pub release: String,
    /// The phase to wait for: Healthy, Deployed, Approved … (a later phase on the way to
    /// Healthy counts as reached).
    #[arg(
        long = "for",
        value_parser = waitable_phase(),
        default_value = "Healthy",
        ignore_case = true
    )]
    pub target: ReleasePhase,
    /// How long to wait.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Print nothing while waiting.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// The phases one can wait for, by the names the API writes (any case).
fn waitable_phase() -> impl clap::builder::TypedValueParser<Value = ReleasePhase> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser as _};
    PossibleValuesParser::new(outcome::waitable_phases().map(|p| PossibleValue::new(p.as_str())))
        .map(|name| {
            outcome::waitable_phases()
                .find(|p| p.as_str().eq_ignore_ascii_case(&name))
                .expect("clap accepts only the possible values")
        })
}

pub fn run(args: Args) -> Result<ExitCode> {
    block_on(async move {
        let session = args.kube.connect().await?;
        wait(&session, &args).await
    })?
}

fn phase_of(release: &Release) -> Option<ReleasePhase> {
    release.status.as_ref().and_then(|s| s.phase)
}

fn message_of(release: &Release) -> String {
    release
        .status
        .as_ref()
        .and_then(|s| s.message.clone())
        .unwrap_or_default()
}

async fn wait(session: &Session, args: &Args) -> Result<ExitCode> {
    let ns = session.namespace.as_str();
    let name = args.release.as_str();
    let target = args.target;
    let api: Api<Release> = Api::namespaced(session.client.clone(), ns);
    let object = format!("release {name}");
    // A missing release or a missing read permission is said at once, not after the timeout.
    let mut last = session
        .call(
            Attempt::new("get", resources::RELEASES, Some(ns)).on(&object),
            api.get(name),
        )
        .await?;
    let deadline = Instant::now() + args.timeout;
    let mut shown: Option<(Option<ReleasePhase>, String)> = None;
    loop {
        let phase = phase_of(&last);
        let message = message_of(&last);
        if !args.quiet && shown.as_ref() != Some(&(phase, message.clone())) {
            let label = phase
                .map(|p| p.to_string())
                .unwrap_or_else(|| "pending".into());
            if message.is_empty() {
                eprintln!("release {name}: {label}");
            } else {
                eprintln!("release {name}: {label}: {message}");
            }
            shown = Some((phase, message.clone()));
        }
        match outcome::wait_verdict(target, phase) {
            WaitVerdict::Reached => {
                let commit = last
                    .status
                    .as_ref()
                    .and_then(|s| s.short_commit.clone().or(s.commit.clone()))
                    .map(|c| format!(" (commit {c})"))
                    .unwrap_or_default();
                println!(
                    "release {name} is {}{commit}",
                    phase.map(|p| p.to_string()).unwrap_or_default()
                );
                return Ok(ExitCode::SUCCESS);
            }
            WaitVerdict::Stop(kind) => {
                let phase = phase.unwrap_or_default();
                return Err(Failure::new(
                    kind,
                    format!("release {name} is {phase}, it will not become {target}: {message}"),
                    gitopshq_engine::outcome::next_step(&last),
                )
                .into());
            }
            WaitVerdict::Waiting => {}
        }
        match next_change(&api, name, &last, deadline, session).await? {
            Some(release) => last = release,
            None => {
                let phase = phase_of(&last);
                let kind = outcome::timed_out_kind(phase);
                let label = phase
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "not reconciled".into());
                let text = if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                };
                return Err(Failure::new(
                    kind,
                    format!(
                        "timed out after {} waiting for release {name} to be {target}; it is {label}{text}",
                        humanize(args.timeout)
                    ),
                    if kind == Kind::Gated {
                        gitopshq_engine::outcome::next_step(&last)
                    } else {
                        Some(format!("wait longer (--timeout), or look at it: gitopshq status {name} -n {ns}"))
                    },
                )
                .into());
            }
        }
    }
}

/// The release's next state from a watch, or `None` at the deadline. Watch interruptions
/// (API server restarts, network blips) are retried until then; refusals are not.
async fn next_change(
    api: &Api<Release>,
    name: &str,
    last: &Release,
    deadline: Instant,
    session: &Session,
) -> Result<Option<Release>> {
    let version = last.resource_version();
    loop {
        let mut stream = watcher::watch_object(api.clone(), name).boxed();
        loop {
            let next = match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => break,
                Ok(Some(next)) => next,
            };
            match next {
                Ok(Some(release)) if release.resource_version() != version => {
                    return Ok(Some(release));
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(Failure::new(
                        Kind::NotFound,
                        format!("release {name} was deleted while waiting"),
                        None,
                    )
                    .into());
                }
                Err(error) => {
                    let failure = watch_failure(&error, name, session);
                    if failure.0.kind != Kind::Runtime {
                        return Err(failure.into());
                    }
                    tracing::debug!(%error, "watch interrupted; watching again");
                    break;
                }
            }
        }
        if tokio::time::timeout_at(deadline, tokio::time::sleep(Duration::from_secs(1)))
            .await
            .is_err()
        {
            return Ok(None);
        }
    }
}

fn watch_failure(error: &watcher::Error, name: &str, session: &Session) -> Failure {
    let attempt = Attempt::new("watch", resources::RELEASES, Some(&session.namespace))
        .on(format!("release {name}"));
    match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => failure_of(e, &attempt, &session.server),
        watcher::Error::WatchError(status) if status.code == 410 => {
            Failure::new(Kind::Runtime, status.message.clone(), None)
        }
        watcher::Error::WatchError(status) => Failure(outcome::classify(
            status.code,
            &status.reason,
            &status.message,
            &attempt,
        )),
        other => Failure::new(Kind::Runtime, other.to_string(), None),
    }
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_told_briefly() {
        assert_eq!(humanize(Duration::from_secs(600)), "10m");
        assert_eq!(humanize(Duration::from_secs(45)), "45s");
        assert_eq!(humanize(Duration::from_secs(5400)), "1h30m");
    }
}
