//! Fixtures shared by the HTTPS tests, the fuzz tests and the admission benchmark: a project
//! with a frozen `production` and an open `staging`, a chart that renders 20 objects, an
//! approval policy, a break-glass session, AdmissionReview bodies, and a real HTTPS server on
//! 127.0.0.1 with a client that trusts its generated CA.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use gitopshq_crds::approval_policy::ApprovalPolicy;
use gitopshq_crds::break_glass_session::BreakGlassSession;
use gitopshq_crds::cluster::Cluster;
use gitopshq_crds::environment::Environment;
use gitopshq_crds::policy::Policy;
use gitopshq_crds::project::Project;
use gitopshq_crds::release::Release;
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::workload::Workload;
use gitopshq_engine::admission::{Settings, Snapshot};
use gitopshq_engine::catalog::Catalog;
use gitopshq_webhook::Context;
use gitopshq_webhook::server::{Running, router, serve};
use gitopshq_webhook::tls::TlsMaterial;
use serde_json::{Value, json};

pub const PROJECT: &str = "payments";
/// Frozen at [`now`] by the one-off window `year-end`.
pub const FROZEN: &str = "production";
/// Never frozen; policies are bound here.
pub const OPEN: &str = "staging";
pub const WORKLOAD: &str = "web";
pub const CHART: &str = "web-chart";
/// The release waiting for approval, created by [`CREATOR`].
pub const PENDING: &str = "checkout-7";
pub const CREATOR: &str = "alice";
pub const APPROVAL_POLICY: &str = "production-approval";
pub const SESSION: &str = "incident-42";
/// Objects one render of the chart produces (half Deployments, half ConfigMaps).
pub const RENDERED_OBJECTS: usize = 20;

/// The time every decision sees: inside the `year-end` freeze of `production`.
pub fn now() -> jiff::Timestamp {
    "2026-12-25T12:00:00Z".parse().expect("a valid timestamp")
}

pub use gitopshq_crds::testing::from_json as object;

pub fn tenant_of(environment: &str) -> String {
    format!("acme-{environment}")
}

/// `web-chart-1.0.0`: 10 Deployments and 10 ConfigMaps, every container with limits.
pub fn chart_version_json() -> Value {
    let mut templates = serde_json::Map::new();
    for i in 0..RENDERED_OBJECTS / 2 {
        templates.insert(
            format!("deployment-{i:02}.yaml"),
            Value::String(format!(
                r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{{{workload.name}}}}-{i:02}
  labels:
    app.kubernetes.io/name: {{{{workload.name}}}}-{i:02}
    team: checkout
spec:
  replicas: {{{{values.replicas}}}}
  selector:
    matchLabels:
      app.kubernetes.io/name: {{{{workload.name}}}}-{i:02}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {{{{workload.name}}}}-{i:02}
    spec:
      containers:
        - name: app
          image: "{{{{values.image.repository}}}}:{{{{values.image.tag}}}}"
          ports:
            - containerPort: {port}
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
            limits:
              cpu: 500m
              memory: 256Mi
"#,
                port = 8000 + i
            )),
        );
        templates.insert(
            format!("configmap-{i:02}.yaml"),
            Value::String(format!(
                r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{{{workload.name}}}}-config-{i:02}
  labels:
    team: checkout
data:
  TENANT: {{{{quote tenant.name}}}}
  TAG: {{{{quote values.image.tag}}}}
  SHARD: "{i}"
"#
            )),
        );
    }
    json!({
        "apiVersion": "gitopshq.io/v1alpha1", "kind": "ChartVersion",
        "metadata": {"name": format!("{CHART}-1.0.0")},
        "spec": {
            "chart": CHART,
            "version": "1.0.0",
            "changelog": "first version",
            "values": {"replicas": 2, "image": {"repository": "registry.example.com/web", "tag": "v1.0.0"}},
            "templates": templates,
        },
    })
}

