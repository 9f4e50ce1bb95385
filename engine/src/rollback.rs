//! A Rollback release: service-scoped (one workload), restoring what an earlier release
//! delivered for it, as a new commit (history is kept). The CLI's `gitopshq rollback` and the
//! dashboard's release page build it here.

use gitopshq_crds::release::{Release, ReleaseSpec, ReleaseType, RollbackTarget, WorkloadChange};
use kube::ResourceExt;

use crate::admission::Requester;
use crate::values_edit::EditCheck;

/// What the person asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RollbackRequest {
    /// The workload whose folders are restored.
    pub workload: String,
    /// Environment; default: the target release's.
    pub environment: Option<String>,
    /// Only these tenants; default: every tenant the target delivered to.
    pub tenants: Vec<String>,
    /// Default: "Roll WORKLOAD back to TARGET".
    pub title: Option<String>,
    pub notes: Option<String>,
    pub break_glass_session: Option<String>,
    /// Default: generated from `rollback-WORKLOAD-`.
    pub name: Option<String>,
    /// Submitted now, or a Draft whose diff preview is read before submitting.
    pub submitted: bool,
}

/// Why a release cannot be rolled back to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollbackError {
    #[error("release {target} has no delivery commit: there is nothing to restore")]
    NotDelivered { target: String },
    #[error("release {target} did not change workload {workload} (it changed {changed})")]
    OtherWorkload {
        target: String,
        workload: String,
        changed: String,
    },
}

impl RollbackError {
    /// The next step.
    pub fn next(&self, namespace: &str) -> String {
        match self {
            Self::NotDelivered { .. } => format!(
                "roll back to a release that was delivered: kubectl get releases -n {namespace}"
            ),
            Self::OtherWorkload { .. } => "name a release that delivered this workload".into(),
        }
    }
}

/// The Rollback release `request` describes, restoring what `target` delivered.
pub fn rollback_release(
    request: &RollbackRequest,
    target: &Release,
    namespace: &str,
) -> Result<Release, RollbackError> {
    restorable(target, &request.workload)?;
    let to = target.name_any();
    let mut release = Release::new(
        request.name.as_deref().unwrap_or_default(),
        ReleaseSpec {
            title: request
                .title
                .clone()
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| format!("Roll {} back to {to}", request.workload)),
            notes: request.notes.clone().filter(|n| !n.trim().is_empty()),
            environment: request
                .environment
                .clone()
                .unwrap_or_else(|| target.spec.environment.clone()),
            tenants: request.tenants.clone(),
            changes: vec![WorkloadChange {
                workload: request.workload.clone(),
                ..WorkloadChange::default()
            }],
            type_: ReleaseType::Rollback,
            rollback_to: Some(RollbackTarget { release: to }),
            break_glass_session: request.break_glass_session.clone(),
            submitted: request.submitted,
            ..ReleaseSpec::default()
        },
    );
    if request.name.is_none() {
        release.metadata.name = None;
        release.metadata.generate_name = Some(
            format!("rollback-{}-", request.workload)
                .chars()
                .take(200)
                .collect(),
        );
    }
    release.metadata.namespace = Some(namespace.to_string());
    Ok(release)
}

/// `Ok` when `target` delivered something `workload`'s rollback can restore.
pub fn restorable(target: &Release, workload: &str) -> Result<(), RollbackError> {
    let target_name = target.name_any();
    if target
        .status
        .as_ref()
        .and_then(|s| s.commit.as_ref())
        .is_none()
    {
        return Err(RollbackError::NotDelivered {
            target: target_name,
        });
    }
    if !target.spec.changes.is_empty()
        && !target.spec.changes.iter().any(|c| c.workload == workload)
    {
        return Err(RollbackError::OtherWorkload {
            target: target_name,
            workload: workload.to_string(),
            changed: crate::plan::workloads_of(target),
        });
    }
    Ok(())
}

/// Whether `user` may start a rollback to `target` from its page: it was delivered, and RBAC
/// lets them create releases (the Draft's page then says whether they may submit it).
pub fn rollback_check(user: &Requester, target: &Release, may_create: bool) -> EditCheck {
    let namespace = target.namespace().unwrap_or_default();
    let refused = EditCheck::refused;
    if let Some(workload) = target.spec.changes.first().map(|c| c.workload.as_str())
        && let Err(gate) = restorable(target, workload)
    {
        return refused(format!("{gate}; {}", gate.next(&namespace)));
    }
    if !may_create {
        return refused(format!(
            "not permitted: {} may not create releases in project {namespace} (RBAC grants no create on releases); ask a project Admin for the ReleaseManager or Approver role in {}",
            user.username, target.spec.environment
        ));
    }
    EditCheck::allowed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(commit: Option<&str>) -> Release {
        let mut release: Release = yaml_serde::from_str(
            "metadata: {name: good, namespace: shop}\nspec: {title: good, environment: production, changes: [{workload: checkout}]}",
        )
        .unwrap();
        if let Some(commit) = commit {
            release.status = Some(gitopshq_crds::release::ReleaseStatus {
                commit: Some(commit.into()),
                ..Default::default()
            });
        }
        release
    }

    #[test]
    fn a_rollback_is_service_scoped_and_in_the_targets_environment() {
        let request = RollbackRequest {
            workload: "checkout".into(),
            submitted: true,
            ..RollbackRequest::default()
        };
        let r = rollback_release(&request, &target(Some("abc")), "shop").unwrap();
        assert_eq!(
            r.metadata.generate_name.as_deref(),
            Some("rollback-checkout-")
        );
        assert_eq!(r.namespace().as_deref(), Some("shop"));
        assert_eq!(r.spec.environment, "production");
        assert_eq!(r.spec.type_, ReleaseType::Rollback);
        assert_eq!(r.spec.rollback_to.as_ref().unwrap().release, "good");
        assert_eq!(r.spec.changes[0].workload, "checkout");
        assert!(r.spec.submitted);
        assert_eq!(r.spec.title, "Roll checkout back to good");
        let draft = RollbackRequest {
            title: Some("  ".into()),
            submitted: false,
            ..request
        };
        let d = rollback_release(&draft, &target(Some("abc")), "shop").unwrap();
        assert!(!d.spec.submitted, "a Draft, to read its diff first");
        assert_eq!(d.spec.title, "Roll checkout back to good");
    }

    #[test]
    fn only_a_delivered_release_of_that_workload_is_restorable() {
        let request = RollbackRequest {
            workload: "checkout".into(),
            ..RollbackRequest::default()
        };
        let err = rollback_release(&request, &target(None), "shop").unwrap_err();
        assert_eq!(
            err.to_string(),
            "release good has no delivery commit: there is nothing to restore"
        );
        let other = RollbackRequest {
            workload: "payments".into(),
            ..RollbackRequest::default()
        };
        let err = rollback_release(&other, &target(Some("abc")), "shop").unwrap_err();
        assert_eq!(
            err.to_string(),
            "release good did not change workload payments (it changed checkout)"
        );
    }

    #[test]
    fn the_page_says_why_no_rollback_is_offered() {
        let carol = Requester::new("carol", &["backend-team"]);
        let undelivered = rollback_check(&carol, &target(None), true);
        assert!(!undelivered.allowed);
        assert!(undelivered.reason.unwrap().contains("no delivery commit"));
        let rbac = rollback_check(&carol, &target(Some("abc")), false);
        assert!(
            rbac.reason
                .unwrap()
                .contains("carol may not create releases in project shop")
        );
        assert!(rollback_check(&carol, &target(Some("abc")), true).allowed);
    }
}
