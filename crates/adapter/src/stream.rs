//! WebSocket streaming endpoints: answers come from a provider that pushes values over one
//! WebSocket connection, so requests are served from a warm cache.
//!
//! An author implements [`StreamEndpoint`] (subscribe/unsubscribe message builders, a
//! message handler, an optional heartbeat) and registers it with
//! [`Adapter::stream_endpoint`](crate::Adapter::stream_endpoint) and [`StreamSettings`].
//! The framework then:
//!
//! - keeps **one connection** per streaming endpoint to [`StreamSettings::url`] (`ws://`, or
//!   `wss://` with the native root certificates and the aws-lc crypto provider);
//! - **subscribes** a parameter set the first time a request asks for it, sending
//!   [`StreamEndpoint::subscribe`]; every later request for it only refreshes its
//!   last-requested time;
//! - passes every text frame (and binary frames that are UTF-8) to
//!   [`StreamEndpoint::handle`] and writes each result into the adapter's cache under the
//!   same key the request path reads (`cache_key(endpoint, params)`), so requests for an
//!   active parameter set are cache hits. Results for parameter sets nobody subscribed to
//!   are dropped;
//! - answers a request whose parameters have **no value yet** (a cache miss) with the latest
//!   value streamed for them, or else waits for the next one up to
//!   [`StreamSettings::first_value_timeout`], then answers 504 `AdapterTimeoutError`. There
//!   is no HTTP fallback: an adapter that needs one registers an ordinary endpoint too;
//! - **never answers a value older than `CACHE_MAX_AGE`**: each value keeps the time it was
//!   received (its `providerDataReceivedUnixMs`); cache entries expire at that age (local
//!   and Redis alike, [`crate::cache`]), and the latest value is not used once it is that
//!   old, so a provider that stops pushing a pair makes its requests wait for a new value
//!   (and time out), not read an old one. With `CACHE_MAX_AGE=0` every request waits for
//!   the next value;
//! - streaming endpoints are **left out of background refresh** (`CACHE_REFRESH_WINDOW_MS`,
//!   [`crate::refresh`]): their values come from the provider's pushes, and re-storing the
//!   latest one would only make it look younger than it is;
//! - **unsubscribes** parameter sets not requested for [`StreamSettings::idle_ttl`]
//!   (sending [`StreamEndpoint::unsubscribe`]) and forgets their values;
//! - sends [`StreamEndpoint::heartbeat`] every [`StreamSettings::heartbeat_interval`];
//! - drops a connection on which **no frame has arrived** for `WS_UNRESPONSIVE_TIMEOUT_MS`
//!   (default 30 000; any frame counts, pings included), since a provider can stop sending
//!   while the socket stays open, and reconnects;
//! - on a dropped or failed connection **reconnects** with exponential backoff
//!   ([`StreamSettings::backoff_min`] doubling up to [`StreamSettings::backoff_max`]) and
//!   re-subscribes every active parameter set. Values streamed before the drop stay in the
//!   cache until `CACHE_MAX_AGE`, but are not served after that: requests then wait for the
//!   new connection's values;
//! - limits active subscriptions to [`StreamSettings::max_subscriptions`] (one more → 429).
//!
//! A streaming request that misses the cache goes through the rate limit like any upstream
//! call (it takes a permit while waiting for its first value); cache hits do not. With
//! `CACHE_TYPE=redis` the streamed values are written to Redis, so other instances read
//! them, but each instance keeps its own connection and subscriptions.
//!
//! Logs show the stream's URL by scheme, host and port only: stream URLs often carry tokens.
//!
//! The connection task starts with the server and ends when the router is dropped.
//! Messages are text: providers with binary protocols are not covered yet.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value};
use tokio::sync::{broadcast, mpsc};
use tokio_tungstenite::tungstenite::Message;

use crate::cache::{Cache, Fetch, Resolved, cache_key};
use crate::config::Config;
use crate::endpoint::{Context, DynEndpoint, Output, Params, parse_validated, unix_ms};
use crate::error::AdapterError;
use crate::protocol::Timestamps;
use crate::secrets::url_origin;

