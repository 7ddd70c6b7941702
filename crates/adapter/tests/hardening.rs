//! Hardening of the HTTP server: slow clients, connection cap, panics in endpoint code,
//! protocol details of errors, parameter normalization and duration bounds (what a request
//! costs in logs is in `logging.rs`).
//!
//! The slow-client tests speak raw HTTP/1.1 over `TcpStream`s, since an HTTP client library
//! never stalls halfway through its own request.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::Price;
use offchain_adapter::testing::{MockUpstream, TestAdapter, test_config};
use offchain_adapter::{Adapter, AdapterError, Config, Context, Endpoint, Output};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for something that must happen; far above every shortened timeout.
const WITHIN: Duration = Duration::from_secs(5);

async fn provider() -> MockUpstream {
    MockUpstream::start(Router::new().route(
        "/api",
        get(|| async { axum::Json(json!({"price": 467.85})) }),
    ))
    .await
}

async fn start(vars: &[(&str, &str)]) -> (MockUpstream, TestAdapter) {
    let upstream = provider().await;
    let adapter = Adapter::new("hardening")
        .http_endpoint(
            &["price"],
            Price {
                url: upstream.url().to_owned(),
            },
        )
        .endpoint(&["panics"], Panics)
        .default_endpoint("price");
    let ea = TestAdapter::start(adapter, test_config(vars)).await;
    (upstream, ea)
}

/// One HTTP/1.1 answer read off a raw connection.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    head: String,
    body: Value,
}

/// Reads one response (headers, then `Content-Length` bytes); `None` when the connection
/// closes first.
async fn read_response(stream: &mut TcpStream) -> Option<RawResponse> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let body = serde_json::from_slice(&buffer[end + 4..end + 4 + length])
                    .unwrap_or(Value::Null);
                return Some(RawResponse { status, head, body });
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The next response, which must arrive `WITHIN`; `what` says which in the panic message.
async fn answer_within(stream: &mut TcpStream, what: &str) -> RawResponse {
    tokio::time::timeout(WITHIN, read_response(stream))
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no answer: {what}"))
}

/// Reads until the server closes the connection; panics when it stays open `WITHIN`.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let closed = tokio::time::timeout(WITHIN, async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server kept the connection open; received {:?}",
        String::from_utf8_lossy(&received)
    );
    received
}

