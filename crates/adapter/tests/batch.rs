//! Batching: concurrent cache misses of a [`BatchHttpEndpoint`] share one upstream call.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use futures_util::future::join_all;
use offchain_adapter::testing::{MockUpstream, TestAdapter, TestResponse, test_config};
use offchain_adapter::{Adapter, AdapterError, BatchAnswer, BatchHttpEndpoint, Config, Output};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Deserialize, Serialize)]
struct PriceParams {
    coin: String,
}

struct Prices {
    url: String,
    max: usize,
}

impl BatchHttpEndpoint for Prices {
    type Params = PriceParams;

    fn max_batch_size(&self) -> usize {
        self.max
    }

    fn request(&self, http: &reqwest::Client, params: &[PriceParams]) -> reqwest::RequestBuilder {
        let coins: Vec<&str> = params.iter().map(|p| p.coin.as_str()).collect();
        http.get(format!("{}/prices", self.url))
            .query(&[("coins", coins.join(","))])
    }

    fn parse(&self, params: &[PriceParams], body: Value) -> Result<BatchAnswer, AdapterError> {
        Ok(params
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let price = body.get(&p.coin)?.get("price")?.clone();
                Some((i, Ok(Output::new(price))))
            })
            .collect())
    }
}

/// The price the mock provider quotes for `coin`: distinct per coin, so a caller given
/// another caller's entry is caught.
fn price_of(coin: &str) -> u64 {
    coin.bytes().map(u64::from).sum::<u64>() * 10 + coin.len() as u64
}

