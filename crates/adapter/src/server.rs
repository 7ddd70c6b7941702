//! The [`Adapter`] builder and its HTTP server (`POST /`, `GET /health`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::FutureExt;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::async_completion::{AsyncMode, Drained, InFlight, in_flight};
use crate::batch::{BatchHttpEndpoint, Batched};
use crate::cache::{Cache, Fetch, LocalCache, NoCache, Resolved, cache_key};
use crate::config::{CacheType, Config, ConfigError};
use crate::connections::{self, ConnectionLimits};
use crate::endpoint::{Context, DynEndpoint, Endpoint, Erased, Http, HttpEndpoint};
use crate::error::AdapterError;
use crate::metrics::{EndpointMetrics, Metrics, MetricsError};
use crate::protect::{RateLimit, RetryPolicy, check_param_lengths};
use crate::protocol::{AdapterRequest, AdapterResponse, DEFAULT_JOB_RUN_ID};
use crate::redis_cache::{RedisCache, RedisStartError};
use crate::refresh::Refresher;
use crate::stream::{StreamEndpoint, StreamSettings, Streaming};

/// Extra time over `API_TIMEOUT` before the adapter itself gives up, so an upstream timeout
/// is reported by the HTTP client (with its own message) rather than by this guard.
const ADAPTER_TIMEOUT_MARGIN: Duration = Duration::from_secs(1);

/// Longest wait at shutdown for answers still owed to nodes by PATCH; orchestrators kill
/// a stopping container after ~30 s anyway.
const SHUTDOWN_DRAIN_LIMIT: Duration = Duration::from_secs(25);

// Named once: a header name given as `&str` is parsed again on every request.
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_CHAINLINK_PENDING: HeaderName = HeaderName::from_static("x-chainlink-pending");

/// How long [`Adapter::run`] waits for blocking work (DNS lookups) once serving has ended.
const RUNTIME_SHUTDOWN_LIMIT: Duration = Duration::from_secs(1);

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
        let metrics = shared.metrics.is_some().then(|| {
            Router::new()
                .route("/metrics", get(render_metrics))
                .with_state(shared.clone())
        });
        let adapter = Router::new()
            .route("/", post(answer_request).fallback(method_not_allowed))
            .route("/health", get(health).fallback(method_not_allowed))
            .fallback(unknown_route)
            .layer(DefaultBodyLimit::max(config.max_payload_size))
            .with_state(shared);
        Ok((Routers { adapter, metrics }, drained))
    }

    /// Serves like [`serve`](Self::serve), on a Tokio runtime of its own with `EA_THREADS`
    /// threads: what an adapter's `main` calls. Returns once the adapter has stopped.
    ///
    /// With one thread (the default) every connection is handled in turn on the calling
    /// thread. That keeps tail latency lowest wherever the adapter shares cores with other
    /// programs: a second thread only adds a runnable thread for the kernel to preempt.
    /// More threads spread connections over cores.
    pub fn run(self, config: Config) -> Result<(), StartError> {
        let runtime = match config.threads {
            0 | 1 => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
            threads => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .enable_all()
                .build(),
        }
        .map_err(StartError::Runtime)?;
        let served = runtime.block_on(self.serve(config));
        // A DNS lookup still running on a blocking thread must not hold the exit.
        runtime.shutdown_timeout(RUNTIME_SHUTDOWN_LIMIT);
        served
    }

    /// Serves on `EA_HOST:EA_PORT` until SIGINT or SIGTERM, with JSON logs at `LOG_LEVEL`.
    ///
    /// Runs on the caller's runtime, whatever its flavour; `EA_THREADS` is read only by
    /// [`run`](Self::run).
    pub async fn serve(self, config: Config) -> Result<(), StartError> {
        init_logging(&config)?;
        // Only fails when a provider is already installed, which is what we want anyway.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let name = self.name.clone();
        let (routers, drained) = self.build(&config).await?;
        let shutdown = shutdown_signal();
        // Metrics first: once the adapter port accepts connections, scrapes work too.
        let metrics_server = match routers.metrics {
            Some(metrics) => Some(serve_metrics(&name, &config, metrics).await?),
            None => None,
        };
        let addr = SocketAddr::new(config.host, config.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let addr = listener.local_addr().unwrap_or(addr);
        tracing::info!(adapter = %name, %addr, "listening");
        connections::serve(
            listener,
            routers.adapter,
            ConnectionLimits::from_config(&config),
            shutdown,
        )
        .await;
        // Scrapes have nothing to wait for; the metrics listener stops with the adapter's.
        if let Some(metrics_server) = metrics_server {
            metrics_server.abort();
        }
        // Nodes suspended on a `pending` answer wait for its PATCH; leaving now would strand
        // them until their task times out.
        if tokio::time::timeout(SHUTDOWN_DRAIN_LIMIT, drained.wait())
            .await
            .is_err()
        {
            tracing::warn!(adapter = %name, "stopping with async answers still undelivered");
        }
        tracing::info!(adapter = %name, "stopped");
        Ok(())
    }
}

