use gitopshq_crds::approval_policy::{ApprovalPolicy, ApprovalPolicySpec};
use gitopshq_crds::approval_request::ApprovalRequestSpec;
use gitopshq_crds::release::ReleaseSpec;

use super::*;

const APPROVED: &str = "sha256:approved";

fn release() -> Release {
    let mut release = Release::new(
        "api-v2",
        ReleaseSpec {
            title: "api v2".into(),
            environment: "production".into(),
            submitted: true,
            created_by: Some("alice".into()),
            submitted_by: Some("erin".into()),
            authors: vec!["alice".into(), "erin".into()],
            ..ReleaseSpec::default()
        },
    );
    release.metadata.namespace = Some("payments".into());
    release
}

fn policy(min: i32) -> ApprovalPolicy {
    ApprovalPolicy::new(
        "production",
        ApprovalPolicySpec {
            environments: vec!["production".into()],
            min_approvals: min,
            ..ApprovalPolicySpec::default()
        },
    )
}

fn decision(user: &str, team: &str, kind: DecisionKind, digest: &str) -> Decision {
    Decision {
        decision: kind,
        comment: Some(format!("{user} says so")),
        user: Some(user.into()),
        groups: vec![team.into()],
        time: None,
        rendered_digest: Some(digest.into()),
    }
}

fn request(decisions: Vec<Decision>) -> ApprovalRequest {
    ApprovalRequest::new(
        "api-v2",
        ApprovalRequestSpec {
            release: "api-v2".into(),
            policy: "production".into(),
            rendered_digest: Some(APPROVED.into()),
            inputs: inputs(&[("Workload/api", "sha256:1"), ("Variables/prod", "sha256:2")]),
            decisions,
            ..ApprovalRequestSpec::default()
        },
    )
}

fn inputs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The request recorded for api-v2 with one decision of `kind` by `user` of `team` on the
/// recorded content.
fn decided(user: &str, team: &str, kind: DecisionKind) -> ApprovalRequest {
    request(vec![decision(user, team, kind, APPROVED)])
}

fn approved_by(user: &str, team: &str) -> ApprovalRequest {
    decided(user, team, DecisionKind::Approve)
}

/// What the controller shows the gate when nothing moved since the request was recorded: its
/// own request, the approved digest, the given inputs and no break-glass session.
fn facts<'a>(
    release: &'a Release,
    policy: Option<&'a ApprovalPolicy>,
    request: Option<&'a ApprovalRequest>,
    inputs: &'a BTreeMap<String, String>,
) -> GateFacts<'a> {
    GateFacts {
        release,
        policy,
        request,
        request_owned: true,
        digest: APPROVED,
        inputs,
        break_glass: BreakGlassCover::None,
    }
}

fn gate(
    policy: Option<&ApprovalPolicy>,
    request: Option<&ApprovalRequest>,
    digest: &str,
    now: &BTreeMap<String, String>,
) -> ApprovalGate {
    let release = release();
    approval_gate(&GateFacts {
        digest,
        ..facts(&release, policy, request, now)
    })
}

/// The gate when the content and inputs are still those `request` recorded.
fn gate_unchanged(policy: &ApprovalPolicy, request: &ApprovalRequest) -> ApprovalGate {
    gate(Some(policy), Some(request), APPROVED, &same_inputs())
}

fn same_inputs() -> BTreeMap<String, String> {
    inputs(&[("Workload/api", "sha256:1"), ("Variables/prod", "sha256:2")])
}

#[track_caller]
fn assert_pending(verdict: &ApprovalGate) {
    assert!(
        matches!(verdict, ApprovalGate::Pending { .. }),
        "{verdict:?}"
    );
}

/// The status a request without one gets from `verdict`.
fn first_status(verdict: &ApprovalGate) -> ApprovalRequestStatus {
    request_status(
        None,
        verdict.request_phase().unwrap(),
        verdict.progress().unwrap(),
        &verdict.step().message,
        Some(1),
        jiff::Timestamp::UNIX_EPOCH,
    )
}

