use super::*;
use gitopshq_crds::environment::EnvironmentSpec;

fn ts(text: &str) -> Timestamp {
    text.parse().expect("timestamp")
}

fn absolute(name: &str, start: &str, end: &str) -> FreezeWindow {
    FreezeWindow {
        name: name.into(),
        start: Some(Time(ts(start))),
        end: Some(Time(ts(end))),
        reason: Some(format!("{name} reason")),
        recurring: None,
    }
}

pub(crate) fn recurring(
    name: &str,
    cron: &str,
    duration: &str,
    zone: Option<&str>,
) -> FreezeWindow {
    FreezeWindow {
        name: name.into(),
        start: None,
        end: None,
        reason: None,
        recurring: Some(RecurringWindow {
            cron: cron.into(),
            duration: duration.into(),
            time_zone: zone.map(Into::into),
        }),
    }
}

fn environment(windows: Vec<FreezeWindow>) -> Environment {
    Environment::new(
        "production",
        EnvironmentSpec {
            freeze_windows: windows,
            ..Default::default()
        },
    )
}

fn state(windows: Vec<FreezeWindow>, now: &str) -> FreezeState {
    freeze_state(&environment(windows), ts(now), DEFAULT_TIME_ZONE).expect("valid windows")
}

#[test]
fn no_windows_is_never_frozen() {
    let state = state(vec![], "2026-11-25T12:00:00Z");
    assert!(!state.frozen());
    assert_eq!(state.next_boundary(), None);
}

#[test]
fn absolute_window_covers_start_but_not_end() {
    let windows = || {
        vec![absolute(
            "db-upgrade",
            "2026-11-25T10:00:00Z",
            "2026-11-25T18:00:00Z",
        )]
    };
    let before = state(windows(), "2026-11-25T09:59:59Z");
    assert!(!before.frozen());
    assert_eq!(
        before.next.as_ref().unwrap().from,
        ts("2026-11-25T10:00:00Z")
    );
    assert_eq!(before.next_boundary(), Some(ts("2026-11-25T10:00:00Z")));

    let at_start = state(windows(), "2026-11-25T10:00:00Z");
    let active = at_start.active.expect("frozen at start");
    assert_eq!(active.name, "db-upgrade");
    assert_eq!(active.reason.as_deref(), Some("db-upgrade reason"));
    assert_eq!(active.until, ts("2026-11-25T18:00:00Z"));

    assert!(!state(windows(), "2026-11-25T18:00:00Z").frozen());
}

#[test]
fn overlapping_and_touching_windows_merge_their_end() {
    let windows = vec![
        absolute("a", "2026-11-25T10:00:00Z", "2026-11-25T12:00:00Z"),
        absolute("b", "2026-11-25T11:00:00Z", "2026-11-25T14:00:00Z"),
        absolute("c", "2026-11-25T14:00:00Z", "2026-11-25T15:00:00Z"),
        absolute("later", "2026-11-26T00:00:00Z", "2026-11-26T01:00:00Z"),
    ];
    let state = state(windows, "2026-11-25T10:30:00Z");
    let active = state.active.as_ref().unwrap();
    assert_eq!(active.name, "a");
    assert_eq!(active.until, ts("2026-11-25T15:00:00Z"));
    assert_eq!(state.next.as_ref().unwrap().name, "later");
    assert_eq!(state.next_boundary(), Some(ts("2026-11-25T15:00:00Z")));
}

#[test]
fn recurring_window_in_utc() {
    // Every Friday 22:00 for 8h.
    let windows = || vec![recurring("weekend", "0 22 * * FRI", "8h", None)];
    // 2026-11-27 is a Friday.
    let inside = state(windows(), "2026-11-28T03:00:00Z");
    let active = inside.active.expect("frozen saturday 03:00");
    assert_eq!(active.from, ts("2026-11-27T22:00:00Z"));
    assert_eq!(active.until, ts("2026-11-28T06:00:00Z"));
    assert_eq!(inside.next.unwrap().from, ts("2026-12-04T22:00:00Z"));

    let outside = state(windows(), "2026-11-28T06:00:00Z");
    assert!(!outside.frozen());
    assert_eq!(outside.next_boundary(), Some(ts("2026-12-04T22:00:00Z")));
}

#[test]
fn recurring_window_follows_its_time_zone_across_daylight_saving() {
    // 09:00 Berlin time: 08:00Z in winter (CET), 07:00Z in summer (CEST).
    let windows = || {
        vec![recurring(
            "standup",
            "0 9 * * *",
            "30m",
            Some("Europe/Berlin"),
        )]
    };
    let winter = state(windows(), "2026-11-25T08:10:00Z").active.unwrap();
    assert_eq!(winter.from, ts("2026-11-25T08:00:00Z"));
    let summer = state(windows(), "2026-07-01T07:10:00Z").active.unwrap();
    assert_eq!(summer.from, ts("2026-07-01T07:00:00Z"));
    assert!(!state(windows(), "2026-07-01T08:10:00Z").frozen());
}

