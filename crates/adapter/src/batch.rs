//! Batching: many parameter sets answered by one upstream call, for providers that accept
//! a list (`GET /prices?coins=ETH,BTC,LINK`).
//!
//! Implement [`BatchHttpEndpoint`] and add it with
//! [`Adapter::batch_endpoint`](crate::Adapter::batch_endpoint). Requests that miss the cache
//! are collected for `BATCH_WINDOW_MS` milliseconds (default 5) after the first one of a
//! batch, or until [`BatchHttpEndpoint::max_batch_size`] parameter sets are waiting, and are
//! then sent as one request built by [`BatchHttpEndpoint::request`]. Each caller gets its own
//! entry of the answer:
//!
//! - every answer is cached under its own parameters' key, exactly as for a single
//!   [`HttpEndpoint`](crate::HttpEndpoint); cache hits never wait for a batch, and identical
//!   concurrent requests are still coalesced by the cache before they reach one;
//! - one upstream call takes one rate-limit permit (`RATE_LIMIT_CAPACITY_*`), however many
//!   parameter sets it carries, and is retried (`RETRY`) as a whole;
//! - a failed call (non-2xx, unreachable, timeout, or a body [`BatchHttpEndpoint::parse`]
//!   rejects as a whole) fails every caller of the batch with the same error, e.g. 502 with
//!   `providerStatusCode`;
//! - a parameter set the answer has no entry for fails alone, with 502
//!   `AdapterDataProviderError` naming the parameters; errors are never cached.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::oneshot;

use crate::cache::Fetch;
use crate::endpoint::{Context, DynEndpoint, Output, Params, parse_validated, timed};
use crate::error::AdapterError;
use crate::upstream;

/// `max_batch_size` when an endpoint does not say.
pub const DEFAULT_MAX_BATCH_SIZE: usize = 100;

/// What [`BatchHttpEndpoint::parse`] returns: entries of the answer, each with the index of
/// its parameter set in the batch. Indexes without an entry fail as missing.
pub type BatchAnswer = Vec<(usize, Result<Output, AdapterError>)>;

/// An endpoint whose provider answers many parameter sets in one HTTP call.
///
/// Failures are mapped and retried like [`HttpEndpoint`](crate::HttpEndpoint)'s;
/// [`parse`](Self::parse) only sees 2xx JSON bodies.
pub trait BatchHttpEndpoint: Send + Sync + 'static {
    type Params: Params;

    /// Checks values serde cannot; errors are answered with 400 before any batching.
    fn validate(&self, _params: &Self::Params) -> Result<(), AdapterError> {
        Ok(())
    }

    /// The most parameter sets the provider accepts in one call; a batch that reaches it is
    /// sent at once, without waiting for the rest of the window.
    fn max_batch_size(&self) -> usize {
        DEFAULT_MAX_BATCH_SIZE
    }

    /// Builds one upstream request for all of `params` (never empty), including secrets.
    fn request(&self, http: &reqwest::Client, params: &[Self::Params]) -> reqwest::RequestBuilder;

    /// Splits the upstream's JSON body into one answer per parameter set: `(index in
    /// params, answer)`. Leave out the parameter sets the body has nothing for; the
    /// framework answers those with a "missing from the provider's answer" error. An `Err`
    /// fails the whole batch.
    fn parse(&self, params: &[Self::Params], body: Value) -> Result<BatchAnswer, AdapterError>;
}

type Reply = oneshot::Sender<Result<Output, AdapterError>>;

/// The batch being collected, and a number that changes whenever a batch is sent, so a
/// window timer knows whether the batch it was started for is still the open one.
struct Open<P> {
    generation: u64,
    waiting: Vec<(P, Reply)>,
}

/// A [`BatchHttpEndpoint`] with its open batch; what the server dispatches to.
pub(crate) struct Batched<E: BatchHttpEndpoint> {
    endpoint: E,
    open: Mutex<Open<E::Params>>,
}

impl<E: BatchHttpEndpoint> Batched<E> {
    pub(crate) fn new(endpoint: E) -> Self {
        Self {
            endpoint,
            open: Mutex::new(Open {
                generation: 0,
                waiting: Vec::new(),
            }),
        }
    }