#[test]
fn without_a_policy_nothing_waits() {
    let verdict = gate(None, None, "", &BTreeMap::new());
    assert!(verdict.open());
    assert_eq!(verdict.step().reason, reasons::NO_APPROVAL_NEEDED);
    assert_eq!(verdict.step().actor, "erin");
}

#[test]
fn a_new_request_records_the_digest_and_inputs() {
    let policy = policy(2);
    let now = same_inputs();
    let verdict = gate(Some(&policy), None, APPROVED, &now);
    let ApprovalGate::Record {
        digest,
        inputs,
        change,
        progress,
        step,
    } = verdict
    else {
        panic!("expected a request to record: {verdict:?}");
    };
    assert_eq!(digest, APPROVED);
    assert_eq!(inputs, now);
    assert_eq!(change, None);
    assert_eq!(progress.required, 2);
    assert_eq!(step.phase, ReleasePhase::PendingApproval);
    assert!(
        step.message
            .contains("0 of 2 approvals received (ApprovalPolicy production)")
    );
}

#[test]
fn approvals_count_only_for_the_content_they_saw() {
    let policy = policy(1);
    let approved = approved_by("bob", "sre-team");
    let verdict = gate_unchanged(&policy, &approved);
    assert!(verdict.open(), "{verdict:?}");
    assert_eq!(verdict.step().actor, "bob");
    assert_eq!(verdict.progress().unwrap().received, 1);

    // The Variables changed after the approval: the digest moved, the approval is void and the
    // change is named.
    let now = inputs(&[("Workload/api", "sha256:1"), ("Variables/prod", "sha256:9")]);
    let verdict = gate(Some(&policy), Some(&approved), "sha256:new", &now);
    let ApprovalGate::Record {
        digest,
        change,
        step,
        progress,
        ..
    } = &verdict
    else {
        panic!("expected the new digest to be recorded: {verdict:?}");
    };
    assert!(!verdict.open());
    assert_eq!(digest, "sha256:new");
    assert_eq!(change.as_deref(), Some("Variables/prod changed"));
    assert_eq!(progress.received, 0);
    assert!(
        step.message.contains("changed since the approval request recorded it (Variables/prod changed); the approvals given so far do not count"),
        "{}",
        step.message
    );

    // Once the new digest is recorded, the old decision still does not count.
    let mut redigested = approved.clone();
    redigested.spec.rendered_digest = Some("sha256:new".into());
    redigested.spec.inputs = now.clone();
    assert_pending(&gate(Some(&policy), Some(&redigested), "sha256:new", &now));
    let mut approved_again = redigested.clone();
    approved_again.spec.decisions.push(decision(
        "frank",
        "sre-team",
        DecisionKind::Approve,
        "sha256:new",
    ));
    assert!(gate(Some(&policy), Some(&approved_again), "sha256:new", &now).open());
}

#[test]
fn an_authors_approval_never_counts_where_self_approval_is_forbidden() {
    // However it got in (a webhook outage, an edit before authorship was stamped), erin
    // submitted the release and her approval is not counted.
    let policy = policy(1);
    let request = approved_by("erin", "backend-team");
    assert_pending(&gate_unchanged(&policy, &request));
    let mut lax = policy.clone();
    lax.spec.forbid_self_approval = false;
    assert!(gate_unchanged(&lax, &request).open());
}

#[test]
fn decisions_are_recounted_under_the_policy_that_governs_now() {
    let request = approved_by("bob", "sre-team");
    assert!(gate_unchanged(&policy(1), &request).open());
    // The policy was tightened after the approval: one is no longer enough.
    let verdict = gate_unchanged(&policy(2), &request);
    assert_pending(&verdict);
    assert!(verdict.step().message.contains("1 of 2 approvals received"));
}

