//! `gitopshq policy test` / `policy eval` on examples/governance, run through the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const POLICY: &str = "examples/governance/policy-require-limits.yaml";
const WITHOUT_LIMITS: &str = "examples/governance/inputs/production-without-limits.json";
const WITH_LIMITS: &str = "examples/governance/inputs/production-with-limits.json";
const STAGING: &str = "examples/governance/inputs/staging-without-limits.json";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn gitopshq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitopshq"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("gitopshq runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn succeeds(args: &[&str]) -> String {
    let out = gitopshq(args);
    assert!(
        out.status.success(),
        "gitopshq {args:?} failed:\n{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

fn fails(args: &[&str]) -> String {
    let out = gitopshq(args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "gitopshq {args:?} should exit 1:\n{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out) + &String::from_utf8_lossy(&out.stderr)
}

/// A temporary folder with the given files.
fn scratch(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

#[test]
fn the_governance_example_passes_its_embedded_tests() {
    let out = succeeds(&["policy", "test", "-f", POLICY]);
    assert!(
        out.contains(
            "policy require-resource-limits (gitopshq.workload, Rego v0): 3 passed, 0 failed"
        ),
        "{out}"
    );
    assert!(
        out.contains("  PASS  production container without limits is denied"),
        "{out}"
    );
    assert!(
        out.contains("  PASS  production container with limits passes"),
        "{out}"
    );
    assert!(
        out.contains("3 passed, 0 failed (1 policy, 0 inputs)"),
        "{out}"
    );
}

#[test]
fn inputs_are_evaluated_against_every_policy() {
    let out = succeeds(&[
        "policy",
        "test",
        "-f",
        POLICY,
        "--input",
        WITHOUT_LIMITS,
        "--input",
        WITH_LIMITS,
        "--input",
        STAGING,
    ]);
    assert!(
        out.contains(&format!("  DENY  input {WITHOUT_LIMITS}")),
        "{out}"
    );
    assert!(
        out.contains("        deny: Container 'api' in production must have resource limits"),
        "{out}"
    );
    assert!(
        out.contains(
            "        deny: Container 'metrics-sidecar' in production must have resource limits"
        ),
        "{out}"
    );
    assert!(
        out.contains(&format!("  PASS  input {WITH_LIMITS}")),
        "{out}"
    );
    assert!(out.contains(&format!("  PASS  input {STAGING}")), "{out}");
    assert!(out.contains("(1 policy, 3 inputs)"), "{out}");
}

#[test]
fn eval_prints_the_verdict_as_json() {
    let out = succeeds(&["policy", "eval", "-f", POLICY, "--input", WITHOUT_LIMITS]);
    let verdict: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        verdict,
        serde_json::json!({
            "policy": "require-resource-limits",
            "package": "gitopshq.workload",
            "deny": [
                "Container 'api' in production must have resource limits",
                "Container 'metrics-sidecar' in production must have resource limits"
            ],
            "warn": []
        })
    );

    let out = succeeds(&["policy", "eval", "-f", POLICY, "--input", WITH_LIMITS]);
    let verdict: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(verdict["deny"], serde_json::json!([]));

    // --exit-code turns a denial into status 1, for CI.
    fails(&[
        "policy",
        "eval",
        "-f",
        POLICY,
        "--input",
        WITHOUT_LIMITS,
        "--exit-code",
    ]);
}

#[test]
fn a_failing_test_shows_expected_and_got() {
    let policy = std::fs::read_to_string(repo_root().join(POLICY))
        .unwrap()
        .replace(
            "          - Container 'api' in production must have resource limits",
            "          - Container 'api' needs limits",
        );
    let dir = scratch(&[("policy.yaml", &policy)]);
    let out = fails(&["policy", "test", "-f", dir.path().to_str().unwrap()]);
    assert!(
        out.contains("  FAIL  production container without limits is denied"),
        "{out}"
    );
    assert!(
        out.contains("        expected deny: [\"Container 'api' needs limits\"]"),
        "{out}"
    );
    assert!(
        out.contains(
            "        got      deny: [\"Container 'api' in production must have resource limits\"]"
        ),
        "{out}"
    );
    assert!(out.contains("2 passed, 1 failed"), "{out}");
}

#[test]
fn a_compile_error_is_shown_with_its_line() {
    let policy = std::fs::read_to_string(repo_root().join(POLICY))
        .unwrap()
        .replace(
            "not container.resources.limits",
            "not container.resources.limits ==",
        );
    let dir = scratch(&[("policy.yaml", &policy)]);
    let out = fails(&[
        "policy",
        "test",
        "-f",
        dir.path().join("policy.yaml").to_str().unwrap(),
    ]);
    assert!(
        out.contains("policy require-resource-limits (gitopshq.workload): does not compile"),
        "{out}"
    );
    assert!(
        out.contains("policy require-resource-limits does not compile: line 7, column"),
        "{out}"
    );
    assert!(out.contains("    7 | "), "{out}");
    assert!(out.contains("0 passed, 4 failed"), "{out}");
}

#[test]
fn bare_rego_files_and_yaml_inputs_work_too() {
    let rego = "package gitopshq.release\nimport rego.v1\n\nwarn contains msg if {\n  count(input.manifests) == 0\n  msg := sprintf(\"release %s renders nothing\", [input.release])\n}\n";
    let dir = scratch(&[
        ("empty-release.rego", rego),
        ("input.yaml", "release: r1\nmanifests: []\n"),
    ]);
    let file = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let out = succeeds(&[
        "policy",
        "test",
        "-f",
        &file("empty-release.rego"),
        "--input",
        &file("input.yaml"),
    ]);
    assert!(
        out.contains("policy empty-release (gitopshq.release, Rego v1): 0 passed, 0 failed"),
        "{out}"
    );
    assert!(
        out.contains("        warn: release r1 renders nothing"),
        "{out}"
    );
}

#[test]
fn eval_needs_one_policy() {
    let dir = scratch(&[
        ("a.rego", "package a\n\ndeny[\"a\"] { true }\n"),
        ("b.rego", "package b\n\ndeny[\"b\"] { true }\n"),
        ("input.json", "{}"),
    ]);
    let file = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let out = fails(&[
        "policy",
        "eval",
        "-f",
        &file("a.rego"),
        "-f",
        &file("b.rego"),
        "--input",
        &file("input.json"),
    ]);
    assert!(out.contains("choose one with --policy NAME"), "{out}");
    let out = succeeds(&[
        "policy",
        "eval",
        "-f",
        &file("a.rego"),
        "-f",
        &file("b.rego"),
        "--policy",
        "b",
        "--input",
        &file("input.json"),
    ]);
    assert!(out.contains("\"deny\": [\n    \"b\"\n  ]"), "{out}");
}
