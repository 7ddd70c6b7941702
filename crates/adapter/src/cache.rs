//! The answer cache: a [`Cache`] trait, the in-process [`LocalCache`], and cache keys.
//!
//! The shared [`RedisCache`](crate::redis_cache::RedisCache) implements the same trait; the
//! server only sees `dyn Cache`.
//!
//! Both caches keep an answer until `CACHE_MAX_AGE` after its provider data was received
//! ([`Resolved::time_to_live`]), not after it was stored: an answer stored late (a value a
//! stream received a while ago, written on a cache miss) is never served older than that.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::AdapterError;
use crate::protocol::{Timestamps, render_success_tail, success_body};

/// One upstream answer as it is cached and served.
///
/// Immutable once made, so the response body rendered from it on its first cache hit
/// stays right for every later one.
#[derive(Serialize, Deserialize)]
pub struct Resolved {
    result: Value,
    data: Map<String, Value>,
    timestamps: Timestamps,
    /// Everything of the success body but `jobRunID` ([`crate::protocol`]), kept from the
    /// second time the answer is served: a hot answer is then served by copying bytes,
    /// while answers served once (most of a cache full of one-off parameters) keep no copy.
    #[serde(skip)]
    rendered: OnceLock<Box<[u8]>>,
    #[serde(skip)]
    served_before: AtomicBool,
}

impl Resolved {
    pub fn new(result: Value, data: Map<String, Value>, timestamps: Timestamps) -> Self {
        Self {
            result,
            data,
            timestamps,
            rendered: OnceLock::new(),
            served_before: AtomicBool::new(false),
        }
    }

    /// The answer's `result`.
    pub fn result(&self) -> &Value {
        &self.result
    }

    /// The answer's `data`, without `result` (the framework adds it when answering).
    pub fn data(&self) -> &Map<String, Value> {
        &self.data
    }

    /// When the provider was asked and when it answered.
    pub fn timestamps(&self) -> &Timestamps {
        &self.timestamps
    }

    /// How much longer this answer may be served when answers live for `max_age`: `max_age`
    /// less its age (since the provider's data was received), zero once it is that old. An
    /// answer without a receipt time (0) counts as just received.
    pub fn time_to_live(&self, max_age: Duration) -> Duration {
        let received = self.timestamps.provider_data_received_unix_ms;
        if received == 0 {
            return max_age;
        }
        let age = Duration::from_millis(crate::endpoint::unix_ms().saturating_sub(received));
        max_age.saturating_sub(age)
    }

    /// The success body answering request `job_run_id` with this answer.
    pub(crate) fn success_body(&self, job_run_id: &str) -> Result<Vec<u8>, serde_json::Error> {
        if let Some(tail) = self.rendered.get() {
            return success_body(job_run_id, tail);
        }
        let tail = render_success_tail(&self.result, &self.data, &self.timestamps)?;
        if !self.served_before.swap(true, Ordering::Relaxed) {
            return success_body(job_run_id, &tail);
        }
        success_body(
            job_run_id,
            self.rendered.get_or_init(|| tail.into_boxed_slice()),
        )
    }
}

impl Clone for Resolved {
    fn clone(&self) -> Self {
        Self::new(self.result.clone(), self.data.clone(), self.timestamps)
    }
}

impl PartialEq for Resolved {
    fn eq(&self, other: &Self) -> bool {
        (&self.result, &self.data, &self.timestamps)
            == (&other.result, &other.data, &other.timestamps)
    }
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("result", &self.result)
            .field("data", &self.data)
            .field("timestamps", &self.timestamps)
            .finish()
    }
}

/// The upstream call a cache runs on a miss.
pub type Fetch = Pin<Box<dyn Future<Output = Result<Resolved, AdapterError>> + Send>>;

/// Where answers are kept between requests.
///
/// Implementations must never store errors, and should run `fetch` once for concurrent
/// callers of the same key.
#[async_trait::async_trait]
pub trait Cache: Send + Sync + 'static {
    /// The cached answer for `key`, or the result of `fetch` (stored only on success).
    async fn get_or_fetch(&self, key: String, fetch: Fetch) -> Result<Arc<Resolved>, AdapterError>;

    /// Stores `value` under `key` with a full time to live, without a request asking for
    /// it: how a streaming endpoint ([`crate::stream`]) and background refresh
    /// ([`crate::refresh`]) keep the cache warm. Best effort: a failed write is logged, never
    /// returned (the old entry then simply expires).
    async fn put(&self, key: String, value: Arc<Resolved>);

    /// Claims the background refresh of `key` for `hold`: `true` when this instance is to
    /// refresh it now. A cache only this instance reads always grants it; a shared one
    /// ([`RedisCache`](crate::redis_cache::RedisCache)) grants it to one instance per
    /// `hold`, so instances sharing the cache do not all call upstream for the same key.
    async fn claim_refresh(&self, _key: &str, _hold: Duration) -> bool {
        true
    }

    /// Gives up a claim from [`Cache::claim_refresh`] after a failed refresh, so the next
    /// try (by any instance) need not wait out `hold`.
    async fn release_refresh(&self, _key: &str) {}

    /// Records that a reader (`EA_MODE=reader`) was just asked for `params` (normalized
    /// JSON) of endpoint `canonical`, so writers keep them warm. Only a shared cache keeps it.
    async fn note_interest(&self, _canonical: &str, _params: &str) {}

    /// The parameter sets of `canonical` readers asked for since `since_unix_ms` (at most
    /// `limit`), for a writer to keep warm; older ones are forgotten.
    async fn interests(&self, _canonical: &str, _since_unix_ms: u64, _limit: usize) -> Vec<String> {
        Vec::new()
    }
}

