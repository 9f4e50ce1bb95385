//! The GitOps engine the sandbox delivers with (`--delivery`), and what the sandbox reads of
//! it: the tenant's Kustomization or Application, and when it reports a revision applied.

use gitopshq_engine::sync::revision_sha;
use gitopshq_localplane::{ARGOCD_NAMESPACE, FLUX_NAMESPACE};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

/// Which engine syncs the repository into the workload cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Delivery {
    /// Flux's source-controller and kustomize-controller.
    #[default]
    Flux,
    /// Argo CD's application-controller and repo-server.
    Argocd,
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn text<'v>(value: &'v Value, pointer: &str) -> &'v str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

impl Delivery {
    /// How people call it.
    pub fn name(self) -> &'static str {
        match self {
            Delivery::Flux => "Flux",
            Delivery::Argocd => "Argo CD",
        }
    }

    /// The Project `spec.delivery` that selects it.
    pub fn project_delivery(self) -> &'static str {
        match self {
            Delivery::Flux => "Flux",
            Delivery::Argocd => "ArgoCD",
        }
    }

    /// Its namespace in the management cluster.
    pub fn namespace(self) -> &'static str {
        match self {
            Delivery::Flux => FLUX_NAMESPACE,
            Delivery::Argocd => ARGOCD_NAMESPACE,
        }
    }

    /// The processes that run it.
    pub fn processes(self) -> &'static str {
        match self {
            Delivery::Flux => "source-controller and kustomize-controller",
            Delivery::Argocd => "application-controller, repo-server and Redis",
        }
    }

    /// The kinds of its objects GitOpsHQ writes or reads, for `kubectl get`.
    pub fn kubectl_kinds(self) -> &'static str {
        match self {
            Delivery::Flux => "gitrepositories,kustomizations",
            Delivery::Argocd => "appprojects,applications",
        }
    }

    /// Its objects worth showing when a release does not become Healthy, with their kind.
    pub fn kinds(self) -> Vec<(ApiResource, &'static str)> {
        match self {
            Delivery::Flux => vec![
                (
                    resource(
                        "source.toolkit.fluxcd.io",
                        "v1",
                        "GitRepository",
                        "gitrepositories",
                    ),
                    "GitRepository",
                ),
                (self.tenant_resource(), "Kustomization"),
            ],
            Delivery::Argocd => vec![(self.tenant_resource(), "Application")],
        }
    }

    /// The kind that delivers a tenant's folder: Flux's Kustomization, Argo CD's Application.
    pub fn tenant_resource(self) -> ApiResource {
        match self {
            Delivery::Flux => resource(
                "kustomize.toolkit.fluxcd.io",
                "v1",
                "Kustomization",
                "kustomizations",
            ),
            Delivery::Argocd => resource("argoproj.io", "v1alpha1", "Application", "applications"),
        }
    }

    /// The commit the tenant's object says is applied now: a Ready Kustomization's
    /// `lastAppliedRevision`, a Synced Application's `status.sync.revision`.
    pub fn applied_revision(self, object: &Value) -> Option<String> {
        let (done, revision) = match self {
            Delivery::Flux => (
                object
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    }),
                text(object, "/status/lastAppliedRevision"),
            ),
            Delivery::Argocd => (
                text(object, "/status/sync/status") == "Synced",
                text(object, "/status/sync/revision"),
            ),
        };
        (done && !revision.is_empty()).then(|| revision_sha(revision).to_string())
    }

    /// One line of what the object says: `flux-system/NAME: Ready=False (Reason): message;
    /// revision main@sha1:…`, `argocd/NAME: Synced at <sha>, Healthy; operation Failed: …`.
    pub fn state(self, object: &DynamicObject) -> String {
        let value = serde_json::to_value(object).unwrap_or_default();
        let name = text(&value, "/metadata/name");
        let namespace = self.namespace();
        match self {
            Delivery::Flux => {
                let ready = value
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
                    .cloned()
                    .unwrap_or_default();
                let revision = value
                    .pointer("/status/lastAppliedRevision")
                    .or_else(|| value.pointer("/status/artifact/revision"))
                    .and_then(Value::as_str)
                    .unwrap_or("none");
                let status = match text(&ready, "/status") {
                    "" => "Unknown",
                    status => status,
                };
                format!(
                    "{namespace}/{name}: Ready={status} ({}): {}; revision {revision}",
                    text(&ready, "/reason"),
                    text(&ready, "/message"),
                )
            }
            Delivery::Argocd => format!(
                "{namespace}/{name}: {} at {}, {}; operation {}: {}",
                text(&value, "/status/sync/status"),
                text(&value, "/status/sync/revision"),
                text(&value, "/status/health/status"),
                text(&value, "/status/operationState/phase"),
                text(&value, "/status/operationState/message"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_revision_counts_once_the_engine_says_it_is_applied() {
        let ready = json!({"status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "lastAppliedRevision": "main@sha1:abc",
        }});
        assert_eq!(
            Delivery::Flux.applied_revision(&ready).as_deref(),
            Some("abc")
        );
        let failing = json!({"status": {
            "conditions": [{"type": "Ready", "status": "False"}],
            "lastAppliedRevision": "main@sha1:abc",
        }});
        assert_eq!(Delivery::Flux.applied_revision(&failing), None);
        let synced = json!({"status": {"sync": {"status": "Synced", "revision": "def"}}});
        assert_eq!(
            Delivery::Argocd.applied_revision(&synced).as_deref(),
            Some("def")
        );
        let out_of_sync = json!({"status": {"sync": {"status": "OutOfSync", "revision": "def"}}});
        assert_eq!(Delivery::Argocd.applied_revision(&out_of_sync), None);
    }
}
