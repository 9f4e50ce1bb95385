//! `Policy`: a Rego module bound to environments, with embedded test cases.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, Values};

/// Spec of a `Policy` (cluster-scoped). Rules are `deny[msg]` / `warn[msg]` in the module's
/// package; Rego v0 and v1 syntax are both accepted.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[kube(
    group = "gitopshq.io",
    version = "v1alpha1",
    kind = "Policy",
    plural = "policies",
    doc = "An OPA policy: a Rego module with deny/warn rules, the environments it applies to (Warn or Enforce) and test cases the controller runs.",
    status = "PolicyStatus",
    shortname = "pol",
    category = "gitopshq",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "Compiled", type_ = "boolean", json_path = ".status.compiled"),
    printcolumn(name = "Passed", type_ = "integer", json_path = ".status.tests.passed"),
    printcolumn(name = "Failed", type_ = "integer", json_path = ".status.tests.failed"),
    printcolumn(
        name = "Package",
        type_ = "string",
        json_path = ".status.package",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    /// Free text. Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub description: Option<String>,
    /// The Rego module. A package ending in `.workload` is evaluated once per rendered object
    /// with a pod template; any other package once per release.
    #[schemars(length(min = 1, max = 262144))]
    pub rego: String,
    /// Where the policy applies and how. Empty means the policy is only tested, never enforced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub bindings: Vec<PolicyBinding>,
    /// Test cases the controller runs after each change and reports in `status.tests`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub tests: Vec<PolicyTest>,
}

/// Environments a policy applies to, and whether it warns or denies there.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PolicyBinding {
    /// Environment names. Empty means every environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::name_set")]
    pub environments: Vec<String>,
    /// `Warn` turns `deny` messages into admission warnings; `Enforce` denies. Defaults to the
    /// harmless `Warn`, so that a new binding never blocks a release by surprise.
    #[serde(default)]
    pub mode: EnforcementMode,
}

/// How a policy's `deny` messages act.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum EnforcementMode {
    /// Report as warnings; never block.
    #[default]
    Warn,
    /// Deny releases that violate the policy.
    Enforce,
}

/// One embedded test case.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PolicyTest {
    /// Test name, unique within the policy.
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// The `input` document the rules see.
    #[serde(default)]
    #[schemars(schema_with = "crate::schema::free_form_object")]
    pub input: Values,
    /// Messages the rules must produce, exactly (order does not matter).
    #[serde(default)]
    pub expect: PolicyMessages,
}

/// Messages produced by (or expected from) the `deny` and `warn` rules.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PolicyMessages {
    /// `deny` messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    /// `warn` messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warn: Vec<String>,
}

/// Observed state of a `Policy`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    /// Whether the module compiles.
    #[serde(default)]
    pub compiled: bool,
    /// Compile error, with its line (`line 7: unexpected token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The module's package (`gitopshq.workload`), which decides the input shape (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Results of `spec.tests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<PolicyTestResults>,
    /// Standard conditions (`Ready`, `Compiled`, `TestsPassed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    #[cfg_attr(feature = "ts", ts(as = "Vec<crate::ts::Condition>"))]
    pub conditions: Vec<Condition>,
}

/// Outcome of a policy's embedded tests.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PolicyTestResults {
    /// Number of passing tests.
    #[serde(default)]
    pub passed: i32,
    /// Number of failing tests.
    #[serde(default)]
    pub failed: i32,
    /// One entry per failing test.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<PolicyTestFailure>,
}

/// A failing test: what was expected and what the rules produced.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PolicyTestFailure {
    /// Test name.
    pub name: String,
    /// `spec.tests[].expect`.
    pub expected: PolicyMessages,
    /// What the rules produced.
    pub got: PolicyMessages,
    /// Evaluation error, when the rules failed rather than disagreed (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
