//! Freezes and break-glass: a submission into a frozen environment is denied unless an active
//! break-glass session covers everything it touches.

use std::sync::Arc;

use super::*;

/// Production frozen by `db-upgrade`, staging open; `checkout-v1` (checkout-service) delivered
/// earlier; tenants acme and globex in production; the given sessions.
fn with_sessions(sessions: Vec<BreakGlassSession>) -> Snapshot {
    let mut snapshot = Snapshot::default();
    snapshot.catalog.environments = vec![frozen_production(), environment("staging")];
    snapshot.catalog.releases.push(
        release("checkout-v1")
            .change("checkout-service")
            .submitted()
            .phase(ReleasePhase::Healthy),
    );
    for (tenant, tier) in [("acme", "gold"), ("globex", "silver")] {
        snapshot.catalog.tenants.push(object(&format!(
            "metadata: {{name: {tenant}, namespace: {NS}}}
spec: {{environment: production, cluster: eu-west-1, namespace: {tenant}-prod, labels: {{tier: {tier}}}}}"
        )));
    }
    snapshot.break_glass_sessions = sessions.into_iter().map(Arc::new).collect();
    snapshot
}

fn oncall() -> Requester {
    person("oncall", &["sre-team"])
}

/// A fix of checkout-service submitted into production.
fn fix() -> Release {
    release("checkout-fix")
        .change("checkout-service")
        .submitted()
        .created_by("oncall")
}

/// The rollback of checkout-service to `checkout-v1`.
fn rollback() -> Release {
    release("checkout-rollback")
        .rollback_to("checkout-v1")
        .change("checkout-service")
        .submitted()
        .created_by("oncall")
}

fn validate(directory: &Snapshot, req: &Request<'_, Release>) -> Verdict {
    validate_release(req, directory, &engine(), &Settings::default())
}

fn submit(directory: &Snapshot, release: &Release) -> Verdict {
    let user = oncall();
    validate(directory, &create(&user, release))
}

fn mutate(directory: &Snapshot, release: &Release) -> Verdict {
    let user = oncall();
    mutate_release(
        &create(&user, release),
        directory,
        &crate::policy::PolicyEngine::default(),
        &Settings::default(),
    )
}

const FROZEN: &str = "environment production is frozen until 2026-11-25T18:00:00Z";
const WINDOW: &str = "freeze window \"db-upgrade\": database upgrade";

#[test]
fn a_submission_into_a_frozen_environment_is_denied_with_the_way_out() {
    let verdict = submit(&with_sessions(vec![]), &fix());
    let message = assert_denied(
        &verdict,
        Rule::Frozen,
        &[
            "release checkout-fix denied",
            FROZEN,
            WINDOW,
            "open a BreakGlassSession covering production/checkout-service or wait for the window to end",
        ],
    );
    assert_eq!(
        message,
        "release checkout-fix denied: environment production is frozen until 2026-11-25T18:00:00Z (freeze window \"db-upgrade\": database upgrade); open a BreakGlassSession covering production/checkout-service or wait for the window to end"
    );
    assert_eq!(Rule::Frozen.status_code(), 409);

    // Every workload the release touches is named.
    let two = fix().change("payment-api");
    assert_denied(
        &submit(&with_sessions(vec![]), &two),
        Rule::Frozen,
        &["covering production/checkout-service,payment-api or wait"],
    );

    // A window without a reason is named alone.
    let mut quiet = with_sessions(vec![]);
    quiet.catalog.environments[0].spec.freeze_windows[0].reason = None;
    assert_denied(
        &submit(&quiet, &fix()),
        Rule::Frozen,
        &["(freeze window \"db-upgrade\"); open a BreakGlassSession"],
    );
}

#[test]
fn a_draft_may_be_prepared_during_a_freeze() {
    let directory = with_sessions(vec![session("bgs-checkout")]);
    let draft = release("checkout-fix")
        .change("checkout-service")
        .created_by("oncall");
    assert_eq!(submit(&directory, &draft), Verdict::allow());
    // Nothing is looked up for a draft: no session is attached either.
    assert_eq!(mutate(&directory, &draft), Verdict::allow());

    let old = draft.clone();
    let mut edited = draft.clone();
    edited.spec.title = "Fix the EU card path".into();
    let user = oncall();
    assert_allowed(&validate(&directory, &update(&user, &old, &edited)));
}

