//! Project grants per environment: submitting, rolling back, approving and opening break-glass
//! each need the matching verb; the denial says "not permitted" and which role to ask for.

use std::sync::Arc;

use super::*;

fn grant(subject: &str, verb: &str, environment: &str) -> Grant {
    Grant::environment(subject, NS, verb, environment)
}

/// backend-team: ReleaseManager in staging only; sre-team: Approver everywhere.
fn granted() -> Snapshot {
    let mut snapshot = Snapshot::default();
    snapshot.catalog.environments.push(environment("staging"));
    snapshot
        .catalog
        .environments
        .push(environment("production"));
    snapshot.grants = Some(vec![
        grant("backend-team", "release", "staging"),
        grant("sre-team", "approve", "*"),
        grant("sre-team", "rollback", "*"),
        grant("sre-team", "break-glass", "*"),
    ]);
    snapshot
}

fn alice() -> Requester {
    person("alice", &["backend-team", "system:authenticated"])
}

fn frank() -> Requester {
    person("frank", &["sre-team", "system:authenticated"])
}

#[test]
fn submitting_needs_the_release_grant_for_the_environment() {
    let directory = granted();
    let engine = engine();
    let settings = Settings::default();
    let staging = release("api-v2").env("staging").change("api").submitted();
    let production = release("api-v2")
        .env("production")
        .change("api")
        .submitted();
    let verdict = validate_release(&create(&alice(), &staging), &directory, &engine, &settings);
    assert!(
        verdict
            .denial
            .as_ref()
            .is_none_or(|d| d.rule != Rule::NotPermitted),
        "backend-team may submit to staging: {verdict:?}"
    );
    let message = assert_denied(
        &validate_release(
            &create(&alice(), &production),
            &directory,
            &engine,
            &settings,
        ),
        Rule::NotPermitted,
        &[
            "release api-v2 denied",
            "alice (groups: backend-team) may not submit releases to production",
            "ReleaseManager role in production",
        ],
    );
    assert_eq!(Rule::NotPermitted.status_code(), 403, "{message}");
    // A Draft needs no grant: developers prepare releases anywhere.
    let draft = release("api-v3").env("production").change("api");
    assert_allowed(&validate_release(
        &create(&alice(), &draft),
        &directory,
        &engine,
        &settings,
    ));
}

#[test]
fn a_rollback_needs_the_rollback_grant() {
    let mut directory = granted();
    directory.catalog.releases.push(
        release("api-v1")
            .env("production")
            .change("api")
            .submitted(),
    );
    let rollback = release("api-rollback")
        .env("production")
        .rollback_to("api-v1")
        .submitted();
    assert_denied(
        &validate_release(
            &create(&alice(), &rollback),
            &directory,
            &engine(),
            &Settings::default(),
        ),
        Rule::NotPermitted,
        &["may not submit rollbacks to production"],
    );
    let verdict = validate_release(
        &create(&frank(), &rollback),
        &directory,
        &engine(),
        &Settings::default(),
    );
    assert!(
        verdict
            .denial
            .as_ref()
            .is_none_or(|d| d.rule != Rule::NotPermitted),
        "{verdict:?}"
    );
}

#[test]
fn approving_needs_the_approve_grant() {
    let mut directory = granted();
    let pending = release("api-v2")
        .env("production")
        .change("api")
        .submitted()
        .created_by("carol")
        .phase(ReleasePhase::PendingApproval);
    directory.catalog.releases.push(pending);
    directory
        .approval_policies
        .push(Arc::new(approval_policy()));
    let old = approval_request("api-v2", vec![]);
    let by = |who: &Requester| {
        let sent = approval_request("api-v2", vec![sent(DecisionKind::Approve)]);
        let stamped = apply(&sent, &mutate_approval_request(&update(who, &old, &sent)));
        validate_approval_request(
            &update(who, &old, &stamped),
            &directory,
            &Settings::default(),
        )
    };
    assert_denied(
        &by(&alice()),
        Rule::NotPermitted,
        &["may not approve releases of production", "Approver role"],
    );
    assert_allowed(&by(&frank()));
}

#[test]
fn opening_break_glass_needs_the_grant_for_every_environment_of_the_scope() {
    let directory = granted();
    let open = session("sev1");
    assert_denied(
        &admit_break_glass_session(&create(&alice(), &open), &directory, &Settings::default()),
        Rule::NotPermitted,
        &[
            "breakglasssession sev1 denied",
            "may not open break-glass sessions for production",
        ],
    );
    assert_allowed(&admit_break_glass_session(
        &create(&frank(), &open),
        &directory,
        &Settings::default(),
    ));
}

#[test]
fn an_unanswered_check_refuses_with_a_retry() {
    struct Silent(Snapshot);
    impl Directory for Silent {
        fn environment(&self, name: &str) -> Option<Arc<gitopshq_crds::environment::Environment>> {
            self.0.environment(name)
        }
        fn release(&self, ns: &str, name: &str) -> Option<Arc<Release>> {
            self.0.release(ns, name)
        }
        fn approval_policy(&self, name: &str) -> Option<Arc<ApprovalPolicy>> {
            self.0.approval_policy(name)
        }
        fn chart_version(
            &self,
            name: &str,
        ) -> Option<Arc<gitopshq_crds::chart_version::ChartVersion>> {
            self.0.chart_version(name)
        }
        fn break_glass_sessions(&self, ns: &str) -> Vec<Arc<BreakGlassSession>> {
            self.0.break_glass_sessions(ns)
        }
        fn policies(&self) -> Vec<Arc<gitopshq_crds::policy::Policy>> {
            self.0.policies()
        }
        fn project_catalog(&self, ns: &str) -> crate::catalog::Catalog {
            self.0.project_catalog(ns)
        }
        fn project(&self, name: &str) -> Option<Arc<gitopshq_crds::project::Project>> {
            self.0.project(name)
        }
        fn cluster(&self, name: &str) -> Option<Arc<gitopshq_crds::cluster::Cluster>> {
            self.0.cluster(name)
        }
        fn tenant(&self, ns: &str, name: &str) -> Option<Arc<gitopshq_crds::tenant::Tenant>> {
            self.0.tenant(ns, name)
        }
        fn all_tenants(&self) -> Vec<Arc<gitopshq_crds::tenant::Tenant>> {
            self.0.all_tenants()
        }
        fn all_workloads(&self) -> Vec<Arc<gitopshq_crds::workload::Workload>> {
            self.0.all_workloads()
        }
        fn may(&self, _: &Requester, _: &Access<'_>) -> Permission {
            Permission::Unknown("the access review timed out".into())
        }
    }
    let directory = Silent(granted());
    let staging = release("api-v2").env("staging").change("api").submitted();
    assert_denied(
        &validate_release(
            &create(&alice(), &staging),
            &directory,
            &engine(),
            &Settings::default(),
        ),
        Rule::NotPermitted,
        &[
            "cannot check whether alice may submit releases to staging",
            "the access review timed out",
            "retry",
        ],
    );
}
