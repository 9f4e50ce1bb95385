//! The audit trail: who changed what, when and why, in one chronological log; and the hash
//! chain that makes the GitOps repository's delivery history tamper-evident.
//!
//! Entries come from every record the platform keeps: release timelines (each phase with its
//! actor; approvals skipped under a break-glass session are `ApprovalBypassed`, naming the
//! session and its justification), approval decisions (identities stamped by the webhook), break-glass sessions (opened,
//! actions, closed or expired), Kubernetes Events of GitOpsHQ objects, and the trailers of the
//! delivery commits in the GitOps repository. [`merge`] orders them; [`Filter`] narrows them.
//!
//! # The chain
//!
//! Every delivery commit (a commit whose message carries the GitOpsHQ trailer block) holds
//! `GitOpsHQ-Previous-Audit: sha256:<hex>`, computed by [`chain_value`] over
//!
//! - the id of the commit it sits on (its first parent), and
//! - the previous delivery commit on the branch's first-parent history: its id, its tree and
//!   its own Previous-Audit value.
//!
//! [`verify_chain`] recomputes every value from the history alone (offline). Rewriting a commit
//! changes its id, so the next delivery commit's recorded value no longer matches; removing one
//! changes the parent and the previous delivery commit of the next. Only the newest commit has
//! no successor to vouch for it: [`check_anchors`] compares the history with the commits that
//! the cluster's Release objects recorded at delivery (`status.commit`).

use std::collections::{BTreeMap, BTreeSet};

use gitopshq_crds::approval_request::ApprovalRequest;
use gitopshq_crds::break_glass_session::{BreakGlassPhase, BreakGlassSession};
use gitopshq_crds::consts::trailers as trailer_keys;
use gitopshq_crds::release::{Release, ReleaseType};
use jiff::Timestamp;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::layout::ParsedCommit;

/// First line of the text [`chain_value`] hashes: a new scheme gets a new version.
pub const CHAIN_SCHEME: &str = "gitopshq-audit-v1";

// ------------------------------------------------------------------------------------------
// Entries
// ------------------------------------------------------------------------------------------

/// Where an audit entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Source {
    /// A Release's creation and `status.timeline`.
    Release,
    /// A decision on a release's ApprovalRequest.
    Approval,
    /// A BreakGlassSession: opened, actions under it, closed or expired.
    BreakGlass,
    /// A delivery commit of the GitOps repository (its trailers).
    Commit,
    /// A Kubernetes Event about a GitOpsHQ object.
    Event,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Release => "release",
            Source::Approval => "approval",
            Source::BreakGlass => "break-glass",
            Source::Commit => "commit",
            Source::Event => "event",
        }
    }
}

/// One line of the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    #[serde(serialize_with = "rfc3339")]
    #[cfg_attr(feature = "ts", ts(as = "String"))]
    pub time: Timestamp,
    pub source: Source,
    /// The project (namespace) the entry belongs to.
    pub project: String,
    /// Who did it: a user, a ServiceAccount or a component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// What happened: a phase, `Approve`, `Reject`, `Opened`, an Event reason, `Committed` …
    pub action: String,
    /// `kind/name` of the object concerned (`release/payment-api-v2`).
    pub object: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Workloads the entry concerns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workloads: Vec<String>,
    /// A break-glass session whose scope names no workload covers all of them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_workloads: bool,
    /// Full SHA of the delivery commit, when the entry is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Everyone the entry names (actor, creator, approvers), for `--user`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub involved: Vec<String>,
}

fn rfc3339<S: serde::Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*t))
}

/// `2026-11-25T14:35:02Z`: to the second, UTC.
pub fn format_time(t: Timestamp) -> String {
    let seconds = Timestamp::from_second(t.as_second()).unwrap_or(t);
    seconds.to_string()
}

impl AuditEntry {
    fn new(
        time: Timestamp,
        source: Source,
        project: &str,
        action: impl Into<String>,
        object: impl Into<String>,
    ) -> Self {
        Self {
            time,
            source,
            project: project.to_string(),
            actor: None,
            action: action.into(),
            object: object.into(),
            message: String::new(),
            environment: None,
            workloads: Vec::new(),
            all_workloads: false,
            commit: None,
            involved: Vec::new(),
        }
    }

