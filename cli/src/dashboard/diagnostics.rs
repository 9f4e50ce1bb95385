//! The audit trail and pod logs, as `gitopshq audit` and `gitopshq logs` gather them, with
//! the same limits, read as the signed-in person.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State as Shared};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::SinkExt;
use futures::stream::{self, BoxStream, Stream, StreamExt};
use serde::Deserialize;

use super::State;
use super::api;
use super::auth::Person;
use super::error::{ApiError, ApiResult};
use super::objects::projects;
use crate::commands::{audit, logs};
use crate::kube_client::{KubeArgs, parse_duration};

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    /// Default: every project the person can read.
    pub project: Option<String>,
    pub workload: Option<String>,
    pub user: Option<String>,
    pub environment: Option<String>,
    pub since: Option<String>,
}

fn some(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

fn duration(
    field: &str,
    text: Option<String>,
    parse: fn(&str) -> Result<Duration, String>,
) -> ApiResult<Option<Duration>> {
    some(text)
        .map(|t| {
            parse(&t).map_err(|e| {
                ApiError::bad_request(
                    format!("{field}: {e}"),
                    &format!("give {field} as a duration such as 30m or 2h"),
                )
            })
        })
        .transpose()
}

pub async fn trail(
    person: Person,
    Shared(state): Shared<Arc<State>>,
    Query(query): Query<AuditQuery>,
) -> ApiResult<Json<api::Audit>> {
    let args = audit::TrailArgs {
        workload: some(query.workload),
        environment: some(query.environment),
        since: duration("since", query.since, parse_duration)?,
        user: some(query.user),
        output: audit::Format::Json,
        repo: None,
        branch: None,
        cache_dir: Some(state.git_cache.clone()),
        kube: KubeArgs::default(),
    };
    let namespaces = match some(query.project) {
        Some(project) => vec![project],
        None => projects(&person)
            .await?
            .iter()
            .map(|p| p.namespace_name())
            .collect(),
    };
    let mut trails = Vec::new();
    let mut notes = Vec::new();
    for namespace in &namespaces {
        match audit::collect_as(&person.session(namespace), &args).await {
            Ok((entries, more)) => {
                trails.push(entries);
                notes.extend(more.into_iter().map(|n| format!("{namespace}: {n}")));
            }
            Err(e) => {
                let error = ApiError::from(e);
                // A project whose objects the person may not read adds nothing to their trail.
                if namespaces.len() > 1 && error.status == axum::http::StatusCode::FORBIDDEN {
                    continue;
                }
                return Err(error);
            }
        }
    }
    let entries = gitopshq_engine::audit::merge(trails);
    Ok(Json(api::Audit { entries, notes }))
}

#[derive(Debug, Deserialize)]
pub struct LogsQuery {
    pub project: String,
    pub workload: String,
    pub tenant: Option<String>,
    pub container: Option<String>,
    pub tail: Option<String>,
    pub since: Option<String>,
    pub grep: Option<String>,
}

fn log_args(query: LogsQuery, follow: bool) -> ApiResult<(String, logs::Args)> {
    let tail = match some(query.tail) {
        Some(text) => logs::parse_tail(&text).map_err(|e| {
            ApiError::bad_request(
                format!("tail: {e}"),
                "give tail as a number of lines, 1 to 10000",
            )
        })?,
        None => 100,
    };
    let args = logs::Args {
        target: query.workload,
        tenants: some(query.tenant).into_iter().collect(),
        environment: None,
        container: some(query.container),
        tail,
        since: duration("since", query.since, logs::parse_since)?
            .unwrap_or(Duration::from_secs(3600)),
        grep: some(query.grep),
        follow,
        previous: false,
        timestamps: true,
        kube: KubeArgs::default(),
    };
    Ok((query.project, args))
}

/// A line as the container wrote it, with `--timestamps`' leading time taken apart.
fn log_line(source: &logs::Source, line: String) -> api::LogLine {
    let (time, text) = match line.split_once(' ') {
        Some((time, text)) if time.parse::<jiff::Timestamp>().is_ok() => {
            (Some(time.to_string()), text.to_string())
        }
        _ => (None, line),
    };
    api::LogLine {
        time,
        tenant: source.tenant.clone(),
        pod: source.pod.clone(),
        container: source.container.clone(),
        text,
    }
}

pub async fn pod_logs(
    person: Person,
    Query(query): Query<LogsQuery>,
) -> ApiResult<Json<api::Logs>> {
    let (project, args) = log_args(query, false)?;
    let session = person.session(&project);
    let gathered = logs::gather(&session, &args).await?;
    let statement = logs::statement(&args, &gathered.sources, &gathered.capped);
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    for source in &gathered.sources {
        let mut read = Vec::new();
        let result = logs::read_once(gathered.client_of(source), source, &args, |line| {
            read.push(line)
        })
        .await;
        lines.extend(read.into_iter().map(|line| log_line(source, line)));
        if let Err(e) = result {
            failures.push(format!(
                "{}/{}/{}: {e:#}",
                source.tenant, source.pod, source.container
            ));
        }
    }
    lines.sort_by(|a, b| a.time.cmp(&b.time));
    Ok(Json(api::Logs {
        statement,
        lines,
        failures,
    }))
}

/// `GET /api/logs/stream`: the same selection, then new lines as they are written, as
/// server-sent events (`statement` first, then one `line` each) until the page closes it.
pub async fn pod_log_stream(
    person: Person,
    Query(query): Query<LogsQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let (project, args) = log_args(query, true)?;
    let session = person.session(&project);
    let gathered = logs::gather(&session, &args).await?;
    let statement = logs::statement(&args, &gathered.sources, &gathered.capped);
    let (mut tx, rx) = futures::channel::mpsc::channel::<Event>(256);
    let first = Event::default().event("statement").data(statement);
    tokio::spawn(async move {
        let args = args;
        let streams: Vec<BoxStream<'_, (&str, String)>> = gathered
            .sources
            .iter()
            .map(|source| {
                logs::follow(gathered.client_of(source), source.clone(), &args)
                    .map(move |line| match line {
                        Ok(line) => ("line", event_data(&log_line(source, line))),
                        Err(message) => (
                            "failure",
                            event_data(&api::LogFailure {
                                tenant: source.tenant.clone(),
                                pod: source.pod.clone(),
                                container: source.container.clone(),
                                message,
                            }),
                        ),
                    })
                    .boxed()
            })
            .collect();
        let mut merged = stream::select_all(streams);
        while let Some((event, data)) = merged.next().await {
            // The page went away: stop following.
            if tx
                .send(Event::default().event(event).data(data))
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = tx
            .send(
                Event::default()
                    .event("end")
                    .data("every followed container ended"),
            )
            .await;
    });
    let events = stream::once(async move { first }).chain(rx).map(Ok);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The JSON of one server-sent event.
pub fn event_data(body: &impl serde::Serialize) -> String {
    serde_json::to_string(body).expect("API types serialise to JSON")
}
