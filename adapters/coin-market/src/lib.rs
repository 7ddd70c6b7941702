//! The coin/market price adapter: `GET {API_URL}/api?coin=ETH&market=USD` with header
//! `API_KEY`, answering the provider's JSON as `data` and its `price` as `result`.

use offchain_adapter::normalize::uppercase;
use offchain_adapter::{Adapter, AdapterError, Config, ConfigError, HttpEndpoint, Output};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Parameters of the `price` endpoint. Symbols are upper-cased as they are read, so `eth`
/// and `ETH` share one cache entry and one provider call.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PriceParams {
    #[serde(alias = "base", alias = "from", deserialize_with = "uppercase")]
    pub coin: String,
    #[serde(alias = "quote", alias = "to", deserialize_with = "uppercase")]
    pub market: String,
}

/// The `price` endpoint: one provider call per coin/market pair.
pub struct Price {
    api_url: String,
    api_key: String,
}

impl Price {
    /// Reads `API_URL` and `API_KEY`; both are required.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        Ok(Self {
            api_url: config.required("API_URL")?.trim_end_matches('/').to_owned(),
            api_key: config.required("API_KEY")?,
        })
    }
}

impl HttpEndpoint for Price {
    type Params = PriceParams;

    fn request(&self, http: &reqwest::Client, params: &PriceParams) -> reqwest::RequestBuilder {
        http.get(format!("{}/api", self.api_url))
            .query(&[("coin", &params.coin), ("market", &params.market)])
            .header("API_KEY", &self.api_key)
    }

    fn parse(&self, _params: &PriceParams, body: Value) -> Result<Output, AdapterError> {
        let Value::Object(data) = body else {
            return Err(provider_error("answer is not a JSON object"));
        };
        match data.get("price") {
            Some(price @ Value::Number(_)) => Ok(Output::with_data(price.clone(), data)),
            Some(_) => Err(provider_error("`price` is not a number")),
            None => Err(provider_error("answer has no `price`")),
        }
    }
}

fn provider_error(problem: &str) -> AdapterError {
    AdapterError::Provider {
        provider_status_code: None,
        message: format!("data provider {problem}"),
    }
}

/// The adapter, with `price` (alias `crypto`) as its only and default endpoint.
pub fn adapter(config: &Config) -> Result<Adapter, ConfigError> {
    Ok(Adapter::new("coin-market")
        .http_endpoint(&["price", "crypto"], Price::from_config(config)?)
        .default_endpoint("price"))
}