/// In-process cache bounded in items, with a time to live, coalescing concurrent misses.
#[derive(Clone)]
pub struct LocalCache {
    entries: moka::future::Cache<String, Arc<Resolved>>,
}

impl LocalCache {
    pub fn new(max_items: u64, max_age: Duration) -> Self {
        let entries = moka::future::Cache::builder()
            .max_capacity(max_items)
            .expire_after(ByAge { max_age })
            .build();
        Self { entries }
    }
}

/// Expires each entry `max_age` after its answer was received from the provider.
struct ByAge {
    max_age: Duration,
}

impl moka::Expiry<String, Arc<Resolved>> for ByAge {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Arc<Resolved>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.time_to_live(self.max_age))
    }

    // A replaced value (a streamed or refreshed answer) brings its own age.
    fn expire_after_update(
        &self,
        _key: &String,
        value: &Arc<Resolved>,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.time_to_live(self.max_age))
    }
}

#[async_trait::async_trait]
impl Cache for LocalCache {
    async fn get_or_fetch(&self, key: String, fetch: Fetch) -> Result<Arc<Resolved>, AdapterError> {
        // A plain lookup first: most requests are hits, and `try_get_with` costs more.
        if let Some(hit) = self.entries.get(&key).await {
            return Ok(hit);
        }
        // `try_get_with` coalesces concurrent misses of one key and never stores an `Err`.
        self.entries
            .try_get_with(key, async move { fetch.await.map(Arc::new) })
            .await
            .map_err(|shared| (*shared).clone())
    }

    async fn put(&self, key: String, value: Arc<Resolved>) {
        self.entries.insert(key, value).await;
    }
}

/// No caching: every request goes upstream (`CACHE_MAX_AGE=0`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCache;

#[async_trait::async_trait]
impl Cache for NoCache {
    async fn get_or_fetch(
        &self,
        _key: String,
        fetch: Fetch,
    ) -> Result<Arc<Resolved>, AdapterError> {
        fetch.await.map(Arc::new)
    }

    // Nothing is kept; a streaming endpoint still answers from its own latest values.
    async fn put(&self, _key: String, _value: Arc<Resolved>) {}
}

