//! Endpoints: typed parameters in, an [`Output`] out.
//!
//! Adapter authors implement [`Endpoint`] (any async source) or [`HttpEndpoint`] (one HTTP
//! call: build the request, parse the answer). The server works on the type-erased form
//! made here, so each endpoint keeps its own parameter type.

use std::future::Future;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::cache::{Fetch, Resolved};
use crate::error::AdapterError;
use crate::protocol::Timestamps;
use crate::upstream;

/// What an endpoint answers: the `result` and the `data` to return with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub result: Value,
    /// Extra fields for the response's `data` (e.g. the upstream payload); `result` is
    /// added to it by the framework.
    pub data: Map<String, Value>,
}

impl Output {
    /// An output with `result` and no extra data.
    pub fn new(result: impl Into<Value>) -> Self {
        Self {
            result: result.into(),
            data: Map::new(),
        }
    }

    /// An output whose `data` is the given upstream object.
    pub fn with_data(result: impl Into<Value>, data: Map<String, Value>) -> Self {
        Self {
            result: result.into(),
            data,
        }
    }
}

/// Shared resources endpoints may use.
#[derive(Debug, Clone)]
pub struct Context {
    /// The HTTP client, with `API_TIMEOUT` as its request timeout.
    pub http: reqwest::Client,
    /// `RETRY` and the `API_TIMEOUT` budget, used by [`upstream::send`].
    pub(crate) retry: crate::protect::RetryPolicy,
    /// Upstream latency and outcomes; `None` when `METRICS_ENABLED=false`.
    pub(crate) metrics: Option<Arc<crate::metrics::UpstreamMetrics>>,
    /// The upstream rate limit; batched endpoints take its permits themselves, one per
    /// upstream call ([`crate::batch`]).
    pub(crate) rate_limit: Option<Arc<crate::protect::RateLimit>>,
    /// `BATCH_WINDOW_MS`: how long a batch collects parameter sets ([`crate::batch`]).
    pub(crate) batch_window: std::time::Duration,
}

/// Parameters an endpoint accepts: any serde struct.
///
/// Use `#[serde(alias = "...")]` for parameter aliases and `#[serde(default)]` for
/// defaults. `Serialize` is needed because the re-serialized parameters are the cache key.
pub trait Params: DeserializeOwned + Serialize + Send + Sync + 'static {}
impl<T: DeserializeOwned + Serialize + Send + Sync + 'static> Params for T {}

/// An endpoint backed by any async source.
pub trait Endpoint: Send + Sync + 'static {
    type Params: Params;

    /// Checks values serde cannot (allowed values, ranges); see
    /// [`AdapterError::check_allowed`]. Errors here are answered with 400.
    fn validate(&self, _params: &Self::Params) -> Result<(), AdapterError> {
        Ok(())
    }

    /// Fetches the answer for `params`.
    fn fetch(
        &self,
        context: &Context,
        params: Self::Params,
    ) -> impl Future<Output = Result<Output, AdapterError>> + Send;
}

/// An endpoint answered by one HTTP call to the data provider.
///
/// Non-2xx answers become 502 with `providerStatusCode`, connection failures 502, and
/// `API_TIMEOUT` expiry 504; 5xx answers and connection failures are retried (`RETRY`,
/// [`crate::protect`]). [`HttpEndpoint::parse`] only sees 2xx JSON bodies.
pub trait HttpEndpoint: Send + Sync + 'static {
    type Params: Params;

    /// Checks values serde cannot; errors are answered with 400.
    fn validate(&self, _params: &Self::Params) -> Result<(), AdapterError> {
        Ok(())
    }

    /// Builds the upstream request, including secrets such as API keys.
    fn request(&self, http: &reqwest::Client, params: &Self::Params) -> reqwest::RequestBuilder;

    /// Turns the upstream's JSON body into the answer.
    fn parse(&self, params: &Self::Params, body: Value) -> Result<Output, AdapterError>;
}

/// Adapts an [`HttpEndpoint`] to [`Endpoint`].
pub struct Http<E>(pub E);

impl<E: HttpEndpoint> Endpoint for Http<E> {
    type Params = E::Params;

    fn validate(&self, params: &Self::Params) -> Result<(), AdapterError> {
        self.0.validate(params)
    }

    async fn fetch(&self, context: &Context, params: Self::Params) -> Result<Output, AdapterError> {
        let body = upstream::send(context, self.0.request(&context.http, &params)).await?;
        self.0.parse(&params, body)
    }
}

/// The type-erased endpoint the server dispatches to.
pub(crate) trait DynEndpoint: Send + Sync {
    /// Called once at start-up with the endpoint's canonical name, the adapter's cache and
    /// configuration; streaming endpoints start their connection here.
    fn attach(
        &self,
        _canonical: &str,
        _cache: &Arc<dyn crate::cache::Cache>,
        _config: &crate::config::Config,
    ) {
    }

    /// False for endpoints whose answers must not be re-fetched by background refresh
    /// (streams: their values arrive by push).
    fn refreshable(&self) -> bool {
        true
    }

    /// Parses and validates `data` into the normalized parameters (for the cache key),
    /// without any side effect: how an `EA_MODE=reader` instance finds the key it reads.
    fn normalize(&self, data: &Map<String, Value>) -> Result<Value, AdapterError>;

