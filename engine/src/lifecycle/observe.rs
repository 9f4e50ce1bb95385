//! Deployed → Healthy / Degraded / Failed: the step a delivered release takes from what its
//! tenants report — the GitOps engine's sync state first, then the health of what runs — and
//! from the environment's progress deadline.

use gitopshq_crds::common::Condition;
use gitopshq_crds::common::Health;
use gitopshq_crds::consts::{self, reasons};
use gitopshq_crds::environment::Environment;
use gitopshq_crds::release::{ReleasePhase, TenantRolloutPhase, TimelineEntry};
use jiff::{SignedDuration, Timestamp};

use super::Step;
use crate::conditions::Status;
use crate::freeze::parse_duration;
use crate::health;
use crate::sync::SyncState;

/// How long a delivered release may take to be synced and healthy when the Environment says
/// nothing (`spec.progressDeadline`).
pub const DEFAULT_PROGRESS_DEADLINE: SignedDuration = SignedDuration::from_mins(10);

/// The environment's progress deadline.
pub fn progress_deadline(environment: Option<&Environment>) -> SignedDuration {
    environment
        .and_then(|e| e.spec.progress_deadline.as_deref())
        .and_then(parse_duration)
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE)
}

/// What one tenant reports: the engine's sync state, and once synced the health of what runs.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantReport {
    pub tenant: String,
    pub sync: SyncState,
    /// Health and its explanation; for a tenant not synced yet, `Progressing` and why.
    pub health: Health,
    pub message: String,
}

impl TenantReport {
    /// The tenant's rollout phase in the release's status.
    pub fn phase(&self) -> TenantRolloutPhase {
        match (&self.sync, self.health) {
            (SyncState::Failed(_), _) => TenantRolloutPhase::Failed,
            (_, Health::Healthy) => TenantRolloutPhase::Healthy,
            (_, Health::Degraded) => TenantRolloutPhase::Degraded,
            _ => TenantRolloutPhase::Deployed,
        }
    }
}

/// What the release's observation knows besides the tenants.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub release: &'a str,
    pub environment: &'a str,
    pub phase: ReleasePhase,
    pub reason: Option<&'a str>,
    /// Whether the release has been Healthy before (later trouble is Degraded, not Failed).
    pub was_healthy: bool,
    pub delivered_at: Option<Timestamp>,
    pub deadline: SignedDuration,
    pub now: Timestamp,
    /// "; roll back with: …" or empty.
    pub rollback: &'a str,
}

/// The step the release takes. A sync the engine failed fails the release with the engine's
/// message; a release not synced and healthy within the deadline fails naming the tenant and
/// what did not make it; otherwise Healthy, Degraded, or the current phase with a fresh
/// message while it rolls out.
pub fn observed_step(observed: &Observed<'_>, reports: &[TenantReport]) -> Step {
    let name = observed.release;
    if let Some((tenant, message)) = reports.iter().find_map(|r| match &r.sync {
        SyncState::Failed(message) => Some((&r.tenant, message)),
        _ => None,
    }) {
        return Step::new(
            ReleasePhase::Failed,
            reasons::SYNC_FAILED,
            format!(
                "release {name} could not be applied to tenant {tenant}: {message}; fix the cause and retry (annotate gitopshq.io/retry){}",
                observed.rollback
            ),
        );
    }
    let triples: Vec<(String, Health, String)> = reports
        .iter()
        .map(|r| (r.tenant.clone(), r.health, r.message.clone()))
        .collect();
    let (overall, message) = health::overall(&triples);
    match overall {
        Health::Healthy => return Step::new(ReleasePhase::Healthy, reasons::HEALTHY, message),
        Health::Degraded => {
            return Step::new(
                ReleasePhase::Degraded,
                reasons::DEGRADED,
                format!("{message}{}", observed.rollback),
            );
        }
        _ => {}
    }
    let overdue = observed
        .delivered_at
        .and_then(|at| at.checked_add(observed.deadline).ok())
        .is_some_and(|deadline| observed.now >= deadline);
    if overdue
        && !observed.was_healthy
        && let Some(late) = reports.iter().find(|r| r.health != Health::Healthy)
    {
        return Step::new(
            ReleasePhase::Failed,
            reasons::PROGRESS_DEADLINE_EXCEEDED,
            format!(
                "release {name} is not synced and healthy on tenant {} after {} (Environment {} spec.progressDeadline): {}; see the workload's events (kubectl describe) and gitopshq logs {name}{}",
                late.tenant,
                format_deadline(observed.deadline),
                observed.environment,
                late.message,
                observed.rollback
            ),
        );
    }
    // Still rolling out, or not observable: keep the phase, refresh the message.
    let reason = match observed.phase {
        ReleasePhase::Healthy => reasons::HEALTHY,
        ReleasePhase::Degraded => reasons::DEGRADED,
        _ => observed
            .reason
            .and_then(|r| {
                [
                    reasons::COMMITTED,
                    reasons::NOTHING_TO_COMMIT,
                    reasons::APPLIED,
                    reasons::PROGRESSING,
                ]
                .into_iter()
                .find(|known| *known == r)
            })
            .unwrap_or(reasons::PROGRESSING),
    };
    Step::new(observed.phase, reason, message)
}