pub fn catalog() -> Catalog {
    let project = object::<Project>(json!({
        "apiVersion": "gitopshq.io/v1alpha1", "kind": "Project",
        "metadata": {"name": PROJECT},
        "spec": {
            "displayName": "Payments",
            "environments": [OPEN, FROZEN],
            "repository": {"url": "https://git.example.com/gitops.git", "branch": "main"},
            "delivery": "ArgoCD",
        },
    }));
    let environments = vec![
        object::<Environment>(json!({
            "apiVersion": "gitopshq.io/v1alpha1", "kind": "Environment",
            "metadata": {"name": OPEN},
            "spec": {"displayName": "Staging", "rank": 20},
        })),
        object::<Environment>(json!({
            "apiVersion": "gitopshq.io/v1alpha1", "kind": "Environment",
            "metadata": {"name": FROZEN},
            "spec": {
                "displayName": "Production",
                "rank": 30,
                "freezeWindows": [{
                    "name": "year-end",
                    "start": "2026-12-24T00:00:00Z",
                    "end": "2027-01-02T00:00:00Z",
                    "reason": "Year-end change freeze",
                }],
            },
        })),
    ];
    let cluster = object::<Cluster>(json!({
        "apiVersion": "gitopshq.io/v1alpha1", "kind": "Cluster",
        "metadata": {"name": "eu-west-1"},
        "spec": {
            "kubeconfigSecretRef": {"namespace": "gitopshq-system", "name": "eu-west-1", "key": "kubeconfig"},
            "environments": [OPEN, FROZEN],
        },
    }));
    let workload = object::<Workload>(json!({
        "apiVersion": "gitopshq.io/v1alpha1", "kind": "Workload",
        "metadata": {"name": WORKLOAD, "namespace": PROJECT},
        "spec": {"chart": CHART, "version": "1.0.0", "values": {"replicas": 3}},
    }));
    let tenants = [OPEN, FROZEN]
        .iter()
        .map(|env| {
            object::<Tenant>(json!({
                "apiVersion": "gitopshq.io/v1alpha1", "kind": "Tenant",
                "metadata": {"name": tenant_of(env), "namespace": PROJECT},
                "spec": {"environment": env, "cluster": "eu-west-1", "namespace": format!("web-{env}")},
            }))
        })
        .collect();
    let pending = object::<Release>(json!({
        "apiVersion": "gitopshq.io/v1alpha1", "kind": "Release",
        "metadata": {"name": PENDING, "namespace": PROJECT},
        "spec": {
            "title": "Checkout fix",
            "environment": FROZEN,
            "tenants": [tenant_of(FROZEN)],
            "changes": [{"workload": WORKLOAD, "version": "1.0.0"}],
            "submitted": true,
            "createdBy": CREATOR,
        },
        "status": {"phase": "PendingApproval"},
    }));
    Catalog {
        projects: vec![project],
        environments,
        clusters: vec![cluster],
        chart_versions: vec![object(chart_version_json())],
        workloads: vec![workload],
        tenants,
        releases: vec![pending],
        ..Catalog::default()
    }
}

pub fn approval_policy() -> ApprovalPolicy {
    object(json!({
        "apiVersion": "gitopshq.io/v1alpha1", "kind": "ApprovalPolicy",
        "metadata": {"name": APPROVAL_POLICY},
        "spec": {
            "environments": [FROZEN],
            "minApprovals": 2,
            "distinctTeams": true,
            "forbidSelfApproval": true,
            "approverGroups": ["backend-team", "sre-team"],
        },
    }))
}

/// A break-glass session open since 11:30 for 1h over `production/web`.
pub fn session_json() -> Value {
    json!({
        "apiVersion": "gitopshq.io/v1alpha1", "kind": "BreakGlassSession",
        "metadata": {"name": SESSION, "namespace": PROJECT, "creationTimestamp": "2026-12-25T11:30:00Z"},
        "spec": {
            "justification": "Checkout returns 500 for every card payment since 11:20",
            "severity": "SEV1",
            "scope": {"environments": [FROZEN], "workloads": [WORKLOAD]},
            "duration": "1h",
            "requestedBy": "carol",
        },
        "status": {"phase": "Active", "activatedAt": "2026-12-25T11:30:00Z", "expiresAt": "2026-12-25T12:30:00Z"},
    })
}

/// A Policy named `name` with `rego`, bound to `environments` in `mode` (`Warn`/`Enforce`).
pub fn policy(name: &str, rego: &str, environments: &[&str], mode: &str) -> Policy {
    object(json!({
        "apiVersion": "gitopshq.io/v1alpha1", "kind": "Policy",
        "metadata": {"name": name},
        "spec": {"rego": rego, "bindings": [{"environments": environments, "mode": mode}]},
    }))
}

