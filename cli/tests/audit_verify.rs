//! `gitopshq audit verify` on a real repository written by `gitopshq deliver`: every delivery
//! commit chains to the history before it; rewriting an earlier commit with git and
//! force-pushing breaks the chain at the next delivery commit.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Mallory")
        .env("GIT_AUTHOR_EMAIL", "mallory@example.com")
        .env("GIT_COMMITTER_NAME", "Mallory")
        .env("GIT_COMMITTER_EMAIL", "mallory@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn gitopshq(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitopshq"))
        .args(args)
        .env("GITOPSHQ_CACHE_DIR", cache)
        .output()
        .unwrap()
}

fn release(name: &str, tag: &str) -> String {
    format!(
        "apiVersion: gitopshq.io/v1alpha1
kind: Release
metadata:
  name: {name}
  namespace: payment-service
spec:
  title: payment-api {tag}
  environment: development
  tenants: [eu-development]
  changes:
    - workload: payment-api
      values:
        image:
          tag: {tag}
  submitted: true
  createdBy: alice
"
    )
}

#[test]
fn the_audit_chain_verifies_and_a_rewrite_breaks_it() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("inputs");
    std::fs::create_dir(&inputs).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/bootstrap");
    for entry in std::fs::read_dir(example).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), inputs.join(entry.file_name())).unwrap();
    }
    let repo: PathBuf = dir.path().join("gitops.git");
    let cache = dir.path().join("cache");
    git(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", repo.to_str().unwrap()],
    );
    let deliver = |name: &str| {
        let out = gitopshq(
            &[
                "deliver",
                "-f",
                inputs.to_str().unwrap(),
                "--release",
                name,
                "--repo",
                repo.to_str().unwrap(),
            ],
            &cache,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    deliver("payment-api-v1-0-0-dev");
    std::fs::write(
        inputs.join("90-v2.yaml"),
        release("payment-api-v2", "v2.0.0"),
    )
    .unwrap();
    let second = deliver("payment-api-v2");
    std::fs::write(
        inputs.join("91-v3.yaml"),
        release("payment-api-v3", "v3.0.0"),
    )
    .unwrap();
    let third = deliver("payment-api-v3");

    let message = git(
        dir.path(),
        &[
            "--git-dir",
            repo.to_str().unwrap(),
            "log",
            "-1",
            "--format=%B",
            &third,
        ],
    );
    assert!(
        message.contains("GitOpsHQ-Previous-Audit: sha256:"),
        "{message}"
    );

    let verify = || {
        gitopshq(
            &["audit", "verify", "--repo", repo.to_str().unwrap()],
            &cache,
        )
    };
    let out = verify();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "3 delivery commits verified (3 commits on main)"
    );

    // Someone edits the second delivery in a clone, replays the third on top and force-pushes.
    let clone = dir.path().join("clone");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            repo.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    git(&clone, &["reset", "-q", "--hard", &second]);
    std::fs::write(clone.join("README.md"), "slipped in\n").unwrap();
    git(&clone, &["add", "README.md"]);
    git(&clone, &["commit", "-q", "--amend", "--no-edit"]);
    git(&clone, &["cherry-pick", &third]);
    git(&clone, &["push", "-q", "--force", "origin", "HEAD:main"]);
    let replayed = git(&clone, &["rev-parse", "HEAD"]).trim().to_string();

    let out = verify();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("chain breaks at commit {replayed}"))
            && stderr.contains("payment-service/payment-api-v3")
            && stderr.contains("was rewritten or removed")
            && stderr.contains("2 delivery commits before it verified"),
        "{stderr}"
    );
}
