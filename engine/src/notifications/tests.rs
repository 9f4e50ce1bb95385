use gitopshq_crds::break_glass_session::{BreakGlassScope, BreakGlassSessionSpec, Severity};
use gitopshq_crds::notification_channel::UrlSecretRef;
use gitopshq_crds::release::{ApprovalProgress, ReleaseSpec, TimelineEntry};

use super::*;

fn now() -> Timestamp {
    "2026-12-01T12:00:00Z".parse().unwrap()
}

fn release() -> Release {
    let mut r = Release::new(
        "payment-api-production-954b378c375d",
        ReleaseSpec {
            title: "Auto: image update to v2.4.0".into(),
            environment: "production".into(),
            submitted: true,
            created_by: Some("system:serviceaccount:gitopshq-system:gitopshq".into()),
            ..ReleaseSpec::default()
        },
    );
    r.metadata.namespace = Some("payment-service".into());
    r
}

fn pending() -> ReleaseStatus {
    ReleaseStatus {
        phase: Some(ReleasePhase::PendingApproval),
        message: Some("waiting for 2 approvals: kubectl gitopshq approve …".into()),
        approvals: Some(ApprovalProgress {
            required: 2,
            received: 1,
            missing: vec!["needs a team other than backend-team".into()],
            ..ApprovalProgress::default()
        }),
        timeline: vec![TimelineEntry {
            time: Time(now()),
            phase: ReleasePhase::PendingApproval,
            message: None,
            actor: Some("alice".into()),
        }],
        ..ReleaseStatus::default()
    }
}

fn notification() -> Notification {
    for_release(
        NotificationEvent::ReleasePendingApproval,
        &release(),
        &pending(),
        Some("https://git.example.com/platform/gitops/commit/abc".into()),
        now(),
    )
}

fn channel(events: &[NotificationEvent], projects: &[&str]) -> NotificationChannelSpec {
    NotificationChannelSpec {
        type_: ChannelType::Slack,
        url_secret_ref: UrlSecretRef {
            name: "slack-releases".into(),
            ..UrlSecretRef::default()
        },
        events: events.to_vec(),
        projects: projects.iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn a_channel_wants_its_events_of_its_projects() {
    let n = notification();
    assert!(wants(
        &channel(&[NotificationEvent::ReleasePendingApproval], &[]),
        &n
    ));
    assert!(wants(
        &channel(
            &[NotificationEvent::ReleasePendingApproval],
            &["payment-service"]
        ),
        &n
    ));
    assert!(!wants(
        &channel(&[NotificationEvent::ReleasePendingApproval], &["web-app"]),
        &n
    ));
    assert!(!wants(
        &channel(&[NotificationEvent::ReleaseDeployed], &[]),
        &n
    ));
}

#[test]
fn release_phases_raise_their_events() {
    use NotificationEvent as E;
    for (phase, event) in [
        (
            ReleasePhase::PendingApproval,
            Some(E::ReleasePendingApproval),
        ),
        (ReleasePhase::Deployed, Some(E::ReleaseDeployed)),
        (ReleasePhase::Healthy, Some(E::ReleaseHealthy)),
        (ReleasePhase::Failed, Some(E::ReleaseFailed)),
        (ReleasePhase::Degraded, Some(E::ReleaseFailed)),
        (ReleasePhase::Approved, None),
        (ReleasePhase::Deploying, None),
        (ReleasePhase::Draft, None),
    ] {
        assert_eq!(release_event(phase), event, "{phase:?}");
    }
}

#[test]
fn a_release_notification_carries_title_environment_phase_approvals_and_actor() {
    let n = notification();
    assert_eq!(
        n.headline(),
        "Release waiting for approval: Auto: image update to v2.4.0"
    );
    assert_eq!(n.environment.as_deref(), Some("production"));
    assert_eq!(n.phase.as_deref(), Some("PendingApproval"));
    assert_eq!(
        n.approvals.as_deref(),
        Some("1 of 2 approvals received; needs a team other than backend-team")
    );
    assert_eq!(n.actor.as_deref(), Some("alice"));
    assert_eq!(
        n.command(),
        "kubectl gitopshq status payment-api-production-954b378c375d -n payment-service"
    );
}

#[test]
fn slack_gets_blocks_with_a_header_facts_and_a_button() {
    let body = payload(ChannelType::Slack, &notification());
    assert_eq!(
        body["text"],
        "Release waiting for approval: Auto: image update to v2.4.0 (payment-service, production)"
    );
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(
        blocks[0]["text"]["text"],
        "Release waiting for approval: Auto: image update to v2.4.0"
    );
    assert_eq!(blocks[1]["type"], "section");
    let fields: Vec<&str> = blocks[1]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["type"], "mrkdwn");
            f["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        fields,
        [
            "*Project*\npayment-service",
            "*Environment*\nproduction",
            "*Phase*\nPendingApproval",
            "*Approvals*\n1 of 2 approvals received; needs a team other than backend-team",
            "*By*\nalice",
        ]
    );
    assert_eq!(blocks[2]["type"], "section");
    assert_eq!(blocks[3]["type"], "context");
    let actions = blocks.last().unwrap();
    assert_eq!(actions["type"], "actions");
    assert_eq!(
        actions["elements"][0]["url"],
        "https://git.example.com/platform/gitops/commit/abc"
    );
}

#[test]
fn slack_text_is_escaped_and_clipped_to_its_limits() {
    let mut n = notification();
    n.title = format!("<!channel> & {}", "x".repeat(400));
    let body = slack(&n);
    let header = body["blocks"][0]["text"]["text"].as_str().unwrap();
    assert_eq!(header.chars().count(), SLACK_HEADER);
    assert!(header.ends_with('…'));
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("&lt;!channel&gt; &amp; "), "{text}");
    assert!(!text.contains("<!channel>"));
}

