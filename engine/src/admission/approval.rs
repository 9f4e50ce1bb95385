//! Approval decisions: identity stamped from the request, append-only, and the approval
//! policy's rules (approver groups, no self-approval, distinct teams) applied to each new one.

use std::collections::BTreeSet;

use gitopshq_crds::approval_policy::ApprovalPolicy;
use gitopshq_crds::approval_request::{ApprovalPhase, ApprovalRequest, Decision, DecisionKind};
use gitopshq_crds::release::{ApprovalProgress, Approver, ReleasePhase};
use kube::ResourceExt;
use serde_json::json;

use super::release::release_authors;
use super::{Directory, Operation, Request, Rule, Settings, Verdict, format_time, teams};

/// Stamps `user`, `groups` and `time` of every decision the request adds, whatever the client
/// wrote there: a client cannot approve in someone else's name.
pub fn mutate_approval_request(req: &Request<'_, ApprovalRequest>) -> Verdict {
    let Some(object) = req.object else {
        return Verdict::allow();
    };
    let first_new = match (req.operation, req.old) {
        (Operation::Update, Some(old)) => old.spec.decisions.len(),
        _ => 0,
    };
    let time = format_time(req.now);
    // What the approver saw: the digest the request recorded before this change.
    let digest = req
        .old
        .filter(|_| req.operation == Operation::Update)
        .unwrap_or(object)
        .spec
        .rendered_digest
        .clone();
    let mut verdict = Verdict::allow();
    for (index, decision) in object.spec.decisions.iter().enumerate().skip(first_new) {
        let base = format!("/spec/decisions/{index}");
        verdict = verdict
            .set(&format!("{base}/user"), json!(req.user.username))
            .set(&format!("{base}/groups"), json!(req.user.groups))
            .set(&format!("{base}/time"), json!(time));
        // A null value removes the member, which must then exist.
        if digest.is_some() || decision.rendered_digest.is_some() {
            verdict = verdict.set(&format!("{base}/renderedDigest"), json!(digest));
        }
    }
    verdict
}

/// Who may create, change and delete an ApprovalRequest: only the controller creates one (it
/// chooses the policy from the environment's bindings) and records the digest approvers
/// approve; people only append decisions; it is deleted only with its release, or by a
/// platform administrator.
fn request_writes(
    req: &Request<'_, ApprovalRequest>,
    directory: &dyn Directory,
    settings: &Settings,
) -> Result<(), Verdict> {
    let Some(request) = req.object.or(req.old) else {
        return Ok(());
    };
    let name = request.name_any();
    let namespace = request.namespace().unwrap_or_default();
    let controller = settings.is_controller(req.user);
    let denied = |rule: Rule, what: String| {
        Err(Verdict::deny(
            rule,
            format!("approvalrequest {name} denied: {what}"),
        ))
    };
    match (req.operation, req.object, req.old) {
        (Operation::Create, _, _) if !controller => denied(
            Rule::NotPermitted,
            format!(
                "approval requests are created by the GitOpsHQ controller when a submitted release needs approval, with the policy its environment binds; {} cannot create one. Submit the release and approve its request (gitopshq approve {})",
                req.user.username, request.spec.release
            ),
        ),
        (Operation::Update, Some(new), Some(old))
            if !controller
                && (new.spec.release != old.spec.release
                    || new.spec.policy != old.spec.policy
                    || new.spec.rendered_digest != old.spec.rendered_digest
                    || new.spec.inputs != old.spec.inputs
                    || new.spec.digest_change != old.spec.digest_change) =>
        {
            denied(
                Rule::Immutable,
                "spec.release, spec.policy, spec.renderedDigest, spec.inputs and spec.digestChange are the controller's; only append a decision to spec.decisions".into(),
            )
        }
        (Operation::Delete, _, Some(old))
            if !settings.may_delete_records(req.user)
                && directory.release(&namespace, &old.spec.release).is_some() =>
        {
            denied(
                Rule::NotPermitted,
                format!(
                    "the approval record of release {} stays as long as the release does; only a platform administrator may delete it",
                    old.spec.release
                ),
            )
        }
        _ => Ok(()),
    }
}

