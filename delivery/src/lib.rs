//! Git delivery, shared by the release controller and the CLI (`gitopshq deliver`, `diff`,
//! `audit`): a release's content into its project's GitOps repository. A Deploy or Promotion
//! release is rendered by the engine and laid out; a Rollback restores what an earlier release
//! delivered; either is committed as one pack with the audit trailers ([`git`]), Secrets sealed
//! with SOPS before they reach Git ([`sops`]). [`preview`] is the diff a release would make. No
//! Kubernetes API calls: callers read the objects and hand them in.
#![forbid(unsafe_code)]

pub mod artifact;
pub mod git;
pub mod preview;
pub mod sops;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use gitopshq_crds::consts::trailers;
use gitopshq_crds::release::{Release, ReleaseType};
use gitopshq_engine::catalog::Catalog;
use gitopshq_engine::layout::{
    self, CommitInfo, GitOpsSettings, LayoutError, PolicyTrailer, ReleaseLayout, Trailers,
};
use gitopshq_engine::plan::{self, PlanError};
use kube::ResourceExt;

use crate::git::{Change, CommitMeta, DeliveryOutcome, GitRemote, Identity, LogEntry, SigningKey};
use crate::sops::{DerivationKey, SopsError};

pub type Result<T, E = DeliveryError> = std::result::Result<T, E>;

/// How far back the history is searched for a release's delivery commit.
pub const HISTORY_DEPTH: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Plan(Box<PlanError>),
    #[error("cannot lay out release {release}")]
    Layout {
        release: String,
        #[source]
        source: LayoutError,
    },
    #[error(transparent)]
    Git(#[from] git::Error),
    #[error("project {project} has no spec.repository.url: set it (or pass --repo)")]
    NoRepository { project: String },
    #[error(
        "release {release} is a Rollback without spec.rollbackTo.release: name the release whose content to restore"
    )]
    NoRollbackTarget { release: String },
    #[error(
        "rollback target release {project}/{target} does not exist: name a release of this project (kubectl get releases -n {project})"
    )]
    RollbackTargetMissing { project: String, target: String },
    #[error(
        "the content of release {release} changed after its approval (approved {approved}, now {planned}); it goes back to approval"
    )]
    ContentChanged {
        release: String,
        approved: String,
        planned: String,
    },
    #[error(
        "release {target} has no delivery commit in {url} (branch {branch}): deliver it first or roll back to another release"
    )]
    RollbackTargetNotDelivered {
        target: String,
        url: String,
        branch: String,
    },
    #[error("cannot encrypt {path} for cluster {cluster}: {cause}")]
    Encryption {
        path: String,
        cluster: String,
        cause: SopsError,
    },
    #[error("rendered Secret {path} is not valid YAML: {reason}")]
    SecretYaml { path: String, reason: String },
    #[error(transparent)]
    RecordedState(LayoutError),
    #[error(transparent)]
    Preview(gitopshq_engine::preview::PreviewError),
    #[error(
        "refusing to commit {path}: it is a Secret in plaintext; Flux delivery commits Secrets only SOPS-encrypted (seal_secrets)"
    )]
    PlaintextSecret { path: String },
}

impl From<PlanError> for DeliveryError {
    fn from(error: PlanError) -> Self {
        DeliveryError::Plan(Box::new(error))
    }
}

impl DeliveryError {
    /// Whether retrying the same delivery later can succeed (a network or contention error)
    /// rather than needing a change of the inputs.
    pub fn is_transient(&self) -> bool {
        match self {
            DeliveryError::Git(e) => matches!(
                e,
                git::Error::Fetch { .. }
                    | git::Error::Push { .. }
                    | git::Error::Contention { .. }
                    | git::Error::Cache { .. }
                    | git::Error::Git { .. }
            ),
            _ => false,
        }
    }
}

