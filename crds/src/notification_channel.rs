//! `NotificationChannel`: where release and break-glass events are sent.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, Time};
use crate::consts::defaults;

/// Spec of a `NotificationChannel` (cluster-scoped).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[kube(
    group = "gitopshq.io",
    version = "v1alpha1",
    kind = "NotificationChannel",
    doc = "A Slack, Teams or webhook destination for release, break-glass and drift events.",
    status = "NotificationChannelStatus",
    shortname = "nc",
    category = "gitopshq",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Last-Sent", type_ = "date", json_path = ".status.lastSentTime"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct NotificationChannelSpec {
    /// Destination kind.
    #[serde(rename = "type")]
    pub type_: ChannelType,
    /// Secret key holding the incoming-webhook URL (a credential, hence not in the spec).
    pub url_secret_ref: UrlSecretRef,
    /// Events to send. At least one.
    #[schemars(length(min = 1, max = 7))]
    pub events: Vec<NotificationEvent>,
    /// Projects whose events are sent. Empty means every project.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::name_set")]
    pub projects: Vec<String>,
}

/// Destination kind of a channel.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ChannelType {
    /// Slack incoming webhook.
    #[default]
    Slack,
    /// Microsoft Teams incoming webhook.
    Teams,
    /// Plain HTTPS POST of a JSON event.
    Webhook,
}

/// Events a channel can subscribe to.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum NotificationEvent {
    ReleasePendingApproval,
    /// A release has waited for approval longer than its ApprovalPolicy's `sla` (addition);
    /// channels subscribed to `ReleasePendingApproval` receive it too.
    ReleaseApprovalOverdue,
    ReleaseDeployed,
    ReleaseHealthy,
    ReleaseFailed,
    BreakGlassOpened,
    BreakGlassClosed,
    DriftDetected,
}

/// Secret key holding a channel URL.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct UrlSecretRef {
    /// Namespace of the Secret. Optional because the channel has none: when absent, the
    /// operator's own namespace is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = crate::schema::DNS_LABEL))]
    pub namespace: Option<String>,
    /// Secret name.
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::schema::DNS_SUBDOMAIN))]
    pub name: String,
    /// Key of the URL inside the Secret. Defaulted to "url" so that references stay short.
    #[serde(default = "default_url_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

impl Default for UrlSecretRef {
    fn default() -> Self {
        Self {
            namespace: None,
            name: String::new(),
            key: default_url_key(),
        }
    }
}

fn default_url_key() -> String {
    defaults::URL_KEY.to_string()
}

/// Observed state of a `NotificationChannel`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct NotificationChannelStatus {
    /// Time of the last successful delivery (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub last_sent_time: Option<Time>,
    /// The transitions delivered or given up since the second of the channel's last verdict
    /// (`<object uid>/<event>/<transition time in Unix seconds>`, at most 100). Status times
    /// have whole seconds: after a restart, a transition of that second is sent unless it is
    /// listed here, so it is neither lost nor sent twice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub handled_transitions: Vec<String>,
    /// Last delivery error, cleared by the next success (addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Standard conditions (`Ready`: the URL Secret exists and the last delivery succeeded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    #[cfg_attr(feature = "ts", ts(as = "Vec<crate::ts::Condition>"))]
    pub conditions: Vec<Condition>,
}
