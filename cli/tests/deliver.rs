//! `gitopshq diff` / `deliver` against a real bare Git repository: commit content, trailers,
//! idempotence, a second release and a rollback restoring the first one's content.

mod common;

use common::{Fixture, development_release};

const DEPLOYMENT: &str = "main:projects/payment-service/development/eu-development/payment-api/deployment-payment-api.yaml";

#[test]
fn deliver_commits_once_with_trailers_and_rollback_restores_as_a_new_commit() {
    let f = Fixture::new();
    let preview = f.ok(&["diff", "--release", "payment-api-v1-0-0-dev"]);
    assert!(
        preview.contains("+ Deployment payments-dev/payment-api (added)"),
        "{preview}"
    );

    let first = f
        .ok(&["deliver", "--release", "payment-api-v1-0-0-dev"])
        .trim()
        .to_string();
    let message = f.git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        message.starts_with("Initial deployment of payment-api v1.0.0\n"),
        "{message}"
    );
    for trailer in [
        "GitOpsHQ-Release: payment-service/payment-api-v1-0-0-dev",
        "GitOpsHQ-Environment: development",
        "GitOpsHQ-Rendered-Digest: sha256:",
        "GitOpsHQ-Release-Type: Deploy",
    ] {
        assert!(message.contains(trailer), "missing {trailer}:\n{message}");
    }
    let files = f.git(&["ls-tree", "-r", "--name-only", "main"]);
    for path in [
        "projects/payment-service/development/_kustomizations/eu-development.yaml",
        "projects/payment-service/development/eu-development/kustomization.yaml",
        "projects/payment-service/development/eu-development/payment-api/kustomization.yaml",
        "projects/payment-service/environments/production/values.yaml",
    ] {
        assert!(files.lines().any(|l| l == path), "missing {path}:\n{files}");
    }
    assert!(f.git(&["show", DEPLOYMENT]).contains("payment-api:v1.0.0"));

    // Same inputs: same commit, nothing new, and the preview is empty.
    let again = f
        .ok(&["deliver", "--release", "payment-api-v1-0-0-dev"])
        .trim()
        .to_string();
    assert_eq!(first, again);
    assert_eq!(f.git(&["rev-list", "--count", "main"]).trim(), "1");
    assert!(
        f.ok(&["diff", "--release", "payment-api-v1-0-0-dev"])
            .contains("no changes")
    );

    // A second release changes the image; the preview names the field.
    f.add(
        "90-v2.yaml",
        &development_release("payment-api-v2", "payment-api v2.0.0", "v2.0.0"),
    );
    let preview = f.ok(&["diff", "--release", "payment-api-v2"]);
    assert!(
        preview.contains("~ Deployment payments-dev/payment-api"),
        "{preview}"
    );
    assert!(
        preview.contains("\"registry.example.com/payment-api:v2.0.0\""),
        "{preview}"
    );
    let second = f
        .ok(&["deliver", "--release", "payment-api-v2"])
        .trim()
        .to_string();
    assert_ne!(first, second);
    assert!(f.git(&["show", DEPLOYMENT]).contains("payment-api:v2.0.0"));
    assert!(
        f.git(&["log", "-1", "--format=%B", "main"])
            .contains("GitOpsHQ-Created-By: alice")
    );

    // Rolling back to the first release restores its content in a new commit.
    f.add(
        "91-rollback.yaml",
        "apiVersion: gitopshq.io/v1alpha1
kind: Release
metadata:
  name: payment-api-rollback
  namespace: payment-service
spec:
  title: Roll back payment-api to v1.0.0
  environment: development
  type: Rollback
  rollbackTo:
    release: payment-api-v1-0-0-dev
  changes:
    - workload: payment-api
  submitted: true
",
    );
    let third = f
        .ok(&["deliver", "--release", "payment-api-rollback"])
        .trim()
        .to_string();
    assert_ne!(third, second);
    assert_eq!(
        f.git(&["rev-list", "--count", "main"]).trim(),
        "3",
        "history is kept"
    );
    assert!(f.git(&["show", DEPLOYMENT]).contains("payment-api:v1.0.0"));
    let restored = f.git(&[
        "rev-parse",
        &format!("{third}:projects/payment-service/development/eu-development/payment-api"),
    ]);
    let original = f.git(&[
        "rev-parse",
        &format!("{first}:projects/payment-service/development/eu-development/payment-api"),
    ]);
    assert_eq!(
        restored, original,
        "the workload tree is byte-identical to the first release's"
    );
    let message = f.git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        message.contains("GitOpsHQ-Release-Type: Rollback"),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "GitOpsHQ-Rollback-To: payment-service/payment-api-v1-0-0-dev@{first}"
        )),
        "{message}"
    );
}

