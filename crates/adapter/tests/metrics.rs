//! Prometheus metrics on their own listener: what requests, upstream calls, the cache, the
//! rate-limit queue and async answers record. Every test adapter owns its registry, so
//! the counts are exact.

use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use offchain_adapter::Adapter;
use offchain_adapter::testing::{MockUpstream, NodeReceiver, TestAdapter, test_config};
use serde_json::json;

mod common;
use common::Price;

/// `coin=FAIL` → 500; `coin=SLOW` → answers after 600 ms; anything else → price 1.5.
async fn provider() -> MockUpstream {
    MockUpstream::start(Router::new().route(
        "/api",
        get(|uri: Uri| async move {
            match uri.query().unwrap_or_default() {
                "coin=FAIL" => (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response(),
                "coin=SLOW" => {
                    tokio::time::sleep(Duration::from_millis(600)).await;
                    axum::Json(json!({"price": 2.5})).into_response()
                }
                _ => axum::Json(json!({"price": 1.5})).into_response(),
            }
        }),
    ))
    .await
}

async fn start(name: &str, upstream: &MockUpstream, vars: &[(&str, &str)]) -> TestAdapter {
    let adapter = Adapter::new(name)
        .http_endpoint(
            &["price", "crypto"],
            Price {
                url: upstream.url().to_owned(),
            },
        )
        .default_endpoint("price");
    // No retries: each upstream 5xx is then exactly one upstream attempt.
    let mut all = vec![("RETRY", "0")];
    all.extend_from_slice(vars);
    TestAdapter::start(adapter, test_config(&all)).await
}

/// The value of the one series of `name` carrying all `labels`; `None` when absent.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            let series = line.rsplit_once(' ').map_or(*line, |(series, _)| series);
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            metric == name
                && labels
                    .iter()
                    .all(|(key, value)| rest.contains(&format!("{key}=\"{value}\"")))
        });
    let line = found.next()?;
    assert!(
        found.next().is_none(),
        "several series match {name} {labels:?}"
    );
    line.rsplit_once(' ')?.1.parse().ok()
}

fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(text, name, labels).unwrap_or_else(|| panic!("no series {name} {labels:?} in\n{text}"))
}

