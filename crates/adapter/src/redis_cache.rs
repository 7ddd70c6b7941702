//! [`RedisCache`]: answers kept in Redis so several adapter instances share them
//! (`CACHE_TYPE=redis`, `CACHE_REDIS_URL`).
//!
//! - Keys are `{adapter name}:{cache_key}`, so adapters sharing one Redis never read each
//!   other's answers; values are [`Resolved`] as JSON, stored with `PSETEX` for what is
//!   left of `CACHE_MAX_AGE` since the provider's data was received
//!   ([`Resolved::time_to_live`]), so Redis expires them when they reach that age.
//! - Errors are never stored.
//! - Identical in-flight requests on one instance make one Redis lookup and at most one
//!   upstream call ([`SingleFlight`]); concurrent misses on different instances each call
//!   upstream.
//! - Background refresh ([`crate::refresh`]) is coordinated: before refreshing a key an
//!   instance takes a short lock, `SET {adapter name}:refresh-lock:{cache_key} {token} NX
//!   PX {hold}`, so one instance per window calls upstream for it. A failed refresh
//!   deletes the lock if it still holds this instance's token; a Redis failure while
//!   taking it skips that refresh (its write would most likely fail too).
//! - `EA_MODE=reader` instances record each requested parameter set in the sorted set
//!   `{adapter name}:interest:{endpoint}` (score: when last requested, in unix ms);
//!   `EA_MODE=writer` instances read it to keep those parameter sets warm
//!   ([`crate::server`]).
//! - Redis must answer at start-up ([`RedisCache::connect`] fails otherwise). Later Redis
//!   failures are logged as warnings and the request goes upstream: the cache never takes
//!   the adapter down. The connection reconnects by itself.
//! - A stored value this version cannot read (written by another version of the framework)
//!   counts as a miss and is overwritten.
//! - `CACHE_MAX_ITEMS` does not apply: Redis's own `maxmemory` policy bounds its size.
//! - Instances share answers when they use the same Redis, database and adapter name.
//!   `rediss://` (TLS) is not built in; `CACHE_REDIS_URL` rejects it at start-up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::cache::{Cache, Fetch, Resolved};
use crate::error::AdapterError;
use crate::single_flight::SingleFlight;

/// How long one Redis command or connection attempt may take before the request goes on
/// without the cache. Redis answers in well under a millisecond when healthy; this only
/// bounds what a sick Redis adds to a request.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// Reconnection attempts per failure. Few, because requests wait on a reconnect in
/// progress; the next failing command starts a new one.
const RECONNECT_RETRIES: usize = 1;

/// Why the Redis cache could not start; the message names `CACHE_REDIS_URL`.
#[derive(Debug, thiserror::Error)]
#[error("could not use the Redis cache at CACHE_REDIS_URL ({address}): {source}")]
pub struct RedisStartError {
    /// Host and port (or socket path) from the URL, without credentials.
    pub address: String,
    #[source]
    pub source: redis::RedisError,
}

/// What went wrong with one cache read or write (logged, never returned to a client).
#[derive(Debug, thiserror::Error)]
enum RedisCacheError {
    #[error("Redis command failed: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("Redis did not answer within {REDIS_TIMEOUT:?}")]
    Timeout,
    #[error("stored value is not a cached answer: {0}")]
    Decode(#[from] serde_json::Error),
}

type Outcome = Result<Arc<Resolved>, AdapterError>;

/// A [`Cache`] in Redis, shared by every instance configured with the same URL.
pub struct RedisCache {
    connection: ConnectionManager,
    namespace: String,
    max_age: Duration,
    in_flight: SingleFlight<Outcome>,
    /// This instance's value in refresh locks, so it releases only a lock it holds.
    lock_token: String,
}

/// Deletes a refresh lock only if it holds this instance's token (it may have expired
/// and been taken by another instance meanwhile).
const RELEASE_LOCK: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

impl RedisCache {
    /// Connects to `url` and checks that Redis answers. `namespace` (the adapter's name)
    /// prefixes every key; entries live for `max_age`.
    pub async fn connect(
        url: &str,
        namespace: &str,
        max_age: Duration,
    ) -> Result<Self, RedisStartError> {
        let client = redis::Client::open(url).map_err(|source| RedisStartError {
            address: "unparsable URL".to_owned(),
            source,
        })?;
        let address = client.get_connection_info().addr().to_string();
        let failed = |source| RedisStartError {
            address: address.clone(),
            source,
        };
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT));
        let mut connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(failed)?;
        // The connection alone does not prove that the server accepts our commands
        // (authentication, a proxy in front of nothing).
        redis::cmd("PING")
            .query_async::<()>(&mut connection)
            .await
            .map_err(failed)?;
        Ok(Self {
            connection,
            namespace: namespace.to_owned(),
            max_age,
            in_flight: SingleFlight::default(),
            lock_token: lock_token(),
        })
    }

    fn interest_key(&self, canonical: &str) -> String {
        format!("{}:interest:{canonical}", self.namespace)
    }

    fn lock_key(&self, key: &str) -> String {
        format!("{}:refresh-lock:{key}", self.namespace)
    }

    /// The Redis key for a [`cache_key`](crate::cache::cache_key).
    pub fn redis_key(&self, key: &str) -> String {
        format!("{}:{key}", self.namespace)
    }
}

#[async_trait::async_trait]
impl Cache for RedisCache {
    async fn get_or_fetch(&self, key: String, fetch: Fetch) -> Outcome {
        let key = self.redis_key(&key);
        let work = lookup_or_fetch(self.connection.clone(), key.clone(), self.max_age, fetch);
        self.in_flight.run(key, work).await
    }