#[test]
fn a_planted_request_blocks() {
    let policy = policy(1);
    let planted = approved_by("carol", "platform");
    let release = release();
    let inputs = same_inputs();
    let verdict = approval_gate(&GateFacts {
        request_owned: false,
        ..facts(&release, Some(&policy), Some(&planted), &inputs)
    });
    assert!(!verdict.open());
    assert_eq!(verdict.step().phase, ReleasePhase::Blocked);
    assert!(
        verdict
            .step()
            .message
            .contains("was not created by GitOpsHQ for release api-v2")
    );
}

#[test]
fn a_rejection_on_the_current_content_rejects() {
    let request = decided("bob", "sre-team", DecisionKind::Reject);
    let verdict = gate_unchanged(&policy(2), &request);
    assert!(matches!(verdict, ApprovalGate::Rejected { .. }));
    assert_eq!(verdict.step().actor, "bob");
    assert!(verdict.step().message.contains("bob says so"));
}

#[test]
fn input_changes_are_named() {
    let before = inputs(&[
        ("Workload/api", "1"),
        ("Tenant/eu", "2"),
        ("Variables/a", "3"),
    ]);
    let after = inputs(&[
        ("Workload/api", "9"),
        ("Tenant/eu", "2"),
        ("Tenant/us", "4"),
    ]);
    assert_eq!(
        describe_input_change(&before, &after),
        "Workload/api changed; Tenant/us added; Variables/a removed"
    );
    assert!(describe_input_change(&before, &before).contains("a referenced Secret"));
}

#[test]
fn a_cancelled_release_never_opens_the_gate_whatever_the_approvals() {
    let policy = policy(1);
    let approved = approved_by("bob", "sre-team");
    let mut cancelled = release();
    cancelled.spec.cancellation = Some(gitopshq_crds::release::Cancellation {
        reason: Some("wrong tag".into()),
        user: Some("alice".into()),
        time: None,
    });
    let none = BTreeMap::new();
    let decide = |policy| approval_gate(&facts(&cancelled, policy, Some(&approved), &none));
    for verdict in [decide(Some(&policy)), decide(None)] {
        assert!(!verdict.open());
        assert_eq!(verdict.request_phase(), Some(ApprovalPhase::Cancelled));
        assert_eq!(verdict.progress(), None);
        let step = verdict.step();
        assert_eq!(step.phase, ReleasePhase::Cancelled);
        assert_eq!(step.reason, reasons::CANCELLED);
        assert_eq!(step.actor, "alice");
        assert_eq!(
            step.message,
            "release api-v2 was cancelled by alice: wrong tag; nothing of it is delivered and approvals no longer count; create a new release to deliver its changes"
        );
    }
    let previous = ApprovalRequestStatus {
        phase: Some(ApprovalPhase::Pending),
        received: 1,
        required: 2,
        ..ApprovalRequestStatus::default()
    };
    let status = cancelled_request_status(
        Some(&previous),
        "cancelled by alice",
        Some(1),
        jiff::Timestamp::UNIX_EPOCH,
    );
    assert_eq!(status.phase, Some(ApprovalPhase::Cancelled));
    assert_eq!((status.received, status.required), (1, 2));
    assert_eq!(status.message.as_deref(), Some("cancelled by alice"));
    let approved = crate::conditions::get(&status.conditions, types::APPROVED).unwrap();
    assert_eq!(
        (approved.status.as_str(), approved.reason.as_str()),
        ("False", reasons::CANCELLED)
    );
}

#[test]
fn the_request_status_follows_the_gate() {
    let verdict = gate_unchanged(&policy(1), &approved_by("bob", "sre-team"));
    let status = first_status(&verdict);
    assert_eq!(status.phase, Some(ApprovalPhase::Approved));
    assert_eq!((status.received, status.required), (1, 1));
}

