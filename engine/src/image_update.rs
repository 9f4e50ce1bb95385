//! Image update policies (`Workload.spec.imageUpdate`): whether a pushed tag is one a workload
//! follows, whether it is newer than what the workload runs (never a downgrade), the value
//! change it makes, and the releases it creates in the `autoRelease` environments.

use std::cmp::Ordering;

use gitopshq_crds::common::Values;
use gitopshq_crds::consts::{annotations, labels};
use gitopshq_crds::release::{Release, ReleaseSpec, ReleaseType, WorkloadChange};
use gitopshq_crds::workload::{ImageUpdate, Workload};
use kube::ResourceExt;
use kube::api::ObjectMeta;
use semver::{Version, VersionReq};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::registry_events::{ImagePush, normalize_repository};

/// Hex characters of the digest in an auto release's name.
const NAME_DIGEST: usize = 12;
/// Kubernetes object names.
const MAX_NAME: usize = 253;

/// A `tagPattern`: a semver range or a glob.
#[derive(Debug, Clone, PartialEq)]
pub enum TagPattern {
    /// Alternatives (`||`) of comparator sets (`>=2.0.0 <3`); tags are read as versions with
    /// an optional leading `v`.
    Range(Vec<VersionReq>),
    /// `*` for any run of characters, `?` for one (`v*.*.*`).
    Glob(String),
}

impl TagPattern {
    /// Reads a pattern: one that starts with a comparator (`>=`, `<`, `=`, `~`, `^`) or is
    /// made of versions and `||` is a range; anything else is a glob.
    pub fn parse(pattern: &str) -> Result<TagPattern, String> {
        let pattern = pattern.trim();
        if pattern.is_empty() {
            return Err("tagPattern is empty".into());
        }
        let starts_like_range = pattern
            .chars()
            .next()
            .is_some_and(|c| matches!(c, '<' | '>' | '=' | '~' | '^'));
        let plain_versions = pattern.contains("||")
            || pattern.split_whitespace().count() > 1
                && pattern
                    .split_whitespace()
                    .all(|t| t.starts_with(|c: char| c.is_ascii_digit() || "<>=~^".contains(c)));
        if !(starts_like_range || plain_versions) {
            return Ok(TagPattern::Glob(pattern.to_string()));
        }
        let mut alternatives = Vec::new();
        for alternative in pattern.split("||") {
            let requirement = range_requirement(alternative);
            let parsed = VersionReq::parse(&requirement).map_err(|e| {
                format!("tagPattern {pattern:?} is not a semver range ({e}); write e.g. \">=2.0.0 <3\" or a glob like \"v*.*.*\"")
            })?;
            alternatives.push(parsed);
        }
        Ok(TagPattern::Range(alternatives))
    }

    /// Whether `tag` is one the pattern follows.
    pub fn matches(&self, tag: &str) -> bool {
        match self {
            TagPattern::Range(alternatives) => {
                tag_version(tag).is_some_and(|v| alternatives.iter().any(|r| r.matches(&v)))
            }
            TagPattern::Glob(glob) => glob_match(glob, tag),
        }
    }
}

/// `>= 2.0.0 <3` → `>=2.0.0, <3`: npm-style ranges (space-separated comparators, bare
/// versions meaning exactly that version) in the `semver` crate's syntax.
fn range_requirement(range: &str) -> String {
    let mut comparators: Vec<String> = Vec::new();
    let mut pending = String::new();
    for token in range
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
    {
        if token.chars().all(|c| "<>=~^".contains(c)) {
            pending.push_str(token);
            continue;
        }
        let token = token.trim_start_matches(['v', 'V']);
        let mut comparator = std::mem::take(&mut pending);
        if comparator.is_empty()
            && token.starts_with(|c: char| c.is_ascii_digit())
            && !token.contains(['*', 'x', 'X'])
        {
            comparator.push('=');
        }
        // `>=v2.0.0`: the operator and a `v`.
        let split = token
            .find(|c: char| !"<>=~^".contains(c))
            .unwrap_or(token.len());
        let (op, version) = token.split_at(split);
        comparator.push_str(op);
        comparator.push_str(version.trim_start_matches(['v', 'V']));
        comparators.push(comparator);
    }
    if !pending.is_empty() {
        comparators.push(pending);
    }
    comparators.join(", ")
}