fn format_deadline(deadline: SignedDuration) -> String {
    let minutes = deadline.as_secs() / 60;
    let seconds = deadline.as_secs() % 60;
    match (minutes, seconds) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

/// A tenant's health as the release reports it: objects missing from a tenant that was
/// Healthy were removed (Degraded), not yet applied.
pub fn settled_health(health: Health, was_healthy: bool) -> Health {
    if health == Health::Missing && was_healthy {
        Health::Degraded
    } else {
        health
    }
}

/// How often a release is looked at while it is still on its way (Deployed: syncing and
/// rolling out): a rollout takes seconds, and waiting a whole health interval after it would
/// make every release look that much slower.
pub const ROLLOUT_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// When to look at a release in `phase` again: soon while it rolls out, at the health
/// interval once it settled (Healthy or Degraded, where only drift and health changes remain).
/// `None` for a Failed release: looking again changes nothing; a retry (an annotation on the
/// release) wakes it.
pub fn next_check(
    phase: ReleasePhase,
    interval: std::time::Duration,
) -> Option<std::time::Duration> {
    match phase {
        ReleasePhase::Failed => None,
        ReleasePhase::Deployed => Some(interval.min(ROLLOUT_CHECK)),
        _ => Some(interval),
    }
}

/// Whether the release was Healthy at some point: later trouble is then Degraded rather than
/// Failed, and objects gone from a tenant were removed rather than never applied.
pub fn was_healthy(timeline: &[TimelineEntry]) -> bool {
    timeline.iter().any(|t| t.phase == ReleasePhase::Healthy)
}

/// A tenant's `Drifted` condition as `release` sees it: `drift` describes what differs in the
/// objects it delivered there, `None` that they match. Several releases (one per workload)
/// look at one tenant, so a release clears only the drift it reported itself. Returns whether
/// the conditions changed.
pub fn tenant_drift(
    conditions: &mut Vec<Condition>,
    release: &str,
    drift: Option<&str>,
    generation: Option<i64>,
    now: Timestamp,
) -> bool {
    let reported_by = format!("release {release}: ");
    match drift {
        Some(drift) => crate::conditions::set(
            conditions,
            consts::conditions::DRIFTED,
            Status::True,
            reasons::DRIFT_DETECTED,
            &format!("{reported_by}{drift}"),
            generation,
            now,
        ),
        None => {
            let ours = crate::conditions::get(conditions, consts::conditions::DRIFTED)
                .is_some_and(|c| c.status == "True" && c.message.starts_with(&reported_by));
            ours && crate::conditions::set(
                conditions,
                consts::conditions::DRIFTED,
                Status::False,
                reasons::IN_SYNC,
                "live objects match the delivered ones",
                generation,
                now,
            )
        }
    }
}

/// The releases that observe what runs in `namespace` of workload cluster `cluster` (any
/// namespace when `None`: a cluster-scoped object changed): the delivered releases whose
/// tenants run there. A change there is for them to look at now, not at their next check.
pub fn observing<'a>(
    releases: impl IntoIterator<Item = &'a gitopshq_crds::release::Release>,
    tenants: &[&gitopshq_crds::tenant::Tenant],
    cluster: &str,
    namespace: Option<&str>,
) -> Vec<(String, String)> {
    use kube::ResourceExt;
    let affected: std::collections::BTreeSet<(String, String)> = tenants
        .iter()
        .filter(|t| t.spec.cluster == cluster && namespace.is_none_or(|ns| t.spec.namespace == ns))
        .filter_map(|t| Some((t.namespace()?, t.name_any())))
        .collect();
    releases
        .into_iter()
        .filter(|r| {
            r.status
                .as_ref()
                .and_then(|s| s.phase)
                .is_some_and(super::is_delivered)
        })
        .filter(|r| {
            let project = r.namespace().unwrap_or_default();
            r.status.as_ref().is_some_and(|s| {
                s.tenants
                    .iter()
                    .any(|t| affected.contains(&(project.clone(), t.name.clone())))
            })
        })
        .map(|r| (r.namespace().unwrap_or_default(), r.name_any()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn observed(now: i64) -> Observed<'static> {
        Observed {
            release: "api-v2",
            environment: "production",
            phase: ReleasePhase::Deployed,
            reason: Some(reasons::COMMITTED),
            was_healthy: false,
            delivered_at: Some(at(0)),
            deadline: DEFAULT_PROGRESS_DEADLINE,
            now: at(now),
            rollback: "",
        }
    }

    fn report(tenant: &str, sync: SyncState, health: Health, message: &str) -> TenantReport {
        TenantReport {
            tenant: tenant.into(),
            sync,
            health,
            message: message.into(),
        }
    }

    #[test]
    fn a_failed_sync_fails_the_release_with_the_engines_message() {
        let reports = [
            report("eu", SyncState::Synced, Health::Healthy, "ok"),
            report(
                "us",
                SyncState::Failed(
                    "Flux could not apply commit 4b825dc (BuildFailed): no such file".into(),
                ),
                Health::Unknown,
                "",
            ),
        ];
        let step = observed_step(&observed(30), &reports);
        assert_eq!(step.phase, ReleasePhase::Failed);
        assert_eq!(step.reason, reasons::SYNC_FAILED);
        assert!(
            step.message.contains(
                "tenant us: Flux could not apply commit 4b825dc (BuildFailed): no such file"
            ),
            "{}",
            step.message
        );
        assert_eq!(reports[1].phase(), TenantRolloutPhase::Failed);
    }

    #[test]
    fn past_the_deadline_an_unsynced_or_unhealthy_tenant_fails_the_release() {
        let waiting = [report(
            "eu",
            SyncState::Pending("waiting for Flux to apply commit 4b825dc".into()),
            Health::Progressing,
            "waiting for Flux to apply commit 4b825dc",
        )];
        let step = observed_step(&observed(60), &waiting);
        assert_eq!(step.phase, ReleasePhase::Deployed);
        assert_eq!(step.reason, reasons::COMMITTED);
        let step = observed_step(&observed(601), &waiting);
        assert_eq!(step.phase, ReleasePhase::Failed);
        assert_eq!(step.reason, reasons::PROGRESS_DEADLINE_EXCEEDED);
        assert!(
            step.message.contains("not synced and healthy on tenant eu after 10m (Environment production spec.progressDeadline): waiting for Flux"),
            "{}",
            step.message
        );
        // Once Healthy, later trouble is Degraded, never a missed deadline.
        let mut healthy_before = observed(601);
        healthy_before.was_healthy = true;
        assert_eq!(
            observed_step(&healthy_before, &waiting).phase,
            ReleasePhase::Deployed
        );
    }

    #[test]
    fn healthy_and_degraded_follow_the_worst_tenant() {
        let healthy = [report(
            "eu",
            SyncState::Synced,
            Health::Healthy,
            "3 of 3 available",
        )];
        assert_eq!(
            observed_step(&observed(5), &healthy).phase,
            ReleasePhase::Healthy
        );
        let crashing = [
            report("eu", SyncState::Synced, Health::Healthy, "ok"),
            report(
                "us",
                SyncState::Synced,
                Health::Degraded,
                "2 of 5 pods CrashLoopBackOff",
            ),
        ];
        let mut hinted = observed(5);
        hinted.rollback = "; roll back with: gitopshq rollback api --to api-v1";
        let step = observed_step(&hinted, &crashing);
        assert_eq!(step.phase, ReleasePhase::Degraded);
        assert!(
            step.message
                .contains("us: 2 of 5 pods CrashLoopBackOff; roll back with")
        );
    }

    #[test]
    fn the_deadline_comes_from_the_environment() {
        let mut env = Environment::new("production", Default::default());
        assert_eq!(progress_deadline(Some(&env)), DEFAULT_PROGRESS_DEADLINE);
        env.spec.progress_deadline = Some("90s".into());
        assert_eq!(progress_deadline(Some(&env)), SignedDuration::from_secs(90));
        assert_eq!(format_deadline(SignedDuration::from_secs(90)), "1m30s");
    }

    #[test]
    fn a_release_sets_a_tenants_drift_and_clears_only_its_own() {
        let now: Timestamp = "2026-12-06T10:00:00Z".parse().unwrap();
        let mut conditions = Vec::new();
        assert!(!tenant_drift(&mut conditions, "a", None, Some(1), now));
        assert!(conditions.is_empty(), "no drift, no condition");
        assert!(tenant_drift(
            &mut conditions,
            "a",
            Some("Deployment x/api: image"),
            Some(1),
            now
        ));
        let drifted = &conditions[0];
        assert_eq!(
            (drifted.status.as_str(), drifted.message.as_str()),
            ("True", "release a: Deployment x/api: image")
        );
        // Another release of the tenant sees its own objects in sync: not its drift to clear.
        assert!(!tenant_drift(&mut conditions, "b", None, Some(1), now));
        assert_eq!(conditions[0].status, "True");
        assert!(tenant_drift(&mut conditions, "a", None, Some(1), now));
        assert_eq!(
            (conditions[0].status.as_str(), conditions[0].reason.as_str()),
            ("False", reasons::IN_SYNC)
        );
    }

    #[test]
    fn a_rolling_out_release_is_looked_at_sooner_than_a_settled_one() {
        let interval = std::time::Duration::from_secs(15);
        assert_eq!(
            next_check(ReleasePhase::Deployed, interval),
            Some(ROLLOUT_CHECK)
        );
        assert_eq!(next_check(ReleasePhase::Healthy, interval), Some(interval));
        assert_eq!(next_check(ReleasePhase::Degraded, interval), Some(interval));
        let short = std::time::Duration::from_millis(200);
        assert_eq!(next_check(ReleasePhase::Deployed, short), Some(short));
        assert_eq!(next_check(ReleasePhase::Failed, interval), None);
    }

    #[test]
    fn a_release_was_healthy_when_its_timeline_says_so() {
        let entry = |phase| TimelineEntry {
            time: gitopshq_crds::common::Time(Timestamp::UNIX_EPOCH),
            phase,
            message: None,
            actor: None,
        };
        assert!(!was_healthy(&[]));
        assert!(!was_healthy(&[entry(ReleasePhase::Deployed)]));
        assert!(was_healthy(&[
            entry(ReleasePhase::Healthy),
            entry(ReleasePhase::Degraded)
        ]));
    }

    #[test]
    fn objects_gone_from_a_healthy_tenant_are_degraded_not_missing() {
        assert_eq!(settled_health(Health::Missing, true), Health::Degraded);
        assert_eq!(settled_health(Health::Missing, false), Health::Missing);
        assert_eq!(settled_health(Health::Healthy, true), Health::Healthy);
    }
}
