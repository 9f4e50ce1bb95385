//! Notifications: release transitions, break-glass sessions and drift, sent to every
//! `NotificationChannel` that wants them (Slack, Teams, webhooks).
//!
//! The notifier never blocks reconciliation. It follows the shared watches of Releases and
//! BreakGlassSessions (the reconcilers only write status, as always); for each object it asks
//! the engine which notifiable transitions its status records ([`release_occurrences`]: a
//! timeline entry entering PendingApproval, Deployed, Healthy, Failed or Degraded, the
//! `Drifted` condition turning True; [`session_occurrences`]: activation, end) and puts one job
//! per wanting channel on a bounded queue with `try_send`: when the queue is full the job is
//! dropped and counted, the watch goes on. Workers send each job with retries on the engine's
//! [`Backoff`] (exponential, equal jitter) and write the channel's status by server-side apply:
//! `lastSentTime` and `Ready` True `Sent`, or `lastError` and, once given up, `Ready` False
//! `DeadLetter`.
//!
//! **Each transition is notified once.** A transition is identified by the channel, the
//! object's uid, the event and the time the transition happened as the status records it
//! ([`Occurrence::key`]), so re-reading the same status (every watch event, every resync) finds
//! the same keys, which the notifier remembers while it runs. A channel created while the
//! notifier runs may come into its view after the objects whose transitions it should get (a
//! release deployed in the second the channel was applied): when it arrives, the notifier reads
//! every release and session again for that channel. Across restarts the memory is the
//! channel's own status: when the notifier first sees a channel, it takes as its floor the
//! channel's last verdict, `status.lastSentTime` or the time its `Ready` condition turned
//! `DeadLetter` (or, for a channel that has neither, its creation time) and only sends
//! transitions that happened after it ([`Floor`]). Everything older either was handled (the
//! status says a later delivery succeeded or was given up) or predates the channel. Status
//! times have whole seconds, so for the verdict's own second the status lists the transitions
//! handled (`status.handledTransitions`): one of that second that is not listed happened after
//! the verdict and is sent, one listed is not sent again. The price is at-most-once
//! for a transition that happened before the last successful delivery but was still queued or
//! being retried when the controller stopped: it is not sent twice, and it may not be sent at
//! all. Transitions that happened while no controller ran (the controller writes the phases,
//! so these are rare: an expiry) are after the floor and are sent on start. When the
//! controllers stop, deliveries under way finish and record their verdict (within [`DRAIN`])
//! so that no message goes twice across a restart; only a process killed between a send and
//! its record sends that one again.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use gitopshq_crds::break_glass_session::BreakGlassSession;
use gitopshq_crds::notification_channel::{
    ChannelType, NotificationChannel, NotificationChannelStatus,
};
use gitopshq_crds::project::Project;
use gitopshq_crds::release::Release;
use gitopshq_engine::notifications::{
    self, Floor, Notification, Occurrence, SIGNING_KEY, release_occurrences, session_occurrences,
};
use gitopshq_engine::registry_events::ReplayCache;
use jiff::{SignedDuration, Timestamp};
use kube::runtime::reflector::{self, ObjectRef, ReflectHandle, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::{Semaphore, mpsc, watch};
use tracing::{Instrument, debug, info, info_span, warn};

pub use crate::config::NotifierSettings;
use crate::context::Context;
use crate::index::Index;
use crate::warm_up::WatchFailures;

/// Jobs waiting to be sent before new ones are dropped.
pub const QUEUE: usize = 1024;
/// Deliveries in flight at once (each with its retries).
const WORKERS: usize = 8;
/// Time one HTTP request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Time the deliveries under way get to finish when the controllers stop: one request and
/// the status write that records it.
const DRAIN: Duration = Duration::from_secs(15);
/// Transitions remembered while running (a month, or this many).
const REMEMBERED: usize = 65_536;

/// Why one attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(
        "URL Secret {namespace}/{name} not found: create it with key {key} holding the incoming-webhook URL, or fix spec.urlSecretRef"
    )]
    NoSecret {
        namespace: String,
        name: String,
        key: String,
    },
    #[error(
        "URL Secret {namespace}/{name} has no key {key} (or it is not a URL): put the incoming-webhook URL there, or fix spec.urlSecretRef.key"
    )]
    NoUrl {
        namespace: String,
        name: String,
        key: String,
    },
    #[error("cannot read URL Secret {namespace}/{name}: {reason}")]
    Secret {
        namespace: String,
        name: String,
        reason: String,
    },
    #[error("HTTP {status} from the receiving end: {body}")]
    Status { status: u16, body: String },
    #[error("the request failed: {0}")]
    Request(String),
}

