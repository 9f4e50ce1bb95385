//! Break-glass sessions: who opened them, how long they last, what they cover, and that a
//! closed session is sealed.

use gitopshq_crds::break_glass_session::{BreakGlassPhase, BreakGlassSession};
use jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use serde_json::json;

use super::{Operation, Request, Rule, Verdict, format_time};
use crate::freeze::parse_duration;

/// The longest a session may last; longer emergencies open a new, newly justified session.
pub const MAX_SESSION_DURATION: SignedDuration = SignedDuration::from_hours(4);

/// The shortest justification that can say what is broken and why the normal path will not do.
pub const MIN_JUSTIFICATION: usize = 20;

/// What a release touches, to compare with a session's scope.
#[derive(Debug, Clone, Copy)]
pub struct SessionScope<'a> {
    pub environment: &'a str,
    pub workloads: &'a [String],
    pub tenants: &'a [String],
}

impl SessionScope<'_> {
    /// `production/checkout-service` or `production/checkout-service,payment-api`.
    pub fn describe(&self) -> String {
        if self.workloads.is_empty() {
            self.environment.to_string()
        } else {
            format!("{}/{}", self.environment, self.workloads.join(","))
        }
    }
}

/// When a session ends by itself: the recorded expiry, else activation (or creation) plus its
/// duration.
pub fn session_expires_at(session: &BreakGlassSession) -> Option<Timestamp> {
    if let Some(expires) = session.status.as_ref().and_then(|s| s.expires_at.as_ref()) {
        return Some(expires.0);
    }
    let started = session
        .status
        .as_ref()
        .and_then(|s| s.activated_at.as_ref())
        .or(session.metadata.creation_timestamp.as_ref())?;
    let duration = parse_duration(&session.spec.duration)?.min(MAX_SESSION_DURATION);
    started.0.checked_add(duration).ok()
}

/// Whether a session grants anything at `now`; the error says why not.
pub fn session_is_active(session: &BreakGlassSession, now: Timestamp) -> Result<(), String> {
    let name = session.name_any();
    let phase = session.status.as_ref().and_then(|s| s.phase);
    if session.spec.closed || phase == Some(BreakGlassPhase::Closed) {
        return Err(format!("break-glass session {name} is closed"));
    }
    match session_expires_at(session) {
        Some(expires) if now >= expires => Err(format!(
            "break-glass session {name} expired at {}",
            format_time(expires)
        )),
        Some(_) if phase == Some(BreakGlassPhase::Expired) => {
            Err(format!("break-glass session {name} has expired"))
        }
        Some(_) => Ok(()),
        None => Err(format!(
            "break-glass session {name} has no valid duration or start time"
        )),
    }
}

/// Whether a session's scope covers an environment, every workload and every tenant a release
/// touches. Empty workload or tenant lists in the scope mean "all of them".
pub fn session_covers(session: &BreakGlassSession, scope: &SessionScope<'_>) -> bool {
    let s = &session.spec.scope;
    s.environments.iter().any(|e| e == scope.environment)
        && (s.workloads.is_empty() || scope.workloads.iter().all(|w| s.workloads.contains(w)))
        && (s.tenants.is_empty() || scope.tenants.iter().all(|t| s.tenants.contains(t)))
}

/// Stamps `spec.requestedBy` with the requester on creation and keeps it on updates.
pub fn mutate_break_glass_session(req: &Request<'_, BreakGlassSession>) -> Verdict {
    let Some(session) = req.object else {
        return Verdict::allow();
    };
    let requested_by = match (req.operation, req.old) {
        (Operation::Update, Some(old)) => old.spec.requested_by.clone(),
        _ => Some(req.user.username.clone()),
    };
    if session.spec.requested_by == requested_by {
        return Verdict::allow();
    }
    Verdict::allow().set("/spec/requestedBy", json!(requested_by))
}

