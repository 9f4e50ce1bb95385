//! Self-managed serving certificate: the webhook keeps its own CA and serving certificate in a
//! Secret and writes the CA into both webhook configurations, so an install needs no
//! cert-manager.
//!
//! At start-up ([`ensure`]) the webhook reads the Secret named by `--tls-secret`. When it is
//! missing, unreadable, issued for another Service, or expires within [`RENEW_BEFORE`], a new CA
//! and serving certificate are issued and written with optimistic concurrency: a create, or an
//! update carrying the `resourceVersion` that was read. Two replicas starting together race
//! for that write; the loser gets a conflict, reads the Secret again and serves what the winner
//! wrote. The caBundle of both configurations is then set by server-side apply (field manager
//! `gitopshq`, forced: the webhook is the authority for that field).
//!
//! [`watch`] repeats the check about once a day. A renewed bundle keeps the previous CA while
//! the previous certificate is still valid, so a replica still serving it stays trusted until
//! it restarts; [`watch`] returns once the Secret holds a certificate other than the one being
//! served, and the process exits so that Kubernetes restarts it with the new one.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use gitopshq_crds::consts::FIELD_MANAGER;
use gitopshq_engine::error::Chain;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{ApiResource, DynamicObject, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tracing::{info, warn};

use crate::config::{API_SERVICE_NAME, CONFIGURATION_NAME};
use crate::error::{Error, Result};
use crate::tls::TlsMaterial;

/// A certificate that expires within this window is replaced.
pub const RENEW_BEFORE: SignedDuration = SignedDuration::from_hours(30 * 24);
/// How long a new CA and serving certificate are valid.
pub const VALIDITY: SignedDuration = SignedDuration::from_hours(365 * 24);
/// How often [`watch`] checks the Secret (plus up to an hour, so replicas started together do
/// not check at the same moment).
pub const CHECK_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// Keys of the Secret: a `kubernetes.io/tls` Secret plus the CA bundle, as cert-manager writes
/// it.
pub const CERT_KEY: &str = "tls.crt";
pub const KEY_KEY: &str = "tls.key";
pub const CA_KEY: &str = "ca.crt";

/// How long start-up waits for the webhook configuration to exist (an install creates it
/// together with the Deployment).
const CONFIGURATION_WAIT: Duration = Duration::from_secs(120);
/// Writes lost to another replica before giving up.
const WRITE_ATTEMPTS: usize = 5;

/// `--tls-secret`: `NAMESPACE/NAME`, or `NAME` in the webhook's own namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    pub namespace: Option<String>,
    pub name: String,
}

impl FromStr for SecretRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (namespace, name) = match s.split_once('/') {
            Some((namespace, name)) => (Some(namespace), name),
            None => (None, s),
        };
        let valid = |part: &str| {
            !part.is_empty()
                && part.len() <= 253
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        };
        if !valid(name) || namespace.is_some_and(|ns| !valid(ns)) {
            return Err(format!(
                "`{s}` is not NAMESPACE/NAME or NAME of a Secret (lowercase letters, digits, '-', '.')"
            ));
        }
        Ok(Self {
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        })
    }
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{namespace}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// What to do with the certificate found in the Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Valid for the Service, signed by the stored CA, for longer than [`RENEW_BEFORE`].
    Keep,
    /// Issue a new CA and certificate; the reason is logged.
    Renew(String),
}

/// The expiry decision: keep `stored` only if it serves `host`, chains to its own CA bundle,
/// matches its key, and is valid both `now` and [`RENEW_BEFORE`] from now.
pub fn decide(stored: Option<&TlsMaterial>, host: &str, now: Timestamp) -> Decision {
    let Some(stored) = stored else {
        return Decision::Renew("the Secret holds no certificate yet".into());
    };
    let soon = now.saturating_add(RENEW_BEFORE).unwrap_or(now);
    match verify(stored, host, now).and_then(|()| verify(stored, host, soon)) {
        Ok(()) => Decision::Keep,
        Err(reason) => Decision::Renew(reason),
    }
}

