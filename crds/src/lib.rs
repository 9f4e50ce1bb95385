#![forbid(unsafe_code)]
// kube's derive takes one `printcolumn(..)` per column; clippy reads the repeated keys inside
// them (`type_ = ..`) as duplicated attributes.
#![allow(clippy::duplicated_attributes)]
//! GitOpsHQ API types, group `gitopshq.io`, version `v1alpha1`: one module per kind, the
//! well-known strings in [`consts`], and the generated CustomResourceDefinitions.
//!
//! The CRD YAML under `config/crd/` is generated from these types; a test fails when it is
//! stale. Regenerate with `GITOPSHQ_UPDATE_CRDS=1 cargo test -p gitopshq-crds`.

pub mod approval_policy;
pub mod approval_request;
pub mod break_glass_session;
pub mod chart;
pub mod chart_version;
pub mod cluster;
pub mod common;
pub mod consts;
pub mod environment;
mod names;
pub mod notification_channel;
pub mod policy;
pub mod project;
pub mod promotion;
pub mod release;
pub mod schema;
pub mod tenant;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(feature = "ts")]
pub mod ts;
pub mod variables;
pub mod workload;

pub use approval_policy::{ApprovalPolicy, ApprovalPolicySpec, ApprovalPolicyStatus};
pub use approval_request::{ApprovalRequest, ApprovalRequestSpec, ApprovalRequestStatus};
pub use break_glass_session::{BreakGlassSession, BreakGlassSessionSpec, BreakGlassSessionStatus};
pub use chart::{Chart, ChartSpec, ChartStatus};
pub use chart_version::{ChartVersion, ChartVersionSpec, ChartVersionStatus};
pub use cluster::{Cluster, ClusterSpec, ClusterStatus};
pub use environment::{Environment, EnvironmentSpec, EnvironmentStatus};
pub use notification_channel::{
    NotificationChannel, NotificationChannelSpec, NotificationChannelStatus,
};
pub use policy::{Policy, PolicySpec, PolicyStatus};
pub use project::{Project, ProjectSpec, ProjectStatus};
pub use promotion::{Promotion, PromotionSpec, PromotionStatus};
pub use release::{Release, ReleaseSpec, ReleaseStatus};
pub use tenant::{Tenant, TenantSpec, TenantStatus};
pub use variables::{Variables, VariablesSpec, VariablesStatus};
pub use workload::{Workload, WorkloadSpec, WorkloadStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Every CRD of the API in a fixed order: cluster-scoped kinds first, then namespaced ones.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    vec![
        Environment::crd(),
        Cluster::crd(),
        Project::crd(),
        Chart::crd(),
        ChartVersion::crd(),
        Policy::crd(),
        ApprovalPolicy::crd(),
        NotificationChannel::crd(),
        Workload::crd(),
        Tenant::crd(),
        Variables::crd(),
        Release::crd(),
        ApprovalRequest::crd(),
        BreakGlassSession::crd(),
        Promotion::crd(),
    ]
}

/// File name of a CRD under `config/crd/`: `<plural>.gitopshq.io.yaml`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or_default())
}

/// One CRD as YAML (what each file under `config/crd/` holds).
pub fn crd_yaml(crd: &CustomResourceDefinition) -> String {
    yaml_serde::to_string(crd).expect("a CustomResourceDefinition always serialises to YAML")
}

/// Every CRD as one multi-document YAML stream, in [`all_crds`] order (what `gitopshq crds`
/// prints and `kubectl apply -f -` accepts).
pub fn crds_yaml() -> String {
    all_crds()
        .iter()
        .map(crd_yaml)
        .collect::<Vec<_>>()
        .join("---\n")
}