#[test]
fn submitting_a_draft_during_a_freeze_is_denied() {
    let directory = with_sessions(vec![]);
    let draft = release("checkout-fix")
        .change("checkout-service")
        .created_by("oncall");
    let submitted = draft.clone().submitted();
    let user = oncall();
    let verdict = validate(&directory, &update(&user, &draft, &submitted));
    assert_denied(
        &verdict,
        Rule::Frozen,
        &["release checkout-fix denied", FROZEN],
    );
}

#[test]
fn a_submitted_release_is_not_judged_again_during_a_freeze() {
    let directory = with_sessions(vec![]);
    let old = fix();
    let mut labelled = fix();
    labelled
        .metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert("team".into(), "checkout".into());
    let user = oncall();
    assert_eq!(
        validate(&directory, &update(&user, &old, &labelled)),
        Verdict::allow()
    );
}

#[test]
fn the_window_covers_its_start_but_not_its_end() {
    let directory = with_sessions(vec![]);
    let release = fix();
    let user = oncall();
    for (now, frozen) in [
        ("2026-11-25T11:59:59Z", false),
        ("2026-11-25T12:00:00Z", true),
        ("2026-11-25T17:59:59Z", true),
        ("2026-11-25T18:00:00Z", false),
    ] {
        let verdict = validate(&directory, &at(create(&user, &release), now));
        assert_eq!(verdict.allowed(), !frozen, "at {now}: {verdict:?}");
    }
}

#[test]
fn an_active_session_named_by_the_release_admits_it() {
    let directory = with_sessions(vec![session("bgs-checkout")]);
    let verdict = submit(&directory, &rollback().break_glass("bgs-checkout"));
    assert_allowed(&verdict);
    assert_warned(
        &verdict,
        &[
            "environment production is frozen (freeze window \"db-upgrade\": database upgrade)",
            "release checkout-rollback is admitted under break-glass session bgs-checkout",
            "SEV1",
            "requested by oncall",
            "expires 2026-11-25T15:30:00Z",
            "every action is recorded",
        ],
    );
    assert_eq!(verdict.label(), "warned");
    assert_eq!(
        verdict.audit,
        [(
            "gitopshq.io/break-glass-session".to_string(),
            "bgs-checkout".to_string()
        )]
    );
    assert!(verdict.mutations.is_empty());

    // Deploy releases are admitted the same way.
    assert_allowed(&submit(&directory, &fix().break_glass("bgs-checkout")));
}

#[test]
fn the_mutating_webhook_attaches_the_covering_session() {
    let directory = with_sessions(vec![session("bgs-checkout")]);
    let release = rollback();
    let verdict = mutate(&directory, &release);
    assert_allowed(&verdict);
    assert_eq!(
        mutation(&verdict, "/spec/breakGlassSession"),
        Some(&json!("bgs-checkout"))
    );
    let attached = apply(&release, &verdict);
    assert_eq!(
        attached.spec.break_glass_session.as_deref(),
        Some("bgs-checkout")
    );
    assert_eq!(attached.spec.created_by.as_deref(), Some("oncall"));

    let verdict = submit(&directory, &attached);
    assert_allowed(&verdict);
    assert_warned(&verdict, &["under break-glass session bgs-checkout"]);
    assert_eq!(
        audit(&verdict, "gitopshq.io/break-glass-session"),
        Some("bgs-checkout")
    );

    // Also when a draft is submitted by an update.
    let mut draft = release.clone();
    draft.spec.submitted = false;
    let user = oncall();
    let verdict = mutate_release(
        &update(&user, &draft, &release),
        &directory,
        &crate::policy::PolicyEngine::default(),
        &Settings::default(),
    );
    assert_eq!(
        mutation(&verdict, "/spec/breakGlassSession"),
        Some(&json!("bgs-checkout"))
    );
}

#[test]
fn the_mutating_webhook_prefers_the_session_that_lasts_longest() {
    let short = session("bgs-short").lasting("1h");
    let long = session("bgs-long").lasting("3h");
    let everything = session("bgs-other")
        .scope_workloads(&["payment-api"])
        .lasting("4h");
    let directory = with_sessions(vec![short, long, everything]);
    let verdict = mutate(&directory, &rollback());
    assert_eq!(
        mutation(&verdict, "/spec/breakGlassSession"),
        Some(&json!("bgs-long"))
    );
}