/// One notification for one channel.
struct Job {
    channel: String,
    channel_type: ChannelType,
    notification: Notification,
    /// What the channel's status lists once this job is handled.
    transition: String,
}

/// The notifier, subscribed to the watches (call while the controllers are built).
pub fn start(
    index: &mut Index,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Box<dyn FnOnce(Arc<Context>) -> BoxFuture<'static, ()> + Send> {
    let releases = index.releases.subscribe();
    let sessions = index.sessions.subscribe();
    Box::new(move |ctx| Box::pin(run(ctx, releases, sessions, shutdown)))
}

struct Notifier {
    ctx: Arc<Context>,
    channels: Store<NotificationChannel>,
    /// Per channel uid: transitions before this are not sent.
    floors: Mutex<HashMap<String, Floor>>,
    sent: Mutex<ReplayCache>,
    queue: mpsc::Sender<Job>,
    /// One status write at a time per notifier (they are rare and small).
    status_lock: tokio::sync::Mutex<()>,
    http: reqwest::Client,
    /// True once the controllers stop: no new delivery starts, retries waiting are left.
    stopping: watch::Sender<bool>,
}

async fn run(
    ctx: Arc<Context>,
    releases: ReflectHandle<Release>,
    sessions: ReflectHandle<BreakGlassSession>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (store, writer) = reflector::store();
    let api: Api<NotificationChannel> = Api::all(ctx.client.clone());
    let (arrivals, mut arrived) = mpsc::unbounded_channel();
    let channel_watch = tokio::spawn(
        watcher(api, watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .for_each({
                let mut failures = WatchFailures::default();
                let mut arrival = Arrival::default();
                move |event| {
                    match event {
                        Ok(event) => {
                            failures.succeeded();
                            if let Some(channel) = arrival.of(event) {
                                let _ = arrivals.send(channel);
                            }
                        }
                        Err(error) => failures.failed("NotificationChannel", &error),
                    }
                    std::future::ready(())
                }
            }),
    );
    let (queue, jobs) = mpsc::channel(QUEUE);
    let http = match reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("gitopshq/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(http) => http,
        Err(error) => {
            warn!(%error, "cannot build the HTTP client; notifications are off");
            return;
        }
    };
    let notifier = Arc::new(Notifier {
        ctx,
        channels: store.clone(),
        floors: Mutex::new(HashMap::new()),
        sent: Mutex::new(ReplayCache::new(
            REMEMBERED,
            SignedDuration::from_hours(24 * 31),
        )),
        queue,
        status_lock: tokio::sync::Mutex::new(()),
        http,
        stopping: watch::Sender::new(false),
    });
    let mut workers = tokio::spawn(deliver(Arc::clone(&notifier), jobs));
    // Channels first: their floors decide what the first objects seen may send.
    tokio::pin!(shutdown);
    tokio::select! {
        _ = store.wait_until_ready() => {}
        _ = &mut shutdown => { channel_watch.abort(); workers.abort(); return; }
    }
    info!(channels = store.state().len(), "notifier started");
    let mut releases = releases.boxed();
    let mut sessions = sessions.boxed();
    loop {
        tokio::select! {
            Some(release) = releases.next() => notifier.observe_release(&release, None),
            Some(session) = sessions.next() => notifier.observe_session(&session, None),
            Some(channel) = arrived.recv() => notifier.observe_all_for(&channel),
            _ = &mut shutdown => break,
        }
    }
    // A delivery under way finishes and records its verdict: a message sent but not recorded
    // would be sent again after the restart, its transition being above the old floor.
    notifier.stopping.send_replace(true);
    if tokio::time::timeout(DRAIN, &mut workers).await.is_err() {
        warn!("notifications under way did not finish within {DRAIN:?}; stopping them");
        workers.abort();
    }
    channel_watch.abort();
}

/// Tells which channel events bring a channel the notifier has not seen since its first full
/// list: those channels were created (or came into view) while it ran.
#[derive(Default)]
struct Arrival {
    seen: std::collections::HashSet<String>,
    listed: bool,
}

impl Arrival {
    /// The channel `event` brings for the first time, once the first full list is in.
    fn of(&mut self, event: watcher::Event<NotificationChannel>) -> Option<NotificationChannel> {
        let (channel, listing) = match event {
            watcher::Event::Apply(channel) => (channel, false),
            watcher::Event::InitApply(channel) => (channel, true),
            watcher::Event::InitDone => {
                self.listed = true;
                return None;
            }
            watcher::Event::Init | watcher::Event::Delete(_) => return None,
        };
        let uid = channel.uid().unwrap_or_else(|| channel.name_any());
        let new = self.seen.insert(uid);
        // The first list is what the notifier starts from: the objects it reads next are
        // matched against all of it. A relist after a watch outage may bring channels created
        // meanwhile.
        (new && (self.listed || !listing)).then_some(channel)
    }
}

impl Notifier {
    /// A channel that appeared while the notifier ran: the transitions that happened since its
    /// creation (its floor) but were read before the channel was, are sent to it now.
    fn observe_all_for(&self, channel: &NotificationChannel) {
        info!(
            kind = "NotificationChannel",
            name = %channel.name_any(),
            "channel added; reading the releases and sessions again for it"
        );
        for release in self.ctx.index.releases.store.state() {
            self.observe_release(&release, Some(channel));
        }
        for session in self.ctx.index.sessions.store.state() {
            self.observe_session(&session, Some(channel));
        }
    }

    /// `only`: the one channel to notify, else every channel that wants it.
    fn observe_release(&self, release: &Release, only: Option<&NotificationChannel>) {
        let Some(status) = &release.status else {
            return;
        };
        let project = release.namespace().unwrap_or_default();
        if !self.ctx.settings.shard.owns(&project) {
            return;
        }
        let occurrences = release_occurrences(status);
        debug!(
            kind = "Release",
            namespace = %project,
            name = %release.name_any(),
            occurrences = occurrences.len(),
            channels = self.channels.state().len(),
            "observed"
        );
        if occurrences.is_empty() {
            return;
        }
        let link = status.commit.as_deref().and_then(|commit| {
            self.ctx
                .index
                .projects
                .store
                .get(&ObjectRef::<Project>::new(&project))
                .and_then(|p| notifications::commit_link(&p.spec.repository.url, commit))
        });
        let uid = release.uid().unwrap_or_else(|| release.name_any());
        let page = self
            .ctx
            .settings
            .notifications
            .dashboard_url
            .as_deref()
            .map(|url| notifications::release_page(url, &project, &release.name_any()));
        for occurrence in occurrences {
            let mut notification =
                notifications::for_release_occurrence(&occurrence, release, status, link.clone());
            notification.page = page.clone();
            self.enqueue(&uid, &occurrence, notification, only);
        }
    }

    fn observe_session(&self, session: &BreakGlassSession, only: Option<&NotificationChannel>) {
        let Some(status) = &session.status else {
            return;
        };
        if !self
            .ctx
            .settings
            .shard
            .owns(&session.namespace().unwrap_or_default())
        {
            return;
        }
        let uid = session.uid().unwrap_or_else(|| session.name_any());
        for occurrence in session_occurrences(status) {
            if let Some(notification) =
                notifications::for_session_occurrence(&occurrence, session, status)
            {
                self.enqueue(&uid, &occurrence, notification, only);
            }
        }
    }

    /// Queues `notification` for every channel that wants it and has not had it.
    fn enqueue(
        &self,
        object_uid: &str,
        occurrence: &Occurrence,
        notification: Notification,
        only: Option<&NotificationChannel>,
    ) {
        let channels = match only {
            Some(channel) => vec![Arc::new(channel.clone())],
            None => self.channels.state(),
        };
        for channel in channels {
            if !notifications::wants(&channel.spec, &notification) {
                continue;
            }
            let channel_uid = channel.uid().unwrap_or_else(|| channel.name_any());
            if self.below_floor(&channel, &channel_uid, occurrence, object_uid) {
                continue;
            }
            let key = occurrence.key(&channel_uid, object_uid);
            {
                let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
                let now = self.ctx.now();
                if sent.contains(&key, now) {
                    continue;
                }
                sent.record(&key, now);
            }
            let job = Job {
                transition: occurrence.transition(object_uid),
                channel: channel.name_any(),
                channel_type: channel.spec.type_,
                notification: notification.clone(),
            };
            match self.queue.try_send(job) {
                Ok(()) => debug!(channel = %channel.name_any(), key, "notification queued"),
                Err(_) => {
                    self.ctx
                        .metrics
                        .notification(type_label(channel.spec.type_), "dropped");
                    warn!(
                        kind = "NotificationChannel",
                        name = %channel.name_any(),
                        event = %notification.event_name(),
                        "the notification queue is full; dropping this notification"
                    );
                }
            }
        }
    }

    /// Whether the channel's floor, taken the first time the channel is seen, excludes
    /// `occurrence` of the object `object_uid`.
    fn below_floor(
        &self,
        channel: &NotificationChannel,
        uid: &str,
        occurrence: &Occurrence,
        object_uid: &str,
    ) -> bool {
        let mut floors = self.floors.lock().unwrap_or_else(|p| p.into_inner());
        floors
            .entry(uid.to_string())
            .or_insert_with(|| {
                let created = channel
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map_or_else(|| self.ctx.now(), |t| t.0);
                Floor::of(channel.status.as_ref(), created)
            })
            .excludes(occurrence, object_uid)
    }
}

fn type_label(channel_type: ChannelType) -> &'static str {
    match channel_type {
        ChannelType::Slack => "Slack",
        ChannelType::Teams => "Teams",
        ChannelType::Webhook => "Webhook",
    }
}

