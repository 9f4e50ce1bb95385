//! Per-tenant Flux artifacts (`--flux-artifacts-url`) on the real loop: each tenant's
//! Kustomization follows its own `ExternalArtifact`, which the controller publishes after a
//! commit and serves; real kustomize-controller (with `--feature-gates=ExternalArtifact=true`)
//! fetches and applies it, and the release becomes Healthy. A release to one tenant publishes
//! that tenant's artifact only: the other tenant's Kustomization never sees the new commit.
//! The server hands out tenant folders and nothing else of the repository, and a project role
//! may not publish or repoint an artifact.

use gitopshq_e2e::{Platform, flux_artifacts};
use serde_json::Value;
use sha2::{Digest, Sha256};

const NS: &str = "payment-service";
const ROOT: &str = "projects/payment-service";

fn tenant(name: &str, namespace: &str, region: &str) -> String {
    format!(
        r#"apiVersion: gitopshq.io/v1alpha1
kind: Tenant
metadata: {{name: {name}, namespace: {NS}}}
spec:
  environment: development
  cluster: eu-west-1
  namespace: {namespace}
  workloads:
    payment-api:
      values:
        env: {{REGION: {region}}}
"#
    )
}

fn release(name: &str, tenants: &str) -> String {
    format!(
        r#"apiVersion: gitopshq.io/v1alpha1
kind: Release
metadata: {{name: {name}, namespace: {NS}}}
spec:
  title: payment-api to {tenants}
  environment: development
  tenants: [{tenants}]
  type: Deploy
  changes:
    - workload: payment-api
      version: 1.0.0
  submitted: true
"#
    )
}

