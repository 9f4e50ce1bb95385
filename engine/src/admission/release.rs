//! Releases: the creator stamped from the request, a submitted spec frozen, freezes enforced
//! unless a break-glass session covers the release, and OPA policies evaluated on submission.

use std::collections::BTreeSet;
use std::sync::Arc;

use gitopshq_crds::break_glass_session::BreakGlassSession;
use gitopshq_crds::release::{PolicyVerdict, Release, ReleaseType};
use kube::ResourceExt;
use serde_json::{Value, json};

use super::approval::list_or_none;
use super::break_glass::{SessionScope, session_covers, session_is_active};
use super::{Directory, Operation, Permission, Request, Rule, Settings, Verdict, format_time};
use crate::catalog::Catalog;
use crate::error::Chain;
use crate::freeze::{FreezePeriod, freeze_state};
use crate::plan;
use crate::policy::{PolicyEngine, ReleaseSubject};

/// The project grant that submitting a release of `type_` needs in its environment.
pub fn submit_verb(type_: ReleaseType) -> &'static str {
    match type_ {
        ReleaseType::Rollback => crate::rbac::verbs::ROLLBACK,
        ReleaseType::Deploy | ReleaseType::Promotion => crate::rbac::verbs::RELEASE,
    }
}

/// A request that submits a release: created submitted, or turned from Draft to submitted.
/// Freezes and policies apply at this moment; Drafts may be prepared during a freeze.
pub fn is_submission(old: Option<&Release>, new: &Release) -> bool {
    new.spec.submitted && !old.is_some_and(|o| o.spec.submitted)
}

/// The workloads a release touches: its changes, or for a Rollback without changes the
/// workloads of the release it restores.
pub fn release_workloads(
    release: &Release,
    directory: &dyn Directory,
) -> Result<Vec<String>, Verdict> {
    let Some(target) = restores_workloads_of(release) else {
        return Ok(changed_workloads(release));
    };
    let namespace = release.namespace().unwrap_or_default();
    let Some(restored) = directory.release(&namespace, target) else {
        return Err(Verdict::deny(
            Rule::NotFound,
            format!(
                "release {} denied: spec.rollbackTo.release {target:?} does not exist in namespace {namespace}; name a release that was delivered (kubectl get releases -n {namespace})",
                release.name_any()
            ),
        ));
    };
    Ok(changed_workloads(&restored))
}

/// The workloads a release's own changes name, sorted, each once.
pub fn changed_workloads(release: &Release) -> Vec<String> {
    let mut workloads: Vec<String> = release
        .spec
        .changes
        .iter()
        .map(|c| c.workload.clone())
        .collect();
    workloads.sort();
    workloads.dedup();
    workloads
}

/// The release whose workloads `release` touches instead of its own: a Rollback that names no
/// change restores its target's workloads. `None`: the release's changes say it.
pub fn restores_workloads_of(release: &Release) -> Option<&str> {
    if !release.spec.changes.is_empty() || release.spec.type_ != ReleaseType::Rollback {
        return None;
    }
    Some(
        release
            .spec
            .rollback_to
            .as_ref()
            .map(|r| r.release.as_str())
            .unwrap_or_default(),
    )
}

/// Everyone a release counts as its own: its creator, its submitter and every author. None of
/// them may approve it where the policy forbids self-approval.
pub fn release_authors(release: &Release) -> BTreeSet<&str> {
    release
        .spec
        .created_by
        .iter()
        .chain(&release.spec.submitted_by)
        .chain(&release.spec.authors)
        .map(String::as_str)
        .collect()
}

