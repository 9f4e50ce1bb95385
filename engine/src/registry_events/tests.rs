use proptest::prelude::*;
use serde_json::json;

use super::*;

const SECRET: &[u8] = b"s3cret-token";
const DIGEST: &str = "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4";

fn now() -> Timestamp {
    "2026-12-01T12:00:00Z".parse().unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn delivery<'a>(source: Source, headers: &'a [(String, String)], body: &'a [u8]) -> Delivery<'a> {
    Delivery {
        source,
        headers,
        path_token: None,
        query_token: None,
        body,
    }
}

/// Checks that `source` refuses `body` sent with `pairs` as its headers at `at`, answering
/// `status`; returns why.
#[track_caller]
fn assert_refused(
    source: Source,
    pairs: &[(&str, &str)],
    body: &[u8],
    at: Timestamp,
    status: u16,
) -> AuthError {
    let h = headers(pairs);
    let err =
        authenticate(&delivery(source, &h, body), SECRET, at).expect_err("the delivery is refused");
    assert_eq!(err.http_status(), status, "{err}");
    err
}

/// The `X-GitOpsHQ-Timestamp` of now and the `X-GitOpsHQ-Signature` over it and `body`.
fn signed_now(body: &str) -> (String, String) {
    let ts = now().as_second().to_string();
    let signature = sign(SECRET, format!("{ts}.{body}").as_bytes());
    (ts, signature)
}

const BUILD_URL: &str = "https://ci.example.com/payment-api/builds/1842";

fn pushes(parsed: Parsed) -> Vec<ImagePush> {
    match parsed {
        Parsed::Pushes(p) => p,
        Parsed::Ignored(why) => panic!("ignored: {why}"),
    }
}

/// What Harbor 2.x sends for `docker push` (webhook policy, HTTP, payload format Default).
fn harbor_event() -> serde_json::Value {
    json!({
        "type": "PUSH_ARTIFACT",
        "occur_at": 1764590400,
        "operator": "robot$ci",
        "event_data": {
            "resources": [{
                "digest": DIGEST,
                "tag": "v2.4.0",
                "resource_url": "registry.example.com/payment-api:v2.4.0"
            }],
            "repository": {
                "date_created": 1764500000,
                "name": "payment-api",
                "namespace": "library",
                "repo_full_name": "library/payment-api",
                "repo_type": "private"
            }
        }
    })
}

fn harbor_body() -> Vec<u8> {
    harbor_event().to_string().into_bytes()
}

#[test]
fn harbor_push_with_its_auth_header() {
    let body = harbor_body();
    let h = headers(&[
        ("Authorization", "s3cret-token"),
        ("Content-Type", "application/json"),
    ]);
    let d = delivery(Source::Harbor, &h, &body);
    let auth = authenticate(&d, SECRET, now()).unwrap();
    assert_eq!(auth.delivery_id, format!("harbor:{}", body_digest(&body)));
    let pushes = pushes(parse(&d).unwrap());
    assert_eq!(
        pushes,
        [ImagePush {
            repository: "registry.example.com/payment-api".into(),
            tag: "v2.4.0".into(),
            digest: Some(DIGEST.into()),
            pushed_by: Some("robot$ci".into()),
            ..ImagePush::default()
        }]
    );
    let bearer = headers(&[("authorization", "Bearer s3cret-token")]);
    assert!(authenticate(&delivery(Source::Harbor, &bearer, &body), SECRET, now()).is_ok());
}

#[test]
fn unsigned_and_badly_signed_deliveries_are_refused_with_their_status() {
    let body = harbor_body();
    let err = assert_refused(Source::Harbor, &[], &body, now(), 401);
    assert!(err.to_string().contains("Authorization header is missing"));
    let wrong = [("Authorization", "s3cret-tokem")];
    assert_refused(Source::Harbor, &wrong, &body, now(), 403);
    // An empty secret never matches, not even an empty header.
    let empty = headers(&[("Authorization", "")]);
    assert!(authenticate(&delivery(Source::Harbor, &empty, &body), b"", now()).is_err());
}

#[test]
fn harbor_events_that_are_not_pushes_are_ignored_and_untagged_artifacts_skipped() {
    let body = json!({"type": "DELETE_ARTIFACT", "event_data": {}}).to_string();
    let h = headers(&[]);
    assert!(matches!(
        parse(&delivery(Source::Harbor, &h, body.as_bytes())).unwrap(),
        Parsed::Ignored(_)
    ));
    let body = json!({"type": "PUSH_ARTIFACT", "event_data": {"resources": [{"digest": DIGEST}]}})
        .to_string();
    assert!(matches!(
        parse(&delivery(Source::Harbor, &h, body.as_bytes())).unwrap(),
        Parsed::Ignored(_)
    ));
    let body = json!({"type": "PUSH_ARTIFACT"}).to_string();
    let err = parse(&delivery(Source::Harbor, &h, body.as_bytes())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "harbor event: event_data.resources (a list) is missing"
    );
}

/// GitHub's `registry_package` event for a container pushed to GHCR by a workflow.
#[test]
fn github_registry_package_signed_with_x_hub_signature_256() {
    let body = json!({
        "action": "published",
        "registry_package": {
            "id": 4242,
            "name": "payment-api",
            "namespace": "acme",
            "ecosystem": "CONTAINER",
            "package_type": "CONTAINER",
            "html_url": "https://github.com/orgs/acme/packages/container/package/payment-api",
            "owner": {"login": "acme"},
            "package_version": {
                "id": 7777,
                "version": DIGEST,
                "name": DIGEST,
                "html_url": "https://github.com/acme/payment-api/pkgs/container/payment-api/7777",
                "target_commitish": "main",
                "target_oid": "9f2c1e0d4b5a69788776655443322110aabbccdd",
                "package_url": "ghcr.io/acme/payment-api:v2.4.0",
                "container_metadata": {
                    "tag": {"name": "v2.4.0", "digest": DIGEST},
                    "labels": {"org.opencontainers.image.revision": "ignored-when-target_oid"},
                    "manifest": {}
                }
            },
            "registry": {"about_url": "https://docs.github.com", "name": "GitHub CLI", "type": "docker", "url": "https://ghcr.io/acme", "vendor": "GitHub Inc"}
        },
        "repository": {"full_name": "acme/payment-api"},
        "sender": {"login": "github-actions[bot]"}
    })
    .to_string();
    let signature = sign(SECRET, body.as_bytes());
    let signed = [
        ("X-GitHub-Event", "registry_package"),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ("X-Hub-Signature-256", &signature),
    ];
    let h = headers(&signed);
    let d = delivery(Source::GitHub, &h, body.as_bytes());
    let auth = authenticate(&d, SECRET, now()).unwrap();
    assert_eq!(
        auth.delivery_id,
        format!("github:{}", body_digest(body.as_bytes()))
    );
    let push = pushes(parse(&d).unwrap()).remove(0);
    assert_eq!(push.repository, "ghcr.io/acme/payment-api");
    assert_eq!(push.tag, "v2.4.0");
    assert_eq!(push.digest.as_deref(), Some(DIGEST));
    assert_eq!(
        push.commit.as_deref(),
        Some("9f2c1e0d4b5a69788776655443322110aabbccdd")
    );
    assert_eq!(
        push.build_url.as_deref(),
        Some("https://github.com/acme/payment-api/pkgs/container/payment-api/7777")
    );

    // One byte changed: the signature no longer holds.
    let tampered = body.replace("v2.4.0", "v9.4.0");
    assert_refused(Source::GitHub, &signed, tampered.as_bytes(), now(), 403);
    let unsigned = [("X-GitHub-Event", "registry_package")];
    assert_refused(Source::GitHub, &unsigned, body.as_bytes(), now(), 401);
    let ping = headers(&[("X-GitHub-Event", "ping")]);
    assert_eq!(
        parse(&delivery(Source::GitHub, &ping, b"{\"zen\":\"hi\"}")).unwrap(),
        Parsed::Ignored("ping".into())
    );
}

#[test]
fn github_revision_label_stands_in_for_a_missing_target_oid() {
    let body = json!({
        "action": "published",
        "package": {
            "name": "payment-api",
            "namespace": "acme",
            "package_type": "container",
            "package_version": {
                "container_metadata": {
                    "tag": {"name": "v2.4.1", "digest": DIGEST},
                    "labels": {"org.opencontainers.image.revision": "abc1234def"}
                }
            }
        }
    })
    .to_string();
    let h = headers(&[("X-GitHub-Event", "package")]);
    let push = pushes(parse(&delivery(Source::GitHub, &h, body.as_bytes())).unwrap()).remove(0);
    assert_eq!(push.repository, "ghcr.io/acme/payment-api");
    assert_eq!(push.commit.as_deref(), Some("abc1234def"));
}

/// GitLab's container registry notifies through the distribution registry's envelope, with
/// the `X-Gitlab-Token` header configured on the endpoint.
#[test]
fn gitlab_registry_notification_envelope() {
    let body = json!({
        "events": [
            {
                "id": "320678d8-ca14-430f-8bb6-4ca139cd83f7",
                "timestamp": "2026-12-01T11:59:30.123Z",
                "action": "push",
                "target": {
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "size": 708,
                    "digest": DIGEST,
                    "length": 708,
                    "repository": "acme/payment-api",
                    "url": "https://registry.gitlab.example.com/v2/acme/payment-api/manifests/sha256:954b",
                    "tag": "v2.4.0"
                },
                "request": {"id": "req-1", "addr": "10.0.0.1:5000", "host": "registry.gitlab.example.com", "method": "PUT", "useragent": "docker/27"},
                "actor": {"name": "ci-bot"},
                "source": {"addr": "registry-0:5000", "instanceID": "abc"}
            },
            {"id": "layer", "action": "push", "target": {"repository": "acme/payment-api", "digest": DIGEST}},
            {"id": "pull", "action": "pull", "target": {"repository": "acme/payment-api", "tag": "v2.3.0"}}
        ]
    })
    .to_string();
    let h = headers(&[
        ("X-Gitlab-Token", "s3cret-token"),
        (
            "X-Gitlab-Event-UUID",
            "13792a34-cac6-4fda-95a8-c58e00a3954e",
        ),
    ]);
    let d = delivery(Source::GitLab, &h, body.as_bytes());
    assert_eq!(
        authenticate(&d, SECRET, now()).unwrap().delivery_id,
        format!("gitlab:{}", body_digest(body.as_bytes()))
    );
    let pushes = pushes(parse(&d).unwrap());
    assert_eq!(pushes.len(), 1);
    assert_eq!(
        pushes[0].repository,
        "registry.gitlab.example.com/acme/payment-api"
    );
    assert_eq!(pushes[0].pushed_by.as_deref(), Some("ci-bot"));
    let wrong = [("X-Gitlab-Token", "nope")];
    assert_refused(Source::GitLab, &wrong, body.as_bytes(), now(), 403);
}

/// Docker Hub's push webhook carries no digest and no signature: the URL holds the token.
#[test]
fn docker_hub_with_the_token_in_the_path_or_query() {
    let body = json!({
        "callback_url": "https://registry.hub.docker.com/u/acme/payment-api/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/",
        "push_data": {"pushed_at": 1764590400, "pusher": "acme-ci", "tag": "v2.4.0"},
        "repository": {
            "comment_count": 0, "date_created": 1417494799, "description": "",
            "is_official": false, "is_private": true, "is_trusted": false,
            "name": "payment-api", "namespace": "acme", "owner": "acme",
            "repo_name": "acme/payment-api",
            "repo_url": "https://registry.hub.docker.com/u/acme/payment-api/",
            "star_count": 0, "status": "Active"
        }
    })
    .to_string();
    let h = headers(&[]);
    let mut d = delivery(Source::DockerHub, &h, body.as_bytes());
    assert_eq!(
        authenticate(&d, SECRET, now()).unwrap_err().http_status(),
        401
    );
    d.path_token = Some("s3cret-token");
    assert!(authenticate(&d, SECRET, now()).is_ok());
    d.path_token = None;
    d.query_token = Some("guess");
    assert_eq!(
        authenticate(&d, SECRET, now()).unwrap_err().http_status(),
        403
    );
    let push = pushes(parse(&d).unwrap()).remove(0);
    assert_eq!(push.repository, "docker.io/acme/payment-api");
    assert_eq!(push.digest, None);
    assert_eq!(push.pushed_by.as_deref(), Some("acme-ci"));
}

#[test]
fn quay_repository_push_with_several_tags() {
    let body = json!({
        "name": "payment-api",
        "repository": "acme/payment-api",
        "namespace": "acme",
        "docker_url": "quay.io/acme/payment-api",
        "homepage": "https://quay.io/repository/acme/payment-api",
        "updated_tags": ["v2.4.0", "latest"]
    })
    .to_string();
    let h = headers(&[]);
    let d = Delivery {
        query_token: Some("s3cret-token"),
        ..delivery(Source::Quay, &h, body.as_bytes())
    };
    assert!(authenticate(&d, SECRET, now()).is_ok());
    let tags: Vec<String> = pushes(parse(&d).unwrap())
        .into_iter()
        .map(|p| format!("{}:{}", p.repository, p.tag))
        .collect();
    assert_eq!(
        tags,
        [
            "quay.io/acme/payment-api:v2.4.0",
            "quay.io/acme/payment-api:latest"
        ]
    );
}

#[test]
fn generic_event_signed_over_timestamp_and_body() {
    let body = json!({
        "repository": "registry.example.com/payment-api",
        "tag": "v2.4.0",
        "digest": DIGEST,
        "buildUrl": BUILD_URL,
        "commit": "9f2c1e0d4b5a69788776655443322110aabbccdd"
    })
    .to_string();
    let (ts, signature) = signed_now(&body);
    let h = headers(&[
        ("X-GitOpsHQ-Timestamp", &ts),
        ("X-GitOpsHQ-Signature", &signature),
        ("X-GitOpsHQ-Delivery", "build-1842"),
    ]);
    let d = delivery(Source::Generic, &h, body.as_bytes());
    assert_eq!(
        authenticate(&d, SECRET, now()).unwrap().delivery_id,
        format!("generic:{signature}")
    );
    let push = pushes(parse(&d).unwrap()).remove(0);
    assert_eq!(
        (push.build_url.as_deref(), push.commit.as_deref()),
        (
            Some(BUILD_URL),
            Some("9f2c1e0d4b5a69788776655443322110aabbccdd")
        )
    );

    // Six minutes later the same request is a replay.
    let later = now() + SignedDuration::from_secs(6 * 60);
    let err = authenticate(&d, SECRET, later).unwrap_err();
    assert_eq!(err.http_status(), 409);
    assert!(err.to_string().contains("more than 5 minutes"), "{err}");
    // The timestamp is signed: moving it breaks the signature.
    let moved = later.as_second().to_string();
    let resigned = [
        ("X-GitOpsHQ-Timestamp", moved.as_str()),
        ("X-GitOpsHQ-Signature", &signature),
    ];
    assert_refused(Source::Generic, &resigned, body.as_bytes(), later, 403);
    let no_ts = [("X-GitOpsHQ-Signature", signature.as_str())];
    assert_refused(Source::Generic, &no_ts, body.as_bytes(), now(), 401);
}

#[test]
fn harbor_signed_the_generic_way_carries_the_build_and_commit() {
    // The image's revision annotation and the build's URL as a custom attribute come along.
    let mut event = harbor_event();
    event["event_data"]["resources"][0]["annotations"] =
        json!({"org.opencontainers.image.revision": "1111111111111111111111111111111111111111"});
    event["event_data"]["custom_attributes"] = json!({"buildUrl": BUILD_URL});
    let body = event.to_string();
    let (ts, signature) = signed_now(&body);
    let h = headers(&[
        ("X-GitOpsHQ-Timestamp", &ts),
        ("X-GitOpsHQ-Signature", &signature),
    ]);
    let d = delivery(Source::Harbor, &h, body.as_bytes());
    let auth = authenticate(&d, SECRET, now()).unwrap();
    assert_eq!(auth.delivery_id, format!("harbor:{signature}"));
    let push = pushes(parse(&d).unwrap()).remove(0);
    assert_eq!(
        (push.build_url.as_deref(), push.commit.as_deref()),
        (
            Some(BUILD_URL),
            Some("1111111111111111111111111111111111111111")
        )
    );
    // A signature is checked even when an Authorization header comes along.
    let forged = [
        ("Authorization", "s3cret-token"),
        ("X-GitOpsHQ-Timestamp", &ts),
        ("X-GitOpsHQ-Signature", "sha256=00"),
    ];
    assert_refused(Source::Harbor, &forged, body.as_bytes(), now(), 403);
    // Stale: a replay.
    let later = now() + SignedDuration::from_secs(3600);
    assert_eq!(
        authenticate(&d, SECRET, later).unwrap_err().http_status(),
        409
    );
}

#[test]
fn bad_payloads_name_what_is_wrong() {
    let h = headers(&[]);
    let cases: &[(Source, &str, &str)] = &[
        (Source::Generic, "not json", "the body is not JSON"),
        (Source::Generic, "[1,2]", "the body is not a JSON object"),
        (
            Source::Generic,
            r#"{"tag":"v1","digest":"sha256:x"}"#,
            "repository (a string) is missing",
        ),
        (
            Source::Generic,
            r#"{"repository":"r","tag":"v1 2","digest":"sha256:954b378c375d852eb3c63ab88978f640"}"#,
            "is not a valid image tag",
        ),
        (
            Source::Generic,
            r#"{"repository":"r","tag":"v1","digest":"md5"}"#,
            "is not <algorithm>:<hex>",
        ),
        (
            Source::DockerHub,
            r#"{"push_data":{}}"#,
            "repository.repo_name (a string) is missing",
        ),
        (
            Source::Quay,
            r#"{"docker_url":"quay.io/a/b"}"#,
            "updated_tags (a list) is missing",
        ),
        (
            Source::GitLab,
            r#"{"events":{}}"#,
            "events (a list) is missing",
        ),
    ];
    for (source, body, want) in cases {
        let err = parse(&delivery(*source, &h, body.as_bytes())).unwrap_err();
        assert!(err.to_string().contains(want), "{body}: {err}");
    }
}

#[test]
fn repositories_compare_in_canonical_form() {
    for (given, want) in [
        ("payment-api", "docker.io/library/payment-api"),
        ("acme/payment-api", "docker.io/acme/payment-api"),
        (
            "index.docker.io/acme/payment-api:v1",
            "docker.io/acme/payment-api",
        ),
        (
            "Registry.Example.com/Payment-API",
            "registry.example.com/payment-api",
        ),
        (
            "https://registry.example.com/payment-api/",
            "registry.example.com/payment-api",
        ),
        (
            "localhost:5000/payment-api:v2.4.0",
            "localhost:5000/payment-api",
        ),
        (
            "ghcr.io/acme/payment-api@sha256:abcd",
            "ghcr.io/acme/payment-api",
        ),
    ] {
        assert_eq!(normalize_repository(given), want, "{given}");
    }
}

#[test]
fn replay_cache_remembers_for_its_time_and_stays_bounded() {
    let mut cache = ReplayCache::new(2, SignedDuration::from_secs(60));
    let t = now();
    assert!(!cache.contains("a", t));
    cache.record("a", t);
    cache.record("a", t);
    assert!(cache.contains("a", t + SignedDuration::from_secs(59)));
    assert!(!cache.contains("a", t + SignedDuration::from_secs(61)));
    cache.record("a", t);
    cache.record("b", t);
    cache.record("c", t);
    assert_eq!(cache.len(), 2);
    assert!(!cache.contains("a", t), "the oldest goes first");
    assert!(cache.contains("b", t) && cache.contains("c", t));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever arrives, parsing and authenticating answer instead of panicking.
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512), header in ".{0,80}") {
        let h = headers(&[
            ("Authorization", &header),
            ("X-Hub-Signature-256", &header),
            ("X-GitOpsHQ-Signature", &header),
            ("X-GitOpsHQ-Timestamp", &header),
            ("X-Gitlab-Token", &header),
            ("X-GitHub-Event", "registry_package"),
        ]);
        for source in Source::ALL {
            let d = Delivery { path_token: Some(&header), ..delivery(source, &h, &body) };
            let _ = authenticate(&d, SECRET, now());
            let _ = parse(&d);
        }
    }

    /// JSON of roughly the right shape, with arbitrary values, never panics either.
    #[test]
    fn arbitrary_json_values_never_panic(tag in any::<String>(), repo in any::<String>(), n in any::<i64>()) {
        let h = headers(&[("X-GitHub-Event", "registry_package")]);
        let bodies = [
            json!({"repository": repo, "tag": tag, "digest": tag}),
            json!({"type": "PUSH_ARTIFACT", "event_data": {"resources": [{"tag": tag, "resource_url": repo}, n]}}),
            json!({"registry_package": {"package_version": {"container_metadata": {"tag": {"name": tag}}, "package_url": repo}}}),
            json!({"events": [{"action": "push", "target": {"tag": tag, "repository": repo}}, n]}),
            json!({"docker_url": repo, "updated_tags": [tag, n]}),
            json!({"push_data": {"tag": tag}, "repository": {"repo_name": repo}}),
        ];
        for body in bodies {
            let text = body.to_string();
            for source in Source::ALL {
                let _ = parse(&delivery(source, &h, text.as_bytes()));
            }
        }
        let _ = normalize_repository(&repo);
        let _ = strip_reference(&repo);
    }
}

