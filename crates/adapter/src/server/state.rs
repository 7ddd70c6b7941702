//! What every request shares: the routes by name, the cache, the limits and the optional
//! parts (async answers, metrics, background refresh), wired from the [`Config`] once at
//! start-up.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::HeaderValue;
use serde_json::Value;

use super::{Adapter, StartError};
use crate::async_completion::{AsyncMode, InFlight};
use crate::cache::{Cache, LocalCache, NoCache};
use crate::config::{CacheType, Config, EaMode};
use crate::endpoint::{Context, DynEndpoint};
use crate::error::AdapterError;
use crate::metrics::{EndpointMetrics, Metrics};
use crate::protect::{RateLimit, RetryPolicy};
use crate::protocol::AdapterRequest;
use crate::redis_cache::RedisCache;
use crate::refresh::Refresher;

/// Extra time over `API_TIMEOUT` before the adapter itself gives up, so an upstream timeout
/// is reported by the HTTP client (with its own message) rather than by this guard.
const ADAPTER_TIMEOUT_MARGIN: Duration = Duration::from_secs(1);

/// An endpoint under its canonical name, with its metrics handles.
pub(super) struct Route {
    pub(super) canonical: String,
    pub(super) endpoint: Arc<dyn DynEndpoint>,
    pub(super) metrics: Option<EndpointMetrics>,
}

/// State shared by every request of one adapter.
pub(super) struct Shared {
    pub(super) routes: HashMap<String, Arc<Route>>,
    pub(super) default_route: Option<Arc<Route>>,
    pub(super) context: Context,
    pub(super) cache: Arc<dyn Cache>,
    pub(super) rate_limit: Option<Arc<RateLimit>>,
    pub(super) adapter_timeout: Duration,
    pub(super) max_payload_size: usize,
    /// `MAX_PARAM_LENGTH`.
    pub(super) max_param_length: usize,
    /// `EA_BODY_TIMEOUT_MS`.
    pub(super) body_timeout: Duration,
    pub(super) next_request_id: AtomicU64,
    /// `ASYNC_AFTER_MS`, the allowed origins and the PATCH sender; `None` never goes async.
    pub(super) async_mode: Option<AsyncMode>,
    /// Cloned into every background answer, so shutdown can wait for them.
    pub(super) in_flight: InFlight,
    /// `None` when `METRICS_ENABLED=false`.
    pub(super) metrics: Option<Metrics>,
    /// Background refresh of hot parameter sets (`CACHE_REFRESH_WINDOW_MS`).
    pub(super) refresher: Option<Arc<Refresher>>,
    /// `EA_MODE=reader`: answers come from the shared cache alone.
    pub(super) reader: bool,
}

