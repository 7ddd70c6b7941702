//! Any POST body to an adapter, served in process: a JSON answer, 200 or 4xx, never a 5xx
//! (the endpoint does no I/O and never fails, so a 5xx could only come from parsing).
#![no_main]

use std::sync::OnceLock;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use offchain_adapter::testing::test_config;
use offchain_adapter::{Adapter, AdapterError, Context, Endpoint, Output};
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

#[derive(Deserialize, Serialize)]
struct EchoParams {
    coin: String,
}

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

fn setup() -> &'static (tokio::runtime::Runtime, Router) {
    static SETUP: OnceLock<(tokio::runtime::Runtime, Router)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let router = runtime.block_on(async {
            Adapter::new("fuzz")
                .endpoint(&["echo"], Echo)
                .default_endpoint("echo")
                .router(&test_config(&[]))
                .await
                .expect("adapter starts")
        });
        (runtime, router)
    })
}

fuzz_target!(|data: &[u8]| {
    let (runtime, router) = setup();
    runtime.block_on(async {
        let request = Request::post("/")
            .header("content-type", "application/json")
            .body(Body::from(data.to_vec()))
            .expect("request");
        let response = router.clone().oneshot(request).await.expect("infallible");
        let status = response.status().as_u16();
        let bytes = to_bytes(response.into_body(), 1 << 20).await.expect("body");
        let answer: serde_json::Value = serde_json::from_slice(&bytes).expect("a JSON answer");
        assert_eq!(answer["statusCode"], status);
        assert!(status == 200 || (400..500).contains(&status), "{answer}");
    });
});