/// `*` and `?` glob over the whole tag.
pub fn glob_match(glob: &str, text: &str) -> bool {
    let (g, t): (Vec<char>, Vec<char>) = (glob.chars().collect(), text.chars().collect());
    let (mut gi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == t[ti]) {
            gi += 1;
            ti += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some((gi, ti));
            gi += 1;
        } else if let Some((sg, st)) = star {
            gi = sg + 1;
            ti = st + 1;
            star = Some((sg, st + 1));
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|c| *c == '*')
}

/// A tag read as a version: `v2.4.0`, `2.4.0`, `2.4.0-rc.1`; `v2.4` and `v2` count as
/// `2.4.0` and `2.0.0`.
pub fn tag_version(tag: &str) -> Option<Version> {
    let bare = tag.trim().strip_prefix(['v', 'V']).unwrap_or(tag.trim());
    if let Ok(version) = Version::parse(bare) {
        return Some(version);
    }
    let (core, rest) = match bare.find(['-', '+']) {
        Some(i) => bare.split_at(i),
        None => (bare, ""),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 2
        || !parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let padded = match parts.len() {
        1 => format!("{}.0.0{rest}", parts[0]),
        _ => format!("{}.{}.0{rest}", parts[0], parts[1]),
    };
    Version::parse(&padded).ok()
}

/// The value at a dotted path (`image.tag`).
pub fn value_at<'a>(values: &'a Values, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut current = values.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// `{"image": {"tag": "v2.4.0"}}` for `image.tag`.
pub fn nested_value(path: &str, value: Value) -> Values {
    let mut current = value;
    for part in path.rsplit('.') {
        let mut map = Values::new();
        map.insert(part.to_string(), current);
        current = Value::Object(map);
    }
    match current {
        Value::Object(map) => map,
        _ => Values::new(),
    }
}

/// The JSON merge patch that sets the tag in a workload's `spec.values`, conditional on the
/// resourceVersion the decision was taken on (a concurrent change makes it fail with 409).
pub fn value_patch(policy: &ImageUpdate, tag: &str, resource_version: Option<&str>) -> Value {
    let mut patch = json!({"spec": {"values": nested_value(&policy.value_path, json!(tag))}});
    if let Some(version) = resource_version {
        patch["metadata"] = json!({"resourceVersion": version});
    }
    patch
}

/// What a pushed tag means for one workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The workload follows another repository (or none).
    NotWatched,
    /// The tag does not match `tagPattern`.
    PatternMismatch,
    /// The policy's pattern cannot be read.
    InvalidPattern(String),
    /// The tag is not a version, so it cannot be ordered and is never applied.
    NotAVersion,
    /// Older than what the workload runs or has already seen.
    Downgrade { current: String },
    /// The workload already runs this tag (a repeated event). `ensure` when the tag was applied
    /// by an image update (`status.latestImageTag`): make sure its releases exist, in case the
    /// first delivery stopped between the value change and the releases.
    UpToDate { ensure: bool },
    /// Already seen and since replaced by hand: not applied again.
    AlreadySeen { latest: String },
    /// Newer: set the value (from `previous`) and release it.
    Update { previous: Option<String> },
}