#[test]
fn teams_gets_an_adaptive_card() {
    let body = payload(ChannelType::Teams, &notification());
    assert_eq!(body["type"], "message");
    let attachment = &body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert_eq!(card["body"][0]["type"], "TextBlock");
    assert_eq!(card["body"][1]["type"], "FactSet");
    assert_eq!(card["body"][1]["facts"][1]["title"], "Environment");
    assert_eq!(card["body"][1]["facts"][1]["value"], "production");
    assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
}

#[test]
fn a_webhook_gets_the_event_as_json_and_a_verifiable_signature() {
    let body = payload(ChannelType::Webhook, &notification());
    assert_eq!(body["kind"], "Notification");
    assert_eq!(body["event"], "ReleasePendingApproval");
    assert_eq!(
        body["object"],
        json!({"kind": "Release", "name": "payment-api-production-954b378c375d"})
    );
    assert_eq!(body["time"], "2026-12-01T12:00:00Z");
    let bytes = serde_json::to_vec(&body).unwrap();
    let [(ts_name, ts), (sig_name, sig)] = signature_headers(b"key", &bytes, now());
    assert_eq!(ts_name, TIMESTAMP_HEADER);
    assert_eq!(sig_name, SIGNATURE_HEADER);
    assert_eq!(ts, now().as_second().to_string());
    // The generic registry source verifies the same scheme.
    let headers = vec![
        (TIMESTAMP_HEADER.to_string(), ts),
        (SIGNATURE_HEADER.to_string(), sig),
    ];
    let delivery = crate::registry_events::Delivery {
        source: crate::registry_events::Source::Generic,
        headers: &headers,
        path_token: None,
        query_token: None,
        body: &bytes,
    };
    assert!(crate::registry_events::authenticate(&delivery, b"key", now()).is_ok());
    assert!(crate::registry_events::authenticate(&delivery, b"other", now()).is_err());
}