/// Append-only decisions, each by an eligible approver while the release waits for approval.
pub fn validate_approval_request(
    req: &Request<'_, ApprovalRequest>,
    directory: &dyn Directory,
    settings: &Settings,
) -> Verdict {
    if let Err(denial) = request_writes(req, directory, settings) {
        return denial;
    }
    let Some(object) = req.object else {
        return Verdict::allow();
    };
    let name = object.name_any();
    let namespace = object.namespace().unwrap_or_default();
    let denied = |rule: Rule, what: String| {
        Verdict::deny(rule, format!("approvalrequest {name} denied: {what}"))
    };
    let earlier: &[Decision] = match (req.operation, req.old) {
        (Operation::Update, Some(old)) => {
            let kept = object.spec.decisions.get(..old.spec.decisions.len());
            if kept != Some(old.spec.decisions.as_slice()) {
                return denied(
                    Rule::DecisionEdited,
                    "earlier decisions cannot be edited or removed; append a new decision to spec.decisions (kubectl patch --type=json -p '[{\"op\":\"add\",\"path\":\"/spec/decisions/-\",\"value\":{\"decision\":\"Approve\"}}]' or gitopshq approve)".into(),
                );
            }
            &old.spec.decisions
        }
        _ => &[],
    };
    let added = &object.spec.decisions[earlier.len()..];
    if added.is_empty() {
        return Verdict::allow();
    }
    let release_name = &object.spec.release;
    let Some(release) = directory.release(&namespace, release_name) else {
        return denied(
            Rule::NotFound,
            format!("release {release_name} does not exist in namespace {namespace}"),
        );
    };
    if let Err(denial) = super::require(
        req,
        directory,
        &namespace,
        crate::rbac::verbs::APPROVE,
        std::slice::from_ref(&release.spec.environment),
        &format!("approvalrequest {name}"),
    ) {
        return denial;
    }
    if let Some(cancellation) = &release.spec.cancellation {
        return denied(
            Rule::NotPending,
            format!(
                "release {release_name} was cancelled by {}; decisions on a cancelled release do not count",
                cancellation.user.as_deref().unwrap_or("an unknown user")
            ),
        );
    }
    let phase = release
        .status
        .as_ref()
        .and_then(|s| s.phase)
        .unwrap_or_default();
    if phase != ReleasePhase::PendingApproval {
        return denied(
            Rule::NotPending,
            format!(
                "release {release_name} is {phase:?}, not PendingApproval; decisions are accepted only while a release waits for approval"
            ),
        );
    }
    let Some(policy) = directory.approval_policy(&object.spec.policy) else {
        return denied(
            Rule::NotFound,
            format!(
                "approval policy {} does not exist; ask a platform admin to restore it",
                object.spec.policy
            ),
        );
    };
    let user = req.user;
    // Decisions on content the request no longer records were voided by the change: their
    // makers decide again, and their teams are free again.
    let current = &object.spec.rendered_digest;
    let mut decided: Vec<&Decision> = earlier
        .iter()
        .filter(|d| &d.rendered_digest == current)
        .collect();
    for decision in added {
        if let Some(previous) = decided
            .iter()
            .find(|d| d.user.as_deref() == Some(&user.username))
        {
            return denied(
                Rule::AlreadyDecided,
                format!(
                    "{} already decided ({:?}) on release {release_name}; a person counts once, ask another approver",
                    user.username, previous.decision
                ),
            );
        }
        if !policy.spec.approver_groups.is_empty()
            && !user
                .groups
                .iter()
                .any(|g| policy.spec.approver_groups.contains(g))
        {
            return denied(
                Rule::NotApprover,
                format!(
                    "{} (groups: {}) is not an approver under approval policy {}; decisions are accepted from members of {}",
                    user.username,
                    list_or_none(teams(&user.groups)),
                    policy.name_any(),
                    policy.spec.approver_groups.join(", ")
                ),
            );
        }
        if decision.decision == DecisionKind::Approve {
            if policy.spec.forbid_self_approval
                && release_authors(&release).contains(user.username.as_str())
            {
                return denied(
                    Rule::SelfApproval,
                    format!(
                        "{} {} release {release_name} and cannot approve it (approval policy {} forbids self-approval); ask an approver from another team",
                        user.username,
                        authorship_of(&release, &user.username),
                        policy.name_any()
                    ),
                );
            }
            if policy.spec.distinct_teams {
                let approved = approving_teams(&policy, decided.iter().copied());
                let mine = eligible_teams(&policy, &user.groups);
                if mine.is_empty() || mine.is_subset(&approved) {
                    // Nobody approved yet: the approver counts for no team at all.
                    let wanted = if approved.is_empty() {
                        "a team".to_string()
                    } else {
                        let taken: Vec<&str> = approved.iter().map(String::as_str).collect();
                        format!("a team other than {}", taken.join(", "))
                    };
                    return denied(
                        Rule::SameTeam,
                        format!(
                            "release {release_name} needs approval from {wanted} (approval policy {} requires distinct teams); {} counts for {}",
                            policy.name_any(),
                            user.username,
                            list_or_none(mine.iter().map(String::as_str))
                        ),
                    );
                }
            }
        }
        decided.push(decision);
    }
    Verdict::allow().record(
        "gitopshq.io/decision",
        format!("{} by {}", release_name, user.username),
    )
}

