//! Notifications: which events a `NotificationChannel` wants, the bodies Slack (incoming
//! webhook `blocks`), Microsoft Teams (an Adaptive Card) and plain webhooks receive, the retry
//! schedule, and the channel status after a delivery or a give-up.

use std::time::Duration;

use gitopshq_crds::break_glass_session::{
    BreakGlassPhase, BreakGlassSession, BreakGlassSessionStatus,
};
use gitopshq_crds::common::Time;
use gitopshq_crds::consts::{API_VERSION, conditions as types, reasons};
use gitopshq_crds::notification_channel::{
    ChannelType, NotificationChannelSpec, NotificationChannelStatus, NotificationEvent,
};
use gitopshq_crds::release::{Release, ReleasePhase, ReleaseStatus};
use jiff::Timestamp;
use kube::ResourceExt;
use serde_json::{Value, json};

use crate::conditions::{self, Status};

/// Header of the HMAC-SHA256 signature of webhook notifications (`sha256=<hex>` over
/// `<timestamp>.<body>`), the same scheme the generic registry source uses.
pub const SIGNATURE_HEADER: &str = "X-GitOpsHQ-Signature";
/// Header of the Unix timestamp that is part of the signed text.
pub const TIMESTAMP_HEADER: &str = "X-GitOpsHQ-Timestamp";
/// Key of the Secret (the URL Secret) that holds the webhook signing key.
pub const SIGNING_KEY: &str = "signingKey";

/// Slack limits: header text 150, section text 3000, field text 2000 characters.
const SLACK_HEADER: usize = 150;
const SLACK_TEXT: usize = 3000;
const SLACK_FIELD: usize = 2000;

/// Something worth telling people about.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub event: NotificationEvent,
    /// The project (namespace) the object belongs to.
    pub project: String,
    /// `Release` or `BreakGlassSession`.
    pub kind: &'static str,
    pub name: String,
    /// Release title, or the session's one-line summary.
    pub title: String,
    pub environment: Option<String>,
    pub phase: Option<String>,
    /// "1 of 2 approvals received; needs a team other than sre-team".
    pub approvals: Option<String>,
    pub commit: Option<String>,
    /// Where to look: the commit in the repository's web view, the incident.
    pub link: Option<String>,
    /// The release's page in the dashboard, when its external URL is configured.
    pub page: Option<String>,
    /// The CI build that produced the release (its `gitopshq.io/build-url` annotation).
    pub build: Option<String>,
    /// What happened and the next step.
    pub message: Option<String>,
    /// Who caused it.
    pub actor: Option<String>,
    pub time: Timestamp,
}

impl Notification {
    /// The headline: "Release deployed: Auto: image update to v2.4.0".
    pub fn headline(&self) -> String {
        format!("{}: {}", event_label(self.event), self.title)
    }

    /// The command that shows the object.
    pub fn command(&self) -> String {
        match self.kind {
            "BreakGlassSession" => format!(
                "kubectl -n {} get breakglasssession {}",
                self.project, self.name
            ),
            _ => format!("kubectl gitopshq status {} -n {}", self.name, self.project),
        }
    }
}

/// "Release deployed", "Break-glass opened", …
pub fn event_label(event: NotificationEvent) -> &'static str {
    match event {
        NotificationEvent::ReleasePendingApproval => "Release waiting for approval",
        NotificationEvent::ReleaseApprovalOverdue => "Approval overdue",
        NotificationEvent::ReleaseDeployed => "Release deployed",
        NotificationEvent::ReleaseHealthy => "Release healthy",
        NotificationEvent::ReleaseFailed => "Release failed",
        NotificationEvent::BreakGlassOpened => "Break-glass opened",
        NotificationEvent::BreakGlassClosed => "Break-glass closed",
        NotificationEvent::DriftDetected => "Drift detected",
    }
}

