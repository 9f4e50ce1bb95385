//! The life of a BreakGlassSession: Active from creation, Closed when `spec.closed` is set
//! (with its note), Expired when its time is up; every release made under it is recorded (its
//! submission, the approvals it bypassed, its delivery or failure), and the record is sealed
//! with a digest when the session ends, so that a later edit shows.

use gitopshq_crds::break_glass_session::{
    BreakGlassAction, BreakGlassPhase, BreakGlassSession, BreakGlassSessionStatus,
};
use gitopshq_crds::common::Time;
use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_crds::release::{Release, ReleasePhase};
use jiff::Timestamp;
use kube::ResourceExt;
use sha2::{Digest, Sha256};

use crate::admission::session_expires_at;
use crate::conditions::{self, Status};

/// The session's status at `now`, given the releases that name it; and when to look again.
pub fn session_status(
    session: &BreakGlassSession,
    releases: &[&Release],
    now: Timestamp,
) -> (BreakGlassSessionStatus, Option<Timestamp>) {
    let mut status = session.status.clone().unwrap_or_default();
    if status.sealed_digest.is_some() {
        // Sealed: the record never changes again.
        return (status, None);
    }
    let activated = status
        .activated_at
        .clone()
        .or_else(|| session.metadata.creation_timestamp.clone())
        .unwrap_or(Time(now));
    status.activated_at = Some(activated);
    let expires = session_expires_at(&BreakGlassSession {
        status: Some(status.clone()),
        ..session.clone()
    });
    status.expires_at = expires.map(Time);
    record_actions(&mut status.actions, session, releases);

    let generation = session.metadata.generation;
    let (phase, ended, reason, message) = if session.spec.closed {
        let ended = status.ended_at.clone().map_or(now, |t| t.0);
        let note = session.spec.closing_note.as_deref().unwrap_or_default();
        (
            BreakGlassPhase::Closed,
            Some(ended),
            reasons::SESSION_CLOSED,
            format!("closed: {note}"),
        )
    } else if let Some(expires) = expires.filter(|e| now >= *e) {
        (
            BreakGlassPhase::Expired,
            Some(expires),
            reasons::SESSION_EXPIRED,
            format!(
                "expired at {}; open a new session if the incident goes on",
                crate::admission::format_time(expires)
            ),
        )
    } else {
        let until = expires
            .map(crate::admission::format_time)
            .unwrap_or_else(|| "an unknown time".into());
        (
            BreakGlassPhase::Active,
            None,
            reasons::SESSION_ACTIVE,
            format!(
                "Break-Glass Session Active until {until} — all actions are being recorded ({} so far)",
                status.actions.len()
            ),
        )
    };
    status.phase = Some(phase);
    status.ended_at = ended.map(Time);
    conditions::set(
        &mut status.conditions,
        types::ACTIVE,
        Status::from_bool(phase == BreakGlassPhase::Active),
        reason,
        &message,
        generation,
        now,
    );
    conditions::set(
        &mut status.conditions,
        types::READY,
        Status::True,
        reason,
        &message,
        generation,
        now,
    );
    if phase != BreakGlassPhase::Active {
        status.sealed_digest = Some(seal(session, &status));
        return (status, None);
    }
    (status, expires)
}