#[test]
fn the_mutating_webhook_attaches_nothing_when_nothing_is_needed_or_nothing_covers() {
    // A session named by the client is left to the validating webhook.
    let directory = with_sessions(vec![session("bgs-checkout"), session("bgs-other")]);
    let named = rollback().break_glass("bgs-other");
    assert_eq!(
        mutation(&mutate(&directory, &named), "/spec/breakGlassSession"),
        None
    );

    // Not frozen: nothing to break.
    let staging = rollback().env("staging");
    let mut sessions = directory.clone();
    sessions.break_glass_sessions = vec![Arc::new(
        session("bgs-staging").scope_environments(&["staging"]),
    )];
    assert_eq!(
        mutation(&mutate(&sessions, &staging), "/spec/breakGlassSession"),
        None
    );

    // Sessions that do not cover, have expired or were closed are not attached.
    for session in [
        session("bgs-payment").scope_workloads(&["payment-api"]),
        session("bgs-staging").scope_environments(&["staging"]),
        session("bgs-old").created_at("2026-11-25T10:00:00Z"),
        session("bgs-closed").closed_with(Some("done")),
    ] {
        let directory = with_sessions(vec![session]);
        let verdict = mutate(&directory, &rollback());
        assert_eq!(mutation(&verdict, "/spec/breakGlassSession"), None);
        assert_denied(&submit(&directory, &rollback()), Rule::Frozen, &[FROZEN]);
    }

    // An unknown environment is the validating webhook's to report.
    let nowhere = rollback().env("qa");
    assert_eq!(
        mutation(&mutate(&directory, &nowhere), "/spec/breakGlassSession"),
        None
    );
}

#[test]
fn a_session_for_another_workload_does_not_admit() {
    let directory = with_sessions(vec![
        session("bgs-payment").scope_workloads(&["payment-api"]),
    ]);
    let verdict = submit(&directory, &rollback().break_glass("bgs-payment"));
    assert_denied(
        &verdict,
        Rule::BreakGlass,
        &[
            "release checkout-rollback denied",
            FROZEN,
            "break-glass session bgs-payment covers production/payment-api, not production/checkout-service",
            "open a BreakGlassSession covering production/checkout-service or wait for the window to end",
        ],
    );
    assert_eq!(Rule::BreakGlass.status_code(), 409);

    // Covering some of the workloads is not covering the release.
    let directory = with_sessions(vec![session("bgs-checkout")]);
    let both = rollback().change("payment-api").break_glass("bgs-checkout");
    assert_denied(
        &submit(&directory, &both),
        Rule::BreakGlass,
        &["covers production/checkout-service, not production/checkout-service,payment-api"],
    );
}

#[test]
fn a_session_for_another_environment_does_not_admit() {
    let staging_only = session("bgs-staging").scope_environments(&["staging"]);
    let directory = with_sessions(vec![staging_only]);
    let verdict = submit(&directory, &rollback().break_glass("bgs-staging"));
    assert_denied(
        &verdict,
        Rule::BreakGlass,
        &[
            "break-glass session bgs-staging covers staging/checkout-service, not production/checkout-service",
        ],
    );
}

#[test]
fn a_session_without_workloads_covers_every_workload_of_its_environments() {
    let wide = session("bgs-production")
        .scope_workloads(&[])
        .scope_environments(&["staging", "production"]);
    let directory = with_sessions(vec![wide]);
    let both = rollback()
        .change("payment-api")
        .break_glass("bgs-production");
    assert_allowed(&submit(&directory, &both));
    assert_eq!(
        mutation(&mutate(&directory, &rollback()), "/spec/breakGlassSession"),
        Some(&json!("bgs-production"))
    );
}