/// The event a release entering `phase` raises: PendingApproval, Deployed and Healthy by
/// name; Failed and Degraded (delivered, but unhealthy) as `ReleaseFailed`.
pub fn release_event(phase: ReleasePhase) -> Option<NotificationEvent> {
    Some(match phase {
        ReleasePhase::PendingApproval => NotificationEvent::ReleasePendingApproval,
        ReleasePhase::Deployed => NotificationEvent::ReleaseDeployed,
        ReleasePhase::Healthy => NotificationEvent::ReleaseHealthy,
        ReleasePhase::Failed | ReleasePhase::Degraded => NotificationEvent::ReleaseFailed,
        _ => return None,
    })
}

/// The web page of `commit` for an HTTPS repository URL (GitHub, GitLab, Gitea and Bitbucket
/// Server all answer `<repo>/commit/<sha>`); none for other remotes.
pub fn commit_link(repository_url: &str, commit: &str) -> Option<String> {
    let base = repository_url.trim_end_matches('/');
    if !base.starts_with("https://") || commit.is_empty() {
        return None;
    }
    // Credentials in the URL never go into a message.
    let after_scheme = &base["https://".len()..];
    let host_and_path = after_scheme
        .split_once('@')
        .filter(|(user, _)| !user.contains('/'))
        .map_or(after_scheme, |(_, rest)| rest);
    let path = host_and_path.trim_end_matches(".git");
    Some(format!("https://{path}/commit/{commit}"))
}

/// The notification of `release` raising `event`, as its status is now.
pub fn for_release(
    event: NotificationEvent,
    release: &Release,
    status: &ReleaseStatus,
    link: Option<String>,
    now: Timestamp,
) -> Notification {
    let approvals = status.approvals.as_ref().map(|a| {
        let mut text = format!("{} of {} approvals received", a.received, a.required);
        if !a.missing.is_empty() {
            text.push_str("; ");
            text.push_str(&a.missing.join("; "));
        }
        text
    });
    let actor = status
        .timeline
        .last()
        .and_then(|t| t.actor.clone())
        .or_else(|| release.spec.created_by.clone());
    Notification {
        event,
        project: release.namespace().unwrap_or_default(),
        kind: "Release",
        name: release.name_any(),
        title: release.spec.title.clone(),
        environment: Some(release.spec.environment.clone()),
        phase: status.phase.map(|p| format!("{p:?}")),
        approvals,
        commit: status.commit.clone(),
        link,
        page: None,
        build: release
            .annotations()
            .get(gitopshq_crds::consts::annotations::BUILD_URL)
            .filter(|url| url.starts_with("https://") || url.starts_with("http://"))
            .cloned(),
        message: status.message.clone(),
        actor,
        time: now,
    }
}

/// The page of release `namespace/name` in the dashboard served at `dashboard_url`.
pub fn release_page(dashboard_url: &str, namespace: &str, name: &str) -> String {
    format!(
        "{}/#/releases/{namespace}/{name}",
        dashboard_url.trim_end_matches('/')
    )
}

