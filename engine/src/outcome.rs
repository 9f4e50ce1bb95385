//! How a command's outcome is told to people and to CI: what kind of refusal an API error is,
//! and when waiting for a release is over.
//!
//! The access checklist asks every denial to say which kind it is:
//!
//! - **not permitted**: RBAC refused the request (403 from the API server itself), or the
//!   admission webhook refused it for who is asking (403: no team grant, self-approval, same
//!   team). The message says which permission is missing and who grants it.
//! - **permitted but gated**: the webhook refused it for the state of things (409: frozen,
//!   not pending, immutable, policy), or the release stands Blocked / PendingApproval / Rejected.
//!   The rule's own message carries the next step.
//! - **runtime failure**: the API server is unreachable, overloaded or timed out; retrying later
//!   can succeed.
//!
//! Each kind has its own exit code so that CI can tell them apart.

use gitopshq_crds::consts::conditions as condition_types;
use gitopshq_crds::release::{Release, ReleasePhase, ReleaseStatus};
use kube::ResourceExt;

/// What kind of outcome a failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// RBAC or an identity rule refuses this requester.
    NotPermitted,
    /// The credentials were not accepted (expired or wrong token).
    NotAuthenticated,
    /// Allowed in principle, but a gate (freeze, approval, policy, state) stops it now.
    Gated,
    /// The object or the request is wrong (422, 400, bad flags).
    Invalid,
    /// The object does not exist.
    NotFound,
    /// The object already exists, or changed under the request.
    Conflict,
    /// The release ended in a failing phase (Failed, Degraded, Superseded).
    Failed,
    /// The API server could not be reached or answered with a server error; or a timeout.
    Runtime,
}

impl Kind {
    /// The process exit code: 1 failed/invalid, 3 not permitted, 4 gated, 5 runtime failure
    /// (2 is clap's usage error).
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Failed | Kind::Invalid | Kind::NotFound | Kind::Conflict => 1,
            Kind::NotPermitted | Kind::NotAuthenticated => 3,
            Kind::Gated => 4,
            Kind::Runtime => 5,
        }
    }

    /// How the kind is named in messages.
    pub fn label(self) -> &'static str {
        match self {
            Kind::NotPermitted => "not permitted",
            Kind::NotAuthenticated => "not authenticated",
            Kind::Gated => "permitted but gated",
            Kind::Invalid => "invalid",
            Kind::NotFound => "not found",
            Kind::Conflict => "conflict",
            Kind::Failed => "failed",
            Kind::Runtime => "runtime failure",
        }
    }
}

/// What the command was doing when the API answered, to name the missing permission.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attempt {
    /// RBAC verb (`create`, `patch`, `get`, `watch` …).
    pub verb: String,
    /// Plural resource, with its group for non-core ones (`releases.gitopshq.io`).
    pub resource: String,
    pub namespace: Option<String>,
    /// `kind name` of the object, when there is one (`release payment-api-v2`).
    pub object: Option<String>,
}

impl Attempt {
    pub fn new(verb: &str, resource: &str, namespace: Option<&str>) -> Self {
        Self {
            verb: verb.to_string(),
            resource: resource.to_string(),
            namespace: namespace.map(str::to_string),
            object: None,
        }
    }

    pub fn on(mut self, object: impl Into<String>) -> Self {
        self.object = Some(object.into());
        self
    }
}

/// A classified failure: the kind, what happened, and the next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub kind: Kind,
    pub message: String,
    pub next_step: Option<String>,
}

impl std::fmt::Display for Classified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.label(), self.message)?;
        if let Some(next) = &self.next_step {
            write!(f, "\n  next: {next}")?;
        }
        Ok(())
    }
}

/// The parts of an RBAC refusal message: `<res> is forbidden: User "<user>" cannot <verb>
/// resource "<resource>" in API group "<group>" in the namespace "<ns>"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbacDenial {
    pub user: String,
    pub verb: String,
    pub resource: String,
    pub group: String,
    pub namespace: Option<String>,
}

