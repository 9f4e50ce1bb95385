//! The `gitopshq` CLI (also as `kubectl gitopshq`) on the real platform, as people and CI use
//! it: a CI ServiceAccount creates and submits a release and waits for it to be Healthy; two
//! teams approve a production release and a third user is refused; a rejection; status with
//! quorum, policies, timeline and commit; a Degraded release's rollback command, the rollback
//! itself and break-glass under a freeze; pod logs through the workload cluster's API server
//! from a kubelet the test serves; the audit trail with the commit trailers; and `audit verify`
//! passing on the repository and failing after a history rewrite.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use gitopshq_e2e::scenarios::incident_rollback::{self, BAD, GOOD};
use gitopshq_e2e::{Platform, git, ok};

const NS: &str = "payment-service";

fn binary() -> &'static Path {
    gitopshq_e2e::gitopshq_binary()
}

/// Runs the CLI: no kubeconfig but what `env` says (a clean HOME, no KUBECONFIG).
struct Cli<'p> {
    platform: &'p Platform,
    home: PathBuf,
}

impl<'p> Cli<'p> {
    fn new(platform: &'p Platform) -> Self {
        let home = platform.dir().join("cli-home");
        std::fs::create_dir_all(&home).expect("home");
        Self { platform, home }
    }

    fn bare(&self) -> Command {
        let mut cmd = Command::new(binary());
        cmd.env_remove("KUBECONFIG")
            .env_remove("GITOPSHQ_PROJECT")
            .env_remove("GITOPSHQ_TOKEN")
            .env("HOME", &self.home)
            .env("GITOPSHQ_CACHE_DIR", self.platform.dir().join("cli-cache"));
        cmd
    }

    /// `gitopshq ARGS --kubeconfig <user's>`.
    fn as_user(&self, user: &str, args: &[&str]) -> Output {
        let kubeconfig = self
            .platform
            .management
            .kubeconfig_for(user)
            .expect("a test user");
        self.bare()
            .args(args)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .output()
            .expect("gitopshq runs")
    }

