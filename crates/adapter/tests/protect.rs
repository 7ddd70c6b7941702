//! Upstream protection over HTTP: the rate limit and its queue, and retries with backoff.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use offchain_adapter::Adapter;
use offchain_adapter::testing::{
    MockUpstream, TestAdapter, TestResponse, test_config, unreachable_url,
};
use serde_json::{Value, json};

mod common;
use common::Price;

/// A provider at `/api`: `coin=FLAKY` → 503 for its first two calls, then a price;
/// `MISSING` → 404; `DOWN` → always 503; `SLOW` → a price after 1 s; else a price after
/// 50 ms, so that concurrent requests overlap.
async fn provider() -> MockUpstream {
    let flaky_calls = Arc::new(AtomicUsize::new(0));
    let api = get(move |uri: Uri| {
        let flaky_calls = flaky_calls.clone();
        async move {
            let coin = uri
                .query()
                .and_then(|q| q.strip_prefix("coin="))
                .unwrap_or_default()
                .to_owned();
            answer(&coin, &flaky_calls).await
        }
    });
    MockUpstream::start(Router::new().route("/api", api)).await
}

async fn answer(coin: &str, flaky_calls: &AtomicUsize) -> Response {
    let unavailable = || {
        let body = json!({"error": {"message": "The endpoint is under maintenance."}});
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    };
    match coin {
        "FLAKY" if flaky_calls.fetch_add(1, Ordering::SeqCst) < 2 => return unavailable(),
        "DOWN" => return unavailable(),
        "MISSING" => {
            let body = json!({"message": "unknown coin"});
            return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
        }
        "SLOW" => tokio::time::sleep(Duration::from_secs(1)).await,
        _ => tokio::time::sleep(Duration::from_millis(50)).await,
    }
    axum::Json(json!({"price": 467.85})).into_response()
}

fn adapter(url: &str) -> Adapter {
    Adapter::new("test")
        .http_endpoint(
            &["price"],
            Price {
                url: url.to_owned(),
            },
        )
        .default_endpoint("price")
}

async fn start(vars: &[(&str, &str)]) -> (MockUpstream, TestAdapter) {
    let upstream = provider().await;
    let ea = TestAdapter::start(adapter(upstream.url()), test_config(vars)).await;
    (upstream, ea)
}

fn price(coin: &str) -> Value {
    json!({"id": "1", "data": {"coin": coin}})
}

/// Sends all `bodies` at once; answers in the order of `bodies`, with the time each took.
async fn concurrently(ea: &Arc<TestAdapter>, bodies: Vec<Value>) -> Vec<(TestResponse, Duration)> {
    let started = Instant::now();
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let ea = ea.clone();
            tokio::spawn(async move {
                let response = ea.request(body).await;
                (response, started.elapsed())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        let answer = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("adapter answers within 10 s")
            .expect("request task");
        answers.push(answer);
    }
    answers
}

fn assert_error(response: &TestResponse, status: u16, name: &str) {
    assert_eq!(response.status, status, "{}", response.body);
    assert_eq!(response.body["statusCode"], status);
    assert_eq!(response.body["error"]["name"], name, "{}", response.body);
}

#[tokio::test]
async fn over_the_rate_limit_with_no_queue_is_429() {
    let (upstream, ea) = start(&[
        ("RATE_LIMIT_CAPACITY_SECOND", "2"),
        ("RATE_LIMIT_QUEUE_SIZE", "0"),
    ])
    .await;
    assert_eq!(ea.request(price("ETH")).await.status, 200);
    assert_eq!(ea.request(price("BTC")).await.status, 200);
    let third = ea.request(price("LINK")).await;
    assert_error(&third, 429, "AdapterRateLimitError");
    let message = third.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("RATE_LIMIT_CAPACITY_SECOND"), "{message}");
    assert_eq!(
        upstream.hits(),
        2,
        "the refused request never reaches the upstream"
    );
}

#[tokio::test]
async fn over_the_rate_limit_requests_wait_in_the_queue() {
    let (upstream, ea) = start(&[("RATE_LIMIT_CAPACITY_SECOND", "2")]).await;
    let ea = Arc::new(ea);
    let answers = concurrently(&ea, vec![price("ETH"), price("BTC"), price("LINK")]).await;
    for (answer, _) in &answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let mut times: Vec<Duration> = answers.iter().map(|(_, took)| *took).collect();
    times.sort();
    // Two permits at once; the third refills after 500 ms.
    assert!(times[1] < Duration::from_millis(400), "{times:?}");
    assert!(times[2] >= Duration::from_millis(450), "{times:?}");
    assert_eq!(upstream.hits(), 3);
}

#[tokio::test]
async fn a_full_queue_is_429() {
    let (upstream, ea) = start(&[
        ("RATE_LIMIT_CAPACITY_SECOND", "1"),
        ("RATE_LIMIT_QUEUE_SIZE", "1"),
    ])
    .await;
    let ea = Arc::new(ea);
    let answers = concurrently(&ea, vec![price("ETH"), price("BTC"), price("LINK")]).await;
    let mut statuses: Vec<u16> = answers.iter().map(|(a, _)| a.status).collect();
    statuses.sort();
    assert_eq!(statuses, [200, 200, 429]);
    for (answer, took) in &answers {
        if answer.status == 429 {
            assert_error(answer, 429, "AdapterRateLimitError");
            assert!(
                *took < Duration::from_millis(500),
                "overflow is refused at once"
            );
        }
    }
    assert_eq!(upstream.hits(), 2);
}