#[test]
fn commit_links_for_https_remotes_without_credentials() {
    assert_eq!(
        commit_link("https://github.com/acme/gitops.git", "abc123").as_deref(),
        Some("https://github.com/acme/gitops/commit/abc123")
    );
    assert_eq!(
        commit_link("https://bot:token@git.example.com/platform/gitops/", "abc").as_deref(),
        Some("https://git.example.com/platform/gitops/commit/abc")
    );
    assert_eq!(commit_link("file:///tmp/gitops.git", "abc"), None);
    assert_eq!(commit_link("git@github.com:acme/gitops.git", "abc"), None);
    assert_eq!(commit_link("https://github.com/acme/gitops", ""), None);
}

#[test]
fn break_glass_sessions_notify_opening_and_closing() {
    let mut session = BreakGlassSession::new(
        "inc-2847",
        BreakGlassSessionSpec {
            justification: "checkout is failing for every EU customer".into(),
            severity: Severity::SEV1,
            scope: BreakGlassScope {
                environments: vec!["production".into()],
                workloads: vec!["checkout-service".into()],
                tenants: vec![],
            },
            duration: "1h".into(),
            incident_url: Some("https://status.example.com/2847".into()),
            requested_by: Some("bob".into()),
            ..BreakGlassSessionSpec::default()
        },
    );
    session.metadata.namespace = Some("payment-service".into());
    let active = BreakGlassSessionStatus {
        phase: Some(BreakGlassPhase::Active),
        ..BreakGlassSessionStatus::default()
    };
    let opened = for_session(&session, &active, now()).unwrap();
    assert_eq!(opened.event, NotificationEvent::BreakGlassOpened);
    assert_eq!(opened.title, "inc-2847 SEV1 on production/checkout-service");
    assert_eq!(
        opened.link.as_deref(),
        Some("https://status.example.com/2847")
    );
    assert_eq!(opened.actor.as_deref(), Some("bob"));
    assert_eq!(
        opened.command(),
        "kubectl -n payment-service get breakglasssession inc-2847"
    );
    let expired = BreakGlassSessionStatus {
        phase: Some(BreakGlassPhase::Expired),
        ..BreakGlassSessionStatus::default()
    };
    let closed = for_session(&session, &expired, now()).unwrap();
    assert_eq!(closed.event, NotificationEvent::BreakGlassClosed);
    assert_eq!(
        closed.message.as_deref(),
        Some("expired without a closing note (0 action(s) recorded)")
    );
    assert!(for_session(&session, &BreakGlassSessionStatus::default(), now()).is_none());
}

#[test]
fn drift_notifications_name_what_drifted() {
    let status = ReleaseStatus {
        phase: Some(ReleasePhase::Healthy),
        ..ReleaseStatus::default()
    };
    let n = for_drift(
        &release(),
        &status,
        "Deployment payments/payment-api changed outside Git",
        None,
        now(),
    );
    assert_eq!(n.event, NotificationEvent::DriftDetected);
    assert_eq!(
        n.message.as_deref(),
        Some("Deployment payments/payment-api changed outside Git")
    );
    assert_eq!(n.headline(), "Drift detected: Auto: image update to v2.4.0");
}