    /// `kubectl gitopshq ARGS` with KUBECONFIG of `user`: the plugin found on PATH.
    fn plugin(&self, user: &str, args: &[&str]) -> Output {
        let dir = self.platform.dir().join("plugins");
        let link = dir.join("kubectl-gitopshq");
        if !link.exists() {
            std::fs::create_dir_all(&dir).expect("plugin folder");
            std::os::unix::fs::symlink(binary(), &link).expect("plugin link");
        }
        let path = format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let kubeconfig = self
            .platform
            .management
            .kubeconfig_for(user)
            .expect("a test user");
        Command::new(std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into()))
            .arg("gitopshq")
            .args(args)
            .env("PATH", path)
            .env("KUBECONFIG", kubeconfig)
            .env("HOME", &self.home)
            .env("GITOPSHQ_CACHE_DIR", self.platform.dir().join("cli-cache"))
            .output()
            .expect("kubectl runs")
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn succeeded(out: Output) -> Output {
    assert!(
        out.status.success(),
        "failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    out
}

#[track_caller]
fn exited(out: &Output, code: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    stderr(out)
}

/// [`exited`] with `code`, saying every one of `words` on stderr; returns stderr.
#[track_caller]
fn exited_saying(out: &Output, code: i32, words: &[&str]) -> String {
    let text = exited(out, code);
    for word in words {
        assert!(text.contains(word), "{word:?} missing in:\n{text}");
    }
    text
}

/// A kubeconfig for a CI job: the API server, its CA and a ServiceAccount token, written with
/// kubectl the way docs/ci.md shows; the context's namespace is the project.
fn ci_kubeconfig(platform: &Platform, token: &str) -> PathBuf {
    let dir = platform.dir();
    let ca = dir.join("ci-ca.crt");
    std::fs::write(&ca, platform.management.ca_pem()).expect("ca");
    let file = dir.join("ci.kubeconfig");
    let kubectl = |args: &[&str]| {
        ok(
            Command::new(std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into()))
                .env("KUBECONFIG", &file)
                .args(args),
        )
    };
    kubectl(&[
        "config",
        "set-cluster",
        "management",
        &format!("--server={}", platform.management.server_url()),
        &format!("--certificate-authority={}", ca.display()),
        "--embed-certs=true",
    ]);
    kubectl(&[
        "config",
        "set-credentials",
        "ci-deployer",
        &format!("--token={token}"),
    ]);
    kubectl(&[
        "config",
        "set-context",
        "ci",
        "--cluster=management",
        "--user=ci-deployer",
        &format!("--namespace={NS}"),
    ]);
    kubectl(&["config", "use-context", "ci"]);
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ci_and_people_release_approve_reject_follow_and_audit_with_the_cli() {
    let platform = Platform::start().await;
    let cli = Cli::new(&platform);
    the_project_with_its_policies_and_a_ci_deployer_is_ready(&platform);
    let ci = ci_creates_and_submits_a_staging_release(&cli);
    ci_waits_for_it_to_be_healthy_with_a_token_and_no_kubeconfig(&cli, &ci);
    people_without_the_grant_are_refused_with_what_is_missing(&cli);
    a_production_release_waits_for_two_teams_and_waiting_on_it_is_gated(&cli);
    bob_approves_and_a_second_sre_and_ci_are_refused(&cli, &ci);
    status_shows_the_quorum_the_policies_and_the_timeline(&cli);
    let full_commit = carol_approves_and_the_release_is_delivered_and_healthy(&cli);
    a_rejection_stops_a_release_and_waiting_on_it_says_so(&cli);
    the_audit_trail_shows_who_did_what_in_order(&cli, &full_commit);
    audit_verify_passes_on_the_repository(&cli);
    audit_verify_fails_after_the_ci_release_is_dropped_from_history(&cli);
    platform.stop().await;
}

fn the_project_with_its_policies_and_a_ci_deployer_is_ready(platform: &Platform) {
    platform.apply(
        "admin",
        &platform.example(&[
            "bootstrap",
            "governance/project.yaml",
            "governance/policy-require-limits.yaml",
            "governance/approval-policy.yaml",
            "team-rbac/20-ci-deployer.yaml",
        ]),
    );
    platform.wait_for(None, "project", NS, "{.status.phase}", "Ready");
    platform.wait_policy_tested("require-resource-limits");
    platform.wait_delivered(NS, "payment-api-v1-0-0-dev");
}

/// The CI job: a ServiceAccount token and the kubeconfig made of it.
struct Ci {
    token: String,
    kubeconfig: PathBuf,
}

impl Ci {
    /// `gitopshq ARGS` as the CI job, with its kubeconfig.
    fn run(&self, cli: &Cli<'_>, args: &[&str]) -> Output {
        cli.bare()
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .output()
            .expect("gitopshq runs")
    }
}

/// CI, with a ServiceAccount token bound to the ReleaseManager Role in a kubeconfig of its
/// own, creates and submits a staging release.
fn ci_creates_and_submits_a_staging_release(cli: &Cli<'_>) -> Ci {
    let platform = cli.platform;
    let token = ok(platform
        .admin()
        .args(["-n", NS, "create", "token", "ci-deployer"]));
    let ci = Ci {
        kubeconfig: ci_kubeconfig(platform, token.trim()),
        token,
    };
    let created = succeeded(ci.run(
        cli,
        &[
            "release",
            "create",
            "payment-api-abc1234",
            "--env",
            "staging",
            "--workload",
            "payment-api",
            "--set",
            "image.tag=abc1234",
            "--tenant",
            "eu-staging",
            "--notes",
            "CI build https://ci.example.com/builds/42, commit abc1234",
            "--submit",
        ],
    ));
    assert_eq!(
        stdout(&created).trim(),
        "release.gitopshq.io/payment-api-abc1234 created"
    );
    assert_eq!(
        platform
            .release(NS, "payment-api-abc1234")
            .get("{.spec.createdBy}"),
        "system:serviceaccount:payment-service:ci-deployer"
    );
    ci
}

/// `wait` as CI, with --server/--token and no kubeconfig at all, while Argo CD syncs.
fn ci_waits_for_it_to_be_healthy_with_a_token_and_no_kubeconfig(cli: &Cli<'_>, ci: &Ci) {
    let platform = cli.platform;
    let ca = platform.dir().join("ci-ca.crt");
    let waiting = cli
        .bare()
        .args([
            "wait",
            "payment-api-abc1234",
            "-n",
            NS,
            "--for",
            "Healthy",
            "--timeout",
            "5m",
            "--server",
            platform.management.server_url(),
            "--certificate-authority",
        ])
        .arg(&ca)
        .env("GITOPSHQ_TOKEN", ci.token.trim())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gitopshq runs");
    platform.wait_delivered(NS, "payment-api-abc1234");
    let waited = succeeded(waiting.wait_with_output().expect("wait finishes"));
    let commit = platform
        .release(NS, "payment-api-abc1234")
        .get("{.status.shortCommit}");
    assert_eq!(
        stdout(&waited).trim(),
        format!("release payment-api-abc1234 is Healthy (commit {commit})")
    );
    assert!(stderr(&waited).contains("release payment-api-abc1234: Deployed"));
}

/// Not permitted, by RBAC (dave has no grant at all) and by the project grant (sre-team may
/// not submit releases); each says what is missing and exits 3.
fn people_without_the_grant_are_refused_with_what_is_missing(cli: &Cli<'_>) {
    let platform = cli.platform;
    // (dave through his context of the shared kubeconfig: --context picks the identity.)
    let dave = cli
        .bare()
        .args([
            "release",
            "create",
            "dave-try",
            "-n",
            NS,
            "--env",
            "staging",
            "--workload",
            "payment-api",
            "--context",
            "dave",
        ])
        .env("KUBECONFIG", platform.management.kubeconfig_path())
        .output()
        .expect("gitopshq runs");
    exited_saying(
        &dave,
        3,
        &[
            "not permitted: RBAC denies dave to create releases.gitopshq.io in namespace payment-service",
            "kubectl auth can-i create releases.gitopshq.io -n payment-service",
        ],
    );
    let bob = cli.as_user(
        "bob",
        &[
            "release",
            "create",
            "bob-try",
            "-n",
            NS,
            "--env",
            "staging",
            "--workload",
            "payment-api",
            "--submit",
        ],
    );
    exited_saying(
        &bob,
        3,
        &[
            "not permitted: release bob-try denied: bob (groups: sre-team) may not submit releases to staging",
            "ReleaseManager",
        ],
    );
}

/// A production release from the backend team needs two teams.
fn a_production_release_waits_for_two_teams_and_waiting_on_it_is_gated(cli: &Cli<'_>) {
    let platform = cli.platform;
    succeeded(cli.as_user(
        "alice",
        &[
            "release",
            "create",
            "payment-api-v1-1-0",
            "-n",
            NS,
            "--env",
            "production",
            "--workload",
            "payment-api",
            "--set",
            "image.tag=v1.1.0",
            "--title",
            "payment-api v1.1.0 to production",
            "--submit",
        ],
    ));
    platform
        .release(NS, "payment-api-v1-1-0")
        .wait_phase("PendingApproval");
    platform
        .release(NS, "payment-api-v1-1-0")
        .wait_approval_request("{.spec.policy}", "production-two-teams");
    // Waiting on it now is gated, not a failure of the platform: exit 4 with the quorum.
    let gated = cli.as_user(
        "alice",
        &[
            "wait",
            "payment-api-v1-1-0",
            "-n",
            NS,
            "--timeout",
            "2s",
            "-q",
        ],
    );
    exited_saying(
        &gated,
        4,
        &[
            "permitted but gated: timed out after 2s waiting for release payment-api-v1-1-0 to be Healthy; it is PendingApproval: 0 of 2 approvals received",
            "gitopshq approve payment-api-v1-1-0 -n payment-service",
        ],
    );
}

fn bob_approves_and_a_second_sre_and_ci_are_refused(cli: &Cli<'_>, ci: &Ci) {
    let platform = cli.platform;
    let approved = succeeded(cli.plugin(
        "bob",
        &[
            "approve",
            "payment-api-v1-1-0",
            "-n",
            NS,
            "--comment",
            "limits set, rollout plan fine",
        ],
    ));
    assert_eq!(
        stdout(&approved).trim(),
        "release payment-api-v1-1-0 approved by bob (sre-team)"
    );
    platform
        .release(NS, "payment-api-v1-1-0")
        .wait_approvals("1/2");
    // A second sre-team approval is refused by the webhook, as is CI's (RBAC: no Approver).
    let frank = cli.plugin(
        "frank",
        &["approve", "payment-api-v1-1-0", "-n", NS, "--comment", "+1"],
    );
    exited_saying(
        &frank,
        3,
        &["needs approval from a team other than sre-team"],
    );
    let ci_approve = ci.run(cli, &["approve", "payment-api-v1-1-0"]);
    exited_saying(
        &ci_approve,
        3,
        &[
            "RBAC denies system:serviceaccount:payment-service:ci-deployer to patch approvalrequests.gitopshq.io",
            "Approver role",
        ],
    );
}

fn status_shows_the_quorum_the_policies_and_the_timeline(cli: &Cli<'_>) {
    let status = stdout(&succeeded(
        cli.as_user("alice", &["status", "payment-api-v1-1-0", "-n", NS]),
    ));
    for want in [
        "Release:     payment-service/payment-api-v1-1-0",
        "Phase:       PendingApproval",
        "Approvals:   1 of 2 approvals received",
        "1 of 2 approvals received; needs a team other than sre-team",
        "  approved:  bob (sre-team) at ",
        "\"limits set, rollout plan fine\"",
        "require-resource-limits   Enforce   Pass",
        "PendingApproval   alice",
        "Created by:  alice",
    ] {
        assert!(status.contains(want), "missing {want:?} in\n{status}");
    }
    let json: serde_json::Value = serde_json::from_str(&stdout(&succeeded(cli.as_user(
        "alice",
        &["status", "payment-api-v1-1-0", "-n", NS, "-o", "json"],
    ))))
    .expect("json");
    assert_eq!(json["approvals"], "1 of 2 approvals received");
    assert_eq!(json["status"]["policyResults"][0]["verdict"], "Pass");
}

/// carol, of another team, gives the second approval: the release is delivered, becomes
/// Healthy and its status shows the commit, which is returned.
fn carol_approves_and_the_release_is_delivered_and_healthy(cli: &Cli<'_>) -> String {
    let platform = cli.platform;
    succeeded(cli.plugin(
        "carol",
        &[
            "approve",
            "payment-api-v1-1-0",
            "-n",
            NS,
            "--comment",
            "approved for the platform team",
        ],
    ));
    platform.wait_delivered(NS, "payment-api-v1-1-0");
    succeeded(cli.as_user(
        "alice",
        &[
            "wait",
            "payment-api-v1-1-0",
            "-n",
            NS,
            "--for",
            "healthy",
            "--timeout",
            "3m",
        ],
    ));
    let full_commit = platform
        .release(NS, "payment-api-v1-1-0")
        .get("{.status.commit}");
    let status = stdout(&succeeded(
        cli.as_user("alice", &["status", "payment-api-v1-1-0", "-n", NS]),
    ));
    assert!(
        status.contains(&format!("Commit:      {full_commit}")),
        "{status}"
    );
    assert!(status.contains("Phase:       Healthy"), "{status}");
    assert!(status.contains("eu-production   Healthy"), "{status}");
    full_commit
}

/// A rejection: it stops the release, and waiting on it says so (gated, exit 4).
fn a_rejection_stops_a_release_and_waiting_on_it_says_so(cli: &Cli<'_>) {
    let platform = cli.platform;
    succeeded(cli.as_user(
        "alice",
        &[
            "release",
            "create",
            "payment-api-v1-2-0",
            "-n",
            NS,
            "--env",
            "production",
            "--workload",
            "payment-api",
            "--set",
            "image.tag=v1.2.0",
            "--submit",
        ],
    ));
    platform
        .release(NS, "payment-api-v1-2-0")
        .wait_approval_request("{.spec.policy}", "production-two-teams");
    let no_comment = cli.as_user("bob", &["reject", "payment-api-v1-2-0", "-n", NS]);
    exited(&no_comment, 2);
    succeeded(cli.as_user(
        "bob",
        &[
            "reject",
            "payment-api-v1-2-0",
            "-n",
            NS,
            "--comment",
            "not during the sale",
        ],
    ));
    platform
        .release(NS, "payment-api-v1-2-0")
        .wait_phase("Rejected");
    let rejected = cli.as_user(
        "alice",
        &["wait", "payment-api-v1-2-0", "-n", NS, "--timeout", "1m"],
    );
    exited_saying(
        &rejected,
        4,
        &["release payment-api-v1-2-0 is Rejected, it will not become Healthy"],
    );
}

/// The audit trail, as a developer of the project.
fn the_audit_trail_shows_who_did_what_in_order(cli: &Cli<'_>, full_commit: &str) {
    let platform = cli.platform;
    let repo = platform.repository.display().to_string();
    let trail: Vec<serde_json::Value> = serde_json::from_str(&stdout(&succeeded(cli.as_user(
        "alice",
        &[
            "audit",
            "-n",
            NS,
            "--workload",
            "payment-api",
            "--since",
            "2h",
            "-o",
            "json",
            "--repo",
            &repo,
        ],
    ))))
    .expect("json");
    let has = |source: &str, actor: &str, action: &str, object: &str| {
        trail.iter().any(|e| {
            e["source"] == source
                && e["actor"] == actor
                && e["action"] == action
                && e["object"] == object
        })
    };
    assert!(
        has("Release", "alice", "Created", "release/payment-api-v1-1-0"),
        "{trail:#?}"
    );
    assert!(has(
        "Approval",
        "bob",
        "Approve",
        "release/payment-api-v1-1-0"
    ));
    assert!(has(
        "Approval",
        "carol",
        "Approve",
        "release/payment-api-v1-1-0"
    ));
    assert!(has(
        "Approval",
        "bob",
        "Reject",
        "release/payment-api-v1-2-0"
    ));
    assert!(has(
        "Release",
        "system:serviceaccount:payment-service:ci-deployer",
        "Created",
        "release/payment-api-abc1234"
    ));
    assert!(
        has(
            "Event",
            "gitopshq-controller",
            "Committed",
            "release/payment-api-v1-1-0"
        ),
        "{trail:#?}"
    );
    let delivery = trail
        .iter()
        .find(|e| e["source"] == "Commit" && e["object"] == "release/payment-api-v1-1-0")
        .expect("the delivery commit is in the trail");
    assert_eq!(delivery["actor"], "alice");
    assert_eq!(delivery["commit"], full_commit);
    let detail = delivery["message"].as_str().unwrap_or_default();
    assert!(
        detail.contains("approved by bob, carol")
            && detail.contains("policies require-resource-limits=Pass"),
        "{detail}"
    );
    let times: Vec<&str> = trail.iter().filter_map(|e| e["time"].as_str()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "chronological");
    let bobs = stdout(&succeeded(cli.as_user(
        "alice",
        &["audit", "-n", NS, "--user", "bob", "--repo", &repo],
    )));
    let rows: Vec<&str> = bobs.lines().skip(1).collect();
    assert!(bobs.starts_with("TIME"), "{bobs}");
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r.contains("bob")),
        "{bobs}"
    );
}

