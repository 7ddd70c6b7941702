//! Testing kit: run an adapter on an ephemeral port against a mocked upstream.
//!
//! ```no_run
//! # async fn demo(adapter: offchain_adapter::Adapter) {
//! use axum::{Json, Router, routing::get};
//! use offchain_adapter::testing::{MockUpstream, TestAdapter, test_config};
//! use serde_json::json;
//!
//! let upstream = MockUpstream::start(
//!     Router::new().route("/api", get(|| async { Json(json!({"price": 1.5})) })),
//! )
//! .await;
//! let config = test_config(&[("API_URL", upstream.url())]);
//! let ea = TestAdapter::start(adapter, config).await;
//! let answer = ea.request(json!({"data": {"coin": "ETH"}})).await;
//! assert_eq!(answer.status, 200);
//! assert_eq!(upstream.hits(), 1);
//! # }
//! ```
//!
//! Helpers panic with a message instead of returning errors: they are for tests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::routing::patch;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::connections::{self, ConnectionLimits};
use crate::server::Adapter;

/// A configuration for tests: defaults plus `vars`, listening on 127.0.0.1.
pub fn test_config(vars: &[(&str, &str)]) -> Config {
    let mut all = vec![("EA_HOST", "127.0.0.1"), ("EA_PORT", "0")];
    all.extend_from_slice(vars);
    match Config::from_vars(all) {
        Ok(config) => config,
        Err(error) => panic!("test configuration is invalid: {error}"),
    }
}

/// An HTTP server on 127.0.0.1 that stops when dropped.
struct Server {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Server {
    /// Serves `router` with the default connection limits.
    async fn start(router: Router) -> Self {
        Self::start_limited(router, ConnectionLimits::from_config(&Config::default())).await
    }

    /// Serves `router` as the adapter does, with `limits`.
    async fn start_limited(router: Router, limits: ConnectionLimits) -> Self {
        let (listener, addr) = bind_test_port().await;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let stopped = async {
            let _ = stopped.await;
        };
        tokio::spawn(connections::serve(listener, router, limits, stopped));
        Self {
            addr,
            shutdown: Some(shutdown),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// A fake data provider that counts the requests it gets.
pub struct MockUpstream {
    server: Server,
    url: String,
    hits: Arc<AtomicUsize>,
}

impl MockUpstream {
    /// Serves `router` and counts every request to it.
    pub async fn start(router: Router) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let router = router.layer(middleware::from_fn(move |request: Request, next: Next| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { next.run(request).await }
        }));
        let server = Server::start(router).await;
        let url = format!("http://{}", server.addr);
        Self { server, url, hits }
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The socket address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }
}

/// A URL on which nothing listens (a port bound and released), for "unreachable" tests.
pub async fn unreachable_url() -> String {
    let (listener, addr) = bind_test_port().await;
    drop(listener);
    format!("http://{addr}")
}

/// A listener on an ephemeral 127.0.0.1 port, and its address.
async fn bind_test_port() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("cannot bind a test port: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("test listener has no address: {e}"));
    (listener, addr)
}

/// An answer from the adapter under test.
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// HTTP status.
    pub status: u16,
    /// The body as JSON, or `Value::Null` when it is not JSON.
    pub body: Value,
    /// `Content-Type` header.
    pub content_type: Option<String>,
    /// All response headers.
    pub headers: reqwest::header::HeaderMap,
}

/// An adapter running on an ephemeral port; stops when dropped.
pub struct TestAdapter {
    server: Server,
    url: String,
    client: reqwest::Client,
    metrics: Option<Server>,
}

impl TestAdapter {
    /// Starts `adapter` with `config`, served as [`Adapter::serve`] does (connection limits
    /// included; its host and ports are ignored; metrics, unless
    /// `METRICS_ENABLED=false`, get their own ephemeral port: see [`TestAdapter::metrics`]).
    pub async fn start(adapter: Adapter, config: Config) -> Self {
        let routers = adapter
            .routers(&config)
            .await
            .unwrap_or_else(|e| panic!("adapter does not start: {e}"));
        let limits = ConnectionLimits::from_config(&config);
        let server = Server::start_limited(routers.adapter, limits).await;
        let metrics = match routers.metrics {
            Some(router) => Some(Server::start(router).await),
            None => None,
        };
        let url = format!("http://{}", server.addr);
        Self {
            server,
            url,
            client: reqwest::Client::new(),
            metrics,
        }
    }

    /// The metrics listener's address; `None` when metrics are disabled.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|server| server.addr)
    }

    /// `GET /metrics` on the metrics listener: the Prometheus text.
    pub async fn metrics(&self) -> String {
        let Some(addr) = self.metrics_addr() else {
            panic!("metrics are disabled (METRICS_ENABLED=false)");
        };
        let response = self
            .client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("metrics listener did not answer: {e}"));
        assert_eq!(response.status().as_u16(), 200, "GET /metrics");
        response
            .text()
            .await
            .unwrap_or_else(|e| panic!("metrics body could not be read: {e}"))
    }

    /// Base URL of the adapter.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The socket address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// `POST /` with a JSON body.
    pub async fn request(&self, body: Value) -> TestResponse {
        self.post_bytes(body.to_string().into_bytes()).await
    }

    /// `POST /` with any bytes as the body.
    pub async fn post_bytes(&self, body: Vec<u8>) -> TestResponse {
        let request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body);
        into_test_response(request.send().await).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        into_test_response(self.client.get(format!("{}{path}", self.url)).send().await).await
    }
}