/// Binds `EA_HOST:METRICS_PORT` and serves `metrics` there in the background.
async fn serve_metrics(
    name: &str,
    config: &Config,
    metrics: Router,
) -> Result<tokio::task::JoinHandle<()>, StartError> {
    let addr = SocketAddr::new(config.host, config.metrics_port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::MetricsBind { addr, source })?;
    let addr = listener.local_addr().unwrap_or(addr);
    tracing::info!(adapter = %name, %addr, "serving metrics at /metrics");
    let limits = ConnectionLimits::from_config(config);
    Ok(tokio::spawn(connections::serve(
        listener,
        metrics,
        limits,
        std::future::pending(),
    )))
}

fn init_logging(config: &Config) -> Result<(), StartError> {
    let filter =
        crate::secrets::log_filter(&config.log_level).map_err(|e| ConfigError::Invalid {
            variable: "LOG_LEVEL".to_owned(),
            value: config.log_level.clone(),
            reason: e.to_string(),
        })?;
    // A subscriber set by an embedding program or a test wins; that is not an error.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .try_init();
    Ok(())
}

/// Registers the SIGINT/SIGTERM handlers at once and returns a future that resolves on
/// either. Registering before the listener is bound matters: a signal that arrived between
/// `bind` and the server's first poll would otherwise take the default action and kill the
/// process without a graceful shutdown.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |registered: std::io::Result<tokio::signal::unix::Signal>| async move {
                match registered {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {}
                () = wait(terminate) => {}
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!("shutdown signal received; finishing in-flight requests");
    }
}

struct Route {
    canonical: String,
    endpoint: Arc<dyn DynEndpoint>,
    metrics: Option<EndpointMetrics>,
}

struct Shared {
    routes: HashMap<String, Arc<Route>>,
    default_route: Option<Arc<Route>>,
    context: Context,
    cache: Arc<dyn Cache>,
    rate_limit: Option<Arc<RateLimit>>,
    adapter_timeout: Duration,
    max_payload_size: usize,
    /// `MAX_PARAM_LENGTH`.
    max_param_length: usize,
    /// `EA_BODY_TIMEOUT_MS`.
    body_timeout: Duration,
    next_request_id: AtomicU64,
    /// `ASYNC_AFTER_MS`, the allowed origins and the PATCH sender; `None` never goes async.
    async_mode: Option<AsyncMode>,
    /// Cloned into every background answer, so shutdown can wait for them.
    in_flight: InFlight,
    /// `None` when `METRICS_ENABLED=false`.
    metrics: Option<Metrics>,
    /// Background refresh of hot parameter sets (`CACHE_REFRESH_WINDOW_MS`).
    refresher: Option<Arc<Refresher>>,
}