/// `gitopshq audit verify --repo REPO`.
fn audit_verify(cli: &Cli<'_>, repo: &str) -> Output {
    cli.bare()
        .args(["audit", "verify", "--repo", repo])
        .output()
        .expect("runs")
}

/// The audit chain holds on the real repository.
fn audit_verify_passes_on_the_repository(cli: &Cli<'_>) {
    let platform = cli.platform;
    let repo = platform.repository.display().to_string();
    let verified = stdout(&succeeded(audit_verify(cli, &repo)));
    let deliveries = platform
        .commits()
        .iter()
        .filter(|c| c.contains("GitOpsHQ-Release:"))
        .count();
    assert!(deliveries >= 3, "{deliveries}");
    assert!(
        verified.starts_with(&format!("{deliveries} delivery commits verified")),
        "{verified}"
    );
    assert!(platform.commits()[0].contains("GitOpsHQ-Previous-Audit: sha256:"));
}

/// The audit chain breaks when someone drops the CI release's commit and force-pushes the rest.
fn audit_verify_fails_after_the_ci_release_is_dropped_from_history(cli: &Cli<'_>) {
    let platform = cli.platform;
    let repo = platform.repository.display().to_string();
    let ci_commit = platform
        .release(NS, "payment-api-abc1234")
        .get("{.status.commit}");
    let clone = platform.dir().join("rewrite");
    git(
        platform.dir(),
        &["clone", "-q", &repo, &clone.display().to_string()],
    );
    let identity = [
        "-c",
        "user.name=Mallory",
        "-c",
        "user.email=mallory@example.com",
    ];
    let parent = format!("{ci_commit}^");
    let mut rebase = identity.to_vec();
    rebase.extend(["rebase", "-q", "--onto", &parent, &ci_commit, "main"]);
    git(&clone, &rebase);
    git(&clone, &["push", "-q", "--force", "origin", "main"]);
    let broken = audit_verify(cli, &repo);
    let text = exited(&broken, 1);
    let first_replayed = git(
        &clone,
        &["rev-list", "--reverse", &format!("{ci_commit}^..main")],
    )
    .lines()
    .map(str::to_string)
    .find(|c| git(&clone, &["log", "-1", "--format=%B", c]).contains("GitOpsHQ-Release:"))
    .expect("a replayed delivery commit");
    assert!(
        text.contains(&format!("chain breaks at commit {first_replayed}"))
            && text.contains("was rewritten or removed"),
        "{text}"
    );
    // The cluster still knows the commit the CI release was delivered as.
    let after = succeeded(cli.as_user("alice", &["audit", "-n", NS, "--repo", &repo]));
    assert!(
        stderr(&after).contains(&format!(
            "release payment-api-abc1234 was delivered as commit {ci_commit}"
        )),
        "{}",
        stderr(&after)
    );
}

