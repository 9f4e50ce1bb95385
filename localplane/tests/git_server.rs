//! The Git server speaks smart HTTP to the machine's git and to libgit2, both ways.

mod common;

use std::path::Path;
use std::process::Command;

use common::git;
use gitopshq_localplane::GitServer;

fn head_of(repository: &Path) -> String {
    git(repository, &["rev-parse", "refs/heads/main"])
}

#[test]
fn git_clones_and_pushes_over_http() {
    let root = tempfile::tempdir().unwrap();
    let server = GitServer::start(root.path()).expect("the Git server starts");
    let bare = server.create_bare_repository("team/gitops.git").unwrap();
    let work = tempfile::tempdir().unwrap();

    let url = server.url("team/gitops.git");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    git(work.path(), &["clone", "--quiet", &url, "clone"]);
    let clone = work.path().join("clone");
    std::fs::write(clone.join("README.md"), "first\n").unwrap();
    git(&clone, &["add", "README.md"]);
    git(&clone, &["commit", "--quiet", "-m", "first"]);
    git(&clone, &["push", "--quiet", "origin", "HEAD:main"]);
    assert_eq!(head_of(&bare), git(&clone, &["rev-parse", "HEAD"]));

    // A second clone sees the pushed commit: fetches are served too, not only pushes.
    git(work.path(), &["clone", "--quiet", &url, "again"]);
    assert_eq!(
        std::fs::read_to_string(work.path().join("again/README.md")).unwrap(),
        "first\n"
    );

    // A missing repository is a 404 that git reports, not a hang or a 500.
    let out = Command::new("git")
        .args(["ls-remote", &server.url("missing.git")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("not found"), "{said}");
}

#[test]
fn libgit2_pushes_over_http() {
    let root = tempfile::tempdir().unwrap();
    let server = GitServer::start(root.path()).expect("the Git server starts");
    let bare = server.create_bare_repository("gitops.git").unwrap();
    let work = tempfile::tempdir().unwrap();

    let repo = git2::Repository::init(work.path()).unwrap();
    std::fs::write(work.path().join("app.yaml"), "replicas: 3\n").unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(Path::new("app.yaml")).unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let who = git2::Signature::now("Test", "test@example.com").unwrap();
    let commit = repo
        .commit(Some("HEAD"), &who, &who, "first", &tree, &[])
        .unwrap();
    let mut remote = repo
        .remote_anonymous(&server.url("gitops.git"))
        .expect("an http remote");
    let refspec = format!("{}:refs/heads/main", repo.head().unwrap().name().unwrap());
    let mut rejected = Vec::new();
    let mut callbacks = git2::RemoteCallbacks::new();
    callbacks.push_update_reference(|reference, status| {
        if let Some(status) = status {
            rejected.push(format!("{reference}: {status}"));
        }
        Ok(())
    });
    let mut options = git2::PushOptions::new();
    options.remote_callbacks(callbacks);
    remote
        .push(&[refspec.as_str()], Some(&mut options))
        .expect("libgit2 pushes over smart HTTP");
    drop(options);
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(head_of(&bare), commit.to_string());

    // And fetches back what it pushed.
    let clone_dir = tempfile::tempdir().unwrap();
    let clone = git2::Repository::clone(&server.url("gitops.git"), clone_dir.path())
        .expect("libgit2 clones over smart HTTP");
    assert_eq!(
        clone.head().unwrap().target().unwrap().to_string(),
        commit.to_string()
    );
}

#[test]
fn a_fixed_address_is_served_and_a_taken_one_is_reported_as_such() {
    let root = tempfile::tempdir().unwrap();
    // The address of a server on a free port is free again once that server stops, unless
    // another process takes it meanwhile (an outgoing connection's ephemeral port, on a busy
    // machine): then another free address is tried.
    let (server, addr) = (0..10)
        .find_map(|_| {
            let addr: std::net::SocketAddr = {
                let probe = GitServer::start(root.path()).unwrap();
                probe
                    .base_url()
                    .trim_start_matches("http://")
                    .parse()
                    .unwrap()
            };
            match GitServer::start_on(root.path(), addr) {
                Ok(server) => Some((server, addr)),
                Err(error) if error.is_address_in_use() => None,
                Err(error) => panic!("the Git server starts on {addr}: {error:?}"),
            }
        })
        .expect("the Git server starts on one of ten free addresses");
    assert_eq!(server.base_url(), format!("http://{addr}"));
    server.create_bare_repository("gitops.git").unwrap();
    let heads = git(root.path(), &["ls-remote", &server.url("gitops.git")]);
    assert_eq!(heads, "", "an empty repository has no refs");

    let taken = GitServer::start_on(root.path(), addr).expect_err("the address is in use");
    assert!(taken.is_address_in_use(), "{taken:?}");
}