#[test]
fn unknown_release_names_the_known_ones() {
    let f = Fixture::new();
    let out = f.gitopshq(&["deliver", "--release", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("payment-service/payment-api-v1-0-0-dev"),
        "{err}"
    );
}

#[test]
fn a_rollback_to_an_undelivered_release_is_refused_with_the_next_step() {
    let f = Fixture::new();
    f.add(
        "91-rollback.yaml",
        "apiVersion: gitopshq.io/v1alpha1
kind: Release
metadata:
  name: rb
  namespace: payment-service
spec:
  title: Roll back
  environment: development
  type: Rollback
  rollbackTo:
    release: payment-api-v1-0-0-dev
  submitted: true
",
    );
    let out = f.gitopshq(&["deliver", "--release", "rb"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has no delivery commit") && err.contains("deliver it first"),
        "{err}"
    );
}

/// A chart that renders a Secret from a Secret-backed HQ variable, and a release of it.
const SECRET_INPUTS: &str = "apiVersion: v1
kind: Secret
metadata:
  name: payments-db
  namespace: payment-service
stringData:
  password: Tr0ub4dor-and-3-horses
---
apiVersion: gitopshq.io/v1alpha1
kind: Variables
metadata:
  name: secrets
  namespace: payment-service
spec:
  secretRefs:
    DB_PASSWORD: {name: payments-db, key: password}
---
apiVersion: gitopshq.io/v1alpha1
kind: ChartVersion
metadata:
  name: db-credentials-1.0.0
spec:
  chart: db-credentials
  version: 1.0.0
  values: {}
  templates:
    secret.yaml: |
      apiVersion: v1
      kind: Secret
      metadata:
        name: db-credentials
      type: Opaque
      data:
        password: {{b64enc values.password}}
      stringData:
        url: postgres://app:{{values.password}}@db/payments
---
apiVersion: gitopshq.io/v1alpha1
kind: Workload
metadata:
  name: db-credentials
  namespace: payment-service
spec:
  chart: db-credentials
  version: 1.0.0
  values:
    password: \"{{hq.var.DB_PASSWORD}}\"
---
apiVersion: gitopshq.io/v1alpha1
kind: Release
metadata:
  name: db-credentials-dev
  namespace: payment-service
spec:
  title: Database credentials
  environment: development
  tenants: [eu-development]
  changes:
    - workload: db-credentials
  submitted: true
  createdBy: alice
";

#[test]
fn an_argo_cd_delivery_commits_only_the_secret_reference() {
    let f = Fixture::new();
    f.add("90-secret.yaml", SECRET_INPUTS);
    let project = std::fs::read_to_string(f.inputs.join("30-project.yaml")).unwrap();
    f.add(
        "30-project.yaml",
        &project.replace("delivery: Flux", "delivery: ArgoCD"),
    );

    let preview = f.ok(&["diff", "--release", "db-credentials-dev", "--unified"]);
    assert!(!preview.contains("Tr0ub4dor"), "{preview}");
    assert!(preview.contains("secrets.yaml"), "{preview}");

    let delivered = f.gitopshq(&["deliver", "--release", "db-credentials-dev"]);
    assert!(delivered.status.success(), "{delivered:?}");
    let stderr = String::from_utf8_lossy(&delivered.stderr);
    assert!(
        stderr.contains("1 Secret(s) are not in Git") && stderr.contains("controller applies"),
        "{stderr}"
    );
    let history = f.git(&["log", "-p", "--all"]);
    let encoded = "VHIwdWI0ZG9yLWFuZC0zLWhvcnNlcw==";
    assert!(
        !history.contains("Tr0ub4dor") && !history.contains(encoded),
        "{history}"
    );
    let reference = f.git(&[
        "show",
        "main:projects/payment-service/development/eu-development/db-credentials/secrets.yaml",
    ]);
    assert!(
        reference.contains("- name: db-credentials\n")
            && reference.contains("  - password\n  - url\n"),
        "{reference}"
    );

    // The same release again: same bytes, no new commit.
    let again = f.gitopshq(&["deliver", "--release", "db-credentials-dev"]);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("no new commit"),
        "{again:?}"
    );
}

#[test]
fn a_secret_backed_variable_outside_a_secret_fails_the_render_and_commits_nothing() {
    let f = Fixture::new();
    let leaking = SECRET_INPUTS.replace(
        "      stringData:\n        url:",
        "      ---\n      apiVersion: v1\n      kind: ConfigMap\n      metadata:\n        name: db-url\n      data:\n        url:",
    );
    f.add("90-secret.yaml", &leaking);
    let delivered = f.gitopshq(&["deliver", "--release", "db-credentials-dev"]);
    assert!(!delivered.status.success());
    let stderr = String::from_utf8_lossy(&delivered.stderr);
    for part in [
        "HQ variable hq.var.DB_PASSWORD",
        "ConfigMap payments-dev/db-url",
        "at data.url",
        "tenant eu-development",
        "valueFrom.secretKeyRef",
    ] {
        assert!(stderr.contains(part), "missing {part:?}: {stderr}");
    }
    assert!(!stderr.contains("Tr0ub4dor"), "{stderr}");
    assert_eq!(
        f.git(&["for-each-ref"]).trim(),
        "",
        "something was committed"
    );
}

#[test]
fn a_flux_delivery_commits_the_secret_encrypted_and_the_same_key_makes_no_new_commit() {
    let f = Fixture::new();
    f.add("90-secret.yaml", SECRET_INPUTS);
    let cluster = std::fs::read_to_string(f.inputs.join("20-cluster.yaml")).unwrap();
    f.add(
        "20-cluster.yaml",
        &format!(
            "{cluster}  secretEncryption:\n    ageRecipients: [age1aljj8euh57pdjpu9cvcvhrzlxxr30mk385e67zxp0rhl6e5pfvxqr287wh]\n"
        ),
    );
    let key = format!("--secret-derivation-key={}", "0f".repeat(32));
    let first = f.ok(&["deliver", "--release", "db-credentials-dev", &key]);
    let file = f.git(&[
        "show",
        "main:projects/payment-service/development/eu-development/db-credentials/secret-db-credentials.yaml",
    ]);
    assert!(file.contains("password: ENC[AES256_GCM,data:"), "{file}");
    assert!(file.contains("recipient: age1aljj8euh57"), "{file}");
    let history = f.git(&["log", "-p", "--all"]);
    assert!(
        !history.contains("Tr0ub4dor") && !history.contains("VHIwdWI0ZG9y"),
        "{history}"
    );

    let second = f.gitopshq(&["deliver", "--release", "db-credentials-dev", &key]);
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("no new commit"),
        "{second:?}"
    );
    assert_eq!(String::from_utf8_lossy(&second.stdout), first);
}
