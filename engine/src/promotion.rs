//! Promotions: a source release rolled out batch by batch. A batch starts when the one before
//! it has been healthy for its soak time; its release may need approval; a batch that turns
//! Degraded pauses the promotion (`pauseOnDegraded`) until a person clears `spec.paused`.

use std::collections::{BTreeMap, BTreeSet};

use gitopshq_crds::common::Time;
use gitopshq_crds::consts::{annotations, conditions as types, labels, reasons};
use gitopshq_crds::promotion::{
    BatchPhase, BatchStatus, Promotion, PromotionPhase, PromotionStatus,
};
use gitopshq_crds::release::{
    self, Release, ReleasePhase, ReleaseSpec, ReleaseType, WorkloadChange,
};
use gitopshq_crds::tenant::Tenant;
use jiff::Timestamp;
use kube::api::ObjectMeta;
use kube::{Resource, ResourceExt};

use crate::conditions::{self, Status};
use crate::freeze::parse_duration;

pub mod authoring;
mod between;

pub use between::{FromGate, carried_changes, promotion_from_gate};

/// What the controller must do besides writing the status.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    None,
    /// Create this batch release.
    Create(Box<Release>),
    /// Set `spec.paused` (a batch degraded): the person who clears it resumes the promotion.
    Pause,
}

/// The promotion's next status, action and when to look again.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub status: PromotionStatus,
    pub action: Action,
    pub requeue_at: Option<Timestamp>,
}

/// The tenants of each batch, in order: named ones, those a selector picks, or for a batch
/// with neither, every remaining tenant of the environment ("the rest"). A tenant is in one
/// batch only, the first that names or selects it.
pub fn batch_tenants(
    promotion: &Promotion,
    environment: &str,
    tenants: &[&Tenant],
) -> Vec<Result<Vec<String>, String>> {
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut eligible: Vec<&Tenant> = tenants
        .iter()
        .copied()
        .filter(|t| t.spec.environment == environment && !t.spec.suspended)
        .collect();
    eligible.sort_by_key(|t| t.name_any());
    promotion
        .spec
        .batches
        .iter()
        .map(|batch| {
            let picked: Vec<String> = if !batch.tenants.is_empty() {
                for name in &batch.tenants {
                    if !eligible.iter().any(|t| &t.name_any() == name) {
                        return Err(format!(
                            "batch {}: tenant {name} is not an active tenant of environment {environment}",
                            batch.name
                        ));
                    }
                }
                batch.tenants.clone()
            } else if let Some(selector) = &batch.tenant_selector {
                let mut picked = Vec::new();
                for tenant in &eligible {
                    let selected = crate::selector::matches(selector, &tenant.spec.labels)
                        .map_err(|e| format!("batch {}: tenantSelector: {e}", batch.name))?;
                    if selected {
                        picked.push(tenant.name_any());
                    }
                }
                picked
            } else {
                eligible.iter().map(|t| t.name_any()).collect()
            };
            let picked: Vec<String> = picked.into_iter().filter(|t| !taken.contains(t)).collect();
            if picked.len() > release::MAX_TENANTS {
                return Err(format!(
                    "batch {}: {} tenants, but one batch release names at most {}; split it into smaller batches in spec.batches",
                    batch.name,
                    picked.len(),
                    release::MAX_TENANTS
                ));
            }
            taken.extend(picked.iter().cloned());
            Ok(picked)
        })
        .collect()
}

/// How many of a batch's tenants a sentence names before it counts the rest.
const NAMED_TENANTS: usize = 10;

/// A batch's tenants in a sentence that does not grow with the fleet: "t-1, t-2" or
/// "t-1, …, t-10 and 90 more" (every name stays in `status.batches[].tenants` and the batch
/// release's `spec.tenants`).
pub fn tenant_list(tenants: &[String]) -> String {
    let named = tenants[..tenants.len().min(NAMED_TENANTS)].join(", ");
    match tenants.len().saturating_sub(NAMED_TENANTS) {
        0 => named,
        more => format!("{named} and {more} more"),
    }
}

