//! Async completion over HTTP: `pending` answers and the PATCH that follows, in both forms,
//! against a local receiver standing in for the node.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use offchain_adapter::testing::{NodeReceiver, TestAdapter, TestResponse, test_config};
use offchain_adapter::{Adapter, AdapterError, Context, Endpoint, Output};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Longest wait for a PATCH that must arrive.
const ARRIVAL: Duration = Duration::from_secs(5);
const UUID: &str = "6b0e9a0e-8f0b-4a4e-9d5c-5e1f1c7f6c11";

#[derive(Deserialize, Serialize)]
struct SlowParams {
    /// How long the "upstream" takes, in ms; also the result.
    ms: u64,
    #[serde(default)]
    fail: bool,
}

/// An endpoint that answers after `ms` milliseconds and counts its fetches.
struct Slow {
    fetches: Arc<AtomicUsize>,
}

impl Endpoint for Slow {
    type Params = SlowParams;

    async fn fetch(&self, _context: &Context, params: SlowParams) -> Result<Output, AdapterError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(params.ms)).await;
        if params.fail {
            return Err(AdapterError::Provider {
                provider_status_code: Some(503),
                message: "maintenance".into(),
            });
        }
        Ok(Output::new(params.ms))
    }
}

async fn start(vars: &[(&str, &str)]) -> (TestAdapter, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let adapter = Adapter::new("async-test")
        .endpoint(
            &["slow"],
            Slow {
                fetches: fetches.clone(),
            },
        )
        .default_endpoint("slow");
    (
        TestAdapter::start(adapter, test_config(vars)).await,
        fetches,
    )
}

/// The variable that lets the adapter send answers to `node`.
fn allow(node: &NodeReceiver) -> (&'static str, &str) {
    ("ASYNC_ALLOWED_ORIGINS", node.origin())
}

/// Sends `body` and returns the answer and how long it took.
async fn timed(ea: &TestAdapter, body: Value) -> (TestResponse, Duration) {
    let started = Instant::now();
    let response = ea.request(body).await;
    (response, started.elapsed())
}

fn assert_pending(response: &TestResponse, job_run_id: &str) {
    assert_eq!(response.status, 200);
    assert_eq!(
        response.body,
        json!({"jobRunID": job_run_id, "data": {}, "pending": true, "statusCode": 200})
    );
    assert_eq!(
        response
            .headers
            .get("x-chainlink-pending")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
}

fn assert_synchronous(response: &TestResponse, result: u64) {
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.body["pending"], false);
    assert_eq!(response.body["result"], result);
    assert!(response.headers.get("x-chainlink-pending").is_none());
}

#[tokio::test]
async fn slow_answer_to_a_resume_url_is_pending_then_patched_as_value() {
    let mut node = NodeReceiver::start().await;
    let (ea, _) = start(&[("ASYNC_AFTER_MS", "100"), allow(&node)]).await;
    let url = node.url(&format!("/v2/resume/{UUID}"));
    let (response, took) = timed(
        &ea,
        json!({"id": "r1", "data": {"ms": 800}, "responseURL": url}),
    )
    .await;
    assert_pending(&response, "r1");
    assert!(took < Duration::from_millis(800), "pending took {took:?}");

    let patch = node.next_patch(ARRIVAL).await;
    assert_eq!(patch.path, format!("/v2/resume/{UUID}"));
    assert_eq!(patch.authorization, None, "no token configured");
    let object = patch.body.as_object().expect("PATCH body is an object");
    assert_eq!(object.len(), 1, "exactly one key: {}", patch.body);
    let value = &patch.body["value"];
    assert_eq!(value["jobRunID"], "r1");
    assert_eq!(value["result"], 800);
    assert_eq!(value["data"]["result"], 800);
    assert_eq!(value["statusCode"], 200);
    assert_eq!(value["status"], "completed");
    assert_eq!(value["pending"], false);
    assert_eq!(value["error"], Value::Null);
}

#[tokio::test]
async fn slow_answer_to_a_runs_url_is_patched_classic_with_the_token() {
    let mut node = NodeReceiver::start().await;
    let (ea, _) = start(&[
        ("ASYNC_AFTER_MS", "100"),
        allow(&node),
        ("BRIDGE_RESPONSE_TOKEN", "incoming-secret"),
    ])
    .await;
    let url = node.url("/v2/runs/run-9");
    let (response, _) = timed(
        &ea,
        json!({"id": "run-9", "data": {"ms": 500}, "responseURL": url}),
    )
    .await;
    assert_pending(&response, "run-9");

    let patch = node.next_patch(ARRIVAL).await;
    assert_eq!(patch.path, "/v2/runs/run-9");
    assert_eq!(
        patch.authorization.as_deref(),
        Some("Bearer incoming-secret")
    );
    let body = &patch.body;
    assert_eq!(body["jobRunID"], "run-9");
    assert_eq!(body["data"]["result"], 500);
    assert_eq!(body["result"], 500);
    assert_eq!(body["status"], "completed");
    assert_eq!(body["statusCode"], 200);
    assert_eq!(body["error"], Value::Null);
    assert_eq!(body["pending"], false);
}

