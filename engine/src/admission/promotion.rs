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
    let environment = source.spec.environment.clone();
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
    Verdict::allow().record(
        "gitopshq.io/promotion",
        format!("{source_name} into {environment}"),
    )
}