/// Who created, changed and submitted a release, as the requests say: `(createdBy,
/// submittedBy, authors)`. The controller creates releases for a Promotion or an image update
/// and names their authors itself; from anyone else what the client sent is overwritten.
fn authorship(
    req: &Request<'_, Release>,
    release: &Release,
    settings: &Settings,
) -> (Option<String>, Option<String>, Vec<String>) {
    let user = &req.user.username;
    let Some(old) = req.old.filter(|_| req.operation == Operation::Update) else {
        if settings.is_controller(req.user) {
            let created_by = release.spec.created_by.clone().or(Some(user.clone()));
            let mut authors = release.spec.authors.clone();
            if authors.is_empty() {
                authors.extend(created_by.clone());
            }
            let submitted_by = release
                .spec
                .submitted
                .then(|| release.spec.submitted_by.clone().unwrap_or(user.clone()));
            return (created_by, submitted_by, authors);
        }
        let submitted_by = release.spec.submitted.then(|| user.clone());
        return (Some(user.clone()), submitted_by, vec![user.clone()]);
    };
    let mut authors = old.spec.authors.clone();
    if authors.is_empty() {
        authors.extend(old.spec.created_by.clone());
    }
    let unstamped = |r: &Release| {
        let mut spec = r.spec.clone();
        spec.created_by = None;
        spec.submitted_by = None;
        spec.authors = Vec::new();
        // Cancelling is not authoring: it makes no one an author of the release.
        spec.cancellation = None;
        spec
    };
    let controller = settings.is_controller(req.user);
    if !controller && unstamped(old) != unstamped(release) && !authors.contains(user) {
        authors.push(user.clone());
    }
    let submitted_by = if is_submission(Some(old), release) && !controller {
        Some(user.clone())
    } else {
        old.spec.submitted_by.clone()
    };
    (old.spec.created_by.clone(), submitted_by, authors)
}

/// Stamps the authorship (`spec.createdBy`, `spec.submittedBy`, `spec.authors`) from the
/// requests and, when a submission meets a freeze, records the active break-glass session that
/// covers it. A submission that an Enforce policy refuses is kept as a Draft instead of being
/// lost: `spec.submitted` goes back to false and the annotation
/// `gitopshq.io/submission-refused` records who was refused, when and why (the controller
/// then shows the policy results on the Draft); the person gets the denial as a warning.
pub fn mutate_release(
    req: &Request<'_, Release>,
    directory: &dyn Directory,
    policies: &PolicyEngine,
    settings: &Settings,
) -> Verdict {
    let Some(release) = req.object else {
        return Verdict::allow();
    };
    let mut verdict = refused_submission(req, release, directory, policies);
    if verdict
        .mutations
        .iter()
        .any(|m| m.path == "/spec/submitted")
    {
        return verdict;
    }
    let (created_by, submitted_by, authors) = authorship(req, release, settings);
    if release.spec.created_by != created_by {
        verdict = verdict.set(
            "/spec/createdBy",
            created_by.map_or(Value::Null, Value::String),
        );
    }
    if release.spec.submitted_by != submitted_by {
        verdict = verdict.set(
            "/spec/submittedBy",
            submitted_by.map_or(Value::Null, Value::String),
        );
    }
    if release.spec.authors != authors {
        verdict = verdict.set("/spec/authors", json!(authors));
    }
    verdict = super::stamp_cancellation(req, release, verdict);
    if release.spec.break_glass_session.is_none() && is_submission(req.old, release) {
        let Some(environment) = directory.environment(&release.spec.environment) else {
            return verdict;
        };
        let frozen = freeze_state(&environment, req.now, &settings.default_time_zone)
            .is_ok_and(|state| state.frozen());
        if frozen
            && let Ok(scope) = ReleaseScope::of(release, directory)
            && let Some(session) = scope.covering_session(directory, req.now)
            && may_act_under_sessions(req, directory, release) == Permission::Allowed
        {
            verdict = verdict.set("/spec/breakGlassSession", json!(session.name_any()));
        }
    }
    verdict
}