#[tokio::test]
async fn cache_hits_and_coalesced_requests_take_no_permit() {
    let (upstream, ea) = start(&[
        ("RATE_LIMIT_CAPACITY_SECOND", "1"),
        ("RATE_LIMIT_QUEUE_SIZE", "0"),
    ])
    .await;
    let ea = Arc::new(ea);
    // Five identical concurrent requests: one upstream call, one permit.
    let answers = concurrently(&ea, vec![price("ETH"); 5]).await;
    for (answer, _) in &answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    // Cached now: still no permit needed although the only one is spent.
    assert_eq!(ea.request(price("ETH")).await.status, 200);
    assert_eq!(upstream.hits(), 1);
    // A miss does need one.
    assert_error(
        &ea.request(price("BTC")).await,
        429,
        "AdapterRateLimitError",
    );
}

#[tokio::test]
async fn upstream_5xx_is_retried_until_it_succeeds() {
    let (upstream, ea) = start(&[("RETRY", "2")]).await;
    let answer = ea.request(price("FLAKY")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["result"], 467.85);
    assert_eq!(upstream.hits(), 3);
}

#[tokio::test]
async fn retries_run_out_with_the_provider_error() {
    let (upstream, ea) = start(&[("RETRY", "1")]).await;
    let answer = ea.request(price("FLAKY")).await;
    assert_error(&answer, 502, "AdapterDataProviderError");
    assert_eq!(answer.body["providerStatusCode"], 503);
    assert_eq!(upstream.hits(), 2);
}

#[tokio::test]
async fn upstream_4xx_is_not_retried() {
    let (upstream, ea) = start(&[("RETRY", "3")]).await;
    let answer = ea.request(price("MISSING")).await;
    assert_error(&answer, 502, "AdapterDataProviderError");
    assert_eq!(answer.body["providerStatusCode"], 404);
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn retry_0_sends_once() {
    let (upstream, ea) = start(&[("RETRY", "0")]).await;
    assert_error(
        &ea.request(price("DOWN")).await,
        502,
        "AdapterDataProviderError",
    );
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn retries_stay_within_api_timeout() {
    // Backoff 100 ms then 200 ms: the second wait would end past the 250 ms budget.
    let (upstream, ea) = start(&[("RETRY", "5"), ("API_TIMEOUT", "250")]).await;
    let answer = ea.request(price("DOWN")).await;
    assert_error(&answer, 502, "AdapterDataProviderError");
    assert_eq!(upstream.hits(), 2);
}

#[tokio::test]
async fn a_timeout_is_not_retried() {
    let (upstream, ea) = start(&[("RETRY", "3"), ("API_TIMEOUT", "200")]).await;
    let started = Instant::now();
    assert_error(&ea.request(price("SLOW")).await, 504, "AdapterTimeoutError");
    assert!(started.elapsed() < Duration::from_millis(900));
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn connection_refused_is_retried_then_502() {
    let url = unreachable_url().await;
    let ea = TestAdapter::start(adapter(&url), test_config(&[("RETRY", "2")])).await;
    let started = Instant::now();
    let answer = ea.request(price("ETH")).await;
    assert_error(&answer, 502, "AdapterConnectionError");
    // Two retries: 100 ms + 200 ms of backoff.
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn dropped_connections_are_retried_then_502() {
    // A provider that accepts and closes every connection, counting them.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let server = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    let ea = TestAdapter::start(adapter(&url), test_config(&[("RETRY", "2")])).await;
    let answer = ea.request(price("ETH")).await;
    assert_error(&answer, 502, "AdapterConnectionError");
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
    server.abort();
}

#[tokio::test]
async fn overlong_parameter_values_are_refused_before_any_upstream_call() {
    let (upstream, ea) = start(&[]).await;
    // The default limit is 1 024 bytes per parameter value.
    let long = "E".repeat(1025);
    let refused = ea.request(json!({"id": "7", "data": {"coin": long}})).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.body["jobRunID"], "7");
    assert_eq!(refused.body["error"]["name"], "AdapterInputError");
    let message = refused.body["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("`coin`"), "{message}");
    assert!(message.contains("MAX_PARAM_LENGTH"), "{message}");
    // Parameters the endpoint ignores count too: they are held while the request is.
    let padded = ea
        .request(json!({"data": {"coin": "ETH", "note": ["x", "y".repeat(1024)]}}))
        .await;
    assert_eq!(padded.status, 400, "{}", padded.body);
    assert!(
        padded.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("`note`")),
        "{}",
        padded.body
    );
    let long_name = json!({"data": {"coin": "ETH", "n".repeat(256): 1}});
    assert_eq!(ea.request(long_name).await.status, 400);
    assert_eq!(upstream.hits(), 0);
    let at_limit = ea.request(price(&"E".repeat(1024))).await;
    assert_eq!(at_limit.status, 200, "{}", at_limit.body);
    assert_eq!(upstream.hits(), 1);

    let (upstream, ea) = start(&[("MAX_PARAM_LENGTH", "3")]).await;
    let small = ea.request(price("ETH")).await;
    assert_eq!(small.status, 200, "{}", small.body);
    assert_eq!(ea.request(price("USDT")).await.status, 400);
    assert_eq!(upstream.hits(), 1);
}
