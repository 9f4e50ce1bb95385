//! Signed delivery commits in real bare repositories, with keys made by the machine's
//! `ssh-keygen`: the machine's `git verify-commit` accepts them (also after a rebase onto a
//! concurrent push), and the offline check names an unsigned delivery and commits rewritten
//! without the key.

mod git_support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use git_support::*;
use gitopshq_delivery::git::{self, CommitMeta, RetryPolicy, SigningKey, SigningKeyError};
use gitopshq_engine::audit::CommitRecord;
use gitopshq_engine::layout::DeliveryMode;
use gitopshq_engine::signatures::{self, AllowedSigners, SignatureProblem, SignatureReport};
use gitopshq_localplane::command_line::{git_as, git_as_ok, ssh_keygen};

/// A key pair made by `ssh-keygen` in a temp dir, and an allowed signers file listing it.
struct Keys {
    dir: tempfile::TempDir,
    private: PathBuf,
}

impl Keys {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("signing-key");
        ssh_keygen(&private, &["-t", "ed25519", "-N", "", "-C", "gitopshq"]);
        Self { dir, private }
    }

    fn key(&self) -> Arc<SigningKey> {
        Arc::new(SigningKey::read_file(&self.private).unwrap())
    }

    fn public(&self) -> String {
        std::fs::read_to_string(self.private.with_extension("pub"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// `gitopshq@example.com ssh-ed25519 AAAA… gitopshq`, git's allowed signers format.
    fn allowed_signers(&self) -> PathBuf {
        let path = self.dir.path().join("allowed_signers");
        std::fs::write(&path, format!("gitopshq@example.com {}\n", self.public())).unwrap();
        path
    }
}

fn git(dir: &Path, args: &[&str]) -> Output {
    git_as("Mallory", dir, args)
}

fn git_ok(dir: &Path, args: &[&str]) -> String {
    git_as_ok("Mallory", dir, args)
}

/// The machine's `git verify-commit`, with the allowed signers file as its only trust.
fn verify_commit(remote: &Remote, allowed_signers: &Path, commit: &str) -> Output {
    git(
        remote.dir.path(),
        &[
            "--git-dir",
            remote.path.to_str().unwrap(),
            "-c",
            "gpg.format=ssh",
            "-c",
            &format!("gpg.ssh.allowedSignersFile={}", allowed_signers.display()),
            "verify-commit",
            commit,
        ],
    )
}

fn signed(title: &str, key: &Arc<SigningKey>) -> CommitMeta {
    CommitMeta {
        signing_key: Some(Arc::clone(key)),
        ..meta(title)
    }
}

fn deploy(version: &str) -> git::Change {
    change(&release(
        DeliveryMode::ArgoCd,
        &["acme"],
        &["api"],
        1,
        version,
    ))
}

/// What `gitopshq audit verify --allowed-signers` checks, over the branch as it is now.
fn check(remote: &Remote, allowed_signers: &Path) -> SignatureReport {
    let signers =
        AllowedSigners::parse(&std::fs::read_to_string(allowed_signers).unwrap()).unwrap();
    let log = git::log_with_objects(&remote.remote(), cache().path(), usize::MAX).unwrap();
    let records: Vec<(CommitRecord, Vec<u8>)> = log
        .into_iter()
        .map(|(entry, object)| (entry.into_record(), object))
        .collect();
    signatures::check_history(
        records.iter().map(|(r, o)| (r, o.as_slice())),
        Some(&signers),
    )
}

#[test]
fn signed_deliveries_verify_with_git_also_after_a_rebase() {
    let keys = Keys::new();
    let key = keys.key();
    let allowed = keys.allowed_signers();
    let remote = Remote::bare();
    let (ours, theirs) = (cache(), cache());
    let first = git::deliver(
        &remote.remote(),
        ours.path(),
        &deploy("1.0.0"),
        &signed("Deploy api 1.0.0", &key),
    )
    .unwrap();

    let out = verify_commit(&remote, &allowed, &first.commit);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "git verify-commit: {stderr}");
    assert!(
        stderr.contains("Good \"git\" signature for gitopshq@example.com with ED25519 key"),
        "{stderr}"
    );
    assert!(stderr.contains(&key.fingerprint()), "{stderr}");

    // Another writer pushes between our fetch and our push: the commit is made again on top of
    // theirs, and signed again.
    let policy = RetryPolicy {
        max_attempts: 3,
        backoff: std::time::Duration::ZERO,
    };
    let rebased = git::deliver_with(
        &remote.remote(),
        ours.path(),
        &deploy("2.0.0"),
        &signed("Deploy api 2.0.0", &key),
        &policy,
        &mut |attempt| {
            if attempt == 1 {
                let globex = change(&release(
                    DeliveryMode::ArgoCd,
                    &["globex"],
                    &["api"],
                    1,
                    "3.0.0",
                ));
                git::deliver(
                    &remote.remote(),
                    theirs.path(),
                    &globex,
                    &signed("Deploy globex", &key),
                )
                .unwrap();
            }
        },
    )
    .unwrap();
    assert_eq!(rebased.attempts, 2);
    assert_eq!(remote.history().len(), 3);
    let out = verify_commit(&remote, &allowed, &rebased.commit);
    assert!(
        out.status.success(),
        "the rebased commit verifies: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let report = check(&remote, &allowed);
    assert_eq!(
        (report.delivery_commits, report.signed, report.verified),
        (3, 3, 3)
    );
    assert_eq!(report.first_bad, None);
}

#[test]
fn an_unsigned_delivery_and_rewrites_without_the_key_are_named() {
    let keys = Keys::new();
    let key = keys.key();
    let allowed = keys.allowed_signers();

    // A delivery made without the key.
    let remote = Remote::bare();
    let c = cache();
    git::deliver(
        &remote.remote(),
        c.path(),
        &deploy("1.0.0"),
        &signed("Signed", &key),
    )
    .unwrap();
    let unsigned = git::deliver(
        &remote.remote(),
        c.path(),
        &deploy("2.0.0"),
        &meta("Unsigned"),
    )
    .unwrap();
    let report = check(&remote, &allowed);
    let bad = report.first_bad.expect("the unsigned delivery is reported");
    assert_eq!(bad.commit, unsigned.commit);
    assert_eq!(bad.problem, SignatureProblem::Unsigned);
    assert_eq!((report.verified, report.failed), (1, 1));
    assert!(
        !verify_commit(&remote, &allowed, &unsigned.commit)
            .status
            .success()
    );

    // `git commit --amend` of a signed delivery in a clone, force-pushed: git drops the
    // signature it cannot make again.
    let remote = Remote::bare();
    let first = git::deliver(
        &remote.remote(),
        c.path(),
        &deploy("1.0.0"),
        &signed("One", &key),
    )
    .unwrap();
    git::deliver(
        &remote.remote(),
        c.path(),
        &deploy("2.0.0"),
        &signed("Two", &key),
    )
    .unwrap();
    let clone = remote.dir.path().join("clone");
    git_ok(
        remote.dir.path(),
        &[
            "clone",
            "-q",
            "-b",
            "main",
            remote.path.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    std::fs::write(clone.join("README.md"), "slipped in\n").unwrap();
    git_ok(&clone, &["add", "README.md"]);
    git_ok(&clone, &["commit", "-q", "--amend", "--no-edit"]);
    git_ok(&clone, &["push", "-q", "--force", "origin", "HEAD:main"]);
    let amended = git_ok(&clone, &["rev-parse", "HEAD"]);
    let report = check(&remote, &allowed);
    let bad = report.first_bad.expect("the amended delivery is reported");
    assert_eq!(bad.commit, amended);
    assert_eq!(bad.problem, SignatureProblem::Unsigned);
    assert_eq!(bad.release, "payments/two");
    assert_eq!(
        report.verified, 1,
        "the first delivery ({}) still verifies",
        first.commit
    );

    // A rewrite that keeps the old signature header, as `git replace --edit` or a hand-made
    // object would: the signature no longer matches the content.
    let remote = Remote::bare();
    let signed_head = git::deliver(
        &remote.remote(),
        c.path(),
        &deploy("1.0.0"),
        &signed("Deploy", &key),
    )
    .unwrap();
    let git_dir = remote.path.to_str().unwrap();
    let object = git_ok(
        remote.dir.path(),
        &[
            "--git-dir",
            git_dir,
            "cat-file",
            "commit",
            &signed_head.commit,
        ],
    );
    assert!(
        object.contains("\ngpgsig -----BEGIN SSH SIGNATURE-----\n"),
        "{object}"
    );
    let forged_file = remote.dir.path().join("forged");
    std::fs::write(
        &forged_file,
        format!(
            "{}\n",
            object.replace("Approved-By: alice", "Approved-By: mallory")
        ),
    )
    .unwrap();
    let forged = git_ok(
        remote.dir.path(),
        &[
            "--git-dir",
            git_dir,
            "hash-object",
            "-t",
            "commit",
            "-w",
            forged_file.to_str().unwrap(),
        ],
    );
    assert_ne!(forged, signed_head.commit);
    git_ok(
        remote.dir.path(),
        &[
            "--git-dir",
            git_dir,
            "update-ref",
            "refs/heads/main",
            &forged,
        ],
    );
    let report = check(&remote, &allowed);
    let bad = report.first_bad.expect("the forged delivery is reported");
    assert_eq!(bad.commit, forged);
    assert!(
        matches!(&bad.problem, SignatureProblem::DoesNotVerify { fingerprint, .. } if *fingerprint == key.fingerprint()),
        "{:?}",
        bad.problem
    );
    assert!(
        bad.describe()
            .contains("the commit was changed after it was signed"),
        "{}",
        bad.describe()
    );
    assert!(!verify_commit(&remote, &allowed, &forged).status.success());

    // A commit signed with another key is refused by both.
    let other = Keys::new();
    let remote = Remote::bare();
    let by_other = git::deliver(
        &remote.remote(),
        c.path(),
        &deploy("1.0.0"),
        &signed("Other", &other.key()),
    )
    .unwrap();
    let report = check(&remote, &allowed);
    assert!(matches!(
        report.first_bad.map(|b| b.problem),
        Some(SignatureProblem::KeyNotAllowed { fingerprint }) if fingerprint == other.key().fingerprint()
    ));
    assert!(
        !verify_commit(&remote, &allowed, &by_other.commit)
            .status
            .success()
    );
}

#[test]
fn keys_that_cannot_sign_are_refused_with_the_way_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let encrypted = dir.path().join("encrypted");
    ssh_keygen(&encrypted, &["-t", "ed25519", "-N", "correct horse"]);
    let rsa = dir.path().join("rsa");
    ssh_keygen(&rsa, &["-t", "rsa", "-b", "2048", "-N", ""]);

    let error = SigningKey::read_file(&encrypted).unwrap_err();
    assert!(
        matches!(error, SigningKeyError::Encrypted { .. }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "signing key file {} is encrypted with a passphrase, which nobody can type for the controller; create a key with `ssh-keygen -t ed25519 -N '' -C gitopshq -f gitopshq-signing-key` and pass that file",
            encrypted.display()
        )
    );
    let error = SigningKey::read_file(&rsa).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("is an ssh-rsa key; delivery commits are signed with ed25519 keys"),
        "{error}"
    );
    let error = SigningKey::read_file(&rsa.with_extension("pub")).unwrap_err();
    assert!(
        error.to_string().contains("is not an OpenSSH private key"),
        "{error}"
    );
}
