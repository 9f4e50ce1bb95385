//! GitOps repository layout: which files a release writes where.
//!
//! Everything here is pure: the shell renders objects, hands them over as file name + bytes, and
//! gets back the exact repository content to commit. Same inputs, same bytes.
//!
//! ```text
//! <root>/<env>/<tenant>/kustomization.yaml             lists the workload dirs present
//! <root>/<env>/<tenant>/<workload>/kustomization.yaml  lists the object files
//! <root>/<env>/<tenant>/<workload>/<object>.yaml
//! <root>/<env>/<tenant>/<workload>/secrets.yaml        Secrets kept out of Git (ArgoCD, Direct)
//! <root>/<env>/_applications/<tenant>.yaml             Argo CD Application (delivery ArgoCD)
//! <root>/<env>/_kustomizations/<tenant>.yaml           Flux Kustomization (delivery Flux)
//! <root>/_flux/gitrepository.yaml                      Flux GitRepository the Kustomizations use
//! <root>/environments/<env>/values.yaml                project skeleton
//! ```
//!
//! A release owns only the workload dirs it renders: delivering workload A to tenant T replaces
//! `<root>/<env>/T/A/` and leaves `<root>/<env>/T/B/` alone. The tenant `kustomization.yaml`
//! therefore cannot be computed from the release alone; the Git layer recomputes it from the
//! resulting tree with [`kustomization`] for every dir in [`ReleaseLayout::index_dirs`].

mod argocd;
mod commit;
mod gitops;
mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

pub use argocd::{
    ArgoTenant, argocd_cluster_secret, argocd_cluster_secret_name, argocd_root_name,
    argocd_root_objects, argocd_root_project,
};
pub use commit::{
    CommitInfo, ParsedCommit, PolicyTrailer, Trailers, commit_message, parse_commit_message,
    trailers,
};
pub use gitops::{
    GitOpsSettings, SOPS_AGE_SECRET, SecretKeyRef, flux_root_name, flux_root_objects, flux_source,
};
pub use state::{
    RecordedState, RecordedStates, ReleaseAdditions, STATE_FILE, StateKey, mirrored_states,
    parse_state, recorded_states, state_file, state_path, tenant_status, tenants_status,
};

/// The file kustomize looks for in every directory.
pub const KUSTOMIZATION_FILE: &str = "kustomization.yaml";
/// Directory (under `<root>/<env>/`) of the Argo CD Applications, one per tenant.
pub const APPLICATIONS_DIR: &str = "_applications";
/// Directory (under `<root>/<env>/`) of the Flux Kustomizations, one per tenant.
pub const KUSTOMIZATIONS_DIR: &str = "_kustomizations";
/// Directory (under `<root>/`) of the Flux GitRepository source.
pub const FLUX_SOURCE_DIR: &str = "_flux";
/// A Flux tenant's folder holding its Namespace (`<root>/<env>/<tenant>/_namespace`).
pub const NAMESPACE_DIR: &str = "_namespace";
/// The Namespace object in [`NAMESPACE_DIR`].
pub const NAMESPACE_FILE: &str = "namespace.yaml";
/// Directory (under `<root>/`) of the per-environment values skeleton.
pub const ENVIRONMENTS_DIR: &str = "environments";
/// File (in a workload dir) naming the Secrets that Argo CD and Direct delivery keep out of
/// Git; not a kustomize resource.
pub const SECRETS_REFERENCE_FILE: &str = "secrets.yaml";

/// How the rendered tree reaches the workload cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeliveryMode {
    /// An Argo CD `Application` per tenant points at the tenant dir.
    ArgoCd,
    /// A Flux `Kustomization` per tenant points at the tenant dir.
    Flux,
    /// The controller applies the manifests itself; Git keeps the record only.
    Direct,
}

impl DeliveryMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryMode::ArgoCd => "ArgoCD",
            DeliveryMode::Flux => "Flux",
            DeliveryMode::Direct => "Direct",
        }
    }
}

impl fmt::Display for DeliveryMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryMode {
    type Err = LayoutError;

    /// Accepts the API spelling (`ArgoCD`, `Flux`, `Direct`) in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "argocd" => Ok(DeliveryMode::ArgoCd),
            "flux" => Ok(DeliveryMode::Flux),
            "direct" => Ok(DeliveryMode::Direct),
            _ => Err(LayoutError::UnknownDelivery(s.to_string())),
        }
    }
}

