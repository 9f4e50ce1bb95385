//! Plain inputs of one render: who is rendering what, where. A later adapter fills these from
//! the CRD objects (Release, Project, Environment, Tenant, Workload, Variables).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::values::ValueLayer;
use crate::variables::VariableScopes;

/// A chart version as published: templates (file name → Handlebars text), default values and
/// an optional JSON Schema for the merged values.
///
/// Template files whose name starts with `_` (such as `_helpers.hbs`) are partials: other
/// templates include them with `{{> _helpers.hbs}}`; they produce no objects themselves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartSource {
    pub name: String,
    pub version: String,
    pub templates: BTreeMap<String, String>,
    pub values: Value,
    pub values_schema: Option<Value>,
}

/// `release` in the template context.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReleaseInfo {
    pub name: String,
    pub title: String,
    /// `Deploy`, `Rollback` or `Promotion`; `release.type` in templates.
    #[serde(rename = "type")]
    pub release_type: String,
}

/// `tenant` in the template context. `namespace` is also the default namespace of every
/// namespaced object rendered for this tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TenantInfo {
    pub name: String,
    pub namespace: String,
    pub cluster: String,
    pub labels: BTreeMap<String, String>,
}

/// `workload` in the template context.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WorkloadInfo {
    pub name: String,
    pub namespace: String,
}

/// Everything one render of a compiled chart needs besides the chart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenderInput {
    pub release: ReleaseInfo,
    /// Project name; `project.name` in templates.
    pub project: String,
    /// Environment name; `environment.name` in templates and named in variable errors.
    pub environment: String,
    pub tenant: TenantInfo,
    pub workload: WorkloadInfo,
    /// Value layers over the chart's values, lowest first: Workload `spec.values`, Workload
    /// `spec.environments[env].values`, Tenant `spec.values`, Tenant
    /// `spec.workloads[workload].values`.
    pub layers: Vec<ValueLayer>,
    /// Shared by every target of one tenant.
    pub variables: Arc<VariableScopes>,
}
