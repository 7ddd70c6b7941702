//! Fixtures shared by the integration tests.

// Each test binary includes this module and uses only some of it.
#![allow(dead_code)]

use std::time::Duration;

use offchain_adapter::{AdapterError, HttpEndpoint, Output};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `{"coin": …}`.
#[derive(Deserialize, Serialize)]
pub struct PriceParams {
    pub coin: String,
}

/// `GET {url}/api?coin=…`, answering the provider's `price` (null when absent).
pub struct Price {
    pub url: String,
}

impl HttpEndpoint for Price {
    type Params = PriceParams;

    fn request(&self, http: &reqwest::Client, params: &PriceParams) -> reqwest::RequestBuilder {
        http.get(format!("{}/api", self.url))
            .query(&[("coin", &params.coin)])
    }

    fn parse(&self, _params: &PriceParams, body: Value) -> Result<Output, AdapterError> {
        Ok(Output::new(
            body.get("price").cloned().unwrap_or(Value::Null),
        ))
    }
}

/// Where the Redis the Redis suites use answers.
pub const REDIS_ADDR: &str = "127.0.0.1:6379";

/// Whether the Redis at [`REDIS_ADDR`] answers; tests that need it return early when not.
///
/// Without Redis the test prints a skip note and passes, unless the environment variable
/// `CI` is set: there a missing Redis is a broken CI set-up, so the test fails.
pub async fn redis_answers() -> bool {
    service_answers("Redis", REDIS_ADDR, std::env::var_os("CI").is_some()).await
}

/// Whether something accepts TCP connections at `addr`; when not, panics if `required`,
/// else prints a skip note.
pub async fn service_answers(service: &str, addr: &str, required: bool) -> bool {
    let connected =
        tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr)).await;
    if matches!(connected, Ok(Ok(_))) {
        return true;
    }
    assert!(
        !required,
        "no {service} at {addr}, and CI is set: CI must provide it"
    );
    println!("skipping: no {service} at {addr}");
    false
}
