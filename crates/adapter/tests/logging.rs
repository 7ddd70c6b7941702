//! What a request costs in logs at the default level: successes write nothing, errors
//! one line naming the request.
//!
//! Alone in its own test binary: `tracing` caches per call site whether anyone listens, and
//! tests running beside this one (with no subscriber) would race that cache.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use common::Price;
use offchain_adapter::Adapter;
use offchain_adapter::testing::{MockUpstream, TestAdapter, test_config};
use serde_json::{Value, json};

/// Log lines written by the subscriber under test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or(Value::String(line.to_owned())))
            .collect()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut bytes) = self.0.lock() {
            bytes.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// One thread: every task of the adapter runs where the thread-local subscriber is set.
#[tokio::test(flavor = "current_thread")]
async fn successful_requests_log_nothing_at_the_default_level() {
    let config = test_config(&[]);
    assert_eq!(config.log_level, "info", "the default level");
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&config.log_level))
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let upstream = MockUpstream::start(Router::new().route(
        "/api",
        get(|| async { axum::Json(json!({"price": 467.85})) }),
    ))
    .await;
    let price = Price {
        url: upstream.url().to_owned(),
    };
    let adapter = Adapter::new("logging")
        .http_endpoint(&["price"], price)
        .default_endpoint("price");
    let ea = TestAdapter::start(adapter, config).await;
    for _ in 0..3 {
        let r = ea.request(json!({"data": {"coin": "ETH"}})).await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(
        captured.lines(),
        Vec::<Value>::new(),
        "successes log nothing"
    );

    let r = ea
        .request(json!({"id": "bad", "endpoint": "volume", "data": {}}))
        .await;
    assert_eq!(r.status, 404);
    let lines = captured.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["fields"]["status"], 404, "{lines:?}");
    assert_eq!(lines[0]["level"], "INFO", "{lines:?}");
    assert!(
        lines[0]["fields"]["request_id"].is_string(),
        "the line names its request: {lines:?}"
    );
}
