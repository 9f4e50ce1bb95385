//! Attacks by people with ordinary project roles, on the real platform: each one is refused
//! with a message that says why and what to do, and nothing reaches the GitOps repository.
//! `docs/security.md` maps every attack here to the control that stops it.
//!
//! The tests share one platform (the clusters, the webhook and the controllers) and each works
//! in a project of its own. Teams as in the bootstrap example: backend-team (alice, erin)
//! develops and releases to development and staging, sre-team (bob, frank) approves,
//! platform-team (carol) administers; production needs two approvals.

use std::process::Output;
use std::sync::Once;
use std::time::{Duration, Instant};

use gitopshq_e2e::{Platform, examples_dir, ok};

const CLUSTER: &str = "eu-west-1";

/// The platform, with what every project here shares installed once: the environments
/// (without freeze windows), the workload cluster, the chart and production's approval policy.
fn platform() -> &'static Platform {
    static SHARED: Once = Once::new();
    let platform = Platform::shared();
    SHARED.call_once(|| {
        let chart = std::fs::read_to_string(examples_dir().join("bootstrap/40-chart.yaml"))
            .expect("the bootstrap chart");
        let cluster = std::fs::read_to_string(examples_dir().join("bootstrap/20-cluster.yaml"))
            .expect("the bootstrap cluster");
        let mut shared = String::new();
        for (name, rank) in [("development", 10), ("staging", 20), ("production", 30)] {
            shared.push_str(&format!(
                "apiVersion: gitopshq.io/v1alpha1\nkind: Environment\nmetadata: {{name: {name}}}\nspec: {{rank: {rank}}}\n---\n"
            ));
        }
        shared.push_str(&format!("{cluster}\n---\n{chart}\n---\n"));
        shared.push_str(
            "apiVersion: gitopshq.io/v1alpha1\nkind: ApprovalPolicy\nmetadata: {name: production-two}\nspec: {environments: [production], minApprovals: 2}\n",
        );
        platform.apply("admin", &shared);
    });
    platform
}

/// A project `name` like the bootstrap one: workload `api` and two tenants, `dev` in
/// development (namespace `<name>-dev`) and `prod` in production (`<name>-prod`).
fn project(name: &str) -> &'static Platform {
    project_in(name, &platform().repository_url())
}

/// [`project`] delivering to the repository at `url`.
fn project_in(name: &str, url: &str) -> &'static Platform {
    let platform = platform();
    platform.apply(
        "admin",
        &format!(
            r#"apiVersion: v1
kind: Namespace
metadata: {{name: {name}, labels: {{gitopshq.io/project: {name}}}}}
---
apiVersion: gitopshq.io/v1alpha1
kind: Project
metadata: {{name: {name}}}
spec:
  environments: [development, staging, production]
  repository: {{url: "{url}", branch: main}}
  delivery: ArgoCD
  teams:
    - {{group: backend-team, role: Developer}}
    - {{group: backend-team, role: ReleaseManager, environments: [development, staging]}}
    - {{group: sre-team, role: Approver}}
    - {{group: platform-team, role: Admin}}
---
apiVersion: gitopshq.io/v1alpha1
kind: Workload
metadata: {{name: api, namespace: {name}}}
spec:
  chart: microservice-base
  version: 1.0.0
  values: {{image: {{repository: registry.example.com/api, tag: v1.0.0}}}}
---
apiVersion: gitopshq.io/v1alpha1
kind: Tenant
metadata: {{name: dev, namespace: {name}}}
spec: {{environment: development, cluster: {CLUSTER}, namespace: {name}-dev}}
---
apiVersion: gitopshq.io/v1alpha1
kind: Tenant
metadata: {{name: prod, namespace: {name}}}
spec: {{environment: production, cluster: {CLUSTER}, namespace: {name}-prod}}
"#
        ),
    );
    platform.wait_for(None, "project", name, "{.status.phase}", "Ready");
    // The Project's RoleBindings exist once it is Ready; the API server authorises with them
    // a moment later.
    wait_until_can(platform, "alice", "create", "tenants", name);
    wait_until_can(platform, "bob", "patch", "approvalrequests", name);
    platform
}