/// Reads an API server RBAC refusal; `None` for any other message.
pub fn parse_rbac_denial(message: &str) -> Option<RbacDenial> {
    let quoted = |after: &str| -> Option<String> {
        let start = message.find(after)? + after.len();
        let rest = &message[start..];
        let rest = rest.strip_prefix('"')?;
        Some(rest[..rest.find('"')?].to_string())
    };
    let user = quoted("User ").or_else(|| quoted("user "))?;
    let after_user = &message[message.find("cannot ")? + "cannot ".len()..];
    let verb = after_user.split_whitespace().next()?.to_string();
    let resource = quoted("resource ")?;
    let group = quoted("in API group ").unwrap_or_default();
    let namespace = quoted("in the namespace ");
    Some(RbacDenial {
        user,
        verb,
        resource,
        group,
        namespace,
    })
}

/// The GitOpsHQ project role that grants `verb` on `resource` (plural, without group).
pub fn role_granting(verb: &str, resource: &str) -> Option<&'static str> {
    let write = matches!(verb, "create" | "update" | "patch" | "delete");
    match resource {
        "approvalrequests" if write => Some("Approver"),
        "breakglasssessions" if write => Some("Approver"),
        "releases" if write => Some("ReleaseManager (or Developer for drafts)"),
        "promotions" if write => Some("ReleaseManager"),
        "workloads" | "tenants" | "variables" if write => Some("Developer"),
        "releases" | "approvalrequests" | "breakglasssessions" | "promotions" | "workloads"
        | "tenants" | "variables" | "events" => Some("Viewer"),
        "environments" => match verb {
            "release" | "cancel" => Some("ReleaseManager"),
            "rollback" => Some("ReleaseManager or Approver"),
            "approve" | "break-glass" => Some("Approver"),
            _ => Some("Viewer"),
        },
        _ => None,
    }
}

/// Classifies an API error from its HTTP status code, its `reason` and its message.
pub fn classify(code: u16, reason: &str, message: &str, attempt: &Attempt) -> Classified {
    let webhook = message.contains("admission webhook");
    // The webhook's own text ("release x denied: …") without the API server's wrapper.
    let denial = message
        .split_once("denied the request: ")
        .map(|(_, m)| m.to_string())
        .unwrap_or_else(|| message.to_string());
    let what = attempt
        .object
        .clone()
        .unwrap_or_else(|| attempt.resource.clone());
    match code {
        401 => Classified {
            kind: Kind::NotAuthenticated,
            message: format!("the API server did not accept the credentials: {message}"),
            next_step: Some(
                "check the token or client certificate of your kubeconfig context (a ServiceAccount token may have expired: kubectl create token SA -n NAMESPACE)".into(),
            ),
        },
        403 if webhook => Classified {
            kind: Kind::NotPermitted,
            message: denial,
            next_step: None,
        },
        403 => match parse_rbac_denial(message) {
            Some(rbac) => {
                let resource = if rbac.group.is_empty() {
                    rbac.resource.clone()
                } else {
                    format!("{}.{}", rbac.resource, rbac.group)
                };
                let place = rbac
                    .namespace
                    .as_deref()
                    .map(|n| format!(" in namespace {n}"))
                    .unwrap_or_else(|| " cluster-wide".into());
                let ns_flag = rbac
                    .namespace
                    .as_deref()
                    .map(|n| format!(" -n {n}"))
                    .unwrap_or_default();
                let who = match (role_granting(&rbac.verb, &rbac.resource), &rbac.namespace) {
                    (Some(role), Some(ns)) => format!(
                        "ask an Admin of project {ns} for a team grant with the {role} role (Project spec.teams), or your cluster administrator for a RoleBinding"
                    ),
                    _ => "ask your cluster administrator for a Role or ClusterRole that grants it".into(),
                };
                Classified {
                    kind: Kind::NotPermitted,
                    message: format!(
                        "RBAC denies {} to {} {resource}{place} (needed to {} {what})",
                        rbac.user, rbac.verb, attempt.verb
                    ),
                    next_step: Some(format!(
                        "{who}; check with: kubectl auth can-i {} {resource}{ns_flag}",
                        rbac.verb
                    )),
                }
            }
            None => Classified {
                kind: Kind::NotPermitted,
                message: message.to_string(),
                next_step: Some(format!(
                    "ask for {} on {}{}",
                    attempt.verb,
                    attempt.resource,
                    attempt
                        .namespace
                        .as_deref()
                        .map(|n| format!(" in namespace {n}"))
                        .unwrap_or_default()
                )),
            },
        },
        409 if webhook => Classified {
            kind: Kind::Gated,
            message: denial,
            next_step: None,
        },
        409 if reason == "AlreadyExists" => Classified {
            kind: Kind::Conflict,
            message: format!("{what} already exists"),
            next_step: Some(
                "pick another name: submitted objects are immutable, so a new change is a new object"
                    .into(),
            ),
        },
        409 => Classified {
            kind: Kind::Conflict,
            message: message.to_string(),
            next_step: Some("the object changed meanwhile; run the command again".into()),
        },
        404 => Classified {
            kind: Kind::NotFound,
            message: format!(
                "{what} not found{}",
                attempt
                    .namespace
                    .as_deref()
                    .map(|n| format!(" in project {n}"))
                    .unwrap_or_default()
            ),
            next_step: Some(format!(
                "check the name and the project (-n); list them with kubectl get {}{}",
                attempt.resource,
                attempt
                    .namespace
                    .as_deref()
                    .map(|n| format!(" -n {n}"))
                    .unwrap_or_default()
            )),
        },
        400 | 422 => Classified {
            kind: Kind::Invalid,
            message: denial,
            next_step: None,
        },
        408 | 429 | 500..=599 => Classified {
            kind: Kind::Runtime,
            message: format!("the API server could not answer ({code} {reason}): {message}"),
            next_step: Some("retry in a moment; if it persists, check the API server and the GitOpsHQ webhook (gitopshq-system)".into()),
        },
        _ => Classified {
            kind: Kind::Invalid,
            message: format!("{code} {reason}: {message}"),
            next_step: None,
        },
    }
}

