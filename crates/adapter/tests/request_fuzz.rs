//! Property test for request bodies (issue 11, item 4): the adapter's router, driven in
//! process, answers any POST body with a JSON protocol object whose `statusCode` is the
//! HTTP status, 200 or 4xx, never 5xx: the endpoint does no I/O and never fails, so a 5xx
//! could only come from parsing. Deterministic: a fixed seed, no persistence files.

use std::cell::Cell;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::Request;
use offchain_adapter::testing::test_config;
use offchain_adapter::{Adapter, AdapterError, Context, Endpoint, Output};
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestRunner};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower::ServiceExt;

#[derive(Deserialize, Serialize)]
struct EchoParams {
    #[serde(alias = "base")]
    coin: String,
    #[serde(default)]
    amount: Option<i64>,
}

/// Answers with the coin it was asked for: any failure is the framework's.
struct Echo;

impl Endpoint for Echo {
    type Params = EchoParams;

    fn validate(&self, params: &EchoParams) -> Result<(), AdapterError> {
        AdapterError::check_allowed("coin", &params.coin, &["ETH", "BTC"])
    }

    async fn fetch(&self, _context: &Context, params: EchoParams) -> Result<Output, AdapterError> {
        Ok(Output::new(params.coin))
    }
}

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
    "\"echo\"",
    "\"other\"",
    "\"coin\"",
    "\"base\"",
    "\"amount\"",
    "\"ETH\"",
    "\"DOGE\"",
    "null",
    "true",
    "1",
    "-1",
    "1e999",
    "18446744073709551616",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"responseURL\"",
    "\"meta\"",
    "\"http://127.0.0.1:1/\"",
    " ",
];

const KEYS: &[&str] = &["coin", "base", "amount", "endpoint", "other"];

/// A JSON value of the kinds parameters meet.
fn scalar() -> impl Strategy<Value = Value> {
    proptest::sample::select(vec![
        Value::from("ETH"),
        Value::from("BTC"),
        Value::from("DOGE"),
        Value::from(""),
        Value::from(7),
        Value::from(-1.5),
        Value::from(u64::MAX),
        Value::Null,
        Value::Bool(true),
        serde_json::json!([]),
        serde_json::json!({}),
    ])
}

/// A well-formed request: `data` with parameters, sometimes an endpoint name.
fn request() -> impl Strategy<Value = Vec<u8>> {
    let data = proptest::collection::btree_map(proptest::sample::select(KEYS), scalar(), 0..4);
    let endpoint = proptest::option::of(proptest::sample::select(vec!["echo", "ECHO", "nope"]));
    (data, endpoint).prop_map(|(data, endpoint)| {
        let mut request = serde_json::Map::new();
        let data = data.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        request.insert("data".into(), Value::Object(data));
        if let Some(name) = endpoint {
            request.insert("endpoint".into(), Value::from(name));
        }
        Value::Object(request).to_string().into_bytes()
    })
}

/// Raw bytes, JSON-like token soup, or well-formed requests with random parameters.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        request(),
        proptest::collection::vec(any::<u8>(), 0..96),
        proptest::collection::vec(proptest::sample::select(TOKENS), 0..24)
            .prop_map(|parts| format!("{{{}", parts.concat()).into_bytes()),
    ]
}

async fn post(router: &Router, body: Vec<u8>) -> (u16, Value) {
    let request = Request::post("/")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap_or_else(|e| panic!("request: {e}"));
    let response = router
        .clone()
        .oneshot(request)
        .await
        .unwrap_or_else(|e| panic!("router: {e}"));
    let status = response.status().as_u16();
    let bytes = to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap_or_else(|e| panic!("body: {e}"));
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[test]
fn any_body_gets_a_json_answer_and_never_a_5xx() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let router = runtime.block_on(async {
        Adapter::new("test")
            .endpoint(&["echo"], Echo)
            .default_endpoint("echo")
            .router(&test_config(&[]))
            .await
            .unwrap_or_else(|e| panic!("adapter does not start: {e}"))
    });
    let config = ProptestConfig {
        cases: 1500,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0xada9),
        ..ProptestConfig::default()
    };
    let answered = [Cell::new(0usize), Cell::new(0usize)];
    let mut runner = TestRunner::new(config);
    let result = runner.run(&body(), |body| {
        let (status, answer) = runtime.block_on(post(&router, body));
        prop_assert!(answer.is_object(), "status {status}: not a JSON object");
        prop_assert_eq!(&answer["statusCode"], &Value::from(status));
        prop_assert!(status == 200 || (400..500).contains(&status), "{answer}");
        if status == 200 {
            answered[0].set(answered[0].get() + 1);
        } else {
            answered[1].set(answered[1].get() + 1);
            prop_assert!(answer["error"]["name"].is_string(), "{answer}");
            let message = answer["error"]["message"].as_str().unwrap_or("");
            prop_assert!(!message.is_empty(), "{answer}");
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    // Both outcomes must occur, or the generator only tests one path.
    let [ok, refused] = answered.map(Cell::into_inner);
    assert!(ok > 0 && refused > 0, "{ok} answered, {refused} refused");
}
