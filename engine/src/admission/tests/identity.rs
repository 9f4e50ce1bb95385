//! Identity (mutating): who created a release, who opened a session and who decided on an
//! approval come from the API server's authentication, never from the client.

use super::*;

/// `(createdBy, submittedBy, authors)` of the release as stored after the mutations.
fn authorship(
    release: &Release,
    verdict: &Verdict,
) -> (Option<String>, Option<String>, Vec<String>) {
    let stored = apply(release, verdict);
    (
        stored.spec.created_by,
        stored.spec.submitted_by,
        stored.spec.authors,
    )
}

fn some(user: &str) -> Option<String> {
    Some(user.to_string())
}

fn users(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn release_creator_is_the_requester_on_create_whatever_the_client_sent() {
    let directory = Snapshot::default();
    let alice = person("alice", &["backend-team"]);
    let settings = Settings::default();

    let mut forged = release("payment-api-v2").created_by("mallory");
    forged.spec.authors = users(&["mallory"]);
    forged.spec.submitted_by = some("mallory");
    let verdict = mutate_release(
        &create(&alice, &forged),
        &directory,
        &crate::policy::PolicyEngine::default(),
        &settings,
    );
    assert_allowed(&verdict);
    assert_eq!(
        authorship(&forged, &verdict),
        (some("alice"), None, users(&["alice"]))
    );

    let unset = release("payment-api-v2").submitted();
    let verdict = mutate_release(
        &create(&alice, &unset),
        &directory,
        &crate::policy::PolicyEngine::default(),
        &settings,
    );
    assert_eq!(
        authorship(&unset, &verdict),
        (some("alice"), some("alice"), users(&["alice"]))
    );

    // Already right: nothing to patch.
    let mut honest = release("payment-api-v2").created_by("alice");
    honest.spec.authors = users(&["alice"]);
    let verdict = mutate_release(
        &create(&alice, &honest),
        &directory,
        &crate::policy::PolicyEngine::default(),
        &settings,
    );
    assert_eq!(verdict, Verdict::allow());
}

#[test]
fn release_creator_is_kept_from_the_old_object_on_update() {
    let directory = Snapshot::default();
    let bob = person("bob", &["backend-team"]);
    let settings = Settings::default();
    let mut old = release("payment-api-v2").created_by("alice");
    old.spec.authors = users(&["alice"]);

    let rewritten = release("payment-api-v2").created_by("bob");
    let verdict = mutate_release(
        &update(&bob, &old, &rewritten),
        &directory,
        &crate::policy::PolicyEngine::default(),
        &settings,
    );
    assert_allowed(&verdict);
    assert_eq!(
        authorship(&rewritten, &verdict),
        (some("alice"), None, users(&["alice"]))
    );

    let dropped = release("payment-api-v2");
    let verdict = mutate_release(
        &update(&bob, &old, &dropped),
        &directory,
        &crate::policy::PolicyEngine::default(),
        &settings,
    );
    assert_eq!(
        authorship(&dropped, &verdict),
        (some("alice"), None, users(&["alice"]))
    );

    let kept = old.clone();
    let verdict = mutate_release(
        &update(&bob, &old, &kept),
        &directory,
        &crate::policy::PolicyEngine::default(),
        &settings,
    );
    assert!(verdict.mutations.is_empty(), "{:?}", verdict.mutations);
}

#[test]
fn whoever_changes_a_draft_becomes_an_author_and_the_submitter_is_recorded() {
    let directory = Snapshot::default();
    let settings = Settings::default();
    let bob = person("bob", &["sre-team"]);
    let mut old = release("payment-api-v2").created_by("alice").change("api");
    old.spec.authors = users(&["alice"]);

    // Bob rewrites alice's Draft and submits it: he is an author and the submitter, and the
    // creator stays alice whatever he sends.
    let mut rewritten = old
        .clone()
        .change_values("api", json!({"image": {"tag": "evil"}}))
        .submitted();
    rewritten.spec.authors = users(&["alice"]);
    let verdict = mutate_release(
        &update(&bob, &old, &rewritten),
        &directory,
        &crate::policy::PolicyEngine::default(),
        &settings,
    );
    assert_eq!(
        authorship(&rewritten, &verdict),
        (some("alice"), some("bob"), users(&["alice", "bob"]))
    );

    // An earlier release without authors starts from its creator.
    let mut legacy = old.clone();
    legacy.spec.authors.clear();
    let changed = legacy.clone().change("worker");
    let verdict = mutate_release(
        &update(&bob, &legacy, &changed),
        &directory,
        &crate::policy::PolicyEngine::default(),
        &settings,
    );
    assert_eq!(authorship(&changed, &verdict).2, users(&["alice", "bob"]));

    // Touching only metadata or the stamped fields makes nobody an author.
    let mut claimed = old.clone();
    claimed.spec.authors = users(&["bob"]);
    let verdict = mutate_release(
        &update(&bob, &old, &claimed),
        &directory,
        &crate::policy::PolicyEngine::default(),
        &settings,
    );
    assert_eq!(authorship(&claimed, &verdict).2, users(&["alice"]));
}

#[test]
fn the_controller_names_the_authors_of_the_releases_it_creates() {
    let directory = Snapshot::default();
    let settings = Settings::default();
    let controller = person(
        crate::admission::DEFAULT_CONTROLLER_USER,
        &["system:serviceaccounts"],
    );
    let mut batch = release("checkout-v2-b1-canary")
        .created_by("carol")
        .submitted();
    batch.spec.authors = users(&["alice", "carol"]);
    let verdict = mutate_release(
        &create(&controller, &batch),
        &directory,
        &crate::policy::PolicyEngine::default(),
        &settings,
    );
    assert_eq!(
        authorship(&batch, &verdict),
        (
            some("carol"),
            some(crate::admission::DEFAULT_CONTROLLER_USER),
            users(&["alice", "carol"])
        )
    );

    // Anyone else sending the same is stamped as themselves.
    let mallory = person("mallory", &["backend-team"]);
    let verdict = mutate_release(
        &create(&mallory, &batch),
        &directory,
        &crate::policy::PolicyEngine::default(),
        &settings,
    );
    assert_eq!(
        authorship(&batch, &verdict),
        (some("mallory"), some("mallory"), users(&["mallory"]))
    );
}

#[test]
fn release_creator_cannot_be_added_when_the_old_object_had_none() {
    let directory = Snapshot::default();
    let mallory = person("mallory", &[]);
    let old = release("payment-api-v2");
    let claimed = release("payment-api-v2").created_by("mallory");
    let verdict = mutate_release(
        &update(&mallory, &old, &claimed),
        &directory,
        &crate::policy::PolicyEngine::default(),
        &Settings::default(),
    );
    assert_eq!(authorship(&claimed, &verdict), (None, None, Vec::new()));

    let verdict = mutate_release(
        &update(&mallory, &old, &old),
        &directory,
        &crate::policy::PolicyEngine::default(),
        &Settings::default(),
    );
    assert!(verdict.mutations.is_empty(), "{:?}", verdict.mutations);
}

#[test]
fn session_requester_is_stamped_on_create_and_kept_on_update() {
    let oncall = person("oncall", &["sre-team"]);
    let mallory = person("mallory", &[]);

    let mut forged = session("bgs-checkout");
    forged.spec.requested_by = Some("someone-else".into());
    let verdict = mutate_break_glass_session(&create(&oncall, &forged));
    assert_allowed(&verdict);
    assert_eq!(
        verdict.mutations,
        vec![Mutation {
            path: "/spec/requestedBy".into(),
            value: json!("oncall"),
        }]
    );

    let mut unset = session("bgs-checkout");
    unset.spec.requested_by = None;
    let verdict = mutate_break_glass_session(&create(&oncall, &unset));
    assert_eq!(
        mutation(&verdict, "/spec/requestedBy"),
        Some(&json!("oncall"))
    );

    let honest = session("bgs-checkout");
    assert_eq!(
        mutate_break_glass_session(&create(&oncall, &honest)),
        Verdict::allow()
    );

    // Updates keep the old requester, whoever sends them.
    let old = session("bgs-checkout");
    let mut rewritten = session("bgs-checkout");
    rewritten.spec.requested_by = Some("mallory".into());
    let verdict = mutate_break_glass_session(&update(&mallory, &old, &rewritten));
    assert_eq!(
        mutation(&verdict, "/spec/requestedBy"),
        Some(&json!("oncall"))
    );
    let closing = session("bgs-checkout").closed_with(Some("rolled back checkout"));
    let verdict = mutate_break_glass_session(&update(&mallory, &old, &closing));
    assert!(verdict.mutations.is_empty(), "{:?}", verdict.mutations);

    // An old object without a requester cannot gain one.
    let mut anonymous = session("bgs-checkout");
    anonymous.spec.requested_by = None;
    let verdict = mutate_break_glass_session(&update(&mallory, &anonymous, &rewritten));
    assert_eq!(
        verdict.mutations,
        vec![Mutation {
            path: "/spec/requestedBy".into(),
            value: Value::Null,
        }]
    );
}

#[test]
fn every_decision_of_a_new_approval_request_is_stamped() {
    let bob = person("bob", &["sre-team", "system:authenticated"]);
    let mut forged = sent(DecisionKind::Approve);
    forged.user = Some("alice".into());
    forged.groups = vec!["release-managers".into()];
    forged.time = Some(k8s_time("2020-01-01T00:00:00Z"));
    let request = approval_request("payment-api-v2", vec![forged]);

    let verdict = mutate_approval_request(&create(&bob, &request));
    assert_allowed(&verdict);
    assert_eq!(
        verdict.mutations,
        vec![
            Mutation {
                path: "/spec/decisions/0/user".into(),
                value: json!("bob"),
            },
            Mutation {
                path: "/spec/decisions/0/groups".into(),
                value: json!(["sre-team", "system:authenticated"]),
            },
            Mutation {
                path: "/spec/decisions/0/time".into(),
                value: json!("2026-11-25T14:00:00Z"),
            },
        ]
    );
    let stamped = apply(&request, &verdict);
    assert_eq!(
        stamped.spec.decisions[0],
        Decision {
            decision: DecisionKind::Approve,
            comment: Some("looks good".into()),
            user: Some("bob".into()),
            groups: vec!["sre-team".into(), "system:authenticated".into()],
            time: Some(k8s_time(NOW)),
            rendered_digest: None,
        }
    );
}

#[test]
fn only_decisions_appended_by_the_request_are_stamped() {
    let carol = person("carol", &["frontend-team"]);
    let earlier = vec![approve("bob", &["backend-team"])];
    let old = approval_request("payment-api-v2", earlier.clone());
    let mut forged = sent(DecisionKind::Approve);
    forged.user = Some("bob".into());
    let mut decisions = earlier.clone();
    decisions.push(forged);
    decisions.push(sent(DecisionKind::Reject));
    let new = approval_request("payment-api-v2", decisions);

    let verdict = mutate_approval_request(&update(&carol, &old, &new));
    let paths: Vec<&str> = verdict.mutations.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/spec/decisions/1/user",
            "/spec/decisions/1/groups",
            "/spec/decisions/1/time",
            "/spec/decisions/2/user",
            "/spec/decisions/2/groups",
            "/spec/decisions/2/time",
        ]
    );
    assert_eq!(
        mutation(&verdict, "/spec/decisions/1/user"),
        Some(&json!("carol"))
    );
    assert_eq!(
        mutation(&verdict, "/spec/decisions/2/groups"),
        Some(&json!(["frontend-team"]))
    );
    let stamped = apply(&new, &verdict);
    assert_eq!(
        stamped.spec.decisions[0], earlier[0],
        "earlier decisions untouched"
    );
    assert_eq!(stamped.spec.decisions[1].user.as_deref(), Some("carol"));

    // Nothing appended (a status or metadata update): nothing stamped.
    let verdict = mutate_approval_request(&update(&carol, &old, &old));
    assert_eq!(verdict, Verdict::allow());
}

#[test]
fn decision_time_is_the_request_time_in_whole_seconds() {
    let bob = person("bob", &["sre-team"]);
    let request = approval_request("payment-api-v2", vec![sent(DecisionKind::Approve)]);
    let verdict = mutate_approval_request(&at(create(&bob, &request), "2026-11-25T14:00:00.4Z"));
    assert_eq!(
        mutation(&verdict, "/spec/decisions/0/time"),
        Some(&json!("2026-11-25T14:00:00Z"))
    );
}

#[test]
fn deletes_are_not_mutated() {
    let alice = person("alice", &[]);
    let old = release("payment-api-v2").created_by("alice");
    let delete = Request {
        operation: Operation::Delete,
        user: &alice,
        object: None,
        old: Some(&old),
        now: ts(NOW),
    };
    assert_eq!(
        mutate_release(
            &delete,
            &Snapshot::default(),
            &crate::policy::PolicyEngine::default(),
            &Settings::default()
        ),
        Verdict::allow()
    );
}