async fn into_test_response(sent: reqwest::Result<reqwest::Response>) -> TestResponse {
    let response = sent.unwrap_or_else(|e| panic!("adapter did not answer: {e}"));
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let headers = response.headers().clone();
    let bytes = response
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("adapter body could not be read: {e}"));
    TestResponse {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        content_type,
        headers,
    }
}

/// One PATCH received by a [`NodeReceiver`].
#[derive(Debug, Clone)]
pub struct ReceivedPatch {
    /// The URL path, e.g. `/v2/resume/<uuid>`.
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The body as JSON, or `Value::Null` when it is not JSON.
    pub body: Value,
}

struct ReceiverState {
    patches: mpsc::UnboundedSender<ReceivedPatch>,
    /// Every request, PATCH or not, on any path.
    requests: AtomicUsize,
    failures_left: AtomicUsize,
    status: StatusCode,
}

/// A stand-in for a node's async completion routes (`PATCH /v2/resume/{id}` and
/// `PATCH /v2/runs/{id}`) that records every PATCH; stops when dropped.
///
/// ```no_run
/// # async fn demo() {
/// use std::time::Duration;
/// use offchain_adapter::testing::NodeReceiver;
///
/// let mut node = NodeReceiver::start().await;
/// let response_url = node.url("/v2/resume/6b0e9a0e-8f0b-4a4e-9d5c-5e1f1c7f6c11");
/// // ... request the adapter with "responseURL": response_url, ASYNC_AFTER_MS set and
/// // ASYNC_ALLOWED_ORIGINS = node.origin() ...
/// let patch = node.next_patch(Duration::from_secs(5)).await;
/// assert_eq!(patch.body["value"]["statusCode"], 200);
/// # }
/// ```
pub struct NodeReceiver {
    server: Server,
    url: String,
    patches: mpsc::UnboundedReceiver<ReceivedPatch>,
    state: Arc<ReceiverState>,
}

impl NodeReceiver {
    /// A receiver that accepts every PATCH with 200.
    pub async fn start() -> Self {
        Self::failing(0, 200).await
    }

    /// A receiver that answers the first `failures` PATCHes with 503, then `status`.
    pub async fn failing(failures: usize, status: u16) -> Self {
        let (sender, patches) = mpsc::unbounded_channel();
        let state = Arc::new(ReceiverState {
            patches: sender,
            requests: AtomicUsize::new(0),
            failures_left: AtomicUsize::new(failures),
            status: StatusCode::from_u16(status)
                .unwrap_or_else(|e| panic!("invalid receiver status {status}: {e}")),
        });
        let counted = state.clone();
        let router = Router::new()
            .route("/v2/resume/{id}", patch(record_patch))
            .route("/v2/runs/{id}", patch(record_patch))
            .with_state(state.clone())
            .layer(middleware::from_fn(move |request: Request, next: Next| {
                counted.requests.fetch_add(1, Ordering::SeqCst);
                async move { next.run(request).await }
            }));
        let server = Server::start(router).await;
        let url = format!("http://{}", server.addr);
        Self {
            server,
            url,
            patches,
            state,
        }
    }

    /// Its origin, `http://127.0.0.1:<port>`: what `ASYNC_ALLOWED_ORIGINS` lists to let
    /// the adapter send answers here.
    pub fn origin(&self) -> &str {
        &self.url
    }

    /// Requests received so far, of any method and path (not only recorded PATCHes).
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// The full URL of `path` on this receiver, to send as `responseURL`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// The socket address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The next PATCH; panics when none arrives `within`.
    pub async fn next_patch(&mut self, within: Duration) -> ReceivedPatch {
        match tokio::time::timeout(within, self.patches.recv()).await {
            Ok(Some(patch)) => patch,
            Ok(None) => panic!("the receiver stopped"),
            Err(_) => panic!("no PATCH arrived within {within:?}"),
        }
    }

    /// Panics when a PATCH arrives within `window`.
    pub async fn assert_no_patch(&mut self, window: Duration) {
        if let Ok(Some(patch)) = tokio::time::timeout(window, self.patches.recv()).await {
            panic!("unexpected PATCH {patch:?}");
        }
    }
}

async fn record_patch(
    State(state): State<Arc<ReceiverState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let _ = state.patches.send(ReceivedPatch {
        path: uri.path().to_owned(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let failing = state
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        state.status
    }
}

/// Everything this process logs from the first [`capture_logs`] call on, as JSON lines.
#[derive(Clone)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// The lines captured so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Writes one formatted event into the capture buffer.
struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every log line of this process at `trace`, through the same filter and JSON
/// format [`Adapter::serve`] uses, including records of dependencies that log through the
/// `log` crate; installs itself as the global subscriber on the first call (later calls
/// share it). For tests that check what is logged, e.g. that no secret ever is.
pub fn capture_logs() -> CapturedLogs {
    static CAPTURED: OnceLock<CapturedLogs> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let logs = CapturedLogs(Arc::default());
            let buffer = logs.0.clone();
            let filter = crate::secrets::log_filter("trace")
                .unwrap_or_else(|e| panic!("trace is a valid filter: {e}"));
            let installed = tracing_subscriber::fmt()
                .json()
                .with_env_filter(filter)
                .with_writer(move || CaptureWriter(buffer.clone()))
                .try_init();
            if let Err(error) = installed {
                panic!("capture_logs must install the first global subscriber: {error}");
            }
            logs
        })
        .clone()
}
