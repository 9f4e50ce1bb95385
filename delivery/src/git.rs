//! Git delivery: writes a release's files into the project's GitOps repository as one commit.
//!
//! Every operation works on a bare cache of the remote under a caller-chosen directory, builds
//! trees in memory (no work tree, no index on disk), writes the new objects as a single pack and
//! pushes. A repository on this machine (`file://` or a plain path) needs no cache and no
//! transport: the pack goes straight into its object store and the branch moves with a
//! compare-and-swap, which fails exactly when a push would be rejected as non-fast-forward.
//! History is only ever appended to: a rollback is a new commit ([`restore`]).
//!
//! The functions block (libgit2 is synchronous); reconcilers call them from
//! `tokio::task::spawn_blocking`. Calls for the same remote and cache directory are serialised
//! inside the process; across processes the design already gives every project one writer (one
//! Lease per shard).
//!
//! A [`CommitMeta`] with a signing key gives a signed commit (an SSH signature in the `gpgsig`
//! header, as `git -c gpg.format=ssh commit -S` writes it); each attempt signs its own commit,
//! so a rebase after a lost race is signed too.
//!
//! Remotes: anything libgit2 can push to — `https://`, `ssh://`/scp-like, `git://`, `file://`
//! and plain local paths. A local **non-bare** repository is accepted unless the target branch
//! is checked out there: its work tree would silently go stale, so delivery refuses and asks
//! for a bare repository or another branch.

mod codec;
mod pack;
mod remote;
mod signing;
mod tree;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use git2::{ObjectType, Oid, Repository};
use gitopshq_engine::layout::{self, ParsedCommit, ReleaseLayout};

pub use remote::Credentials;
pub use signing::{KeyOrigin, SigningKey, SigningKeyError};
pub use tree::forget_cached_trees;

use pack::Object;
use tree::TreeEditor;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where clones of GitOps repositories are kept: `$XDG_CACHE_HOME/gitopshq/git`, or
/// `~/.cache/gitopshq/git`.
pub fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("gitopshq").join("git")
}

/// The repository and branch a project delivers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitRemote {
    pub url: String,
    pub branch: String,
    pub credentials: Option<Credentials>,
}

impl GitRemote {
    pub fn new(url: impl Into<String>, branch: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            branch: branch.into(),
            credentials: None,
        }
    }

    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }
}

/// Author and committer of a delivery commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

/// Message and identities of the commit a delivery creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitMeta {
    /// Usually [`layout::commit_message`].
    pub message: String,
    pub author: Identity,
    /// `None`: the author commits.
    pub committer: Option<Identity>,
    /// Seconds since the epoch, UTC; `None`: now. Fixed times make commits reproducible.
    pub time: Option<i64>,
    /// Signs the commit when set.
    pub signing_key: Option<Arc<SigningKey>>,
}

/// What a delivery changes in the repository.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// Repository-relative path → content, written as regular files.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Owned paths: one ending in `/` is a directory whose previous content is dropped before
    /// `files` are written; any other is one file, dropped unless `files` holds it.
    pub owned: Vec<String>,
    /// Directories whose `kustomization.yaml` is recomputed from the resulting tree (it lists
    /// the immediate subdirectories that hold one).
    pub index_dirs: Vec<String>,
    /// Written only where the tree has no file yet (the project skeleton).
    pub seeds: BTreeMap<String, Vec<u8>>,
}

impl From<ReleaseLayout> for Change {
    fn from(l: ReleaseLayout) -> Self {
        Self {
            files: l.files,
            owned: l.owned,
            index_dirs: l.index_dirs,
            seeds: BTreeMap::new(),
        }
    }
}

/// Result of [`deliver`] or [`restore`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// Full SHA of the branch head after the call (the new commit, or the unchanged head).
    pub commit: String,
    /// `false` when the tree already held exactly this content: no empty commit is made.
    pub created: bool,
    /// Push attempts, counting retries after another writer moved the branch.
    pub attempts: u32,
}

/// How often to rebase and retry when another writer pushed first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// Waited after the n-th lost race: `n × backoff`.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            backoff: Duration::from_millis(200),
        }
    }
}

/// One commit of the branch, newest first in [`log`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub commit: String,
    pub parents: Vec<String>,
    /// Id of the commit's tree (the audit chain covers it).
    pub tree: String,
    pub author: Identity,
    /// Commit time, seconds since the epoch.
    pub time: i64,
    pub message: String,
    /// Title, notes and GitOpsHQ trailers of the message.
    pub parsed: ParsedCommit,
}

