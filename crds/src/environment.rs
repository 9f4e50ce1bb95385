//! `Environment`: a delivery stage (development, staging, production …) with its rank and
//! freeze windows.

use crate::common::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Spec of an `Environment` (cluster-scoped).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[kube(
    group = "gitopshq.io",
    version = "v1alpha1",
    kind = "Environment",
    doc = "A delivery stage (development, staging, production …): its rank in promotion order, its colour and its change-freeze windows.",
    status = "EnvironmentStatus",
    shortname = "env",
    category = "gitopshq",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "Display", type_ = "string", json_path = ".spec.displayName"),
    printcolumn(name = "Rank", type_ = "integer", json_path = ".spec.rank"),
    printcolumn(name = "Frozen", type_ = "boolean", json_path = ".status.frozen"),
    printcolumn(
        name = "Until",
        type_ = "date",
        json_path = ".status.activeFreeze.until",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentSpec {
    /// Human-readable name shown in UIs and messages. Optional: the object name is used when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub display_name: Option<String>,
    /// Position in promotion order: lower ranks come first (development 10, staging 20,
    /// production 30). Defaults to 0 so that a throw-away environment needs no spec at all.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub rank: i32,
    /// Badge colour for UIs, `#rrggbb`. Optional because it is cosmetic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^#[0-9a-fA-F]{6}$"))]
    pub color: Option<String>,
    /// Change-freeze windows: while one is active, releases into this environment are denied
    /// unless an active BreakGlassSession covers them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub freeze_windows: Vec<FreezeWindow>,
    /// How long a delivered release may take until every tenant is synced by the GitOps engine
    /// and healthy (Go-style duration: `10m`, `1h30m`). Past it the release fails, naming the
    /// tenant and the object that did not make it. Optional: 10 minutes when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 16), regex(pattern = "^([0-9]+(s|m|h))+$"))]
    pub progress_deadline: Option<String>,
    /// Where what runs here must come from. Optional: without it any release may deliver
    /// (within freezes, approvals and policies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<EnvironmentPromotion>,
}

/// An environment fed by another: a Deploy or Promotion release into it is admitted only when,
/// for every tenant and workload it delivers, the chart version and the values releases added
/// equal a state that has been Healthy in `from` for at least `soak`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentPromotion {
    /// The environment whose Healthy states may come here (`staging` for `production`).
    #[schemars(length(min = 1, max = 63), regex(pattern = crate::schema::DNS_LABEL))]
    pub from: String,
    /// How long a state must have been Healthy in `from` (Go-style duration: `30m`, `24h`).
    /// Optional: Healthy at all is enough when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 16), regex(pattern = "^([0-9]+(s|m|h))+$"))]
    pub soak: Option<String>,
}

/// A change freeze: either a one-off window (`start` and `end`) or a recurring one (`recurring`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.recurring) != (has(self.start) && has(self.end))").message("a freeze window needs either both start and end (RFC 3339 times) or recurring {cron, duration, timeZone}, not both"),
    validation = Rule::new("has(self.start) == has(self.end)").message("a one-off freeze window needs both start and end"),
    validation = Rule::new("!has(self.start) || !has(self.end) || self.end > self.start").message("freeze window end must be after its start")
)]
pub struct FreezeWindow {
    /// Name of the window, quoted in denial messages ("maintenance window \"db-upgrade\"").
    #[schemars(length(min = 1, max = 63), regex(pattern = crate::schema::DNS_LABEL))]
    pub name: String,
    /// Start of a one-off window (RFC 3339). Absent for recurring windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub start: Option<Time>,
    /// End of a one-off window (RFC 3339, exclusive). Absent for recurring windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub end: Option<Time>,
    /// Why the environment is frozen; shown in denial messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub reason: Option<String>,
    /// A window that repeats (every Friday from 16:00 for 64h …). Absent for one-off windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurring: Option<RecurringWindow>,
}

/// A recurring freeze: starts at every time `cron` matches and lasts `duration`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct RecurringWindow {
    /// Standard 5-field cron expression (minute hour day-of-month month day-of-week).
    #[schemars(length(min = 9, max = 128))]
    pub cron: String,
    /// How long each occurrence lasts, as a Go duration (`64h`, `90m`).
    #[schemars(length(min = 2, max = 32), regex(pattern = crate::schema::GO_DURATION))]
    pub duration: String,
    /// IANA time zone the cron expression is read in (`Europe/Berlin`). Optional: UTC when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub time_zone: Option<String>,
}

/// Observed state of an `Environment`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentStatus {
    /// Whether a freeze window is active now.
    #[serde(default)]
    pub frozen: bool,
    /// The freeze in force, when `frozen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_freeze: Option<ActiveFreeze>,
    /// Start of the next freeze window, so that people can plan around it (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_freeze: Option<ActiveFreeze>,
    /// Standard conditions (`Ready`, `Frozen`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    #[cfg_attr(feature = "ts", ts(as = "Vec<crate::ts::Condition>"))]
    pub conditions: Vec<Condition>,
}

/// A freeze window as seen at a point in time.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ActiveFreeze {
    /// Name of the window.
    pub name: String,
    /// Reason of the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the window starts (only set for `nextFreeze`; an active freeze has started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub from: Option<Time>,
    /// When the window ends.
    #[cfg_attr(feature = "ts", ts(as = "String"))]
    pub until: Time,
}