/// Checks the chain, name, key and validity at `at` with the same verifier a TLS client uses.
fn verify(stored: &TlsMaterial, host: &str, at: Timestamp) -> Result<(), String> {
    let chain = CertificateDer::pem_slice_iter(stored.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{CERT_KEY} is not PEM: {e}"))?;
    let Some((end_entity, intermediates)) = chain.split_first() else {
        return Err(format!("{CERT_KEY} holds no certificate"));
    };
    let key = PrivateKeyDer::from_pem_slice(stored.key_pem.as_bytes())
        .map_err(|e| format!("{KEY_KEY} is not a PEM private key: {e}"))?;
    let provider = rustls::crypto::ring::default_provider();
    rustls::sign::CertifiedKey::from_der(vec![end_entity.clone().into_owned()], key, &provider)
        .map_err(|e| format!("{KEY_KEY} does not belong to {CERT_KEY}: {e}"))?;
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(stored.ca_pem.as_bytes()) {
        let ca = ca.map_err(|e| format!("{CA_KEY} is not PEM: {e}"))?;
        roots
            .add(ca)
            .map_err(|e| format!("{CA_KEY} holds an unusable CA: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{CA_KEY} holds no CA"));
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::new(provider))
        .build()
        .map_err(|e| format!("{CA_KEY} cannot verify: {e}"))?;
    let name = ServerName::try_from(host.to_owned()).map_err(|e| format!("{host}: {e}"))?;
    let seconds = u64::try_from(at.as_second()).unwrap_or(0);
    verifier
        .verify_server_cert(
            end_entity,
            intermediates,
            &name,
            &[],
            UnixTime::since_unix_epoch(Duration::from_secs(seconds)),
        )
        .map(|_| ())
        .map_err(|e| format!("{CERT_KEY} is not valid for {host} on {at:.0}: {e}"))
}

/// The names the serving certificate carries for Service `name` in `namespace`; the API server
/// dials the third one.
pub fn service_hosts(namespace: &str, name: &str) -> Vec<String> {
    vec![
        name.to_owned(),
        format!("{name}.{namespace}"),
        format!("{name}.{namespace}.svc"),
        format!("{name}.{namespace}.svc.cluster.local"),
    ]
}

/// Midnight UTC of `at`'s day, as rcgen takes validity dates: `(year, month, day)`.
fn utc_day(at: Timestamp) -> (i32, u8, u8) {
    let date = at.to_zoned(jiff::tz::TimeZone::UTC).date();
    (i32::from(date.year()), date.month() as u8, date.day() as u8)
}

/// A new CA and a serving certificate for `hosts` (the first one is the subject), valid from a
/// day before `now` (clock skew) for [`VALIDITY`]. The CA bundle also keeps the CAs of
/// `previous` under which its certificate is still valid for the same Service `now`, for
/// replicas still serving it.
pub fn issue(
    hosts: &[String],
    previous: Option<&TlsMaterial>,
    now: Timestamp,
) -> Result<TlsMaterial> {
    let (y, m, d) = utc_day(
        now.saturating_sub(SignedDuration::from_hours(24))
            .unwrap_or(now),
    );
    let not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = utc_day(now.saturating_add(VALIDITY).unwrap_or(now));
    let not_after = rcgen::date_time_ymd(y, m, d);

    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("gitopshq webhook CA {now:.0}"));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = not_before;
    ca_params.not_after = not_after;
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let subject = hosts.first().map_or("gitopshq-webhook", String::as_str);
    params.distinguished_name.push(DnType::CommonName, subject);
    for host in hosts {
        params
            .subject_alt_names
            .push(SanType::DnsName(host.as_str().try_into()?));
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = not_before;
    params.not_after = not_after;
    let cert = params.signed_by(&key, &issuer)?;

    let mut ca_pem = ca.pem();
    if let (Some(previous), Some(host)) = (previous, hosts.get(2).or(hosts.first())) {
        for old in still_trusted(previous, host, now) {
            ca_pem.push_str(&old);
        }
    }
    Ok(TlsMaterial {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        ca_pem,
    })
}

/// The CAs of `previous`'s bundle under which its certificate is valid for `host` `now`, as
/// PEM.
fn still_trusted(previous: &TlsMaterial, host: &str, now: Timestamp) -> Vec<String> {
    let Ok(cas) =
        CertificateDer::pem_slice_iter(previous.ca_pem.as_bytes()).collect::<Result<Vec<_>, _>>()
    else {
        return Vec::new();
    };
    cas.iter()
        .map(pem_of)
        .filter(|pem| {
            let single = TlsMaterial {
                ca_pem: pem.clone(),
                ..previous.clone()
            };
            verify(&single, host, now).is_ok()
        })
        .collect()
}

fn pem_of(der: &CertificateDer<'_>) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

fn read_secret(secret: &Secret) -> Option<TlsMaterial> {
    let data = secret.data.as_ref()?;
    let text = |key: &str| {
        data.get(key)
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
            .filter(|v| !v.trim().is_empty())
    };
    Some(TlsMaterial {
        cert_pem: text(CERT_KEY)?,
        key_pem: text(KEY_KEY)?,
        ca_pem: text(CA_KEY)?,
    })
}

/// The Service both webhook configurations route to, from the MutatingWebhookConfiguration the
/// install created: the certificate must carry exactly the name the API server dials.
async fn webhook_service(client: &Client) -> Result<(String, String)> {
    let api = Api::<MutatingWebhookConfiguration>::all(client.clone());
    let deadline = tokio::time::Instant::now() + CONFIGURATION_WAIT;
    loop {
        if let Some(configuration) = api.get_opt(CONFIGURATION_NAME).await? {
            let service = configuration
                .webhooks
                .unwrap_or_default()
                .into_iter()
                .find_map(|w| w.client_config.service);
            return match service {
                Some(service) => Ok((service.namespace, service.name)),
                None => Err(Error::Tls(format!(
                    "MutatingWebhookConfiguration {CONFIGURATION_NAME} routes to no Service; \
                     a self-managed certificate is only issued for an in-cluster Service"
                ))),
            };
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Error::Tls(format!(
                "MutatingWebhookConfiguration {CONFIGURATION_NAME} does not exist; install the \
                 webhook configuration (Helm chart or `kubectl apply -k config/default`) first"
            )));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Reads the Secret, renews it when [`decide`] says so, sets the caBundle of both webhook
/// configurations and returns the material to serve.
pub async fn ensure(client: &Client, secret: &SecretRef) -> Result<TlsMaterial> {
    let namespace = secret
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let (service_namespace, service) = webhook_service(client).await?;
    let hosts = service_hosts(&service_namespace, &service);
    let api = Api::<Secret>::namespaced(client.clone(), &namespace);
    let tls = ensure_secret(&api, &secret.name, &hosts).await?;
    patch_ca_bundle(client, &tls.ca_pem).await?;
    Ok(tls)
}

async fn ensure_secret(api: &Api<Secret>, name: &str, hosts: &[String]) -> Result<TlsMaterial> {
    let host = &hosts[2];
    for _ in 0..WRITE_ATTEMPTS {
        let current = api.get_opt(name).await?;
        let stored = current.as_ref().and_then(read_secret);
        let now = Timestamp::now();
        let reason = match (decide(stored.as_ref(), host, now), &stored) {
            (Decision::Keep, Some(stored)) => return Ok(stored.clone()),
            (Decision::Renew(reason), _) => reason,
            (Decision::Keep, None) => "the Secret holds no certificate yet".to_owned(),
        };
        info!(secret = name, %reason, "issuing a new webhook CA and serving certificate");
        let fresh = issue(hosts, stored.as_ref(), now)?;
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        };
        let written = match current {
            None => {
                api.create(&params, &secret_object(name, &fresh, None))
                    .await
            }
            Some(existing) => {
                api.replace(name, &params, &secret_object(name, &fresh, Some(existing)))
                    .await
            }
        };
        match written {
            Ok(_) => return Ok(fresh),
            // AlreadyExists or a stale resourceVersion: another replica wrote first.
            Err(kube::Error::Api(status)) if status.code == 409 => {
                info!(
                    secret = name,
                    "another replica wrote the certificate first; reading it"
                );
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(Error::Tls(format!(
        "Secret {name} kept changing while the webhook tried to write its certificate"
    )))
}

/// The Secret to write: `existing` keeps its type, labels, annotations and other keys, and its
/// `resourceVersion`, so the update fails if someone else wrote in between.
fn secret_object(name: &str, tls: &TlsMaterial, existing: Option<Secret>) -> Secret {
    let mut secret = existing.unwrap_or_else(|| Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(
                [
                    ("app.kubernetes.io/name".to_owned(), "gitopshq".to_owned()),
                    (
                        "app.kubernetes.io/component".to_owned(),
                        "webhook".to_owned(),
                    ),
                ]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".to_owned()),
        ..Secret::default()
    });
    secret.metadata.managed_fields = None;
    let data = secret.data.get_or_insert_with(Default::default);
    for (key, value) in [
        (CERT_KEY, &tls.cert_pem),
        (KEY_KEY, &tls.key_pem),
        (CA_KEY, &tls.ca_pem),
    ] {
        data.insert(key.to_owned(), ByteString(value.clone().into_bytes()));
    }
    secret
}

/// Sets `caBundle` on every webhook of both configurations and on the pod-logs APIService when
/// it is installed (server-side apply, forced).
pub async fn patch_ca_bundle(client: &Client, ca_pem: &str) -> Result<()> {
    let bundle = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    set_webhooks_ca_bundle::<MutatingWebhookConfiguration>(client, &params, &bundle).await?;
    set_webhooks_ca_bundle::<ValidatingWebhookConfiguration>(client, &params, &bundle).await?;
    let api_services = Api::<APIService>::all(client.clone());
    if api_services.get_opt(API_SERVICE_NAME).await?.is_some() {
        api_services
            .patch(
                API_SERVICE_NAME,
                &params,
                &Patch::Apply(serde_json::json!({
                    "apiVersion": "apiregistration.k8s.io/v1",
                    "kind": "APIService",
                    "metadata": { "name": API_SERVICE_NAME },
                    "spec": { "caBundle": bundle },
                })),
            )
            .await?;
    }
    Ok(())
}

/// Sets `caBundle` on every webhook of our configuration of kind `K`. Its webhooks are a list
/// keyed by name, so the apply names each one the configuration holds now.
async fn set_webhooks_ca_bundle<K: Resource<DynamicType = ()>>(
    client: &Client,
    params: &PatchParams,
    bundle: &str,
) -> Result<()> {
    let api = Api::<DynamicObject>::all_with(client.clone(), &ApiResource::erase::<K>(&()));
    let current = api.get(CONFIGURATION_NAME).await?;
    let webhooks: Vec<_> = current.data["webhooks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| serde_json::json!({ "name": w["name"], "clientConfig": { "caBundle": bundle } }))
        .collect();
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": { "name": CONFIGURATION_NAME },
        "webhooks": webhooks,
    });
    api.patch(CONFIGURATION_NAME, params, &Patch::Apply(body))
        .await?;
    Ok(())
}

/// Checks the Secret about once a day (renewing it and re-setting the caBundle like
/// [`ensure`]) and returns once it holds a certificate other than `serving`: the caller exits so
/// that the restarted process serves the new one.
pub async fn watch(client: Client, secret: SecretRef, serving: TlsMaterial) {
    let jitter = Duration::from_secs(u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos()
            % 3600,
    ));
    let mut wait = CHECK_INTERVAL + jitter;
    loop {
        tokio::time::sleep(wait).await;
        match ensure(&client, &secret).await {
            Ok(current) if current.cert_pem != serving.cert_pem => {
                info!(%secret, "the webhook serving certificate changed");
                return;
            }
            Ok(_) => wait = CHECK_INTERVAL + jitter,
            Err(error) => {
                warn!(%secret, error = %Chain(&error), "checking the webhook serving certificate failed; retrying in an hour");
                wait = Duration::from_secs(3600);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "gitopshq-webhook.gitopshq-system.svc";

    fn hosts() -> Vec<String> {
        service_hosts("gitopshq-system", "gitopshq-webhook")
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn days(n: i64) -> SignedDuration {
        SignedDuration::from_hours(24 * n)
    }

    #[test]
    fn nothing_stored_is_issued() {
        assert!(matches!(
            decide(None, HOST, at("2026-01-10T00:00:00Z")),
            Decision::Renew(_)
        ));
    }

    #[test]
    fn a_fresh_certificate_is_kept_until_thirty_days_before_it_expires() {
        let issued = at("2026-01-10T12:00:00Z");
        let tls = issue(&hosts(), None, issued).unwrap();
        assert_eq!(decide(Some(&tls), HOST, issued), Decision::Keep);
        // Valid until 2027-01-10T00:00Z (the day of issue plus 365 days, at midnight).
        let expiry = at("2027-01-10T00:00:00Z");
        let kept = expiry - days(30) - SignedDuration::from_hours(1);
        assert_eq!(decide(Some(&tls), HOST, kept), Decision::Keep);
        let renewed = expiry - days(30) + SignedDuration::from_hours(1);
        let Decision::Renew(reason) = decide(Some(&tls), HOST, renewed) else {
            panic!("a certificate expiring within 30 days is kept");
        };
        assert!(reason.contains("expired"), "{reason}");
        assert!(matches!(
            decide(Some(&tls), HOST, expiry + days(1)),
            Decision::Renew(_)
        ));
    }

    #[test]
    fn a_certificate_not_yet_valid_is_replaced() {
        let tls = issue(&hosts(), None, at("2026-06-01T00:00:00Z")).unwrap();
        assert!(matches!(
            decide(Some(&tls), HOST, at("2026-05-01T00:00:00Z")),
            Decision::Renew(_)
        ));
    }

    #[test]
    fn another_service_wrong_ca_or_wrong_key_is_replaced() {
        let now = at("2026-01-10T00:00:00Z");
        let tls = issue(&hosts(), None, now).unwrap();
        let other = issue(&service_hosts("elsewhere", "gitopshq-webhook"), None, now).unwrap();
        assert!(matches!(
            decide(Some(&other), HOST, now),
            Decision::Renew(r) if r.contains("not valid for")
        ));
        let foreign_ca = TlsMaterial {
            ca_pem: other.ca_pem.clone(),
            ..tls.clone()
        };
        assert!(matches!(
            decide(Some(&foreign_ca), HOST, now),
            Decision::Renew(_)
        ));
        let foreign_key = TlsMaterial {
            key_pem: other.key_pem.clone(),
            ..tls.clone()
        };
        assert!(matches!(
            decide(Some(&foreign_key), HOST, now),
            Decision::Renew(r) if r.contains("does not belong")
        ));
        let garbage = TlsMaterial {
            cert_pem: "not a certificate".into(),
            ..tls
        };
        assert!(matches!(
            decide(Some(&garbage), HOST, now),
            Decision::Renew(_)
        ));
    }

    #[test]
    fn a_renewed_bundle_still_trusts_the_previous_certificate() {
        let first = issue(&hosts(), None, at("2026-01-10T00:00:00Z")).unwrap();
        let renewal = at("2026-12-20T00:00:00Z");
        let second = issue(&hosts(), Some(&first), renewal).unwrap();
        assert_eq!(decide(Some(&second), HOST, renewal), Decision::Keep);
        assert_eq!(second.ca_pem.matches("BEGIN CERTIFICATE").count(), 2);
        // A replica still serving the first certificate is trusted under the new bundle.
        let old_under_new = TlsMaterial {
            ca_pem: second.ca_pem.clone(),
            ..first.clone()
        };
        assert!(verify(&old_under_new, HOST, renewal).is_ok());
        // Once the first has expired, the next renewal drops its CA.
        let third = issue(&hosts(), Some(&second), at("2027-12-01T00:00:00Z")).unwrap();
        assert_eq!(third.ca_pem.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(!third.ca_pem.contains(first.ca_pem.trim()));
        let fourth = issue(&hosts(), Some(&first), at("2027-06-01T00:00:00Z")).unwrap();
        assert_eq!(fourth.ca_pem.matches("BEGIN CERTIFICATE").count(), 1);
    }

    #[test]
    fn secret_refs_parse() {
        assert_eq!(
            "gitopshq-system/gitopshq-webhook-tls".parse::<SecretRef>(),
            Ok(SecretRef {
                namespace: Some("gitopshq-system".into()),
                name: "gitopshq-webhook-tls".into()
            })
        );
        assert_eq!("webhook-tls".parse::<SecretRef>().unwrap().namespace, None);
        for bad in ["", "a/", "/b", "a/b/c", "Upper"] {
            assert!(bad.parse::<SecretRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_existing_secret_keeps_its_type_and_version() {
        let tls = issue(&hosts(), None, at("2026-01-10T00:00:00Z")).unwrap();
        let existing = Secret {
            metadata: ObjectMeta {
                name: Some("tls".into()),
                resource_version: Some("42".into()),
                ..ObjectMeta::default()
            },
            type_: Some("Opaque".into()),
            ..Secret::default()
        };
        let written = secret_object("tls", &tls, Some(existing));
        assert_eq!(written.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(written.type_.as_deref(), Some("Opaque"));
        assert_eq!(read_secret(&written).unwrap().cert_pem, tls.cert_pem);
        let created = secret_object("tls", &tls, None);
        assert_eq!(created.type_.as_deref(), Some("kubernetes.io/tls"));
    }
}
