//! The Clusters page: each workload cluster's connection, what it runs for whom, and the
//! commands that register, rotate and remove one.

use std::collections::BTreeMap;

use gitopshq_crds::cluster::{Cluster, ClusterPhase};
use gitopshq_crds::common::Health;
use gitopshq_crds::tenant::Tenant;
use kube::ResourceExt;
use serde::Serialize;

use super::CellStatus;

/// How a new cluster is registered (the page shows it above the list).
pub const REGISTER_COMMAND: &str =
    "gitopshq cluster register NAME --context CONTEXT --environments ENV,…";

/// A workload cluster as the Clusters page lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ClusterRow {
    pub name: String,
    /// `None` until the controller's first heartbeat.
    pub phase: Option<ClusterPhase>,
    /// Green Connected, red Disconnected or Unreachable, grey not reported yet.
    pub status: CellStatus,
    pub server_version: Option<String>,
    /// RFC 3339, the last time the API server answered.
    pub last_heartbeat: Option<String>,
    /// Why it is not connected, with the next step (or the version it runs).
    pub message: Option<String>,
    pub environments: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// The tenants it runs that the person may read, by project and name.
    pub tenants: Vec<ClusterTenant>,
    /// Replaces its token without downtime.
    pub rotate: String,
    /// Removes it (refused while tenants use it).
    pub unregister: String,
}

/// A tenant on a cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ClusterTenant {
    pub project: String,
    pub name: String,
    pub environment: String,
    /// The namespace on the cluster.
    pub namespace: String,
    pub health: Option<Health>,
}

/// The rows of `clusters`, by name, each with the `tenants` that name it.
pub fn cluster_rows(clusters: &[Cluster], tenants: &[Tenant]) -> Vec<ClusterRow> {
    let mut by_cluster: BTreeMap<&str, Vec<ClusterTenant>> = BTreeMap::new();
    for tenant in tenants {
        by_cluster
            .entry(tenant.spec.cluster.as_str())
            .or_default()
            .push(ClusterTenant {
                project: tenant.namespace().unwrap_or_default(),
                name: tenant.name_any(),
                environment: tenant.spec.environment.clone(),
                namespace: tenant.spec.namespace.clone(),
                health: tenant.status.as_ref().and_then(|s| s.health),
            });
    }
    let mut rows: Vec<ClusterRow> = clusters
        .iter()
        .map(|cluster| {
            let name = cluster.name_any();
            let status = cluster.status.clone().unwrap_or_default();
            let mut tenants = by_cluster.remove(name.as_str()).unwrap_or_default();
            tenants.sort_by(|a, b| (&a.project, &a.name).cmp(&(&b.project, &b.name)));
            ClusterRow {
                status: match status.phase {
                    None => CellStatus::Grey,
                    Some(ClusterPhase::Connected) => CellStatus::Green,
                    Some(ClusterPhase::Disconnected | ClusterPhase::Unreachable) => CellStatus::Red,
                },
                phase: status.phase,
                server_version: status.server_version,
                last_heartbeat: status.last_heartbeat.map(|t| t.0.to_string()),
                message: status.message,
                environments: cluster.spec.environments.clone(),
                labels: cluster.spec.labels.clone(),
                tenants,
                rotate: format!("gitopshq cluster rotate {name} --context CONTEXT"),
                unregister: format!("gitopshq cluster unregister {name} --context CONTEXT"),
                name,
            }
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows
}

#[cfg(test)]
mod tests {
    use gitopshq_crds::cluster::{ClusterSpec, ClusterStatus};
    use gitopshq_crds::tenant::{TenantSpec, TenantStatus};

    use super::*;

    fn tenant(project: &str, name: &str, cluster: &str, health: Option<Health>) -> Tenant {
        let mut tenant = Tenant::new(
            name,
            TenantSpec {
                environment: "production".into(),
                cluster: cluster.into(),
                namespace: format!("{project}-{name}"),
                ..TenantSpec::default()
            },
        );
        tenant.metadata.namespace = Some(project.into());
        tenant.status = health.map(|h| TenantStatus {
            health: Some(h),
            ..TenantStatus::default()
        });
        tenant
    }

    #[test]
    fn each_cluster_lists_its_tenants_and_its_connection_as_a_colour() {
        let mut connected = Cluster::new("eu-west-1", ClusterSpec::default());
        connected.spec.environments = vec!["production".into()];
        connected.status = Some(ClusterStatus {
            phase: Some(ClusterPhase::Connected),
            server_version: Some("v1.34.1".into()),
            ..ClusterStatus::default()
        });
        let mut lost = Cluster::new("ap-south-1", ClusterSpec::default());
        lost.status = Some(ClusterStatus {
            phase: Some(ClusterPhase::Disconnected),
            message: Some("API server of cluster ap-south-1 does not answer".into()),
            ..ClusterStatus::default()
        });
        let new = Cluster::new("us-east-1", ClusterSpec::default());
        let tenants = [
            tenant("payments", "eu-prod", "eu-west-1", Some(Health::Healthy)),
            tenant("checkout", "eu-prod", "eu-west-1", None),
            tenant("payments", "ap-prod", "ap-south-1", Some(Health::Unknown)),
            tenant("payments", "gone", "no-such-cluster", None),
        ];
        let rows = cluster_rows(&[connected, lost, new], &tenants);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["ap-south-1", "eu-west-1", "us-east-1"]);
        assert_eq!(rows[0].status, CellStatus::Red);
        assert_eq!(rows[0].tenants[0].health, Some(Health::Unknown));
        assert_eq!(rows[1].status, CellStatus::Green);
        let on_eu: Vec<(&str, &str)> = rows[1]
            .tenants
            .iter()
            .map(|t| (t.project.as_str(), t.name.as_str()))
            .collect();
        assert_eq!(on_eu, [("checkout", "eu-prod"), ("payments", "eu-prod")]);
        assert_eq!(rows[1].tenants[1].namespace, "payments-eu-prod");
        assert_eq!(rows[2].status, CellStatus::Grey, "not reported yet");
        assert!(rows[2].tenants.is_empty());
        assert_eq!(
            rows[1].rotate,
            "gitopshq cluster rotate eu-west-1 --context CONTEXT"
        );
    }
}
