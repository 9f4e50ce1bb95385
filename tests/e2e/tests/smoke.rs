//! The local control plane behaves like a real cluster, driven by `kubectl` as a user would.
//!
//! Each test starts its own etcd + kube-apiserver (a few seconds); the first run on a machine
//! also builds them, which takes several minutes and is cached under `$HOME`.

use gitopshq_e2e::{fails as kubectl_err, ok as kubectl_ok, with_stdin};
use gitopshq_localplane::TestEnv;

#[tokio::test]
async fn control_plane_serves_rbac_tokens_and_audit() {
    let env = TestEnv::start().await.expect("control plane starts");

    assert_eq!(
        kubectl_ok(env.kubectl("admin").args(["get", "--raw", "/readyz"])).trim(),
        "ok"
    );

    let out = kubectl_ok(env.kubectl("admin").args(["create", "namespace", "smoke"]));
    assert!(out.contains("namespace/smoke created"), "{out}");

    // RBAC is on: a developer without grants cannot touch cluster-scoped objects.
    let denied = kubectl_err(
        env.kubectl("alice")
            .args(["create", "namespace", "alice-ns"]),
    );
    assert!(
        denied.contains("Forbidden") && denied.contains("\"alice\""),
        "{denied}"
    );
    let can_i = env
        .kubectl("alice")
        .args(["auth", "can-i", "create", "namespaces"])
        .output()
        .expect("kubectl runs");
    assert_eq!(String::from_utf8_lossy(&can_i.stdout).trim(), "no");
    let whoami = kubectl_ok(env.kubectl("alice").args([
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.groups}",
    ]));
    assert!(whoami.contains("backend-team"), "{whoami}");

    // ServiceAccount tokens are issued and accepted, as CI uses them.
    kubectl_ok(env.kubectl("admin").args([
        "-n",
        "smoke",
        "create",
        "serviceaccount",
        "ci-deployer",
    ]));
    let token =
        kubectl_ok(
            env.kubectl("admin")
                .args(["-n", "smoke", "create", "token", "ci-deployer"]),
        );
    let whoami = kubectl_ok(env.kubectl("admin").args([
        &format!("--token={}", token.trim()),
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]));
    assert_eq!(whoami, "system:serviceaccount:smoke:ci-deployer");

    // The audit trail names who was refused what.
    let events = env.audit_events().expect("audit log readable");
    assert!(
        events.iter().any(|e| e["user"]["username"] == "alice"
            && e["objectRef"]["resource"] == "namespaces"
            && e["verb"] == "create"
            && e["responseStatus"]["code"] == 403),
        "no audit event for alice's refused namespace creation in {:?}",
        env.audit_log_path()
    );
}

#[tokio::test]
async fn workload_cluster_is_independent() {
    let (management, workload) = tokio::join!(TestEnv::start(), TestEnv::start_workload_cluster());
    let (management, workload) = (
        management.expect("management starts"),
        workload.expect("workload starts"),
    );
    assert_ne!(management.server_url(), workload.server_url());

    kubectl_ok(
        workload
            .kubectl("admin")
            .args(["create", "namespace", "payments"]),
    );
    kubectl_ok(
        workload
            .kubectl("admin")
            .args(["get", "namespace", "payments"]),
    );
    let missing = kubectl_err(
        management
            .kubectl("admin")
            .args(["get", "namespace", "payments"]),
    );
    assert!(
        missing.contains("NotFound") || missing.contains("not found"),
        "{missing}"
    );

    // The kubeconfig text a registration Secret would hold reaches the workload cluster alone.
    let text = workload.admin_kubeconfig_yaml().expect("kubeconfig text");
    let file = management.dir().join("workload-kubeconfig");
    std::fs::write(&file, text).expect("write kubeconfig");
    let out = kubectl_ok(
        std::process::Command::new(std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into()))
            .arg(format!("--kubeconfig={}", file.display()))
            .args(["get", "namespace", "payments", "-o", "name"]),
    );
    assert_eq!(out.trim(), "namespace/payments");
    assert!(workload.audit_log_path().is_none());
}