/// What `user` did to `release`, for a self-approval message.
fn authorship_of(release: &gitopshq_crds::release::Release, user: &str) -> &'static str {
    let spec = &release.spec;
    if spec.created_by.as_deref() == Some(user) {
        "created"
    } else if spec.submitted_by.as_deref() == Some(user) {
        "submitted"
    } else {
        "changed"
    }
}

pub(super) fn list_or_none<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    if items.is_empty() {
        "no team".into()
    } else {
        items.join(", ")
    }
}

/// The teams an approver can count for: their team groups, limited to the approver groups
/// when the policy names any.
fn eligible_teams(policy: &ApprovalPolicy, groups: &[String]) -> BTreeSet<String> {
    teams(groups)
        .filter(|g| {
            policy.spec.approver_groups.is_empty()
                || policy.spec.approver_groups.iter().any(|a| a == g)
        })
        .map(str::to_string)
        .collect()
}

fn approving_teams<'a>(
    policy: &ApprovalPolicy,
    decisions: impl Iterator<Item = &'a Decision>,
) -> BTreeSet<String> {
    decisions
        .filter(|d| d.decision == DecisionKind::Approve)
        .flat_map(|d| eligible_teams(policy, &d.groups))
        .collect()
}

/// Quorum progress of a release under an approval policy: counted approvals (one per person;
/// one per team under distinct teams), what is missing, and the resulting phase. A rejection
/// by an eligible approver rejects. The message is the one people read: "1 of 2 approvals
/// received; needs a team other than backend-team".
pub fn approval_progress(
    policy: &ApprovalPolicy,
    decisions: &[Decision],
) -> (ApprovalPhase, ApprovalProgress, String) {
    let required = policy.spec.min_approvals.max(1);
    let mut people = BTreeSet::new();
    let mut used_teams = BTreeSet::new();
    let mut approvers = Vec::new();
    let mut rejected_by = None;
    for decision in decisions {
        let Some(user) = decision.user.as_deref() else {
            continue;
        };
        if !people.insert(user) {
            continue;
        }
        let eligible = eligible_teams(policy, &decision.groups);
        if !policy.spec.approver_groups.is_empty() && eligible.is_empty() {
            continue;
        }
        match decision.decision {
            DecisionKind::Reject => {
                rejected_by.get_or_insert(user);
            }
            DecisionKind::Approve => {
                if policy.spec.distinct_teams {
                    // Each approval takes one team not used yet; sorted order keeps it stable.
                    let Some(team) = eligible.iter().find(|t| !used_teams.contains(*t)) else {
                        continue;
                    };
                    used_teams.insert(team.clone());
                }
                approvers.push(Approver {
                    user: user.to_string(),
                    groups: decision.groups.clone(),
                    // Stamped decisions always carry a time; the epoch marks one that was not.
                    time: decision.time.clone().unwrap_or(
                        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                            jiff::Timestamp::UNIX_EPOCH,
                        ),
                    ),
                    comment: decision.comment.clone(),
                });
            }
        }
    }
    let received = i32::try_from(approvers.len()).unwrap_or(i32::MAX);
    let mut missing = Vec::new();
    let outstanding = required - received;
    if outstanding > 0 {
        let from = if policy.spec.distinct_teams && !used_teams.is_empty() {
            let taken: Vec<&str> = used_teams.iter().map(String::as_str).collect();
            format!(" from a team other than {}", taken.join(", "))
        } else if !policy.spec.approver_groups.is_empty() {
            format!(" from {}", policy.spec.approver_groups.join(" or "))
        } else {
            String::new()
        };
        let noun = if outstanding == 1 {
            "approval"
        } else {
            "approvals"
        };
        missing.push(format!("{outstanding} {noun}{from}"));
    }
    let (phase, message) = match rejected_by {
        Some(user) => (ApprovalPhase::Rejected, format!("rejected by {user}")),
        None if received >= required => (
            ApprovalPhase::Approved,
            format!("{received} of {required} approvals received"),
        ),
        None => {
            let mut text = format!("{received} of {required} approvals received");
            if policy.spec.distinct_teams && !used_teams.is_empty() {
                let taken: Vec<&str> = used_teams.iter().map(String::as_str).collect();
                text.push_str(&format!("; needs a team other than {}", taken.join(", ")));
            }
            (ApprovalPhase::Pending, text)
        }
    };
    (
        phase,
        ApprovalProgress {
            required,
            received,
            approvers,
            missing,
            summary: Some(format!("{received}/{required}")),
        },
        message,
    )
}
