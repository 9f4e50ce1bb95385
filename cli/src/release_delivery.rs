//! What `diff` and `deliver` share: find the release, render it and lay it out for its
//! repository.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use gitopshq_controller::git::{Change, GitRemote};
use gitopshq_crds::release::Release;
use gitopshq_engine::catalog::Catalog;
use gitopshq_engine::layout::{self, GitOpsSettings, ReleaseLayout};
use gitopshq_engine::plan;
use kube::ResourceExt;

#[derive(Debug, Clone, clap::Args)]
pub struct RepoArgs {
    /// The GitOps repository: any URL git can push to, or a local path (a bare repository, or
    /// a repository whose target branch is not checked out). Defaults to the Project's
    /// spec.repository.url.
    #[arg(long, value_name = "REPO")]
    pub repo: Option<String>,
    /// Branch to read and commit to; defaults to the Project's spec.repository.branch.
    #[arg(long)]
    pub branch: Option<String>,
    /// Where clones of remotes are cached.
    #[arg(long, env = "GITOPSHQ_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl RepoArgs {
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .unwrap_or_else(std::env::temp_dir);
            base.join("gitopshq").join("git")
        })
    }
}

/// `NAME` or `NAMESPACE/NAME`; a bare name must be unique across projects.
pub fn find_release<'a>(catalog: &'a Catalog, name: &str) -> Result<&'a Release> {
    if let Some((namespace, name)) = name.split_once('/') {
        return catalog
            .release(namespace, name)
            .with_context(|| format!("release {namespace}/{name} not found in the input files"));
    }
    let found: Vec<&Release> = catalog.releases_named(name).collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => bail!(
            "release {name} not found in the input files: known releases are {}",
            known_releases(catalog)
        ),
        _ => bail!("release name {name} exists in several projects: pass PROJECT/{name}"),
    }
}

fn known_releases(catalog: &Catalog) -> String {
    let names: Vec<String> = catalog
        .releases
        .iter()
        .map(|r| format!("{}/{}", r.namespace().unwrap_or_default(), r.name_any()))
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Rendered and laid-out content of a Deploy or Promotion release.
pub struct PlannedRelease {
    /// `<root>/<environment>`: every path a release writes lies below it (seeds aside).
    pub environment_dir: String,
    pub layout: ReleaseLayout,
    pub remote: GitRemote,
    /// `environments/<env>/values.yaml` skeleton files, written only where missing.
    pub seeds: std::collections::BTreeMap<String, Vec<u8>>,
}

pub fn plan_release(
    catalog: &Catalog,
    release: &Release,
    repo: &RepoArgs,
) -> Result<PlannedRelease> {
    let project = release.namespace().unwrap_or_default();
    let remote = remote_for(catalog, &project, repo)?;
    let targets = plan::release_targets(catalog, release)?;
    let rendered = plan::render_target_files(catalog, targets)?;
    let repository = plan::repository_ref(catalog, &project, Some(&remote.url))?;
    let path = repository.path.clone();
    let root = plan::repository_root(catalog, &project)?;
    let environment_dir = format!("{root}/{}", release.spec.environment);
    let request = plan::layout_request(
        catalog,
        &project,
        &release.spec.environment,
        rendered,
        repository,
        GitOpsSettings::default(),
    )?;
    let layout = layout::release_layout_owned(request)?;
    let environments = catalog
        .project(&project)
        .map(|p| p.spec.environments.clone())
        .unwrap_or_default();
    let seeds = layout::project_skeleton(&project, path.as_deref(), &environments)?;
    Ok(PlannedRelease {
        environment_dir,
        layout,
        remote,
        seeds,
    })
}

pub fn remote_for(catalog: &Catalog, project: &str, repo: &RepoArgs) -> Result<GitRemote> {
    let reference = plan::repository_ref(catalog, project, repo.repo.as_deref())?;
    if reference.url.is_empty() {
        bail!("project {project} has no spec.repository.url: set it or pass --repo");
    }
    let branch = repo.branch.clone().unwrap_or(reference.branch);
    Ok(GitRemote::new(local_url(&reference.url), branch))
}

/// Relative local paths are made absolute so the cache key does not depend on the working
/// directory.
fn local_url(url: &str) -> String {
    let looks_remote = url.contains("://") || url.contains('@') || url.starts_with('/');
    if looks_remote {
        return url.to_string();
    }
    std::fs::canonicalize(url)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| url.to_string())
}

impl PlannedRelease {
    /// What the delivery writes; the layout's files are moved, not copied.
    pub fn into_change(self) -> (GitRemote, Change) {
        let mut change = Change::from(self.layout);
        change.seeds = self.seeds;
        (self.remote, change)
    }
}
