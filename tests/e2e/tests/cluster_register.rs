//! `gitopshq cluster register|rotate|unregister` on the platform's workload cluster, registered a
//! second time as `eu-central-1` with the command, from a kubeconfig holding both clusters as a
//! platform engineer's would: the ServiceAccount gets exactly the documented rights in each mode
//! (`kubectl auth can-i --list` as that account), the Cluster turns Connected, a release reaches
//! Healthy through real Flux applying with that token, rotation revokes the old token while Flux
//! keeps applying, and unregistering waits for the tenant, then removes everything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gitopshq_e2e::{Platform, fails, gitopshq_binary, ok};

const CLUSTER: &str = "eu-central-1";
const NS: &str = "payment-service";
const TENANT: &str = "eu-central-development";
const TENANT_NAMESPACE: &str = "payments-central-dev";
const RELEASE: &str = "payment-api-central-dev";
const ACCESS_NAMESPACE: &str = "gitopshq-access";
const ACCOUNT: &str = "system:serviceaccount:gitopshq-access:gitopshq-eu-central-1";
const FLUX_NAMESPACE: &str = "flux-system";

/// `kubectl auth can-i --list` lines of the account's own rights, resource → sorted verbs.
type Rights = BTreeMap<String, String>;

/// The rights the README documents for each mode, as `kubectl auth can-i --list` names them.
fn documented(deliver: bool) -> Rights {
    let read = "get list watch";
    let write = "create delete get list patch watch";
    let delivered = [
        "configmaps",
        "persistentvolumeclaims",
        "serviceaccounts",
        "services",
        "daemonsets.apps",
        "deployments.apps",
        "statefulsets.apps",
        "cronjobs.batch",
        "jobs.batch",
        "horizontalpodautoscalers.autoscaling",
        "poddisruptionbudgets.policy",
        "ingresses.networking.k8s.io",
        "networkpolicies.networking.k8s.io",
    ];
    let mut rights: Rights = delivered
        .iter()
        .map(|r| {
            (
                r.to_string(),
                if deliver { write } else { read }.to_string(),
            )
        })
        .collect();
    for observed in ["pods", "replicasets.apps", "events", "events.events.k8s.io"] {
        rights.insert(observed.into(), read.into());
    }
    rights.insert("pods/log".into(), "get".into());
    if deliver {
        rights.insert("secrets".into(), write.into());
        rights.insert("namespaces".into(), "create get list patch watch".into());
    } else {
        rights.insert("namespaces".into(), read.into());
    }
    rights
}

/// What the workload cluster's API server grants the registered ServiceAccount, without what
/// every authenticated account has (discovery, self reviews).
fn granted(platform: &Platform) -> Rights {
    let out = ok(platform
        .workload_admin()
        .args(["auth", "can-i", "--list", "-n", TENANT_NAMESPACE])
        .arg(format!("--as={ACCOUNT}")));
    out.lines()
        .skip(1)
        .filter(|l| !l.starts_with(char::is_whitespace) && !l.trim().is_empty())
        .filter_map(|l| {
            let resource = l.split_whitespace().next()?;
            let verbs = &l[l.rfind('[')? + 1..l.rfind(']')?];
            let mut verbs: Vec<&str> = verbs.split_whitespace().collect();
            verbs.sort();
            Some((resource.to_string(), verbs.join(" ")))
        })
        .filter(|(resource, _)| !resource.starts_with("selfsubject"))
        .collect()
}

