use super::*;
use crate::layout::{self, CommitInfo, Trailers};
use gitopshq_crds::testing::from_yaml as object;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A delivery commit of `release` whose chain value is computed from `history` (newest first,
/// the parent first): what the delivery code writes.
fn delivery(id: &str, tree: &str, release: &str, history: &[CommitRecord]) -> CommitRecord {
    let info = CommitInfo {
        title: format!("deliver {release}"),
        notes: None,
        trailers: Trailers {
            release: format!("shop/{release}"),
            environment: "prod".into(),
            rendered_digest: "ab".into(),
            previous_audit: Some(next_chain_value(history)),
            other: vec![("GitOpsHQ-Created-By".into(), "alice".into())],
            ..Trailers::default()
        },
    };
    CommitRecord {
        commit: id.into(),
        parents: parent(history),
        tree: tree.into(),
        time: 1_700_000_000,
        author: "GitOpsHQ".into(),
        parsed: layout::parse_commit_message(&layout::commit_message(&info)),
    }
}

/// The newest commit of `history` (newest first), the parent of the next one; none in an empty
/// repository.
fn parent(history: &[CommitRecord]) -> Vec<String> {
    history
        .first()
        .map(|c| c.commit.clone())
        .into_iter()
        .collect()
}

fn plain(id: &str, history: &[CommitRecord]) -> CommitRecord {
    CommitRecord {
        commit: id.into(),
        parents: parent(history),
        tree: format!("tree-{id}"),
        time: 1_700_000_000,
        author: "someone".into(),
        parsed: layout::parse_commit_message("skeleton\n"),
    }
}

/// root (skeleton) ← d1 ← d2 ← manual ← d3, newest first.
fn history() -> Vec<CommitRecord> {
    let mut newest_first: Vec<CommitRecord> = Vec::new();
    let push = |h: &mut Vec<CommitRecord>, c: CommitRecord| h.insert(0, c);
    let root = plain("c0", &newest_first);
    push(&mut newest_first, root);
    let d1 = delivery("c1", "t1", "r1", &newest_first);
    push(&mut newest_first, d1);
    let d2 = delivery("c2", "t2", "r2", &newest_first);
    push(&mut newest_first, d2);
    let manual = plain("c3", &newest_first);
    push(&mut newest_first, manual);
    let d3 = delivery("c4", "t4", "r3", &newest_first);
    push(&mut newest_first, d3);
    newest_first
}

#[test]
fn chain_value_covers_parent_previous_commit_tree_and_value() {
    let link = ChainLink {
        commit: "c1",
        tree: "t1",
        previous_audit: Some("sha256:00"),
    };
    let base = chain_value(Some("c1"), Some(link));
    assert!(base.starts_with("sha256:") && base.len() == 7 + 64);
    assert_eq!(base, chain_value(Some("c1"), Some(link)), "deterministic");
    for other in [
        chain_value(Some("cX"), Some(link)),
        chain_value(
            Some("c1"),
            Some(ChainLink {
                commit: "cX",
                ..link
            }),
        ),
        chain_value(Some("c1"), Some(ChainLink { tree: "tX", ..link })),
        chain_value(
            Some("c1"),
            Some(ChainLink {
                previous_audit: None,
                ..link
            }),
        ),
        chain_value(Some("c1"), None),
        chain_value(None, None),
    ] {
        assert_ne!(base, other);
    }
}

#[test]
fn an_untouched_history_verifies() {
    let h = history();
    let report = verify_chain(&h);
    assert_eq!(report.broken, None);
    assert_eq!(report.verified, 3);
    assert_eq!(report.unchained, 0);
    assert_eq!(report.commits, 5);
    assert_eq!(report.head_value, next_chain_value(&h));
}

#[test]
fn a_rewritten_delivery_commit_breaks_the_chain_at_the_next_one() {
    let mut h = history();
    // d1 (index 3) rewritten: new id and tree, same message; d2 rebased onto it keeps its
    // message, as `git rebase` would.
    h[3].commit = "c1-rewritten".into();
    h[3].tree = "t1-changed".into();
    h[2].parents = vec!["c1-rewritten".into()];
    let report = verify_chain(&h);
    let broken = report.broken.expect("detected");
    assert_eq!(broken.commit, "c2");
    assert_eq!(broken.previous.as_deref(), Some("c1-rewritten"));
    assert_eq!(
        report.verified, 1,
        "d1 itself still sits on the same parent"
    );
    assert!(broken.describe().contains("chain breaks at commit c2"));
    assert!(broken.describe().contains("rewritten or removed"));
}

#[test]
fn a_removed_delivery_commit_breaks_the_chain() {
    let mut h = history();
    // d2 dropped: the manual commit now sits on d1.
    h.remove(2);
    h[1].parents = vec!["c1".into()];
    let broken = verify_chain(&h).broken.expect("detected");
    assert_eq!(broken.commit, "c4");

    // The first delivery dropped: d2 now claims a predecessor that is gone.
    let mut h = history();
    h.remove(3);
    h[2].parents = vec!["c0".into()];
    let broken = verify_chain(&h).broken.expect("detected");
    assert_eq!(broken.commit, "c2");
}

#[test]
fn a_rewritten_non_delivery_commit_is_caught_by_the_next_delivery() {
    let mut h = history();
    h[1].commit = "c3-rewritten".into();
    h[0].parents = vec!["c3-rewritten".into()];
    assert_eq!(verify_chain(&h).broken.expect("detected").commit, "c4");
}

#[test]
fn a_stripped_trailer_after_the_chain_started_is_a_break() {
    let mut h = history();
    h[0].parsed.trailers.as_mut().unwrap().previous_audit = None;
    let broken = verify_chain(&h).broken.expect("detected");
    assert_eq!(broken.commit, "c4");
    assert!(
        broken
            .describe()
            .contains("carries no GitOpsHQ-Previous-Audit")
    );
}

#[test]
fn deliveries_from_before_the_chain_are_counted_apart() {
    let mut h = history();
    h[3].parsed.trailers.as_mut().unwrap().previous_audit = None;
    // d2's value covered d1 with a value; recompute d2 and d3 as a chain starting after d1.
    let d2 = delivery("c2", "t2", "r2", &h[3..]);
    h[2] = d2;
    let d3 = delivery("c4", "t4", "r3", &h[1..]);
    h[0] = d3;
    let report = verify_chain(&h);
    assert_eq!(report.broken, None);
    assert_eq!((report.verified, report.unchained), (2, 1));
}

#[test]
fn anchors_missing_from_the_history_are_reported() {
    let h = history();
    let anchors = vec![
        ("shop/r3".to_string(), "c4".to_string()),
        ("shop/r4".to_string(), "c9".to_string()),
    ];
    assert_eq!(
        check_anchors(&h, &anchors),
        vec![("shop/r4".to_string(), "c9".to_string())]
    );
}

fn release(yaml: &str) -> Release {
    object(yaml)
}

/// Release `name` ("`title`") of workload `api` into prod, in project shop, created at 10:00
/// by `creator` and submitted; `more` (YAML) adds to its spec and gives its status.
fn submitted(name: &str, title: &str, creator: &str, more: &str) -> Release {
    let mut release: serde_json::Value = object(&format!(
        "metadata: {{name: {name}, namespace: shop, creationTimestamp: '2026-01-01T10:00:00Z'}}
spec:
  title: {title}
  environment: prod
  changes: [{{workload: api}}]
  submitted: true
  createdBy: {creator}"
    ));
    overlay(&mut release, object(more));
    gitopshq_crds::testing::from_json(release)
}

/// `more` over `into`, object by object.
fn overlay(into: &mut serde_json::Value, more: serde_json::Value) {
    match (into, more) {
        (serde_json::Value::Object(into), serde_json::Value::Object(more)) => {
            for (key, value) in more {
                overlay(into.entry(key).or_insert(serde_json::Value::Null), value);
            }
        }
        (into, more) => *into = more,
    }
}

#[test]
fn releases_give_their_creation_and_timeline_with_actors() {
    let r = submitted(
        "api-v2",
        "api v2",
        "alice",
        "
status:
  commit: abc
  timeline:
    - {time: '2026-01-01T10:00:01Z', phase: PendingApproval, actor: alice, message: 0 of 1 approvals received}
    - {time: '2026-01-01T10:05:00Z', phase: Approved, actor: bob}
    - {time: '2026-01-01T10:05:02Z', phase: Deployed, actor: gitopshq-controller}",
    );
    let scopes = release_scopes(std::slice::from_ref(&r));
    let entries = release_entries(&r, scopes.get(&("shop".into(), "api-v2".into())));
    let summary: Vec<(String, Option<String>)> = entries
        .iter()
        .map(|e| (e.action.clone(), e.actor.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("Created".into(), Some("alice".into())),
            ("PendingApproval".into(), Some("alice".into())),
            ("Approved".into(), Some("bob".into())),
            ("Deployed".into(), Some("gitopshq-controller".into())),
        ]
    );
    assert!(entries.iter().all(|e| e.workloads == ["api"]));
    assert_eq!(entries[3].commit.as_deref(), Some("abc"));
    assert!(
        entries[0]
            .message
            .contains("Deploy release \"api v2\" for prod")
    );
}

#[test]
fn a_cancellation_is_recorded_with_who_and_why() {
    let requested = submitted(
        "api-v3",
        "api v3",
        "alice",
        "
spec:
  cancellation: {reason: wrong  tag, user: rita, time: '2026-01-01T10:03:00Z'}
status:
  timeline:
    - {time: '2026-01-01T10:00:01Z', phase: PendingApproval, actor: alice}",
    );
    let entries = release_entries(&requested, None);
    let last = entries.last().unwrap();
    assert_eq!(last.action, "Cancelled");
    assert_eq!(last.actor.as_deref(), Some("rita"));
    assert_eq!(last.time, ts("2026-01-01T10:03:00Z"));
    assert_eq!(last.message, "cancellation requested: wrong tag");
    // Once the controller entered Cancelled, its timeline entry is the record (no duplicate).
    let mut done = requested.clone();
    done.status
        .as_mut()
        .unwrap()
        .timeline
        .push(gitopshq_crds::release::TimelineEntry {
            time: gitopshq_crds::common::Time(ts("2026-01-01T10:03:01Z")),
            phase: gitopshq_crds::release::ReleasePhase::Cancelled,
            message: Some("release api-v3 was cancelled by rita: wrong tag".into()),
            actor: Some("rita".into()),
        });
    let entries = release_entries(&done, None);
    let cancelled: Vec<&AuditEntry> = entries.iter().filter(|e| e.action == "Cancelled").collect();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].time, ts("2026-01-01T10:03:01Z"));
    assert_eq!(cancelled[0].actor.as_deref(), Some("rita"));
}

