//! A Promotion asked for from a release's page: where the release can go (each environment of
//! its project, with the tenants there that run its workloads, and whether the person may
//! promote there, in the webhook's words), and the Promotion the chosen batches become.

use std::collections::BTreeSet;

use gitopshq_crds::promotion::{Promotion, PromotionBatch, PromotionSpec};
use gitopshq_crds::release::Release;
use jiff::Timestamp;
use kube::ResourceExt;
use serde::{Deserialize, Serialize};

use crate::admission::{Operation, Request, Requester, validate_promotion};
use crate::catalog::Catalog;
use crate::freeze::parse_duration;
use crate::plan::tenant_runs;
use crate::rbac::verbs;
use crate::values_edit::{Disabling, EditCheck, asked_beforehand};

/// An environment a release can be promoted into.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PromotionTarget {
    pub environment: String,
    /// Its active tenants that run the release's workloads (in the release's own environment,
    /// those it did not deliver to), by name.
    pub tenants: Vec<String>,
    /// Whether the person may promote there now: RBAC, the webhook's `release` grant, and the
    /// environment's promotion gate (`spec.promotion`: healthy in `from` for the soak).
    pub check: EditCheck,
}

/// Where `release` can be promoted, in the project's environment order, its own first.
pub fn promotion_targets(
    catalog: &Catalog,
    user: &Requester,
    release: &Release,
    may_create: bool,
    holds_release: &dyn Fn(&str) -> bool,
    now: Timestamp,
) -> Vec<PromotionTarget> {
    let namespace = release.namespace().unwrap_or_default();
    let delivered: BTreeSet<String> = release
        .status
        .iter()
        .flat_map(|s| s.tenants.iter().map(|t| t.name.clone()))
        .collect();
    let mut environments = vec![release.spec.environment.clone()];
    if let Some(project) = catalog.project(&namespace) {
        environments.extend(
            project
                .spec
                .environments
                .iter()
                .filter(|e| **e != release.spec.environment)
                .cloned(),
        );
    }
    environments
        .into_iter()
        .map(|environment| {
            let same = environment == release.spec.environment;
            let mut tenants: Vec<String> = catalog
                .tenants_of(&namespace)
                .filter(|t| t.spec.environment == environment && !t.spec.suspended)
                .filter(|t| {
                    release
                        .spec
                        .changes
                        .iter()
                        .any(|c| tenant_runs(t, &c.workload))
                })
                .map(|t| t.name_any())
                .filter(|t| !(same && delivered.contains(t)))
                .collect();
            tenants.sort();
            let check = target_check(
                catalog,
                user,
                release,
                &environment,
                may_create,
                holds_release(&environment),
                now,
            );
            PromotionTarget {
                environment,
                tenants,
                check,
            }
        })
        .collect()
}

fn target_check(
    catalog: &Catalog,
    user: &Requester,
    release: &Release,
    environment: &str,
    may_create: bool,
    holds_release: bool,
    now: Timestamp,
) -> EditCheck {
    let namespace = release.namespace().unwrap_or_default();
    let name = release.name_any();
    let refused = EditCheck::refused;
    if release
        .status
        .as_ref()
        .and_then(|s| s.commit.as_ref())
        .is_none()
    {
        return refused(format!(
            "release {name} is not delivered yet: a promotion carries what a delivered release recorded; promote it once it is delivered"
        ));
    }
    if !may_create {
        return refused(format!(
            "not permitted: {} may not create promotions in project {namespace} (RBAC grants no create on promotions); ask a project Admin for the ReleaseManager role in {environment}",
            user.username
        ));
    }
    let proposed = promotion_of(
        &PromoteRequest {
            to_environment: Some(environment.to_string()),
            batches: vec![BatchDraft {
                name: "all".into(),
                ..BatchDraft::default()
            }],
            pause_on_degraded: None,
        },
        release,
    )
    .expect("one batch of the rest is a valid promotion");
    asked_beforehand(
        catalog,
        user,
        &namespace,
        holds_release.then_some((verbs::RELEASE, environment)),
        Disabling::Every,
        |directory| {
            validate_promotion(
                &Request {
                    operation: Operation::Create,
                    user,
                    object: Some(&proposed),
                    old: None,
                    now,
                },
                directory,
            )
        },
    )
}

