//! Seed scenario 8 with the controllers: production is frozen and its rollbacks need two
//! approvals; a rollback is refused with the window and the next step; the SRE opens a
//! break-glass session, the rollback is admitted and delivered without any approval (its
//! ApprovalRequest is marked Bypassed with the session) as a new commit that restores the
//! known-good content, every action is recorded in the session, and closing (or expiry) seals
//! it. A release manager who may roll back but not open sessions cannot ride the SRE's session.
//! `gitopshq audit report --breakglass` then writes the post-incident report of the session.

use gitopshq_e2e::{Platform, git};

const NS: &str = "payment-service";

/// The files of the checkout-service folder of tenant eu-checkout at `commit`.
fn checkout_tree(platform: &Platform, commit: &str) -> String {
    git(
        platform.dir(),
        &[
            "--git-dir",
            &platform.repository.display().to_string(),
            "ls-tree",
            "-r",
            commit,
            "projects/payment-service/production/eu-checkout/checkout-service/",
        ],
    )
}

/// Rollbacks into production need two approvals from different teams.
const ROLLBACK_APPROVALS: &str = r#"apiVersion: gitopshq.io/v1alpha1
kind: ApprovalPolicy
metadata:
  name: production-rollbacks
spec:
  environments: [production]
  releaseTypes: [Rollback]
  minApprovals: 2
  distinctTeams: true
"#;

/// backend-team may roll back in production (a grant made by hand, as for a ServiceAccount),
/// but holds no `break-glass` grant.
const BACKEND_ROLLBACKS: &str = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: production-rollback
  namespace: payment-service
rules:
  - apiGroups: [gitopshq.io]
    resources: [environments]
    resourceNames: [production]
    verbs: [rollback]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: production-rollback-backend-team
  namespace: payment-service
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: production-rollback
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: Group
    name: backend-team
"#;

