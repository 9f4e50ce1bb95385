//! The web dashboard in a real browser (Debian's Chromium, driven by Playwright) on the real
//! platform with the controllers and the webhook: people sign in with their own tokens; the
//! creator of a production release, someone without an approver grant and a second member of
//! an approving team see the Approve button disabled with the webhook's own reason; two
//! approvers of different teams click it and the release goes PendingApproval → Deployed →
//! Healthy live; break-glass is opened and closed with the banner in between; two
//! environments are compared; the audit trail, variables, charts, diagnostics and the command
//! palette are used. Screenshots of every page are saved (DASHBOARD_SCREENSHOTS=dir keeps
//! them, as docs/screenshots was made).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gitopshq_e2e::{Platform, gitopshq_binary, ok, poll};

const NS: &str = "payment-service";
const RELEASE: &str = "ledger-worker-v0-9-0-limits";
/// The production values the developer types in the values editor, and the release they
/// create from it.
/// Flow style, one value a line: typed into the editor, block indentation would be the
/// editor's to decide.
/// Without autoscaling the chart renders the replica count.
const VALUES: &str = "replicaCount: 3\nautoscaling: {enabled: false}\nresources: {limits: {cpu: 500m, memory: 256Mi}}\n";
const AUTHORED: &str = "ledger-worker-limits-from-editor";
/// Pasted on the policy page: a Deployment whose container declares no resource limits.
const WITHOUT_LIMITS: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: ledger-worker
  namespace: eu-batch
spec:
  template:
    spec:
      containers:
        - name: worker
          image: registry.example.com/ledger-worker:0.9.0
          resources:
            requests: {cpu: 100m, memory: 128Mi}