/// `kubectl auth can-i VERB RESOURCE` as the registered account: "yes" or "no".
fn can_i(platform: &Platform, verb: &str, resource: &str) -> String {
    let out = platform
        .workload_admin()
        .args(["auth", "can-i", verb, resource, "-n", TENANT_NAMESPACE])
        .arg(format!("--as={ACCOUNT}"))
        .output()
        .expect("kubectl runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// One kubeconfig with the admin contexts of both clusters, `management` current: what a
/// platform engineer has.
fn both_clusters(platform: &Platform) -> PathBuf {
    let entry = |yaml: String, name: &str| {
        let config: serde_json::Value = yaml_serde::from_str(&yaml).expect("a kubeconfig");
        let user = config["users"]
            .as_array()
            .and_then(|users| users.iter().find(|u| u["name"] == "admin"))
            .expect("an admin user")["user"]
            .clone();
        (
            serde_json::json!({"name": name, "cluster": config["clusters"][0]["cluster"]}),
            serde_json::json!({"name": name, "user": user}),
            serde_json::json!({"name": name, "context": {"cluster": name, "user": name}}),
        )
    };
    let management = entry(
        platform
            .management
            .admin_kubeconfig_yaml()
            .expect("kubeconfig"),
        "management",
    );
    let workload = entry(
        platform
            .workload
            .admin_kubeconfig_yaml()
            .expect("kubeconfig"),
        "workload",
    );
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [management.0, workload.0],
        "users": [management.1, workload.1],
        "contexts": [management.2, workload.2],
        "current-context": "management",
    });
    let path = platform.dir().join("both-clusters.kubeconfig");
    std::fs::write(&path, yaml_serde::to_string(&config).expect("YAML")).expect("write");
    path
}

/// `gitopshq ARGS --kubeconfig KUBECONFIG`, nothing taken from the environment.
fn gitopshq(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(gitopshq_binary())
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env_remove("KUBECONFIG")
        .env_remove("GITOPSHQ_MANAGEMENT_CONTEXT")
        .env_remove("GITOPSHQ_SYSTEM_NAMESPACE")
        .output()
        .expect("gitopshq runs")
}

fn succeeded(args: &[&str], out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "gitopshq {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The kubeconfig stored for the cluster in the management cluster.
fn stored_kubeconfig(platform: &Platform) -> String {
    let encoded = platform.get(
        Some("gitopshq-system"),
        "secret",
        "cluster-eu-central-1",
        "{.data.kubeconfig}",
    );
    decode(&encoded)
}

fn decode(encoded: &str) -> String {
    use base64::Engine as _;
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .expect("base64"),
    )
    .expect("UTF-8")
}