/// `n` distinct policies (their own packages and rules) bound `Enforce` to `staging`, all
/// passing on the chart: even ones run once per rendered object with a pod spec (`.workload`
/// packages), odd ones once per release.
pub fn bench_policies(n: usize) -> Vec<Policy> {
    (0..n)
        .map(|i| {
            let rego = if i % 2 == 0 {
                let rule = match (i / 2) % 5 {
                    0 => format!(
                        "deny contains msg if {{\n  some c in input.spec.containers\n  not c.resources.limits.memory\n  msg := sprintf(\"p{i}: container %s has no memory limit\", [c.name])\n}}\n"
                    ),
                    1 => format!(
                        "deny contains msg if {{\n  some c in input.spec.containers\n  not c.resources.limits.cpu\n  msg := sprintf(\"p{i}: container %s has no cpu limit\", [c.name])\n}}\n"
                    ),
                    2 => format!(
                        "deny contains msg if {{\n  some c in input.spec.containers\n  endswith(c.image, \":latest\")\n  msg := sprintf(\"p{i}: container %s uses :latest\", [c.name])\n}}\n"
                    ),
                    3 => format!(
                        "deny contains msg if {{\n  not input.metadata.labels.team\n  msg := sprintf(\"p{i}: %s %s has no team label\", [input.kind, input.metadata.name])\n}}\n"
                    ),
                    _ => format!(
                        "deny contains msg if {{\n  input.object.spec.replicas > {max}\n  msg := sprintf(\"p{i}: %s runs more than {max} replicas\", [input.metadata.name])\n}}\n",
                        max = 50 + i
                    ),
                };
                format!("package gitopshq.p{i:02}.workload\nimport rego.v1\n\n{rule}")
            } else {
                let rule = match (i / 2) % 3 {
                    0 => format!(
                        "deny contains msg if {{\n  some m in input.manifests\n  m.kind == \"ConfigMap\"\n  not m.metadata.labels.team\n  msg := sprintf(\"p{i}: configmap %s has no team label\", [m.metadata.name])\n}}\n"
                    ),
                    1 => format!(
                        "deny contains msg if {{\n  count(input.manifests) > {max}\n  msg := \"p{i}: more than {max} objects\"\n}}\n",
                        max = 100 + i
                    ),
                    _ => format!(
                        "deny contains msg if {{\n  some c in input.changes\n  c.workload == \"forbidden-{i}\"\n  msg := \"p{i}: workload forbidden-{i} may not be released\"\n}}\n"
                    ),
                };
                format!("package gitopshq.p{i:02}.release\nimport rego.v1\n\n{rule}")
            };
            policy(&format!("bench-{i:02}"), &rego, &[OPEN], "Enforce")
        })
        .collect()
}

/// Everything above, with `policies`.
pub fn snapshot(policies: Vec<Policy>) -> Snapshot {
    Snapshot {
        catalog: catalog(),
        approval_policies: vec![Arc::new(approval_policy())],
        break_glass_sessions: vec![Arc::new(object::<BreakGlassSession>(session_json()))],
        policies: policies.into_iter().map(Arc::new).collect(),
        // Every grant held: the grant checks are the engine's tests and the end-to-end ones.
        grants: None,
    }
}

/// A context over `snapshot` with the pinned clock, not yet ready.
pub fn context(snapshot: Snapshot) -> Arc<Context> {
    Arc::new(Context::new(Arc::new(snapshot), Settings::default()).with_clock(now))
}

// ---------------------------------------------------------------------------------------------
// Objects and reviews

/// A Release of `web` into `environment`.
pub fn release_json(name: &str, environment: &str, submitted: bool) -> Value {
    json!({
        "apiVersion": "gitopshq.io/v1alpha1", "kind": "Release",
        "metadata": {"name": name, "namespace": PROJECT},
        "spec": {
            "title": format!("Release {name}"),
            "environment": environment,
            "tenants": [tenant_of(environment)],
            "changes": [{"workload": WORKLOAD, "version": "1.0.0"}],
            "type": "Deploy",
            "submitted": submitted,
        },
    })
}

/// A Release of `web` into `staging` whose image tag is `tag` (new tags render new objects).
pub fn tagged_release_json(name: &str, tag: &str) -> Value {
    let mut release = release_json(name, OPEN, true);
    release["spec"]["changes"][0]["values"] = json!({"image": {"tag": tag}});
    release
}

pub fn approval_request_json(decisions: Value) -> Value {
    json!({
        "apiVersion": "gitopshq.io/v1alpha1", "kind": "ApprovalRequest",
        "metadata": {"name": PENDING, "namespace": PROJECT},
        "spec": {"release": PENDING, "policy": APPROVAL_POLICY, "decisions": decisions},
    })
}

pub fn new_session_json(name: &str) -> Value {
    json!({
        "apiVersion": "gitopshq.io/v1alpha1", "kind": "BreakGlassSession",
        "metadata": {"name": name, "namespace": PROJECT},
        "spec": {
            "justification": "Payments time out at the card processor; hotfix needed now",
            "severity": "SEV2",
            "scope": {"environments": [FROZEN], "workloads": [WORKLOAD]},
            "duration": "2h",
        },
    })
}

/// The plural resource of a GitOpsHQ kind.
pub fn resource_of(kind: &str) -> String {
    match kind {
        "Policy" => "policies".into(),
        other => format!("{}s", other.to_lowercase()),
    }
}