/// The buttons of a notification: its page, the link, the CI build, each once.
fn buttons(n: &Notification) -> Vec<(&'static str, &str)> {
    let mut out: Vec<(&'static str, &str)> = Vec::new();
    for (label, url) in [
        ("Open release", n.page.as_deref()),
        ("Open", n.link.as_deref()),
        ("CI build", n.build.as_deref()),
    ] {
        if let Some(url) = url
            && !out.iter().any(|(_, u)| *u == url)
        {
            out.push((label, url));
        }
    }
    out
}

/// `DriftDetected` on a delivered release: `message` names the drifted objects.
pub fn for_drift(
    release: &Release,
    status: &ReleaseStatus,
    message: &str,
    link: Option<String>,
    now: Timestamp,
) -> Notification {
    Notification {
        message: Some(message.to_string()),
        ..for_release(NotificationEvent::DriftDetected, release, status, link, now)
    }
}

/// `BreakGlassOpened` or `BreakGlassClosed` (also on expiry) for a session entering its phase.
pub fn for_session(
    session: &BreakGlassSession,
    status: &BreakGlassSessionStatus,
    now: Timestamp,
) -> Option<Notification> {
    let event = match status.phase? {
        BreakGlassPhase::Active => NotificationEvent::BreakGlassOpened,
        BreakGlassPhase::Closed | BreakGlassPhase::Expired => NotificationEvent::BreakGlassClosed,
    };
    let spec = &session.spec;
    let scope: Vec<String> = spec
        .scope
        .environments
        .iter()
        .flat_map(|env| {
            if spec.scope.workloads.is_empty() {
                vec![env.clone()]
            } else {
                spec.scope
                    .workloads
                    .iter()
                    .map(|w| format!("{env}/{w}"))
                    .collect()
            }
        })
        .collect();
    let message = match status.phase? {
        BreakGlassPhase::Active => spec.justification.clone(),
        _ => {
            let note = spec
                .closing_note
                .clone()
                .unwrap_or_else(|| "expired without a closing note".to_string());
            format!("{note} ({} action(s) recorded)", status.actions.len())
        }
    };
    Some(Notification {
        event,
        project: session.namespace().unwrap_or_default(),
        kind: "BreakGlassSession",
        name: session.name_any(),
        title: format!(
            "{} {:?} on {}",
            session.name_any(),
            spec.severity,
            scope.join(", ")
        ),
        environment: (!spec.scope.environments.is_empty())
            .then(|| spec.scope.environments.join(", ")),
        phase: status.phase.map(|p| format!("{p:?}")),
        approvals: None,
        commit: None,
        link: spec.incident_url.clone(),
        page: None,
        build: None,
        message: Some(message),
        actor: spec.requested_by.clone(),
        time: now,
    })
}

/// A notifiable thing that happened to an object, at the time it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    pub event: NotificationEvent,
    /// The release phase entered (release events).
    pub phase: Option<ReleasePhase>,
    pub time: Timestamp,
    /// What drifted (drift).
    pub message: Option<String>,
}

impl Occurrence {
    /// This transition of the object `object_uid`, as a channel's status lists it once handled
    /// (`status.handledTransitions`): the same transition always gives the same text, a later
    /// transition into the same phase (Degraded, then Healthy again) another.
    pub fn transition(&self, object_uid: &str) -> String {
        format!(
            "{object_uid}/{}/{}",
            self.event.as_str(),
            self.time.as_second()
        )
    }

    /// The identity of this occurrence for one channel.
    pub fn key(&self, channel_uid: &str, object_uid: &str) -> String {
        format!("{channel_uid}/{}", self.transition(object_uid))
    }
}

/// How many handled transitions a channel's status keeps.
pub const HANDLED_TRANSITIONS: usize = 100;

/// What a notifier that starts does not send for a channel: the transitions before the
/// channel's last verdict (its last delivery or give-up, whose status says every earlier
/// transition was handled), or before its creation when it has none; and, in the verdict's
/// own second, those its status lists as handled. Status times have whole seconds, so a
/// transition in that second may have come before the verdict or after it: the list tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Floor {
    /// In whole seconds.
    second: i64,
    handled: std::collections::BTreeSet<String>,
}