#[tokio::test]
async fn the_token_is_sent_to_resume_urls_too() {
    let mut node = NodeReceiver::start().await;
    let (ea, _) = start(&[
        ("ASYNC_AFTER_MS", "50"),
        allow(&node),
        ("BRIDGE_RESPONSE_TOKEN", "t"),
    ])
    .await;
    let url = node.url(&format!("/v2/resume/{UUID}"));
    let (response, _) = timed(&ea, json!({"data": {"ms": 600}, "responseURL": url})).await;
    assert_pending(&response, "1");
    assert_eq!(
        node.next_patch(ARRIVAL).await.authorization.as_deref(),
        Some("Bearer t")
    );
}

#[tokio::test]
async fn upstream_errors_are_patched_in_both_forms() {
    let mut node = NodeReceiver::start().await;
    let (ea, _) = start(&[("ASYNC_AFTER_MS", "50"), allow(&node)]).await;

    let resume = node.url(&format!("/v2/resume/{UUID}"));
    let body = json!({"id": "e1", "data": {"ms": 600, "fail": true}, "responseURL": resume});
    assert_pending(&ea.request(body).await, "e1");
    assert_eq!(
        node.next_patch(ARRIVAL).await.body,
        json!({"error": "AdapterDataProviderError: maintenance"})
    );

    let runs = node.url("/v2/runs/e2");
    let body = json!({"id": "e2", "data": {"ms": 601, "fail": true}, "responseURL": runs});
    assert_pending(&ea.request(body).await, "e2");
    assert_eq!(
        node.next_patch(ARRIVAL).await.body,
        json!({"jobRunID": "e2", "data": {}, "status": "errored", "statusCode": 502,
            "providerStatusCode": 503,
            "error": {"name": "AdapterDataProviderError", "message": "maintenance"},
            "pending": false})
    );
}

#[tokio::test]
async fn server_errors_from_the_node_are_retried_until_delivered() {
    let mut node = NodeReceiver::failing(2, 200).await;
    let (ea, _) = start(&[("ASYNC_AFTER_MS", "50"), allow(&node)]).await;
    let url = node.url(&format!("/v2/resume/{UUID}"));
    assert_pending(
        &ea.request(json!({"data": {"ms": 500}, "responseURL": url}))
            .await,
        "1",
    );
    let attempts = [
        node.next_patch(ARRIVAL).await,
        node.next_patch(ARRIVAL).await,
        node.next_patch(ARRIVAL).await,
    ];
    for attempt in &attempts {
        assert_eq!(attempt.body["value"]["result"], 500);
    }
    // The third attempt got 200: a fourth would come within the next backoff (400 ms).
    node.assert_no_patch(Duration::from_millis(900)).await;
}

#[tokio::test]
async fn client_errors_from_the_node_are_not_retried() {
    let mut node = NodeReceiver::failing(0, 404).await;
    let (ea, _) = start(&[("ASYNC_AFTER_MS", "50"), allow(&node)]).await;
    let url = node.url("/v2/runs/gone");
    assert_pending(
        &ea.request(json!({"data": {"ms": 500}, "responseURL": url}))
            .await,
        "1",
    );
    let _only = node.next_patch(ARRIVAL).await;
    // A retry would follow after the first backoff (100 ms).
    node.assert_no_patch(Duration::from_millis(700)).await;
}

#[tokio::test]
async fn delivery_gives_up_after_the_attempt_limit() {
    let mut node = NodeReceiver::failing(usize::MAX, 200).await;
    let (ea, _) = start(&[("ASYNC_AFTER_MS", "50"), allow(&node)]).await;
    let url = node.url(&format!("/v2/resume/{UUID}"));
    assert_pending(
        &ea.request(json!({"data": {"ms": 500}, "responseURL": url}))
            .await,
        "1",
    );
    for _ in 0..5 {
        node.next_patch(ARRIVAL).await;
    }
    // A sixth attempt would follow after at most the 2 s backoff cap.
    node.assert_no_patch(Duration::from_millis(2500)).await;
}

