//! `ApprovalPolicy.spec.sla`: a release that waits for its approvals longer is overdue. The
//! condition `ApprovalOverdue` records it once (its transition time is when it fell due), the
//! notifier escalates from it, and the approvals page shows it.

use gitopshq_crds::approval_policy::ApprovalPolicy;
use gitopshq_crds::common::Condition;
use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_crds::release::{ReleasePhase, ReleaseStatus};
use jiff::Timestamp;
use kube::ResourceExt;

use crate::conditions::{self, Status};
use crate::freeze::parse_duration;

/// Where a pending release stands against its policy's SLA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sla {
    /// No SLA, or the release is not pending approval.
    None,
    /// Due at this time: look again then.
    Due(Timestamp),
    /// Past due since `since`.
    Overdue { since: Timestamp, message: String },
}

/// Judges `status` (a release's, as it is about to be written) against `policy`'s SLA: the
/// wait counts from the release's latest entry into PendingApproval.
pub fn approval_sla(
    status: &ReleaseStatus,
    policy: Option<&ApprovalPolicy>,
    now: Timestamp,
) -> Sla {
    if status.phase != Some(ReleasePhase::PendingApproval) {
        return Sla::None;
    }
    let Some((policy, sla)) = policy.and_then(|p| {
        p.spec
            .sla
            .as_deref()
            .and_then(parse_duration)
            .map(|d| (p, d))
    }) else {
        return Sla::None;
    };
    let Some(pending_since) = status
        .timeline
        .iter()
        .rev()
        .take_while(|t| t.phase == ReleasePhase::PendingApproval)
        .last()
        .map(|t| t.time.0)
    else {
        return Sla::None;
    };
    let due = pending_since.checked_add(sla).unwrap_or(pending_since);
    if now < due {
        return Sla::Due(due);
    }
    let progress = status
        .approvals
        .as_ref()
        .map(|a| format!("; {} of {} approvals received", a.received, a.required))
        .unwrap_or_default();
    Sla::Overdue {
        since: due,
        message: format!(
            "waiting for approval since {pending_since}, past the {} SLA of ApprovalPolicy {}{progress}; approvers: kubectl gitopshq approve",
            policy.spec.sla.as_deref().unwrap_or_default(),
            policy.name_any()
        ),
    }
}

/// Records `sla` on the release's conditions: `ApprovalOverdue` True once overdue (its
/// transition time the moment it fell due), False again when the release is no longer
/// pending. Returns whether the conditions changed.
pub fn record_sla(conditions_: &mut Vec<Condition>, sla: &Sla, generation: Option<i64>) -> bool {
    match sla {
        Sla::Overdue { since, message } => {
            if conditions::is_true(conditions_, types::APPROVAL_OVERDUE) {
                return false;
            }
            conditions::set(
                conditions_,
                types::APPROVAL_OVERDUE,
                Status::True,
                reasons::SLA_EXCEEDED,
                message,
                generation,
                *since,
            )
        }
        Sla::None | Sla::Due(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use gitopshq_crds::approval_policy::ApprovalPolicySpec;
    use gitopshq_crds::common::Time;
    use gitopshq_crds::release::{ApprovalProgress, TimelineEntry};

    use super::*;

    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minutes * 60).unwrap()
    }

    fn pending(since: i64) -> ReleaseStatus {
        ReleaseStatus {
            phase: Some(ReleasePhase::PendingApproval),
            timeline: vec![
                TimelineEntry {
                    time: Time(at(0)),
                    phase: ReleasePhase::Draft,
                    message: None,
                    actor: None,
                },
                TimelineEntry {
                    time: Time(at(since)),
                    phase: ReleasePhase::PendingApproval,
                    message: None,
                    actor: None,
                },
            ],
            approvals: Some(ApprovalProgress {
                required: 2,
                received: 1,
                ..ApprovalProgress::default()
            }),
            ..ReleaseStatus::default()
        }
    }

    fn policy(sla: Option<&str>) -> ApprovalPolicy {
        ApprovalPolicy::new(
            "production-gate",
            ApprovalPolicySpec {
                sla: sla.map(str::to_string),
                ..ApprovalPolicySpec::default()
            },
        )
    }

    #[test]
    fn a_pending_release_falls_due_after_the_sla_and_is_recorded_once() {
        let status = pending(10);
        let policy = policy(Some("1h"));
        assert_eq!(
            approval_sla(&status, Some(&policy), at(30)),
            Sla::Due(at(70))
        );
        let overdue = approval_sla(&status, Some(&policy), at(95));
        let Sla::Overdue { since, message } = &overdue else {
            panic!("{overdue:?}");
        };
        assert_eq!(*since, at(70));
        assert!(
            message.contains(
                "past the 1h SLA of ApprovalPolicy production-gate; 1 of 2 approvals received"
            ),
            "{message}"
        );
        let mut conditions = Vec::new();
        assert!(record_sla(&mut conditions, &overdue, Some(1)));
        assert!(
            !record_sla(&mut conditions, &overdue, Some(1)),
            "recorded once"
        );
        let condition = conditions::get(&conditions, types::APPROVAL_OVERDUE).unwrap();
        assert_eq!(condition.last_transition_time.0, at(70));
    }

    #[test]
    fn no_sla_or_not_pending_is_never_overdue() {
        assert_eq!(
            approval_sla(&pending(0), Some(&policy(None)), at(999)),
            Sla::None
        );
        assert_eq!(approval_sla(&pending(0), None, at(999)), Sla::None);
        let mut approved = pending(0);
        approved.phase = Some(ReleasePhase::Approved);
        assert_eq!(
            approval_sla(&approved, Some(&policy(Some("1m"))), at(999)),
            Sla::None
        );
    }
}
