use gitopshq_crds::promotion::{PromotionBatch, PromotionSpec};
use gitopshq_crds::release::{ReleaseStatus, TimelineEntry};
use gitopshq_crds::tenant::TenantSpec;

use super::*;

/// [`super::decide`] carrying the source's own changes, as a source that recorded them does.
fn decide(
    promotion: &Promotion,
    source: Option<&Release>,
    tenants: &[Result<Vec<String>, String>],
    releases: &[Option<&Release>],
    now: Timestamp,
) -> Decision {
    let carried = Ok(source.map(|s| s.spec.changes.clone()).unwrap_or_default());
    super::decide(promotion, source, tenants, releases, &carried, now)
}

fn at(minutes: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + minutes * 60).unwrap()
}

fn tenant(name: &str, tier: &str) -> Tenant {
    let mut t = Tenant::new(
        name,
        TenantSpec {
            environment: "production".into(),
            cluster: "c1".into(),
            namespace: name.into(),
            labels: [("tier".to_string(), tier.to_string())].into(),
            ..TenantSpec::default()
        },
    );
    t.metadata.namespace = Some("shop".into());
    t
}

fn promotion(paused: bool) -> Promotion {
    let batch = |name: &str, tenants: &[&str], soak: Option<&str>, approval: bool| PromotionBatch {
        name: name.into(),
        tenant_selector: None,
        tenants: tenants.iter().map(|t| t.to_string()).collect(),
        soak: soak.map(str::to_string),
        require_approval: approval,
    };
    let mut p = Promotion::new(
        "checkout-v2",
        PromotionSpec {
            release: "checkout-v2-canary".into(),
            to_environment: None,
            batches: vec![
                batch("canary", &["alpha"], Some("10m"), false),
                batch("wave-1", &["beta", "gamma"], Some("5m"), true),
                batch("rest", &[], None, false),
            ],
            pause_on_degraded: true,
            paused,
            created_by: Some("carol".into()),
        },
    );
    p.metadata.namespace = Some("shop".into());
    p
}

fn release(name: &str, phase: ReleasePhase) -> Release {
    let mut r = Release::new(
        name,
        ReleaseSpec {
            title: "Checkout v2".into(),
            environment: "production".into(),
            changes: vec![WorkloadChange {
                workload: "checkout".into(),
                version: Some("2.0.0".into()),
                values: Default::default(),
                unset: Vec::new(),
            }],
            submitted: true,
            ..ReleaseSpec::default()
        },
    );
    r.metadata.namespace = Some("shop".into());
    r.metadata.labels = Some([(labels::PROMOTION.to_string(), "checkout-v2".to_string())].into());
    r.status = Some(ReleaseStatus {
        phase: Some(phase),
        message: Some(format!("{phase:?}")),
        timeline: vec![TimelineEntry {
            time: Time(at(0)),
            phase,
            message: None,
            actor: None,
        }],
        ..ReleaseStatus::default()
    });
    r
}

#[test]
fn batches_take_named_selected_and_remaining_tenants_once() {
    let tenants = [
        tenant("alpha", "canary"),
        tenant("beta", "standard"),
        tenant("gamma", "standard"),
        tenant("delta", "standard"),
    ];
    let refs: Vec<&Tenant> = tenants.iter().collect();
    let resolved = batch_tenants(&promotion(false), "production", &refs);
    assert_eq!(resolved[0], Ok(vec!["alpha".to_string()]));
    assert_eq!(
        resolved[1],
        Ok(vec!["beta".to_string(), "gamma".to_string()])
    );
    assert_eq!(resolved[2], Ok(vec!["delta".to_string()]), "the rest");
    let mut unknown = promotion(false);
    unknown.spec.batches[0].tenants = vec!["omega".into()];
    assert!(
        batch_tenants(&unknown, "production", &refs)[0]
            .as_ref()
            .unwrap_err()
            .contains("omega")
    );
}

