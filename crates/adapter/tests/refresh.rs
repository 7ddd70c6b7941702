//! Background refresh (`CACHE_REFRESH_WINDOW_MS`): hot parameter sets stay cached.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use offchain_adapter::testing::{
    MockUpstream, TestAdapter, TestResponse, capture_logs, test_config,
};
use offchain_adapter::{Adapter, AdapterError, Config, Context, Endpoint, Output};
use serde_json::{Value, json};

mod common;
use common::{Price, PriceParams};

/// How long the mock provider takes to answer: a request that had to wait for it is easy
/// to tell from a cache hit.
const UPSTREAM_DELAY: Duration = Duration::from_millis(300);

/// A slow provider whose price is the number of calls so far, so each refresh is visible
/// in the answers; after `healthy_calls` calls it answers 503.
async fn provider(healthy_calls: u64) -> MockUpstream {
    let calls = Arc::new(AtomicU64::new(0));
    let api = get(move || {
        let calls = calls.clone();
        async move {
            let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(UPSTREAM_DELAY).await;
            if call > healthy_calls {
                let body = json!({"error": {"message": "maintenance"}});
                return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
            }
            axum::Json(json!({"price": call})).into_response()
        }
    });
    MockUpstream::start(Router::new().route("/api", api)).await
}

async fn adapter(upstream: &MockUpstream, max_age: &str, window: &str) -> TestAdapter {
    adapter_with(upstream, "refresh-test", max_age, window, &[]).await
}

async fn adapter_with(
    upstream: &MockUpstream,
    name: &str,
    max_age: &str,
    window: &str,
    vars: &[(&str, &str)],
) -> TestAdapter {
    let adapter = Adapter::new(name)
        .http_endpoint(
            &["price"],
            Price {
                url: upstream.url().to_owned(),
            },
        )
        .default_endpoint("price");
    let mut all = vec![
        ("CACHE_MAX_AGE", max_age),
        ("CACHE_REFRESH_WINDOW_MS", window),
        ("RETRY", "0"),
    ];
    all.extend_from_slice(vars);
    let config = test_config(&all);
    TestAdapter::start(adapter, config).await
}

async fn ask(ea: &TestAdapter) -> (TestResponse, Duration) {
    let started = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        ea.request(json!({"data": {"coin": "ETH"}})),
    )
    .await
    .expect("an answer within 5 s");
    (answer, started.elapsed())
}

#[tokio::test]
async fn hot_params_never_wait_and_idle_ones_stop_refreshing() {
    let upstream = provider(u64::MAX).await;
    // Entries live 1.5 s and are refreshed once less than 0.5 s remains.
    let ea = adapter(&upstream, "1500", "1000").await;
    let (first, _) = ask(&ea).await;
    assert_eq!(first.body["result"], 1);

    // Three lifetimes of the first entry, with a request every 50 ms.
    let results = keep_hot(&ea, Duration::from_millis(4500)).await;
    let hits = upstream.hits();
    // One refresh per second after the first: about 4 in 4.5 s.
    assert!(results.len() >= 3, "refreshed answers served: {results:?}");
    assert!((3..=8).contains(&hits), "upstream calls: {hits}");

    // Not requested any more: refreshing stops once the 1 s window has passed (a refresh
    // already under way may still finish), so a later wait longer than the refresh period
    // sees no upstream call.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let after_idle = upstream.hits();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        upstream.hits(),
        after_idle,
        "idle parameters were refreshed"
    );
    // And the entry expired: the next request goes upstream itself.
    let (answer, took) = ask(&ea).await;
    assert_eq!(answer.status, 200);
    assert!(took >= UPSTREAM_DELAY, "{took:?}");
    assert_eq!(upstream.hits(), after_idle + 1);
}

