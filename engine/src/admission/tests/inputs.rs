//! Render inputs and promotions: writes that decide what runs where are judged like a release
//! into each environment they reach, and a (cluster, namespace) pair belongs to one environment
//! of one project.

use gitopshq_crds::cluster::{Cluster, ClusterSpec};
use gitopshq_crds::promotion::Promotion;
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::variables::Variables;
use gitopshq_crds::workload::Workload;

use super::*;

fn alice() -> Requester {
    person("alice", &["backend-team", "system:authenticated"])
}

fn carol() -> Requester {
    person("carol", &["platform-team"])
}

fn tenant(project: &str, name: &str, environment: &str, cluster: &str, namespace: &str) -> Tenant {
    object(&format!(
        "metadata: {{name: {name}, namespace: {project}}}\nspec: {{environment: {environment}, cluster: {cluster}, namespace: {namespace}}}"
    ))
}

fn cluster(name: &str, environments: &[&str]) -> Cluster {
    Cluster::new(
        name,
        ClusterSpec {
            environments: environments.iter().map(|e| e.to_string()).collect(),
            ..ClusterSpec::default()
        },
    )
}

fn workload(yaml: &str) -> Workload {
    object(&format!(
        "metadata: {{name: api, namespace: {NS}}}\nspec: {{chart: base, version: 1.0.0{yaml}}}"
    ))
}

fn variables(yaml: &str) -> Variables {
    object(&format!(
        "metadata: {{name: vars, namespace: {NS}}}\nspec: {{{yaml}}}"
    ))
}

/// backend-team may release to development and staging; platform-team everywhere. Production
/// runs `payments-prod` on cluster `shared`, which serves every environment; another project
/// runs `shop` there.
fn world() -> Snapshot {
    let mut snapshot = Snapshot::default();
    snapshot.catalog.clusters = vec![
        cluster("shared", &[]),
        cluster("prod-only", &["production"]),
    ];
    snapshot.catalog.tenants = vec![
        tenant(NS, "eu-prod", "production", "shared", "payments-prod"),
        tenant(NS, "eu-dev", "development", "shared", "payments-dev"),
        tenant("shop", "shop-prod", "production", "shared", "shop"),
    ];
    snapshot.catalog.chart_versions = vec![object(
        "metadata: {name: base-1.0.0}\nspec: {chart: base, version: 1.0.0, templates: {}}",
    )];
    snapshot.grants = Some(vec![
        Grant::environment("backend-team", NS, "release", "development"),
        Grant::environment("backend-team", NS, "release", "staging"),
        Grant::environment("platform-team", NS, "release", "*"),
    ]);
    snapshot
}

fn delete<'a, K>(user: &'a Requester, old: &'a K) -> Request<'a, K> {
    Request {
        operation: Operation::Delete,
        user,
        object: None,
        old: Some(old),
        now: ts(NOW),
    }
}

// --- Tenants --------------------------------------------------------------------------------

#[test]
fn a_tenant_in_an_environment_needs_the_grant_to_release_there() {
    let directory = world();
    let staging = tenant(NS, "eu-staging", "staging", "shared", "payments-staging");
    assert_allowed(&validate_tenant(&create(&alice(), &staging), &directory));
    let production = tenant(NS, "us-prod", "production", "shared", "payments-us");
    let verdict = validate_tenant(&create(&alice(), &production), &directory);
    assert_denied(
        &verdict,
        Rule::NotPermitted,
        &[
            "tenant us-prod denied",
            "alice",
            "may not submit releases to production",
        ],
    );
    assert_allowed(&validate_tenant(&create(&carol(), &production), &directory));
}

#[test]
fn a_development_tenant_cannot_point_at_a_production_namespace() {
    let directory = world();
    // The attack: a tenant of development aimed at production's namespace, then an
    // unapproved development release.
    let planted = tenant(NS, "sneaky", "development", "shared", "payments-prod");
    let message = assert_denied(
        &validate_tenant(&create(&alice(), &planted), &directory),
        Rule::Claimed,
        &[
            "namespace payments-prod on cluster shared belongs to tenant payments/eu-prod",
            "environment production",
            "choose another namespace",
        ],
    );
    assert!(message.contains("tenant sneaky denied"), "{message}");
    // Another project's namespace is as closed, even to an administrator of this one.
    let squatter = tenant(NS, "squat", "production", "shared", "shop");
    assert_denied(
        &validate_tenant(&create(&carol(), &squatter), &directory),
        Rule::Claimed,
        &["belongs to tenant shop/shop-prod", "project shop"],
    );
    // A second tenant of the same environment and project may share it.
    let twin = tenant(NS, "eu-prod-2", "production", "shared", "payments-prod");
    assert_allowed(&validate_tenant(&create(&carol(), &twin), &directory));
}