    /// Adds `params` to the open batch, sending it when full or starting its window timer
    /// when it is the first entry.
    fn submit(
        self: &Arc<Self>,
        context: &Context,
        params: E::Params,
    ) -> oneshot::Receiver<Result<Output, AdapterError>> {
        let (reply, answer) = oneshot::channel();
        let max = self.endpoint.max_batch_size().max(1);
        // The lock is held only for pushes and swaps, never across an await; a panic while
        // holding it cannot leave the batch inconsistent, so a poisoned lock is still usable.
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.waiting.push((params, reply));
        if open.waiting.len() >= max {
            let full = std::mem::take(&mut open.waiting);
            open.generation = open.generation.wrapping_add(1);
            drop(open);
            tokio::spawn(self.clone().send(context.clone(), full));
        } else if open.waiting.len() == 1 {
            let generation = open.generation;
            drop(open);
            tokio::spawn(self.clone().send_after_window(
                context.clone(),
                context.batch_window,
                generation,
            ));
        }
        answer
    }

    async fn send_after_window(
        self: Arc<Self>,
        context: Context,
        window: Duration,
        generation: u64,
    ) {
        tokio::time::sleep(window).await;
        let batch = {
            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            // The batch was already sent because it filled up; a newer one has its own timer.
            if open.generation != generation {
                return;
            }
            open.generation = open.generation.wrapping_add(1);
            std::mem::take(&mut open.waiting)
        };
        if !batch.is_empty() {
            self.send(context, batch).await;
        }
    }

    /// One upstream call for the whole batch; every caller gets its own answer.
    async fn send(self: Arc<Self>, context: Context, batch: Vec<(E::Params, Reply)>) {
        let (params, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let outcome = self.call(&context, &params).await;
        let mut answers: Vec<Option<Result<Output, AdapterError>>> =
            (0..params.len()).map(|_| None).collect();
        match outcome {
            Ok(entries) => {
                for (index, answer) in entries {
                    // A second entry for one index, or one out of range, is the parser's
                    // mistake; the first in-range entry wins.
                    if let Some(slot @ None) = answers.get_mut(index) {
                        *slot = Some(answer);
                    }
                }
            }
            Err(error) => answers
                .iter_mut()
                .for_each(|a| *a = Some(Err(error.clone()))),
        }
        if replies.len() > 1 {
            tracing::debug!(size = replies.len(), "batched upstream call answered");
        }
        for ((answer, reply), params) in answers.into_iter().zip(replies).zip(&params) {
            let answer = answer.unwrap_or_else(|| Err(missing(params)));
            // The caller may have given up (adapter timeout); nobody is left to tell.
            let _ = reply.send(answer);
        }
    }

    async fn call(
        &self,
        context: &Context,
        params: &[E::Params],
    ) -> Result<BatchAnswer, AdapterError> {
        // One permit for the whole call: the server does not guard batched fetches itself.
        if let Some(limit) = &context.rate_limit {
            limit.acquire().await?;
        }
        let body = upstream::send(context, self.endpoint.request(&context.http, params)).await?;
        self.endpoint.parse(params, body)
    }
}

fn missing<P: Params>(params: &P) -> AdapterError {
    let shown = serde_json::to_string(params).unwrap_or_else(|_| "?".to_owned());
    AdapterError::Provider {
        provider_status_code: None,
        message: format!("the data provider's answer has no entry for the parameters {shown}"),
    }
}

impl<E: BatchHttpEndpoint> DynEndpoint for Batched<E> {
    fn normalize(&self, data: &Map<String, Value>) -> Result<Value, AdapterError> {
        Ok(parse_validated::<E::Params>(data, |p| self.endpoint.validate(p))?.1)
    }

    fn prepare(
        self: Arc<Self>,
        context: &Context,
        data: &Map<String, Value>,
    ) -> Result<(Value, Fetch), AdapterError> {
        let (params, normalized) = parse_validated(data, |p| self.endpoint.validate(p))?;
        let context = context.clone();
        let fetch: Fetch = Box::pin(async move {
            timed(async {
                self.submit(&context, params).await.map_err(|_| {
                    AdapterError::Internal("the batch carrying this request was dropped".to_owned())
                })?
            })
            .await
        });
        Ok((normalized, fetch))
    }

    fn takes_own_permit(&self) -> bool {
        true
    }
}
