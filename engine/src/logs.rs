//! Pod logs through GitOpsHQ's aggregated API (`logs.gitopshq.io`): what a request may ask
//! for, what it selected (stated before anything streams), and the lines on the wire.
//!
//! `GET /apis/logs.gitopshq.io/v1alpha1/namespaces/<project>/{workloads|releases}/<name>/log`
//! reaches GitOpsHQ through the Kubernetes API server, which authorizes `get` on
//! `workloads/log` (or `releases/log`) in that API group first; GitOpsHQ asks again with a
//! SubjectAccessReview and reads the logs through the cluster's registered credentials, so the
//! reader needs no access to them.

use std::collections::BTreeSet;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// The aggregated API's group, version and subresource.
pub const API_GROUP: &str = "logs.gitopshq.io";
pub const API_VERSION: &str = "v1alpha1";
pub const SUBRESOURCE: &str = "log";

/// Most lines per container one request may ask for.
pub const MAX_TAIL: i64 = 10_000;
/// Longest time range one request may ask for.
pub const MAX_SINCE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most pods per tenant whose logs are read.
pub const MAX_PODS: usize = 50;
/// Bytes per container at most (a guard against a container that writes huge lines).
pub const LIMIT_BYTES: i64 = 16 * 1024 * 1024;

/// A `meta.k8s.io/v1` Status in JSON: the error body Kubernetes clients (kubectl, client-go,
/// kube-rs) show as the message of a failed request.
pub fn status_json(code: u16, reason: &str, message: &str) -> String {
    serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
    .to_string()
}

/// What the logs are read of: a release (its workloads on the tenants it went to) or a
/// workload (on its tenants).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Release(String),
    Workload(String),
}

impl Target {
    /// The resource RBAC grants `get` on the `log` subresource of.
    pub fn resource(&self) -> &'static str {
        match self {
            Target::Release(_) => "releases",
            Target::Workload(_) => "workloads",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Target::Release(name) | Target::Workload(name) => name,
        }
    }

    /// The request path, relative to the API server.
    pub fn path(&self, namespace: &str) -> String {
        format!(
            "/apis/{API_GROUP}/{API_VERSION}/namespaces/{namespace}/{}/{}/{SUBRESOURCE}",
            self.resource(),
            self.name()
        )
    }
}

/// One request's selection and limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRequest {
    /// Only these tenants; empty: all the target's.
    pub tenants: Vec<String>,
    /// Only tenants of this environment (for a workload).
    pub environment: Option<String>,
    /// Only this container; default: every container of each pod.
    pub container: Option<String>,
    /// Lines per container, counted back from the newest.
    pub tail: i64,
    /// Only lines newer than this.
    pub since: Duration,
    /// Only lines containing this text (among the lines the limits select).
    pub grep: Option<String>,
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
}

impl Default for LogRequest {
    fn default() -> Self {
        LogRequest {
            tenants: Vec::new(),
            environment: None,
            container: None,
            tail: 100,
            since: Duration::from_secs(3600),
            grep: None,
            follow: false,
            previous: false,
            timestamps: false,
        }
    }
}

/// `--tail`: 1..=MAX_TAIL; `-1`, `0` or `all` (everything) is refused.
pub fn parse_tail(text: &str) -> Result<i64, String> {
    let refuse = || {
        format!(
            "--tail {text}: unbounded or empty requests are refused; ask for 1 to {MAX_TAIL} lines per container"
        )
    };
    let n: i64 = text.trim().parse().map_err(|_| refuse())?;
    if n < 1 {
        return Err(refuse());
    }
    if n > MAX_TAIL {
        return Err(format!(
            "--tail {n} is more than {MAX_TAIL} lines per container; narrow it (or use --since and --grep)"
        ));
    }
    Ok(n)
}