    fn by(mut self, actor: Option<&str>) -> Self {
        if let Some(actor) = actor.filter(|a| !a.is_empty()) {
            self.actor = Some(actor.to_string());
            self.involve(actor);
        }
        self
    }

    fn involve(&mut self, who: &str) {
        if !who.is_empty() && !self.involved.iter().any(|w| w == who) {
            self.involved.push(who.to_string());
        }
    }

    fn scoped(mut self, scope: Option<&ReleaseScope>) -> Self {
        if let Some(scope) = scope {
            self.environment = Some(scope.environment.clone());
            self.workloads = scope.workloads.clone();
        }
        self
    }
}

/// What a release concerns, for entries that only name it (decisions, events, commits).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseScope {
    pub environment: String,
    pub workloads: Vec<String>,
    pub created_by: Option<String>,
}

/// `(namespace, release name)` → scope. A Rollback without `changes` concerns the workloads of
/// the release it restores.
pub fn release_scopes(releases: &[Release]) -> BTreeMap<(String, String), ReleaseScope> {
    let key = |r: &Release| (r.namespace().unwrap_or_default(), r.name_any());
    let own: BTreeMap<(String, String), Vec<String>> = releases
        .iter()
        .map(|r| {
            let mut workloads: Vec<String> =
                r.spec.changes.iter().map(|c| c.workload.clone()).collect();
            workloads.sort();
            workloads.dedup();
            (key(r), workloads)
        })
        .collect();
    releases
        .iter()
        .map(|r| {
            let (namespace, name) = key(r);
            let mut workloads = own[&(namespace.clone(), name.clone())].clone();
            if workloads.is_empty()
                && r.spec.type_ == ReleaseType::Rollback
                && let Some(target) = &r.spec.rollback_to
            {
                workloads = own
                    .get(&(namespace.clone(), target.release.clone()))
                    .cloned()
                    .unwrap_or_default();
            }
            let scope = ReleaseScope {
                environment: r.spec.environment.clone(),
                workloads,
                created_by: r.spec.created_by.clone(),
            };
            ((namespace, name), scope)
        })
        .collect()
}

/// A release's creation and every timeline entry.
pub fn release_entries(release: &Release, scope: Option<&ReleaseScope>) -> Vec<AuditEntry> {
    let project = release.namespace().unwrap_or_default();
    let object = format!("release/{}", release.name_any());
    let mut out = Vec::new();
    if let Some(created) = &release.metadata.creation_timestamp {
        let mut entry = AuditEntry::new(created.0, Source::Release, &project, "Created", &object)
            .by(release.spec.created_by.as_deref())
            .scoped(scope);
        let kind = release.spec.type_.as_str();
        entry.message = format!(
            "{kind} release \"{}\" for {}",
            release.spec.title, release.spec.environment
        );
        if let Some(target) = &release.spec.rollback_to {
            entry
                .message
                .push_str(&format!(", restoring {}", target.release));
        }
        if let Some(session) = &release.spec.break_glass_session {
            entry
                .message
                .push_str(&format!(", under break-glass session {session}"));
        }
        out.push(entry);
    }
    for step in release
        .status
        .as_ref()
        .map(|s| s.timeline.as_slice())
        .unwrap_or_default()
    {
        let bypassed = step.phase == gitopshq_crds::release::ReleasePhase::Approved
            && step
                .message
                .as_deref()
                .is_some_and(|m| m.starts_with(crate::lifecycle::gate::BYPASSED_BY));
        let action = if bypassed {
            "ApprovalBypassed".to_string()
        } else {
            step.phase.to_string()
        };
        let mut entry = AuditEntry::new(step.time.0, Source::Release, &project, action, &object)
            .by(step.actor.as_deref())
            .scoped(scope);
        entry.message = step.message.clone().unwrap_or_default();
        if let Some(commit) = release.status.as_ref().and_then(|s| s.commit.clone())
            && matches!(step.phase, gitopshq_crds::release::ReleasePhase::Deployed)
        {
            entry.commit = Some(commit);
        }
        out.push(entry);
    }
    // A cancellation the controller has not acted on yet is on record from the request itself.
    let cancelled_in_timeline = release.status.as_ref().is_some_and(|s| {
        s.timeline
            .iter()
            .any(|t| t.phase == gitopshq_crds::release::ReleasePhase::Cancelled)
    });
    if let Some(cancellation) = &release.spec.cancellation
        && let Some(time) = &cancellation.time
        && !cancelled_in_timeline
    {
        let mut entry = AuditEntry::new(time.0, Source::Release, &project, "Cancelled", &object)
            .by(cancellation.user.as_deref())
            .scoped(scope);
        entry.message = match cancellation.reason.as_deref().map(one_line) {
            Some(reason) if !reason.is_empty() => format!("cancellation requested: {reason}"),
            _ => "cancellation requested (no reason given)".to_string(),
        };
        out.push(entry);
    }
    out
}