";

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// npm packages of dashboard/ and Chromium, by the project's own script; the Chromium path.
fn browser_tools() -> String {
    let out = Command::new("bash")
        .arg(repository_root().join("scripts/dashboard-tools.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "scripts/dashboard-tools.sh failed: the dashboard's browser test needs npm and Chromium"
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `gitopshq dashboard` as a process, stopped when dropped.
struct Dashboard {
    child: Child,
    url: String,
}

impl Dashboard {
    fn start(platform: &Platform) -> Self {
        let mut child = Command::new(gitopshq_binary())
            .args(["dashboard", "--address", "127.0.0.1:0", "--kubeconfig"])
            .arg(platform.management.kubeconfig_path())
            .arg("--cache-dir")
            .arg(platform.dir().join("dashboard-cache"))
            // The platform's controllers' layout settings, as a deployment passes both the same.
            .args(["--flux-interval", gitopshq_e2e::FLUX_INTERVAL])
            .env("GITOPSHQ_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("gitopshq dashboard starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("dashboard on ") {
                    let url = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = tx.send(url);
                }
                eprintln!("[dashboard] {line}");
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the dashboard says where it listens");
        Self { child, url }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn browser(dashboard: &Dashboard, chromium: &str, phase: &str, scenario: &str, shots: &Path) {
    let status = Command::new("node")
        .arg(repository_root().join("dashboard/tests/browser.mjs"))
        .arg(phase)
        .env("DASHBOARD_URL", &dashboard.url)
        .env("DASHBOARD_SCENARIO", scenario)
        .env("SCREENSHOTS", shots)
        .env("CHROMIUM", chromium)
        .status()
        .expect("node runs");
    assert!(
        status.success(),
        "the browser phase {phase} failed (its steps are printed above; screenshots in {})",
        shots.display()
    );
}

/// Grants `group` the project `role` in every environment.
fn add_team(platform: &Platform, group: &str, role: &str) {
    let team = serde_json::json!([
        {"op": "add", "path": "/spec/teams/-", "value": {"group": group, "role": role}}
    ]);
    ok(platform.admin().args([
        "patch",
        "project",
        NS,
        "--type=json",
        "-p",
        &team.to_string(),
    ]));
}

async fn api(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the dashboard answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_approve_open_break_glass_and_compare_in_a_real_browser() {
    let chromium = browser_tools();
    let platform = Platform::start().await;
    platform.set_up_governance();
    // The frontend team approves too.
    add_team(&platform, "frontend-team", "Approver");
    platform.wait_for(None, "project", NS, "{.status.phase}", "Ready");
    platform.apply(
        "alice",
        &platform.example(&["governance/releases/ledger-worker.yaml"]),
    );
    // carol (platform-team, Admin) creates the production release she then may not approve.
    platform.apply(
        "carol",
        &platform.example(&["governance/releases/2-with-limits.yaml"]),
    );
    let release = platform.release(NS, RELEASE);
    release.wait_phase("PendingApproval");
    release.wait_approval_request("{.spec.policy}", "production-two-teams");

    let dashboard = Dashboard::start(&platform);
    let token = |user: &str| {
        platform
            .management
            .token_for(user)
            .expect("token")
            .to_string()
    };

    // The API refuses what it must, before any browser is involved.
    let http = reqwest::Client::new();
    let (status, body) = api(
        &http,
        reqwest::Method::GET,
        format!("{}/api/fleet", dashboard.url),
        None,
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["next"]
            .as_str()
            .unwrap_or_default()
            .contains("bearer token"),
        "{body}"
    );
    let (status, body) = api(
        &http,
        reqwest::Method::GET,
        format!("{}/api/fleet", dashboard.url),
        Some("not-a-token"),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = api(
        &http,
        reqwest::Method::POST,
        format!("{}/api/releases/{NS}/{RELEASE}/decision", dashboard.url),
        Some(&token("bob")),
    )
    .await;
    assert_eq!(
        status, 403,
        "a change without X-Requested-With is refused: {body}"
    );
    let (status, body) = api(
        &http,
        reqwest::Method::GET,
        format!("{}/api/fleet", dashboard.url),
        Some(&token("dave")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["projects"][0]["name"], NS, "{body}");
    assert_eq!(
        body["projects"][0]["cells"]["production"]["status"], "yellow",
        "a release waits for approval in production: {body}"
    );
    // The Clusters page: connection, version, heartbeat, tenants and the register command.
    platform.wait_for(None, "cluster", "eu-west-1", "{.status.phase}", "Connected");
    let (status, body) = api(
        &http,
        reqwest::Method::GET,
        format!("{}/api/clusters", dashboard.url),
        Some(&token("admin")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["register"]
            .as_str()
            .is_some_and(|c| c.starts_with("gitopshq cluster register NAME --context")),
        "{body}"
    );
    let cluster = &body["clusters"][0];
    assert_eq!(cluster["name"], "eu-west-1", "{body}");
    assert_eq!(cluster["phase"], "Connected", "{body}");
    assert_eq!(cluster["status"], "green", "{body}");
    assert!(
        cluster["serverVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("v1.")),
        "{body}"
    );
    assert!(cluster["lastHeartbeat"].is_string(), "{body}");
    let tenants: Vec<&str> = cluster["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .filter(|t| t["project"] == NS)
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(tenants.contains(&"eu-development"), "{body}");

    // The values editor's check, as alice against the API server's objects: an unresolved
    // variable at its line (naming environment and tenant), then the fixed text rendered.
    let check = |text: &str| {
        let request = http
            .post(format!(
                "{}/api/projects/{NS}/workloads/payment-api/values/check",
                dashboard.url
            ))
            .bearer_auth(token("alice"))
            .header("X-Requested-With", "gitopshq")
            .json(&serde_json::json!({"environment": "production", "text": text}));
        async move {
            let response = request.send().await.expect("the dashboard answers");
            let status = response.status().as_u16();
            (
                status,
                response
                    .json::<serde_json::Value>()
                    .await
                    .unwrap_or_default(),
            )
        }
    };
    let (status, body) = check("replicaCount: 3\nextra:\n  host: '{{hq.var.NOT_DEFINED}}'\n").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tenant"], "eu-production", "{body}");
    let finding = &body["findings"][0];
    assert_eq!(finding["line"], 3, "{body}");
    assert_eq!(finding["path"], "extra.host", "{body}");
    assert!(
        finding["message"]
            .as_str()
            .is_some_and(|m| m.contains("NOT_DEFINED")
                && m.contains("environment production, tenant eu-production")),
        "{body}"
    );
    assert!(body["rendered"].is_null(), "{body}");
    let (status, body) = check("replicaCount: 3\nautoscaling:\n  enabled: false\n").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["findings"], serde_json::json!([]), "{body}");
    assert!(
        body["rendered"]
            .as_str()
            .is_some_and(|r| r.contains("kind: Deployment") && r.contains("replicas: 3")),
        "{body}"
    );

    let shots = std::env::var_os("DASHBOARD_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| platform.dir().join("screenshots"));
    let users: serde_json::Map<String, serde_json::Value> =
        ["carol", "alice", "bob", "frank", "dave"]
            .iter()
            .map(|u| (u.to_string(), serde_json::Value::String(token(u))))
            .collect();
    let scenario = serde_json::json!({
        "release": {"namespace": NS, "name": RELEASE},
        "users": users,
        "creator": "carol",
        "notPermitted": "alice",
        "approvers": ["bob", "dave"],
        "sameTeam": "frank",
        "compare": {"project": NS, "left": "staging", "right": "production"},
        "breakGlass": {"namespace": NS, "environment": "production", "workload": "ledger-worker"},
        "diagnostics": {"project": NS, "workload": "ledger-worker"},
        "authoring": {
            "project": NS,
            "workload": "ledger-worker",
            "environment": "production",
            "developer": "alice",
            "readOnly": "dave",
            "broken": format!("{VALUES}extra: {{host: '{{{{hq.var.NOT_DEFINED}}}}'}}\n"),
            "brokenLine": 4,
            "missingVariable": "NOT_DEFINED",
            "fixed": VALUES,
            "diffShows": "+  replicas: 3",
            // What runs is RELEASE's delivery: the edit adds replicas and drops the autoscaler.
            "repositoryShows": "+ replicas: 3",
            // Laid out with the controllers' settings: their Flux objects do not change.
            "repositoryOmits": "interval:",
            "release": AUTHORED,
            "title": "ledger-worker: smaller limits in production",
            "releaseTenants": ["eu-batch"],
            "policy": "require-resource-limits",
        },
        "variables": {
            "project": NS,
            "environment": "production",
            "name": "LEDGER_BATCH_SIZE",
            "value": "500",
            "secretVariable": "LEDGER_DB_PASSWORD",
            "secret": "ledger-db",
            "secretKey": "password",
        },
        "rollback": {
            "namespace": NS,
            "target": RELEASE,
            "workload": "ledger-worker",
            "user": "alice",
            "notes": "the smaller limits OOM-kill the batch",
            "diffRemoves": "- replicas: 3",
            "diffRestores": "+kind: HorizontalPodAutoscaler",
        },
        "promote": {
            "namespace": NS,
            "release": AUTHORED,
            "user": "alice",
            "environment": "production",
            "tenants": ["eu-batch-2", "eu-batch-3"],
            "soak": "1m",
            "firstBatch": "canary",
        },
        "repository": {
            "project": NS,
            "namespace": NS,
            "release": RELEASE,
            "approvers": ["bob", "dave"],
            "path": ["production", "eu-batch", "ledger-worker"],
            "file": "deployment-ledger-worker.yaml",
            "fileShows": "memory: 512Mi",
        },
        "workbench": {
            "user": "carol",
            "policy": "require-resource-limits",
            "object": WITHOUT_LIMITS,
            // The seed's rule, examples/governance/policy-require-limits.yaml.
            "denyContains": "in production must have resource limits",
        },
    })
    .to_string();

    browser(&dashboard, &chromium, "approvals", &scenario, &shots);
    let approvers = platform.get(
        Some(NS),
        "approvalrequest",
        RELEASE,
        "{.spec.decisions[*].user}",
    );
    assert_eq!(
        approvers, "bob dave",
        "decisions are stamped with who clicked"
    );
    platform.wait_for(Some(NS), "release", RELEASE, "{.status.phase}", "Healthy");

    // The limits are stated for the pods found (KWOK's nodes run no containers: their logs
    // come back as failures naming the pod, never as made-up lines).
    let pods = platform
        .workload_pods("batch", "app.kubernetes.io/name=ledger-worker")
        .len();
    let (status, logs) = api(
        &http,
        reqwest::Method::GET,
        format!(
            "{}/api/logs?project={NS}&workload=ledger-worker&tail=10",
            dashboard.url
        ),
        Some(&token("bob")),
    )
    .await;
    assert_eq!(status, 200, "{logs}");
    // bob reads them as an Operator of the project, with no access to any Secret.
    let can_i = platform
        .kubectl("bob")
        .args(["auth", "can-i", "get", "secrets", "-n", "gitopshq-system"])
        .output()
        .expect("kubectl runs");
    assert_eq!(String::from_utf8_lossy(&can_i.stdout).trim(), "no");
    assert!(
        logs["statement"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!(
                "showing the last 10 lines per container of {} since 1h in eu-batch",
                match pods {
                    1 => "1 pod (1 container)".to_string(),
                    n => format!("{n} pods ({n} containers)"),
                }
            )),
        "{logs}"
    );

    browser(&dashboard, &chromium, "after", &scenario, &shots);
    browser(&dashboard, &chromium, "workbench", &scenario, &shots);
    let sessions = ok(platform.admin().args([
        "-n",
        NS,
        "get",
        "breakglasssessions",
        "-o",
        "jsonpath={.items[*].spec.closed} {.items[*].spec.requestedBy}",
    ]));
    assert_eq!(
        sessions, "true bob",
        "the session opened in the browser was closed there, stamped with who opened it"
    );
    authoring(&platform, &dashboard, &chromium, &scenario, &shots).await;
    rollback(&platform, &dashboard, &chromium, &scenario, &shots);
    promote(&platform, &dashboard, &chromium, &scenario, &shots);
    drop(dashboard);
    platform.stop().await;
}

/// A developer's day in the browser: values edited with live checks and saved, a release
/// created as a Draft and submitted; a developer without production's grant sees that layer
/// read-only. Then what was written, read back with kubectl.
async fn authoring(
    platform: &Platform,
    dashboard: &Dashboard,
    chromium: &str,
    scenario: &str,
    shots: &Path,
) {
    // dave's team becomes Developers too: they may write workloads, but not release to
    // production, so production's layer is theirs to read only.
    add_team(platform, "frontend-team", "Developer");
    let can_patch = || {
        let out = platform
            .kubectl("dave")
            .args(["auth", "can-i", "patch", "workloads.gitopshq.io", "-n", NS])
            .output()
            .expect("kubectl runs");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    poll(can_patch, &|answer| answer == "yes")
        .expect("the Project reconciler grants frontend-team the Developer role");

    // A save over a version that is no longer the stored one is refused, and says so.
    let token = platform.management.token_for("alice").expect("token");
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/projects/{NS}/workloads/ledger-worker/values",
            dashboard.url
        ))
        .bearer_auth(token)
        .header("X-Requested-With", "gitopshq")
        .json(&serde_json::json!({
            "environment": "production",
            "text": VALUES,
            "resourceVersion": "1",
        }))
        .send()
        .await
        .expect("the dashboard answers");
    assert_eq!(response.status().as_u16(), 409);
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("workload ledger-worker changed since alice opened it")),
        "{body}"
    );

    browser(dashboard, chromium, "authoring", scenario, shots);

    assert_eq!(
        platform.get(
            Some(NS),
            "workload",
            "ledger-worker",
            "{.spec.environments.production.values.resources.limits.memory}",
        ),
        "256Mi",
        "the values saved in the browser are the Workload's"
    );
    assert!(
        platform
            .get(
                Some(NS),
                "workload",
                "ledger-worker",
                "{.metadata.managedFields[*].manager}"
            )
            .contains("gitopshq-dashboard"),
        "saved by server-side apply as the dashboard's field manager"
    );
    assert_eq!(
        platform.get(
            Some(NS),
            "release",
            AUTHORED,
            "{.spec.createdBy} {.spec.submittedBy} {.status.phase}"
        ),
        "alice alice PendingApproval",
        "created and submitted in the browser, as the person who clicked"
    );
    assert_eq!(
        platform.get(Some(NS), "release", AUTHORED, "{.spec.tenants}"),
        r#"["eu-batch"]"#,
        "the tenants picked in the form"
    );
    let variables = ok(platform.admin().args([
        "-n",
        NS,
        "get",
        "variables",
        "-o",
        r#"jsonpath={range .items[?(@.spec.values.LEDGER_BATCH_SIZE)]}{.spec.environment}={.spec.values.LEDGER_BATCH_SIZE} {.spec.secretRefs}{end}"#,
    ]));
    assert_eq!(
        variables.trim(),
        "production=500",
        "the variable set in the browser is a number in production's scope, and the refused Secret reference was not written"
    );
}

/// The release authored in the browser is approved and delivered; then a rollback to the
/// release before it is started from that release's page, read as a Draft with its diff, and
/// submitted there.
fn rollback(
    platform: &Platform,
    dashboard: &Dashboard,
    chromium: &str,
    scenario: &str,
    shots: &Path,
) {
    let authored = platform.release(NS, AUTHORED);
    authored.approve("bob", "smaller limits are enough");
    authored.approve("dave", "agreed");
    authored.wait_delivered();

    browser(dashboard, chromium, "rollback", scenario, shots);

    let rollbacks = ok(platform.admin().args([
        "-n",
        NS,
        "get",
        "releases",
        "-o",
        r#"jsonpath={range .items[?(@.spec.type=="Rollback")]}{.spec.rollbackTo.release} {.spec.changes[0].workload} {.spec.createdBy} {.spec.submittedBy} {.spec.submitted}{"\n"}{end}"#,
    ]));
    assert_eq!(
        rollbacks.trim(),
        format!("{RELEASE} ledger-worker alice alice true"),
        "one Rollback to the earlier release, created and submitted in the browser by alice"
    );
}

/// Two more production tenants run the workload; the release delivered to eu-batch is
/// promoted to them from its page, a canary batch first, then the rest.
fn promote(
    platform: &Platform,
    dashboard: &Dashboard,
    chromium: &str,
    scenario: &str,
    shots: &Path,
) {
    for (tenant, namespace) in [("eu-batch-2", "batch-2"), ("eu-batch-3", "batch-3")] {
        platform.apply(
            "admin",
            &format!(
                "apiVersion: gitopshq.io/v1alpha1
kind: Tenant
metadata: {{name: {tenant}, namespace: {NS}}}
spec:
  environment: production
  cluster: eu-west-1
  namespace: {namespace}
  workloads: {{ledger-worker: {{}}}}
"
            ),
        );
    }
    browser(dashboard, chromium, "promote", scenario, shots);
    let promotion = ok(platform.admin().args([
        "-n",
        NS,
        "get",
        "promotions",
        "-o",
        r#"jsonpath={range .items[*]}{.spec.release} {.spec.createdBy}{range .spec.batches[*]} {.name}:{.tenants[*]}:{.soak}{end}{"\n"}{end}"#,
    ]));
    assert_eq!(
        promotion.trim(),
        format!("{AUTHORED} alice canary:eu-batch-2:1m rest::"),
        "the batches chosen in the browser (within production, the release's own environment), stamped with who promoted"
    );
}
