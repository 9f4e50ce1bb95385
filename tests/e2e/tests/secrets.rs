//! No Secret value reaches Git in plaintext, on the real platform: a Secret-backed HQ variable
//! delivered with Argo CD leaves no trace in the GitOps repository's history and its Secret is
//! applied to the workload cluster by the controller (and by Direct delivery); the same
//! variable in a ConfigMap fails the release with the render error; Flux delivery is Blocked
//! until the cluster lists an age recipient, and then commits a Secret the real sops CLI
//! decrypts to the value, with a Kustomization that decrypts it.

use std::process::Command;

use age::secrecy::ExposeSecret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gitopshq_e2e::{Platform, git, ok};

const NS: &str = "payment-service";
const PASSWORD: &str = "Tr0ub4dor-and-3-horses";
const SECRET_DIR: &str = "projects/payment-service/development/eu-development/db-credentials";

/// The Secret behind the HQ variable, the chart rendering it (1.1.0 also leaks it into a
/// ConfigMap) and the workload using it.
fn inputs() -> String {
    format!(
        "apiVersion: v1
kind: Secret
metadata: {{name: payments-db, namespace: {NS}}}
stringData:
  password: {PASSWORD}
---
apiVersion: gitopshq.io/v1alpha1
kind: Variables
metadata: {{name: secrets, namespace: {NS}}}
spec:
  secretRefs:
    DB_PASSWORD: {{name: payments-db, key: password}}
---
apiVersion: gitopshq.io/v1alpha1
kind: Chart
metadata: {{name: db-credentials}}
spec:
  description: Database credentials
  owners: [platform-team]
---
{}---
{}---
apiVersion: gitopshq.io/v1alpha1
kind: Workload
metadata: {{name: db-credentials, namespace: {NS}}}
spec:
  chart: db-credentials
  version: 1.0.0
  values:
    password: \"{{{{hq.var.DB_PASSWORD}}}}\"
",
        chart_version("1.0.0", ""),
        chart_version(
            "1.1.0",
            "      ---\n      apiVersion: v1\n      kind: ConfigMap\n      metadata:\n        name: db-url\n      data:\n        url: postgres://app:{{values.password}}@db/payments\n"
        ),
    )
}

fn chart_version(version: &str, more: &str) -> String {
    format!(
        "apiVersion: gitopshq.io/v1alpha1
kind: ChartVersion
metadata: {{name: db-credentials-{version}}}
spec:
  chart: db-credentials
  version: {version}
  values: {{}}
  templates:
    secret.yaml: |
      apiVersion: v1
      kind: Secret
      metadata:
        name: db-credentials
      type: Opaque
      data:
        password: {{{{b64enc values.password}}}}
      stringData:
        url: postgres://app:{{{{values.password}}}}@db/payments
{more}"
    )
}

fn release(name: &str, version: &str) -> String {
    format!(
        "apiVersion: gitopshq.io/v1alpha1\nkind: Release\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  title: {name}\n  environment: development\n  tenants: [eu-development]\n  changes:\n    - workload: db-credentials\n      version: {version}\n  submitted: true\n"
    )
}

/// Every commit of every ref, with its patch.
fn history(platform: &Platform) -> String {
    git(
        platform.dir(),
        &[
            "--git-dir",
            &platform.repository.display().to_string(),
            "log",
            "-p",
            "--all",
        ],
    )
}

fn assert_no_trace(platform: &Platform) {
    let history = history(platform);
    for trace in [PASSWORD.to_string(), STANDARD.encode(PASSWORD)] {
        assert!(
            !history.contains(&trace),
            "{trace:?} is in the GitOps history"
        );
    }
}

/// `PATH` of the Secret on the workload cluster, which must exist.
fn live_secret(platform: &Platform, path: &str) -> String {
    ok(platform.workload_admin().args([
        "-n",
        "payments-dev",
        "get",
        "secret",
        "db-credentials",
        "-o",
        &format!("jsonpath={path}"),
    ]))
}

