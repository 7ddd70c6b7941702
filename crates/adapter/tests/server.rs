//! The framework over HTTP: request shapes, error classes, cache, upstream failures, body
//! limit, and random bodies.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use offchain_adapter::testing::{
    MockUpstream, TestAdapter, TestResponse, test_config, unreachable_url,
};
use offchain_adapter::{Adapter, AdapterError, Context, Endpoint, HttpEndpoint, Output};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Deserialize, Serialize)]
struct PriceParams {
    #[serde(alias = "base")]
    coin: String,
    #[serde(alias = "quote", default = "usd")]
    market: String,
}

fn usd() -> String {
    "USD".to_owned()
}

struct Price {
    url: String,
}

impl HttpEndpoint for Price {
    type Params = PriceParams;

    fn validate(&self, params: &PriceParams) -> Result<(), AdapterError> {
        AdapterError::check_allowed("market", &params.market, &["USD", "EUR"])
    }

    fn request(&self, http: &reqwest::Client, params: &PriceParams) -> reqwest::RequestBuilder {
        http.get(format!("{}/api", self.url))
            .query(&[("coin", &params.coin), ("market", &params.market)])
    }

    fn parse(&self, _params: &PriceParams, body: Value) -> Result<Output, AdapterError> {
        let price = body.get("price").cloned().unwrap_or(Value::Null);
        match body {
            Value::Object(data) => Ok(Output::with_data(price, data)),
            _ => Err(AdapterError::Internal("not an object".into())),
        }
    }
}

#[derive(Deserialize, Serialize)]
struct FailParams {
    kind: String,
}

/// Answers every error class on demand.
struct Fail;

impl Endpoint for Fail {
    type Params = FailParams;

    async fn fetch(&self, _context: &Context, params: FailParams) -> Result<Output, AdapterError> {
        Err(match params.kind.as_str() {
            "rate" => AdapterError::RateLimited("too many requests".into()),
            "provider" => AdapterError::Provider {
                provider_status_code: Some(418),
                message: "teapot".into(),
            },
            "connection" => AdapterError::Connection("refused".into()),
            "timeout" => AdapterError::Timeout("slow".into()),
            _ => AdapterError::Internal("bug".into()),
        })
    }
}

fn adapter(upstream_url: &str) -> Adapter {
    Adapter::new("test")
        .http_endpoint(
            &["price", "Crypto"],
            Price {
                url: upstream_url.to_owned(),
            },
        )
        .endpoint(&["fail"], Fail)
        .default_endpoint("price")
}

fn query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A provider at `/api`: `coin=DOWN` → 503 while `down` is set, `coin=SLOW` → 2 s delay,
/// else a price after 50 ms (long enough for concurrent requests to overlap).
async fn provider(down: Arc<AtomicBool>) -> MockUpstream {
    let api = get(move |uri: Uri| {
        let down = down.clone();
        async move {
            let q = query(&uri);
            let coin = q.get("coin").cloned().unwrap_or_default();
            if coin == "DOWN" && down.load(Ordering::SeqCst) {
                let body = json!({"error": {"message": "The endpoint is under maintenance."}});
                return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
            }
            let delay = if coin == "SLOW" { 2000 } else { 50 };
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let body = json!({"price": 467.85, "symbol": format!("{coin}-{}", q.get("market").cloned().unwrap_or_default())});
            axum::Json(body).into_response()
        }
    });
    MockUpstream::start(Router::new().route("/api", api)).await
}

async fn start(vars: &[(&str, &str)]) -> (MockUpstream, TestAdapter) {
    let upstream = provider(Arc::new(AtomicBool::new(true))).await;
    let ea = TestAdapter::start(adapter(upstream.url()), test_config(vars)).await;
    (upstream, ea)
}

/// Every non-200 answer: JSON, HTTP status = statusCode, error `{name, message}`.
fn assert_error(response: &TestResponse, status: u16, name: &str) {
    assert_eq!(response.status, status, "{:?}", response.body);
    assert_eq!(response.body["statusCode"], status);
    assert_eq!(response.body["status"], "errored");
    assert_eq!(response.body["error"]["name"], name, "{:?}", response.body);
    assert!(response.body["error"]["message"].is_string());
    assert_eq!(response.body["pending"], false);
    assert_eq!(response.body["data"], json!({}));
}