#[tokio::test]
async fn a_fast_answer_is_synchronous_and_not_patched() {
    let mut node = NodeReceiver::start().await;
    let (ea, _) = start(&[("ASYNC_AFTER_MS", "1000"), allow(&node)]).await;
    let url = node.url(&format!("/v2/resume/{UUID}"));
    let response = ea
        .request(json!({"data": {"ms": 20}, "responseURL": url}))
        .await;
    assert_synchronous(&response, 20);
    node.assert_no_patch(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn without_a_response_url_or_async_after_ms_answers_are_synchronous() {
    let mut node = NodeReceiver::start().await;
    let url = node.url(&format!("/v2/resume/{UUID}"));

    let (ea, _) = start(&[("ASYNC_AFTER_MS", "50"), allow(&node)]).await;
    let (response, took) = timed(&ea, json!({"data": {"ms": 300}})).await;
    assert_synchronous(&response, 300);
    assert!(took >= Duration::from_millis(300), "{took:?}");

    let (ea, _) = start(&[]).await;
    let response = ea
        .request(json!({"data": {"ms": 301}, "responseURL": url}))
        .await;
    assert_synchronous(&response, 301);

    // A URL of neither known form: its receiver's format is unknown, so no PATCH.
    let (ea, _) = start(&[("ASYNC_AFTER_MS", "50"), allow(&node)]).await;
    let other = node.url("/v2/jobs/x");
    let response = ea
        .request(json!({"data": {"ms": 302}, "responseURL": other}))
        .await;
    assert_synchronous(&response, 302);
    node.assert_no_patch(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn the_background_fetch_is_shared_with_later_requests() {
    let mut node = NodeReceiver::start().await;
    let (ea, fetches) = start(&[("ASYNC_AFTER_MS", "50"), allow(&node)]).await;
    let url = node.url(&format!("/v2/resume/{UUID}"));
    let params = json!({"ms": 600});
    assert_pending(
        &ea.request(json!({"data": params, "responseURL": url}))
            .await,
        "1",
    );
    // Joins the in-flight fetch instead of starting another one.
    let response = ea.request(json!({"data": params})).await;
    assert_synchronous(&response, 600);
    assert_eq!(node.next_patch(ARRIVAL).await.body["value"]["result"], 600);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_response_url_outside_the_allowed_origins_is_answered_synchronously_and_never_contacted()
{
    let allowed = NodeReceiver::start().await;
    let mut stranger = NodeReceiver::start().await;
    let (ea, fetches) = start(&[
        ("ASYNC_AFTER_MS", "50"),
        ("BRIDGE_RESPONSE_TOKEN", "bridge-secret"),
        allow(&allowed),
    ])
    .await;
    // Same host as the allowed origin, another port: a different origin.
    let url = stranger.url(&format!("/v2/resume/{UUID}"));
    let (response, took) = timed(
        &ea,
        json!({"id": "s1", "data": {"ms": 300}, "responseURL": url}),
    )
    .await;
    assert_synchronous(&response, 300);
    assert_eq!(response.body["jobRunID"], "s1");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    // Past every async timing: the answer, a PATCH and its retries would all be due.
    stranger.assert_no_patch(Duration::from_millis(1000)).await;
    assert_eq!(stranger.requests(), 0, "the stranger's URL got a request");
    assert_eq!(allowed.requests(), 0);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn without_allowed_origins_async_is_off_and_a_warning_is_logged_at_start_up() {
    let logs = offchain_adapter::testing::capture_logs();
    let mut node = NodeReceiver::start().await;
    let (ea, _) = start(&[("ASYNC_AFTER_MS", "50")]).await;
    let url = node.url(&format!("/v2/resume/{UUID}"));
    let response = ea
        .request(json!({"data": {"ms": 303}, "responseURL": url}))
        .await;
    assert_synchronous(&response, 303);
    node.assert_no_patch(Duration::from_millis(500)).await;
    assert_eq!(node.requests(), 0);
    let warned = logs.text().lines().any(|line| {
        line.contains("\"level\":\"WARN\"")
            && line.contains("ASYNC_ALLOWED_ORIGINS")
            && line.contains("ASYNC_AFTER_MS")
    });
    assert!(warned, "no start-up warning in:\n{}", logs.text());
}

#[tokio::test]
async fn past_the_in_flight_cap_requests_are_answered_synchronously() {
    let mut node = NodeReceiver::start().await;
    let (ea, _) = start(&[
        ("ASYNC_AFTER_MS", "50"),
        ("ASYNC_MAX_IN_FLIGHT", "1"),
        allow(&node),
    ])
    .await;
    let url = node.url(&format!("/v2/resume/{UUID}"));
    let first = ea
        .request(json!({"id": "a", "data": {"ms": 900}, "responseURL": url}))
        .await;
    assert_pending(&first, "a");
    // The first answer still owes its PATCH: no slot for a second one.
    let (second, took) = timed(
        &ea,
        json!({"id": "b", "data": {"ms": 300}, "responseURL": url}),
    )
    .await;
    assert_synchronous(&second, 300);
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert_eq!(
        node.next_patch(ARRIVAL).await.body["value"]["jobRunID"],
        "a"
    );
    node.assert_no_patch(Duration::from_millis(500)).await;
    // Once delivered, the slot is free again.
    let third = ea
        .request(json!({"id": "c", "data": {"ms": 500}, "responseURL": url}))
        .await;
    assert_pending(&third, "c");
    assert_eq!(
        node.next_patch(ARRIVAL).await.body["value"]["jobRunID"],
        "c"
    );
}