/// Why a layout could not be computed. Every message names the offending value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LayoutError {
    #[error("unknown delivery mode {0:?}: use ArgoCD, Flux or Direct")]
    UnknownDelivery(String),
    #[error(
        "invalid {what} {value:?}: must be a non-empty name without '/', '..', control characters or a leading '_' or '.'"
    )]
    InvalidName { what: &'static str, value: String },
    #[error(
        "invalid repository path {0:?}: use a relative path such as projects/<project>, without '..'"
    )]
    InvalidRoot(String),
    #[error(
        "invalid object file {file:?} in workload {workload} of tenant {tenant}: use a plain <name>.yaml file name other than kustomization.yaml"
    )]
    InvalidFileName {
        tenant: String,
        workload: String,
        file: String,
    },
    #[error("duplicate {what} {value:?} in one release: each may appear once")]
    Duplicate { what: &'static str, value: String },
    #[error("cannot serialise the {what}: {message}")]
    Serialize { what: String, message: String },
    #[error(
        "project {project} delivers with Flux, which reads Git over http(s) or ssh only, not {url}: serve the repository over http (git http-backend) or ssh and set spec.repository.url"
    )]
    FluxUrl { project: String, url: String },
    #[error(
        "recorded state {path} cannot be read ({message}): restore the file from the repository's history (git log -- {path}) or deliver a release of that workload again"
    )]
    State { path: String, message: String },
    #[error(
        "cluster {cluster} cannot be given to Argo CD: {reason}; register it again with gitopshq cluster register {cluster} --context CONTEXT, which stores a ServiceAccount token"
    )]
    ArgoCdCluster { cluster: String, reason: String },
}

/// Where the project lives in Git (Project `spec.repository`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositoryRef {
    pub url: String,
    pub branch: String,
    /// `spec.repository.path`; `None` or empty means `projects/<project>`.
    pub path: Option<String>,
}

impl From<&gitopshq_crds::project::Repository> for RepositoryRef {
    /// A Project's `spec.repository`, as it names it.
    fn from(repository: &gitopshq_crds::project::Repository) -> Self {
        Self {
            url: repository.url.clone(),
            branch: repository.branch.clone(),
            path: repository.path.clone(),
        }
    }
}

/// The cluster a tenant runs on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterTarget {
    /// Cluster name as registered with Argo CD / the operator.
    pub name: String,
    /// API server URL when known; recorded as an annotation, never used to address the cluster.
    pub server: Option<String>,
    /// Kubeconfig Secret (in the Flux namespace) for remote clusters; `None` = the cluster
    /// Flux itself runs on.
    pub kubeconfig_secret: Option<SecretKeyRef>,
    /// `spec.secretEncryption.ageRecipients`: with Flux, the tenant's Secrets are committed
    /// SOPS-encrypted for these, and its Kustomization decrypts them (`spec.decryption`).
    pub age_recipients: Vec<String>,
}

/// One rendered Kubernetes object, already serialised by the render pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedFile {
    pub file_name: String,
    pub yaml: Vec<u8>,
    /// Set for a `v1` Secret: its values never reach Git in plaintext.
    pub secret: Option<SecretSummary>,
}

/// What may be said in Git about a rendered Secret: who it is and which keys it has, never a
/// value or anything computed from one.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SecretSummary {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// The keys of `data` and `stringData`, sorted.
    pub keys: Vec<String>,
}

impl SecretSummary {
    /// The summary of `object` when it is a `v1` Secret.
    pub fn of(object: &serde_json::Value) -> Option<Self> {
        let text = |pointer: &str| object.pointer(pointer).and_then(serde_json::Value::as_str);
        if text("/apiVersion") != Some("v1") || text("/kind") != Some("Secret") {
            return None;
        }
        let keys: BTreeSet<String> = ["data", "stringData"]
            .iter()
            .filter_map(|field| object.get(field).and_then(serde_json::Value::as_object))
            .flat_map(|map| map.keys().cloned())
            .collect();
        Some(SecretSummary {
            name: text("/metadata/name").unwrap_or_default().to_string(),
            namespace: text("/metadata/namespace").map(str::to_string),
            type_: text("/type").map(str::to_string),
            keys: keys.into_iter().collect(),
        })
    }
}