#[test]
fn an_expired_session_does_not_admit() {
    // Created 10:00 for 2h: over at 12:00.
    let old = session("bgs-checkout").created_at("2026-11-25T10:00:00Z");
    let verdict = submit(
        &with_sessions(vec![old]),
        &rollback().break_glass("bgs-checkout"),
    );
    assert_denied(
        &verdict,
        Rule::BreakGlass,
        &[
            FROZEN,
            "break-glass session bgs-checkout expired at 2026-11-25T12:00:00Z",
            "open a BreakGlassSession covering production/checkout-service",
        ],
    );

    // The recorded expiry wins over creation + duration.
    let cut_short = session("bgs-checkout")
        .status_times(Some("2026-11-25T11:30:00Z"), Some("2026-11-25T13:00:00Z"));
    let verdict = submit(
        &with_sessions(vec![cut_short]),
        &rollback().break_glass("bgs-checkout"),
    );
    assert_denied(
        &verdict,
        Rule::BreakGlass,
        &["break-glass session bgs-checkout expired at 2026-11-25T13:00:00Z"],
    );

    // Activation, when recorded, starts the clock instead of creation.
    let activated_early = session("bgs-checkout").status_times(Some("2026-11-25T11:00:00Z"), None);
    let verdict = submit(
        &with_sessions(vec![activated_early]),
        &rollback().break_glass("bgs-checkout"),
    );
    assert_denied(
        &verdict,
        Rule::BreakGlass,
        &["expired at 2026-11-25T13:00:00Z"],
    );

    // Over exactly at its end.
    let user = oncall();
    let release = rollback().break_glass("bgs-checkout");
    let directory = with_sessions(vec![session("bgs-checkout")]);
    let verdict = validate(
        &directory,
        &at(create(&user, &release), "2026-11-25T15:30:00Z"),
    );
    assert_denied(
        &verdict,
        Rule::BreakGlass,
        &["expired at 2026-11-25T15:30:00Z"],
    );
    let verdict = validate(
        &directory,
        &at(create(&user, &release), "2026-11-25T15:29:59Z"),
    );
    assert_allowed(&verdict);

    // The controller marked it Expired.
    let marked = session("bgs-checkout").status_phase(BreakGlassPhase::Expired);
    let verdict = submit(
        &with_sessions(vec![marked]),
        &rollback().break_glass("bgs-checkout"),
    );
    assert_denied(
        &verdict,
        Rule::BreakGlass,
        &["break-glass session bgs-checkout has expired"],
    );
}

#[test]
fn a_session_without_a_start_does_not_admit() {
    let mut unstarted = session("bgs-checkout");
    unstarted.metadata.creation_timestamp = None;
    let verdict = submit(
        &with_sessions(vec![unstarted]),
        &rollback().break_glass("bgs-checkout"),
    );
    assert_denied(
        &verdict,
        Rule::BreakGlass,
        &["break-glass session bgs-checkout has no valid duration or start time"],
    );
}

#[test]
fn a_closed_session_does_not_admit() {
    for closed in [
        session("bgs-checkout").closed_with(Some("rolled back")),
        session("bgs-checkout").status_phase(BreakGlassPhase::Closed),
    ] {
        let verdict = submit(
            &with_sessions(vec![closed]),
            &rollback().break_glass("bgs-checkout"),
        );
        assert_denied(
            &verdict,
            Rule::BreakGlass,
            &[FROZEN, "break-glass session bgs-checkout is closed"],
        );
    }
}

#[test]
fn a_missing_session_does_not_admit() {
    let verdict = submit(
        &with_sessions(vec![]),
        &rollback().break_glass("bgs-checkout"),
    );
    assert_denied(
        &verdict,
        Rule::BreakGlass,
        &["break-glass session bgs-checkout does not exist in this namespace"],
    );

    // Sessions of another project do not reach into this one.
    let mut foreign = session("bgs-checkout");
    foreign.metadata.namespace = Some("shop".into());
    let directory = with_sessions(vec![foreign]);
    let verdict = submit(&directory, &rollback().break_glass("bgs-checkout"));
    assert_denied(
        &verdict,
        Rule::BreakGlass,
        &["does not exist in this namespace"],
    );
    assert_eq!(
        mutation(&mutate(&directory, &rollback()), "/spec/breakGlassSession"),
        None
    );
}

