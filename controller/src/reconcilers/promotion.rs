//! Promotion: creates one release per batch, in order, as the engine decides; pauses by
//! setting `spec.paused` when a batch degrades, as Argo Rollouts does.

use std::sync::Arc;

use gitopshq_crds::consts::reasons;
use gitopshq_crds::promotion::Promotion;
use gitopshq_crds::release::Release;
use gitopshq_engine::promotion::{self, Action, batch_release_name};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};

use crate::context::Context;
use crate::error::{Result, kube as kube_error};
use crate::reconcilers::environment::until;

pub async fn reconcile(promotion: Arc<Promotion>, ctx: Arc<Context>) -> Result<Requeue> {
    let namespace = promotion.namespace().unwrap_or_default();
    if !ctx.settings.shard.owns(&namespace) || promotion.metadata.deletion_timestamp.is_some() {
        return Ok(Requeue::await_change());
    }
    let now = ctx.now();
    let release = |name: &str| {
        ctx.index
            .releases
            .store
            .get(&ObjectRef::new(name).within(&namespace))
    };
    let source = release(&promotion.spec.release);
    let catalog = ctx.index.catalog(&namespace);
    let refs: Vec<_> = catalog.tenants.iter().collect();
    let environment = source
        .as_ref()
        .map(|s| promotion::target_environment(&promotion, s))
        .unwrap_or_default();
    let batch_tenants = promotion::batch_tenants(&promotion, &environment, &refs);
    let carried = match &source {
        Some(source) => promotion::carried_changes(&catalog, source, Some(&promotion)),
        None => Ok(Vec::new()),
    };
    let batches: Vec<Option<Arc<Release>>> = (0..promotion.spec.batches.len())
        .map(|i| release(&batch_release_name(&promotion, i)))
        .collect();
    let batch_refs: Vec<Option<&Release>> = batches.iter().map(|b| b.as_deref()).collect();
    let mut decision = promotion::decide(
        &promotion,
        source.as_deref(),
        &batch_tenants,
        &batch_refs,
        &carried,
        now,
    );

    match &decision.action {
        Action::None => {}
        Action::Create(batch) => {
            let api: Api<Release> = Api::namespaced(ctx.client.clone(), &namespace);
            match api.create(&PostParams::default(), batch).await {
                Ok(_) => {
                    let note = format!(
                        "created release {} for {}",
                        batch.name_any(),
                        promotion::tenant_list(&batch.spec.tenants)
                    );
                    ctx.event(promotion.as_ref(), false, reasons::BATCH_STARTED, note)
                        .await;
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(kube::Error::Api(status)) => {
                    // Refused by admission (a freeze, a policy): the batch waits and says why.
                    let text = format!(
                        "batch release {} was refused: {}",
                        batch.name_any(),
                        status.message
                    );
                    decision
                        .status
                        .batches
                        .retain(|b| b.release.as_deref() != Some(&batch.name_any()));
                    decision.status.message = Some(text.clone());
                    ctx.patch_status(promotion.as_ref(), &decision.status)
                        .await?;
                    ctx.event(promotion.as_ref(), true, reasons::BATCH_REFUSED, text)
                        .await;
                    return Ok(Requeue::requeue(std::time::Duration::from_secs(30)));
                }
                Err(e) => {
                    return Err(kube_error(format!("creating release {}", batch.name_any()))(e));
                }
            }
        }
        Action::Pause => {
            let api: Api<Promotion> = Api::namespaced(ctx.client.clone(), &namespace);
            api.patch(
                &promotion.name_any(),
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"spec": {"paused": true}})),
            )
            .await
            .map_err(kube_error(format!(
                "pausing promotion {}",
                promotion.name_any()
            )))?;
            let note = decision.status.message.clone().unwrap_or_default();
            ctx.event(promotion.as_ref(), true, reasons::PAUSED, note)
                .await;
        }
    }
    if promotion.status.as_ref() != Some(&decision.status) {
        ctx.patch_status(promotion.as_ref(), &decision.status)
            .await?;
    }
    Ok(match decision.requeue_at {
        Some(at) => Requeue::requeue(until(Some(at), now)),
        None => Requeue::requeue(std::time::Duration::from_secs(60)),
    })
}