impl Shared {
    async fn new(
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
        let refresher = match config.cache_refresh_window {
            // Without a cache there is nothing to keep warm.
            Some(window) if !config.cache_max_age.is_zero() => Some(Refresher::start(
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
        for route in &canonical_routes {
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
        })
    }

    /// The route `request` names: top-level `endpoint`, else `data.endpoint`, which must be
    /// a string too (a non-string top-level one already fails the body's parse).
    fn route_for(&self, request: &AdapterRequest) -> Result<&Arc<Route>, AdapterError> {
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

    /// The caller's `x-request-id` when it is usable, else the next number in hex.
    fn request_id(&self, given: Option<HeaderValue>) -> HeaderValue {
        given
            .filter(|v| !v.is_empty() && v.len() <= 64 && v.to_str().is_ok())
            .unwrap_or_else(|| {
                let n = self.next_request_id.fetch_add(1, Ordering::Relaxed);
                HeaderValue::try_from(format!("{n:x}"))
                    .unwrap_or_else(|_| HeaderValue::from_static("0"))
            })
    }

    async fn respond(&self, request: &AdapterRequest) -> AdapterResponse {
        self.answer(request).await.into_adapter_response()
    }

    async fn answer(&self, request: &AdapterRequest) -> Answer {
        // Parsing, validation and the fetch run the adapter author's code; a panic there
        // fails this request alone, as a 500, instead of dropping the connection.
        let resolved = AssertUnwindSafe(self.resolve(request))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                // The panic hook has already printed the message, which stays out of the
                // answer: it may hold anything the author's code had at hand.
                tracing::error!("endpoint code panicked; answered 500");
                Err(AdapterError::Internal(
                    "the adapter failed while answering this request".to_owned(),
                ))
            });
        match resolved {
            Ok(resolved) => Answer::Resolved {
                job_run_id: request.job_run_id(),
                resolved,
            },
            Err(error) => Answer::Response(error.to_response(request.job_run_id())),
        }
    }

    async fn resolve(&self, request: &AdapterRequest) -> Result<Arc<Resolved>, AdapterError> {
        check_param_lengths(&request.data, self.max_param_length)?;
        let route = self.route_for(request)?;
        tracing::Span::current().record("endpoint", route.canonical.as_str());
        let (params, fetch) = route
            .endpoint
            .clone()
            .prepare(&self.context, &request.data)?;
        let key = cache_key(&route.canonical, &params);
        // The permit is taken inside the fetch, which the cache runs only on a miss, so cache
        // hits and coalesced followers never wait for the rate limit.
        // Batched endpoints take one permit per upstream call themselves.
        let fetch = match &self.rate_limit {
            Some(limit) if !route.endpoint.takes_own_permit() => limit.clone().guard(fetch),
            _ => fetch,
        };
        let (fetch, fetched) = match &self.metrics {
            Some(metrics) => count_misses(metrics, fetch),
            None => (fetch, None),
        };
        // The key is copied only when background refresh needs it after the lookup.
        let refresh_key = match &self.refresher {
            Some(_) if route.endpoint.refreshable() => Some(key.clone()),
            _ => None,
        };
        let resolved =
            tokio::time::timeout(self.adapter_timeout, self.cache.get_or_fetch(key, fetch))
                .await
                .map_err(|_| {
                    AdapterError::Timeout("the adapter did not get an answer in time".to_owned())
                })??;
        if let (Some(metrics), Some(fetched)) = (&self.metrics, fetched) {
            // A hit is an answer without this request's own upstream call: stored, or
            // shared from a concurrent request's call.
            if !fetched.load(Ordering::Relaxed) {
                metrics.cache_hit.increment(1);
            }
        }
        if let (Some(refresher), Some(key)) = (&self.refresher, refresh_key) {
            refresher.note(&key, &route.canonical, &route.endpoint, &resolved);
        }
        Ok(resolved)
    }
}

/// What a request is answered with.
enum Answer {
    /// A success straight from the cache, serialized without copying the cached answer.
    Resolved {
        job_run_id: String,
        resolved: Arc<Resolved>,
    },
    /// Anything else (errors, pending).
    Response(AdapterResponse),
}

impl Answer {
    fn status_code(&self) -> u16 {
        match self {
            Self::Resolved { .. } => 200,
            Self::Response(response) => response.status_code(),
        }
    }

    fn into_adapter_response(self) -> AdapterResponse {
        match self {
            Self::Resolved {
                job_run_id,
                resolved,
            } => AdapterResponse::success(
                job_run_id,
                resolved.result().clone(),
                resolved.data().clone(),
                *resolved.timestamps(),
                json!({}),
            ),
            Self::Response(response) => response,
        }
    }

    fn to_http(&self) -> Response {
        match self {
            Self::Resolved {
                job_run_id,
                resolved,
            } => {
                match resolved.success_body(job_run_id) {
                    Ok(body) => (
                        [(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        )],
                        body,
                    )
                        .into_response(),
                    // A `Value` always serializes; should that change, answer as axum would.
                    Err(_) => json_response(&self.clone_response()),
                }
            }
            Self::Response(response) => json_response(response),
        }
    }

