use std::time::Duration;

use gitopshq_crds::cluster::{Cluster, ClusterPhase, ClusterSpec, ClusterStatus};
use gitopshq_crds::common::Time;
use gitopshq_crds::consts::{conditions as types, reasons};
use jiff::Timestamp;

use super::*;

const INTERVALS: Intervals = Intervals {
    interval: Duration::from_secs(30),
    retry: Duration::from_secs(10),
};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_780_000_000 + seconds).unwrap()
}

fn answered() -> Heartbeat {
    Heartbeat::Answered {
        version: "v1.34.1".into(),
    }
}

fn no_answer() -> Heartbeat {
    Heartbeat::NoAnswer {
        message: "API server of cluster eu-1 does not answer: connection refused".into(),
    }
}

/// The status after a first answer at `at(0)`.
fn connected() -> ClusterStatus {
    heartbeat(
        "eu-1",
        &ClusterStatus::default(),
        &answered(),
        INTERVALS,
        None,
        at(0),
    )
    .status
}

fn condition<'a>(status: &'a ClusterStatus, type_: &str) -> &'a gitopshq_crds::common::Condition {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .expect("the condition is set")
}

#[test]
fn an_answer_connects_and_records_the_heartbeat() {
    let beat = heartbeat(
        "eu-1",
        &ClusterStatus::default(),
        &answered(),
        INTERVALS,
        Some(1),
        at(0),
    );
    assert_eq!(beat.status.phase, Some(ClusterPhase::Connected));
    assert_eq!(beat.status.server_version.as_deref(), Some("v1.34.1"));
    assert_eq!(beat.status.last_heartbeat, Some(Time(at(0))));
    assert_eq!(beat.next, INTERVALS.interval);
    assert_eq!(condition(&beat.status, types::CONNECTED).status, "True");
    assert_eq!(
        condition(&beat.status, types::READY).reason,
        reasons::CONNECTED
    );
    let (warning, reason, _) = beat.event.expect("the first answer is an event");
    assert!(!warning);
    assert_eq!(reason, reasons::CONNECTED);

    let again = heartbeat(
        "eu-1",
        &beat.status,
        &answered(),
        INTERVALS,
        Some(1),
        at(30),
    );
    assert_eq!(again.event, None, "no event while nothing changes");
    assert_eq!(again.status.last_heartbeat, Some(Time(at(30))));
}

#[test]
fn a_cluster_that_answered_before_and_stops_is_disconnected() {
    let connected = connected();
    let beat = heartbeat("eu-1", &connected, &no_answer(), INTERVALS, None, at(40));
    assert_eq!(beat.status.phase, Some(ClusterPhase::Disconnected));
    // The last contact and version stay: they say when it was last seen.
    assert_eq!(beat.status.last_heartbeat, Some(Time(at(0))));
    assert_eq!(beat.status.server_version.as_deref(), Some("v1.34.1"));
    let message = beat.status.message.clone().unwrap();
    assert!(
        message.starts_with("API server of cluster eu-1 does not answer"),
        "{message}"
    );
    assert!(
        message.contains(&format!("last answered at {}", at(0))),
        "{message}"
    );
    assert!(
        message.contains("Unknown until cluster eu-1 answers again"),
        "{message}"
    );
    assert_eq!(
        condition(&beat.status, types::CONNECTED).reason,
        reasons::DISCONNECTED
    );
    assert_eq!(condition(&beat.status, types::READY).status, "False");
    assert_eq!(beat.next, INTERVALS.retry);
    let (warning, reason, _) = beat.event.expect("losing the cluster is an event");
    assert!(warning);
    assert_eq!(reason, reasons::DISCONNECTED);

    let back = heartbeat("eu-1", &beat.status, &answered(), INTERVALS, None, at(50));
    assert_eq!(back.status.phase, Some(ClusterPhase::Connected));
    assert!(back.event.is_some(), "coming back is an event");
}

#[test]
fn a_cluster_never_reached_is_unreachable_and_a_broken_secret_names_its_reason() {
    let beat = heartbeat(
        "eu-1",
        &ClusterStatus::default(),
        &no_answer(),
        INTERVALS,
        None,
        at(0),
    );
    assert_eq!(beat.status.phase, Some(ClusterPhase::Unreachable));
    assert_eq!(
        condition(&beat.status, types::CONNECTED).reason,
        reasons::UNREACHABLE
    );

    let connected = connected();
    let plugin = Heartbeat::Misconfigured {
        reason: reasons::EXEC_PLUGIN_UNSUPPORTED,
        message: "uses an exec credential plugin".into(),
    };
    let beat = heartbeat("eu-1", &connected, &plugin, INTERVALS, None, at(5));
    assert_eq!(
        beat.status.phase,
        Some(ClusterPhase::Unreachable),
        "a configuration problem is not a lost connection"
    );
    assert_eq!(
        condition(&beat.status, types::READY).reason,
        reasons::EXEC_PLUGIN_UNSUPPORTED
    );
}

#[test]
fn the_retry_is_never_longer_than_the_interval() {
    let short = Intervals {
        interval: Duration::from_secs(2),
        retry: Duration::from_secs(10),
    };
    let beat = heartbeat(
        "eu-1",
        &ClusterStatus::default(),
        &no_answer(),
        short,
        None,
        at(0),
    );
    assert_eq!(beat.next, Duration::from_secs(2));
}

#[test]
fn tenants_of_a_cluster_that_does_not_answer_are_not_observed() {
    let mut cluster = Cluster::new("eu-1", ClusterSpec::default());
    assert_eq!(
        unobservable("eu-1", Some(&cluster)),
        None,
        "not asked yet: tried"
    );
    cluster.status = Some(connected());
    assert_eq!(unobservable("eu-1", Some(&cluster)), None);
    cluster.status =
        Some(heartbeat("eu-1", &connected(), &no_answer(), INTERVALS, None, at(40)).status);
    let why = unobservable("eu-1", Some(&cluster)).expect("disconnected");
    assert!(
        why.starts_with("cluster eu-1 is Disconnected: API server of cluster eu-1 does not answer"),
        "{why}"
    );
    let missing = unobservable("eu-9", None).expect("missing");
    assert!(missing.contains("cluster eu-9 does not exist"), "{missing}");
}
