//! What the CLI's integration tests share: the real `gitopshq` binary run from the repository's
//! root, where the examples are, and the bootstrap example as `gitopshq deliver`'s inputs with
//! an empty bare repository to deliver into.

#![allow(
    dead_code,
    reason = "each test binary uses the part of this module it needs"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `gitopshq ARGS` in the repository's root, so `examples/…` paths resolve.
pub fn gitopshq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitopshq"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("gitopshq runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// [`gitopshq`], which must succeed; returns stdout.
#[track_caller]
pub fn succeeds(args: &[&str]) -> String {
    let out = gitopshq(args);
    assert!(
        out.status.success(),
        "gitopshq {args:?} failed:\n{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

/// The bootstrap example copied as inputs, an empty bare repository with a `main` branch and a
/// clone cache of their own, in a temporary folder that goes with the fixture.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub inputs: PathBuf,
    pub repo: PathBuf,
    pub cache: PathBuf,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let inputs = dir.path().join("inputs");
        std::fs::create_dir(&inputs).unwrap();
        for entry in std::fs::read_dir(repo_root().join("examples/bootstrap")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), inputs.join(entry.file_name())).unwrap();
        }
        let repo = dir.path().join("gitops.git");
        git(&[
            "init",
            "--quiet",
            "--bare",
            "--initial-branch=main",
            repo.to_str().unwrap(),
        ]);
        let cache = dir.path().join("cache");
        Fixture {
            dir,
            inputs,
            repo,
            cache,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Adds an input file (a release to deliver, say).
    pub fn add(&self, file: &str, yaml: &str) {
        std::fs::write(self.inputs.join(file), yaml).unwrap();
    }

    /// Runs `gitopshq SUBCOMMAND -f INPUTS --repo REPO ARGS…` with the fixture's clone cache.
    pub fn gitopshq(&self, args: &[&str]) -> Output {
        let (subcommand, rest) = args.split_first().unwrap();
        self.run(&[*subcommand])
            .arg("-f")
            .arg(&self.inputs)
            .arg("--repo")
            .arg(&self.repo)
            .args(rest)
            .output()
            .unwrap()
    }

    /// [`Fixture::gitopshq`], which must succeed; returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.gitopshq(args);
        assert!(
            out.status.success(),
            "gitopshq {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `gitopshq ARGS` with the fixture's clone cache and nothing else (for commands that read
    /// the repository only).
    pub fn run(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gitopshq"));
        cmd.args(args).env("GITOPSHQ_CACHE_DIR", &self.cache);
        cmd
    }

    /// `git --git-dir REPO ARGS…`; returns stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let mut all = vec!["--git-dir", self.repo.to_str().unwrap()];
        all.extend_from_slice(args);
        git(&all)
    }
}

fn git(args: &[&str]) -> String {
    git_succeeds(&mut Command::new("git"), args)
}

/// `git` (with whatever folder or identity the caller gave it) run with `args`, which must
/// succeed; returns stdout.
#[track_caller]
pub fn git_succeeds(git: &mut Command, args: &[&str]) -> String {
    let out = git.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A submitted release of payment-api into development (tenant eu-development) with image
/// `tag`, created by alice.
pub fn development_release(name: &str, title: &str, tag: &str) -> String {
    format!(
        "apiVersion: gitopshq.io/v1alpha1
kind: Release
metadata:
  name: {name}
  namespace: payment-service
spec:
  title: {title}
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

/// Fails the test unless `text` says every one of `parts`.
#[track_caller]
pub fn assert_says(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} missing in:\n{text}");
    }
}
