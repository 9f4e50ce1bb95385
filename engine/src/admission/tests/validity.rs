//! Validity: objects that are well-formed by the schema but would not work — an unbounded or
//! unjustified session, a workload on an unpublished chart version, a window that never
//! freezes, a policy that does not compile or fails its own tests.

use gitopshq_crds::policy::{Policy, PolicyMessages, PolicySpec, PolicyTest};
use gitopshq_crds::workload::Workload;

use super::*;

// --- Break-glass sessions -------------------------------------------------------------------

#[test]
fn a_session_lasts_at_most_four_hours() {
    let oncall = person("oncall", &["sre-team"]);
    for duration in ["5h", "4h1m", "241m", "24h"] {
        let long = session("bgs-checkout").lasting(duration);
        let verdict = validate_break_glass_session(&create(&oncall, &long));
        assert_denied(
            &verdict,
            Rule::Invalid,
            &[
                "breakglasssession bgs-checkout denied",
                &format!("spec.duration {duration} is longer than 4h"),
                "open a session of at most 4h and a new one if the incident lasts longer",
            ],
        );
    }
    for duration in ["4h", "240m", "90m", "1h30m", "15m"] {
        let ok = session("bgs-checkout").lasting(duration);
        assert_allowed(&validate_break_glass_session(&create(&oncall, &ok)));
    }
    for duration in ["forever", "0s", "-1h", ""] {
        let bad = session("bgs-checkout").lasting(duration);
        assert_denied(
            &validate_break_glass_session(&create(&oncall, &bad)),
            Rule::Invalid,
            &["is not a duration; use for example 1h or 90m (at most 4h)"],
        );
    }
    assert_eq!(MAX_SESSION_DURATION, jiff::SignedDuration::from_hours(4));
}

#[test]
fn a_session_needs_a_real_justification() {
    let oncall = person("oncall", &["sre-team"]);
    for text in ["fix", "checkout is broken", "   checkout is broken     "] {
        let thin = session("bgs-checkout").justified(text);
        let verdict = validate_break_glass_session(&create(&oncall, &thin));
        assert_denied(
            &verdict,
            Rule::Invalid,
            &[
                "breakglasssession bgs-checkout denied",
                "spec.justification must say what is broken and why the normal path will not do",
                "at least 20 characters",
            ],
        );
    }
    let exactly = session("bgs-checkout").justified("checkout is down now");
    assert_eq!(exactly.spec.justification.len(), MIN_JUSTIFICATION);
    assert_allowed(&validate_break_glass_session(&create(&oncall, &exactly)));
}

#[test]
fn opening_a_session_warns_and_is_audited() {
    let oncall = person("oncall", &["sre-team"]);
    let open = session("bgs-checkout").scope_environments(&["staging", "production"]);
    let verdict = validate_break_glass_session(&create(&oncall, &open));
    assert_allowed(&verdict);
    assert_warned(
        &verdict,
        &[
            "break-glass session bgs-checkout is active for 2h on staging, production",
            "every action under it is recorded and reviewed",
        ],
    );
    assert_eq!(
        verdict.audit,
        [(
            "gitopshq.io/break-glass".to_string(),
            "bgs-checkout".to_string()
        )]
    );
}

#[test]
fn a_session_opened_already_closed_needs_its_note() {
    let oncall = person("oncall", &["sre-team"]);
    let closed = session("bgs-checkout").closed_with(None);
    assert_denied(
        &validate_break_glass_session(&create(&oncall, &closed)),
        Rule::Invalid,
        &["closing a session requires spec.closingNote"],
    );
}

// --- Workloads ------------------------------------------------------------------------------

fn published() -> Snapshot {
    let mut snapshot = Snapshot::default();
    for (version, deprecated, message) in [
        ("1.0.0", false, None),
        (
            "0.9.0",
            true,
            Some("CVE-2026-1234 in the sidecar; use 1.0.0"),
        ),
        ("0.8.0", true, None),
    ] {
        let mut cv: gitopshq_crds::chart_version::ChartVersion = object(&format!(
            "metadata: {{name: web-{version}}}\nspec: {{chart: web, version: {version}}}"
        ));
        cv.spec.deprecated = deprecated;
        cv.spec.deprecation_message = message.map(str::to_string);
        snapshot.catalog.chart_versions.push(cv);
    }
    snapshot
}

fn workload(version: &str, environments: &str) -> Workload {
    object(&format!(
        "metadata: {{name: checkout-service, namespace: {NS}}}
spec: {{chart: web, version: {version}, environments: {environments}}}"
    ))
}

#[test]
fn a_workload_on_published_versions_is_admitted() {
    let dev = person("alice", &["backend-team"]);
    let ok = workload(
        "1.0.0",
        "{production: {version: 1.0.0}, staging: {values: {replicaCount: 1}}}",
    );
    assert_eq!(
        validate_workload(&create(&dev, &ok), &published()),
        Verdict::allow()
    );
}

