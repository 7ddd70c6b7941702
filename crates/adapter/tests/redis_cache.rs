//! `CACHE_TYPE=redis` against the Redis at 127.0.0.1:6379: instances share answers, Redis
//! expires them, errors are not stored, identical requests are coalesced, and Redis going
//! away at runtime does not take the adapter down.
//!
//! Tests that need Redis print `skipping: no Redis at 127.0.0.1:6379` and pass when it is
//! not running, except under CI (the `CI` variable set), where they fail. Each test uses its own adapter name, which namespaces its keys, so tests
//! run in parallel against one Redis.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use offchain_adapter::testing::{MockUpstream, TestAdapter, test_config, unreachable_url};
use offchain_adapter::{Adapter, AdapterError, HttpEndpoint, Output, StartError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

mod common;
use common::REDIS_ADDR;

const REDIS_URL: &str = "redis://127.0.0.1:6379";

#[derive(Deserialize, Serialize)]
struct PriceParams {
    coin: String,
}

struct Price {
    url: String,
}

impl HttpEndpoint for Price {
    type Params = PriceParams;

    fn request(&self, http: &reqwest::Client, params: &PriceParams) -> reqwest::RequestBuilder {
        http.get(format!("{}/api", self.url))
            .query(&[("coin", &params.coin)])
    }

    fn parse(&self, _params: &PriceParams, body: Value) -> Result<Output, AdapterError> {
        match body.get("price") {
            Some(price) => Ok(Output::new(price.clone())),
            None => Err(AdapterError::Internal("no price".into())),
        }
    }
}

/// `/api?coin=DOWN` → 503; anything else → a price after 50 ms, so concurrent requests
/// overlap.
async fn provider() -> MockUpstream {
    let api = get(|uri: Uri| async move {
        if uri.query().unwrap_or_default().contains("coin=DOWN") {
            let body = json!({"error": "maintenance"});
            return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        axum::Json(json!({"price": 467.85})).into_response()
    });
    MockUpstream::start(Router::new().route("/api", api)).await
}

/// An adapter name no other test (or earlier run) uses: its keys are its own.
fn unique_name(test: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "redis-test-{test}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn adapter(name: &str, upstream: &MockUpstream) -> Adapter {
    Adapter::new(name)
        .http_endpoint(
            &["price"],
            Price {
                url: upstream.url().to_owned(),
            },
        )
        .default_endpoint("price")
}

async fn redis_is_running() -> bool {
    common::redis_answers().await
}

#[tokio::test]
#[should_panic(expected = "CI must provide it")]
async fn under_ci_a_missing_service_fails_instead_of_skipping() {
    let nothing_there = unreachable_url().await;
    common::service_answers("Redis", nothing_there.trim_start_matches("http://"), true).await;
}

#[tokio::test]
async fn outside_ci_a_missing_service_is_skipped() {
    let nothing_there = unreachable_url().await;
    let addr = nothing_there.trim_start_matches("http://");
    assert!(!common::service_answers("Redis", addr, false).await);
}

async fn redis_adapter(
    name: &str,
    upstream: &MockUpstream,
    url: &str,
    max_age_ms: &str,
) -> TestAdapter {
    let config = test_config(&[
        ("CACHE_TYPE", "redis"),
        ("CACHE_REDIS_URL", url),
        ("CACHE_MAX_AGE", max_age_ms),
        // These tests count upstream calls; a retried 5xx would count twice.
        ("RETRY", "0"),
    ]);
    TestAdapter::start(adapter(name, upstream), config).await
}

fn eth() -> Value {
    json!({"data": {"coin": "ETH"}})
}

#[tokio::test]
async fn two_instances_share_one_entry() {
    if !redis_is_running().await {
        return;
    }
    let upstream = provider().await;
    let name = unique_name("shared");
    let a = redis_adapter(&name, &upstream, REDIS_URL, "60000").await;
    let b = redis_adapter(&name, &upstream, REDIS_URL, "60000").await;
    let first = a.request(eth()).await;
    assert_eq!(
        (first.status, &first.body["result"]),
        (200, &json!(467.85)),
        "{:?}",
        first.body
    );
    let second = b.request(eth()).await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    assert_eq!(second.body["result"], json!(467.85));
    assert_eq!(second.body["timestamps"], first.body["timestamps"]);
    assert_eq!(upstream.hits(), 1, "instance B answered from A's entry");

    // Another adapter name is another namespace: same request, its own entry.
    let other = redis_adapter(&unique_name("other"), &upstream, REDIS_URL, "60000").await;
    assert_eq!(other.request(eth()).await.status, 200);
    assert_eq!(upstream.hits(), 2);
}

#[tokio::test]
async fn redis_expires_entries_after_cache_max_age() {
    if !redis_is_running().await {
        return;
    }
    let upstream = provider().await;
    let name = unique_name("ttl");
    let a = redis_adapter(&name, &upstream, REDIS_URL, "300").await;
    let b = redis_adapter(&name, &upstream, REDIS_URL, "300").await;
    assert_eq!(a.request(eth()).await.status, 200);
    assert_eq!(b.request(eth()).await.status, 200);
    assert_eq!(upstream.hits(), 1);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(b.request(eth()).await.status, 200);
    assert_eq!(upstream.hits(), 2, "expired in Redis, fetched again");
}

#[tokio::test]
async fn errors_are_not_stored() {
    if !redis_is_running().await {
        return;
    }
    let upstream = provider().await;
    let name = unique_name("errors");
    let a = redis_adapter(&name, &upstream, REDIS_URL, "60000").await;
    let b = redis_adapter(&name, &upstream, REDIS_URL, "60000").await;
    let down = json!({"data": {"coin": "DOWN"}});
    let first = a.request(down.clone()).await;
    assert_eq!(first.status, 502, "{:?}", first.body);
    assert_eq!(first.body["providerStatusCode"], 503);
    assert_eq!(a.request(down.clone()).await.status, 502);
    assert_eq!(b.request(down).await.status, 502);
    assert_eq!(upstream.hits(), 3, "every request asked upstream again");
}

#[tokio::test]
async fn concurrent_identical_requests_on_one_instance_are_coalesced() {
    if !redis_is_running().await {
        return;
    }
    let upstream = provider().await;
    let ea = Arc::new(redis_adapter(&unique_name("coalesce"), &upstream, REDIS_URL, "60000").await);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let ea = ea.clone();
            tokio::spawn(async move { ea.request(eth()).await })
        })
        .collect();
    for task in tasks {
        let answer = task.await.expect("request task does not panic");
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert_eq!(answer.body["result"], json!(467.85));
    }
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn an_unreadable_stored_value_is_a_miss_and_is_overwritten() {
    if !redis_is_running().await {
        return;
    }
    let upstream = provider().await;
    let name = unique_name("corrupt");
    let key = format!(
        "{name}:{}",
        offchain_adapter::cache::cache_key("price", &json!({"coin": "ETH"}))
    );
    let mut redis = redis::Client::open(REDIS_URL)
        .and_then(|client| client.get_connection())
        .expect("connect to Redis");
    let _: () = redis::cmd("PSETEX")
        .arg(&key)
        .arg(60_000)
        .arg("not json")
        .query(&mut redis)
        .expect("store a bad value");

    let a = redis_adapter(&name, &upstream, REDIS_URL, "60000").await;
    let answer = a.request(eth()).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(upstream.hits(), 1);
    let b = redis_adapter(&name, &upstream, REDIS_URL, "60000").await;
    assert_eq!(b.request(eth()).await.status, 200);
    assert_eq!(
        upstream.hits(),
        1,
        "the bad value was replaced by the answer"
    );
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query(&mut redis)
        .expect("PTTL");
    assert!(
        ttl > 0 && ttl <= 60_000,
        "stored with CACHE_MAX_AGE as TTL: {ttl}"
    );
}

/// A TCP proxy to Redis that can be cut: open connections are closed and new ones refused.
struct RedisProxy {
    url: String,
    cut: watch::Sender<bool>,
}

impl RedisProxy {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let url = format!("redis://{}", listener.local_addr().expect("proxy address"));
        let (cut, watch_cut) = watch::channel(false);
        tokio::spawn(async move {
            let mut accept_cut = watch_cut.clone();
            loop {
                let client = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((client, _)) => client,
                        Err(_) => return,
                    },
                    _ = accept_cut.changed() => return,
                };
                let mut conn_cut = watch_cut.clone();
                tokio::spawn(async move {
                    let mut client = client;
                    let Ok(mut redis) = TcpStream::connect(REDIS_ADDR).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut redis) => {}
                        _ = conn_cut.changed() => {
                            let _ = client.shutdown().await;
                        }
                    }
                });
            }
        });
        Self { url, cut }
    }

    fn cut(&self) {
        let _ = self.cut.send(true);
    }
}