fn object(platform: &Platform, kind: &str, name: &str) -> Value {
    let text = platform.get(Some("flux-system"), kind, name, "{}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{kind} {name}: {e}: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_follows_its_own_artifact_and_a_release_moves_only_its_tenants() {
    let mut platform = Platform::start().await;
    platform.stop_controllers().await;
    let artifacts = flux_artifacts();
    let base = artifacts.url.clone();
    platform
        .start_controllers_with(|s| s.flux_artifacts = Some(artifacts))
        .await;
    platform.apply("admin", &platform.bootstrap_without_tenants_or_release());
    platform.apply(
        "admin",
        &format!(
            "{}---\n{}",
            tenant("eu-development", "payments-dev-eu", "eu-west-1"),
            tenant("us-development", "payments-dev-us", "us-east-1")
        ),
    );
    platform.wait_for(None, "project", NS, "{.status.phase}", "Ready");

    // The first release reaches both tenants through their artifacts.
    platform.apply("alice", &release("first", "eu-development, us-development"));
    let first = platform.release(NS, "first");
    first.wait_phase("Healthy");
    let first_commit = first.get("{.status.commit}");
    for (tenant, namespace) in [
        ("eu-development", "payments-dev-eu"),
        ("us-development", "payments-dev-us"),
    ] {
        let name = format!("{NS}-development-{tenant}");
        let kustomization = object(&platform, "kustomization", &name);
        assert_eq!(
            kustomization["spec"]["sourceRef"]["kind"], "ExternalArtifact",
            "{kustomization}"
        );
        assert_eq!(kustomization["spec"]["path"], "./");
        let artifact = object(&platform, "externalartifact", &name);
        let published = &artifact["status"]["artifact"];
        assert_eq!(published["revision"], format!("main@sha1:{first_commit}"));
        assert_eq!(
            kustomization["status"]["lastAppliedRevision"], published["revision"],
            "{kustomization}"
        );
        // What Flux fetched is what the server hands out, byte for byte.
        let url = published["url"].as_str().expect("a URL");
        assert!(url.starts_with(&base), "{url}");
        let bytes = reqwest::get(url)
            .await
            .expect("the artifact server answers")
            .bytes()
            .await
            .expect("a body");
        assert_eq!(
            published["digest"],
            format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
        );
        assert!(
            !platform
                .workload_get(namespace, "deployment", "payment-api", "{.metadata.name}")
                .is_empty()
        );
    }

    // What Flux applies is the controller's to publish: a project role (alice is Developer
    // and ReleaseManager in development) may neither point an artifact elsewhere nor add one.
    let eu = format!("{NS}-development-eu-development");
    let pointed = platform
        .kubectl("alice")
        .args(["-n", "flux-system", "patch", "externalartifact", &eu])
        .args(["--subresource=status", "--type=merge", "-p"])
        .arg(r#"{"status":{"artifact":{"url":"http://attacker.example/eu.tar.gz"}}}"#)
        .output()
        .expect("kubectl runs");
    assert!(!pointed.status.success());
    assert!(
        String::from_utf8_lossy(&pointed.stderr).contains("forbidden"),
        "{}",
        String::from_utf8_lossy(&pointed.stderr)
    );
    let added = platform.apply_refused(
        "alice",
        &format!(
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: ExternalArtifact\nmetadata: {{name: {eu}-2, namespace: flux-system}}\nspec: {{}}\n"
        ),
    );
    assert!(added.contains("forbidden"), "{added}");

    // A release to one tenant: only its artifact moves, the other tenant's Kustomization
    // never attempts the new commit.
    let us = format!("{NS}-development-us-development");
    let us_before = object(&platform, "externalartifact", &us)["status"]["artifact"].clone();
    platform.apply(
        "admin",
        &tenant("eu-development", "payments-dev-eu", "eu-central-1"),
    );
    platform.apply("alice", &release("second", "eu-development"));
    let second = platform.release(NS, "second");
    second.wait_phase("Healthy");
    let second_commit = second.get("{.status.commit}");
    assert_ne!(second_commit, first_commit);
    assert_eq!(
        platform.workload_get(
            "payments-dev-eu",
            "deployment",
            "payment-api",
            "{.spec.template.spec.containers[0].env[?(@.name==\"REGION\")].value}"
        ),
        "eu-central-1"
    );
    // The environment's root Kustomization (on the GitRepository) has the second commit: a
    // tenant on the GitRepository would have been reconciled at it by now.
    platform.wait_until(
        Some("flux-system"),
        "kustomization",
        "gitopshq-payment-service-development",
        "{.status.lastAttemptedRevision}",
        |r| r.ends_with(&second_commit),
        "the root Kustomization at the second commit",
    );
    std::thread::sleep(std::time::Duration::from_secs(3));
    let us_now = object(&platform, "externalartifact", &us)["status"]["artifact"].clone();
    assert_eq!(
        us_now, us_before,
        "the untouched tenant's artifact is as it was"
    );
    let us_kustomization = object(&platform, "kustomization", &us);
    assert_eq!(
        us_kustomization["status"]["lastAttemptedRevision"],
        format!("main@sha1:{first_commit}"),
        "{us_kustomization}"
    );

    // Nothing but tenant folders of a Flux project, at a commit of its repository.
    let refused = [
        format!("/{NS}/{second_commit}/{ROOT}/development.tar.gz"),
        format!("/{NS}/{second_commit}/{ROOT}/development/_kustomizations.tar.gz"),
        format!("/{NS}/{second_commit}/{ROOT}/development/eu-development/payment-api.tar.gz"),
        format!("/{NS}/{second_commit}/{ROOT}/development/../staging/x.tar.gz"),
        format!("/{NS}/main/{ROOT}/development/eu-development.tar.gz"),
        format!(
            "/{NS}/{}/{ROOT}/development/eu-development.tar.gz",
            "0".repeat(40)
        ),
        format!("/other-project/{second_commit}/{ROOT}/development/eu-development.tar.gz"),
    ];
    for path in refused {
        let status = reqwest::get(format!("{base}{path}"))
            .await
            .expect("the artifact server answers")
            .status();
        assert_eq!(status, 404, "{path}");
    }
    platform.stop().await;
}