/// Plays the kubelet's log endpoint: `/containerLogs/{ns}/{pod}/{container}` answers ten fixed
/// lines (the last `tailLines` of them) and records every query it gets.
struct Kubelet {
    server: gitopshq_webhook::server::Running,
    queries: Arc<Mutex<Vec<String>>>,
}

impl Kubelet {
    async fn start() -> Self {
        use axum::extract::{Path as UrlPath, RawQuery};
        let queries: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = Arc::clone(&queries);
        let router = axum::Router::new().route(
            "/containerLogs/{namespace}/{pod}/{container}",
            axum::routing::get(
                move |UrlPath((namespace, pod, container)): UrlPath<(String, String, String)>,
                      RawQuery(query): RawQuery| {
                    let seen = Arc::clone(&seen);
                    async move {
                        let query = query.unwrap_or_default();
                        seen.lock().unwrap().push(format!("{namespace}/{pod}/{container}?{query}"));
                        let params: BTreeMap<String, String> =
                            query_pairs(&query).into_iter().collect();
                        let mut lines: Vec<String> = (1..=9)
                            .map(|i| format!("{pod} {container} line {i}: request served"))
                            .collect();
                        lines.push(format!(
                            "{pod} {container} line 10: ERROR cache endpoint CACHE_ENDPOINT is not set"
                        ));
                        let tail: usize = params
                            .get("tailLines")
                            .and_then(|t| t.parse().ok())
                            .unwrap_or(lines.len());
                        let start = lines.len().saturating_sub(tail);
                        let mut body = lines[start..].join("\n");
                        body.push('\n');
                        body
                    }
                },
            ),
        );
        let tls = gitopshq_webhook::tls::TlsMaterial::generate(&["127.0.0.1"]).expect("tls");
        let server = gitopshq_webhook::server::serve(router, ([127, 0, 0, 1], 0).into(), &tls)
            .await
            .expect("kubelet serves");
        Self { server, queries }
    }
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_is_diagnosed_rolled_back_and_reviewed_with_the_cli() {
    let platform = Platform::start().await;
    let cli = Cli::new(&platform);
    let kubelet = Kubelet::start().await;
    a_good_checkout_release_is_followed_by_a_degraded_one(&platform);
    the_degraded_release_says_how_to_roll_back_and_waiting_for_it_gives_up(&cli);
    let pods = the_kwok_nodes_send_log_requests_to_the_test_kubelet(&platform, &kubelet);
    logs_of_the_bad_release_are_bounded_and_filtered(&cli, &kubelet, &pods);
    logs_by_workload_and_followed_are_bounded_too(&cli, &kubelet, &pods);
    bob_reads_logs_without_access_to_secrets_and_dave_is_refused(&cli, pods.len());
    bob_rolls_back_frank_approves_and_the_pods_recover(&cli);
    under_a_freeze_the_next_rollback_is_gated(&cli);
    a_break_glass_session_admits_the_rollback_and_closes_with_a_note(&cli);
    the_next_days_review_has_one_trail_for_the_workload(&cli);
    drop(kubelet);
    platform.stop().await;
}

fn a_good_checkout_release_is_followed_by_a_degraded_one(platform: &Platform) {
    incident_rollback::the_good_checkout_release_is_healthy(platform);
    platform.apply_server_side(
        "admin",
        &platform.example(&["incident-rollback/20-bad-release.yaml"]),
    );
    platform.release(NS, BAD).wait_phase("Degraded");
}

/// The release says what is wrong and how to roll back; waiting for Healthy gives up (exit 1).
fn the_degraded_release_says_how_to_roll_back_and_waiting_for_it_gives_up(cli: &Cli<'_>) {
    let status = stdout(&succeeded(cli.as_user("bob", &["status", BAD, "-n", NS])));
    assert!(status.contains("Phase:       Degraded"), "{status}");
    assert!(
        status.contains(&format!(
            "Next:        roll back: gitopshq rollback checkout-service --to {GOOD} -n {NS}"
        )),
        "{status}"
    );
    let waited = cli.as_user("bob", &["wait", BAD, "-n", NS, "--for", "Healthy", "-q"]);
    exited_saying(
        &waited,
        1,
        &[
            &format!("failed: release {BAD} is Degraded, it will not become Healthy"),
            "CrashLoopBackOff",
        ],
    );
}

/// Logs: the pods run on KWOK's nodes, whose kubelet endpoint is pointed at the test's
/// server; the workload cluster's API server proxies each log request to it.
/// Returns the checkout pods, sorted.
fn the_kwok_nodes_send_log_requests_to_the_test_kubelet(
    platform: &Platform,
    kubelet: &Kubelet,
) -> Vec<String> {
    let port = kubelet.server.address.port();
    let node_status = format!(
        r#"{{"status":{{"addresses":[{{"type":"InternalIP","address":"127.0.0.1"}}],"daemonEndpoints":{{"kubeletEndpoint":{{"Port":{port}}}}}}}}}"#
    );
    for node in platform.workload.node_names() {
        ok(platform.workload_admin().args([
            "patch",
            "node",
            node,
            "--subresource=status",
            "--type=merge",
            "-p",
            &node_status,
        ]));
    }
    let mut pods: Vec<String> = platform
        .workload_pods("checkout", "app.kubernetes.io/name=checkout-service")
        .into_iter()
        .map(|(name, _, _, _)| name)
        .collect();
    pods.sort();
    pods
}

/// `gitopshq logs` of the bad release: the last 2 lines of each pod's container since 30m,
/// filtered for errors, asking the kubelet for no more.
fn logs_of_the_bad_release_are_bounded_and_filtered(
    cli: &Cli<'_>,
    kubelet: &Kubelet,
    pods: &[String],
) {
    let count = pods.len();
    let logs = succeeded(cli.as_user(
        "admin",
        &[
            "logs", BAD, "-n", NS, "--tail", "2", "--since", "30m", "--grep", "ERROR",
        ],
    ));
    assert!(
        stderr(&logs).starts_with(
            &format!("showing the last 2 lines per container of {count} pods ({count} containers) since 30m in eu-checkout (cluster eu-west-1, namespace checkout); only lines containing \"ERROR\" among them; use --tail/--since to change")
        ),
        "{}",
        stderr(&logs)
    );
    let lines: Vec<String> = stdout(&logs).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), count, "{lines:?}");
    assert_eq!(
        lines[0],
        format!(
            "[eu-checkout/{0}/checkout-service] {0} checkout-service line 10: ERROR cache endpoint CACHE_ENDPOINT is not set",
            pods[0]
        )
    );
    {
        let queries = kubelet.queries.lock().unwrap();
        assert_eq!(queries.len(), count, "{queries:?}");
        assert!(
            queries.iter().all(|q| q.contains("tailLines=2")
                && q.contains("sinceSeconds=1800")
                && q.contains("limitBytes=")),
            "{queries:?}"
        );
    }
}

