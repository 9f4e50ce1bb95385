//! Container registry push events: who may send them and what they say.
//!
//! Each registry announces a pushed image in its own shape and proves who it is in its own way.
//! [`authenticate`] checks a delivery against the shared secret of its source (an HMAC-SHA256
//! signature or a token, compared in constant time; a signed timestamp where the source sends
//! one), [`parse`] turns its body into [`ImagePush`]es, and [`ReplayCache`] remembers the
//! deliveries already handled so that a captured request cannot be played again.
//!
//! | source | path | proof | delivery id |
//! | --- | --- | --- | --- |
//! | Docker Hub | `/registry/dockerhub/<token>` or `?token=` | token in the URL | body digest |
//! | Harbor | `/registry/harbor` | `Authorization` header (the policy's auth header), or the generic signature | body digest, or as generic |
//! | GitHub (GHCR) | `/registry/github` | `X-Hub-Signature-256` over the body | body digest |
//! | GitLab registry | `/registry/gitlab` | `X-Gitlab-Token` | body digest |
//! | Quay | `/registry/quay/<token>` or `?token=` | token in the URL | body digest |
//! | generic | `/registry/generic` | `X-GitOpsHQ-Signature` over `<timestamp>.<body>`, `X-GitOpsHQ-Timestamp` within 5 minutes | the signature |
//!
//! A delivery is remembered under an id its proof covers — the body, or the signature over the
//! timestamp and the body — never under a header the sender may change (`X-GitHub-Delivery`,
//! `X-Gitlab-Event-UUID`, `X-GitOpsHQ-Delivery`): a captured request replayed with a new
//! delivery header is still the same delivery.

use std::collections::{HashSet, VecDeque};

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Largest body accepted (registries send a few KiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How far a signed timestamp may be from now, either way.
pub const TIMESTAMP_TOLERANCE: SignedDuration = SignedDuration::from_secs(5 * 60);
/// Signature header of the generic source (and of outgoing webhook notifications).
pub const SIGNATURE_HEADER: &str = "x-gitopshq-signature";
/// Timestamp header (Unix seconds) of the generic source, part of the signed text.
pub const TIMESTAMP_HEADER: &str = "x-gitopshq-timestamp";

/// Longest tag a registry accepts (the distribution spec's limit).
const MAX_TAG: usize = 128;
/// Longest repository name kept.
const MAX_REPOSITORY: usize = 512;
/// Longest build link and commit kept from an event.
const MAX_LINK: usize = 2048;
const MAX_COMMIT: usize = 64;

/// Who announces a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    DockerHub,
    Harbor,
    GitHub,
    GitLab,
    Quay,
    Generic,
}

impl Source {
    pub const ALL: [Source; 6] = [
        Source::DockerHub,
        Source::Harbor,
        Source::GitHub,
        Source::GitLab,
        Source::Quay,
        Source::Generic,
    ];

    /// The source named by the path segment after `/registry/`.
    pub fn from_path(segment: &str) -> Option<Source> {
        Some(match segment.to_ascii_lowercase().as_str() {
            "dockerhub" | "docker-hub" | "docker" => Source::DockerHub,
            "harbor" => Source::Harbor,
            "github" | "ghcr" => Source::GitHub,
            "gitlab" => Source::GitLab,
            "quay" => Source::Quay,
            "generic" => Source::Generic,
            _ => return None,
        })
    }

    /// Path segment, metric label and key of the source's secret in the receiver Secret.
    pub fn name(self) -> &'static str {
        match self {
            Source::DockerHub => "dockerhub",
            Source::Harbor => "harbor",
            Source::GitHub => "github",
            Source::GitLab => "gitlab",
            Source::Quay => "quay",
            Source::Generic => "generic",
        }
    }
}

/// One HTTP delivery as the receiver got it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub source: Source,
    /// Header names and values (names in any case).
    pub headers: &'a [(String, String)],
    /// The path segment after `/registry/<source>/`.
    pub path_token: Option<&'a str>,
    /// The `token` query parameter.
    pub query_token: Option<&'a str>,
    pub body: &'a [u8],
}

impl Delivery<'_> {
    /// A header's value (the first, by case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }
}

/// Why a delivery is refused before its body is read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No signature or token at all.
    #[error("unsigned request: {0}")]
    Unsigned(String),
    /// A signature or token that does not match the secret.
    #[error("{0}")]
    Invalid(String),
    /// A signed timestamp too far from now.
    #[error("{0}")]
    Stale(String),
}

