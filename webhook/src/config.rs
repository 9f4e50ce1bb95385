//! The Mutating- and ValidatingWebhookConfiguration that route GitOpsHQ objects to the server.

use std::collections::BTreeMap;

use gitopshq_crds::consts::{GROUP, VERSION};
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ServiceReference,
    ValidatingWebhook, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::{
    APIService, APIServiceSpec, ServiceReference as ApiServiceReference,
};
use kube::api::ObjectMeta;

/// Object name of both configurations.
pub const CONFIGURATION_NAME: &str = "gitopshq";

/// The APIService that routes `logs.gitopshq.io` to the webhook's server.
pub const API_SERVICE_NAME: &str = "v1alpha1.logs.gitopshq.io";

/// The APIService for the pod-logs API, served by the webhook's Service (`namespace/name`,
/// `port`); `ca_bundle` verifies its serving certificate.
pub fn api_service(namespace: &str, name: &str, port: i32, ca_bundle: Option<&[u8]>) -> APIService {
    APIService {
        metadata: ObjectMeta {
            name: Some(API_SERVICE_NAME.into()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/name".to_string(),
                "gitopshq".to_string(),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(APIServiceSpec {
            group: Some(gitopshq_engine::logs::API_GROUP.into()),
            version: Some(gitopshq_engine::logs::API_VERSION.into()),
            group_priority_minimum: 1000,
            version_priority: 15,
            service: Some(ApiServiceReference {
                namespace: Some(namespace.into()),
                name: Some(name.into()),
                port: Some(port),
            }),
            ca_bundle: ca_bundle.map(|ca| ByteString(ca.to_vec())),
            insecure_skip_tls_verify: None,
        }),
        status: None,
    }
}

/// Where the API server reaches the webhook.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// A Service in the cluster (the Helm chart and kustomize install).
    Service {
        namespace: String,
        name: String,
        port: i32,
    },
    /// A URL such as `https://127.0.0.1:8443` (a webhook next to a local API server).
    Url(String),
}

/// Governance objects and the inputs that decide what runs where must never be admitted
/// unchecked: when the webhook cannot be reached, these requests fail. Deletes are judged too:
/// submitted releases, approval requests and break-glass sessions are records.
const GOVERNED: &[&str] = &[
    "releases",
    "approvalrequests",
    "breakglasssessions",
    "promotions",
    "tenants",
    "variables",
    "workloads",
];
/// The kinds whose requests the mutating webhook stamps (identities, authorship, the digest a
/// decision approves, a tenant-scoped Variables object's environment).
const STAMPED: &[&str] = &[
    "releases",
    "approvalrequests",
    "breakglasssessions",
    "promotions",
    "variables",
];
/// Catalog objects keep their basic invariants in the CRD schema (CEL), so they stay writable
/// (to repair things) while the webhook is down.
const CATALOG: &[&str] = &["chartversions", "environments", "policies"];

const WRITES: &[&str] = &["CREATE", "UPDATE"];
const WRITES_AND_DELETES: &[&str] = &["CREATE", "UPDATE", "DELETE"];

fn client_config(endpoint: &Endpoint, path: &str, ca_bundle: Option<&[u8]>) -> WebhookClientConfig {
    let ca_bundle = ca_bundle.map(|ca| ByteString(ca.to_vec()));
    match endpoint {
        Endpoint::Service {
            namespace,
            name,
            port,
        } => WebhookClientConfig {
            service: Some(ServiceReference {
                namespace: namespace.clone(),
                name: name.clone(),
                path: Some(path.to_string()),
                port: Some(*port),
            }),
            ca_bundle,
            url: None,
        },
        Endpoint::Url(base) => WebhookClientConfig {
            url: Some(format!("{}{path}", base.trim_end_matches('/'))),
            ca_bundle,
            service: None,
        },
    }
}

fn rules(resources: &[&str], operations: &[&str]) -> Vec<RuleWithOperations> {
    vec![RuleWithOperations {
        api_groups: Some(vec![GROUP.to_string()]),
        api_versions: Some(vec![VERSION.to_string()]),
        operations: Some(operations.iter().map(|o| o.to_string()).collect()),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        scope: Some("*".into()),
    }]
}

fn metadata(annotations: &BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(CONFIGURATION_NAME.into()),
        labels: Some(BTreeMap::from([(
            "app.kubernetes.io/name".to_string(),
            "gitopshq".to_string(),
        )])),
        annotations: (!annotations.is_empty()).then(|| annotations.clone()),
        ..ObjectMeta::default()
    }
}

