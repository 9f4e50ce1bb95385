//! Following the bootstrap release until it is Healthy, with a line for each step it takes,
//! and what to show when it does not get there.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use gitopshq_crds::release::{Release, ReleasePhase};
use gitopshq_engine::layout::gitops_object_name;
use gitopshq_engine::outcome::{self, WaitVerdict};
use gitopshq_localplane::RealLoop;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::DynamicObject;

use super::engine::Delivery;
use super::{detail, seconds};

/// The release of `examples/bootstrap` the sandbox waits for.
pub const BOOTSTRAP_RELEASE: (&str, &str) = ("payment-service", "payment-api-v1-0-0-dev");
/// Its environment, tenant, the tenant's namespace and the workload, as the example names them.
pub const ENVIRONMENT: &str = "development";
pub const TENANT: &str = "eu-development";
pub const TENANT_NAMESPACE: &str = "payments-dev";
pub const WORKLOAD: &str = "payment-api";

const POLL: Duration = Duration::from_millis(200);

/// The Flux Kustomization or Argo CD Application that applies the bootstrap tenant's folder.
pub fn tenant_object() -> String {
    gitops_object_name(BOOTSTRAP_RELEASE.0, ENVIRONMENT, TENANT)
}

/// Waits until the bootstrap release is Healthy and returns its short commit; prints a line
/// each time its phase or message changes, timed from `since`. `Err` says why it stopped:
/// a phase it cannot leave for Healthy, or the timeout.
pub async fn wait(
    real_loop: &RealLoop,
    timeout: Duration,
    since: Instant,
) -> Result<String, String> {
    let (namespace, name) = BOOTSTRAP_RELEASE;
    let client = real_loop
        .management
        .client()
        .await
        .map_err(|e| format!("cannot reach the management cluster: {e}"))?;
    let releases: Api<Release> = Api::namespaced(client, namespace);
    let deadline = Instant::now() + timeout;
    let mut shown = String::new();
    let mut last: Option<Release> = None;
    loop {
        // A failed read is the API server being busy; the deadline bounds the retries.
        if let Ok(found) = releases.get_opt(name).await {
            last = found;
        }
        let phase = last.as_ref().and_then(phase_of);
        let line = describe(last.as_ref());
        if line != shown {
            detail(&format!("{:>7}  {line}", seconds(since.elapsed())));
            shown = line;
        }
        match outcome::wait_verdict_applied_together(ReleasePhase::Healthy, phase) {
            WaitVerdict::Reached => {
                let commit = last
                    .as_ref()
                    .and_then(|r| r.status.as_ref())
                    .and_then(|s| s.short_commit.clone())
                    .unwrap_or_default();
                return Ok(commit);
            }
            WaitVerdict::Stop(_) => {
                return Err(format!(
                    "release {namespace}/{name} is {shown}; it will not become Healthy"
                ));
            }
            WaitVerdict::Waiting => {}
        }
        if Instant::now() > deadline {
            return Err(format!(
                "release {namespace}/{name} is not Healthy after {}: {shown}",
                seconds(timeout)
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn phase_of(release: &Release) -> Option<ReleasePhase> {
    release.status.as_ref().and_then(|s| s.phase)
}

/// "Deployed: waiting for … (eu-development: Progressing: …)".
fn describe(release: Option<&Release>) -> String {
    let Some(release) = release else {
        return "not created yet".to_string();
    };
    let Some(status) = &release.status else {
        return "not reconciled yet".to_string();
    };
    let mut line = status
        .phase
        .map_or_else(|| "not reconciled yet".to_string(), |p| p.to_string());
    if let Some(message) = status.message.as_deref().filter(|m| !m.is_empty()) {
        let _ = write!(line, ": {message}");
    }
    // The release's message often quotes its tenant's already.
    for tenant in &status.tenants {
        if let Some(message) = tenant
            .message
            .as_deref()
            .filter(|m| !m.is_empty() && !line.contains(m))
        {
            let _ = write!(line, " ({}: {}: {message})", tenant.name, tenant.health);
        }
    }
    line
}

/// What each part of the loop says about the bootstrap release: the release, the engine's
/// objects (Flux's GitRepository and Kustomizations, Argo CD's Applications), the Deployment
/// in the workload cluster, and the last lines of the engine's logs.
pub async fn diagnose(real_loop: &RealLoop, delivery: Delivery) -> String {
    let mut out = String::from("What the loop reports:\n");
    let (namespace, name) = BOOTSTRAP_RELEASE;
    if let Ok(client) = real_loop.management.client().await {
        let release = Api::<Release>::namespaced(client.clone(), namespace)
            .get_opt(name)
            .await
            .ok()
            .flatten();
        let _ = writeln!(
            out,
            "  release {namespace}/{name}: {}",
            describe(release.as_ref())
        );
        let engine = delivery.name();
        let engine_namespace = delivery.namespace();
        for (resource, kind) in delivery.kinds() {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), engine_namespace, &resource);
            match api.list(&Default::default()).await {
                Ok(list) if list.items.is_empty() => {
                    let _ = writeln!(out, "  {engine} {kind}: none in {engine_namespace}");
                }
                Ok(list) => {
                    for object in list.items {
                        let _ = writeln!(out, "  {engine} {kind} {}", delivery.state(&object));
                    }
                }
                Err(e) => {
                    let _ = writeln!(out, "  {engine} {kind}: cannot list: {e}");
                }
            }
        }
    }
    if let Ok(client) = real_loop.workload.client().await {
        let deployment = Api::<Deployment>::namespaced(client, TENANT_NAMESPACE)
            .get_opt(WORKLOAD)
            .await;
        let state = match deployment {
            Ok(Some(d)) => {
                let status = d.status.unwrap_or_default();
                format!(
                    "generation {}, observed {}, {} updated, {} available of {}",
                    d.metadata.generation.unwrap_or_default(),
                    status.observed_generation.unwrap_or_default(),
                    status.updated_replicas.unwrap_or_default(),
                    status.available_replicas.unwrap_or_default(),
                    d.spec.and_then(|s| s.replicas).unwrap_or(1)
                )
            }
            Ok(None) => "not applied".to_string(),
            Err(e) => format!("cannot read: {e}"),
        };
        let _ = writeln!(
            out,
            "  Deployment {TENANT_NAMESPACE}/{WORKLOAD} in the workload cluster: {state}"
        );
    }
    let _ = write!(out, "{}", real_loop.engine_log_tails());
    out
}