/// One batch as the page sends it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct BatchDraft {
    pub name: String,
    /// By name; empty: every tenant no earlier batch took ("the rest"), last batch only.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// A Go duration (`10m`); empty: no soak.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub soak: Option<String>,
    #[serde(default)]
    pub require_approval: bool,
}

/// A promotion as the page asks for it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PromoteRequest {
    /// Default: the release's own environment.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub to_environment: Option<String>,
    pub batches: Vec<BatchDraft>,
    /// Default: true (a degraded batch pauses the promotion).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub pause_on_degraded: Option<bool>,
}

/// Why the batches asked for make no promotion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromoteError {
    #[error("batches is empty: a promotion has at least one batch")]
    NoBatches,
    #[error(
        "batches[{index}].name {name:?} is not a lowercase DNS label (letters, digits, '-'); name it like canary or wave-1"
    )]
    Name { index: usize, name: String },
    #[error("batches[{index}].name {name} is used twice: each batch has its own name")]
    Repeated { index: usize, name: String },
    #[error(
        "batches[{index}] ({name}) names no tenant: only the last batch may take the rest; pick its tenants"
    )]
    Empty { index: usize, name: String },
    #[error("batches[{index}] ({name}): tenant {tenant} is already in batch {earlier}")]
    TakenTwice {
        index: usize,
        name: String,
        tenant: String,
        earlier: String,
    },
    #[error("batches[{index}] ({name}).soak {soak:?} is not a duration such as 10m or 1h30m")]
    Soak {
        index: usize,
        name: String,
        soak: String,
    },
}

/// The Promotion `request` describes for the source `release`, named from
/// `promote-<release>-`.
pub fn promotion_of(
    request: &PromoteRequest,
    release: &Release,
) -> Result<Promotion, PromoteError> {
    if request.batches.is_empty() {
        return Err(PromoteError::NoBatches);
    }
    let last = request.batches.len() - 1;
    let mut names: BTreeSet<&str> = BTreeSet::new();
    let mut taken: std::collections::BTreeMap<&str, &str> = Default::default();
    let mut batches = Vec::new();
    for (index, batch) in request.batches.iter().enumerate() {
        let name = batch.name.trim();
        if !is_dns_label(name) {
            return Err(PromoteError::Name {
                index,
                name: batch.name.clone(),
            });
        }
        if !names.insert(name) {
            return Err(PromoteError::Repeated {
                index,
                name: name.to_string(),
            });
        }
        if batch.tenants.is_empty() && index != last {
            return Err(PromoteError::Empty {
                index,
                name: name.to_string(),
            });
        }
        for tenant in &batch.tenants {
            if let Some(earlier) = taken.insert(tenant, name) {
                return Err(PromoteError::TakenTwice {
                    index,
                    name: name.to_string(),
                    tenant: tenant.clone(),
                    earlier: earlier.to_string(),
                });
            }
        }
        let soak = batch
            .soak
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        if let Some(soak) = soak
            && parse_duration(soak).is_none()
        {
            return Err(PromoteError::Soak {
                index,
                name: name.to_string(),
                soak: soak.to_string(),
            });
        }
        batches.push(PromotionBatch {
            name: name.to_string(),
            tenants: batch.tenants.clone(),
            soak: soak.map(str::to_string),
            require_approval: batch.require_approval,
            ..PromotionBatch::default()
        });
    }
    let source = release.name_any();
    let mut promotion = Promotion::new(
        "",
        PromotionSpec {
            release: source.clone(),
            to_environment: request
                .to_environment
                .clone()
                .filter(|e| !e.is_empty() && *e != release.spec.environment),
            batches,
            pause_on_degraded: request.pause_on_degraded.unwrap_or(true),
            ..PromotionSpec::default()
        },
    );
    promotion.metadata.name = None;
    promotion.metadata.generate_name =
        Some(format!("promote-{source}-").chars().take(200).collect());
    promotion.metadata.namespace = release.namespace();
    Ok(promotion)
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
#[path = "authoring_tests.rs"]
mod tests;