impl Floor {
    /// The floor of a channel with `status`, created at `created`.
    pub fn of(status: Option<&NotificationChannelStatus>, created: Timestamp) -> Self {
        let verdict = status.and_then(last_verdict);
        Self {
            second: verdict.unwrap_or(created).as_second(),
            handled: status
                .filter(|_| verdict.is_some())
                .map(|s| s.handled_transitions.iter().cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// Whether `occurrence` of the object `object_uid` is not sent.
    pub fn excludes(&self, occurrence: &Occurrence, object_uid: &str) -> bool {
        occurrence.time.as_second() < self.second
            || self.handled.contains(&occurrence.transition(object_uid))
    }
}

/// The channel's last verdict: its last delivery, or its give-up while it is dead-lettered.
fn last_verdict(status: &NotificationChannelStatus) -> Option<Timestamp> {
    let sent = status.last_sent_time.as_ref().map(|t| t.0);
    let given_up = status
        .conditions
        .iter()
        .find(|c| c.type_ == types::READY)
        .filter(|c| c.reason == reasons::DEAD_LETTER)
        .map(|c| c.last_transition_time.0);
    sent.into_iter().chain(given_up).max()
}

/// Lists `transition` as handled, keeping only what a [`Floor`] of the new status reads: the
/// transitions of the last verdict's second or later, the newest [`HANDLED_TRANSITIONS`].
fn remember(status: &mut NotificationChannelStatus, transition: &str) {
    let floor = last_verdict(status).map_or(i64::MIN, |t| t.as_second());
    let second = |entry: &str| {
        entry
            .rsplit('/')
            .next()
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(i64::MIN)
    };
    let list = &mut status.handled_transitions;
    list.retain(|entry| entry != transition && second(entry) >= floor);
    list.push(transition.to_string());
    let excess = list.len().saturating_sub(HANDLED_TRANSITIONS);
    list.drain(..excess);
}

/// The notifiable transitions of a release: each timeline entry that enters a phase raising
/// an event (an entry that repeats the previous entry's phase with another reason is no
/// transition), and `DriftDetected` when the `Drifted` condition turned True.
pub fn release_occurrences(status: &ReleaseStatus) -> Vec<Occurrence> {
    let mut out = Vec::new();
    let mut previous: Option<ReleasePhase> = None;
    for entry in &status.timeline {
        if previous != Some(entry.phase)
            && let Some(event) = release_event(entry.phase)
        {
            out.push(Occurrence {
                event,
                phase: Some(entry.phase),
                time: entry.time.0,
                message: None,
            });
        }
        previous = Some(entry.phase);
    }
    if let Some(overdue) = conditions::get(&status.conditions, types::APPROVAL_OVERDUE)
        && overdue.status == Status::True.as_str()
    {
        out.push(Occurrence {
            event: NotificationEvent::ReleaseApprovalOverdue,
            phase: None,
            time: overdue.last_transition_time.0,
            message: Some(overdue.message.clone()),
        });
    }
    if let Some(drift) = conditions::get(&status.conditions, types::DRIFTED)
        && drift.status == Status::True.as_str()
    {
        out.push(Occurrence {
            event: NotificationEvent::DriftDetected,
            phase: None,
            time: drift.last_transition_time.0,
            message: Some(drift.message.clone()),
        });
    }
    out
}

/// `BreakGlassOpened` at activation and `BreakGlassClosed` when it ended (closed or expired).
pub fn session_occurrences(status: &BreakGlassSessionStatus) -> Vec<Occurrence> {
    let mut out = Vec::new();
    if let Some(at) = &status.activated_at {
        out.push(Occurrence {
            event: NotificationEvent::BreakGlassOpened,
            phase: None,
            time: at.0,
            message: None,
        });
    }
    if matches!(
        status.phase,
        Some(BreakGlassPhase::Closed | BreakGlassPhase::Expired)
    ) && let Some(at) = status.ended_at.as_ref().or(status.expires_at.as_ref())
    {
        out.push(Occurrence {
            event: NotificationEvent::BreakGlassClosed,
            phase: None,
            time: at.0,
            message: None,
        });
    }
    out
}

/// The notification of `occurrence` on `release` (its phase as entered, the rest as now).
pub fn for_release_occurrence(
    occurrence: &Occurrence,
    release: &Release,
    status: &ReleaseStatus,
    link: Option<String>,
) -> Notification {
    let mut n = for_release(occurrence.event, release, status, link, occurrence.time);
    if let Some(phase) = occurrence.phase {
        n.phase = Some(format!("{phase:?}"));
        if status.phase != Some(phase) {
            // The message was about the phase it is in now.
            n.message = None;
        }
    }
    if matches!(
        occurrence.event,
        NotificationEvent::DriftDetected | NotificationEvent::ReleaseApprovalOverdue
    ) {
        n.message = occurrence.message.clone();
    }
    n
}

/// The notification of `occurrence` on `session`.
pub fn for_session_occurrence(
    occurrence: &Occurrence,
    session: &BreakGlassSession,
    status: &BreakGlassSessionStatus,
) -> Option<Notification> {
    let phase = match occurrence.event {
        NotificationEvent::BreakGlassOpened => BreakGlassPhase::Active,
        _ => status.phase.unwrap_or(BreakGlassPhase::Closed),
    };
    let as_then = BreakGlassSessionStatus {
        phase: Some(phase),
        ..status.clone()
    };
    for_session(session, &as_then, occurrence.time)
}

/// Whether a channel subscribes to the notification's event and project.
/// An overdue approval is escalated to the channels that were told it was pending, too.
pub fn wants(channel: &NotificationChannelSpec, notification: &Notification) -> bool {
    let subscribed = channel.events.contains(&notification.event)
        || (notification.event == NotificationEvent::ReleaseApprovalOverdue
            && channel
                .events
                .contains(&NotificationEvent::ReleasePendingApproval));
    subscribed && (channel.projects.is_empty() || channel.projects.contains(&notification.project))
}

/// The body the channel's type expects.
pub fn payload(channel: ChannelType, notification: &Notification) -> Value {
    match channel {
        ChannelType::Slack => slack(notification),
        ChannelType::Teams => teams(notification),
        ChannelType::Webhook => webhook(notification),
    }
}

fn facts(n: &Notification) -> Vec<(&'static str, String)> {
    let mut facts = vec![("Project", n.project.clone())];
    if let Some(env) = &n.environment {
        facts.push(("Environment", env.clone()));
    }
    if let Some(phase) = &n.phase {
        facts.push(("Phase", phase.clone()));
    }
    if let Some(approvals) = &n.approvals {
        facts.push(("Approvals", approvals.clone()));
    }
    if let Some(commit) = &n.commit {
        facts.push(("Commit", commit.chars().take(12).collect()));
    }
    if let Some(actor) = &n.actor {
        facts.push(("By", actor.clone()));
    }
    facts
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut clipped: String = text.chars().take(max.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

/// Slack's mrkdwn control characters.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A Slack incoming-webhook message: `text` for notifications, `blocks` for the message.
pub fn slack(n: &Notification) -> Value {
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": clip(&n.headline(), SLACK_HEADER), "emoji": false}}),
        json!({"type": "section", "fields": facts(n).into_iter().map(|(k, v)| json!({
            "type": "mrkdwn",
            "text": clip(&format!("*{k}*\n{}", slack_escape(&v)), SLACK_FIELD),
        })).collect::<Vec<_>>()}),
    ];
    if let Some(message) = &n.message {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(&slack_escape(message), SLACK_TEXT)}}));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("`{}`", slack_escape(&n.command()))}]}));
    let buttons = buttons(n);
    if !buttons.is_empty() {
        blocks.push(json!({"type": "actions", "elements": buttons.iter().map(|(label, url)| json!({"type": "button", "text": {"type": "plain_text", "text": label}, "url": url})).collect::<Vec<_>>()}));
    }
    json!({
        "text": clip(&slack_escape(&format!("{} ({}{})", n.headline(), n.project, n.environment.as_deref().map(|e| format!(", {e}")).unwrap_or_default())), SLACK_TEXT),
        "blocks": blocks,
    })
}