#[test]
fn backoff_doubles_to_its_cap_and_jitter_takes_up_to_half() {
    let backoff = Backoff {
        attempts: 4,
        initial: Duration::from_secs(1),
        max: Duration::from_secs(5),
    };
    let plain: Vec<u64> = (1..=5).map(|a| backoff.delay(a, 0.0).as_secs()).collect();
    assert_eq!(plain, [1, 2, 4, 5, 5]);
    assert_eq!(backoff.delay(2, 1.0), Duration::from_secs(1));
    assert_eq!(backoff.delay(3, 0.5), Duration::from_secs(3));
    // Out-of-range jitter is clamped, NaN ignored, huge attempts do not overflow.
    assert_eq!(backoff.delay(1, 7.0), Duration::from_millis(500));
    assert_eq!(backoff.delay(1, f64::NAN), Duration::from_secs(1));
    assert_eq!(backoff.delay(u32::MAX, 0.0), Duration::from_secs(5));
    for jitter in [0.0, 0.25, 0.5, 0.75, 1.0] {
        for attempt in 1..=6 {
            let d = backoff.delay(attempt, jitter);
            let full = backoff.delay(attempt, 0.0);
            assert!(d <= full && d >= full / 2, "{attempt} {jitter}: {d:?}");
        }
    }
    assert!(backoff.retries_after(1));
    assert!(backoff.retries_after(3));
    assert!(!backoff.retries_after(4));
    let once = Backoff {
        attempts: 0,
        ..backoff
    };
    assert!(!once.retries_after(1));
}

#[test]
fn failures_record_the_error_and_dead_letter_when_given_up() {
    let n = notification();
    let start = NotificationChannelStatus::default();
    let first = failed(
        &start,
        &n,
        "uid-1/ReleasePendingApproval/1",
        Failure {
            error: "HTTP 500 from the receiver",
            attempts: 1,
            given_up: false,
        },
        Some(3),
        now(),
    );
    assert_eq!(
        first.last_error.as_deref(),
        Some(
            "ReleasePendingApproval for Release payment-service/payment-api-production-954b378c375d: attempt 1 failed: HTTP 500 from the receiver"
        )
    );
    assert!(first.conditions.is_empty(), "no verdict before giving up");
    assert!(
        first.handled_transitions.is_empty(),
        "not handled before giving up"
    );
    let later = now() + jiff::SignedDuration::from_secs(30);
    let dead = failed(
        &first,
        &n,
        "uid-1/ReleasePendingApproval/1",
        Failure {
            error: "HTTP 500 from the receiver",
            attempts: 5,
            given_up: true,
        },
        Some(3),
        later,
    );
    let ready = &dead.conditions[0];
    assert_eq!(ready.type_, types::READY);
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason, reasons::DEAD_LETTER);
    assert!(ready.message.starts_with("gave up after 5 attempts: "));
    assert!(ready.message.contains("fix the URL Secret"));
    assert_eq!(ready.observed_generation, Some(3));
    assert_eq!(dead.handled_transitions, ["uid-1/ReleasePendingApproval/1"]);

    let recovered = sent(&dead, &n, "uid-2/ReleaseDeployed/2", Some(3), later);
    assert_eq!(recovered.last_error, None);
    assert_eq!(recovered.last_sent_time, Some(Time(later)));
    let ready = &recovered.conditions[0];
    assert_eq!(ready.status, "True");
    assert_eq!(ready.reason, reasons::SENT);
    assert_eq!(
        ready.message,
        "ReleasePendingApproval sent for Release payment-service/payment-api-production-954b378c375d"
    );
    assert_eq!(ready.last_transition_time, Time(later));
}