/// Applies `yaml` as `user` until it is refused with a message holding `want` (a new grant
/// reaches the API server's authorizer within moments); returns that message.
fn refused_with(platform: &Platform, user: &str, yaml: &str, want: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let refused = platform.apply_refused(user, yaml);
        if refused.contains(want) || std::time::Instant::now() > deadline {
            return refused;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_under_freeze_is_delivered_under_break_glass_and_recorded() {
    let platform = Platform::start().await;
    let commits = a_good_then_a_bad_release_are_delivered(&platform);
    production_freezes_and_its_rollbacks_need_two_approvals(&platform);
    let rollback = platform.example(&["break-glass/30-rollback.yaml"]);
    the_rollback_is_refused_under_the_freeze_and_alice_may_not_open_a_session(&platform, &rollback);
    bob_opens_a_break_glass_session(&platform);
    alice_may_not_ride_bobs_session(&platform, &rollback);
    the_rollback_is_admitted_under_the_session_and_its_approvals_bypassed(&platform, &rollback);
    let restored = the_rollback_restores_the_good_content_as_a_new_commit(&platform, &commits);
    the_session_records_the_rollback_but_not_the_refused_release(&platform);
    let digest = closing_the_session_needs_a_note_and_seals_it(&platform);
    the_post_incident_report_covers_the_session_and_the_rollback(&platform, &restored);
    a_session_nobody_closes_expires_and_is_sealed_too(&platform, &digest);
    platform.stop().await;
}

/// The commits of the known-good release and of the bad one that followed it.
struct Commits {
    good: String,
    bad: String,
}

fn a_good_then_a_bad_release_are_delivered(platform: &Platform) -> Commits {
    platform.apply("admin", &platform.example(&["bootstrap"]));
    platform.wait_for(None, "project", NS, "{.status.phase}", "Ready");

    // Known good, then the bad release.
    platform.apply(
        "admin",
        &platform.example(&["break-glass/20-checkout-service.yaml"]),
    );
    platform.wait_delivered(NS, "rel-2846");
    let good = platform.get(Some(NS), "release", "rel-2846", "{.status.commit}");
    platform.apply(
        "admin",
        &platform.example(&["break-glass/25-bad-release.yaml"]),
    );
    platform.wait_delivered(NS, "rel-2847");
    platform.wait_for(
        Some(NS),
        "release",
        "rel-2846",
        "{.status.phase}",
        "Superseded",
    );
    let bad = platform.get(Some(NS), "release", "rel-2847", "{.status.commit}");
    assert_ne!(
        checkout_tree(platform, &good),
        checkout_tree(platform, &bad)
    );
    Commits { good, bad }
}

/// Production rollbacks need two approvals from different teams; production freezes.
fn production_freezes_and_its_rollbacks_need_two_approvals(platform: &Platform) {
    platform.apply("admin", ROLLBACK_APPROVALS);
    platform.freeze_production_now();
}

fn the_rollback_is_refused_under_the_freeze_and_alice_may_not_open_a_session(
    platform: &Platform,
    rollback: &str,
) {
    // bob (sre-team) may roll back, but the freeze refuses it with the next step.
    let refused = platform.apply_refused("bob", rollback);
    assert!(
        refused.contains("environment production is frozen until")
            && refused
                .contains("open a BreakGlassSession covering production/checkout-service or wait"),
        "{refused}"
    );
    // alice (backend-team) may not open a session at all: not permitted, by RBAC.
    let not_permitted = platform.apply_refused(
        "alice",
        &platform.example(&["break-glass/40-break-glass.yaml"]),
    );
    assert!(
        not_permitted.contains("Forbidden")
            && not_permitted.contains("cannot create resource \"breakglasssessions\""),
        "{not_permitted}"
    );
}

fn bob_opens_a_break_glass_session(platform: &Platform) {
    let opened = platform.apply(
        "bob",
        &platform.example(&["break-glass/40-break-glass.yaml"]),
    );
    assert!(
        opened.contains("every action under it is recorded"),
        "{opened}"
    );
    platform.wait_for(
        Some(NS),
        "breakglasssession",
        "inc-2847",
        "{.status.phase}",
        "Active",
    );
    assert_eq!(
        platform.get(
            Some(NS),
            "breakglasssession",
            "inc-2847",
            "{.spec.requestedBy}"
        ),
        "bob"
    );
}

/// alice (backend-team) is given the rollback grant in production by hand, but not
/// break-glass: naming bob's session to skip the freeze and the approvals is refused, and
/// without it the freeze refuses her and says who may act under the session.
fn alice_may_not_ride_bobs_session(platform: &Platform, rollback: &str) {
    platform.apply("admin", BACKEND_ROLLBACKS);
    let riding = rollback
        .replace("name: rollback-to-rel-2846", "name: alice-rollback")
        .replace(
            "  submitted: true",
            "  submitted: true\n  breakGlassSession: inc-2847",
        );
    let refused = refused_with(
        platform,
        "alice",
        &riding,
        "spec.breakGlassSession names break-glass session inc-2847, but alice",
    );
    assert!(
        refused.contains("release alice-rollback denied")
            && refused.contains("spec.breakGlassSession names break-glass session inc-2847, but alice (groups: backend-team) may not open break-glass sessions for production")
            && refused.contains("remove spec.breakGlassSession and let the release be approved"),
        "{refused}"
    );
    let frozen = platform.apply_refused(
        "alice",
        &rollback.replace("name: rollback-to-rel-2846", "name: alice-rollback"),
    );
    assert!(
        frozen.contains("environment production is frozen until")
            && frozen.contains("break-glass session inc-2847 covers it, but only someone who may open break-glass sessions for production may release under it: ask bob to submit it"),
        "{frozen}"
    );
}

fn the_rollback_is_admitted_under_the_session_and_its_approvals_bypassed(
    platform: &Platform,
    rollback: &str,
) {
    let admitted = platform.apply("bob", rollback);
    assert!(
        admitted.contains("admitted under break-glass session inc-2847")
            && admitted.contains("its ApprovalPolicy is bypassed"),
        "{admitted}"
    );
    // Nobody approves: the session lifts the two-approval gate.
    platform.wait_delivered(NS, "rollback-to-rel-2846");
    platform.wait_for(
        Some(NS),
        "approvalrequest",
        "rollback-to-rel-2846",
        "{.status.phase}",
        "Bypassed",
    );
    let request_message = platform.get(
        Some(NS),
        "approvalrequest",
        "rollback-to-rel-2846",
        "{.status.message}",
    );
    assert!(
        request_message.starts_with("approval bypassed by break-glass session inc-2847 (SEV1, opened by bob: \"P1 incident: checkout-service returning 500 errors")
            && request_message.contains("ApprovalPolicy production-rollbacks would require 2 approvals"),
        "{request_message}"
    );
    assert_eq!(
        platform.get(
            Some(NS),
            "approvalrequest",
            "rollback-to-rel-2846",
            "{.spec.policy}/{.spec.decisions[*].user}/{.status.received}/{.status.required}"
        ),
        "production-rollbacks//0/2",
        "no decision was made"
    );
    assert_eq!(
        platform.get(
            Some(NS),
            "release",
            "rollback-to-rel-2846",
            "{.status.approvals.summary}/{.status.conditions[?(@.type==\"Approved\")].reason}"
        ),
        "bypassed/ApprovalBypassed"
    );
    let bypass = platform.get(
        Some(NS),
        "release",
        "rollback-to-rel-2846",
        "{.status.timeline[?(@.phase==\"Approved\")].actor}: {.status.timeline[?(@.phase==\"Approved\")].message}",
    );
    assert!(
        bypass.starts_with("bob: approval bypassed by break-glass session inc-2847"),
        "{bypass}"
    );
}

/// Returns the rollback's commit.
fn the_rollback_restores_the_good_content_as_a_new_commit(
    platform: &Platform,
    commits: &Commits,
) -> String {
    let Commits { good, bad } = commits;
    let restored = platform.get(
        Some(NS),
        "release",
        "rollback-to-rel-2846",
        "{.status.commit}",
    );
    assert_eq!(
        checkout_tree(platform, &restored),
        checkout_tree(platform, good),
        "the rollback restores REL-2846's content"
    );
    let commits = platform.commits();
    let delivery = &commits[0];
    assert!(delivery.starts_with(&restored));
    for trailer in [
        "Roll checkout-service back to REL-2846",
        "GitOpsHQ-Break-Glass: payment-service/inc-2847",
        &format!("GitOpsHQ-Rollback-To: payment-service/rel-2846@{good}"),
        "GitOpsHQ-Release-Type: Rollback",
        "GitOpsHQ-Created-By: bob",
    ] {
        assert!(
            delivery.contains(trailer),
            "{trailer} missing in\n{delivery}"
        );
    }
    assert!(
        commits.iter().skip(1).any(|c| c.starts_with(bad)),
        "history is kept"
    );
    assert_eq!(
        platform.get(
            Some(NS),
            "release",
            "rollback-to-rel-2846",
            "{.status.breakGlassSession}"
        ),
        "inc-2847"
    );
    restored
}

/// The session recorded the submission, the approvals it bypassed and the delivery.
fn the_session_records_the_rollback_but_not_the_refused_release(platform: &Platform) {
    platform.wait_until(
        Some(NS),
        "breakglasssession",
        "inc-2847",
        "{.status.actions[*].operation}",
        |ops| {
            ops.contains("submitted Rollback release rollback-to-rel-2846")
                && ops.contains("bypassed the approval gate of release rollback-to-rel-2846 (2 approvals required by its ApprovalPolicy)")
                && ops.contains("delivered release rollback-to-rel-2846 as commit")
        },
        "the submission, the approvals bypassed and the delivery",
    );
    assert!(
        !platform
            .get(
                Some(NS),
                "breakglasssession",
                "inc-2847",
                "{.status.actions[*].release}"
            )
            .contains("alice-rollback"),
        "a refused release is no action under the session"
    );
}

/// Closing needs a note; then the record is sealed. Returns the seal.
fn closing_the_session_needs_a_note_and_seals_it(platform: &Platform) -> String {
    let close = |note: &str| {
        let body = if note.is_empty() {
            r#"{"spec":{"closed":true}}"#.to_string()
        } else {
            format!(r#"{{"spec":{{"closed":true,"closingNote":"{note}"}}}}"#)
        };
        platform
            .kubectl("bob")
            .args([
                "-n",
                NS,
                "patch",
                "breakglasssession",
                "inc-2847",
                "--type=merge",
                "-p",
                &body,
            ])
            .output()
            .expect("kubectl runs")
    };
    assert!(!close("").status.success());
    assert!(
        close("Rollback to REL-2846 successful. Error rate at baseline.")
            .status
            .success()
    );
    platform.wait_for(
        Some(NS),
        "breakglasssession",
        "inc-2847",
        "{.status.phase}",
        "Closed",
    );
    platform.wait_until(
        Some(NS),
        "breakglasssession",
        "inc-2847",
        "{.status.sealedDigest}",
        |d| d.starts_with("sha256:"),
        "a seal",
    )
}

/// The post-incident report: every section, the rollback (delivered as `restored`) and its
/// outcome.
fn the_post_incident_report_covers_the_session_and_the_rollback(
    platform: &Platform,
    restored: &str,
) {
    platform.wait_for(
        Some(NS),
        "release",
        "rollback-to-rel-2846",
        "{.status.phase}",
        "Healthy",
    );
    let report_file = platform.dir().join("inc-2847.md");
    platform.gitopshq_as(
        "bob",
        &[
            "audit",
            "report",
            "--breakglass",
            "inc-2847",
            "-n",
            NS,
            "--output",
            &report_file.display().to_string(),
        ],
    );
    let report = std::fs::read_to_string(&report_file).expect("the report is written");
    let mut at = 0;
    for heading in [
        "# Post-incident report: break-glass session inc-2847\n",
        "## Summary\n",
        "## Justification\n",
        "## Actions\n",
        "## Releases\n",
        "## Closing note\n",
        "## Root cause\n\n\n",
        "## Preventive actions\n",
    ] {
        let found = report[at..]
            .find(heading)
            .unwrap_or_else(|| panic!("{heading:?} missing or out of order in\n{report}"));
        at += found + heading.len();
    }
    let short = &restored[..12];
    for line in [
        "| Severity | SEV1 |",
        "| Requested by | bob |",
        "| Incident | https://status.example.com/incidents/2847 |",
        "| Resolved | ",
        "(session closed) |",
        "| Time to resolve | ",
        "> P1 incident: checkout-service returning 500 errors at 40% rate",
        "| bob | Opened | breakglasssession/inc-2847 |",
        "| bob | ApprovalBypassed | release/rollback-to-rel-2846 |",
        "| Closed | breakglasssession/inc-2847 | closing note: Rollback to REL-2846 successful.",
        &format!(
            "| rollback-to-rel-2846 | Rollback | production | Healthy | {short} | bypassed (break-glass session inc-2847) | Roll checkout-service back to REL-2846 |"
        ),
        "> Rollback to REL-2846 successful. Error rate at baseline.",
    ] {
        assert!(report.contains(line), "{line:?} missing in\n{report}");
    }
    assert!(
        report.contains("| Action: ") && report.contains("rollback-to-rel-2846 under the session"),
        "the session's own actions are listed:\n{report}"
    );
    assert!(
        !report.contains("alice-rollback"),
        "a refused release is not in the report:\n{report}"
    );
}

/// A session nobody closes expires and is sealed too; the closed session keeps its `digest`.
fn a_session_nobody_closes_expires_and_is_sealed_too(platform: &Platform, digest: &str) {
    let short = platform
        .example(&["break-glass/40-break-glass.yaml"])
        .replace("name: inc-2847", "name: inc-2848")
        .replace("duration: 1h", "duration: 3s");
    platform.apply("bob", &short);
    platform.wait_for(
        Some(NS),
        "breakglasssession",
        "inc-2848",
        "{.status.phase}",
        "Expired",
    );
    platform.wait_until(
        Some(NS),
        "breakglasssession",
        "inc-2848",
        "{.status.sealedDigest}",
        |d| d.starts_with("sha256:"),
        "a seal",
    );
    assert_eq!(
        platform.get(
            Some(NS),
            "breakglasssession",
            "inc-2847",
            "{.status.sealedDigest}"
        ),
        digest,
        "a seal never changes"
    );
}
