//! What `diff` and `deliver` share: find the release, render it and lay it out for its
//! repository.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use gitopshq_crds::release::Release;
use gitopshq_delivery::git::GitRemote;
use gitopshq_engine::catalog::Catalog;
use kube::ResourceExt;

#[derive(Debug, Clone, clap::Args)]
pub struct RepoArgs {
    /// The GitOps repository: any URL git can fetch (and, to deliver, push to), or a local path
    /// (a bare repository, or a repository whose target branch is not checked out). Defaults to
    /// the Project's spec.repository.url.
    #[arg(long, value_name = "REPO")]
    pub repo: Option<String>,
    /// Branch; defaults to the Project's spec.repository.branch.
    #[arg(long)]
    pub branch: Option<String>,
    /// Where clones of remotes are cached.
    #[arg(long, env = "GITOPSHQ_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl RepoArgs {
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(gitopshq_delivery::git::default_cache_dir)
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

/// `catalog` with the states recorded in `remote` for the release's environment: what the
/// release starts from. Offline and in the controller alike, Git is where they are read.
pub fn with_recorded_states(
    catalog: &Catalog,
    release: &Release,
    remote: &GitRemote,
    repo: &RepoArgs,
) -> Result<Catalog> {
    let mut catalog = catalog.clone();
    gitopshq_delivery::load_recorded_states(
        &mut catalog,
        &release.namespace().unwrap_or_default(),
        &release.spec.environment,
        remote,
        &repo.cache_dir(),
    )?;
    Ok(catalog)
}

pub fn remote_for(catalog: &Catalog, project: &str, repo: &RepoArgs) -> Result<GitRemote> {
    let url = repo.repo.as_deref().map(local_url);
    let mut remote =
        gitopshq_delivery::remote_for(catalog, project, url.as_deref(), repo.branch.as_deref())?;
    remote.url = local_url(&remote.url);
    Ok(remote)
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
