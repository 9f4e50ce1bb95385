use std::{
    io::Write as _,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::Duration,
};

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

use crate::{Error, Result, env::owned_temp_dir};

/// A push carries a whole pack; test repositories stay far below this.
const MAX_REQUEST_BYTES: usize = 256 * 1024 * 1024;
/// A request git http-backend has not answered by then is stuck, not slow.
const CGI_TIMEOUT: Duration = Duration::from_secs(120);

/// Git's smart HTTP protocol on `http://127.0.0.1:<port>/`, serving every bare repository under
/// a folder through the machine's `git http-backend` (CGI, one process per request), so that
/// clients that speak only HTTP (Flux's go-git, libgit2) fetch and push as they would from a
/// Git host. Pushing needs no credentials (`http.receivepack` is on).
///
/// The server runs on a thread and runtime of its own: tests that block their own runtime (a
/// synchronous `kubectl`) never stall a controller fetching from it. Dropping it stops it.
#[derive(Debug)]
pub struct GitServer {
    root: PathBuf,
    addr: SocketAddr,
    log: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: TempDir,
}

impl GitServer {
    /// Serves the repositories under `root` (created if missing) on a free loopback port.
    pub fn start(root: impl Into<PathBuf>) -> Result<GitServer> {
        // Port 0 and keeping the bound socket: no other process can take the port meanwhile.
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(Error::io("cannot bind a loopback port for the Git server"))?;
        GitServer::serve_on(root.into(), listener)
    }

    /// Serves the repositories under `root` (created if missing) on `addr`, for URLs that must
    /// stay the same from run to run (`http://127.0.0.1:8091/gitops.git`). An address in use
    /// is an [`Error::Io`] whose source has kind [`std::io::ErrorKind::AddrInUse`].
    pub fn start_on(root: impl Into<PathBuf>, addr: SocketAddr) -> Result<GitServer> {
        let listener = std::net::TcpListener::bind(addr).map_err(Error::io(format!(
            "cannot listen on {addr} for the Git server"
        )))?;
        GitServer::serve_on(root.into(), listener)
    }

    fn serve_on(root: PathBuf, listener: std::net::TcpListener) -> Result<GitServer> {
        std::fs::create_dir_all(&root)
            .map_err(Error::io(format!("cannot create {}", root.display())))?;
        let dir = owned_temp_dir("git")?;
        let log = dir.path().join("git-http-backend.log");
        listener
            .set_nonblocking(true)
            .map_err(Error::io("cannot configure the Git server's socket"))?;
        let addr = listener
            .local_addr()
            .map_err(Error::io("cannot read the Git server's port"))?;
        let backend = Arc::new(Backend {
            root: root.clone(),
            log: log.clone(),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (started_tx, started) = std::sync::mpsc::channel::<std::io::Result<()>>();
        let thread = std::thread::Builder::new()
            .name("gitopshq-git-server".into())
            .spawn(move || serve(listener, backend, stopped, started_tx))
            .map_err(Error::io("cannot start the Git server's thread"))?;
        started
            .recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("the Git server's thread died")))
            .map_err(Error::io("cannot start the Git server"))?;
        Ok(GitServer {
            root,
            addr,
            log,
            stop: Some(stop),
            thread: Some(thread),
            _dir: dir,
        })
    }

    /// The folder whose bare repositories are served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of the repository at `path` under [`GitServer::root`] (`gitops.git`,
    /// `team/app.git`).
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url(), path.trim_start_matches('/'))
    }

    /// Creates an empty bare repository at `path` under the root, whose default branch is
    /// `main`, and returns its folder.
    pub fn create_bare_repository(&self, path: &str) -> Result<PathBuf> {
        let repository = self.root.join(path);
        let out = std::process::Command::new("git")
            .args(["init", "--quiet", "--bare", "--initial-branch=main"])
            .arg(&repository)
            .output()
            .map_err(Error::io("cannot run git init"))?;
        if !out.status.success() {
            return Err(Error::Git {
                action: format!("git init --bare {}", repository.display()),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(repository)
    }

    /// What git http-backend wrote to stderr, request by request.
    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    listener: std::net::TcpListener,
    backend: Arc<Backend>,
    stopped: tokio::sync::oneshot::Receiver<()>,
    started: std::sync::mpsc::Sender<std::io::Result<()>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = started.send(Err(e));
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                let _ = started.send(Err(e));
                return;
            }
        };
        let _ = started.send(Ok(()));
        let app = Router::new().fallback(handle).with_state(backend);
        // Stopping drops the connections and their CGI processes (kill_on_drop) at once; a
        // graceful stop would wait for clients' idle keep-alive connections.
        tokio::select! {
            _ = axum::serve(listener, app) => {}
            _ = stopped => {}
        }
    });
}

