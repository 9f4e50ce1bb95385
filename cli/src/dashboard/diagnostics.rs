//! The audit trail and pod logs, as `gitopshq audit` and `gitopshq logs` gather them, with
//! the same limits, read as the signed-in person.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State as Shared};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::{self, Stream, StreamExt};
use gitopshq_engine::logs::{LogRequest, Origin, Target, WireLine};
use serde::Deserialize;

use super::State;
use super::api;
use super::auth::Person;
use super::error::{ApiError, ApiResult};
use super::objects::projects;
use crate::commands::{audit, logs};
use crate::kube_client::{KubeArgs, parse_duration};
use crate::release_delivery::RepoArgs;
use crate::table::Format;

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
        output: Format::Json,
        repository: RepoArgs {
            repo: None,
            branch: None,
            cache_dir: Some(state.git_cache.clone()),
        },
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

fn log_request(query: LogsQuery, follow: bool) -> ApiResult<(String, Target, LogRequest)> {
    let tail = match some(query.tail) {
        Some(text) => logs::parse_tail(&text).map_err(|e| {
            ApiError::bad_request(
                format!("tail: {e}"),
                "give tail as a number of lines, 1 to 10000",
            )
        })?,
        None => 100,
    };
    let request = LogRequest {
        tenants: some(query.tenant).into_iter().collect(),
        container: some(query.container),
        tail,
        since: duration("since", query.since, logs::parse_since)?
            .unwrap_or(Duration::from_secs(3600)),
        grep: some(query.grep),
        follow,
        timestamps: true,
        ..LogRequest::default()
    };
    Ok((query.project, Target::Workload(query.workload), request))
}

/// A line as the container wrote it, with `--timestamps`' leading time taken apart.
fn log_line(origin: Origin, line: String) -> api::LogLine {
    let (time, text) = match line.split_once(' ') {
        Some((time, text)) if time.parse::<jiff::Timestamp>().is_ok() => {
            (Some(time.to_string()), text.to_string())
        }
        _ => (None, line),
    };
    api::LogLine {
        time,
        tenant: origin.tenant,
        pod: origin.pod,
        container: origin.container,
        text,
    }
}

/// `GET /api/logs`: read through the pod-logs API as the signed-in person, so RBAC on
/// `workloads/log` decides, as for `gitopshq logs`.
pub async fn pod_logs(
    person: Person,
    Query(query): Query<LogsQuery>,
) -> ApiResult<Json<api::Logs>> {
    let (project, target, request) = log_request(query, false)?;
    let mut wire = logs::open(&person.session(&project), &target, &request).await?;
    let mut statement = String::new();
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    while let Some(line) = wire.next().await {
        let Ok(line) = line else {
            failures.push("the log stream broke off; load the logs again".to_string());
            break;
        };
        match WireLine::parse(&line) {
            Some(WireLine::Statement(text)) => statement = text,
            Some(WireLine::Line(origin, text)) => lines.push(log_line(origin, text)),
            Some(WireLine::Failure(origin, why)) => failures.push(format!(
                "{}/{}/{}: {why}",
                origin.tenant, origin.pod, origin.container
            )),
            Some(WireLine::KeepAlive) | None => {}
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
    let (project, target, request) = log_request(query, true)?;
    let wire = logs::open(&person.session(&project), &target, &request).await?;
    let events = wire
        .filter_map(|line| {
            let event = match line.ok().as_deref().and_then(WireLine::parse) {
                Some(WireLine::Statement(text)) => Some(("statement", text)),
                Some(WireLine::Line(origin, text)) => {
                    Some(("line", event_data(&log_line(origin, text))))
                }
                Some(WireLine::Failure(origin, message)) => Some((
                    "failure",
                    event_data(&api::LogFailure {
                        tenant: origin.tenant,
                        pod: origin.pod,
                        container: origin.container,
                        message,
                    }),
                )),
                Some(WireLine::KeepAlive) | None => None,
            };
            futures::future::ready(event)
        })
        .map(|(event, data)| Event::default().event(event).data(data))
        .chain(stream::once(async {
            Event::default()
                .event("end")
                .data("every followed container ended")
        }))
        .map(Ok);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The JSON of one server-sent event.
pub fn event_data(body: &impl serde::Serialize) -> String {
    serde_json::to_string(body).expect("API types serialise to JSON")
}