/// Rendered and laid-out content of a Deploy or Promotion release.
pub struct PlannedRelease {
    /// `<root>/<environment>`: every path a release writes lies below it (seeds aside).
    pub environment_dir: String,
    pub layout: ReleaseLayout,
    pub remote: GitRemote,
    /// `environments/<env>/values.yaml` skeleton files, written only where missing.
    pub seeds: BTreeMap<String, Vec<u8>>,
    /// `sha256:…` over the laid-out files: the same inputs give the same digest.
    pub digest: String,
}

impl PlannedRelease {
    /// What the delivery writes; the layout's files are moved, not copied. Refuses a layout
    /// that still holds a Secret in plaintext: [`PlannedRelease::seal_secrets`] comes first.
    pub fn into_change(self) -> Result<(GitRemote, Change)> {
        if let Some(path) = self
            .layout
            .secrets
            .iter()
            .find(|(path, plain)| self.layout.files.get(*path) == Some(plain))
            .map(|(path, _)| path.clone())
        {
            return Err(DeliveryError::PlaintextSecret { path });
        }
        let mut change = Change::from(self.layout);
        change.seeds = self.seeds;
        Ok((self.remote, change))
    }

    /// Replaces every Secret the layout commits (delivery Flux) by its SOPS encryption for the
    /// age recipients of its tenant's cluster. A file already committed with the same
    /// plaintext for the same recipients is kept byte for byte, so an unchanged release makes
    /// no commit. Argo CD and Direct layouts commit no Secret: nothing to do.
    pub fn seal_secrets(
        &mut self,
        catalog: &Catalog,
        project: &str,
        cache_dir: &Path,
        sealing: &SecretSealing,
    ) -> Result<()> {
        let base = format!("{}/", self.environment_dir);
        let layout = &mut self.layout;
        for (path, plain) in &layout.secrets {
            let Some(committed) = layout.files.get_mut(path) else {
                continue;
            };
            let tenant = path
                .strip_prefix(&base)
                .and_then(|rest| rest.split('/').next())
                .unwrap_or_default();
            let cluster = catalog
                .tenant(project, tenant)
                .map(|t| t.spec.cluster.clone())
                .unwrap_or_default();
            let recipients = plan::age_recipients(catalog, &cluster);
            let secret: serde_json::Value =
                yaml_serde::from_slice(plain).map_err(|e| DeliveryError::SecretYaml {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            if recipients.is_empty() {
                return Err(PlanError::SecretEncryptionMissing {
                    project: project.to_string(),
                    tenant: tenant.to_string(),
                    cluster,
                    secret: secret
                        .pointer("/metadata/name")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                }
                .into());
            }
            let previous = git::read_tree(&self.remote, cache_dir, path)?.remove(path);
            *committed = sops::encrypt_secret(
                &secret,
                &recipients,
                &sealing.key,
                previous.as_deref(),
                sealing.now,
            )
            .map_err(|cause| DeliveryError::Encryption {
                path: path.clone(),
                cluster,
                cause,
            })?;
        }
        Ok(())
    }

    /// The rendered Secrets this release keeps out of Git (Argo CD, Direct), in plaintext,
    /// by workload folder (ending in `/`): the controller applies them itself.
    pub fn withheld_secrets(&self) -> Result<BTreeMap<String, Vec<serde_json::Value>>> {
        let mut by_folder: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
        for (path, plain) in &self.layout.secrets {
            if self.layout.files.contains_key(path) {
                continue;
            }
            let folder = match path.rfind('/') {
                Some(slash) => path[..=slash].to_string(),
                None => String::new(),
            };
            let secret = yaml_serde::from_slice(plain).map_err(|e| DeliveryError::SecretYaml {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            by_folder.entry(folder).or_default().push(secret);
        }
        Ok(by_folder)
    }
}

/// How the Secrets committed for Flux are encrypted (see [`crate::sops`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSealing {
    pub key: DerivationKey,
    /// `sops.lastmodified` of a newly written file.
    pub now: jiff::Timestamp,
}

/// What delivering a release did.
#[derive(Debug, Clone)]
pub struct ReleaseDelivery {
    pub outcome: DeliveryOutcome,
    /// `sha256:…` over what the release delivers, Secrets' plaintext included.
    pub digest: String,
    /// Secrets kept out of Git (Argo CD, Direct): the path each would have had. Only the
    /// controller applies them; an offline delivery writes their reference only.
    pub withheld_secrets: Vec<String>,
}

/// The repository and branch a project delivers to; `url` and `branch` override the Project's.
pub fn remote_for(
    catalog: &Catalog,
    project: &str,
    url: Option<&str>,
    branch: Option<&str>,
) -> Result<GitRemote> {
    let reference = plan::repository_ref(catalog, project, url)?;
    if reference.url.is_empty() {
        return Err(DeliveryError::NoRepository {
            project: project.to_string(),
        });
    }
    let branch = branch.map(str::to_string).unwrap_or(reference.branch);
    Ok(GitRemote::new(reference.url, branch))
}

/// Adds to `catalog` the states recorded at the head of `remote` for `environment` of
/// `project` ([`layout::RecordedState`]): where its next Deploy or Promotion starts. Replaces
/// whatever the catalog held for that environment; on an error the catalog is left as it was.
pub fn load_recorded_states(
    catalog: &mut Catalog,
    project: &str,
    environment: &str,
    remote: &GitRemote,
    cache_dir: &Path,
) -> Result<()> {
    let root = plan::repository_root(catalog, project)?;
    let files = git::read_named(
        remote,
        cache_dir,
        &format!("{root}/{environment}"),
        layout::STATE_FILE,
    )?;
    let states =
        layout::recorded_states(project, &root, &files).map_err(DeliveryError::RecordedState)?;
    catalog
        .recorded
        .retain(|key, _| key.project != project || key.environment != environment);
    catalog.recorded.extend(states);
    Ok(())
}

/// The objects of a workload folder at `commit` (what a delivery put there).
pub fn read_objects(
    remote: &GitRemote,
    cache: &Path,
    commit: &str,
    prefix: &str,
) -> std::result::Result<Vec<serde_json::Value>, String> {
    git::read_tree_at(remote, cache, Some(commit), prefix)
        .map(|files| layout::workload_objects(&files))
        .map_err(|e| gitopshq_engine::error::Chain(&e).to_string())
}

/// Renders and lays out a Deploy or Promotion release for `remote`.
pub fn plan_release(
    catalog: &Catalog,
    release: &Release,
    remote: GitRemote,
    settings: GitOpsSettings,
) -> Result<PlannedRelease> {
    let project = release.namespace().unwrap_or_default();
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
        settings,
    )?;
    let layout_error = |source| DeliveryError::Layout {
        release: release.name_any(),
        source,
    };
    let layout = layout::release_layout_owned(request).map_err(layout_error)?;
    let environments = catalog
        .project(&project)
        .map(|p| p.spec.environments.clone())
        .unwrap_or_default();
    let seeds =
        layout::project_skeleton(&project, path.as_deref(), &environments).map_err(layout_error)?;
    let digest = layout::release_digest(&layout);
    Ok(PlannedRelease {
        environment_dir,
        layout,
        remote,
        seeds,
        digest,
    })
}

/// The digest an approval of `release` binds to: for a Deploy or Promotion the
/// `GitOpsHQ-Rendered-Digest` its delivery commit will carry (the laid-out files); for a
/// Rollback, what it restores ([`gitopshq_engine::lifecycle::gate::rollback_digest`]).
pub fn approval_digest(
    catalog: &Catalog,
    release: &Release,
    settings: GitOpsSettings,
) -> Result<String> {
    if release.spec.type_ == ReleaseType::Rollback {
        return Ok(gitopshq_engine::lifecycle::gate::rollback_digest(
            catalog, release,
        )?);
    }
    let project = release.namespace().unwrap_or_default();
    let reference = plan::repository_ref(catalog, &project, None)?;
    let remote = GitRemote::new(reference.url, reference.branch);
    Ok(plan_release(catalog, release, remote, settings)?.digest)
}

/// `<namespace>/<name>`, as the `GitOpsHQ-Release` trailer names a release.
pub fn release_id(release: &Release) -> String {
    format!(
        "{}/{}",
        release.namespace().unwrap_or_default(),
        release.name_any()
    )
}

/// The newest commit of `history` that delivered `release_id` (with `digest`, when given).
pub fn find_delivery<'h>(
    history: &'h [LogEntry],
    release_id: &str,
    digest: Option<&str>,
) -> Option<&'h LogEntry> {
    let digest = digest.map(|d| d.strip_prefix("sha256:").unwrap_or(d));
    history.iter().find(|entry| {
        entry.parsed.trailers.as_ref().is_some_and(|t| {
            t.release == release_id && digest.is_none_or(|d| t.rendered_digest == d)
        })
    })
}

