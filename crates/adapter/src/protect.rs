//! Upstream protection: a rate limit with a bounded wait queue, and retries with backoff.
//!
//! - **Rate limit** (`RATE_LIMIT_CAPACITY_SECOND`, `RATE_LIMIT_CAPACITY_MINUTE`; unset =
//!   unlimited): every upstream fetch takes one permit before it starts. Cache hits and
//!   requests coalesced onto an in-flight fetch take none, because the server wraps the fetch
//!   future ([`RateLimit::guard`]) before handing it to the cache, which runs it only on a
//!   miss. A fetch that finds no permit waits in a FIFO queue of at most
//!   `RATE_LIMIT_QUEUE_SIZE` requests (default 100); when the queue is full the request is
//!   answered at once with 429 `AdapterRateLimitError`. A queued request still counts against
//!   the adapter's overall time limit (`API_TIMEOUT` + 1 s → 504).
//! - **Retries** (`RETRY`, default 1): [`crate::upstream::send`] repeats an upstream call that
//!   failed with a 5xx or a transport error (connection refused, reset, …), waiting
//!   100 ms, 200 ms, 400 ms, … (at most 2 s) between attempts. 4xx answers, unparsable 2xx
//!   bodies and timeouts are not retried: the first two will not change, and all attempts
//!   together share one `API_TIMEOUT` budget, so a timeout means the budget is spent. A
//!   retry reuses its request's permit, so with `RETRY=n` one request makes at most `n + 1`
//!   upstream calls; size the capacities for that.
//! - **Parameter length** (`MAX_PARAM_LENGTH`, default 1 024 bytes): a request parameter
//!   holding more text than that (its string, or the strings and keys within an array or
//!   object, counted together) is answered 400 naming it, before any cache lookup or
//!   upstream call ([`check_param_lengths`]); so is a parameter name over
//!   [`MAX_PARAM_NAME_LENGTH`] bytes. Cache keys, coalescing, subscriptions and
//!   refresh all keep parameters, so this bounds their memory in bytes, not only in entries.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};
use serde_json::{Map, Value};

use crate::cache::Fetch;
use crate::config::Config;
use crate::error::AdapterError;

/// Wait before the first retry; doubled for each further one.
pub const RETRY_BASE_DELAY: Duration = Duration::from_millis(100);
/// Longest wait between two attempts.
pub const RETRY_MAX_DELAY: Duration = Duration::from_secs(2);

/// Longest parameter name, in bytes; names are the adapter author's vocabulary, so this
/// only stops garbage.
pub const MAX_PARAM_NAME_LENGTH: usize = 255;

/// Refuses `data` when one of its parameters holds more than `limit` bytes of text
/// (`MAX_PARAM_LENGTH`; the 400 names the parameter), or a name is longer than
/// [`MAX_PARAM_NAME_LENGTH`].
pub fn check_param_lengths(data: &Map<String, Value>, limit: usize) -> Result<(), AdapterError> {
    for (name, value) in data {
        if name.len() > MAX_PARAM_NAME_LENGTH {
            // Not echoed: the name is the oversized part.
            return Err(AdapterError::Input {
                param: None,
                message: format!("a parameter name is longer than {MAX_PARAM_NAME_LENGTH} bytes"),
            });
        }
        if text_bytes(value, limit) > limit {
            return Err(AdapterError::Input {
                param: Some(name.clone()),
                message: format!(
                    "parameter `{name}` is longer than MAX_PARAM_LENGTH ({limit} bytes)"
                ),
            });
        }
    }
    Ok(())
}