#[test]
fn the_controllers_request_is_owned_by_its_release_by_uid() {
    let mut release = release();
    release.metadata.uid = Some("uid-1".into());
    let inputs = same_inputs();
    let request = new_request(&release, "production", APPROVED, &inputs, None);
    assert_eq!(request.spec.rendered_digest.as_deref(), Some(APPROVED));
    assert_eq!(request.spec.inputs, inputs);
    assert!(request_owned_by(&request, &release));
    // A release of the same name created later, or a request without an owner, is not it.
    let mut later = release.clone();
    later.metadata.uid = Some("uid-2".into());
    assert!(!request_owned_by(&request, &later));
    let mut planted = request.clone();
    planted.metadata.owner_references = None;
    assert!(!request_owned_by(&planted, &release));
}

// --- Break-glass ----------------------------------------------------------------------------

mod break_glass {
    use std::sync::Arc;

    use gitopshq_crds::break_glass_session::{
        BreakGlassPhase, BreakGlassScope, BreakGlassSessionSpec, BreakGlassSessionStatus, Severity,
    };
    use gitopshq_crds::common::Time;
    use gitopshq_crds::release::WorkloadChange;

    use super::*;
    use crate::admission::{Snapshot, named_session};

    const JUSTIFICATION: &str =
        "api returns 500 for every EU card payment since 13:10; the fix cannot wait for approvers";

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    /// api-v2 (changes workload `api`) naming `session`.
    fn under(session: &str) -> Release {
        let mut release = release();
        release.spec.changes.push(WorkloadChange {
            workload: "api".into(),
            version: None,
            values: Default::default(),
            unset: Vec::new(),
        });
        release.spec.break_glass_session = Some(session.into());
        release
    }

    /// inc-1: SEV1 for production/api, opened by bob at 13:30 for 2h.
    fn session() -> BreakGlassSession {
        let mut session = BreakGlassSession::new(
            "inc-1",
            BreakGlassSessionSpec {
                justification: JUSTIFICATION.into(),
                severity: Severity::SEV1,
                scope: BreakGlassScope {
                    environments: vec!["production".into()],
                    workloads: vec!["api".into()],
                    tenants: Vec::new(),
                },
                duration: "2h".into(),
                requested_by: Some("bob".into()),
                ..BreakGlassSessionSpec::default()
            },
        );
        session.metadata.namespace = Some("payments".into());
        session.metadata.creation_timestamp = Some(Time(at("2026-11-25T13:30:00Z")));
        session
    }

    /// inc-1 changed by `change`.
    fn session_with(change: impl FnOnce(&mut BreakGlassSession)) -> BreakGlassSession {
        let mut session = session();
        change(&mut session);
        session
    }

    /// What the controller learns of the session `release` names at `now`.
    fn cover_check(
        release: &Release,
        sessions: Vec<BreakGlassSession>,
        now: &str,
    ) -> Option<Result<Arc<BreakGlassSession>, String>> {
        named_session(release, &directory(sessions), at(now))
    }

    fn directory(sessions: Vec<BreakGlassSession>) -> Snapshot {
        Snapshot {
            break_glass_sessions: sessions.into_iter().map(Arc::new).collect(),
            ..Snapshot::default()
        }
    }

    /// The gate as the controller asks it: the named session judged by the admission rule at
    /// `now`, then the approval gate.
    fn decide(
        release: &Release,
        sessions: Vec<BreakGlassSession>,
        request: Option<&ApprovalRequest>,
        now: &str,
    ) -> ApprovalGate {
        let policy = policy(2);
        let checked = cover_check(release, sessions, now);
        let inputs = same_inputs();
        approval_gate(&GateFacts {
            break_glass: BreakGlassCover::from_check(checked.as_ref()),
            ..facts(release, Some(&policy), request, &inputs)
        })
    }

    const DURING: &str = "2026-11-25T14:00:00Z";