/// Every decision of an ApprovalRequest, attributed to its release.
pub fn approval_entries(
    request: &ApprovalRequest,
    scope: Option<&ReleaseScope>,
) -> Vec<AuditEntry> {
    let project = request.namespace().unwrap_or_default();
    let object = format!("release/{}", request.spec.release);
    request
        .spec
        .decisions
        .iter()
        .filter_map(|d| {
            let time = d.time.as_ref()?.0;
            let action = d.decision.as_str();
            let mut entry = AuditEntry::new(time, Source::Approval, &project, action, &object)
                .by(d.user.as_deref())
                .scoped(scope);
            let teams: Vec<&str> = crate::admission::teams(&d.groups).collect();
            let mut message = format!("policy {}", request.spec.policy);
            if !teams.is_empty() {
                message.push_str(&format!(", as {}", teams.join(", ")));
            }
            if let Some(comment) = d.comment.as_deref().filter(|c| !c.trim().is_empty()) {
                message.push_str(&format!(": \"{}\"", one_line(comment)));
            }
            entry.message = message;
            Some(entry)
        })
        .collect()
}

/// A session's opening, the actions under it and its end.
pub fn session_entries(session: &BreakGlassSession) -> Vec<AuditEntry> {
    let project = session.namespace().unwrap_or_default();
    let object = format!("breakglasssession/{}", session.name_any());
    let spec = &session.spec;
    let status = session.status.clone().unwrap_or_default();
    let scoped = |mut e: AuditEntry| {
        e.environment =
            (spec.scope.environments.len() == 1).then(|| spec.scope.environments[0].clone());
        e.workloads = spec.scope.workloads.clone();
        e.all_workloads = spec.scope.workloads.is_empty();
        if let Some(by) = &spec.requested_by {
            e.involve(by);
        }
        e
    };
    let mut out = Vec::new();
    let opened = status
        .activated_at
        .as_ref()
        .or(session.metadata.creation_timestamp.as_ref());
    if let Some(opened) = opened {
        let mut entry = scoped(
            AuditEntry::new(opened.0, Source::BreakGlass, &project, "Opened", &object)
                .by(spec.requested_by.as_deref()),
        );
        let mut scope = spec.scope.environments.join(",");
        if !spec.scope.workloads.is_empty() {
            scope.push('/');
            scope.push_str(&spec.scope.workloads.join(","));
        }
        if !spec.scope.tenants.is_empty() {
            scope.push_str(&format!(" (tenants {})", spec.scope.tenants.join(",")));
        }
        entry.message = format!(
            "{:?} for {scope}, {}: {}",
            spec.severity,
            spec.duration,
            one_line(&spec.justification)
        );
        if let Some(url) = &spec.incident_url {
            entry.message.push_str(&format!(" ({url})"));
        }
        out.push(entry);
    }
    for action in &status.actions {
        let mut entry = scoped(
            AuditEntry::new(
                action.time.0,
                Source::BreakGlass,
                &project,
                format!("Action: {}", action.operation),
                &object,
            )
            .by(Some(&action.user)),
        );
        entry.message = match &action.release {
            Some(release) => format!("{} release {release} under the session", action.operation),
            None => format!("{} under the session", action.operation),
        };
        out.push(entry);
    }
    if let (Some(ended), Some(phase)) = (&status.ended_at, status.phase)
        && phase != BreakGlassPhase::Active
    {
        let action = phase.as_str();
        let mut entry = scoped(AuditEntry::new(
            ended.0,
            Source::BreakGlass,
            &project,
            action,
            &object,
        ));
        let mut message = match (&spec.closing_note, phase) {
            (Some(note), BreakGlassPhase::Closed) => format!("closing note: {}", one_line(note)),
            (_, BreakGlassPhase::Closed) => "closed".to_string(),
            _ => format!("expired after {}", spec.duration),
        };
        if let Some(digest) = &status.sealed_digest {
            message.push_str(&format!("; sealed {digest}"));
        }
        entry.message = message;
        out.push(entry);
    }
    out
}

