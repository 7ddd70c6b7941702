//! WebSocket streaming endpoints against a local WebSocket provider.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use offchain_adapter::testing::{TestAdapter, TestResponse, test_config};
use offchain_adapter::{Adapter, AdapterError, Output, StreamEndpoint, StreamSettings};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(5);

#[derive(Deserialize, Serialize)]
struct Pair {
    #[serde(alias = "base")]
    coin: String,
}

struct Ticker;

impl StreamEndpoint for Ticker {
    type Params = Pair;

    fn validate(&self, p: &Pair) -> Result<(), AdapterError> {
        if p.coin.is_empty() {
            return Err(AdapterError::invalid_param("coin", "must not be empty"));
        }
        Ok(())
    }

    fn subscribe(&self, p: &Pair) -> String {
        json!({"op": "subscribe", "coin": p.coin}).to_string()
    }

    fn unsubscribe(&self, p: &Pair) -> String {
        json!({"op": "unsubscribe", "coin": p.coin}).to_string()
    }

    fn handle(&self, message: &str) -> Vec<(Pair, Output)> {
        if message == "crash the handler" {
            panic!("a handler bug");
        }
        let Ok(value) = serde_json::from_str::<Value>(message) else {
            return Vec::new();
        };
        match (value["coin"].as_str(), value.get("price")) {
            (Some(coin), Some(price)) => vec![(
                Pair {
                    coin: coin.to_owned(),
                },
                Output::new(price.clone()),
            )],
            _ => Vec::new(),
        }
    }

    fn heartbeat(&self) -> Option<String> {
        Some(r#"{"op":"ping"}"#.to_owned())
    }
}

fn subscribe_frame(coin: &str) -> String {
    Ticker.subscribe(&Pair { coin: coin.into() })
}

fn unsubscribe_frame(coin: &str) -> String {
    Ticker.unsubscribe(&Pair { coin: coin.into() })
}

#[derive(Debug, PartialEq)]
enum Event {
    Connected(usize),
    Received(usize, String),
    Closed(usize),
}

enum Control {
    Push(String),
    Drop,
}

/// A provider: answers each subscribe with a price (100, 101, … in order; coin `SILENT`
/// never gets one), reports every connection and frame, and can push or drop on command.
struct Provider {
    url: String,
    events: mpsc::UnboundedReceiver<Event>,
    current: Arc<Mutex<Option<mpsc::UnboundedSender<Control>>>>,
}

impl Provider {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let url = format!(
            "ws://{}",
            listener
                .local_addr()
                .unwrap_or_else(|e| panic!("addr: {e}"))
        );
        let (events_tx, events) = mpsc::unbounded_channel();
        let current: Arc<Mutex<Option<mpsc::UnboundedSender<Control>>>> = Arc::default();
        let connections = Arc::new(AtomicUsize::new(0));
        let prices = Arc::new(AtomicU64::new(100));
        let shared_current = current.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Ok(mut socket) = tokio_tungstenite::accept_async(tcp).await else {
                    continue;
                };
                let number = connections.fetch_add(1, Ordering::SeqCst) + 1;
                let (control_tx, mut control) = mpsc::unbounded_channel();
                *shared_current.lock().unwrap_or_else(|e| e.into_inner()) = Some(control_tx);
                let _ = events_tx.send(Event::Connected(number));
                let events_tx = events_tx.clone();
                let prices = prices.clone();
                tokio::spawn(async move {
                    let closed_tx = events_tx.clone();
                    let connection = async move {
                        loop {
                            tokio::select! {
                                frame = socket.next() => {
                                    let Some(Ok(Message::Text(text))) = frame else {
                                        if matches!(frame, Some(Ok(_))) { continue }
                                        return;
                                    };
                                    let text = text.as_str().to_owned();
                                    let _ = events_tx.send(Event::Received(number, text.clone()));
                                    let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                                    if parsed["op"] == "subscribe" && parsed["coin"] != "SILENT" {
                                        let price = prices.fetch_add(1, Ordering::SeqCst);
                                        let push = json!({"coin": parsed["coin"], "price": price});
                                        if socket.send(Message::text(push.to_string())).await.is_err() {
                                            return;
                                        }
                                    }
                                }
                                command = control.recv() => match command {
                                    Some(Control::Push(text)) => {
                                        if socket.send(Message::text(text)).await.is_err() {
                                            return;
                                        }
                                    }
                                    // Dropping the socket without a close handshake, like a
                                    // crashed provider or a cut network.
                                    Some(Control::Drop) | None => return,
                                },
                            }
                        }
                    };
                    connection.await;
                    let _ = closed_tx.send(Event::Closed(number));
                });
            }
        });
        Self {
            url,
            events,
            current,
        }
    }

    fn control(&self, command: Control) {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        match current.as_ref() {
            Some(sender) => {
                if sender.send(command).is_err() {
                    panic!("the current connection is gone");
                }
            }
            None => panic!("no connection to control"),
        }
    }

    /// The next event matching `wanted`, skipping others; panics after `within`.
    async fn expect(&mut self, wanted: impl Fn(&Event) -> bool, within: Duration) -> Event {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) if wanted(&event) => return event,
                Ok(Some(_)) => {}
                Ok(None) => panic!("provider stopped"),
                Err(_) => panic!("expected event did not arrive within {within:?}"),
            }
        }
    }

    /// Panics if an event matching `unwanted` arrives within `window`.
    async fn expect_none(&mut self, unwanted: impl Fn(&Event) -> bool, window: Duration) {
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            assert!(!unwanted(&event), "unexpected event {event:?}");
        }
    }
}

