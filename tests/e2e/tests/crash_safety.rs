//! The controllers can stop at any step: a restart resumes from the last written phase, and the
//! one step with an effect outside the API, the commit, is found in the repository history
//! before it is made again. No second commit, no lost transition.

use gitopshq_e2e::Platform;

const NS: &str = "payment-service";
const RELEASE: &str = "payment-api-v1-0-0-dev";

/// Waits until the release is delivered: Deployed, or already Healthy (Flux applies at once).
fn delivered(platform: &Platform) {
    platform.wait_until(
        Some(NS),
        "release",
        RELEASE,
        "{.status.phase}",
        |phase| phase == "Deployed" || phase == "Healthy",
        "Deployed or Healthy",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_the_commit_makes_no_second_commit() {
    let mut platform = Platform::start().await;
    platform.apply("admin", &platform.example(&["bootstrap"]));
    delivered(&platform);
    let commit = platform.get(Some(NS), "release", RELEASE, "{.status.commit}");
    let commits = platform.commits().len();

    // Stopped and started again: nothing moves.
    platform.stop_controllers().await;
    platform.start_controllers().await;
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(platform.commits().len(), commits);
    assert_eq!(
        platform.get(Some(NS), "release", RELEASE, "{.status.commit}"),
        commit
    );

    // A crash between the commit and the status write: the status still says Deploying.
    platform.stop_controllers().await;
    platform.release(NS, RELEASE).patch_status(
        r#"{"status":{"phase":"Deploying","reason":"Progressing","commit":null,"shortCommit":null}}"#,
    );
    assert_eq!(
        platform.get(Some(NS), "release", RELEASE, "{.status.phase}"),
        "Deploying"
    );
    platform.start_controllers().await;
    delivered(&platform);
    assert_eq!(
        platform.get(Some(NS), "release", RELEASE, "{.status.commit}"),
        commit,
        "the commit found in history"
    );
    assert_eq!(platform.commits().len(), commits, "no second commit");
    let deployed = platform.get(
        Some(NS),
        "release",
        RELEASE,
        "{.status.timeline[?(@.phase==\"Deployed\")].message}",
    );
    assert!(
        deployed.ends_with("already holds this release"),
        "{deployed}"
    );

    // A crash before the Deploying write (status still Approved): the same.
    platform.stop_controllers().await;
    platform
        .release(NS, RELEASE)
        .patch_status(r#"{"status":{"phase":"Approved","reason":"NoApprovalNeeded"}}"#);
    platform.start_controllers().await;
    delivered(&platform);
    assert_eq!(platform.commits().len(), commits);
    let phases = platform.get(Some(NS), "release", RELEASE, "{.status.timeline[*].phase}");
    assert!(
        phases.starts_with("Approved Deploying Deployed"),
        "every transition kept: {phases}"
    );
    platform.stop().await;
}
