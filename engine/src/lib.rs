//! The pure decision core of GitOpsHQ: no I/O, plain functions over plain data.
#![forbid(unsafe_code)]

// Render pipeline: values layering, HQ variables, Handlebars, manifest validation and diff.
// (modules owned by the render pipeline are declared below this line)
pub mod diff;
pub mod error;
pub mod helpers;
pub mod manifest;
pub mod render;
pub mod values;
pub mod values_check;
pub mod values_edit;
pub mod variables;
pub mod variables_edit;
mod yaml_reader;
#[cfg(test)]
mod yaml_strategies;
mod yaml_writer;

pub use diff::{
    FieldChange, ManifestDiff, ObjectChange, ObjectDiff, ObjectId, ValuesDiff, diff_manifests,
    diff_objects, diff_values, redacted_secret, unified_diff, unified_manifest_diff,
};
pub use error::{NameField, RenderError, SchemaViolation};
pub use manifest::RenderedManifest;
pub use render::{
    ChartSource, CompiledChart, ReleaseInfo, RenderInput, RenderOutput, TenantInfo, WorkloadInfo,
};
pub use values::{ValueLayer, ValuePath, merge_layers};
pub use variables::{Scope, VariableScopes, VariableUse, resolve_variables, variable_uses};

// GitOps repository layout: which files a release writes where.
pub mod flux_artifacts;
pub mod layout;
pub mod logs;

// From API objects to render inputs and repository layouts, shared by the CLI and controller.
pub mod catalog;
pub mod compare;
pub mod plan;
pub mod preview;
pub mod render_cache;
pub mod repository_view;
pub mod selector;

// Governance: OPA policies, freeze windows and the admission rules built on them.
pub mod admission;
pub mod freeze;
pub mod policy;

// The operator's lifecycles: conditions, releases, health and drift, project RBAC.
pub mod charts;
pub mod cluster_access;
pub mod cluster_heartbeat;
pub mod conditions;
pub mod health;
pub mod lifecycle;
pub mod promotion;
pub mod rbac;
pub mod rollback;
pub mod sessions;
pub mod sync;

// Integrations: registry push events → image updates and auto releases; notifications.
pub mod image_update;
pub mod notifications;
pub mod registry_events;

// The audit trail, its hash chain and the delivery commits' signatures; how command outcomes
// are told to people and CI.
pub mod audit;
pub mod report;
pub mod signatures;
// What the dashboard shows at a glance.
pub mod outcome;
pub mod overview;