/// `gitopshq logs` by workload and followed; a request without bounds is refused.
fn logs_by_workload_and_followed_are_bounded_too(
    cli: &Cli<'_>,
    kubelet: &Kubelet,
    pods: &[String],
) {
    let count = pods.len();
    // By workload, one container, the last line only.
    let one = stdout(&succeeded(cli.as_user(
        "admin",
        &[
            "logs",
            "checkout-service",
            "-n",
            NS,
            "--tenant",
            "eu-checkout",
            "-c",
            "checkout-service",
            "--tail",
            "1",
        ],
    )));
    assert_eq!(one.lines().count(), count, "{one}");
    // Following: the kubelet sends what it has and ends each stream, which ends the command.
    let followed =
        succeeded(cli.as_user("admin", &["logs", BAD, "-n", NS, "--tail", "3", "--follow"]));
    assert!(
        stderr(&followed).contains("then following new lines until interrupted"),
        "{}",
        stderr(&followed)
    );
    let lines = stdout(&followed);
    assert_eq!(lines.lines().count(), 3 * count, "{lines}");
    let last = &pods[count - 1];
    assert!(lines.contains(&format!(
        "[eu-checkout/{last}/checkout-service] {last} checkout-service line 8: request served"
    )));
    {
        let queries = kubelet.queries.lock().unwrap();
        let follows = queries.iter().filter(|q| q.contains("follow=true")).count();
        assert_eq!(follows, count, "{queries:?}");
    }
    // Unbounded requests are refused before anything is asked.
    let unbounded = cli.as_user("admin", &["logs", BAD, "-n", NS, "--tail", "-1"]);
    assert!(exited(&unbounded, 2).contains("unbounded"));
}

