//! The remote side: the bare cache, fetch, push and credentials.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, OnceLock};

use git2::{
    Cred, CredentialType, ErrorCode, FetchOptions, Oid, PushOptions, RemoteCallbacks, Repository,
};

use super::{Error, GitRemote, Result};

/// The cache ref a delivery pushes from (libgit2 pushes refs, not bare ids).
const PUSH_REF: &str = "refs/gitopshq/outgoing";
const MAX_CREDENTIAL_TRIES: u32 = 3;

/// Credentials for the remote, taken from the Project's `credentialsSecretRef`.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTPS basic authentication.
    UserPassword { username: String, password: String },
    /// An HTTPS access token (GitHub, GitLab, Gitea …), sent as the password of the URL's user
    /// or of `x-access-token`.
    Token(String),
    /// An SSH private key in OpenSSH or PEM form.
    SshKey {
        username: String,
        private_key: String,
        passphrase: Option<String>,
    },
}

// Secrets never reach logs or error messages.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::UserPassword { username, .. } => f
                .debug_struct("UserPassword")
                .field("username", username)
                .finish_non_exhaustive(),
            Credentials::Token(_) => f.write_str("Token(..)"),
            Credentials::SshKey { username, .. } => f
                .debug_struct("SshKey")
                .field("username", username)
                .finish_non_exhaustive(),
        }
    }
}

fn callbacks(remote: &GitRemote) -> RemoteCallbacks<'_> {
    let mut cb = RemoteCallbacks::new();
    let mut tries = 0;
    cb.credentials(move |_url, user_from_url, allowed| {
        // libgit2 asks again after a refusal; stop instead of looping on bad credentials.
        tries += 1;
        if tries > MAX_CREDENTIAL_TRIES {
            return Err(git2::Error::from_str("the server refused the credentials"));
        }
        match &remote.credentials {
            None if allowed.contains(CredentialType::DEFAULT) => Cred::default(),
            None => Err(git2::Error::from_str(
                "the server asks for credentials and the Project names no credentialsSecretRef",
            )),
            Some(Credentials::UserPassword { username, password }) => {
                Cred::userpass_plaintext(username, password)
            }
            Some(Credentials::Token(token)) => {
                Cred::userpass_plaintext(user_from_url.unwrap_or("x-access-token"), token)
            }
            Some(Credentials::SshKey {
                username,
                private_key,
                passphrase,
            }) => {
                let user = user_from_url.unwrap_or(username);
                if allowed.contains(CredentialType::USERNAME) {
                    Cred::username(user)
                } else {
                    Cred::ssh_key_from_memory(user, None, private_key, passphrase.as_deref())
                }
            }
        }
    });
    cb
}

/// One writer per cache directory at a time: two operations on one cache would race on its
/// refs and packs.
pub(super) fn lock(cache_dir: &Path, url: &str) -> CacheLock {
    let key = cache_path(cache_dir, url);
    let (busy, freed) = locks();
    let mut held = busy.lock().unwrap_or_else(|p| p.into_inner());
    while held.contains(&key) {
        held = freed.wait(held).unwrap_or_else(|p| p.into_inner());
    }
    held.insert(key.clone());
    CacheLock { key }
}

fn locks() -> &'static (Mutex<HashSet<PathBuf>>, Condvar) {
    static LOCKS: OnceLock<(Mutex<HashSet<PathBuf>>, Condvar)> = OnceLock::new();
    LOCKS.get_or_init(Default::default)
}

/// Releases the cache directory when dropped.
pub(super) struct CacheLock {
    key: PathBuf,
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        let (busy, freed) = locks();
        busy.lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
        freed.notify_all();
    }
}

/// Where this machine's copy of a remote lives; a hash of the URL keeps names short and safe.
pub(super) fn cache_path(cache_dir: &Path, url: &str) -> PathBuf {
    let id = Oid::hash_object(git2::ObjectType::Blob, url.as_bytes())
        .map(|o| o.to_string())
        .unwrap_or_default();
    let readable: String = url
        .rsplit(['/', ':'])
        .find(|s| !s.is_empty())
        .unwrap_or("repo")
        .trim_end_matches(".git")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(40)
        .collect();
    cache_dir.join(format!("{readable}-{}.git", &id[..id.len().min(16)]))
}