impl Verdict {
    /// Metric label and response word.
    pub fn outcome(&self) -> &'static str {
        match self {
            Verdict::NotWatched => "NotWatched",
            Verdict::PatternMismatch => "PatternMismatch",
            Verdict::InvalidPattern(_) => "InvalidPattern",
            Verdict::NotAVersion => "NotAVersion",
            Verdict::Downgrade { .. } => "Downgrade",
            Verdict::UpToDate { .. } => "UpToDate",
            Verdict::AlreadySeen { .. } => "AlreadySeen",
            Verdict::Update { .. } => "Updated",
        }
    }

    /// Why nothing changed, for the response.
    pub fn message(&self, tag: &str) -> String {
        match self {
            Verdict::NotWatched => "the workload follows another repository".into(),
            Verdict::PatternMismatch => format!("{tag} does not match the tagPattern"),
            Verdict::InvalidPattern(e) => e.clone(),
            Verdict::NotAVersion => {
                format!(
                    "{tag} is not a version: only versions are applied, so a tag never goes back"
                )
            }
            Verdict::Downgrade { current } => {
                format!("{tag} is older than {current}: never downgraded")
            }
            Verdict::UpToDate { .. } => format!("the workload already runs {tag}"),
            Verdict::AlreadySeen { latest } => format!(
                "{latest} was applied before and the value has changed since: not applied again"
            ),
            Verdict::Update { previous } => match previous {
                Some(previous) => format!("{previous} → {tag}"),
                None => format!("set to {tag}"),
            },
        }
    }
}

/// Judges `push` for `workload`: repository, pattern, then the order against the tag at the
/// value path and `status.latestImageTag`.
pub fn judge(workload: &Workload, push: &ImagePush) -> Verdict {
    let Some(policy) = &workload.spec.image_update else {
        return Verdict::NotWatched;
    };
    if normalize_repository(&policy.repository) != normalize_repository(&push.repository) {
        return Verdict::NotWatched;
    }
    let pattern = match TagPattern::parse(&policy.tag_pattern) {
        Ok(p) => p,
        Err(e) => return Verdict::InvalidPattern(e),
    };
    if !pattern.matches(&push.tag) {
        return Verdict::PatternMismatch;
    }
    let Some(new) = tag_version(&push.tag) else {
        return Verdict::NotAVersion;
    };
    let current = value_at(&workload.spec.values, &policy.value_path)
        .and_then(Value::as_str)
        .map(str::to_string);
    let latest = workload
        .status
        .as_ref()
        .and_then(|s| s.latest_image_tag.clone());
    if let Some(current) = &current
        && let Some(running) = tag_version(current)
    {
        match new.cmp_precedence(&running) {
            Ordering::Less => {
                return Verdict::Downgrade {
                    current: current.clone(),
                };
            }
            Ordering::Equal => {
                let ensure = latest
                    .as_deref()
                    .and_then(tag_version)
                    .is_some_and(|l| l.cmp_precedence(&new) == Ordering::Equal);
                return Verdict::UpToDate { ensure };
            }
            Ordering::Greater => {}
        }
    }
    if let Some(latest) = &latest
        && let Some(seen) = tag_version(latest)
    {
        match new.cmp_precedence(&seen) {
            Ordering::Less => {
                return Verdict::Downgrade {
                    current: latest.clone(),
                };
            }
            Ordering::Equal => {
                return Verdict::AlreadySeen {
                    latest: latest.clone(),
                };
            }
            Ordering::Greater => {}
        }
    }
    Verdict::Update { previous: current }
}

/// The environments of `autoRelease` the workload's project delivers to, in its order (an
/// environment the project does not have is skipped).
pub fn auto_environments(policy: &ImageUpdate, project_environments: &[String]) -> Vec<String> {
    if project_environments.is_empty() {
        return policy.auto_release.clone();
    }
    project_environments
        .iter()
        .filter(|e| policy.auto_release.contains(e))
        .cloned()
        .collect()
}

/// `<workload>-<environment>-<12 hex of the digest>`: the same push makes the same name, so a
/// repeated event finds the release it created (the API answers 409 AlreadyExists).
pub fn release_name(workload: &str, environment: &str, push: &ImagePush) -> String {
    let key = push_key(push);
    let suffix = format!("-{environment}-{key}");
    let room = MAX_NAME.saturating_sub(suffix.len());
    let head: String = workload.chars().take(room).collect();
    format!("{}{suffix}", head.trim_end_matches(['-', '.']))
}