/// bob, an SRE with the project's Operator role, reads the logs through the pod-logs API
/// without any permission on Secrets, where the clusters' credentials live.
fn bob_reads_logs_without_access_to_secrets_and_dave_is_refused(cli: &Cli<'_>, count: usize) {
    let platform = cli.platform;
    let secrets = platform
        .kubectl("bob")
        .args(["auth", "can-i", "get", "secrets", "-n", "gitopshq-system"])
        .output()
        .expect("kubectl runs");
    assert_eq!(String::from_utf8_lossy(&secrets.stdout).trim(), "no");
    let bob_logs = succeeded(cli.as_user("bob", &["logs", BAD, "-n", NS, "--tail", "1"]));
    assert_eq!(
        stdout(&bob_logs).lines().count(),
        count,
        "{}",
        stdout(&bob_logs)
    );
    // dave, of another team, is refused: by the API server for the API group's permission...
    let path = format!(
        "/apis/logs.gitopshq.io/v1alpha1/namespaces/{NS}/workloads/checkout-service/log?tailLines=1"
    );
    let raw = platform
        .kubectl("dave")
        .args(["get", "--raw", &path])
        .output()
        .expect("kubectl runs");
    let refusal = String::from_utf8_lossy(&raw.stderr);
    assert!(
        !raw.status.success()
            && refusal.contains("forbidden")
            && refusal.contains("workloads/log")
            && refusal.contains("logs.gitopshq.io"),
        "{refusal}"
    );
    // ...and `gitopshq logs` says what to ask for.
    let dave_logs = cli.as_user("dave", &["logs", "checkout-service", "-n", NS]);
    let refused = exited(&dave_logs, 3);
    assert!(refused.contains("not permitted"), "{refused}");
    // The same request with the raw API as bob streams the statement, then the lines.
    let raw = ok(platform.kubectl("bob").args(["get", "--raw", &path]));
    assert!(
        raw.starts_with("# showing the last 1 line per container"),
        "{raw}"
    );
}