/// The Draft a policy-refused submission becomes (see [`mutate_release`]), or the release's
/// refusal record kept as the webhook last wrote it: nobody else sets or changes it.
fn refused_submission(
    req: &Request<'_, Release>,
    release: &Release,
    directory: &dyn Directory,
    policies: &PolicyEngine,
) -> Verdict {
    let key = gitopshq_crds::consts::annotations::SUBMISSION_REFUSED;
    let kept = req.old.and_then(|old| old.annotations().get(key).cloned());
    let mut annotations = release.annotations().clone();
    let submission = is_submission(req.old, release)
        && release.spec.type_ != ReleaseType::Rollback
        && release.spec.break_glass_session.is_none();
    let namespace = release.namespace().unwrap_or_default();
    let permitted = submission
        && super::require(
            req,
            directory,
            &namespace,
            crate::rbac::verbs::RELEASE,
            std::slice::from_ref(&release.spec.environment),
            &format!("release {}", release.name_any()),
        )
        .is_ok();
    if permitted
        && let Err(denial) = evaluate_policies(release, directory, policies, Verdict::allow())
        && let Some(refusal) = denial
            .denial
            .as_ref()
            .filter(|d| d.rule == Rule::PolicyDenied)
    {
        let record: String = format!(
            "{} at {}: {}",
            req.user.username,
            format_time(req.now),
            refusal.message
        )
        .chars()
        .take(4000)
        .collect();
        annotations.insert(key.to_string(), record);
        let mut verdict = Verdict::allow()
            .set("/spec/submitted", json!(false))
            .set("/metadata/annotations", json!(annotations))
            .record("gitopshq.io/submission-refused", refusal.message.clone());
        verdict.warnings = denial.warnings;
        return verdict.warn(format!(
            "{}; release {} is kept as a Draft: change its values and submit it again",
            refusal.message,
            release.name_any()
        ));
    }
    if annotations.get(key) == kept.as_ref() {
        return Verdict::allow();
    }
    match kept {
        Some(value) => annotations.insert(key.to_string(), value),
        None => annotations.remove(key),
    };
    Verdict::allow().set("/metadata/annotations", json!(annotations))
}

/// Immutability of submitted releases, freezes and break-glass, and OPA policies.
pub fn validate_release(
    req: &Request<'_, Release>,
    directory: &dyn Directory,
    policies: &PolicyEngine,
    settings: &Settings,
) -> Verdict {
    if let (Operation::Delete, Some(old)) = (req.operation, req.old)
        && old.spec.submitted
        && !settings.may_delete_records(req.user)
    {
        return Verdict::deny(
            Rule::NotPermitted,
            format!(
                "release {} denied: a submitted release is the record of what was asked for, approved and delivered; only a platform administrator may delete it (a Draft may be deleted by its project)",
                old.name_any()
            ),
        );
    }
    let Some(release) = req.object else {
        return Verdict::allow();
    };
    let name = release.name_any();
    let denied =
        |rule: Rule, what: String| Verdict::deny(rule, format!("release {name} denied: {what}"));
    if let Some(verdict) = super::validate_cancellation(req, release, directory) {
        return verdict;
    }
    if let (Operation::Update, Some(old)) = (req.operation, req.old)
        && old.spec.submitted
        && old.spec != release.spec
    {
        return denied(
            Rule::Immutable,
            "spec is immutable once submitted; create a new release with the change (or a Rollback release to undo one); to stop it before delivery, cancel it (gitopshq release cancel)".into(),
        );
    }
    if !is_submission(req.old, release) {
        return Verdict::allow();
    }
    let verb = submit_verb(release.spec.type_);
    let namespace = release.namespace().unwrap_or_default();
    if let Err(denial) = super::require(
        req,
        directory,
        &namespace,
        verb,
        std::slice::from_ref(&release.spec.environment),
        &format!("release {name}"),
    ) {
        return denial;
    }
    let env_name = &release.spec.environment;
    let Some(environment) = directory.environment(env_name) else {
        return denied(
            Rule::NotFound,
            format!(
                "spec.environment {env_name:?} does not exist; choose one of kubectl get environments"
            ),
        );
    };
    let scope = match ReleaseScope::of(release, directory) {
        Ok(scope) => scope,
        Err(verdict) => return verdict,
    };
    let state = match freeze_state(&environment, req.now, &settings.default_time_zone) {
        Ok(state) => state,
        Err(error) => {
            return denied(
                Rule::Invalid,
                format!("{error}; fix the Environment before releasing into it"),
            );
        }
    };
    if let Some(session_name) = &release.spec.break_glass_session
        && let Err(denial) = require_session_grant(req, directory, release, session_name)
    {
        return denial;
    }
    let mut verdict = Verdict::allow();
    if let Some(freeze) = &state.active {
        verdict = match admit_during_freeze(release, &scope, freeze, directory, req) {
            Ok(verdict) => verdict,
            Err(denial) => return denial,
        };
    } else if let Some(session_name) = &release.spec.break_glass_session {
        verdict = match admit_under_session(release, &scope, session_name, directory, req) {
            Ok(verdict) => verdict,
            Err(denial) => return denial,
        };
    }
    if let Some(rule) = &environment.spec.promotion {
        verdict = match admit_promoted(release, rule, directory, req.now, verdict) {
            Ok(verdict) => verdict,
            Err(denial) => return denial,
        };
    }
    if release.spec.type_ != ReleaseType::Rollback {
        verdict = match evaluate_policies(release, directory, policies, verdict) {
            Ok(verdict) => verdict,
            Err(denial) => return denial,
        };
    }
    verdict
}