impl LogEntry {
    /// What the audit chain and the signature check read of the commit.
    pub fn into_record(self) -> gitopshq_engine::audit::CommitRecord {
        gitopshq_engine::audit::CommitRecord {
            commit: self.commit,
            parents: self.parents,
            tree: self.tree,
            time: self.time,
            author: self.author.name,
            parsed: self.parsed,
        }
    }
}

/// Delivery errors. Each names the remote and branch and says what to do next; variant names
/// are stable (metric labels).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot use the local cache {path} of {url} (check that the cache directory is writable, or delete it to start afresh)"
    )]
    Cache {
        url: String,
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error(
        "cannot fetch branch {branch} from {url} (check the repository URL, network access and the credentials Secret)"
    )]
    Fetch {
        url: String,
        branch: String,
        #[source]
        source: git2::Error,
    },
    #[error(
        "cannot push branch {branch} to {url} (check that the credentials grant write access to the repository)"
    )]
    Push {
        url: String,
        branch: String,
        #[source]
        source: git2::Error,
    },
    #[error(
        "{url} rejected the push to branch {branch}: {message}; check the repository's branch protection and server hooks"
    )]
    Rejected {
        url: String,
        branch: String,
        message: String,
    },
    #[error(
        "branch {branch} of {url} moved under each of {attempts} push attempts; another writer is busy on it, retry later"
    )]
    Contention {
        url: String,
        branch: String,
        attempts: u32,
    },
    #[error(
        "branch {branch} is checked out in the non-bare repository {url}; deliver to a bare repository (git init --bare) or to another branch"
    )]
    CheckedOut { url: String, branch: String },
    #[error(
        "invalid repository path {path:?} for {url} (branch {branch}): paths are relative, '/'-separated, without '.', '..' or .git"
    )]
    InvalidPath {
        url: String,
        branch: String,
        path: String,
    },
    #[error(
        "commit {commit} is not in the history of branch {branch} of {url}; pick a commit from `log`"
    )]
    UnknownCommit {
        url: String,
        branch: String,
        commit: String,
    },
    #[error("git failed while {action} for {url} (branch {branch})")]
    Git {
        url: String,
        branch: String,
        action: &'static str,
        #[source]
        source: git2::Error,
    },
}

impl Error {
    fn git<'a>(
        remote: &'a GitRemote,
        action: &'static str,
    ) -> impl FnOnce(git2::Error) -> Error + 'a {
        move |source| Error::Git {
            url: remote.url.clone(),
            branch: remote.branch.clone(),
            action,
            source,
        }
    }
}

/// Writes `change` on top of the branch head as one commit and pushes it; see the module docs.
pub fn deliver(
    remote: &GitRemote,
    cache_dir: &Path,
    change: &Change,
    meta: &CommitMeta,
) -> Result<DeliveryOutcome> {
    deliver_with(
        remote,
        cache_dir,
        change,
        meta,
        &RetryPolicy::default(),
        &mut |_| {},
    )
}

/// [`deliver`] with an explicit retry policy and a callback run right before each push
/// (attempt number from 1): where metrics are taken, and where tests inject a racing writer.
pub fn deliver_with(
    remote: &GitRemote,
    cache_dir: &Path,
    change: &Change,
    meta: &CommitMeta,
    policy: &RetryPolicy,
    before_push: &mut dyn FnMut(u32),
) -> Result<DeliveryOutcome> {
    deliver_inner(remote, cache_dir, change, meta, None, policy, before_push)
}

/// The message of a chained commit, given the `GitOpsHQ-Previous-Audit` value for the commit
/// it will sit on.
pub type ChainedMessage<'a> = dyn Fn(&str) -> String + 'a;

/// [`deliver`] of a delivery commit that carries the audit chain: `message` is asked for the
/// commit message with the chain value ([`gitopshq_engine::audit::chain_value`]) of the commit
/// it will actually sit on, on every attempt, so a rebase after a lost race chains correctly.
/// `meta.message` is not used.
pub fn deliver_chained(
    remote: &GitRemote,
    cache_dir: &Path,
    change: &Change,
    meta: &CommitMeta,
    message: &ChainedMessage<'_>,
) -> Result<DeliveryOutcome> {
    deliver_inner(
        remote,
        cache_dir,
        change,
        meta,
        Some(message),
        &RetryPolicy::default(),
        &mut |_| {},
    )
}