/// Longest wait for the WebSocket handshake before the attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Streamed values kept for waiting requests; a waiter that lags behind falls back to the
/// latest value, so this only needs to cover bursts.
const VALUES_CAPACITY: usize = 1024;

/// An endpoint answered from a provider's WebSocket stream.
pub trait StreamEndpoint: Send + Sync + 'static {
    type Params: Params;

    /// Checks values serde cannot; errors are answered with 400 and never subscribe.
    fn validate(&self, _params: &Self::Params) -> Result<(), AdapterError> {
        Ok(())
    }

    /// The text frame that subscribes to `params`.
    fn subscribe(&self, params: &Self::Params) -> String;

    /// The text frame that ends the subscription to `params`.
    fn unsubscribe(&self, params: &Self::Params) -> String;

    /// Parses one provider message into answers for parameter sets; messages that carry no
    /// answer (acknowledgements, pongs, garbage) return an empty list.
    fn handle(&self, message: &str) -> Vec<(Self::Params, Output)>;

    /// The text frame sent every [`StreamSettings::heartbeat_interval`]; `None` sends none.
    fn heartbeat(&self) -> Option<String> {
        None
    }
}

/// Where and how a streaming endpoint connects. `Debug` shows the URL's origin only.
#[derive(Clone, PartialEq, Eq)]
pub struct StreamSettings {
    /// The provider's WebSocket URL (typically from the environment, e.g. `WS_API_URL`).
    pub url: String,
    /// How long a request for parameters without a value waits for the first one.
    /// The adapter's own deadline (`API_TIMEOUT` + 1 s) applies too.
    pub first_value_timeout: Duration,
    /// A parameter set not requested for this long is unsubscribed.
    pub idle_ttl: Duration,
    /// How often [`StreamEndpoint::heartbeat`] is sent.
    pub heartbeat_interval: Duration,
    /// First reconnection delay; doubles per failed attempt.
    pub backoff_min: Duration,
    /// Longest reconnection delay.
    pub backoff_max: Duration,
    /// Most parameter sets subscribed at once; a request for one more is answered 429
    /// (`AdapterRateLimitError`), so clients cannot grow the provider's subscription list
    /// (and this adapter's memory) without bound.
    pub max_subscriptions: usize,
}

impl StreamSettings {
    /// Settings for `url` with defaults: first value within 5 s, unsubscribe after 5 min
    /// idle, heartbeat every 30 s, reconnect after 100 ms doubling up to 30 s, at most
    /// 10 000 subscriptions.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            first_value_timeout: Duration::from_secs(5),
            idle_ttl: Duration::from_secs(300),
            heartbeat_interval: Duration::from_secs(30),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            max_subscriptions: 10_000,
        }
    }
}

impl std::fmt::Debug for StreamSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            url,
            first_value_timeout,
            idle_ttl,
            heartbeat_interval,
            backoff_min,
            backoff_max,
            max_subscriptions,
        } = self;
        f.debug_struct("StreamSettings")
            // Stream URLs often carry a token in their query.
            .field("url", &url_origin(url))
            .field("first_value_timeout", first_value_timeout)
            .field("idle_ttl", idle_ttl)
            .field("heartbeat_interval", heartbeat_interval)
            .field("backoff_min", backoff_min)
            .field("backoff_max", backoff_max)
            .field("max_subscriptions", max_subscriptions)
            .finish()
    }
}

/// One active subscription.
struct Subscription {
    subscribe: String,
    unsubscribe: String,
    last_requested: Instant,
    /// Whether the subscribe frame went out on the current connection.
    subscribed: bool,
    latest: Option<Arc<Resolved>>,
}