#[test]
fn default_time_zone_applies_to_recurring_windows_without_one() {
    let env = environment(vec![recurring("nightly", "0 1 * * *", "1h", None)]);
    let tokyo = freeze_state(&env, ts("2026-11-24T16:30:00Z"), "Asia/Tokyo").unwrap();
    assert_eq!(tokyo.active.unwrap().from, ts("2026-11-24T16:00:00Z"));
}

#[test]
fn fractional_and_compound_durations_parse() {
    assert_eq!(parse_duration("90m"), Some(SignedDuration::from_mins(90)));
    assert_eq!(
        parse_duration("2h30m"),
        Some(SignedDuration::from_mins(150))
    );
    assert_eq!(parse_duration("1.5h"), Some(SignedDuration::from_mins(90)));
    assert_eq!(parse_duration("0s"), None);
    assert_eq!(parse_duration("soon"), None);
}

#[test]
fn invalid_windows_name_environment_window_and_fix() {
    let bad_cron =
        validate_windows(&environment(vec![recurring("w", "61 * * * *", "1h", None)])).unwrap_err();
    assert!(
        matches!(bad_cron, FreezeError::InvalidCron { .. }),
        "{bad_cron}"
    );
    let text = bad_cron.to_string();
    assert!(
        text.contains("environment production") && text.contains("freeze window w"),
        "{text}"
    );

    let bad_zone = validate_windows(&environment(vec![recurring(
        "w",
        "0 1 * * *",
        "1h",
        Some("Mars/Olympus"),
    )]))
    .unwrap_err();
    assert!(bad_zone.to_string().contains("Mars/Olympus"), "{bad_zone}");

    let bad_duration = validate_windows(&environment(vec![recurring(
        "w",
        "0 1 * * *",
        "forever",
        None,
    )]))
    .unwrap_err();
    assert!(matches!(bad_duration, FreezeError::InvalidDuration { .. }));

    let incomplete = FreezeWindow {
        name: "half".into(),
        start: Some(Time(ts("2026-11-25T10:00:00Z"))),
        ..Default::default()
    };
    assert!(matches!(
        validate_windows(&environment(vec![incomplete])),
        Err(FreezeError::Incomplete { .. })
    ));
}

#[test]
fn a_schedule_that_never_ends_stops_merging() {
    // Every minute for an hour: always frozen; the merge walk is bounded.
    let state = state(
        vec![recurring("always", "* * * * *", "1h", None)],
        "2026-11-25T12:00:00Z",
    );
    let active = state.active.unwrap();
    assert!(active.until > ts("2026-11-25T13:00:00Z"));
}

#[test]
fn the_environment_status_says_frozen_until_when_and_when_to_look_again() {
    let freeze = absolute("year-end", "2026-12-20T00:00:00Z", "2027-01-02T00:00:00Z");
    let env = environment(vec![freeze]);
    let (status, next) = environment_status(&env, ts("2026-12-24T10:00:00Z"), DEFAULT_TIME_ZONE);
    assert!(status.frozen);
    assert_eq!(
        status.active_freeze.as_ref().map(|f| f.name.as_str()),
        Some("year-end")
    );
    assert_eq!(
        next,
        Some(ts("2027-01-02T00:00:00Z")),
        "look again when it ends"
    );
    let frozen = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Frozen")
        .expect("Frozen");
    assert_eq!(
        (frozen.status.as_str(), frozen.reason.as_str()),
        ("True", "FreezeActive")
    );
    assert!(
        frozen.message.starts_with("frozen until "),
        "{}",
        frozen.message
    );
    assert!(
        frozen.message.contains("year-end reason"),
        "{}",
        frozen.message
    );

    let (open, next) = environment_status(&env, ts("2026-12-01T00:00:00Z"), DEFAULT_TIME_ZONE);
    assert!(!open.frozen);
    assert_eq!(
        open.next_freeze.as_ref().map(|f| f.name.as_str()),
        Some("year-end")
    );
    assert_eq!(next, Some(ts("2026-12-20T00:00:00Z")));
    let ready = open
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert!(
        ready
            .message
            .starts_with("open; next freeze \"year-end\" from"),
        "{}",
        ready.message
    );
}

#[test]
fn a_bad_window_makes_the_environment_not_ready_naming_the_field() {
    let env = environment(vec![recurring("weekly", "not a cron", "2h", None)]);
    let (status, next) = environment_status(&env, ts("2026-12-01T00:00:00Z"), DEFAULT_TIME_ZONE);
    assert_eq!(next, None);
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "InvalidSpec")
    );
    assert!(
        ready.message.ends_with("; fix spec.freezeWindows"),
        "{}",
        ready.message
    );
}
