//! Delivery into real bare repositories: layout, trailers, idempotence, owned paths, races,
//! restore, empty remotes and refused pushes.

mod git_support;

use std::process::Command;

use git_support::*;
use gitopshq_delivery::git::{self, Error, RetryPolicy};
use gitopshq_engine::layout::{self, DeliveryMode};

const ROOT: &str = "projects/payments/production";

#[test]
fn first_commit_on_an_empty_remote_writes_the_layout() {
    let remote = Remote::bare();
    let cache = cache();
    assert_eq!(remote.head(), None);
    let req = release(
        DeliveryMode::ArgoCd,
        &["acme", "globex"],
        &["api", "worker"],
        2,
        "1.0.0",
    );
    let change = change(&req);

    let out = git::deliver(
        &remote.remote(),
        cache.path(),
        &change,
        &meta("Deploy api 1.0.0"),
    )
    .unwrap();

    assert!(out.created);
    assert_eq!(out.attempts, 1);
    assert_eq!(remote.head().as_deref(), Some(out.commit.as_str()));
    assert_eq!(remote.history().len(), 1);
    let files = remote.files_at(&out.commit);
    assert_eq!(files, change.files, "the commit holds exactly the layout");
    assert!(files.contains_key(&format!("{ROOT}/_applications/acme.yaml")));
    assert!(files.contains_key(&format!("{ROOT}/acme/api/deployment-api-0.yaml")));
    assert_eq!(
        files[&format!("{ROOT}/acme/kustomization.yaml")],
        layout::kustomization(["api", "worker"])
    );
}

#[test]
fn commit_message_carries_the_trailers() {
    let remote = Remote::bare();
    let cache = cache();
    let req = release(DeliveryMode::Flux, &["acme"], &["api"], 1, "1.0.0");
    let meta = meta("Deploy api 1.0.0");
    let out = git::deliver(&remote.remote(), cache.path(), &change(&req), &meta).unwrap();

    assert_eq!(remote.message(&out.commit), meta.message);
    let log = git::log(&remote.remote(), cache.path(), 10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].commit, out.commit);
    assert_eq!(log[0].author.name, "GitOpsHQ");
    assert_eq!(log[0].time, 1_767_225_600);
    assert_eq!(log[0].parsed.title, "Deploy api 1.0.0");
    let t = log[0].parsed.trailers.as_ref().unwrap();
    assert_eq!(t.release, "payments/deploy-api-1.0.0");
    assert_eq!(t.environment, "production");
    assert_eq!(t.approved_by, ["alice", "bob"]);
    assert_eq!(t.policies[0].policy, "no-latest");
    assert_eq!(t.policies[0].verdict, "Pass");
    assert!(remote.message(&out.commit).contains(&format!(
        "GitOpsHQ-Rendered-Digest: sha256:{}",
        "ab".repeat(32)
    )));
}

#[test]
fn delivering_the_same_change_twice_makes_no_new_commit() {
    let remote = Remote::bare();
    let cache = cache();
    let change = change(&release(
        DeliveryMode::ArgoCd,
        &["acme"],
        &["api"],
        3,
        "1.0.0",
    ));
    let first = git::deliver(&remote.remote(), cache.path(), &change, &meta("Deploy")).unwrap();
    let second = git::deliver(
        &remote.remote(),
        cache.path(),
        &change,
        &meta("Deploy again"),
    )
    .unwrap();

    assert!(first.created);
    assert!(!second.created);
    assert_eq!(second.commit, first.commit);
    assert_eq!(remote.history(), std::slice::from_ref(&first.commit));

    // A fresh cache (another controller replica) reaches the same conclusion.
    let other = git_support::cache();
    let third = git::deliver(&remote.remote(), other.path(), &change, &meta("Deploy")).unwrap();
    assert!(!third.created);
    assert_eq!(third.commit, first.commit);
}

