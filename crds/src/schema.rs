//! Schema helpers for `#[schemars(schema_with = "..")]`: the places where the derived schema is
//! not what the API server needs (free-form objects that must survive structural pruning,
//! `metav1.Condition` lists merged by `type`), plus the patterns shared by several kinds.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// DNS-1123 label: what Kubernetes accepts as a namespace name, and what GitOpsHQ requires of
/// every name that ends up in a path, a label value or a namespace.
pub const DNS_LABEL: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// DNS-1123 subdomain: what Kubernetes accepts as the name of most objects (Secrets, groups …).
pub const DNS_SUBDOMAIN: &str =
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// Semantic version 2.0.0 (`1.2.3`, `1.2.3-rc.1`, `1.2.3+build.5`).
pub const SEMVER: &str = "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)(-((0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(\\.(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?(\\+([0-9a-zA-Z-]+(\\.[0-9a-zA-Z-]+)*))?$";
/// Go duration string as `time.ParseDuration` (and CEL `duration()`) reads it: `90m`, `1h30m`.
pub const GO_DURATION: &str = "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$";

/// An object whose content is not described by the schema (chart values, value overrides,
/// policy test input, a JSON Schema). `x-kubernetes-preserve-unknown-fields` keeps the API
/// server from pruning every key of it.
pub fn free_form_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// A layer of values a person edits as one text (a workload's, its environment's, a tenant's):
/// free-form, and one value for server-side apply, so that whoever applies a layer owns all of
/// it and a key they removed is gone, rather than kept because another manager set it.
pub fn values_layer(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "x-kubernetes-map-type": "atomic",
    })
}

/// A value of any JSON type, kept as is (no `type`, unknown fields preserved).
pub fn free_form_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// `map string → scalar` (HQ variable values): the value may be a string, a number or a boolean,
/// which no single OpenAPI `type` covers, so the value schema carries no `type` and preserves
/// whatever it holds. Keys are variable names; the webhook rejects lists and objects as values
/// and names that are not identifiers.
pub fn scalar_map(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "maxProperties": 512,
        "additionalProperties": {
            "x-kubernetes-preserve-unknown-fields": true,
        },
    })
}

/// `status.conditions`: `metav1.Condition` entries, one per `type`, so that server-side apply
/// merges them by type (`x-kubernetes-list-type: map`) like the built-in kinds do.
pub fn conditions(generator: &mut SchemaGenerator) -> Schema {
    let mut schema =
        <Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>::json_schema(generator);
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert(
        "x-kubernetes-list-map-keys".into(),
        serde_json::json!(["type"]),
    );
    schema
}

/// A list of object names that is treated as a set (`x-kubernetes-list-type: set`): duplicates are
/// rejected and server-side apply merges entries from several managers.
pub fn name_set(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "maxItems": 64,
        "x-kubernetes-list-type": "set",
        "items": {
            "type": "string",
            "maxLength": 63,
            "pattern": DNS_LABEL,
        },
    })
}

/// Like [`name_set`] for Kubernetes group names, which are free text (OIDC groups may contain
/// `:`, `/` or upper case letters).
pub fn group_set(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "maxItems": 64,
        "x-kubernetes-list-type": "set",
        "items": {
            "type": "string",
            "minLength": 1,
            "maxLength": 256,
        },
    })
}

/// A `map[string]string` of Kubernetes labels.
pub fn labels(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "maxProperties": 64,
        "additionalProperties": {
            "type": "string",
            "maxLength": 63,
        },
    })
}

/// An ordered list of object names (order matters, for example environments in promotion
/// order), replaced as a whole by server-side apply.
pub fn name_list(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = name_set(generator);
    schema.remove("x-kubernetes-list-type");
    schema.insert(
        "x-kubernetes-validations".into(),
        serde_json::json!([{
            "rule": "self.all(x, self.exists_one(y, y == x))",
            "message": "names must be unique",
        }]),
    );
    schema
}