impl AuthError {
    /// 401 without credentials, 403 with wrong ones, 409 for a timestamp outside the window
    /// (a replay).
    pub fn http_status(&self) -> u16 {
        match self {
            AuthError::Unsigned(_) => 401,
            AuthError::Invalid(_) => 403,
            AuthError::Stale(_) => 409,
        }
    }

    /// Metric label.
    pub fn outcome(&self) -> &'static str {
        match self {
            AuthError::Unsigned(_) => "unsigned",
            AuthError::Invalid(_) => "bad_signature",
            AuthError::Stale(_) => "replayed",
        }
    }
}

/// A delivery that proved its origin: the id under which it is remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub delivery_id: String,
}

/// Checks `delivery` against its source's `secret`.
pub fn authenticate(
    delivery: &Delivery<'_>,
    secret: &[u8],
    now: Timestamp,
) -> Result<Authenticated, AuthError> {
    let body_id = || format!("{}:{}", delivery.source.name(), body_digest(delivery.body));
    match delivery.source {
        Source::GitHub => {
            let signature = delivery.header("x-hub-signature-256").ok_or_else(|| {
                AuthError::Unsigned(
                    "X-Hub-Signature-256 is missing: set the webhook's secret".into(),
                )
            })?;
            verify_hmac(secret, delivery.body, signature, "X-Hub-Signature-256")?;
            Ok(Authenticated {
                delivery_id: body_id(),
            })
        }
        Source::Generic => {
            let id = signed_with_timestamp(delivery, secret, now)?;
            Ok(Authenticated {
                delivery_id: format!("generic:{id}"),
            })
        }
        Source::Harbor if delivery.header(SIGNATURE_HEADER).is_some() => {
            // A relay (or a CI step) that signs Harbor's body the generic way: the timestamp
            // makes a captured delivery useless after five minutes.
            let authenticated = signed_with_timestamp(delivery, secret, now)?;
            Ok(Authenticated {
                delivery_id: format!("harbor:{authenticated}"),
            })
        }
        Source::Harbor => {
            let header = delivery.header("authorization").ok_or_else(|| {
                AuthError::Unsigned(
                    "Authorization header is missing: set the Harbor webhook policy's auth header"
                        .into(),
                )
            })?;
            let matches = token_eq(header.as_bytes(), secret)
                || header
                    .strip_prefix("Bearer ")
                    .is_some_and(|t| token_eq(t.trim().as_bytes(), secret));
            if !matches {
                return Err(AuthError::Invalid(
                    "the Authorization header does not match the harbor secret".into(),
                ));
            }
            Ok(Authenticated {
                delivery_id: body_id(),
            })
        }
        Source::GitLab => {
            let token = delivery.header("x-gitlab-token").ok_or_else(|| {
                AuthError::Unsigned(
                    "X-Gitlab-Token is missing: add it to the registry notification headers".into(),
                )
            })?;
            if !token_eq(token.as_bytes(), secret) {
                return Err(AuthError::Invalid(
                    "X-Gitlab-Token does not match the gitlab secret".into(),
                ));
            }
            Ok(Authenticated {
                delivery_id: body_id(),
            })
        }
        Source::DockerHub | Source::Quay => {
            let token = delivery
                .path_token
                .or(delivery.query_token)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    AuthError::Unsigned(format!(
                        "no token: use /registry/{}/<token> (or ?token=) as the webhook URL",
                        delivery.source.name()
                    ))
                })?;
            if !token_eq(token.as_bytes(), secret) {
                return Err(AuthError::Invalid(format!(
                    "the URL token does not match the {} secret",
                    delivery.source.name()
                )));
            }
            Ok(Authenticated {
                delivery_id: body_id(),
            })
        }
    }
}

