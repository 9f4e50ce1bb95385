//! The names of the API's enums as the API writes them, for messages, tables and metric
//! labels: `as_str` and `Display` (never `{:?}`, which would print Rust's spelling).

macro_rules! api_names {
    ($($t:ty { $($v:ident),+ $(,)? })+) => {$(
        impl $t {
            /// The name the API writes.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$v => stringify!($v)),+
                }
            }

            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$v),+];
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )+};
}

use crate::approval_request::{ApprovalPhase, DecisionKind};
use crate::break_glass_session::{BreakGlassPhase, Severity};
use crate::chart::ChartType;
use crate::cluster::ClusterPhase;
use crate::common::Health;
use crate::notification_channel::{ChannelType, NotificationEvent};
use crate::policy::EnforcementMode;
use crate::project::{DeliveryMode, ProjectPhase, TeamRole};
use crate::promotion::{BatchPhase, PromotionPhase};
use crate::release::{PolicyVerdict, ReleasePhase, ReleaseType, TenantRolloutPhase};

api_names! {
    DecisionKind { Approve, Reject }
    ApprovalPhase { Pending, Approved, Rejected, Bypassed, Cancelled }
    Severity { SEV1, SEV2, SEV3, SEV4 }
    BreakGlassPhase { Active, Closed, Expired }
    ChartType { Handlebars }
    ClusterPhase { Connected, Unreachable, Disconnected }
    Health { Healthy, Progressing, Degraded, Missing, Suspended, Unknown }
    ChannelType { Slack, Teams, Webhook }
    NotificationEvent {
        ReleasePendingApproval, ReleaseApprovalOverdue, ReleaseDeployed, ReleaseHealthy, ReleaseFailed,
        BreakGlassOpened, BreakGlassClosed, DriftDetected,
    }
    EnforcementMode { Warn, Enforce }
    DeliveryMode { ArgoCD, Flux, Direct }
    TeamRole { Viewer, Operator, Developer, ReleaseManager, Approver, Admin }
    ProjectPhase { Pending, Ready, Failed }
    PromotionPhase { Progressing, Paused, Succeeded, Failed }
    BatchPhase { Pending, AwaitingApproval, Deploying, Soaking, Succeeded, Degraded, Failed }
    ReleaseType { Deploy, Rollback, Promotion }
    ReleasePhase {
        Draft, PendingApproval, Approved, Deploying, Deployed, Healthy, Rejected, Blocked,
        Failed, Degraded, Superseded, Cancelled,
    }
    PolicyVerdict { Pass, Warn, Deny }
    TenantRolloutPhase { Pending, Deploying, Deployed, Healthy, Degraded, Failed, Skipped }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names are the serialised values, for every value of every enum.
    fn same_as_serde<T: serde::Serialize + std::fmt::Display>(all: &[T]) {
        for value in all {
            assert_eq!(
                serde_json::to_value(value).unwrap(),
                serde_json::Value::String(value.to_string())
            );
        }
    }

    #[test]
    fn names_are_what_the_api_writes() {
        same_as_serde(DecisionKind::ALL);
        same_as_serde(ApprovalPhase::ALL);
        same_as_serde(Severity::ALL);
        same_as_serde(BreakGlassPhase::ALL);
        same_as_serde(ChartType::ALL);
        same_as_serde(ClusterPhase::ALL);
        same_as_serde(Health::ALL);
        same_as_serde(ChannelType::ALL);
        same_as_serde(NotificationEvent::ALL);
        same_as_serde(EnforcementMode::ALL);
        same_as_serde(DeliveryMode::ALL);
        same_as_serde(TeamRole::ALL);
        same_as_serde(ProjectPhase::ALL);
        same_as_serde(PromotionPhase::ALL);
        same_as_serde(BatchPhase::ALL);
        same_as_serde(ReleaseType::ALL);
        same_as_serde(ReleasePhase::ALL);
        same_as_serde(PolicyVerdict::ALL);
        same_as_serde(TenantRolloutPhase::ALL);
    }
}
