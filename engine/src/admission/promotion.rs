//! Promotions: the creator is stamped from the request and must hold the grant to release into
//! the environment the batches land in, since the batch releases are created by the controller
//! and carry the creator as their author.

use gitopshq_crds::promotion::Promotion;
use kube::ResourceExt;
use serde_json::Value;

use super::{Directory, Operation, Request, Rule, Verdict, is_kubernetes_deleter};
use crate::rbac::verbs;

/// Stamps `spec.createdBy`: the requester on creation, unchanged afterwards.
pub fn mutate_promotion(req: &Request<'_, Promotion>) -> Verdict {
    let Some(promotion) = req.object else {
        return Verdict::allow();
    };
    let created_by = match (req.operation, req.old) {
        (Operation::Update, Some(old)) => old.spec.created_by.clone(),
        _ => Some(req.user.username.clone()),
    };
    if promotion.spec.created_by == created_by {
        return Verdict::allow();
    }
    Verdict::allow().set(
        "/spec/createdBy",
        created_by.map_or(Value::Null, Value::String),
    )
}

/// Creating, pausing, resuming or deleting a promotion needs the `release` grant in the
/// environment its batches release into; its source and batches never change.
pub fn validate_promotion(req: &Request<'_, Promotion>, directory: &dyn Directory) -> Verdict {
    let Some(promotion) = req.object.or(req.old) else {
        return Verdict::allow();
    };
    if req.operation == Operation::Delete && is_kubernetes_deleter(req.user) {
        return Verdict::allow();
    }
    let name = promotion.name_any();
    let namespace = promotion.namespace().unwrap_or_default();
    let what = format!("promotion {name}");
    if let (Operation::Update, Some(new), Some(old)) = (req.operation, req.object, req.old) {
        let mut resumed = new.spec.clone();
        resumed.paused = old.spec.paused;
        if resumed != old.spec {
            return Verdict::deny(
                Rule::Immutable,
                format!(
                    "{what} denied: only spec.paused may change once a promotion exists; create a new Promotion for other batches or another source release"
                ),
            );
        }
        if new.spec.paused == old.spec.paused {
            return Verdict::allow();
        }
    }
    let source_name = &promotion.spec.release;
    let Some(source) = directory.release(&namespace, source_name) else {
        if req.operation == Operation::Delete {
            return Verdict::allow();
        }
        return Verdict::deny(
            Rule::NotFound,
            format!(
                "{what} denied: spec.release {source_name} does not exist in project {namespace}; name a delivered release (kubectl get releases -n {namespace})"
            ),
        );
    };
    let environment = crate::promotion::target_environment(promotion, &source);
    if environment != source.spec.environment {
        let known = directory
            .project(&namespace)
            .is_some_and(|p| p.spec.environments.contains(&environment));
        if directory.environment(&environment).is_none() || !known {
            return Verdict::deny(
                Rule::NotFound,
                format!(
                    "{what} denied: spec.toEnvironment {environment} is not an environment of project {namespace}; name one of its spec.environments"
                ),
            );
        }
    }
    if let Err(denial) = super::require(
        req,
        directory,
        &namespace,
        verbs::RELEASE,
        std::slice::from_ref(&environment),
        &what,
    ) {
        return denial;
    }
    if req.operation == Operation::Create
        && let Err(denial) = admit_carried(promotion, &source, &environment, directory, req.now)
    {
        return denial;
    }
    Verdict::allow().record(
        "gitopshq.io/promotion",
        format!("{source_name} into {environment}"),
    )
}

/// A new promotion carries the state its source recorded; into an environment with
/// `spec.promotion`, that state must have run Healthy in `from` for the soak already, so a
/// promotion that cannot deliver is refused when it is asked for, with the reason.
fn admit_carried(
    promotion: &Promotion,
    source: &gitopshq_crds::release::Release,
    environment: &str,
    directory: &dyn Directory,
    now: jiff::Timestamp,
) -> Result<(), Verdict> {
    let name = promotion.name_any();
    let namespace = promotion.namespace().unwrap_or_default();
    let Some(rule) = directory
        .environment(environment)
        .and_then(|e| e.spec.promotion.clone())
    else {
        // The state is carried when the first batch starts, after the source is Healthy.
        return Ok(());
    };
    let catalog = directory.project_catalog(&namespace);
    let changes = crate::promotion::carried_changes(&catalog, source, Some(promotion)).map_err(
        |problem| {
            Verdict::deny(
                Rule::NotPromoted,
                format!("promotion {name} denied: {problem}"),
            )
        },
    )?;
    let probe = crate::promotion::batch_release(promotion, source, 0, &[], &changes);
    let denial = match crate::promotion::promotion_from_gate(&catalog, &probe, now) {
        crate::promotion::FromGate::Open => return Ok(()),
        crate::promotion::FromGate::Soaking { until, message } => format!(
            "{message}; create it again after {}",
            super::format_time(until)
        ),
        crate::promotion::FromGate::Refused { message } => message,
    };
    Err(Verdict::deny(
        Rule::NotPromoted,
        format!(
            "promotion {name} denied: environment {environment} takes only what has run Healthy in {} for {} (Environment {environment} spec.promotion): {denial}",
            rule.from,
            rule.soak.as_deref().unwrap_or("any time")
        ),
    ))
}
