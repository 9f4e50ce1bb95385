//! The local control plane behaves like a real cluster, driven by `kubectl` as a user would.
//!
//! Each test starts its own etcd + kube-apiserver (a few seconds); the first run on a machine
//! also builds them, which takes several minutes and is cached under `$HOME`.

mod common;

use common::{kubectl_err, kubectl_ok};
use gitopshq_testenv::TestEnv;

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