/// Why a release may not be delivered now, and until when: its environment is frozen and no
/// active break-glass session covers it (the one it names, or any other of its project).
/// `Ok(None)` when delivery may go on; with a covering session, its name.
pub fn delivery_freeze(
    release: &Release,
    directory: &dyn Directory,
    now: jiff::Timestamp,
    settings: &Settings,
) -> Result<FreezeCheck, String> {
    let env_name = &release.spec.environment;
    let Some(environment) = directory.environment(env_name) else {
        return Err(format!(
            "environment {env_name} does not exist; create it or fix spec.environment"
        ));
    };
    let state = freeze_state(&environment, now, &settings.default_time_zone)
        .map_err(|e| format!("{e}; fix the Environment before releasing into it"))?;
    let Some(freeze) = state.active else {
        return Ok(FreezeCheck::Open);
    };
    let scope = ReleaseScope::of(release, directory).map_err(|v| {
        v.denial
            .map(|d| d.message)
            .unwrap_or_else(|| "the release's scope cannot be resolved".into())
    })?;
    let named = release
        .spec
        .break_glass_session
        .as_deref()
        .and_then(|name| scope.named_session(name, directory, now).ok());
    if let Some(session) = named.or_else(|| scope.covering_session(directory, now)) {
        return Ok(FreezeCheck::BreakGlass(session.name_any()));
    }
    let window = match &freeze.reason {
        Some(reason) => format!("freeze window {:?}: {reason}", freeze.name),
        None => format!("freeze window {:?}", freeze.name),
    };
    Ok(FreezeCheck::Frozen {
        until: freeze.until,
        message: format!(
            "environment {env_name} is frozen until {} ({window}); delivery waits for the window to end, or open a BreakGlassSession covering {}",
            format_time(freeze.until),
            scope.as_session_scope().describe()
        ),
    })
}

/// Outcome of [`delivery_freeze`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreezeCheck {
    /// Not frozen.
    Open,
    /// Frozen, but this active session covers the release.
    BreakGlass(String),
    /// Frozen: wait until `until`.
    Frozen {
        until: jiff::Timestamp,
        message: String,
    },
}

/// Where a release lands: environment, workloads and tenants.
struct ReleaseScope {
    namespace: String,
    environment: String,
    workloads: Vec<String>,
    tenants: Vec<String>,
}

impl ReleaseScope {
    fn of(release: &Release, directory: &dyn Directory) -> Result<Self, Verdict> {
        let workloads = release_workloads(release, directory)?;
        // Tenants matter only against sessions scoped to tenants; named ones are known without
        // reading the project. A selector, or no selection at all (every tenant of the
        // environment), is resolved only when such a session exists.
        let namespace = release.namespace().unwrap_or_default();
        let tenants = if !release.spec.tenants.is_empty() {
            release.spec.tenants.clone()
        } else if directory
            .break_glass_sessions(&namespace)
            .iter()
            .any(|s| !s.spec.scope.tenants.is_empty())
        {
            let catalog = directory.project_catalog(&namespace);
            plan::release_tenants(&catalog, release)
                .map(|ts| ts.iter().map(|t| t.name_any()).collect())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(Self {
            namespace,
            environment: release.spec.environment.clone(),
            workloads,
            tenants,
        })
    }

    fn as_session_scope(&self) -> SessionScope<'_> {
        SessionScope {
            environment: &self.environment,
            workloads: &self.workloads,
            tenants: &self.tenants,
        }
    }

    /// The active session covering this scope that ends last (the most room to work).
    fn covering_session(
        &self,
        directory: &dyn Directory,
        now: jiff::Timestamp,
    ) -> Option<Arc<BreakGlassSession>> {
        let namespace_sessions = self.sessions(directory);
        namespace_sessions
            .into_iter()
            .filter(|s| {
                session_is_active(s, now).is_ok() && session_covers(s, &self.as_session_scope())
            })
            .max_by_key(|s| super::session_expires_at(s))
    }