/// The name of the release of batch `index`: `<promotion>-b<n>-<batch>` (n from 1), unlikely to
/// meet a release people named.
pub fn batch_release_name(promotion: &Promotion, index: usize) -> String {
    format!(
        "{}-b{}-{}",
        promotion.name_any(),
        index + 1,
        promotion.spec.batches[index].name
    )
}

/// The environment a promotion delivers to: `spec.toEnvironment`, else its source's.
pub fn target_environment(promotion: &Promotion, source: &Release) -> String {
    promotion
        .spec
        .to_environment
        .clone()
        .unwrap_or_else(|| source.spec.environment.clone())
}

/// The release that delivers `changes` (what the source release recorded, see
/// [`carried_changes`]) to one batch's tenants of the target environment.
pub fn batch_release(
    promotion: &Promotion,
    source: &Release,
    index: usize,
    tenants: &[String],
    changes: &[WorkloadChange],
) -> Release {
    let batch = &promotion.spec.batches[index];
    let total = promotion.spec.batches.len();
    let mut annotations = BTreeMap::new();
    if batch.require_approval {
        annotations.insert(
            annotations::REQUIRE_APPROVAL.to_string(),
            "true".to_string(),
        );
    }
    Release {
        metadata: ObjectMeta {
            name: Some(batch_release_name(promotion, index)),
            namespace: promotion.namespace(),
            labels: Some(BTreeMap::from([
                (labels::PROMOTION.to_string(), promotion.name_any()),
                (
                    labels::MANAGED_BY.to_string(),
                    labels::MANAGED_BY_VALUE.to_string(),
                ),
            ])),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: promotion.controller_owner_ref(&()).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: ReleaseSpec {
            title: format!(
                "{} — batch {} ({}/{total})",
                source.spec.title,
                batch.name,
                index + 1
            )
            .chars()
            .take(200)
            .collect(),
            notes: Some(format!(
                "Promotion {} of release {}, batch {} of {total}: {}.{}",
                promotion.name_any(),
                source.name_any(),
                index + 1,
                tenant_list(tenants),
                source
                    .spec
                    .notes
                    .as_deref()
                    .map(|n| format!("\n\n{n}"))
                    .unwrap_or_default()
            )),
            environment: target_environment(promotion, source),
            tenants: tenants.to_vec(),
            changes: changes.to_vec(),
            type_: ReleaseType::Promotion,
            submitted: true,
            created_by: promotion.spec.created_by.clone(),
            submitted_by: promotion.spec.created_by.clone(),
            authors: batch_authors(promotion, source),
            ..ReleaseSpec::default()
        },
        status: None,
    }
}

/// The authors of a batch release: the source release's (its content is theirs) and the
/// promotion's creator (who asked for it here), so none of them approves it where
/// self-approval is forbidden.
fn batch_authors(promotion: &Promotion, source: &Release) -> Vec<String> {
    let mut authors: Vec<String> = Vec::new();
    for author in crate::admission::release_authors(source)
        .into_iter()
        .map(str::to_string)
        .chain(promotion.spec.created_by.clone())
    {
        if !authors.contains(&author) {
            authors.push(author);
        }
    }
    authors
}

/// Decides the promotion's next step. `tenants` is [`batch_tenants`] (of the target
/// environment); `releases[i]` is the release of batch `i` when it exists; `carried` is
/// [`carried_changes`] of the source.
pub fn decide(
    promotion: &Promotion,
    source: Option<&Release>,
    tenants: &[Result<Vec<String>, String>],
    releases: &[Option<&Release>],
    carried: &Result<Vec<WorkloadChange>, String>,
    now: Timestamp,
) -> Decision {
    let mut status = promotion.status.clone().unwrap_or_default();
    let total = promotion.spec.batches.len();
    let generation = promotion.metadata.generation;
    let mut action = Action::None;
    let mut requeue_at = None;

    let outcome = 'decide: {
        let Some(source) = source else {
            break 'decide Outcome::failed(format!(
                "source release {} does not exist; create it or fix spec.release",
                promotion.spec.release
            ));
        };
        let source_healthy = source
            .status
            .as_ref()
            .is_some_and(|s| s.timeline.iter().any(|t| t.phase == ReleasePhase::Healthy));
        if !source_healthy {
            break 'decide Outcome::waiting(format!(
                "waiting for source release {} to be Healthy",
                source.name_any()
            ));
        }
        for index in 0..total {
            let spec = &promotion.spec.batches[index];
            let started = status.batches.iter().position(|b| b.name == spec.name);
            let Some(position) = started else {
                if promotion.spec.paused {
                    break 'decide Outcome::paused(format!(
                        "paused before batch {}; clear spec.paused to continue",
                        spec.name
                    ));
                }
                let batch_tenants = match &tenants[index] {
                    Ok(t) => t.clone(),
                    Err(problem) => break 'decide Outcome::failed(problem.clone()),
                };
                let mut entry = BatchStatus {
                    name: spec.name.clone(),
                    phase: BatchPhase::Deploying,
                    started_at: Some(Time(now)),
                    tenants: batch_tenants.clone(),
                    ..BatchStatus::default()
                };
                if batch_tenants.is_empty() {
                    entry.phase = BatchPhase::Succeeded;
                    entry.succeeded_at = Some(Time(now));
                    entry.message = Some("no tenant left for this batch".into());
                    status.batches.push(entry);
                    continue;
                }
                let changes = match carried {
                    Ok(changes) => changes,
                    Err(problem) => break 'decide Outcome::failed(problem.clone()),
                };
                entry.release = Some(batch_release_name(promotion, index));
                entry.message = Some(format!("delivering to {}", tenant_list(&batch_tenants)));
                action = Action::Create(Box::new(batch_release(
                    promotion,
                    source,
                    index,
                    &batch_tenants,
                    changes,
                )));
                status.batches.push(entry);
                break 'decide Outcome::progressing(
                    spec.name.clone(),
                    format!(
                        "batch {} ({}/{total}) started: {}",
                        spec.name,
                        index + 1,
                        tenant_list(&batch_tenants)
                    ),
                );
            };
            let entry = &mut status.batches[position];
            if entry.phase == BatchPhase::Succeeded {
                continue;
            }
            let Some(release) = releases[index] else {
                break 'decide Outcome::progressing(
                    spec.name.clone(),
                    format!(
                        "batch {}: waiting for release {} to appear",
                        spec.name,
                        entry.release.clone().unwrap_or_default()
                    ),
                );
            };
            let ours = release.labels().get(labels::PROMOTION) == Some(&promotion.name_any());
            if !ours {
                break 'decide Outcome::failed(format!(
                    "release {} exists and does not belong to this promotion; delete or rename it, then recreate the promotion",
                    release.name_any()
                ));
            }
            let release_status = release.status.clone().unwrap_or_default();
            entry.approvers = release_status
                .approvals
                .iter()
                .flat_map(|a| &a.approvers)
                .map(|a| a.user.clone())
                .collect();
            let message = release_status.message.clone().unwrap_or_default();
            let was = entry.phase;
            match release_status.phase.unwrap_or_default() {
                ReleasePhase::PendingApproval => {
                    entry.phase = BatchPhase::AwaitingApproval;
                    entry.message = Some(message.clone());
                    break 'decide Outcome::progressing(
                        spec.name.clone(),
                        format!("batch {} awaits approval: {message}", spec.name),
                    );
                }
                ReleasePhase::Draft
                | ReleasePhase::Approved
                | ReleasePhase::Deploying
                | ReleasePhase::Deployed => {
                    entry.phase = BatchPhase::Deploying;
                    entry.healthy_at = None;
                    entry.message = Some(message.clone());
                    break 'decide Outcome::progressing(
                        spec.name.clone(),
                        format!("batch {} is being delivered: {message}", spec.name),
                    );
                }
                ReleasePhase::Healthy | ReleasePhase::Superseded => {
                    let healthy_at = entry.healthy_at.clone().map_or(now, |t| t.0);
                    entry.healthy_at = Some(Time(healthy_at));
                    let soak = spec
                        .soak
                        .as_deref()
                        .and_then(parse_duration)
                        .unwrap_or_default();
                    let done = healthy_at.checked_add(soak).unwrap_or(healthy_at);
                    if now >= done {
                        entry.phase = BatchPhase::Succeeded;
                        entry.succeeded_at = Some(Time(now));
                        entry.message = Some(format!(
                            "healthy for {}",
                            spec.soak.as_deref().unwrap_or("0s")
                        ));
                        continue;
                    }
                    entry.phase = BatchPhase::Soaking;
                    entry.message = Some(format!(
                        "healthy since {}; soaking until {}",
                        crate::admission::format_time(healthy_at),
                        crate::admission::format_time(done)
                    ));
                    requeue_at = Some(done);
                    let text = entry.message.clone().unwrap_or_default();
                    break 'decide Outcome::progressing(
                        spec.name.clone(),
                        format!("batch {}: {text}", spec.name),
                    );
                }
                ReleasePhase::Degraded => {
                    entry.phase = BatchPhase::Degraded;
                    entry.healthy_at = None;
                    entry.message = Some(message.clone());
                    if was != BatchPhase::Degraded && promotion.spec.pause_on_degraded {
                        action = Action::Pause;
                    }
                    let paused = promotion.spec.paused || action == Action::Pause;
                    let text = format!("batch {} is Degraded: {message}", spec.name);
                    break 'decide if paused {
                        Outcome::paused(format!(
                            "{text}; fix it, then clear spec.paused to continue"
                        ))
                    } else {
                        Outcome::progressing(
                            spec.name.clone(),
                            format!("{text}; waiting for it to recover"),
                        )
                    };
                }
                phase @ (ReleasePhase::Failed
                | ReleasePhase::Rejected
                | ReleasePhase::Blocked
                | ReleasePhase::Cancelled) => {
                    entry.phase = BatchPhase::Failed;
                    entry.message = Some(message.clone());
                    break 'decide Outcome::failed(format!(
                        "batch {}: release {} is {phase:?}: {message}",
                        spec.name,
                        release.name_any()
                    ));
                }
            }
        }
        Outcome {
            phase: PromotionPhase::Succeeded,
            current: None,
            reason: reasons::SUCCEEDED,
            message: format!("all {total} batches healthy"),
        }
    };

    let succeeded = status
        .batches
        .iter()
        .filter(|b| b.phase == BatchPhase::Succeeded)
        .count();
    status.progress = Some(format!("{succeeded}/{total}"));
    status.phase = Some(outcome.phase);
    status.current_batch = outcome.current.clone();
    status.message = Some(outcome.message.clone());
    let c = &mut status.conditions;
    let progressing = Status::from_bool(outcome.phase == PromotionPhase::Progressing);
    conditions::set(
        c,
        types::PROGRESSING,
        progressing,
        outcome.reason,
        &outcome.message,
        generation,
        now,
    );
    let ready = Status::from_bool(outcome.phase == PromotionPhase::Succeeded);
    conditions::set(
        c,
        types::READY,
        ready,
        outcome.reason,
        &outcome.message,
        generation,
        now,
    );
    Decision {
        status,
        action,
        requeue_at,
    }
}

struct Outcome {
    phase: PromotionPhase,
    current: Option<String>,
    reason: &'static str,
    message: String,
}

impl Outcome {
    fn failed(message: String) -> Self {
        Self {
            phase: PromotionPhase::Failed,
            current: None,
            reason: reasons::FAILED,
            message,
        }
    }

    fn paused(message: String) -> Self {
        Self {
            phase: PromotionPhase::Paused,
            current: None,
            reason: reasons::PAUSED,
            message,
        }
    }

    fn waiting(message: String) -> Self {
        Self {
            phase: PromotionPhase::Progressing,
            current: None,
            reason: reasons::PROGRESSING,
            message,
        }
    }

    fn progressing(batch: String, message: String) -> Self {
        Self {
            phase: PromotionPhase::Progressing,
            current: Some(batch),
            reason: reasons::BATCH_PROGRESSING,
            message,
        }
    }
}

#[cfg(test)]
mod between_tests;
#[cfg(test)]
mod tests;
