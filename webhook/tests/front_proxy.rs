//! The aggregated API's guard over real HTTPS: only a client certificate signed by the API
//! server's front-proxy CA, with an allowed name, makes the caller headers believed. Anyone
//! else who reaches the Service and sends `X-Remote-User: admin` is refused.

use axum::Extension;
use axum::Router;
use axum::routing::get;
use gitopshq_webhook::front_proxy::{FrontProxy, guard};
use gitopshq_webhook::server::{Running, serve_with_client_ca};
use gitopshq_webhook::tls::TlsMaterial;
use k8s_openapi::api::authentication::v1::UserInfo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A CA and a way to sign client certificates with it.
struct Authority {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Authority {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let pem = params.self_signed(&key).unwrap().pem();
        Authority {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A client certificate and key (PEM, concatenated) with common name `name`.
    fn client(&self, name: &str) -> String {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        format!("{}{}", cert.pem(), key.serialize_pem())
    }
}

fn front_proxy(ca: &Authority) -> FrontProxy {
    FrontProxy {
        ca_pem: ca.pem.clone(),
        allowed_names: vec!["front-proxy-client".into()],
        user_headers: vec!["X-Remote-User".into()],
        group_headers: vec!["X-Remote-Group".into()],
        extra_prefixes: vec!["X-Remote-Extra-".into()],
    }
}

async fn whoami(Extension(user): Extension<UserInfo>) -> String {
    format!(
        "{} {}",
        user.username.unwrap_or_default(),
        user.groups.unwrap_or_default().join(",")
    )
}

async fn serve(front_proxy: Option<FrontProxy>) -> (Running, TlsMaterial) {
    let tls = TlsMaterial::generate(&["127.0.0.1"]).unwrap();
    let client_ca = front_proxy.as_ref().map(|f| f.ca_pem.clone());
    let api = guard(Router::new().route("/whoami", get(whoami)), front_proxy)
        .route("/open", get(|| async { "discovery" }));
    let server = serve_with_client_ca(api, ([127, 0, 0, 1], 0).into(), &tls, client_ca.as_deref())
        .await
        .unwrap();
    (server, tls)
}

/// `GET /whoami` as the API server would forward it for bob, with `identity` as the client
/// certificate; the status and body, or the connection error.
async fn whoami_as(
    server: &Running,
    tls: &TlsMaterial,
    identity: Option<&str>,
) -> Result<(u16, String), String> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(tls.ca_pem.as_bytes()).unwrap());
    if let Some(identity) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(identity.as_bytes()).unwrap());
    }
    let client = builder.build().unwrap();
    let response = client
        .get(format!("https://{}/whoami", server.address))
        .header("X-Remote-User", "bob")
        .header("X-Remote-Group", "sre-team")
        .header("X-Remote-Group", "system:authenticated")
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.unwrap()))
}

#[tokio::test]
async fn the_api_servers_front_proxy_certificate_makes_the_caller_headers_believed() {
    let ca = Authority::new("front-proxy-ca");
    let (server, tls) = serve(Some(front_proxy(&ca))).await;
    let proxy = ca.client("front-proxy-client");
    assert_eq!(
        whoami_as(&server, &tls, Some(&proxy)).await.unwrap(),
        (200, "bob sre-team,system:authenticated".to_string())
    );
}

#[tokio::test]
async fn forged_caller_headers_are_refused() {
    let ca = Authority::new("front-proxy-ca");
    let (server, tls) = serve(Some(front_proxy(&ca))).await;

    // No client certificate: refused before any handler runs.
    let (status, body) = whoami_as(&server, &tls, None).await.unwrap();
    assert_eq!(status, 401, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["kind"], "Status");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no client certificate signed by the API server's front-proxy CA"),
        "{body}"
    );

    // A certificate of the front-proxy CA under another name.
    let (status, body) = whoami_as(&server, &tls, Some(&ca.client("kubelet")))
        .await
        .unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\\\"kubelet\\\" is not among"), "{body}");

    // The right name from another CA fails the TLS handshake.
    let rogue = Authority::new("rogue-ca");
    let refused = whoami_as(&server, &tls, Some(&rogue.client("front-proxy-client"))).await;
    assert!(refused.is_err(), "{refused:?}");

    // Routes outside the guard (discovery) stay open.
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(tls.ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let open = client
        .get(format!("https://{}/open", server.address))
        .send()
        .await
        .unwrap();
    assert_eq!(open.status().as_u16(), 200);
}

#[tokio::test]
async fn without_a_front_proxy_nothing_is_believed() {
    let (server, tls) = serve(None).await;
    let (status, body) = whoami_as(&server, &tls, None).await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no front proxy configured"), "{body}");
}
