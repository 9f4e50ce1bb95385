//! Admission rules, family by family. The builders and assertions they share live here: every
//! object is built from a small default (`release("payment-api-v2").env("production")…`) and
//! every request is pinned to [`NOW`], a Wednesday in the middle of the `db-upgrade` window.

mod approval_bypass;
mod approvals;
mod cancel;
mod freeze;
mod grants;
mod identity;
mod immutability;
mod inputs;
mod policies;
mod validity;
mod verdict;

use gitopshq_crds::approval_policy::{ApprovalPolicy, ApprovalPolicySpec};
use gitopshq_crds::approval_request::{
    ApprovalRequest, ApprovalRequestSpec, Decision, DecisionKind,
};
use gitopshq_crds::break_glass_session::{
    BreakGlassPhase, BreakGlassScope, BreakGlassSession, BreakGlassSessionSpec,
    BreakGlassSessionStatus, Severity,
};
use gitopshq_crds::common::Time;
use gitopshq_crds::environment::{Environment, EnvironmentSpec, FreezeWindow};
use gitopshq_crds::release::{
    Release, ReleasePhase, ReleaseSpec, ReleaseStatus, ReleaseType, RollbackTarget, WorkloadChange,
};
use gitopshq_crds::testing::from_yaml as object;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::*;
use crate::freeze::tests::recurring;
use crate::policy::{EvalLimits, PolicyEngine};

/// The project every namespaced test object lives in (its namespace is the project's name).
const NS: &str = "payments";
/// The moment of every request unless a test says otherwise.
const NOW: &str = "2026-11-25T14:00:00Z";

fn ts(text: &str) -> Timestamp {
    text.parse()
        .unwrap_or_else(|e| panic!("bad timestamp {text}: {e}"))
}

fn k8s_time(text: &str) -> Time {
    Time(ts(text))
}

fn person(name: &str, groups: &[&str]) -> Requester {
    Requester::new(name, groups)
}

fn engine() -> PolicyEngine {
    PolicyEngine::new(EvalLimits::default())
}

// --- Requests -------------------------------------------------------------------------------

fn create<'a, K>(user: &'a Requester, object: &'a K) -> Request<'a, K> {
    Request {
        operation: Operation::Create,
        user,
        object: Some(object),
        old: None,
        now: ts(NOW),
    }
}

fn update<'a, K>(user: &'a Requester, old: &'a K, object: &'a K) -> Request<'a, K> {
    Request {
        operation: Operation::Update,
        user,
        object: Some(object),
        old: Some(old),
        now: ts(NOW),
    }
}

fn at<'a, K>(req: Request<'a, K>, now: &str) -> Request<'a, K> {
    Request {
        now: ts(now),
        ..req
    }
}

// --- Verdicts -------------------------------------------------------------------------------

/// Asserts a denial by `rule` whose message holds every one of `words`; returns the message.
#[track_caller]
fn assert_denied(verdict: &Verdict, rule: Rule, words: &[&str]) -> String {
    let Some(denial) = &verdict.denial else {
        panic!("expected a {rule:?} denial, the request was allowed: {verdict:?}");
    };
    assert_eq!(denial.rule, rule, "wrong rule; message: {}", denial.message);
    for word in words {
        assert!(
            denial.message.contains(word),
            "the {rule:?} message lacks {word:?}:\n{}",
            denial.message
        );
    }
    denial.message.clone()
}

#[track_caller]
fn assert_allowed(verdict: &Verdict) {
    assert!(
        verdict.allowed(),
        "expected the request to be allowed: {:?}",
        verdict.denial
    );
}

/// Asserts exactly one warning and that it holds every one of `words`.
#[track_caller]
fn assert_warned(verdict: &Verdict, words: &[&str]) -> String {
    assert_eq!(
        verdict.warnings.len(),
        1,
        "warnings: {:?}",
        verdict.warnings
    );
    let warning = &verdict.warnings[0];
    for word in words {
        assert!(
            warning.contains(word),
            "the warning lacks {word:?}:\n{warning}"
        );
    }
    warning.clone()
}

fn mutation<'v>(verdict: &'v Verdict, path: &str) -> Option<&'v Value> {
    verdict
        .mutations
        .iter()
        .find(|m| m.path == path)
        .map(|m| &m.value)
}

fn audit<'v>(verdict: &'v Verdict, key: &str) -> Option<&'v str> {
    verdict
        .audit
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The object as the API server stores it after the mutating webhook's changes: each mutation
/// sets (or adds) the member its JSON pointer names.
fn apply<K: Serialize + DeserializeOwned>(object: &K, verdict: &Verdict) -> K {
    let mut document = serde_json::to_value(object).unwrap();
    for m in &verdict.mutations {
        let (parent, last) = m.path.rsplit_once('/').unwrap();
        let target = document
            .pointer_mut(parent)
            .unwrap_or_else(|| panic!("mutation {} has no parent in the object", m.path));
        match target {
            Value::Object(map) => {
                map.insert(last.to_string(), m.value.clone());
            }
            Value::Array(items) => items[last.parse::<usize>().unwrap()] = m.value.clone(),
            other => panic!("mutation {} lands in {other}", m.path),
        }
    }
    serde_json::from_value(document).unwrap()
}

