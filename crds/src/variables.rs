//! `Variables`: HQ variables of one scope (project, environment or tenant).

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, SecretKeyRef};

/// Spec of a `Variables` object (namespaced, in the project's namespace). The scope is the
/// project when both `environment` and `tenant` are empty, else the environment, else the
/// tenant; `{{hq.var.NAME}}` resolves the most specific scope.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[kube(
    group = "gitopshq.io",
    version = "v1alpha1",
    kind = "Variables",
    plural = "variables",
    singular = "variables",
    namespaced,
    doc = "HQ variables ({{hq.var.NAME}}) of one scope: the project (no environment, no tenant), an environment or a tenant.",
    status = "VariablesStatus",
    shortname = "vars",
    category = "gitopshq",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "Env", type_ = "string", json_path = ".spec.environment"),
    printcolumn(name = "Tenant", type_ = "string", json_path = ".spec.tenant"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct VariablesSpec {
    /// Environment scope. Optional: absent (with `tenant` absent) means project scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = crate::schema::DNS_LABEL))]
    pub environment: Option<String>,
    /// Tenant scope. Optional: absent means project or environment scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::schema::DNS_SUBDOMAIN))]
    pub tenant: Option<String>,
    /// Name → scalar (string, number or boolean). A whole-string reference keeps the type.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "crate::schema::scalar_map")]
    pub values: BTreeMap<String, serde_json::Value>,
    /// Name → Secret key (in the project's namespace) whose content is the value; for
    /// credentials that must not appear in the object.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "secret_refs")]
    pub secret_refs: BTreeMap<String, SecretKeyRef>,
}

fn secret_refs(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = <BTreeMap<String, SecretKeyRef>>::json_schema(generator);
    schema.insert("maxProperties".into(), 256.into());
    schema
}

/// Observed state of a `Variables` object.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct VariablesStatus {
    /// Standard conditions (`Valid`: scope objects and Secrets exist, values are scalars).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    #[cfg_attr(feature = "ts", ts(as = "Vec<crate::ts::Condition>"))]
    pub conditions: Vec<Condition>,
}