/// Requests `ETH` every 50 ms for `hot_for`; each must be a fast cache hit. Returns the
/// distinct results seen.
async fn keep_hot(ea: &TestAdapter, hot_for: Duration) -> Vec<u64> {
    let hot_until = Instant::now() + hot_for;
    let mut results = Vec::new();
    while Instant::now() < hot_until {
        let (answer, took) = ask(ea).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        // A request that waited for the provider takes at least UPSTREAM_DELAY.
        assert!(
            took < Duration::from_millis(200),
            "request waited {took:?}: not served from the cache"
        );
        let result = answer.body["result"].as_u64().unwrap_or_default();
        assert!(
            results.last().is_none_or(|last| *last <= result),
            "{results:?} then {result}"
        );
        results.push(result);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    results.dedup();
    results
}

#[tokio::test]
async fn refreshed_answers_replace_redis_entries() {
    if !common::redis_answers().await {
        return;
    }
    let upstream = provider(u64::MAX).await;
    // Its own namespace, so that earlier runs' entries are not found.
    let name = format!(
        "refresh-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let vars = [
        ("CACHE_TYPE", "redis"),
        ("CACHE_REDIS_URL", "redis://127.0.0.1:6379"),
    ];
    let ea = adapter_with(&upstream, &name, "1500", "1000", &vars).await;
    let (first, _) = ask(&ea).await;
    assert_eq!(first.body["result"], 1);
    let results = keep_hot(&ea, Duration::from_millis(3500)).await;
    assert!(results.len() >= 3, "refreshed answers served: {results:?}");
    let hits = upstream.hits();
    assert!((3..=7).contains(&hits), "upstream calls: {hits}");
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_old_answer_until_it_expires() {
    // The first call succeeds, every refresh gets 503.
    let upstream = provider(1).await;
    let ea = adapter(&upstream, "1200", "5000").await;
    let (first, _) = ask(&ea).await;
    assert_eq!(first.body["result"], 1);
    let answered = Instant::now();

    // The refresh is due 0.8 s after the answer and fails; the old entry is still served.
    while answered.elapsed() < Duration::from_millis(1000) {
        let (answer, took) = ask(&ea).await;
        assert_eq!(answer.body["result"], 1, "{:?}", answer.body);
        assert!(took < Duration::from_millis(200), "{took:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(upstream.hits() >= 2, "a refresh was attempted");

    // Once it has expired the request goes upstream and sees the error.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (answer, _) = ask(&ea).await;
    assert_eq!(answer.status, 502, "{:?}", answer.body);
    assert_eq!(answer.body["providerStatusCode"], 503);
    // The first call, one failed refresh (the retry it would get, a sixth of the age later,
    // falls after the expiry), and this request's own call: no call every tick.
    assert_eq!(upstream.hits(), 3);
}

/// What a panic in endpoint code carries; it must never reach the logs.
const PANIC_PAYLOAD: &str = "panic-payload-with-a-secret-3f9a";

/// Answers each coin with the number of calls for it so far, at once; the second call for
/// `BAD` panics.
#[derive(Clone, Default)]
struct PanicsOnce {
    calls: Arc<Mutex<HashMap<String, u64>>>,
}

impl PanicsOnce {
    fn calls(&self, coin: &str) -> u64 {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.get(coin).copied().unwrap_or_default()
    }
}

impl Endpoint for PanicsOnce {
    type Params = PriceParams;

    async fn fetch(&self, _: &Context, params: PriceParams) -> Result<Output, AdapterError> {
        let call = {
            let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
            let call = calls.entry(params.coin.clone()).or_default();
            *call += 1;
            *call
        };
        if params.coin == "BAD" && call == 2 {
            panic!("{PANIC_PAYLOAD}");
        }
        Ok(Output::new(call))
    }
}

#[tokio::test]
async fn a_panicking_refresh_fails_alone_and_is_tried_again() {
    let logs = capture_logs();
    let endpoint = PanicsOnce::default();
    let adapter = Adapter::new("refresh-panic-test")
        .endpoint(&["price"], endpoint.clone())
        .default_endpoint("price");
    let config = test_config(&[
        ("CACHE_MAX_AGE", "6000"),
        ("CACHE_REFRESH_WINDOW_MS", "30000"),
        ("RETRY", "0"),
    ]);
    let ea = TestAdapter::start(adapter, config).await;
    for coin in ["GOOD", "BAD"] {
        let answer = ea.request(json!({"data": {"coin": coin}})).await;
        assert_eq!(answer.body["result"], 1, "{coin}: {:?}", answer.body);
    }
    // No request after these two: every later call is a background refresh. Both are due
    // 4 s in; BAD's refresh panics and, as a failed refresh, is tried again a second later,
    // before its entry expires at 6 s. (With a 3 s max age the retry had only half a second,
    // and the panic hook printing a backtrace on a loaded machine could take longer.) GOOD
    // is refreshed again about 4 s after its first refresh, so the refresher went on after
    // the panic.
    let deadline = Instant::now() + Duration::from_secs(16);
    while endpoint.calls("BAD") < 3 || endpoint.calls("GOOD") < 3 {
        assert!(
            Instant::now() < deadline,
            "calls: BAD {}, GOOD {}",
            endpoint.calls("BAD"),
            endpoint.calls("GOOD")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The retried refresh was stored; the adapter still answers.
    let bad = ea.request(json!({"data": {"coin": "BAD"}})).await;
    assert_eq!(bad.status, 200, "{:?}", bad.body);
    assert!(bad.body["result"].as_u64() >= Some(3), "{:?}", bad.body);

    let text = logs.text();
    assert!(
        !text.contains(PANIC_PAYLOAD),
        "the panic payload was logged"
    );
    let warned = text.lines().any(|line| {
        let line: Value = serde_json::from_str(line).unwrap_or_default();
        line["level"] == "WARN"
            && line["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("background refresh failed"))
            && line["fields"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("panicked"))
    });
    assert!(warned, "no warning for the panicked refresh in:\n{text}");
}

#[test]
fn refresh_window_is_optional_and_named_in_errors() {
    assert_eq!(Config::default().cache_refresh_window, None);
    let config = Config::from_vars([("CACHE_REFRESH_WINDOW_MS", "60000")]).expect("valid");
    assert_eq!(config.cache_refresh_window, Some(Duration::from_secs(60)));
    for bad in ["0", "soon", "-5"] {
        let error = Config::from_vars([("CACHE_REFRESH_WINDOW_MS", bad)]).expect_err(bad);
        assert_eq!(error.variable(), "CACHE_REFRESH_WINDOW_MS");
    }
}