/// The rollback: bob asks, frank (same team, not bob) approves, the pods recover.
fn bob_rolls_back_frank_approves_and_the_pods_recover(cli: &Cli<'_>) {
    let platform = cli.platform;
    let rolled = succeeded(cli.as_user(
        "bob",
        &["rollback", "checkout-service", "--to", GOOD, "-n", NS],
    ));
    let rollback = stdout(&rolled)
        .trim()
        .strip_prefix("release.gitopshq.io/")
        .and_then(|s| s.strip_suffix(" created"))
        .expect("the rollback release's name")
        .to_string();
    assert!(
        rollback.starts_with("rollback-checkout-service-"),
        "{rollback}"
    );
    assert_eq!(
        platform.release(NS, &rollback).get("{.spec.type}"),
        "Rollback"
    );
    assert_eq!(
        platform
            .release(NS, &rollback)
            .get("{.spec.changes[0].workload}"),
        "checkout-service"
    );
    platform
        .release(NS, &rollback)
        .wait_phase("PendingApproval");
    let own = cli.plugin("bob", &["approve", &rollback, "-n", NS]);
    assert!(exited(&own, 3).contains("cannot approve"));
    succeeded(cli.plugin(
        "frank",
        &[
            "approve",
            &rollback,
            "-n",
            NS,
            "--comment",
            "matches the incident timeline",
        ],
    ));
    platform.wait_delivered(NS, &rollback);
    let delivery = &platform.commits()[0];
    assert!(
        delivery.contains("GitOpsHQ-Release-Type: Rollback"),
        "{delivery}"
    );
    assert!(
        delivery.contains("GitOpsHQ-Approved-By: frank"),
        "{delivery}"
    );
    succeeded(cli.as_user(
        "bob",
        &["wait", &rollback, "-n", NS, "--timeout", "3m", "-q"],
    ));
}

