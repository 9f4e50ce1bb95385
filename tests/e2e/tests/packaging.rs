//! The install artefacts: the Helm chart, the kustomize bases and the Dockerfile.
//!
//! helm is built once from the Go module proxy by `scripts/helm.sh` (cached under
//! `~/.cache/gitopshq/helm/<version>`). The chart is linted and rendered with default and
//! non-default values, compared with what the code generates (CRDs, webhook configurations)
//! and with the kustomize install, applied to a real API server (`--dry-run=server`, then for
//! real), and its RBAC is checked both ways with `kubectl auth can-i` and by acting with the
//! ServiceAccounts' own tokens.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use gitopshq_e2e::{fails as kubectl_err, ok as kubectl_ok, with_stdin};
use gitopshq_localplane::TestEnv;
use gitopshq_webhook::certs::{self, SecretRef};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::Api;
use serde_json::Value;

const NAMESPACE: &str = "gitopshq-system";
const CONTROLLER_SA: &str = "system:serviceaccount:gitopshq-system:gitopshq-controller";
const WEBHOOK_SA: &str = "system:serviceaccount:gitopshq-system:gitopshq-webhook";

/// Every non-default switch of the chart at once.
const ALL_ON: &str = "certManager.enabled=true,metrics.serviceMonitor.enabled=true,\
networkPolicy.enabled=true,ingress.enabled=true,dashboard.enabled=true,\
controller.signingKeySecret=gitopshq-signing-key";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn chart() -> PathBuf {
    root().join("charts/gitopshq")
}

/// The helm binary, built by scripts/helm.sh the first time (its progress goes to stderr).
fn helm() -> &'static Path {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(|| {
        let out = Command::new("bash")
            .arg(root().join("scripts/helm.sh"))
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("bash runs scripts/helm.sh");
        assert!(out.status.success(), "scripts/helm.sh failed");
        let stdout = String::from_utf8_lossy(&out.stdout);
        PathBuf::from(stdout.lines().last().expect("helm path").trim())
    })
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `helm template RELEASE charts/gitopshq -n NAMESPACE --set SET`.
fn template(release: &str, namespace: &str, set: &[&str]) -> String {
    let mut cmd = Command::new(helm());
    cmd.arg("template")
        .arg(release)
        .arg(chart())
        .args(["--namespace", namespace]);
    for s in set {
        cmd.args(["--set", s]);
    }
    run(&mut cmd)
}

fn kustomize(dir: &Path) -> String {
    run(
        Command::new(std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into()))
            .arg("kustomize")
            .arg(dir),
    )
}

/// The documents of a multi-document YAML stream (empty ones dropped).
fn docs(yaml: &str) -> Vec<Value> {
    use serde::Deserialize;
    yaml_serde::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in:\n{}", kinds(docs)))
}

fn kinds(docs: &[Value]) -> String {
    docs.iter()
        .map(|d| format!("{} {}\n", d["kind"], d["metadata"]["name"]))
        .collect()
}

fn count(docs: &[Value], kind: &str) -> usize {
    docs.iter().filter(|d| d["kind"] == kind).count()
}

fn env_of(container: &Value) -> BTreeMap<String, Value> {
    container["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| {
            let value = e
                .get("value")
                .cloned()
                .unwrap_or_else(|| e["valueFrom"].clone());
            (e["name"].as_str().unwrap().to_owned(), value)
        })
        .collect()
}

/// What `gitopshq webhook manifests` prints for this Service, as documents.
fn generated_configurations(namespace: &str, service: &str, certificate: &str) -> Vec<Value> {
    docs(&gitopshq_webhook::config::service_manifests_yaml(
        namespace,
        service,
        certificate,
    ))
}

/// The rendered webhook configurations route exactly as the generated ones do; the
/// cert-manager annotation is there only when asked for.
fn assert_configurations(rendered: &[Value], generated: &[Value], cert_manager: bool) {
    for kind in [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        let ours = find(rendered, kind, "gitopshq");
        let theirs = find(generated, kind, "gitopshq");
        assert_eq!(
            ours["webhooks"], theirs["webhooks"],
            "{kind} differs from `gitopshq webhook manifests`"
        );
        let annotation = &ours["metadata"]["annotations"]["cert-manager.io/inject-ca-from"];
        if cert_manager {
            assert_eq!(
                annotation,
                &theirs["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
            );
        } else {
            assert!(annotation.is_null(), "{kind} asks cert-manager: {ours}");
        }
    }
}

fn yaml_files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".gitopshq.io.yaml"))
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(&name)).unwrap();
            (name, text)
        })
        .collect()
}