#[test]
fn a_batch_a_release_cannot_name_fails_the_promotion_and_says_to_split_it() {
    let fleet: Vec<Tenant> = (0..=release::MAX_TENANTS)
        .map(|i| tenant(&format!("t-{i:05}"), "standard"))
        .collect();
    let refs: Vec<&Tenant> = fleet.iter().collect();
    let mut p = promotion(false);
    p.spec.batches.truncate(1);
    p.spec.batches[0].tenants.clear();
    let resolved = batch_tenants(&p, "production", &refs);
    let problem = resolved[0].as_ref().unwrap_err();
    assert!(
        problem.contains("canary")
            && problem.contains("5001 tenants")
            && problem.contains("spec.batches"),
        "{problem}"
    );
    let decision = decide(
        &p,
        Some(&release("checkout-v2-canary", ReleasePhase::Healthy)),
        &resolved,
        &[None],
        at(0),
    );
    assert_eq!(decision.status.phase, Some(PromotionPhase::Failed));
    assert!(matches!(decision.action, Action::None));

    // One fewer is a batch release's whole fleet.
    let refs = &refs[1..];
    assert_eq!(
        batch_tenants(&p, "production", refs)[0]
            .as_ref()
            .map(Vec::len),
        Ok(release::MAX_TENANTS)
    );
}

#[test]
fn a_batchs_tenants_are_named_up_to_ten_and_the_rest_counted() {
    let names = |n: usize| (1..=n).map(|i| format!("t-{i}")).collect::<Vec<_>>();
    assert_eq!(tenant_list(&names(2)), "t-1, t-2");
    assert_eq!(tenant_list(&names(10)), names(10).join(", "));
    assert_eq!(
        tenant_list(&names(100)),
        format!("{} and 90 more", names(10).join(", "))
    );
    assert_eq!(tenant_list(&[]), "");
}

fn tenants() -> Vec<Result<Vec<String>, String>> {
    vec![
        Ok(vec!["alpha".into()]),
        Ok(vec!["beta".into(), "gamma".into()]),
        Ok(vec!["delta".into()]),
    ]
}

#[test]
fn the_first_batch_starts_once_the_source_is_healthy() {
    let p = promotion(false);
    let unhealthy = release("checkout-v2-canary", ReleasePhase::Deployed);
    let mut waiting = unhealthy.clone();
    waiting.status.as_mut().unwrap().timeline.clear();
    let d = decide(&p, Some(&waiting), &tenants(), &[None, None, None], at(1));
    assert_eq!(d.action, Action::None);
    assert!(
        d.status
            .message
            .unwrap()
            .contains("waiting for source release")
    );

    let source = release("checkout-v2-canary", ReleasePhase::Healthy);
    let d = decide(&p, Some(&source), &tenants(), &[None, None, None], at(1));
    let Action::Create(created) = d.action else {
        panic!("{:?}", d.action)
    };
    assert_eq!(created.name_any(), "checkout-v2-b1-canary");
    assert_eq!(created.spec.tenants, ["alpha"]);
    assert_eq!(created.spec.type_, ReleaseType::Promotion);
    assert!(
        created.spec.title.ends_with("batch canary (1/3)"),
        "{}",
        created.spec.title
    );
    assert_eq!(d.status.current_batch.as_deref(), Some("canary"));
    assert_eq!(d.status.progress.as_deref(), Some("0/3"));
}

#[test]
fn soak_then_the_next_batch_with_approval() {
    let mut p = promotion(false);
    let source = release("checkout-v2-canary", ReleasePhase::Healthy);
    let d = decide(&p, Some(&source), &tenants(), &[None, None, None], at(0));
    p.status = Some(d.status);
    let canary = release("checkout-v2-canary", ReleasePhase::Healthy);
    let d = decide(
        &p,
        Some(&source),
        &tenants(),
        &[Some(&canary), None, None],
        at(1),
    );
    assert_eq!(d.status.batches[0].phase, BatchPhase::Soaking);
    assert_eq!(d.requeue_at, Some(at(11)));
    p.status = Some(d.status);
    let d = decide(
        &p,
        Some(&source),
        &tenants(),
        &[Some(&canary), None, None],
        at(12),
    );
    assert_eq!(d.status.batches[0].phase, BatchPhase::Succeeded);
    let Action::Create(wave) = d.action else {
        panic!()
    };
    assert_eq!(
        wave.annotations()
            .get(annotations::REQUIRE_APPROVAL)
            .map(String::as_str),
        Some("true")
    );
    assert_eq!(d.status.progress.as_deref(), Some("1/3"));
    p.status = Some(d.status);
    let pending = release("checkout-v2-wave-1", ReleasePhase::PendingApproval);
    let d = decide(
        &p,
        Some(&source),
        &tenants(),
        &[Some(&canary), Some(&pending), None],
        at(13),
    );
    assert_eq!(d.status.batches[1].phase, BatchPhase::AwaitingApproval);
}