    /// Parses and validates `data`, returning the normalized parameters (for the cache key)
    /// and the upstream call to run on a miss.
    fn prepare(
        self: Arc<Self>,
        context: &Context,
        data: &Map<String, Value>,
    ) -> Result<(Value, Fetch), AdapterError>;

    /// True when the fetch takes its rate-limit permit itself (one per batched upstream
    /// call), so the server must not take one per request.
    fn takes_own_permit(&self) -> bool {
        false
    }
}

pub(crate) struct Erased<E>(pub E);

impl<E: Endpoint> DynEndpoint for Erased<E> {
    fn normalize(&self, data: &Map<String, Value>) -> Result<Value, AdapterError> {
        Ok(parse_validated::<E::Params>(data, |p| self.0.validate(p))?.1)
    }

    fn prepare(
        self: Arc<Self>,
        context: &Context,
        data: &Map<String, Value>,
    ) -> Result<(Value, Fetch), AdapterError> {
        let (params, normalized) = parse_validated(data, |p| self.0.validate(p))?;
        let context = context.clone();
        let fetch: Fetch =
            Box::pin(async move { timed(async { self.0.fetch(&context, params).await }).await });
        Ok((normalized, fetch))
    }
}

/// Parses a request's parameters, runs the endpoint's `validate`, and returns them with their
/// normalized JSON form (what the cache key is made of). Every endpoint kind starts this way.
pub(crate) fn parse_validated<P: Params>(
    data: &Map<String, Value>,
    validate: impl FnOnce(&P) -> Result<(), AdapterError>,
) -> Result<(P, Value), AdapterError> {
    let params: P = parse_params(data)?;
    validate(&params)?;
    let normalized = serde_json::to_value(&params)
        .map_err(|e| AdapterError::Internal(format!("parameters do not serialize: {e}")))?;
    Ok((params, normalized))
}

/// Runs an upstream fetch and stamps its answer with when it was asked for and received.
pub(crate) async fn timed(
    fetch: impl Future<Output = Result<Output, AdapterError>>,
) -> Result<Resolved, AdapterError> {
    let requested = unix_ms();
    let output = fetch.await?;
    Ok(Resolved::new(
        output.result,
        output.data,
        Timestamps {
            provider_data_requested_unix_ms: requested,
            provider_data_received_unix_ms: unix_ms(),
        },
    ))
}

pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Deserializes `data` into `P`, turning serde's message into one that names the parameter.
pub fn parse_params<P: DeserializeOwned>(data: &Map<String, Value>) -> Result<P, AdapterError> {
    use serde::de::IntoDeserializer;
    // Deserializing from a borrowed map avoids copying the request on the hot path, and
    // only a failure pays for tracking the path to the parameter at fault.
    if let Ok(params) = P::deserialize(data.into_deserializer()) {
        return Ok(params);
    }
    serde_path_to_error::deserialize(data.into_deserializer()).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner().to_string();
        // A missing field is reported at the struct itself (path "."), with the name only
        // inside serde's message: "missing field `coin`".
        if let Some(name) = missing_field(&inner) {
            return AdapterError::Input {
                message: format!("missing required parameter `{name}`"),
                param: Some(name.to_owned()),
            };
        }
        if path.is_empty() || path == "." {
            return AdapterError::Input {
                param: None,
                message: format!("invalid parameters: {inner}"),
            };
        }
        AdapterError::invalid_param(path, inner)
    })
}

fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    struct PriceParams {
        #[serde(alias = "base", alias = "from")]
        coin: String,
        #[serde(alias = "quote", alias = "to", default = "usd")]
        market: String,
        #[serde(default)]
        decimals: u8,
    }

    fn usd() -> String {
        "USD".into()
    }

    fn data(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn aliases_and_defaults() {
        let p: PriceParams = parse_params(&data(json!({"from": "ETH"}))).expect("valid");
        assert_eq!(
            p,
            PriceParams {
                coin: "ETH".into(),
                market: "USD".into(),
                decimals: 0
            }
        );
        let p: PriceParams =
            parse_params(&data(json!({"base": "BTC", "to": "EUR", "x": 1}))).expect("valid");
        assert_eq!(p.market, "EUR");
    }

    #[test]
    fn missing_parameter_is_named() {
        let error = parse_params::<PriceParams>(&data(json!({"market": "USD"})))
            .expect_err("coin is required");
        assert_eq!(
            error,
            AdapterError::Input {
                param: Some("coin".into()),
                message: "missing required parameter `coin`".into(),
            }
        );
    }

    #[test]
    fn bad_parameter_is_named() {
        let error = parse_params::<PriceParams>(&data(json!({"coin": 5})))
            .expect_err("coin must be a string");
        let AdapterError::Input { param, message } = &error else {
            panic!("input error expected, got {error:?}");
        };
        assert_eq!(param.as_deref(), Some("coin"));
        assert!(
            message.starts_with("invalid parameter `coin`:"),
            "{message}"
        );
        let error = parse_params::<PriceParams>(&data(json!({"coin": "E", "decimals": 999})))
            .expect_err("out of range");
        assert_eq!(error.status_code(), 400);
        assert!(error.to_string().contains("`decimals`"), "{error}");
    }
}
