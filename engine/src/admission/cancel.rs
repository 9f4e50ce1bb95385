//! Cancelling a release: `spec.cancellation` is the one change a submitted release accepts, once.
//! The webhook stamps who cancelled it and when (a client-sent value is overwritten), and admits
//! the cancellation only while nothing of the release is delivered (Draft, PendingApproval,
//! Approved, Blocked, or not judged yet), only from its creator or submitter or a holder of the
//! `cancel` grant for its environment, and only as a change of its own. A cancelled release
//! changes no more. The controller then moves it to `Cancelled` with its ApprovalRequest.

use gitopshq_crds::common::Time;
use gitopshq_crds::consts::audit_annotations;
use gitopshq_crds::release::{Release, ReleasePhase};
use kube::ResourceExt;
use serde_json::{Value, json};

use super::{Directory, Operation, Request, Rule, Verdict};
use crate::lifecycle::is_cancellable;
use crate::rbac::{may_cancel_without_grant, verbs};

/// Stamps `spec.cancellation.user` and `.time`: from the request for a new cancellation, from
/// the stored one when the release was cancelled before (so a re-applied object passes).
pub fn stamp_cancellation(
    req: &Request<'_, Release>,
    release: &Release,
    verdict: Verdict,
) -> Verdict {
    let Some(sent) = &release.spec.cancellation else {
        return verdict;
    };
    let earlier = req
        .old
        .filter(|_| req.operation == Operation::Update)
        .and_then(|o| o.spec.cancellation.as_ref());
    let (user, time) = match earlier {
        Some(earlier) => (earlier.user.clone(), earlier.time.clone()),
        None => (Some(req.user.username.clone()), Some(Time(req.now))),
    };
    let mut verdict = verdict;
    if sent.user != user {
        verdict = verdict.set(
            "/spec/cancellation/user",
            user.map_or(Value::Null, Value::String),
        );
    }
    if sent.time != time {
        verdict = verdict.set(
            "/spec/cancellation/time",
            time.map_or(Value::Null, |t| json!(t)),
        );
    }
    verdict
}

/// The verdict on a request that creates a cancelled release, cancels one or changes a
/// cancelled one; `None` when the request does none of these (the other rules judge it).
pub fn validate_cancellation(
    req: &Request<'_, Release>,
    release: &Release,
    directory: &dyn Directory,
) -> Option<Verdict> {
    let name = release.name_any();
    let namespace = release.namespace().unwrap_or_default();
    let denied =
        |rule: Rule, what: String| Verdict::deny(rule, format!("release {name} denied: {what}"));
    let old = match (req.operation, req.old) {
        (Operation::Update, Some(old)) => old,
        (Operation::Create, _) if release.spec.cancellation.is_some() => {
            return Some(denied(
                Rule::Invalid,
                "a release cannot be created cancelled; remove spec.cancellation".into(),
            ));
        }
        _ => return None,
    };
    if let Some(earlier) = &old.spec.cancellation {
        if old.spec == release.spec {
            return None;
        }
        return Some(denied(
            Rule::Immutable,
            format!(
                "it was cancelled by {}, so it no longer changes; create a new release instead",
                earlier.user.as_deref().unwrap_or("an unknown user")
            ),
        ));
    }
    let cancellation = release.spec.cancellation.as_ref()?;
    let mut uncancelled = release.spec.clone();
    uncancelled.cancellation = None;
    if uncancelled != old.spec {
        return Some(denied(
            Rule::Immutable,
            "a cancellation changes nothing else of the release: set spec.cancellation alone (gitopshq release cancel)".into(),
        ));
    }
    let status = old.status.as_ref();
    let phase = status.and_then(|s| s.phase);
    if !is_cancellable(phase) {
        return Some(denied(Rule::NotCancellable, not_cancellable(old, phase)));
    }
    let user = &req.user.username;
    if !may_cancel_without_grant(user, old)
        && let Err(denial) = super::require(
            req,
            directory,
            &namespace,
            verbs::CANCEL,
            std::slice::from_ref(&release.spec.environment),
            &format!("release {name}"),
        )
    {
        let mut denial = denial;
        if let Some(d) = &mut denial.denial {
            let creator = old.spec.created_by.as_deref().unwrap_or("its creator");
            d.message.push_str(&format!(
                " (or ask {creator}, who created it, to cancel it)"
            ));
        }
        return Some(denial);
    }
    let reason = cancellation
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or("no reason given");
    Some(
        Verdict::allow()
            .warn(format!(
                "release {name} is cancelled by {user}: nothing of it will be delivered, and approvals of it no longer count"
            ))
            .record(audit_annotations::CANCELLATION, format!("{user}: {reason}")),
    )
}

/// Why a release in `phase` cannot be cancelled, and what to do instead.
fn not_cancellable(release: &Release, phase: Option<ReleasePhase>) -> String {
    let phase = phase.unwrap_or_default();
    let namespace = release.namespace().unwrap_or_default();
    match phase {
        ReleasePhase::Rejected | ReleasePhase::Superseded | ReleasePhase::Cancelled => {
            format!("it is {phase}: it will not be delivered, so there is nothing to cancel")
        }
        _ => {
            let commit = release
                .status
                .as_ref()
                .and_then(|s| s.short_commit.clone().or(s.commit.clone()))
                .map(|c| format!(", commit {c}"))
                .unwrap_or_default();
            let mut workloads: Vec<&str> = release
                .spec
                .changes
                .iter()
                .map(|c| c.workload.as_str())
                .collect();
            workloads.sort_unstable();
            workloads.dedup();
            let workload = match workloads.as_slice() {
                [one] => (*one).to_string(),
                _ => "WORKLOAD".to_string(),
            };
            format!(
                "it is {phase}{commit}: its delivery has started, so it can no longer be cancelled; to undo it, roll it back to the release before it: gitopshq rollback {workload} --to PREVIOUS-RELEASE -n {namespace}"
            )
        }
    }
}
