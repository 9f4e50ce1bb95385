//! Shared fixtures of the Git delivery tests: real bare repositories in temp dirs.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::Repository;
use gitopshq_delivery::git::{Change, CommitMeta, GitRemote, Identity};
use gitopshq_engine::layout::{
    self, ClusterTarget, CommitInfo, DeliveryMode, GitOpsSettings, LayoutRequest, RenderedFile,
    RepositoryRef, TenantRender, Trailers, WorkloadRender,
};

pub struct Remote {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Remote {
    pub fn bare() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gitops.git");
        Repository::init_bare(&path).unwrap();
        Self { dir, path }
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    pub fn remote(&self) -> GitRemote {
        GitRemote::new(self.url(), "main")
    }

    pub fn head(&self) -> Option<String> {
        let repo = Repository::open(&self.path).unwrap();
        repo.find_reference("refs/heads/main")
            .ok()
            .and_then(|r| r.target())
            .map(|o| o.to_string())
    }

    /// First-parent history, newest first.
    pub fn history(&self) -> Vec<String> {
        let repo = Repository::open(&self.path).unwrap();
        let Ok(head) = repo.refname_to_id("refs/heads/main") else {
            return vec![];
        };
        let mut walk = repo.revwalk().unwrap();
        walk.push(head).unwrap();
        walk.map(|o| o.unwrap().to_string()).collect()
    }

    /// Every file of the commit, read straight from the remote repository.
    pub fn files_at(&self, commit: &str) -> BTreeMap<String, Vec<u8>> {
        let repo = Repository::open(&self.path).unwrap();
        let tree = repo
            .revparse_single(commit)
            .unwrap()
            .peel_to_tree()
            .unwrap();
        let mut out = BTreeMap::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, e| {
            if e.kind() == Some(git2::ObjectType::Blob) {
                let blob = repo.find_blob(e.id()).unwrap();
                out.insert(
                    format!("{dir}{}", e.name().unwrap()),
                    blob.content().to_vec(),
                );
            }
            git2::TreeWalkResult::Ok
        })
        .unwrap();
        out
    }

    pub fn message(&self, commit: &str) -> String {
        let repo = Repository::open(&self.path).unwrap();
        let c = repo
            .revparse_single(commit)
            .unwrap()
            .peel_to_commit()
            .unwrap();
        c.message().unwrap().to_string()
    }
}

pub fn meta(title: &str) -> CommitMeta {
    let info = CommitInfo {
        title: title.into(),
        notes: Some("Rolled out by the release pipeline.".into()),
        trailers: Trailers {
            release: format!("payments/{}", title.to_lowercase().replace(' ', "-")),
            environment: "production".into(),
            rendered_digest: "ab".repeat(32),
            approved_by: vec!["alice".into(), "bob".into()],
            policies: vec![layout::PolicyTrailer {
                policy: "no-latest".into(),
                verdict: "Pass".into(),
            }],
            break_glass: None,
            previous_audit: None,
            other: vec![],
        },
    };
    CommitMeta {
        message: layout::commit_message(&info),
        author: Identity {
            name: "GitOpsHQ".into(),
            email: "gitopshq@example.com".into(),
        },
        committer: None,
        time: Some(1_767_225_600),
        signing_key: None,
    }
}

/// `tenants` × `workloads`, each workload with `objects` small Deployment-like files whose
/// content includes `version`.
pub fn release(
    delivery: DeliveryMode,
    tenants: &[&str],
    workloads: &[&str],
    objects: usize,
    version: &str,
) -> LayoutRequest {
    LayoutRequest {
        project: "payments".into(),
        repository: RepositoryRef {
            url: "https://git.example.com/gitops.git".into(),
            branch: "main".into(),
            path: None,
        },
        delivery,
        environment: "production".into(),
        tenants: tenants
            .iter()
            .map(|t| TenantRender {
                name: (*t).into(),
                cluster: ClusterTarget {
                    name: format!("{t}-cluster"),
                    ..Default::default()
                },
                namespace: format!("{t}-ns"),
                workloads: workloads
                    .iter()
                    .map(|w| WorkloadRender {
                        name: (*w).into(),
                        files: (0..objects).map(|i| object(t, w, i, version)).collect(),
                        state: None,
                    })
                    .collect(),
            })
            .collect(),
        settings: GitOpsSettings::default(),
    }
}

pub fn object(tenant: &str, workload: &str, i: usize, version: &str) -> RenderedFile {
    let kinds = ["deployment", "service", "configmap", "serviceaccount"];
    let kind = kinds[i % kinds.len()];
    RenderedFile {
        file_name: format!("{kind}-{workload}-{i}.yaml"),
        yaml: format!(
            "apiVersion: v1\nkind: {kind}\nmetadata:\n  name: {workload}-{i}\n  namespace: {tenant}-ns\n  labels:\n    app: {workload}\n    version: \"{version}\"\n"
        )
        .into_bytes(),
        secret: None,
    }
}

pub fn change(req: &LayoutRequest) -> Change {
    layout::release_layout(req).unwrap().into()
}

pub fn cache() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}
