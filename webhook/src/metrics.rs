//! Prometheus metrics of the admission server.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::review::Endpoint;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    pub endpoint: &'static str,
    pub kind: String,
    pub operation: &'static str,
    pub verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabels {
    pub reason: &'static str,
}

/// Latency per kind/operation/verdict, and bodies rejected before a decision.
pub struct Metrics {
    pub registry: Registry,
    reviews: Family<ReviewLabels, Histogram>,
    rejected: Family<RejectLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gitopshq_webhook");
        // Decisions take tens of microseconds to a few milliseconds; buckets from 25 µs.
        let reviews = Family::<ReviewLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.000025, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25,
                1.0,
            ])
        });
        registry.register(
            "admission_duration_seconds",
            "Time to decide one admission review, by endpoint, kind, operation and verdict",
            reviews.clone(),
        );
        let rejected = Family::<RejectLabels, Counter>::default();
        registry.register(
            "rejected_bodies",
            "Request bodies answered 400/413 because they were not a readable AdmissionReview",
            rejected.clone(),
        );
        Self {
            registry,
            reviews,
            rejected,
        }
    }
}

impl Metrics {
    pub fn observe(
        &self,
        endpoint: Endpoint,
        kind: &str,
        operation: &'static str,
        verdict: &'static str,
        elapsed: Duration,
    ) {
        self.reviews
            .get_or_create(&ReviewLabels {
                endpoint: endpoint.as_str(),
                kind: kind.to_string(),
                operation,
                verdict,
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn reject(&self, reason: &'static str) {
        self.rejected.get_or_create(&RejectLabels { reason }).inc();
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
