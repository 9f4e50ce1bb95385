//! The dashboard's built pages are committed (the binary embeds them): a build from the
//! sources must give exactly the committed files, so a change to the sources without a rebuild
//! fails here, naming the file. The sources must also pass the build's checks (Prettier,
//! ESLint, tsc). Rebuild with `cd dashboard && npm ci && npm run build`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn dashboard() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboard")
}

fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path
                    .strip_prefix(root)
                    .expect("inside")
                    .display()
                    .to_string();
                out.insert(name, std::fs::read(&path).expect("readable"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_committed_pages_are_what_the_sources_build() {
    let dir = dashboard();
    run(
        Command::new("bash")
            .arg(dir.join("../scripts/dashboard-tools.sh"))
            .arg("--no-browser"),
        "scripts/dashboard-tools.sh --no-browser (npm ci)",
    );
    run(
        Command::new("npx")
            .args(["--no-install", "prettier", "--check", "."])
            .current_dir(&dir),
        "checking the dashboard's formatting (prettier --check; fix with npm run format)",
    );
    run(
        Command::new("npx")
            .args(["--no-install", "eslint", "."])
            .current_dir(&dir),
        "linting the dashboard (eslint)",
    );
    run(
        Command::new("npx")
            .args(["--no-install", "tsc", "--noEmit"])
            .current_dir(&dir),
        "type-checking the dashboard (tsc --noEmit)",
    );
    let out = tempfile::tempdir().expect("temporary folder");
    run(
        Command::new("npx")
            .args([
                "--no-install",
                "vite",
                "build",
                "--logLevel",
                "error",
                "--emptyOutDir",
                "--outDir",
            ])
            .arg(out.path())
            .current_dir(&dir),
        "building the dashboard (vite build)",
    );
    let built = files(out.path());
    let committed = files(&dir.join("dist"));
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&built),
        names(&committed),
        "dashboard/dist is stale: rebuild it with cd dashboard && npm run build, and commit it"
    );
    for (name, bytes) in &built {
        assert!(
            committed[name] == *bytes,
            "dashboard/dist/{name} is stale: rebuild it with cd dashboard && npm run build, and commit it"
        );
    }
}