    fn clone_response(&self) -> AdapterResponse {
        match self {
            Self::Resolved {
                job_run_id,
                resolved,
            } => Self::Resolved {
                job_run_id: job_run_id.clone(),
                resolved: resolved.clone(),
            }
            .into_adapter_response(),
            Self::Response(response) => response.clone(),
        }
    }
}

impl From<AdapterResponse> for Answer {
    fn from(response: AdapterResponse) -> Self {
        Self::Response(response)
    }
}

/// The `x-request-id` header of a request, cloned alone (extracting the whole `HeaderMap`
/// would copy every header per request).
struct RequestIdHeader(Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for RequestIdHeader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get(&X_REQUEST_ID).cloned()))
    }
}

/// The request body, read within `EA_BODY_TIMEOUT_MS` of the handler's start (the headers'
/// arrival), so a client trickling its body cannot hold a connection and a task forever.
struct TimedBody(Result<Bytes, BodyError>);

enum BodyError {
    Rejected(BytesRejection),
    TimedOut,
}

impl FromRequest<Arc<Shared>> for TimedBody {
    type Rejection = std::convert::Infallible;

    async fn from_request(request: Request, shared: &Arc<Shared>) -> Result<Self, Self::Rejection> {
        // A body that came with the headers is read on the first poll, before the timer is
        // ever registered.
        let read = Bytes::from_request(request, shared);
        Ok(Self(
            match tokio::time::timeout(shared.body_timeout, read).await {
                Ok(body) => body.map_err(BodyError::Rejected),
                Err(_) => Err(BodyError::TimedOut),
            },
        ))
    }
}

async fn answer_request(
    State(shared): State<Arc<Shared>>,
    RequestIdHeader(given_request_id): RequestIdHeader,
    TimedBody(body): TimedBody,
) -> Response {
    let request_id = shared.request_id(given_request_id);
    // A `debug` span: at `info`, formatting a span's fields for every request would cost a
    // third of a cached answer. The lines that `info` does show carry the id themselves.
    let span = tracing::debug_span!(
        "request",
        request_id = request_id.to_str().unwrap_or_default(),
        endpoint = tracing::field::Empty
    );
    let started = Instant::now();
    let (response, route) = answer(&shared, body).instrument(span.clone()).await;
    let status = response.status_code();
    if let Some(metrics) = &shared.metrics {
        let endpoint = route
            .as_ref()
            .and_then(|route| route.metrics.as_ref())
            .unwrap_or_else(|| metrics.unknown_endpoint());
        endpoint.record(status, started.elapsed());
    }
    // Successes are `debug`: a line per answer would cost more than answering from the
    // cache. Errors stay visible at the default `info`. Fields are only computed for a line
    // that is written.
    let elapsed_ms = || started.elapsed().as_secs_f64() * 1000.0;
    let id = || request_id.to_str().unwrap_or_default();
    let endpoint = route.as_ref().map(|route| route.canonical.as_str());
    span.in_scope(|| match status {
        500.. => tracing::warn!(
            status,
            request_id = id(),
            endpoint,
            elapsed_ms = elapsed_ms(),
            "answered"
        ),
        400.. => tracing::info!(
            status,
            request_id = id(),
            endpoint,
            elapsed_ms = elapsed_ms(),
            "answered"
        ),
        _ => tracing::debug!(
            status,
            request_id = id(),
            endpoint,
            elapsed_ms = elapsed_ms(),
            "answered"
        ),
    });
    let mut http = response.to_http();
    if status == StatusCode::REQUEST_TIMEOUT.as_u16() {
        // The rest of a late body may still arrive; it must not be read as a next request.
        http.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if matches!(response, Answer::Response(AdapterResponse::Pending(_))) {
        // Some nodes suspend on this header rather than on the body (bridge.md §2).
        http.headers_mut()
            .insert(X_CHAINLINK_PENDING, HeaderValue::from_static("true"));
    }
    http.headers_mut().insert(X_REQUEST_ID, request_id);
    http
}

/// The answer, and the route it went to (for metrics; `None` when metrics are off or the
/// request matched no endpoint).
async fn answer(
    shared: &Arc<Shared>,
    body: Result<Bytes, BodyError>,
) -> (Answer, Option<Arc<Route>>) {
    let job_run_id = || DEFAULT_JOB_RUN_ID.to_owned();
    let body = match body {
        Ok(body) => body,
        Err(BodyError::TimedOut) => {
            let error = AdapterError::BodyTimeout {
                limit_ms: shared.body_timeout.as_millis(),
            };
            return (error.to_response(job_run_id()).into(), None);
        }
        Err(BodyError::Rejected(rejection))
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
        {
            let error = AdapterError::PayloadTooLarge {
                limit: shared.max_payload_size,
            };
            return (error.to_response(job_run_id()).into(), None);
        }
        Err(BodyError::Rejected(rejection)) => {
            let error = AdapterError::Input {
                param: None,
                message: format!("could not read the request body: {rejection}"),
            };
            return (error.to_response(job_run_id()).into(), None);
        }
    };
    let request: AdapterRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            let error = AdapterError::Input {
                param: None,
                message: format!("request body is not a valid adapter request: {e}"),
            };
            return (error.to_response(job_run_id_of_invalid(&body)).into(), None);
        }
    };
    // A second lookup (resolve does its own) only when metrics are on; it is a hash probe.
    let route = match shared.metrics {
        Some(_) => shared.route_for(&request).ok().cloned(),
        None => None,
    };
    let accepted = match (&shared.async_mode, request.response_url.as_deref()) {
        (Some(mode), Some(url)) => mode.accept(url).map(|accepted| (mode, accepted)),
        _ => None,
    };
    let response = match accepted {
        Some((mode, accepted)) => {
            let job_run_id = request.job_run_id();
            let in_flight = shared.in_flight.clone();
            let owner = shared.clone();
            let answer = async move { owner.respond(&request).await };
            mode.answer_or_defer(accepted, answer, job_run_id, in_flight)
                .await
                .into()
        }
        _ => shared.answer(&request).await,
    };
    (response, route)
}