/// Bounded duration, real justification, closing needs a note, a closed session is sealed,
/// and an open session may only be closed (not widened or extended).
/// A session may be opened only by someone holding the `break-glass` grant for every
/// environment of its scope; then [`validate_break_glass_session`] applies.
pub fn admit_break_glass_session(
    req: &Request<'_, BreakGlassSession>,
    directory: &dyn super::Directory,
    settings: &super::Settings,
) -> Verdict {
    if let (Operation::Delete, Some(session)) = (req.operation, req.old)
        && !settings.may_delete_records(req.user)
    {
        return Verdict::deny(
            Rule::NotPermitted,
            format!(
                "breakglasssession {} denied: a break-glass session is the audit record of what was done under it; it is never deleted by a project role (close it with a closing note: gitopshq breakglass close {})",
                session.name_any(),
                session.name_any()
            ),
        );
    }
    if let (Operation::Create, Some(session)) = (req.operation, req.object) {
        let namespace = session.namespace().unwrap_or_default();
        let object = format!("breakglasssession {}", session.name_any());
        if let Err(denial) = super::require(
            req,
            directory,
            &namespace,
            crate::rbac::verbs::BREAK_GLASS,
            &session.spec.scope.environments,
            &object,
        ) {
            return denial;
        }
    }
    validate_break_glass_session(req)
}

pub fn validate_break_glass_session(req: &Request<'_, BreakGlassSession>) -> Verdict {
    let Some(session) = req.object else {
        return Verdict::allow();
    };
    let name = session.name_any();
    let spec = &session.spec;
    let denied = |rule: Rule, what: String| {
        Verdict::deny(rule, format!("breakglasssession {name} denied: {what}"))
    };
    if let (Operation::Update, Some(old)) = (req.operation, req.old) {
        if old.spec.closed {
            if old.spec != session.spec {
                return denied(
                    Rule::Immutable,
                    "the session is closed and sealed; its record cannot change. Open a new BreakGlassSession if more work is needed".into(),
                );
            }
            return Verdict::allow();
        }
        let mut reopened = old.spec.clone();
        reopened.closed = spec.closed;
        reopened.closing_note = spec.closing_note.clone();
        if reopened != *spec {
            return denied(
                Rule::Immutable,
                "only spec.closed and spec.closingNote of an open session may change; its scope, duration, severity and justification are fixed when it opens. Close it and open a new session for a different scope or more time".into(),
            );
        }
    }
    match parse_duration(&spec.duration) {
        None => {
            return denied(
                Rule::Invalid,
                format!(
                    "spec.duration {:?} is not a duration; use for example 1h or 90m (at most 4h)",
                    spec.duration
                ),
            );
        }
        Some(duration) if duration > MAX_SESSION_DURATION => {
            return denied(
                Rule::Invalid,
                format!(
                    "spec.duration {} is longer than 4h; open a session of at most 4h and a new one if the incident lasts longer",
                    spec.duration
                ),
            );
        }
        Some(_) => {}
    }
    if spec.justification.trim().chars().count() < MIN_JUSTIFICATION {
        return denied(
            Rule::Invalid,
            format!(
                "spec.justification must say what is broken and why the normal path will not do, in at least {MIN_JUSTIFICATION} characters"
            ),
        );
    }
    if spec.closed
        && spec
            .closing_note
            .as_deref()
            .is_none_or(|note| note.trim().is_empty())
    {
        return denied(
            Rule::Invalid,
            "closing a session requires spec.closingNote: what was done under it and the outcome"
                .into(),
        );
    }
    let mut verdict = Verdict::allow();
    if req.operation == Operation::Create {
        verdict = verdict
            .warn(format!(
                "break-glass session {name} is active for {} on {}: every action under it is recorded and reviewed",
                spec.duration,
                spec.scope.environments.join(", ")
            ))
            .record("gitopshq.io/break-glass", name.clone());
    }
    verdict
}