/// A deterministic key: the endpoint's canonical name and the parameters as JSON with
/// object keys sorted at every level.
///
/// Parameters are the deserialized-then-reserialized struct, so aliases, key order and
/// unknown keys in the request do not change the key.
pub fn cache_key(endpoint: &str, params: &Value) -> String {
    let mut key = Vec::with_capacity(endpoint.len() + 64);
    key.extend_from_slice(endpoint.as_bytes());
    key.push(b':');
    write_canonical(params, &mut key);
    // Only valid UTF-8 was written: `endpoint` and serde_json's output.
    String::from_utf8(key).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Writes `value` as JSON with object keys sorted, straight into `out` (this runs for every
/// request, so no temporary strings).
fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(k, out);
                out.push(b':');
                write_canonical(&map[k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_json(scalar, out),
    }
}

fn write_json<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    // Strings and scalars always serialize; writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn answer(n: u64) -> Resolved {
        Resolved::new(json!(n), Map::new(), Timestamps::default())
    }

    #[test]
    fn rendering_is_kept_from_the_second_answer_on() {
        let mut data = Map::new();
        data.insert("symbol".to_owned(), json!("ETH-USD"));
        let resolved = Resolved::new(json!(1.5), data, Timestamps::default());
        let expected = |id: &str| {
            crate::protocol::AdapterResponse::success(
                id.to_owned(),
                json!(1.5),
                resolved.data().clone(),
                Timestamps::default(),
                json!({}),
            )
        };
        for (call, id) in ["a", "b\"", "c"].into_iter().enumerate() {
            let body = resolved.success_body(id).expect("renders");
            let expected = serde_json::to_vec(&expected(id)).expect("serializes");
            assert_eq!(body, expected, "call {call}");
            assert_eq!(resolved.rendered.get().is_some(), call >= 1, "call {call}");
        }
        assert!(
            resolved.clone().rendered.get().is_none(),
            "a clone renders anew"
        );
    }

    fn counting_fetch(calls: &Arc<AtomicUsize>, outcome: Result<u64, AdapterError>) -> Fetch {
        let calls = calls.clone();
        Box::pin(async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            outcome.map(answer)
        })
    }

    #[test]
    fn keys_ignore_object_key_order() {
        let a = cache_key(
            "price",
            &json!({"coin": "ETH", "market": {"b": 1, "a": [2, {"y": 0, "x": 1}]}}),
        );
        let b = cache_key(
            "price",
            &json!({"market": {"a": [2, {"x": 1, "y": 0}], "b": 1}, "coin": "ETH"}),
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            cache_key(
                "volume",
                &json!({"coin": "ETH", "market": {"a": [2, {"x": 1, "y": 0}], "b": 1}})
            )
        );
        assert_ne!(
            cache_key("p", &json!({"a": "1"})),
            cache_key("p", &json!({"a": 1}))
        );
    }

    #[test]
    fn key_format_is_stable() {
        // Keys are shared through Redis between versions: the format must not drift.
        assert_eq!(
            cache_key(
                "price",
                &json!({"market": "U\"SD", "coin": "ETH", "n": [1.5, null, true, {"b": 1, "a": -2}]})
            ),
            r#"price:{"coin":"ETH","market":"U\"SD","n":[1.5,null,true,{"a":-2,"b":1}]}"#
        );
    }

    #[tokio::test]
    async fn entries_expire_after_max_age() {
        let cache = LocalCache::new(100, Duration::from_millis(150));
        let calls = Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let got = cache
                .get_or_fetch("k".into(), counting_fetch(&calls, Ok(1)))
                .await;
            assert_eq!(got.map(|r| r.result().clone()), Ok(json!(1)));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "second call is a hit");
        tokio::time::sleep(Duration::from_millis(250)).await;
        let _ = cache
            .get_or_fetch("k".into(), counting_fetch(&calls, Ok(2)))
            .await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "expired entry is fetched again"
        );
    }

    #[tokio::test]
    async fn entries_expire_by_the_age_of_their_data() {
        let max_age = Duration::from_millis(1000);
        let cache = LocalCache::new(100, max_age);
        let calls = Arc::new(AtomicUsize::new(0));
        let received = crate::endpoint::unix_ms() - 800;
        let aged = Resolved::new(
            json!(1),
            Map::new(),
            Timestamps {
                provider_data_requested_unix_ms: received,
                provider_data_received_unix_ms: received,
            },
        );
        assert!(aged.time_to_live(max_age) <= Duration::from_millis(200));
        cache.put("k".into(), Arc::new(aged)).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let got = cache
            .get_or_fetch("k".into(), counting_fetch(&calls, Ok(2)))
            .await;
        assert_eq!(got.map(|r| r.result().clone()), Ok(json!(2)));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the aged entry expired");
    }

    #[tokio::test]
    async fn put_values_are_hits_and_replace_older_ones() {
        let cache = LocalCache::new(100, Duration::from_secs(60));
        let calls = Arc::new(AtomicUsize::new(0));
        cache.put("k".into(), Arc::new(answer(7))).await;
        let got = cache
            .get_or_fetch("k".into(), counting_fetch(&calls, Ok(1)))
            .await;
        assert_eq!(got.map(|r| r.result().clone()), Ok(json!(7)));
        cache.put("k".into(), Arc::new(answer(8))).await;
        let got = cache
            .get_or_fetch("k".into(), counting_fetch(&calls, Ok(1)))
            .await;
        assert_eq!(got.map(|r| r.result().clone()), Ok(json!(8)));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "put values are never fetched"
        );
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache = LocalCache::new(100, Duration::from_secs(60));
        let calls = Arc::new(AtomicUsize::new(0));
        let error = AdapterError::Connection("down".into());
        let first = cache
            .get_or_fetch("k".into(), counting_fetch(&calls, Err(error.clone())))
            .await;
        assert_eq!(first, Err(error));
        let second = cache
            .get_or_fetch("k".into(), counting_fetch(&calls, Ok(3)))
            .await;
        assert_eq!(second.map(|r| r.result().clone()), Ok(json!(3)));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn concurrent_misses_are_coalesced() {
        let cache = Arc::new(LocalCache::new(100, Duration::from_secs(60)));
        let calls = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..20)
            .map(|_| {
                let cache = cache.clone();
                let fetch = counting_fetch(&calls, Ok(4));
                tokio::spawn(async move { cache.get_or_fetch("k".into(), fetch).await })
            })
            .collect();
        for handle in handles {
            let got = handle.await.expect("task does not panic");
            assert_eq!(got.map(|r| r.result().clone()), Ok(json!(4)));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