/// The token Secrets of the registration in the workload cluster.
fn token_secrets(platform: &Platform) -> Vec<String> {
    let out = ok(platform.workload_admin().args([
        "-n",
        ACCESS_NAMESPACE,
        "get",
        "secrets",
        "-l",
        "gitopshq.io/cluster=eu-central-1",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]));
    out.split_whitespace().map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_registered_in_one_command_has_exactly_its_rights_delivers_rotates_and_unregisters()
 {
    let platform = Platform::start().await;
    let kubeconfig = both_clusters(&platform);
    // The project, its catalog and cluster eu-west-1 (the same workload cluster, registered
    // by hand), without the example's tenants and release.
    platform.apply("admin", &platform.bootstrap_without_tenants_or_release());

    // Observe mode: read only, no Secrets.
    let register_observe = [
        "cluster",
        "register",
        CLUSTER,
        "--context",
        "workload",
        "--mode",
        "observe",
        "--environments",
        "development",
        "--label",
        "region=eu-central-1",
    ];
    gitopshq_binary();
    let begun = std::time::Instant::now();
    let said = succeeded(&register_observe, &gitopshq(&kubeconfig, &register_observe));
    eprintln!("registered and Connected in {:?}", begun.elapsed());
    assert!(
        said.contains("cluster eu-central-1 is Connected") && said.contains("observe mode"),
        "{said}"
    );
    assert_eq!(
        platform.get(None, "cluster", CLUSTER, "{.status.phase}"),
        "Connected"
    );
    assert_eq!(
        platform.get(None, "cluster", CLUSTER, "{.spec.environments}"),
        r#"["development"]"#
    );
    assert_eq!(
        platform.get(None, "cluster", CLUSTER, "{.spec.labels.region}"),
        "eu-central-1"
    );
    let stored = stored_kubeconfig(&platform);
    assert!(
        stored.contains("token:")
            && !stored.contains("exec")
            && stored.contains(platform.workload.server_url()),
        "the stored kubeconfig holds the workload server and a token, no exec plugin:\n{stored}"
    );
    assert_eq!(granted(&platform), documented(false));
    assert_eq!(can_i(&platform, "create", "deployments.apps"), "no");
    assert_eq!(can_i(&platform, "get", "secrets"), "no");
    assert_eq!(can_i(&platform, "get", "deployments.apps"), "yes");
    assert_eq!(can_i(&platform, "get", "pods/log"), "yes");

    // A Flux project's tenant on the cluster: Flux applies through the stored kubeconfig, so
    // observe mode is refused from now on, naming the tenant.
    platform.apply(
        "admin",
        &format!(
            "apiVersion: gitopshq.io/v1alpha1\nkind: Tenant\nmetadata: {{name: {TENANT}, namespace: {NS}}}\nspec: {{environment: development, cluster: {CLUSTER}, namespace: {TENANT_NAMESPACE}}}\n"
        ),
    );
    let refused = gitopshq(&kubeconfig, &register_observe);
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains(
            "payment-service/eu-central-development (project payment-service delivers with Flux)"
        ) && said.contains("--mode deliver"),
        "{said}"
    );

    // Deliver mode: the same registration, more rights, the same token.
    let tokens = token_secrets(&platform);
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let register_deliver = [
        "cluster",
        "register",
        CLUSTER,
        "--context",
        "workload",
        "--mode",
        "deliver",
        "--environments",
        "development",
        "--label",
        "region=eu-central-1",
    ];
    succeeded(&register_deliver, &gitopshq(&kubeconfig, &register_deliver));
    assert_eq!(
        token_secrets(&platform),
        tokens,
        "registering again keeps the token"
    );
    assert_eq!(granted(&platform), documented(true));
    assert_eq!(can_i(&platform, "create", "deployments.apps"), "yes");
    assert_eq!(can_i(&platform, "get", "secrets"), "yes");
    assert_eq!(can_i(&platform, "delete", "namespaces"), "no");
    assert_eq!(
        can_i(
            &platform,
            "create",
            "clusterroles.rbac.authorization.k8s.io"
        ),
        "no"
    );

    // A release lands there through real Flux, applying with the registered token.
    platform.apply(
        "admin",
        &format!(
            "apiVersion: gitopshq.io/v1alpha1\nkind: Release\nmetadata: {{name: {RELEASE}, namespace: {NS}}}\nspec:\n  title: payment-api on eu-central-1\n  environment: development\n  tenants: [{TENANT}]\n  type: Deploy\n  changes:\n    - workload: payment-api\n      version: 1.0.0\n  submitted: true\n"
        ),
    );
    platform.wait_for(Some(NS), "release", RELEASE, "{.status.phase}", "Healthy");
    platform.wait_in_workload(
        TENANT_NAMESPACE,
        "deployment",
        "payment-api",
        "{.status.readyReplicas}",
        |r| !r.is_empty() && r != "0",
        "ready replicas",
    );
    let copy = "gitopshq-kubeconfig-eu-central-1";
    let old_token_kubeconfig = stored_kubeconfig(&platform);
    assert_eq!(
        decode(&platform.get(Some(FLUX_NAMESPACE), "secret", copy, "{.data.value}")),
        old_token_kubeconfig,
        "Flux applies with the registered kubeconfig"
    );

    // Rotate: a new token, the old one revoked, Flux still applying.
    let rotate = ["cluster", "rotate", CLUSTER, "--context", "workload"];
    let begun = std::time::Instant::now();
    let said = succeeded(&rotate, &gitopshq(&kubeconfig, &rotate));
    eprintln!("rotated in {:?}", begun.elapsed());
    assert!(said.contains("Connected with the new token"), "{said}");
    let rotated = token_secrets(&platform);
    assert_eq!(rotated.len(), 1, "{rotated:?}");
    assert_ne!(rotated, tokens, "a new token Secret, the old one deleted");
    assert_eq!(
        platform.get(None, "cluster", CLUSTER, "{.status.phase}"),
        "Connected"
    );
    let new_kubeconfig = stored_kubeconfig(&platform);
    assert_ne!(new_kubeconfig, old_token_kubeconfig);
    assert_eq!(
        decode(&platform.get(Some(FLUX_NAMESPACE), "secret", copy, "{.data.value}")),
        new_kubeconfig,
        "Flux's copy holds the new token before the old one is deleted"
    );
    let old_file = platform.dir().join("old-token.kubeconfig");
    std::fs::write(&old_file, &old_token_kubeconfig).expect("write");
    // The API server keeps a successful token check for a few seconds.
    let deleted = std::time::Instant::now();
    loop {
        let out = Command::new(std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into()))
            .arg(format!("--kubeconfig={}", old_file.display()))
            .args(["get", "--raw", "/version"])
            .output()
            .expect("kubectl runs");
        let said = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            assert!(said.contains("Unauthorized"), "{said}");
            eprintln!(
                "the old token was refused {:?} after rotate returned",
                deleted.elapsed()
            );
            break;
        }
        assert!(
            deleted.elapsed() < std::time::Duration::from_secs(60),
            "the old token still authenticates a minute after its Secret was deleted"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let kustomization = format!("{NS}-development-{TENANT}");
    let requested = jiff::Timestamp::now().as_nanosecond().to_string();
    ok(platform.admin().args([
        "-n",
        FLUX_NAMESPACE,
        "annotate",
        "--overwrite",
        "kustomizations.kustomize.toolkit.fluxcd.io",
        &kustomization,
        &format!("reconcile.fluxcd.io/requestedAt={requested}"),
    ]));
    platform.wait_for(
        Some(FLUX_NAMESPACE),
        "kustomizations.kustomize.toolkit.fluxcd.io",
        &kustomization,
        "{.status.lastHandledReconcileAt}",
        &requested,
    );
    assert_eq!(
        platform.get(
            Some(FLUX_NAMESPACE),
            "kustomizations.kustomize.toolkit.fluxcd.io",
            &kustomization,
            "{.status.conditions[?(@.type==\"Ready\")].status}"
        ),
        "True",
        "Flux applies with the rotated token"
    );

    // Unregister: refused while the tenant is there, naming it; then everything goes.
    let unregister = ["cluster", "unregister", CLUSTER, "--context", "workload"];
    let refused = gitopshq(&kubeconfig, &unregister);
    assert_eq!(refused.status.code(), Some(4), "permitted but gated");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("payment-service/eu-central-development"),
        "{said}"
    );
    assert_eq!(
        platform.get(None, "cluster", CLUSTER, "{.status.phase}"),
        "Connected",
        "a refused unregister changes nothing"
    );
    ok(platform
        .admin()
        .args(["-n", NS, "delete", "tenant", TENANT]));
    let said = succeeded(&unregister, &gitopshq(&kubeconfig, &unregister));
    assert!(said.contains("Cluster eu-central-1"), "{said}");
    let gone = fails(platform.admin().args(["get", "cluster", CLUSTER]));
    assert!(gone.contains("NotFound"), "{gone}");
    let gone = fails(platform.admin().args([
        "-n",
        "gitopshq-system",
        "get",
        "secret",
        "cluster-eu-central-1",
    ]));
    assert!(gone.contains("NotFound"), "{gone}");
    let gone = fails(
        platform
            .admin()
            .args(["-n", FLUX_NAMESPACE, "get", "secret", copy]),
    );
    assert!(gone.contains("NotFound"), "{gone}");
    let gone = fails(platform.workload_admin().args([
        "get",
        "clusterrole,clusterrolebinding",
        "gitopshq:access:eu-central-1",
    ]));
    assert!(gone.contains("NotFound"), "{gone}");
    let namespace = platform
        .workload_admin()
        .args([
            "get",
            "namespace",
            ACCESS_NAMESPACE,
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ])
        .output()
        .expect("kubectl runs");
    assert!(
        !namespace.status.success() || !namespace.stdout.is_empty(),
        "namespace {ACCESS_NAMESPACE} is gone or going"
    );
    // The other registration of the same workload cluster is untouched.
    assert_eq!(
        platform.get(None, "cluster", "eu-west-1", "{.status.phase}"),
        "Connected"
    );
    platform.stop().await;
}