#[test]
fn a_tenant_scoped_session_covers_only_its_tenants() {
    let acme_only = session("bgs-acme").scope_tenants(&["acme"]);
    let directory = with_sessions(vec![acme_only]);

    let to_acme = rollback().to_tenants(&["acme"]).break_glass("bgs-acme");
    assert_allowed(&submit(&directory, &to_acme));

    let to_both = rollback()
        .to_tenants(&["acme", "globex"])
        .break_glass("bgs-acme");
    assert_denied(
        &submit(&directory, &to_both),
        Rule::BreakGlass,
        &[
            "break-glass session bgs-acme covers production/checkout-service tenants acme, not production/checkout-service",
        ],
    );

    // Selectors are resolved against the project's tenants.
    let gold = rollback()
        .tenants_labelled("tier", "gold")
        .break_glass("bgs-acme");
    assert_allowed(&submit(&directory, &gold));
    let silver = rollback()
        .tenants_labelled("tier", "silver")
        .break_glass("bgs-acme");
    assert_denied(
        &submit(&directory, &silver),
        Rule::BreakGlass,
        &["tenants acme"],
    );

    // The mutating webhook attaches it only where it covers.
    let verdict = mutate(&directory, &rollback().to_tenants(&["acme"]));
    assert_eq!(
        mutation(&verdict, "/spec/breakGlassSession"),
        Some(&json!("bgs-acme"))
    );
    let verdict = mutate(&directory, &rollback().to_tenants(&["globex"]));
    assert_eq!(mutation(&verdict, "/spec/breakGlassSession"), None);
}

#[test]
fn a_tenant_scoped_session_does_not_cover_a_release_to_every_tenant() {
    // Without tenants or a selector, a release goes to every tenant of the environment: acme
    // and globex. A session for acme alone must not let it through.
    let directory = with_sessions(vec![session("bgs-acme").scope_tenants(&["acme"])]);
    let everywhere = rollback().break_glass("bgs-acme");
    assert_denied(
        &submit(&directory, &everywhere),
        Rule::BreakGlass,
        &["covers production/checkout-service tenants acme"],
    );
    assert_eq!(
        mutation(&mutate(&directory, &rollback()), "/spec/breakGlassSession"),
        None
    );

    // A session naming every tenant of the environment covers it.
    let directory = with_sessions(vec![session("bgs-all").scope_tenants(&["acme", "globex"])]);
    assert_allowed(&submit(&directory, &rollback().break_glass("bgs-all")));
}

#[test]
fn a_rollback_without_changes_touches_the_workloads_of_the_release_it_restores() {
    let restore = release("checkout-restore")
        .rollback_to("checkout-v1")
        .submitted()
        .created_by("oncall");

    let directory = with_sessions(vec![]);
    assert_denied(
        &submit(&directory, &restore),
        Rule::Frozen,
        &["open a BreakGlassSession covering production/checkout-service or wait"],
    );

    let directory = with_sessions(vec![session("bgs-checkout")]);
    let verdict = mutate(&directory, &restore);
    assert_eq!(
        mutation(&verdict, "/spec/breakGlassSession"),
        Some(&json!("bgs-checkout"))
    );
    assert_allowed(&submit(&directory, &apply(&restore, &verdict)));

    let directory = with_sessions(vec![
        session("bgs-payment").scope_workloads(&["payment-api"]),
    ]);
    assert_denied(
        &submit(&directory, &restore.clone().break_glass("bgs-payment")),
        Rule::BreakGlass,
        &["covers production/payment-api, not production/checkout-service"],
    );

    assert_eq!(
        release_workloads(&restore, &directory).unwrap(),
        ["checkout-service"]
    );
}

#[test]
fn a_rollback_to_a_missing_release_is_not_found() {
    let lost = release("checkout-restore")
        .rollback_to("checkout-v0")
        .submitted()
        .created_by("oncall");
    let words = [
        "release checkout-restore denied",
        "spec.rollbackTo.release \"checkout-v0\" does not exist in namespace payments",
        "kubectl get releases -n payments",
    ];
    assert_denied(
        &submit(&with_sessions(vec![]), &lost),
        Rule::NotFound,
        &words,
    );
    // Frozen or not.
    assert_denied(
        &submit(&with_sessions(vec![]), &lost.clone().env("staging")),
        Rule::NotFound,
        &words,
    );
    assert_eq!(
        release_workloads(&lost, &with_sessions(vec![]))
            .unwrap_err()
            .denial
            .unwrap()
            .rule,
        Rule::NotFound
    );
}

