use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Whether a plain-HTTP health endpoint on a loopback port answers `200`.
///
/// Health ports of the Go components (KWOK, Flux) speak HTTP/1.1 without TLS; a raw request
/// spares the harness an HTTP client for them.
pub(crate) async fn http_ok(port: u16, path: &str) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut response = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut response)).await;
    matches!(read, Ok(Ok(_)))
        && response
            .split(|b| *b == b'\n')
            .next()
            .is_some_and(|status| status.split(|b| *b == b' ').nth(1) == Some(b"200"))
}

/// Whether something accepts TCP connections on a loopback port (Redis, which speaks no HTTP).
pub(crate) async fn tcp_open(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}