// --- Releases -------------------------------------------------------------------------------

/// A Draft Deploy release into production in [`NS`], without changes yet.
fn release(name: &str) -> Release {
    let mut release = Release::new(
        name,
        ReleaseSpec {
            title: format!("Release {name}"),
            environment: "production".into(),
            ..ReleaseSpec::default()
        },
    );
    release.metadata.namespace = Some(NS.into());
    release
}

/// More steps than `gitopshq_crds::testing`'s (`Release::submitted`, `in_phase`) for the
/// admission cases.
trait ReleaseBuilder: Sized {
    fn env(self, environment: &str) -> Self;
    fn created_by(self, user: &str) -> Self;
    fn change(self, workload: &str) -> Self;
    fn change_values(self, workload: &str, values: Value) -> Self;
    /// Turns the release into a Rollback restoring `release`.
    fn rollback_to(self, release: &str) -> Self;
    fn break_glass(self, session: &str) -> Self;
    fn to_tenants(self, tenants: &[&str]) -> Self;
    fn tenants_labelled(self, key: &str, value: &str) -> Self;
    fn phase(self, phase: ReleasePhase) -> Self;
}

impl ReleaseBuilder for Release {
    fn env(mut self, environment: &str) -> Self {
        self.spec.environment = environment.into();
        self
    }

    /// Created by `user`, who is then its first author, as the webhook stores it.
    fn created_by(mut self, user: &str) -> Self {
        self.spec.created_by = Some(user.into());
        if self.spec.authors.is_empty() {
            self.spec.authors = vec![user.into()];
        }
        self
    }

    fn change(self, workload: &str) -> Self {
        self.change_values(workload, json!({}))
    }

    fn change_values(mut self, workload: &str, values: Value) -> Self {
        let Value::Object(values) = values else {
            panic!("values must be an object");
        };
        self.spec.changes.push(WorkloadChange {
            workload: workload.into(),
            version: None,
            values,
            unset: Vec::new(),
        });
        self
    }

    fn rollback_to(mut self, release: &str) -> Self {
        self.spec.type_ = ReleaseType::Rollback;
        self.spec.rollback_to = Some(RollbackTarget {
            release: release.into(),
        });
        self
    }

    fn break_glass(mut self, session: &str) -> Self {
        self.spec.break_glass_session = Some(session.into());
        self
    }

    fn to_tenants(mut self, tenants: &[&str]) -> Self {
        self.spec.tenants = tenants.iter().map(|t| t.to_string()).collect();
        self
    }

    fn tenants_labelled(mut self, key: &str, value: &str) -> Self {
        self.spec.tenant_selector = Some(object(&format!("matchLabels: {{{key}: {value}}}")));
        self
    }

    fn phase(mut self, phase: ReleasePhase) -> Self {
        self.status = Some(ReleaseStatus {
            phase: Some(phase),
            ..ReleaseStatus::default()
        });
        self
    }
}

// --- Approvals ------------------------------------------------------------------------------

/// A decision as the mutating webhook stamped it.
fn decision(kind: DecisionKind, user: &str, groups: &[&str]) -> Decision {
    Decision {
        decision: kind,
        comment: None,
        user: Some(user.into()),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        time: Some(k8s_time("2026-11-25T13:00:00Z")),
        rendered_digest: None,
    }
}

fn approve(user: &str, groups: &[&str]) -> Decision {
    decision(DecisionKind::Approve, user, groups)
}

fn reject(user: &str, groups: &[&str]) -> Decision {
    decision(DecisionKind::Reject, user, groups)
}

/// A decision as a client sends it: no identity (or a forged one) yet.
fn sent(kind: DecisionKind) -> Decision {
    Decision {
        decision: kind,
        comment: Some("looks good".into()),
        user: None,
        groups: Vec::new(),
        time: None,
        rendered_digest: None,
    }
}

/// The ApprovalRequest of release `release` under policy `production-approvals`.
fn approval_request(release: &str, decisions: Vec<Decision>) -> ApprovalRequest {
    let mut request = ApprovalRequest::new(
        release,
        ApprovalRequestSpec {
            release: release.into(),
            policy: "production-approvals".into(),
            decisions,
            ..ApprovalRequestSpec::default()
        },
    );
    request.metadata.namespace = Some(NS.into());
    request
}

/// `production-approvals`: one approval from anyone but the creator (the CRD defaults).
fn approval_policy() -> ApprovalPolicy {
    ApprovalPolicy::new(
        "production-approvals",
        ApprovalPolicySpec {
            environments: vec!["production".into()],
            ..ApprovalPolicySpec::default()
        },
    )
}

trait ApprovalPolicyBuilder: Sized {
    fn min_approvals(self, n: i32) -> Self;
    fn distinct_teams(self) -> Self;
    fn self_approval_allowed(self) -> Self;
    fn approver_groups(self, groups: &[&str]) -> Self;
}

impl ApprovalPolicyBuilder for ApprovalPolicy {
    fn min_approvals(mut self, n: i32) -> Self {
        self.spec.min_approvals = n;
        self
    }