impl Shared {
    pub(super) async fn new(
        adapter: Adapter,
        config: &Config,
        in_flight: InFlight,
    ) -> Result<Self, StartError> {
        let metrics = match config.metrics_enabled {
            true => Some(Metrics::new(&adapter.name, cache_label(config))?),
            false => None,
        };
        let mut routes = HashMap::new();
        let mut canonical_routes = Vec::new();
        for (names, endpoint) in adapter.endpoints {
            let Some(canonical) = names.first().cloned() else {
                return Err(StartError::Definition("an endpoint has no name".to_owned()));
            };
            let route = Arc::new(Route {
                metrics: metrics.as_ref().map(|m| m.endpoint(&canonical)),
                canonical,
                endpoint,
            });
            canonical_routes.push(route.clone());
            for name in names {
                if routes.insert(name.clone(), route.clone()).is_some() {
                    return Err(StartError::Definition(format!(
                        "endpoint name `{name}` is used twice"
                    )));
                }
            }
        }
        let default_route = match adapter.default_endpoint {
            None => None,
            Some(name) => Some(routes.get(&name).cloned().ok_or_else(|| {
                StartError::Definition(format!("default endpoint `{name}` is not defined"))
            })?),
        };
        let http = reqwest::Client::builder()
            .timeout(config.api_timeout)
            .build()?;
        let cache: Arc<dyn Cache> = match config.cache_type {
            _ if config.cache_max_age.is_zero() => Arc::new(NoCache),
            CacheType::Local => Arc::new(LocalCache::new(
                config.cache_max_items,
                config.cache_max_age,
            )),
            CacheType::Redis => Arc::new(
                RedisCache::connect(
                    config.cache_redis_url.expose(),
                    &adapter.name,
                    config.cache_max_age,
                )
                .await?,
            ),
        };
        let rate_limit = RateLimit::from_config(config).map(Arc::new);
        let context = Context {
            http,
            retry: RetryPolicy::from_config(config),
            rate_limit: rate_limit.clone(),
            batch_window: config.batch_window,
            metrics: metrics.as_ref().map(|m| m.upstream.clone()),
        };
        let adapter_timeout = config.api_timeout + ADAPTER_TIMEOUT_MARGIN;
        let reader = config.ea_mode == EaMode::Reader;
        let refresher = match config.cache_refresh_window {
            // Without a cache there is nothing to keep warm; a reader never calls upstream.
            Some(window) if !config.cache_max_age.is_zero() && !reader => Some(Refresher::start(
                window,
                config.cache_max_age,
                config.cache_max_items,
                cache.clone(),
                context.clone(),
                rate_limit.clone(),
                adapter_timeout,
            )),
            _ => None,
        };
        // A reader opens no streams: writers keep the shared cache filled.
        for route in canonical_routes.iter().filter(|_| !reader) {
            route.endpoint.attach(&route.canonical, &cache, config);
        }
        Ok(Self {
            routes,
            default_route,
            context,
            cache,
            rate_limit,
            adapter_timeout,
            max_payload_size: config.max_payload_size,
            max_param_length: config.max_param_length,
            body_timeout: config.body_timeout,
            next_request_id: AtomicU64::new(1),
            async_mode: AsyncMode::from_config(config)?,
            in_flight,
            metrics,
            refresher,
            reader,
        })
    }

    /// The route `request` names: top-level `endpoint`, else `data.endpoint`, which must be
    /// a string too (a non-string top-level one already fails the body's parse).
    pub(super) fn route_for(&self, request: &AdapterRequest) -> Result<&Arc<Route>, AdapterError> {
        match request.data.get("endpoint") {
            None | Some(Value::Null | Value::String(_)) => self.route(request.endpoint_name()),
            Some(_) => Err(AdapterError::invalid_param("endpoint", "must be a string")),
        }
    }

    fn route(&self, name: Option<&str>) -> Result<&Arc<Route>, AdapterError> {
        match name {
            Some(name) => self
                .routes
                .get(&name.to_ascii_lowercase())
                .ok_or_else(|| AdapterError::unknown_endpoint(name)),
            None => self.default_route.as_ref().ok_or_else(|| AdapterError::Input {
                param: Some("endpoint".to_owned()),
                message: "missing required parameter `endpoint`: this adapter has no default endpoint"
                    .to_owned(),
            }),
        }
    }

    /// The canonical name of every endpoint.
    pub(super) fn canonical_routes(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .routes
            .values()
            .map(|route| route.canonical.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The caller's `x-request-id` when it is usable, else the next number in hex.
    pub(super) fn request_id(&self, given: Option<HeaderValue>) -> HeaderValue {
        given
            .filter(|v| !v.is_empty() && v.len() <= 64 && v.to_str().is_ok())
            .unwrap_or_else(|| {
                let n = self.next_request_id.fetch_add(1, Ordering::Relaxed);
                HeaderValue::try_from(format!("{n:x}"))
                    .unwrap_or_else(|_| HeaderValue::from_static("0"))
            })
    }
}

/// The `cache_type` label: what actually answers, so `CACHE_MAX_AGE=0` reads `none`.
fn cache_label(config: &Config) -> &'static str {
    match config.cache_type {
        _ if config.cache_max_age.is_zero() => "none",
        CacheType::Local => "local",
        CacheType::Redis => "redis",
    }
}
