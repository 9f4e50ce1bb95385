//! A Project's status after the controller put its namespace, team RBAC, repository skeleton
//! and GitOps engine objects in place (or failed to): the conditions of each, the phase, and
//! the Event when it turns Ready or stops being Ready.

use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_crds::project::{Project, ProjectPhase, ProjectStatus};
use jiff::Timestamp;

use crate::conditions::{self, Status};

/// Why the namespace or RBAC could not be put in place: the error's own text (the condition)
/// and its whole chain of causes (the status message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbacProblem {
    pub error: String,
    pub chain: String,
}

/// What the controller did for a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectWork {
    /// The namespace the project's objects live in.
    pub namespace: String,
    /// How many team grants are in place.
    pub rbac: Result<usize, RbacProblem>,
    /// The skeleton's commit.
    pub repository: Result<String, String>,
    /// What the GitOps engine was given (Flux and Argo CD projects only).
    pub gitops: Option<Result<String, String>>,
}

/// The status to write and the Event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectOutcome {
    pub status: ProjectStatus,
    pub ready: bool,
    /// `(warning, reason, message)` when the project turned Ready or stopped being Ready.
    pub event: Option<(bool, &'static str, String)>,
}

/// The status of `project` after `work`.
pub fn project_status(project: &Project, work: &ProjectWork, now: Timestamp) -> ProjectOutcome {
    let generation = project.metadata.generation;
    let mut status = project.status.clone().unwrap_or_default();
    let c = &mut status.conditions;
    let (s, reason, message) = match &work.rbac {
        Ok(grants) => (
            Status::True,
            reasons::RECONCILED,
            format!(
                "namespace {} and {grants} team grant(s) in place",
                work.namespace
            ),
        ),
        Err(problem) => (Status::False, reasons::INVALID_SPEC, problem.error.clone()),
    };
    conditions::set(c, types::RBAC_READY, s, reason, &message, generation, now);
    let (s, reason, message) = match &work.repository {
        Ok(_) => (
            Status::True,
            reasons::RECONCILED,
            format!(
                "skeleton committed on {} of {}",
                project.spec.repository.branch, project.spec.repository.url
            ),
        ),
        Err(problem) => (Status::False, reasons::REPOSITORY_ERROR, problem.clone()),
    };
    conditions::set(
        c,
        types::REPOSITORY_READY,
        s,
        reason,
        &message,
        generation,
        now,
    );
    match &work.gitops {
        Some(result) => {
            let (s, reason, message) = match result {
                Ok(summary) => (Status::True, reasons::RECONCILED, summary.clone()),
                Err(problem) => (Status::False, reasons::REPOSITORY_ERROR, problem.clone()),
            };
            conditions::set(c, types::GITOPS_READY, s, reason, &message, generation, now);
        }
        None => {
            conditions::remove(c, types::GITOPS_READY);
        }
    }
    if work.rbac.is_ok() {
        status.namespace = Some(work.namespace.clone());
    }
    if let Ok(commit) = &work.repository {
        status.last_commit.get_or_insert_with(|| commit.clone());
    }
    status.short_commit = status
        .last_commit
        .as_ref()
        .map(|c| c[..c.len().min(7)].to_string());

    let ready = work.rbac.is_ok() && work.repository.is_ok();
    status.phase = Some(if ready {
        ProjectPhase::Ready
    } else {
        ProjectPhase::Failed
    });
    status.message = (!ready).then(|| {
        [
            work.rbac.as_ref().err().map(|p| p.chain.clone()),
            work.repository.as_ref().err().cloned(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ")
    });
    let (s, reason, message) = if ready {
        (
            Status::True,
            reasons::RECONCILED,
            "namespace, RBAC and repository skeleton in place".to_string(),
        )
    } else {
        let reason = if work.rbac.is_err() {
            reasons::INVALID_SPEC
        } else {
            reasons::REPOSITORY_ERROR
        };
        (
            Status::False,
            reason,
            status.message.clone().unwrap_or_default(),
        )
    };
    conditions::set(
        &mut status.conditions,
        types::READY,
        s,
        reason,
        &message,
        generation,
        now,
    );
    let was_ready = project.status.as_ref().and_then(|s| s.phase) == Some(ProjectPhase::Ready);
    ProjectOutcome {
        status,
        ready,
        event: (ready != was_ready).then_some((!ready, reason, message)),
    }
}

#[cfg(test)]
mod tests {
    use gitopshq_crds::project::ProjectSpec;

    use super::*;

    fn project() -> Project {
        let spec: ProjectSpec = yaml_serde::from_str(
            "environments: [staging]\nrepository: {url: https://git.example.com/gitops.git}",
        )
        .unwrap();
        Project::new("payments", spec)
    }

    fn work() -> ProjectWork {
        ProjectWork {
            namespace: "payments".into(),
            rbac: Ok(2),
            repository: Ok("0123456789abcdef".into()),
            gitops: Some(Ok("Flux objects in place".into())),
        }
    }

    #[test]
    fn a_project_in_place_is_ready_once_and_says_so_once() {
        let now = Timestamp::from_second(1_780_000_000).unwrap();
        let mut project = project();
        let outcome = project_status(&project, &work(), now);
        let status = &outcome.status;
        assert!(outcome.ready);
        assert_eq!(status.phase, Some(ProjectPhase::Ready));
        assert_eq!(status.namespace.as_deref(), Some("payments"));
        assert_eq!(status.short_commit.as_deref(), Some("0123456"));
        assert_eq!(status.message, None);
        assert!(conditions::is_true(&status.conditions, types::GITOPS_READY));
        let (warning, reason, _) = outcome.event.clone().expect("turned Ready");
        assert!(!warning);
        assert_eq!(reason, reasons::RECONCILED);
        project.status = Some(outcome.status);
        let mut direct = work();
        direct.gitops = None;
        let again = project_status(&project, &direct, now);
        assert_eq!(again.event, None, "still Ready: no Event");
        assert!(
            !again
                .status
                .conditions
                .iter()
                .any(|c| c.type_ == types::GITOPS_READY),
            "no GitOps engine, no condition"
        );
    }

    #[test]
    fn a_failure_names_every_cause_and_keeps_the_first_commit() {
        let now = Timestamp::from_second(1_780_000_000).unwrap();
        let mut project = project();
        project.status = Some(project_status(&project, &work(), now).status);
        let broken = ProjectWork {
            rbac: Err(RbacProblem {
                error: "cannot create Role".into(),
                chain: "cannot create Role: forbidden".into(),
            }),
            repository: Err("cannot push: 403".into()),
            ..work()
        };
        let outcome = project_status(&project, &broken, now);
        assert!(!outcome.ready);
        assert_eq!(outcome.status.phase, Some(ProjectPhase::Failed));
        assert_eq!(
            outcome.status.message.as_deref(),
            Some("cannot create Role: forbidden; cannot push: 403")
        );
        assert_eq!(outcome.status.short_commit.as_deref(), Some("0123456"));
        let (warning, reason, message) = outcome.event.expect("stopped being Ready");
        assert!(warning);
        assert_eq!(reason, reasons::INVALID_SPEC);
        assert_eq!(message, "cannot create Role: forbidden; cannot push: 403");
    }
}
