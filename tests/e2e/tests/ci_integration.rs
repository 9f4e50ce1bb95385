//! Seed scenario 5 (`examples/ci-integration`) on the real platform: the registry announces a
//! signed Harbor push of payment-api v2.4.0; the receiver sets the workload's image tag and
//! submits "Auto: image update to v2.4.0" to staging, which is committed to the GitOps
//! repository, and to production, which waits for the SRE team's approval carrying the CI build
//! link and the commit SHA. The same push announced again creates no second release; replayed,
//! unsigned, wrongly signed, oversized and malformed deliveries are refused with their status
//! codes. The team's Slack channel (a local incoming webhook that fails its first request)
//! receives the notifications in Slack's block format, and the channel's status says so; a
//! signed webhook channel whose endpoint is down dead-letters after its attempts.
//! (`kubectl gitopshq approve` by two users is played in cli.rs.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use gitopshq_e2e::{DASHBOARD_URL, Platform, WAIT};
use gitopshq_engine::registry_events::sign;
use serde_json::{Value, json};

const NS: &str = "payment-service";
const HARBOR_SECRET: &str = "harbor-shared-secret-for-the-e2e-test";
const AUDIT_KEY: &str = "audit-signing-key";
const DIGEST: &str = "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4";
const BUILD_URL: &str = "https://ci.example.com/payment-api/pipelines/1842";
const COMMIT: &str = "9f2c1e0d4b5a69788776655443322110aabbccdd";
const STAGING: &str = "payment-api-staging-954b378c375d";
const PRODUCTION: &str = "payment-api-production-954b378c375d";

/// What Harbor sends for `docker push registry.example.com/payment-api:v2.4.0`, with the CI
/// build and commit the signing relay adds; `occur_at` differs between announcements.
fn harbor_push(occur_at: i64) -> Vec<u8> {
    json!({
        "type": "PUSH_ARTIFACT",
        "occur_at": occur_at,
        "operator": "robot$ci",
        "event_data": {
            "resources": [{
                "digest": DIGEST,
                "tag": "v2.4.0",
                "resource_url": "registry.example.com/payment-api:v2.4.0"
            }],
            "repository": {
                "name": "payment-api",
                "namespace": "library",
                "repo_full_name": "library/payment-api",
                "repo_type": "private"
            },
            "custom_attributes": {"buildUrl": BUILD_URL, "commit": COMMIT}
        }
    })
    .to_string()
    .into_bytes()
}

/// `X-GitOpsHQ-Timestamp` and `X-GitOpsHQ-Signature` over `<timestamp>.<body>`.
fn signed(body: &[u8], secret: &str) -> Vec<(&'static str, String)> {
    let timestamp = jiff::Timestamp::now().as_second().to_string();
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    vec![
        ("x-gitopshq-timestamp", timestamp),
        ("x-gitopshq-signature", sign(secret.as_bytes(), &message)),
    ]
}