#[test]
fn a_degraded_batch_pauses_once_and_resumes_when_unpaused_and_healthy() {
    let mut p = promotion(false);
    let source = release("checkout-v2-canary", ReleasePhase::Healthy);
    p.status = Some(decide(&p, Some(&source), &tenants(), &[None, None, None], at(0)).status);
    let degraded = release("checkout-v2-canary", ReleasePhase::Degraded);
    let d = decide(
        &p,
        Some(&source),
        &tenants(),
        &[Some(&degraded), None, None],
        at(1),
    );
    assert_eq!(d.action, Action::Pause);
    assert_eq!(d.status.phase, Some(PromotionPhase::Paused));
    assert!(
        d.status
            .message
            .clone()
            .unwrap()
            .contains("clear spec.paused")
    );
    p.status = Some(d.status);
    p.spec.paused = true;
    // Still degraded and paused: no second pause.
    let d = decide(
        &p,
        Some(&source),
        &tenants(),
        &[Some(&degraded), None, None],
        at(2),
    );
    assert_eq!(d.action, Action::None);
    assert_eq!(d.status.phase, Some(PromotionPhase::Paused));
    p.status = Some(d.status);
    // Unpaused, still degraded: waits, does not pause again.
    p.spec.paused = false;
    let d = decide(
        &p,
        Some(&source),
        &tenants(),
        &[Some(&degraded), None, None],
        at(3),
    );
    assert_eq!(d.action, Action::None);
    assert_eq!(d.status.phase, Some(PromotionPhase::Progressing));
    p.status = Some(d.status);
    let healthy = release("checkout-v2-canary", ReleasePhase::Healthy);
    let d = decide(
        &p,
        Some(&source),
        &tenants(),
        &[Some(&healthy), None, None],
        at(4),
    );
    assert_eq!(d.status.batches[0].phase, BatchPhase::Soaking);
    assert_eq!(
        d.status.batches[0].healthy_at,
        Some(Time(at(4))),
        "the soak starts over"
    );
}

#[test]
fn a_release_of_another_owner_is_not_taken_for_a_batch() {
    let mut p = promotion(false);
    let source = release("checkout-v2-canary", ReleasePhase::Healthy);
    p.status = Some(decide(&p, Some(&source), &tenants(), &[None, None, None], at(0)).status);
    let mut stranger = release("checkout-v2-b1-canary", ReleasePhase::Healthy);
    stranger.metadata.labels = None;
    let d = decide(
        &p,
        Some(&source),
        &tenants(),
        &[Some(&stranger), None, None],
        at(1),
    );
    assert_eq!(d.status.phase, Some(PromotionPhase::Failed));
    assert!(
        d.status
            .message
            .unwrap()
            .contains("does not belong to this promotion")
    );
}

#[test]
fn a_rejected_batch_fails_the_promotion() {
    let mut p = promotion(false);
    let source = release("checkout-v2-canary", ReleasePhase::Healthy);
    p.status = Some(decide(&p, Some(&source), &tenants(), &[None, None, None], at(0)).status);
    let rejected = release("checkout-v2-canary", ReleasePhase::Rejected);
    let d = decide(
        &p,
        Some(&source),
        &tenants(),
        &[Some(&rejected), None, None],
        at(1),
    );
    assert_eq!(d.status.phase, Some(PromotionPhase::Failed));
    assert_eq!(d.status.batches[0].phase, BatchPhase::Failed);
}