/// `--since` once parsed: positive, up to MAX_SINCE.
pub fn check_since(text: &str, since: Duration) -> Result<Duration, String> {
    if since.is_zero() {
        return Err(format!(
            "--since {text}: unbounded requests are refused; give a time range such as 1h (at most 168h)"
        ));
    }
    if since > MAX_SINCE {
        return Err(format!("--since {text} is longer than 168h; narrow it"));
    }
    Ok(since)
}

impl LogRequest {
    /// The query string of the request (without `?`).
    pub fn query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = vec![
            ("tailLines", self.tail.to_string()),
            ("sinceSeconds", self.since.as_secs().to_string()),
        ];
        if !self.tenants.is_empty() {
            pairs.push(("tenant", self.tenants.join(",")));
        }
        if let Some(environment) = &self.environment {
            pairs.push(("environment", environment.clone()));
        }
        if let Some(container) = &self.container {
            pairs.push(("container", container.clone()));
        }
        if let Some(grep) = &self.grep {
            pairs.push(("grep", grep.clone()));
        }
        for (flag, name) in [
            (self.follow, "follow"),
            (self.previous, "previous"),
            (self.timestamps, "timestamps"),
        ] {
            if flag {
                pairs.push((name, "true".into()));
            }
        }
        pairs
            .into_iter()
            .map(|(key, value)| format!("{key}={}", percent_encode(&value)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The request a query string asks for, with the same limits as the CLI's flags.
    pub fn from_query(query: &LogQuery) -> Result<LogRequest, String> {
        let some = |text: &Option<String>| {
            text.as_ref()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        };
        let tail = match some(&query.tail_lines) {
            Some(text) => parse_tail(&text).map_err(|e| format!("tailLines: {e}"))?,
            None => 100,
        };
        let since = match some(&query.since_seconds) {
            Some(text) => {
                let seconds: u64 = text.parse().map_err(|_| {
                    format!("sinceSeconds: {text:?} is not a number of seconds; give 1 to 604800")
                })?;
                check_since(&format!("{seconds}s"), Duration::from_secs(seconds))
                    .map_err(|e| format!("sinceSeconds: {e}"))?
            }
            None => Duration::from_secs(3600),
        };
        let flag = |name: &str, text: &Option<String>| match some(text).as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(format!("{name}: {other:?} is neither true nor false")),
        };
        Ok(LogRequest {
            tenants: some(&query.tenant)
                .map(|t| {
                    t.split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            environment: some(&query.environment),
            container: some(&query.container),
            tail,
            since,
            grep: some(&query.grep),
            follow: flag("follow", &query.follow)?,
            previous: flag("previous", &query.previous)?,
            timestamps: flag("timestamps", &query.timestamps)?,
        })
    }
}

/// The query parameters as they arrive.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogQuery {
    pub tenant: Option<String>,
    pub environment: Option<String>,
    pub container: Option<String>,
    pub tail_lines: Option<String>,
    pub since_seconds: Option<String>,
    pub grep: Option<String>,
    pub follow: Option<String>,
    pub previous: Option<String>,
    pub timestamps: Option<String>,
}

/// What a query value keeps as written: RFC 3986's unreserved characters, and `,` between
/// tenant names.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b',');

fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, QUERY_VALUE).to_string()
}

/// One container's log to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub tenant: String,
    pub cluster: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

impl Source {
    pub fn origin(&self) -> Origin {
        Origin {
            tenant: self.tenant.clone(),
            pod: self.pod.clone(),
            container: self.container.clone(),
        }
    }
}

/// Where a line comes from, as each line names it: `[tenant/pod/container]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub tenant: String,
    pub pod: String,
    pub container: String,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}/{}/{}]", self.tenant, self.pod, self.container)
    }
}

