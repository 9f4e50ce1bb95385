use gitopshq_crds::workload::{WorkloadSpec, WorkloadStatus};
use proptest::prelude::*;

use super::*;

const DIGEST: &str = "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4";

fn workload(tag: Option<&str>, latest: Option<&str>, pattern: &str) -> Workload {
    let mut values = Values::new();
    values.insert(
        "image".into(),
        match tag {
            Some(t) => json!({"repository": "registry.example.com/payment-api", "tag": t}),
            None => json!({"repository": "registry.example.com/payment-api"}),
        },
    );
    let mut w = Workload::new(
        "payment-api",
        WorkloadSpec {
            chart: "microservice-base".into(),
            version: "1.0.0".into(),
            values,
            image_update: Some(ImageUpdate {
                repository: "registry.example.com/payment-api".into(),
                tag_pattern: pattern.into(),
                auto_release: vec!["development".into(), "staging".into()],
                ..ImageUpdate::default()
            }),
            ..WorkloadSpec::default()
        },
    );
    w.metadata.namespace = Some("payment-service".into());
    w.status = latest.map(|l| WorkloadStatus {
        latest_image_tag: Some(l.into()),
        ..WorkloadStatus::default()
    });
    w
}

fn push(tag: &str) -> ImagePush {
    ImagePush {
        repository: "registry.example.com/payment-api".into(),
        tag: tag.into(),
        digest: Some(DIGEST.into()),
        build_url: Some("https://ci.example.com/payment-api/builds/1842".into()),
        commit: Some("9f2c1e0d4b5a69788776655443322110aabbccdd".into()),
        pushed_by: None,
    }
}

#[test]
fn globs_match_whole_tags() {
    let p = TagPattern::parse("v*.*.*").unwrap();
    assert_eq!(p, TagPattern::Glob("v*.*.*".into()));
    for (tag, want) in [
        ("v2.4.0", true),
        ("v10.0.1-rc.1", true),
        ("2.4.0", false),
        ("v2.4", false),
        ("latest", false),
        ("v2.4.0.", true),
    ] {
        assert_eq!(p.matches(tag), want, "{tag}");
    }
    assert!(glob_match("main-???????", "main-abc1234"));
    assert!(!glob_match("main-???????", "main-abc123"));
    assert!(glob_match("*", ""));
    assert!(glob_match("a*b*c", "aXXbYYc"));
    assert!(!glob_match("a*b*c", "aXXbYY"));
}

#[test]
fn semver_ranges_in_npm_and_cargo_spelling() {
    for (pattern, tag, want) in [
        (">=2.0.0 <3", "v2.4.0", true),
        (">=2.0.0 <3", "v3.0.0", false),
        (">=2.0.0 <3", "v1.9.9", false),
        (">= 2.0.0, < 3", "2.9.9", true),
        ("^2.4", "v2.9.0", true),
        ("~2.4.0", "v2.5.0", false),
        ("=2.4.0", "v2.4.0", true),
        (">=2.0.0 <3 || >=4.1.0", "v4.2.0", true),
        (">=2.0.0 <3 || >=4.1.0", "v4.0.0", false),
        (">=v2.0.0", "v2.1.0", true),
        (">=2.0.0", "latest", false),
    ] {
        let p = TagPattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        assert!(matches!(p, TagPattern::Range(_)), "{pattern}");
        assert_eq!(p.matches(tag), want, "{pattern} vs {tag}");
    }
    let err = TagPattern::parse(">=two").unwrap_err();
    assert!(err.contains("is not a semver range"), "{err}");
}

#[test]
fn tags_read_as_versions() {
    assert_eq!(tag_version("v2.4.0"), Some(Version::new(2, 4, 0)));
    assert_eq!(tag_version("2.4"), Some(Version::new(2, 4, 0)));
    assert_eq!(tag_version("V3"), Some(Version::new(3, 0, 0)));
    assert_eq!(
        tag_version("v2.4.0-rc.1"),
        Some(Version::parse("2.4.0-rc.1").unwrap())
    );
    assert_eq!(tag_version("latest"), None);
    assert_eq!(tag_version("main-abc1234"), None);
    assert_eq!(tag_version(""), None);
}

