//! Seed scenario 8 with the controllers: production is frozen, a rollback is refused with the
//! window and the next step; the SRE opens a break-glass session, the rollback is admitted and
//! delivered as a new commit that restores the known-good content, every action is recorded in
//! the session, and closing (or expiry) seals it.

use gitopshq_e2e::{Platform, git};

const NS: &str = "payment-service";

/// `10-freeze.yaml` with its window moved around now.
fn freeze_now(platform: &Platform) -> String {
    let now = jiff::Timestamp::now();
    let start = now - jiff::SignedDuration::from_hours(1);
    let end = now + jiff::SignedDuration::from_hours(2);
    platform
        .example(&["break-glass/10-freeze.yaml"])
        .replace(
            "2026-11-25T12:00:00Z",
            &start.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
        .replace(
            "2026-11-25T18:00:00Z",
            &end.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_under_freeze_is_delivered_under_break_glass_and_recorded() {
    let platform = Platform::start().await;
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
        checkout_tree(&platform, &good),
        checkout_tree(&platform, &bad)
    );

    // Production freezes.
    platform.apply("admin", &freeze_now(&platform));
    platform.wait_for(
        None,
        "environment",
        "production",
        "{.status.frozen}",
        "true",
    );

    // bob (sre-team) may roll back, but the freeze refuses it with the next step.
    let rollback = platform.example(&["break-glass/30-rollback.yaml"]);
    let refused = platform.apply_refused("bob", &rollback);
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

    let admitted = platform.apply("bob", &rollback);
    assert!(
        admitted.contains("admitted under break-glass session inc-2847"),
        "{admitted}"
    );
    platform.wait_delivered(NS, "rollback-to-rel-2846");
    let restored = platform.get(
        Some(NS),
        "release",
        "rollback-to-rel-2846",
        "{.status.commit}",
    );
    assert_eq!(
        checkout_tree(&platform, &restored),
        checkout_tree(&platform, &good),
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
        commits.iter().skip(1).any(|c| c.starts_with(&bad)),
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

    // The session recorded the submission and the delivery.
    platform.wait_until(
        Some(NS),
        "breakglasssession",
        "inc-2847",
        "{.status.actions[*].operation}",
        |ops| {
            ops.contains("submitted Rollback release rollback-to-rel-2846")
                && ops.contains("delivered release rollback-to-rel-2846 as commit")
        },
        "the submission and the delivery",
    );

    // Closing needs a note; then the record is sealed.
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
    let digest = platform.wait_until(
        Some(NS),
        "breakglasssession",
        "inc-2847",
        "{.status.sealedDigest}",
        |d| d.starts_with("sha256:"),
        "a seal",
    );

    // A session nobody closes expires and is sealed too.
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
    platform.stop().await;
}
