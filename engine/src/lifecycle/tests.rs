use gitopshq_crds::approval_policy::{ApprovalPolicy, ApprovalPolicySpec};
use gitopshq_crds::release::{PolicyResult, PolicyVerdict, Release, ReleaseSpec, ReleaseType};

use super::*;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).unwrap()
}

fn condition<'s>(status: &'s ReleaseStatus, type_: &str) -> (&'s str, &'s str) {
    let c = conditions::get(&status.conditions, type_).expect(type_);
    (c.status.as_str(), c.reason.as_str())
}

#[test]
fn each_phase_change_is_one_timeline_entry_with_its_actor() {
    let mut status = ReleaseStatus::default();
    let pending = Step::new(
        ReleasePhase::PendingApproval,
        reasons::AWAITING_APPROVAL,
        "0 of 2 approvals received",
    );
    assert!(enter(&mut status, &pending, Some(1), at(0)));
    // Progress within a phase changes the message, not the timeline.
    let progress = Step::new(
        ReleasePhase::PendingApproval,
        reasons::AWAITING_APPROVAL,
        "1 of 2 approvals received",
    );
    assert!(enter(&mut status, &progress, Some(1), at(1)));
    assert!(!enter(&mut status, &progress, Some(1), at(2)));
    let approved = Step::new(
        ReleasePhase::Approved,
        reasons::APPROVED,
        "2 of 2 approvals received",
    )
    .by("frank");
    enter(&mut status, &approved, Some(1), at(3));
    assert_eq!(status.timeline.len(), 2);
    assert_eq!(status.timeline[1].actor.as_deref(), Some("frank"));
    assert_eq!(status.timeline[1].phase, ReleasePhase::Approved);
    assert_eq!(status.message.as_deref(), Some("2 of 2 approvals received"));
    assert_eq!(
        condition(&status, types::APPROVED),
        ("True", reasons::APPROVED)
    );
    assert_eq!(
        condition(&status, types::READY),
        ("False", reasons::APPROVED)
    );
}

fn cancellable_release(by: Option<&str>, reason: Option<&str>) -> Release {
    let mut release = Release::new(
        "api-v2",
        ReleaseSpec {
            title: "api v2".into(),
            environment: "production".into(),
            submitted: true,
            cancellation: Some(gitopshq_crds::release::Cancellation {
                reason: reason.map(str::to_string),
                user: by.map(str::to_string),
                time: None,
            }),
            ..ReleaseSpec::default()
        },
    );
    release.metadata.namespace = Some("payments".into());
    release
}

#[test]
fn a_cancellation_ends_a_release_not_delivered_yet() {
    use ReleasePhase as P;
    let release = cancellable_release(Some("alice"), Some("  wrong tag "));
    for phase in [
        None,
        Some(P::Draft),
        Some(P::PendingApproval),
        Some(P::Approved),
        Some(P::Blocked),
        Some(P::Cancelled),
    ] {
        let step = cancellation(&release, phase).expect("cancelled");
        assert_eq!(step.phase, P::Cancelled);
        assert_eq!(step.reason, reasons::CANCELLED);
        assert_eq!(step.actor, "alice");
        assert_eq!(
            step.message,
            "release api-v2 was cancelled by alice: wrong tag; nothing of it is delivered and approvals no longer count; create a new release to deliver its changes"
        );
        assert!(!step.is_warning());
    }
    // Delivery started (admission refuses these; a race leaves them delivering).
    for phase in [
        P::Deploying,
        P::Deployed,
        P::Healthy,
        P::Degraded,
        P::Failed,
        P::Rejected,
        P::Superseded,
    ] {
        assert_eq!(cancellation(&release, Some(phase)), None, "{phase}");
        assert!(!is_cancellable(Some(phase)), "{phase}");
    }
    let mut not_cancelled = release.clone();
    not_cancelled.spec.cancellation = None;
    assert_eq!(cancellation(&not_cancelled, Some(P::PendingApproval)), None);
    assert!(is_terminal(P::Cancelled));
    // Without a reason (or a stamped user), the message says so.
    let bare = cancellation(&cancellable_release(None, None), None).unwrap();
    assert_eq!(bare.actor, CONTROLLER);
    assert!(
        bare.message
            .starts_with("release api-v2 was cancelled by an unknown user (no reason given);"),
        "{}",
        bare.message
    );
}

