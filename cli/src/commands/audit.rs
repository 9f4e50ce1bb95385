//! `gitopshq audit`: one chronological trail of who changed what, when and why — release
//! timelines, approval decisions, break-glass sessions, Events of GitOpsHQ objects and the
//! delivery commits' trailers — `gitopshq audit verify`, the offline check of the
//! repository's audit chain and of the delivery commits' signatures, and `gitopshq audit
//! report`, the post-incident report of a break-glass session or a release in Markdown.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use gitopshq_crds::approval_request::ApprovalRequest;
use gitopshq_crds::break_glass_session::BreakGlassSession;
use gitopshq_crds::project::Project;
use gitopshq_crds::release::Release;
use gitopshq_delivery::git::{self, GitRemote, LogEntry};
use gitopshq_engine::audit::{self, AuditEntry, CommitRecord, Filter};
use gitopshq_engine::outcome::{Attempt, Kind};
use gitopshq_engine::signatures::{self, AllowedSigners, SignatureReport};
use jiff::Timestamp;
use k8s_openapi::api::events::v1::Event;
use kube::api::ListParams;
use kube::{Api, ResourceExt};

use crate::kube_client::{Failure, KubeArgs, Session, block_on, parse_duration, resources};
use crate::release_delivery::RepoArgs;
use crate::table::{Format, Table};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    #[command(flatten)]
    pub trail: TrailArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check the repository's audit chain offline: every delivery commit's
    /// GitOpsHQ-Previous-Audit must match the history before it; with --allowed-signers,
    /// every delivery commit must also carry a valid signature by a listed key.
    Verify(VerifyArgs),
    /// Write the post-incident report of a break-glass session (or of one release) in
    /// Markdown: severity, detection and resolution times, the justification, every action
    /// with actor and time, the releases and their outcomes, the closing note, and empty
    /// "Root cause" and "Preventive actions" sections to fill in.
    Report(ReportArgs),
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("subject").required(true).args(["breakglass", "release"])))]
pub struct ReportArgs {
    /// The BreakGlassSession the incident was handled under.
    #[arg(long, visible_alias = "break-glass", value_name = "SESSION")]
    pub breakglass: Option<String>,
    /// A release to report on (with the session it names, if any).
    #[arg(long, value_name = "NAME")]
    pub release: Option<String>,
    /// Write the report to this file instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub kube: KubeArgs,
}

#[derive(Debug, clap::Args)]
pub struct TrailArgs {
    /// Only entries about this workload.
    #[arg(long)]
    pub workload: Option<String>,
    /// Only entries of this environment.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: Option<String>,
    /// Only entries newer than this (30m, 2h; a week is 168h).
    #[arg(long, value_parser = parse_duration)]
    pub since: Option<Duration>,
    /// Only entries naming this user (actor, creator or approver).
    #[arg(long)]
    pub user: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: Format,
    // The GitOps repository to read delivery commits from; default: the Project's.
    #[command(flatten)]
    pub repository: RepoArgs,
    #[command(flatten)]
    pub kube: KubeArgs,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The GitOps repository: a local path or any URL git can fetch.
    #[arg(long, value_name = "REPO")]
    pub repo: String,
    /// Branch to verify.
    #[arg(long, default_value = "main")]
    pub branch: String,
    /// Where clones of remotes are cached.
    #[arg(long, env = "GITOPSHQ_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Require every delivery commit to carry a valid SSH signature by a key of this file, in
    /// git's gpg.ssh.allowedSignersFile format (`principal [options] ssh-ed25519 AAAA…`).
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: Format,
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Some(AuditCommand::Verify(verify)) => run_verify(verify),
        Some(AuditCommand::Report(report)) => run_report(report),
        None => run_trail(args.trail),
    }
}

fn cache_dir(dir: &Option<PathBuf>) -> PathBuf {
    dir.clone()
        .unwrap_or_else(gitopshq_delivery::git::default_cache_dir)
}

/// Relative local paths become absolute, so the cache key does not depend on the directory.
fn repo_url(repo: &str) -> String {
    if repo.contains("://") || repo.contains('@') || repo.starts_with('/') {
        return repo.to_string();
    }
    std::fs::canonicalize(repo)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| repo.to_string())
}

/// The whole first-parent history of the branch, newest first, as the audit reads it.
pub fn history(remote: &GitRemote, cache: &std::path::Path) -> Result<Vec<CommitRecord>> {
    let log = git::log(remote, cache, usize::MAX).with_context(|| {
        format!(
            "cannot read the history of {} ({})",
            remote.url, remote.branch
        )
    })?;
    Ok(log.into_iter().map(LogEntry::into_record).collect())
}

