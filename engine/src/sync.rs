//! What the GitOps engine says about a tenant's delivery. Done means the engine says so: a
//! tenant is synced when its Flux Kustomization is `Ready` with `lastAppliedRevision` at the
//! release's commit (or a later commit that contains it), or its Argo CD Application is
//! `Synced` at such a revision; a failed apply of that commit fails the tenant with the engine's
//! own message. The shell reads the objects and answers, from the repository's history,
//! whether a revision contains the commit.

use serde_json::Value;

/// The engine's view of one tenant's delivery of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncState {
    /// The commit (or a later one containing it) is applied.
    Synced,
    /// Not yet; what the engine is doing.
    Pending(String),
    /// The engine tried the commit (or a later one) and failed; its message.
    Failed(String),
}

impl SyncState {
    /// What the engine says while the commit is not applied; `None` once it is, when the
    /// health of what runs speaks instead.
    pub fn unsynced_message(&self) -> Option<&str> {
        match self {
            SyncState::Synced => None,
            SyncState::Pending(message) | SyncState::Failed(message) => Some(message),
        }
    }
}

/// The SHA of a revision as the engines write it: Flux `main@sha1:<sha>` (or `sha1:<sha>`),
/// Argo CD a bare SHA.
pub fn revision_sha(revision: &str) -> &str {
    let revision = revision.rsplit('@').next().unwrap_or(revision);
    revision
        .strip_prefix("sha1:")
        .or_else(|| revision.strip_prefix("sha256:"))
        .unwrap_or(revision)
}

fn condition<'v>(object: &'v Value, type_: &str) -> Option<&'v Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

fn text<'v>(object: &'v Value, pointer: &str) -> Option<&'v str> {
    object.pointer(pointer).and_then(Value::as_str)
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(7)]
}

/// The state of a Flux `Kustomization` (`kustomize.toolkit.fluxcd.io/v1`) for `commit`.
/// `contains(sha)`: whether the history of `sha` holds `commit`. `name` names the object in
/// messages (`flux-system/payments-production-eu`).
pub fn flux_kustomization(
    kustomization: Option<&Value>,
    name: &str,
    commit: &str,
    contains: &dyn Fn(&str) -> bool,
) -> SyncState {
    let Some(kustomization) = kustomization else {
        return SyncState::Pending(format!(
            "Flux Kustomization {name} does not exist yet (the environment's root Kustomization creates it from the repository)"
        ));
    };
    let ready = condition(kustomization, "Ready");
    let status = ready.and_then(|c| text(c, "/status")).unwrap_or("Unknown");
    let reason = ready.and_then(|c| text(c, "/reason")).unwrap_or_default();
    let message = ready.and_then(|c| text(c, "/message")).unwrap_or_default();
    let applied = text(kustomization, "/status/lastAppliedRevision").map(revision_sha);
    let attempted = text(kustomization, "/status/lastAttemptedRevision").map(revision_sha);
    // Applied once is applied: a later commit failing (Ready=False) is that commit's failure,
    // and what this one delivered is judged by its health and drift.
    if applied.is_some_and(contains) {
        return SyncState::Synced;
    }
    if status == "False" && attempted.is_some_and(contains) {
        return SyncState::Failed(format!(
            "Flux could not apply commit {} ({name}, {reason}): {message}",
            short(commit)
        ));
    }
    let doing = if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    };
    SyncState::Pending(format!(
        "waiting for Flux to apply commit {} ({name}{}){doing}",
        short(commit),
        match applied {
            Some(sha) => format!(", at {} now", short(sha)),
            None => String::new(),
        }
    ))
}

/// The revisions Argo CD synced successfully, newest last (`status.history`).
fn history(application: &Value) -> impl Iterator<Item = &str> {
    application
        .pointer("/status/history")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| text(entry, "/revision"))
        .map(revision_sha)
}

/// Every revision a Flux `Kustomization` names (applied, attempted): those whose history the
/// shell must look up for [`flux_kustomization`]'s `contains`.
pub fn flux_revisions(kustomization: &Value) -> Vec<String> {
    [
        "/status/lastAppliedRevision",
        "/status/lastAttemptedRevision",
    ]
    .iter()
    .filter_map(|p| text(kustomization, p))
    .map(|r| revision_sha(r).to_string())
    .collect()
}

/// Every revision an Argo CD `Application` names (synced, operated on, in its history): those
/// whose history the shell must look up for [`argocd_application`]'s `contains`.
pub fn argocd_revisions(application: &Value) -> Vec<String> {
    let mut revisions: Vec<String> = [
        "/status/sync/revision",
        "/status/operationState/syncResult/revision",
        "/status/operationState/operation/sync/revision",
    ]
    .iter()
    .filter_map(|p| text(application, p))
    .chain(history(application))
    .map(|r| revision_sha(r).to_string())
    .collect();
    revisions.sort();
    revisions.dedup();
    revisions
}