#[test]
fn moving_a_tenant_needs_the_grant_in_both_environments() {
    let directory = world();
    let old = tenant(NS, "eu-prod", "production", "shared", "payments-prod");
    let moved = tenant(NS, "eu-prod", "development", "shared", "payments-prod");
    assert_denied(
        &validate_tenant(&update(&alice(), &old, &moved), &directory),
        Rule::NotPermitted,
        &["may not submit releases to production"],
    );
    // Values and labels are judged by the release that delivers them, not here.
    let mut relabelled = old.clone();
    relabelled
        .spec
        .labels
        .insert("tier".into(), "canary".into());
    assert_allowed(&validate_tenant(
        &update(&alice(), &old, &relabelled),
        &directory,
    ));
    // Deleting a production tenant needs the grant too.
    assert_denied(
        &validate_tenant(&delete(&alice(), &old), &directory),
        Rule::NotPermitted,
        &["may not submit releases to production"],
    );
    let dev = tenant(NS, "eu-dev", "development", "shared", "payments-dev");
    assert_allowed(&validate_tenant(&delete(&alice(), &dev), &directory));
}

#[test]
fn a_tenant_must_use_a_cluster_of_its_environment_and_no_system_namespace() {
    let directory = world();
    let wrong = tenant(NS, "eu-dev-2", "development", "prod-only", "payments-dev2");
    assert_denied(
        &validate_tenant(&create(&alice(), &wrong), &directory),
        Rule::Invalid,
        &["cluster prod-only serves production", "not development"],
    );
    let system = tenant(NS, "eu-dev-3", "development", "shared", "kube-system");
    assert_denied(
        &validate_tenant(&create(&alice(), &system), &directory),
        Rule::Invalid,
        &["kube-system belongs to the cluster's own components"],
    );
    let unregistered = tenant(NS, "eu-dev-4", "development", "nowhere", "payments-dev4");
    let verdict = validate_tenant(&create(&alice(), &unregistered), &directory);
    assert_warned(&verdict, &["cluster nowhere is not registered yet"]);
}

// --- Workloads ------------------------------------------------------------------------------

#[test]
fn a_workload_override_of_an_environment_needs_the_grant_there() {
    let mut directory = world();
    let old = workload("");
    directory.catalog.workloads.push(old.clone());
    let staging = workload(", environments: {staging: {values: {replicas: 2}}}");
    assert_allowed(&validate_workload(
        &update(&alice(), &old, &staging),
        &directory,
    ));
    let production = workload(", environments: {production: {values: {image: {tag: evil}}}}");
    assert_denied(
        &validate_workload(&update(&alice(), &old, &production), &directory),
        Rule::NotPermitted,
        &[
            "workload api denied",
            "may not submit releases to production",
        ],
    );
    // Removing production's override changes production too.
    assert_denied(
        &validate_workload(&update(&alice(), &production, &old), &directory),
        Rule::NotPermitted,
        &["production"],
    );
    // The base values reach production only through a release judged there.
    let base = workload(", values: {replicas: 3}");
    assert_allowed(&validate_workload(
        &update(&alice(), &old, &base),
        &directory,
    ));
}

#[test]
fn an_automatic_release_into_an_environment_needs_the_grant_there() {
    let directory = world();
    let old = workload("");
    let auto = workload(
        ", imageUpdate: {repository: registry.example.com/api, tagPattern: 'v*', autoRelease: [production]}",
    );
    assert_denied(
        &validate_workload(&update(&alice(), &old, &auto), &directory),
        Rule::NotPermitted,
        &["may not submit releases to production"],
    );
    let dev = workload(
        ", imageUpdate: {repository: registry.example.com/api, tagPattern: 'v*', autoRelease: [development]}",
    );
    assert_allowed(&validate_workload(
        &update(&alice(), &old, &dev),
        &directory,
    ));
}

