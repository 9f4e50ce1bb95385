//! Seed scenario 1, new project bootstrap, on the real loop: the cluster connects, the project
//! gets its namespace, RBAC, repository skeleton and the GitOps engine's objects, and the first
//! release goes Approved → Deploying → Deployed → Healthy with one commit whose trailers name
//! it, because the engine (Flux or Argo CD) applied that commit and the Deployment really
//! rolled out. A change made behind the engine's back is put back without a commit: with Flux
//! it shows as drift until Flux corrects it, Argo CD's self-heal corrects it at once.

use crate::{Engine, Platform, ok};

const NS: &str = "payment-service";
const RELEASE: &str = "payment-api-v1-0-0-dev";
/// The tenant's Flux Kustomization or Argo CD Application.
const TENANT_OBJECT: &str = "payment-service-development-eu-development";
const COMMITTED_IMAGE: &str = "registry.example.com/payment-api:v1.0.0";

/// Runs the scenario on a platform delivering with `engine`.
pub async fn run(engine: Engine) {
    let platform = Platform::start_with(engine).await;
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
    match engine {
        Engine::Flux => flux_objects(&platform),
        Engine::ArgoCd => argocd_objects(&platform),
    }

    // The engine applies the commit; the Deployment controller, the scheduler and KWOK roll it
    // out.
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

    let applied = match engine {
        Engine::Flux => platform.get(
            Some(engine.namespace()),
            "kustomization",
            TENANT_OBJECT,
            "{.status.lastAppliedRevision}",
        ),
        Engine::ArgoCd => platform.get(
            Some(engine.namespace()),
            "application",
            TENANT_OBJECT,
            "{.status.sync.revision}",
        ),
    };
    assert!(
        applied.ends_with(&commit),
        "{engine:?} applied {applied}, not {commit}"
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

    match engine {
        Engine::Flux => flux_corrects_drift(&platform),
        Engine::ArgoCd => argocd_self_heals(&platform),
    }
    platform.stop().await;
}

/// The tenant's Kustomization in the repository, and what the Project put in Flux's namespace:
/// the source and a root Kustomization for each environment with a folder in the repository
/// (production has none until its first release).
fn flux_objects(platform: &Platform) {
    let kustomization =
        platform.file("projects/payment-service/development/_kustomizations/eu-development.yaml");
    assert!(
        kustomization.contains("kind: Kustomization")
            && kustomization.contains("name: gitopshq-kubeconfig-eu-west-1"),
        "the tenant's Kustomization applies to its cluster: {kustomization}"
    );
    wait_gitops_ready(platform);
    let flux_objects = ok(platform.admin().args([
        "-n",
        Engine::Flux.namespace(),
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
}

/// The tenant's Application in the repository, and what the Project put in Argo CD's
/// namespace: the AppProjects (the root's, and the tenant's fencing it into its namespace), an
/// app-of-apps root for each environment with a folder in the repository, and the cluster
/// Secret made from the registered kubeconfig.
fn argocd_objects(platform: &Platform) {
    let application =
        platform.file("projects/payment-service/development/_applications/eu-development.yaml");
    assert!(
        application.contains("kind: Application")
            && application.contains(&format!("project: {TENANT_OBJECT}"))
            && application.contains("name: eu-west-1"),
        "the tenant's Application belongs to its own AppProject and names its cluster: {application}"
    );
    wait_gitops_ready(platform);
    let argocd = Engine::ArgoCd.namespace();
    // The tenant's Application comes from the repository, through the root, a moment later.
    platform.wait_for(
        Some(argocd),
        "application",
        TENANT_OBJECT,
        "{.spec.project}",
        TENANT_OBJECT,
    );
    let objects = ok(platform.admin().args([
        "-n",
        argocd,
        "get",
        "appprojects,applications,secrets",
        "-o",
        "name",
    ]));
    for object in [
        "appproject.argoproj.io/gitopshq-payment-service".to_string(),
        format!("appproject.argoproj.io/{TENANT_OBJECT}"),
        "application.argoproj.io/gitopshq-payment-service-development".to_string(),
        format!("application.argoproj.io/{TENANT_OBJECT}"),
        "secret/gitopshq-cluster-eu-west-1".to_string(),
    ] {
        assert!(objects.contains(&object), "{object} in {objects}");
    }
    assert!(
        !objects.contains("gitopshq-payment-service-production"),
        "{objects}"
    );
    let destinations = platform.get(
        Some(argocd),
        "appproject",
        TENANT_OBJECT,
        "{.spec.destinations}",
    );
    assert!(
        destinations.contains("\"namespace\":\"payments-dev\"")
            && destinations.contains("\"name\":\"eu-west-1\""),
        "{destinations}"
    );
}

/// Someone changes the image on the cluster behind Flux's back while the tenant's
/// Kustomization is suspended (`flux suspend`), so the change stays until it is seen: the
/// release and the tenant show the drift. Resumed, Flux puts the committed image back and the
/// drift clears.
fn flux_corrects_drift(platform: &Platform) {
    let suspend = |suspended: bool| {
        ok(platform.admin().args([
            "-n",
            Engine::Flux.namespace(),
            "patch",
            "kustomization",
            TENANT_OBJECT,
            "--type=merge",
            "-p",
            &format!(r#"{{"spec":{{"suspend":{suspended}}}}}"#),
        ]))
    };
    suspend(true);
    change_image_behind_the_engines_back(platform);
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
    assert_eq!(
        deployed_image(platform),
        COMMITTED_IMAGE,
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
}

/// Argo CD's automated sync heals the Application's resources itself: a changed image is put
/// back without a commit, and the release stays Healthy.
fn argocd_self_heals(platform: &Platform) {
    change_image_behind_the_engines_back(platform);
    platform.wait_in_workload(
        "payments-dev",
        "deployment",
        "payment-api",
        "{.spec.template.spec.containers[0].image}",
        |image| image == COMMITTED_IMAGE,
        "Argo CD's self-heal to restore the committed image",
    );
    // Argo CD may put it back before the controller's next look: the drift is then never
    // seen at all (no Drifted condition), or seen and cleared.
    platform.wait_until(
        Some(NS),
        "release",
        RELEASE,
        "{.status.conditions[?(@.type==\"Drifted\")].status}",
        |drifted| drifted != "True",
        "no drift left (False, or never seen)",
    );
    platform.wait_for(Some(NS), "release", RELEASE, "{.status.phase}", "Healthy");
    assert_eq!(platform.commits().len(), 2, "self-heal needs no commit");
}

/// The engine's objects exist once the Project says GitOpsReady.
fn wait_gitops_ready(platform: &Platform) {
    platform.wait_for(
        None,
        "project",
        NS,
        "{.status.conditions[?(@.type==\"GitOpsReady\")].status}",
        "True",
    );
}

fn change_image_behind_the_engines_back(platform: &Platform) {
    platform.set_workload_image_by_hand(
        "payments-dev",
        "payment-api",
        "payment-api",
        "registry.example.com/payment-api:hotfix",
    );
}

fn deployed_image(platform: &Platform) -> String {
    platform.workload_get(
        "payments-dev",
        "deployment",
        "payment-api",
        "{.spec.template.spec.containers[0].image}",
    )
}