#[tokio::test]
async fn success_has_the_protocol_shape() {
    let (_upstream, ea) = start(&[]).await;
    let r = ea
        .request(json!({"id": "278c97ff", "data": {"coin": "ETH", "market": "USD"}}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    let b = &r.body;
    assert_eq!(b["jobRunID"], "278c97ff");
    assert_eq!(b["result"], 467.85);
    assert_eq!(b["data"]["result"], 467.85);
    assert_eq!(b["data"]["symbol"], "ETH-USD");
    assert_eq!(b["statusCode"], 200);
    assert_eq!(b["status"], "completed");
    assert_eq!(b["error"], Value::Null);
    assert_eq!(b["pending"], false);
    assert_eq!(b["meta"], json!({}));
    let requested = b["timestamps"]["providerDataRequestedUnixMs"]
        .as_u64()
        .unwrap_or(0);
    let received = b["timestamps"]["providerDataReceivedUnixMs"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        requested > 1_600_000_000_000 && received >= requested,
        "{b}"
    );
}

/// A cached answer is rendered once and reused: every hit must still carry its own
/// request's id (escaped) and otherwise the same answer as the first.
#[tokio::test]
async fn cache_hits_carry_their_own_job_run_id() {
    let (upstream, ea) = start(&[]).await;
    let first = ea
        .request(json!({"id": "first", "data": {"coin": "ETH"}}))
        .await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    for id in ["second", "with \"quotes\" and \\ and \n", "ünïcode ✓", ""] {
        let hit = ea.request(json!({"id": id, "data": {"coin": "ETH"}})).await;
        assert_eq!(hit.status, 200, "{:?}", hit.body);
        assert_eq!(hit.body["jobRunID"], id);
        let mut without_id = hit.body.clone();
        let mut first_without_id = first.body.clone();
        without_id["jobRunID"] = Value::Null;
        first_without_id["jobRunID"] = Value::Null;
        assert_eq!(without_id, first_without_id);
    }
    assert_eq!(upstream.hits(), 1, "every later request is a cache hit");
}

#[tokio::test]
async fn every_request_shape_is_answered() {
    let (_upstream, ea) = start(&[]).await;
    let shapes = [
        (json!({"id": "a", "data": {"coin": "ETH"}}), "a"),
        (
            json!({"id": "b", "data": {"coin": "ETH"}, "responseURL": "http://node/v2/runs/b"}),
            "b",
        ),
        (
            json!({"id": "c", "data": {"coin": "ETH"}, "meta": {"latestAnswer": 1},
                "responseURL": "http://node/v2/resume/6b0e9a0e-8f0b-4a4e-9d5c-5e1f1c7f6c11",
                "unknownKey": true}),
            "c",
        ),
        (json!({"endpoint": "CRYPTO", "data": {"base": "ETH"}}), "1"),
        (
            json!({"data": {"endpoint": "price", "base": "ETH", "quote": "EUR"}}),
            "1",
        ),
    ];
    for (body, job) in shapes {
        let r = ea.request(body.clone()).await;
        assert_eq!(r.status, 200, "{body} → {:?}", r.body);
        assert_eq!(r.body["jobRunID"], job);
        assert_eq!(r.body["result"], 467.85);
    }
}

#[tokio::test]
async fn unknown_endpoint_is_404() {
    let (upstream, ea) = start(&[]).await;
    let r = ea
        .request(json!({"id": "x", "endpoint": "volume", "data": {"coin": "ETH"}}))
        .await;
    assert_error(&r, 404, "AdapterInputError");
    assert_eq!(r.body["jobRunID"], "x");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("volume")
    );
    let r = ea.get("/nowhere").await;
    assert_error(&r, 404, "AdapterInputError");
    let r = ea.get("/").await;
    assert_error(&r, 405, "AdapterInputError");
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn bad_parameters_are_400_and_named() {
    let (upstream, ea) = start(&[]).await;
    let cases = [
        (
            json!({"data": {"market": "USD"}}),
            "missing required parameter `coin`",
        ),
        (json!({"data": {"coin": 5}}), "invalid parameter `coin`"),
        (
            json!({"data": {"base": "ETH", "quote": "JPY"}}),
            "invalid parameter `market`",
        ),
    ];
    for (body, expected) in cases {
        let r = ea.request(body).await;
        assert_error(&r, 400, "AdapterInputError");
        let message = r.body["error"]["message"].as_str().unwrap_or("");
        assert!(message.starts_with(expected), "{message}");
    }
    assert_eq!(upstream.hits(), 0, "bad input never reaches the provider");
}

#[tokio::test]
async fn error_classes_keep_http_status_equal_to_status_code() {
    let (_upstream, ea) = start(&[]).await;
    let cases = [
        ("rate", 429, "AdapterRateLimitError"),
        ("provider", 502, "AdapterDataProviderError"),
        ("connection", 502, "AdapterConnectionError"),
        ("timeout", 504, "AdapterTimeoutError"),
        ("other", 500, "AdapterError"),
    ];
    for (kind, status, name) in cases {
        let r = ea
            .request(json!({"id": "e", "endpoint": "fail", "data": {"kind": kind}}))
            .await;
        assert_error(&r, status, name);
        assert_eq!(r.body["jobRunID"], "e");
    }
    let r = ea
        .request(json!({"endpoint": "fail", "data": {"kind": "provider"}}))
        .await;
    assert_eq!(r.body["providerStatusCode"], 418);
    assert_eq!(r.body["error"]["message"], "teapot");
}

#[tokio::test]
async fn upstream_error_is_502_with_provider_status_code() {
    let (_upstream, ea) = start(&[]).await;
    let r = ea.request(json!({"data": {"coin": "DOWN"}})).await;
    assert_error(&r, 502, "AdapterDataProviderError");
    assert_eq!(r.body["providerStatusCode"], 503);
    assert_eq!(
        r.body["error"]["message"],
        "The endpoint is under maintenance."
    );
}

#[tokio::test]
async fn upstream_timeout_is_504() {
    let (_upstream, ea) = start(&[("API_TIMEOUT", "200")]).await;
    let r = ea.request(json!({"data": {"coin": "SLOW"}})).await;
    assert_error(&r, 504, "AdapterTimeoutError");
}

#[tokio::test]
async fn unreachable_upstream_is_502() {
    let url = unreachable_url().await;
    let ea = TestAdapter::start(adapter(&url), test_config(&[])).await;
    let r = ea.request(json!({"data": {"coin": "ETH"}})).await;
    assert_error(&r, 502, "AdapterConnectionError");
    assert!(r.body.get("providerStatusCode").is_none());
}

#[tokio::test]
async fn identical_concurrent_requests_make_one_upstream_call() {
    let (upstream, ea) = start(&[]).await;
    let ea = Arc::new(ea);
    // Aliases and key order differ, the normalized parameters do not.
    let bodies = [
        json!({"data": {"coin": "ETH", "market": "USD"}}),
        json!({"data": {"market": "USD", "coin": "ETH"}}),
        json!({"endpoint": "crypto", "data": {"base": "ETH"}}),
        json!({"data": {"base": "ETH", "quote": "USD", "endpoint": "PRICE"}}),
    ];
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let ea = ea.clone();
            let body = bodies[i % bodies.len()].clone();
            tokio::spawn(async move { ea.request(body).await })
        })
        .collect();
    for task in tasks {
        let r = task.await.expect("request task does not panic");
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn cached_answers_expire_after_cache_max_age() {
    let (upstream, ea) = start(&[("CACHE_MAX_AGE", "300")]).await;
    let body = json!({"data": {"coin": "ETH"}});
    assert_eq!(ea.request(body.clone()).await.status, 200);
    assert_eq!(ea.request(body.clone()).await.status, 200);
    assert_eq!(upstream.hits(), 1);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(ea.request(body).await.status, 200);
    assert_eq!(upstream.hits(), 2);
}

#[tokio::test]
async fn zero_cache_max_age_disables_the_cache() {
    let (upstream, ea) = start(&[("CACHE_MAX_AGE", "0")]).await;
    for _ in 0..3 {
        assert_eq!(
            ea.request(json!({"data": {"coin": "ETH"}})).await.status,
            200
        );
    }
    assert_eq!(upstream.hits(), 3);
}

#[tokio::test]
async fn errors_are_not_cached() {
    let down = Arc::new(AtomicBool::new(true));
    let upstream = provider(down.clone()).await;
    // One upstream call per request, so the hit count shows whether the error was cached.
    let ea = TestAdapter::start(adapter(upstream.url()), test_config(&[("RETRY", "0")])).await;
    let body = json!({"data": {"coin": "DOWN"}});
    assert_eq!(ea.request(body.clone()).await.status, 502);
    down.store(false, Ordering::SeqCst);
    let r = ea.request(body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(upstream.hits(), 2);
}

#[tokio::test]
async fn oversized_body_is_413_json() {
    let (upstream, ea) = start(&[("MAX_PAYLOAD_SIZE_LIMIT", "100")]).await;
    let padding = "x".repeat(200);
    let r = ea
        .request(json!({"data": {"coin": "ETH", "padding": padding}}))
        .await;
    assert_error(&r, 413, "AdapterInputError");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("100")
    );
    let r = ea.request(json!({"data": {"coin": "ETH"}})).await;
    assert_eq!(r.status, 200, "a body under the limit passes");
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn oversized_chunked_body_is_413_json() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_upstream, ea) = start(&[("MAX_PAYLOAD_SIZE_LIMIT", "100")]).await;
    let mut stream = tokio::net::TcpStream::connect(ea.addr())
        .await
        .expect("connects");
    let chunk = "x".repeat(80);
    let request = format!(
        "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n\
         50\r\n{chunk}\r\n50\r\n{chunk}\r\n0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("writes");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"statusCode\":413"), "{answer}");
}