/// Under a freeze the next rollback is gated (exit 4) until a break-glass session covers it.
fn under_a_freeze_the_next_rollback_is_gated(cli: &Cli<'_>) {
    let platform = cli.platform;
    platform.freeze_production_now();
    let frozen = cli.as_user(
        "bob",
        &[
            "rollback",
            "checkout-service",
            "--to",
            GOOD,
            "-n",
            NS,
            "--name",
            "rollback-frozen",
        ],
    );
    exited_saying(
        &frozen,
        4,
        &[
            "permitted but gated: release rollback-frozen denied:",
            "frozen",
            "BreakGlassSession",
        ],
    );
}

/// bob opens a break-glass session, rolls back under it and closes it, with a note.
fn a_break_glass_session_admits_the_rollback_and_closes_with_a_note(cli: &Cli<'_>) {
    let platform = cli.platform;
    succeeded(cli.as_user(
        "bob",
        &[
            "breakglass",
            "open",
            "inc-1042",
            "-n",
            NS,
            "--env",
            "production",
            "--workload",
            "checkout-service",
            "--severity",
            "SEV1",
            "--justification",
            "checkout pods crash after v3.2.0; the maintenance freeze blocks the fix",
            "--duration",
            "1h",
            "--incident",
            "https://status.example.com/incidents/1042",
        ],
    ));
    platform.wait_for(
        Some(NS),
        "breakglasssession",
        "inc-1042",
        "{.status.phase}",
        "Active",
    );
    succeeded(cli.as_user(
        "bob",
        &[
            "rollback",
            "checkout-service",
            "--to",
            GOOD,
            "-n",
            NS,
            "--name",
            "rollback-frozen",
            "--break-glass",
            "inc-1042",
        ],
    ));
    assert_eq!(
        platform
            .release(NS, "rollback-frozen")
            .get("{.spec.breakGlassSession}"),
        "inc-1042"
    );
    let no_note = cli.as_user("bob", &["breakglass", "close", "inc-1042", "-n", NS]);
    exited(&no_note, 2);
    succeeded(cli.as_user(
        "bob",
        &[
            "breakglass",
            "close",
            "inc-1042",
            "-n",
            NS,
            "--note",
            "rolled back to v3.1.0; cache endpoint restored",
        ],
    ));
    platform.wait_for(
        Some(NS),
        "breakglasssession",
        "inc-1042",
        "{.status.phase}",
        "Closed",
    );
}

/// The next day's review: one trail for the workload.
fn the_next_days_review_has_one_trail_for_the_workload(cli: &Cli<'_>) {
    let platform = cli.platform;
    let repo = platform.repository.display().to_string();
    let trail = stdout(&succeeded(cli.as_user(
        "bob",
        &[
            "audit",
            "-n",
            NS,
            "--workload",
            "checkout-service",
            "--since",
            "2h",
            "--repo",
            &repo,
        ],
    )));
    let row = |source: &str, actor: &str, action: &str| {
        trail.lines().find(|l| {
            let cells: Vec<&str> = l
                .split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            cells.get(1) == Some(&source)
                && cells.get(2) == Some(&actor)
                && cells.get(3) == Some(&action)
        })
    };
    assert!(
        row("release", "gitopshq-controller", "Degraded").is_some(),
        "{trail}"
    );
    assert!(row("approval", "frank", "Approve").is_some(), "{trail}");
    let opened = row("break-glass", "bob", "Opened").expect("opened");
    assert!(
        opened.contains("SEV1 for production/checkout-service, 1h"),
        "{opened}"
    );
    let closed = row("break-glass", "-", "Closed").expect("closed");
    assert!(
        closed.contains("closing note: rolled back to v3.1.0"),
        "{closed}"
    );
    let commit = row("commit", "bob", "RolledBack").expect("the rollback commit");
    assert!(
        commit.contains("approved by frank")
            && commit.contains(&format!("restores payment-service/{GOOD}@")),
        "{commit}"
    );
    assert!(
        !trail.contains("payment-api"),
        "only checkout-service:\n{trail}"
    );
    let verified = stdout(&succeeded(audit_verify(cli, &repo)));
    assert!(verified.contains("delivery commits verified"), "{verified}");
}