fn open_cache(remote: &GitRemote, cache_dir: &Path) -> Result<Repository> {
    let path = cache_path(cache_dir, &remote.url);
    let cache_err = |source| Error::Cache {
        url: remote.url.clone(),
        path: path.clone(),
        source,
    };
    if path.join("HEAD").exists() {
        return Repository::open_bare(&path).map_err(cache_err);
    }
    std::fs::create_dir_all(&path).map_err(|e| cache_err(git2::Error::from_str(&e.to_string())))?;
    Repository::init_bare(&path).map_err(cache_err)
}

fn tracking_ref(branch: &str) -> String {
    format!("refs/remotes/origin/{branch}")
}

/// Brings the remote branch into the cache; `None` when the remote has no such branch yet.
pub(super) fn fetch(repo: &Repository, remote: &GitRemote) -> Result<Option<Oid>> {
    let err = |source| Error::Fetch {
        url: remote.url.clone(),
        branch: remote.branch.clone(),
        source,
    };
    let head_ref = format!("refs/heads/{}", remote.branch);
    let mut r = repo.remote_anonymous(&remote.url).map_err(err)?;
    let mut opts = FetchOptions::new();
    opts.remote_callbacks(callbacks(remote))
        .download_tags(git2::AutotagOption::None);
    let spec = format!("+{head_ref}:{}", tracking_ref(&remote.branch));
    r.fetch(&[spec.as_str()], Some(&mut opts), None)
        .map_err(err)?;
    // The advertisement outlives the connection: it says what the branch is right now, even when
    // it was deleted and the tracking ref is stale.
    let head = r
        .list()
        .map_err(err)?
        .iter()
        .find(|h| h.name() == head_ref)
        .map(|h| h.oid());
    Ok(head)
}

pub(super) enum Pushed {
    Done,
    /// The branch moved since the fetch (non-fast-forward).
    Outdated,
    /// The server refused the update, with its reason.
    Rejected(String),
}

pub(super) fn push(repo: &Repository, remote: &GitRemote, commit: Oid) -> Result<Pushed> {
    let git_err = |source| Error::Git {
        url: remote.url.clone(),
        branch: remote.branch.clone(),
        action: "preparing the push",
        source,
    };
    repo.reference(PUSH_REF, commit, true, "gitopshq delivery")
        .map_err(git_err)?;
    let mut rejection: Option<String> = None;
    let result = {
        let mut cb = callbacks(remote);
        cb.push_update_reference(|_refname, status| {
            if let Some(msg) = status {
                rejection = Some(msg.to_string());
            }
            Ok(())
        });
        let mut opts = PushOptions::new();
        // 0: as many threads as cores for the pack sent to the remote.
        opts.remote_callbacks(cb).packbuilder_parallelism(0);
        let mut r = repo.remote_anonymous(&remote.url).map_err(git_err)?;
        r.push(
            &[format!("{PUSH_REF}:refs/heads/{}", remote.branch).as_str()],
            Some(&mut opts),
        )
    };
    match result {
        Ok(()) => match rejection {
            None => {
                // Keep the tracking ref in step so a read right after needs no new objects.
                let _ = repo.reference(&tracking_ref(&remote.branch), commit, true, "pushed");
                Ok(Pushed::Done)
            }
            Some(msg) if is_outdated(&msg) => Ok(Pushed::Outdated),
            Some(msg) => Ok(Pushed::Rejected(msg)),
        },
        Err(e) if e.code() == ErrorCode::NotFastForward => Ok(Pushed::Outdated),
        Err(e) => Err(Error::Push {
            url: remote.url.clone(),
            branch: remote.branch.clone(),
            source: e,
        }),
    }
}