/// What is shown, said before anything streams.
pub fn statement(request: &LogRequest, sources: &[Source], capped: &[String]) -> String {
    let pods: BTreeSet<(&str, &str)> = sources
        .iter()
        .map(|s| (s.tenant.as_str(), s.pod.as_str()))
        .collect();
    let tenants: BTreeSet<String> = sources
        .iter()
        .map(|s| {
            format!(
                "{} (cluster {}, namespace {})",
                s.tenant, s.cluster, s.namespace
            )
        })
        .collect();
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let mut text = format!(
        "showing the last {} per container of {} ({}) since {}",
        plural(request.tail as usize, "line", "lines"),
        plural(pods.len(), "pod", "pods"),
        plural(sources.len(), "container", "containers"),
        short_duration(request.since),
    );
    if request.previous {
        text.push_str(", previous container instances");
    }
    text.push_str(&format!(
        " in {}",
        tenants.into_iter().collect::<Vec<_>>().join(", ")
    ));
    if let Some(grep) = &request.grep {
        text.push_str(&format!("; only lines containing {grep:?} among them"));
    }
    if request.follow {
        text.push_str("; then following new lines until interrupted");
    }
    for tenant in capped {
        text.push_str(&format!(
            "; tenant {tenant} has more than {MAX_PODS} pods, only the first {MAX_PODS} by name"
        ));
    }
    text
}

pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// One line of the response body (`text/plain`): the statement first, then each container's
/// lines and, for a container that could not be read, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireLine {
    /// `# showing …`
    Statement(String),
    /// `[tenant/pod/container] text`
    Line(Origin, String),
    /// `! [tenant/pod/container] why`
    Failure(Origin, String),
    /// An empty line, sent while followed containers are quiet so that no client or proxy
    /// between takes the stream for dead.
    KeepAlive,
}

/// How long a followed stream may stay silent before a [`WireLine::KeepAlive`].
pub const KEEP_ALIVE: Duration = Duration::from_secs(30);

impl std::fmt::Display for WireLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireLine::Statement(text) => write!(f, "# {text}"),
            WireLine::Line(origin, text) => write!(f, "{origin} {text}"),
            WireLine::Failure(origin, why) => write!(f, "! {origin} {why}"),
            WireLine::KeepAlive => Ok(()),
        }
    }
}