/// What requests and the connection task share.
struct Hub {
    canonical: String,
    cache: Arc<dyn Cache>,
    /// `CACHE_MAX_AGE`: older values are never answered.
    max_age: Duration,
    /// By cache key. A std mutex: held only for map updates, never across an await.
    subscriptions: Mutex<HashMap<String, Subscription>>,
    values: broadcast::Sender<(String, Arc<Resolved>)>,
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Subscription>> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // matters (each update is one insert/remove), so a poisoned lock is still usable.
        self.subscriptions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The latest value for `key`, unless it is `CACHE_MAX_AGE` old.
    fn latest(&self, key: &str) -> Option<Arc<Resolved>> {
        self.lock()
            .get(key)
            .and_then(|s| s.latest.clone())
            .filter(|latest| !latest.time_to_live(self.max_age).is_zero())
    }
}

/// Wakes the connection task; the subscription itself is already in the hub.
struct Subscribe(String);

struct Attached {
    hub: Arc<Hub>,
    /// Dropping it (with the router) ends the connection task.
    commands: mpsc::UnboundedSender<Subscribe>,
}

/// The type-erased form the server dispatches to.
pub(crate) struct Streaming<E> {
    endpoint: Arc<E>,
    settings: StreamSettings,
    attached: OnceLock<Attached>,
}

impl<E: StreamEndpoint> Streaming<E> {
    pub(crate) fn new(endpoint: E, settings: StreamSettings) -> Self {
        Self {
            endpoint: Arc::new(endpoint),
            settings,
            attached: OnceLock::new(),
        }
    }
}

impl<E: StreamEndpoint> DynEndpoint for Streaming<E> {
    fn attach(&self, canonical: &str, cache: &Arc<dyn Cache>, config: &Config) {
        let (values, _) = broadcast::channel(VALUES_CAPACITY);
        let hub = Arc::new(Hub {
            canonical: canonical.to_owned(),
            cache: cache.clone(),
            max_age: config.cache_max_age,
            subscriptions: Mutex::new(HashMap::new()),
            values,
        });
        let (commands, receiver) = mpsc::unbounded_channel();
        if self
            .attached
            .set(Attached {
                hub: hub.clone(),
                commands,
            })
            .is_ok()
        {
            let task = Connection {
                endpoint: self.endpoint.clone(),
                settings: self.settings.clone(),
                unresponsive_timeout: config.ws_unresponsive_timeout,
                hub,
                commands: receiver,
            };
            tokio::spawn(task.run());
        }
    }

    fn refreshable(&self) -> bool {
        false
    }

    fn normalize(&self, data: &Map<String, Value>) -> Result<Value, AdapterError> {
        Ok(parse_validated::<E::Params>(data, |p| self.endpoint.validate(p))?.1)
    }