fn deliver_inner(
    remote: &GitRemote,
    cache_dir: &Path,
    change: &Change,
    meta: &CommitMeta,
    message: Option<&ChainedMessage<'_>>,
    policy: &RetryPolicy,
    before_push: &mut dyn FnMut(u32),
) -> Result<DeliveryOutcome> {
    for path in change
        .files
        .keys()
        .chain(change.seeds.keys())
        .chain(&change.owned)
        .chain(&change.index_dirs)
    {
        tree::check_path(path.trim_end_matches('/')).map_err(|()| Error::InvalidPath {
            url: remote.url.clone(),
            branch: remote.branch.clone(),
            path: path.clone(),
        })?;
    }
    // Blob ids once, on every core, for every attempt.
    let contents: Vec<&[u8]> = change.files.values().map(Vec::as_slice).collect();
    let ids = pack::hash_blobs(&contents).map_err(Error::git(remote, "hashing the files"))?;
    commit_loop(
        remote,
        cache_dir,
        meta,
        message,
        policy,
        before_push,
        &|_repo, editor| {
            apply_change(editor, change, &ids).map_err(Error::git(remote, "applying the change"))
        },
    )
}

/// A new commit whose content under each of `prefixes` equals that at `from_commit` (a path
/// absent there is removed). Paths outside the prefixes keep their current content; history is
/// not rewritten. A prefix names a directory (with or without a trailing `/`) or a file.
pub fn restore(
    remote: &GitRemote,
    cache_dir: &Path,
    from_commit: &str,
    prefixes: &[String],
    meta: &CommitMeta,
) -> Result<DeliveryOutcome> {
    restore_inner(remote, cache_dir, from_commit, prefixes, meta, None)
}

/// [`restore`] as a chained delivery commit; see [`deliver_chained`].
pub fn restore_chained(
    remote: &GitRemote,
    cache_dir: &Path,
    from_commit: &str,
    prefixes: &[String],
    meta: &CommitMeta,
    message: &ChainedMessage<'_>,
) -> Result<DeliveryOutcome> {
    restore_inner(
        remote,
        cache_dir,
        from_commit,
        prefixes,
        meta,
        Some(message),
    )
}

fn restore_inner(
    remote: &GitRemote,
    cache_dir: &Path,
    from_commit: &str,
    prefixes: &[String],
    meta: &CommitMeta,
    message: Option<&ChainedMessage<'_>>,
) -> Result<DeliveryOutcome> {
    for p in prefixes {
        tree::check_path(p.trim_end_matches('/')).map_err(|()| Error::InvalidPath {
            url: remote.url.clone(),
            branch: remote.branch.clone(),
            path: p.clone(),
        })?;
    }
    let unknown = || Error::UnknownCommit {
        url: remote.url.clone(),
        branch: remote.branch.clone(),
        commit: from_commit.to_string(),
    };
    commit_loop(
        remote,
        cache_dir,
        meta,
        message,
        &RetryPolicy::default(),
        &mut |_| {},
        &|repo, editor| {
            let source = repo
                .revparse_single(from_commit)
                .and_then(|o| o.peel_to_tree())
                .map_err(|_| unknown())?;
            for p in prefixes {
                let p = p.trim_end_matches('/');
                let entry = source
                    .get_path(Path::new(p))
                    .ok()
                    .map(|e| (e.id(), e.filemode()));
                editor
                    .graft(p, entry)
                    .map_err(Error::git(remote, "reading the tree"))?;
            }
            Ok(())
        },
    )
}

/// Every file under `prefix` (empty: the whole tree) at the branch head, keyed by
/// repository-relative path. An empty remote gives an empty map.
pub fn read_tree(
    remote: &GitRemote,
    cache_dir: &Path,
    prefix: &str,
) -> Result<BTreeMap<String, Vec<u8>>> {
    read_tree_at(remote, cache_dir, None, prefix)
}

/// [`read_tree`] at `commit` (a SHA of the branch's history) instead of the head.
pub fn read_tree_at(
    remote: &GitRemote,
    cache_dir: &Path,
    commit: Option<&str>,
    prefix: &str,
) -> Result<BTreeMap<String, Vec<u8>>> {
    read_files(remote, cache_dir, commit, prefix, &|_| true)
}

