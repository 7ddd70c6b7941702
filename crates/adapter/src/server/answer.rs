//! How a parsed request becomes an answer: its endpoint, parameter checks, the cache and
//! rate limit around the fetch, background-refresh bookkeeping, and the guard that turns a
//! panic in endpoint code into a 500; then that answer in HTTP form.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use serde_json::json;

use super::state::{Route, Shared};
use crate::cache::{Fetch, Resolved, cache_key};
use crate::error::AdapterError;
use crate::metrics::Metrics;
use crate::protect::check_param_lengths;
use crate::protocol::{AdapterRequest, AdapterResponse};

impl Shared {
    /// The answer to `request` as a protocol response, for delivery by PATCH.
    pub(super) async fn respond(&self, request: &AdapterRequest) -> AdapterResponse {
        self.answer(request).await.into_adapter_response()
    }

    /// The answer to `request`: a cached success, or an error or pending response.
    pub(super) async fn answer(&self, request: &AdapterRequest) -> Answer {
        // Parsing, validation and the fetch run the adapter author's code; a panic there
        // fails this request alone, as a 500, instead of dropping the connection.
        let resolved = AssertUnwindSafe(self.resolve(request))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                // The panic hook has already printed the message, which stays out of the
                // answer: it may hold anything the author's code had at hand.
                tracing::error!("endpoint code panicked; answered 500");
                Err(AdapterError::Internal(
                    "the adapter failed while answering this request".to_owned(),
                ))
            });
        match resolved {
            Ok(resolved) => Answer::Resolved {
                job_run_id: request.job_run_id(),
                resolved,
            },
            Err(error) => Answer::Response(error.to_response(request.job_run_id())),
        }
    }

    /// Routes, checks and resolves `request` through the cache.
    pub(super) async fn resolve(
        &self,
        request: &AdapterRequest,
    ) -> Result<Arc<Resolved>, AdapterError> {
        check_param_lengths(&request.data, self.max_param_length)?;
        let route = self.route_for(request)?;
        tracing::Span::current().record("endpoint", route.canonical.as_str());
        if self.reader {
            return self.read_shared(route, request).await;
        }
        let (params, fetch) = route
            .endpoint
            .clone()
            .prepare(&self.context, &request.data)?;
        let key = cache_key(&route.canonical, &params);
        // The permit is taken inside the fetch, which the cache runs only on a miss, so cache
        // hits and coalesced followers never wait for the rate limit.
        // Batched endpoints take one permit per upstream call themselves.
        let fetch = match &self.rate_limit {
            Some(limit) if !route.endpoint.takes_own_permit() => limit.clone().guard(fetch),
            _ => fetch,
        };
        let (fetch, fetched) = match &self.metrics {
            Some(metrics) => count_misses(metrics, fetch),
            None => (fetch, None),
        };
        // The key is copied only when background refresh needs it after the lookup.
        let refresh_key = match &self.refresher {
            Some(_) if route.endpoint.refreshable() => Some(key.clone()),
            _ => None,
        };
        let resolved =
            tokio::time::timeout(self.adapter_timeout, self.cache.get_or_fetch(key, fetch))
                .await
                .map_err(|_| {
                    AdapterError::Timeout("the adapter did not get an answer in time".to_owned())
                })??;
        if let (Some(metrics), Some(fetched)) = (&self.metrics, fetched) {
            // A hit is an answer without this request's own upstream call: stored, or
            // shared from a concurrent request's call.
            if !fetched.load(Ordering::Relaxed) {
                metrics.cache_hit.increment(1);
            }
        }
        if let (Some(refresher), Some(key)) = (&self.refresher, refresh_key) {
            refresher.note(&key, &route.canonical, &route.endpoint, &resolved);
        }
        Ok(resolved)
    }

    /// `EA_MODE=reader`: the shared cache's answer, never an upstream call. A miss is a
    /// 504 (`AdapterTimeoutError`), as in the TypeScript framework: the writer has not
    /// stored this parameter set yet, and a retry shortly after may find it.
    async fn read_shared(
        &self,
        route: &Route,
        request: &AdapterRequest,
    ) -> Result<Arc<Resolved>, AdapterError> {
        let params = route.endpoint.normalize(&request.data)?;
        let key = cache_key(&route.canonical, &params);
        // Hit or miss, the writers are told, so they keep these parameters warm; spawned
        // so the answer does not wait for that write.
        let cache = self.cache.clone();
        let canonical = route.canonical.clone();
        let noted = params.to_string();
        tokio::spawn(async move { cache.note_interest(&canonical, &noted).await });
        let miss: Fetch = Box::pin(async {
            Err(AdapterError::Timeout(
                "no answer for these parameters in the shared cache yet (EA_MODE=reader: a writer fills it); retry shortly".to_owned(),
            ))
        });
        tokio::time::timeout(self.adapter_timeout, self.cache.get_or_fetch(key, miss))
            .await
            .map_err(|_| {
                AdapterError::Timeout("the shared cache did not answer in time".to_owned())
            })?
    }
}

/// What a request is answered with.
pub(super) enum Answer {
    /// A success straight from the cache, serialized without copying the cached answer.
    Resolved {
        job_run_id: String,
        resolved: Arc<Resolved>,
    },
    /// Anything else (errors, pending).
    Response(AdapterResponse),
}

impl Answer {
    pub(super) fn status_code(&self) -> u16 {
        match self {
            Self::Resolved { .. } => 200,
            Self::Response(response) => response.status_code(),
        }
    }

    fn into_adapter_response(self) -> AdapterResponse {
        match self {
            Self::Resolved {
                job_run_id,
                resolved,
            } => AdapterResponse::success(
                job_run_id,
                resolved.result().clone(),
                resolved.data().clone(),
                *resolved.timestamps(),
                json!({}),
            ),
            Self::Response(response) => response,
        }
    }

    pub(super) fn to_http(&self) -> Response {
        match self {
            Self::Resolved {
                job_run_id,
                resolved,
            } => {
                match resolved.success_body(job_run_id) {
                    Ok(body) => (
                        [(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        )],
                        body,
                    )
                        .into_response(),
                    // A `Value` always serializes; should that change, answer as axum would.
                    Err(_) => json_response(&self.clone_response()),
                }
            }
            Self::Response(response) => json_response(response),
        }
    }

    fn clone_response(&self) -> AdapterResponse {
        match self {
            Self::Resolved {
                job_run_id,
                resolved,
            } => Self::Resolved {
                job_run_id: job_run_id.clone(),
                resolved: resolved.clone(),
            }
            .into_adapter_response(),
            Self::Response(response) => response.clone(),
        }
    }
}

impl From<AdapterResponse> for Answer {
    fn from(response: AdapterResponse) -> Self {
        Self::Response(response)
    }
}

pub(super) fn json_response(response: &AdapterResponse) -> Response {
    let status =
        StatusCode::from_u16(response.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(response)).into_response()
}

/// Wraps `fetch` to count a cache miss when the cache runs it, and returns the flag that
/// tells afterwards whether it ran.
fn count_misses(metrics: &Metrics, fetch: Fetch) -> (Fetch, Option<Arc<AtomicBool>>) {
    let fetched = Arc::new(AtomicBool::new(false));
    let flag = fetched.clone();
    let miss = metrics.cache_miss.clone();
    let counted: Fetch = Box::pin(async move {
        flag.store(true, Ordering::Relaxed);
        miss.increment(1);
        fetch.await
    });
    (counted, Some(fetched))
}
