//! Break-glass lifts the approval gate of the releases made under a session, so naming a
//! session is judged at every submission, frozen or not: the session must exist in the
//! release's project, be active and cover the release, and the submitter must hold the
//! `break-glass` grant for the environment (the grant that opens a session). A release manager
//! cannot skip approvals by naming a session someone else opened.

use std::sync::Arc;

use kube::ResourceExt;

use super::grants::{AccessReviewsTimeOut, grant, validate_as};
use super::*;

/// Production open (no freeze) or frozen by `db-upgrade`; `checkout-v1` delivered earlier; the
/// given sessions. backend-team: ReleaseManager in production (release, rollback); sre-team:
/// ReleaseManager and Approver (release, approve, rollback, break-glass).
fn project(frozen: bool, sessions: Vec<BreakGlassSession>) -> Snapshot {
    let mut snapshot = Snapshot::default();
    snapshot.catalog.environments = vec![
        if frozen {
            frozen_production()
        } else {
            environment("production")
        },
        environment("staging"),
    ];
    snapshot.catalog.releases.push(
        release("checkout-v1")
            .change("checkout-service")
            .submitted()
            .phase(ReleasePhase::Healthy),
    );
    snapshot.break_glass_sessions = sessions.into_iter().map(Arc::new).collect();
    snapshot.grants = Some(vec![
        grant("backend-team", "release", "production"),
        grant("backend-team", "rollback", "production"),
        grant("sre-team", "release", "*"),
        grant("sre-team", "approve", "*"),
        grant("sre-team", "rollback", "*"),
        grant("sre-team", "break-glass", "*"),
    ]);
    snapshot
}

fn oncall() -> Requester {
    person("oncall", &["sre-team", "system:authenticated"])
}

/// A release manager of backend-team: may release and roll back in production, may not open
/// break-glass sessions.
fn alice() -> Requester {
    person("alice", &["backend-team", "system:authenticated"])
}

/// A fix of checkout-service submitted into production.
fn fix() -> Release {
    release("checkout-fix")
        .change("checkout-service")
        .submitted()
        .created_by("oncall")
}

fn mutate_as(user: &Requester, directory: &dyn Directory, release: &Release) -> Verdict {
    mutate_release(
        &create(user, release),
        directory,
        &crate::policy::PolicyEngine::default(),
        &Settings::default(),
    )
}

#[test]
fn naming_an_active_covering_session_outside_a_freeze_admits_and_says_approvals_are_bypassed() {
    let directory = project(false, vec![session("bgs-checkout")]);
    let verdict = validate_as(&oncall(), &directory, &fix().break_glass("bgs-checkout"));
    assert_allowed(&verdict);
    let warning = assert_warned(&verdict, &[]);
    assert_eq!(
        warning,
        "release checkout-fix is admitted under break-glass session bgs-checkout (SEV1, requested by oncall, expires 2026-11-25T15:30:00Z): its ApprovalPolicy is bypassed (Enforce policies still apply) and every action is recorded"
    );
    assert_eq!(
        audit(&verdict, "gitopshq.io/break-glass-session"),
        Some("bgs-checkout")
    );
    // Outside a freeze nothing is attached by itself: skipping approvals is asked for by name.
    assert_eq!(
        mutation(
            &mutate_as(&oncall(), &directory, &fix()),
            "/spec/breakGlassSession"
        ),
        None
    );
    // During a freeze, the same warning says so too.
    let frozen = project(true, vec![session("bgs-checkout")]);
    assert_warned(
        &validate_as(&oncall(), &frozen, &fix().break_glass("bgs-checkout")),
        &[
            "admitted under break-glass session bgs-checkout",
            "its ApprovalPolicy is bypassed (Enforce policies still apply)",
        ],
    );
}

#[test]
fn a_session_that_grants_nothing_is_refused_outside_a_freeze_with_the_field_and_the_way_out() {
    let foreign = {
        let mut s = session("bgs-checkout");
        s.metadata.namespace = Some("shop".into());
        s
    };
    for (sessions, problem) in [
        (
            vec![session("bgs-checkout").closed_with(Some("rolled back"))],
            "break-glass session bgs-checkout is closed",
        ),
        (
            vec![session("bgs-checkout").status_phase(BreakGlassPhase::Closed)],
            "break-glass session bgs-checkout is closed",
        ),
        (
            vec![session("bgs-checkout").created_at("2026-11-25T10:00:00Z")],
            "break-glass session bgs-checkout expired at 2026-11-25T12:00:00Z",
        ),
        (
            vec![session("bgs-checkout").status_phase(BreakGlassPhase::Expired)],
            "break-glass session bgs-checkout has expired",
        ),
        (
            vec![session("bgs-checkout").scope_workloads(&["payment-api"])],
            "break-glass session bgs-checkout covers production/payment-api, not production/checkout-service",
        ),
        (
            vec![session("bgs-checkout").scope_environments(&["staging"])],
            "break-glass session bgs-checkout covers staging/checkout-service, not production/checkout-service",
        ),
        (
            vec![foreign],
            "break-glass session bgs-checkout does not exist in this namespace",
        ),
        (
            vec![],
            "break-glass session bgs-checkout does not exist in this namespace",
        ),
    ] {
        let directory = project(false, sessions);
        let message = assert_denied(
            &validate_as(&oncall(), &directory, &fix().break_glass("bgs-checkout")),
            Rule::BreakGlass,
            &[problem],
        );
        assert_eq!(
            message,
            format!(
                "release checkout-fix denied: spec.breakGlassSession: {problem}; remove spec.breakGlassSession to have the release approved under its ApprovalPolicy, or open a BreakGlassSession covering production/checkout-service"
            )
        );
    }

    // A session scoped to one tenant does not cover a release to every tenant.
    let mut directory = project(false, vec![session("bgs-acme").scope_tenants(&["acme"])]);
    for tenant in ["acme", "globex"] {
        directory.catalog.tenants.push(object(&format!(
            "metadata: {{name: {tenant}, namespace: {NS}}}
spec: {{environment: production, cluster: eu-west-1, namespace: {tenant}-prod}}"
        )));
    }
    assert_denied(
        &validate_as(&oncall(), &directory, &fix().break_glass("bgs-acme")),
        Rule::BreakGlass,
        &["covers production/checkout-service tenants acme"],
    );
    assert_allowed(&validate_as(
        &oncall(),
        &directory,
        &fix().to_tenants(&["acme"]).break_glass("bgs-acme"),
    ));
}