fn received(frame: String) -> impl Fn(&Event) -> bool {
    move |event| matches!(event, Event::Received(_, text) if *text == frame)
}

fn settings(provider: &Provider) -> StreamSettings {
    StreamSettings {
        heartbeat_interval: Duration::from_secs(60),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..StreamSettings::new(provider.url.clone())
    }
}

async fn start(settings: StreamSettings) -> TestAdapter {
    start_with(settings, &[]).await
}

async fn start_with(settings: StreamSettings, vars: &[(&str, &str)]) -> TestAdapter {
    let adapter = Adapter::new("ticker")
        .stream_endpoint(&["price", "ticker"], Ticker, settings)
        .default_endpoint("price");
    TestAdapter::start(adapter, test_config(vars)).await
}

async fn price(ea: &TestAdapter, coin: &str) -> TestResponse {
    ea.request(json!({"id": "1", "data": {"base": coin}})).await
}

#[tokio::test]
async fn first_request_subscribes_and_gets_the_streamed_value_then_the_cache_answers() {
    let mut provider = Provider::start().await;
    let ea = start(settings(&provider)).await;

    let first = price(&ea, "ETH").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["result"], json!(100));
    // The frame on the wire is exactly what the builder produced.
    let event = provider
        .expect(received(subscribe_frame("ETH")), WAIT)
        .await;
    assert_eq!(event, Event::Received(1, subscribe_frame("ETH")));

    let second = price(&ea, "ETH").await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["result"], json!(100));
    // Endpoint aliases share the subscription and the cache entry.
    let alias = ea
        .request(json!({"endpoint": "TICKER", "data": {"coin": "ETH"}}))
        .await;
    assert_eq!(alias.body["result"], json!(100));
    provider
        .expect_none(
            |e| matches!(e, Event::Received(_, t) if t.contains("subscribe")),
            Duration::from_millis(300),
        )
        .await;

    // A value the provider pushes later replaces the cached one.
    provider.control(Control::Push(
        json!({"coin": "ETH", "price": 555}).to_string(),
    ));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let answer = price(&ea, "ETH").await;
        if answer.body["result"] == json!(555) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pushed value never served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn parameters_without_a_value_time_out_with_504_and_bad_ones_never_subscribe() {
    let mut provider = Provider::start().await;
    let ea = start(StreamSettings {
        first_value_timeout: Duration::from_millis(200),
        ..settings(&provider)
    })
    .await;

    let silent = price(&ea, "SILENT").await;
    assert_eq!(silent.status, 504, "{}", silent.body);
    assert_eq!(silent.body["error"]["name"], "AdapterTimeoutError");
    provider
        .expect(received(subscribe_frame("SILENT")), WAIT)
        .await;

    let bad = price(&ea, "").await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    provider
        .expect_none(
            |e| matches!(e, Event::Received(_, t) if t.contains("subscribe")),
            Duration::from_millis(300),
        )
        .await;
}

