//! No secret reaches a log line or `Debug` output: a full run at `trace`, with every
//! secret an adapter holds, through success, upstream errors and retries, timeouts, an
//! unreachable provider, async PATCHes, streaming connects, failures and reconnects, and a
//! Redis that does not start — then the captured logs are searched for each secret.
//!
//! Its own test binary: the log capture is process-wide.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use offchain_adapter::testing::{
    MockUpstream, NodeReceiver, TestAdapter, capture_logs, test_config, unreachable_url,
};
use offchain_adapter::{
    Adapter, AdapterError, Config, HttpEndpoint, Output, StreamEndpoint, StreamSettings,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const QUERY_KEY: &str = "query-key-6f1d";
const HEADER_KEY: &str = "header-key-9a2c";
const USERINFO_PASSWORD: &str = "userinfo-pw-3b7e";
const BRIDGE_TOKEN: &str = "bridge-token-c40f";
const REDIS_PASSWORD: &str = "redis-pw-81d5";
const WS_TOKEN: &str = "ws-token-52aa";

const SECRETS: [&str; 6] = [
    QUERY_KEY,
    HEADER_KEY,
    USERINFO_PASSWORD,
    BRIDGE_TOKEN,
    REDIS_PASSWORD,
    WS_TOKEN,
];

#[derive(Deserialize, Serialize)]
struct Coin {
    coin: String,
}

/// The key in the query (as many providers want it) and in a header.
struct Price {
    url: String,
    key: String,
}

impl HttpEndpoint for Price {
    type Params = Coin;

    fn request(&self, http: &reqwest::Client, p: &Coin) -> reqwest::RequestBuilder {
        http.get(format!("{}/api", self.url))
            .query(&[("apikey", self.key.as_str()), ("coin", &p.coin)])
            .header("X-Api-Key", HEADER_KEY)
    }

    fn parse(&self, _p: &Coin, body: Value) -> Result<Output, AdapterError> {
        Ok(Output::new(body["price"].clone()))
    }
}

struct Ticker;

impl StreamEndpoint for Ticker {
    type Params = Coin;

    fn subscribe(&self, p: &Coin) -> String {
        json!({"op": "subscribe", "coin": p.coin}).to_string()
    }

    fn unsubscribe(&self, p: &Coin) -> String {
        json!({"op": "unsubscribe", "coin": p.coin}).to_string()
    }

    fn handle(&self, message: &str) -> Vec<(Coin, Output)> {
        let value: Value = serde_json::from_str(message).unwrap_or(Value::Null);
        match (value["coin"].as_str(), value.get("price")) {
            (Some(coin), Some(price)) => vec![(
                Coin {
                    coin: coin.to_owned(),
                },
                Output::new(price.clone()),
            )],
            _ => Vec::new(),
        }
    }
}

/// `ETH` → a price, `DOWN` → 500, `SLOW` → a price after 2 s; 401 without both keys.
async fn provider() -> MockUpstream {
    let api = get(|uri: Uri, headers: HeaderMap| async move {
        let query: std::collections::HashMap<&str, &str> = uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .collect();
        let keyed = query.get("apikey") == Some(&QUERY_KEY)
            && headers.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(HEADER_KEY);
        if !keyed {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        match query.get("coin").copied() {
            Some("DOWN") => (StatusCode::INTERNAL_SERVER_ERROR, "provider down").into_response(),
            Some("SLOW") => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                axum::Json(json!({"price": 2})).into_response()
            }
            _ => axum::Json(json!({"price": 1})).into_response(),
        }
    });
    MockUpstream::start(Router::new().route("/api", api)).await
}

/// A WebSocket provider at `/stream?token=…` that answers each subscribe with a price and
/// then stays silent, so the adapter reconnects after `WS_UNRESPONSIVE_TIMEOUT_MS`.
async fn ws_provider() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut socket) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                while let Some(Ok(frame)) = socket.next().await {
                    if let Message::Text(text) = frame {
                        let request: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                        if request["op"] == "subscribe" {
                            let push = json!({"coin": request["coin"], "price": 3});
                            let _ = socket.send(Message::text(push.to_string())).await;
                        }
                    }
                }
            });
        }
    });
    format!("ws://{addr}/stream?token={WS_TOKEN}")
}

