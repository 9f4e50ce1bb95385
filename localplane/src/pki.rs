use std::net::{IpAddr, Ipv4Addr};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::Result;

/// `--service-cluster-ip-range`: room for a fleet's Services (a /24 ran out at 254, a quarter of
/// the fleet benchmark's tenants on one cluster). Its first address is the in-cluster
/// `kubernetes` Service, which the serving certificate must name for in-cluster clients.
pub(crate) const SERVICE_CLUSTER_IP_RANGE: &str = "10.0.0.0/16";
const KUBERNETES_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// Fresh key material for one control plane; nothing is shared between environments.
pub(crate) struct Pki {
    pub ca_pem: String,
    pub serving_cert_pem: String,
    pub serving_key_pem: String,
    /// Signs ServiceAccount tokens (`kubectl create token`); the API server verifies with the
    /// public half.
    pub sa_key_pem: String,
    pub sa_public_pem: String,
    /// The aggregation layer's front proxy: the CA aggregated APIs trust
    /// (`--requestheader-client-ca-file`) and the client certificate the API server presents
    /// when it forwards a request to one (`--proxy-client-cert-file`), named
    /// [`FRONT_PROXY_CLIENT`] as kubeadm names it.
    pub front_proxy_ca_pem: String,
    pub front_proxy_client_cert_pem: String,
    pub front_proxy_client_key_pem: String,
}

pub(crate) const FRONT_PROXY_CLIENT: &str = "front-proxy-client";

impl Pki {
    pub fn generate(cluster_name: &str) -> Result<Self> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(
            DnType::CommonName,
            format!("gitopshq-localplane-{cluster_name}-ca"),
        );
        ca.key_usages = ca_usages();
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);

        let serving_key = KeyPair::generate()?;
        let mut serving = CertificateParams::new(vec![
            "localhost".to_owned(),
            "kubernetes".to_owned(),
            "kubernetes.default".to_owned(),
            "kubernetes.default.svc".to_owned(),
        ])?;
        serving
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        serving
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(KUBERNETES_SERVICE_IP)));
        serving
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        serving.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving_cert = serving.signed_by(&serving_key, &issuer)?;

        let sa_key = KeyPair::generate()?;

        let front_proxy_ca_key = KeyPair::generate()?;
        let mut front_proxy_ca = CertificateParams::new(Vec::<String>::new())?;
        front_proxy_ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        front_proxy_ca.distinguished_name.push(
            DnType::CommonName,
            format!("gitopshq-localplane-{cluster_name}-front-proxy-ca"),
        );
        front_proxy_ca.key_usages = ca_usages();
        let front_proxy_ca_cert = front_proxy_ca.self_signed(&front_proxy_ca_key)?;
        let front_proxy_issuer = Issuer::new(front_proxy_ca, front_proxy_ca_key);
        let front_proxy_client_key = KeyPair::generate()?;
        let mut front_proxy_client = CertificateParams::new(Vec::<String>::new())?;
        front_proxy_client
            .distinguished_name
            .push(DnType::CommonName, FRONT_PROXY_CLIENT);
        front_proxy_client.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        front_proxy_client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let front_proxy_client_cert =
            front_proxy_client.signed_by(&front_proxy_client_key, &front_proxy_issuer)?;
        Ok(Pki {
            front_proxy_ca_pem: front_proxy_ca_cert.pem(),
            front_proxy_client_cert_pem: front_proxy_client_cert.pem(),
            front_proxy_client_key_pem: front_proxy_client_key.serialize_pem(),
            ca_pem: ca_cert.pem(),
            serving_cert_pem: serving_cert.pem(),
            serving_key_pem: serving_key.serialize_pem(),
            sa_public_pem: sa_key.public_key_pem(),
            sa_key_pem: sa_key.serialize_pem(),
        })
    }
}

fn ca_usages() -> Vec<KeyUsagePurpose> {
    vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ]
}