async fn handle(State(backend): State<Arc<Backend>>, request: Request) -> Response {
    match backend.run(request).await {
        Ok(response) => response,
        // git shows the body of a failed request; the reason belongs there.
        Err(message) => (StatusCode::INTERNAL_SERVER_ERROR, message).into_response(),
    }
}

#[derive(Debug)]
struct Backend {
    root: PathBuf,
    log: PathBuf,
}

impl Backend {
    /// One CGI request: the meta-variables of RFC 3875 that git http-backend reads, the body on
    /// its stdin, its headers and body back as the response.
    async fn run(&self, request: Request) -> Result<Response, String> {
        let (parts, body) = request.into_parts();
        let body = to_bytes(body, MAX_REQUEST_BYTES)
            .await
            .map_err(|e| format!("cannot read the request body: {e}"))?;
        let header = |name: HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let mut cgi = tokio::process::Command::new("git");
        cgi.arg("http-backend")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env("GIT_PROJECT_ROOT", &self.root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            // Anonymous pushes, and repositories created by another user than the one serving.
            .env("GIT_CONFIG_COUNT", "2")
            .env("GIT_CONFIG_KEY_0", "http.receivepack")
            .env("GIT_CONFIG_VALUE_0", "true")
            .env("GIT_CONFIG_KEY_1", "safe.directory")
            .env("GIT_CONFIG_VALUE_1", "*")
            .env("GATEWAY_INTERFACE", "CGI/1.1")
            .env("SERVER_PROTOCOL", "HTTP/1.1")
            .env("REMOTE_ADDR", "127.0.0.1")
            .env("REQUEST_METHOD", parts.method.as_str())
            .env("PATH_INFO", parts.uri.path())
            .env("QUERY_STRING", parts.uri.query().unwrap_or_default())
            .env("CONTENT_TYPE", header(header::CONTENT_TYPE))
            .env("CONTENT_LENGTH", body.len().to_string())
            // Clients gzip their requests; http-backend inflates them itself.
            .env("HTTP_CONTENT_ENCODING", header(header::CONTENT_ENCODING))
            // Protocol v2, which go-git and git ask for.
            .env(
                "GIT_PROTOCOL",
                header(HeaderName::from_static("git-protocol")),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cgi
            .spawn()
            .map_err(|e| format!("cannot run git http-backend: {e}"))?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        // Written while stdout is read: a large response would otherwise fill the pipe and
        // leave both sides waiting.
        let feed = tokio::spawn(async move {
            let _ = stdin.write_all(&body).await;
        });
        let output = tokio::time::timeout(CGI_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| format!("git http-backend did not answer in {CGI_TIMEOUT:?}"))?
            .map_err(|e| format!("git http-backend failed: {e}"))?;
        let _ = feed.await;
        self.record(&parts.method, &parts.uri, &output.stderr);
        if !output.status.success() && output.stdout.is_empty() {
            return Err(format!(
                "git http-backend exited with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        cgi_response(output.stdout)
    }

    fn record(&self, method: &axum::http::Method, uri: &axum::http::Uri, stderr: &[u8]) {
        let Ok(mut log) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
        else {
            return;
        };
        let _ = writeln!(log, "{method} {uri}");
        let _ = log.write_all(stderr);
    }
}

/// Splits a CGI response into its header lines (`Status:` gives the code) and the body.
fn cgi_response(mut output: Vec<u8>) -> Result<Response, String> {
    let (head_len, separator_len) = [&b"\r\n\r\n"[..], &b"\n\n"[..]]
        .iter()
        .filter_map(|sep| {
            output
                .windows(sep.len())
                .position(|w| w == *sep)
                .map(|at| (at, sep.len()))
        })
        .min()
        .ok_or("git http-backend wrote no header block")?;
    let body = output.split_off(head_len + separator_len);
    let head = String::from_utf8_lossy(&output[..head_len]).into_owned();
    let mut response = Response::new(Body::from(body));
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or_default();
            *response.status_mut() = code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .ok_or_else(|| format!("git http-backend sent the status {value:?}"))?;
        } else if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    Ok(response)
}
