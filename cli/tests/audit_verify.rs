//! `gitopshq audit verify` on a real repository written by `gitopshq deliver`: every delivery
//! commit chains to the history before it and carries a signature by the key made with the
//! machine's `ssh-keygen`; rewriting an earlier commit with git and force-pushing breaks the
//! chain at the next delivery commit and leaves the rewritten ones unsigned.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{Fixture, development_release};
use gitopshq_localplane::command_line::{git_as_ok, ssh_keygen};

/// Mallory rewrites the history.
fn git(dir: &Path, args: &[&str]) -> String {
    git_as_ok("Mallory", dir, args)
}

/// `ssh-keygen -t ed25519 -N ''` in `dir`, and an allowed signers file listing its public half.
fn signing_key(dir: &Path) -> (PathBuf, PathBuf) {
    let key = dir.join("signing-key");
    ssh_keygen(&key, &["-t", "ed25519", "-N", "", "-C", "gitopshq"]);
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let allowed = dir.join("allowed_signers");
    std::fs::write(&allowed, format!("gitopshq@localhost {public}")).unwrap();
    (key, allowed)
}

/// Succeeded, or fails the test with what the binary said; returns stdout, trimmed.
#[track_caller]
fn succeeded(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Exited 1, as a refused delivery or a failed verification does; returns stderr.
#[track_caller]
fn failed(out: Output) -> String {
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `gitopshq audit verify` of the fixture's repository, with `more` arguments.
fn audit_verify(f: &Fixture, more: &[&str]) -> Output {
    f.run(&["audit", "verify", "--repo", f.repo.to_str().unwrap()])
        .args(more)
        .output()
        .unwrap()
}

/// A development release of payment-api `tag`, added to the fixture's inputs.
fn add_release(f: &Fixture, file: &str, name: &str, tag: &str) {
    f.add(
        file,
        &development_release(name, &format!("payment-api {tag}"), tag),
    );
}

#[test]
fn the_audit_chain_verifies_and_a_rewrite_breaks_it() {
    let f = Fixture::new();
    let (key, allowed) = signing_key(f.path());
    let deliver = |name: &str| {
        succeeded(f.gitopshq(&[
            "deliver",
            "--release",
            name,
            "--signing-key",
            key.to_str().unwrap(),
        ]))
    };
    deliver("payment-api-v1-0-0-dev");
    add_release(&f, "90-v2.yaml", "payment-api-v2", "v2.0.0");
    let second = deliver("payment-api-v2");
    add_release(&f, "91-v3.yaml", "payment-api-v3", "v3.0.0");
    let third = deliver("payment-api-v3");

    let message = f.git(&["log", "-1", "--format=%B", &third]);
    assert!(
        message.contains("GitOpsHQ-Previous-Audit: sha256:"),
        "{message}"
    );

    let verify = || audit_verify(&f, &[]);
    let verify_signed = || audit_verify(&f, &["--allowed-signers", allowed.to_str().unwrap()]);
    assert_eq!(
        succeeded(verify()),
        "3 delivery commits verified (3 commits on main); 3 of 3 delivery commits are signed (check them with --allowed-signers FILE)"
    );
    assert_eq!(
        succeeded(verify_signed()),
        format!(
            "3 delivery commits verified (3 commits on main); 3 signatures verified with the keys of {}",
            allowed.display()
        )
    );

    // Someone edits the second delivery in a clone, replays the third on top and force-pushes.
    let clone = f.path().join("clone");
    git(
        f.path(),
        &[
            "clone",
            "-q",
            f.repo.to_str().unwrap(),
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

    let stderr = failed(verify());
    assert!(
        stderr.contains(&format!("chain breaks at commit {replayed}"))
            && stderr.contains("payment-service/payment-api-v3")
            && stderr.contains("was rewritten or removed")
            && stderr.contains("2 delivery commits before it verified"),
        "{stderr}"
    );

    // With the signers, the rewritten commit itself is named: git could not sign it again.
    let stderr = failed(verify_signed());
    assert!(
        stderr.contains(&format!(
            "delivery commit {amended} \"payment-api v2.0.0\" (release payment-service/payment-api-v2) fails the signature check: it is not signed; 1 of 3 delivery commits carry a valid signature"
        )) && stderr.contains(&format!("chain breaks at commit {replayed}")),
        "{stderr}"
    );
}

#[test]
fn an_unsigned_delivery_fails_verification_and_a_bad_key_commits_nothing() {
    let f = Fixture::new();
    let (key, allowed) = signing_key(f.path());
    let deliver = |name: &str, key: Option<&Path>| {
        let mut args = vec!["deliver", "--release", name];
        if let Some(key) = key {
            args.extend(["--signing-key", key.to_str().unwrap()]);
        }
        f.gitopshq(&args)
    };
    succeeded(deliver("payment-api-v1-0-0-dev", Some(&key)));

    // A private key that is not an OpenSSH one: refused before anything is committed.
    add_release(&f, "90-v2.yaml", "payment-api-v2", "v2.0.0");
    let not_a_key = key.with_extension("pub");
    let head = || f.git(&["rev-parse", "main"]);
    let before = head();
    let stderr = failed(deliver("payment-api-v2", Some(&not_a_key)));
    assert!(
        stderr.contains(&format!(
            "signing key file {} is not an OpenSSH private key",
            not_a_key.display()
        )) && stderr.contains("ssh-keygen -t ed25519 -N ''"),
        "{stderr}"
    );
    assert_eq!(head(), before, "nothing was committed");

    let unsigned = succeeded(deliver("payment-api-v2", None));
    let stderr = failed(audit_verify(
        &f,
        &["--allowed-signers", allowed.to_str().unwrap()],
    ));
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