/// All rendered objects of one workload for one tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadRender {
    pub name: String,
    pub files: Vec<RenderedFile>,
    /// Written as the folder's [`STATE_FILE`] when present.
    pub state: Option<RecordedState>,
}

/// One tenant targeted by the release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantRender {
    pub name: String,
    pub cluster: ClusterTarget,
    pub namespace: String,
    pub workloads: Vec<WorkloadRender>,
}

/// Everything the layout needs to know about one release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutRequest {
    pub project: String,
    pub repository: RepositoryRef,
    pub delivery: DeliveryMode,
    pub environment: String,
    pub tenants: Vec<TenantRender>,
    pub settings: GitOpsSettings,
}

/// What one release writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReleaseLayout {
    /// Repository-relative path → content.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Paths this release owns: a value ending in `/` is a directory whose whole content is
    /// replaced by the entries of `files` below it; any other value is a single file that is
    /// deleted unless `files` holds it. Sorted.
    pub owned: Vec<String>,
    /// Directories (no trailing `/`) whose `kustomization.yaml` must be recomputed from the
    /// resulting tree: it lists their immediate subdirs that hold a `kustomization.yaml`.
    pub index_dirs: Vec<String>,
    /// Every rendered Secret, path → plaintext YAML, whatever the delivery. With Flux the
    /// same path is in `files` too, in plaintext: the shell must replace it with its SOPS
    /// encryption before committing. With Argo CD and Direct it is not in `files` (the workload
    /// dir's `secrets.yaml` names it instead): the shell applies it to the cluster.
    pub secrets: BTreeMap<String, Vec<u8>>,
}

/// Where Flux reads a Cluster's kubeconfig: a copy of the Cluster's kubeconfig Secret in the Flux
/// namespace (Flux only reads Secrets of the Kustomization's own namespace), key `value`.
pub fn flux_kubeconfig_secret(cluster: &str) -> SecretKeyRef {
    SecretKeyRef {
        name: format!(
            "{}{cluster}",
            gitopshq_crds::consts::names::FLUX_KUBECONFIG_PREFIX
        ),
        key: Some(FLUX_KUBECONFIG_KEY.into()),
    }
}

/// The key of a Flux kubeconfig Secret.
pub const FLUX_KUBECONFIG_KEY: &str = "value";

/// `spec.repository.path`, or the default `projects/<project>`, normalised without slashes at
/// either end.
pub fn repository_root(project: &str, path: Option<&str>) -> Result<String, LayoutError> {
    let raw = path.map(str::trim).filter(|p| !p.is_empty());
    let root = match raw {
        Some(p) => p.trim_matches('/').to_string(),
        None => {
            check_name("project", project)?;
            format!("projects/{project}")
        }
    };
    let bad = root.is_empty()
        || root
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == ".." || s.chars().any(char::is_control));
    if bad {
        return Err(LayoutError::InvalidRoot(
            raw.unwrap_or_default().to_string(),
        ));
    }
    Ok(root)
}

/// `<root>/<env>/<tenant>`
pub fn tenant_dir(root: &str, environment: &str, tenant: &str) -> String {
    format!("{root}/{environment}/{tenant}")
}

/// `<root>/<env>/<tenant>/<workload>`
pub fn workload_dir(root: &str, environment: &str, tenant: &str, workload: &str) -> String {
    format!("{root}/{environment}/{tenant}/{workload}")
}

/// The name of the per-tenant GitOps object: `<project>-<env>-<tenant>`.
pub fn gitops_object_name(project: &str, environment: &str, tenant: &str) -> String {
    format!("{project}-{environment}-{tenant}")
}

/// A kustomize `kustomization.yaml` listing `resources` (files or dirs), sorted and deduplicated
/// so the bytes never depend on input order.
pub fn kustomization<'a>(resources: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let sorted: BTreeSet<&str> = resources.into_iter().collect();
    let mut out = String::from(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:",
    );
    if sorted.is_empty() {
        out.push_str(" []\n");
    } else {
        out.push('\n');
        for r in sorted {
            // Names are validated path segments; quote anyway so YAML never reinterprets them.
            out.push_str("- ");
            out.push_str(&yaml_string(r));
            out.push('\n');
        }
    }
    out.into_bytes()
}