/// Where a release stands relative to the phase someone waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitVerdict {
    /// The phase (or one past it on the way to Healthy) is reached.
    Reached,
    /// Not yet; keep waiting.
    Waiting,
    /// It will not get there: stop with this kind.
    Stop(Kind),
}

/// The happy path, in order.
const PATH: [ReleasePhase; 6] = [
    ReleasePhase::Draft,
    ReleasePhase::PendingApproval,
    ReleasePhase::Approved,
    ReleasePhase::Deploying,
    ReleasePhase::Deployed,
    ReleasePhase::Healthy,
];

fn rank(phase: ReleasePhase) -> Option<usize> {
    PATH.iter().position(|p| *p == phase)
}

/// Whether waiting for `target` is over with `phase` (`None`: not reconciled yet).
///
/// A phase further along the happy path counts as reached (waiting for `Deployed` is done when
/// the release is already `Healthy`, or `Degraded`, which is delivered too). Rejected and
/// Blocked (and Cancelled) stop as gated; Failed, Superseded, and Degraded when waiting for Healthy stop as
/// failed. Waiting for a phase off the happy path (`--for Degraded`) ends only there, or on any
/// other terminal phase.
pub fn wait_verdict(target: ReleasePhase, phase: Option<ReleasePhase>) -> WaitVerdict {
    let Some(phase) = phase else {
        return WaitVerdict::Waiting;
    };
    if phase == target {
        return WaitVerdict::Reached;
    }
    if let (Some(want), Some(have)) = (rank(target), rank(phase)) {
        return if have >= want {
            WaitVerdict::Reached
        } else {
            WaitVerdict::Waiting
        };
    }
    match phase {
        ReleasePhase::Degraded
            if rank(target).is_some_and(|r| r <= rank(ReleasePhase::Deployed).unwrap_or(0)) =>
        {
            WaitVerdict::Reached
        }
        ReleasePhase::Rejected | ReleasePhase::Blocked | ReleasePhase::Cancelled => {
            WaitVerdict::Stop(Kind::Gated)
        }
        ReleasePhase::Failed | ReleasePhase::Superseded | ReleasePhase::Degraded => {
            WaitVerdict::Stop(Kind::Failed)
        }
        // Waiting for an off-path phase while the release still moves along the path.
        _ => WaitVerdict::Waiting,
    }
}

