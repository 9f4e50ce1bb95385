//! Freeze windows: absolute and recurring (cron in a time zone) windows of an environment.
//!
//! The Environment controller uses [`freeze_state`] for `status.frozen`, `activeFreeze` and its
//! next requeue; the admission webhook uses the same function at the moment of the request, so a
//! release is never admitted because a status was a few seconds stale.

use croner::Cron;
use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_crds::environment::{
    ActiveFreeze, Environment, EnvironmentStatus, FreezeWindow, RecurringWindow,
};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::conditions::{self, Status};

/// Time zone of recurring windows that do not name one (operator configuration can override).
pub const DEFAULT_TIME_ZONE: &str = "UTC";

/// Overlapping or touching windows are merged; this bounds the walk through a pathological
/// schedule (`* * * * *` with a long duration) that would otherwise merge forever.
const MAX_MERGED_OCCURRENCES: usize = 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FreezeError {
    #[error(
        "environment {environment}: freeze window {window}: cron {cron:?} is not valid ({reason}); use five fields such as \"0 22 * * FRI\""
    )]
    InvalidCron {
        environment: String,
        window: String,
        cron: String,
        reason: String,
    },
    #[error(
        "environment {environment}: freeze window {window}: duration {duration:?} is not valid; use a duration such as 90m or 2h30m"
    )]
    InvalidDuration {
        environment: String,
        window: String,
        duration: String,
    },
    #[error(
        "environment {environment}: freeze window {window}: time zone {time_zone:?} is unknown; use an IANA name such as Europe/Berlin or UTC"
    )]
    UnknownTimeZone {
        environment: String,
        window: String,
        time_zone: String,
    },
    #[error(
        "environment {environment}: freeze window {window} needs either start and end, or recurring {{cron, duration, timeZone}}"
    )]
    Incomplete { environment: String, window: String },
}

/// One concrete occurrence of a freeze window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezePeriod {
    pub name: String,
    pub reason: Option<String>,
    pub from: Timestamp,
    pub until: Timestamp,
}

impl FreezePeriod {
    pub fn to_active_freeze(&self) -> ActiveFreeze {
        ActiveFreeze {
            name: self.name.clone(),
            reason: self.reason.clone(),
            from: Some(Time(self.from)),
            until: Time(self.until),
        }
    }
}

/// Whether an environment is frozen now, and when that changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FreezeState {
    /// The period in force now; `until` is the end of all overlapping or touching periods.
    pub active: Option<FreezePeriod>,
    /// The next period that starts after now (after `active` ends when frozen).
    pub next: Option<FreezePeriod>,
}

impl FreezeState {
    pub fn frozen(&self) -> bool {
        self.active.is_some()
    }

    /// When the answer of [`freeze_state`] next changes: the end of the active period or the
    /// start of the next one.
    pub fn next_boundary(&self) -> Option<Timestamp> {
        match (&self.active, &self.next) {
            (Some(active), _) => Some(active.until),
            (None, Some(next)) => Some(next.from),
            (None, None) => None,
        }
    }
}

/// A window parsed once: absolute bounds, or a cron schedule in a time zone with a length.
enum Schedule {
    Absolute {
        from: Timestamp,
        until: Timestamp,
    },
    Recurring {
        // Boxed: a parsed cron pattern is far larger than two timestamps.
        cron: Box<Cron>,
        length: SignedDuration,
        zone: TimeZone,
    },
}

struct ParsedWindow<'a> {
    window: &'a FreezeWindow,
    schedule: Schedule,
}

/// Checks every window of an environment: cron syntax, duration and time zone.
pub fn validate_windows(environment: &Environment) -> Result<(), FreezeError> {
    parse_windows(environment, DEFAULT_TIME_ZONE).map(|_| ())
}