/// The workspace root, where `config/crd` and `examples/` live.
fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test]
async fn gitopshq_crds_are_served_with_columns_and_schema() {
    for kind in [
        "environments",
        "clusters",
        "projects",
        "charts",
        "chartversions",
        "releases",
        "breakglasssessions",
    ] {
        let file = workspace_root().join(format!("config/crd/{kind}.gitopshq.io.yaml"));
        assert!(file.is_file(), "{} is missing", file.display());
    }
    let env = TestEnv::start().await.expect("control plane starts");

    let resources = kubectl_ok(env.kubectl("admin").args([
        "api-resources",
        "--api-group=gitopshq.io",
        "--no-headers",
    ]));
    for kind in [
        "Environment",
        "Release",
        "BreakGlassSession",
        "ChartVersion",
        "ApprovalRequest",
    ] {
        assert!(
            resources.lines().any(|l| l.trim_end().ends_with(kind)),
            "{kind} not served:\n{resources}"
        );
    }

    // The newcomer's first command applies cleanly.
    let bootstrap = workspace_root().join("examples/bootstrap");
    kubectl_ok(env.kubectl("admin").arg("apply").arg("-f").arg(&bootstrap));

    let table = kubectl_ok(env.kubectl("admin").args(["get", "environments"]));
    let header = table.lines().next().unwrap_or_default();
    for column in ["NAME", "DISPLAY", "RANK", "FROZEN"] {
        assert!(
            header.split_whitespace().any(|c| c == column),
            "no {column} column:\n{table}"
        );
    }
    for name in ["development", "staging", "production"] {
        assert!(
            table.lines().any(|l| l.starts_with(name)),
            "no {name} row:\n{table}"
        );
    }
    let short = kubectl_ok(env.kubectl("admin").args(["get", "env", "-o", "name"]));
    assert!(
        short.contains("environment.gitopshq.io/production"),
        "{short}"
    );

    let explain = kubectl_ok(
        env.kubectl("admin")
            .args(["explain", "release.spec.changes"]),
    );
    for field in ["workload", "version", "values"] {
        assert!(explain.contains(field), "explain lacks {field}:\n{explain}");
    }
}

#[tokio::test]
async fn invalid_objects_are_rejected_by_the_api_server() {
    let env = TestEnv::start().await.expect("control plane starts");
    kubectl_ok(
        env.kubectl("admin")
            .args(["create", "namespace", "payment-service"]),
    );

    let rejected = |manifest: &str| {
        let out = with_stdin(env.kubectl("admin").args(["create", "-f", "-"]), manifest);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "accepted:\n{manifest}");
        assert!(stderr.contains("is invalid"), "{stderr}");
        stderr
    };

    let bad_enum = rejected(
        "apiVersion: gitopshq.io/v1alpha1
kind: Release
metadata: {name: bad-type, namespace: payment-service}
spec:
  title: Initial deployment
  environment: development
  type: Deployy
  changes: [{workload: payment-api, version: 1.0.0}]
",
    );
    assert!(
        bad_enum.contains("spec.type") && bad_enum.contains("Unsupported value: \"Deployy\""),
        "{bad_enum}"
    );
    assert!(
        bad_enum.contains("\"Deploy\", \"Rollback\", \"Promotion\""),
        "{bad_enum}"
    );

    let short_justification = rejected(
        "apiVersion: gitopshq.io/v1alpha1
kind: BreakGlassSession
metadata: {name: too-short, namespace: payment-service}
spec:
  justification: db down
  severity: SEV1
  duration: 1h
  scope: {environments: [production]}
",
    );
    assert!(
        short_justification.contains("spec.justification")
            && short_justification.contains("at least 20 chars"),
        "{short_justification}"
    );

    let not_semver = rejected(
        "apiVersion: gitopshq.io/v1alpha1
kind: ChartVersion
metadata: {name: microservice-base-latest}
spec:
  chart: microservice-base
  version: latest
",
    );
    assert!(
        not_semver.contains("spec.version") && not_semver.contains("should match"),
        "{not_semver}"
    );
}