#[tokio::test]
async fn requests_upstream_and_cache_are_counted() {
    let upstream = provider().await;
    let ea = start("metrics-test", &upstream, &[]).await;

    assert_eq!(
        ea.request(json!({"data": {"coin": "ETH"}})).await.status,
        200
    );
    // Through an alias: still counted under the canonical name, and a cache hit.
    let cached = ea
        .request(json!({"endpoint": "CRYPTO", "data": {"coin": "ETH"}}))
        .await;
    assert_eq!(cached.status, 200);
    assert_eq!(ea.request(json!({"data": {}})).await.status, 400);
    assert_eq!(
        ea.request(json!({"data": {"coin": "FAIL"}})).await.status,
        502
    );
    assert_eq!(
        ea.request(json!({"endpoint": "volume", "data": {}}))
            .await
            .status,
        404
    );
    assert_eq!(ea.post_bytes(b"{not json".to_vec()).await.status, 400);
    assert_eq!(upstream.hits(), 2, "one call for ETH, one for FAIL");

    let text = ea.metrics().await;
    let adapter = ("adapter", "metrics-test");
    let requests = |endpoint, status| {
        value(
            &text,
            "ea_requests_total",
            &[adapter, ("endpoint", endpoint), ("status", status)],
        )
    };
    assert_eq!(requests("price", "200"), 2.0);
    assert_eq!(requests("price", "400"), 1.0);
    assert_eq!(requests("price", "502"), 1.0);
    assert_eq!(
        requests("unknown", "404"),
        1.0,
        "the sent name is not a label"
    );
    assert_eq!(requests("unknown", "400"), 1.0);
    assert_eq!(requests("price", "404"), 0.0);
    assert!(!text.contains("volume"), "{text}");
    assert_eq!(
        value(
            &text,
            "ea_request_duration_seconds_count",
            &[adapter, ("endpoint", "price")]
        ),
        4.0
    );
    assert!(
        value(
            &text,
            "ea_request_duration_seconds_bucket",
            &[("endpoint", "price"), ("le", "+Inf")]
        ) == 4.0
    );
    assert_eq!(
        value(&text, "ea_upstream_responses_total", &[("class", "2xx")]),
        1.0
    );
    assert_eq!(
        value(&text, "ea_upstream_responses_total", &[("class", "5xx")]),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "ea_upstream_responses_total",
            &[("class", "timeout")]
        ),
        0.0
    );
    assert_eq!(value(&text, "ea_upstream_duration_seconds_count", &[]), 2.0);
    assert!(value(&text, "ea_upstream_duration_seconds_sum", &[]) > 0.0);
    let cache = ("cache_type", "local");
    assert_eq!(value(&text, "ea_cache_hits_total", &[cache]), 1.0);
    assert_eq!(
        value(&text, "ea_cache_misses_total", &[cache]),
        2.0,
        "ETH and FAIL"
    );
    assert_eq!(value(&text, "ea_rate_limit_queue_size", &[]), 0.0);
    assert_eq!(value(&text, "ea_async_answers_in_flight", &[]), 0.0);
    assert!(text.contains("# TYPE ea_requests_total counter"), "{text}");
    assert!(
        text.contains("# TYPE ea_request_duration_seconds histogram"),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_are_not_on_the_adapter_port() {
    let upstream = provider().await;
    let ea = start("metrics-port", &upstream, &[]).await;
    assert_ne!(ea.metrics_addr(), Some(ea.addr()));
    assert_eq!(ea.get("/metrics").await.status, 404);
}

#[tokio::test]
async fn disabled_metrics_have_no_listener() {
    let upstream = provider().await;
    let ea = start("metrics-off", &upstream, &[("METRICS_ENABLED", "false")]).await;
    assert_eq!(ea.metrics_addr(), None);
    assert_eq!(
        ea.request(json!({"data": {"coin": "ETH"}})).await.status,
        200
    );
    assert_eq!(ea.get("/metrics").await.status, 404);
}

#[tokio::test]
async fn adapters_in_one_process_keep_their_own_counts() {
    let upstream = provider().await;
    let first = start("first", &upstream, &[]).await;
    let second = start("second", &upstream, &[("CACHE_MAX_AGE", "0")]).await;
    for _ in 0..3 {
        assert_eq!(
            first.request(json!({"data": {"coin": "ETH"}})).await.status,
            200
        );
    }
    assert_eq!(
        second
            .request(json!({"data": {"coin": "ETH"}}))
            .await
            .status,
        200
    );
    assert_eq!(
        second
            .request(json!({"data": {"coin": "ETH"}}))
            .await
            .status,
        200
    );

    let first = first.metrics().await;
    let second = second.metrics().await;
    let ok = [("endpoint", "price"), ("status", "200")];
    assert_eq!(value(&first, "ea_requests_total", &ok), 3.0);
    assert_eq!(value(&second, "ea_requests_total", &ok), 2.0);
    assert!(!second.contains(r#"adapter="first""#), "{second}");
    // No cache: every request is a miss.
    assert_eq!(
        value(&second, "ea_cache_misses_total", &[("cache_type", "none")]),
        2.0
    );
    assert_eq!(
        value(&second, "ea_cache_hits_total", &[("cache_type", "none")]),
        0.0
    );
    assert_eq!(
        value(&first, "ea_cache_hits_total", &[("cache_type", "local")]),
        2.0
    );
}

#[tokio::test]
async fn coalesced_requests_are_hits() {
    let upstream = provider().await;
    let ea = start("metrics-coalesce", &upstream, &[]).await;
    let slow = || ea.request(json!({"data": {"coin": "SLOW"}}));
    let answers = futures_util::future::join_all([slow(), slow(), slow(), slow()]).await;
    assert!(answers.iter().all(|a| a.status == 200));
    assert_eq!(upstream.hits(), 1);
    let text = ea.metrics().await;
    assert_eq!(value(&text, "ea_cache_misses_total", &[]), 1.0);
    assert_eq!(value(&text, "ea_cache_hits_total", &[]), 3.0);
}

/// Polls the metrics until `name` satisfies `done`, for at most `within`.
async fn wait_for(
    ea: &TestAdapter,
    name: &str,
    within: Duration,
    done: impl Fn(f64) -> bool,
) -> f64 {
    let deadline = Instant::now() + within;
    loop {
        let current = value(&ea.metrics().await, name, &[]);
        if done(current) || Instant::now() > deadline {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn rate_limit_queue_is_a_gauge() {
    let upstream = provider().await;
    let ea = start(
        "metrics-queue",
        &upstream,
        &[("RATE_LIMIT_CAPACITY_SECOND", "1")],
    )
    .await;
    // One permit a second: the first goes upstream at once, the other two wait in the queue.
    let requests = ["A", "B", "C"].map(|coin| ea.request(json!({"data": {"coin": coin}})));
    let queued = async {
        wait_for(
            &ea,
            "ea_rate_limit_queue_size",
            Duration::from_millis(900),
            |q| q >= 1.0,
        )
        .await
    };
    let (answers, queued) = tokio::join!(futures_util::future::join_all(requests), queued);
    assert!(queued >= 1.0, "queue size while waiting: {queued}");
    assert!(answers.iter().all(|a| a.status == 200));
    assert_eq!(
        value(&ea.metrics().await, "ea_rate_limit_queue_size", &[]),
        0.0
    );
}

#[tokio::test]
async fn async_answers_in_flight_are_a_gauge() {
    let upstream = provider().await;
    let mut node = NodeReceiver::start().await;
    let vars = [
        ("ASYNC_AFTER_MS", "50"),
        ("ASYNC_ALLOWED_ORIGINS", node.origin()),
    ];
    let ea = start("metrics-async", &upstream, &vars).await;
    let url = node.url("/v2/resume/6b0e9a0e-8f0b-4a4e-9d5c-5e1f1c7f6c11");
    let answer = ea
        .request(json!({"data": {"coin": "SLOW"}, "responseURL": url}))
        .await;
    assert_eq!(answer.body["pending"], true, "{:?}", answer.body);
    assert_eq!(
        value(&ea.metrics().await, "ea_async_answers_in_flight", &[]),
        1.0
    );
    let patch = node.next_patch(Duration::from_secs(5)).await;
    assert_eq!(patch.body["value"]["result"], 2.5, "{:?}", patch.body);
    let left = wait_for(
        &ea,
        "ea_async_answers_in_flight",
        Duration::from_secs(2),
        |n| n == 0.0,
    )
    .await;
    assert_eq!(left, 0.0);
    // The HTTP answer was the pending one.
    let text = ea.metrics().await;
    assert_eq!(
        value(
            &text,
            "ea_requests_total",
            &[("endpoint", "price"), ("status", "200")]
        ),
        1.0
    );
}