#[test]
fn entering_cancelled_records_the_canceller_and_is_not_ready() {
    let mut status = ReleaseStatus::default();
    let pending = Step::new(
        ReleasePhase::PendingApproval,
        reasons::AWAITING_APPROVAL,
        "0 of 1 approvals received",
    );
    enter(&mut status, &pending, Some(1), at(0));
    let step = cancelled_step(&cancellable_release(Some("rita"), Some("not needed")));
    assert!(enter(&mut status, &step, Some(1), at(5)));
    assert!(!enter(&mut status, &step, Some(1), at(9)), "idempotent");
    assert_eq!(status.phase, Some(ReleasePhase::Cancelled));
    let last = status.timeline.last().unwrap();
    assert_eq!(last.phase, ReleasePhase::Cancelled);
    assert_eq!(last.actor.as_deref(), Some("rita"));
    assert_eq!(last.time.0, at(5));
    assert_eq!(status.timeline.len(), 2);
    assert_eq!(
        condition(&status, types::READY),
        ("False", reasons::CANCELLED)
    );
    assert_eq!(
        condition(&status, types::APPROVED),
        ("False", reasons::CANCELLED)
    );
}

#[test]
fn conditions_follow_delivery_and_health() {
    let mut status = ReleaseStatus::default();
    enter(
        &mut status,
        &Step::new(
            ReleasePhase::Deployed,
            reasons::COMMITTED,
            "committed abc1234",
        ),
        None,
        at(0),
    );
    assert_eq!(
        condition(&status, types::DELIVERED),
        ("True", reasons::COMMITTED)
    );
    assert_eq!(
        condition(&status, types::HEALTHY),
        ("Unknown", reasons::PROGRESSING)
    );
    enter(
        &mut status,
        &Step::new(
            ReleasePhase::Healthy,
            reasons::HEALTHY,
            "1 of 1 tenants healthy",
        ),
        None,
        at(5),
    );
    assert_eq!(condition(&status, types::READY), ("True", reasons::HEALTHY));
    enter(
        &mut status,
        &Step::new(
            ReleasePhase::Degraded,
            reasons::DEGRADED,
            "2 of 5 pods CrashLoopBackOff",
        ),
        None,
        at(9),
    );
    assert_eq!(
        condition(&status, types::HEALTHY),
        ("False", reasons::DEGRADED)
    );
    assert_eq!(
        condition(&status, types::READY),
        ("False", reasons::DEGRADED)
    );
}

#[test]
fn the_timeline_is_bounded_and_keeps_the_first_entry() {
    let mut status = ReleaseStatus::default();
    for i in 0..(MAX_TIMELINE as i64 + 20) {
        let phase = if i % 2 == 0 {
            ReleasePhase::Healthy
        } else {
            ReleasePhase::Degraded
        };
        enter(
            &mut status,
            &Step::new(
                phase,
                if i % 2 == 0 {
                    reasons::HEALTHY
                } else {
                    reasons::DEGRADED
                },
                format!("{i}"),
            ),
            None,
            at(i),
        );
    }
    assert_eq!(status.timeline.len(), MAX_TIMELINE);
    assert_eq!(status.timeline[0].message.as_deref(), Some("0"));
    assert_eq!(
        status.timeline.last().unwrap().message.as_deref(),
        Some(&*format!("{}", MAX_TIMELINE + 19))
    );
}

fn result(
    policy: &str,
    mode: EnforcementMode,
    verdict: PolicyVerdict,
    messages: &[&str],
) -> PolicyResult {
    PolicyResult {
        policy: policy.into(),
        mode,
        verdict,
        messages: messages.iter().map(|m| m.to_string()).collect(),
    }
}

#[test]
fn only_enforced_denials_block_and_every_violation_is_listed() {
    let results = [
        result(
            "limits",
            EnforcementMode::Enforce,
            PolicyVerdict::Deny,
            &[
                "Container 'api' must have resource limits",
                "Container 'sidecar' must have resource limits",
            ],
        ),
        result(
            "labels",
            EnforcementMode::Warn,
            PolicyVerdict::Warn,
            &["missing team label"],
        ),
    ];
    let step = policy_gate("api-v2", &results).unwrap();
    assert_eq!(step.phase, ReleasePhase::Blocked);
    assert!(
        step.message.contains("2 policy violation(s)"),
        "{}",
        step.message
    );
    assert!(
        step.message.contains("Container 'sidecar'"),
        "{}",
        step.message
    );
    assert!(
        step.message
            .ends_with("fix the values and submit a new release")
    );
    assert!(policy_gate("api-v2", &results[1..]).is_none());

    let mut status = ReleaseStatus::default();
    record_policies(&mut status, results.to_vec(), Some(1), at(0));
    assert_eq!(
        condition(&status, types::POLICIES_PASSED),
        ("False", reasons::POLICY_DENIED)
    );
    record_policies(&mut status, results[1..].to_vec(), Some(1), at(0));
    assert_eq!(
        condition(&status, types::POLICIES_PASSED),
        ("True", reasons::POLICY_WARNED)
    );
}