#[test]
fn owned_paths_are_replaced_and_other_workloads_kept() {
    let remote = Remote::bare();
    let cache = cache();
    let both = release(
        DeliveryMode::ArgoCd,
        &["acme"],
        &["api", "worker"],
        3,
        "1.0.0",
    );
    git::deliver(
        &remote.remote(),
        cache.path(),
        &change(&both),
        &meta("Deploy both"),
    )
    .unwrap();

    // Release 2 carries only api, now rendering 1 object instead of 3.
    let api_only = release(DeliveryMode::ArgoCd, &["acme"], &["api"], 1, "2.0.0");
    let out = git::deliver(
        &remote.remote(),
        cache.path(),
        &change(&api_only),
        &meta("Deploy api"),
    )
    .unwrap();
    assert!(out.created);

    let files = remote.files_at(&out.commit);
    let api: Vec<&str> = files
        .keys()
        .filter(|p| p.starts_with(&format!("{ROOT}/acme/api/")))
        .map(String::as_str)
        .collect();
    assert_eq!(
        api,
        [
            "projects/payments/production/acme/api/deployment-api-0.yaml",
            "projects/payments/production/acme/api/kustomization.yaml",
        ],
        "stale objects of the owned workload dir are gone"
    );
    assert!(
        String::from_utf8_lossy(&files[&format!("{ROOT}/acme/api/deployment-api-0.yaml")])
            .contains("2.0.0")
    );
    assert_eq!(
        files
            .keys()
            .filter(|p| p.starts_with(&format!("{ROOT}/acme/worker/")))
            .count(),
        4,
        "the other workload is untouched"
    );
    assert_eq!(
        files[&format!("{ROOT}/acme/kustomization.yaml")],
        layout::kustomization(["api", "worker"]),
        "the tenant index is recomputed from the resulting tree"
    );
}

#[test]
fn switching_delivery_mode_removes_the_old_gitops_object() {
    let remote = Remote::bare();
    let cache = cache();
    let argo = release(DeliveryMode::ArgoCd, &["acme"], &["api"], 1, "1.0.0");
    git::deliver(
        &remote.remote(),
        cache.path(),
        &change(&argo),
        &meta("Argo"),
    )
    .unwrap();
    let flux = release(DeliveryMode::Flux, &["acme"], &["api"], 1, "1.0.0");
    let out = git::deliver(
        &remote.remote(),
        cache.path(),
        &change(&flux),
        &meta("Flux"),
    )
    .unwrap();
    let files = remote.files_at(&out.commit);
    assert!(!files.contains_key(&format!("{ROOT}/_applications/acme.yaml")));
    assert!(files.contains_key(&format!("{ROOT}/_kustomizations/acme.yaml")));
}

#[test]
fn seeds_are_written_once_and_never_overwritten() {
    let remote = Remote::bare();
    let cache = cache();
    let mut change = git::Change {
        seeds: layout::project_skeleton("payments", None, &["staging".into(), "production".into()])
            .unwrap(),
        ..Default::default()
    };
    let first = git::deliver(&remote.remote(), cache.path(), &change, &meta("Initialize")).unwrap();
    assert!(first.created);
    let path = "projects/payments/environments/staging/values.yaml";
    assert!(remote.files_at(&first.commit).contains_key(path));

    // Someone edits the values in Git; initialising again keeps the edit.
    let edit = git::Change {
        files: [(path.to_string(), b"replicas: 3\n".to_vec())].into(),
        ..Default::default()
    };
    git::deliver(&remote.remote(), cache.path(), &edit, &meta("Edit")).unwrap();
    change.files.clear();
    let again = git::deliver(&remote.remote(), cache.path(), &change, &meta("Initialize")).unwrap();
    assert!(!again.created);
    assert_eq!(remote.files_at(&again.commit)[path], b"replicas: 3\n");
}