    fn sessions(&self, directory: &dyn Directory) -> Vec<Arc<BreakGlassSession>> {
        // Sessions live in the project's namespace, next to the release.
        directory.break_glass_sessions(&self.namespace)
    }

    /// The session named `name`, when it grants this scope anything at `now`: it exists in the
    /// release's namespace (a session of another project is never seen), is active, and covers
    /// every workload and tenant of the scope. The error says why not, naming the session.
    fn named_session(
        &self,
        name: &str,
        directory: &dyn Directory,
        now: jiff::Timestamp,
    ) -> Result<Arc<BreakGlassSession>, String> {
        let Some(session) = self
            .sessions(directory)
            .into_iter()
            .find(|s| s.name_any() == name)
        else {
            return Err(format!(
                "break-glass session {name} does not exist in this namespace"
            ));
        };
        session_is_active(&session, now)?;
        if !session_covers(&session, &self.as_session_scope()) {
            let s = &session.spec.scope;
            let covered = SessionScope {
                environment: &s.environments.join(","),
                workloads: &s.workloads,
                tenants: &s.tenants,
            }
            .describe();
            let tenants = if s.tenants.is_empty() {
                String::new()
            } else {
                format!(" tenants {}", s.tenants.join(","))
            };
            return Err(format!(
                "break-glass session {name} covers {covered}{tenants}, not {}",
                self.as_session_scope().describe()
            ));
        }
        Ok(session)
    }
}

/// The break-glass session a release acts under, checked as every use of one checks it (the
/// freeze at admission and at delivery, and the approval gate): the session named in
/// `spec.breakGlassSession` exists in the release's namespace, is active at `now` (not closed,
/// not expired) and covers the release's environment, workloads and tenants. `None` when the
/// release names no session; `Some(Err(problem))` says why the named one grants nothing.
pub fn named_session(
    release: &Release,
    directory: &dyn Directory,
    now: jiff::Timestamp,
) -> Option<Result<Arc<BreakGlassSession>, String>> {
    let name = release.spec.break_glass_session.as_deref()?;
    let checked = ReleaseScope::of(release, directory)
        .map_err(|v| {
            v.denial
                .map(|d| d.message)
                .unwrap_or_else(|| "the release's scope cannot be resolved".into())
        })
        .and_then(|scope| scope.named_session(name, directory, now));
    Some(checked)
}

/// Whether the requester holds the `break-glass` grant for the release's environment: the
/// grant that opens a session is the one that acts under it. A release under a session skips
/// the freeze and its ApprovalPolicy, so a role that may only release (a ReleaseManager) must
/// not reach that by naming a session someone else opened.
fn may_act_under_sessions(
    req: &Request<'_, Release>,
    directory: &dyn Directory,
    release: &Release,
) -> Permission {
    let namespace = release.namespace().unwrap_or_default();
    directory.permits(
        req.user,
        &namespace,
        crate::rbac::verbs::BREAK_GLASS,
        &release.spec.environment,
    )
}

/// `Err(denial)` unless the requester may act under the session the release names
/// ([`may_act_under_sessions`]).
fn require_session_grant(
    req: &Request<'_, Release>,
    directory: &dyn Directory,
    release: &Release,
    session_name: &str,
) -> Result<(), Verdict> {
    let name = release.name_any();
    let environment = &release.spec.environment;
    let namespace = release.namespace().unwrap_or_default();
    let user = &req.user.username;
    let problem = match may_act_under_sessions(req, directory, release) {
        Permission::Allowed => return Ok(()),
        Permission::Denied => format!(
            "spec.breakGlassSession names break-glass session {session_name}, but {user} (groups: {}) may not open break-glass sessions for {environment} in project {namespace}, so may not release under one either (a release under a session skips the freeze and its ApprovalPolicy); remove spec.breakGlassSession and let the release be approved, or ask someone with the Approver role in {environment} to submit it under the session",
            list_or_none(req.user.teams()),
        ),
        Permission::Unknown(reason) => format!(
            "spec.breakGlassSession names break-glass session {session_name}, but whether {user} may act under break-glass in {environment} cannot be checked ({reason}); retry in a moment"
        ),
    };
    Err(Verdict::deny(
        Rule::NotPermitted,
        format!("release {name} denied: {problem}"),
    ))
}