fn approval_policy(
    name: &str,
    environments: &[&str],
    types_: &[ReleaseType],
    min: i32,
    distinct: bool,
) -> ApprovalPolicy {
    ApprovalPolicy::new(
        name,
        ApprovalPolicySpec {
            environments: environments.iter().map(|e| e.to_string()).collect(),
            release_types: types_.to_vec(),
            min_approvals: min,
            distinct_teams: distinct,
            forbid_self_approval: true,
            approver_groups: vec![],
            sla: None,
        },
    )
}

fn release(environment: &str, type_: ReleaseType) -> Release {
    Release::new(
        "r",
        ReleaseSpec {
            title: "t".into(),
            environment: environment.into(),
            type_,
            ..ReleaseSpec::default()
        },
    )
}

#[test]
fn the_strictest_bound_approval_policy_governs() {
    let policies = [
        approval_policy("prod-one", &["production"], &[], 1, false),
        approval_policy(
            "prod-two-teams",
            &["production"],
            &[ReleaseType::Deploy],
            2,
            true,
        ),
        approval_policy("staging", &["staging"], &[], 3, false),
    ];
    let governing =
        |env, t| governing_approval_policy(&policies, &release(env, t)).map(|p| p.name_any());
    assert_eq!(
        governing("production", ReleaseType::Deploy).as_deref(),
        Some("prod-two-teams")
    );
    assert_eq!(
        governing("production", ReleaseType::Rollback).as_deref(),
        Some("prod-one")
    );
    assert_eq!(governing("development", ReleaseType::Deploy), None);
}

fn footprint(name: &str, created: i64, phase: ReleasePhase, pairs: &[(&str, &str)]) -> Footprint {
    Footprint {
        name: name.into(),
        environment: "production".into(),
        created: at(created),
        delivered: is_delivered(phase).then(|| at(created + 1)),
        phase,
        pairs: pairs
            .iter()
            .map(|(t, w)| (t.to_string(), w.to_string()))
            .collect(),
    }
}

#[test]
fn a_release_is_superseded_only_when_newer_deliveries_cover_all_it_touches() {
    let older = footprint(
        "v1",
        0,
        ReleasePhase::Healthy,
        &[("alpha", "api"), ("beta", "api")],
    );
    let alpha = footprint("v2-alpha", 10, ReleasePhase::Healthy, &[("alpha", "api")]);
    let beta = footprint("v2-beta", 20, ReleasePhase::Deployed, &[("beta", "api")]);
    let waiting = footprint(
        "v3",
        30,
        ReleasePhase::PendingApproval,
        &[("alpha", "api"), ("beta", "api")],
    );
    assert_eq!(
        superseded_by(&older, &[alpha.clone(), waiting.clone()]),
        None
    );
    assert_eq!(
        superseded_by(&older, &[alpha.clone(), beta.clone(), waiting.clone()]),
        Some("v2-alpha")
    );
    // Older releases never supersede newer ones; in-flight ones are left alone.
    assert_eq!(superseded_by(&alpha, std::slice::from_ref(&older)), None);
    let deploying = footprint("v0", -5, ReleasePhase::Deploying, &[("alpha", "api")]);
    assert_eq!(
        superseded_by(&deploying, std::slice::from_ref(&alpha)),
        None
    );
    // A release waiting for approval is superseded by a newer delivered one.
    let stale = footprint("v1b", 1, ReleasePhase::PendingApproval, &[("alpha", "api")]);
    assert_eq!(superseded_by(&stale, &[alpha]), Some("v2-alpha"));
}

