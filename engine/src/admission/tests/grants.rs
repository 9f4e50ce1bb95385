//! Project grants per environment: submitting, rolling back, approving and opening break-glass
//! each need the matching verb; the denial says "not permitted" and which role to ask for.

use std::sync::Arc;

use super::*;

pub(super) fn grant(subject: &str, verb: &str, environment: &str) -> Grant {
    Grant::environment(subject, NS, verb, environment)
}

pub(super) fn validate_as(
    user: &Requester,
    directory: &dyn Directory,
    release: &Release,
) -> Verdict {
    validate_release(
        &create(user, release),
        directory,
        &engine(),
        &Settings::default(),
    )
}

/// The snapshot's answers, except that the access reviews of one verb (of every verb without
/// one) time out, as a SubjectAccessReview can: the webhook cannot tell whether the grant is
/// held, and must neither admit nor deny as if it could.
pub(super) struct AccessReviewsTimeOut {
    snapshot: Snapshot,
    verb: Option<&'static str>,
}

impl AccessReviewsTimeOut {
    pub(super) fn for_every_verb(snapshot: Snapshot) -> Self {
        Self {
            snapshot,
            verb: None,
        }
    }

    pub(super) fn for_verb(verb: &'static str, snapshot: Snapshot) -> Self {
        Self {
            snapshot,
            verb: Some(verb),
        }
    }
}

impl Directory for AccessReviewsTimeOut {
    fn environment(&self, name: &str) -> Option<Arc<gitopshq_crds::environment::Environment>> {
        self.snapshot.environment(name)
    }
    fn release(&self, ns: &str, name: &str) -> Option<Arc<Release>> {
        self.snapshot.release(ns, name)
    }
    fn approval_policy(&self, name: &str) -> Option<Arc<ApprovalPolicy>> {
        self.snapshot.approval_policy(name)
    }
    fn chart_version(&self, name: &str) -> Option<Arc<gitopshq_crds::chart_version::ChartVersion>> {
        self.snapshot.chart_version(name)
    }
    fn break_glass_sessions(&self, ns: &str) -> Vec<Arc<BreakGlassSession>> {
        self.snapshot.break_glass_sessions(ns)
    }
    fn policies(&self) -> Vec<Arc<gitopshq_crds::policy::Policy>> {
        self.snapshot.policies()
    }
    fn project_catalog(&self, ns: &str) -> crate::catalog::Catalog {
        self.snapshot.project_catalog(ns)
    }
    fn project(&self, name: &str) -> Option<Arc<gitopshq_crds::project::Project>> {
        self.snapshot.project(name)
    }
    fn cluster(&self, name: &str) -> Option<Arc<gitopshq_crds::cluster::Cluster>> {
        self.snapshot.cluster(name)
    }
    fn tenant(&self, ns: &str, name: &str) -> Option<Arc<gitopshq_crds::tenant::Tenant>> {
        self.snapshot.tenant(ns, name)
    }
    fn all_tenants(&self) -> Vec<Arc<gitopshq_crds::tenant::Tenant>> {
        self.snapshot.all_tenants()
    }
    fn all_workloads(&self) -> Vec<Arc<gitopshq_crds::workload::Workload>> {
        self.snapshot.all_workloads()
    }
    fn may(&self, user: &Requester, access: &Access<'_>) -> Permission {
        if self.verb.is_none_or(|verb| access.verb == verb) {
            return Permission::Unknown("the access review timed out".into());
        }
        self.snapshot.may(user, access)
    }
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
    let staging = release("api-v2").env("staging").change("api").submitted();
    let production = release("api-v2")
        .env("production")
        .change("api")
        .submitted();
    let verdict = validate_as(&alice(), &directory, &staging);
    assert!(
        verdict
            .denial
            .as_ref()
            .is_none_or(|d| d.rule != Rule::NotPermitted),
        "backend-team may submit to staging: {verdict:?}"
    );
    let message = assert_denied(
        &validate_as(&alice(), &directory, &production),
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
    assert_allowed(&validate_as(&alice(), &directory, &draft));
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
        &validate_as(&alice(), &directory, &rollback),
        Rule::NotPermitted,
        &["may not submit rollbacks to production"],
    );
    let verdict = validate_as(&frank(), &directory, &rollback);
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
    let directory = AccessReviewsTimeOut::for_every_verb(granted());
    let staging = release("api-v2").env("staging").change("api").submitted();
    assert_denied(
        &validate_as(&alice(), &directory, &staging),
        Rule::NotPermitted,
        &[
            "cannot check whether alice may submit releases to staging",
            "the access review timed out",
            "retry",
        ],
    );
}