fn is_outdated(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "non-fast-forward",
        "fetch first",
        "stale info",
        "failed to update ref",
        "cannot lock ref",
    ]
    .iter()
    .any(|s| m.contains(s))
}

/// Where commits are made. A repository on this machine (`file://` or a plain path, bare or
/// not) is written directly: the new objects go into its object store as one pack and the
/// branch moves with a compare-and-swap, exactly what a push would do, without building a
/// second pack for the transport and indexing it again on the other side. libgit2 cannot push
/// into a non-bare repository anyway. A lost compare-and-swap is a lost race, like a rejected
/// non-fast-forward push.
pub(super) enum Target {
    Remote,
    Local(PathBuf),
}

/// Picks the target; refuses a local non-bare repository whose work tree has the branch checked
/// out, since moving the branch would silently leave that work tree stale.
/// Reads (`for_write: false`) are harmless there and always allowed.
pub(super) fn target(remote: &GitRemote, for_write: bool) -> Result<Target> {
    let Some(path) = local_path(&remote.url) else {
        return Ok(Target::Remote);
    };
    let Ok(repo) = Repository::open(&path) else {
        return Ok(Target::Remote); // Not a repository: the fetch reports it with the URL.
    };
    if repo.is_bare() {
        return Ok(Target::Local(path));
    }
    let head = repo
        .find_reference("HEAD")
        .ok()
        .and_then(|h| h.symbolic_target().ok().flatten().map(str::to_string));
    if for_write && head.as_deref() == Some(format!("refs/heads/{}", remote.branch).as_str()) {
        return Err(Error::CheckedOut {
            url: remote.url.clone(),
            branch: remote.branch.clone(),
        });
    }
    Ok(Target::Local(path))
}

pub(super) fn open(remote: &GitRemote, cache_dir: &Path, target: &Target) -> Result<Repository> {
    match target {
        Target::Remote => open_cache(remote, cache_dir),
        Target::Local(path) => Repository::open(path).map_err(|source| Error::Cache {
            url: remote.url.clone(),
            path: path.clone(),
            source,
        }),
    }
}

/// The branch head now: fetched into the cache, or read from the local repository.
pub(super) fn head(repo: &Repository, remote: &GitRemote, target: &Target) -> Result<Option<Oid>> {
    match target {
        Target::Remote => fetch(repo, remote),
        Target::Local(_) => match repo.refname_to_id(&format!("refs/heads/{}", remote.branch)) {
            Ok(oid) => Ok(Some(oid)),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(source) => Err(Error::Fetch {
                url: remote.url.clone(),
                branch: remote.branch.clone(),
                source,
            }),
        },
    }
}

/// Moves the branch from `expected` to `commit`.
pub(super) fn update(
    repo: &Repository,
    remote: &GitRemote,
    target: &Target,
    commit: Oid,
    expected: Option<Oid>,
) -> Result<Pushed> {
    let Target::Local(_) = target else {
        return push(repo, remote, commit);
    };
    let name = format!("refs/heads/{}", remote.branch);
    let result = match expected {
        Some(old) => repo.reference_matching(&name, commit, true, old, "gitopshq delivery"),
        None => repo.reference(&name, commit, false, "gitopshq delivery"),
    };
    match result {
        Ok(_) => Ok(Pushed::Done),
        Err(e)
            if matches!(
                e.code(),
                ErrorCode::Modified | ErrorCode::Exists | ErrorCode::Locked
            ) =>
        {
            Ok(Pushed::Outdated)
        }
        Err(source) => Err(Error::Push {
            url: remote.url.clone(),
            branch: remote.branch.clone(),
            source,
        }),
    }
}

fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(p) = url.strip_prefix("file://") {
        return Some(PathBuf::from(p));
    }
    if url.contains("://") {
        return None;
    }
    // scp-like `host:path` has a ':' before the first '/'.
    let scp_like = url
        .find(':')
        .is_some_and(|c| url.find('/').is_none_or(|s| c < s));
    (!scp_like).then(|| PathBuf::from(url))
}