#[test]
fn a_workload_on_an_unpublished_version_is_not_found() {
    let dev = person("alice", &["backend-team"]);
    let missing = workload("9.9.9", "{}");
    let verdict = validate_workload(&create(&dev, &missing), &published());
    assert_denied(
        &verdict,
        Rule::NotFound,
        &[
            "workload checkout-service denied",
            "spec.version refers to chart web version 9.9.9, which is not published (no ChartVersion web-9.9.9)",
            "publish it or pick one of kubectl get chartversions",
        ],
    );

    let pinned = workload("1.0.0", "{production: {version: 2.0.0}}");
    let old = workload("1.0.0", "{}");
    let verdict = validate_workload(&update(&dev, &old, &pinned), &published());
    assert_denied(
        &verdict,
        Rule::NotFound,
        &[
            "workload checkout-service denied",
            "spec.environments.production.version refers to chart web version 2.0.0",
            "no ChartVersion web-2.0.0",
        ],
    );
}

#[test]
fn a_workload_on_a_deprecated_version_is_warned_with_the_reason() {
    let dev = person("alice", &["backend-team"]);
    let old = workload("0.9.0", "{}");
    let verdict = validate_workload(&create(&dev, &old), &published());
    assert_allowed(&verdict);
    assert_warned(
        &verdict,
        &[
            "workload checkout-service: spec.version uses chart web 0.9.0, which is deprecated",
            "(CVE-2026-1234 in the sidecar; use 1.0.0)",
            "move to a newer version",
        ],
    );
    assert_eq!(verdict.label(), "warned");

    let pinned = workload("1.0.0", "{staging: {version: 0.8.0}}");
    let verdict = validate_workload(&create(&dev, &pinned), &published());
    assert_warned(
        &verdict,
        &[
            "spec.environments.staging.version uses chart web 0.8.0, which is deprecated (no reason given)",
        ],
    );

    // Deprecated and missing: the missing one denies.
    let both = workload("0.9.0", "{production: {version: 3.0.0}}");
    assert_denied(
        &validate_workload(&create(&dev, &both), &published()),
        Rule::NotFound,
        &["spec.environments.production.version"],
    );
}

// --- Environments ---------------------------------------------------------------------------

#[test]
fn an_environment_with_valid_windows_is_admitted() {
    let admin = person("platform", &["platform-team"]);
    let production = frozen_production().frozen_every(
        "friday-evening",
        "0 18 * * FRI",
        "62h",
        Some("Europe/Berlin"),
    );
    assert_eq!(
        validate_environment(&create(&admin, &production)),
        Verdict::allow()
    );
    assert_eq!(
        validate_environment(&create(&admin, &environment("staging"))),
        Verdict::allow()
    );
}

#[test]
fn an_environment_with_a_bad_cron_is_invalid() {
    let admin = person("platform", &["platform-team"]);
    let bad = environment("production").frozen_every("weekend", "every friday", "48h", None);
    assert_denied(
        &validate_environment(&create(&admin, &bad)),
        Rule::Invalid,
        &[
            "environment production denied",
            "freeze window weekend",
            "cron \"every friday\" is not valid",
            "use five fields such as \"0 22 * * FRI\"",
        ],
    );
}

#[test]
fn an_environment_with_an_unknown_time_zone_is_invalid() {
    let admin = person("platform", &["platform-team"]);
    let bad = environment("production").frozen_every(
        "weekend",
        "0 18 * * FRI",
        "48h",
        Some("Mars/Olympus_Mons"),
    );
    assert_denied(
        &validate_environment(&create(&admin, &bad)),
        Rule::Invalid,
        &[
            "environment production denied",
            "time zone \"Mars/Olympus_Mons\" is unknown",
            "use an IANA name such as Europe/Berlin or UTC",
        ],
    );
}

#[test]
fn an_environment_with_a_bad_duration_or_half_a_window_is_invalid() {
    let admin = person("platform", &["platform-team"]);
    let bad = environment("production").frozen_every("weekend", "0 18 * * FRI", "a while", None);
    assert_denied(
        &validate_environment(&create(&admin, &bad)),
        Rule::Invalid,
        &["duration \"a while\" is not valid", "such as 90m or 2h30m"],
    );

    let mut half = frozen_production();
    half.spec.freeze_windows[0].end = None;
    assert_denied(
        &validate_environment(&create(&admin, &half)),
        Rule::Invalid,
        &["freeze window db-upgrade needs either start and end, or recurring"],
    );
}

// --- Policies -------------------------------------------------------------------------------

/// The seed's policy, verbatim.
const SEED: &str = crate::policy::SEED_REGO;

fn case(name: &str, environment: &str, limits: bool, deny: &[&str]) -> PolicyTest {
    let resources = if limits {
        json!({"limits": {"cpu": "500m", "memory": "256Mi"}})
    } else {
        json!({"requests": {"cpu": "100m"}})
    };
    let input = json!({
        "environment": environment,
        "spec": {"containers": [{"name": "api", "resources": resources}]},
    });
    PolicyTest {
        name: name.into(),
        input: input.as_object().unwrap().clone(),
        expect: PolicyMessages {
            deny: deny.iter().map(|m| m.to_string()).collect(),
            warn: Vec::new(),
        },
    }
}

