//! The verdict's stable label, the HTTP status of each rule, and the small helpers around them.

use super::*;

const RULES: [Rule; 13] = [
    Rule::Frozen,
    Rule::BreakGlass,
    Rule::Immutable,
    Rule::DecisionEdited,
    Rule::SelfApproval,
    Rule::SameTeam,
    Rule::NotApprover,
    Rule::AlreadyDecided,
    Rule::NotPending,
    Rule::PolicyDenied,
    Rule::PolicyInvalid,
    Rule::NotFound,
    Rule::Invalid,
];

#[test]
fn labels_are_allowed_warned_or_the_denying_rule() {
    assert_eq!(Verdict::allow().label(), "allowed");
    assert!(Verdict::allow().allowed());
    let warned = Verdict::allow().warn("deprecated chart");
    assert_eq!(warned.label(), "warned");
    assert!(warned.allowed());
    // Mutations and audit entries do not change the label.
    let stamped = Verdict::allow()
        .set("/spec/createdBy", json!("alice"))
        .record("gitopshq.io/decision", "x");
    assert_eq!(stamped.label(), "allowed");
    for rule in RULES {
        let denied = Verdict::deny(rule, "no");
        assert!(!denied.allowed());
        assert_eq!(denied.label(), rule.as_str());
        // A denial keeps its rule as label even with warnings.
        assert_eq!(denied.warn("also this").label(), rule.as_str());
    }
}

#[test]
fn rule_names_are_stable() {
    let names: Vec<&str> = RULES.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        names,
        [
            "Frozen",
            "BreakGlass",
            "Immutable",
            "DecisionEdited",
            "SelfApproval",
            "SameTeam",
            "NotApprover",
            "AlreadyDecided",
            "NotPending",
            "PolicyDenied",
            "PolicyInvalid",
            "NotFound",
            "Invalid",
        ]
    );
    for rule in RULES {
        assert_eq!(format!("{rule:?}"), rule.as_str());
    }
}

#[test]
fn status_codes_say_who_or_what_stands_in_the_way() {
    // 403: this requester may not do this at all.
    for rule in [
        Rule::SelfApproval,
        Rule::SameTeam,
        Rule::NotApprover,
        Rule::AlreadyDecided,
    ] {
        assert_eq!(rule.status_code(), 403, "{rule:?}");
    }
    // 409: the state of things gates it for now.
    for rule in [
        Rule::Frozen,
        Rule::BreakGlass,
        Rule::Immutable,
        Rule::DecisionEdited,
        Rule::NotPending,
        Rule::PolicyDenied,
    ] {
        assert_eq!(rule.status_code(), 409, "{rule:?}");
    }
    // 422: the object itself is wrong.
    for rule in [Rule::PolicyInvalid, Rule::NotFound, Rule::Invalid] {
        assert_eq!(rule.status_code(), 422, "{rule:?}");
    }
}

#[test]
fn verdict_builders_keep_order() {
    let verdict = Verdict::allow()
        .warn("first")
        .warn("second")
        .set("/a", json!(1))
        .set("/b", Value::Null)
        .record("k1", "v1")
        .record("k2", String::from("v2"));
    assert_eq!(verdict.warnings, ["first", "second"]);
    assert_eq!(
        verdict.mutations,
        [
            Mutation {
                path: "/a".into(),
                value: json!(1)
            },
            Mutation {
                path: "/b".into(),
                value: Value::Null
            },
        ]
    );
    assert_eq!(
        verdict.audit,
        [
            ("k1".to_string(), "v1".to_string()),
            ("k2".to_string(), "v2".to_string())
        ]
    );
    let denied = Verdict::deny(Rule::Invalid, String::from("bad"));
    assert_eq!(
        denied.denial,
        Some(Denial {
            rule: Rule::Invalid,
            message: "bad".into()
        })
    );
}

#[test]
fn operations_are_named_as_the_api_server_names_them() {
    assert_eq!(Operation::Create.as_str(), "CREATE");
    assert_eq!(Operation::Update.as_str(), "UPDATE");
    assert_eq!(Operation::Delete.as_str(), "DELETE");
    assert_eq!(Operation::Connect.as_str(), "CONNECT");
}

#[test]
fn teams_leave_out_kubernetes_groups() {
    let bob = person(
        "bob",
        &[
            "system:authenticated",
            "backend-team",
            "system:masters",
            "sre-team",
        ],
    );
    assert_eq!(
        bob.teams().collect::<Vec<_>>(),
        ["backend-team", "sre-team"]
    );
    assert_eq!(
        person("robot", &["system:serviceaccounts"]).teams().count(),
        0
    );
}

#[test]
fn times_are_written_in_whole_seconds_utc() {
    assert_eq!(
        format_time(ts("2026-11-25T18:00:00Z")),
        "2026-11-25T18:00:00Z"
    );
    assert_eq!(
        format_time(ts("2026-11-25T18:00:00.6Z")),
        "2026-11-25T18:00:01Z"
    );
    assert_eq!(
        format_time(ts("2026-11-25T19:00:00+01:00")),
        "2026-11-25T18:00:00Z"
    );
}

#[test]
fn the_default_time_zone_is_utc() {
    assert_eq!(Settings::default().default_time_zone, "UTC");
}