/// The chart ships the generated CRDs unchanged.
#[test]
fn chart_crds_are_the_generated_crds() {
    let generated_dir = root().join("config/crd");
    let chart_dir = chart().join("crds");
    let generated = yaml_files(&generated_dir);
    assert_eq!(generated.len(), 15, "config/crd holds every kind");
    if std::env::var_os("GITOPSHQ_UPDATE_CRDS").is_some() {
        for name in yaml_files(&chart_dir).keys() {
            std::fs::remove_file(chart_dir.join(name)).unwrap();
        }
        for (name, text) in &generated {
            std::fs::write(chart_dir.join(name), text).unwrap();
        }
    }
    assert!(
        yaml_files(&chart_dir) == generated,
        "charts/gitopshq/crds/ differs from config/crd/: run \
         `rm charts/gitopshq/crds/*.yaml && cp config/crd/*.gitopshq.io.yaml charts/gitopshq/crds/` \
         (or GITOPSHQ_UPDATE_CRDS=1 cargo test -p gitopshq-e2e --test packaging)"
    );
}

#[test]
fn chart_lints_and_renders_defaults_and_every_option() {
    for set in [
        "",
        ALL_ON,
        "controller.shards=3,controller.watchNamespace=payment-service,controller.flux.rbac=true,\
controller.flux.artifacts.enabled=true,networkPolicy.enabled=true",
    ] {
        let mut cmd = Command::new(helm());
        cmd.args(["lint", "--strict"]).arg(chart());
        if !set.is_empty() {
            cmd.args(["--set", set]);
        }
        let out = run(&mut cmd);
        assert!(out.contains("0 chart(s) failed"), "{out}");
    }

    // Defaults: two replicas each, leader election, the self-managed certificate.
    let rendered = docs(&template("gitopshq", NAMESPACE, &[]));
    let controller = find(&rendered, "Deployment", "gitopshq-controller");
    assert_eq!(controller["spec"]["replicas"], 2);
    let pod = &controller["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["containers"][0];
    assert_eq!(container["args"], serde_json::json!(["controller"]));
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["port"], "metrics");
    let ports: Vec<(&str, i64)> = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["containerPort"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ports, [("metrics", 8080), ("receiver", 8081)]);
    let env = env_of(container);
    assert_eq!(env["GITOPSHQ_LEADER_ELECTION"], "true");
    assert_eq!(env["GITOPSHQ_LEASE_NAMESPACE"], NAMESPACE);
    assert_eq!(env["GITOPSHQ_METRICS_ADDRESS"], "0.0.0.0:8080");
    assert_eq!(env["GITOPSHQ_CACHE_DIR"], "/var/cache/gitopshq");
    assert_eq!(env["POD_NAME"]["fieldRef"]["fieldPath"], "metadata.name");
    assert!(!env.contains_key("GITOPSHQ_NAMESPACE"));
    assert!(!env.contains_key("GITOPSHQ_SIGNING_KEY_SECRET"));
    let cache = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "cache")
        .expect("cache volume");
    assert!(cache["emptyDir"].is_object());
    assert_eq!(
        find(&rendered, "PodDisruptionBudget", "gitopshq-controller")["spec"]["minAvailable"],
        1
    );

    let webhook = find(&rendered, "Deployment", "gitopshq-webhook");
    assert_eq!(webhook["spec"]["replicas"], 2);
    let container = &webhook["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["args"], serde_json::json!(["webhook"]));
    assert_eq!(container["ports"][0]["containerPort"], 8443);
    assert_eq!(container["readinessProbe"]["httpGet"]["scheme"], "HTTPS");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    let env = env_of(container);
    assert_eq!(
        env["GITOPSHQ_WEBHOOK_TLS_SECRET"],
        "gitopshq-system/gitopshq-webhook-tls"
    );
    let service = find(&rendered, "Service", "gitopshq-webhook");
    assert_eq!(service["spec"]["ports"][0]["port"], 443);
    assert_configurations(
        &rendered,
        &generated_configurations(NAMESPACE, "gitopshq-webhook", "gitopshq-webhook"),
        false,
    );
    for kind in [
        "ServiceMonitor",
        "NetworkPolicy",
        "Ingress",
        "Certificate",
        "Issuer",
    ] {
        assert_eq!(count(&rendered, kind), 0, "{kind} is off by default");
    }
    assert_eq!(count(&rendered, "CustomResourceDefinition"), 0);
    let with_crds = run(Command::new(helm())
        .args(["template", "gitopshq", "--include-crds"])
        .arg(chart()));
    assert_eq!(count(&docs(&with_crds), "CustomResourceDefinition"), 15);

    // Every option on, under another release name and namespace.
    let rendered = docs(&template("hq", "platform", &[ALL_ON]));
    assert_configurations(
        &rendered,
        &generated_configurations("platform", "hq-gitopshq-webhook", "hq-gitopshq-webhook"),
        true,
    );
    let certificate = find(&rendered, "Certificate", "hq-gitopshq-webhook");
    assert_eq!(certificate["spec"]["secretName"], "hq-gitopshq-webhook-tls");
    assert_eq!(
        certificate["spec"]["dnsNames"][0],
        "hq-gitopshq-webhook.platform.svc"
    );
    let webhook = find(&rendered, "Deployment", "hq-gitopshq-webhook");
    let env = env_of(&webhook["spec"]["template"]["spec"]["containers"][0]);
    assert_eq!(env["GITOPSHQ_WEBHOOK_CERT"], "/tls/tls.crt");
    assert!(!env.contains_key("GITOPSHQ_WEBHOOK_TLS_SECRET"));
    // With cert-manager the webhook writes neither its Secret nor the configurations.
    assert_eq!(count(&rendered, "Role"), 1, "{}", kinds(&rendered));
    let rules = &find(&rendered, "ClusterRole", "hq-gitopshq-webhook")["rules"];
    assert!(
        !rules.to_string().contains("admissionregistration"),
        "{rules}"
    );
    assert_eq!(count(&rendered, "ServiceMonitor"), 2);
    assert_eq!(count(&rendered, "NetworkPolicy"), 2);
    let ingress = find(&rendered, "Ingress", "hq-gitopshq-controller-receiver");
    let path = &ingress["spec"]["rules"][0]["http"]["paths"][0];
    assert_eq!(path["path"], "/registry");
    assert_eq!(path["backend"]["service"]["port"]["name"], "receiver");
    let receiver = find(&rendered, "Service", "hq-gitopshq-controller-receiver");
    assert_eq!(receiver["spec"]["ports"][0]["port"], 8081);
    // The signing key Secret by name, in the release namespace (the controller's own).
    let controller = find(&rendered, "Deployment", "hq-gitopshq-controller");
    let env = env_of(&controller["spec"]["template"]["spec"]["containers"][0]);
    assert_eq!(env["GITOPSHQ_SIGNING_KEY_SECRET"], "gitopshq-signing-key");
    assert_eq!(env["GITOPSHQ_LEASE_NAMESPACE"], "platform");

    // Shards: one Deployment (and Lease) each.
    let rendered = docs(&template("gitopshq", NAMESPACE, &["controller.shards=2"]));
    for index in 0..2 {
        let shard = find(
            &rendered,
            "Deployment",
            &format!("gitopshq-controller-{index}"),
        );
        let env = env_of(&shard["spec"]["template"]["spec"]["containers"][0]);
        assert_eq!(env["GITOPSHQ_SHARD_INDEX"], index.to_string());
        assert_eq!(env["GITOPSHQ_SHARD_COUNT"], "2");
    }

    // The schema refuses a misspelt key before anything is rendered.
    let out = Command::new(helm())
        .args(["template", "x"])
        .arg(chart())
        .args(["--set", "controller.replcas=3"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("replcas"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `kubectl kustomize config/default` installs what the chart installs with its defaults.
/// Per-tenant Flux artifacts: each shard serves its own projects' archives behind a Service of
/// its own, which its controller advertises; only Flux's namespace may reach the port.
#[test]
fn flux_artifacts_are_served_per_shard() {
    let rendered = docs(&template(
        "gitopshq",
        NAMESPACE,
        &[
            "controller.shards=2,controller.flux.rbac=true,controller.flux.artifacts.enabled=true,\
networkPolicy.enabled=true",
        ],
    ));
    for shard in 0..2 {
        let name = format!("gitopshq-controller-{shard}");
        let service = find(&rendered, "Service", &format!("{name}-artifacts"));
        assert_eq!(
            service["spec"]["selector"]["gitopshq.io/shard"],
            shard.to_string()
        );
        assert_eq!(service["spec"]["ports"][0]["port"], 9090);
        let container =
            &find(&rendered, "Deployment", &name)["spec"]["template"]["spec"]["containers"][0];
        let env = env_of(container);
        assert_eq!(
            env["GITOPSHQ_FLUX_ARTIFACTS_URL"],
            format!("http://{name}-artifacts.{NAMESPACE}.svc:9090")
        );
        assert_eq!(env["GITOPSHQ_FLUX_ARTIFACTS_ADDRESS"], "0.0.0.0:9090");
    }
    let policy = find(&rendered, "NetworkPolicy", "gitopshq-controller");
    let artifacts = policy["spec"]["ingress"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["ports"][0]["port"] == "artifacts")
        .expect("an ingress rule for the artifact port");
    assert_eq!(
        artifacts["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "flux-system"
    );
    let role = find(&rendered, "Role", "gitopshq-controller-flux");
    assert!(
        role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["resources"][0] == "externalartifacts/status"),
        "{role}"
    );
    // Off by default: no Service, no flag.
    let defaults = docs(&template("gitopshq", NAMESPACE, &[]));
    assert!(
        !defaults
            .iter()
            .any(|d| d["metadata"]["name"] == "gitopshq-controller-artifacts")
    );
}

#[test]
fn kustomize_install_matches_the_chart() {
    let kustomized = docs(&kustomize(&root().join("config/default")));
    let rendered = docs(&template("gitopshq", NAMESPACE, &[]));
    assert_eq!(count(&kustomized, "CustomResourceDefinition"), 15);
    for (kind, name) in [
        ("ClusterRole", "gitopshq-controller"),
        ("ClusterRole", "gitopshq-webhook"),
        ("Role", "gitopshq-controller-leader-election"),
        ("Role", "gitopshq-webhook-tls"),
    ] {
        assert_eq!(
            find(&kustomized, kind, name)["rules"],
            find(&rendered, kind, name)["rules"],
            "{kind} {name}: config/rbac and the chart grant different rules"
        );
    }
    for (kind, name) in [
        ("ClusterRoleBinding", "gitopshq-controller"),
        ("ClusterRoleBinding", "gitopshq-webhook"),
        ("RoleBinding", "gitopshq-controller-leader-election"),
        ("RoleBinding", "gitopshq-webhook-tls"),
    ] {
        let ours = find(&kustomized, kind, name);
        let theirs = find(&rendered, kind, name);
        assert_eq!(ours["subjects"], theirs["subjects"], "{kind} {name}");
        assert_eq!(ours["roleRef"], theirs["roleRef"], "{kind} {name}");
    }
    for name in [
        "gitopshq-webhook",
        "gitopshq-controller-metrics",
        "gitopshq-controller-receiver",
    ] {
        assert_eq!(
            find(&kustomized, "Service", name)["spec"]["ports"],
            find(&rendered, "Service", name)["spec"]["ports"],
            "Service {name}"
        );
    }
    assert_configurations(
        &kustomized,
        &generated_configurations(NAMESPACE, "gitopshq-webhook", "gitopshq-webhook"),
        false,
    );
    for name in ["gitopshq-controller", "gitopshq-webhook"] {
        let ours = &find(&kustomized, "Deployment", name)["spec"];
        let theirs = &find(&rendered, "Deployment", name)["spec"];
        assert_eq!(ours["replicas"], theirs["replicas"], "{name}");
        let (ours, theirs) = (
            &ours["template"]["spec"]["containers"][0],
            &theirs["template"]["spec"]["containers"][0],
        );
        for field in [
            "args",
            "ports",
            "livenessProbe",
            "readinessProbe",
            "securityContext",
            "resources",
        ] {
            assert_eq!(ours[field], theirs[field], "Deployment {name}: {field}");
        }
        // The same settings; only the namespace is spelled differently (kustomize may move the
        // install, so it reads the pod's namespace).
        let (ours, theirs) = (env_of(ours), env_of(theirs));
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "Deployment {name}: environment variables"
        );
        for (key, value) in &ours {
            match key.as_str() {
                "GITOPSHQ_LEASE_NAMESPACE" => {
                    assert_eq!(value["fieldRef"]["fieldPath"], "metadata.namespace")
                }
                "GITOPSHQ_WEBHOOK_TLS_SECRET" => {
                    assert_eq!(
                        theirs[key],
                        format!("{NAMESPACE}/{}", value.as_str().unwrap())
                    )
                }
                _ => assert_eq!(value, &theirs[key], "Deployment {name}: {key}"),
            }
        }
    }

    // The cert-manager component builds on top of it.
    let overlay = tempfile::tempdir().unwrap();
    let up = "../".repeat(overlay.path().components().count() - 1);
    let config = format!(
        "{up}{}",
        root()
            .join("config")
            .display()
            .to_string()
            .trim_start_matches('/')
    );
    std::fs::write(
        overlay.path().join("kustomization.yaml"),
        format!("resources: [{config}/default]\ncomponents: [{config}/certmanager]\n"),
    )
    .unwrap();
    let with_cert_manager = docs(&kustomize(overlay.path()));
    assert_configurations(
        &with_cert_manager,
        &generated_configurations(NAMESPACE, "gitopshq-webhook", "gitopshq-webhook"),
        true,
    );
    assert_eq!(count(&with_cert_manager, "Certificate"), 1);
    assert_eq!(count(&with_cert_manager, "Role"), 1);
    let env = env_of(
        &find(&with_cert_manager, "Deployment", "gitopshq-webhook")["spec"]["template"]["spec"]["containers"]
            [0],
    );
    assert_eq!(env["GITOPSHQ_WEBHOOK_KEY"], "/tls/tls.key");
    assert!(!env.contains_key("GITOPSHQ_WEBHOOK_TLS_SECRET"));

    // The signing component names the key Secret, as the chart's controller.signingKeySecret.
    std::fs::write(
        overlay.path().join("kustomization.yaml"),
        format!("resources: [{config}/default]\ncomponents: [{config}/signing]\n"),
    )
    .unwrap();
    let signed = docs(&kustomize(overlay.path()));
    let env = env_of(
        &find(&signed, "Deployment", "gitopshq-controller")["spec"]["template"]["spec"]["containers"]
            [0],
    );
    assert_eq!(env["GITOPSHQ_SIGNING_KEY_SECRET"], "gitopshq-signing-key");
    assert_eq!(
        env["GITOPSHQ_AUTHOR_NAME"], "GitOpsHQ",
        "the other settings stay"
    );
}

/// Minimal CRDs for the third-party kinds the chart can render, so the API server accepts them.
fn third_party_crds() -> String {
    [
        ("monitoring.coreos.com", "ServiceMonitor", "servicemonitors"),
        ("cert-manager.io", "Certificate", "certificates"),
        ("cert-manager.io", "Issuer", "issuers"),
    ]
    .map(|(group, kind, plural)| {
        format!(
            r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {plural}.{group}}}
spec:
  group: {group}
  names: {{kind: {kind}, plural: {plural}}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}
"#
        )
    })
    .join("---\n")
}

fn apply(env: &TestEnv, manifests: &str, extra: &[&str]) -> String {
    let out = with_stdin(
        env.kubectl("admin").args(["apply", "-f", "-"]).args(extra),
        manifests,
    );
    assert!(
        out.status.success(),
        "kubectl apply {extra:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `kubectl auth can-i` as `who`: `checks` are (expected, args).
fn assert_can_i<S: AsRef<str> + Sync>(env: &TestEnv, who: &str, checks: &[(bool, S)]) {
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = checks
            .iter()
            .map(|(expected, args)| {
                scope.spawn(move || {
                    let out = env
                        .kubectl("admin")
                        .args(["auth", "can-i", &format!("--as={who}")])
                        .args(args.as_ref().split_whitespace())
                        .output()
                        .expect("kubectl runs");
                    let answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                    let want = if *expected { "yes" } else { "no" };
                    (answer != want).then(|| {
                        format!(
                            "can-i {}: {answer:?}, expected {want} ({})",
                            args.as_ref(),
                            String::from_utf8_lossy(&out.stderr).trim()
                        )
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "{who}:\n{}", failures.join("\n"));
}

/// `kubectl create token` for a ServiceAccount of the install.
fn token(env: &TestEnv, service_account: &str) -> String {
    kubectl_ok(
        env.kubectl("admin")
            .args(["-n", NAMESPACE, "create", "token", service_account]),
    )
    .trim()
    .to_owned()
}

/// A kube client acting as `token`, whose default namespace is the install's.
async fn client_with_token(env: &TestEnv, token: &str) -> kube::Client {
    use base64::Engine as _;
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    \
         certificate-authority-data: {}\nusers:\n- name: u\n  user:\n    token: {token}\n\
         contexts:\n- name: x\n  context: {{cluster: c, user: u, namespace: {NAMESPACE}}}\n\
         current-context: x\n",
        env.server_url(),
        base64::engine::general_purpose::STANDARD.encode(env.ca_pem()),
    );
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

fn controller_checks() -> Vec<(bool, String)> {
    let mut checks = Vec::new();
    for crd in gitopshq_crds::all_crds() {
        let resource = crd.spec.names.plural;
        for verb in ["get", "list", "watch"] {
            checks.push((true, format!("{verb} {resource}.gitopshq.io -A")));
        }
        for verb in ["get", "patch", "update"] {
            checks.push((
                true,
                format!("{verb} {resource}.gitopshq.io --subresource=status -A"),
            ));
        }
        checks.push((false, format!("delete {resource}.gitopshq.io -A")));
        checks.push((false, format!("update {resource}.gitopshq.io -A")));
    }
    let fixed: &[(bool, &str)] = &[
        (true, "create releases.gitopshq.io -n payment-service"),
        (
            true,
            "create approvalrequests.gitopshq.io -n payment-service",
        ),
        (true, "patch promotions.gitopshq.io -n payment-service"),
        (
            true,
            "release environments.gitopshq.io/production -n payment-service",
        ),
        (
            false,
            "approve environments.gitopshq.io/production -n payment-service",
        ),
        (true, "patch workloads.gitopshq.io -n payment-service"),
        (false, "create workloads.gitopshq.io -n payment-service"),
        (false, "patch releases.gitopshq.io -n payment-service"),
        (true, "create namespaces"),
        (true, "patch namespaces"),
        (true, "watch namespaces"),
        (false, "delete namespaces"),
        (true, "get secrets -n payment-service"),
        (true, "watch secrets -A"),
        (false, "update secrets -n payment-service"),
        (false, "patch secrets -n gitopshq-system"),
        (false, "create secrets -n gitopshq-system"),
        (false, "delete secrets -n payment-service"),
        (true, "create events -n payment-service"),
        (true, "patch events.events.k8s.io -n payment-service"),
        (false, "delete events -n payment-service"),
        (true, "create roles -n payment-service"),
        (true, "delete rolebindings -n payment-service"),
        (true, "escalate roles -n payment-service"),
        (true, "bind roles -n payment-service"),
        (true, "create clusterroles"),
        (true, "bind clusterroles/gitopshq:catalog-reader"),
        (false, "bind clusterroles/cluster-admin"),
        (false, "escalate clusterroles"),
        (false, "delete clusterroles"),
        (true, "create clusterrolebindings"),
        (true, "delete clusterrolebindings"),
        (true, "update leases -n gitopshq-system"),
        (true, "create leases -n gitopshq-system"),
        (false, "create leases -n payment-service"),
        (false, "delete leases -n gitopshq-system"),
        (true, "list customresourcedefinitions"),
        (false, "create customresourcedefinitions"),
        (false, "update customresourcedefinitions"),
        (false, "delete customresourcedefinitions"),
        (false, "create pods -n payment-service"),
        (false, "create deployments -n payment-service"),
        (false, "create mutatingwebhookconfigurations"),
        (false, "impersonate users"),
    ];
    checks.extend(
        fixed
            .iter()
            .map(|(allowed, args)| (*allowed, (*args).to_owned())),
    );
    checks
}

const WEBHOOK_CHECKS: &[(bool, &str)] = &[
    (true, "watch releases.gitopshq.io -A"),
    (true, "list environments.gitopshq.io"),
    (true, "get variables.gitopshq.io -n payment-service"),
    (true, "list breakglasssessions.gitopshq.io -A"),
    (false, "list approvalrequests.gitopshq.io -A"),
    (false, "list promotions.gitopshq.io -A"),
    (false, "create releases.gitopshq.io -n payment-service"),
    (
        false,
        "patch releases.gitopshq.io --subresource=status -n payment-service",
    ),
    (true, "get secrets -n payment-service"),
    (false, "list secrets -n payment-service"),
    (false, "update secrets -n payment-service"),
    (true, "create subjectaccessreviews.authorization.k8s.io"),
    (true, "get mutatingwebhookconfigurations/gitopshq"),
    (true, "patch validatingwebhookconfigurations/gitopshq"),
    (false, "patch mutatingwebhookconfigurations/other"),
    (false, "create mutatingwebhookconfigurations"),
    // The pod-logs API: its APIService's caBundle, and the API server's front-proxy settings.
    (
        true,
        "patch apiservices.apiregistration.k8s.io/v1alpha1.logs.gitopshq.io",
    ),
    (false, "patch apiservices.apiregistration.k8s.io/v1.apps"),
    (
        true,
        "get configmaps/extension-apiserver-authentication -n kube-system",
    ),
    (false, "get configmaps/other -n kube-system"),
    (true, "create secrets -n gitopshq-system"),
    (
        true,
        "update secrets/gitopshq-webhook-tls -n gitopshq-system",
    ),
    (false, "update secrets/other -n gitopshq-system"),
    (
        false,
        "delete secrets/gitopshq-webhook-tls -n gitopshq-system",
    ),
    (false, "create pods -n gitopshq-system"),
    (false, "create leases -n gitopshq-system"),
];

/// The chart applies to a real API server; its ServiceAccounts can do what the operator does
/// and nothing else; the webhook's own certificate lands in the Secret and the caBundle.
#[tokio::test]
async fn helm_install_applies_with_least_privilege_and_a_self_managed_certificate() {
    let rendered = template("gitopshq", NAMESPACE, &[]);
    let all_on = template("gitopshq", NAMESPACE, &[ALL_ON]);
    let env = TestEnv::start().await.expect("control plane starts");
    kubectl_ok(
        env.kubectl("admin")
            .args(["create", "namespace", NAMESPACE]),
    );
    kubectl_ok(
        env.kubectl("admin")
            .args(["create", "namespace", "payment-service"]),
    );
    apply(&env, &third_party_crds(), &[]);
    kubectl_ok(env.kubectl("admin").args([
        "wait",
        "--for=condition=Established",
        "crd/servicemonitors.monitoring.coreos.com",
        "crd/certificates.cert-manager.io",
        "crd/issuers.cert-manager.io",
    ]));
    apply(&env, &all_on, &["--dry-run=server"]);
    apply(&env, &rendered, &["--dry-run=server"]);
    let out = apply(&env, &rendered, &[]);
    assert!(
        out.contains("deployment.apps/gitopshq-controller created"),
        "{out}"
    );
    assert!(
        out.contains(
            "validatingwebhookconfiguration.admissionregistration.k8s.io/gitopshq created"
        ),
        "{out}"
    );

    assert_can_i(&env, CONTROLLER_SA, &controller_checks());
    assert_can_i(&env, WEBHOOK_SA, WEBHOOK_CHECKS);

    // The controller's own token creates what it creates for a Project: the namespace, one Role
    // per team grant (verbs it does not hold itself: escalate), their bindings, and the catalog
    // reader with its binding; it cannot hand out cluster-admin.
    let controller = token(&env, "gitopshq-controller");
    let as_controller = |args: &[&str]| {
        let mut cmd = env.kubectl("admin");
        cmd.arg(format!("--token={controller}")).args(args);
        cmd
    };
    let project: gitopshq_crds::project::Project = yaml_serde::from_str(
        &std::fs::read_to_string(root().join("examples/bootstrap/30-project.yaml")).unwrap(),
    )
    .unwrap();
    let rbac = gitopshq_engine::rbac::project_rbac(&project);
    let mut objects: Vec<Value> = vec![serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": project.namespace_name()}
    })];
    let typed = |kind: &str, value: Value| {
        let mut value = value;
        value["apiVersion"] = "rbac.authorization.k8s.io/v1".into();
        value["kind"] = kind.into();
        value
    };
    objects.push(typed(
        "ClusterRole",
        serde_json::to_value(gitopshq_engine::rbac::catalog_reader()).unwrap(),
    ));
    for role in &rbac.roles {
        objects.push(typed("Role", serde_json::to_value(role).unwrap()));
    }
    for binding in &rbac.role_bindings {
        objects.push(typed("RoleBinding", serde_json::to_value(binding).unwrap()));
    }
    if let Some(binding) = &rbac.catalog_binding {
        objects.push(typed(
            "ClusterRoleBinding",
            serde_json::to_value(binding).unwrap(),
        ));
    }
    assert!(
        rbac.roles.len() >= 3,
        "the bootstrap project grants several teams"
    );
    for object in &objects {
        let out = with_stdin(
            &mut as_controller(&[
                "apply",
                "--server-side",
                "--field-manager=gitopshq",
                "-f",
                "-",
            ]),
            &object.to_string(),
        );
        assert!(
            out.status.success(),
            "the controller cannot apply {} {}:\n{}",
            object["kind"],
            object["metadata"]["name"],
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let denied = kubectl_err(&mut as_controller(&[
        "create",
        "clusterrolebinding",
        "grab",
        "--clusterrole=cluster-admin",
        "--serviceaccount=gitopshq-system:gitopshq-controller",
    ]));
    assert!(denied.contains("forbidden"), "{denied}");
    let denied = kubectl_err(&mut as_controller(&[
        "-n",
        "payment-service",
        "create",
        "secret",
        "generic",
        "stolen",
        "--from-literal=a=b",
    ]));
    assert!(denied.contains("forbidden"), "{denied}");

    // The webhook, with its own token, issues its certificate and sets the caBundle.
    let webhook = client_with_token(&env, &token(&env, "gitopshq-webhook")).await;
    let secret_ref: SecretRef = "gitopshq-webhook-tls".parse().unwrap();
    let issued = certs::ensure(&webhook, &secret_ref)
        .await
        .expect("certificate issued");
    let admin = env.client().await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), NAMESPACE);
    let stored = secrets.get("gitopshq-webhook-tls").await.unwrap();
    assert_eq!(stored.type_.as_deref(), Some("kubernetes.io/tls"));
    let data = stored.data.unwrap();
    assert_eq!(data["tls.crt"].0, issued.cert_pem.as_bytes());
    assert_eq!(data["ca.crt"].0, issued.ca_pem.as_bytes());
    let host = "gitopshq-webhook.gitopshq-system.svc";
    assert_eq!(
        certs::decide(Some(&issued), host, jiff::Timestamp::now()),
        certs::Decision::Keep
    );
    let assert_ca_bundle = |ca: String| {
        let admin = admin.clone();
        async move {
            let mutating = Api::<MutatingWebhookConfiguration>::all(admin.clone())
                .get("gitopshq")
                .await
                .unwrap();
            let validating = Api::<ValidatingWebhookConfiguration>::all(admin.clone())
                .get("gitopshq")
                .await
                .unwrap();
            let mut bundles: Vec<Option<Vec<u8>>> = Vec::new();
            bundles.extend(
                mutating
                    .webhooks
                    .unwrap()
                    .into_iter()
                    .map(|w| w.client_config.ca_bundle.map(|b| b.0)),
            );
            bundles.extend(
                validating
                    .webhooks
                    .unwrap()
                    .into_iter()
                    .map(|w| w.client_config.ca_bundle.map(|b| b.0)),
            );
            assert_eq!(bundles.len(), 3);
            bundles.push(
                Api::<APIService>::all(admin.clone())
                    .get("v1alpha1.logs.gitopshq.io")
                    .await
                    .unwrap()
                    .spec
                    .unwrap()
                    .ca_bundle
                    .map(|b| b.0),
            );
            for bundle in bundles {
                assert_eq!(bundle.as_deref(), Some(ca.as_bytes()));
            }
        }
    };
    assert_ca_bundle(issued.ca_pem.clone()).await;

    // A restart keeps the certificate; re-applying the chart (an upgrade) keeps the caBundle.
    let again = certs::ensure(&webhook, &secret_ref).await.unwrap();
    assert_eq!(again.cert_pem, issued.cert_pem);
    apply(&env, &rendered, &[]);
    assert_ca_bundle(issued.ca_pem.clone()).await;

    // Two replicas starting on an empty Secret agree on one certificate.
    secrets
        .delete("gitopshq-webhook-tls", &Default::default())
        .await
        .unwrap();
    let other = client_with_token(&env, &token(&env, "gitopshq-webhook")).await;
    let (first, second) = tokio::join!(
        certs::ensure(&webhook, &secret_ref),
        certs::ensure(&other, &secret_ref)
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.cert_pem, second.cert_pem);
    assert_ne!(first.cert_pem, issued.cert_pem);
    assert_ca_bundle(first.ca_pem.clone()).await;

    // A certificate expiring within 30 days is replaced; the bundle keeps its CA meanwhile.
    let hosts = certs::service_hosts(NAMESPACE, "gitopshq-webhook");
    let old = certs::issue(
        &hosts,
        None,
        jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 350),
    )
    .unwrap();
    let mut current = secrets.get("gitopshq-webhook-tls").await.unwrap();
    current.metadata.managed_fields = None;
    let data = current.data.as_mut().unwrap();
    data.insert(
        "tls.crt".into(),
        k8s_openapi::ByteString(old.cert_pem.clone().into()),
    );
    data.insert(
        "tls.key".into(),
        k8s_openapi::ByteString(old.key_pem.clone().into()),
    );
    data.insert(
        "ca.crt".into(),
        k8s_openapi::ByteString(old.ca_pem.clone().into()),
    );
    secrets
        .replace("gitopshq-webhook-tls", &Default::default(), &current)
        .await
        .unwrap();
    let renewed = certs::ensure(&webhook, &secret_ref).await.unwrap();
    assert_ne!(renewed.cert_pem, old.cert_pem);
    assert!(
        renewed.ca_pem.contains(old.ca_pem.trim()),
        "the old CA stays trusted"
    );
    assert_eq!(renewed.ca_pem.matches("BEGIN CERTIFICATE").count(), 2);
    assert_ca_bundle(renewed.ca_pem.clone()).await;
}

/// `kubectl kustomize config/default` applies to a real API server, and grants the same.
#[tokio::test]
async fn kustomize_install_applies_with_least_privilege() {
    let kustomized = kustomize(&root().join("config/default"));
    let env = TestEnv::start().await.expect("control plane starts");
    // A server-side dry run creates nothing, so the namespace its objects go to must exist.
    kubectl_ok(
        env.kubectl("admin")
            .args(["create", "namespace", NAMESPACE]),
    );
    apply(&env, &kustomized, &["--server-side", "--dry-run=server"]);
    let out = apply(&env, &kustomized, &["--server-side"]);
    assert!(
        out.contains("namespace/gitopshq-system serverside-applied"),
        "{out}"
    );
    assert!(
        out.contains("deployment.apps/gitopshq-webhook serverside-applied"),
        "{out}"
    );
    kubectl_ok(
        env.kubectl("admin")
            .args(["create", "namespace", "payment-service"]),
    );
    assert_can_i(&env, CONTROLLER_SA, &controller_checks());
    assert_can_i(&env, WEBHOOK_SA, WEBHOOK_CHECKS);
}

/// The Dockerfile builds the one binary into a small non-root image, and lints clean.
#[test]
fn dockerfile_is_minimal_non_root_and_lints_clean() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("USER 65532:65532"), "non-root user");
    assert!(
        dockerfile.contains("--mount=type=cache"),
        "dependency caching"
    );
    assert!(
        dockerfile.contains("org.opencontainers.image.source"),
        "OCI labels"
    );
    let copies: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY --from="))
        .collect();
    assert!(
        copies
            .iter()
            .any(|l| l.ends_with("/usr/local/bin/gitopshq")),
        "{copies:?}"
    );
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l.trim() == "target"), "{ignore}");

    let out = Command::new("bash")
        .arg(root().join("scripts/hadolint.sh"))
        .output()
        .expect("bash runs scripts/hadolint.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(2) {
        // hadolint could not be installed here (no Python); the lint runs where it can.
        eprintln!("hadolint unavailable, Dockerfile not linted: {stderr}");
        return;
    }
    assert!(out.status.success(), "hadolint:\n{stdout}{stderr}");
}
