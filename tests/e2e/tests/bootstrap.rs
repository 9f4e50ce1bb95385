//! Seed scenario 1, new project bootstrap, on the real API server with the controllers: the
//! cluster connects, the project gets its namespace, RBAC and repository skeleton, and the
//! first release goes Approved → Deploying → Deployed → Healthy with one commit whose trailers
//! name it.

use gitopshq_e2e::{Platform, ok};

const NS: &str = "payment-service";
const RELEASE: &str = "payment-api-v1-0-0-dev";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_project_is_bootstrapped_and_its_first_release_becomes_healthy() {
    let platform = Platform::start().await;
    platform.apply("admin", &platform.example(&["bootstrap"]));

    // The workload cluster answers through its registered kubeconfig.
    platform.wait_for(None, "cluster", "eu-west-1", "{.status.phase}", "Connected");
    let version = platform.get(None, "cluster", "eu-west-1", "{.status.serverVersion}");
    assert!(version.starts_with("v1.34"), "{version}");

    // Namespace, team RBAC and the repository skeleton.
    platform.wait_for(None, "project", NS, "{.status.phase}", "Ready");
    let skeleton = platform.file("projects/payment-service/environments/production/values.yaml");
    assert!(
        skeleton.contains("project payment-service in environment production"),
        "{skeleton}"
    );
    let roles = ok(platform
        .admin()
        .args(["-n", NS, "get", "roles", "-o", "name"]));
    assert!(
        roles.contains("role.rbac.authorization.k8s.io/gitopshq:developer:backend-team"),
        "{roles}"
    );
    let can = |user: &str, verb: &str, resource: &str| {
        let out = platform
            .kubectl(user)
            .args(["auth", "can-i", verb, resource, "-n", NS])
            .output()
            .expect("kubectl runs");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(can("alice", "create", "workloads.gitopshq.io"), "yes");
    assert_eq!(can("alice", "create", "releases.gitopshq.io"), "yes");
    assert_eq!(
        can("bob", "create", "workloads.gitopshq.io"),
        "no",
        "sre-team approves, it does not edit workloads"
    );
    assert_eq!(can("bob", "patch", "approvalrequests.gitopshq.io"), "yes");
    assert_eq!(
        can("dave", "get", "releases.gitopshq.io"),
        "no",
        "frontend-team has no grant here"
    );

    // Freeze state of every environment.
    platform.wait_for(
        None,
        "environment",
        "production",
        "{.status.conditions[?(@.type==\"Frozen\")].status}",
        "False",
    );

    // The first release: no approval policy governs development, so it is delivered at once.
    platform.wait_until(
        Some(NS),
        "release",
        RELEASE,
        "{.status.phase}",
        |p| p == "Deployed",
        "Deployed",
    );
    let commit = platform.get(Some(NS), "release", RELEASE, "{.status.commit}");
    let commits = platform.commits();
    assert_eq!(commits.len(), 2, "skeleton + release: {commits:#?}");
    let delivery = &commits[0];
    assert!(delivery.starts_with(&commit), "{delivery}");
    for trailer in [
        "Initial deployment of payment-api v1.0.0",
        "GitOpsHQ-Release: payment-service/payment-api-v1-0-0-dev",
        "GitOpsHQ-Environment: development",
        "GitOpsHQ-Rendered-Digest: sha256:",
        "GitOpsHQ-Release-Type: Deploy",
        "GitOpsHQ-Created-By: admin",
    ] {
        assert!(
            delivery.contains(trailer),
            "{trailer} missing in\n{delivery}"
        );
    }
    let deployment = platform.file("projects/payment-service/development/eu-development/payment-api/deployment-payment-api.yaml");
    assert!(
        deployment.contains("gitopshq.io/tenant: eu-development"),
        "{deployment}"
    );
    let application =
        platform.file("projects/payment-service/development/_applications/eu-development.yaml");
    assert!(application.contains("kind: Application"), "{application}");

    // Not synced yet: the objects are missing on the workload cluster.
    platform.wait_until(
        Some(NS),
        "release",
        RELEASE,
        "{.status.tenants[0].message}",
        |m| m.contains("not on the cluster yet"),
        "a missing-object message",
    );

    // Argo CD syncs the tenant's folder; the Deployment rolls out.
    platform.sync_tenant(
        "projects/payment-service/development/eu-development",
        "payments-dev",
    );
    platform.report_deployments_available("payments-dev");
    platform.wait_for(Some(NS), "release", RELEASE, "{.status.phase}", "Healthy");
    platform.wait_for(
        Some(NS),
        "release",
        RELEASE,
        "{.status.conditions[?(@.type==\"Ready\")].status}",
        "True",
    );

    let timeline = platform.get(Some(NS), "release", RELEASE, "{.status.timeline[*].phase}");
    assert_eq!(timeline, "Approved Deploying Deployed Healthy");
    let actors = platform.get(Some(NS), "release", RELEASE, "{.status.timeline[*].actor}");
    assert!(
        actors.starts_with("admin "),
        "the submitter starts the timeline: {actors}"
    );
    platform.wait_for(
        Some(NS),
        "tenant",
        "eu-development",
        "{.status.health}",
        "Healthy",
    );
    platform.wait_for(
        Some(NS),
        "workload",
        "payment-api",
        "{.status.environments.development.release}",
        RELEASE,
    );
    let columns = ok(platform.admin().args(["-n", NS, "get", "releases"]));
    assert!(
        columns.contains(&commit[..7]) && columns.contains("Healthy"),
        "{columns}"
    );

    // Nothing changes on its own: no second commit.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(platform.commits().len(), 2);
    platform.stop().await;
}