fn post(body: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: ea\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

async fn connect(ea: &TestAdapter) -> TcpStream {
    TcpStream::connect(ea.addr())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the adapter: {e}"))
}

async fn send(stream: &mut TcpStream, bytes: &str) {
    stream
        .write_all(bytes.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("cannot write to the adapter: {e}"));
}

// ---------------------------------------------------------------------------------------
// Item 16: slow clients cannot pin the server.

#[tokio::test]
async fn stalled_headers_are_disconnected() {
    let (_upstream, ea) = start(&[("EA_HEADER_TIMEOUT_MS", "200")]).await;
    let mut stream = connect(&ea).await;
    send(&mut stream, "POST / HTTP/1.1\r\nHost: ea\r\nContent-Le").await;
    let received = read_until_closed(&mut stream).await;
    assert!(
        !received.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_disconnected() {
    let (_upstream, ea) = start(&[("EA_HEADER_TIMEOUT_MS", "200")]).await;
    let mut stream = connect(&ea).await;
    read_until_closed(&mut stream).await;
}

#[tokio::test]
async fn stalled_body_is_answered_408_and_disconnected() {
    let (upstream, ea) = start(&[("EA_BODY_TIMEOUT_MS", "200")]).await;
    let mut stream = connect(&ea).await;
    send(
        &mut stream,
        "POST / HTTP/1.1\r\nHost: ea\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n{\"id\": \"slow\", ",
    )
    .await;
    let response = answer_within(&mut stream, "a stalled body").await;
    assert_eq!(response.status, 408, "{response:?}");
    assert!(
        response
            .head
            .to_ascii_lowercase()
            .contains("connection: close"),
        "{response:?}"
    );
    assert_eq!(response.body["statusCode"], 408);
    assert_eq!(response.body["status"], "errored");
    assert_eq!(response.body["error"]["name"], "AdapterInputError");
    read_until_closed(&mut stream).await;
    assert_eq!(upstream.hits(), 0);
}

/// Routes that never read a body (404, 405, health) do not wait for a stalled one either.
#[tokio::test]
async fn stalled_bodies_on_other_routes_are_disconnected() {
    let (_upstream, ea) = start(&[
        ("EA_BODY_TIMEOUT_MS", "200"),
        ("EA_HEADER_TIMEOUT_MS", "200"),
    ])
    .await;
    for head in ["POST /nowhere", "POST /health", "GET /health", "PUT /"] {
        let mut stream = connect(&ea).await;
        let request = format!("{head} HTTP/1.1\r\nHost: ea\r\nContent-Length: 60\r\n\r\n{{\"id\"");
        send(&mut stream, &request).await;
        read_until_closed(&mut stream).await;
    }
}

/// A body that arrives in pieces, each well within the timeout, is still answered.
#[tokio::test]
async fn a_body_in_pieces_within_the_timeout_is_answered() {
    let (_upstream, ea) = start(&[("EA_BODY_TIMEOUT_MS", "2000")]).await;
    let mut stream = connect(&ea).await;
    let request = post(r#"{"id": "pieces", "data": {"coin": "ETH"}}"#);
    let (head, body) = request.split_at(request.len() - 20);
    send(&mut stream, head).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    send(&mut stream, body).await;
    let response = answer_within(&mut stream, "a body in pieces").await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body["jobRunID"], "pieces");
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let (_upstream, ea) = start(&[("EA_MAX_CONNECTIONS", "1")]).await;
    let health = "GET /health HTTP/1.1\r\nHost: ea\r\n\r\n";
    let mut first = connect(&ea).await;
    send(&mut first, health).await;
    assert_eq!(answer_within(&mut first, "first").await.status, 200);

    // The kernel completes the handshake (backlog), but the adapter does not take it on.
    let mut second = connect(&ea).await;
    send(&mut second, health).await;
    let early = tokio::time::timeout(Duration::from_millis(300), read_response(&mut second)).await;
    assert!(
        early.is_err(),
        "a connection over the cap was served: {early:?}"
    );

    drop(first);
    let answered = answer_within(&mut second, "once the first closed").await;
    assert_eq!(answered.status, 200);
}

// ---------------------------------------------------------------------------------------
// Item 17: a panic in endpoint code is a JSON 500, and the connection stays usable.

#[derive(Deserialize, Serialize)]
struct PanicParams {
    at: String,
}

/// Panics in `validate` or `fetch` on demand, else answers 1.
struct Panics;

impl Endpoint for Panics {
    type Params = PanicParams;

    fn validate(&self, params: &PanicParams) -> Result<(), AdapterError> {
        if params.at == "validate" {
            panic!("validate blew up with secret-ish detail");
        }
        Ok(())
    }

    async fn fetch(&self, _context: &Context, params: PanicParams) -> Result<Output, AdapterError> {
        if params.at == "fetch" {
            panic!("fetch blew up with secret-ish detail");
        }
        Ok(Output::new(1))
    }
}

#[tokio::test]
async fn a_panicking_endpoint_answers_500_and_the_connection_stays_usable() {
    let (_upstream, ea) = start(&[]).await;
    let mut stream = connect(&ea).await;
    for at in ["fetch", "validate", "fetch"] {
        let body = json!({"id": at, "endpoint": "panics", "data": {"at": at}}).to_string();
        send(&mut stream, &post(&body)).await;
        let response = answer_within(
            &mut stream,
            &format!("the connection closed after a panic in `{at}`"),
        )
        .await;
        assert_eq!(response.status, 500, "{response:?}");
        assert_eq!(response.body["statusCode"], 500);
        assert_eq!(response.body["jobRunID"], at);
        assert_eq!(response.body["error"]["name"], "AdapterError");
        let message = response.body["error"]["message"].as_str().unwrap_or("");
        assert!(!message.contains("secret-ish"), "{message}");

        // The same connection then answers the next request.
        let next = json!({"id": "after", "endpoint": "panics", "data": {"at": "nowhere"}});
        send(&mut stream, &post(&next.to_string())).await;
        let response =
            answer_within(&mut stream, &format!("no answer after the panic in `{at}`")).await;
        assert_eq!(response.status, 200, "{response:?}");
        assert_eq!(response.body["result"], 1);
    }
}

// ---------------------------------------------------------------------------------------
// Item 18: protocol details.

#[tokio::test]
async fn job_run_id_is_echoed_when_data_is_malformed() {
    let (_upstream, ea) = start(&[]).await;
    for body in [
        json!({"id": "x", "data": "not-an-object"}),
        json!({"id": "x", "data": [1, 2]}),
        json!({"id": "x", "endpoint": 5, "data": {"coin": "ETH"}}),
        json!({"id": "x", "responseURL": 7, "data": {"coin": "ETH"}}),
    ] {
        let r = ea.request(body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert_eq!(r.body["statusCode"], 400);
        assert_eq!(r.body["jobRunID"], "x", "{body}: {:?}", r.body);
        assert_eq!(r.body["error"]["name"], "AdapterInputError");
    }
}

#[tokio::test]
async fn wrong_methods_are_json_405() {
    let (_upstream, ea) = start(&[]).await;
    let client = reqwest::Client::new();
    for (method, path) in [
        (reqwest::Method::GET, "/"),
        (reqwest::Method::DELETE, "/"),
        (reqwest::Method::PUT, "/"),
        (reqwest::Method::POST, "/health"),
        (reqwest::Method::DELETE, "/health"),
    ] {
        let response = client
            .request(method.clone(), format!("{}{path}", ea.url()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert_eq!(response.status().as_u16(), 405, "{method} {path}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert_eq!(
            content_type.as_deref(),
            Some("application/json"),
            "{method} {path}"
        );
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(body["statusCode"], 405, "{method} {path}: {body}");
        assert_eq!(body["status"], "errored");
        assert_eq!(body["error"]["name"], "AdapterInputError");
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(method.as_str()), "{message}");
    }
}

#[tokio::test]
async fn non_string_data_endpoint_is_400() {
    let (upstream, ea) = start(&[]).await;
    for endpoint in [
        json!(5),
        json!(true),
        json!({"name": "price"}),
        json!(["price"]),
    ] {
        let body = json!({"id": "e", "data": {"endpoint": endpoint, "coin": "ETH"}});
        let r = ea.request(body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert_eq!(r.body["jobRunID"], "e");
        let message = r.body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains("endpoint"), "{message}");
    }
    assert_eq!(upstream.hits(), 0);
}

/// Sends `body` and returns the status, the raw body and its JSON.
async fn post_raw(ea: &TestAdapter, body: &Value) -> (u16, usize, Value) {
    let response = reqwest::Client::new()
        .post(ea.url())
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("adapter did not answer: {e}"));
    let status = response.status().as_u16();
    let bytes = response
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("body could not be read: {e}"));
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, bytes.len(), json)
}

#[tokio::test]
async fn long_unknown_endpoint_names_are_echoed_as_a_short_prefix() {
    // Room for the name in the body and in one parameter, so the name itself is judged.
    let (upstream, ea) = start(&[
        ("MAX_PAYLOAD_SIZE_LIMIT", "1000000"),
        ("MAX_PARAM_LENGTH", "1000000"),
    ])
    .await;
    // 102 000 bytes of a 3-byte character: 64 bytes is not on a character boundary.
    let name = "€".repeat(34_000);
    for body in [
        json!({"id": "n", "endpoint": name, "data": {"coin": "ETH"}}),
        json!({"id": "n", "data": {"endpoint": name, "coin": "ETH"}}),
    ] {
        let (status, length, answer) = post_raw(&ea, &body).await;
        assert_eq!(status, 404, "{answer}");
        assert!(length < 1_000, "the answer has {length} bytes");
        assert_eq!(answer["jobRunID"], "n");
        assert_eq!(answer["statusCode"], 404);
        let message = answer["error"]["message"].as_str().unwrap_or("");
        assert_eq!(message, format!("unknown endpoint `{}…`", "€".repeat(21)));
    }
    // A short unknown name is still echoed whole.
    let (status, _, answer) = post_raw(&ea, &json!({"endpoint": "volume"})).await;
    assert_eq!(status, 404);
    assert_eq!(answer["error"]["message"], "unknown endpoint `volume`");

    // An unknown path too (hyper refuses URIs of 64 KiB and more itself).
    let path = "x".repeat(60_000);
    let r = ea.get(&format!("/{path}")).await;
    assert_eq!(r.status, 404, "{:?}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(message.len() < 100, "{} bytes", message.len());
    assert_eq!(message, format!("unknown endpoint `/{}…`", "x".repeat(63)));
    assert_eq!(upstream.hits(), 0);
}

#[derive(Deserialize, Serialize)]
struct PairParams {
    #[serde(
        alias = "base",
        deserialize_with = "offchain_adapter::normalize::uppercase"
    )]
    coin: String,
    #[serde(
        default = "usd",
        deserialize_with = "offchain_adapter::normalize::uppercase"
    )]
    market: String,
}

