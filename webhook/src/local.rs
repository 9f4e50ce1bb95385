//! The webhook next to a local API server: a generated certificate for 127.0.0.1, the server on
//! a free port, and the webhook configurations pointing at it. Used by `gitopshq sandbox` and
//! the end-to-end tests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client};

use crate::Context;
use crate::config::{
    API_SERVICE_NAME, CONFIGURATION_NAME, Endpoint, api_service, webhook_configurations,
};
use crate::directory::WatchDirectory;
use crate::error::Error;
use crate::error::Result;
use crate::run::{AggregatedApi, routes};
use crate::server::{Running, serve_with_client_ca};
use crate::tls::TlsMaterial;
use gitopshq_engine::admission::Settings;

/// A running local webhook. Dropping it stops the server (the configurations stay; the API
/// server they belong to is normally dropped with it).
pub struct LocalWebhook {
    pub address: SocketAddr,
    pub context: Arc<Context>,
    server: Option<Running>,
    watches: tokio::task::JoinHandle<()>,
    client: Client,
}

impl LocalWebhook {
    /// Starts the watches, waits for them, serves on 127.0.0.1 and installs the configurations.
    pub async fn start(client: Client, settings: Settings) -> Result<Self> {
        Self::start_with(client, settings, jiff::Timestamp::now).await
    }

    /// As [`LocalWebhook::start`], with the clock decisions use.
    pub async fn start_with(
        client: Client,
        settings: Settings,
        clock: fn() -> jiff::Timestamp,
    ) -> Result<Self> {
        Self::start_serving(client, settings, clock, None).await
    }

    /// As [`LocalWebhook::start_with`], also serving `api` as the pod-logs APIService: an
    /// ExternalName Service `gitopshq-system/gitopshq-webhook` names 127.0.0.1, and the start
    /// waits until the API server reports the APIService Available.
    pub async fn start_serving(
        client: Client,
        settings: Settings,
        clock: fn() -> jiff::Timestamp,
        api: Option<AggregatedApi>,
    ) -> Result<Self> {
        let (directory, driver) = WatchDirectory::start(client.clone());
        let watches = tokio::spawn(driver);
        directory.wait_ready().await;
        let context = Arc::new(Context::new(Arc::new(directory), settings).with_clock(clock));
        context.set_ready();
        let service_host = format!("{SERVICE_NAME}.{SERVICE_NAMESPACE}.svc");
        let tls = TlsMaterial::generate(&["127.0.0.1", "localhost", &service_host])?;
        let serves_api = api.is_some();
        let (router, client_ca) = routes(&client, Arc::clone(&context), api).await;
        let server = serve_with_client_ca(
            router,
            ([127, 0, 0, 1], 0).into(),
            &tls,
            client_ca.as_deref(),
        )
        .await?;
        let address = server.address;
        install(
            &client,
            &Endpoint::Url(format!("https://{address}")),
            tls.ca_pem.as_bytes(),
        )
        .await?;
        if serves_api {
            install_api_service(&client, address.port(), tls.ca_pem.as_bytes()).await?;
        }
        Ok(Self {
            address,
            context,
            server: Some(server),
            watches,
            client,
        })
    }

    /// Removes the configurations and stops the server.
    pub async fn stop(mut self) -> Result<()> {
        let params = DeleteParams::default();
        let _ = Api::<MutatingWebhookConfiguration>::all(self.client.clone())
            .delete(CONFIGURATION_NAME, &params)
            .await;
        let _ = Api::<ValidatingWebhookConfiguration>::all(self.client.clone())
            .delete(CONFIGURATION_NAME, &params)
            .await;
        let _ = Api::<APIService>::all(self.client.clone())
            .delete(API_SERVICE_NAME, &params)
            .await;
        if let Some(server) = self.server.take() {
            server.shutdown().await?;
        }
        Ok(())
    }
}

impl Drop for LocalWebhook {
    fn drop(&mut self) {
        self.watches.abort();
    }
}

const SERVICE_NAMESPACE: &str = "gitopshq-system";
const SERVICE_NAME: &str = "gitopshq-webhook";
/// How long the API server may take to find the pod-logs API available.
const API_SERVICE_READY: Duration = Duration::from_secs(60);

/// Routes the pod-logs APIService to `127.0.0.1:port` and waits until the API server reaches
/// it (its discovery check passes).
async fn install_api_service(client: &Client, port: u16, ca_bundle: &[u8]) -> Result<()> {
    let params = PatchParams::apply(gitopshq_crds::consts::FIELD_MANAGER).force();
    let apply = |value: serde_json::Value| Patch::Apply(value);
    Api::<Namespace>::all(client.clone())
        .patch(
            SERVICE_NAMESPACE,
            &params,
            &apply(serde_json::json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": SERVICE_NAMESPACE},
            })),
        )
        .await?;
    Api::<Service>::namespaced(client.clone(), SERVICE_NAMESPACE)
        .patch(
            SERVICE_NAME,
            &params,
            &apply(serde_json::json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": SERVICE_NAME, "namespace": SERVICE_NAMESPACE},
                "spec": {"type": "ExternalName", "externalName": "127.0.0.1"},
            })),
        )
        .await?;
    let mut value = serde_json::to_value(api_service(
        SERVICE_NAMESPACE,
        SERVICE_NAME,
        i32::from(port),
        Some(ca_bundle),
    ))
    .unwrap_or_default();
    value["apiVersion"] = "apiregistration.k8s.io/v1".into();
    value["kind"] = "APIService".into();
    let api_services = Api::<APIService>::all(client.clone());
    api_services
        .patch(API_SERVICE_NAME, &params, &apply(value))
        .await?;
    let deadline = tokio::time::Instant::now() + API_SERVICE_READY;
    loop {
        let service = api_services.get(API_SERVICE_NAME).await?;
        let available = service
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "Available");
        match available {
            Some(c) if c.status == "True" => return Ok(()),
            other if tokio::time::Instant::now() > deadline => {
                return Err(Error::FrontProxy(format!(
                    "the API server did not find the pod-logs API available within {}s: {}",
                    API_SERVICE_READY.as_secs(),
                    other
                        .map(|c| format!(
                            "{}: {}",
                            c.reason.unwrap_or_default(),
                            c.message.unwrap_or_default()
                        ))
                        .unwrap_or_else(|| "no Available condition".into())
                )));
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Applies both configurations for `endpoint` with `ca_bundle` (server-side apply).
pub async fn install(client: &Client, endpoint: &Endpoint, ca_bundle: &[u8]) -> Result<()> {
    let (mutating, validating) =
        webhook_configurations(endpoint, Some(ca_bundle), &BTreeMap::new());
    let params = PatchParams::apply(gitopshq_crds::consts::FIELD_MANAGER).force();
    let mut mutating_value = serde_json::to_value(&mutating).unwrap_or_default();
    mutating_value["apiVersion"] = "admissionregistration.k8s.io/v1".into();
    mutating_value["kind"] = "MutatingWebhookConfiguration".into();
    let mut validating_value = serde_json::to_value(&validating).unwrap_or_default();
    validating_value["apiVersion"] = "admissionregistration.k8s.io/v1".into();
    validating_value["kind"] = "ValidatingWebhookConfiguration".into();
    Api::<MutatingWebhookConfiguration>::all(client.clone())
        .patch(CONFIGURATION_NAME, &params, &Patch::Apply(mutating_value))
        .await?;
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .patch(CONFIGURATION_NAME, &params, &Patch::Apply(validating_value))
        .await?;
    Ok(())
}