/// The files named `file_name` under `prefix` at the branch head, as [`read_tree`] keys them;
/// no other blob is read.
pub fn read_named(
    remote: &GitRemote,
    cache_dir: &Path,
    prefix: &str,
    file_name: &str,
) -> Result<BTreeMap<String, Vec<u8>>> {
    read_files(remote, cache_dir, None, prefix, &|name| name == file_name)
}

fn read_files(
    remote: &GitRemote,
    cache_dir: &Path,
    commit: Option<&str>,
    prefix: &str,
    keep: &dyn Fn(&str) -> bool,
) -> Result<BTreeMap<String, Vec<u8>>> {
    let _guard = remote::lock(cache_dir, &remote.url);
    let target = remote::target(remote, false)?;
    let repo = remote::open(remote, cache_dir, &target)?;
    let Some(head) = remote::head(&repo, remote, &target)? else {
        return Ok(BTreeMap::new());
    };
    let at = match commit {
        None => head,
        Some(sha) => Oid::from_str(sha)
            .ok()
            .filter(|oid| repo.find_commit(*oid).is_ok())
            .ok_or_else(|| Error::UnknownCommit {
                url: remote.url.clone(),
                branch: remote.branch.clone(),
                commit: sha.to_string(),
            })?,
    };
    let read = || -> Result<BTreeMap<String, Vec<u8>>, git2::Error> {
        let tree = repo.find_commit(at)?.tree()?;
        let prefix = prefix.trim_matches('/');
        let mut out = BTreeMap::new();
        if prefix.is_empty() {
            tree::collect_blobs(&repo, &tree, "", keep, &mut out)?;
            return Ok(out);
        }
        let Ok(entry) = tree.get_path(Path::new(prefix)) else {
            return Ok(out);
        };
        match entry.kind() {
            Some(git2::ObjectType::Tree) => {
                let sub = repo.find_tree(entry.id())?;
                tree::collect_blobs(&repo, &sub, prefix, keep, &mut out)?;
            }
            Some(git2::ObjectType::Blob) => {
                out.insert(
                    prefix.to_string(),
                    repo.find_blob(entry.id())?.content().to_vec(),
                );
            }
            _ => {}
        }
        Ok(out)
    };
    read().map_err(Error::git(remote, "reading the tree"))
}

/// The tree id of each of `dirs` (repository-relative folders) at `commit`, `None` where the
/// commit has no such folder. A `commit` the local copy does not know yet is fetched once.
pub fn tree_ids_at(
    remote: &GitRemote,
    cache_dir: &Path,
    commit: &str,
    dirs: &[String],
) -> Result<Vec<Option<String>>> {
    at_commit(remote, cache_dir, commit, |_, tree| {
        Ok(dirs
            .iter()
            .map(|dir| {
                tree.get_path(Path::new(dir.trim_matches('/')))
                    .ok()
                    .filter(|e| e.kind() == Some(git2::ObjectType::Tree))
                    .map(|e| e.id().to_string())
            })
            .collect())
    })
}

/// Every file under the folder `dir` at `commit`, keyed by its path inside `dir`; empty when
/// the commit has no such folder. A `commit` the local copy does not know yet is fetched
/// once; one the remote does not have either is [`Error::UnknownCommit`].
pub fn files_at(
    remote: &GitRemote,
    cache_dir: &Path,
    commit: &str,
    dir: &str,
) -> Result<BTreeMap<String, Vec<u8>>> {
    at_commit(remote, cache_dir, commit, |repo, tree| {
        let mut out = BTreeMap::new();
        let Ok(entry) = tree.get_path(Path::new(dir.trim_matches('/'))) else {
            return Ok(out);
        };
        if entry.kind() == Some(git2::ObjectType::Tree) {
            let sub = repo.find_tree(entry.id())?;
            tree::collect_blobs(repo, &sub, "", &|_| true, &mut out)?;
        }
        Ok(out)
    })
}