/// The GitOpsHQ signature scheme: `X-GitOpsHQ-Signature: sha256=<hex>` over
/// `<timestamp>.<body>`, `X-GitOpsHQ-Timestamp` within [`TIMESTAMP_TOLERANCE`] of now. Returns
/// the delivery id: the signature, which covers the timestamp and the body.
fn signed_with_timestamp(
    delivery: &Delivery<'_>,
    secret: &[u8],
    now: Timestamp,
) -> Result<String, AuthError> {
    let signature = delivery.header(SIGNATURE_HEADER).ok_or_else(|| {
        AuthError::Unsigned(
            "X-GitOpsHQ-Signature is missing: sign <timestamp>.<body> with HMAC-SHA256".into(),
        )
    })?;
    let timestamp = delivery.header(TIMESTAMP_HEADER).ok_or_else(|| {
        AuthError::Unsigned("X-GitOpsHQ-Timestamp is missing (Unix seconds)".into())
    })?;
    let mut signed = Vec::with_capacity(timestamp.len() + 1 + delivery.body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(delivery.body);
    verify_hmac(secret, &signed, signature, "X-GitOpsHQ-Signature")?;
    check_timestamp(timestamp, now)?;
    Ok(signature.trim().to_ascii_lowercase())
}

/// `sha256=<hex>` HMAC-SHA256 of `message` under `key`, as the generic source and outgoing
/// webhook notifications sign.
pub fn sign(key: &[u8], message: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    format!(
        "sha256={}",
        hex::encode(ring::hmac::sign(&key, message).as_ref())
    )
}

/// Verifies a `sha256=<hex>` signature header in constant time.
fn verify_hmac(secret: &[u8], message: &[u8], header: &str, name: &str) -> Result<(), AuthError> {
    let hex_part = header
        .strip_prefix("sha256=")
        .ok_or_else(|| AuthError::Invalid(format!("{name} must be sha256=<hex>")))?;
    let tag = hex::decode(hex_part.trim())
        .map_err(|_| AuthError::Invalid(format!("{name} is not hexadecimal")))?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    ring::hmac::verify(&key, message, &tag)
        .map_err(|_| AuthError::Invalid(format!("{name} does not match the body")))
}

/// Constant-time equality of two tokens (compared as SHA-256 digests, so the length of the
/// secret does not show either).
fn token_eq(given: &[u8], secret: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(given), Sha256::digest(secret));
    !secret.is_empty() && bool::from(a.ct_eq(&b))
}

fn check_timestamp(value: &str, now: Timestamp) -> Result<(), AuthError> {
    let seconds: i64 = value.parse().map_err(|_| {
        AuthError::Invalid(format!(
            "X-GitOpsHQ-Timestamp {value:?} is not Unix seconds"
        ))
    })?;
    let sent = Timestamp::from_second(seconds)
        .map_err(|_| AuthError::Invalid(format!("X-GitOpsHQ-Timestamp {value} is out of range")))?;
    let skew = now.duration_since(sent).abs();
    if skew > TIMESTAMP_TOLERANCE {
        return Err(AuthError::Stale(format!(
            "X-GitOpsHQ-Timestamp {sent} is more than 5 minutes from now ({now}): a replayed or delayed request"
        )));
    }
    Ok(())
}

