//! `gitopshq controller` as a cluster runs it: two replicas against a real API server, one
//! holding the Lease and reconciling while the other stands by and takes over when the holder
//! goes; `/healthz`, `/readyz` and `/metrics`; a clean exit on SIGTERM; and a clear refusal to
//! start when the CRDs are missing.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gitopshq_localplane::TestEnv;

/// A controller process, killed when dropped.
struct Replica {
    child: Child,
    port: u16,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn replica(env: &TestEnv, identity: &str, cache: &std::path::Path) -> Replica {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_gitopshq"))
        .args([
            "controller",
            "--lease-namespace",
            "default",
            "--identity",
            identity,
            "--metrics-address",
            &format!("127.0.0.1:{port}"),
            "--cache-dir",
            &cache.display().to_string(),
        ])
        .env("KUBECONFIG", env.kubeconfig_path())
        .env("GITOPSHQ_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gitopshq controller starts");
    Replica { child, port }
}

/// `(status code, body)` of `GET path`, or `None` while nothing listens.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let code = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((code, body))
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn kubectl(env: &TestEnv, args: &[&str]) -> String {
    let out = env.kubectl("admin").args(args).output().expect("kubectl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn lease_holder(env: &TestEnv) -> String {
    kubectl(
        env,
        &[
            "-n",
            "default",
            "get",
            "lease",
            "gitopshq-controller",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_reconciles_and_the_other_takes_over() {
    let env = TestEnv::start().await.expect("control plane");
    let dir = tempfile::tempdir().unwrap();
    let mut first = replica(&env, "replica-a", &dir.path().join("a"));
    wait_until("replica-a to be ready", Duration::from_secs(60), || {
        get(first.port, "/readyz").is_some_and(|(code, _)| code == 200)
    });
    let second = replica(&env, "replica-b", &dir.path().join("b"));
    wait_until("replica-b to serve health", Duration::from_secs(30), || {
        get(second.port, "/healthz").is_some_and(|(code, _)| code == 200)
    });
    // Standing by: alive, not ready.
    let (code, body) = get(second.port, "/readyz").unwrap();
    assert_eq!(code, 503, "{body}");
    assert_eq!(lease_holder(&env), "replica-a");

    // The holder reconciles: an Environment gets its status, and the metrics count it.
    let applied = env
        .kubectl("admin")
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(
                b"apiVersion: gitopshq.io/v1alpha1\nkind: Environment\nmetadata: {name: staging}\nspec: {rank: 2}\n",
            )?;
            child.wait()
        })
        .unwrap();
    assert!(applied.success());
    wait_until("the Environment's status", Duration::from_secs(30), || {
        kubectl(
            &env,
            &[
                "get",
                "environment",
                "staging",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ],
        ) == "True"
    });
    let (_, metrics) = get(first.port, "/metrics").unwrap();
    assert!(
        metrics.contains("gitopshq_controller_reconciliations_total{controller=\"environment\"}"),
        "{metrics}"
    );

    // SIGTERM: the holder stops cleanly; the other replica takes the Lease and works.
    let pid = first.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let exit = first.child.wait().unwrap();
    assert!(exit.success(), "a clean exit on SIGTERM: {exit}");
    wait_until(
        "replica-b to take the Lease",
        Duration::from_secs(60),
        || get(second.port, "/readyz").is_some_and(|(code, _)| code == 200),
    );
    assert_eq!(lease_holder(&env), "replica-b");
    drop(second);
}

#[tokio::test]
async fn without_the_crds_it_says_how_to_install_them() {
    let env = TestEnv::builder()
        .without_crds()
        .start()
        .await
        .expect("control plane");
    let out = Command::new(env!("CARGO_BIN_EXE_gitopshq"))
        .args([
            "controller",
            "--leader-election=false",
            "--metrics-address",
            "127.0.0.1:0",
        ])
        .env("KUBECONFIG", env.kubeconfig_path())
        .output()
        .expect("gitopshq controller runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("are not installed")
            && stderr.contains("gitopshq crds | kubectl apply --server-side -f -"),
        "{stderr}"
    );
}
