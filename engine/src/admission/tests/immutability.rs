//! Immutability: a submitted release, a published chart version and a sealed break-glass
//! session keep their spec; an open session may only be closed, with a note.

use gitopshq_crds::chart_version::{ChartVersion, ChartVersionSpec};

use super::*;

fn validate(req: &Request<'_, Release>) -> Verdict {
    let mut directory = Snapshot::default();
    directory.catalog.environments = vec![environment("production")];
    validate_release(req, &directory, &engine(), &Settings::default())
}

#[test]
fn a_submitted_release_spec_cannot_change() {
    let alice = person("alice", &["backend-team"]);
    let old = release("payment-api-v2")
        .change("payment-api")
        .submitted()
        .created_by("alice");
    let changes: Vec<(&str, Release)> = vec![
        ("title", {
            let mut r = old.clone();
            r.spec.title = "Payment API v2 (really)".into();
            r
        }),
        ("values", {
            old.clone()
                .change_values("payment-api", json!({"replicaCount": 5}))
        }),
        ("environment", old.clone().env("staging")),
        ("tenants", old.clone().to_tenants(&["acme"])),
        ("session", old.clone().break_glass("bgs-checkout")),
        ("back to draft", {
            let mut r = old.clone();
            r.spec.submitted = false;
            r
        }),
    ];
    for (what, new) in changes {
        let verdict = validate(&update(&alice, &old, &new));
        assert_denied(
            &verdict,
            Rule::Immutable,
            &[
                "release payment-api-v2 denied",
                "spec is immutable once submitted",
                "create a new release with the change (or a Rollback release to undo one)",
            ],
        );
        assert_eq!(verdict.label(), "Immutable", "{what}");
    }
}

#[test]
fn metadata_and_status_of_a_submitted_release_may_change() {
    let controller = person(DEFAULT_CONTROLLER_USER, &[]);
    let old = release("payment-api-v2")
        .change("payment-api")
        .submitted()
        .created_by("alice");
    let mut new = old.clone().phase(ReleasePhase::Deploying);
    new.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert("gitopshq.io/commit".into(), "4b825dc".into());
    new.metadata.finalizers = Some(vec!["gitopshq.io/release".into()]);
    assert_eq!(validate(&update(&controller, &old, &new)), Verdict::allow());

    // Deleting is not an update of the spec; the controller may.
    let delete = Request {
        operation: Operation::Delete,
        user: &controller,
        object: None,
        old: Some(&old),
        now: ts(NOW),
    };
    assert_eq!(validate(&delete), Verdict::allow());
}

#[test]
fn a_submitted_release_is_a_record_that_project_roles_cannot_delete() {
    let submitted = release("payment-api-v2")
        .change("payment-api")
        .submitted()
        .created_by("alice");
    let delete = |user: &Requester, old: &Release| {
        validate(&Request {
            operation: Operation::Delete,
            user,
            object: None,
            old: Some(old),
            now: ts(NOW),
        })
    };
    let alice = person("alice", &["backend-team"]);
    assert_denied(
        &delete(&alice, &submitted),
        Rule::NotPermitted,
        &[
            "release payment-api-v2 denied",
            "only a platform administrator",
        ],
    );
    assert_allowed(&delete(&person("root", &["system:masters"]), &submitted));
    let draft = release("payment-api-v2").change("payment-api");
    assert_allowed(&delete(&alice, &draft));
}

#[test]
fn a_draft_may_change_and_be_submitted() {
    let alice = person("alice", &["backend-team"]);
    let draft = release("payment-api-v2")
        .change("payment-api")
        .created_by("alice");
    let edited = draft
        .clone()
        .change_values("payment-api", json!({"replicaCount": 3}));
    assert_eq!(validate(&update(&alice, &draft, &edited)), Verdict::allow());

    let submitted = edited.clone().submitted();
    let verdict = validate(&update(&alice, &edited, &submitted));
    assert_allowed(&verdict);
    assert!(verdict.warnings.is_empty(), "{:?}", verdict.warnings);

    assert!(is_submission(Some(&edited), &submitted));
    assert!(is_submission(None, &submitted));
    assert!(!is_submission(Some(&submitted), &submitted));
    assert!(!is_submission(None, &draft));
}

// --- Chart versions -------------------------------------------------------------------------

fn chart_version(name: &str, chart: &str, version: &str) -> ChartVersion {
    ChartVersion::new(
        name,
        ChartVersionSpec {
            chart: chart.into(),
            version: version.into(),
            changelog: Some("Initial release".into()),
            templates: [(
                "configmap.yaml".to_string(),
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{workload.name}}\n"
                    .to_string(),
            )]
            .into(),
            ..ChartVersionSpec::default()
        },
    )
}

#[test]
fn a_chart_version_is_named_chart_dash_version() {
    let platform = person("platform", &["platform-team"]);
    let right = chart_version("web-1.0.0", "web", "1.0.0");
    assert_eq!(
        validate_chart_version(&create(&platform, &right)),
        Verdict::allow()
    );

    let wrong = chart_version("web-latest", "web", "1.0.0");
    let verdict = validate_chart_version(&create(&platform, &wrong));
    assert_denied(
        &verdict,
        Rule::Invalid,
        &[
            "chartversion web-latest denied",
            "metadata.name must be web-1.0.0 (<chart>-<version>)",
            "rename the object",
        ],
    );
    assert_eq!(Rule::Invalid.status_code(), 422);
}