async fn post_event(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&'static str, String)],
    body: Vec<u8>,
) -> (u16, Value) {
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("the receiver answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json)
}

/// A request that declares a `length`-byte body and sends its first byte only: the receiver
/// answers from the declared length, before reading the body. Returns the raw answer.
async fn post_declaring(address: std::net::SocketAddr, path: &str, length: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Signature, timestamp and body of one request.
type Signed = (String, String, Vec<u8>);

/// Slack's side: an incoming webhook that answers 500 to its first request (the injected
/// failure) and records every body as it arrives.
#[derive(Clone, Default)]
struct Slack {
    requests: Arc<Mutex<Vec<Value>>>,
    /// What the always-failing audit webhook got: signature, timestamp, body.
    webhook: Arc<Mutex<Vec<Signed>>>,
    /// While set, every message is answered only after [`HELD`]: deliveries stay under way.
    hold: Arc<std::sync::atomic::AtomicBool>,
}

/// How long a held message waits for its answer.
const HELD: Duration = Duration::from_secs(3);

impl Slack {
    async fn start(&self) -> std::net::SocketAddr {
        let requests = Arc::clone(&self.requests);
        let webhook = Arc::clone(&self.webhook);
        let hold = Arc::clone(&self.hold);
        let app = Router::new().route(
            "/audit",
            post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let webhook = Arc::clone(&webhook);
                    async move {
                        let header = |name: &str| {
                            headers
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_string()
                        };
                        webhook.lock().unwrap().push((
                            header("x-gitopshq-signature"),
                            header("x-gitopshq-timestamp"),
                            body.to_vec(),
                        ));
                        (StatusCode::SERVICE_UNAVAILABLE, "audit sink down")
                    }
                },
            ),
        );
        let app = app.route(
            "/services/T0/B0/hook",
            post(move |body: axum::body::Bytes| {
                let requests = Arc::clone(&requests);
                let hold = Arc::clone(&hold);
                async move {
                    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let first = {
                        let mut seen = requests.lock().unwrap();
                        seen.push(value);
                        seen.len() == 1
                    };
                    if first {
                        return (StatusCode::INTERNAL_SERVER_ERROR, "injected failure");
                    }
                    if hold.load(std::sync::atomic::Ordering::SeqCst) {
                        tokio::time::sleep(HELD).await;
                    }
                    (StatusCode::OK, "ok")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        address
    }

    fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits for a message whose header is `headline` that was answered 200 (every request
    /// but the first); returns it.
    async fn wait_for(&self, headline: &str) -> Value {
        self.wait_until(headline, |body| {
            body["blocks"][0]["text"]["text"] == headline
        })
        .await
    }

    /// Waits for an answered message that satisfies `done`.
    async fn wait_until(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let headline = what;
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(found) = self.requests().into_iter().skip(1).find(|b| done(b)) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no Slack message {headline:?}; got {:#?}",
                self.requests()
                    .iter()
                    .map(|b| b["text"].to_string())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_push_updates_the_image_releases_to_staging_and_waits_in_production() {
    let mut platform = Platform::start().await;
    let slack = Slack::default();
    let slack_address = slack.start().await;
    the_platform_team_sets_up_the_project_and_the_ci_integration(&platform, slack_address);
    let receiver = platform.start_receiver().await;
    let harbor = Harbor::new(receiver.address);
    let push = the_push_sets_the_image_tag_and_creates_both_releases(&platform, &harbor).await;
    staging_is_delivered_as_one_commit_with_the_new_tag(&platform);
    production_waits_for_the_sre_team_with_the_ci_link_and_the_commit(&platform);
    the_same_push_announced_again_creates_nothing_new(&platform, &harbor).await;
    bad_deliveries_are_refused_with_their_status_codes(&harbor, &push).await;
    the_pending_approval_reaches_slack_after_a_retry_in_its_block_format(&slack).await;
    slack_gets_each_transition_once_and_the_channel_says_sent(&platform, &slack).await;
    the_audit_webhook_dead_letters_after_its_signed_attempts(&platform, &slack);
    receiver.stop().await;
    a_restart_of_the_operator_sends_nothing_twice(&mut platform, &slack).await;
    platform.stop().await;
}

/// The platform team sets up the project and the CI integration with the real secrets in
/// place of the example's placeholders (in the same apply: a notification sent before a
/// second apply would go to the placeholder's URL), and an audit webhook channel.
fn the_platform_team_sets_up_the_project_and_the_ci_integration(
    platform: &Platform,
    slack_address: std::net::SocketAddr,
) {
    let setup = platform
        .example(&["bootstrap", "ci-integration"])
        .replace(
            "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
            &format!("http://{slack_address}/services/T0/B0/hook"),
        )
        .replace(
            "harbor: replace-with-a-long-random-secret",
            &format!("harbor: {HARBOR_SECRET}"),
        );
    assert!(
        setup.contains(&slack_address.to_string()) && setup.contains(HARBOR_SECRET),
        "the example's placeholders changed: {setup}"
    );
    platform.apply("admin", &setup);
    platform.apply(
        "admin",
        &format!(
            r#"apiVersion: v1
kind: Secret
metadata: {{name: audit-sink, namespace: gitopshq-system}}
stringData: {{url: "http://{slack_address}/audit", signingKey: {AUDIT_KEY}}}
---
apiVersion: gitopshq.io/v1alpha1
kind: NotificationChannel
metadata: {{name: audit-sink}}
spec:
  type: Webhook
  urlSecretRef: {{namespace: gitopshq-system, name: audit-sink}}
  events: [ReleasePendingApproval]
"#
        ),
    );
    platform.wait_for(None, "project", NS, "{.status.phase}", "Ready");
}

/// The registry's side: the receiver it posts Harbor's events to.
struct Harbor {
    http: reqwest::Client,
    /// The receiver's address.
    address: std::net::SocketAddr,
    /// Its Harbor endpoint.
    url: String,
}

impl Harbor {
    fn new(address: std::net::SocketAddr) -> Self {
        Self {
            http: reqwest::Client::new(),
            address,
            url: format!("http://{address}/registry/harbor"),
        }
    }
}

/// The push as it was delivered: its body and signed headers, to replay.
struct Push {
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

async fn the_push_sets_the_image_tag_and_creates_both_releases(
    platform: &Platform,
    harbor: &Harbor,
) -> Push {
    let Harbor { http, url, .. } = harbor;
    let body = harbor_push(1_764_590_400);
    let headers = signed(&body, HARBOR_SECRET);
    let (status, summary) = post_event(http, url, &headers, body.clone()).await;
    assert_eq!(status, 200, "{summary}");
    let workload = &summary["pushes"][0]["workloads"][0];
    assert_eq!(workload["name"], "payment-api", "{summary}");
    assert_eq!(workload["outcome"], "Updated", "{summary}");
    assert_eq!(workload["message"], "v1.0.0 → v2.4.0");
    assert_eq!(
        workload["releases"],
        json!([
            {"name": STAGING, "environment": "staging", "outcome": "Created"},
            {"name": PRODUCTION, "environment": "production", "outcome": "Created"},
        ]),
        "{summary}"
    );
    assert_eq!(
        platform.get(
            Some(NS),
            "workload",
            "payment-api",
            "{.spec.values.image.tag}"
        ),
        "v2.4.0"
    );
    assert_eq!(
        platform.get(
            Some(NS),
            "workload",
            "payment-api",
            "{.status.latestImageTag}"
        ),
        "v2.4.0"
    );
    Push { body, headers }
}

/// Staging: delivered, one commit with the new tag.
fn staging_is_delivered_as_one_commit_with_the_new_tag(platform: &Platform) {
    platform.wait_delivered(NS, STAGING);
    assert_eq!(
        platform.get(Some(NS), "release", STAGING, "{.spec.title}"),
        "Auto: image update to v2.4.0"
    );
    let commit = platform.get(Some(NS), "release", STAGING, "{.status.commit}");
    let commits = platform.commits();
    let delivered = commits
        .iter()
        .find(|c| c.starts_with(&commit))
        .unwrap_or_else(|| panic!("commit {commit} is not on main: {commits:#?}"));
    assert!(
        delivered.contains("Auto: image update to v2.4.0")
            && delivered.contains(&format!("GitOpsHQ-Release: {NS}/{STAGING}")),
        "{delivered}"
    );
    let deployment = platform.file(
        "projects/payment-service/staging/eu-staging/payment-api/deployment-payment-api.yaml",
    );
    assert!(
        deployment.contains("registry.example.com/payment-api:v2.4.0"),
        "{deployment}"
    );
}

/// Production: waits for the SRE team, with the CI link and the commit.
fn production_waits_for_the_sre_team_with_the_ci_link_and_the_commit(platform: &Platform) {
    platform.wait_for(
        Some(NS),
        "release",
        PRODUCTION,
        "{.status.phase}",
        "PendingApproval",
    );
    assert_eq!(
        platform.get(
            Some(NS),
            "release",
            PRODUCTION,
            "{.metadata.annotations.gitopshq\\.io/build-url}"
        ),
        BUILD_URL
    );
    assert_eq!(
        platform.get(
            Some(NS),
            "release",
            PRODUCTION,
            "{.metadata.annotations.gitopshq\\.io/source-commit}"
        ),
        COMMIT
    );
    let notes = platform.get(Some(NS), "release", PRODUCTION, "{.spec.notes}");
    assert!(
        notes.contains(&format!("CI build: {BUILD_URL}"))
            && notes.contains(&format!("Commit: {COMMIT}")),
        "{notes}"
    );
}

/// The same push announced again (a new delivery), this time to `gitopshq receiver` on its
/// own (reading the API, not the controller's caches): nothing new.
async fn the_same_push_announced_again_creates_nothing_new(platform: &Platform, harbor: &Harbor) {
    let standalone = {
        use gitopshq_controller::receiver::{Objects, Receiver, ReceiverOptions, serve};
        let options = ReceiverOptions::default();
        let receiver = Receiver::new(
            platform.management.client().await.expect("client"),
            Objects::Api,
            &options,
            Arc::default(),
        )
        .expect("receiver");
        serve(Arc::new(receiver), "127.0.0.1:0".parse().unwrap(), &options)
            .await
            .expect("the standalone receiver listens")
    };
    let again = harbor_push(1_764_590_460);
    let (status, summary) = post_event(
        &harbor.http,
        &format!("http://{}/registry/harbor", standalone.address),
        &signed(&again, HARBOR_SECRET),
        again,
    )
    .await;
    standalone.stop().await;
    assert_eq!(status, 200, "{summary}");
    let workload = &summary["pushes"][0]["workloads"][0];
    assert_eq!(workload["outcome"], "UpToDate", "{summary}");
    assert_eq!(workload["releases"][0]["outcome"], "Exists", "{summary}");
    assert_eq!(workload["releases"][1]["outcome"], "Exists", "{summary}");
    let auto = platform
        .admin()
        .args([
            "-n",
            NS,
            "get",
            "releases",
            "-l",
            "gitopshq.io/image-update=true",
            "-o",
            "name",
        ])
        .output()
        .expect("kubectl runs");
    let names = String::from_utf8_lossy(&auto.stdout).into_owned();
    assert_eq!(names.lines().count(), 2, "{names}");
}

/// Replayed, unsigned, wrongly signed, oversized and malformed deliveries, and an unknown
/// registry.
async fn bad_deliveries_are_refused_with_their_status_codes(harbor: &Harbor, push: &Push) {
    let Harbor { http, address, url } = harbor;
    let (status, answer) = post_event(http, url, &push.headers, push.body.clone()).await;
    assert_eq!(status, 409, "a replayed delivery: {answer}");
    assert_eq!(answer["outcome"], "replayed");
    let (status, answer) = post_event(http, url, &[], harbor_push(1)).await;
    assert_eq!(status, 401, "an unsigned delivery: {answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("Authorization header is missing")),
        "{answer}"
    );
    let forged = harbor_push(2);
    let (status, answer) = post_event(http, url, &signed(&forged, "not-the-secret"), forged).await;
    assert_eq!(status, 403, "a wrongly signed delivery: {answer}");
    let answer = post_declaring(*address, "/registry/harbor", 2 * 1024 * 1024).await;
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "an oversized delivery: {answer}"
    );
    assert!(answer.contains("larger than 1048576 bytes"), "{answer}");
    let malformed = br#"{"type": "PUSH_ARTIFACT"}"#.to_vec();
    let (status, answer) =
        post_event(http, url, &signed(&malformed, HARBOR_SECRET), malformed).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer["error"],
        "harbor event: event_data.resources (a list) is missing"
    );
    let (status, _) = post_event(
        http,
        &format!("http://{address}/registry/nexus"),
        &[],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 404);
}

/// Slack: the first request failed, the retry got through, in Slack's block format.
async fn the_pending_approval_reaches_slack_after_a_retry_in_its_block_format(slack: &Slack) {
    let message = slack
        .wait_for("Release waiting for approval: Auto: image update to v2.4.0")
        .await;
    assert_eq!(
        message["text"],
        "Release waiting for approval: Auto: image update to v2.4.0 (payment-service, production)"
    );
    let blocks = message["blocks"].as_array().expect("blocks");
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[1]["type"], "section");
    let fields: Vec<&str> = blocks[1]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["text"].as_str())
        .collect();
    assert!(fields.contains(&"*Environment*\nproduction"), "{fields:?}");
    assert!(fields.contains(&"*Phase*\nPendingApproval"), "{fields:?}");
    assert!(
        fields
            .iter()
            .any(|f| f.starts_with("*Approvals*\n0 of 1 approvals received")),
        "{fields:?}"
    );
    let context = blocks
        .iter()
        .find(|b| b["type"] == "context")
        .expect("a context block");
    assert_eq!(
        context["elements"][0]["text"],
        format!("`kubectl gitopshq status {PRODUCTION} -n {NS}`")
    );
    // Buttons to the release's dashboard page and to the CI build that produced it.
    let buttons: Vec<&str> = blocks
        .iter()
        .find(|b| b["type"] == "actions")
        .and_then(|b| b["elements"].as_array())
        .expect("an actions block")
        .iter()
        .filter_map(|e| e["url"].as_str())
        .collect();
    assert!(
        buttons.contains(&BUILD_URL)
            && buttons.contains(&format!("{DASHBOARD_URL}/#/releases/{NS}/{PRODUCTION}").as_str()),
        "{buttons:?}"
    );
}

/// Staging's deploy reaches Slack and the channel's status says so; each transition once: the
/// failed first request was retried, and no message repeats.
async fn slack_gets_each_transition_once_and_the_channel_says_sent(
    platform: &Platform,
    slack: &Slack,
) {
    slack
        .wait_for("Release deployed: Auto: image update to v2.4.0")
        .await;
    platform.wait_for(
        None,
        "notificationchannel",
        "payment-releases-slack",
        "{.status.conditions[?(@.type==\"Ready\")].reason}",
        "Sent",
    );
    assert!(
        !platform
            .get(
                None,
                "notificationchannel",
                "payment-releases-slack",
                "{.status.lastSentTime}"
            )
            .is_empty()
    );
    let requests = slack.requests();
    assert_eq!(
        requests.iter().filter(|b| **b == requests[0]).count(),
        2,
        "the injected failure is retried once: {requests:#?}"
    );
    each_transition_once(&requests);
    the_bootstrap_deploy_reaches_slack_if_the_channel_was_there(platform, slack).await;
}

/// The bootstrap release to development was applied in the same `kubectl apply` as the Slack
/// channel, so it may be deployed just before or after the channel exists (and before the
/// controller's view of channels has it): a deploy in or after the channel's creation second
/// is sent, one before it is not.
async fn the_bootstrap_deploy_reaches_slack_if_the_channel_was_there(
    platform: &Platform,
    slack: &Slack,
) {
    const DEV: &str = "payment-api-v1-0-0-dev";
    platform.wait_delivered(NS, DEV);
    let second = |time: &str| {
        time.parse::<jiff::Timestamp>()
            .unwrap_or_else(|e| panic!("{time:?}: {e}"))
            .as_second()
    };
    let deployed = second(&platform.get(
        Some(NS),
        "release",
        DEV,
        "{.status.timeline[?(@.phase==\"Deployed\")].time}",
    ));
    let created = second(&platform.get(
        None,
        "notificationchannel",
        "payment-releases-slack",
        "{.metadata.creationTimestamp}",
    ));
    let headline = "Release deployed: Initial deployment of payment-api v1.0.0";
    if deployed >= created {
        slack.wait_for(headline).await;
    } else {
        assert!(
            !slack
                .requests()
                .iter()
                .any(|b| b["blocks"][0]["text"]["text"] == headline),
            "deployed at {deployed}, before the channel (created at {created})"
        );
    }
}

/// Every answered message is a transition of its own: the text names the event, the release
/// (title, project, environment), so the same text twice is one transition sent twice, even
/// when the bodies differ (a later send reads a later tenant count).
fn each_transition_once(requests: &[Value]) {
    let texts: Vec<&Value> = requests.iter().map(|b| &b["text"]).collect();
    let mut seen = std::collections::BTreeSet::new();
    for text in texts.iter().skip(1) {
        assert!(
            seen.insert(text.to_string()),
            "sent twice: {text}; in order: {texts:#?}"
        );
    }
}

/// The audit webhook never answers 2xx: after its attempts (3 in the local settings), the
/// channel dead-letters; every attempt was signed over `<timestamp>.<body>`.
fn the_audit_webhook_dead_letters_after_its_signed_attempts(platform: &Platform, slack: &Slack) {
    platform.wait_for(
        None,
        "notificationchannel",
        "audit-sink",
        "{.status.conditions[?(@.type==\"Ready\")].reason}",
        "DeadLetter",
    );
    let message = platform.get(
        None,
        "notificationchannel",
        "audit-sink",
        "{.status.conditions[?(@.type==\"Ready\")].message}",
    );
    assert!(
        message.starts_with("gave up after 3 attempts: ReleasePendingApproval for Release payment-service/payment-api-production-954b378c375d: attempt 3 failed: HTTP 503 from the receiving end: audit sink down"),
        "{message}"
    );
    let attempts = slack.webhook.lock().unwrap().clone();
    assert_eq!(attempts.len(), 3, "three attempts");
    for (signature, timestamp, body) in &attempts {
        let mut message = format!("{timestamp}.").into_bytes();
        message.extend_from_slice(body);
        assert_eq!(*signature, sign(AUDIT_KEY.as_bytes(), &message));
        let event: Value = serde_json::from_slice(body).expect("JSON");
        assert_eq!(event["kind"], "Notification");
        assert_eq!(event["event"], "ReleasePendingApproval");
        assert_eq!(event["object"]["name"], PRODUCTION);
    }
}

/// A restart of the operator sends nothing twice: the SRE approves production after it, and
/// the controllers stop again while Slack has the deploy notification but has not answered
/// yet: the delivery under way finishes and is recorded, so the next start (which notifies
/// production turning Healthy) does not send it again.
async fn a_restart_of_the_operator_sends_nothing_twice(platform: &mut Platform, slack: &Slack) {
    platform.stop_controllers().await;
    platform.start_controllers().await;
    let before = slack.requests().len();
    let production_deployed =
        "Release deployed: Auto: image update to v2.4.0 (payment-service, production)";
    slack.hold.store(true, std::sync::atomic::Ordering::SeqCst);
    let approve = platform
        .kubectl("bob")
        .args([
            "-n",
            NS,
            "patch",
            "approvalrequest",
            PRODUCTION,
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/spec/decisions/-","value":{"decision":"Approve","comment":"v2.4.0 soaked in staging"}}]"#,
        ])
        .output()
        .expect("kubectl runs");
    assert!(
        approve.status.success(),
        "{}",
        String::from_utf8_lossy(&approve.stderr)
    );
    // Delivered first (a stuck release shows its status), then notified.
    platform.wait_delivered(NS, PRODUCTION);
    slack
        .wait_until(production_deployed, |b| b["text"] == production_deployed)
        .await;
    platform.stop_controllers().await;
    slack.hold.store(false, std::sync::atomic::Ordering::SeqCst);
    platform.start_controllers().await;
    // The new start reads the deploy again before it notifies production turning Healthy
    // (or, had Healthy come before the stop, in the same reading).
    let production_healthy =
        "Release healthy: Auto: image update to v2.4.0 (payment-service, production)";
    slack
        .wait_until(production_healthy, |b| b["text"] == production_healthy)
        .await;
    let requests = slack.requests();
    each_transition_once(&requests);
    assert!(
        requests[before..]
            .iter()
            .all(|b| b["text"] == production_deployed
                || b["text"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("Release healthy"))),
        "only new transitions after the restart: {:#?}",
        &requests[before..]
    );
    // Nor is the dead-lettered notification tried again.
    assert_eq!(slack.webhook.lock().unwrap().len(), 3);
}