#[test]
fn approvals_skipped_under_break_glass_are_recorded_as_bypassed_by_the_submitter() {
    let r = submitted(
        "rollback-1",
        "roll api back",
        "bob",
        "
spec:
  type: Rollback
  rollbackTo: {release: v1}
  submittedBy: bob
  breakGlassSession: inc-1
status:
  timeline:
    - time: '2026-01-01T10:00:01Z'
      phase: Approved
      actor: bob
      message: 'approval bypassed by break-glass session inc-1 (SEV1, opened by bob: \"api is down for every customer\"): ApprovalPolicy prod would require 2 approvals; release rollback-1 goes on without them, Enforce policies still apply, and the session records it'
    - {time: '2026-01-01T10:05:00Z', phase: Approved, actor: carol, message: '2 of 2 approvals received: dave, erin'}",
    );
    let entries = release_entries(&r, None);
    let summary: Vec<(&str, Option<&str>)> = entries
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_deref()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("Created", Some("bob")),
            ("ApprovalBypassed", Some("bob")),
            ("Approved", Some("carol")),
        ]
    );
    assert!(
        entries[0]
            .message
            .ends_with(", under break-glass session inc-1")
    );
    assert!(
        entries[1]
            .message
            .starts_with("approval bypassed by break-glass session inc-1 (SEV1, opened by bob: \"api is down for every customer\")"),
        "{}",
        entries[1].message
    );
}