/// As [`wait_verdict`], for a release applied together with the objects it names (the
/// sandbox applies a whole example folder at once): they reach the controller in any order,
/// and until the last one arrives the release may stand Blocked, which its next reconciliation
/// clears. So Blocked keeps waiting here; the caller's deadline still ends a release that
/// stays Blocked.
pub fn wait_verdict_applied_together(
    target: ReleasePhase,
    phase: Option<ReleasePhase>,
) -> WaitVerdict {
    match wait_verdict(target, phase) {
        WaitVerdict::Stop(_) if phase == Some(ReleasePhase::Blocked) => WaitVerdict::Waiting,
        verdict => verdict,
    }
}

/// Whether the release has got past its approval: its Approved condition is True (the phase
/// may have moved on, even off the happy path), or its phase is Approved or further along it.
pub fn past_approval(status: &ReleaseStatus) -> bool {
    crate::conditions::is_true(&status.conditions, condition_types::APPROVED)
        || wait_verdict(ReleasePhase::Approved, status.phase) == WaitVerdict::Reached
}

/// The kind of a wait that timed out in `phase`: a release still waiting for approval, or a
/// Draft nobody submitted, is gated; anything else is a runtime failure (too slow).
pub fn timed_out_kind(phase: Option<ReleasePhase>) -> Kind {
    match phase {
        Some(ReleasePhase::PendingApproval | ReleasePhase::Draft | ReleasePhase::Blocked) => {
            Kind::Gated
        }
        _ => Kind::Runtime,
    }
}

/// The next step for the release's phase.
pub fn next_step(release: &Release) -> Option<String> {
    let name = release.name_any();
    let ns = release.namespace().unwrap_or_default();
    let status = release.status.as_ref();
    let phase = status.and_then(|s| s.phase);
    let message = status.and_then(|s| s.message.as_deref()).unwrap_or("");
    match phase? {
        ReleasePhase::Draft => Some(format!("submit it: gitopshq release submit {name} -n {ns}")),
        ReleasePhase::PendingApproval => Some(format!(
            "an approver runs: gitopshq approve {name} -n {ns} --comment \"…\" (or gitopshq reject); to withdraw it: gitopshq release cancel {name} -n {ns} --reason \"…\""
        )),
        ReleasePhase::Degraded => rollback_command(message)
            .map(|c| format!("roll back: {c}"))
            .or_else(|| {
                Some(format!(
                    "roll back: gitopshq rollback WORKLOAD --to RELEASE -n {ns}"
                ))
            }),
        ReleasePhase::Failed | ReleasePhase::Blocked => Some(format!(
            "fix what the message says, then retry: kubectl -n {ns} annotate release {name} gitopshq.io/retry=\"$(date +%s)\" --overwrite (or create a new release)"
        )),
        ReleasePhase::Approved | ReleasePhase::Deploying | ReleasePhase::Deployed => Some(format!(
            "wait for it: gitopshq wait {name} -n {ns} --for Healthy"
        )),
        ReleasePhase::Healthy
        | ReleasePhase::Rejected
        | ReleasePhase::Superseded
        | ReleasePhase::Cancelled => None,
    }
}

/// The phases one can wait for: every phase a release reaches after its submission.
pub fn waitable_phases() -> impl Iterator<Item = ReleasePhase> {
    ReleasePhase::ALL
        .iter()
        .copied()
        .filter(|p| *p != ReleasePhase::Draft)
}

/// A release's phase as people read it: the phase, with its reason when the reason says more;
/// before the controller has looked at it, whether it was submitted.
pub fn phase_label(release: &Release) -> String {
    let status = release.status.as_ref();
    match (
        status.and_then(|s| s.phase),
        status.and_then(|s| s.reason.as_deref()),
    ) {
        (Some(p), Some(r)) if p.as_str() != r => format!("{p} ({r})"),
        (Some(p), _) => p.to_string(),
        (None, _) if release.spec.submitted => "submitted, not reconciled yet".into(),
        (None, _) => "Draft".into(),
    }
}