#[test]
fn a_concurrent_push_is_rebased_onto_and_retried() {
    let remote = Remote::bare();
    let ours = cache();
    let theirs = cache();
    let base = release(
        DeliveryMode::ArgoCd,
        &["acme", "globex"],
        &["api"],
        1,
        "1.0.0",
    );
    git::deliver(&remote.remote(), ours.path(), &change(&base), &meta("Base")).unwrap();

    let our_change = change(&release(
        DeliveryMode::ArgoCd,
        &["acme"],
        &["api"],
        1,
        "2.0.0",
    ));
    let their_change = change(&release(
        DeliveryMode::ArgoCd,
        &["globex"],
        &["api", "cron"],
        1,
        "3.0.0",
    ));
    let mut their_commit = None;
    let policy = RetryPolicy {
        max_attempts: 5,
        backoff: std::time::Duration::ZERO,
    };
    // Another writer pushes after our fetch and before our first push.
    let out = git::deliver_with(
        &remote.remote(),
        ours.path(),
        &our_change,
        &meta("Ours"),
        &policy,
        &mut |attempt| {
            if attempt == 1 {
                let o = git::deliver(
                    &remote.remote(),
                    theirs.path(),
                    &their_change,
                    &meta("Theirs"),
                )
                .unwrap();
                their_commit = Some(o.commit);
            }
        },
    )
    .unwrap();

    assert!(out.created);
    assert_eq!(out.attempts, 2);
    let history = remote.history();
    assert_eq!(history.len(), 3);
    assert_eq!(history[0], out.commit);
    assert_eq!(
        Some(&history[1]),
        their_commit.as_ref(),
        "our commit sits on top of theirs"
    );
    let files = remote.files_at(&out.commit);
    assert!(
        String::from_utf8_lossy(&files[&format!("{ROOT}/acme/api/deployment-api-0.yaml")])
            .contains("2.0.0")
    );
    assert!(files.contains_key(&format!("{ROOT}/globex/cron/deployment-cron-0.yaml")));
    assert_eq!(
        files[&format!("{ROOT}/globex/kustomization.yaml")],
        layout::kustomization(["api", "cron"])
    );
}

