//! Seed scenario 1, new project bootstrap, on the real loop: the cluster connects, the project
//! gets its namespace, RBAC, repository skeleton and Flux objects, and the first release goes
//! Approved → Deploying → Deployed → Healthy with one commit whose trailers name it, because
//! Flux applied that commit and the Deployment really rolled out. A change made behind Flux's
//! back shows as drift until Flux corrects it.

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
        |p| p == "Deployed" || p == "Healthy",
        "Deployed or Healthy",
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
    let kustomization =
        platform.file("projects/payment-service/development/_kustomizations/eu-development.yaml");
    assert!(
        kustomization.contains("kind: Kustomization")
            && kustomization.contains("name: gitopshq-kubeconfig-eu-west-1"),
        "the tenant's Kustomization applies to its cluster: {kustomization}"
    );

    // The Project put Flux in place: the source and a root Kustomization for each environment
    // with a folder in the repository (production has none until its first release).
    platform.wait_for(
        None,
        "project",
        NS,
        "{.status.conditions[?(@.type==\"GitOpsReady\")].status}",
        "True",
    );
    let flux_objects = ok(platform.admin().args([
        "-n",
        "flux-system",
        "get",
        "gitrepositories,kustomizations",
        "-o",
        "name",
    ]));
    for object in [
        "gitrepository.source.toolkit.fluxcd.io/payment-service",
        "kustomization.kustomize.toolkit.fluxcd.io/gitopshq-payment-service-development",
    ] {
        assert!(flux_objects.contains(object), "{object} in {flux_objects}");
    }
    assert!(
        !flux_objects.contains("gitopshq-payment-service-production"),
        "{flux_objects}"
    );

    // Flux applies the commit; the Deployment controller, the scheduler and KWOK roll it out.
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

    let applied = platform.get(
        Some("flux-system"),
        "kustomization",
        "payment-service-development-eu-development",
        "{.status.lastAppliedRevision}",
    );
    assert!(
        applied.ends_with(&commit),
        "Flux applied {applied}, not {commit}"
    );
    let available = platform.workload_get(
        "payments-dev",
        "deployment",
        "payment-api",
        "{.status.availableReplicas}/{.status.replicas}",
    );
    assert_eq!(available, "1/1", "the rollout is real");
    let pods = platform.workload_pods("payments-dev", "app.kubernetes.io/name=payment-api");
    assert!(
        pods.len() == 1 && pods.iter().all(|(_, ready, _, _)| *ready),
        "one Ready pod: {pods:?}"
    );

    // Nothing changes on its own: no second commit.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(platform.commits().len(), 2);

    // Someone changes the image on the cluster behind Flux's back while the tenant's
    // Kustomization is suspended (`flux suspend`), so the change stays until it is seen: the
    // release and the tenant show the drift. Resumed, Flux puts the committed image back and
    // the drift clears.
    let suspend = |suspended: bool| {
        ok(platform.admin().args([
            "-n",
            "flux-system",
            "patch",
            "kustomization",
            "payment-service-development-eu-development",
            "--type=merge",
            "-p",
            &format!(r#"{{"spec":{{"suspend":{suspended}}}}}"#),
        ]))
    };
    suspend(true);
    ok(platform.workload_admin().args([
        "-n",
        "payments-dev",
        "set",
        "image",
        "deployment/payment-api",
        "payment-api=registry.example.com/payment-api:hotfix",
    ]));
    let drift = platform.wait_until(
        Some(NS),
        "release",
        RELEASE,
        "{.status.conditions[?(@.type==\"Drifted\")].message}",
        |m| m.contains("eu-development") && m.contains("payment-api"),
        "the drift named",
    );
    assert!(drift.contains("image"), "{drift}");
    // The fleet view's drift badge reads the tenant's condition, fed by the same observation.
    platform.wait_for(
        Some(NS),
        "tenant",
        "eu-development",
        "{.status.conditions[?(@.type==\"Drifted\")].status}",
        "True",
    );
    suspend(false);
    platform.wait_for(
        Some(NS),
        "release",
        RELEASE,
        "{.status.conditions[?(@.type==\"Drifted\")].status}",
        "False",
    );
    let image = platform.workload_get(
        "payments-dev",
        "deployment",
        "payment-api",
        "{.spec.template.spec.containers[0].image}",
    );
    assert_eq!(
        image, "registry.example.com/payment-api:v1.0.0",
        "Flux restored it"
    );
    platform.wait_for(
        Some(NS),
        "tenant",
        "eu-development",
        "{.status.conditions[?(@.type==\"Drifted\")].status}",
        "False",
    );
    assert_eq!(platform.commits().len(), 2, "self-heal needs no commit");
    platform.stop().await;
}