/// `sha256:<hex>` of a body: the delivery id of sources that send none.
pub fn body_digest(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

/// The deliveries handled recently, by id: a bounded, time-limited memory.
#[derive(Debug, Clone)]
pub struct ReplayCache {
    capacity: usize,
    ttl: SignedDuration,
    order: VecDeque<(Timestamp, String)>,
    seen: HashSet<String>,
}

impl Default for ReplayCache {
    /// 4096 deliveries for 10 minutes (twice the timestamp window).
    fn default() -> Self {
        Self::new(4096, SignedDuration::from_secs(600))
    }
}

impl ReplayCache {
    pub fn new(capacity: usize, ttl: SignedDuration) -> Self {
        Self {
            capacity: capacity.max(1),
            ttl,
            order: VecDeque::new(),
            seen: HashSet::new(),
        }
    }

    /// Whether `id` was recorded within the time-to-live.
    pub fn contains(&mut self, id: &str, now: Timestamp) -> bool {
        self.expire(now);
        self.seen.contains(id)
    }

    /// Remembers `id` (the oldest entry goes when full).
    pub fn record(&mut self, id: &str, now: Timestamp) {
        self.expire(now);
        if !self.seen.insert(id.to_string()) {
            return;
        }
        self.order.push_back((now, id.to_string()));
        while self.order.len() > self.capacity {
            if let Some((_, old)) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn expire(&mut self, now: Timestamp) {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) <= self.ttl {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
    }
}

/// One pushed image, whatever the registry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImagePush {
    /// Full repository with its registry host (`registry.example.com/payment-api`).
    pub repository: String,
    pub tag: String,
    /// `sha256:<hex>` where the source sends it (Docker Hub and Quay do not).
    pub digest: Option<String>,
    /// The CI build that produced the image.
    pub build_url: Option<String>,
    /// The source commit of the image.
    pub commit: Option<String>,
    /// Who pushed, as the registry names them.
    pub pushed_by: Option<String>,
}

/// What a delivery's body says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// One or more pushed images.
    Pushes(Vec<ImagePush>),
    /// A well-formed event that announces no push (a ping, a deletion, a scan result).
    Ignored(String),
}

/// Why a body is not a usable event (400 with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name} event: {reason}")]
pub struct ParseError {
    pub source_name: &'static str,
    pub reason: String,
}

/// Parses a delivery's body (and, for GitHub, its event header) into pushes.
pub fn parse(delivery: &Delivery<'_>) -> Result<Parsed, ParseError> {
    let source = delivery.source;
    let fail = |reason: String| ParseError {
        source_name: source.name(),
        reason,
    };
    let body: Value = serde_json::from_slice(delivery.body)
        .map_err(|e| fail(format!("the body is not JSON: {e}")))?;
    if !body.is_object() {
        return Err(fail("the body is not a JSON object".into()));
    }
    let parsed = match source {
        Source::DockerHub => docker_hub(&body),
        Source::Harbor => harbor(&body),
        Source::GitHub => github(&body, delivery.header("x-github-event")),
        Source::GitLab => distribution(&body),
        Source::Quay => quay(&body),
        Source::Generic => generic(&body),
    }
    .map_err(fail)?;
    if let Parsed::Pushes(pushes) = &parsed {
        if pushes.is_empty() {
            return Ok(Parsed::Ignored("the event names no pushed tag".into()));
        }
        for push in pushes {
            check_push(push).map_err(fail)?;
        }
    }
    Ok(parsed)
}

type Parse = Result<Parsed, String>;

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn required<'a>(value: &'a Value, pointer: &str) -> Result<&'a str, String> {
    str_at(value, pointer).ok_or_else(|| {
        format!(
            "{} (a string) is missing",
            pointer.trim_start_matches('/').replace('/', ".")
        )
    })
}

fn clip(value: Option<&str>, max: usize) -> Option<String> {
    value
        .map(|v| v.lines().next().unwrap_or_default().trim())
        .filter(|v| !v.is_empty())
        .map(|v| v.chars().take(max).collect())
}

/// Docker Hub: `{push_data: {tag, pusher}, repository: {repo_name}, callback_url}`.
fn docker_hub(body: &Value) -> Parse {
    let name = required(body, "/repository/repo_name")?;
    let tag = required(body, "/push_data/tag")?;
    Ok(Parsed::Pushes(vec![ImagePush {
        repository: format!("docker.io/{name}"),
        tag: tag.to_string(),
        pushed_by: clip(str_at(body, "/push_data/pusher"), 128),
        ..ImagePush::default()
    }]))
}

/// Harbor: `{type: PUSH_ARTIFACT, operator, event_data: {resources: [{digest, tag,
/// resource_url}], repository: {repo_full_name}}}`. The CI build and the commit come from
/// `event_data.custom_attributes` (`buildUrl`, `commit`: a relay or a signing CI step adds
/// them) or the artifact's `org.opencontainers.image.revision` annotation.
fn harbor(body: &Value) -> Parse {
    let kind = required(body, "/type")?;
    if !kind.eq_ignore_ascii_case("PUSH_ARTIFACT") && !kind.eq_ignore_ascii_case("pushImage") {
        return Ok(Parsed::Ignored(format!(
            "{kind} is not a push (PUSH_ARTIFACT)"
        )));
    }
    let resources = body
        .pointer("/event_data/resources")
        .and_then(Value::as_array)
        .ok_or("event_data.resources (a list) is missing")?;
    let full_name = str_at(body, "/event_data/repository/repo_full_name");
    let mut pushes = Vec::new();
    for (i, resource) in resources.iter().enumerate() {
        let Some(tag) = str_at(resource, "/tag") else {
            // An untagged artifact (pushed by digest) moves no tag.
            continue;
        };
        let repository = match str_at(resource, "/resource_url") {
            Some(url) => strip_reference(url),
            None => full_name
                .map(str::to_string)
                .ok_or(format!("event_data.resources[{i}].resource_url is missing"))?,
        };
        let annotation = |key: &str| {
            resource
                .get("annotations")
                .and_then(|a| a.get(key))
                .and_then(Value::as_str)
        };
        pushes.push(ImagePush {
            repository,
            tag: tag.to_string(),
            digest: clip(str_at(resource, "/digest"), 128),
            build_url: clip(
                str_at(body, "/event_data/custom_attributes/buildUrl")
                    .or_else(|| str_at(body, "/event_data/custom_attributes/build_url")),
                MAX_LINK,
            ),
            commit: clip(
                str_at(body, "/event_data/custom_attributes/commit")
                    .or_else(|| annotation("org.opencontainers.image.revision")),
                MAX_COMMIT,
            ),
            pushed_by: clip(str_at(body, "/operator"), 128),
        });
    }
    Ok(Parsed::Pushes(pushes))
}