#[tokio::test]
async fn heartbeats_are_sent() {
    let mut provider = Provider::start().await;
    let _ea = start(StreamSettings {
        heartbeat_interval: Duration::from_millis(50),
        ..settings(&provider)
    })
    .await;
    let ping = r#"{"op":"ping"}"#.to_owned();
    provider.expect(received(ping.clone()), WAIT).await;
    provider.expect(received(ping), WAIT).await;
}

#[tokio::test]
async fn dropped_connection_reconnects_and_resubscribes() {
    let mut provider = Provider::start().await;
    let ea = start(settings(&provider)).await;
    assert_eq!(price(&ea, "ETH").await.body["result"], json!(100));
    assert_eq!(price(&ea, "BTC").await.body["result"], json!(101));
    provider
        .expect(received(subscribe_frame("BTC")), WAIT)
        .await;

    provider.control(Control::Drop);
    provider.expect(|e| *e == Event::Connected(2), WAIT).await;
    // Both active parameter sets are subscribed again on the new connection.
    let mut resubscribed = Vec::new();
    for _ in 0..2 {
        let event = provider
            .expect(
                |e| matches!(e, Event::Received(2, t) if t.contains("subscribe")),
                WAIT,
            )
            .await;
        if let Event::Received(_, text) = event {
            resubscribed.push(text);
        }
    }
    resubscribed.sort();
    let mut expected = vec![subscribe_frame("BTC"), subscribe_frame("ETH")];
    expected.sort();
    assert_eq!(resubscribed, expected);

    // A handler that panics loses that message only; values on the new connection reach
    // the cache.
    provider.control(Control::Push("crash the handler".to_owned()));
    provider.control(Control::Push(
        json!({"coin": "BTC", "price": 777}).to_string(),
    ));
    let deadline = tokio::time::Instant::now() + WAIT;
    while price(&ea, "BTC").await.body["result"] != json!(777) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "value after reconnect never served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn idle_parameters_are_unsubscribed_and_subscribed_again_on_demand() {
    let mut provider = Provider::start().await;
    let ea = start(StreamSettings {
        idle_ttl: Duration::from_millis(200),
        ..settings(&provider)
    })
    .await;
    assert_eq!(price(&ea, "ETH").await.status, 200);
    provider
        .expect(received(subscribe_frame("ETH")), WAIT)
        .await;
    provider
        .expect(received(unsubscribe_frame("ETH")), WAIT)
        .await;

    // Requested again: a fresh subscription, answered by the provider's next value (the
    // cached 100 may still be within CACHE_MAX_AGE, so only the frame is checked).
    assert_eq!(price(&ea, "ETH").await.status, 200);
    provider
        .expect(received(subscribe_frame("ETH")), WAIT)
        .await;
}

#[tokio::test]
async fn subscriptions_beyond_the_limit_are_rate_limited() {
    let mut provider = Provider::start().await;
    let ea = start(StreamSettings {
        max_subscriptions: 1,
        ..settings(&provider)
    })
    .await;
    assert_eq!(price(&ea, "ETH").await.body["result"], json!(100));
    let over = price(&ea, "BTC").await;
    assert_eq!(over.status, 429, "{}", over.body);
    assert_eq!(over.body["error"]["name"], "AdapterRateLimitError");
    // The active one is still served.
    assert_eq!(price(&ea, "ETH").await.status, 200);
    provider
        .expect_none(received(subscribe_frame("BTC")), Duration::from_millis(300))
        .await;
}

#[tokio::test]
async fn the_connection_closes_when_the_adapter_is_dropped() {
    let mut provider = Provider::start().await;
    let ea = start(settings(&provider)).await;
    assert_eq!(price(&ea, "ETH").await.status, 200);
    provider.expect(|e| *e == Event::Connected(1), WAIT).await;
    drop(ea);
    provider.expect(|e| *e == Event::Closed(1), WAIT).await;
    provider
        .expect_none(
            |e| matches!(e, Event::Connected(_)),
            Duration::from_millis(300),
        )
        .await;
}