#[test]
fn a_branch_that_keeps_moving_gives_up_after_the_attempts() {
    let remote = Remote::bare();
    let ours = cache();
    let theirs = cache();
    let base = release(DeliveryMode::Direct, &["acme"], &["api"], 1, "1.0.0");
    git::deliver(&remote.remote(), ours.path(), &change(&base), &meta("Base")).unwrap();
    let policy = RetryPolicy {
        max_attempts: 3,
        backoff: std::time::Duration::ZERO,
    };
    let ours_change = change(&release(
        DeliveryMode::Direct,
        &["acme"],
        &["api"],
        1,
        "ours",
    ));
    let err = git::deliver_with(
        &remote.remote(),
        ours.path(),
        &ours_change,
        &meta("Ours"),
        &policy,
        &mut |attempt| {
            let v = format!("theirs-{attempt}");
            let c = change(&release(DeliveryMode::Direct, &["acme"], &["api"], 1, &v));
            git::deliver(&remote.remote(), theirs.path(), &c, &meta("Theirs")).unwrap();
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::Contention { attempts: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&remote.url()));
}

#[test]
fn restore_brings_back_an_earlier_tree_as_a_new_commit() {
    let remote = Remote::bare();
    let cache = cache();
    let v1 = release(
        DeliveryMode::ArgoCd,
        &["acme", "globex"],
        &["api", "worker"],
        2,
        "1.0.0",
    );
    let first = git::deliver(&remote.remote(), cache.path(), &change(&v1), &meta("v1")).unwrap();
    let v2 = release(
        DeliveryMode::ArgoCd,
        &["acme", "globex"],
        &["api"],
        1,
        "2.0.0",
    );
    let second = git::deliver(&remote.remote(), cache.path(), &change(&v2), &meta("v2")).unwrap();
    let before = remote.files_at(&second.commit);

    let prefix = format!("{ROOT}/acme/");
    let out = git::restore(
        &remote.remote(),
        cache.path(),
        &first.commit,
        std::slice::from_ref(&prefix),
        &meta("Rollback"),
    )
    .unwrap();

    assert!(out.created);
    assert_eq!(
        remote.history(),
        [
            out.commit.clone(),
            second.commit.clone(),
            first.commit.clone()
        ]
    );
    let under = |files: &std::collections::BTreeMap<String, Vec<u8>>, p: &str| {
        files
            .iter()
            .filter(|(k, _)| k.starts_with(p))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    let now = remote.files_at(&out.commit);
    assert_eq!(
        under(&now, &prefix),
        under(&remote.files_at(&first.commit), &prefix)
    );
    let globex = format!("{ROOT}/globex/");
    assert_eq!(
        under(&now, &globex),
        under(&before, &globex),
        "outside the prefix nothing moves"
    );

    // Restoring again changes nothing.
    let again = git::restore(
        &remote.remote(),
        cache.path(),
        &first.commit,
        &[prefix],
        &meta("Rollback"),
    )
    .unwrap();
    assert!(!again.created);
    assert_eq!(again.commit, out.commit);

    let err = git::restore(
        &remote.remote(),
        cache.path(),
        "0123456789abcdef0123456789abcdef01234567",
        &[globex],
        &meta("x"),
    )
    .unwrap_err();
    assert!(matches!(err, Error::UnknownCommit { .. }), "{err}");
}

#[test]
fn read_tree_returns_the_files_under_a_prefix() {
    let remote = Remote::bare();
    let cache = cache();
    assert!(
        git::read_tree(&remote.remote(), cache.path(), "")
            .unwrap()
            .is_empty()
    );
    let req = release(
        DeliveryMode::ArgoCd,
        &["acme", "globex"],
        &["api"],
        2,
        "1.0.0",
    );
    let change = change(&req);
    git::deliver(&remote.remote(), cache.path(), &change, &meta("v1")).unwrap();

    let all = git::read_tree(&remote.remote(), cache.path(), "").unwrap();
    assert_eq!(all, change.files);
    let acme = git::read_tree(&remote.remote(), cache.path(), &format!("{ROOT}/acme/")).unwrap();
    let expected: std::collections::BTreeMap<_, _> = change
        .files
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{ROOT}/acme/")))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(acme, expected);
    let one = format!("{ROOT}/acme/kustomization.yaml");
    assert_eq!(
        git::read_tree(&remote.remote(), cache.path(), &one)
            .unwrap()
            .len(),
        1
    );
    assert!(
        git::read_tree(&remote.remote(), cache.path(), "nowhere")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn plain_local_paths_and_non_bare_repositories() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let repo = git2::Repository::init(&work).unwrap();
    // HEAD of a fresh repository points at an unborn branch; make it `main`.
    repo.set_head("refs/heads/main").unwrap();
    let cache = cache();
    let change = change(&release(
        DeliveryMode::Direct,
        &["acme"],
        &["api"],
        1,
        "1.0.0",
    ));

    let checked_out = git::GitRemote::new(path_str(&work), "main");
    let err = git::deliver(&checked_out, cache.path(), &change, &meta("x")).unwrap_err();
    assert!(matches!(err, Error::CheckedOut { .. }), "{err}");
    assert!(err.to_string().contains("bare repository"), "{err}");

    let other_branch = git::GitRemote::new(path_str(&work), "gitops");
    let out = git::deliver(&other_branch, cache.path(), &change, &meta("x")).unwrap();
    assert_eq!(
        repo.refname_to_id("refs/heads/gitops").unwrap().to_string(),
        out.commit
    );

    // A plain path to a bare repository works like file://.
    let remote = Remote::bare();
    let plain = git::GitRemote::new(path_str(&remote.path), "main");
    let out = git::deliver(&plain, cache.path(), &change, &meta("x")).unwrap();
    assert_eq!(remote.head(), Some(out.commit));
}

#[test]
fn invalid_paths_are_refused_before_any_write() {
    let remote = Remote::bare();
    let cache = cache();
    for bad in ["../escape.yaml", "a//b.yaml", ".git/config", "/abs.yaml"] {
        let change = git::Change {
            files: [(bad.to_string(), b"x".to_vec())].into(),
            ..Default::default()
        };
        let err = git::deliver(&remote.remote(), cache.path(), &change, &meta("x")).unwrap_err();
        assert!(matches!(err, Error::InvalidPath { .. }), "{bad}: {err}");
    }
    assert_eq!(remote.head(), None);
}

/// A real Git server (`git daemon`, receive-pack enabled) whose pre-receive hook refuses every
/// push: the remote stays untouched and the error names it.
#[test]
fn a_push_the_server_refuses_leaves_the_remote_untouched() {
    let remote = Remote::bare();
    let cache = cache();
    let base = change(&release(
        DeliveryMode::ArgoCd,
        &["acme"],
        &["api"],
        1,
        "1.0.0",
    ));
    let first = git::deliver(&remote.remote(), cache.path(), &base, &meta("Base")).unwrap();

    let hook = remote.path.join("hooks/pre-receive");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'deliveries to main need a review' >&2\nexit 1\n",
    )
    .unwrap();
    let mut perms = std::fs::metadata(&hook).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&hook, perms).unwrap();
    let daemon = Daemon::start(remote.dir.path());
    let url = format!("git://127.0.0.1:{}/gitops.git", daemon.port);
    let served = git::GitRemote::new(url.clone(), "main");

    let refs_before = refs(&remote.path);
    let next = change(&release(
        DeliveryMode::ArgoCd,
        &["acme"],
        &["api"],
        1,
        "2.0.0",
    ));
    let err = git::deliver(&served, cache.path(), &next, &meta("Next")).unwrap_err();

    assert!(matches!(err, Error::Rejected { .. }), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
    assert!(err.to_string().contains("branch main"), "{err}");
    assert_eq!(remote.head(), Some(first.commit.clone()));
    assert_eq!(refs(&remote.path), refs_before);
    // The server still serves reads.
    assert_eq!(
        git::read_tree(&served, cache.path(), "").unwrap(),
        base.files
    );
}

fn refs(path: &std::path::Path) -> Vec<(String, String)> {
    let repo = git2::Repository::open(path).unwrap();
    let mut out: Vec<_> = repo
        .references()
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.name().unwrap().to_string(), format!("{:?}", r.target()))
        })
        .collect();
    out.sort();
    out
}