#[test]
fn recurring_windows_freeze_on_their_schedule_in_their_time_zone() {
    // Wednesdays from 13:00 Berlin time (12:00 UTC in November) for 6h.
    let mut directory = with_sessions(vec![]);
    directory.catalog.environments[0] = environment("production").frozen_every(
        "weekly-maintenance",
        "0 13 * * WED",
        "6h",
        Some("Europe/Berlin"),
    );
    let release = fix();
    let user = oncall();
    let verdict = validate(&directory, &create(&user, &release));
    assert_denied(
        &verdict,
        Rule::Frozen,
        &[
            FROZEN,
            "freeze window \"weekly-maintenance\"",
            "open a BreakGlassSession covering production/checkout-service or wait",
        ],
    );
    // Thursday is open; Wednesday before 12:00 UTC too.
    for now in ["2026-11-26T14:00:00Z", "2026-11-25T11:59:00Z"] {
        assert_allowed(&validate(&directory, &at(create(&user, &release), now)));
    }
    // Last Wednesday's window is over.
    assert_allowed(&validate(
        &directory,
        &at(create(&user, &release), "2026-11-18T18:30:00Z"),
    ));
}

#[test]
fn recurring_windows_without_a_time_zone_use_the_operator_default() {
    let mut directory = with_sessions(vec![]);
    directory.catalog.environments[0] =
        environment("production").frozen_every("lunch", "0 12 * * *", "6h", None);
    let release = fix();
    let user = oncall();
    let req = create(&user, &release);
    let utc = validate_release(&req, &directory, &engine(), &Settings::default());
    assert_denied(&utc, Rule::Frozen, &[FROZEN, "\"lunch\""]);

    // Noon in New York is 17:00 UTC: open at 14:00 UTC, frozen at 17:30 UTC.
    let new_york = Settings {
        default_time_zone: "America/New_York".into(),
        ..Settings::default()
    };
    assert_allowed(&validate_release(&req, &directory, &engine(), &new_york));
    let verdict = validate_release(
        &at(req, "2026-11-25T17:30:00Z"),
        &directory,
        &engine(),
        &new_york,
    );
    assert_denied(
        &verdict,
        Rule::Frozen,
        &["environment production is frozen until 2026-11-25T23:00:00Z"],
    );
}

#[test]
fn a_release_into_an_unknown_environment_is_not_found() {
    let verdict = submit(&with_sessions(vec![]), &fix().env("qa"));
    assert_denied(
        &verdict,
        Rule::NotFound,
        &[
            "release checkout-fix denied",
            "spec.environment \"qa\" does not exist",
            "kubectl get environments",
        ],
    );
    assert_eq!(Rule::NotFound.status_code(), 422);
}

#[test]
fn a_release_into_an_environment_with_broken_windows_is_invalid() {
    let mut directory = with_sessions(vec![]);
    directory.catalog.environments[0] =
        environment("production").frozen_every("bad", "not a cron", "1h", None);
    assert_denied(
        &submit(&directory, &fix()),
        Rule::Invalid,
        &[
            "release checkout-fix denied",
            "freeze window bad",
            "fix the Environment before releasing into it",
        ],
    );
}

#[test]
fn a_session_named_outside_a_freeze_is_judged_too_and_recorded_with_a_warning() {
    // Naming a session lifts the approval gate even without a freeze, so a session that does
    // not exist (or grants nothing) is refused instead of being recorded (see approval_bypass).
    let directory = with_sessions(vec![]);
    assert_denied(
        &submit(
            &directory,
            &rollback().env("staging").break_glass("bgs-anything"),
        ),
        Rule::BreakGlass,
        &[
            "release checkout-rollback denied: spec.breakGlassSession: break-glass session bgs-anything does not exist in this namespace",
        ],
    );
    let directory = with_sessions(vec![
        session("bgs-staging").scope_environments(&["staging"]),
    ]);
    let verdict = submit(
        &directory,
        &rollback().env("staging").break_glass("bgs-staging"),
    );
    assert_allowed(&verdict);
    assert_warned(
        &verdict,
        &[
            "admitted under break-glass session bgs-staging",
            "its ApprovalPolicy is bypassed",
        ],
    );
    assert_eq!(
        audit(&verdict, "gitopshq.io/break-glass-session"),
        Some("bgs-staging")
    );
}