/// One AdmissionReview request.
#[derive(Debug, Clone)]
pub struct ReviewRequest {
    pub uid: String,
    pub group: String,
    pub kind: String,
    pub operation: String,
    pub username: String,
    pub groups: Vec<String>,
    pub object: Value,
    pub old_object: Value,
}

impl ReviewRequest {
    /// A GitOpsHQ `kind` review of `object` by `username` in `groups`.
    pub fn new(
        kind: &str,
        operation: &str,
        username: &str,
        groups: &[&str],
        object: Value,
    ) -> Self {
        Self {
            uid: format!("uid-{kind}-{operation}-{username}").to_lowercase(),
            group: "gitopshq.io".into(),
            kind: kind.into(),
            operation: operation.into(),
            username: username.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            object,
            old_object: Value::Null,
        }
    }

    pub fn uid(mut self, uid: impl Into<String>) -> Self {
        self.uid = uid.into();
        self
    }

    pub fn old(mut self, old: Value) -> Self {
        self.old_object = old;
        self
    }

    pub fn group(mut self, group: &str) -> Self {
        self.group = group.into();
        self
    }

    /// The admission.k8s.io/v1 AdmissionReview the API server would send.
    pub fn json(&self) -> Value {
        let name = self.object["metadata"]["name"]
            .as_str()
            .or_else(|| self.old_object["metadata"]["name"].as_str())
            .unwrap_or_default()
            .to_string();
        let namespace = self.object["metadata"]["namespace"].clone();
        let mut groups = self.groups.clone();
        groups.push("system:authenticated".into());
        json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": self.uid,
                "kind": {"group": self.group, "version": "v1alpha1", "kind": self.kind},
                "resource": {"group": self.group, "version": "v1alpha1", "resource": resource_of(&self.kind)},
                "requestKind": {"group": self.group, "version": "v1alpha1", "kind": self.kind},
                "name": name,
                "namespace": namespace,
                "operation": self.operation,
                "userInfo": {"username": self.username, "groups": groups},
                "object": self.object,
                "oldObject": self.old_object,
                "dryRun": false,
            },
        })
    }

    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&self.json()).expect("serialisable")
    }
}

// ---------------------------------------------------------------------------------------------
// HTTPS

/// The webhook over HTTPS on 127.0.0.1 and a keep-alive client that trusts its CA.
pub struct Server {
    pub running: Running,
    pub client: reqwest::Client,
    pub base: String,
    pub context: Arc<Context>,
    /// The CA that signed the serving certificate.
    pub ca_pem: String,
}

impl Server {
    pub async fn start(context: Arc<Context>) -> Self {
        let tls = TlsMaterial::generate(&["127.0.0.1"]).expect("certificate");
        let address: SocketAddr = ([127, 0, 0, 1], 0).into();
        let running = serve(router(Arc::clone(&context)), address, &tls)
            .await
            .expect("server starts");
        let client = client(&tls);
        let base = format!("https://{}", running.address);
        Self {
            running,
            client,
            base,
            context,
            ca_pem: tls.ca_pem.clone(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs `body` to `path`; the status and the body.
    pub async fn post(&self, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
        let response = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("a body").to_vec();
        (status, bytes)
    }

    /// POSTs a review and returns the decoded `response` of the AdmissionReview answer.
    pub async fn review(&self, path: &str, request: &ReviewRequest) -> Value {
        let (status, body) = self.post(path, request.body()).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let review: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(review["apiVersion"], "admission.k8s.io/v1", "{review}");
        assert_eq!(review["kind"], "AdmissionReview", "{review}");
        review["response"].clone()
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("a body"))
    }
}

/// A keep-alive HTTPS client trusting only the generated CA.
pub fn client(tls: &TlsMaterial) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(tls.ca_pem.as_bytes()).expect("CA PEM");
    reqwest::Client::builder()
        .add_root_certificate(ca)
        .tls_built_in_root_certs(false)
        .https_only(true)
        .pool_max_idle_per_host(64)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client")
}

/// The JSONPatch operations of a response: `patch` holds the patch bytes, as the base64 string
/// Go writes for `[]byte` or as the array of byte values kube-core writes (both decode into a
/// Go `[]byte`).
pub fn patch_operations(response: &Value) -> Vec<Value> {
    use base64::Engine as _;
    assert_eq!(response["patchType"], "JSONPatch", "{response}");
    let bytes: Vec<u8> = match &response["patch"] {
        Value::String(text) => base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("base64"),
        Value::Array(items) => items
            .iter()
            .map(|b| {
                b.as_u64()
                    .and_then(|b| u8::try_from(b).ok())
                    .expect("a byte")
            })
            .collect(),
        other => panic!("no patch in the response: {other}"),
    };
    serde_json::from_slice(&bytes).expect("a JSON patch")
}