    fn distinct_teams(mut self) -> Self {
        self.spec.distinct_teams = true;
        self
    }

    fn self_approval_allowed(mut self) -> Self {
        self.spec.forbid_self_approval = false;
        self
    }

    fn approver_groups(mut self, groups: &[&str]) -> Self {
        self.spec.approver_groups = groups.iter().map(|g| g.to_string()).collect();
        self
    }
}

// --- Break-glass sessions -------------------------------------------------------------------

/// An open SEV1 session for production/checkout-service, created at 13:30 for 2h (so active
/// at [`NOW`] until 15:30), requested by `oncall`.
fn session(name: &str) -> BreakGlassSession {
    let mut session = BreakGlassSession::new(
        name,
        BreakGlassSessionSpec {
            justification: "checkout fails for every EU card payment since 13:10".into(),
            severity: Severity::SEV1,
            scope: BreakGlassScope {
                environments: vec!["production".into()],
                workloads: vec!["checkout-service".into()],
                tenants: Vec::new(),
            },
            duration: "2h".into(),
            incident_url: Some("https://status.example.com/incidents/4711".into()),
            closed: false,
            closing_note: None,
            requested_by: Some("oncall".into()),
        },
    );
    session.metadata.namespace = Some(NS.into());
    session.metadata.creation_timestamp = Some(k8s_time("2026-11-25T13:30:00Z"));
    session
}

trait SessionBuilder: Sized {
    fn scope_environments(self, environments: &[&str]) -> Self;
    fn scope_workloads(self, workloads: &[&str]) -> Self;
    fn scope_tenants(self, tenants: &[&str]) -> Self;
    fn lasting(self, duration: &str) -> Self;
    fn created_at(self, time: &str) -> Self;
    fn status_times(self, activated: Option<&str>, expires: Option<&str>) -> Self;
    fn status_phase(self, phase: BreakGlassPhase) -> Self;
    fn closed_with(self, note: Option<&str>) -> Self;
    fn justified(self, text: &str) -> Self;
}

impl SessionBuilder for BreakGlassSession {
    fn scope_environments(mut self, environments: &[&str]) -> Self {
        self.spec.scope.environments = environments.iter().map(|e| e.to_string()).collect();
        self
    }

    fn scope_workloads(mut self, workloads: &[&str]) -> Self {
        self.spec.scope.workloads = workloads.iter().map(|w| w.to_string()).collect();
        self
    }

    fn scope_tenants(mut self, tenants: &[&str]) -> Self {
        self.spec.scope.tenants = tenants.iter().map(|t| t.to_string()).collect();
        self
    }

    fn lasting(mut self, duration: &str) -> Self {
        self.spec.duration = duration.into();
        self
    }

    fn created_at(mut self, time: &str) -> Self {
        self.metadata.creation_timestamp = Some(k8s_time(time));
        self
    }

    fn status_times(mut self, activated: Option<&str>, expires: Option<&str>) -> Self {
        let status = self
            .status
            .get_or_insert_with(BreakGlassSessionStatus::default);
        status.activated_at = activated.map(k8s_time);
        status.expires_at = expires.map(k8s_time);
        self
    }

    fn status_phase(mut self, phase: BreakGlassPhase) -> Self {
        self.status
            .get_or_insert_with(BreakGlassSessionStatus::default)
            .phase = Some(phase);
        self
    }

    fn closed_with(mut self, note: Option<&str>) -> Self {
        self.spec.closed = true;
        self.spec.closing_note = note.map(str::to_string);
        self
    }

    fn justified(mut self, text: &str) -> Self {
        self.spec.justification = text.into();
        self
    }
}

// --- Environments ---------------------------------------------------------------------------

fn environment(name: &str) -> Environment {
    Environment::new(name, EnvironmentSpec::default())
}

trait EnvironmentBuilder: Sized {
    fn frozen_between(self, window: &str, start: &str, end: &str, reason: Option<&str>) -> Self;
    fn frozen_every(self, window: &str, cron: &str, duration: &str, zone: Option<&str>) -> Self;
}

impl EnvironmentBuilder for Environment {
    fn frozen_between(
        mut self,
        window: &str,
        start: &str,
        end: &str,
        reason: Option<&str>,
    ) -> Self {
        self.spec.freeze_windows.push(FreezeWindow {
            name: window.into(),
            start: Some(k8s_time(start)),
            end: Some(k8s_time(end)),
            reason: reason.map(str::to_string),
            recurring: None,
        });
        self
    }

    fn frozen_every(
        mut self,
        window: &str,
        cron: &str,
        duration: &str,
        zone: Option<&str>,
    ) -> Self {
        self.spec
            .freeze_windows
            .push(recurring(window, cron, duration, zone));
        self
    }
}

/// Production frozen by the `db-upgrade` window from 12:00 to 18:00 UTC on the day of [`NOW`].
fn frozen_production() -> Environment {
    environment("production").frozen_between(
        "db-upgrade",
        "2026-11-25T12:00:00Z",
        "2026-11-25T18:00:00Z",
        Some("database upgrade"),
    )
}