/// The audit facts a controller adds to a delivery commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audit {
    pub approved_by: Vec<String>,
    pub policies: Vec<PolicyTrailer>,
    pub break_glass: Option<String>,
}

/// Who delivery commits are by, the key that signs them when signing is configured, and how
/// the Secrets they commit for Flux are sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committer {
    pub identity: Identity,
    pub signing_key: Option<Arc<SigningKey>>,
    pub sealing: SecretSealing,
}

impl Committer {
    /// A committer whose Secrets are sealed under `configured`, else a key derived from the
    /// signing key (the same after a restart and on every replica), else `fallback` (a key of
    /// this process).
    pub fn new(
        identity: Identity,
        signing_key: Option<Arc<SigningKey>>,
        configured: Option<&DerivationKey>,
        fallback: impl FnOnce() -> DerivationKey,
        now: jiff::Timestamp,
    ) -> Self {
        let key = configured
            .cloned()
            .or_else(|| {
                signing_key
                    .as_ref()
                    .and_then(|k| k.derived_secret(SECRET_DERIVATION_PURPOSE))
                    .map(DerivationKey::from_bytes)
            })
            .unwrap_or_else(fallback);
        Self {
            identity,
            signing_key,
            sealing: SecretSealing { key, now },
        }
    }
}