#[test]
fn a_published_chart_version_is_immutable() {
    let platform = person("platform", &["platform-team"]);
    let old = chart_version("web-1.0.0", "web", "1.0.0");
    let mut templates = old.clone();
    templates.spec.templates.insert(
        "service.yaml".into(),
        "apiVersion: v1\nkind: Service\n".into(),
    );
    let mut values = old.clone();
    values.spec.values.insert("replicas".into(), json!(3));
    let mut changelog = old.clone();
    changelog.spec.changelog = Some("Rewritten history".into());
    let mut schema = old.clone();
    schema.spec.values_schema = Some(json!({"type": "object"}));
    for new in [templates, values, changelog, schema] {
        let verdict = validate_chart_version(&update(&platform, &old, &new));
        assert_denied(
            &verdict,
            Rule::Immutable,
            &[
                "chartversion web-1.0.0 denied",
                "a published chart version is immutable except spec.deprecated and spec.deprecationMessage",
                "publish a new version (for example 1.0.1) with the change",
            ],
        );
    }

    // The suggestion is the next patch of a release, whatever the pre-release.
    let rc = chart_version("web-2.1.0-rc.1", "web", "2.1.0-rc.1");
    let mut changed = rc.clone();
    changed.spec.changelog = None;
    assert_denied(
        &validate_chart_version(&update(&platform, &rc, &changed)),
        Rule::Immutable,
        &["(for example 2.1.1)"],
    );
}

#[test]
fn a_published_chart_version_may_be_deprecated() {
    let platform = person("platform", &["platform-team"]);
    let old = chart_version("web-1.0.0", "web", "1.0.0");
    let mut deprecated = old.clone();
    deprecated.spec.deprecated = true;
    deprecated.spec.deprecation_message = Some("CVE-2026-1234 in the sidecar; use 1.0.1".into());
    assert_eq!(
        validate_chart_version(&update(&platform, &old, &deprecated)),
        Verdict::allow()
    );
    // And undeprecated again.
    assert_eq!(
        validate_chart_version(&update(&platform, &deprecated, &old)),
        Verdict::allow()
    );
    // A deprecation does not carry other changes through.
    let mut sneaky = deprecated.clone();
    sneaky.spec.values.insert("debug".into(), json!(true));
    assert_denied(
        &validate_chart_version(&update(&platform, &old, &sneaky)),
        Rule::Immutable,
        &["chartversion web-1.0.0 denied"],
    );
}

// --- Break-glass sessions -------------------------------------------------------------------

#[test]
fn a_closed_session_is_sealed() {
    let oncall = person("oncall", &["sre-team"]);
    let sealed = session("bgs-checkout").closed_with(Some("rolled back checkout to v1"));
    let mut renoted = sealed.clone();
    renoted.spec.closing_note = Some("nothing happened here".into());
    let mut reopened = sealed.clone();
    reopened.spec.closed = false;
    let widened = sealed.clone().scope_workloads(&[]);
    for new in [renoted, reopened, widened] {
        let verdict = validate_break_glass_session(&update(&oncall, &sealed, &new));
        assert_denied(
            &verdict,
            Rule::Immutable,
            &[
                "breakglasssession bgs-checkout denied",
                "the session is closed and sealed; its record cannot change",
                "Open a new BreakGlassSession if more work is needed",
            ],
        );
    }
    // The controller may still write its status and metadata.
    let mut recorded = sealed.clone().status_phase(BreakGlassPhase::Closed);
    recorded.metadata.labels = Some([("sealed".to_string(), "true".to_string())].into());
    assert_eq!(
        validate_break_glass_session(&update(&oncall, &sealed, &recorded)),
        Verdict::allow()
    );
}

#[test]
fn an_open_session_may_only_be_closed() {
    let oncall = person("oncall", &["sre-team"]);
    let open = session("bgs-checkout");
    let words = [
        "breakglasssession bgs-checkout denied",
        "only spec.closed and spec.closingNote of an open session may change",
        "Close it and open a new session for a different scope or more time",
    ];
    let longer = open.clone().lasting("4h");
    let wider = open
        .clone()
        .scope_workloads(&["checkout-service", "payment-api"]);
    let elsewhere = open.clone().scope_environments(&["production", "staging"]);
    let mut milder = open.clone();
    milder.spec.severity = Severity::SEV3;
    let rejustified = open
        .clone()
        .justified("a different story about what went wrong today");
    for new in [longer, wider, elsewhere, milder, rejustified] {
        let verdict = validate_break_glass_session(&update(&oncall, &open, &new));
        assert_denied(&verdict, Rule::Immutable, &words);
    }

    let closed = open.clone().closed_with(Some("rolled back checkout to v1"));
    let verdict = validate_break_glass_session(&update(&oncall, &open, &closed));
    assert_eq!(verdict, Verdict::allow(), "no warning or audit on close");

    // A note may be written before closing.
    let mut noted = open.clone();
    noted.spec.closing_note = Some("rolling back".into());
    assert_allowed(&validate_break_glass_session(&update(
        &oncall, &open, &noted,
    )));
}

#[test]
fn closing_a_session_requires_a_closing_note() {
    let oncall = person("oncall", &["sre-team"]);
    let open = session("bgs-checkout");
    for note in [None, Some(""), Some("   ")] {
        let closed = open.clone().closed_with(note);
        let verdict = validate_break_glass_session(&update(&oncall, &open, &closed));
        assert_denied(
            &verdict,
            Rule::Invalid,
            &[
                "breakglasssession bgs-checkout denied",
                "closing a session requires spec.closingNote",
                "what was done under it and the outcome",
            ],
        );
    }
}
