use super::*;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn status_of(tree: &str) -> Value {
    artifact_status(
        &Artifact {
            url: format!(
                "http://127.0.0.1:9090{}",
                archive_path("payments", COMMIT, "projects/payments/production/eu")
            ),
            revision: revision("main", COMMIT),
            digest: "sha256:00".into(),
            size: 10,
            tree: tree.into(),
            time: "2026-12-07T10:00:00Z".into(),
        },
        Some(1),
    )
}

#[test]
fn a_published_artifact_reads_back() {
    let published_now = published(&status_of("t1")).expect("published");
    assert_eq!(published_now.revision, format!("main@sha1:{COMMIT}"));
    assert_eq!(published_now.tree.as_deref(), Some("t1"));
    assert_eq!(published_now.format.as_deref(), Some(FORMAT));
    let status = status_of("t1");
    assert_eq!(
        status["status"]["artifact"]["path"],
        format!("payments/{COMMIT}/projects/payments/production/eu.tar.gz")
    );
    assert_eq!(status["status"]["conditions"][0]["status"], "True");
    assert_eq!(published(&json!({"status": {}})), None);
}

#[test]
fn a_commit_publishes_what_it_targets_or_changes() {
    let current = published(&status_of("t1"));
    assert!(needs_publishing(None, "t1", false), "nothing published yet");
    assert!(
        !needs_publishing(current.as_ref(), "t1", false),
        "another tenant's release"
    );
    assert!(
        needs_publishing(current.as_ref(), "t1", true),
        "targeted, unchanged: the release waits for this commit"
    );
    assert!(needs_publishing(current.as_ref(), "t2", false), "changed");
    let old_format = Published {
        format: Some("0".into()),
        ..current.clone().unwrap()
    };
    assert!(needs_publishing(Some(&old_format), "t1", false));
}

#[test]
fn archive_paths_read_back_and_nothing_else_does() {
    let path = archive_path("payments", COMMIT, "projects/payments/production/eu");
    assert_eq!(
        archive_request(&path),
        Some(ArchiveRequest {
            project: "payments".into(),
            commit: COMMIT.into(),
            dir: "projects/payments/production/eu".into(),
        })
    );
    for bad in [
        format!("/payments/{COMMIT}/projects/../secrets.tar.gz"),
        format!("/payments/{COMMIT}/projects//x.tar.gz"),
        format!("/payments/{COMMIT}/./x.tar.gz"),
        format!("/payments/{COMMIT}/projects/x"),
        "/payments/main/projects/x.tar.gz".to_string(),
        format!("/payments/{}/x.tar.gz", &COMMIT[..39]),
        format!("payments/{COMMIT}/x.tar.gz"),
        format!("/../{COMMIT}/x.tar.gz"),
    ] {
        assert_eq!(archive_request(&bad), None, "{bad}");
    }
}

#[test]
fn only_tenant_folders_are_handed_out() {
    let environments = vec!["staging".to_string(), "production".to_string()];
    let root = "projects/payments";
    assert!(is_tenant_dir(
        "projects/payments/production/eu",
        root,
        &environments
    ));
    for other in [
        "projects/payments/production",
        "projects/payments/production/eu/payment-api",
        "projects/payments/production/_kustomizations",
        "projects/payments/development/eu",
        "projects/payroll/production/eu",
        "projects/payments-old/production/eu",
        "_flux/production/eu",
    ] {
        assert!(!is_tenant_dir(other, root, &environments), "{other}");
    }
}

#[test]
fn the_object_carries_the_tenant_labels() {
    let object = external_artifact(
        "payments-production-eu",
        "flux-system",
        "payments",
        "production",
        "eu",
    );
    assert_eq!(object["kind"], "ExternalArtifact");
    assert_eq!(object["metadata"]["labels"]["gitopshq.io/tenant"], "eu");
    assert_eq!(
        object["metadata"]["labels"]["gitopshq.io/project"],
        "payments"
    );
}