fn usd() -> String {
    "USD".to_owned()
}

/// Records the parameters each upstream call was made with.
struct Pair {
    calls: Arc<Mutex<Vec<(String, String)>>>,
}

impl Endpoint for Pair {
    type Params = PairParams;

    async fn fetch(&self, _context: &Context, params: PairParams) -> Result<Output, AdapterError> {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push((params.coin.clone(), params.market.clone()));
        }
        Ok(Output::new(format!("{}/{}", params.coin, params.market)))
    }
}

#[tokio::test]
async fn normalized_parameters_share_one_cache_entry_and_one_upstream_call() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let adapter = Adapter::new("normalize").endpoint(
        &["pair"],
        Pair {
            calls: calls.clone(),
        },
    );
    let ea = TestAdapter::start(adapter, test_config(&[])).await;
    for data in [
        json!({"coin": "eth", "market": "usd"}),
        json!({"coin": "ETH", "market": "USD"}),
        json!({"base": "Eth"}),
    ] {
        let r = ea
            .request(json!({"endpoint": "pair", "data": data.clone()}))
            .await;
        assert_eq!(r.status, 200, "{data}: {:?}", r.body);
        assert_eq!(r.body["result"], "ETH/USD");
    }
    let calls = calls.lock().map(|c| c.clone()).unwrap_or_default();
    assert_eq!(calls, vec![("ETH".to_owned(), "USD".to_owned())]);
}

