//! A framework for *external adapters*: HTTP services that take a node's bridge request,
//! call a data provider with the provider's API key, and answer in the bridge protocol
//! (`shared/spec/bridge.md`).
//!
//! A complete adapter: one endpoint, `price` (alias `crypto`), with parameters `coin`
//! (alias `base`) and `market` (default `USD`, one of `USD`/`EUR`), answered by
//! `GET {API_URL}/price?symbol=ETH&convert=USD` with the provider's key in a header.
//!
//! ```no_run
//! use offchain_adapter::{Adapter, AdapterError, Config, HttpEndpoint, Output, StartError};
//! use serde::{Deserialize, Serialize};
//! use serde_json::Value;
//!
//! #[derive(Deserialize, Serialize)]
//! struct PriceParams {
//!     #[serde(alias = "base")]
//!     coin: String,
//!     #[serde(default = "usd")]
//!     market: String,
//! }
//!
//! fn usd() -> String {
//!     "USD".into()
//! }
//!
//! struct Price {
//!     api_url: String,
//!     api_key: String,
//! }
//!
//! impl HttpEndpoint for Price {
//!     type Params = PriceParams;
//!
//!     fn validate(&self, p: &PriceParams) -> Result<(), AdapterError> {
//!         AdapterError::check_allowed("market", &p.market, &["USD", "EUR"])
//!     }
//!
//!     fn request(&self, http: &reqwest::Client, p: &PriceParams) -> reqwest::RequestBuilder {
//!         http.get(format!("{}/price", self.api_url))
//!             .query(&[("symbol", &p.coin), ("convert", &p.market)])
//!             .header("X-Api-Key", &self.api_key)
//!     }
//!
//!     fn parse(&self, _p: &PriceParams, body: Value) -> Result<Output, AdapterError> {
//!         let price = body.get("price").cloned().ok_or_else(|| AdapterError::Provider {
//!             provider_status_code: None,
//!             message: "answer has no `price`".into(),
//!         })?;
//!         Ok(Output::new(price))
//!     }
//! }
//!
//! fn main() -> Result<(), StartError> {
//!     let config = Config::from_env()?; // EA_PORT, API_TIMEOUT, CACHE_MAX_AGE, ...
//!     let price = Price { api_url: config.required("API_URL")?, api_key: config.required("API_KEY")? };
//!     Adapter::new("example")
//!         .http_endpoint(&["price", "crypto"], price)
//!         .default_endpoint("price")
//!         .run(config) // until SIGINT/SIGTERM
//! }
//! ```
//!
//! `curl -d '{"id": "1", "data": {"base": "ETH"}}' localhost:8080` then answers
//! `{"jobRunID": "1", "data": {"result": 467.85}, "result": 467.85, "statusCode": 200, …}`.
//!
//! # What the framework does for you
//! - Picks the endpoint from `endpoint` or `data.endpoint` (case-insensitive names and
//!   aliases; the default endpoint when none is given; unknown → 404, whose message echoes
//!   at most 64 bytes of the name: [`error::MAX_ECHOED_NAME`]).
//! - Parses `data` into your parameter struct: serde `alias` and `default` work; a missing or
//!   invalid parameter is a 400 whose message names it. `validate` adds checks serde cannot.
//!   A field may declare its normalization with
//!   `#[serde(deserialize_with = "offchain_adapter::normalize::uppercase")]`, so `usd` and
//!   `USD` share one cache entry and one upstream call ([`normalize`]).
//! - Caches answers by endpoint and normalized parameters ([`cache`]), coalesces identical
//!   in-flight requests, never caches errors, and never serves an answer whose provider
//!   data is older than `CACHE_MAX_AGE`. In-process by default; with `CACHE_TYPE=redis`
//!   the answers live in Redis at `CACHE_REDIS_URL` and every instance of the adapter shares
//!   them ([`redis_cache`]). With `CACHE_REFRESH_WINDOW_MS` set, parameter sets requested
//!   within that many ms are re-fetched in the background before their entry expires, so
//!   hot requests never wait for the provider ([`refresh`]); instances sharing Redis
//!   refresh each parameter set once between them (a Redis lock per key).
//! - Splits instances sharing Redis by `EA_MODE` ([`EaMode`]): `reader` answers from the
//!   shared cache alone (a miss is a 504) and records what it was asked for; `writer`
//!   keeps exactly that warm (upstream calls, streams, refresh), so one writer holds the
//!   provider's stream for many readers; `reader-writer` (default) does both.
//! - Maps upstream failures: non-2xx → 502 with `providerStatusCode`, unreachable → 502,
//!   `API_TIMEOUT` → 504 ([`upstream`]). The HTTP status always equals `statusCode`
//!   ([`AdapterError`]).
//! - Answers slow requests that carry a `responseURL` at an origin of
//!   `ASYNC_ALLOWED_ORIGINS` with `pending` after `ASYNC_AFTER_MS` and PATCHes the node with
//!   the answer when it is ready ([`async_completion`]).
//! - Protects the provider ([`protect`]): at most `RATE_LIMIT_CAPACITY_SECOND` /
//!   `RATE_LIMIT_CAPACITY_MINUTE` upstream calls (cache hits and coalesced requests take no
//!   permit), a queue of `RATE_LIMIT_QUEUE_SIZE` waiting requests (full → 429
//!   `AdapterRateLimitError`), and `RETRY` retries with exponential backoff of upstream 5xx
//!   and connection failures, never of 4xx, all within `API_TIMEOUT`. Your own
//!   [`Endpoint`]s get the retries by calling [`upstream::send`].
//! - Serves `POST /` and `GET /health`, limits bodies to `MAX_PAYLOAD_SIZE_LIMIT` (413) and
//!   each parameter to `MAX_PARAM_LENGTH` bytes of text (default 1 024; 400 naming it),
//!   answers every error in JSON with the matching status (malformed body 400 echoing its
//!   `id`, wrong method 405, unknown path 404), turns a panic in your code into a 500 for
//!   that request alone, logs JSON with a request id (successes at `debug`, errors at
//!   `info`/`warn`), and shuts down gracefully on SIGINT/SIGTERM ([`Adapter::run`]). It runs
//!   on one thread unless `EA_THREADS` says more; programs with a runtime of their own call
//!   [`Adapter::serve`].
//! - Keeps slow clients from pinning it: a connection without complete headers after
//!   `EA_HEADER_TIMEOUT_MS` (default 10 s; idle keep-alive connections too) is closed, a body
//!   not complete `EA_BODY_TIMEOUT_MS` (default 10 s) after its headers is answered 408 and
//!   its connection closed, and at most `EA_MAX_CONNECTIONS` (default 10 000) connections
//!   are served at once, later ones waiting in the listen backlog. Every duration variable
//!   is at most 7 days ([`config::MAX_DURATION_MS`]).
//! - Serves Prometheus metrics at `GET /metrics` on their own listener, `EA_HOST:METRICS_PORT`
//!   (default 9080; `METRICS_ENABLED=false` turns it off): requests by endpoint and status,
//!   request and upstream latency, upstream outcomes, cache hits/misses, the rate-limit
//!   queue and async answers still owed ([`metrics`] lists the series). Each adapter keeps
//!   its own registry, so nothing is installed process-wide. Programs embedding an adapter
//!   get both routers from [`Adapter::routers`]; tests read the text with
//!   [`testing::TestAdapter::metrics`].
//! - Keeps secrets out of logs and `Debug` output ([`secrets`]): URLs are logged as scheme,
//!   host and port only; [`Config`]'s `Debug` shows `API_KEY`, tokens and any variable
//!   named `*_KEY`, `*_TOKEN`, `*_SECRET` or `*_PASSWORD` (and a few more:
//!   [`secrets::is_secret_name`]) as `***`, and other URL values by their origin.
//!
//! # Async answers
//! A node's async bridge task sends a `responseURL` and suspends on a `pending` answer.
//! Set `ASYNC_AFTER_MS` and `ASYNC_ALLOWED_ORIGINS` (the node's origin, e.g.
//! `http://node:6688`) to use it: a request with a `responseURL` at an allowed origin whose
//! answer is not ready within that many milliseconds is answered `{"jobRunID", "data": {}, "pending": true,
//! "statusCode": 200}` (HTTP 200, header `X-Chainlink-Pending: true`); the fetch goes on in
//! the background (through the same cache, so identical requests still share it) and the
//! answer is sent by `PATCH <responseURL>`:
//! - `…/v2/resume/<uuid>` gets `{"value": <the success response object>}` or
//!   `{"error": "<name>: <message>"}`;
//! - `…/v2/runs/<id>` gets the response object itself (success or errored).
//!
//! `BRIDGE_RESPONSE_TOKEN` (the bridge's incoming token) is sent as `Authorization: Bearer`
//! with every PATCH. 5xx answers and transport errors are retried with backoff (5 attempts),
//! 4xx never; shutdown waits (up to 25 s) for answers still owed. Answers ready in time,
//! requests without `responseURL`, URLs of neither form or at an origin not in
//! `ASYNC_ALLOWED_ORIGINS` (never contacted: the token belongs to the node alone), requests
//! past `ASYNC_MAX_IN_FLIGHT` (default 1 000) answers owed, and every request when
//! `ASYNC_AFTER_MS` or `ASYNC_ALLOWED_ORIGINS` is unset are answered synchronously; the
//! latter case logs a warning at start-up. Endpoints need no change for any of this.
//!
//! For sources other than one HTTP call, implement [`Endpoint`] (an async `fetch`) and add
//! it with [`Adapter::endpoint`].
//!
//! # Batching
//! When the provider answers many parameter sets in one call (`GET /prices?coins=ETH,BTC`),
//! implement [`BatchHttpEndpoint`] instead of [`HttpEndpoint`]: `request` gets a slice of
//! parameter sets, `parse` returns `(index, answer)` pairs, and `max_batch_size` says how
//! many the provider takes. Add it with [`Adapter::batch_endpoint`]. Cache misses arriving
//! within `BATCH_WINDOW_MS` (default 5 ms) of the first one of a batch share one upstream
//! call and one rate-limit permit; each answer is cached under its own key, a parameter set
//! missing from the provider's answer fails alone (502), and a failed call fails the whole
//! batch. See [`batch`].
//!
//! # Streaming (WebSocket) providers
//! For a provider that pushes prices over a WebSocket, implement [`StreamEndpoint`] and add
//! it with [`Adapter::stream_endpoint`]. The framework keeps one connection, subscribes a
//! parameter set when it is first requested, writes every value the provider pushes into
//! the cache (so later requests are cache hits), unsubscribes parameter sets nobody asked
//! for within [`StreamSettings::idle_ttl`], sends heartbeats, and reconnects with backoff,
//! re-subscribing everything active, also when no frame has come for
//! `WS_UNRESPONSIVE_TIMEOUT_MS` (default 30 000). A first request waits up to
//! [`StreamSettings::first_value_timeout`] for a value, else 504; a value older than
//! `CACHE_MAX_AGE` is never answered. Details in [`stream`].
//!
//! ```no_run
//! use offchain_adapter::{Adapter, Config, Output, StartError, StreamEndpoint, StreamSettings};
//! use serde::{Deserialize, Serialize};
//! use serde_json::{Value, json};
//!
//! #[derive(Deserialize, Serialize)]
//! struct Pair {
//!     #[serde(alias = "base")]
//!     coin: String,
//! }
//!
//! struct Ticker;
//!
//! impl StreamEndpoint for Ticker {
//!     type Params = Pair;
//!
//!     fn subscribe(&self, p: &Pair) -> String {
//!         json!({"op": "subscribe", "pair": format!("{}/USD", p.coin)}).to_string()
//!     }
//!
//!     fn unsubscribe(&self, p: &Pair) -> String {
//!         json!({"op": "unsubscribe", "pair": format!("{}/USD", p.coin)}).to_string()
//!     }
//!
//!     // `{"pair": "ETH/USD", "price": 467.85}` → the answer for `{"coin": "ETH"}`.
//!     fn handle(&self, message: &str) -> Vec<(Pair, Output)> {
//!         let Ok(msg) = serde_json::from_str::<Value>(message) else { return Vec::new() };
//!         let (Some(pair), Some(price)) = (msg["pair"].as_str(), msg.get("price")) else {
//!             return Vec::new(); // acknowledgements, pongs
//!         };
//!         let Some(coin) = pair.strip_suffix("/USD") else { return Vec::new() };
//!         vec![(Pair { coin: coin.to_owned() }, Output::new(price.clone()))]
//!     }
//!
//!     fn heartbeat(&self) -> Option<String> {
//!         Some(json!({"op": "ping"}).to_string())
//!     }
//! }
//!
//! fn main() -> Result<(), StartError> {
//!     let config = Config::from_env()?;
//!     let settings = StreamSettings::new(config.required("WS_API_URL")?);
//!     Adapter::new("ticker")
//!         .stream_endpoint(&["price"], Ticker, settings)
//!         .default_endpoint("price")
//!         .run(config)
//! }
//! ```
//!
//! # Testing an adapter
//! [`testing`] starts the adapter on an ephemeral port against a mock provider:
//!
//! ```
//! # use offchain_adapter::{Adapter, AdapterError, HttpEndpoint, Output};
//! # use serde::{Deserialize, Serialize};
//! # use serde_json::Value;
//! # #[derive(Deserialize, Serialize)]
//! # struct PriceParams { #[serde(alias = "base")] coin: String }
//! # struct Price { api_url: String }
//! # impl HttpEndpoint for Price {
//! #     type Params = PriceParams;
//! #     fn request(&self, http: &reqwest::Client, p: &PriceParams) -> reqwest::RequestBuilder {
//! #         http.get(format!("{}/price", self.api_url)).query(&[("symbol", &p.coin)])
//! #     }
//! #     fn parse(&self, _p: &PriceParams, body: Value) -> Result<Output, AdapterError> {
//! #         Ok(Output::new(body["price"].clone()))
//! #     }
//! # }
//! use axum::{Json, Router, routing::get};
//! use offchain_adapter::testing::{MockUpstream, TestAdapter, test_config};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let provider = MockUpstream::start(
//!     Router::new().route("/price", get(|| async { Json(json!({"price": 467.85})) })),
//! )
//! .await;
//! let price = Price { api_url: provider.url().to_owned() };
//! let adapter = Adapter::new("example").http_endpoint(&["price"], price).default_endpoint("price");
//! let ea = TestAdapter::start(adapter, test_config(&[])).await;
//!
//! let answer = ea.request(json!({"id": "7", "data": {"base": "ETH"}})).await;
//! assert_eq!((answer.status, &answer.body["result"]), (200, &json!(467.85)));
//! let missing = ea.request(json!({"data": {}})).await;
//! assert_eq!(missing.body["error"]["message"], "missing required parameter `coin`");
//! assert_eq!(provider.hits(), 1);
//! # }
//! ```
//!
//! [`testing::NodeReceiver`] stands in for the node's PATCH routes when testing async
//! answers.
//!
//! # Modules
//! [`protocol`] re-exports the wire types of the `offchain-bridge` crate (serde only, no
//! HTTP framework types), which the node's bridge task uses as the client side without
//! depending on this framework. This crate has no feature flags.

pub mod async_completion;
pub mod batch;
pub mod cache;
pub mod config;
mod connections;
pub mod endpoint;
pub mod error;
pub mod metrics;
pub mod normalize;
pub mod protect;
pub mod protocol;
pub mod redis_cache;
pub mod refresh;
pub mod secrets;
pub mod server;
pub mod single_flight;
pub mod stream;
pub mod testing;
pub mod upstream;

pub use batch::{BatchAnswer, BatchHttpEndpoint};
pub use config::{Config, ConfigError, EaMode};
pub use endpoint::{Context, Endpoint, Http, HttpEndpoint, Output, Params};
pub use error::AdapterError;
pub use protocol::{AdapterRequest, AdapterResponse};
pub use server::{Adapter, StartError};
pub use stream::{StreamEndpoint, StreamSettings};
