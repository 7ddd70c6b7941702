//! Background refresh: hot parameter sets are re-fetched before their cache entry expires,
//! so requests for them are always answered from the cache.
//!
//! Off unless `CACHE_REFRESH_WINDOW_MS` is set (and `CACHE_MAX_AGE` is not 0). Then every
//! parameter set answered successfully within the last `CACHE_REFRESH_WINDOW_MS`
//! milliseconds is fetched again in the background once less than a third of
//! `CACHE_MAX_AGE` remains of its cache entry, and the fresh answer replaces the entry with
//! a full time to live. A parameter set not requested for `CACHE_REFRESH_WINDOW_MS` stops
//! being refreshed and expires normally.
//!
//! Refreshes are ordinary upstream calls: they take rate-limit permits (a full queue fails
//! the refresh, not a request), are retried per `RETRY`, and go through batching for
//! [`BatchHttpEndpoint`](crate::BatchHttpEndpoint)s. A failed refresh is logged and leaves
//! the old entry in place until it expires; it is tried once more after a sixth of
//! `CACHE_MAX_AGE`, and an expired entry is left to the next request. A panic in endpoint
//! code during a refresh is such a failure (logged at `warn` without the panic's message);
//! other parameter sets go on being refreshed. At most `CACHE_MAX_ITEMS` parameter sets are
//! tracked, each by its cache key alone: a refresh parses the normalized parameters back
//! from the key, so what a client sent beyond them (unknown fields, aliases) is not kept.
//! Streaming endpoints are never refreshed
//! ([`crate::stream`]).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use serde_json::{Map, Value};

use crate::cache::{Cache, Resolved};
use crate::endpoint::{Context, DynEndpoint, unix_ms};
use crate::error::AdapterError;
use crate::protect::RateLimit;

/// Shortest and longest pause between two checks for entries due for a refresh.
const MIN_TICK: Duration = Duration::from_millis(5);
const MAX_TICK: Duration = Duration::from_secs(1);

/// A refresh to run: the cache key, its endpoint and the normalized parameters.
type Due = (String, Arc<dyn DynEndpoint>, Map<String, Value>);

/// A parameter set being kept warm, under its cache key.
struct Tracked {
    endpoint: Arc<dyn DynEndpoint>,
    /// Where the normalized parameters (JSON) start in the cache key, after `endpoint:`.
    params_at: usize,
    last_requested: Instant,
    /// When the cached answer was received from the provider (its age).
    received_unix_ms: u64,
    refreshing: bool,
    /// After a failed refresh, the next try waits until then, so a provider outage does
    /// not get a call every tick.
    not_before: Option<Instant>,
}

/// Tracks recently requested parameter sets and refreshes them in a background task.
pub(crate) struct Refresher {
    tracked: Mutex<HashMap<String, Tracked>>,
    window: Duration,
    max_age: Duration,
    max_items: usize,
    cache: Arc<dyn Cache>,
    context: Context,
    rate_limit: Option<Arc<RateLimit>>,
    fetch_timeout: Duration,
}

impl Refresher {
    /// Starts the refresh task; it ends once the returned refresher is dropped.
    pub(crate) fn start(
        window: Duration,
        max_age: Duration,
        max_items: u64,
        cache: Arc<dyn Cache>,
        context: Context,
        rate_limit: Option<Arc<RateLimit>>,
        fetch_timeout: Duration,
    ) -> Arc<Self> {
        let refresher = Arc::new(Self {
            tracked: Mutex::new(HashMap::new()),
            window,
            max_age,
            max_items: usize::try_from(max_items).unwrap_or(usize::MAX),
            cache,
            context,
            rate_limit,
            fetch_timeout,
        });
        tokio::spawn(run(Arc::downgrade(&refresher)));
        refresher
    }

