//! The machine's `git` and `ssh-keygen`, as tests that play a person at a terminal run them.

use std::path::Path;
use std::process::{Command, Output};

/// `git args` in `dir` as `who` (author and committer `who <who@example.com>`, lower-cased),
/// with prompts off: git needs an author and a committer to commit at all.
pub fn git_as(who: &str, dir: &Path, args: &[&str]) -> Output {
    let email = format!("{}@example.com", who.to_lowercase());
    Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", who)
        .env("GIT_AUTHOR_EMAIL", &email)
        .env("GIT_COMMITTER_NAME", who)
        .env("GIT_COMMITTER_EMAIL", &email)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .expect("git runs")
}

/// [`git_as`] that must succeed; returns stdout, trimmed.
#[track_caller]
pub fn git_as_ok(who: &str, dir: &Path, args: &[&str]) -> String {
    let out = git_as(who, dir, args);
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("git prints UTF-8")
        .trim()
        .to_string()
}

/// `ssh-keygen -q -f file args…`, which must succeed.
#[track_caller]
pub fn ssh_keygen(file: &Path, args: &[&str]) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-f"])
        .arg(file)
        .args(args)
        .output()
        .expect("ssh-keygen runs");
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