fn wait_until_can(platform: &Platform, user: &str, verb: &str, resource: &str, ns: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = platform
            .kubectl(user)
            .args([
                "auth",
                "can-i",
                verb,
                &format!("{resource}.gitopshq.io"),
                "-n",
                ns,
            ])
            .output()
            .expect("kubectl runs");
        if out.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{user} never got {verb} {resource} in {ns}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Commits of the GitOps repository that deliver a release of `project`.
fn deliveries(platform: &Platform, project: &str) -> Vec<String> {
    platform
        .commits()
        .into_iter()
        .filter(|c| c.contains(&format!("GitOpsHQ-Release: {project}/")))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `kubectl apply` as `user`, which must be refused with every one of `words`.
#[track_caller]
fn refused(platform: &Platform, user: &str, yaml: &str, words: &[&str]) -> String {
    let message = platform.apply_refused(user, yaml);
    for word in words {
        assert!(message.contains(word), "{word:?} missing in:\n{message}");
    }
    message
}

fn kubectl(platform: &Platform, user: &str, ns: &str, args: &[&str]) -> Output {
    platform
        .kubectl(user)
        .arg("-n")
        .arg(ns)
        .args(args)
        .output()
        .expect("kubectl runs")
}

fn release_yaml(ns: &str, name: &str, environment: &str, tag: &str, submitted: bool) -> String {
    format!(
        r#"apiVersion: gitopshq.io/v1alpha1
kind: Release
metadata: {{name: {name}, namespace: {ns}}}
spec:
  title: api {tag}
  environment: {environment}
  changes: [{{workload: api, values: {{image: {{tag: {tag}}}}}}}]
  submitted: {submitted}
"#
    )
}

/// The attack: a development tenant aimed at production's namespace, then an unapproved
/// development release into it.
#[test]
fn a_development_tenant_cannot_aim_at_a_production_namespace() {
    const NS: &str = "atk-aim";
    let platform = project(NS);
    let before = deliveries(platform, NS).len();
    let message = refused(
        platform,
        "alice",
        &format!(
            "apiVersion: gitopshq.io/v1alpha1\nkind: Tenant\nmetadata: {{name: sneaky, namespace: {NS}}}\nspec: {{environment: development, cluster: {CLUSTER}, namespace: {NS}-prod}}\n"
        ),
        &[
            "tenant sneaky denied",
            &format!("namespace {NS}-prod on cluster {CLUSTER} belongs to tenant {NS}/prod"),
            "environment production",
            "choose another namespace or cluster",
        ],
    );
    assert!(
        message.contains("Conflict") || message.contains("409"),
        "{message}"
    );
    // Another project's production namespace is as closed, even to a project administrator.
    project("atk-aim-other");
    refused(
        platform,
        "carol",
        &format!(
            "apiVersion: gitopshq.io/v1alpha1\nkind: Tenant\nmetadata: {{name: squat, namespace: {NS}}}\nspec: {{environment: production, cluster: {CLUSTER}, namespace: atk-aim-other-prod}}\n"
        ),
        &[
            "belongs to tenant atk-aim-other/prod",
            "project atk-aim-other",
        ],
    );
    assert_eq!(deliveries(platform, NS).len(), before);
}

#[test]
fn a_developer_cannot_move_or_delete_a_production_tenant() {
    const NS: &str = "atk-move";
    let platform = project(NS);
    let before = deliveries(platform, NS).len();
    let moved = kubectl(
        platform,
        "alice",
        NS,
        &[
            "patch",
            "tenant",
            "prod",
            "--type=merge",
            "-p",
            r#"{"spec":{"environment":"development"}}"#,
        ],
    );
    assert!(!moved.status.success());
    let message = stderr(&moved);
    assert!(
        message.contains("tenant prod denied")
            && message
                .contains("alice (groups: backend-team) may not submit releases to production")
            && message.contains("ask a project Admin for the ReleaseManager role in production"),
        "{message}"
    );
    let deleted = kubectl(platform, "alice", NS, &["delete", "tenant", "prod"]);
    assert!(!deleted.status.success());
    assert!(stderr(&deleted).contains("may not submit releases to production"));
    assert_eq!(
        platform.get(Some(NS), "tenant", "prod", "{.spec.environment}"),
        "production"
    );
    // Her own environment stays hers.
    let dev = kubectl(
        platform,
        "alice",
        NS,
        &[
            "patch",
            "tenant",
            "dev",
            "--type=merge",
            "-p",
            &format!(r#"{{"spec":{{"namespace":"{NS}-dev2"}}}}"#),
        ],
    );
    assert!(dev.status.success(), "{}", stderr(&dev));
    assert_eq!(deliveries(platform, NS).len(), before);
}

#[test]
fn production_variables_need_the_production_grant() {
    const NS: &str = "atk-vars";
    let platform = project(NS);
    for scope in ["environment: production", "tenant: prod"] {
        refused(
            platform,
            "alice",
            &format!(
                "apiVersion: gitopshq.io/v1alpha1\nkind: Variables\nmetadata: {{name: evil, namespace: {NS}}}\nspec: {{{scope}, values: {{DATABASE_HOST: attacker.example.com}}}}\n"
            ),
            &[
                "variables evil denied",
                "may not submit releases to production",
            ],
        );
    }
    // Staging's are hers; a tenant's are pinned to the tenant's environment.
    platform.apply(
        "alice",
        &format!(
            "apiVersion: gitopshq.io/v1alpha1\nkind: Variables\nmetadata: {{name: dev, namespace: {NS}}}\nspec: {{tenant: dev, values: {{LOG_LEVEL: debug}}}}\n"
        ),
    );
    assert_eq!(
        platform.get(Some(NS), "variables", "dev", "{.spec.environment}"),
        "development"
    );
}

#[test]
fn a_production_override_in_a_workload_needs_the_production_grant() {
    const NS: &str = "atk-workload";
    let platform = project(NS);
    for patch in [
        r#"{"spec":{"environments":{"production":{"values":{"image":{"tag":"evil"}}}}}}"#,
        r#"{"spec":{"imageUpdate":{"repository":"registry.example.com/api","tagPattern":"v*","autoRelease":["production"]}}}"#,
    ] {
        let out = kubectl(
            platform,
            "alice",
            NS,
            &["patch", "workload", "api", "--type=merge", "-p", patch],
        );
        assert!(!out.status.success(), "{patch}");
        let message = stderr(&out);
        assert!(
            message.contains("workload api denied")
                && message.contains("may not submit releases to production"),
            "{message}"
        );
    }
    let staging = kubectl(
        platform,
        "alice",
        NS,
        &[
            "patch",
            "workload",
            "api",
            "--type=merge",
            "-p",
            r#"{"spec":{"environments":{"staging":{"values":{"replicaCount":1}}}}}"#,
        ],
    );
    assert!(staging.status.success(), "{}", stderr(&staging));
}

/// The attack: an admin plants the ApprovalRequest of their own future release with a lax
/// policy, submits the release and approves it alone.
#[test]
fn an_approval_request_cannot_be_planted_and_the_author_cannot_approve() {
    const NS: &str = "atk-plant";
    const RELEASE: &str = "api-v2";
    let platform = project(NS);
    let release = platform.release(NS, RELEASE);
    platform.apply(
        "admin",
        "apiVersion: gitopshq.io/v1alpha1\nkind: ApprovalPolicy\nmetadata: {name: atk-lax}\nspec: {environments: [nowhere], minApprovals: 1, forbidSelfApproval: false}\n",
    );
    let planted = refused(
        platform,
        "carol",
        &format!(
            "apiVersion: gitopshq.io/v1alpha1\nkind: ApprovalRequest\nmetadata: {{name: {RELEASE}, namespace: {NS}}}\nspec: {{release: {RELEASE}, policy: atk-lax, decisions: []}}\n"
        ),
        &[
            "approval requests are created by the GitOpsHQ controller",
            "carol cannot create one",
        ],
    );
    assert!(
        planted.contains("Forbidden") || planted.contains("403"),
        "{planted}"
    );
    let before = deliveries(platform, NS).len();
    platform.apply(
        "carol",
        &release_yaml(NS, RELEASE, "production", "v2.0.0", true),
    );
    release.wait_phase("PendingApproval");
    assert_eq!(release.approval_request("{.spec.policy}"), "production-two");
    let own = release.decide("carol", "Approve", "looked");
    assert!(!own.status.success());
    let message = stderr(&own);
    assert!(
        message.contains("carol created release api-v2 and cannot approve it"),
        "{message}"
    );
    assert_eq!(release.phase(), "PendingApproval");
    assert_eq!(deliveries(platform, NS).len(), before);
}

/// The attack: rewrite somebody else's production Draft, submit it and approve it yourself.
#[test]
fn whoever_rewrites_a_draft_is_its_author_and_the_commit_says_so() {
    const NS: &str = "atk-rewrite";
    const RELEASE: &str = "api-v3";
    let platform = project(NS);
    let release = platform.release(NS, RELEASE);
    platform.apply(
        "alice",
        &release_yaml(NS, RELEASE, "production", "v3.0.0", false),
    );
    release.wait_phase("Draft");
    // carol rewrites alice's Draft and submits it.
    platform.apply(
        "carol",
        &release_yaml(NS, RELEASE, "production", "v3.0.0-evil", true),
    );
    release.wait_phase("PendingApproval");
    assert_eq!(release.get("{.spec.authors}"), r#"["alice","carol"]"#);
    assert_eq!(release.get("{.spec.submittedBy}"), "carol");
    let own = release.decide("carol", "Approve", "looked");
    assert!(!own.status.success());
    assert!(
        stderr(&own).contains("carol submitted release api-v3 and cannot approve it"),
        "{}",
        stderr(&own)
    );
    let before = deliveries(platform, NS).len();
    assert_eq!(before, 0);
    for approver in ["bob", "frank"] {
        release.approve(approver, "looked");
    }
    release.wait_delivered();
    let delivered = deliveries(platform, NS);
    assert_eq!(delivered.len(), 1);
    for trailer in [
        "GitOpsHQ-Created-By: alice",
        "GitOpsHQ-Submitted-By: carol",
        "GitOpsHQ-Authored-By: alice",
        "GitOpsHQ-Authored-By: carol",
        "GitOpsHQ-Approved-By: bob",
        "GitOpsHQ-Approved-By: frank",
    ] {
        assert!(
            delivered[0].contains(trailer),
            "{trailer} missing:\n{}",
            delivered[0]
        );
    }
}

/// The attack: someone who may release to staging only promotes a production release (the
/// batch releases would be created by the controller, under its identity).
#[test]
fn a_promotion_needs_the_grant_where_its_batches_release() {
    const NS: &str = "atk-promote";
    let platform = project(NS);
    platform.apply(
        "carol",
        &release_yaml(NS, "api-prod", "production", "v4.0.0", false),
    );
    platform.apply(
        "alice",
        &release_yaml(NS, "api-staging", "staging", "v4.0.0", false),
    );
    let promotion = |name: &str, source: &str| {
        format!(
            "apiVersion: gitopshq.io/v1alpha1\nkind: Promotion\nmetadata: {{name: {name}, namespace: {NS}}}\nspec: {{release: {source}, createdBy: carol, batches: [{{name: all}}]}}\n"
        )
    };
    // RBAC lets her team write promotions (ReleaseManager); the webhook judges where to.
    refused(
        platform,
        "alice",
        &promotion("to-prod", "api-prod"),
        &[
            "promotion to-prod denied",
            "alice (groups: backend-team) may not submit releases to production",
        ],
    );
    assert!(
        platform
            .get(Some(NS), "promotion", "to-prod", "{.metadata.name}")
            .is_empty()
    );
    // Where she may release, her promotion is admitted in her own name whatever she wrote;
    // its batch releases carry her as their author.
    platform.apply("alice", &promotion("to-staging", "api-staging"));
    assert_eq!(
        platform.get(Some(NS), "promotion", "to-staging", "{.spec.createdBy}"),
        "alice"
    );
    let out = kubectl(
        platform,
        "alice",
        NS,
        &["delete", "promotion", "to-staging"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The attack: write `phase: Approved` into a release's status.
#[test]
fn a_forged_approved_phase_delivers_nothing() {
    const NS: &str = "atk-forge";
    const RELEASE: &str = "api-v5";
    let platform = project(NS);
    let release = platform.release(NS, RELEASE);
    platform.apply(
        "carol",
        &release_yaml(NS, RELEASE, "production", "v5.0.0", true),
    );
    release.wait_phase("PendingApproval");
    release.patch_status(r#"{"status":{"phase":"Approved","reason":"Approved"}}"#);
    // The controller counts the decisions again before anything is delivered.
    release.wait_until(
        "{.status.timeline[*].phase}",
        |t| t.ends_with("Deploying PendingApproval"),
        "the approvals counted again",
    );
    assert_eq!(release.phase(), "PendingApproval");
    let message = release.get("{.status.message}");
    assert!(
        message.starts_with("0 of 2 approvals received"),
        "{message}"
    );
    assert!(deliveries(platform, NS).is_empty());
}

/// An input changed after approval: the approvals are void and the change is named.
#[test]
fn approvals_are_void_when_the_content_changes() {
    const NS: &str = "atk-void";
    const RELEASE: &str = "api-v6";
    let platform = project(NS);
    let release = platform.release(NS, RELEASE);
    let set_production_log_level = |level: &str| {
        platform.apply(
            "carol",
            &format!(
                "apiVersion: gitopshq.io/v1alpha1\nkind: Variables\nmetadata: {{name: prod, namespace: {NS}}}\nspec: {{environment: production, values: {{LOG_LEVEL: {level}}}}}\n"
            ),
        )
    };
    set_production_log_level("info");
    platform.apply(
        "carol",
        &format!(
            r#"apiVersion: gitopshq.io/v1alpha1
kind: Release
metadata: {{name: {RELEASE}, namespace: {NS}}}
spec:
  title: api v6
  environment: production
  changes: [{{workload: api, values: {{env: {{LOG_LEVEL: "{{{{hq.var.LOG_LEVEL}}}}"}}}}}}]
  submitted: true
"#
        ),
    );
    release.wait_phase("PendingApproval");
    let approved = release.approval_request("{.spec.renderedDigest}");
    assert!(approved.starts_with("sha256:"), "{approved}");
    release.approve("bob", "looked");
    release.wait_approvals("1/2");
    // After bob's approval the production value changes.
    set_production_log_level("trace");
    // frank approves what he saw before the change; the controller finds the content changed.
    release.approve("frank", "looked");
    release.wait_approval_request("{.spec.digestChange}", "Variables/prod changed");
    let voided = release.wait_until(
        "{.status.timeline[*].message}",
        |t| t.contains("changed since the approval request recorded it"),
        "the approvals voided",
    );
    assert!(
        voided.contains("(Variables/prod changed); the approvals given so far do not count"),
        "{voided}"
    );
    let message = release.wait_until(
        "{.status.message}",
        |m| m.starts_with("0 of 2 approvals received"),
        "0 of 2",
    );
    assert!(
        message.contains("the content changed since earlier approvals (Variables/prod changed): they do not count"),
        "{message}"
    );
    assert_eq!(release.phase(), "PendingApproval");
    assert!(deliveries(platform, NS).is_empty());
    assert_ne!(release.approval_request("{.spec.renderedDigest}"), approved);
    // Approved again on the new content, it is delivered with the new value.
    for approver in ["bob", "frank"] {
        release.approve(approver, "looked");
    }
    release.wait_delivered();
    let file = platform.file(&format!(
        "projects/{NS}/production/prod/api/deployment-api.yaml"
    ));
    assert!(file.contains("trace"), "{file}");
}

#[test]
fn a_secret_reference_needs_read_access_to_the_secret() {
    const NS: &str = "atk-secret";
    let platform = project(NS);
    ok(platform.admin().args([
        "-n",
        NS,
        "create",
        "secret",
        "generic",
        "db",
        "--from-literal=password=s3cr3t-value",
    ]));
    let variables = format!(
        "apiVersion: gitopshq.io/v1alpha1\nkind: Variables\nmetadata: {{name: creds, namespace: {NS}}}\nspec: {{environment: development, secretRefs: {{DB_PASSWORD: {{name: db, key: password}}}}}}\n"
    );
    let message = refused(
        platform,
        "alice",
        &variables,
        &[
            "variables creds denied",
            "spec.secretRefs.DB_PASSWORD",
            &format!("alice (groups: backend-team) may not read Secret {NS}/db (get secrets)"),
            &format!("kubectl auth can-i get secrets/db -n {NS}"),
        ],
    );
    assert!(!message.contains("s3cr3t-value"), "{message}");
    // A project Admin may read the project's Secrets.
    platform.apply("carol", &variables);
}

#[test]
fn break_glass_sessions_are_records_nobody_in_the_project_deletes() {
    const NS: &str = "atk-bgs";
    let platform = project(NS);
    platform.apply(
        "bob",
        &format!(
            "apiVersion: gitopshq.io/v1alpha1\nkind: BreakGlassSession\nmetadata: {{name: inc-1, namespace: {NS}}}\nspec: {{justification: checkout is down for every card payment, severity: SEV1, scope: {{environments: [production]}}, duration: 1h}}\n"
        ),
    );
    platform.wait_for(
        Some(NS),
        "breakglasssession",
        "inc-1",
        "{.status.phase}",
        "Active",
    );
    for user in ["bob", "carol"] {
        let out = kubectl(
            platform,
            user,
            NS,
            &["delete", "breakglasssession", "inc-1"],
        );
        assert!(!out.status.success(), "{user} deleted the session");
        let message = stderr(&out);
        assert!(
            message.contains("audit record") && message.contains("gitopshq breakglass close inc-1"),
            "{message}"
        );
    }
    let closed = kubectl(
        platform,
        "bob",
        NS,
        &[
            "patch",
            "breakglasssession",
            "inc-1",
            "--type=merge",
            "-p",
            r#"{"spec":{"closed":true,"closingNote":"rolled back, all good"}}"#,
        ],
    );
    assert!(closed.status.success(), "{}", stderr(&closed));
    platform.wait_for(
        Some(NS),
        "breakglasssession",
        "inc-1",
        "{.status.phase}",
        "Closed",
    );
    let out = kubectl(
        platform,
        "bob",
        NS,
        &["delete", "breakglasssession", "inc-1"],
    );
    assert!(!out.status.success());
    assert_eq!(
        platform.get(Some(NS), "breakglasssession", "inc-1", "{.metadata.name}"),
        "inc-1"
    );
}

/// During an outage of the GitOps repository a failing release writes its status once per
/// retry step, as announced, instead of retrying in a tight loop.
#[test]
fn a_git_outage_writes_the_status_once_per_retry_step() {
    const NS: &str = "atk-outage";
    const RELEASE: &str = "api-v7";
    let platform = platform();
    let outage = platform.dir().join("outage.git");
    gitopshq_e2e::git(
        platform.dir(),
        &[
            "init",
            "--bare",
            "-q",
            "-b",
            "main",
            &outage.display().to_string(),
        ],
    );
    let url = format!("file://{}", outage.display());
    project_in(NS, &url);
    let release = platform.release(NS, RELEASE);
    let hidden = platform.dir().join("outage.git.away");
    // The repository goes away once the project's skeleton is in it.
    platform.wait_until(
        None,
        "project",
        NS,
        "{.status.lastCommit}",
        |c| !c.is_empty(),
        "the skeleton commit",
    );
    std::fs::rename(&outage, &hidden).expect("the repository goes away");
    platform.apply(
        "alice",
        &release_yaml(NS, RELEASE, "development", "v7.0.0", true),
    );
    release.wait_until(
        "{.status.reason}",
        |r| r == "DeliveryFailed",
        "DeliveryFailed",
    );
    let first = release.get("{.status.message}");
    assert!(
        first.starts_with("delivery attempt 1 failed, next attempt in 10s"),
        "{first}"
    );
    let mut versions = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        versions.insert(release.get("{.metadata.resourceVersion}"));
        std::thread::sleep(Duration::from_millis(200));
    }
    // Attempts at 0 s, 10 s and 30 s: at most one write each (and the event of the first).
    assert!(
        versions.len() <= 4,
        "{} status writes in 30 s of outage: {versions:?}",
        versions.len()
    );
    // The second attempt came 10 s after the first, the third 20 s after that.
    let attempts = release.get("{.status.deliveryRetry.attempts}");
    let message = release.get("{.status.message}");
    let announced = match attempts.as_str() {
        "2" => "delivery attempt 2 failed, next attempt in 20s",
        "3" => "delivery attempt 3 failed, next attempt in 40s",
        other => panic!("{other} attempts after 30 s: {message}"),
    };
    assert!(message.starts_with(announced), "{message}");
    assert!(!message.contains("tmp_pack"), "{message}");
    // The repository is back: the next attempt delivers.
    std::fs::rename(&hidden, &outage).expect("the repository comes back");
    release.wait_delivered();
    assert!(release.get("{.status.deliveryRetry}").is_empty());
}