    /// Records that `key`, the cache key of endpoint `canonical`, was just answered with
    /// `resolved`.
    pub(crate) fn note(
        &self,
        key: &str,
        canonical: &str,
        endpoint: &Arc<dyn DynEndpoint>,
        resolved: &Resolved,
    ) {
        let received = resolved.timestamps().provider_data_received_unix_ms;
        // Never held across an await; a panic elsewhere cannot leave the map half-updated.
        let mut tracked = self.tracked.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = tracked.get_mut(key) {
            entry.last_requested = Instant::now();
            entry.received_unix_ms = entry.received_unix_ms.max(received);
            return;
        }
        if tracked.len() >= self.max_items {
            return;
        }
        tracked.insert(
            key.to_owned(),
            Tracked {
                endpoint: endpoint.clone(),
                params_at: canonical.len() + 1,
                last_requested: Instant::now(),
                received_unix_ms: received,
                refreshing: false,
                not_before: None,
            },
        );
    }

    fn tick(&self) -> Duration {
        (self.max_age / 20).clamp(MIN_TICK, MAX_TICK)
    }

    /// Drops idle parameter sets and returns those due for a refresh, marked as refreshing.
    fn due(&self) -> Vec<Due> {
        let now = Instant::now();
        let now_ms = unix_ms();
        let lead = u64::try_from((self.max_age / 3).as_millis()).unwrap_or(u64::MAX);
        let max_age = u64::try_from(self.max_age.as_millis()).unwrap_or(u64::MAX);
        let mut tracked = self.tracked.lock().unwrap_or_else(PoisonError::into_inner);
        tracked.retain(|key, entry| {
            let idle = now.duration_since(entry.last_requested) > self.window;
            if idle {
                tracing::debug!(%key, "no longer requested; background refresh stops");
            }
            !idle
        });
        let mut due = Vec::new();
        tracked.retain(|key, entry| {
            let expires_at = entry.received_unix_ms.saturating_add(max_age);
            let refresh_at = expires_at.saturating_sub(lead);
            // An expired entry is left to the next request, which fetches it itself and so
            // tracks it again; refreshing it here would only double the calls.
            let is_due = !entry.refreshing
                && (refresh_at..expires_at).contains(&now_ms)
                && entry.not_before.is_none_or(|t| now >= t);
            if !is_due {
                return true;
            }
            let params = key
                .get(entry.params_at..)
                .and_then(|json| serde_json::from_str::<Map<String, Value>>(json).ok());
            let Some(params) = params else {
                // Keys are made from a parameter object; anything else cannot be refreshed.
                tracing::warn!(%key, "cache key holds no parameter object; not refreshed");
                return false;
            };
            entry.refreshing = true;
            due.push((key.clone(), entry.endpoint.clone(), params));
            true
        });
        due
    }

