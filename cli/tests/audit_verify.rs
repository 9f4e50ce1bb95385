//! `gitopshq audit verify` on a real repository written by `gitopshq deliver`: every delivery
//! commit chains to the history before it and carries a signature by the key made with the
//! machine's `ssh-keygen`; rewriting an earlier commit with git and force-pushing breaks the
//! chain at the next delivery commit and leaves the rewritten ones unsigned.

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

/// `ssh-keygen -t ed25519 -N ''` in `dir`, and an allowed signers file listing its public half.
fn signing_key(dir: &Path) -> (PathBuf, PathBuf) {
    let key = dir.join("signing-key");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "gitopshq", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let allowed = dir.join("allowed_signers");
    std::fs::write(&allowed, format!("gitopshq@localhost {public}")).unwrap();
    (key, allowed)
}

/// The bootstrap example as inputs, and an empty bare repository.
fn fixture(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let inputs = dir.join("inputs");
    std::fs::create_dir(&inputs).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/bootstrap");
    for entry in std::fs::read_dir(example).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), inputs.join(entry.file_name())).unwrap();
    }
    let repo = dir.join("gitops.git");
    git(
        dir,
        &["init", "-q", "--bare", "-b", "main", repo.to_str().unwrap()],
    );
    (inputs, repo, dir.join("cache"))
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
    let (inputs, repo, cache) = fixture(dir.path());
    let (key, allowed) = signing_key(dir.path());
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
                "--signing-key",
                key.to_str().unwrap(),
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
    let verify_signed = || {
        gitopshq(
            &[
                "audit",
                "verify",
                "--repo",
                repo.to_str().unwrap(),
                "--allowed-signers",
                allowed.to_str().unwrap(),
            ],
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
        "3 delivery commits verified (3 commits on main); 3 of 3 delivery commits are signed (check them with --allowed-signers FILE)"
    );
    let out = verify_signed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "3 delivery commits verified (3 commits on main); 3 signatures verified with the keys of {}",
            allowed.display()
        )
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
    let amended = git(&clone, &["rev-parse", "HEAD"]).trim().to_string();
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

    // With the signers, the rewritten commit itself is named: git could not sign it again.
    let out = verify_signed();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "delivery commit {amended} \"payment-api v2.0.0\" (release payment-service/payment-api-v2) fails the signature check: it is not signed; 1 of 3 delivery commits carry a valid signature"
        )) && stderr.contains(&format!("chain breaks at commit {replayed}")),
        "{stderr}"
    );
}

#[test]
fn an_unsigned_delivery_fails_verification_and_a_bad_key_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (inputs, repo, cache) = fixture(dir.path());
    let (key, allowed) = signing_key(dir.path());
    let deliver = |name: &str, key: Option<&Path>| {
        let mut args = vec![
            "deliver",
            "-f",
            inputs.to_str().unwrap(),
            "--release",
            name,
            "--repo",
            repo.to_str().unwrap(),
        ];
        if let Some(key) = key {
            args.extend(["--signing-key", key.to_str().unwrap()]);
        }
        gitopshq(&args, &cache)
    };
    let out = deliver("payment-api-v1-0-0-dev", Some(&key));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A private key that is not an OpenSSH one: refused before anything is committed.
    std::fs::write(
        inputs.join("90-v2.yaml"),
        release("payment-api-v2", "v2.0.0"),
    )
    .unwrap();
    let not_a_key = key.with_extension("pub");
    let head = || {
        git(
            dir.path(),
            &["--git-dir", repo.to_str().unwrap(), "rev-parse", "main"],
        )
    };
    let before = head();
    let out = deliver("payment-api-v2", Some(&not_a_key));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "signing key file {} is not an OpenSSH private key",
            not_a_key.display()
        )) && stderr.contains("ssh-keygen -t ed25519 -N ''"),
        "{stderr}"
    );
    assert_eq!(head(), before, "nothing was committed");

    let out = deliver("payment-api-v2", None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unsigned = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let out = gitopshq(
        &[
            "audit",
            "verify",
            "--repo",
            repo.to_str().unwrap(),
            "--allowed-signers",
            allowed.to_str().unwrap(),
        ],
        &cache,
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "delivery commit {unsigned} \"payment-api v2.0.0\" (release payment-service/payment-api-v2) fails the signature check: it is not signed"
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("chain breaks"),
        "the chain itself holds: {stderr}"
    );
}