/// A Teams incoming-webhook message carrying an Adaptive Card.
pub fn teams(n: &Notification) -> Value {
    let mut body = vec![
        json!({"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": n.headline(), "wrap": true}),
        json!({"type": "FactSet", "facts": facts(n).into_iter().map(|(k, v)| json!({"title": k, "value": v})).collect::<Vec<_>>()}),
    ];
    if let Some(message) = &n.message {
        body.push(json!({"type": "TextBlock", "text": message, "wrap": true}));
    }
    body.push(json!({"type": "TextBlock", "text": n.command(), "fontType": "Monospace", "isSubtle": true, "wrap": true}));
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    let buttons = buttons(n);
    if !buttons.is_empty() {
        card["actions"] = json!(
            buttons
                .iter()
                .map(|(label, url)| json!({"type": "Action.OpenUrl", "title": label, "url": url}))
                .collect::<Vec<_>>()
        );
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

/// The plain JSON event of a webhook channel.
pub fn webhook(n: &Notification) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": "Notification",
        "event": n.event,
        "project": n.project,
        "object": {"kind": n.kind, "name": n.name},
        "title": n.title,
        "environment": n.environment,
        "phase": n.phase,
        "approvals": n.approvals,
        "commit": n.commit,
        "link": n.link,
        "page": n.page,
        "build": n.build,
        "message": n.message,
        "actor": n.actor,
        "time": n.time.to_string(),
    })
}

