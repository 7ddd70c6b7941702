//! Async completion over HTTP: `pending` answers and the PATCH that follows, in both forms,
//! against a local receiver standing in for the node.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::routing::patch;
use offchain_adapter::testing::{MockUpstream, TestAdapter, TestResponse, test_config};
use offchain_adapter::{Adapter, AdapterError, Context, Endpoint, Output};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;

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

/// One PATCH the receiver got.
#[derive(Debug)]
struct Patch {
    path: String,
    authorization: Option<String>,
    body: Value,
}

struct ReceiverState {
    patches: mpsc::UnboundedSender<Patch>,
    /// Answer this many PATCHes with 503 before answering `status`.
    failures_left: AtomicUsize,
    status: AtomicU16,
}

/// The node's side: records every PATCH on `/v2/resume/…` and `/v2/runs/…`.
struct Receiver {
    server: MockUpstream,
    patches: mpsc::UnboundedReceiver<Patch>,
}

impl Receiver {
    async fn start(failures: usize, status: u16) -> Self {
        let (sender, patches) = mpsc::unbounded_channel();
        let state = Arc::new(ReceiverState {
            patches: sender,
            failures_left: AtomicUsize::new(failures),
            status: AtomicU16::new(status),
        });
        let router = Router::new()
            .route("/v2/resume/{id}", patch(record))
            .route("/v2/runs/{id}", patch(record))
            .with_state(state);
        Self {
            server: MockUpstream::start(router).await,
            patches,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    async fn next(&mut self) -> Patch {
        match tokio::time::timeout(ARRIVAL, self.patches.recv()).await {
            Ok(Some(patch)) => patch,
            Ok(None) => panic!("receiver stopped"),
            Err(_) => panic!("no PATCH within {ARRIVAL:?}"),
        }
    }

    /// Asserts that no PATCH arrives within `window`.
    async fn assert_quiet(&mut self, window: Duration) {
        if let Ok(Some(patch)) = tokio::time::timeout(window, self.patches.recv()).await {
            panic!("unexpected PATCH {patch:?}");
        }
    }
}

async fn record(State(state): State<Arc<ReceiverState>>, request: Request) -> StatusCode {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_else(|_| Bytes::new());
    let patch = Patch {
        path: parts.uri.path().to_owned(),
        authorization: parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    };
    let _ = state.patches.send(patch);
    let failing = state
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    StatusCode::from_u16(state.status.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK)
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
    let mut node = Receiver::start(0, 200).await;
    let (ea, _) = start(&[("ASYNC_AFTER_MS", "100")]).await;
    let url = node.url(&format!("/v2/resume/{UUID}"));
    let (response, took) = timed(
        &ea,
        json!({"id": "r1", "data": {"ms": 800}, "responseURL": url}),
    )
    .await;
    assert_pending(&response, "r1");
    assert!(took < Duration::from_millis(800), "pending took {took:?}");

    let patch = node.next().await;
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
    let mut node = Receiver::start(0, 200).await;
    let (ea, _) = start(&[
        ("ASYNC_AFTER_MS", "100"),
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

    let patch = node.next().await;
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
    let mut node = Receiver::start(0, 200).await;
    let (ea, _) = start(&[("ASYNC_AFTER_MS", "50"), ("BRIDGE_RESPONSE_TOKEN", "t")]).await;
    let url = node.url(&format!("/v2/resume/{UUID}"));
    let (response, _) = timed(&ea, json!({"data": {"ms": 300}, "responseURL": url})).await;
    assert_pending(&response, "1");
    assert_eq!(node.next().await.authorization.as_deref(), Some("Bearer t"));
}

#[tokio::test]
async fn upstream_errors_are_patched_in_both_forms() {
    let mut node = Receiver::start(0, 200).await;
    let (ea, _) = start(&[("ASYNC_AFTER_MS", "50")]).await;

    let resume = node.url(&format!("/v2/resume/{UUID}"));
    let body = json!({"id": "e1", "data": {"ms": 300, "fail": true}, "responseURL": resume});
    assert_pending(&ea.request(body).await, "e1");
    assert_eq!(
        node.next().await.body,
        json!({"error": "AdapterDataProviderError: maintenance"})
    );

    let runs = node.url("/v2/runs/e2");
    let body = json!({"id": "e2", "data": {"ms": 301, "fail": true}, "responseURL": runs});
    assert_pending(&ea.request(body).await, "e2");
    assert_eq!(
        node.next().await.body,
        json!({"jobRunID": "e2", "data": {}, "status": "errored", "statusCode": 502,
            "providerStatusCode": 503,
            "error": {"name": "AdapterDataProviderError", "message": "maintenance"},
            "pending": false})
    );
}

#[tokio::test]
async fn server_errors_from_the_node_are_retried_until_delivered() {
    let mut node = Receiver::start(2, 200).await;
    let (ea, _) = start(&[("ASYNC_AFTER_MS", "50")]).await;
    let url = node.url(&format!("/v2/resume/{UUID}"));
    assert_pending(
        &ea.request(json!({"data": {"ms": 200}, "responseURL": url}))
            .await,
        "1",
    );
    let attempts = [node.next().await, node.next().await, node.next().await];
    for attempt in &attempts {
        assert_eq!(attempt.body["value"]["result"], 200);
    }
    // The third attempt got 200: a fourth would come within the next backoff (400 ms).
    node.assert_quiet(Duration::from_millis(900)).await;
}

#[tokio::test]
async fn client_errors_from_the_node_are_not_retried() {
    let mut node = Receiver::start(0, 404).await;
    let (ea, _) = start(&[("ASYNC_AFTER_MS", "50")]).await;
    let url = node.url("/v2/runs/gone");
    assert_pending(
        &ea.request(json!({"data": {"ms": 200}, "responseURL": url}))
            .await,
        "1",
    );
    let _only = node.next().await;
    // A retry would follow after the first backoff (100 ms).
    node.assert_quiet(Duration::from_millis(700)).await;
}

#[tokio::test]
async fn delivery_gives_up_after_the_attempt_limit() {
    let mut node = Receiver::start(usize::MAX, 200).await;
    let (ea, _) = start(&[("ASYNC_AFTER_MS", "50")]).await;
    let url = node.url(&format!("/v2/resume/{UUID}"));
    assert_pending(
        &ea.request(json!({"data": {"ms": 100}, "responseURL": url}))
            .await,
        "1",
    );
    for _ in 0..5 {
        node.next().await;
    }
    // A sixth attempt would follow after at most the 2 s backoff cap.
    node.assert_quiet(Duration::from_millis(2500)).await;
}

#[tokio::test]
async fn a_fast_answer_is_synchronous_and_not_patched() {
    let mut node = Receiver::start(0, 200).await;
    let (ea, _) = start(&[("ASYNC_AFTER_MS", "1000")]).await;
    let url = node.url(&format!("/v2/resume/{UUID}"));
    let response = ea
        .request(json!({"data": {"ms": 20}, "responseURL": url}))
        .await;
    assert_synchronous(&response, 20);
    node.assert_quiet(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn without_a_response_url_or_async_after_ms_answers_are_synchronous() {
    let mut node = Receiver::start(0, 200).await;
    let url = node.url(&format!("/v2/resume/{UUID}"));

    let (ea, _) = start(&[("ASYNC_AFTER_MS", "50")]).await;
    let (response, took) = timed(&ea, json!({"data": {"ms": 300}})).await;
    assert_synchronous(&response, 300);
    assert!(took >= Duration::from_millis(300), "{took:?}");

    let (ea, _) = start(&[]).await;
    let response = ea
        .request(json!({"data": {"ms": 301}, "responseURL": url}))
        .await;
    assert_synchronous(&response, 301);

    // A URL of neither known form: its receiver's format is unknown, so no PATCH.
    let (ea, _) = start(&[("ASYNC_AFTER_MS", "50")]).await;
    let other = node.url("/v2/jobs/x");
    let response = ea
        .request(json!({"data": {"ms": 302}, "responseURL": other}))
        .await;
    assert_synchronous(&response, 302);
    node.assert_quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn the_background_fetch_is_shared_with_later_requests() {
    let mut node = Receiver::start(0, 200).await;
    let (ea, fetches) = start(&[("ASYNC_AFTER_MS", "50")]).await;
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
    assert_eq!(node.next().await.body["value"]["result"], 600);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}