    fn prepare(
        self: Arc<Self>,
        _context: &Context,
        data: &Map<String, Value>,
    ) -> Result<(Value, Fetch), AdapterError> {
        let (params, normalized) = parse_validated(data, |p| self.endpoint.validate(p))?;
        let attached = self.attached.get().ok_or_else(|| {
            AdapterError::Internal("streaming endpoint used outside a server".to_owned())
        })?;
        let hub = attached.hub.clone();
        let key = cache_key(&hub.canonical, &normalized);
        // Every request, hit or miss, counts as interest, so hot parameters stay subscribed.
        let is_new = {
            let mut subscriptions = hub.lock();
            let active = subscriptions.len();
            match subscriptions.get_mut(&key) {
                Some(subscription) => {
                    subscription.last_requested = Instant::now();
                    false
                }
                None if active >= self.settings.max_subscriptions => {
                    return Err(AdapterError::RateLimited(format!(
                        "the stream already has {active} active subscriptions"
                    )));
                }
                None => {
                    subscriptions.insert(
                        key.clone(),
                        Subscription {
                            subscribe: self.endpoint.subscribe(&params),
                            unsubscribe: self.endpoint.unsubscribe(&params),
                            last_requested: Instant::now(),
                            subscribed: false,
                            latest: None,
                        },
                    );
                    true
                }
            }
        };
        if is_new {
            // Fails only when the task is gone (runtime shutting down); the wait below then
            // times out.
            let _ = attached.commands.send(Subscribe(key.clone()));
        }
        let wait = self.settings.first_value_timeout;
        let fetch: Fetch = Box::pin(async move {
            // Listen before looking at the latest value, so a value arriving in between is
            // not missed.
            let mut values = hub.values.subscribe();
            if let Some(latest) = hub.latest(&key) {
                return Ok((*latest).clone());
            }
            let first = async {
                loop {
                    match values.recv().await {
                        Ok((k, value)) if k == key => return Some(value),
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            if let Some(latest) = hub.latest(&key) {
                                return Some(latest);
                            }
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            };
            match tokio::time::timeout(wait, first).await {
                Ok(Some(value)) => Ok((*value).clone()),
                _ => Err(AdapterError::Timeout(format!(
                    "no value from the provider's stream within {} ms",
                    wait.as_millis()
                ))),
            }
        });
        Ok((normalized, fetch))
    }
}

/// Why a connection ended.
enum Ended {
    /// The router was dropped: stop for good.
    Stopped,
    /// The provider closed it or it failed: reconnect.
    Dropped,
}

struct Connection<E> {
    endpoint: Arc<E>,
    settings: StreamSettings,
    /// `WS_UNRESPONSIVE_TIMEOUT_MS`.
    unresponsive_timeout: Duration,
    hub: Arc<Hub>,
    commands: mpsc::UnboundedReceiver<Subscribe>,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl<E: StreamEndpoint> Connection<E> {
    async fn run(mut self) {
        let mut backoff = self.settings.backoff_min;
        loop {
            let url = self.settings.url.clone();
            let attempt =
                tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(url));
            let socket = tokio::select! {
                attempt = attempt => attempt,
                stopped = self.wait_for_stop() => return stopped,
            };
            match socket {
                Ok(Ok((socket, _))) => {
                    tracing::info!(url = %url_origin(&self.settings.url), "stream connected");
                    backoff = self.settings.backoff_min;
                    match self.serve(socket).await {
                        Ended::Stopped => return,
                        Ended::Dropped => {
                            tracing::warn!(url = %url_origin(&self.settings.url), "stream dropped; reconnecting");
                            // Values from a dead connection may be stale: once the cache
                            // entries expire, requests wait for values from the new one.
                            for subscription in self.hub.lock().values_mut() {
                                subscription.latest = None;
                            }
                        }
                    }
                }
                Ok(Err(error)) => {
                    tracing::warn!(url = %url_origin(&self.settings.url), %error, "stream connection failed")
                }
                Err(_) => {
                    tracing::warn!(url = %url_origin(&self.settings.url), "stream connection timed out")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                stopped = self.wait_for_stop() => return stopped,
            }
            backoff = (backoff * 2).min(self.settings.backoff_max);
        }
    }

    /// Resolves when the router is dropped. Subscriptions arriving while disconnected need
    /// no action: they are in the hub and sent on (re)connect.
    async fn wait_for_stop(&mut self) {
        while self.commands.recv().await.is_some() {}
    }

    async fn serve(&mut self, mut socket: Socket) -> Ended {
        // Idle parameter sets are dropped before re-subscribing, not re-subscribed.
        self.sweep_idle();
        let pending: Vec<String> = {
            let mut subscriptions = self.hub.lock();
            subscriptions
                .values_mut()
                .map(|s| {
                    s.subscribed = true;
                    s.subscribe.clone()
                })
                .collect()
        };
        for frame in pending {
            if socket.send(Message::text(frame)).await.is_err() {
                return Ended::Dropped;
            }
        }
        let heartbeat = self.endpoint.heartbeat();
        let mut heartbeat_tick = tokio::time::interval(self.settings.heartbeat_interval);
        heartbeat_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; the first heartbeat is due one interval in.
        heartbeat_tick.reset();
        let sweep_every = (self.settings.idle_ttl / 4).max(Duration::from_millis(10));
        let mut sweep_tick = tokio::time::interval(sweep_every);
        sweep_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_frame = tokio::time::Instant::now();
        loop {
            // Config bounds the timeout; the fallback only keeps an overflow from panicking.
            let silent_until = last_frame
                .checked_add(self.unresponsive_timeout)
                .unwrap_or_else(|| last_frame + Duration::from_secs(86_400));
            let outgoing: Vec<String> = tokio::select! {
                message = socket.next() => {
                    last_frame = tokio::time::Instant::now();
                    match message {
                    Some(Ok(Message::Text(text))) => { self.handle(text.as_str()).await; continue }
                    Some(Ok(Message::Binary(bytes))) => {
                        if let Ok(text) = std::str::from_utf8(&bytes) {
                            self.handle(text).await;
                        }
                        continue
                    }
                    // Pings are answered by tungstenite itself.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => return Ended::Dropped,
                    Some(Err(error)) => {
                        tracing::warn!(%error, "stream read failed");
                        return Ended::Dropped;
                    }
                }},
                () = tokio::time::sleep_until(silent_until) => {
                    tracing::warn!(
                        url = %url_origin(&self.settings.url),
                        silent_ms = self.unresponsive_timeout.as_millis(),
                        "no frame from the stream within WS_UNRESPONSIVE_TIMEOUT_MS"
                    );
                    return Ended::Dropped;
                }
                command = self.commands.recv() => match command {
                    None => {
                        let _ = socket.close(None).await;
                        return Ended::Stopped;
                    }
                    Some(Subscribe(key)) => {
                        let mut subscriptions = self.hub.lock();
                        match subscriptions.get_mut(&key) {
                            Some(s) if !s.subscribed => {
                                s.subscribed = true;
                                vec![s.subscribe.clone()]
                            }
                            _ => Vec::new(),
                        }
                    }
                },
                _ = heartbeat_tick.tick(), if heartbeat.is_some() => {
                    heartbeat.iter().cloned().collect()
                }
                _ = sweep_tick.tick() => self.sweep_idle(),
            };
            for frame in outgoing {
                if socket.send(Message::text(frame)).await.is_err() {
                    return Ended::Dropped;
                }
            }
        }
    }

    /// Forgets parameter sets not requested within the idle TTL; returns the unsubscribe
    /// frames of those subscribed on the current connection.
    fn sweep_idle(&self) -> Vec<String> {
        let ttl = self.settings.idle_ttl;
        let mut frames = Vec::new();
        self.hub.lock().retain(|_, s| {
            let keep = s.last_requested.elapsed() < ttl;
            if !keep && s.subscribed {
                frames.push(s.unsubscribe.clone());
            }
            keep
        });
        frames
    }

    async fn handle(&self, message: &str) {
        // A handler that panics on one odd message must not end the connection task: that
        // would silently stop every streaming answer until restart.
        let endpoint = &self.endpoint;
        let results = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            endpoint.handle(message)
        })) {
            Ok(results) => results,
            Err(_) => {
                tracing::error!(message, "the stream handler panicked; message skipped");
                return;
            }
        };
        for (params, output) in results {
            let normalized = match serde_json::to_value(&params) {
                Ok(normalized) => normalized,
                Err(error) => {
                    tracing::warn!(%error, "streamed parameters do not serialize");
                    continue;
                }
            };
            let key = cache_key(&self.hub.canonical, &normalized);
            let now = unix_ms();
            let resolved = Arc::new(Resolved::new(
                output.result,
                output.data,
                Timestamps {
                    provider_data_requested_unix_ms: now,
                    provider_data_received_unix_ms: now,
                },
            ));
            {
                let mut subscriptions = self.hub.lock();
                let Some(subscription) = subscriptions.get_mut(&key) else {
                    continue;
                };
                subscription.latest = Some(resolved.clone());
            }
            self.hub.cache.put(key.clone(), resolved.clone()).await;
            // No receivers is the normal case once the cache is warm.
            let _ = self.hub.values.send((key, resolved));
        }
    }
}