#[test]
fn a_target_namespace_cannot_reach_into_another_environment() {
    let directory = world();
    let old = workload("");
    // Every tenant of the project runs it, production's among them.
    let moved = workload(", targetNamespace: payments-dev");
    assert_denied(
        &validate_workload(&update(&alice(), &old, &moved), &directory),
        Rule::NotPermitted,
        &["may not submit releases to production"],
    );
    let verdict = validate_workload(&update(&carol(), &old, &moved), &directory);
    assert_denied(
        &verdict,
        Rule::Claimed,
        &[
            "namespace payments-dev on cluster shared belongs to tenant payments/eu-dev",
            "workload payments/api (spec.targetNamespace) on tenant eu-prod",
        ],
    );
}

// --- Variables ------------------------------------------------------------------------------

#[test]
fn environment_and_tenant_variables_need_the_grant_there() {
    let directory = world();
    let production = variables("environment: production, values: {DB: evil}");
    assert_denied(
        &validate_variables(&create(&alice(), &production), &directory),
        Rule::NotPermitted,
        &[
            "variables vars denied",
            "may not submit releases to production",
        ],
    );
    let for_tenant = variables("tenant: eu-prod, values: {DB: evil}");
    assert_denied(
        &validate_variables(&create(&alice(), &for_tenant), &directory),
        Rule::NotPermitted,
        &["may not submit releases to production"],
    );
    let staging = variables("environment: staging, values: {DB: ok}");
    assert_allowed(&validate_variables(&create(&alice(), &staging), &directory));
    let project = variables("values: {DB: ok}");
    assert_allowed(&validate_variables(&create(&alice(), &project), &directory));
    // Moving a staging object to production is a write to production.
    let moved = variables("environment: production, values: {DB: ok}");
    assert_denied(
        &validate_variables(&update(&alice(), &staging, &moved), &directory),
        Rule::NotPermitted,
        &["production"],
    );
    assert_denied(
        &validate_variables(&delete(&alice(), &production), &directory),
        Rule::NotPermitted,
        &["production"],
    );
    let unknown = variables("tenant: nobody, values: {DB: x}");
    assert_denied(
        &validate_variables(&create(&carol(), &unknown), &directory),
        Rule::NotFound,
        &[
            "spec.tenant nobody does not exist",
            "create the Tenant first",
        ],
    );
}

#[test]
fn tenant_variables_are_pinned_to_the_tenant_environment() {
    let directory = world();
    let for_tenant = variables("tenant: eu-dev, values: {DB: x}");
    let verdict = mutate_variables(&create(&alice(), &for_tenant), &directory);
    assert_eq!(
        mutation(&verdict, "/spec/environment"),
        Some(&json!("development"))
    );
    let pinned = apply(&for_tenant, &verdict);
    assert_allowed(&validate_variables(&create(&alice(), &pinned), &directory));
    let wrong = variables("tenant: eu-dev, environment: production, values: {DB: x}");
    assert_denied(
        &validate_variables(&create(&carol(), &wrong), &directory),
        Rule::Invalid,
        &["not the environment of tenant eu-dev (development)"],
    );
}

#[test]
fn a_secret_reference_needs_read_access_to_the_secret() {
    let mut directory = world();
    let grants = directory.grants.as_mut().unwrap();
    grants.push(Grant {
        subject: "platform-team".into(),
        namespace: NS.into(),
        resource: "secrets".into(),
        verb: "get".into(),
        name: "*".into(),
    });
    let referencing = variables("secretRefs: {DB_PASSWORD: {name: db, key: password}}");
    let message = assert_denied(
        &validate_variables(&create(&alice(), &referencing), &directory),
        Rule::NotPermitted,
        &[
            "spec.secretRefs.DB_PASSWORD",
            "may not read Secret payments/db (get secrets)",
            "kubectl auth can-i get secrets/db -n payments",
        ],
    );
    assert!(!message.contains("password\""), "{message}");
    assert_allowed(&validate_variables(
        &create(&carol(), &referencing),
        &directory,
    ));
    // An unchanged reference is not checked again when other values change.
    let mut more = referencing.clone();
    more.spec.values.insert("LEVEL".into(), json!("info"));
    assert_allowed(&validate_variables(
        &update(&alice(), &referencing, &more),
        &directory,
    ));
}