/// Takes jobs off the queue, at most [`WORKERS`] in flight, until the notifier stops; then
/// waits for the deliveries under way (jobs still queued are left).
async fn deliver(notifier: Arc<Notifier>, mut jobs: mpsc::Receiver<Job>) {
    let permits = Arc::new(Semaphore::new(WORKERS));
    let mut in_flight = tokio::task::JoinSet::new();
    let mut stopping = notifier.stopping.subscribe();
    loop {
        let job = tokio::select! {
            biased;
            _ = stopping.wait_for(|s| *s) => break,
            job = jobs.recv() => match job {
                Some(job) => job,
                None => break,
            },
        };
        while in_flight.try_join_next().is_some() {}
        let permit = tokio::select! {
            biased;
            _ = stopping.wait_for(|s| *s) => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let notifier = Arc::clone(&notifier);
        let span = info_span!(
            "notify",
            kind = "NotificationChannel",
            name = %job.channel,
            event = %job.notification.event_name(),
            object = %format!("{}/{}", job.notification.project, job.notification.name),
        );
        in_flight.spawn(
            async move {
                notifier.send_with_retries(job).await;
                drop(permit);
            }
            .instrument(span),
        );
    }
    while in_flight.join_next().await.is_some() {}
}

impl Notifier {
    async fn send_with_retries(&self, job: Job) {
        let backoff = self.ctx.settings.notifications.backoff;
        let label = type_label(job.channel_type);
        let mut attempt = 1;
        loop {
            match self.send_once(&job).await {
                Ok(()) => {
                    info!(attempt, "notification sent");
                    self.ctx.metrics.notification(label, "sent");
                    self.write_status(&job, |status, generation, now| {
                        notifications::sent(
                            status,
                            &job.notification,
                            &job.transition,
                            generation,
                            now,
                        )
                    })
                    .await;
                    return;
                }
                Err(error) => {
                    let given_up = !backoff.retries_after(attempt);
                    let text = error.to_string();
                    warn!(attempt, given_up, error = %text, "notification failed");
                    self.ctx
                        .metrics
                        .notification(label, if given_up { "dead_letter" } else { "retried" });
                    self.write_status(&job, |status, generation, now| {
                        notifications::failed(
                            status,
                            &job.notification,
                            &job.transition,
                            notifications::Failure {
                                error: &text,
                                attempts: attempt,
                                given_up,
                            },
                            generation,
                            now,
                        )
                    })
                    .await;
                    if given_up {
                        return;
                    }
                    // A retry waiting when the controllers stop is left: its transition is
                    // above the channel's floor unless a later delivery succeeded.
                    let mut stopping = self.stopping.subscribe();
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.delay(attempt, jitter())) => {}
                        _ = stopping.wait_for(|s| *s) => return,
                    }
                    attempt += 1;
                }
            }
        }
    }

    async fn send_once(&self, job: &Job) -> Result<(), SendError> {
        let Some(channel) = self
            .channels
            .get(&ObjectRef::<NotificationChannel>::new(&job.channel))
        else {
            return Err(SendError::Request(format!(
                "NotificationChannel {} was deleted",
                job.channel
            )));
        };
        let reference = &channel.spec.url_secret_ref;
        let namespace = reference
            .namespace
            .clone()
            .unwrap_or_else(|| self.ctx.settings.notifications.secret_namespace.clone());
        let data = self
            .ctx
            .secret_data(&namespace, &reference.name)
            .await
            .map_err(|e| SendError::Secret {
                namespace: namespace.clone(),
                name: reference.name.clone(),
                reason: e.to_string(),
            })?
            .ok_or_else(|| SendError::NoSecret {
                namespace: namespace.clone(),
                name: reference.name.clone(),
                key: reference.key.clone(),
            })?;
        let url = data
            .get(&reference.key)
            .and_then(|v| String::from_utf8(v.clone()).ok())
            .map(|u| u.trim().to_string())
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .ok_or_else(|| SendError::NoUrl {
                namespace: namespace.clone(),
                name: reference.name.clone(),
                key: reference.key.clone(),
            })?;
        let body = serde_json::to_vec(&notifications::payload(
            channel.spec.type_,
            &job.notification,
        ))
        .map_err(|e| SendError::Request(e.to_string()))?;
        let mut request = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if channel.spec.type_ == ChannelType::Webhook
            && let Some(key) = data.get(SIGNING_KEY).filter(|k| !k.is_empty())
        {
            for (name, value) in notifications::signature_headers(key, &body, self.ctx.now()) {
                request = request.header(name, value);
            }
        }
        let response = request
            .body(body)
            .send()
            .await
            // The URL is a credential: the error names the host at most.
            .map_err(|e| SendError::Request(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(SendError::Status {
            status: status.as_u16(),
            body: text.chars().take(200).collect(),
        })
    }

    /// Applies `change` to the channel's current status (read again on a conflict).
    async fn write_status(
        &self,
        job: &Job,
        change: impl Fn(&NotificationChannelStatus, Option<i64>, Timestamp) -> NotificationChannelStatus,
    ) {
        let _serial = self.status_lock.lock().await;
        let api: Api<NotificationChannel> = Api::all(self.ctx.client.clone());
        for _ in 0..5 {
            let channel = match api.get_opt(&job.channel).await {
                Ok(Some(channel)) => channel,
                Ok(None) => return,
                Err(error) => {
                    warn!(%error, "cannot read the channel to record the delivery");
                    return;
                }
            };
            let current = channel.status.clone().unwrap_or_default();
            let status = change(&current, channel.metadata.generation, self.ctx.now());
            match self.ctx.patch_status(&channel, &status).await {
                Ok(_) => return,
                Err(crate::error::Error::Conflict { .. }) => continue,
                Err(error) => {
                    warn!(%error, "cannot record the delivery in the channel's status");
                    return;
                }
            }
        }
    }
}

/// A random number in 0..1 (from the process's random hasher keys and the time).
fn jitter() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;

    fn channel(uid: &str) -> NotificationChannel {
        let mut channel = NotificationChannel::new(uid, Default::default());
        channel.metadata = ObjectMeta {
            name: Some(uid.to_string()),
            uid: Some(uid.to_string()),
            ..Default::default()
        };
        channel
    }

    fn arrived(
        arrival: &mut Arrival,
        event: watcher::Event<NotificationChannel>,
    ) -> Option<String> {
        arrival.of(event).and_then(|c| c.metadata.uid)
    }

    #[test]
    fn a_channel_arrives_once_when_it_is_not_in_the_first_list() {
        let mut arrival = Arrival::default();
        assert_eq!(arrived(&mut arrival, watcher::Event::Init), None);
        assert_eq!(
            arrived(&mut arrival, watcher::Event::InitApply(channel("listed"))),
            None,
            "the first list is where the notifier starts from"
        );
        assert_eq!(arrived(&mut arrival, watcher::Event::InitDone), None);
        assert_eq!(
            arrived(&mut arrival, watcher::Event::Apply(channel("new"))).as_deref(),
            Some("new")
        );
        assert_eq!(
            arrived(&mut arrival, watcher::Event::Apply(channel("new"))),
            None,
            "a status or spec change is no arrival"
        );
        assert_eq!(
            arrived(&mut arrival, watcher::Event::Apply(channel("listed"))),
            None
        );
        // A relist after a watch outage brings a channel created meanwhile.
        assert_eq!(arrived(&mut arrival, watcher::Event::Init), None);
        assert_eq!(
            arrived(&mut arrival, watcher::Event::InitApply(channel("listed"))),
            None
        );
        assert_eq!(
            arrived(
                &mut arrival,
                watcher::Event::InitApply(channel("meanwhile"))
            )
            .as_deref(),
            Some("meanwhile")
        );
    }

    #[test]
    fn a_channel_applied_before_the_first_list_ends_arrives() {
        let mut arrival = Arrival::default();
        assert_eq!(
            arrived(&mut arrival, watcher::Event::Apply(channel("early"))).as_deref(),
            Some("early")
        );
    }
}