    #[test]
    fn a_release_under_an_active_covering_session_bypasses_its_approval_policy() {
        let verdict = decide(&under("inc-1"), vec![session()], None, DURING);
        let ApprovalGate::Bypassed {
            session,
            digest,
            inputs,
            record,
            progress,
            step,
        } = &verdict
        else {
            panic!("expected a bypass: {verdict:?}");
        };
        assert!(verdict.open());
        assert_eq!(verdict.bypassed_by(), Some("inc-1"));
        assert_eq!(verdict.request_phase(), Some(ApprovalPhase::Bypassed));
        assert_eq!(session, "inc-1");
        assert_eq!((digest.as_str(), inputs), (APPROVED, &same_inputs()));
        assert!(record, "the request is created, recording what went out");
        assert_eq!((progress.required, progress.received), (2, 0));
        assert!(progress.missing.is_empty());
        assert_eq!(progress.summary.as_deref(), Some("bypassed"));
        assert_eq!(step.phase, ReleasePhase::Approved);
        assert_eq!(step.reason, reasons::APPROVAL_BYPASSED);
        assert_eq!(step.actor, "erin", "the submitter acted under the session");
        assert_eq!(
            step.message,
            format!(
                "approval bypassed by break-glass session inc-1 (SEV1, opened by bob: \"{JUSTIFICATION}\"): ApprovalPolicy production would require 2 approvals; release api-v2 goes on without them, Enforce policies still apply, and the session records it"
            )
        );
        assert!(step.message.starts_with(BYPASSED_BY));
    }

    #[test]
    fn an_existing_request_is_moved_to_bypassed_and_keeps_no_stale_digest() {
        // Pending on the same content: nothing to record, the status moves.
        let pending = approved_by("frank", "sre-team");
        let verdict = decide(&under("inc-1"), vec![session()], Some(&pending), DURING);
        assert!(
            matches!(verdict, ApprovalGate::Bypassed { record: false, .. }),
            "{verdict:?}"
        );
        // Recorded for other content: the digest of what goes out is recorded.
        let mut stale = pending.clone();
        stale.spec.rendered_digest = Some("sha256:older".into());
        let verdict = decide(&under("inc-1"), vec![session()], Some(&stale), DURING);
        assert!(
            matches!(verdict, ApprovalGate::Bypassed { record: true, .. }),
            "{verdict:?}"
        );
        // Even a rejection does not hold a release the session covers.
        let rejected = decided("frank", "sre-team", DecisionKind::Reject);
        assert!(decide(&under("inc-1"), vec![session()], Some(&rejected), DURING).open());
    }

    #[test]
    fn the_request_status_says_bypassed_with_the_session() {
        let status = first_status(&decide(&under("inc-1"), vec![session()], None, DURING));
        assert_eq!(status.phase, Some(ApprovalPhase::Bypassed));
        assert_eq!((status.received, status.required), (0, 2));
        assert!(
            status
                .message
                .as_deref()
                .is_some_and(|m| m.contains("bypassed by break-glass session inc-1")),
            "{status:?}"
        );
        for condition in &status.conditions {
            assert_eq!(condition.status, "True", "{condition:?}");
            assert_eq!(condition.reason, reasons::APPROVAL_BYPASSED);
        }
        assert_eq!(status.conditions.len(), 2);
    }