    async fn put(&self, key: String, value: Arc<Resolved>) {
        let key = self.redis_key(&key);
        let mut connection = self.connection.clone();
        if let Err(error) = write(&mut connection, &key, &value, self.max_age).await {
            tracing::warn!(%key, %error, "cache write of a streamed or refreshed answer failed");
        }
    }

    async fn claim_refresh(&self, key: &str, hold: Duration) -> bool {
        let lock = self.lock_key(key);
        // At least 1 ms: PX rejects 0.
        let millis = u64::try_from(hold.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut connection = self.connection.clone();
        let mut set = redis::cmd("SET");
        set.arg(&lock)
            .arg(&self.lock_token)
            .arg("NX")
            .arg("PX")
            .arg(millis);
        let set = set.query_async::<Option<String>>(&mut connection);
        match tokio::time::timeout(REDIS_TIMEOUT, set).await {
            Ok(Ok(claimed)) => claimed.is_some(),
            Ok(Err(error)) => {
                tracing::warn!(%lock, %error, "refresh lock failed; this refresh is skipped");
                false
            }
            Err(_) => {
                tracing::warn!(%lock, "refresh lock timed out; this refresh is skipped");
                false
            }
        }
    }

    async fn note_interest(&self, canonical: &str, params: &str) {
        let set = self.interest_key(canonical);
        let mut pipe = redis::pipe();
        pipe.cmd("ZADD")
            .arg(&set)
            .arg(crate::endpoint::unix_ms())
            .arg(params)
            .ignore()
            // A set no reader touches any more goes away by itself.
            .cmd("PEXPIRE")
            .arg(&set)
            .arg(
                u64::try_from(self.max_age.as_millis())
                    .unwrap_or(u64::MAX)
                    .saturating_mul(2)
                    .max(1),
            )
            .ignore();
        let mut connection = self.connection.clone();
        let noted = tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<()>(&mut connection));
        if !matches!(noted.await, Ok(Ok(()))) {
            tracing::warn!(%set, "could not record a reader's parameters for the writers");
        }
    }

    async fn interests(&self, canonical: &str, since_unix_ms: u64, limit: usize) -> Vec<String> {
        let set = self.interest_key(canonical);
        let mut pipe = redis::pipe();
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(&set)
            .arg("-inf")
            .arg(format!("({since_unix_ms}"))
            .ignore()
            .cmd("ZRANGEBYSCORE")
            .arg(&set)
            .arg(since_unix_ms)
            .arg("+inf")
            .arg("LIMIT")
            .arg(0)
            .arg(limit);
        let mut connection = self.connection.clone();
        let read = tokio::time::timeout(
            REDIS_TIMEOUT,
            pipe.query_async::<(Vec<String>,)>(&mut connection),
        );
        match read.await {
            Ok(Ok((members,))) => members,
            _ => {
                tracing::warn!(%set, "could not read the readers' parameters");
                Vec::new()
            }
        }
    }

    async fn release_refresh(&self, key: &str) {
        let lock = self.lock_key(key);
        let mut connection = self.connection.clone();
        let mut release = redis::cmd("EVAL");
        release
            .arg(RELEASE_LOCK)
            .arg(1)
            .arg(&lock)
            .arg(&self.lock_token);
        let release = release.query_async::<i64>(&mut connection);
        // Best effort: an unreleased lock only delays the next try until it expires.
        if !matches!(
            tokio::time::timeout(REDIS_TIMEOUT, release).await,
            Ok(Ok(_))
        ) {
            tracing::debug!(%lock, "refresh lock not released; it expires by itself");
        }
    }
}

/// A value no other instance uses: process id, start time and a per-process counter.
fn lock_token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

async fn lookup_or_fetch(
    mut connection: ConnectionManager,
    key: String,
    max_age: Duration,
    fetch: Fetch,
) -> Outcome {
    let store = match read(&mut connection, &key).await {
        Ok(Some(resolved)) => return Ok(Arc::new(resolved)),
        Ok(None) => true,
        Err(error @ RedisCacheError::Decode(_)) => {
            tracing::warn!(%key, %error, "unreadable cache entry; asking upstream and replacing it");
            true
        }
        Err(error) => {
            tracing::warn!(%key, %error, "cache read failed; asking upstream");
            // Redis just failed: a write would most likely wait out a timeout too.
            false
        }
    };
    let resolved = fetch.await?;
    // Awaited rather than spawned so that once this instance has answered, every instance
    // finds the answer.
    if store && let Err(error) = write(&mut connection, &key, &resolved, max_age).await {
        tracing::warn!(%key, %error, "cache write failed; the answer is not shared");
    }
    Ok(Arc::new(resolved))
}

async fn read(
    connection: &mut ConnectionManager,
    key: &str,
) -> Result<Option<Resolved>, RedisCacheError> {
    let stored: Option<Vec<u8>> = tokio::time::timeout(REDIS_TIMEOUT, connection.get(key))
        .await
        .map_err(|_| RedisCacheError::Timeout)??;
    match stored {
        None => Ok(None),
        Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
    }
}

async fn write(
    connection: &mut ConnectionManager,
    key: &str,
    resolved: &Resolved,
    max_age: Duration,
) -> Result<(), RedisCacheError> {
    // Counted from when the provider's data was received, like the local cache.
    let millis = u64::try_from(resolved.time_to_live(max_age).as_millis()).unwrap_or(u64::MAX);
    if millis == 0 {
        // PSETEX rejects 0, and an answer this old must not be served anyway.
        return Ok(());
    }
    let bytes = serde_json::to_vec(resolved)?;
    tokio::time::timeout(
        REDIS_TIMEOUT,
        connection.pset_ex::<_, _, ()>(key, bytes, millis),
    )
    .await
    .map_err(|_| RedisCacheError::Timeout)??;
    Ok(())
}