fn policy(name: &str, rego: &str, tests: Vec<PolicyTest>) -> Policy {
    Policy::new(
        name,
        PolicySpec {
            description: Some("Production containers must have resource limits".into()),
            rego: rego.into(),
            bindings: Vec::new(),
            tests,
        },
    )
}

const LIMITS: &str = "Container 'api' in production must have resource limits";

#[test]
fn the_seed_policy_with_passing_tests_is_admitted() {
    let admin = person("platform", &["platform-team"]);
    let seed = policy(
        "require-limits",
        SEED,
        vec![
            case("production without limits", "production", false, &[LIMITS]),
            case("production with limits", "production", true, &[]),
            case("staging without limits", "staging", false, &[]),
        ],
    );
    assert_eq!(
        validate_policy(&create(&admin, &seed), &engine()),
        Verdict::allow()
    );
    // Without tests it only has to compile.
    let untested = policy("require-limits", SEED, vec![]);
    assert_eq!(
        validate_policy(&create(&admin, &untested), &engine()),
        Verdict::allow()
    );
}

#[test]
fn a_policy_that_does_not_compile_is_invalid_and_names_the_line() {
    let admin = person("platform", &["platform-team"]);
    let broken = SEED.replace(
        "  not container.resources.limits\n",
        "  not container.resources.limits ==\n",
    );
    let verdict = validate_policy(
        &create(&admin, &policy("require-limits", &broken, vec![])),
        &engine(),
    );
    // regorus stops at the first token it cannot take: the line after the dangling `==`.
    assert_denied(
        &verdict,
        Rule::PolicyInvalid,
        &[
            "policy require-limits denied: policy require-limits does not compile: line 7, column 7:",
            "(parsed as Rego v0)",
            "fix the Rego at that line",
            "gitopshq policy test -f <file>",
        ],
    );
    assert_eq!(Rule::PolicyInvalid.status_code(), 422);

    // Its tests cannot make up for it.
    let with_tests = policy(
        "require-limits",
        &broken,
        vec![case("production with limits", "production", true, &[])],
    );
    assert_denied(
        &validate_policy(&create(&admin, &with_tests), &engine()),
        Rule::PolicyInvalid,
        &["does not compile"],
    );
}

#[test]
fn a_policy_whose_embedded_test_fails_is_invalid() {
    let admin = person("platform", &["platform-team"]);
    let wrong = policy(
        "require-limits",
        SEED,
        vec![
            case("production without limits", "production", false, &[LIMITS]),
            case(
                "staging without limits",
                "staging",
                false,
                &["Container 'api' in staging must have resource limits"],
            ),
            case("production with limits", "production", true, &[]),
        ],
    );
    let verdict = validate_policy(&create(&admin, &wrong), &engine());
    assert_denied(
        &verdict,
        Rule::PolicyInvalid,
        &[
            "policy require-limits denied: 1 of 3 embedded tests failed",
            "test \"staging without limits\": expected deny [\"Container 'api' in staging must have resource limits\"] warn [], got deny [] warn []",
            "fix the Rego or the test's expect (gitopshq policy test -f FILE)",
        ],
    );

    // An update is judged the same way.
    let right = policy(
        "require-limits",
        SEED,
        vec![case(
            "production without limits",
            "production",
            false,
            &[LIMITS],
        )],
    );
    assert_denied(
        &validate_policy(&update(&admin, &right, &wrong), &engine()),
        Rule::PolicyInvalid,
        &["1 of 3 embedded tests failed"],
    );
}

#[test]
fn a_policy_whose_test_cannot_run_names_the_error() {
    let admin = person("platform", &["platform-team"]);
    let rego = r#"package gitopshq.workload

deny[msg] {
  msg := sprintf("%d", [input.missing.deeply / 0])
}
"#;
    let failing = policy(
        "divides",
        rego,
        vec![PolicyTest {
            name: "divide".into(),
            input: json!({"missing": {"deeply": 1}})
                .as_object()
                .unwrap()
                .clone(),
            expect: PolicyMessages::default(),
        }],
    );
    let verdict = validate_policy(&create(&admin, &failing), &engine());
    assert_denied(
        &verdict,
        Rule::PolicyInvalid,
        &[
            "policy divides denied: 1 of 1 embedded tests failed",
            "test \"divide\": policy divides failed on test case \"divide\": line 4",
            "fix the Rego or the test's expect",
        ],
    );
}

#[test]
fn deleting_a_catalog_object_is_not_judged() {
    let admin = person("platform", &["platform-team"]);
    let seed = policy("require-limits", SEED, vec![]);
    let delete = Request {
        operation: Operation::Delete,
        user: &admin,
        object: None,
        old: Some(&seed),
        now: ts(NOW),
    };
    assert_eq!(validate_policy(&delete, &engine()), Verdict::allow());

    let open = session("bgs-checkout").lasting("24h");
    let delete = Request {
        operation: Operation::Delete,
        user: &admin,
        object: None,
        old: Some(&open),
        now: ts(NOW),
    };
    assert_eq!(validate_break_glass_session(&delete), Verdict::allow());
    assert_eq!(mutate_break_glass_session(&delete), Verdict::allow());
}