/// The names of the immediate subdirectories of `dir` that hold a `kustomization.yaml`, given
/// every file path of a tree. This is how the tenant index is recomputed from what the
/// repository holds after a partial release.
pub fn kustomized_subdirs<'a>(
    dir: &str,
    paths: impl IntoIterator<Item = &'a str>,
) -> BTreeSet<String> {
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    paths
        .into_iter()
        .filter_map(|p| p.strip_prefix(&prefix))
        .filter_map(|rest| rest.strip_suffix(&format!("/{KUSTOMIZATION_FILE}")))
        .filter(|sub| !sub.is_empty() && !sub.contains('/'))
        .map(str::to_string)
        .collect()
}

/// The files of a release: object files and workload kustomizations, the GitOps object per
/// tenant, and the paths it owns. The tenant kustomization is included as computed from the
/// release alone; the Git layer replaces it with the one computed from the resulting tree
/// (see [`ReleaseLayout::index_dirs`]).
pub fn release_layout(req: &LayoutRequest) -> Result<ReleaseLayout, LayoutError> {
    layout_with(req, |_, _, w| w.files.clone())
}

/// [`release_layout`], consuming the request: the rendered files move into the layout instead
/// of being copied.
pub fn release_layout_owned(mut req: LayoutRequest) -> Result<ReleaseLayout, LayoutError> {
    let mut files: Vec<Vec<Vec<RenderedFile>>> = req
        .tenants
        .iter_mut()
        .map(|t| {
            t.workloads
                .iter_mut()
                .map(|w| std::mem::take(&mut w.files))
                .collect()
        })
        .collect();
    layout_with(&req, |t, w, _| std::mem::take(&mut files[t][w]))
}