/// Both configurations for `endpoint`. `annotations` lets a chart ask cert-manager to inject
/// the caBundle (`cert-manager.io/inject-ca-from`).
pub fn webhook_configurations(
    endpoint: &Endpoint,
    ca_bundle: Option<&[u8]>,
    annotations: &BTreeMap<String, String>,
) -> (MutatingWebhookConfiguration, ValidatingWebhookConfiguration) {
    let mutating = MutatingWebhookConfiguration {
        metadata: metadata(annotations),
        webhooks: Some(vec![MutatingWebhook {
            name: "identity.gitopshq.io".into(),
            client_config: client_config(endpoint, "/mutate", ca_bundle),
            rules: Some(rules(STAMPED, WRITES)),
            failure_policy: Some("Fail".into()),
            match_policy: Some("Equivalent".into()),
            side_effects: "None".into(),
            timeout_seconds: Some(5),
            admission_review_versions: vec!["v1".into()],
            reinvocation_policy: Some("Never".into()),
            ..MutatingWebhook::default()
        }]),
    };
    let validating = ValidatingWebhookConfiguration {
        metadata: metadata(annotations),
        webhooks: Some(vec![
            ValidatingWebhook {
                name: "governance.gitopshq.io".into(),
                client_config: client_config(endpoint, "/validate", ca_bundle),
                rules: Some(rules(GOVERNED, WRITES_AND_DELETES)),
                failure_policy: Some("Fail".into()),
                match_policy: Some("Equivalent".into()),
                side_effects: "None".into(),
                // Releases with bound policies are rendered and evaluated here.
                timeout_seconds: Some(10),
                admission_review_versions: vec!["v1".into()],
                ..ValidatingWebhook::default()
            },
            ValidatingWebhook {
                name: "catalog.gitopshq.io".into(),
                client_config: client_config(endpoint, "/validate", ca_bundle),
                rules: Some(rules(CATALOG, WRITES)),
                failure_policy: Some("Ignore".into()),
                match_policy: Some("Equivalent".into()),
                side_effects: "None".into(),
                timeout_seconds: Some(5),
                admission_review_versions: vec!["v1".into()],
                ..ValidatingWebhook::default()
            },
        ]),
    };
    (mutating, validating)
}

/// The configurations for an in-cluster Service as multi-document YAML (committed under
/// `config/webhook/`), with the caBundle injected by cert-manager.
pub fn service_manifests_yaml(namespace: &str, service: &str, certificate: &str) -> String {
    let annotations = BTreeMap::from([(
        "cert-manager.io/inject-ca-from".to_string(),
        format!("{namespace}/{certificate}"),
    )]);
    let endpoint = Endpoint::Service {
        namespace: namespace.into(),
        name: service.into(),
        port: 443,
    };
    let (mutating, validating) = webhook_configurations(&endpoint, None, &annotations);
    let mut mutating_value = serde_json::to_value(&mutating).unwrap_or_default();
    let mut validating_value = serde_json::to_value(&validating).unwrap_or_default();
    for (value, kind) in [
        (&mut mutating_value, "MutatingWebhookConfiguration"),
        (&mut validating_value, "ValidatingWebhookConfiguration"),
    ] {
        if let Some(map) = value.as_object_mut() {
            map.insert(
                "apiVersion".into(),
                "admissionregistration.k8s.io/v1".into(),
            );
            map.insert("kind".into(), kind.into());
        }
    }
    let mut out = String::from(
        "# Generated by `gitopshq webhook manifests`; a test fails when this file is stale.\n",
    );
    for value in [mutating_value, validating_value] {
        out.push_str("---\n");
        out.push_str(&yaml_serde::to_string(&value).unwrap_or_default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed kustomize/Helm input must match what the code generates.
    #[test]
    fn committed_manifests_are_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../config/webhook/manifests.yaml");
        let generated =
            service_manifests_yaml("gitopshq-system", "gitopshq-webhook", "gitopshq-webhook");
        if std::env::var_os("GITOPSHQ_UPDATE_MANIFESTS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is stale: run GITOPSHQ_UPDATE_MANIFESTS=1 cargo test -p gitopshq-webhook config",
            path.display()
        );
    }

    #[test]
    fn governance_fails_closed_and_catalog_stays_writable() {
        let (mutating, validating) = webhook_configurations(
            &Endpoint::Url("https://127.0.0.1:9443/".into()),
            Some(b"CA"),
            &BTreeMap::new(),
        );
        let m = &mutating.webhooks.unwrap()[0];
        assert_eq!(m.failure_policy.as_deref(), Some("Fail"));
        assert_eq!(m.side_effects, "None");
        assert_eq!(m.match_policy.as_deref(), Some("Equivalent"));
        assert_eq!(
            m.client_config.url.as_deref(),
            Some("https://127.0.0.1:9443/mutate")
        );
        let v = validating.webhooks.unwrap();
        assert_eq!(v[0].failure_policy.as_deref(), Some("Fail"));
        assert!(
            v[0].rules.as_ref().unwrap()[0]
                .resources
                .as_ref()
                .unwrap()
                .contains(&"approvalrequests".to_string())
        );
        assert_eq!(v[1].failure_policy.as_deref(), Some("Ignore"));
        assert!(v.iter().all(|w| w.timeout_seconds.unwrap() <= 10));
    }
}
