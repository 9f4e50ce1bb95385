//! `gitopshq sandbox` as a newcomer runs it: wait for "sandbox ready", which comes once the
//! bootstrap release is Healthy on the real loop, use the printed kubeconfigs with kubectl,
//! stop it with Ctrl-C (SIGINT) and check it exits cleanly; and `--no-wait` failing clearly
//! when the release cannot become Healthy.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

/// One sandbox at a time: each runs two clusters, Flux and KWOK on the machine's cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A cold machine builds every Go component of the loop first (about 20 minutes on 2 cores).
const FIRST_START: Duration = Duration::from_secs(3600);

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

/// `gitopshq sandbox FLAGS` from the repository's root with its state in `dir`, the dashboard
/// and the Git server on free ports, so sandboxes of other tests and of people do not collide.
fn gitopshq_sandbox(dir: &Path, flags: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gitopshq"));
    cmd.arg("sandbox")
        .args(flags)
        .args([
            "--dashboard-address",
            "127.0.0.1:0",
            "--git-address",
            "127.0.0.1:0",
            "--dir",
        ])
        .arg(dir)
        .current_dir(common::repo_root());
    cmd
}

/// `kubectl get KIND NAME -o jsonpath=PATH` (in `namespace` when given).
fn get(
    kubeconfig: &str,
    namespace: Option<&str>,
    kind: &str,
    name: &str,
    path: &str,
) -> (bool, String) {
    let jsonpath = format!("jsonpath={path}");
    let mut args = Vec::new();
    if let Some(namespace) = namespace {
        args.extend(["-n", namespace]);
    }
    args.extend(["get", kind, name, "-o", &jsonpath]);
    kubectl(kubeconfig, &args)
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
fn sandbox_brings_the_bootstrap_release_to_healthy_and_stops_on_ctrl_c() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let mut sandbox = Sandbox(
        gitopshq_sandbox(dir.path(), &[])
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
    // The first run may build the loop's components; later ones start in seconds.
    let ready = loop {
        match lines.recv_timeout(FIRST_START) {
            Ok(line) if line.starts_with("sandbox ready: export KUBECONFIG=") => break line,
            Ok(_) => continue,
            Err(e) => panic!("sandbox did not become ready: {e}"),
        }
    };
    let kubeconfig = ready
        .trim_start_matches("sandbox ready: export KUBECONFIG=")
        .to_string();
    let mut printed = Vec::new();
    let dashboard = loop {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.starts_with("Dashboard: http://") => break line,
            Ok(line) => printed.push(line),
            Err(e) => panic!("the sandbox names no dashboard: {e}"),
        }
    };
    let printed = printed.join("\n");
    assert!(
        printed.contains("release payment-service/payment-api-v1-0-0-dev is Healthy (commit "),
        "{printed}"
    );
    assert!(
        !printed.contains("play Argo CD") && !printed.contains("kubelet"),
        "nobody plays a component any more: {printed}"
    );

    // The dashboard knows alice by her token, as the API server tells it.
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

    // The examples' repository URL became the one the sandbox serves (a free port here).
    let (ok, url) = get(
        &kubeconfig,
        None,
        "project",
        "payment-service",
        "{.spec.repository.url}",
    );
    assert!(ok, "{url}");
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/gitops.git"),
        "{url}"
    );
    assert!(
        printed.contains(&url),
        "the printed Git URL is {url}: {printed}"
    );
    // The release's commit is in the repository, and Flux applied it to the workload cluster,
    // where its pod runs: nobody but Flux applied it, and nobody but KWOK made it Ready.
    let (ok, commit) = get(
        &kubeconfig,
        Some("payment-service"),
        "release",
        "payment-api-v1-0-0-dev",
        "{.status.commit}",
    );
    assert!(ok && commit.len() == 40, "{commit}");
    let log = Command::new("git")
        .arg("--git-dir")
        .arg(dir.path().join("gitops.git"))
        .args(["log", "--format=%H", "main"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&log.stdout).contains(&commit),
        "{commit} is not on main"
    );
    let (ok, applied) = get(
        &kubeconfig,
        Some("flux-system"),
        "kustomizations.kustomize.toolkit.fluxcd.io",
        "payment-service-development-eu-development",
        "{.status.lastAppliedRevision}",
    );
    assert!(ok && applied == format!("main@sha1:{commit}"), "{applied}");
    let workload = dir.path().join("kubeconfig-workload");
    let (ok, available) = get(
        workload.to_str().unwrap(),
        Some("payments-dev"),
        "deployment",
        "payment-api",
        "{.status.availableReplicas}",
    );
    assert!(ok && available == "1", "{available}");

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

#[test]
fn sandbox_no_wait_fails_clearly_when_the_release_cannot_become_healthy() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let root = common::repo_root();
    // The bootstrap example whose release sets the pod label KWOK's crash-loop Stage selects.
    let examples = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root.join("examples/bootstrap")).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if path.ends_with("80-release.yaml") {
            text = text.replace(
                "      version: 1.0.0\n",
                "      version: 1.0.0\n      values:\n        podLabels:\n          gitopshq.io/simulate: crash-loop\n",
            );
            assert!(text.contains("crash-loop"), "{text}");
        }
        std::fs::write(examples.path().join(path.file_name().unwrap()), text).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let out = gitopshq_sandbox(dir.path(), &["--no-wait"])
        .arg("--apply")
        .arg(examples.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains("sandbox ready"),
        "ready without a Healthy release: {stdout}"
    );
    assert!(
        stderr.contains(
            "error: release payment-service/payment-api-v1-0-0-dev is Degraded: 0 of 1 tenants healthy"
        ) && stderr.contains("CrashLoopBackOff")
            && stderr.contains("it will not become Healthy"),
        "{stderr}"
    );
    // What each part of the loop says comes with it.
    assert!(
        stderr.contains("Deployment payments-dev/payment-api in the workload cluster"),
        "{stderr}"
    );
}

#[test]
fn sandbox_delivers_with_argo_cd_when_asked_and_times_its_sync() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let out = gitopshq_sandbox(
        dir.path(),
        &["--no-wait", "--delivery", "argocd", "--bench-releases", "2"],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("starting the management cluster with Argo CD"),
        "{stderr}"
    );
    assert!(
        stdout.contains("sandbox ready")
            && stdout.contains("Argo CD applied it to eu-west-1 and its pods are Ready")
            && stdout.contains("application-controller, repo-server and Redis, namespace argocd"),
        "{stdout}"
    );
    // The benchmark's "applied" mark is the tenant's Application Synced at each release's
    // commit: Argo CD, not Flux, delivered them.
    assert!(
        stdout.contains("Release benchmark (Argo CD): 2 releases")
            && stdout.contains("commit → Argo CD applied"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("Flux") && !stderr.contains("Flux GitRepository"),
        "{stdout}"
    );
}