/// The bytes of text in `value`: strings, and object keys; counting stops once past
/// `limit`. Numbers, booleans and null are small and bounded, so they count nothing.
fn text_bytes(value: &Value, limit: usize) -> usize {
    let mut total = 0;
    match value {
        Value::String(text) => total = text.len(),
        Value::Array(items) => {
            for item in items {
                total += text_bytes(item, limit);
                if total > limit {
                    break;
                }
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                total += key.len() + text_bytes(item, limit);
                if total > limit {
                    break;
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    total
}

/// How failed upstream calls are retried (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (`RETRY`).
    pub retries: u32,
    /// All attempts and the waits between them fit in this budget (`API_TIMEOUT`).
    pub budget: Duration,
}

impl RetryPolicy {
    /// The policy `config` asks for.
    pub fn from_config(config: &Config) -> Self {
        Self {
            retries: config.retry,
            budget: config.api_timeout,
        }
    }

    /// The wait before retry number `retry` (0 for the first retry): exponential from
    /// [`RETRY_BASE_DELAY`], capped at [`RETRY_MAX_DELAY`].
    pub fn backoff(retry: u32) -> Duration {
        RETRY_BASE_DELAY
            .checked_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX))
            .map_or(RETRY_MAX_DELAY, |delay| delay.min(RETRY_MAX_DELAY))
    }

    /// Whether a failed attempt may succeed when repeated: upstream 5xx and transport
    /// errors. Timeouts are not retried because they mean the shared budget is spent.
    pub fn is_retryable(error: &AdapterError) -> bool {
        match error {
            AdapterError::Provider {
                provider_status_code: Some(status),
                ..
            } => *status >= 500,
            AdapterError::Connection(_) => true,
            _ => false,
        }
    }
}

/// The upstream rate limit: per-second and per-minute capacities and a bounded queue.
pub struct RateLimit {
    per_second: Option<(NonZeroU32, DefaultDirectRateLimiter)>,
    per_minute: Option<(NonZeroU32, DefaultDirectRateLimiter)>,
    queue_size: usize,
    queued: AtomicUsize,
    // Held by the request at the head of the queue while it waits for a permit; tokio's
    // mutex is fair, so queued requests are served in arrival order.
    head: tokio::sync::Mutex<()>,
    clock: DefaultClock,
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("per_second", &self.per_second.as_ref().map(|(n, _)| n))
            .field("per_minute", &self.per_minute.as_ref().map(|(n, _)| n))
            .field("queue_size", &self.queue_size)
            .field("queued", &self.queued())
            .finish()
    }
}

impl RateLimit {
    /// The limit `config` asks for, or `None` when neither capacity is set.
    pub fn from_config(config: &Config) -> Option<Self> {
        Self::new(
            config.rate_limit_capacity_second,
            config.rate_limit_capacity_minute,
            config.rate_limit_queue_size,
        )
    }

    /// A limit of `per_second` and `per_minute` upstream calls (each a burst capacity that
    /// refills evenly), with up to `queue_size` waiting requests; `None` when both are unset.
    pub fn new(
        per_second: Option<NonZeroU32>,
        per_minute: Option<NonZeroU32>,
        queue_size: usize,
    ) -> Option<Self> {
        if per_second.is_none() && per_minute.is_none() {
            return None;
        }
        let limiter = |quota: Quota| DefaultDirectRateLimiter::direct(quota);
        Some(Self {
            per_second: per_second.map(|n| (n, limiter(Quota::per_second(n)))),
            per_minute: per_minute.map(|n| (n, limiter(Quota::per_minute(n)))),
            queue_size,
            queued: AtomicUsize::new(0),
            head: tokio::sync::Mutex::new(()),
            clock: DefaultClock::default(),
        })
    }

    /// Requests waiting for a permit now (for metrics).
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// `fetch`, started only once a permit is granted; 429 when the queue is full.
    pub fn guard(self: std::sync::Arc<Self>, fetch: Fetch) -> Fetch {
        Box::pin(async move {
            self.acquire().await?;
            fetch.await
        })
    }

    /// Waits for a permit, or fails with 429 when the queue is full.
    pub async fn acquire(&self) -> Result<(), AdapterError> {
        // Nobody is queued: take a permit directly when one is free. With requests queued,
        // newcomers go behind them instead of overtaking.
        if self.queued() == 0 && self.wait_needed().is_none() {
            return Ok(());
        }
        let _place = self.enter_queue()?;
        let _head = self.head.lock().await;
        while let Some(wait) = self.wait_needed() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Takes a permit from every limiter and returns `None`, or returns how long to wait.
    ///
    /// When the per-second limiter grants and the per-minute one refuses, the per-second
    /// cell is spent anyway; the per-minute limit is then the binding one, so that only
    /// leaves the per-second capacity slightly unused.
    fn wait_needed(&self) -> Option<Duration> {
        let now = self.clock.now();
        [&self.per_second, &self.per_minute]
            .into_iter()
            .flatten()
            .find_map(|(_, limiter)| limiter.check().err())
            .map(|not_until| not_until.wait_time_from(now))
    }

    fn enter_queue(&self) -> Result<QueuePlace<'_>, AdapterError> {
        let entered = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                (queued < self.queue_size).then_some(queued + 1)
            });
        match entered {
            Ok(_) => Ok(QueuePlace(&self.queued)),
            Err(_) => Err(AdapterError::RateLimited(self.overflow_message())),
        }
    }

    fn overflow_message(&self) -> String {
        let mut limits = Vec::new();
        if let Some((n, _)) = &self.per_second {
            limits.push(format!("{n}/s (RATE_LIMIT_CAPACITY_SECOND)"));
        }
        if let Some((n, _)) = &self.per_minute {
            limits.push(format!("{n}/min (RATE_LIMIT_CAPACITY_MINUTE)"));
        }
        format!(
            "too many requests: the upstream rate limit of {} is reached and the wait queue \
             of {} requests (RATE_LIMIT_QUEUE_SIZE) is full",
            limits.join(" and "),
            self.queue_size
        )
    }
}