#[test]
fn a_newer_tag_updates_an_older_or_equal_one_does_not() {
    let w = workload(Some("v1.0.0"), None, "v*.*.*");
    assert_eq!(
        judge(&w, &push("v2.4.0")),
        Verdict::Update {
            previous: Some("v1.0.0".into())
        }
    );
    let w = workload(Some("v2.4.0"), Some("v2.4.0"), "v*.*.*");
    assert_eq!(
        judge(&w, &push("v2.4.0")),
        Verdict::UpToDate { ensure: true }
    );
    assert_eq!(
        judge(&w, &push("v2.3.9")),
        Verdict::Downgrade {
            current: "v2.4.0".into()
        }
    );
    // Set by hand: the same tag again creates nothing.
    let w = workload(Some("v2.4.0"), None, "v*.*.*");
    assert_eq!(
        judge(&w, &push("v2.4.0")),
        Verdict::UpToDate { ensure: false }
    );
    // Rolled back by hand after v2.5.0: older and equal pushes stay out.
    let w = workload(Some("v2.4.0"), Some("v2.5.0"), "v*.*.*");
    assert_eq!(
        judge(&w, &push("v2.4.5")),
        Verdict::Downgrade {
            current: "v2.5.0".into()
        }
    );
    assert_eq!(
        judge(&w, &push("v2.5.0")),
        Verdict::AlreadySeen {
            latest: "v2.5.0".into()
        }
    );
    assert!(matches!(judge(&w, &push("v2.6.0")), Verdict::Update { .. }));
    // No tag yet, or one that is not a version (`latest`): any matching version applies.
    for current in [None, Some("latest")] {
        let w = workload(current, None, "v*.*.*");
        assert!(matches!(judge(&w, &push("v0.1.0")), Verdict::Update { .. }));
    }
}

#[test]
fn other_repositories_patterns_and_unordered_tags_change_nothing() {
    let w = workload(Some("v1.0.0"), None, "v*.*.*");
    let mut other = push("v2.4.0");
    other.repository = "registry.example.com/ledger".into();
    assert_eq!(judge(&w, &other), Verdict::NotWatched);
    let mut spelled = push("v2.4.0");
    spelled.repository = "REGISTRY.example.com/payment-api:v2.4.0".into();
    assert!(matches!(judge(&w, &spelled), Verdict::Update { .. }));
    assert_eq!(judge(&w, &push("2.4.0")), Verdict::PatternMismatch);
    let w = workload(Some("v1.0.0"), None, "main-*");
    assert_eq!(judge(&w, &push("main-abc1234")), Verdict::NotAVersion);
    let w = workload(Some("v1.0.0"), None, ">=2.0.0 <3");
    assert_eq!(judge(&w, &push("v3.0.0")), Verdict::PatternMismatch);
    assert!(matches!(judge(&w, &push("v2.0.1")), Verdict::Update { .. }));
    let mut unwatched = workload(Some("v1.0.0"), None, "*");
    unwatched.spec.image_update = None;
    assert_eq!(judge(&unwatched, &push("v2.4.0")), Verdict::NotWatched);
}

#[test]
fn the_value_patch_sets_the_path_conditionally() {
    let policy = ImageUpdate {
        value_path: "app.image.tag".into(),
        ..ImageUpdate::default()
    };
    assert_eq!(
        value_patch(&policy, "v2.4.0", Some("42")),
        json!({"metadata": {"resourceVersion": "42"}, "spec": {"values": {"app": {"image": {"tag": "v2.4.0"}}}}})
    );
    let w = workload(Some("v1.0.0"), None, "*");
    assert_eq!(
        value_at(&w.spec.values, "image.tag"),
        Some(&json!("v1.0.0"))
    );
    assert_eq!(value_at(&w.spec.values, "image.tag.x"), None);
    assert_eq!(value_at(&w.spec.values, "nope"), None);
}

