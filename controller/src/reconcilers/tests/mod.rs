//! Reconciler tests against a scripted API ([`crate::mock_api`]): each test fills the index,
//! lists the requests the reconciler must send, runs it and checks what it wrote.

mod break_glass;
mod chart;
mod cluster;
mod environment;
mod policy;
mod project;
mod promotion;
mod release;
mod release_observe;

use serde_json::Value;

use crate::mock_api::Seen;

/// The condition of `type_` in a written `status` (`{"conditions": [...]}`).
fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("no {type_} condition in {status:#}"))
}

/// Checks that `seen` posted an Event of `type_` (`Normal`, `Warning`) for `reason`; returns
/// its body.
fn assert_event<'a>(seen: &'a Seen, type_: &str, reason: &str) -> &'a Value {
    assert!(seen.path.ends_with("/events"), "not an Event: {seen:#?}");
    assert_eq!(seen.body["type"], type_, "{:#}", seen.body);
    assert_eq!(seen.body["reason"], reason, "{:#}", seen.body);
    &seen.body
}