    async fn refresh(
        self: Arc<Self>,
        key: String,
        endpoint: Arc<dyn DynEndpoint>,
        data: Map<String, Value>,
    ) {
        // Instances sharing a cache refresh a key once per lead between them: the lock is
        // held for the lead, the time from an entry falling due to its expiry, so no other
        // instance's view of the same entry falls due while it is held.
        if !self.cache.claim_refresh(&key, self.max_age / 3).await {
            tracing::debug!(%key, "another instance refreshes this key");
            self.done(&key, None, true);
            return;
        }
        // `prepare` and the fetch run the adapter author's code. A panic there must fail
        // this refresh alone, like any other failure: left uncaught it would end this task
        // with the entry marked as refreshing, and it would never be refreshed again.
        let outcome = AssertUnwindSafe(self.fetch(endpoint, &data))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                // The payload stays out of the log: it may hold anything the code had at hand.
                Err(AdapterError::Internal(
                    "endpoint code panicked during the refresh".to_owned(),
                ))
            });
        let received = match outcome {
            Ok(resolved) => {
                let received = resolved.timestamps().provider_data_received_unix_ms;
                self.cache.put(key.clone(), Arc::new(resolved)).await;
                Some(received)
            }
            Err(error) => {
                tracing::warn!(%key, %error, "background refresh failed; the cached answer stays until it expires");
                self.cache.release_refresh(&key).await;
                None
            }
        };
        self.done(&key, received, false);
    }

    /// Records the end of a refresh of `key`: `received` when it succeeded; `skipped` when
    /// another instance holds its refresh.
    fn done(&self, key: &str, received: Option<u64>, skipped: bool) {
        let mut tracked = self.tracked.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = tracked.get_mut(key) {
            entry.refreshing = false;
            match received {
                Some(received) => {
                    entry.received_unix_ms = entry.received_unix_ms.max(received);
                    entry.not_before = None;
                }
                // Whoever holds the lock holds it for the rest of this entry's lead; the
                // next request brings the refreshed answer's age here.
                None if skipped => entry.not_before = Some(Instant::now() + self.max_age / 3),
                // Half the lead: one more try before the entry expires.
                None => entry.not_before = Some(Instant::now() + self.max_age / 6),
            }
        }
    }

    async fn fetch(
        &self,
        endpoint: Arc<dyn DynEndpoint>,
        data: &Map<String, Value>,
    ) -> Result<Resolved, AdapterError> {
        let own_permit = endpoint.takes_own_permit();
        let (_, fetch) = endpoint.prepare(&self.context, data)?;
        let fetch = match &self.rate_limit {
            Some(limit) if !own_permit => limit.clone().guard(fetch),
            _ => fetch,
        };
        tokio::time::timeout(self.fetch_timeout, fetch)
            .await
            .map_err(|_| {
                AdapterError::Timeout("background refresh did not finish in time".to_owned())
            })?
    }
}

/// Checks for due entries every tick until the refresher is dropped (the adapter stopped).
async fn run(refresher: Weak<Refresher>) {
    loop {
        let Some(tick) = refresher.upgrade().map(|r| r.tick()) else {
            return;
        };
        tokio::time::sleep(tick).await;
        let Some(refresher) = refresher.upgrade() else {
            return;
        };
        for (key, endpoint, data) in refresher.due() {
            tokio::spawn(refresher.clone().refresh(key, endpoint, data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{LocalCache, cache_key};
    use crate::config::Config;
    use crate::endpoint::{Endpoint, Erased, Output};
    use crate::protect::RetryPolicy;
    use crate::protocol::Timestamps;
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    #[derive(Deserialize, Serialize)]
    struct Coin {
        #[serde(alias = "base")]
        coin: String,
    }

    struct Fixed;

    impl Endpoint for Fixed {
        type Params = Coin;

        async fn fetch(&self, _: &Context, _: Coin) -> Result<Output, AdapterError> {
            Ok(Output::new(1))
        }
    }

    fn context() -> Context {
        Context {
            http: reqwest::Client::new(),
            retry: RetryPolicy::from_config(&Config::default()),
            metrics: None,
            rate_limit: None,
            batch_window: Duration::from_millis(5),
        }
    }

    #[tokio::test]
    async fn only_the_normalized_parameters_are_kept() {
        let max_age = Duration::from_secs(3);
        let cache: Arc<dyn Cache> = Arc::new(LocalCache::new(10, max_age));
        let refresher = Refresher::start(
            Duration::from_secs(60),
            max_age,
            10,
            cache,
            context(),
            None,
            Duration::from_secs(5),
        );
        let endpoint: Arc<dyn DynEndpoint> = Arc::new(Erased(Fixed));
        // What a client sent had an alias and a large field the endpoint ignores; only the
        // key made of the normalized parameters reaches the refresher.
        let normalized = json!({"coin": "ETH"});
        let key = cache_key("price", &normalized);
        // Received 2.5 s ago: less than a third of the 3 s max age is left, so it is due.
        let received = unix_ms() - 2500;
        let timestamps = Timestamps {
            provider_data_requested_unix_ms: received,
            provider_data_received_unix_ms: received,
        };
        let resolved = Resolved::new(json!(1), Map::new(), timestamps);
        refresher.note(&key, "price", &endpoint, &resolved);
        let due = refresher.due();
        assert_eq!(due.len(), 1);
        assert_eq!(Value::Object(due[0].2.clone()), normalized);
    }
}
