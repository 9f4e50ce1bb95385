//! Cancelling a release on the real platform: a production release waiting for two approvals
//! is cancelled with `gitopshq release cancel` by its creator (an approver who did not create
//! it is refused), the release and its ApprovalRequest turn Cancelled with who and why on the
//! timeline, in an Event and in `gitopshq audit`; approvals arriving afterwards are refused and
//! nothing reaches the GitOps repository; a delivered release cannot be cancelled, and the
//! refusal names its phase and the rollback to use instead.

use std::path::Path;
use std::process::{Command, Output};

use gitopshq_e2e::Platform;

const NS: &str = "payment-service";
const RELEASE: &str = "ledger-worker-v0-9-0-limits";

fn binary() -> &'static Path {
    gitopshq_e2e::gitopshq_binary()
}

/// `gitopshq ARGS` as `user`, with no kubeconfig but theirs.
fn gitopshq(platform: &Platform, user: &str, args: &[&str]) -> Output {
    let home = platform.dir().join("cli-home");
    std::fs::create_dir_all(&home).expect("home");
    let kubeconfig = platform
        .management
        .kubeconfig_for(user)
        .expect("a test user");
    Command::new(binary())
        .env_remove("KUBECONFIG")
        .env_remove("GITOPSHQ_PROJECT")
        .env_remove("GITOPSHQ_TOKEN")
        .env("HOME", &home)
        .env("GITOPSHQ_CACHE_DIR", platform.dir().join("cli-cache"))
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .output()
        .expect("gitopshq runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_release_is_cancelled_and_a_delivered_one_is_refused() {
    let platform = Platform::start().await;
    let release = platform.release(NS, RELEASE);
    platform.set_up_governance();
    platform.apply(
        "alice",
        &platform.example(&["governance/releases/ledger-worker.yaml"]),
    );
    // The bootstrap release into development is delivered meanwhile.
    platform.wait_delivered(NS, "payment-api-v1-0-0-dev");

    platform.apply(
        "alice",
        &platform.example(&["governance/releases/2-with-limits.yaml"]),
    );
    release.wait_phase("PendingApproval");
    release.wait_approval_request("{.status.phase}", "Pending");

    // bob (sre-team, Approver) did not create it and holds no cancel grant: the webhook
    // refuses, naming the grant and who may.
    let refused = gitopshq(
        &platform,
        "bob",
        &[
            "release", "cancel", RELEASE, "-n", NS, "--reason", "not mine",
        ],
    );
    assert!(!refused.status.success());
    let refused = text(&refused);
    assert!(
        refused.contains(&format!("release {RELEASE} denied"))
            && refused.contains(
                "bob (groups: sre-team) may not cancel other people's releases of production"
            )
            && refused.contains("ask alice, who created it, to cancel it"),
        "{refused}"
    );
    assert_eq!(release.get("{.spec.cancellation}"), "");

    // alice, its creator, cancels it.
    let cancelled = gitopshq(
        &platform,
        "alice",
        &[
            "release",
            "cancel",
            RELEASE,
            "-n",
            NS,
            "--reason",
            "ledger-worker 0.9.1 replaces it",
        ],
    );
    assert!(cancelled.status.success(), "{}", text(&cancelled));
    assert!(
        text(&cancelled).contains(&format!("release.gitopshq.io/{RELEASE} cancelled by alice")),
        "{}",
        text(&cancelled)
    );
    release.wait_phase("Cancelled");
    release.wait_approval_request("{.status.phase}", "Cancelled");
    assert_eq!(
        release.get("{.spec.cancellation.user}/{.spec.cancellation.reason}"),
        "alice/ledger-worker 0.9.1 replaces it"
    );
    let last = release.get(
        "{.status.timeline[-1:].phase}/{.status.timeline[-1:].actor}/{.status.timeline[-1:].message}",
    );
    assert!(
        last.starts_with(&format!(
            "Cancelled/alice/release {RELEASE} was cancelled by alice: ledger-worker 0.9.1 replaces it"
        )),
        "{last}"
    );
    let request_message = release.approval_request("{.status.message}");
    assert!(
        request_message.contains("was cancelled by alice"),
        "{request_message}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let events = loop {
        let events = platform.event_reasons(
            NS,
            &format!("involvedObject.name={RELEASE},involvedObject.kind=Release"),
        );
        if events.contains("Cancelled") || std::time::Instant::now() > deadline {
            break events;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert!(
        events.contains("Cancelled") && events.contains("AwaitingApproval"),
        "{events}"
    );

    // A cancellation is final: withdrawing it is refused.
    let withdraw = platform
        .kubectl("alice")
        .args([
            "-n",
            NS,
            "patch",
            "release",
            RELEASE,
            "--type=merge",
            "-p",
            r#"{"spec":{"cancellation":null}}"#,
        ])
        .output()
        .expect("kubectl runs");
    assert!(!withdraw.status.success(), "{}", text(&withdraw));

    // Approvals arriving afterwards are refused, and nothing is delivered.
    for user in ["bob", "carol"] {
        let late = release.decide(user, "Approve", "fine");
        assert!(!late.status.success(), "{user}: {}", text(&late));
        assert!(
            text(&late).contains(&format!("release {RELEASE} was cancelled by alice")),
            "{}",
            text(&late)
        );
    }
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(
        release.get("{.status.phase}/{.status.commit}"),
        "Cancelled/"
    );
    assert!(
        !platform
            .commits()
            .iter()
            .any(|c| c.contains(&format!("GitOpsHQ-Release: {NS}/{RELEASE}"))),
        "the repository holds no commit of the cancelled release"
    );

    // The audit trail says who cancelled it and why.
    let trail = gitopshq(&platform, "alice", &["audit", "-n", NS, "--user", "alice"]);
    assert!(trail.status.success(), "{}", text(&trail));
    let trail = text(&trail);
    assert!(
        trail.lines().any(|l| l.contains("alice")
            && l.contains("Cancelled")
            && l.contains(&format!("release/{RELEASE}"))
            && l.contains("ledger-worker 0.9.1 replaces it")),
        "{trail}"
    );

    // A delivered release cannot be cancelled, even by an Admin: roll it back instead.
    let first = platform.release(NS, "payment-api-v1-0-0-dev");
    first.wait_phase("Healthy");
    let delivered = gitopshq(
        &platform,
        "carol",
        &["release", "cancel", "payment-api-v1-0-0-dev", "-n", NS],
    );
    assert!(!delivered.status.success());
    let delivered = text(&delivered);
    assert!(
        delivered.contains("release payment-api-v1-0-0-dev denied: it is ")
            && delivered.contains("can no longer be cancelled")
            && delivered.contains(&format!(
                "gitopshq rollback payment-api --to PREVIOUS-RELEASE -n {NS}"
            )),
        "{delivered}"
    );
    let phase = first.phase();
    assert!(
        delivered.contains(&format!("it is {phase}")),
        "the refusal names the phase {phase}: {delivered}"
    );
    assert_eq!(first.get("{.spec.cancellation}"), "");
    // kubectl users meet the same rule.
    let by_kubectl = platform
        .kubectl("carol")
        .args([
            "-n",
            NS,
            "patch",
            "release",
            "payment-api-v1-0-0-dev",
            "--type=merge",
            "-p",
            r#"{"spec":{"cancellation":{"reason":"too late"}}}"#,
        ])
        .output()
        .expect("kubectl runs");
    assert!(!by_kubectl.status.success());
    assert!(
        text(&by_kubectl).contains("can no longer be cancelled"),
        "{}",
        text(&by_kubectl)
    );
    platform.stop().await;
}