/// An Event about a GitOpsHQ object (others give `None`).
pub fn event_entry(
    event: &Event,
    scopes: &BTreeMap<(String, String), ReleaseScope>,
) -> Option<AuditEntry> {
    let regarding = event.regarding.as_ref()?;
    let group_ok = regarding
        .api_version
        .as_deref()
        .is_some_and(|v| v.starts_with(gitopshq_crds::consts::GROUP));
    if !group_ok {
        return None;
    }
    let time = event
        .series
        .as_ref()
        .map(|s| s.last_observed_time.0)
        .or(event.event_time.as_ref().map(|t| t.0))
        .or(event.deprecated_last_timestamp.as_ref().map(|t| t.0))
        .or(event.metadata.creation_timestamp.as_ref().map(|t| t.0))?;
    let kind = regarding.kind.clone().unwrap_or_default().to_lowercase();
    let name = regarding.name.clone().unwrap_or_default();
    let project = regarding
        .namespace
        .clone()
        .or(event.metadata.namespace.clone())
        .unwrap_or_default();
    let reason = event.reason.clone().unwrap_or_default();
    let mut entry = AuditEntry::new(
        time,
        Source::Event,
        &project,
        reason,
        format!("{kind}/{name}"),
    )
    .by(event.reporting_controller.as_deref());
    if kind == "release" {
        entry = entry.scoped(scopes.get(&(project.clone(), name.clone())));
    } else if kind == "workload" {
        entry.workloads = vec![name.clone()];
    }
    let note = event.note.clone().unwrap_or_default();
    entry.message = match event.type_.as_deref() {
        Some("Warning") => format!("warning: {note}"),
        _ => note,
    };
    Some(entry)
}

/// One commit of a branch as the audit reads it (`git log`, first-parent order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRecord {
    pub commit: String,
    pub parents: Vec<String>,
    pub tree: String,
    /// Commit time, seconds since the epoch.
    pub time: i64,
    pub author: String,
    pub parsed: ParsedCommit,
}

impl CommitRecord {
    /// Delivery commits are those with the GitOpsHQ trailer block.
    pub fn is_delivery(&self) -> bool {
        self.parsed.trailers.is_some()
    }

    fn other<'a>(&'a self, key: &'a str) -> Option<&'a str> {
        self.others(key).next()
    }