/// A place in the queue, given back when the request leaves it (granted or cancelled).
struct QueuePlace<'a>(&'a AtomicUsize);

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;

    fn limit(per_second: u32, queue_size: usize) -> Arc<RateLimit> {
        Arc::new(RateLimit::new(NonZeroU32::new(per_second), None, queue_size).expect("a limit"))
    }

    #[test]
    fn no_capacity_means_no_limit() {
        assert!(RateLimit::new(None, None, 10).is_none());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let waits: Vec<u64> = (0..7)
            .map(|n| RetryPolicy::backoff(n).as_millis() as u64)
            .collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(RetryPolicy::backoff(u32::MAX), RETRY_MAX_DELAY);
    }

    #[test]
    fn retryable_errors() {
        let provider = |status| AdapterError::Provider {
            provider_status_code: status,
            message: String::new(),
        };
        assert!(RetryPolicy::is_retryable(&provider(Some(503))));
        assert!(RetryPolicy::is_retryable(&provider(Some(500))));
        assert!(RetryPolicy::is_retryable(&AdapterError::Connection(
            String::new()
        )));
        assert!(!RetryPolicy::is_retryable(&provider(Some(404))));
        assert!(!RetryPolicy::is_retryable(&provider(Some(429))));
        assert!(!RetryPolicy::is_retryable(&provider(None)));
        assert!(!RetryPolicy::is_retryable(&AdapterError::Timeout(
            String::new()
        )));
    }

    #[tokio::test]
    async fn third_call_in_a_second_waits_for_a_permit() {
        let limit = limit(2, 5);
        let started = Instant::now();
        limit.acquire().await.expect("first");
        limit.acquire().await.expect("second");
        assert!(started.elapsed() < Duration::from_millis(100));
        limit
            .acquire()
            .await
            .expect("third is queued, then granted");
        // Capacity 2/s refills one permit every 500 ms.
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(400), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        assert_eq!(limit.queued(), 0);
    }

    #[tokio::test]
    async fn full_queue_is_429() {
        let limit = limit(1, 1);
        limit.acquire().await.expect("first");
        let waiting = tokio::spawn({
            let limit = limit.clone();
            async move { limit.acquire().await }
        });
        // Let the second request take the only queue place.
        let deadline = Instant::now() + Duration::from_secs(2);
        while limit.queued() == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(limit.queued(), 1);
        let error = limit.acquire().await.expect_err("queue is full");
        assert_eq!(error.status_code(), 429);
        assert_eq!(error.name(), "AdapterRateLimitError");
        assert!(
            error.to_string().contains("RATE_LIMIT_QUEUE_SIZE"),
            "{error}"
        );
        let granted = tokio::time::timeout(Duration::from_secs(3), waiting)
            .await
            .expect("queued request is granted within the refill time")
            .expect("task");
        assert_eq!(granted, Ok(()));
        assert_eq!(limit.queued(), 0);
    }

    #[tokio::test]
    async fn per_minute_capacity_binds_too() {
        let limit = RateLimit::new(NonZeroU32::new(10), NonZeroU32::new(2), 0).expect("a limit");
        limit.acquire().await.expect("first");
        limit.acquire().await.expect("second");
        let error = limit.acquire().await.expect_err("third in the minute");
        assert_eq!(error.status_code(), 429);
        assert!(
            error
                .to_string()
                .contains("2/min (RATE_LIMIT_CAPACITY_MINUTE)"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn cancelled_waiter_leaves_the_queue() {
        let limit = limit(1, 1);
        limit.acquire().await.expect("first");
        let cancelled = tokio::time::timeout(Duration::from_millis(50), limit.acquire()).await;
        assert!(cancelled.is_err(), "must still be waiting");
        assert_eq!(limit.queued(), 0);
    }
}