/// A release admitted under `session`: the warning says what that lifts (`context` leads it,
/// e.g. the freeze), and the session is recorded on the release.
fn admitted_under(
    session: &BreakGlassSession,
    session_name: &str,
    context: String,
    release: &str,
) -> Verdict {
    let expires = super::session_expires_at(session)
        .map(format_time)
        .unwrap_or_default();
    Verdict::allow()
        .warn(format!(
            "{context}release {release} is admitted under break-glass session {session_name} ({}, requested by {}, expires {expires}): its ApprovalPolicy is bypassed (Enforce policies still apply) and every action is recorded",
            session.spec.severity,
            session.spec.requested_by.as_deref().unwrap_or("unknown"),
        ))
        .record("gitopshq.io/break-glass-session", session_name.to_string())
}

/// Outside a freeze, a release naming a session is admitted only when that session is active
/// and covers it: the session lifts its approval gate, so naming a closed, expired, foreign or
/// narrower one is refused rather than silently ignored.
fn admit_under_session(
    release: &Release,
    scope: &ReleaseScope,
    session_name: &str,
    directory: &dyn Directory,
    req: &Request<'_, Release>,
) -> Result<Verdict, Verdict> {
    let name = release.name_any();
    match scope.named_session(session_name, directory, req.now) {
        Ok(session) => Ok(admitted_under(&session, session_name, String::new(), &name)),
        Err(problem) => Err(Verdict::deny(
            Rule::BreakGlass,
            format!(
                "release {name} denied: spec.breakGlassSession: {problem}; remove spec.breakGlassSession to have the release approved under its ApprovalPolicy, or open a BreakGlassSession covering {}",
                scope.as_session_scope().describe()
            ),
        )),
    }
}

fn admit_during_freeze(
    release: &Release,
    scope: &ReleaseScope,
    freeze: &FreezePeriod,
    directory: &dyn Directory,
    req: &Request<'_, Release>,
) -> Result<Verdict, Verdict> {
    let name = release.name_any();
    let window = match &freeze.reason {
        Some(reason) => format!("freeze window {:?}: {reason}", freeze.name),
        None => format!("freeze window {:?}", freeze.name),
    };
    let wanted = scope.as_session_scope().describe();
    let Some(session_name) = &release.spec.break_glass_session else {
        let mut hint = String::new();
        if let Some(session) = scope.covering_session(directory, req.now)
            && may_act_under_sessions(req, directory, release) != Permission::Allowed
        {
            hint = format!(
                " (break-glass session {} covers it, but only someone who may open break-glass sessions for {} may release under it: ask {} to submit it)",
                session.name_any(),
                scope.environment,
                session
                    .spec
                    .requested_by
                    .as_deref()
                    .unwrap_or("its requester"),
            );
        }
        return Err(Verdict::deny(
            Rule::Frozen,
            format!(
                "release {name} denied: environment {} is frozen until {} ({window}); open a BreakGlassSession covering {wanted} or wait for the window to end{hint}",
                scope.environment,
                format_time(freeze.until),
            ),
        ));
    };
    let checked = scope.named_session(session_name, directory, req.now);
    match checked {
        Ok(session) => Ok(admitted_under(
            &session,
            session_name,
            format!("environment {} is frozen ({window}); ", scope.environment),
            &name,
        )),
        Err(problem) => Err(Verdict::deny(
            Rule::BreakGlass,
            format!(
                "release {name} denied: environment {} is frozen until {} ({window}) and {problem}; open a BreakGlassSession covering {wanted} or wait for the window to end",
                scope.environment,
                format_time(freeze.until),
            ),
        )),
    }
}