#[test]
fn a_rollback_without_changes_concerns_its_targets_workloads() {
    let target = release(
        "metadata: {name: v1, namespace: shop}\nspec: {title: v1, environment: prod, changes: [{workload: api}]}",
    );
    let rollback = release(
        "metadata: {name: back, namespace: shop}\nspec: {title: back, environment: prod, type: Rollback, rollbackTo: {release: v1}}",
    );
    let scopes = release_scopes(&[target, rollback]);
    assert_eq!(scopes[&("shop".into(), "back".into())].workloads, ["api"]);
}

#[test]
fn decisions_sessions_events_and_commits_become_entries() {
    let request: ApprovalRequest = object(
        "metadata: {name: api-v2, namespace: shop}
spec:
  release: api-v2
  policy: two-teams
  decisions:
    - {decision: Approve, comment: fine, user: bob, groups: [sre-team, 'system:authenticated'], time: '2026-01-01T10:05:00Z'}
    - {decision: Reject, comment: not now, user: carol, groups: [platform-team]}",
    );
    let entries = approval_entries(&request, None);
    assert_eq!(
        entries.len(),
        1,
        "an unstamped decision has no time and is left out"
    );
    assert_eq!(entries[0].object, "release/api-v2");
    assert_eq!(
        entries[0].message,
        "policy two-teams, as sre-team: \"fine\""
    );

    let session: BreakGlassSession = object(
        "metadata: {name: inc-1, namespace: shop, creationTimestamp: '2026-01-01T09:00:00Z'}
spec:
  justification: checkout returns 500 for 40% of requests
  severity: SEV1
  scope: {environments: [prod], workloads: [checkout]}
  duration: 1h
  closed: true
  closingNote: rolled back
  requestedBy: bob
status:
  phase: Closed
  activatedAt: '2026-01-01T09:00:01Z'
  endedAt: '2026-01-01T09:30:00Z'
  sealedDigest: sha256:ff
  actions: [{time: '2026-01-01T09:10:00Z', user: bob, release: back, operation: rollback}]",
    );
    let entries = session_entries(&session);
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["Opened", "Action: rollback", "Closed"]);
    assert!(
        entries[0]
            .message
            .starts_with("SEV1 for prod/checkout, 1h: checkout returns")
    );
    assert_eq!(
        entries[2].message,
        "closing note: rolled back; sealed sha256:ff"
    );
    assert!(entries.iter().all(|e| e.involved == ["bob"]));

    let event: Event = object(
        "metadata: {name: e1, namespace: shop}
eventTime: '2026-01-01T10:05:03.000000Z'
reason: Committed
note: committed abc
type: Normal
reportingController: gitopshq-controller
regarding: {apiVersion: gitopshq.io/v1alpha1, kind: Release, name: api-v2, namespace: shop}",
    );
    let scopes = BTreeMap::from([(
        ("shop".to_string(), "api-v2".to_string()),
        ReleaseScope {
            environment: "prod".into(),
            workloads: vec!["api".into()],
            created_by: None,
        },
    )]);
    let entry = event_entry(&event, &scopes).expect("a GitOpsHQ object");
    assert_eq!(
        (entry.action.as_str(), entry.object.as_str()),
        ("Committed", "release/api-v2")
    );
    assert_eq!(entry.workloads, ["api"]);
    let pod_event: Event = object(
        "metadata: {name: e2, namespace: shop}\neventTime: '2026-01-01T10:05:03.000000Z'\nregarding: {apiVersion: v1, kind: Pod, name: p}",
    );
    assert!(event_entry(&pod_event, &scopes).is_none());

    let h = history();
    let entry = commit_entry(&h[0], Some("shop"), &scopes).expect("a delivery commit");
    assert_eq!(entry.action, "Committed");
    assert_eq!(entry.actor.as_deref(), Some("alice"));
    assert_eq!(entry.commit.as_deref(), Some("c4"));
    assert!(commit_entry(&h[0], Some("other"), &scopes).is_none());
    assert!(
        commit_entry(&h[1], None, &scopes).is_none(),
        "not a delivery"
    );
}