#[test]
fn occurrences_are_the_transitions_of_the_timeline_and_drift() {
    let at = |s: i64| Time(now() + jiff::SignedDuration::from_secs(s));
    let entry = |s, phase| TimelineEntry {
        time: at(s),
        phase,
        message: None,
        actor: None,
    };
    let mut status = ReleaseStatus {
        phase: Some(ReleasePhase::Healthy),
        timeline: vec![
            entry(0, ReleasePhase::PendingApproval),
            // Same phase, another reason (an approval arrived): no new transition.
            entry(5, ReleasePhase::PendingApproval),
            entry(9, ReleasePhase::Approved),
            entry(10, ReleasePhase::Deployed),
            entry(20, ReleasePhase::Healthy),
            entry(30, ReleasePhase::Degraded),
            entry(40, ReleasePhase::Healthy),
        ],
        ..ReleaseStatus::default()
    };
    conditions::set(
        &mut status.conditions,
        types::DRIFTED,
        Status::True,
        reasons::DRIFT_DETECTED,
        "eu-production: Deployment payments/payment-api replicas 3 → 1",
        None,
        at(50).0,
    );
    let got: Vec<(NotificationEvent, i64)> = release_occurrences(&status)
        .iter()
        .map(|o| (o.event, o.time.duration_since(now()).as_secs()))
        .collect();
    use NotificationEvent as E;
    assert_eq!(
        got,
        [
            (E::ReleasePendingApproval, 0),
            (E::ReleaseDeployed, 10),
            (E::ReleaseHealthy, 20),
            (E::ReleaseFailed, 30),
            (E::ReleaseHealthy, 40),
            (E::DriftDetected, 50),
        ]
    );
    let all = release_occurrences(&status);
    let keys: std::collections::BTreeSet<String> =
        all.iter().map(|o| o.key("chan", "rel")).collect();
    assert_eq!(keys.len(), all.len(), "two Healthy transitions, two keys");
    assert_eq!(
        all[0].key("chan", "rel"),
        release_occurrences(&status)[0].key("chan", "rel")
    );

    // Told as it was entered, not as the release is now.
    let n = for_release_occurrence(&all[0], &release(), &status, None);
    assert_eq!(n.event, E::ReleasePendingApproval);
    assert_eq!(n.phase.as_deref(), Some("PendingApproval"));
    assert_eq!(n.time, now());
    let drift = for_release_occurrence(&all[5], &release(), &status, None);
    assert_eq!(
        drift.message.as_deref(),
        Some("eu-production: Deployment payments/payment-api replicas 3 → 1")
    );
}

#[test]
fn sessions_occur_at_activation_and_at_their_end() {
    let at = |s: i64| Time(now() + jiff::SignedDuration::from_secs(s));
    let status = BreakGlassSessionStatus {
        phase: Some(BreakGlassPhase::Closed),
        activated_at: Some(at(0)),
        expires_at: Some(at(3600)),
        ended_at: Some(at(600)),
        ..BreakGlassSessionStatus::default()
    };
    let got: Vec<(NotificationEvent, i64)> = session_occurrences(&status)
        .iter()
        .map(|o| (o.event, o.time.duration_since(now()).as_secs()))
        .collect();
    assert_eq!(
        got,
        [
            (NotificationEvent::BreakGlassOpened, 0),
            (NotificationEvent::BreakGlassClosed, 600)
        ]
    );
    let active = BreakGlassSessionStatus {
        phase: Some(BreakGlassPhase::Active),
        ended_at: None,
        ..status
    };
    assert_eq!(session_occurrences(&active).len(), 1);
}

#[test]
fn a_notification_links_the_release_page_and_its_ci_build() {
    let mut release = release();
    release.metadata.annotations = Some(
        [(
            gitopshq_crds::consts::annotations::BUILD_URL.to_string(),
            "https://ci.example.com/payment-api/pipelines/1842".to_string(),
        )]
        .into(),
    );
    let mut n = for_release(
        NotificationEvent::ReleasePendingApproval,
        &release,
        &pending(),
        None,
        now(),
    );
    n.page = Some(release_page(
        "https://gitopshq.example.com/",
        "payment-service",
        "payment-api-v2",
    ));
    assert_eq!(
        n.page.as_deref(),
        Some("https://gitopshq.example.com/#/releases/payment-service/payment-api-v2")
    );
    let slack = slack(&n).to_string();
    assert!(
        slack.contains("Open release")
            && slack.contains("#/releases/payment-service/payment-api-v2")
            && slack.contains("CI build")
            && slack.contains("pipelines/1842"),
        "{slack}"
    );
    let teams = teams(&n).to_string();
    assert!(
        teams.contains("Action.OpenUrl") && teams.contains("CI build"),
        "{teams}"
    );
    let event = webhook(&n);
    assert_eq!(
        event["build"],
        "https://ci.example.com/payment-api/pipelines/1842"
    );
}