/// Appends the releases made under the session that are not recorded yet: their submission,
/// and their delivery once it happened.
fn record_actions(
    actions: &mut Vec<BreakGlassAction>,
    session: &BreakGlassSession,
    releases: &[&Release],
) {
    let name = session.name_any();
    for release in releases {
        let under = release.spec.break_glass_session.as_deref() == Some(name.as_str())
            || release
                .status
                .as_ref()
                .and_then(|s| s.break_glass_session.as_deref())
                == Some(name.as_str());
        if !under {
            continue;
        }
        let release_name = release.name_any();
        let user = release
            .spec
            .created_by
            .clone()
            .unwrap_or_else(|| "unknown".into());
        let submitted = BreakGlassAction {
            time: release
                .metadata
                .creation_timestamp
                .clone()
                .unwrap_or(Time(Timestamp::UNIX_EPOCH)),
            user: user.clone(),
            release: Some(release_name.clone()),
            operation: format!(
                "submitted {:?} release {release_name} ({}) into {}",
                release.spec.type_, release.spec.title, release.spec.environment
            ),
        };
        push_new(actions, submitted);
        let status = release.status.as_ref();
        if let Some(status) = status
            && let Some(bypass) = status
                .conditions
                .iter()
                .find(|c| c.type_ == types::APPROVED && c.reason == reasons::APPROVAL_BYPASSED)
        {
            let required = status.approvals.as_ref().map_or(0, |a| a.required);
            let approvals = if required == 1 {
                "1 approval".to_string()
            } else {
                format!("{required} approvals")
            };
            let bypassed = BreakGlassAction {
                time: bypass.last_transition_time.clone(),
                user: release
                    .spec
                    .submitted_by
                    .clone()
                    .unwrap_or_else(|| user.clone()),
                release: Some(release_name.clone()),
                operation: format!(
                    "bypassed the approval gate of release {release_name} ({approvals} required by its ApprovalPolicy)"
                ),
            };
            push_new(actions, bypassed);
        }
        if let Some(status) = status
            && let Some(commit) = &status.commit
            && status.phase.is_some_and(crate::lifecycle::is_delivered)
        {
            let delivered = BreakGlassAction {
                time: status
                    .delivered_at
                    .as_ref()
                    .map(|t| Time(t.0))
                    .or_else(|| release.metadata.creation_timestamp.clone())
                    .unwrap_or(Time(Timestamp::UNIX_EPOCH)),
                user: crate::lifecycle::CONTROLLER.into(),
                release: Some(release_name.clone()),
                operation: format!(
                    "delivered release {release_name} as commit {}",
                    &commit[..commit.len().min(12)]
                ),
            };
            push_new(actions, delivered);
        }
        if let Some(status) = status
            && matches!(status.phase, Some(ReleasePhase::Failed))
        {
            let failed = BreakGlassAction {
                time: status
                    .timeline
                    .last()
                    .map(|t| t.time.clone())
                    .unwrap_or(Time(Timestamp::UNIX_EPOCH)),
                user: crate::lifecycle::CONTROLLER.into(),
                release: Some(release_name.clone()),
                operation: format!(
                    "release {release_name} failed: {}",
                    status.message.as_deref().unwrap_or_default()
                ),
            };
            push_new(actions, failed);
        }
    }
    actions.sort_by(|a, b| {
        a.time
            .0
            .cmp(&b.time.0)
            .then_with(|| a.operation.cmp(&b.operation))
    });
}

fn push_new(actions: &mut Vec<BreakGlassAction>, action: BreakGlassAction) {
    let known = actions
        .iter()
        .any(|a| a.release == action.release && a.operation == action.operation);
    if !known {
        actions.push(action);
    }
}

/// `sha256:<hex>` over the session's spec and its record (times and actions): what a reviewer
/// verifies was not changed after the session ended.
pub fn seal(session: &BreakGlassSession, status: &BreakGlassSessionStatus) -> String {
    let record = serde_json::json!({
        "session": format!("{}/{}", session.namespace().unwrap_or_default(), session.name_any()),
        "spec": session.spec,
        "activatedAt": status.activated_at,
        "expiresAt": status.expires_at,
        "endedAt": status.ended_at,
        "phase": status.phase,
        "actions": status.actions,
    });
    let canonical = crate::manifest::sorted(record).to_string();
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    )
}

/// The Event a session's change of phase publishes.
pub struct PhaseEvent {
    pub reason: &'static str,
    /// An Active session is a Warning: people with break-glass rights are bypassing gates.
    pub warning: bool,
    pub note: String,
}