/// The `jobRunID` for a body that is not a valid request (say `data` is a string): its
/// `id`, when it has one, still names the run the node waits on.
fn job_run_id_of_invalid(body: &[u8]) -> String {
    let id = match serde_json::from_slice::<Value>(body) {
        Ok(mut body) => body.get_mut("id").map(Value::take),
        Err(_) => None,
    };
    AdapterRequest {
        id,
        ..AdapterRequest::default()
    }
    .job_run_id()
}

fn json_response(response: &AdapterResponse) -> Response {
    let status =
        StatusCode::from_u16(response.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(response)).into_response()
}

async fn render_metrics(State(shared): State<Arc<Shared>>) -> Response {
    let Some(metrics) = &shared.metrics else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let queued = shared.rate_limit.as_ref().map_or(0, |limit| limit.queued());
    let text = metrics.render(queued, shared.in_flight.count());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// Wraps `fetch` to count a cache miss when the cache runs it, and returns the flag that
/// tells afterwards whether it ran.
fn count_misses(metrics: &Metrics, fetch: Fetch) -> (Fetch, Option<Arc<AtomicBool>>) {
    let fetched = Arc::new(AtomicBool::new(false));
    let flag = fetched.clone();
    let miss = metrics.cache_miss.clone();
    let counted: Fetch = Box::pin(async move {
        flag.store(true, Ordering::Relaxed);
        miss.increment(1);
        fetch.await
    });
    (counted, Some(fetched))
}

/// The `cache_type` label: what actually answers, so `CACHE_MAX_AGE=0` reads `none`.
fn cache_label(config: &Config) -> &'static str {
    match config.cache_type {
        _ if config.cache_max_age.is_zero() => "none",
        CacheType::Local => "local",
        CacheType::Redis => "redis",
    }
}

async fn health() -> axum::Json<Value> {
    axum::Json(json!({"status": "OK"}))
}

async fn method_not_allowed(method: axum::http::Method) -> Response {
    let error = AdapterError::MethodNotAllowed(method.to_string());
    json_response(&error.to_response(DEFAULT_JOB_RUN_ID.to_owned()))
}

async fn unknown_route(uri: axum::http::Uri) -> Response {
    json_response(
        &AdapterError::unknown_endpoint(uri.path()).to_response(DEFAULT_JOB_RUN_ID.to_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::Output;

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