#[test]
fn a_release_created_in_the_same_second_as_a_delivered_one_is_not_superseded_by_it() {
    // Creation times have second precision: "v1-0-0" sorts after "chart-1-1-0" by name, but
    // that says nothing about which is newer.
    let delivered = footprint("v1-0-0", 0, ReleasePhase::Deployed, &[("dev", "api")]);
    let approved = footprint("chart-1-1-0", 0, ReleasePhase::Approved, &[("dev", "api")]);
    assert_eq!(
        superseded_by(&approved, std::slice::from_ref(&delivered)),
        None
    );
    // Once the second one is delivered, it is the newer content.
    let mut later = approved.clone();
    later.phase = ReleasePhase::Deployed;
    later.delivered = Some(at(5));
    assert_eq!(
        superseded_by(&delivered, std::slice::from_ref(&later)),
        Some("chart-1-1-0")
    );
    assert_eq!(
        superseded_by(&later, std::slice::from_ref(&delivered)),
        None
    );
}

#[test]
fn delivered_releases_are_ordered_by_delivery_not_creation() {
    // Created first but delivered last: what Git holds is the older-created release's content.
    let mut first_created = footprint("v1", 0, ReleasePhase::Healthy, &[("dev", "api")]);
    first_created.delivered = Some(at(100));
    let mut second_created = footprint("v2", 10, ReleasePhase::Healthy, &[("dev", "api")]);
    second_created.delivered = Some(at(50));
    assert_eq!(
        superseded_by(&second_created, std::slice::from_ref(&first_created)),
        Some("v1")
    );
    assert_eq!(
        superseded_by(&first_created, std::slice::from_ref(&second_created)),
        None
    );
}

#[test]
fn a_retry_is_requested_once_per_annotation_value() {
    assert!(!retry_requested(None, None));
    assert!(retry_requested(Some("2026-12-01T10:00:00Z"), None));
    assert!(!retry_requested(
        Some("2026-12-01T10:00:00Z"),
        Some("2026-12-01T10:00:00Z")
    ));
    assert!(retry_requested(
        Some("2026-12-01T11:00:00Z"),
        Some("2026-12-01T10:00:00Z")
    ));
}

fn delivered_release(name: &str, created: i64, delivered: i64, was_healthy: bool) -> Release {
    let mut r = Release::new(
        name,
        ReleaseSpec {
            title: name.into(),
            environment: "production".into(),
            changes: vec![gitopshq_crds::release::WorkloadChange {
                workload: "api".into(),
                ..Default::default()
            }],
            ..ReleaseSpec::default()
        },
    );
    r.metadata.namespace = Some("shop".into());
    r.metadata.creation_timestamp = Some(Time(at(created)));
    let mut status = ReleaseStatus {
        commit: Some("c0ffee".into()),
        delivered_at: Some(gitopshq_crds::common::MicroTime(at(delivered))),
        ..ReleaseStatus::default()
    };
    if was_healthy {
        status.timeline.push(TimelineEntry {
            time: Time(at(delivered + 1)),
            phase: ReleasePhase::Healthy,
            message: None,
            actor: None,
        });
    }
    r.status = Some(status);
    r
}

#[test]
fn the_rollback_target_is_the_last_healthy_release_delivered_before() {
    let workloads: BTreeSet<String> = ["api".to_string()].into();
    let degraded = delivered_release("v3", 30, 40, false);
    let v1 = delivered_release("v1", 0, 5, true);
    // Created after v1 but delivered before it: v1 is what ran last.
    let v2 = delivered_release("v2", 10, 3, true);
    let never_healthy = delivered_release("v2b", 12, 20, false);
    let mut elsewhere = delivered_release("v2c", 13, 21, true);
    elsewhere.spec.environment = "staging".into();
    let later = delivered_release("v4", 50, 60, true);
    let others = [v1, v2, never_healthy, elsewhere, later, degraded.clone()];
    let target = rollback_target(&degraded, Some(at(40)), &workloads, &others);
    assert_eq!(target.map(|r| r.name_any()).as_deref(), Some("v1"));
    let other_workload: BTreeSet<String> = ["worker".to_string()].into();
    assert!(rollback_target(&degraded, Some(at(40)), &other_workload, &others).is_none());
}

