//! The bootstrap example, rendered by the real binary, against committed golden files.
//! Regenerate after an intended change with `GITOPSHQ_UPDATE_GOLDEN=1 cargo test -p gitopshq`.

mod common;

use std::path::Path;

use common::{gitopshq, repo_root, succeeds};

fn check_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("GITOPSHQ_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {}: run GITOPSHQ_UPDATE_GOLDEN=1 cargo test -p gitopshq",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{name} differs from the golden file; if the change is intended run GITOPSHQ_UPDATE_GOLDEN=1 cargo test -p gitopshq\n{}",
        gitopshq_engine::unified_diff(&expected, actual, "golden", "actual")
    );
}

#[test]
fn bootstrap_renders_each_environment_as_the_golden_files() {
    for env in ["development", "staging", "production"] {
        let rendered = succeeds(&["render", "-f", "examples/bootstrap", "--env", env]);
        check_golden(&format!("bootstrap-{env}.yaml"), &rendered);
    }
}

#[test]
fn production_render_resolves_variables_per_environment_and_tenant() {
    let rendered = succeeds(&["render", "-f", "examples/bootstrap", "--env", "production"]);
    // Environment scope wins over project scope, typed numbers stay numbers only when whole.
    assert!(rendered.contains("payments-db.prod.internal"), "{rendered}");
    assert!(
        rendered.contains("postgres://payments-db.prod.internal:5432/payments"),
        "{rendered}"
    );
    // Tenant override layer and production limits.
    assert!(rendered.contains("REGION"), "{rendered}");
    assert!(rendered.contains("memory: 512Mi"), "{rendered}");
    // Namespace defaults to the tenant's.
    assert!(rendered.contains("namespace: payments\n"), "{rendered}");
    assert!(
        !rendered.contains("{{"),
        "no template or variable syntax may survive:\n{rendered}"
    );
}

#[test]
fn rendering_twice_gives_identical_bytes() {
    let a = succeeds(&["render", "-f", "examples/bootstrap", "--env", "staging"]);
    let b = succeeds(&["render", "-f", "examples/bootstrap", "--env", "staging"]);
    assert_eq!(a, b);
}

#[test]
fn unknown_environment_is_an_error_naming_the_known_ones() {
    let out = gitopshq(&["render", "-f", "examples/bootstrap", "--env", "qa"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"qa\"") && err.contains("development, staging, production"),
        "{err}"
    );
}

#[test]
fn an_unresolved_variable_fails_the_render_naming_variable_environment_tenant_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let source = repo_root().join("examples/bootstrap");
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        let text = std::fs::read_to_string(entry.path()).unwrap();
        // Drop the staging variables: DATABASE_HOST no longer resolves there.
        let text = text.replace("DATABASE_HOST: payments-db.staging.internal", "OTHER: x");
        std::fs::write(dir.path().join(entry.file_name()), text).unwrap();
    }
    let out = gitopshq(&[
        "render",
        "-f",
        dir.path().to_str().unwrap(),
        "--env",
        "staging",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "a failed render prints no manifest");
    let err = String::from_utf8_lossy(&out.stderr);
    // Both uses are reported in one run, each message once: the cause is not repeated by the
    // errors that wrap it.
    assert!(err.starts_with("error: 2 problems:\n"), "{err}");
    for path in ["env.DATABASE_HOST", "env.DATABASE_URL"] {
        let message = format!(
            "cannot render payment-service/staging/eu-staging/payment-api: HQ variable hq.var.DATABASE_HOST used at value path {path} is not defined for environment staging, tenant eu-staging"
        );
        assert_eq!(
            err.matches(&message).count(),
            1,
            "{message:?} once in:\n{err}"
        );
    }
    assert_eq!(err.matches("is not defined for").count(), 2, "{err}");
    let vars = gitopshq(&[
        "vars",
        "-f",
        dir.path().to_str().unwrap(),
        "--env",
        "staging",
    ]);
    assert_eq!(vars.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&vars.stdout).contains("UNRESOLVED"));
}

#[test]
fn vars_lists_each_use_with_its_scope() {
    let out = succeeds(&["vars", "-f", "examples/bootstrap", "--env", "production"]);
    let line = out
        .lines()
        .find(|l| l.contains("env.DATABASE_HOST") && l.contains("{{hq.var.DATABASE_HOST}}"))
        .unwrap_or_else(|| panic!("no DATABASE_HOST use listed:\n{out}"));
    assert!(
        line.contains("environment") && line.contains("payments-db.prod.internal"),
        "{line}"
    );
    assert!(out.contains("LOG_LEVEL"), "{out}");
}

#[test]
fn compare_shows_what_differs_between_environments() {
    let out = succeeds(&[
        "compare",
        "-f",
        "examples/bootstrap",
        "staging",
        "production",
    ]);
    assert!(out.contains("env.DATABASE_HOST"), "{out}");
    assert!(
        out.contains("payments-db.staging.internal") && out.contains("payments-db.prod.internal"),
        "{out}"
    );
    assert!(out.contains("the sides differ"), "{out}");
    let same = gitopshq(&[
        "compare",
        "-f",
        "examples/bootstrap",
        "staging",
        "staging",
        "--exit-code",
    ]);
    assert!(
        same.status.success(),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );
    let differ = gitopshq(&[
        "compare",
        "-f",
        "examples/bootstrap",
        "staging",
        "production",
        "--exit-code",
    ]);
    assert_eq!(differ.status.code(), Some(1));
}

#[test]
fn crds_prints_every_kind() {
    let out = succeeds(&["crds"]);
    for crd in gitopshq_crds::all_crds() {
        let plural = crd.spec.names.plural;
        assert!(
            out.contains(&format!("name: {plural}.gitopshq.io")),
            "missing {plural}"
        );
    }
}