    /// Every value of a repeated trailer.
    fn others<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.parsed
            .trailers
            .iter()
            .flat_map(|t| &t.other)
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The audit entry of a delivery commit of `project` (others give `None`).
pub fn commit_entry(
    record: &CommitRecord,
    project: Option<&str>,
    scopes: &BTreeMap<(String, String), ReleaseScope>,
) -> Option<AuditEntry> {
    let trailers = record.parsed.trailers.as_ref()?;
    let (namespace, name) = trailers.release.split_once('/')?;
    if project.is_some_and(|p| p != namespace) {
        return None;
    }
    let time = Timestamp::from_second(record.time).ok()?;
    let release_type = record.other(trailer_keys::RELEASE_TYPE).unwrap_or("Deploy");
    let action = if release_type == "Rollback" {
        "RolledBack"
    } else {
        "Committed"
    };
    let scope = scopes.get(&(namespace.to_string(), name.to_string()));
    let creator = record.other(trailer_keys::CREATED_BY);
    let mut entry = AuditEntry::new(
        time,
        Source::Commit,
        namespace,
        action,
        format!("release/{name}"),
    )
    .by(creator.or(Some(record.author.as_str())))
    .scoped(scope);
    entry.environment = Some(trailers.environment.clone());
    entry.commit = Some(record.commit.clone());
    let short = &record.commit[..record.commit.len().min(7)];
    let mut parts = vec![format!("{short} \"{}\"", record.parsed.title)];
    let authors: Vec<&str> = record.others(trailer_keys::AUTHORED_BY).collect();
    if !authors.is_empty() {
        parts.push(format!("authored by {}", authors.join(", ")));
        for who in &authors {
            entry.involve(who);
        }
    }
    if let Some(submitter) = record.other(trailer_keys::SUBMITTED_BY) {
        parts.push(format!("submitted by {submitter}"));
        entry.involve(submitter);
    }
    if !trailers.approved_by.is_empty() {
        parts.push(format!("approved by {}", trailers.approved_by.join(", ")));
        for who in &trailers.approved_by {
            entry.involve(who);
        }
    }
    if !trailers.policies.is_empty() {
        let verdicts: Vec<String> = trailers
            .policies
            .iter()
            .map(|p| format!("{}={}", p.policy, p.verdict))
            .collect();
        parts.push(format!("policies {}", verdicts.join(", ")));
    }
    if let Some(session) = &trailers.break_glass {
        parts.push(format!("break-glass {session}"));
    }
    if let Some(target) = record.other(trailer_keys::ROLLBACK_TO) {
        parts.push(format!("restores {target}"));
    }
    entry.message = parts.join("; ");
    Some(entry)
}

/// One chronological trail: oldest first; entries at the same second keep the order of their
/// sources (a release's own record before decisions, sessions, commits and events); exact
/// duplicates (the same Event listed twice) appear once.
pub fn merge(sources: impl IntoIterator<Item = Vec<AuditEntry>>) -> Vec<AuditEntry> {
    let mut all: Vec<AuditEntry> = sources.into_iter().flatten().collect();
    all.sort_by(|a, b| {
        (a.time.as_second(), a.source)
            .cmp(&(b.time.as_second(), b.source))
            .then(a.time.cmp(&b.time))
    });
    all.dedup();
    all
}

/// What `gitopshq audit` narrows the trail to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Entries at or after this time.
    pub since: Option<Timestamp>,
    /// Entries naming this person (as actor, creator or approver).
    pub user: Option<String>,
    /// Entries concerning this workload.
    pub workload: Option<String>,
    /// Entries of this environment (entries without one are kept).
    pub environment: Option<String>,
}

impl Filter {
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        if self.since.is_some_and(|since| entry.time < since) {
            return false;
        }
        if let Some(user) = &self.user
            && !entry.involved.iter().any(|w| w == user)
        {
            return false;
        }
        if let Some(workload) = &self.workload
            && !entry.all_workloads
            && !entry.workloads.iter().any(|w| w == workload)
            && entry.object != format!("workload/{workload}")
        {
            return false;
        }
        if let Some(env) = &self.environment
            && entry.environment.as_ref().is_some_and(|e| e != env)
        {
            return false;
        }
        true
    }

    pub fn apply(&self, entries: Vec<AuditEntry>) -> Vec<AuditEntry> {
        entries.into_iter().filter(|e| self.matches(e)).collect()
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ------------------------------------------------------------------------------------------
// Chain
// ------------------------------------------------------------------------------------------

/// The previous delivery commit a chain value covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainLink<'a> {
    pub commit: &'a str,
    pub tree: &'a str,
    /// Its own `GitOpsHQ-Previous-Audit` value (absent on commits made before the chain).
    pub previous_audit: Option<&'a str>,
}

/// `sha256:<hex>` over the scheme, the new commit's parent and the previous delivery commit
/// (id, tree, its own chain value). `None` parts are written as `-`.
pub fn chain_value(parent: Option<&str>, previous: Option<ChainLink<'_>>) -> String {
    let dash = |v: Option<&str>| v.unwrap_or("-").to_string();
    let text = format!(
        "{CHAIN_SCHEME}\nparent {}\nprevious {}\ntree {}\naudit {}\n",
        dash(parent),
        dash(previous.map(|p| p.commit)),
        dash(previous.map(|p| p.tree)),
        dash(previous.and_then(|p| p.previous_audit)),
    );
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

/// The first commit whose recorded chain value does not match the history before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub commit: String,
    pub title: String,
    pub release: String,
    pub expected: String,
    /// `None`: the commit carries no `GitOpsHQ-Previous-Audit` although earlier ones do.
    pub found: Option<String>,
    /// The delivery commit before it, whose content or position no longer matches.
    pub previous: Option<String>,
}