#[test]
fn a_failing_delivery_backs_off_as_it_announces() {
    let mut status = ReleaseStatus::default();
    let problem = "cannot fetch branch main from http://git.example.com/gitops.git";
    let mut waits = Vec::new();
    let mut now = at(0);
    for _ in 0..8 {
        let (step, wait) = delivery_failed(&mut status, problem, now);
        assert_eq!(step.phase, ReleasePhase::Deploying);
        assert!(step.message.ends_with(problem), "{}", step.message);
        assert!(
            step.message
                .contains(&format!("next attempt in {}s", wait.as_secs())),
            "{}",
            step.message
        );
        // Nothing is tried before the announced time, whatever wakes the reconciler.
        assert_eq!(delivery_wait(&status, now), Some(wait));
        let halfway = now
            .checked_add(jiff::SignedDuration::try_from(wait / 2).unwrap())
            .unwrap();
        assert!(delivery_wait(&status, halfway).is_some());
        now = now
            .checked_add(jiff::SignedDuration::try_from(wait).unwrap())
            .unwrap();
        assert_eq!(delivery_wait(&status, now), None);
        waits.push(wait.as_secs());
    }
    assert_eq!(waits, [10, 20, 40, 80, 160, 300, 300, 300]);
    assert_eq!(status.delivery_retry.as_ref().unwrap().attempts, 8);
}

#[test]
fn a_retry_delivers_a_failed_delivery_again_and_judges_anything_else_again() {
    assert_eq!(
        retried_phase(Some(ReleasePhase::Failed), Some(reasons::DELIVERY_FAILED)),
        Some(ReleasePhase::Deploying)
    );
    assert_eq!(
        retried_phase(Some(ReleasePhase::Failed), Some(reasons::SYNC_FAILED)),
        Some(ReleasePhase::Draft)
    );
    assert_eq!(
        retried_phase(
            Some(ReleasePhase::Blocked),
            Some(reasons::ENVIRONMENT_FROZEN)
        ),
        Some(ReleasePhase::Draft)
    );
    assert_eq!(retried_phase(Some(ReleasePhase::Healthy), None), None);
    assert_eq!(retried_phase(None, None), None);
}

#[test]
fn a_change_on_a_workload_cluster_wakes_the_delivered_releases_running_there() {
    use gitopshq_crds::release::{ReleaseStatus, TenantRollout};
    use gitopshq_crds::tenant::{Tenant, TenantSpec};
    let tenant = |name: &str, cluster: &str, namespace: &str| {
        let mut t = Tenant::new(
            name,
            TenantSpec {
                environment: "production".into(),
                cluster: cluster.into(),
                namespace: namespace.into(),
                ..TenantSpec::default()
            },
        );
        t.metadata.namespace = Some("payments".into());
        t
    };
    let delivered = |name: &str, phase: ReleasePhase, tenants: &[&str]| {
        let mut r = release("production", ReleaseType::Deploy);
        r.metadata.name = Some(name.into());
        r.metadata.namespace = Some("payments".into());
        r.status = Some(ReleaseStatus {
            phase: Some(phase),
            tenants: tenants
                .iter()
                .map(|t| TenantRollout {
                    name: t.to_string(),
                    ..TenantRollout::default()
                })
                .collect(),
            ..ReleaseStatus::default()
        });
        r
    };
    let tenants = [
        tenant("eu-prod", "eu-1", "payments-prod"),
        tenant("us-prod", "us-1", "payments-prod"),
    ];
    let tenant_refs: Vec<&Tenant> = tenants.iter().collect();
    let releases = [
        delivered("healthy-on-eu", ReleasePhase::Healthy, &["eu-prod"]),
        delivered("pending-on-eu", ReleasePhase::PendingApproval, &["eu-prod"]),
        delivered("degraded-on-us", ReleasePhase::Degraded, &["us-prod"]),
    ];
    let woken = observe::observing(&releases, &tenant_refs, "eu-1", Some("payments-prod"));
    assert_eq!(
        woken,
        [("payments".to_string(), "healthy-on-eu".to_string())]
    );
    assert!(observe::observing(&releases, &tenant_refs, "eu-1", Some("other")).is_empty());
    let cluster_wide = observe::observing(&releases, &tenant_refs, "us-1", None);
    assert_eq!(
        cluster_wide,
        [("payments".to_string(), "degraded-on-us".to_string())]
    );
}

#[test]
fn only_the_release_delivered_last_records_itself() {
    let initial = delivered_release("initial", 0, 5, true);
    // Created before `initial` was delivered, delivered after it.
    let batch = delivered_release("batch", 3, 20, false);
    assert!(may_record(&batch, None));
    assert!(may_record(&batch, Some(&batch)));
    assert!(may_record(&batch, Some(&initial)));
    // The older release, still observed for another workload, leaves the record alone.
    assert!(!may_record(&initial, Some(&batch)));
    assert!(may_record(&initial, Some(&initial)));
}
