//! The I/O a run needs, handed in as traits: HTTP, bridge lookup, the bridges' last-good
//! response cache and the clock. The crate ships only in-memory/tokio implementations
//! ([`MemoryCache`], [`NoCache`], [`TokioClock`]); the node and the CLI bring the rest.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A boxed future, as the traits return (no `async-trait` needed).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The most response body a run reads (the reference node's 32 KiB limit). A client reads at
/// most this many bytes **plus one**, so that an oversize answer can be told apart: `http`
/// truncates it (reference quirk), `bridge` judges it an error.
pub const MAX_BODY_BYTES: usize = offchain_bridge::judge::MAX_RESPONSE_BYTES;

/// One HTTP request of an `http` or `bridge` task.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method as written in the spec (`GET` by default).
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Headers in order; `Content-Type: application/json` is always among them.
    pub headers: Vec<(String, String)>,
    /// The JSON body, if any.
    pub body: Option<String>,
    /// Time left until the attempt's deadline; the runner enforces it too.
    pub timeout: Option<Duration>,
    /// The task forbids private, loopback and link-local addresses
    /// (`allowUnrestrictedNetworkAccess` false). The runner refuses such literal IPs itself;
    /// a client that resolves host names must check the resolved addresses.
    pub restricted: bool,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bridge's outgoing token travels in `Authorization`: never print it.
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let shown = if k.eq_ignore_ascii_case("authorization") {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body", &self.body)
            .field("timeout", &self.timeout)
            .field("restricted", &self.restricted)
            .finish()
    }
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// At most [`MAX_BODY_BYTES`] + 1 bytes of the body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request that got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// Could not connect, send or read; the text is the client's (it follows
    /// `error making http request: `).
    #[error("{0}")]
    Transport(String),
    /// The deadline passed.
    #[error("http request timed out or interrupted")]
    TimedOut,
}

/// Sends HTTP requests (redirects followed, body read up to [`MAX_BODY_BYTES`] + 1).
pub trait HttpClient: Send + Sync {
    /// Sends one request.
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, HttpError>>;
}

/// A bridge as the node knows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Bridge {
    /// The adapter's URL.
    pub url: String,
    /// Sent as `Authorization: Bearer …` (empty = no header).
    pub outgoing_token: String,
}

impl fmt::Debug for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bridge")
            .field("url", &self.url)
            .field("outgoing_token", &"<redacted>")
            .finish()
    }
}

/// Bridges by name, and where async adapters answer.
pub trait BridgeLookup: Send + Sync {
    /// The bridge called `name`, if any.
    fn bridge(&self, name: &str) -> Option<Bridge>;

    /// The `responseURL` sent by async bridge task `task` of run `run_id` (the node's
    /// `/v2/resume/<task run id>`, see `offchain_bridge::request::resume_url`); `None` sends
    /// none.
    fn response_url(&self, run_id: &str, task: &str) -> Option<String> {
        let _ = (run_id, task);
        None
    }
}

/// Bridges from a map (tests, the CLI's `--bridge NAME=URL`).
impl BridgeLookup for HashMap<String, Bridge> {
    fn bridge(&self, name: &str) -> Option<Bridge> {
        self.get(name).cloned()
    }
}

/// The bridges' last-good responses, keyed by (bridge name, request body). Only answers
/// judged a value are ever put (bridge.md §3 item 6).
pub trait ResponseCache: Send + Sync {
    /// The last good response stored at or after `not_before`.
    fn get(&self, bridge: &str, request_body: &str, not_before: Instant) -> Option<String>;
    /// Stores a good response received at `at`.
    fn put(&self, bridge: &str, request_body: &str, response: &str, at: Instant);
}

/// No cache at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCache;

impl ResponseCache for NoCache {
    fn get(&self, _: &str, _: &str, _: Instant) -> Option<String> {
        None
    }
    fn put(&self, _: &str, _: &str, _: &str, _: Instant) {}
}

/// An in-process cache (one node process, or one CLI run).
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<(String, String), (String, Instant)>>,
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }
}

impl ResponseCache for MemoryCache {
    fn get(&self, bridge: &str, request_body: &str, not_before: Instant) -> Option<String> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&(bridge.to_owned(), request_body.to_owned()))
            .filter(|(_, at)| *at >= not_before)
            .map(|(response, _)| response.clone())
    }

    fn put(&self, bridge: &str, request_body: &str, response: &str, at: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert(
            (bridge.to_owned(), request_body.to_owned()),
            (response.to_owned(), at),
        );
    }
}

/// Time, so that deadlines and backoff can be tested with paused or fake time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Instant;
    /// Completes at `deadline`.
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()>;
}

/// tokio's clock (so `tokio::time::pause` applies).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }
}