struct Daemon {
    child: std::process::Child,
    port: u16,
}

impl Daemon {
    fn start(base: &std::path::Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("git")
            .args([
                "daemon",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                "--reuseaddr",
                "--export-all",
                "--enable=receive-pack",
                &format!("--base-path={}", base.display()),
                &base.display().to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("git daemon");
        // Wait for the listener instead of sleeping a guessed time.
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self { child, port };
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("git daemon did not listen on port {port}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_folder_history_holds_only_the_commits_that_change_it() {
    let remote = Remote::bare();
    let cache = cache();
    let both = release(
        DeliveryMode::ArgoCd,
        &["acme", "globex"],
        &["api"],
        1,
        "1.0.0",
    );
    let first = git::deliver(&remote.remote(), cache.path(), &change(&both), &meta("v1")).unwrap();
    let acme = release(DeliveryMode::ArgoCd, &["acme"], &["api"], 1, "2.0.0");
    let second = git::deliver(&remote.remote(), cache.path(), &change(&acme), &meta("v2")).unwrap();

    let commits = |prefix: &str| {
        git::log_under(&remote.remote(), cache.path(), 10, prefix)
            .unwrap()
            .into_iter()
            .map(|e| e.commit)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        commits(&format!("{ROOT}/acme")),
        [second.commit.as_str(), first.commit.as_str()]
    );
    assert_eq!(commits(&format!("{ROOT}/globex")), [first.commit.as_str()]);
    assert!(commits("projects/elsewhere").is_empty());
    assert_eq!(
        git::log_under(&remote.remote(), cache.path(), 1, &format!("{ROOT}/acme"))
            .unwrap()
            .len(),
        1,
        "the limit counts the commits kept"
    );
}