/// GitHub `registry_package` (or `package`) events with action `published`.
fn github(body: &Value, event: Option<&str>) -> Parse {
    match event {
        Some("ping") => return Ok(Parsed::Ignored("ping".into())),
        Some("registry_package" | "package") | None => {}
        Some(other) => {
            return Ok(Parsed::Ignored(format!(
                "{other} events announce no image; subscribe to registry_package"
            )));
        }
    }
    let package = body
        .get("registry_package")
        .or_else(|| body.get("package"))
        .ok_or("registry_package is missing")?;
    let action = str_at(body, "/action").unwrap_or("published");
    if !matches!(action, "published" | "updated") {
        return Ok(Parsed::Ignored(format!(
            "action {action} publishes no image"
        )));
    }
    let ecosystem = str_at(package, "/package_type")
        .or_else(|| str_at(package, "/ecosystem"))
        .unwrap_or("CONTAINER");
    if !ecosystem.eq_ignore_ascii_case("container") && !ecosystem.eq_ignore_ascii_case("docker") {
        return Ok(Parsed::Ignored(format!(
            "{ecosystem} packages are not container images"
        )));
    }
    let version = package
        .get("package_version")
        .ok_or("registry_package.package_version is missing")?;
    let tag = str_at(version, "/container_metadata/tag/name");
    let Some(tag) = tag else {
        return Ok(Parsed::Ignored(
            "the package version carries no tag (pushed by digest)".into(),
        ));
    };
    let digest = str_at(version, "/container_metadata/tag/digest").or_else(|| {
        str_at(version, "/version")
            .or_else(|| str_at(version, "/name"))
            .filter(|v| v.starts_with("sha256:"))
    });
    let repository = match str_at(version, "/package_url") {
        Some(url) => strip_reference(url),
        None => {
            let name = required(package, "/name")?;
            let owner = str_at(package, "/namespace")
                .or_else(|| str_at(package, "/owner/login"))
                .ok_or("registry_package.namespace is missing")?;
            format!("ghcr.io/{owner}/{name}")
        }
    };
    let labels = version.pointer("/container_metadata/labels");
    let label = |key: &str| {
        labels
            .and_then(|l| l.get(key).or_else(|| l.pointer(&format!("/labels/{key}"))))
            .and_then(Value::as_str)
    };
    let commit = str_at(version, "/target_oid")
        .or_else(|| label("org.opencontainers.image.revision"))
        .or_else(|| str_at(version, "/release/target_commitish").filter(|c| is_hex(c)));
    let build_url = str_at(version, "/html_url").or_else(|| str_at(package, "/html_url"));
    Ok(Parsed::Pushes(vec![ImagePush {
        repository,
        tag: tag.to_string(),
        digest: clip(digest, 128),
        build_url: clip(build_url, MAX_LINK),
        commit: clip(commit, MAX_COMMIT),
        pushed_by: clip(str_at(body, "/sender/login"), 128),
    }]))
}

/// The registry notification envelope of the distribution registry (GitLab's container
/// registry): `{events: [{id, action: push, target: {repository, tag, digest}, request:
/// {host}, actor: {name}}]}`.
fn distribution(body: &Value) -> Parse {
    let events = body
        .get("events")
        .and_then(Value::as_array)
        .ok_or("events (a list) is missing")?;
    let mut pushes = Vec::new();
    for (i, event) in events.iter().enumerate() {
        if str_at(event, "/action") != Some("push") {
            continue;
        }
        let Some(tag) = str_at(event, "/target/tag") else {
            // Layer (blob) pushes and pushes by digest move no tag.
            continue;
        };
        let name = str_at(event, "/target/repository")
            .ok_or(format!("events[{i}].target.repository is missing"))?;
        let repository = match str_at(event, "/request/host") {
            Some(host) => format!("{host}/{name}"),
            None => name.to_string(),
        };
        pushes.push(ImagePush {
            repository,
            tag: tag.to_string(),
            digest: clip(str_at(event, "/target/digest"), 128),
            pushed_by: clip(str_at(event, "/actor/name"), 128),
            ..ImagePush::default()
        });
    }
    Ok(Parsed::Pushes(pushes))
}