#[test]
fn a_release_manager_cannot_skip_approvals_by_naming_someone_elses_session() {
    for frozen in [false, true] {
        let directory = project(frozen, vec![session("bgs-checkout")]);
        let own = release("checkout-fix")
            .change("checkout-service")
            .submitted()
            .created_by("alice");
        // Without a session alice may submit into production (when it is not frozen).
        if !frozen {
            assert_allowed(&validate_as(&alice(), &directory, &own));
        }
        for attempt in [
            own.clone().break_glass("bgs-checkout"),
            release("checkout-rollback")
                .rollback_to("checkout-v1")
                .change("checkout-service")
                .submitted()
                .created_by("alice")
                .break_glass("bgs-checkout"),
        ] {
            let message = assert_denied(
                &validate_as(&alice(), &directory, &attempt),
                Rule::NotPermitted,
                &[
                    &format!("release {} denied", attempt.name_any()),
                    "spec.breakGlassSession names break-glass session bgs-checkout, but alice (groups: backend-team) may not open break-glass sessions for production in project payments, so may not release under one either",
                    "remove spec.breakGlassSession and let the release be approved, or ask someone with the Approver role in production to submit it under the session",
                ],
            );
            assert!(!message.contains("system:authenticated"), "{message}");
            assert_eq!(Rule::NotPermitted.status_code(), 403);
        }
        // The SRE who may open sessions may release under one.
        assert_allowed(&validate_as(
            &oncall(),
            &directory,
            &fix().break_glass("bgs-checkout"),
        ));
    }
}

#[test]
fn during_a_freeze_the_session_is_attached_only_for_those_who_may_act_under_it() {
    let directory = project(true, vec![session("bgs-checkout")]);
    let rollback = |by: &str| {
        release("checkout-rollback")
            .rollback_to("checkout-v1")
            .change("checkout-service")
            .submitted()
            .created_by(by)
    };
    // The SRE's rollback gets the covering session and is admitted under it.
    let verdict = mutate_as(&oncall(), &directory, &rollback("oncall"));
    assert_eq!(
        mutation(&verdict, "/spec/breakGlassSession"),
        Some(&json!("bgs-checkout"))
    );
    let attached = apply(&rollback("oncall"), &verdict);
    assert_allowed(&validate_as(&oncall(), &directory, &attached));

    // The release manager's does not: it meets the freeze, and the denial says who may help.
    let verdict = mutate_as(&alice(), &directory, &rollback("alice"));
    assert_eq!(mutation(&verdict, "/spec/breakGlassSession"), None);
    let message = assert_denied(
        &validate_as(&alice(), &directory, &rollback("alice")),
        Rule::Frozen,
        &[
            "release checkout-rollback denied: environment production is frozen until 2026-11-25T18:00:00Z",
            "open a BreakGlassSession covering production/checkout-service or wait for the window to end",
        ],
    );
    assert!(
        message.ends_with(" (break-glass session bgs-checkout covers it, but only someone who may open break-glass sessions for production may release under it: ask oncall to submit it)"),
        "{message}"
    );
}

#[test]
fn an_unanswered_grant_check_refuses_naming_a_session_and_attaches_none() {
    let directory = AccessReviewsTimeOut::for_verb(
        crate::rbac::verbs::BREAK_GLASS,
        project(true, vec![session("bgs-checkout")]),
    );
    assert_denied(
        &validate_as(&oncall(), &directory, &fix().break_glass("bgs-checkout")),
        Rule::NotPermitted,
        &[
            "release checkout-fix denied: spec.breakGlassSession names break-glass session bgs-checkout, but whether oncall may act under break-glass in production cannot be checked (the access review timed out); retry in a moment",
        ],
    );
    assert_eq!(
        mutation(
            &mutate_as(&oncall(), &directory, &fix()),
            "/spec/breakGlassSession"
        ),
        None
    );
}