/// The layout of `req`, with the files of the `w`-th workload of the `t`-th tenant given by
/// `files(t, w, workload)`.
fn layout_with(
    req: &LayoutRequest,
    mut files: impl FnMut(usize, usize, &WorkloadRender) -> Vec<RenderedFile>,
) -> Result<ReleaseLayout, LayoutError> {
    check_name("project", &req.project)?;
    check_name("environment", &req.environment)?;
    let root = repository_root(&req.project, req.repository.path.as_deref())?;
    if req.environment == ENVIRONMENTS_DIR {
        return Err(LayoutError::InvalidName {
            what: "environment (reserved for the values skeleton)",
            value: req.environment.clone(),
        });
    }
    let env = &req.environment;
    let mut out = ReleaseLayout::default();
    let mut owned = BTreeSet::new();
    let mut seen_tenants = BTreeSet::new();

    for (t, tenant) in req.tenants.iter().enumerate() {
        check_name("tenant", &tenant.name)?;
        if !seen_tenants.insert(tenant.name.as_str()) {
            return Err(LayoutError::Duplicate {
                what: "tenant",
                value: tenant.name.clone(),
            });
        }
        let tdir = tenant_dir(&root, env, &tenant.name);
        let mut seen_workloads = BTreeSet::new();
        for (w, workload) in tenant.workloads.iter().enumerate() {
            check_name("workload", &workload.name)?;
            if !seen_workloads.insert(workload.name.as_str()) {
                return Err(LayoutError::Duplicate {
                    what: "workload",
                    value: format!("{}/{}", tenant.name, workload.name),
                });
            }
            let wdir = workload_dir(&root, env, &tenant.name, &workload.name);
            let mut names = BTreeSet::new();
            let mut withheld = Vec::new();
            for file in files(t, w, workload) {
                let taken = names.contains(&file.file_name)
                    || withheld
                        .iter()
                        .any(|(name, _): &(String, SecretSummary)| *name == file.file_name);
                if !valid_object_file(&file.file_name)
                    || file.file_name == SECRETS_REFERENCE_FILE
                    || taken
                {
                    return Err(LayoutError::InvalidFileName {
                        tenant: tenant.name.clone(),
                        workload: workload.name.clone(),
                        file: file.file_name,
                    });
                }
                let path = format!("{wdir}/{}", file.file_name);
                match file.secret {
                    Some(summary) if req.delivery != DeliveryMode::Flux => {
                        out.secrets.insert(path, file.yaml);
                        withheld.push((file.file_name, summary));
                    }
                    secret => {
                        if secret.is_some() {
                            out.secrets.insert(path.clone(), file.yaml.clone());
                        }
                        out.files.insert(path, file.yaml);
                        names.insert(file.file_name);
                    }
                }
            }
            if !withheld.is_empty() {
                out.files.insert(
                    format!("{wdir}/{SECRETS_REFERENCE_FILE}"),
                    secrets_reference(req, &tenant.name, &workload.name, &withheld)?,
                );
            }
            out.files.insert(
                format!("{wdir}/{KUSTOMIZATION_FILE}"),
                kustomization(names.iter().map(String::as_str)),
            );
            if let Some(state) = &workload.state {
                out.files.insert(
                    format!("{wdir}/{STATE_FILE}"),
                    state_file(&tenant.name, &workload.name, state)?,
                );
            }
            owned.insert(format!("{wdir}/"));
        }
        if req.delivery == DeliveryMode::Flux {
            // kustomize-controller never creates the target namespace: the tenant's folder
            // brings it, marked so that no prune ever deletes it (and what runs in it).
            let ns_dir = format!("{tdir}/{NAMESPACE_DIR}");
            out.files.insert(
                format!("{ns_dir}/{NAMESPACE_FILE}"),
                gitops::tenant_namespace(req, tenant)?,
            );
            out.files.insert(
                format!("{ns_dir}/{KUSTOMIZATION_FILE}"),
                kustomization([NAMESPACE_FILE]),
            );
            owned.insert(format!("{ns_dir}/"));
            seen_workloads.insert(NAMESPACE_DIR);
        }
        out.files.insert(
            format!("{tdir}/{KUSTOMIZATION_FILE}"),
            kustomization(seen_workloads.iter().copied()),
        );
        out.index_dirs.push(tdir);

        // Own both GitOps object paths so switching the delivery mode removes the old one.
        let app = format!("{root}/{env}/{APPLICATIONS_DIR}/{}.yaml", tenant.name);
        let ks = format!("{root}/{env}/{KUSTOMIZATIONS_DIR}/{}.yaml", tenant.name);
        match req.delivery {
            DeliveryMode::ArgoCd => {
                let doc = gitops::argocd_application(req, &root, tenant)?;
                out.files.insert(app.clone(), doc);
            }
            DeliveryMode::Flux => {
                let doc = gitops::flux_kustomization(req, &root, tenant)?;
                out.files.insert(ks.clone(), doc);
            }
            DeliveryMode::Direct => {}
        }
        owned.insert(app);
        owned.insert(ks);
    }
    if req.delivery == DeliveryMode::Flux && !req.tenants.is_empty() {
        out.files.insert(
            format!("{root}/{FLUX_SOURCE_DIR}/gitrepository.yaml"),
            gitops::flux_git_repository(req)?,
        );
        // Owned like the other GitOps objects, so a preview compares it with the repository.
        owned.insert(format!("{root}/{FLUX_SOURCE_DIR}/gitrepository.yaml"));
    }
    out.owned = owned.into_iter().collect();
    out.index_dirs.sort();
    Ok(out)
}

/// `secrets.yaml`: the Secrets of a workload that Argo CD and Direct delivery keep out of Git,
/// by name and keys, for a person reading the repository. Nothing in it derives from a value.
fn secrets_reference(
    req: &LayoutRequest,
    tenant: &str,
    workload: &str,
    withheld: &[(String, SecretSummary)],
) -> Result<Vec<u8>, LayoutError> {
    let secrets: Vec<&SecretSummary> = withheld.iter().map(|(_, summary)| summary).collect();
    let body = yaml_serde::to_string(&serde_json::json!({ "secrets": secrets })).map_err(|e| {
        LayoutError::Serialize {
            what: format!("Secret reference of {tenant}/{workload}"),
            message: e.to_string(),
        }
    })?;
    let header = format!(
        "# Secrets of workload {workload} for tenant {tenant}. Their values are not in Git: with\n\
         # delivery {} the GitOpsHQ controller applies them to the tenant's cluster itself (and\n\
         # prunes them with the rest). This file is not a kustomize resource.\n",
        req.delivery
    );
    Ok(format!("{header}{body}").into_bytes())
}

/// `sha256:<hex>` over what a release delivers, Secrets in plaintext included wherever they
/// go: an approval binds their content although Git holds none of it. See
/// [`rendered_digest`].
pub fn release_digest(layout: &ReleaseLayout) -> String {
    if layout.secrets.is_empty() {
        return rendered_digest(&layout.files);
    }
    let mut all = layout.files.clone();
    all.extend(layout.secrets.iter().map(|(p, b)| (p.clone(), b.clone())));
    rendered_digest(&all)
}