/// Runs `read` on the tree of `commit`, fetching once when the local copy lacks it.
fn at_commit<T>(
    remote: &GitRemote,
    cache_dir: &Path,
    commit: &str,
    read: impl FnOnce(&Repository, &git2::Tree<'_>) -> Result<T, git2::Error>,
) -> Result<T> {
    let unknown = || Error::UnknownCommit {
        url: remote.url.clone(),
        branch: remote.branch.clone(),
        commit: commit.to_string(),
    };
    let oid = Oid::from_str(commit).map_err(|_| unknown())?;
    let _guard = remote::lock(cache_dir, &remote.url);
    let target = remote::target(remote, false)?;
    let repo = remote::open(remote, cache_dir, &target)?;
    if repo.find_commit(oid).is_err() {
        remote::head(&repo, remote, &target)?;
    }
    let found = repo.find_commit(oid).map_err(|_| unknown())?;
    let tree = found
        .tree()
        .map_err(Error::git(remote, "reading the tree"))?;
    read(&repo, &tree).map_err(Error::git(remote, "reading the tree"))
}

/// Whether the history of `descendant` holds `ancestor` (or they are the same commit): a
/// GitOps engine that applied `descendant` applied what `ancestor` delivered. A `descendant`
/// the local copy does not know yet is fetched once.
pub fn contains(
    remote: &GitRemote,
    cache_dir: &Path,
    descendant: &str,
    ancestor: &str,
) -> Result<bool> {
    if descendant == ancestor {
        return Ok(true);
    }
    let (Ok(descendant), Ok(ancestor)) = (Oid::from_str(descendant), Oid::from_str(ancestor))
    else {
        return Ok(false);
    };
    let _guard = remote::lock(cache_dir, &remote.url);
    let target = remote::target(remote, false)?;
    let repo = remote::open(remote, cache_dir, &target)?;
    if repo.find_commit(descendant).is_err() {
        remote::head(&repo, remote, &target)?;
        if repo.find_commit(descendant).is_err() {
            return Ok(false);
        }
    }
    repo.graph_descendant_of(descendant, ancestor)
        .map_err(Error::git(remote, "comparing commits"))
}

/// The newest `limit` commits of the branch (first-parent order), with parsed trailers.
pub fn log(remote: &GitRemote, cache_dir: &Path, limit: usize) -> Result<Vec<LogEntry>> {
    walk_history(remote, cache_dir, limit, None, |_, _, entry| Ok(entry))
}

/// [`log`] of the commits that change something under `prefix` (a folder, no trailing slash):
/// one project's history in a repository several projects share.
pub fn log_under(
    remote: &GitRemote,
    cache_dir: &Path,
    limit: usize,
    prefix: &str,
) -> Result<Vec<LogEntry>> {
    walk_history(remote, cache_dir, limit, Some(prefix), |_, _, entry| {
        Ok(entry)
    })
}

/// [`log`] with each commit's object as stored (headers, `gpgsig` signature and message):
/// what a signature check reads.
pub fn log_with_objects(
    remote: &GitRemote,
    cache_dir: &Path,
    limit: usize,
) -> Result<Vec<(LogEntry, Vec<u8>)>> {
    walk_history(remote, cache_dir, limit, None, |repo, oid, entry| {
        let odb = repo.odb()?;
        let object = odb.read(oid)?.data().to_vec();
        Ok((entry, object))
    })
}

fn walk_history<T>(
    remote: &GitRemote,
    cache_dir: &Path,
    limit: usize,
    under: Option<&str>,
    read: impl Fn(&Repository, Oid, LogEntry) -> Result<T, git2::Error>,
) -> Result<Vec<T>> {
    let _guard = remote::lock(cache_dir, &remote.url);
    let target = remote::target(remote, false)?;
    let repo = remote::open(remote, cache_dir, &target)?;
    let Some(head) = remote::head(&repo, remote, &target)? else {
        return Ok(Vec::new());
    };
    let walk = || -> Result<Vec<T>, git2::Error> {
        let mut revwalk = repo.revwalk()?;
        revwalk.push(head)?;
        revwalk.simplify_first_parent()?;
        let mut out = Vec::new();
        // The id of the folder's tree in a commit: equal ids, equal contents.
        let folder = |c: &git2::Commit<'_>, prefix: &str| -> Option<Oid> {
            c.tree()
                .ok()?
                .get_path(Path::new(prefix))
                .ok()
                .map(|e| e.id())
        };
        for oid in revwalk {
            if out.len() >= limit {
                break;
            }
            let oid = oid?;
            let c = repo.find_commit(oid)?;
            if let Some(prefix) = under {
                let parent = c.parents().next();
                if folder(&c, prefix) == parent.as_ref().and_then(|p| folder(p, prefix)) {
                    continue;
                }
            }
            let message = String::from_utf8_lossy(c.message_bytes()).into_owned();
            let author = c.author();
            let entry = LogEntry {
                commit: c.id().to_string(),
                parents: c.parent_ids().map(|p| p.to_string()).collect(),
                tree: c.tree_id().to_string(),
                author: Identity {
                    name: String::from_utf8_lossy(author.name_bytes()).into_owned(),
                    email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
                },
                time: c.time().seconds(),
                parsed: layout::parse_commit_message(&message),
                message,
            };
            out.push(read(&repo, oid, entry)?);
        }
        Ok(out)
    };
    walk().map_err(Error::git(remote, "walking the history"))
}

