use super::*;
use crate::values_check::tests::catalog;

fn carol() -> Requester {
    Requester::new("carol", &["backend-team"])
}

/// `api` delivered to dev-1 in dev (or not delivered yet).
fn source(delivered: bool) -> Release {
    let mut release: Release = gitopshq_crds::testing::from_yaml(
        "metadata: {name: api-v2, namespace: shop}\nspec: {title: v2, environment: dev, changes: [{workload: api}], submitted: true}",
    );
    if delivered {
        release.status = Some(gitopshq_crds::release::ReleaseStatus {
            commit: Some("abc123".into()),
            tenants: vec![gitopshq_crds::release::TenantRollout {
                name: "dev-1".into(),
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    release
}

fn targets(
    release: &Release,
    may_create: bool,
    holds: &dyn Fn(&str) -> bool,
) -> Vec<PromotionTarget> {
    let mut catalog = catalog();
    catalog.releases.push(release.clone());
    promotion_targets(
        &catalog,
        &carol(),
        release,
        may_create,
        holds,
        Timestamp::UNIX_EPOCH,
    )
}

#[test]
fn each_environment_is_offered_with_its_tenants_and_the_webhooks_answer() {
    let release = source(true);
    let only_dev = |e: &str| e == "dev";
    let all = targets(&release, true, &only_dev);
    let names: Vec<&str> = all.iter().map(|t| t.environment.as_str()).collect();
    assert_eq!(names, ["dev", "prod"], "its own environment first");
    assert!(all[0].tenants.is_empty(), "dev-1 has it already");
    assert!(all[0].check.allowed);
    assert_eq!(all[1].tenants, ["eu-1"]);
    let refused = &all[1].check;
    assert!(!refused.allowed);
    let reason = refused.reason.as_deref().unwrap();
    assert!(
        reason.contains("carol") && reason.contains("prod") && reason.contains("ReleaseManager"),
        "{reason}"
    );
    assert!(targets(&release, true, &|_| true)[1].check.allowed);
}

#[test]
fn an_undelivered_release_or_no_rbac_is_said_before_the_click() {
    let undelivered = targets(&source(false), true, &|_| true);
    assert!(
        undelivered[1]
            .check
            .reason
            .as_deref()
            .unwrap()
            .contains("is not delivered yet")
    );
    let rbac = targets(&source(true), false, &|_| true);
    assert!(
        rbac[1]
            .check
            .reason
            .as_deref()
            .unwrap()
            .contains("carol may not create promotions in project shop")
    );
}

fn batch(name: &str, tenants: &[&str], soak: Option<&str>) -> BatchDraft {
    BatchDraft {
        name: name.into(),
        tenants: tenants.iter().map(|t| t.to_string()).collect(),
        soak: soak.map(str::to_string),
        require_approval: false,
    }
}

#[test]
fn the_batches_chosen_become_the_promotion() {
    let request = PromoteRequest {
        to_environment: Some("prod".into()),
        batches: vec![
            BatchDraft {
                require_approval: true,
                ..batch("canary", &["eu-1"], Some("10m"))
            },
            batch("rest", &[], Some(" ")),
        ],
        pause_on_degraded: None,
    };
    let promotion = promotion_of(&request, &source(true)).unwrap();
    assert_eq!(
        promotion.metadata.generate_name.as_deref(),
        Some("promote-api-v2-")
    );
    assert_eq!(promotion.namespace().as_deref(), Some("shop"));
    assert_eq!(promotion.spec.release, "api-v2");
    assert_eq!(promotion.spec.to_environment.as_deref(), Some("prod"));
    assert!(promotion.spec.pause_on_degraded, "stopping is the default");
    let canary = &promotion.spec.batches[0];
    assert_eq!(
        (
            canary.name.as_str(),
            canary.tenants.as_slice(),
            canary.soak.as_deref(),
            canary.require_approval
        ),
        ("canary", &["eu-1".to_string()][..], Some("10m"), true)
    );
    assert!(promotion.spec.batches[1].tenants.is_empty(), "the rest");
    assert_eq!(promotion.spec.batches[1].soak, None);
    let same = PromoteRequest {
        to_environment: Some("dev".into()),
        ..request
    };
    assert_eq!(
        promotion_of(&same, &source(true))
            .unwrap()
            .spec
            .to_environment,
        None,
        "its own environment is the default"
    );
}

#[test]
fn batches_that_make_no_promotion_are_refused_naming_the_batch() {
    let refused = |batches: Vec<BatchDraft>| {
        promotion_of(
            &PromoteRequest {
                batches,
                ..PromoteRequest::default()
            },
            &source(true),
        )
        .unwrap_err()
        .to_string()
    };
    assert!(refused(vec![]).contains("at least one batch"));
    assert!(refused(vec![batch("Canary", &["a"], None)]).contains("batches[0].name \"Canary\""));
    assert!(
        refused(vec![batch("a", &["x"], None), batch("a", &["y"], None)]).contains("used twice")
    );
    assert!(
        refused(vec![
            batch("first", &[], None),
            batch("second", &["y"], None)
        ])
        .contains("only the last batch may take the rest")
    );
    assert!(
        refused(vec![batch("one", &["x"], None), batch("two", &["x"], None)])
            .contains("tenant x is already in batch one")
    );
    assert!(
        refused(vec![batch("one", &["x"], Some("ten minutes"))]).contains("soak \"ten minutes\"")
    );
}