/// A provider at `/prices?coins=A,B`: a price for each coin except `NONE` (left out of the
/// answer); any `DOWN` in the list → 503. Records each call's coin list and answers after
/// 50 ms so that concurrent requests overlap.
async fn provider() -> (MockUpstream, Arc<Mutex<Vec<Vec<String>>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let recorded = calls.clone();
    let route = get(move |uri: Uri| {
        let calls = recorded.clone();
        async move {
            // reqwest encodes the commas of `coins=ETH,BTC` as %2C.
            let coins: Vec<String> = uri
                .query()
                .and_then(|q| q.strip_prefix("coins="))
                .map(|c| {
                    c.replace("%2C", ",")
                        .split(',')
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            calls
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(coins.clone());
            tokio::time::sleep(Duration::from_millis(50)).await;
            if coins.iter().any(|c| c == "DOWN") {
                let body = json!({"error": {"message": "maintenance"}});
                return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
            }
            let answer: serde_json::Map<String, Value> = coins
                .iter()
                .filter(|c| *c != "NONE")
                .map(|c| (c.clone(), json!({"price": price_of(c)})))
                .collect();
            axum::Json(answer).into_response()
        }
    });
    let upstream = MockUpstream::start(Router::new().route("/prices", route)).await;
    (upstream, calls)
}

async fn adapter(upstream: &MockUpstream, max: usize, vars: &[(&str, &str)]) -> TestAdapter {
    let prices = Prices {
        url: upstream.url().to_owned(),
        max,
    };
    let adapter = Adapter::new("batch-test")
        .batch_endpoint(&["price"], prices)
        .default_endpoint("price");
    // A wide window so that concurrent requests on a loaded machine land in one batch.
    let mut all = vec![("BATCH_WINDOW_MS", "300")];
    all.extend_from_slice(vars);
    TestAdapter::start(adapter, test_config(&all)).await
}

/// Sends one request per coin concurrently, bounded in time.
async fn ask_all(ea: &TestAdapter, coins: &[&str]) -> Vec<TestResponse> {
    let requests = coins
        .iter()
        .map(|coin| ea.request(json!({"id": coin, "data": {"coin": coin}})));
    tokio::time::timeout(Duration::from_secs(10), join_all(requests))
        .await
        .expect("answers within 10 s")
}

fn sorted_calls(calls: &Mutex<Vec<Vec<String>>>) -> Vec<Vec<String>> {
    let mut calls = calls.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for call in &mut calls {
        call.sort();
    }
    calls.sort_by_key(Vec::len);
    calls
}

#[tokio::test]
async fn concurrent_distinct_requests_share_one_upstream_call() {
    let (upstream, calls) = provider().await;
    let ea = adapter(&upstream, 10, &[]).await;
    let coins = ["ETH", "BTC", "LINK", "DOT", "SOL"];
    let answers = ask_all(&ea, &coins).await;
    for (coin, answer) in coins.iter().zip(&answers) {
        assert_eq!(answer.status, 200, "{coin}: {:?}", answer.body);
        assert_eq!(answer.body["jobRunID"], *coin);
        assert_eq!(answer.body["result"], json!(price_of(coin)), "{coin}");
    }
    assert_eq!(upstream.hits(), 1);
    let mut expected: Vec<String> = coins.iter().map(|c| (*c).to_owned()).collect();
    expected.sort();
    assert_eq!(sorted_calls(&calls), vec![expected]);

    // Each answer is cached under its own parameters.
    let again = ea.request(json!({"data": {"coin": "LINK"}})).await;
    assert_eq!(again.body["result"], json!(price_of("LINK")));
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn a_full_batch_is_sent_and_the_rest_goes_in_the_next() {
    let (upstream, calls) = provider().await;
    let ea = adapter(&upstream, 3, &[]).await;
    let coins = ["ETH", "BTC", "LINK", "DOT"];
    let answers = ask_all(&ea, &coins).await;
    for (coin, answer) in coins.iter().zip(&answers) {
        assert_eq!(answer.body["result"], json!(price_of(coin)), "{coin}");
    }
    assert_eq!(upstream.hits(), 2);
    let sizes: Vec<usize> = sorted_calls(&calls).iter().map(Vec::len).collect();
    assert_eq!(sizes, [1, 3]);
}

#[tokio::test]
async fn a_missing_entry_fails_only_its_caller() {
    let (upstream, _calls) = provider().await;
    let ea = adapter(&upstream, 10, &[]).await;
    let answers = ask_all(&ea, &["ETH", "NONE", "BTC"]).await;
    assert_eq!(answers[0].body["result"], json!(price_of("ETH")));
    assert_eq!(answers[2].body["result"], json!(price_of("BTC")));
    let missing = &answers[1];
    assert_eq!(missing.status, 502, "{:?}", missing.body);
    assert_eq!(missing.body["error"]["name"], "AdapterDataProviderError");
    let message = missing.body["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("no entry") && message.contains("NONE"),
        "{message}"
    );
    assert_eq!(upstream.hits(), 1);

    // The error was not cached: asking again goes upstream again.
    let again = ea.request(json!({"data": {"coin": "NONE"}})).await;
    assert_eq!(again.status, 502);
    assert_eq!(upstream.hits(), 2);
}

#[tokio::test]
async fn an_upstream_error_fails_every_caller_of_the_batch() {
    let (upstream, _calls) = provider().await;
    let ea = adapter(&upstream, 10, &[("RETRY", "0")]).await;
    let answers = ask_all(&ea, &["ETH", "DOWN", "BTC"]).await;
    for answer in &answers {
        assert_eq!(answer.status, 502, "{:?}", answer.body);
        assert_eq!(answer.body["statusCode"], 502);
        assert_eq!(answer.body["providerStatusCode"], 503);
        assert_eq!(answer.body["error"]["message"], "maintenance");
    }
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn identical_requests_are_coalesced_before_batching() {
    let (upstream, calls) = provider().await;
    let ea = adapter(&upstream, 10, &[]).await;
    let answers = ask_all(&ea, &["ETH", "ETH", "BTC", "ETH"]).await;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
    assert_eq!(answers[3].body["result"], json!(price_of("ETH")));
    assert_eq!(upstream.hits(), 1);
    assert_eq!(sorted_calls(&calls), vec![vec!["BTC", "ETH"]]);
}

#[tokio::test]
async fn a_batch_takes_one_rate_limit_permit() {
    let (upstream, _calls) = provider().await;
    // With one permit per request, 1/s would spread these over four seconds and several
    // upstream calls; one permit per batch sends them together at once.
    let ea = adapter(&upstream, 10, &[("RATE_LIMIT_CAPACITY_SECOND", "1")]).await;
    let coins = ["ETH", "BTC", "LINK", "DOT"];
    let answers = ask_all(&ea, &coins).await;
    for (coin, answer) in coins.iter().zip(&answers) {
        assert_eq!(answer.body["result"], json!(price_of(coin)), "{coin}");
    }
    assert_eq!(upstream.hits(), 1);
}

#[test]
fn batch_window_is_bounded_and_named_in_errors() {
    let config = Config::from_vars([("BATCH_WINDOW_MS", "20")]).expect("valid");
    assert_eq!(config.batch_window, Duration::from_millis(20));
    assert_eq!(
        Config::default().batch_window,
        Duration::from_millis(5),
        "default"
    );
    for bad in ["5000", "-1", "soon"] {
        let error = Config::from_vars([("BATCH_WINDOW_MS", bad)]).expect_err(bad);
        assert_eq!(error.variable(), "BATCH_WINDOW_MS");
    }
}
