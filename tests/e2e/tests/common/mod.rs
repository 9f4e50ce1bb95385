//! Running `kubectl` and judging its outcome, shared by the end-to-end tests.

use std::process::{Command, Output};

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a kubectl command that must succeed; returns its stdout.
pub fn kubectl_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{stderr}",
        out.status
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a kubectl command that must fail; returns its stderr, where kubectl says why.
pub fn kubectl_err(cmd: &mut Command) -> String {
    let out = run(cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "{cmd:?} succeeded but should have failed:\n{stdout}"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a kubectl command with `stdin` as its input, e.g. `create -f -`.
#[allow(dead_code)] // not every test binary feeds manifests
pub fn with_stdin(cmd: &mut Command, stdin: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("kubectl finishes")
}
