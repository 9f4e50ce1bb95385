//! `gitopshq webhook`: the HTTPS admission server, and the configuration that routes to it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use gitopshq_controller::manager::shutdown_signal;
use gitopshq_engine::admission::Settings;
use gitopshq_webhook::certs::{self, SecretRef};
use gitopshq_webhook::run::AggregatedApi;
use gitopshq_webhook::tls::TlsMaterial;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,
    #[command(flatten)]
    pub serve: Serve,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Print the Mutating/ValidatingWebhookConfiguration for an in-cluster Service (YAML).
    Manifests(Manifests),
}

#[derive(Debug, clap::Args)]
pub struct Serve {
    /// Serving certificate (PEM).
    #[arg(
        long,
        env = "GITOPSHQ_WEBHOOK_CERT",
        value_name = "PATH",
        default_value = "/tls/tls.crt"
    )]
    pub cert: PathBuf,
    /// Private key of the serving certificate (PEM).
    #[arg(
        long,
        env = "GITOPSHQ_WEBHOOK_KEY",
        value_name = "PATH",
        default_value = "/tls/tls.key"
    )]
    pub key: PathBuf,
    /// HTTPS port.
    #[arg(long, env = "GITOPSHQ_WEBHOOK_PORT", default_value_t = 8443)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, env = "GITOPSHQ_WEBHOOK_BIND", default_value = "0.0.0.0")]
    pub bind: std::net::IpAddr,
    /// Time zone of recurring freeze windows that name none.
    #[arg(long, env = "GITOPSHQ_DEFAULT_TIME_ZONE", default_value = "UTC")]
    pub default_time_zone: String,
    /// User name(s) the GitOpsHQ controller authenticates as: only they create
    /// ApprovalRequests and name the authors of the releases they create for promotions and
    /// image updates (repeat, or separate with commas).
    #[arg(
        long = "controller-user",
        env = "GITOPSHQ_CONTROLLER_USERS",
        value_delimiter = ',',
        default_value = gitopshq_engine::admission::DEFAULT_CONTROLLER_USER
    )]
    pub controller_users: Vec<String>,
    /// Group(s) of the platform administrators, who alone may delete records (submitted
    /// releases, approval requests, break-glass sessions).
    #[arg(
        long = "record-admin-group",
        env = "GITOPSHQ_RECORD_ADMIN_GROUPS",
        value_delimiter = ',',
        default_value = "system:masters"
    )]
    pub record_admin_groups: Vec<String>,
    /// Manage the serving certificate in this Secret (`NAME` alone: the webhook's namespace)
    /// instead of reading --cert/--key: issue and renew it, and set the caBundle of the webhook
    /// configurations.
    #[arg(
        long,
        env = "GITOPSHQ_WEBHOOK_TLS_SECRET",
        value_name = "NAMESPACE/NAME"
    )]
    pub tls_secret: Option<SecretRef>,
}

#[derive(Debug, clap::Args)]
pub struct Manifests {
    /// Namespace of the webhook Service.
    #[arg(long, default_value = "gitopshq-system")]
    pub namespace: String,
    /// Name of the webhook Service.
    #[arg(long, default_value = "gitopshq-webhook")]
    pub service: String,
    /// cert-manager Certificate whose CA is injected as caBundle.
    #[arg(long, default_value = "gitopshq-webhook")]
    pub certificate: String,
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Some(Sub::Manifests(m)) => {
            print!(
                "{}",
                gitopshq_webhook::config::service_manifests_yaml(
                    &m.namespace,
                    &m.service,
                    &m.certificate
                )
            );
            Ok(ExitCode::SUCCESS)
        }
        None => serve(args.serve),
    }
}

/// The pod-logs API (`logs.gitopshq.io`) the webhook serves beside admission, reading the
/// clusters' logs with the webhook's own credentials once RBAC allows the caller.
pub fn pod_logs_api(client: kube::Client) -> AggregatedApi {
    AggregatedApi {
        discovery: gitopshq_controller::logs_api::discovery(),
        routes: gitopshq_controller::logs_api::routes(client),
    }
}

fn serve(args: Serve) -> Result<ExitCode> {
    let address = SocketAddr::new(args.bind, args.port);
    let settings = Settings {
        default_time_zone: args.default_time_zone,
        controller_users: args.controller_users,
        record_admin_groups: args.record_admin_groups,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let client = kube::Client::try_default()
            .await
            .context("no Kubernetes configuration: set KUBECONFIG or run in a cluster")?;
        let Some(secret) = args.tls_secret else {
            let tls = TlsMaterial::from_files(&args.cert, &args.key)?;
            let api = Some(pod_logs_api(client.clone()));
            gitopshq_webhook::run::run(client, tls, address, settings, api, shutdown_signal())
                .await?;
            return Ok(ExitCode::SUCCESS);
        };
        let tls = certs::ensure(&client, &secret).await?;
        tokio::select! {
            served = gitopshq_webhook::run::run(client.clone(), tls.clone(), address, settings, Some(pod_logs_api(client.clone())), shutdown_signal()) => served?,
            () = certs::watch(client, secret, tls) => {
                // Exit so that Kubernetes restarts the webhook with the renewed certificate.
                tracing::info!("exiting to serve the renewed certificate after the restart");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