#[tokio::test]
async fn malformed_json_is_400_json() {
    let (_upstream, ea) = start(&[]).await;
    for body in [&b"{"[..], b"", b"[]", b"42", b"{\"data\": 5}", b"\xff\xfe"] {
        let r = ea.post_bytes(body.to_vec()).await;
        assert_error(&r, 400, "AdapterInputError");
        assert_eq!(r.body["jobRunID"], "1");
    }
}

#[tokio::test]
async fn health_is_200_json() {
    let (_upstream, ea) = start(&[]).await;
    let r = ea.get("/health").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"status": "OK"}));
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let (_upstream, ea) = start(&[]).await;
    let id = |r: &TestResponse| {
        r.headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let first = id(&ea.request(json!({"data": {"coin": "ETH"}})).await);
    let second = id(&ea.post_bytes(b"not json".to_vec()).await);
    assert!(first.is_some() && second.is_some());
    assert_ne!(first, second);
}

/// xorshift64*: deterministic, so a failing body can be reproduced from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Random bytes half the time; otherwise JSON-like token soup, which reaches the parameter
/// and endpoint code more often than pure noise does.
fn random_body(rng: &mut Rng) -> Vec<u8> {
    const TOKENS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "\"data\"",
        "\"id\"",
        "\"endpoint\"",
        "\"coin\"",
        "\"market\"",
        "\"base\"",
        "\"ETH\"",
        "\"USD\"",
        "\"crypto\"",
        "\"fail\"",
        "\"kind\"",
        "null",
        "true",
        "1e999",
        "-0",
        "\"\\u0000\"",
        "\"responseURL\"",
        "\"meta\"",
        "\"\\ud800\"",
    ];
    let len = rng.below(64);
    if rng.next().is_multiple_of(2) {
        (0..len).map(|_| rng.next() as u8).collect()
    } else {
        let mut body = String::from("{");
        for _ in 0..len {
            body.push_str(TOKENS[rng.below(TOKENS.len())]);
        }
        body.into_bytes()
    }
}

#[tokio::test]
async fn random_bodies_always_get_a_json_answer() {
    let (_upstream, ea) = start(&[]).await;
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for i in 0..3000 {
        let body = random_body(&mut rng);
        let r = ea.post_bytes(body.clone()).await;
        let shown = String::from_utf8_lossy(&body);
        assert!(r.body.is_object(), "#{i} {shown:?}: not JSON");
        assert_eq!(
            r.body["statusCode"], r.status,
            "#{i} {shown:?}: {:?}",
            r.body
        );
        if r.status != 200 {
            assert!(
                r.body["error"]["name"].is_string(),
                "#{i} {shown:?}: {:?}",
                r.body
            );
            assert!(r.body["error"]["message"].is_string(), "#{i} {shown:?}");
        }
    }
}