#[tokio::test]
async fn a_stream_without_incoming_frames_is_reconnected() {
    let mut provider = Provider::start().await;
    let ea = start_with(
        settings(&provider),
        &[("WS_UNRESPONSIVE_TIMEOUT_MS", "600")],
    )
    .await;
    assert_eq!(price(&ea, "ETH").await.body["result"], json!(100));
    // A provider that keeps frames coming keeps its connection, for twice the timeout.
    for n in 0..12 {
        provider.control(Control::Push(
            json!({"coin": "ETH", "price": n}).to_string(),
        ));
        provider
            .expect_none(|e| *e == Event::Connected(2), Duration::from_millis(100))
            .await;
    }
    // Then it goes silent with the socket open: the adapter gives up on it and reconnects.
    provider.expect(|e| *e == Event::Connected(2), WAIT).await;
    provider
        .expect(
            |e| matches!(e, Event::Received(2, t) if *t == subscribe_frame("ETH")),
            WAIT,
        )
        .await;
}

/// Asks for ETH every 50 ms for `period` and checks that no 200 carries a value older than
/// `max_age_ms` when it was asked for; returns how many requests found no fresh value.
async fn assert_never_stale(ea: &TestAdapter, max_age_ms: u64, period: Duration) -> usize {
    let unix_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default()
    };
    let until = tokio::time::Instant::now() + period;
    let mut without_value = 0;
    while tokio::time::Instant::now() < until {
        let asked_ms = unix_ms();
        let answer = price(ea, "ETH").await;
        match answer.status {
            200 => {
                let received = answer.body["timestamps"]["providerDataReceivedUnixMs"]
                    .as_u64()
                    .unwrap_or_default();
                assert!(
                    received + max_age_ms > asked_ms,
                    "stale value served: received {} ms before it was asked for: {}",
                    asked_ms.saturating_sub(received),
                    answer.body
                );
            }
            504 => without_value += 1,
            other => panic!("unexpected answer {other}: {}", answer.body),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    without_value
}

#[tokio::test]
async fn a_streamed_value_older_than_cache_max_age_is_never_answered() {
    let provider = Provider::start().await;
    let quick = StreamSettings {
        first_value_timeout: Duration::from_millis(200),
        ..settings(&provider)
    };
    let ea = start_with(quick, &[("CACHE_MAX_AGE", "600")]).await;
    // One value at subscription, then the provider stays silent on ETH.
    assert_eq!(price(&ea, "ETH").await.body["result"], json!(100));
    let without_value = assert_never_stale(&ea, 600, Duration::from_millis(1500)).await;
    assert!(without_value > 0, "the old value was served all along");
}

#[tokio::test]
async fn streaming_endpoints_are_left_out_of_background_refresh() {
    let mut provider = Provider::start().await;
    let short_idle = StreamSettings {
        idle_ttl: Duration::from_millis(400),
        ..settings(&provider)
    };
    let vars = [
        ("CACHE_MAX_AGE", "600"),
        ("CACHE_REFRESH_WINDOW_MS", "10000"),
    ];
    let ea = start_with(short_idle, &vars).await;
    assert_eq!(price(&ea, "ETH").await.body["result"], json!(100));
    // The provider keeps pushing ETH and no client asks for it again. A background refresh
    // of the stream would re-store its values (younger-looking than they are) and count as
    // interest, keeping ETH subscribed for the whole refresh window.
    let unsubscribe = unsubscribe_frame("ETH");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "ETH was never unsubscribed"
        );
        provider.control(Control::Push(
            json!({"coin": "ETH", "price": 1}).to_string(),
        ));
        let next = tokio::time::timeout(Duration::from_millis(100), provider.events.recv()).await;
        if matches!(next, Ok(Some(Event::Received(_, ref text))) if *text == unsubscribe) {
            break;
        }
    }
}