/// The password of the Secret on the workload cluster, decoded.
fn live_password(platform: &Platform) -> String {
    let encoded = live_secret(platform, "{.data.password}");
    String::from_utf8(STANDARD.decode(encoded.trim()).expect("base64")).expect("UTF-8")
}

/// Waits until the release is delivered (Deployed, or already Healthy: the GitOps repository
/// holds none of its objects when its only object is a Secret kept out of Git).
fn delivered(platform: &Platform, release: &str) {
    platform.wait_until(
        Some(NS),
        "release",
        release,
        "{.status.phase}",
        |phase| phase == "Deployed" || phase == "Healthy",
        "Deployed or Healthy",
    );
}

/// The project delivers with `delivery` (`ArgoCD`, `Direct`, `Flux`) from the next release on.
fn deliver_with(platform: &Platform, delivery: &str) {
    patch_and_settle(
        platform,
        "project",
        NS,
        &format!(r#"{{"spec":{{"delivery":"{delivery}"}}}}"#),
    );
}

/// Submits release `name` of the chart's Secret-only version and waits until it is delivered.
fn submit_and_deliver(platform: &Platform, name: &str) {
    platform.apply("admin", &release(name, "1.0.0"));
    delivered(platform, name);
}

/// Someone deletes the Secret on the workload cluster, so that only the next delivery can
/// bring it back.
fn delete_live_secret(platform: &Platform) {
    ok(platform.workload_admin().args([
        "-n",
        "payments-dev",
        "delete",
        "secret",
        "db-credentials",
    ]));
}

/// Submits release `name` of the chart at `version` and waits until it stops in `phase` with a
/// message naming every one of `parts`, having committed nothing; returns the message.
#[track_caller]
fn held_back(
    platform: &Platform,
    name: &str,
    version: &str,
    phase: &str,
    parts: &[&str],
) -> String {
    let commits = platform.commits().len();
    platform.apply("admin", &release(name, version));
    platform.wait_for(Some(NS), "release", name, "{.status.phase}", phase);
    let message = platform.get(Some(NS), "release", name, "{.status.message}");
    for part in parts {
        assert!(message.contains(part), "missing {part:?}: {message}");
    }
    assert_eq!(platform.commits().len(), commits, "nothing was committed");
    message
}

/// Changes a cluster-scoped object and waits until its reconciler has seen the change, so the
/// controllers' caches hold it before the next release is judged.
fn patch_and_settle(platform: &Platform, kind: &str, name: &str, patch: &str) {
    ok(platform
        .admin()
        .args(["patch", kind, name, "--type", "merge", "-p", patch]));
    let generation = platform.get(None, kind, name, "{.metadata.generation}");
    platform.wait_until(
        None,
        kind,
        name,
        "{.status.conditions[*].observedGeneration}",
        |seen| seen.split_whitespace().any(|g| g == generation),
        &format!("generation {generation} observed"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_values_never_reach_git_in_plaintext() {
    let platform = Platform::start().await;
    platform.apply("admin", &platform.example(&["bootstrap"]));
    platform.apply("admin", &inputs());
    platform.wait_delivered(NS, "payment-api-v1-0-0-dev");

    // (1) Argo CD: the repository names the Secret; the controller applies it.
    deliver_with(&platform, "ArgoCD");
    submit_and_deliver(&platform, "db-argo");
    assert_no_trace(&platform);
    let reference = platform.file(&format!("{SECRET_DIR}/secrets.yaml"));
    assert!(
        reference.contains("- name: db-credentials\n") && reference.contains("delivery ArgoCD"),
        "{reference}"
    );
    let kustomization = platform.file(&format!("{SECRET_DIR}/kustomization.yaml"));
    assert!(!kustomization.contains("secret"), "{kustomization}");
    assert_eq!(live_password(&platform), PASSWORD);
    let labels = live_secret(&platform, "{.metadata.labels}");
    assert!(
        labels.contains("\"gitopshq.io/workload\":\"db-credentials\""),
        "{labels}"
    );

    // (2) The same variable in a ConfigMap: Failed with the render error, nothing committed.
    let message = held_back(
        &platform,
        "db-leak",
        "1.1.0",
        "Failed",
        &[
            "HQ variable hq.var.DB_PASSWORD",
            "ConfigMap payments-dev/db-url",
            "at data.url",
            "tenant eu-development",
            "valueFrom.secretKeyRef",
        ],
    );
    assert_eq!(
        platform.get(Some(NS), "release", "db-leak", "{.status.reason}"),
        "SecretValueOutsideSecret"
    );
    assert!(!message.contains(PASSWORD), "{message}");

    // (1) Direct: the Secret is applied again (here after someone deleted it).
    delete_live_secret(&platform);
    deliver_with(&platform, "Direct");
    submit_and_deliver(&platform, "db-direct");
    assert_eq!(live_password(&platform), PASSWORD);
    assert_no_trace(&platform);

    // (4) Flux without encryption on the cluster: Blocked, nothing committed.
    deliver_with(&platform, "Flux");
    held_back(
        &platform,
        "db-flux",
        "1.0.0",
        "Blocked",
        &[
            "tenant payment-service/eu-development",
            "cluster eu-west-1",
            "spec.secretEncryption.ageRecipients",
            "age-keygen",
            "sops-age",
        ],
    );

    // (3) The cluster lists an age recipient and Flux holds the matching identity: the retried
    // release commits a Secret that the real sops decrypts, and Flux decrypts and applies it.
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    ok(platform.admin().args([
        "-n",
        "flux-system",
        "create",
        "secret",
        "generic",
        "sops-age",
        &format!(
            "--from-literal=age.agekey={}",
            identity.to_string().expose_secret()
        ),
    ]));
    delete_live_secret(&platform);
    patch_and_settle(
        &platform,
        "cluster",
        "eu-west-1",
        &format!(r#"{{"spec":{{"secretEncryption":{{"ageRecipients":["{recipient}"]}}}}}}"#),
    );
    ok(platform.admin().args([
        "-n",
        NS,
        "annotate",
        "--overwrite",
        "release",
        "db-flux",
        "gitopshq.io/retry=after-encryption",
    ]));
    delivered(&platform, "db-flux");
    assert_no_trace(&platform);
    let encrypted = platform.file(&format!("{SECRET_DIR}/secret-db-credentials.yaml"));
    assert!(
        encrypted.contains(&format!("recipient: {recipient}")),
        "{encrypted}"
    );
    let file = platform.dir().join("secret-db-credentials.yaml");
    std::fs::write(&file, &encrypted).expect("write the committed file");
    let sops = gitopshq_localplane::sops_binary().expect("the sops CLI builds");
    let decrypted = Command::new(sops)
        .args(["--decrypt", "--output-type", "json"])
        .arg(&file)
        .env_clear()
        .env("HOME", platform.dir())
        .env("SOPS_AGE_KEY", identity.to_string().expose_secret())
        .output()
        .expect("sops runs");
    assert!(
        decrypted.status.success(),
        "sops --decrypt: {}",
        String::from_utf8_lossy(&decrypted.stderr)
    );
    let secret: serde_json::Value =
        serde_json::from_slice(&decrypted.stdout).expect("sops prints JSON");
    assert_eq!(secret["data"]["password"], STANDARD.encode(PASSWORD));
    assert_eq!(
        secret["stringData"]["url"],
        format!("postgres://app:{PASSWORD}@db/payments")
    );
    assert_eq!(secret["metadata"]["namespace"], "payments-dev");
    let kustomization =
        platform.file("projects/payment-service/development/_kustomizations/eu-development.yaml");
    assert!(
        kustomization
            .contains("  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"),
        "{kustomization}"
    );
    platform.wait_in_workload(
        "payments-dev",
        "secret",
        "db-credentials",
        "{.data.password}",
        |encoded| encoded == STANDARD.encode(PASSWORD),
        "the Secret Flux decrypted",
    );
    platform.stop().await;
}