/// `Environment.status` at `now`: whether it is frozen, the freeze in force and the next one,
/// the `Frozen` and `Ready` conditions (a bad window is `Ready` False, naming the field); and
/// when to look again, the next window boundary if there is one.
pub fn environment_status(
    environment: &Environment,
    now: Timestamp,
    default_time_zone: &str,
) -> (EnvironmentStatus, Option<Timestamp>) {
    let generation = environment.metadata.generation;
    let mut status = environment.status.clone().unwrap_or_default();
    let next = match freeze_state(environment, now, default_time_zone) {
        Ok(state) => {
            status.frozen = state.frozen();
            status.active_freeze = state.active.as_ref().map(|p| p.to_active_freeze());
            status.next_freeze = state.next.as_ref().map(|p| p.to_active_freeze());
            let message = match &state.active {
                Some(p) => format!(
                    "frozen until {} (window {:?}{})",
                    crate::admission::format_time(p.until),
                    p.name,
                    p.reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
                None => match &state.next {
                    Some(p) => format!(
                        "open; next freeze {:?} from {}",
                        p.name,
                        crate::admission::format_time(p.from)
                    ),
                    None => "open; no freeze window ahead".into(),
                },
            };
            let (frozen, reason) = if state.frozen() {
                (Status::True, reasons::FREEZE_ACTIVE)
            } else {
                (Status::False, reasons::NO_FREEZE)
            };
            let c = &mut status.conditions;
            conditions::set(c, types::FROZEN, frozen, reason, &message, generation, now);
            conditions::set(
                c,
                types::READY,
                Status::True,
                reasons::RECONCILED,
                &message,
                generation,
                now,
            );
            state.next_boundary()
        }
        Err(error) => {
            let message = format!("{error}; fix spec.freezeWindows");
            conditions::set(
                &mut status.conditions,
                types::READY,
                Status::False,
                reasons::INVALID_SPEC,
                &message,
                generation,
                now,
            );
            None
        }
    };
    (status, next)
}

/// The freeze state of `environment` at `now`. Recurring windows without a time zone use
/// `default_time_zone`.
pub fn freeze_state(
    environment: &Environment,
    now: Timestamp,
    default_time_zone: &str,
) -> Result<FreezeState, FreezeError> {
    let windows = parse_windows(environment, default_time_zone)?;
    let mut covering: Vec<FreezePeriod> = Vec::new();
    let mut upcoming: Vec<FreezePeriod> = Vec::new();
    for parsed in &windows {
        if let Some(period) = period_covering(parsed, now) {
            covering.push(period);
        }
    }
    let active = covering
        .into_iter()
        .max_by(|a, b| a.until.cmp(&b.until).then_with(|| b.name.cmp(&a.name)))
        .map(|mut period| {
            period.until = merged_end(&windows, period.until);
            period
        });
    let horizon = active.as_ref().map_or(now, |period| period.until);
    for parsed in &windows {
        if let Some(period) = period_starting_after(parsed, horizon) {
            upcoming.push(period);
        }
    }
    let next = upcoming
        .into_iter()
        .min_by(|a, b| a.from.cmp(&b.from).then_with(|| a.name.cmp(&b.name)));
    Ok(FreezeState { active, next })
}

fn parse_windows<'a>(
    environment: &'a Environment,
    default_time_zone: &str,
) -> Result<Vec<ParsedWindow<'a>>, FreezeError> {
    let env_name = environment.metadata.name.as_deref().unwrap_or_default();
    environment
        .spec
        .freeze_windows
        .iter()
        .map(|window| {
            let schedule = match (&window.start, &window.end, &window.recurring) {
                (Some(start), Some(end), None) => Schedule::Absolute {
                    from: start.0,
                    until: end.0,
                },
                (None, None, Some(recurring)) => {
                    recurring_schedule(env_name, window, recurring, default_time_zone)?
                }
                _ => {
                    return Err(FreezeError::Incomplete {
                        environment: env_name.to_string(),
                        window: window.name.clone(),
                    });
                }
            };
            Ok(ParsedWindow { window, schedule })
        })
        .collect()
}

fn recurring_schedule(
    environment: &str,
    window: &FreezeWindow,
    recurring: &RecurringWindow,
    default_time_zone: &str,
) -> Result<Schedule, FreezeError> {
    let cron: Cron = recurring
        .cron
        .parse()
        .map_err(
            |error: croner::errors::CronError| FreezeError::InvalidCron {
                environment: environment.to_string(),
                window: window.name.clone(),
                cron: recurring.cron.clone(),
                reason: error.to_string(),
            },
        )?;
    let length =
        parse_duration(&recurring.duration).ok_or_else(|| FreezeError::InvalidDuration {
            environment: environment.to_string(),
            window: window.name.clone(),
            duration: recurring.duration.clone(),
        })?;
    let zone_name = recurring.time_zone.as_deref().unwrap_or(default_time_zone);
    let zone = TimeZone::get(zone_name).map_err(|_| FreezeError::UnknownTimeZone {
        environment: environment.to_string(),
        window: window.name.clone(),
        time_zone: zone_name.to_string(),
    })?;
    Ok(Schedule::Recurring {
        cron: Box::new(cron),
        length,
        zone,
    })
}

/// A Go-style duration (`90m`, `2h30m`, `1.5h`) as Kubernetes and the CRD schema write them.
pub fn parse_duration(text: &str) -> Option<SignedDuration> {
    let duration: SignedDuration = text.parse().ok()?;
    (duration > SignedDuration::ZERO).then_some(duration)
}

fn period(window: &FreezeWindow, from: Timestamp, until: Timestamp) -> FreezePeriod {
    FreezePeriod {
        name: window.name.clone(),
        reason: window.reason.clone(),
        from,
        until,
    }
}

/// The occurrence of `parsed` that covers `at` (start inclusive, end exclusive).
fn period_covering(parsed: &ParsedWindow<'_>, at: Timestamp) -> Option<FreezePeriod> {
    match &parsed.schedule {
        Schedule::Absolute { from, until } => {
            (*from <= at && at < *until).then(|| period(parsed.window, *from, *until))
        }
        Schedule::Recurring { cron, length, zone } => {
            let zoned = at.to_zoned(zone.clone());
            let start = cron.find_previous_occurrence(&zoned, true).ok()?;
            let from = start.timestamp();
            let until = from.checked_add(*length).ok()?;
            (at < until).then(|| period(parsed.window, from, until))
        }
    }
}

/// The first occurrence of `parsed` that starts strictly after `after`.
fn period_starting_after(parsed: &ParsedWindow<'_>, after: Timestamp) -> Option<FreezePeriod> {
    match &parsed.schedule {
        Schedule::Absolute { from, until } => {
            (*from > after).then(|| period(parsed.window, *from, *until))
        }
        Schedule::Recurring { cron, length, zone } => {
            let zoned = after.to_zoned(zone.clone());
            let start = cron.find_next_occurrence(&zoned, false).ok()?;
            let from = start.timestamp();
            let until = from.checked_add(*length).ok()?;
            Some(period(parsed.window, from, until))
        }
    }
}

/// Extends `until` while another period starts at or before it, so "frozen until" is the moment
/// releases are really possible again.
fn merged_end(windows: &[ParsedWindow<'_>], mut until: Timestamp) -> Timestamp {
    for _ in 0..MAX_MERGED_OCCURRENCES {
        let extended = windows
            .iter()
            .filter_map(|parsed| period_covering(parsed, until))
            .map(|period| period.until)
            .max();
        match extended {
            Some(end) if end > until => until = end,
            _ => break,
        }
    }
    until
}

#[cfg(test)]
pub(crate) mod tests;
