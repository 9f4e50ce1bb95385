//! Prometheus metrics of the controllers: reconciliations, their errors and durations per
//! controller, deliveries, and releases by phase (counted from the watch cache at scrape time).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub controller: &'static str,
    pub error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// `Committed`, `NothingToCommit`, `Applied` or `Failed`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RegistryEventLabels {
    /// `harbor`, `github`, … (`unknown` for a path naming no source).
    pub source: String,
    /// `accepted`, `ignored`, `unsigned`, `bad_signature`, `replayed`, `bad_payload`,
    /// `too_large`, `no_secret`, `unknown_source` or `error`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotificationLabels {
    /// `Slack`, `Teams` or `Webhook`.
    pub channel_type: &'static str,
    /// `sent`, `retried`, `dead_letter` or `dropped` (queue full).
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: String,
}

pub struct Metrics {
    registry: Registry,
    reconciliations: Family<ControllerLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    durations: Family<ControllerLabels, Histogram>,
    deliveries: Family<DeliveryLabels, Histogram>,
    releases: Family<PhaseLabels, Gauge>,
    registry_events: Family<RegistryEventLabels, Counter>,
    image_updates: Family<OutcomeLabels, Counter>,
    notifications: Family<NotificationLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gitopshq_controller");
        let reconciliations = Family::<ControllerLabels, Counter>::default();
        registry.register(
            "reconciliations",
            "Reconciliations started, per controller",
            reconciliations.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconciliations that failed, per controller and error kind",
            errors.clone(),
        );
        let durations = Family::<ControllerLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ])
        });
        registry.register(
            "reconcile_duration_seconds",
            "Time of one reconciliation, per controller",
            durations.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])
        });
        registry.register(
            "delivery_duration_seconds",
            "Time to commit (and apply) one release, per outcome",
            deliveries.clone(),
        );
        let releases = Family::<PhaseLabels, Gauge>::default();
        registry.register("releases", "Releases per phase", releases.clone());
        let registry_events = Family::<RegistryEventLabels, Counter>::default();
        registry.register(
            "registry_events",
            "Registry webhook deliveries, per source and outcome",
            registry_events.clone(),
        );
        let image_updates = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "image_updates",
            "Pushed tags judged for a Workload, per verdict",
            image_updates.clone(),
        );
        let notifications = Family::<NotificationLabels, Counter>::default();
        registry.register(
            "notifications",
            "Notification deliveries, per channel type and outcome",
            notifications.clone(),
        );
        Self {
            registry,
            reconciliations,
            errors,
            durations,
            deliveries,
            releases,
            registry_events,
            image_updates,
            notifications,
        }
    }
}

impl Metrics {
    pub fn reconciled(&self, controller: &'static str, elapsed: Duration) {
        let labels = ControllerLabels { controller };
        self.reconciliations.get_or_create(&labels).inc();
        self.durations
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    pub fn failed(&self, controller: &'static str, error: &'static str) {
        self.errors
            .get_or_create(&ErrorLabels { controller, error })
            .inc();
    }

    pub fn delivered(&self, outcome: &'static str, elapsed: Duration) {
        self.deliveries
            .get_or_create(&DeliveryLabels { outcome })
            .observe(elapsed.as_secs_f64());
    }

    /// Sets the releases-per-phase gauge from a count of every phase seen.
    pub fn set_release_phases(&self, counts: impl IntoIterator<Item = (String, i64)>) {
        self.releases.clear();
        for (phase, count) in counts {
            self.releases
                .get_or_create(&PhaseLabels { phase })
                .set(count);
        }
    }

    pub fn registry_event(&self, source: &str, outcome: &'static str) {
        self.registry_events
            .get_or_create(&RegistryEventLabels {
                source: source.to_string(),
                outcome,
            })
            .inc();
    }

    pub fn image_update(&self, outcome: &'static str) {
        self.image_updates
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub fn notification(&self, channel_type: &'static str, outcome: &'static str) {
        self.notifications
            .get_or_create(&NotificationLabels {
                channel_type,
                outcome,
            })
            .inc();
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