/// What the derivation key derived from a signing key is for (HMAC message).
const SECRET_DERIVATION_PURPOSE: &str = "gitopshq: SOPS data keys and IVs of committed Secrets";

/// The commit message and identities of a release's delivery (unsigned).
pub fn commit_meta(
    release: &Release,
    author: &Identity,
    rendered_digest: String,
    audit: &Audit,
    extra: &[(String, String)],
) -> CommitMeta {
    let info = commit_info(release, rendered_digest, audit, extra);
    CommitMeta {
        message: layout::commit_message(&info),
        author: author.clone(),
        committer: None,
        time: None,
        signing_key: None,
    }
}

/// Title, notes and trailers of a release's delivery commit (without the audit chain value,
/// which depends on the commit it will sit on; see [`chained_message`]).
pub fn commit_info(
    release: &Release,
    rendered_digest: String,
    audit: &Audit,
    extra: &[(String, String)],
) -> CommitInfo {
    let mut other: Vec<(String, String)> = vec![(
        trailers::RELEASE_TYPE.to_string(),
        plan::release_type_name(release.spec.type_).to_string(),
    )];
    if let Some(by) = &release.spec.created_by {
        other.push((trailers::CREATED_BY.to_string(), by.clone()));
    }
    if let Some(by) = &release.spec.submitted_by {
        other.push((trailers::SUBMITTED_BY.to_string(), by.clone()));
    }
    for author in &release.spec.authors {
        other.push((trailers::AUTHORED_BY.to_string(), author.clone()));
    }
    other.extend(extra.iter().cloned());
    let break_glass = audit
        .break_glass
        .clone()
        .or_else(|| release.spec.break_glass_session.clone())
        .map(|s| {
            if s.contains('/') {
                s
            } else {
                format!("{}/{s}", release.namespace().unwrap_or_default())
            }
        });
    CommitInfo {
        title: release.spec.title.clone(),
        notes: release.spec.notes.clone(),
        trailers: Trailers {
            release: release_id(release),
            environment: release.spec.environment.clone(),
            rendered_digest,
            approved_by: audit.approved_by.clone(),
            policies: audit.policies.clone(),
            break_glass,
            previous_audit: None,
            other,
        },
    }
}