#[test]
fn an_overdue_approval_reaches_the_channels_told_it_was_pending() {
    let mut n = notification();
    n.event = NotificationEvent::ReleaseApprovalOverdue;
    assert!(wants(
        &channel(&[NotificationEvent::ReleasePendingApproval], &[]),
        &n
    ));
    assert!(!wants(
        &channel(&[NotificationEvent::ReleaseDeployed], &[]),
        &n
    ));
}

#[test]
fn a_starting_notifier_sends_what_its_channel_has_not_handled_even_in_the_same_second() {
    let n = notification();
    let created = now();
    let occurrence = |seconds: i64, event| Occurrence {
        event,
        phase: None,
        time: now() + jiff::SignedDuration::from_secs(seconds),
        message: None,
    };
    // A channel that never delivered: what happened before it existed is not sent.
    let fresh = Floor::of(None, created);
    assert!(fresh.excludes(&occurrence(-1, NotificationEvent::ReleaseDeployed), "a"));
    assert!(!fresh.excludes(&occurrence(0, NotificationEvent::ReleaseDeployed), "a"));

    // A delivery at second 10 of a transition of second 10: after a restart, that one is not
    // sent again, another transition of second 10 (it came after the delivery) is.
    let staging_healthy = occurrence(10, NotificationEvent::ReleaseHealthy);
    let at_ten = now() + jiff::SignedDuration::from_millis(10_200);
    let status = sent(
        &NotificationChannelStatus::default(),
        &n,
        &staging_healthy.transition("staging"),
        None,
        at_ten,
    );
    let floor = Floor::of(Some(&status), created);
    assert!(floor.excludes(&staging_healthy, "staging"));
    assert!(!floor.excludes(
        &occurrence(10, NotificationEvent::ReleaseDeployed),
        "production"
    ));
    assert!(floor.excludes(
        &occurrence(9, NotificationEvent::ReleaseDeployed),
        "production"
    ));
    assert!(!floor.excludes(
        &occurrence(11, NotificationEvent::ReleaseDeployed),
        "production"
    ));

    // A later verdict forgets the transitions of earlier seconds: the time excludes them.
    let later = sent(
        &status,
        &n,
        &occurrence(12, NotificationEvent::ReleaseDeployed).transition("production"),
        None,
        now() + jiff::SignedDuration::from_secs(12),
    );
    assert_eq!(
        later.handled_transitions,
        ["production/ReleaseDeployed/".to_string() + &(now().as_second() + 12).to_string()]
    );
    // A give-up is a verdict too: the dead-lettered transition is not tried again.
    let dead = failed(
        &later,
        &n,
        &occurrence(12, NotificationEvent::ReleaseHealthy).transition("production"),
        Failure {
            error: "HTTP 503",
            attempts: 3,
            given_up: true,
        },
        None,
        now() + jiff::SignedDuration::from_millis(12_900),
    );
    let floor = Floor::of(Some(&dead), created);
    assert!(floor.excludes(
        &occurrence(12, NotificationEvent::ReleaseHealthy),
        "production"
    ));
    assert!(floor.excludes(
        &occurrence(12, NotificationEvent::ReleaseDeployed),
        "production"
    ));
    assert!(!floor.excludes(
        &occurrence(12, NotificationEvent::ReleaseFailed),
        "production"
    ));
}

#[test]
fn the_handled_list_is_bounded() {
    let n = notification();
    let mut status = NotificationChannelStatus::default();
    for i in 0..(HANDLED_TRANSITIONS + 20) {
        status = sent(
            &status,
            &n,
            &format!("uid-{i}/ReleaseDeployed/{}", now().as_second()),
            None,
            now(),
        );
    }
    assert_eq!(status.handled_transitions.len(), HANDLED_TRANSITIONS);
    assert_eq!(
        status.handled_transitions[0],
        format!("uid-20/ReleaseDeployed/{}", now().as_second())
    );
}