#[test]
fn merge_orders_by_time_then_source_and_drops_duplicates() {
    let at = |t: &str, source: Source, action: &str| {
        AuditEntry::new(ts(t), source, "shop", action, "release/x")
    };
    let event = at("2026-01-01T10:00:00.5Z", Source::Event, "Committed");
    let merged = merge([
        vec![event.clone(), event.clone()],
        vec![
            at("2026-01-01T10:00:00Z", Source::Release, "Deployed"),
            at("2026-01-01T09:00:00Z", Source::Release, "Created"),
        ],
        vec![at("2026-01-01T10:00:00Z", Source::Commit, "Committed")],
    ]);
    let order: Vec<(&str, Source)> = merged
        .iter()
        .map(|e| (e.action.as_str(), e.source))
        .collect();
    assert_eq!(
        order,
        vec![
            ("Created", Source::Release),
            ("Deployed", Source::Release),
            ("Committed", Source::Commit),
            ("Committed", Source::Event),
        ]
    );
}

#[test]
fn filters_narrow_by_time_user_workload_and_environment() {
    let mut a = AuditEntry::new(
        ts("2026-01-01T10:00:00Z"),
        Source::Release,
        "shop",
        "Created",
        "release/a",
    )
    .by(Some("alice"));
    a.workloads = vec!["api".into()];
    a.environment = Some("prod".into());
    let mut session = AuditEntry::new(
        ts("2026-01-01T08:00:00Z"),
        Source::BreakGlass,
        "shop",
        "Opened",
        "breakglasssession/s",
    )
    .by(Some("bob"));
    session.all_workloads = true;
    let workload_event = AuditEntry::new(
        ts("2026-01-01T11:00:00Z"),
        Source::Event,
        "shop",
        "Updated",
        "workload/api",
    );
    let all = vec![a.clone(), session.clone(), workload_event.clone()];
    let names = |f: &Filter| -> Vec<String> {
        f.apply(all.clone()).into_iter().map(|e| e.object).collect()
    };

    let since = Filter {
        since: Some(ts("2026-01-01T09:00:00Z")),
        ..Filter::default()
    };
    assert_eq!(names(&since), ["release/a", "workload/api"]);
    let user = Filter {
        user: Some("bob".into()),
        ..Filter::default()
    };
    assert_eq!(names(&user), ["breakglasssession/s"]);
    let workload = Filter {
        workload: Some("api".into()),
        ..Filter::default()
    };
    assert_eq!(names(&workload).len(), 3);
    let other = Filter {
        workload: Some("web".into()),
        ..Filter::default()
    };
    assert_eq!(names(&other), ["breakglasssession/s"]);
    let env = Filter {
        environment: Some("staging".into()),
        ..Filter::default()
    };
    assert_eq!(names(&env), ["breakglasssession/s", "workload/api"]);
}

#[test]
fn entries_serialise_with_rfc3339_times() {
    let e = AuditEntry::new(
        ts("2026-01-01T10:00:00.123Z"),
        Source::Commit,
        "shop",
        "Committed",
        "release/a",
    );
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["time"], "2026-01-01T10:00:00Z");
    assert_eq!(json["source"], "Commit");
    assert!(json.get("workloads").is_none());
}
