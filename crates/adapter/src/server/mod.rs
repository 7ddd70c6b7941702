//! The [`Adapter`] builder and its HTTP server (`POST /`, `GET /health`).
//!
//! - this file: the builder, its public API and the routers it builds;
//! - `state`: what every request shares ([`Adapter`]'s routes, cache, limits), built from
//!   the [`Config`] at start-up;
//! - `answer`: how a parsed request becomes an answer (endpoint, cache, rate limit, the
//!   panic guard) and that answer's HTTP form;
//! - `handlers`: the axum side: routes, body deadline, request ids, logs and metrics per
//!   request, async answers, JSON fallbacks;
//! - `run`: [`Adapter::run`] and [`Adapter::serve`]: runtime, logging, listeners, signals
//!   and graceful shutdown (the accept loop itself is `crate::connections`).

mod answer;
mod handlers;
mod run;
mod state;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;

use crate::async_completion::{Drained, in_flight};
use crate::batch::{BatchHttpEndpoint, Batched};
use crate::config::{Config, ConfigError};
use crate::endpoint::{DynEndpoint, Endpoint, Erased, Http, HttpEndpoint};
use crate::metrics::MetricsError;
use crate::redis_cache::RedisStartError;
use crate::stream::{StreamEndpoint, StreamSettings, Streaming};
use state::Shared;

/// Why an adapter could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("adapter definition: {0}")]
    Definition(String),
    #[error("could not build the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("could not listen on {addr} (EA_HOST/EA_PORT): {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("could not start the async runtime (EA_THREADS): {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Redis(#[from] RedisStartError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error("could not listen for metrics on {addr} (EA_HOST/METRICS_PORT): {source}")]
    MetricsBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The adapter's routers: requests on `EA_PORT`, and `GET /metrics` for `METRICS_PORT`
/// unless `METRICS_ENABLED=false`.
pub struct Routers {
    /// `POST /` and `GET /health`.
    pub adapter: Router,
    /// `GET /metrics`; serve it on its own listener so scrapes never share the adapter's.
    pub metrics: Option<Router>,
}

/// An adapter: a name, named endpoints and a default endpoint.
pub struct Adapter {
    name: String,
    endpoints: Vec<(Vec<String>, Arc<dyn DynEndpoint>)>,
    default_endpoint: Option<String>,
}

impl Adapter {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            endpoints: Vec::new(),
            default_endpoint: None,
        }
    }

    /// Adds an endpoint under `names`: the first is its canonical name (used in cache
    /// keys), the rest are aliases. Names match case-insensitively.
    pub fn endpoint<E: Endpoint>(mut self, names: &[&str], endpoint: E) -> Self {
        let names = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        self.endpoints.push((names, Arc::new(Erased(endpoint))));
        self
    }

    /// Adds an endpoint answered by one HTTP call (see [`HttpEndpoint`]).
    pub fn http_endpoint<E: HttpEndpoint>(self, names: &[&str], endpoint: E) -> Self {
        self.endpoint(names, Http(endpoint))
    }

    /// Adds an endpoint whose provider answers many parameter sets in one call; concurrent
    /// cache misses are batched ([`crate::batch`]).
    pub fn batch_endpoint<E: BatchHttpEndpoint>(mut self, names: &[&str], endpoint: E) -> Self {
        let names = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        self.endpoints
            .push((names, Arc::new(Batched::new(endpoint))));
        self
    }

    /// Adds an endpoint answered from a provider's WebSocket stream (see [`crate::stream`]).
    pub fn stream_endpoint<E: StreamEndpoint>(
        mut self,
        names: &[&str],
        endpoint: E,
        settings: StreamSettings,
    ) -> Self {
        let names = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        self.endpoints
            .push((names, Arc::new(Streaming::new(endpoint, settings))));
        self
    }

    /// The endpoint used when a request names none.
    pub fn default_endpoint(mut self, name: &str) -> Self {
        self.default_endpoint = Some(name.to_ascii_lowercase());
        self
    }

    /// The adapter's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The axum router serving this adapter, for embedding or tests.
    ///
    /// Async because a Redis cache (`CACHE_TYPE=redis`) connects here: an unreachable
    /// Redis stops start-up instead of failing every request.
    pub async fn router(self, config: &Config) -> Result<Router, StartError> {
        Ok(self.build(config).await?.0.adapter)
    }

    /// The adapter router and, when metrics are enabled, the metrics router that reads the
    /// same adapter's registry.
    pub async fn routers(self, config: &Config) -> Result<Routers, StartError> {
        Ok(self.build(config).await?.0)
    }

    /// The routers, and what resolves once the async answers they owe are all sent.
    async fn build(self, config: &Config) -> Result<(Routers, Drained), StartError> {
        let (in_flight, drained) = in_flight();
        let shared = Arc::new(Shared::new(self, config, in_flight).await?);
        writer::start(&shared, config);
        Ok((handlers::routers(shared, config.max_payload_size), drained))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::{Context, Output};
    use crate::error::AdapterError;
    use serde_json::Value;

    struct Fixed;

    impl Endpoint for Fixed {
        type Params = serde_json::Map<String, Value>;

        async fn fetch(&self, _: &Context, _: Self::Params) -> Result<Output, AdapterError> {
            Ok(Output::new(1))
        }
    }

    fn definition_error(adapter: Adapter) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("test runtime");
        match runtime.block_on(adapter.router(&Config::default())) {
            Err(StartError::Definition(message)) => message,
            Err(other) => panic!("definition error expected, got {other}"),
            Ok(_) => panic!("definition error expected, got a router"),
        }
    }

    #[test]
    fn names_are_unique_case_insensitively() {
        let adapter = Adapter::new("t")
            .endpoint(&["price"], Fixed)
            .endpoint(&["volume", "PRICE"], Fixed);
        assert_eq!(
            definition_error(adapter),
            "endpoint name `price` is used twice"
        );
    }

    #[test]
    fn default_endpoint_must_exist() {
        let adapter = Adapter::new("t")
            .endpoint(&["price"], Fixed)
            .default_endpoint("volume");
        assert_eq!(
            definition_error(adapter),
            "default endpoint `volume` is not defined"
        );
    }

    #[test]
    fn endpoints_need_a_name() {
        assert_eq!(
            definition_error(Adapter::new("t").endpoint(&[], Fixed)),
            "an endpoint has no name"
        );
    }
}