impl ChainBreak {
    /// What broke and what it means, for people.
    pub fn describe(&self) -> String {
        let short = |c: &str| c[..c.len().min(12)].to_string();
        let what = match &self.found {
            None => {
                "carries no GitOpsHQ-Previous-Audit trailer although earlier delivery commits do"
                    .to_string()
            }
            Some(found) => format!(
                "records GitOpsHQ-Previous-Audit {found}, but the history before it gives {}",
                self.expected
            ),
        };
        let cause = match &self.previous {
            Some(p) => format!(
                "delivery commit {} or a commit between it and this one was rewritten or removed",
                short(p)
            ),
            None => {
                "an earlier delivery commit was removed, or this commit was rewritten".to_string()
            }
        };
        format!(
            "chain breaks at commit {} \"{}\" (release {}): it {what}; the {cause}",
            self.commit, self.title, self.release
        )
    }
}

/// What [`verify_chain`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainReport {
    /// Delivery commits whose chain value matches.
    pub verified: usize,
    /// Delivery commits older than the first chained one (made before the chain existed).
    pub unchained: usize,
    /// Commits walked, delivery or not.
    pub commits: usize,
    /// The newest commit's chain value a new delivery would record: keep it outside the
    /// repository to vouch for the newest commit too.
    pub head_value: String,
    pub broken: Option<ChainBreak>,
}

/// Recomputes every chain value of `newest_first` (a branch's first-parent history, newest
/// first, down to its root) and reports the oldest commit where the chain breaks.
pub fn verify_chain(newest_first: &[CommitRecord]) -> ChainReport {
    let mut report = ChainReport {
        commits: newest_first.len(),
        ..ChainReport::default()
    };
    let mut previous: Option<&CommitRecord> = None;
    let mut chained = false;
    for record in newest_first.iter().rev() {
        let Some(trailers) = &record.parsed.trailers else {
            continue;
        };
        let link = previous.map(link_of);
        let expected = chain_value(record.parents.first().map(String::as_str), link);
        let found = trailers.previous_audit.clone();
        match &found {
            Some(value) if *value == expected => {
                report.verified += 1;
                chained = true;
            }
            None if !chained => report.unchained += 1,
            _ => {
                report.broken = Some(ChainBreak {
                    commit: record.commit.clone(),
                    title: record.parsed.title.clone(),
                    release: trailers.release.clone(),
                    expected,
                    found,
                    previous: previous.map(|p| p.commit.clone()),
                });
                break;
            }
        }
        previous = Some(record);
    }
    // What the next delivery would record on top of the head.
    let head = newest_first.first().map(|c| c.commit.as_str());
    let last_delivery = newest_first.iter().find(|c| c.is_delivery());
    report.head_value = chain_value(head, last_delivery.map(link_of));
    report
}

fn link_of(record: &CommitRecord) -> ChainLink<'_> {
    ChainLink {
        commit: &record.commit,
        tree: &record.tree,
        previous_audit: record
            .parsed
            .trailers
            .as_ref()
            .and_then(|t| t.previous_audit.as_deref()),
    }
}

/// The chain value a new commit on `parent` records, given the parent's first-parent history
/// (newest first, starting at the parent).
pub fn next_chain_value(history_from_parent: &[CommitRecord]) -> String {
    let parent = history_from_parent.first().map(|c| c.commit.as_str());
    let previous = history_from_parent.iter().find(|c| c.is_delivery());
    chain_value(parent, previous.map(link_of))
}

/// Commits the cluster recorded at delivery (`(release, commit)` pairs from Release
/// `status.commit`) that the history no longer holds: a rewrite of the newest commits shows
/// here even though no later commit vouches for them.
pub fn check_anchors(
    newest_first: &[CommitRecord],
    anchors: &[(String, String)],
) -> Vec<(String, String)> {
    let known: BTreeSet<&str> = newest_first.iter().map(|c| c.commit.as_str()).collect();
    anchors
        .iter()
        .filter(|(_, commit)| !known.contains(commit.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests;