/// The message of `info` with `GitOpsHQ-Previous-Audit: <previous_audit>`.
pub fn chained_message(info: &CommitInfo, previous_audit: &str) -> String {
    let mut info = info.clone();
    info.trailers.previous_audit = Some(previous_audit.to_string());
    layout::commit_message(&info)
}

/// What a Rollback restores: the target's delivery commit and the workload folders in scope.
pub struct RollbackPlan {
    pub remote: GitRemote,
    pub target_id: String,
    pub target_commit: String,
    /// The digest recorded on the target's commit.
    pub target_digest: String,
    /// `(tenant, workload)` pairs restored.
    pub scope: Vec<(String, String)>,
    /// Workload folders (ending in `/`) restored.
    pub prefixes: Vec<String>,
}

/// Finds what a Rollback release restores.
pub fn plan_rollback(
    catalog: &Catalog,
    release: &Release,
    remote: GitRemote,
    cache_dir: &Path,
) -> Result<RollbackPlan> {
    let project = release.namespace().unwrap_or_default();
    let target =
        release
            .spec
            .rollback_to
            .as_ref()
            .ok_or_else(|| DeliveryError::NoRollbackTarget {
                release: release.name_any(),
            })?;
    let target_release = catalog.release(&project, &target.release).ok_or_else(|| {
        DeliveryError::RollbackTargetMissing {
            project: project.clone(),
            target: target.release.clone(),
        }
    })?;
    let scope = plan::rollback_scope(catalog, release, target_release)?;
    let root = plan::repository_root(catalog, &project)?;
    let prefixes: Vec<String> = scope
        .iter()
        .map(|(tenant, workload)| {
            format!(
                "{}/",
                layout::workload_dir(&root, &release.spec.environment, tenant, workload)
            )
        })
        .collect();
    let target_id = format!("{project}/{}", target.release);
    let history = git::log(&remote, cache_dir, HISTORY_DEPTH)?;
    let delivered = find_delivery(&history, &target_id, None).ok_or_else(|| {
        DeliveryError::RollbackTargetNotDelivered {
            target: target_id.clone(),
            url: remote.url.clone(),
            branch: remote.branch.clone(),
        }
    })?;
    let target_digest = delivered
        .parsed
        .trailers
        .as_ref()
        .map(|t| t.rendered_digest.clone())
        .unwrap_or_default();
    Ok(RollbackPlan {
        target_commit: delivered.commit.clone(),
        remote,
        target_id,
        target_digest,
        scope,
        prefixes,
    })
}

/// Delivers a release: renders and commits a Deploy or Promotion, restores for a Rollback.
/// The same content gives no new commit. The commit carries `GitOpsHQ-Previous-Audit`, the
/// audit chain value of the commit it sits on (see `gitopshq_engine::audit`), and is signed
/// when `committer` has a key.
pub fn deliver_release(
    catalog: &Catalog,
    release: &Release,
    remote: GitRemote,
    cache_dir: &Path,
    committer: &Committer,
    audit: &Audit,
    settings: GitOpsSettings,
) -> Result<ReleaseDelivery> {
    let sealing = &committer.sealing;
    let signed = |meta: CommitMeta| CommitMeta {
        signing_key: committer.signing_key.clone(),
        ..meta
    };
    let author = &committer.identity;
    match release.spec.type_ {
        ReleaseType::Rollback => {
            let rollback = plan_rollback(catalog, release, remote, cache_dir)?;
            let extra = [(
                trailers::ROLLBACK_TO.to_string(),
                format!("{}@{}", rollback.target_id, rollback.target_commit),
            )];
            let meta = signed(commit_meta(
                release,
                author,
                rollback.target_digest.clone(),
                audit,
                &extra,
            ));
            let info = commit_info(release, rollback.target_digest.clone(), audit, &extra);
            let outcome = git::restore_chained(
                &rollback.remote,
                cache_dir,
                &rollback.target_commit,
                &rollback.prefixes,
                &meta,
                &|previous| chained_message(&info, previous),
            )?;
            Ok(ReleaseDelivery {
                outcome,
                digest: rollback.target_digest,
                withheld_secrets: Vec::new(),
            })
        }
        ReleaseType::Deploy | ReleaseType::Promotion => {
            let project = release.namespace().unwrap_or_default();
            let mut planned = plan_release(catalog, release, remote, settings)?;
            planned.seal_secrets(catalog, &project, cache_dir, sealing)?;
            let withheld_secrets = planned
                .layout
                .secrets
                .keys()
                .filter(|path| !planned.layout.files.contains_key(*path))
                .cloned()
                .collect();
            let digest = planned.digest.clone();
            let meta = signed(commit_meta(release, author, digest.clone(), audit, &[]));
            let info = commit_info(release, digest.clone(), audit, &[]);
            let (remote, change) = planned.into_change()?;
            let outcome = git::deliver_chained(&remote, cache_dir, &change, &meta, &|previous| {
                chained_message(&info, previous)
            })?;
            Ok(ReleaseDelivery {
                outcome,
                digest,
                withheld_secrets,
            })
        }
    }
}

