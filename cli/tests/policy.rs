//! `gitopshq policy test` / `policy eval` on examples/governance, run through the real binary.

mod common;

use common::{assert_says, gitopshq, repo_root, stdout, succeeds};

const POLICY: &str = "examples/governance/policy-require-limits.yaml";
const WITHOUT_LIMITS: &str = "examples/governance/inputs/production-without-limits.json";
const WITH_LIMITS: &str = "examples/governance/inputs/production-with-limits.json";
const STAGING: &str = "examples/governance/inputs/staging-without-limits.json";

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

/// A temporary folder with the given files, gone with the value.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Scratch(dir)
    }

    /// The folder's path, as the CLI's `-f` takes it.
    fn path(&self) -> String {
        self.0.path().to_str().unwrap().to_string()
    }

    /// The path of the file `name` in the folder.
    fn file(&self, name: &str) -> String {
        self.0.path().join(name).to_str().unwrap().to_string()
    }
}

#[test]
fn the_governance_example_passes_its_embedded_tests() {
    let out = succeeds(&["policy", "test", "-f", POLICY]);
    assert_says(
        &out,
        &[
            "policy require-resource-limits (gitopshq.workload, Rego v0): 3 passed, 0 failed",
            "  PASS  production container without limits is denied",
            "  PASS  production container with limits passes",
            "3 passed, 0 failed (1 policy, 0 inputs)",
        ],
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
    assert_says(
        &out,
        &[
            &format!("  DENY  input {WITHOUT_LIMITS}"),
            "        deny: Container 'api' in production must have resource limits",
            "        deny: Container 'metrics-sidecar' in production must have resource limits",
            &format!("  PASS  input {WITH_LIMITS}"),
            &format!("  PASS  input {STAGING}"),
            "(1 policy, 3 inputs)",
        ],
    );
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
    let dir = Scratch::new(&[("policy.yaml", &policy)]);
    let out = fails(&["policy", "test", "-f", &dir.path()]);
    assert_says(
        &out,
        &[
            "  FAIL  production container without limits is denied",
            "        expected deny: [\"Container 'api' needs limits\"]",
            "        got      deny: [\"Container 'api' in production must have resource limits\"]",
            "2 passed, 1 failed",
        ],
    );
}

#[test]
fn a_compile_error_is_shown_with_its_line() {
    let policy = std::fs::read_to_string(repo_root().join(POLICY))
        .unwrap()
        .replace(
            "not container.resources.limits",
            "not container.resources.limits ==",
        );
    let dir = Scratch::new(&[("policy.yaml", &policy)]);
    let out = fails(&["policy", "test", "-f", &dir.file("policy.yaml")]);
    assert_says(
        &out,
        &[
            "policy require-resource-limits (gitopshq.workload): does not compile",
            "policy require-resource-limits does not compile: line 7, column",
            "    7 | ",
            "0 passed, 4 failed",
        ],
    );
}

#[test]
fn bare_rego_files_and_yaml_inputs_work_too() {
    let rego = "package gitopshq.release\nimport rego.v1\n\nwarn contains msg if {\n  count(input.manifests) == 0\n  msg := sprintf(\"release %s renders nothing\", [input.release])\n}\n";
    let dir = Scratch::new(&[
        ("empty-release.rego", rego),
        ("input.yaml", "release: r1\nmanifests: []\n"),
    ]);
    let out = succeeds(&[
        "policy",
        "test",
        "-f",
        &dir.file("empty-release.rego"),
        "--input",
        &dir.file("input.yaml"),
    ]);
    assert_says(
        &out,
        &[
            "policy empty-release (gitopshq.release, Rego v1): 0 passed, 0 failed",
            "        warn: release r1 renders nothing",
        ],
    );
}

#[test]
fn eval_needs_one_policy() {
    let dir = Scratch::new(&[
        ("a.rego", "package a\n\ndeny[\"a\"] { true }\n"),
        ("b.rego", "package b\n\ndeny[\"b\"] { true }\n"),
        ("input.json", "{}"),
    ]);
    let out = fails(&[
        "policy",
        "eval",
        "-f",
        &dir.file("a.rego"),
        "-f",
        &dir.file("b.rego"),
        "--input",
        &dir.file("input.json"),
    ]);
    assert!(out.contains("choose one with --policy NAME"), "{out}");
    let out = succeeds(&[
        "policy",
        "eval",
        "-f",
        &dir.file("a.rego"),
        "-f",
        &dir.file("b.rego"),
        "--policy",
        "b",
        "--input",
        &dir.file("input.json"),
    ]);
    assert!(out.contains("\"deny\": [\n    \"b\"\n  ]"), "{out}");
}