/// A captured delivery replayed with a fresh delivery header is the same delivery: its id
/// comes from what the proof covers, never from a header the sender may change.
#[test]
fn a_replay_with_a_new_delivery_header_keeps_its_id() {
    let body = br#"{"repository":"registry.example.com/api","tag":"v1.2.3"}"#;
    let (ts, signed) = signed_now(&String::from_utf8_lossy(body));
    let hub = sign(SECRET, body);
    // (source, the headers that prove it, the delivery-id header a replay may change)
    type Case<'a> = (Source, Vec<(&'a str, String)>, &'a str);
    let cases: [Case<'_>; 3] = [
        (
            Source::Generic,
            vec![
                ("X-GitOpsHQ-Timestamp", ts.clone()),
                ("X-GitOpsHQ-Signature", signed.clone()),
            ],
            "X-GitOpsHQ-Delivery",
        ),
        (
            Source::GitHub,
            vec![("X-Hub-Signature-256", hub.clone())],
            "X-GitHub-Delivery",
        ),
        (
            Source::GitLab,
            vec![("X-Gitlab-Token", "s3cret-token".to_string())],
            "X-Gitlab-Event-UUID",
        ),
    ];
    for (source, proof, id_header) in cases {
        let ids: Vec<String> = ["first-delivery", "replayed-with-a-new-id"]
            .iter()
            .map(|id| {
                let mut pairs: Vec<(&str, &str)> =
                    proof.iter().map(|(k, v)| (*k, v.as_str())).collect();
                pairs.push((id_header, id));
                let h = headers(&pairs);
                let d = delivery(source, &h, body);
                authenticate(&d, SECRET, now()).unwrap().delivery_id
            })
            .collect();
        assert_eq!(ids[0], ids[1], "{source:?}");
        let mut cache = ReplayCache::default();
        cache.record(&ids[0], now());
        assert!(cache.contains(&ids[1], now()), "{source:?}");
    }
}