    #[test]
    fn an_expired_closed_narrower_or_missing_session_leaves_the_approvals_in_force() {
        let narrower = session_with(|s| s.spec.scope.workloads = vec!["worker".into()]);
        let closed = session_with(|s| {
            s.spec.closed = true;
            s.spec.closing_note = Some("rolled back".into());
        });
        let marked_closed = session_with(|s| {
            s.status = Some(BreakGlassSessionStatus {
                phase: Some(BreakGlassPhase::Closed),
                ..BreakGlassSessionStatus::default()
            });
        });
        let staging = session_with(|s| s.spec.scope.environments = vec!["staging".into()]);
        let foreign = session_with(|s| s.metadata.namespace = Some("shop".into()));
        for (sessions, now, why) in [
            (
                vec![session()],
                "2026-11-25T15:30:00Z",
                "break-glass session inc-1 expired at 2026-11-25T15:30:00Z",
            ),
            (vec![closed], DURING, "break-glass session inc-1 is closed"),
            (
                vec![marked_closed],
                DURING,
                "break-glass session inc-1 is closed",
            ),
            (
                vec![narrower],
                DURING,
                "break-glass session inc-1 covers production/worker, not production/api",
            ),
            (
                vec![staging],
                DURING,
                "break-glass session inc-1 covers staging/api, not production/api",
            ),
            (
                vec![foreign],
                DURING,
                "break-glass session inc-1 does not exist in this namespace",
            ),
        ] {
            let verdict = decide(&under("inc-1"), sessions, None, now);
            let ApprovalGate::Record { step, .. } = &verdict else {
                panic!("{why}: expected the normal approval path, got {verdict:?}");
            };
            assert!(!verdict.open());
            assert_eq!(verdict.bypassed_by(), None);
            assert_eq!(step.phase, ReleasePhase::PendingApproval);
            assert!(
                step.message
                    .ends_with(&format!("; {why}, so its ApprovalPolicy applies")),
                "{why}: {}",
                step.message
            );
        }

        // Waiting with a request: the same note, no bypass.
        let pending = request(Vec::new());
        let expired = session_with(|s| s.spec.duration = "10m".into());
        let verdict = decide(&under("inc-1"), vec![expired], Some(&pending), DURING);
        assert_pending(&verdict);
        assert!(
            verdict
                .step()
                .message
                .contains("break-glass session inc-1 expired at 2026-11-25T13:40:00Z, so its ApprovalPolicy applies"),
            "{}",
            verdict.step().message
        );
    }

    #[test]
    fn only_the_session_a_release_names_bypasses_its_approvals() {
        // An active session covers the release, but the release does not name it: approvals
        // apply (the admission decides who may name one).
        let mut unnamed = under("inc-1");
        unnamed.spec.break_glass_session = None;
        let verdict = decide(&unnamed, vec![session()], None, DURING);
        assert!(
            matches!(verdict, ApprovalGate::Record { .. }),
            "{verdict:?}"
        );
        assert!(!verdict.step().message.contains("break-glass"));
    }

    #[test]
    fn a_planted_request_still_blocks_and_no_policy_has_nothing_to_bypass() {
        let release = under("inc-1");
        let checked = cover_check(&release, vec![session()], DURING);
        let cover = BreakGlassCover::from_check(checked.as_ref());
        let policy = policy(1);
        let planted = request(Vec::new());
        let inputs = same_inputs();
        let verdict = approval_gate(&GateFacts {
            request_owned: false,
            break_glass: cover,
            ..facts(&release, Some(&policy), Some(&planted), &inputs)
        });
        assert_eq!(verdict.step().phase, ReleasePhase::Blocked, "{verdict:?}");

        let none = BTreeMap::new();
        let verdict = approval_gate(&GateFacts {
            request_owned: false,
            digest: "",
            break_glass: cover,
            ..facts(&release, None, None, &none)
        });
        assert_eq!(verdict.step().reason, reasons::NO_APPROVAL_NEEDED);
        assert_eq!(verdict.request_phase(), None);
    }

    #[test]
    fn a_long_justification_is_quoted_in_part() {
        let long = session_with(|s| {
            s.spec.justification = format!("{}\n\n{}", "a".repeat(150), "b".repeat(150));
        });
        let verdict = decide(&under("inc-1"), vec![long], None, DURING);
        let message = &verdict.step().message;
        assert!(
            message.contains(&format!("\"{} {}…\"", "a".repeat(150), "b".repeat(49))),
            "{message}"
        );
    }
}
