//! The repository browser: a project's GitOps repository read through the server's clone
//! cache (its own fetches, never the person's Git credentials), shown only to people who may
//! read the project: history with the GitOpsHQ trailers, one commit's diff, and the tree at
//! any commit with its files.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State as Shared};
use axum::http::StatusCode;
use gitopshq_delivery::git::{self, GitRemote, LogEntry};
use gitopshq_engine::plan;
use gitopshq_engine::preview::{redacted_file, unified_files_diff};
use gitopshq_engine::repository_view::{folder_entries, trailer_rows};
use serde::Deserialize;

use super::State;
use super::api;
use super::auth::Person;
use super::error::{ApiError, ApiResult};
use super::pages::catalog_of;

type Answer<T> = ApiResult<Json<T>>;

/// Commits the history shows, newest first.
const HISTORY: usize = 100;
/// Commits of the project searched for one named by the browser (its history goes back this
/// far).
const SEARCHED: usize = 5_000;
/// A file larger than this is not shown (rendered objects are far smaller).
const LARGEST_FILE: usize = 1 << 20;

/// The project's repository, its branch and the folder GitOpsHQ writes, as the person sees
/// the project.
struct Repository {
    remote: GitRemote,
    root: String,
    project: String,
}

async fn repository_of(person: &Person, project: &str) -> ApiResult<Repository> {
    let catalog = catalog_of(person, project).await?;
    let reference = plan::repository_ref(&catalog, project, None)?;
    if reference.url.is_empty() {
        return Err(ApiError::bad_request(
            format!("project {project} names no GitOps repository (spec.repository.url)"),
            "set spec.repository.url on the Project",
        ));
    }
    Ok(Repository {
        remote: GitRemote::new(reference.url, reference.branch),
        root: plan::repository_root(&catalog, project)?,
        project: project.to_string(),
    })
}

/// Runs a read of the repository off the request's thread.
async fn read<T: Send + 'static>(
    repository: &Repository,
    read: impl FnOnce(&GitRemote) -> Result<T, git::Error> + Send + 'static,
) -> ApiResult<T> {
    let remote = repository.remote.clone();
    let what = format!("{} ({})", remote.url, remote.branch);
    tokio::task::spawn_blocking(move || read(&remote))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None))?
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!(
                    "cannot read the GitOps repository {what}: {}",
                    gitopshq_engine::error::Chain(&e)
                ),
                Some(
                    "check that the repository is reachable from the dashboard server, then reload",
                ),
            )
        })
}

fn row(entry: &LogEntry, project: &str) -> api::CommitRow {
    api::CommitRow {
        commit: entry.commit.clone(),
        short: entry.commit.chars().take(12).collect(),
        title: entry.parsed.title.clone(),
        author: entry.author.name.clone(),
        time: jiff::Timestamp::from_second(entry.time)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        trailers: trailer_rows(&entry.parsed, project),
    }
}

pub async fn history(
    person: Person,
    Shared(state): Shared<Arc<State>>,
    Path(project): Path<String>,
) -> Answer<api::RepositoryLog> {
    let repository = repository_of(&person, &project).await?;
    let cache = state.git_cache.clone();
    let root = repository.root.clone();
    let log = read(&repository, move |remote| {
        git::log_under(remote, &cache, HISTORY, &root)
    })
    .await?;
    Ok(Json(api::RepositoryLog {
        url: repository.remote.url.clone(),
        branch: repository.remote.branch.clone(),
        root: repository.root.clone(),
        commits: log.iter().map(|e| row(e, &repository.project)).collect(),
    }))
}

#[derive(Debug, Deserialize)]
pub struct TreeQuery {
    pub commit: Option<String>,
    pub path: Option<String>,
}

pub async fn tree(
    person: Person,
    Shared(state): Shared<Arc<State>>,
    Path(project): Path<String>,
    Query(query): Query<TreeQuery>,
) -> Answer<api::RepositoryTree> {
    let repository = repository_of(&person, &project).await?;
    let path = query
        .path
        .map(|p| p.trim_matches('/').to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| repository.root.clone());
    // The repository may hold other projects: only this project's folder is shown.
    if path != repository.root && !path.starts_with(&format!("{}/", repository.root)) {
        return Err(ApiError::bad_request(
            format!(
                "{path} is outside project {project}'s folder {} of the repository",
                repository.root
            ),
            "browse below the project's folder",
        ));
    }
    let cache = state.git_cache.clone();
    let root = repository.root.clone();
    let (commit, files) = read(&repository, move |remote| {
        let commit = match query.commit {
            Some(commit) => commit,
            None => match git::log_under(remote, &cache, 1, &root)?.into_iter().next() {
                Some(head) => head.commit,
                None => return Ok((None, BTreeMap::new())),
            },
        };
        let files = git::read_tree_at(remote, &cache, Some(&commit), &root)?;
        Ok((Some(commit), files))
    })
    .await?;
    let file = files.get(&path).map(|bytes| {
        if bytes.len() > LARGEST_FILE {
            format!("({} bytes: too large to show here)", bytes.len())
        } else {
            // A Secret's values are shown as the release preview shows them: redacted.
            redacted_file(bytes).unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned())
        }
    });
    let entries = if file.is_some() {
        Vec::new()
    } else {
        folder_entries(files.keys().map(String::as_str), &path)
    };
    if commit.is_some() && file.is_none() && entries.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{path} does not exist in the repository at this commit"),
            Some("pick a folder of the tree, or another commit"),
        ));
    }
    Ok(Json(api::RepositoryTree {
        commit,
        root: repository.root.clone(),
        path,
        entries,
        file,
    }))
}

pub async fn commit(
    person: Person,
    Shared(state): Shared<Arc<State>>,
    Path((project, commit)): Path<(String, String)>,
) -> Answer<api::CommitDetail> {
    let repository = repository_of(&person, &project).await?;
    let cache = state.git_cache.clone();
    let root = repository.root.clone();
    let wanted = commit.clone();
    let found = read(&repository, move |remote| {
        let log = git::log_under(remote, &cache, SEARCHED, &root)?;
        let Some(entry) = log
            .into_iter()
            .find(|e| e.commit == wanted || e.commit.starts_with(&wanted))
        else {
            return Ok(None);
        };
        let after = git::read_tree_at(remote, &cache, Some(&entry.commit), &root)?;
        let before = match entry.parents.first() {
            Some(parent) => git::read_tree_at(remote, &cache, Some(parent), &root)?,
            None => BTreeMap::new(),
        };
        Ok(Some((entry, before, after)))
    })
    .await?;
    let Some((entry, before, after)) = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "commit {commit} is not among the newest {SEARCHED} of {} ({})",
                repository.remote.url, repository.remote.branch
            ),
            Some("pick a commit from the history"),
        ));
    };
    Ok(Json(api::CommitDetail {
        commit: row(&entry, &repository.project),
        notes: entry.parsed.notes.clone(),
        diff: unified_files_diff(&before, &after),
    }))
}
