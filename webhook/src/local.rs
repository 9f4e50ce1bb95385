//! The webhook next to a local API server: a generated certificate for 127.0.0.1, the server on
//! a free port, and the webhook configurations pointing at it. Used by `gitopshq sandbox` and
//! the end-to-end tests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client};

use crate::Context;
use crate::config::{CONFIGURATION_NAME, Endpoint, webhook_configurations};
use crate::directory::WatchDirectory;
use crate::error::Result;
use crate::server::{Running, router, serve};
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
        let (directory, driver) = WatchDirectory::start(client.clone());
        let watches = tokio::spawn(driver);
        directory.wait_ready().await;
        let context = Arc::new(Context::new(Arc::new(directory), settings).with_clock(clock));
        context.set_ready();
        let tls = TlsMaterial::generate(&["127.0.0.1", "localhost"])?;
        let server = serve(
            router(Arc::clone(&context)),
            ([127, 0, 0, 1], 0).into(),
            &tls,
        )
        .await?;
        let address = server.address;
        install(
            &client,
            &Endpoint::Url(format!("https://{address}")),
            tls.ca_pem.as_bytes(),
        )
        .await?;
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