#[tokio::test]
async fn no_secret_reaches_the_logs_of_a_full_run() {
    let logs = capture_logs();
    let upstream = provider().await;
    let mut node = NodeReceiver::start().await;
    let ws_url = ws_provider().await;
    let dead_ws = format!(
        "{}/stream?token={WS_TOKEN}",
        unreachable_url().await.replace("http", "ws")
    );
    let dead_upstream = unreachable_url()
        .await
        .replace("http://", &format!("http://user:{USERINFO_PASSWORD}@"));
    let redis_url = format!("redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0");
    let vars = [
        ("API_KEY", QUERY_KEY),
        ("API_TIMEOUT", "500"),
        ("RETRY", "1"),
        ("ASYNC_AFTER_MS", "100"),
        ("ASYNC_ALLOWED_ORIGINS", node.origin()),
        ("BRIDGE_RESPONSE_TOKEN", BRIDGE_TOKEN),
        ("CACHE_REDIS_URL", redis_url.as_str()),
        ("WS_API_URL", ws_url.as_str()),
        ("WS_UNRESPONSIVE_TIMEOUT_MS", "300"),
        ("LOG_LEVEL", "trace"),
    ];
    let config = test_config(&vars);
    let key = config.required("API_KEY").unwrap_or_default();
    let stream_settings = |url: &str| StreamSettings {
        first_value_timeout: Duration::from_millis(500),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        ..StreamSettings::new(url)
    };
    let adapter = Adapter::new("secrets")
        .http_endpoint(
            &["price"],
            Price {
                url: upstream.url().to_owned(),
                key: key.clone(),
            },
        )
        .http_endpoint(
            &["dead"],
            Price {
                url: dead_upstream,
                key,
            },
        )
        .stream_endpoint(&["ticker"], Ticker, stream_settings(&ws_url))
        .stream_endpoint(&["deadticker"], Ticker, stream_settings(&dead_ws))
        .default_endpoint("price");
    let ea = TestAdapter::start(adapter, config).await;

    let ask = |endpoint: &str, coin: &str| json!({"endpoint": endpoint, "data": {"coin": coin}});
    let success = ea.request(ask("price", "ETH")).await;
    assert_eq!(success.status, 200, "{}", success.body);
    assert_eq!(ea.request(ask("price", "DOWN")).await.status, 502);
    assert_eq!(ea.request(ask("price", "SLOW")).await.status, 504);
    assert_eq!(ea.request(ask("dead", "ETH")).await.status, 502);
    let streamed = ea.request(ask("ticker", "ETH")).await;
    assert_eq!(streamed.status, 200, "{}", streamed.body);
    assert_eq!(ea.request(ask("deadticker", "ETH")).await.status, 504);
    let mut deferred = ask("price", "SLOW");
    deferred["data"]["coin"] = json!("SLOW");
    deferred["responseURL"] = json!(node.url("/v2/runs/run-1"));
    // Past API_TIMEOUT, so the PATCH carries the 504 error.
    let pending = ea.request(deferred).await;
    assert_eq!(pending.body["pending"], true, "{}", pending.body);
    let patch = node.next_patch(Duration::from_secs(5)).await;
    assert_eq!(
        patch.authorization,
        Some(format!("Bearer {BRIDGE_TOKEN}")),
        "the token went to the node"
    );
    // Long enough for the silent stream to be dropped and reconnected.
    tokio::time::sleep(Duration::from_millis(800)).await;

    let redis_config = test_config(&[
        ("CACHE_TYPE", "redis"),
        ("CACHE_REDIS_URL", &{
            format!(
                "redis://:{REDIS_PASSWORD}@{}",
                unreachable_url().await.trim_start_matches("http://")
            )
        }),
    ]);
    let failed = Adapter::new("secrets-redis")
        .routers(&redis_config)
        .await
        .err()
        .map(|error| error.to_string())
        .unwrap_or_default();
    assert!(failed.contains("CACHE_REDIS_URL"), "{failed}");
    assert!(!failed.contains(REDIS_PASSWORD), "{failed}");

    let text = logs.text();
    // The run really logged what it went through.
    for expected in [
        "upstream call failed; retrying",
        "stream connected",
        "stream connection failed",
        "async answer delivered",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    assert!(
        text.matches("stream connected").count() >= 2,
        "no reconnect in:\n{text}"
    );
    // URLs appear by origin.
    let provider_origin = format!("\"upstream\":\"{}\"", upstream.url());
    assert!(
        text.contains(&provider_origin),
        "no {provider_origin} in:\n{text}"
    );
    let node_origin = format!("\"node\":\"{}\"", node.origin());
    assert!(text.contains(&node_origin), "no {node_origin} in:\n{text}");
    for secret in SECRETS {
        if let Some(line) = text.lines().find(|line| line.contains(secret)) {
            panic!("secret {secret:?} logged: {line}");
        }
    }
}

#[test]
fn debug_output_redacts_secrets() {
    let config = Config::from_vars([
        ("API_KEY", QUERY_KEY),
        ("PROVIDER_SECRET", HEADER_KEY),
        ("DB_PASSWORD", USERINFO_PASSWORD),
        ("BRIDGE_RESPONSE_TOKEN", BRIDGE_TOKEN),
        (
            "CACHE_REDIS_URL",
            &format!("redis://:{REDIS_PASSWORD}@cache:6379/0"),
        ),
        (
            "WS_API_URL",
            &format!("wss://stream.example/v1?token={WS_TOKEN}"),
        ),
        ("EA_PORT", "8181"),
    ])
    .unwrap_or_else(|e| panic!("valid: {e}"));
    let debug = format!("{config:?}");
    for secret in SECRETS {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    let pretty = format!("{config:#?}");
    for secret in SECRETS {
        assert!(!pretty.contains(secret), "{secret} in {pretty}");
    }
    let settings = StreamSettings::new(format!("wss://stream.example/v1?token={WS_TOKEN}"));
    let shown = format!("{settings:?}");
    assert!(!shown.contains(WS_TOKEN), "{shown}");
    assert!(shown.contains("wss://stream.example"), "{shown}");
    // Still useful: names, plain values, where URLs point.
    for shown in [
        "API_KEY",
        "8181",
        "wss://stream.example",
        "redis://cache:6379",
    ] {
        assert!(debug.contains(shown), "{shown} missing from {debug}");
    }
}