#[test]
fn durations_over_their_bound_are_refused_at_start_up() {
    for variable in [
        "CACHE_MAX_AGE",
        "API_TIMEOUT",
        "ASYNC_AFTER_MS",
        "CACHE_REFRESH_WINDOW_MS",
        "EA_HEADER_TIMEOUT_MS",
        "EA_BODY_TIMEOUT_MS",
    ] {
        for value in ["99999999999999999", "18446744073709551615", "604800001"] {
            let error = Config::from_vars([(variable, value)])
                .err()
                .unwrap_or_else(|| panic!("{variable}={value} was accepted"));
            assert_eq!(error.variable(), variable);
            assert!(error.to_string().contains("at most"), "{error}");
        }
        assert!(
            Config::from_vars([(variable, "604800000")]).is_ok(),
            "{variable} at its bound"
        );
    }
    let error = Config::from_vars([("EA_MAX_CONNECTIONS", "0")])
        .err()
        .map(|e| e.variable().to_owned());
    assert_eq!(error.as_deref(), Some("EA_MAX_CONNECTIONS"));
}

#[test]
fn slow_client_settings_are_read() {
    let config = Config::default();
    assert_eq!(config.header_timeout, Duration::from_secs(10));
    assert_eq!(config.body_timeout, Duration::from_secs(10));
    assert_eq!(config.max_connections, 10_000);
    let config = Config::from_vars([
        ("EA_HEADER_TIMEOUT_MS", "1500"),
        ("EA_BODY_TIMEOUT_MS", "2500"),
        ("EA_MAX_CONNECTIONS", "7"),
    ])
    .unwrap_or_else(|e| panic!("valid: {e}"));
    assert_eq!(config.header_timeout, Duration::from_millis(1500));
    assert_eq!(config.body_timeout, Duration::from_millis(2500));
    assert_eq!(config.max_connections, 7);
}