/// Quay: `{docker_url, repository, updated_tags: [...]}`.
fn quay(body: &Value) -> Parse {
    let repository = str_at(body, "/docker_url")
        .map(strip_reference)
        .or_else(|| str_at(body, "/repository").map(|r| format!("quay.io/{r}")))
        .ok_or("docker_url is missing")?;
    let tags = body
        .get("updated_tags")
        .and_then(Value::as_array)
        .ok_or("updated_tags (a list) is missing")?;
    let mut pushes = Vec::new();
    for tag in tags {
        let tag = tag.as_str().ok_or("updated_tags holds a non-string")?;
        pushes.push(ImagePush {
            repository: repository.clone(),
            tag: tag.trim().to_string(),
            ..ImagePush::default()
        });
    }
    Ok(Parsed::Pushes(pushes))
}

/// Generic: `{repository, tag, digest, buildUrl, commit}`.
fn generic(body: &Value) -> Parse {
    Ok(Parsed::Pushes(vec![ImagePush {
        repository: strip_reference(required(body, "/repository")?),
        tag: required(body, "/tag")?.to_string(),
        digest: Some(required(body, "/digest")?.to_string()),
        build_url: clip(str_at(body, "/buildUrl"), MAX_LINK),
        commit: clip(str_at(body, "/commit"), MAX_COMMIT),
        pushed_by: clip(str_at(body, "/pushedBy"), 128),
    }]))
}

fn check_push(push: &ImagePush) -> Result<(), String> {
    if push.repository.is_empty() || push.repository.len() > MAX_REPOSITORY {
        return Err(format!(
            "repository {:?} is empty or longer than {MAX_REPOSITORY} characters",
            push.repository
        ));
    }
    if !valid_tag(&push.tag) {
        return Err(format!(
            "tag {:?} is not a valid image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})",
            push.tag
        ));
    }
    if let Some(digest) = &push.digest {
        let valid = digest.split_once(':').is_some_and(|(algorithm, hex)| {
            !algorithm.is_empty()
                && algorithm.chars().all(|c| c.is_ascii_alphanumeric())
                && hex.len() >= 32
                && is_hex(hex)
        });
        if !valid {
            return Err(format!(
                "digest {digest:?} is not <algorithm>:<hex> (sha256:…)"
            ));
        }
    }
    Ok(())
}

/// A tag as the distribution spec allows it.
pub fn valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    tag.len() <= MAX_TAG
        && (first.is_ascii_alphanumeric() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn is_hex(value: &str) -> bool {
    !value.is_empty() && value.chars().all(|c| c.is_ascii_hexdigit())
}

/// `host/name:tag` or `host/name@sha256:…` → `host/name` (a port stays).
pub fn strip_reference(reference: &str) -> String {
    let reference = reference
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let reference = reference.split('@').next().unwrap_or_default();
    let (head, last) = match reference.rsplit_once('/') {
        Some((head, last)) => (Some(head), last),
        None => (None, reference),
    };
    let last = last.split(':').next().unwrap_or_default();
    match head {
        Some(head) => format!("{head}/{last}"),
        None => last.to_string(),
    }
    .trim_end_matches('/')
    .to_string()
}

/// The canonical form of a repository name, so that `payment-api`, `docker.io/library/
/// payment-api` and `index.docker.io/library/payment-api:latest` compare equal.
pub fn normalize_repository(repository: &str) -> String {
    let stripped = strip_reference(repository).to_ascii_lowercase();
    let mut parts: Vec<&str> = stripped.split('/').filter(|p| !p.is_empty()).collect();
    let has_host = parts.len() > 1
        && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost");
    if !has_host {
        parts.insert(0, "docker.io");
    }
    if matches!(
        parts[0],
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com"
    ) {
        parts[0] = "docker.io";
    }
    if parts[0] == "docker.io" && parts.len() == 2 {
        parts.insert(1, "library");
    }
    parts.join("/")
}

#[cfg(test)]
mod tests;