// --- Promotions -----------------------------------------------------------------------------

fn promotion(source: &str) -> Promotion {
    object(&format!(
        "metadata: {{name: promote, namespace: {NS}}}\nspec: {{release: {source}, batches: [{{name: all}}]}}"
    ))
}

#[test]
fn a_promotion_needs_the_grant_in_the_environment_its_batches_release_into() {
    let mut directory = world();
    directory.catalog.releases.push(
        release("prod-v2")
            .env("production")
            .change("api")
            .submitted()
            .created_by("carol"),
    );
    directory.catalog.releases.push(
        release("staging-v2")
            .env("staging")
            .change("api")
            .submitted()
            .created_by("alice"),
    );
    assert_denied(
        &validate_promotion(&create(&alice(), &promotion("prod-v2")), &directory),
        Rule::NotPermitted,
        &[
            "promotion promote denied",
            "may not submit releases to production",
        ],
    );
    assert_allowed(&validate_promotion(
        &create(&alice(), &promotion("staging-v2")),
        &directory,
    ));
    assert_denied(
        &validate_promotion(&create(&alice(), &promotion("missing")), &directory),
        Rule::NotFound,
        &["spec.release missing does not exist"],
    );
    // Resuming is a release decision too; changing the batches is not possible at all.
    let old = promotion("prod-v2");
    let mut paused = old.clone();
    paused.spec.paused = true;
    assert_denied(
        &validate_promotion(&update(&alice(), &old, &paused), &directory),
        Rule::NotPermitted,
        &["production"],
    );
    assert_allowed(&validate_promotion(
        &update(&carol(), &old, &paused),
        &directory,
    ));
    let mut rebatched = old.clone();
    rebatched.spec.batches[0].tenants = vec!["eu-prod".into()];
    assert_denied(
        &validate_promotion(&update(&carol(), &old, &rebatched), &directory),
        Rule::Immutable,
        &["only spec.paused may change"],
    );
}

#[test]
fn the_promotion_creator_is_stamped() {
    let mut forged = promotion("prod-v2");
    forged.spec.created_by = Some("mallory".into());
    let verdict = mutate_promotion(&create(&alice(), &forged));
    assert_eq!(
        apply(&forged, &verdict).spec.created_by.as_deref(),
        Some("alice")
    );
    let mut old = promotion("prod-v2");
    old.spec.created_by = Some("carol".into());
    let verdict = mutate_promotion(&update(&alice(), &old, &forged));
    assert_eq!(
        apply(&forged, &verdict).spec.created_by.as_deref(),
        Some("carol")
    );
}

// --- Break-glass records --------------------------------------------------------------------

#[test]
fn break_glass_sessions_cannot_be_deleted_by_project_roles() {
    let directory = Snapshot::default();
    let open = session("bgs-checkout");
    let oncall = person("oncall", &["sre-team"]);
    assert_denied(
        &admit_break_glass_session(&delete(&oncall, &open), &directory, &Settings::default()),
        Rule::NotPermitted,
        &["audit record", "gitopshq breakglass close bgs-checkout"],
    );
    let closed = session("bgs-checkout").closed_with(Some("rolled back"));
    assert_denied(
        &admit_break_glass_session(&delete(&oncall, &closed), &directory, &Settings::default()),
        Rule::NotPermitted,
        &["audit record"],
    );
    assert_allowed(&admit_break_glass_session(
        &delete(&person("root", &["system:masters"]), &closed),
        &directory,
        &Settings::default(),
    ));
}

#[test]
fn kubernetes_deletes_what_a_removed_namespace_held() {
    let directory = world();
    let namespace_controller = person(KUBERNETES_DELETERS[1], &["system:serviceaccounts"]);
    let prod = tenant(NS, "eu-prod", "production", "shared", "payments-prod");
    assert_allowed(&validate_tenant(
        &delete(&namespace_controller, &prod),
        &directory,
    ));
    let vars = variables("environment: production, values: {DB: x}");
    assert_allowed(&validate_variables(
        &delete(&namespace_controller, &vars),
        &directory,
    ));
    assert_allowed(&validate_promotion(
        &delete(&namespace_controller, &promotion("prod-v2")),
        &directory,
    ));
}