/// Git credentials from a Secret's data, accepting the key names Argo CD and Flux use:
/// `bearerToken` or `token`; `username` + `password`; `sshPrivateKey`, `identity` or
/// `ssh-privatekey` (with optional `username`, default `git`, and `passphrase`).
pub fn credentials_from_secret(
    data: &BTreeMap<String, Vec<u8>>,
) -> Option<crate::git::Credentials> {
    use crate::git::Credentials;
    let text = |key: &str| {
        data.get(key)
            .and_then(|v| String::from_utf8(v.clone()).ok())
            .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
            .filter(|s| !s.is_empty())
    };
    if let Some(key) = ["sshPrivateKey", "identity", "ssh-privatekey"]
        .iter()
        .find_map(|k| text(k))
    {
        return Some(Credentials::SshKey {
            username: text("username").unwrap_or_else(|| "git".into()),
            private_key: key,
            passphrase: text("passphrase"),
        });
    }
    if let Some(token) = text("bearerToken").or_else(|| text("token")) {
        return Some(Credentials::Token(token));
    }
    match (text("username"), text("password")) {
        (Some(username), Some(password)) => Some(Credentials::UserPassword { username, password }),
        (None, Some(password)) => Some(Credentials::Token(password)),
        _ => None,
    }
}

impl RollbackPlan {
    /// `(tenant, workload folder)` restored.
    pub fn scope_prefixes(&self) -> Vec<(String, String)> {
        self.scope
            .iter()
            .zip(&self.prefixes)
            .map(|((tenant, _), prefix)| (tenant.clone(), prefix.clone()))
            .collect()
    }
}

impl PlannedRelease {
    /// `(tenant, workload folder)` of every rendered target.
    pub fn workload_prefixes(&self) -> Vec<(String, String)> {
        let base = format!("{}/", self.environment_dir);
        self.layout
            .owned
            .iter()
            .filter(|path| path.ends_with('/'))
            .filter_map(|path| {
                let tenant = path.strip_prefix(&base)?.split('/').next()?;
                Some((tenant.to_string(), path.clone()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn credentials_follow_argo_cd_and_flux_key_names() {
        use crate::git::Credentials;
        assert!(matches!(
            credentials_from_secret(&data(&[("username", "ci"), ("password", "s3cret\n")])),
            Some(Credentials::UserPassword { username, password }) if username == "ci" && password == "s3cret"
        ));
        assert!(matches!(
            credentials_from_secret(&data(&[("bearerToken", "ghp_x")])),
            Some(Credentials::Token(t)) if t == "ghp_x"
        ));
        assert!(matches!(
            credentials_from_secret(&data(&[("identity", "-----BEGIN OPENSSH PRIVATE KEY-----")])),
            Some(Credentials::SshKey { username, .. }) if username == "git"
        ));
        assert!(credentials_from_secret(&data(&[("known_hosts", "x")])).is_none());
    }
}