/// The digest's first hex characters; for sources without a digest, those of the SHA-256 of
/// `repository:tag`.
fn push_key(push: &ImagePush) -> String {
    let hex: String = match &push.digest {
        Some(digest) => digest
            .split_once(':')
            .map_or(digest.as_str(), |(_, h)| h)
            .to_ascii_lowercase(),
        None => hex::encode(Sha256::digest(
            format!("{}:{}", normalize_repository(&push.repository), push.tag).as_bytes(),
        )),
    };
    hex.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(NAME_DIGEST)
        .collect()
}

/// Whether `release` is the automatic release of `workload` in `environment` for `tag`.
pub fn is_auto_release_for(
    release: &Release,
    workload: &str,
    environment: &str,
    tag: &str,
) -> bool {
    release.spec.environment == environment
        && release.labels().get(labels::WORKLOAD).map(String::as_str) == Some(workload)
        && release
            .annotations()
            .get(annotations::IMAGE_TAG)
            .map(String::as_str)
            == Some(tag)
}

/// The submitted release that delivers `push` to `environment`: titled `Auto: image update to
/// <tag>`, its notes naming the image, the CI build and the commit, its change the new value.
pub fn auto_release(
    workload: &Workload,
    environment: &str,
    push: &ImagePush,
    previous: Option<&str>,
    source: &str,
) -> Release {
    let policy = workload.spec.image_update.clone().unwrap_or_default();
    let name = workload.name_any();
    let project = workload.namespace().unwrap_or_default();
    let mut notes = vec![format!(
        "Image {}:{} pushed{}, announced by {source}.",
        push.repository,
        push.tag,
        push.digest
            .as_deref()
            .map(|d| format!(" (digest {d})"))
            .unwrap_or_default()
    )];
    if let Some(url) = &push.build_url {
        notes.push(format!("CI build: {url}"));
    }
    if let Some(commit) = &push.commit {
        notes.push(format!("Commit: {commit}"));
    }
    if let Some(by) = &push.pushed_by {
        notes.push(format!("Pushed by: {by}"));
    }
    notes.push(format!(
        "{}: {} → {}",
        policy.value_path,
        previous.unwrap_or("(unset)"),
        push.tag
    ));
    let mut annotations_map = std::collections::BTreeMap::new();
    annotations_map.insert(annotations::IMAGE_TAG.to_string(), push.tag.clone());
    if let Some(digest) = &push.digest {
        annotations_map.insert(annotations::IMAGE_DIGEST.to_string(), digest.clone());
    }
    if let Some(url) = &push.build_url {
        annotations_map.insert(annotations::BUILD_URL.to_string(), url.clone());
    }
    if let Some(commit) = &push.commit {
        annotations_map.insert(annotations::SOURCE_COMMIT.to_string(), commit.clone());
    }
    let labels_map = [
        (labels::MANAGED_BY, labels::MANAGED_BY_VALUE),
        (labels::PROJECT, project.as_str()),
        (labels::WORKLOAD, name.as_str()),
        (labels::ENVIRONMENT, environment),
        (labels::IMAGE_UPDATE, "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Release {
        metadata: ObjectMeta {
            name: Some(release_name(&name, environment, push)),
            namespace: Some(project),
            labels: Some(labels_map),
            annotations: Some(annotations_map),
            ..ObjectMeta::default()
        },
        spec: ReleaseSpec {
            title: format!("Auto: image update to {}", push.tag),
            notes: Some(notes.join("\n")),
            environment: environment.to_string(),
            changes: vec![WorkloadChange {
                workload: name,
                version: None,
                values: nested_value(&policy.value_path, json!(push.tag)),
                unset: Vec::new(),
            }],
            type_: ReleaseType::Deploy,
            submitted: true,
            ..ReleaseSpec::default()
        },
        status: None,
    }
}

#[cfg(test)]
mod tests;