#[test]
fn the_auto_release_carries_the_title_notes_and_change() {
    let w = workload(Some("v1.0.0"), None, "v*.*.*");
    let release = auto_release(&w, "staging", &push("v2.4.0"), Some("v1.0.0"), "harbor");
    assert_eq!(
        release.metadata.name.as_deref(),
        Some("payment-api-staging-954b378c375d")
    );
    assert_eq!(
        release.metadata.namespace.as_deref(),
        Some("payment-service")
    );
    assert_eq!(release.spec.title, "Auto: image update to v2.4.0");
    assert_eq!(release.spec.environment, "staging");
    assert!(release.spec.submitted);
    assert_eq!(release.spec.type_, ReleaseType::Deploy);
    assert!(release.spec.tenants.is_empty() && release.spec.tenant_selector.is_none());
    assert_eq!(
        serde_json::to_value(&release.spec.changes).unwrap(),
        json!([{"workload": "payment-api", "values": {"image": {"tag": "v2.4.0"}}}])
    );
    assert_eq!(
        release.spec.notes.as_deref().unwrap(),
        format!(
            "Image registry.example.com/payment-api:v2.4.0 pushed (digest {DIGEST}), announced by harbor.\n\
             CI build: https://ci.example.com/payment-api/builds/1842\n\
             Commit: 9f2c1e0d4b5a69788776655443322110aabbccdd\n\
             image.tag: v1.0.0 → v2.4.0"
        )
    );
    assert!(is_auto_release_for(
        &release,
        "payment-api",
        "staging",
        "v2.4.0"
    ));
    assert!(!is_auto_release_for(
        &release,
        "payment-api",
        "production",
        "v2.4.0"
    ));
    assert_eq!(
        release
            .labels()
            .get(labels::IMAGE_UPDATE)
            .map(String::as_str),
        Some("true")
    );
}

#[test]
fn release_names_are_stable_valid_and_bounded() {
    let mut no_digest = push("v2.4.0");
    no_digest.digest = None;
    let a = release_name("payment-api", "staging", &no_digest);
    assert_eq!(a, release_name("payment-api", "staging", &no_digest));
    assert_ne!(a, release_name("payment-api", "staging", &push("v2.4.0")));
    let long = "w".repeat(253);
    let name = release_name(&long, "development", &push("v2.4.0"));
    assert_eq!(name.len(), 253);
    assert!(name.ends_with("-development-954b378c375d"));
}

#[test]
fn auto_environments_follow_the_project_order() {
    let policy = ImageUpdate {
        auto_release: vec!["staging".into(), "development".into(), "qa".into()],
        ..ImageUpdate::default()
    };
    let project = ["development", "staging", "production"].map(String::from);
    assert_eq!(
        auto_environments(&policy, &project),
        ["development", "staging"]
    );
}

proptest! {
    #[test]
    fn patterns_and_tags_never_panic(pattern in ".{0,40}", tag in ".{0,40}") {
        if let Ok(p) = TagPattern::parse(&pattern) {
            let _ = p.matches(&tag);
        }
        let _ = tag_version(&tag);
        let _ = glob_match(&pattern, &tag);
    }

    /// A version is never replaced by an older one.
    #[test]
    fn never_a_downgrade(a in (0u64..20, 0u64..20, 0u64..20), b in (0u64..20, 0u64..20, 0u64..20)) {
        let (old, new) = (format!("v{}.{}.{}", a.0, a.1, a.2), format!("v{}.{}.{}", b.0, b.1, b.2));
        let verdict = judge(&workload(Some(&old), None, "v*.*.*"), &push(&new));
        let older = Version::new(b.0, b.1, b.2) <= Version::new(a.0, a.1, a.2);
        prop_assert_eq!(matches!(verdict, Verdict::Update { .. }), !older);
    }
}