/// The project skeleton: `<root>/environments/<env>/values.yaml` for each environment. These are
/// seeds: the Git layer writes them only where no file exists, so edits made in Git survive.
pub fn project_skeleton(
    project: &str,
    repository_path: Option<&str>,
    environments: &[String],
) -> Result<BTreeMap<String, Vec<u8>>, LayoutError> {
    let root = repository_root(project, repository_path)?;
    let mut files = BTreeMap::new();
    for env in environments {
        check_name("environment", env)?;
        let body = format!(
            "# Values for project {project} in environment {env}.\n\
             # Layered above workload values and below tenant overrides.\n{{}}\n"
        );
        files.insert(
            format!("{root}/{ENVIRONMENTS_DIR}/{env}/values.yaml"),
            body.into_bytes(),
        );
    }
    Ok(files)
}

/// The Kubernetes objects of a workload folder as read from the repository: every file but
/// its `kustomization.yaml`, `secrets.yaml` and recorded state, that parses as an object.
pub fn workload_objects(files: &BTreeMap<String, Vec<u8>>) -> Vec<serde_json::Value> {
    files
        .iter()
        .filter(|(path, _)| !path.ends_with(KUSTOMIZATION_FILE))
        .filter(|(path, _)| !path.ends_with(SECRETS_REFERENCE_FILE))
        .filter(|(path, _)| !path.ends_with(STATE_FILE))
        .filter_map(|(_, bytes)| yaml_serde::from_slice::<serde_json::Value>(bytes).ok())
        .filter(|v| v.get("kind").is_some())
        .collect()
}

/// `sha256:<hex>` over every path and content, in path order: the digest recorded in the
/// `GitOpsHQ-Rendered-Digest` trailer and in `Release.status.renderedDigest`.
pub fn rendered_digest(files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut h = Sha256::new();
    for (path, bytes) in files {
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        h.update((path.len() as u64).to_be_bytes());
        h.update(path.as_bytes());
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

fn check_name(what: &'static str, value: &str) -> Result<(), LayoutError> {
    let ok = !value.is_empty()
        && value != ".."
        && !value.starts_with('_')
        && !value.starts_with('.')
        && !value.contains('/')
        && !value.contains('\\')
        && !value.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok {
        Ok(())
    } else {
        Err(LayoutError::InvalidName {
            what,
            value: value.to_string(),
        })
    }
}

fn valid_object_file(name: &str) -> bool {
    check_name("file", name).is_ok()
        && (name.ends_with(".yaml") || name.ends_with(".yml"))
        && name != KUSTOMIZATION_FILE
        && name != "kustomization.yml"
        && name != "Kustomization"
}

/// A YAML scalar for `s`, quoted only when a plain scalar would change its meaning.
fn yaml_string(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("a string always serialises")
    }
}

#[cfg(test)]
mod tests;

/// The tree that results from writing `layout` over `current` (path → content): owned paths
/// replaced, new files written, index kustomizations recomputed from the result. The same
/// rules the Git layer applies, for previews (`gitopshq diff`) that must not commit.
pub fn apply(
    current: &BTreeMap<String, Vec<u8>>,
    layout: &ReleaseLayout,
) -> BTreeMap<String, Vec<u8>> {
    let mut tree: BTreeMap<String, Vec<u8>> = current
        .iter()
        .filter(|(path, _)| {
            !layout
                .owned
                .iter()
                .any(|owned| match owned.strip_suffix('/') {
                    Some(dir) => path.starts_with(&format!("{dir}/")),
                    None => *path == owned,
                })
        })
        .map(|(p, b)| (p.clone(), b.clone()))
        .collect();
    tree.extend(layout.files.iter().map(|(p, b)| (p.clone(), b.clone())));
    for dir in &layout.index_dirs {
        let dir = dir.trim_end_matches('/');
        let subdirs = kustomized_subdirs(dir, tree.keys().map(String::as_str));
        let body = kustomization(subdirs.iter().map(String::as_str));
        tree.insert(format!("{dir}/{KUSTOMIZATION_FILE}"), body);
    }
    tree
}
