//! Fixtures shared by the integration tests.

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
