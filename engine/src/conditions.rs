//! `status.conditions` in the `metav1.Condition` shape: one entry per type, whose
//! `lastTransitionTime` moves only when its status does, as Kubernetes tooling expects
//! (`kubectl wait --for=condition=Ready` and alerting on transitions depend on it).

use gitopshq_crds::common::{Condition, Time};
use jiff::Timestamp;

/// `True`, `False` or `Unknown`, as the API writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    True,
    False,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::True => "True",
            Status::False => "False",
            Status::Unknown => "Unknown",
        }
    }

    pub fn from_bool(value: bool) -> Self {
        if value { Status::True } else { Status::False }
    }
}

/// Sets condition `type_` in `conditions`, keeping its transition time when the status is
/// unchanged. Returns whether anything changed.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: Status,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
    now: Timestamp,
) -> bool {
    let message: String = message.chars().take(MAX_MESSAGE).collect();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            let transition = existing.status != status.as_str();
            let changed = transition
                || existing.reason != reason
                || existing.message != message
                || existing.observed_generation != observed_generation;
            if transition {
                existing.last_transition_time = Time(now);
            }
            existing.status = status.as_str().to_string();
            existing.reason = reason.to_string();
            existing.message = message;
            existing.observed_generation = observed_generation;
            changed
        }
        None => {
            conditions.push(Condition {
                type_: type_.to_string(),
                status: status.as_str().to_string(),
                reason: reason.to_string(),
                message,
                observed_generation,
                last_transition_time: Time(now),
            });
            true
        }
    }
}

/// Removes condition `type_` (it no longer applies). Returns whether it was there.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    conditions.len() != before
}

/// The condition of type `type_`, if present.
pub fn get<'c>(conditions: &'c [Condition], type_: &str) -> Option<&'c Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether condition `type_` is `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some_and(|c| c.status == Status::True.as_str())
}

/// The API server refuses condition messages over 32768 bytes; stay well below.
const MAX_MESSAGE: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    #[test]
    fn transition_time_moves_only_with_the_status() {
        let mut conditions = Vec::new();
        // (status, reason, message, generation, at; whether it changed, the transition time)
        let steps = [
            (Status::False, "Draft", "not submitted", 1, 10, true, 10),
            (Status::False, "Draft", "not submitted", 1, 20, false, 10),
            (Status::False, "Blocked", "frozen", 2, 30, true, 10),
            (Status::True, "Healthy", "", 2, 40, true, 40),
        ];
        for (status, reason, message, generation, now, changed, transition) in steps {
            assert_eq!(
                set(
                    &mut conditions,
                    "Ready",
                    status,
                    reason,
                    message,
                    Some(generation),
                    at(now)
                ),
                changed,
                "{reason} at {now}"
            );
            assert_eq!(conditions[0].last_transition_time, Time(at(transition)));
        }
        assert_eq!(conditions.len(), 1);
        assert!(is_true(&conditions, "Ready"));
        assert!(!is_true(&conditions, "Healthy"));
    }

    #[test]
    fn long_messages_are_cut() {
        let mut conditions = Vec::new();
        set(
            &mut conditions,
            "Ready",
            Status::False,
            "X",
            &"y".repeat(100_000),
            None,
            at(1),
        );
        assert_eq!(conditions[0].message.len(), MAX_MESSAGE);
    }
}