impl WireLine {
    /// A line of the body; `None` for one this version does not know.
    pub fn parse(line: &str) -> Option<WireLine> {
        if line.is_empty() {
            return Some(WireLine::KeepAlive);
        }
        if let Some(statement) = line.strip_prefix("# ") {
            return Some(WireLine::Statement(statement.to_string()));
        }
        let (failure, rest) = match line.strip_prefix("! ") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let (origin, text) = rest.strip_prefix('[')?.split_once("] ")?;
        let mut parts = origin.splitn(3, '/');
        let origin = Origin {
            tenant: parts.next()?.to_string(),
            pod: parts.next()?.to_string(),
            container: parts.next()?.to_string(),
        };
        Some(if failure {
            WireLine::Failure(origin, text.to_string())
        } else {
            WireLine::Line(origin, text.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(pod: &str) -> Source {
        Source {
            tenant: "eu-checkout".into(),
            cluster: "eu-west-1".into(),
            namespace: "checkout".into(),
            pod: pod.into(),
            container: "app".into(),
        }
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(parse_tail("100"), Ok(100));
        assert!(parse_tail("-1").unwrap_err().contains("unbounded"));
        assert!(parse_tail("0").is_err());
        assert!(parse_tail("all").is_err());
        assert!(parse_tail("10001").unwrap_err().contains("more than 10000"));
        assert!(
            check_since("0", Duration::ZERO)
                .unwrap_err()
                .contains("unbounded")
        );
        assert!(check_since("200h", Duration::from_secs(200 * 3600)).is_err());
    }

    #[test]
    fn a_request_travels_in_its_query_string() {
        let request = LogRequest {
            tenants: vec!["eu-checkout".into(), "us-checkout".into()],
            environment: Some("production".into()),
            container: Some("app".into()),
            tail: 20,
            since: Duration::from_secs(1800),
            grep: Some("ERROR 50%".into()),
            follow: true,
            previous: false,
            timestamps: true,
        };
        let query = request.query();
        assert!(query.contains("grep=ERROR%2050%25"), "{query}");
        let parsed: Vec<(String, String)> = query
            .split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap();
                (k.to_string(), decode(v))
            })
            .collect();
        let value = |key: &str| {
            parsed
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let back = LogRequest::from_query(&LogQuery {
            tenant: value("tenant"),
            environment: value("environment"),
            container: value("container"),
            tail_lines: value("tailLines"),
            since_seconds: value("sinceSeconds"),
            grep: value("grep"),
            follow: value("follow"),
            previous: value("previous"),
            timestamps: value("timestamps"),
        })
        .unwrap();
        assert_eq!(back, request);
    }

    fn decode(text: &str) -> String {
        percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .unwrap()
            .into_owned()
    }

    #[test]
    fn unbounded_queries_are_refused_with_the_limit() {
        let refused = |query: LogQuery| LogRequest::from_query(&query).unwrap_err();
        assert!(
            refused(LogQuery {
                tail_lines: Some("-1".into()),
                ..LogQuery::default()
            })
            .contains("unbounded")
        );
        assert!(
            refused(LogQuery {
                since_seconds: Some("0".into()),
                ..LogQuery::default()
            })
            .contains("unbounded")
        );
        assert!(
            refused(LogQuery {
                since_seconds: Some("604801".into()),
                ..LogQuery::default()
            })
            .contains("168h")
        );
        assert!(
            refused(LogQuery {
                follow: Some("yes".into()),
                ..LogQuery::default()
            })
            .contains("follow")
        );
        assert_eq!(
            LogRequest::from_query(&LogQuery::default()).unwrap(),
            LogRequest::default()
        );
    }

    #[test]
    fn the_limits_are_stated_before_streaming() {
        let text = statement(
            &LogRequest::default(),
            &[source("a"), source("b"), source("c")],
            &[],
        );
        assert_eq!(
            text,
            "showing the last 100 lines per container of 3 pods (3 containers) since 1h in eu-checkout (cluster eu-west-1, namespace checkout)"
        );
        let request = LogRequest {
            tail: 20,
            since: Duration::from_secs(1800),
            grep: Some("ERROR".into()),
            follow: true,
            ..LogRequest::default()
        };
        let text = statement(&request, &[source("a")], &["eu-checkout".into()]);
        assert!(
            text.starts_with(
                "showing the last 20 lines per container of 1 pod (1 container) since 30m"
            ),
            "{text}"
        );
        assert!(text.contains("only lines containing \"ERROR\" among them"));
        assert!(text.contains("following new lines"));
        assert!(text.contains("more than 50 pods"));
    }

    #[test]
    fn wire_lines_round_trip() {
        let origin = source("checkout-7d9f").origin();
        for line in [
            WireLine::Statement("showing the last 2 lines".into()),
            WireLine::Line(origin.clone(), "2026-01-01T10:00:00Z ERROR [x] boom".into()),
            WireLine::Failure(origin.clone(), "no logs: on cluster eu-west-1: …".into()),
            WireLine::KeepAlive,
        ] {
            assert_eq!(WireLine::parse(&line.to_string()), Some(line));
        }
        assert_eq!(
            WireLine::Line(origin, "x".into()).to_string(),
            "[eu-checkout/checkout-7d9f/app] x"
        );
        assert_eq!(WireLine::parse("garbage"), None);
    }

    #[test]
    fn targets_name_their_path_and_permission() {
        let target = Target::Workload("checkout-service".into());
        assert_eq!(
            target.path("checkout"),
            "/apis/logs.gitopshq.io/v1alpha1/namespaces/checkout/workloads/checkout-service/log"
        );
        assert_eq!(Target::Release("r".into()).resource(), "releases");
    }
}