/// Why the release has no ApprovalRequest to decide on (a gated refusal), and what to do.
pub fn no_approval_request(release: &Release) -> (String, Option<String>) {
    let name = release.name_any();
    let ns = release.namespace().unwrap_or_default();
    let status = release.status.as_ref();
    let phase = status.and_then(|s| s.phase).unwrap_or_default();
    match phase {
        ReleasePhase::PendingApproval | ReleasePhase::Draft => (
            format!("release {name} has no ApprovalRequest yet (phase {phase})"),
            Some(if phase == ReleasePhase::Draft {
                format!("it is a Draft: submit it first (gitopshq release submit {name} -n {ns})")
            } else {
                "the controller creates it in a moment; run the command again".into()
            }),
        ),
        _ => {
            let message = status.and_then(|s| s.message.as_deref()).unwrap_or("");
            let why = if message.is_empty() {
                String::new()
            } else {
                format!(" ({message})")
            };
            (
                format!("release {name} needs no approval now: it is {phase}{why}"),
                None,
            )
        }
    }
}

/// The rollback command a Degraded release's message carries ("…; roll back with: gitopshq
/// rollback W --to R -n NS").
pub fn rollback_command(message: &str) -> Option<&str> {
    let start = message.find("gitopshq rollback ")?;
    let rest = &message[start..];
    let end = rest.find(';').unwrap_or(rest.len());
    Some(rest[..end].trim_end_matches(['.', ' ']))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RBAC: &str = r#"approvalrequests.gitopshq.io "api-v2" is forbidden: User "alice" cannot patch resource "approvalrequests" in API group "gitopshq.io" in the namespace "payment-service""#;

    #[test]
    fn rbac_refusals_name_the_permission_and_who_grants_it() {
        let attempt = Attempt::new(
            "patch",
            "approvalrequests.gitopshq.io",
            Some("payment-service"),
        )
        .on("approval request api-v2");
        let c = classify(403, "Forbidden", RBAC, &attempt);
        assert_eq!(c.kind, Kind::NotPermitted);
        assert_eq!(
            c.message,
            "RBAC denies alice to patch approvalrequests.gitopshq.io in namespace payment-service (needed to patch approval request api-v2)"
        );
        let next = c.next_step.unwrap();
        assert!(next.contains("Approver role"), "{next}");
        assert!(
            next.contains(
                "kubectl auth can-i patch approvalrequests.gitopshq.io -n payment-service"
            ),
            "{next}"
        );
        assert_eq!(Kind::NotPermitted.exit_code(), 3);
    }

    #[test]
    fn rbac_messages_parse_for_service_accounts_and_cluster_scope() {
        let sa = parse_rbac_denial(r#"releases.gitopshq.io is forbidden: User "system:serviceaccount:payment-service:ci-deployer" cannot create resource "releases" in API group "gitopshq.io" in the namespace "payment-service""#).unwrap();
        assert_eq!(sa.user, "system:serviceaccount:payment-service:ci-deployer");
        assert_eq!(
            (sa.verb.as_str(), sa.resource.as_str()),
            ("create", "releases")
        );
        let cluster = parse_rbac_denial(r#"secrets "x" is forbidden: User "bob" cannot get resource "secrets" in API group "" in the namespace "gitopshq-system""#).unwrap();
        assert_eq!(cluster.group, "");
        let scoped = parse_rbac_denial(r#"nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope"#).unwrap();
        assert_eq!(scoped.namespace, None);
        assert!(parse_rbac_denial("something else").is_none());
    }

    #[test]
    fn webhook_refusals_keep_the_rules_message() {
        let attempt = Attempt::new("patch", "approvalrequests.gitopshq.io", Some("shop"));
        let same_team = classify(
            403,
            "Forbidden",
            r#"admission webhook "validate.gitopshq.io" denied the request: approval of release r denied: frank (sre-team) cannot approve: needs approval from a team other than sre-team"#,
            &attempt,
        );
        assert_eq!(same_team.kind, Kind::NotPermitted);
        assert!(
            same_team
                .message
                .starts_with("approval of release r denied:")
        );
        let frozen = classify(
            409,
            "Conflict",
            r#"admission webhook "validate.gitopshq.io" denied the request: release r denied: environment production is frozen until 2026-11-25T18:00:00Z; open a BreakGlassSession or wait"#,
            &attempt,
        );
        assert_eq!(frozen.kind, Kind::Gated);
        assert_eq!(frozen.kind.exit_code(), 4);
        assert!(frozen.to_string().starts_with(
            "permitted but gated: release r denied: environment production is frozen"
        ));
        let invalid = classify(
            422,
            "Invalid",
            r#"admission webhook "v" denied the request: session s denied: justification too short"#,
            &attempt,
        );
        assert_eq!(invalid.kind, Kind::Invalid);
    }

    #[test]
    fn other_statuses() {
        let attempt = Attempt::new("create", "releases.gitopshq.io", Some("shop")).on("release r");
        assert_eq!(
            classify(409, "AlreadyExists", "exists", &attempt).kind,
            Kind::Conflict
        );
        assert_eq!(
            classify(409, "Conflict", "the object has been modified", &attempt).kind,
            Kind::Conflict
        );
        let missing = classify(404, "NotFound", "not found", &attempt);
        assert_eq!(missing.message, "release r not found in project shop");
        assert_eq!(
            classify(401, "Unauthorized", "Unauthorized", &attempt).kind,
            Kind::NotAuthenticated
        );
        for code in [429, 500, 503, 504] {
            let c = classify(code, "ServiceUnavailable", "x", &attempt);
            assert_eq!(c.kind, Kind::Runtime);
            assert_eq!(c.kind.exit_code(), 5);
        }
    }

    #[test]
    fn waiting_for_healthy() {
        use ReleasePhase::*;
        let v = |p| wait_verdict(Healthy, Some(p));
        assert_eq!(wait_verdict(Healthy, None), WaitVerdict::Waiting);
        for p in [Draft, PendingApproval, Approved, Deploying, Deployed] {
            assert_eq!(v(p), WaitVerdict::Waiting, "{p:?}");
        }
        assert_eq!(v(Healthy), WaitVerdict::Reached);
        assert_eq!(v(Rejected), WaitVerdict::Stop(Kind::Gated));
        assert_eq!(v(Blocked), WaitVerdict::Stop(Kind::Gated));
        for p in [Failed, Superseded, Degraded] {
            assert_eq!(v(p), WaitVerdict::Stop(Kind::Failed), "{p:?}");
        }
    }

    #[test]
    fn waiting_for_earlier_or_off_path_phases() {
        use ReleasePhase::*;
        assert_eq!(wait_verdict(Deployed, Some(Healthy)), WaitVerdict::Reached);
        assert_eq!(wait_verdict(Deployed, Some(Degraded)), WaitVerdict::Reached);
        assert_eq!(
            wait_verdict(PendingApproval, Some(Approved)),
            WaitVerdict::Reached
        );
        assert_eq!(
            wait_verdict(Approved, Some(Rejected)),
            WaitVerdict::Stop(Kind::Gated)
        );
        assert_eq!(wait_verdict(Degraded, Some(Deployed)), WaitVerdict::Waiting);
        assert_eq!(wait_verdict(Degraded, Some(Degraded)), WaitVerdict::Reached);
        assert_eq!(wait_verdict(Blocked, Some(Blocked)), WaitVerdict::Reached);
        assert_eq!(
            wait_verdict(Blocked, Some(Failed)),
            WaitVerdict::Stop(Kind::Failed)
        );
        assert_eq!(timed_out_kind(Some(PendingApproval)), Kind::Gated);
        assert_eq!(timed_out_kind(Some(Deployed)), Kind::Runtime);
        assert_eq!(timed_out_kind(None), Kind::Runtime);
    }

    #[test]
    fn blocked_is_waited_through_when_objects_were_applied_together() {
        use ReleasePhase::*;
        let v = |p| wait_verdict_applied_together(Healthy, p);
        assert_eq!(v(Some(Blocked)), WaitVerdict::Waiting);
        assert_eq!(v(None), WaitVerdict::Waiting);
        assert_eq!(v(Some(Deployed)), WaitVerdict::Waiting);
        assert_eq!(v(Some(Healthy)), WaitVerdict::Reached);
        assert_eq!(v(Some(Rejected)), WaitVerdict::Stop(Kind::Gated));
        assert_eq!(v(Some(Cancelled)), WaitVerdict::Stop(Kind::Gated));
        for p in [Failed, Superseded, Degraded] {
            assert_eq!(v(Some(p)), WaitVerdict::Stop(Kind::Failed), "{p:?}");
        }
        // Waiting for Blocked itself still ends there.
        assert_eq!(
            wait_verdict_applied_together(Blocked, Some(Blocked)),
            WaitVerdict::Reached
        );
    }

    #[test]
    fn a_release_is_past_approval_by_its_condition_or_its_phase() {
        use crate::conditions::Status;
        let status = |phase, approved: Option<Status>| {
            let mut status = ReleaseStatus {
                phase,
                ..Default::default()
            };
            if let Some(approved) = approved {
                crate::conditions::set(
                    &mut status.conditions,
                    condition_types::APPROVED,
                    approved,
                    "Approved",
                    "",
                    None,
                    jiff::Timestamp::UNIX_EPOCH,
                );
            }
            status
        };
        use ReleasePhase::*;
        assert!(!past_approval(&status(None, None)));
        assert!(!past_approval(&status(Some(PendingApproval), None)));
        assert!(past_approval(&status(Some(Approved), None)));
        assert!(past_approval(&status(Some(Healthy), None)));
        assert!(!past_approval(&status(Some(Rejected), Some(Status::False))));
        // Approved, then failed on delivery: off the happy path, but approved.
        assert!(past_approval(&status(Some(Failed), Some(Status::True))));
    }

    #[test]
    fn the_rollback_command_is_read_from_the_message() {
        let m = "2 of 5 pods CrashLoopBackOff; roll back with: gitopshq rollback checkout-service --to checkout-v3-1-0 -n payment-service";
        assert_eq!(
            rollback_command(m),
            Some("gitopshq rollback checkout-service --to checkout-v3-1-0 -n payment-service")
        );
        assert_eq!(rollback_command("Healthy"), None);
    }

    fn in_phase(phase: Option<ReleasePhase>, reason: Option<&str>, message: &str) -> Release {
        let mut r = Release::test("api-v2", "shop");
        r.status = Some(gitopshq_crds::release::ReleaseStatus {
            phase,
            reason: reason.map(String::from),
            message: (!message.is_empty()).then(|| message.to_string()),
            ..Default::default()
        });
        r
    }

    #[test]
    fn a_phase_is_shown_with_its_reason_when_the_reason_says_more() {
        let healthy = in_phase(Some(ReleasePhase::Healthy), Some("Healthy"), "");
        assert_eq!(phase_label(&healthy), "Healthy");
        let blocked = in_phase(Some(ReleasePhase::Blocked), Some("FreezeActive"), "");
        assert_eq!(phase_label(&blocked), "Blocked (FreezeActive)");
        let mut submitted = in_phase(None, None, "");
        assert_eq!(phase_label(&submitted), "Draft");
        submitted.spec.submitted = true;
        assert_eq!(phase_label(&submitted), "submitted, not reconciled yet");
    }

    #[test]
    fn a_release_without_an_approval_request_says_why_and_what_to_do() {
        let (message, next) = no_approval_request(&in_phase(Some(ReleasePhase::Draft), None, ""));
        assert_eq!(
            message,
            "release api-v2 has no ApprovalRequest yet (phase Draft)"
        );
        assert_eq!(
            next.as_deref(),
            Some("it is a Draft: submit it first (gitopshq release submit api-v2 -n shop)")
        );
        let (_, next) =
            no_approval_request(&in_phase(Some(ReleasePhase::PendingApproval), None, ""));
        assert!(next.unwrap().contains("run the command again"));
        let (message, next) = no_approval_request(&in_phase(
            Some(ReleasePhase::Healthy),
            None,
            "every tenant is healthy",
        ));
        assert_eq!(
            message,
            "release api-v2 needs no approval now: it is Healthy (every tenant is healthy)"
        );
        assert_eq!(next, None);
        assert!(!waitable_phases().any(|p| p == ReleasePhase::Draft));
        assert_eq!(waitable_phases().count(), ReleasePhase::ALL.len() - 1);
    }
}
