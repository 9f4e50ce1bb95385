//! The admission webhook over real HTTPS: the server on 127.0.0.1:0 with a generated
//! certificate, a client that trusts only the generated CA, AdmissionReview (admission.k8s.io/v1)
//! bodies as the API server sends them. Decisions and bodies that are not reviews are judged in
//! process by the router tests; here stays what only the served port shows: the probes and the
//! scrape over TLS, and a body too large for the connection.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

async fn server() -> Server {
    Server::start(context(snapshot(Vec::new()))).await
}

/// A review that must pass: the server is still answering normally.
async fn assert_healthy(server: &Server) {
    let (status, body) = server.get("/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let request = ReviewRequest::new(
        "Release",
        "CREATE",
        "dave",
        &["backend-team"],
        release_json("still-fine", OPEN, false),
    )
    .uid("after-bad-input");
    let response = server.review("/validate", &request).await;
    assert_eq!(response["uid"], "after-bad-input");
    assert_eq!(response["allowed"], true, "{response}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let server = server().await;
    assert_eq!(server.get("/healthz").await, (200, "ok".to_string()));
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    server.context.set_ready();
    assert_eq!(server.get("/readyz").await, (200, "ok".to_string()));

    let frozen = ReviewRequest::new(
        "Release",
        "CREATE",
        "dave",
        &[],
        release_json("web-7", FROZEN, true),
    );
    server.review("/validate", &frozen).await;
    let approval = ReviewRequest::new(
        "ApprovalRequest",
        "UPDATE",
        "bob",
        &["sre-team"],
        approval_request_json(json!([{"decision": "Approve"}])),
    )
    .old(approval_request_json(json!([])));
    server.review("/mutate", &approval).await;
    server.post("/validate", b"{".to_vec()).await;

    let (status, metrics) = server.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("# TYPE gitopshq_webhook_admission_duration_seconds histogram"),
        "{metrics}"
    );
    let series = |endpoint: &str, kind: &str, operation: &str, verdict: &str| {
        format!(
            "gitopshq_webhook_admission_duration_seconds_count{{endpoint=\"{endpoint}\",kind=\"{kind}\",operation=\"{operation}\",verdict=\"{verdict}\"}} 1"
        )
    };
    for line in [
        series("validate", "Release", "CREATE", "Frozen"),
        series("mutate", "ApprovalRequest", "UPDATE", "allowed"),
    ] {
        assert!(metrics.contains(&line), "{line} missing from\n{metrics}");
    }
    assert!(
        metrics.contains("gitopshq_webhook_rejected_bodies_total{reason=\"Decode\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_3_mib_is_refused_without_hanging() {
    let server = server().await;
    // A well-formed review whose object carries 4 MiB of data.
    let mut object = release_json("huge", OPEN, false);
    object["spec"]["notes"] = json!("x".repeat(4 * 1024 * 1024));
    let body = ReviewRequest::new("Release", "CREATE", "dave", &[], object).body();
    assert!(body.len() > gitopshq_webhook::server::MAX_BODY_BYTES);
    let sent = server
        .client
        .post(server.url("/validate"))
        .header("content-type", "application/json")
        .body(body);
    let answer = tokio::time::timeout(Duration::from_secs(60), sent.send())
        .await
        .expect("answered, not hung");
    match answer {
        Ok(response) => {
            assert_eq!(response.status().as_u16(), 413);
            let text = response.text().await.unwrap_or_default();
            assert!(text.contains("length limit exceeded"), "{text}");
        }
        // The server may close the connection once it has refused the body; a reset is an
        // answer too, as long as it comes.
        Err(error) => assert!(
            error.is_request() || error.is_body() || error.is_connect(),
            "{error:?}"
        ),
    }

    // A body of unknown length (chunked) over the limit is refused as well: 5 chunks of 1 MiB
    // written by hand over TLS, and the answer read back.
    let address = server.running.address;
    let ca = server.ca_pem.clone();
    let answer = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || chunked_post(address, &ca, "/mutate", 5, 1024 * 1024)),
    )
    .await
    .expect("answered, not hung")
    .expect("the raw client ran");
    // As above, the server may reset the connection once it refused the body, and a reset can
    // discard its 413 before the client reads it: a reset is an answer, a timeout is not.
    match answer {
        Ok(answer) => assert!(
            answer.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
            "{answer}"
        ),
        Err(kind) => assert!(
            matches!(
                kind,
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "no answer, the connection ended with {kind:?}"
        ),
    }
    assert_healthy(&server).await;
}

/// POSTs `chunks` chunks of `size` spaces with `Transfer-Encoding: chunked` over a fresh TLS
/// connection and returns what the server answered (head and body as text). Write errors after
/// the server stopped reading are expected; the answer is read anyway. Without any answer, the
/// error that ended the read.
fn chunked_post(
    address: std::net::SocketAddr,
    ca_pem: &str,
    path: &str,
    chunks: usize,
    size: usize,
) -> Result<String, std::io::ErrorKind> {
    use std::io::{Read, Write};
    use std::sync::Arc;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    gitopshq_webhook::tls::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA PEM"))
        .expect("CA added");
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from("127.0.0.1").expect("a server name");
    let connection = rustls::ClientConnection::new(Arc::new(config), name).expect("a TLS client");
    let socket = std::net::TcpStream::connect(address).expect("connects");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    socket
        .set_write_timeout(Some(Duration::from_secs(30)))
        .expect("write timeout");
    let mut tls = rustls::StreamOwned::new(connection, socket);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let chunk = vec![b' '; size];
    let mut written = tls.write_all(head.as_bytes());
    for _ in 0..chunks {
        if written.is_err() {
            break;
        }
        written = tls
            .write_all(format!("{size:x}\r\n").as_bytes())
            .and_then(|()| tls.write_all(&chunk))
            .and_then(|()| tls.write_all(b"\r\n"));
    }
    if written.is_ok() {
        let _ = tls.write_all(b"0\r\n\r\n");
    }
    let _ = tls.flush();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tls.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buffer[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(error) if answer.is_empty() => return Err(error.kind()),
            Err(_) => break,
        }
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}
