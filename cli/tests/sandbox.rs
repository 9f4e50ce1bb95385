//! `gitopshq sandbox` as a newcomer runs it: wait for "sandbox ready", use the printed
//! kubeconfig with kubectl, stop it with Ctrl-C (SIGINT) and check it exits cleanly.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn kubectl(kubeconfig: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Stops the sandbox (and with it both control planes) even when an assertion fails.
struct Sandbox(Child);

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn sandbox_starts_applies_bootstrap_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut sandbox = Sandbox(
        Command::new(env!("CARGO_BIN_EXE_gitopshq"))
            .args(["sandbox", "--dashboard-address", "127.0.0.1:0", "--dir"])
            .arg(dir.path())
            .current_dir(root)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let stdout = sandbox.0.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // The first run may build kube-apiserver; later ones start in seconds.
    let ready = loop {
        match lines.recv_timeout(Duration::from_secs(1500)) {
            Ok(line) if line.starts_with("sandbox ready: export KUBECONFIG=") => break line,
            Ok(_) => continue,
            Err(e) => panic!("sandbox did not become ready: {e}"),
        }
    };
    let kubeconfig = ready
        .trim_start_matches("sandbox ready: export KUBECONFIG=")
        .to_string();

    // The dashboard knows alice by her token, as the API server tells it.
    let dashboard = loop {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.starts_with("Dashboard: http://") => break line,
            Ok(_) => continue,
            Err(e) => panic!("the sandbox names no dashboard: {e}"),
        }
    };
    let address = dashboard
        .trim_start_matches("Dashboard: http://")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let token = std::fs::read_to_string(dir.path().join("token-alice")).unwrap();
    let mut http = std::net::TcpStream::connect(&address).unwrap();
    write!(
        http,
        "GET /api/session HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    http.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("\"user\":\"alice\""),
        "{answer}"
    );

    let (ok, out) = kubectl(&kubeconfig, &["get", "environments"]);
    assert!(ok, "{out}");
    for env in ["development", "staging", "production"] {
        assert!(out.contains(env), "{out}");
    }
    let (ok, out) = kubectl(&kubeconfig, &["get", "releases", "-n", "payment-service"]);
    assert!(ok && out.contains("payment-api-v1-0-0-dev"), "{out}");
    let (ok, out) = kubectl(
        &kubeconfig,
        &[
            "get",
            "secret",
            "cluster-eu-west-1",
            "-n",
            "gitopshq-system",
        ],
    );
    assert!(ok, "the workload cluster's kubeconfig Secret exists: {out}");
    let alice = dir.path().join("kubeconfig-alice");
    let (_, out) = kubectl(
        alice.to_str().unwrap(),
        &["auth", "can-i", "create", "namespaces"],
    );
    assert_eq!(out.lines().next(), Some("no"), "{out}");
    assert!(
        dir.path().join("gitops.git/HEAD").is_file(),
        "GitOps repository created"
    );

    let status = Command::new("kill")
        .args(["-INT", &sandbox.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = sandbox.0.wait().unwrap();
    assert!(exit.success(), "sandbox exits cleanly on Ctrl-C: {exit:?}");
    let (ok, _) = kubectl(
        &kubeconfig,
        &["get", "--raw", "/readyz", "--request-timeout=3s"],
    );
    assert!(!ok, "the control plane is gone after Ctrl-C");
}