/// [`history`] with each commit's object as stored, for the signature check.
fn history_with_objects(
    remote: &GitRemote,
    cache: &Path,
) -> Result<(Vec<CommitRecord>, Vec<Vec<u8>>)> {
    let log = git::log_with_objects(remote, cache, usize::MAX).with_context(|| {
        format!(
            "cannot read the history of {} ({})",
            remote.url, remote.branch
        )
    })?;
    Ok(log
        .into_iter()
        .map(|(entry, object)| (entry.into_record(), object))
        .unzip())
}

fn read_allowed_signers(path: &Path) -> Result<AllowedSigners> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the allowed signers file {}; pass a file with one `principal ssh-ed25519 AAAA…` line per signing key",
            path.display()
        )
    })?;
    let signers = AllowedSigners::parse(&text)
        .map_err(|e| anyhow!("allowed signers file {}, {e}", path.display()))?;
    if signers.is_empty() {
        return Err(anyhow!(
            "the allowed signers file {} lists no key, so no signature could verify; add a `principal ssh-ed25519 AAAA…` line with the public half of the signing key (ssh-keygen -y -f KEY)",
            path.display()
        ));
    }
    Ok(signers)
}

fn run_verify(args: VerifyArgs) -> Result<ExitCode> {
    let allowed = args
        .allowed_signers
        .as_deref()
        .map(read_allowed_signers)
        .transpose()?;
    let remote = GitRemote::new(repo_url(&args.repo), args.branch.clone());
    let (history, objects) = history_with_objects(&remote, &cache_dir(&args.cache_dir))?;
    let report = audit::verify_chain(&history);
    let signed = signatures::check_history(
        history.iter().zip(objects.iter().map(Vec::as_slice)),
        allowed.as_ref(),
    );
    let failed = report.broken.is_some() || signed.first_bad.is_some();
    if args.output == Format::Json {
        let json = serde_json::json!({
            "repository": args.repo,
            "branch": args.branch,
            "commits": report.commits,
            "verified": report.verified,
            "unchained": report.unchained,
            "headValue": report.head_value,
            "broken": report.broken.as_ref().map(|b| serde_json::json!({
                "commit": b.commit,
                "title": b.title,
                "release": b.release,
                "expected": b.expected,
                "found": b.found,
                "previous": b.previous,
                "message": b.describe(),
            })),
            "signatures": {
                "deliveryCommits": signed.delivery_commits,
                "signed": signed.signed,
                "allowedSigners": args.allowed_signers,
                "verified": signed.verified,
                "failed": signed.failed,
                "bad": signed.first_bad.as_ref().map(|b| serde_json::json!({
                    "commit": b.commit,
                    "title": b.title,
                    "release": b.release,
                    "message": b.describe(),
                })),
            },
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    if failed {
        let (mut problems, mut next) = (Vec::new(), Vec::new());
        if let Some(bad) = &signed.first_bad {
            problems.push(format!(
                "{}; {} of {} delivery commits carry a valid signature",
                bad.describe(),
                signed.verified,
                signed.delivery_commits
            ));
            next.push("find who pushed that commit in the Git server's push log, and check that every writer signs (controller --signing-key-secret, gitopshq deliver --signing-key) with a key the allowed signers file lists");
        }
        if let Some(broken) = &report.broken {
            problems.push(format!(
                "{}; {} delivery commits before it verified",
                broken.describe(),
                report.verified
            ));
            next.push("compare with another clone, the Release objects' status.commit, or the Git server's push log to find what changed");
        }
        return Err(
            Failure::new(Kind::Failed, problems.join("; and "), Some(next.join("; "))).into(),
        );
    }
    let mut text = format!(
        "{} delivery commits verified ({} commits on {})",
        report.verified, report.commits, args.branch
    );
    if report.unchained > 0 {
        text.push_str(&format!(
            "; {} older delivery commits predate the audit chain and are not covered",
            report.unchained
        ));
    }
    text.push_str(&signature_summary(&signed, args.allowed_signers.as_deref()));
    println!("{text}");
    eprintln!(
        "chain value at the head: {} (kept outside the repository, it vouches for the newest commit too)",
        report.head_value
    );
    Ok(ExitCode::SUCCESS)
}

/// How many delivery commits are signed, and whether the signatures were checked.
fn signature_summary(report: &SignatureReport, allowed: Option<&Path>) -> String {
    match allowed {
        Some(file) => format!(
            "; {} signatures verified with the keys of {}",
            report.verified,
            file.display()
        ),
        None if report.delivery_commits == 0 => String::new(),
        None => format!(
            "; {} of {} delivery commits are signed (check them with --allowed-signers FILE)",
            report.signed, report.delivery_commits
        ),
    }
}

fn run_trail(args: TrailArgs) -> Result<ExitCode> {
    let (entries, notes) = block_on(collect(&args))??;
    for note in &notes {
        eprintln!("note: {note}");
    }
    match args.output {
        Format::Json => println!("{}", serde_json::to_string_pretty(&entries)?),
        Format::Text => print!("{}", render(&entries)),
    }
    Ok(ExitCode::SUCCESS)
}

/// The text table.
pub fn render(entries: &[AuditEntry]) -> String {
    let mut table = Table::new(["TIME", "SOURCE", "ACTOR", "ACTION", "OBJECT", "DETAIL"]);
    for e in entries {
        table.row([
            audit::format_time(e.time),
            e.source.as_str().to_string(),
            e.actor.clone().unwrap_or_else(|| "-".into()),
            e.action.clone(),
            e.object.clone(),
            e.message.clone(),
        ]);
    }
    table.to_string()
}

async fn collect(args: &TrailArgs) -> Result<(Vec<AuditEntry>, Vec<String>)> {
    let session = args.kube.connect().await?;
    collect_as(&session, args).await
}

/// The trail of `session`'s project as its client may read it, with notes on what is left
/// out (Events, delivery commits) and why.
pub async fn collect_as(
    session: &Session,
    args: &TrailArgs,
) -> Result<(Vec<AuditEntry>, Vec<String>)> {
    let ns = session.namespace.clone();
    let client = session.client.clone();
    let releases = list::<Release>(session, resources::RELEASES).await?;
    let requests = list::<ApprovalRequest>(session, resources::APPROVAL_REQUESTS).await?;
    let sessions = list::<BreakGlassSession>(session, resources::BREAK_GLASS_SESSIONS).await?;
    let mut notes = Vec::new();
    let events = match list::<Event>(session, resources::EVENTS).await {
        Ok(events) => events,
        Err(e) => {
            notes.push(format!("Events are not included: {e:#}"));
            Vec::new()
        }
    };
    let scopes = audit::release_scopes(&releases);
    let mut sources: Vec<Vec<AuditEntry>> = Vec::new();
    for r in &releases {
        let key = (r.namespace().unwrap_or_default(), r.name_any());
        sources.push(audit::release_entries(r, scopes.get(&key)));
    }
    for a in &requests {
        let key = (a.namespace().unwrap_or_default(), a.spec.release.clone());
        sources.push(audit::approval_entries(a, scopes.get(&key)));
    }
    for s in &sessions {
        sources.push(audit::session_entries(s));
    }
    sources.push(
        events
            .iter()
            .filter_map(|e| audit::event_entry(e, &scopes))
            .collect(),
    );
    // The repository: --repo, or the Project's.
    let projects: Api<Project> = Api::all(client);
    let project = session
        .get_opt(
            Attempt::new("get", resources::PROJECTS, None).on(format!("project {ns}")),
            projects.get(&ns),
        )
        .await;
    let repository = project.ok().flatten().map(|p| p.spec.repository);
    let url = args
        .repository
        .repo
        .clone()
        .map(|r| repo_url(&r))
        .or_else(|| {
            repository
                .as_ref()
                .map(|r| r.url.clone())
                .filter(|u| !u.is_empty())
        });
    let branch = args
        .repository
        .branch
        .clone()
        .or_else(|| repository.as_ref().map(|r| r.branch.clone()))
        .unwrap_or_else(|| "main".into());
    match url {
        None => notes.push(format!(
            "delivery commits are not included: project {ns} names no repository; pass --repo"
        )),
        Some(url) => {
            let remote = GitRemote::new(url.clone(), branch.clone());
            let cache = args.repository.cache_dir();
            let read = tokio::task::spawn_blocking(move || history(&remote, &cache)).await?;
            match read {
                Ok(history) => {
                    sources.push(
                        history
                            .iter()
                            .filter_map(|c| audit::commit_entry(c, Some(&ns), &scopes))
                            .collect(),
                    );
                    let report = audit::verify_chain(&history);
                    if let Some(broken) = report.broken {
                        notes.push(format!(
                            "the repository's audit chain is broken: {}",
                            broken.describe()
                        ));
                    }
                    let anchors: Vec<(String, String)> = releases
                        .iter()
                        .filter_map(|r| {
                            let commit = r.status.as_ref()?.commit.clone()?;
                            Some((r.name_any(), commit))
                        })
                        .collect();
                    for (release, commit) in audit::check_anchors(&history, &anchors) {
                        notes.push(format!(
                            "release {release} was delivered as commit {commit}, which {url} ({branch}) no longer holds: the history was rewritten"
                        ));
                    }
                }
                Err(e) => notes.push(format!(
                    "delivery commits are not included: {e:#}; pass --repo with a clone you can read"
                )),
            }
        }
    }
    let filter = Filter {
        since: args.since.map(|d| {
            let span = jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX);
            Timestamp::now().checked_sub(span).unwrap_or(Timestamp::MIN)
        }),
        user: args.user.clone(),
        workload: args.workload.clone(),
        environment: args.environment.clone(),
    };
    Ok((filter.apply(audit::merge(sources)), notes))
}

fn run_report(args: ReportArgs) -> Result<ExitCode> {
    let markdown = block_on(async {
        let session = args.kube.connect().await?;
        report(&session, &args).await
    })??;
    match &args.output {
        Some(path) => {
            std::fs::write(path, &markdown)
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
            eprintln!("report written to {}", path.display());
        }
        None => print!("{markdown}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads the session or release, the project's releases and approval requests, and asks the
/// engine for the report.
async fn report(session: &Session, args: &ReportArgs) -> Result<String> {
    use gitopshq_engine::report::{self, Records, Subject};
    let ns = session.namespace.clone();
    let releases = list::<Release>(session, resources::RELEASES).await?;
    let requests = list::<ApprovalRequest>(session, resources::APPROVAL_REQUESTS).await?;
    let approvals: Vec<&ApprovalRequest> = requests.iter().collect();
    let sessions: Api<BreakGlassSession> = Api::namespaced(session.client.clone(), &ns);
    let generated = Timestamp::now();
    if let Some(name) = &args.breakglass {
        let object = format!("breakglasssession {name}");
        let found = session
            .call(
                Attempt::new("get", resources::BREAK_GLASS_SESSIONS, Some(&ns)).on(&object),
                sessions.get(name),
            )
            .await?;
        let under = report::session_releases(&found, &releases);
        return Ok(report::incident_report(&Records {
            subject: Subject::Session(&found),
            session: None,
            releases: &under,
            approvals: &approvals,
            generated,
        }));
    }
    let name = args.release.clone().unwrap_or_default();
    let Some(release) = releases.iter().find(|r| r.name_any() == name) else {
        return Err(Failure::new(
            Kind::NotFound,
            format!("release {name} does not exist in namespace {ns}"),
            Some(format!(
                "list the releases with: kubectl get releases -n {ns}"
            )),
        )
        .into());
    };
    let named = match &release.spec.break_glass_session {
        Some(session_name) => {
            session
                .get_opt(
                    Attempt::new("get", resources::BREAK_GLASS_SESSIONS, Some(&ns))
                        .on(format!("breakglasssession {session_name}")),
                    sessions.get(session_name),
                )
                .await?
        }
        None => None,
    };
    let concerned = vec![release];
    Ok(report::incident_report(&Records {
        subject: Subject::Release(release),
        session: named.as_ref(),
        releases: &concerned,
        approvals: &approvals,
        generated,
    }))
}

async fn list<K>(session: &Session, resource: &str) -> Result<Vec<K>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(session.client.clone(), &session.namespace);
    Ok(session
        .call(
            Attempt::new("list", resource, Some(&session.namespace)),
            api.list(&ListParams::default()),
        )
        .await?
        .items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitopshq_engine::audit::Source;

    #[test]
    fn the_trail_reads_as_a_table() {
        let entry = AuditEntry {
            time: "2026-01-01T10:00:00Z".parse().unwrap(),
            source: Source::Approval,
            project: "shop".into(),
            actor: Some("bob".into()),
            action: "Approve".into(),
            object: "release/api-v2".into(),
            message: "policy two-teams, as sre-team".into(),
            environment: None,
            workloads: vec![],
            all_workloads: false,
            commit: None,
            involved: vec!["bob".into()],
        };
        let text = render(&[entry]);
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "2026-01-01T10:00:00Z   approval   bob     Approve   release/api-v2   policy two-teams, as sre-team"
        );
    }
}