/// `Environment.spec.promotion`: the release must deliver states that ran Healthy in `from`
/// for the soak. A release under a break-glass session (checked above to cover it) passes with
/// a warning: an incident fix does not wait for staging.
fn admit_promoted(
    release: &Release,
    rule: &gitopshq_crds::environment::EnvironmentPromotion,
    directory: &dyn Directory,
    now: jiff::Timestamp,
    verdict: Verdict,
) -> Result<Verdict, Verdict> {
    let name = release.name_any();
    let environment = &release.spec.environment;
    let catalog = directory.project_catalog(&release.namespace().unwrap_or_default());
    let rule_text = format!(
        "environment {environment} takes only what has run Healthy in {} for {} (Environment {environment} spec.promotion)",
        rule.from,
        rule.soak.as_deref().unwrap_or("any time")
    );
    let next = format!(
        "promote a release that runs Healthy in {}: a Promotion with spec.release <that release> and spec.toEnvironment: {environment}",
        rule.from
    );
    let denial = match crate::promotion::promotion_from_gate(&catalog, release, now) {
        crate::promotion::FromGate::Open => return Ok(verdict),
        crate::promotion::FromGate::Soaking { until, message } => format!(
            "release {name} denied: {rule_text}: {message}; submit it again after {}",
            format_time(until)
        ),
        crate::promotion::FromGate::Refused { message } => {
            format!("release {name} denied: {rule_text}: {message}; {next}")
        }
    };
    if let Some(session) = &release.spec.break_glass_session {
        return Ok(verdict.warn(format!(
            "break-glass session {session} lets release {name} skip Environment {environment} spec.promotion: {denial}"
        )));
    }
    Err(Verdict::deny(Rule::NotPromoted, denial))
}

/// Renders the release and evaluates the policies bound to its environment: Enforce denials
/// deny the request, the rest come back as warnings.
fn evaluate_policies(
    release: &Release,
    directory: &dyn Directory,
    engine: &PolicyEngine,
    mut verdict: Verdict,
) -> Result<Verdict, Verdict> {
    let name = release.name_any();
    let policies: Vec<gitopshq_crds::policy::Policy> = directory
        .policies()
        .iter()
        .filter(|p| {
            p.spec.bindings.iter().any(|b| {
                b.environments.is_empty() || b.environments.contains(&release.spec.environment)
            })
        })
        .map(|p| (**p).clone())
        .collect();
    if policies.is_empty() {
        return Ok(verdict);
    }
    let project = release.namespace().unwrap_or_default();
    let catalog: Catalog = directory.project_catalog(&project);
    let rendered = plan::release_targets(&catalog, release)
        .and_then(|targets| engine.renders().render_targets(&catalog, targets));
    let rendered = match rendered {
        Ok(rendered) => rendered,
        Err(error) => {
            // The controller fails the release with the same error; policies cannot be judged
            // on manifests that do not exist, and nothing is delivered either way.
            return Ok(verdict.warn(format!(
                "release {name}: policies were not evaluated because rendering failed: {}",
                Chain(&error)
            )));
        }
    };
    let subject = ReleaseSubject {
        environment: &release.spec.environment,
        project: &project,
        release: &name,
        changes: &release.spec.changes,
        targets: crate::policy::subject_targets(&rendered),
    };
    let results = match engine.evaluate_release(&policies, &subject) {
        Ok(results) => results,
        Err(error) => {
            return Err(Verdict::deny(
                Rule::PolicyDenied,
                format!("release {name} denied: policy evaluation failed: {error}"),
            ));
        }
    };
    let mut violations = Vec::new();
    for result in &results {
        let mode = result.mode.as_str();
        match result.verdict {
            PolicyVerdict::Pass => {}
            PolicyVerdict::Warn => {
                for message in &result.messages {
                    verdict = verdict.warn(format!("policy {} ({mode}): {message}", result.policy));
                }
            }
            PolicyVerdict::Deny => {
                for message in &result.messages {
                    violations.push(format!("policy {} ({mode}): {message}", result.policy));
                }
            }
        }
    }
    let summary: Vec<String> = results
        .iter()
        .map(|r| format!("{}={}", r.policy, r.verdict))
        .collect();
    if !violations.is_empty() {
        let mut denial = Verdict::deny(
            Rule::PolicyDenied,
            format!(
                "release {name} denied by {} policy violation(s): {}; fix the values and submit a new release",
                violations.len(),
                violations.join("; ")
            ),
        );
        denial.warnings = verdict.warnings;
        return Err(denial.record("gitopshq.io/policy-verdicts", summary.join(",")));
    }
    Ok(verdict.record("gitopshq.io/policy-verdicts", summary.join(",")))
}