/// What Argo CD said of each resource it could not sync (`"; ConfigMap x/y: namespace x is
/// not permitted in project 'p'"`): the operation's own message is often only "one or more
/// synchronization tasks are not valid".
fn failed_resources(application: &Value) -> String {
    let resources = application
        .pointer("/status/operationState/syncResult/resources")
        .and_then(Value::as_array);
    let mut out = String::new();
    for resource in resources.into_iter().flatten() {
        let status = text(resource, "/status").unwrap_or_default();
        if !matches!(status, "SyncFailed" | "PruneSkipped") {
            continue;
        }
        let kind = text(resource, "/kind").unwrap_or("object");
        let name = text(resource, "/name").unwrap_or_default();
        let message = text(resource, "/message").unwrap_or(status);
        let object = match text(resource, "/namespace").filter(|n| !n.is_empty()) {
            Some(namespace) => format!("{kind} {namespace}/{name}"),
            None => format!("{kind} {name}"),
        };
        out.push_str(&format!("; {object}: {message}"));
    }
    out
}

/// The state of an Argo CD `Application` (`argoproj.io/v1alpha1`) for `commit`.
pub fn argocd_application(
    application: Option<&Value>,
    name: &str,
    commit: &str,
    contains: &dyn Fn(&str) -> bool,
) -> SyncState {
    let Some(application) = application else {
        return SyncState::Pending(format!(
            "Argo CD Application {name} does not exist yet (the environment's root Application creates it from the repository)"
        ));
    };
    let synced_at = text(application, "/status/sync/revision").map(revision_sha);
    let sync = text(application, "/status/sync/status").unwrap_or("Unknown");
    if sync == "Synced" && synced_at.is_some_and(contains) {
        return SyncState::Synced;
    }
    // Synced once is synced: `status.history` lists the revisions Argo CD synced successfully,
    // so a later commit failing (OutOfSync, a failed operation) is that commit's failure.
    if history(application).any(contains) {
        return SyncState::Synced;
    }
    let phase = text(application, "/status/operationState/phase").unwrap_or_default();
    let operated = text(application, "/status/operationState/syncResult/revision")
        .or_else(|| {
            text(
                application,
                "/status/operationState/operation/sync/revision",
            )
        })
        .map(revision_sha);
    // Argo CD retries a failed automated sync (five times by default, backing off to minutes)
    // with the operation back in Running: a failed attempt of the commit is its failure, as
    // Flux's Ready=False is, not something to wait out.
    let retrying = phase == "Running"
        && application
            .pointer("/status/operationState/retryCount")
            .and_then(Value::as_i64)
            .is_some_and(|n| n > 0);
    if (matches!(phase, "Failed" | "Error") || retrying) && operated.is_some_and(contains) {
        let message = text(application, "/status/operationState/message").unwrap_or("no message");
        return SyncState::Failed(format!(
            "Argo CD could not sync commit {} ({name}, {phase}): {message}{}",
            short(commit),
            failed_resources(application)
        ));
    }
    SyncState::Pending(format!(
        "waiting for Argo CD to sync commit {} ({name}: {sync}{})",
        short(commit),
        match synced_at {
            Some(sha) => format!(" at {}", short(sha)),
            None => String::new(),
        }
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const COMMIT: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
    const LATER: &str = "9f2c1e0d4b5a69788776655443322110aabbccdd";
    const EARLIER: &str = "1111111111111111111111111111111111111111";

    fn contains(sha: &str) -> bool {
        sha == COMMIT || sha == LATER
    }

    fn kustomization(ready: &str, reason: &str, applied: &str, attempted: &str) -> Value {
        json!({"status": {
            "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": "kustomize build failed: accumulating resources"}],
            "lastAppliedRevision": format!("main@sha1:{applied}"),
            "lastAttemptedRevision": format!("main@sha1:{attempted}"),
        }})
    }

    #[test]
    fn only_an_unsynced_state_carries_the_engines_message() {
        assert_eq!(SyncState::Synced.unsynced_message(), None);
        assert_eq!(
            SyncState::Pending("fetching".into()).unsynced_message(),
            Some("fetching")
        );
        assert_eq!(
            SyncState::Failed("build failed".into()).unsynced_message(),
            Some("build failed")
        );
    }

    #[test]
    fn flux_is_synced_at_the_commit_or_a_later_one() {
        let at = kustomization("True", "ReconciliationSucceeded", COMMIT, COMMIT);
        assert_eq!(
            flux_kustomization(Some(&at), "flux-system/x", COMMIT, &contains),
            SyncState::Synced
        );
        let later = kustomization("True", "ReconciliationSucceeded", LATER, LATER);
        assert_eq!(
            flux_kustomization(Some(&later), "flux-system/x", COMMIT, &contains),
            SyncState::Synced
        );
        let before = kustomization("True", "ReconciliationSucceeded", EARLIER, EARLIER);
        let SyncState::Pending(message) =
            flux_kustomization(Some(&before), "flux-system/x", COMMIT, &contains)
        else {
            panic!("an earlier revision is not the commit");
        };
        assert!(
            message.contains("waiting for Flux to apply commit 4b825dc"),
            "{message}"
        );
        assert!(message.contains("at 1111111 now"), "{message}");
    }

    #[test]
    fn a_failed_apply_of_the_commit_fails_with_fluxs_message() {
        let failed = kustomization("False", "BuildFailed", EARLIER, COMMIT);
        let SyncState::Failed(message) =
            flux_kustomization(Some(&failed), "flux-system/x", COMMIT, &contains)
        else {
            panic!("expected a failure");
        };
        assert!(
            message.contains("Flux could not apply commit 4b825dc (flux-system/x, BuildFailed): kustomize build failed"),
            "{message}"
        );
        // A failure of an earlier commit says nothing about this one yet.
        let stale = kustomization("False", "BuildFailed", EARLIER, EARLIER);
        assert!(matches!(
            flux_kustomization(Some(&stale), "flux-system/x", COMMIT, &contains),
            SyncState::Pending(_)
        ));
        // A later commit failing does not undo this one, which Flux applied.
        let after = kustomization("False", "ReconciliationFailed", COMMIT, LATER);
        assert_eq!(
            flux_kustomization(Some(&after), "flux-system/x", COMMIT, &contains),
            SyncState::Synced
        );
        assert!(matches!(
            flux_kustomization(None, "flux-system/x", COMMIT, &contains),
            SyncState::Pending(m) if m.contains("does not exist yet")
        ));
    }

    #[test]
    fn argo_cd_is_synced_at_the_commit_and_fails_with_its_operation() {
        let synced = json!({"status": {"sync": {"status": "Synced", "revision": LATER}}});
        assert_eq!(
            argocd_application(Some(&synced), "argocd/x", COMMIT, &contains),
            SyncState::Synced
        );
        let failed = json!({"status": {
            "sync": {"status": "OutOfSync", "revision": EARLIER},
            "operationState": {"phase": "Failed", "message": "one or more objects failed to apply", "syncResult": {"revision": COMMIT}},
        }});
        assert!(matches!(
            argocd_application(Some(&failed), "argocd/x", COMMIT, &contains),
            SyncState::Failed(m) if m.contains("Argo CD could not sync commit 4b825dc (argocd/x, Failed): one or more objects failed to apply")
        ));
    }

    #[test]
    fn argo_cd_synced_once_stays_synced_when_a_later_commit_fails() {
        let later_failing = json!({"status": {
            "sync": {"status": "OutOfSync", "revision": LATER},
            "history": [{"id": 1, "revision": EARLIER}, {"id": 2, "revision": COMMIT}],
            "operationState": {"phase": "Failed", "message": "one or more synchronization tasks are not valid", "syncResult": {"revision": LATER}},
        }});
        assert_eq!(
            argocd_application(Some(&later_failing), "argocd/x", COMMIT, &contains),
            SyncState::Synced
        );
        assert_eq!(
            argocd_revisions(&later_failing),
            [EARLIER, COMMIT, LATER].map(str::to_string)
        );
    }

    #[test]
    fn argo_cds_refusal_of_each_resource_is_named() {
        let refused = json!({"status": {
            "sync": {"status": "OutOfSync", "revision": COMMIT},
            "operationState": {
                "phase": "Failed",
                "message": "one or more synchronization tasks are not valid",
                "syncResult": {"revision": COMMIT, "resources": [
                    {"kind": "Deployment", "namespace": "team-a", "name": "api", "status": "Synced", "message": "deployment.apps/api configured"},
                    {"kind": "ConfigMap", "namespace": "team-b", "name": "grab", "status": "SyncFailed", "message": "namespace team-b is not permitted in project 'p-dev-a'"},
                ]},
            },
        }});
        let SyncState::Failed(message) =
            argocd_application(Some(&refused), "argocd/x", COMMIT, &contains)
        else {
            panic!("expected a failure");
        };
        // Failed attempts Argo CD is retrying fail the commit too; a first attempt in flight
        // does not.
        let mut retrying = refused.clone();
        retrying["status"]["operationState"]["phase"] = json!("Running");
        retrying["status"]["operationState"]["retryCount"] = json!(2);
        assert!(matches!(
            argocd_application(Some(&retrying), "argocd/x", COMMIT, &contains),
            SyncState::Failed(m) if m.contains("namespace team-b is not permitted")
        ));
        retrying["status"]["operationState"]["retryCount"] = json!(0);
        assert!(matches!(
            argocd_application(Some(&retrying), "argocd/x", COMMIT, &contains),
            SyncState::Pending(_)
        ));
        assert!(
            message.ends_with("one or more synchronization tasks are not valid; ConfigMap team-b/grab: namespace team-b is not permitted in project 'p-dev-a'"),
            "{message}"
        );
    }

    #[test]
    fn revisions_in_every_spelling() {
        assert_eq!(revision_sha("main@sha1:abc"), "abc");
        assert_eq!(revision_sha("sha1:abc"), "abc");
        assert_eq!(revision_sha("abc"), "abc");
    }
}