/// The Event to publish when a session's phase changes from `before` to `status`'s; `None`
/// when it did not change.
pub fn phase_event(
    session: &BreakGlassSession,
    before: Option<BreakGlassPhase>,
    status: &BreakGlassSessionStatus,
) -> Option<PhaseEvent> {
    if before == status.phase {
        return None;
    }
    let (reason, warning) = match status.phase {
        Some(BreakGlassPhase::Active) => (reasons::SESSION_ACTIVE, true),
        Some(BreakGlassPhase::Closed) => (reasons::SESSION_CLOSED, false),
        _ => (reasons::SESSION_EXPIRED, false),
    };
    let note = format!(
        "break-glass session {} ({}) by {}: {}",
        session.name_any(),
        session.spec.severity,
        session.spec.requested_by.as_deref().unwrap_or("unknown"),
        status
            .conditions
            .first()
            .map(|c| c.message.clone())
            .unwrap_or_default()
    );
    Some(PhaseEvent {
        reason,
        warning,
        note,
    })
}

#[cfg(test)]
mod tests {
    use gitopshq_crds::break_glass_session::{BreakGlassScope, BreakGlassSessionSpec, Severity};
    use gitopshq_crds::release::{ReleaseSpec, ReleaseStatus, ReleaseType};

    use super::*;

    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minutes * 60).unwrap()
    }

    fn session(closed: bool) -> BreakGlassSession {
        let mut s = BreakGlassSession::new(
            "sev1-checkout",
            BreakGlassSessionSpec {
                justification: "checkout is down for every customer since 14:02".into(),
                severity: Severity::SEV1,
                scope: BreakGlassScope {
                    environments: vec!["production".into()],
                    workloads: vec!["checkout-service".into()],
                    tenants: vec![],
                },
                duration: "1h".into(),
                closed,
                closing_note: closed.then(|| "rolled back to checkout-v1".into()),
                requested_by: Some("bob".into()),
                ..BreakGlassSessionSpec::default()
            },
        );
        s.metadata.namespace = Some("shop".into());
        s.metadata.creation_timestamp = Some(Time(at(0)));
        s
    }

    fn rollback(delivered: bool) -> Release {
        let mut r = Release::new(
            "checkout-rollback",
            ReleaseSpec {
                title: "Roll checkout back".into(),
                environment: "production".into(),
                type_: ReleaseType::Rollback,
                break_glass_session: Some("sev1-checkout".into()),
                created_by: Some("bob".into()),
                ..ReleaseSpec::default()
            },
        );
        r.metadata.creation_timestamp = Some(Time(at(5)));
        if delivered {
            r.status = Some(ReleaseStatus {
                phase: Some(ReleasePhase::Healthy),
                commit: Some("0123456789abcdef0123".into()),
                delivered_at: Some(gitopshq_crds::common::MicroTime(at(6))),
                ..ReleaseStatus::default()
            });
        }
        r
    }

    /// Opening is a Warning naming the session, its severity, who opened it and until when;
    /// closing and expiring are Normal; no change of phase publishes nothing.
    #[test]
    fn a_change_of_phase_publishes_one_event() {
        let s = session(false);
        let (active, _) = session_status(&s, &[], at(10));
        let opened = phase_event(&s, None, &active).expect("opening is an event");
        assert_eq!(
            (opened.reason, opened.warning),
            (reasons::SESSION_ACTIVE, true)
        );
        assert!(
            opened.note.starts_with(
                "break-glass session sev1-checkout (SEV1) by bob: Break-Glass Session Active until"
            ),
            "{}",
            opened.note
        );
        assert!(phase_event(&s, Some(BreakGlassPhase::Active), &active).is_none());

        let (expired, _) = session_status(&s, &[], at(61));
        let event = phase_event(&s, Some(BreakGlassPhase::Active), &expired).unwrap();
        assert_eq!(
            (event.reason, event.warning),
            (reasons::SESSION_EXPIRED, false)
        );

        let closed = session(true);
        let (status, _) = session_status(&closed, &[], at(20));
        let event = phase_event(&closed, Some(BreakGlassPhase::Active), &status).unwrap();
        assert_eq!(
            (event.reason, event.warning),
            (reasons::SESSION_CLOSED, false)
        );
        assert!(
            event.note.ends_with("closed: rolled back to checkout-v1"),
            "{}",
            event.note
        );
    }

    #[test]
    fn active_until_it_expires_recording_each_release() {
        let s = session(false);
        let r = rollback(false);
        let (status, next) = session_status(&s, &[&r], at(10));
        assert_eq!(status.phase, Some(BreakGlassPhase::Active));
        assert_eq!(status.expires_at, Some(Time(at(60))));
        assert_eq!(next, Some(at(60)));
        assert_eq!(status.actions.len(), 1);
        assert_eq!(status.actions[0].user, "bob");
        assert!(status.sealed_digest.is_none());

        let delivered = rollback(true);
        let s = BreakGlassSession {
            status: Some(status),
            ..s
        };
        let (status, _) = session_status(&s, &[&delivered], at(20));
        assert_eq!(status.actions.len(), 2, "{:?}", status.actions);
        assert!(status.actions[1].operation.contains("commit 0123456789ab"));

        let s = BreakGlassSession {
            status: Some(status),
            ..s
        };
        let (expired, next) = session_status(&s, &[&delivered], at(61));
        assert_eq!(expired.phase, Some(BreakGlassPhase::Expired));
        assert_eq!(expired.ended_at, Some(Time(at(60))));
        assert_eq!(next, None);
        let digest = expired.sealed_digest.clone().unwrap();
        assert!(digest.starts_with("sha256:"));

        // Sealed: later releases or times change nothing.
        let s = BreakGlassSession {
            status: Some(expired.clone()),
            ..s
        };
        let mut late = rollback(true);
        late.metadata.name = Some("late".into());
        assert_eq!(session_status(&s, &[&late], at(500)).0, expired);
    }

    #[test]
    fn a_release_that_bypassed_its_approvals_is_listed_with_the_bypass_and_its_submitter() {
        let mut r = rollback(true);
        r.spec.submitted_by = Some("frank".into());
        let status = r.status.as_mut().unwrap();
        status.approvals = Some(gitopshq_crds::release::ApprovalProgress {
            required: 2,
            summary: Some("bypassed".into()),
            ..Default::default()
        });
        conditions::set(
            &mut status.conditions,
            types::APPROVED,
            Status::True,
            reasons::APPROVAL_BYPASSED,
            "approval bypassed by break-glass session sev1-checkout (…)",
            Some(1),
            at(5) + jiff::SignedDuration::from_secs(30),
        );
        let (status, _) = session_status(&session(false), &[&r], at(10));
        let operations: Vec<(&str, &str)> = status
            .actions
            .iter()
            .map(|a| (a.user.as_str(), a.operation.as_str()))
            .collect();
        assert_eq!(
            operations,
            [
                (
                    "bob",
                    "submitted Rollback release checkout-rollback (Roll checkout back) into production"
                ),
                (
                    "frank",
                    "bypassed the approval gate of release checkout-rollback (2 approvals required by its ApprovalPolicy)"
                ),
                (
                    "gitopshq-controller",
                    "delivered release checkout-rollback as commit 0123456789ab"
                ),
            ]
        );
        assert_eq!(
            status.actions[1].time,
            Time(at(5) + jiff::SignedDuration::from_secs(30))
        );
        assert_eq!(
            status.actions[1].release.as_deref(),
            Some("checkout-rollback")
        );
        // Recorded once, however often the session is reconciled.
        let again = BreakGlassSession {
            status: Some(status.clone()),
            ..session(false)
        };
        assert_eq!(
            session_status(&again, &[&r], at(11)).0.actions,
            status.actions
        );

        // A release approved the usual way lists no bypass.
        let (plain, _) = session_status(&session(false), &[&rollback(true)], at(10));
        assert!(
            plain
                .actions
                .iter()
                .all(|a| !a.operation.contains("bypassed")),
            "{:?}",
            plain.actions
        );
    }

    #[test]
    fn closing_seals_with_a_digest_that_changes_with_the_record() {
        let (closed, _) = session_status(&session(true), &[&rollback(true)], at(30));
        assert_eq!(closed.phase, Some(BreakGlassPhase::Closed));
        assert_eq!(closed.ended_at, Some(Time(at(30))));
        let mut tampered = closed.clone();
        tampered.actions[0].user = "mallory".into();
        assert_ne!(
            seal(&session(true), &tampered),
            closed.sealed_digest.clone().unwrap()
        );
        assert_eq!(seal(&session(true), &closed), closed.sealed_digest.unwrap());
    }
}