type Apply<'a> = dyn Fn(&Repository, &mut TreeEditor<'_, 'a>) -> Result<()> + 'a;

/// Fetch, edit the head's tree, commit, push; on a lost race start over from the new head.
fn commit_loop<'a>(
    remote: &GitRemote,
    cache_dir: &Path,
    meta: &CommitMeta,
    message: Option<&ChainedMessage<'_>>,
    policy: &RetryPolicy,
    before_push: &mut dyn FnMut(u32),
    apply: &Apply<'a>,
) -> Result<DeliveryOutcome> {
    let _guard = remote::lock(cache_dir, &remote.url);
    let target = remote::target(remote, true)?;
    let attempts = policy.max_attempts.max(1);
    for attempt in 1..=attempts {
        let repo = remote::open(remote, cache_dir, &target)?;
        let head = remote::head(&repo, remote, &target)?;
        let base = match head {
            Some(h) => Some(
                repo.find_commit(h)
                    .and_then(|c| c.tree())
                    .map_err(Error::git(remote, "reading the branch head"))?
                    .id(),
            ),
            None => None,
        };
        let mut editor = TreeEditor::new(&repo, base);
        apply(&repo, &mut editor)?;
        let (tree, mut objects) = editor
            .write()
            .map_err(Error::git(remote, "writing trees"))?;
        if let Some(head) = head
            && Some(tree) == base
        {
            return Ok(DeliveryOutcome {
                commit: head.to_string(),
                created: false,
                attempts: attempt,
            });
        }
        let chained;
        let meta = match message {
            None => meta,
            Some(message) => {
                let value = chain_value(&repo, head)
                    .map_err(Error::git(remote, "reading the audit chain"))?;
                chained = CommitMeta {
                    message: message(&value),
                    ..meta.clone()
                };
                &chained
            }
        };
        let commit_object =
            commit_object(tree, head, meta).map_err(Error::git(remote, "creating the commit"))?;
        let commit = commit_object.id;
        objects.push(commit_object);
        pack::write(&repo, objects).map_err(|source| Error::Cache {
            url: remote.url.clone(),
            path: repo.path().to_path_buf(),
            source,
        })?;
        before_push(attempt);
        match remote::update(&repo, remote, &target, commit, head)? {
            remote::Pushed::Done => {
                tracing::info!(url = %remote.url, branch = %remote.branch, %commit, attempt, "delivered");
                return Ok(DeliveryOutcome {
                    commit: commit.to_string(),
                    created: true,
                    attempts: attempt,
                });
            }
            remote::Pushed::Outdated => {}
            remote::Pushed::Rejected(message) => {
                // A rejection is a lost race only if the branch moved; otherwise the server
                // refused this content (hook, protection) and retrying cannot help.
                if remote::head(&repo, remote, &target)? == head {
                    return Err(Error::Rejected {
                        url: remote.url.clone(),
                        branch: remote.branch.clone(),
                        message,
                    });
                }
            }
        }
        tracing::debug!(url = %remote.url, branch = %remote.branch, attempt, "branch moved during push; rebasing");
        if attempt < attempts {
            std::thread::sleep(policy.backoff * attempt);
        }
    }
    Err(Error::Contention {
        url: remote.url.clone(),
        branch: remote.branch.clone(),
        attempts,
    })
}