/// The signature headers of a webhook body sent at `now` (Unix seconds).
pub fn signature_headers(key: &[u8], body: &[u8], now: Timestamp) -> [(&'static str, String); 2] {
    let timestamp = now.as_second().to_string();
    let mut signed = timestamp.clone().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(body);
    [
        (TIMESTAMP_HEADER, timestamp),
        (SIGNATURE_HEADER, crate::registry_events::sign(key, &signed)),
    ]
}

/// How deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts before a delivery is given up (dead-lettered).
    pub attempts: u32,
    /// Wait after the first failure; doubled after each next one.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            attempts: 5,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The wait after failed attempt `attempt` (1-based): `initial · 2^(attempt-1)`, capped at
    /// `max`, of which a random half (`jitter` in 0..1) is taken off so that channels failing
    /// together do not retry in step ("equal jitter").
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let full = self.initial.saturating_mul(1u32 << exponent).min(self.max);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        full.mul_f64(1.0 - jitter / 2.0)
    }

    /// Whether another attempt follows failed attempt `attempt`.
    pub fn retries_after(&self, attempt: u32) -> bool {
        attempt < self.attempts.max(1)
    }
}

/// A channel's status after a delivery succeeded.
pub fn sent(
    status: &NotificationChannelStatus,
    notification: &Notification,
    transition: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> NotificationChannelStatus {
    let mut status = status.clone();
    status.last_sent_time = Some(Time(now));
    status.last_error = None;
    conditions::set(
        &mut status.conditions,
        types::READY,
        Status::True,
        reasons::SENT,
        &format!(
            "{} sent for {} {}/{}",
            notification.event_name(),
            notification.kind,
            notification.project,
            notification.name
        ),
        generation,
        now,
    );
    remember(&mut status, transition);
    status
}

/// A delivery's failed attempt.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    pub error: &'a str,
    /// Attempts made so far, this one included.
    pub attempts: u32,
    /// Whether no attempt follows.
    pub given_up: bool,
}

/// A channel's status after a delivery failed `attempts` times: `lastError` always, and the
/// `Ready` False `DeadLetter` condition once it is given up.
pub fn failed(
    status: &NotificationChannelStatus,
    notification: &Notification,
    transition: &str,
    failure: Failure<'_>,
    generation: Option<i64>,
    now: Timestamp,
) -> NotificationChannelStatus {
    let Failure {
        error,
        attempts,
        given_up,
    } = failure;
    let mut status = status.clone();
    let text = format!(
        "{} for {} {}/{}: attempt {attempts} failed: {error}",
        notification.event_name(),
        notification.kind,
        notification.project,
        notification.name
    );
    status.last_error = Some(text.chars().take(1024).collect());
    if given_up {
        conditions::set(
            &mut status.conditions,
            types::READY,
            Status::False,
            reasons::DEAD_LETTER,
            &format!(
                "gave up after {attempts} attempts: {text}; fix the URL Secret or the receiving end, the next event is sent again"
            ),
            generation,
            now,
        );
        remember(&mut status, transition);
    }
    status
}

impl Notification {
    /// The event's API name (`ReleaseDeployed`).
    pub fn event_name(&self) -> String {
        format!("{:?}", self.event)
    }
}

#[cfg(test)]
mod tests;