#[tokio::test]
async fn redis_failing_at_runtime_falls_back_to_upstream() {
    if !redis_is_running().await {
        return;
    }
    let upstream = provider().await;
    let proxy = RedisProxy::start().await;
    let ea = redis_adapter(&unique_name("runtime"), &upstream, &proxy.url, "60000").await;
    assert_eq!(ea.request(eth()).await.status, 200);
    assert_eq!(ea.request(eth()).await.status, 200);
    assert_eq!(upstream.hits(), 1, "second answer came from Redis");

    proxy.cut();
    for expected_hits in [2, 3] {
        let started = Instant::now();
        let answer = ea.request(eth()).await;
        println!("answered without Redis in {:?}", started.elapsed());
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert_eq!(answer.body["result"], json!(467.85));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "a dead Redis delays a request by at most its timeouts: {:?}",
            started.elapsed()
        );
        assert_eq!(upstream.hits(), expected_hits, "answered from upstream");
    }
}

#[tokio::test]
async fn unreachable_redis_stops_start_up_naming_cache_redis_url() {
    // A port bound and released: nothing listens there.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    let upstream = provider().await;
    let url = format!("redis://{addr}");
    let config = test_config(&[("CACHE_TYPE", "redis"), ("CACHE_REDIS_URL", &url)]);
    let started = Instant::now();
    let outcome = adapter(&unique_name("unreachable"), &upstream)
        .router(&config)
        .await;
    let error = match outcome {
        Err(error @ StartError::Redis(_)) => error.to_string(),
        Err(other) => panic!("a Redis start-up error expected, got {other}"),
        Ok(_) => panic!("start-up must fail without Redis"),
    };
    assert!(error.contains("CACHE_REDIS_URL"), "{error}");
    assert!(error.contains(&addr.to_string()), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "fails fast: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn bad_cache_settings_name_the_variable() {
    for (variable, value) in [
        ("CACHE_TYPE", "memcached"),
        ("CACHE_REDIS_URL", "http://127.0.0.1:6379"),
        ("CACHE_REDIS_URL", "redis://"),
        ("CACHE_REDIS_URL", "rediss://127.0.0.1:6379"),
    ] {
        let mut vars: HashMap<&str, &str> = HashMap::from([("CACHE_TYPE", "redis")]);
        vars.insert(variable, value);
        let error = offchain_adapter::Config::from_vars(vars).expect_err(value);
        assert_eq!(error.variable(), variable, "{error}");
        assert!(error.to_string().contains(variable), "{error}");
    }
}

/// The second instance answers from the entry the first stored: a hit there, with the
/// `redis` cache label.
#[tokio::test]
async fn redis_hits_and_misses_are_counted() {
    if !redis_is_running().await {
        return;
    }
    let upstream = provider().await;
    let name = unique_name("metrics");
    let a = redis_adapter(&name, &upstream, REDIS_URL, "60000").await;
    let b = redis_adapter(&name, &upstream, REDIS_URL, "60000").await;
    assert_eq!(a.request(eth()).await.status, 200);
    assert_eq!(b.request(eth()).await.status, 200);
    assert_eq!(upstream.hits(), 1);
    let (a, b) = (a.metrics().await, b.metrics().await);
    let counted = |text: &str, metric: &str| {
        let series = format!("{metric}{{adapter=\"{name}\",cache_type=\"redis\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&series))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .to_owned()
    };
    assert_eq!(counted(&a, "ea_cache_misses_total"), "1");
    assert_eq!(counted(&a, "ea_cache_hits_total"), "0");
    assert_eq!(counted(&b, "ea_cache_misses_total"), "0");
    assert_eq!(counted(&b, "ea_cache_hits_total"), "1");
}

/// What a streaming endpoint writes with `put` is read back by the request path's
/// `get_or_fetch`, and expires with the cache's max age like any answer.
#[tokio::test]
async fn put_values_are_read_by_get_or_fetch() {
    use offchain_adapter::cache::{Cache, Fetch, Resolved};
    use offchain_adapter::protocol::Timestamps;
    use offchain_adapter::redis_cache::RedisCache;
    use std::sync::atomic::AtomicUsize;

    if !redis_is_running().await {
        return;
    }
    let name = unique_name("put");
    let cache = match RedisCache::connect(REDIS_URL, &name, Duration::from_millis(300)).await {
        Ok(cache) => cache,
        Err(error) => panic!("Redis is reachable but the cache does not connect: {error}"),
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let fetch = |calls: &Arc<AtomicUsize>| -> Fetch {
        let calls = calls.clone();
        Box::pin(async move {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(Resolved::new(
                json!("fetched"),
                serde_json::Map::new(),
                Timestamps::default(),
            ))
        })
    };
    let streamed = Resolved::new(
        json!("streamed"),
        serde_json::Map::new(),
        Timestamps::default(),
    );
    cache.put("k".into(), Arc::new(streamed)).await;
    let got = cache.get_or_fetch("k".into(), fetch(&calls)).await;
    assert_eq!(got.map(|r| r.result().clone()), Ok(json!("streamed")));
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = cache.get_or_fetch("k".into(), fetch(&calls)).await;
    assert_eq!(got.map(|r| r.result().clone()), Ok(json!("fetched")));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the put value expired");
}

#[tokio::test]
async fn entries_expire_by_the_age_of_their_data() {
    use offchain_adapter::cache::{Cache, Fetch, Resolved};
    use offchain_adapter::protocol::Timestamps;
    use offchain_adapter::redis_cache::RedisCache;

    if !redis_is_running().await {
        return;
    }
    let max_age = Duration::from_millis(1000);
    let cache = RedisCache::connect(REDIS_URL, &unique_name("aged"), max_age)
        .await
        .unwrap_or_else(|e| panic!("Redis answers: {e}"));
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    // A value received 800 ms ago (a streamed one, say) has 200 ms left, whenever stored.
    let received = now_ms - 800;
    let timestamps = Timestamps {
        provider_data_requested_unix_ms: received,
        provider_data_received_unix_ms: received,
    };
    let aged = Resolved::new(json!(1), serde_json::Map::new(), timestamps);
    cache.put("k".to_owned(), Arc::new(aged)).await;
    let fresh = || -> Fetch {
        Box::pin(async {
            Ok(Resolved::new(
                json!(2),
                serde_json::Map::new(),
                Timestamps::default(),
            ))
        })
    };
    let stored = cache.get_or_fetch("k".to_owned(), fresh()).await;
    assert_eq!(stored.map(|r| r.result().clone()), Ok(json!(1)));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let later = cache.get_or_fetch("k".to_owned(), fresh()).await;
    assert_eq!(
        later.map(|r| r.result().clone()),
        Ok(json!(2)),
        "the aged entry expired"
    );
}