/// The `GitOpsHQ-Previous-Audit` value of a commit on `parent`: it covers the parent and the
/// nearest delivery commit (one with the GitOpsHQ trailer block) of the parent's first-parent
/// history, as [`gitopshq_engine::audit::verify_chain`] recomputes it.
fn chain_value(repo: &Repository, parent: Option<Oid>) -> Result<String, git2::Error> {
    use gitopshq_engine::audit::{self, ChainLink};
    let Some(parent) = parent else {
        return Ok(audit::chain_value(None, None));
    };
    let mut walk = repo.revwalk()?;
    walk.push(parent)?;
    walk.simplify_first_parent()?;
    for oid in walk {
        let c = repo.find_commit(oid?)?;
        let parsed = layout::parse_commit_message(&String::from_utf8_lossy(c.message_bytes()));
        if let Some(trailers) = parsed.trailers {
            let (commit, tree) = (c.id().to_string(), c.tree_id().to_string());
            let link = ChainLink {
                commit: &commit,
                tree: &tree,
                previous_audit: trailers.previous_audit.as_deref(),
            };
            return Ok(audit::chain_value(Some(&parent.to_string()), Some(link)));
        }
    }
    Ok(audit::chain_value(Some(&parent.to_string()), None))
}

/// `ids`: those of `change.files`, in order.
fn apply_change<'a>(
    editor: &mut TreeEditor<'_, 'a>,
    change: &'a Change,
    ids: &[Oid],
) -> Result<(), git2::Error> {
    {
        for owned in &change.owned {
            editor.remove(owned.trim_end_matches('/'))?;
        }
        for ((path, bytes), id) in change.files.iter().zip(ids) {
            let blob = Object {
                id: *id,
                kind: ObjectType::Blob,
                data: Cow::Borrowed(bytes),
            };
            editor.put_blob(path, blob)?;
        }
        for (path, bytes) in &change.seeds {
            if editor.get(path)?.is_none() {
                editor.write_file(path, bytes)?;
            }
        }
        for dir in &change.index_dirs {
            let dir = dir.trim_end_matches('/');
            let subdirs = editor.subdirs_with(dir, layout::KUSTOMIZATION_FILE)?;
            let body = layout::kustomization(subdirs.iter().map(String::as_str));
            editor.write_file(&format!("{dir}/{}", layout::KUSTOMIZATION_FILE), &body)?;
        }
        Ok(())
    }
}

/// The commit object of `tree` on `parent`, byte for byte as libgit2 writes it (and signed as
/// git signs it, given a key).
fn commit_object(
    tree: Oid,
    parent: Option<Oid>,
    meta: &CommitMeta,
) -> Result<Object<'static>, git2::Error> {
    let sig = |who: &Identity| match meta.time {
        Some(t) => git2::Signature::new(&who.name, &who.email, &git2::Time::new(t, 0)),
        None => git2::Signature::now(&who.name, &who.email),
    };
    let author = sig(&meta.author)?;
    let committer = sig(meta.committer.as_ref().unwrap_or(&meta.author))?;
    if meta.message.contains('\0') {
        return Err(git2::Error::from_str(
            "the commit message contains a NUL byte",
        ));
    }
    let mut out = Vec::with_capacity(256 + meta.message.len());
    let io = |e: std::io::Error| git2::Error::from_str(&e.to_string());
    writeln!(out, "tree {tree}").map_err(io)?;
    if let Some(parent) = parent {
        writeln!(out, "parent {parent}").map_err(io)?;
    }
    signature_line(&mut out, "author ", &author).map_err(io)?;
    signature_line(&mut out, "committer ", &committer).map_err(io)?;
    out.push(b'\n');
    out.extend_from_slice(meta.message.as_bytes());
    if let Some(key) = &meta.signing_key {
        out = key.sign_commit(&out).map_err(|e| {
            git2::Error::from_str(&format!(
                "cannot sign with {} ({}): {e}",
                key.origin(),
                key.fingerprint()
            ))
        })?;
    }
    Object::new(ObjectType::Commit, Cow::Owned(out))
}

/// `<header><name> <<email>> <seconds> <+|-><hhmm>`, as libgit2's signature writer.
fn signature_line(
    out: &mut Vec<u8>,
    header: &str,
    sig: &git2::Signature<'_>,
) -> std::io::Result<()> {
    let when = sig.when();
    let offset = when.offset_minutes();
    let sign = if offset < 0 || when.sign() == '-' {
        '-'
    } else {
        '+'
    };
    let offset = offset.unsigned_abs();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(sig.name_bytes());
    out.extend_from_slice(b" <");
    out.extend_from_slice(sig.email_bytes());
    writeln!(
        out,
        "> {} {sign}{:02}{:02}",
        when.seconds() as u32,
        offset / 60,
        offset % 60
    )
}
