//! The HTTP side of the adapter: its routes, the extractors (request id, body within
//! `EA_BODY_TIMEOUT_MS`), one handler that answers `POST /` (logs, metrics, headers, async
//! answers), `/metrics`, `/health`, and the JSON 404/405 fallbacks.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tracing::Instrument;

use super::Routers;
use super::answer::{Answer, json_response};
use super::state::{Route, Shared};
use crate::error::AdapterError;
use crate::protocol::{AdapterRequest, AdapterResponse, DEFAULT_JOB_RUN_ID};

// Named once: a header name given as `&str` is parsed again on every request.
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_CHAINLINK_PENDING: HeaderName = HeaderName::from_static("x-chainlink-pending");

/// The adapter's router and, when metrics are on, the metrics router, both over `shared`.
pub(super) fn routers(shared: Arc<Shared>, max_payload_size: usize) -> Routers {
    let metrics = shared.metrics.is_some().then(|| {
        Router::new()
            .route("/metrics", get(render_metrics))
            .with_state(shared.clone())
    });
    let adapter = Router::new()
        .route("/", post(answer_request).fallback(method_not_allowed))
        .route("/health", get(health).fallback(method_not_allowed))
        .fallback(unknown_route)
        .layer(DefaultBodyLimit::max(max_payload_size))
        .with_state(shared);
    Routers { adapter, metrics }
}

/// The `x-request-id` header of a request, cloned alone (extracting the whole `HeaderMap`
/// would copy every header per request).
struct RequestIdHeader(Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for RequestIdHeader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get(&X_REQUEST_ID).cloned()))
    }
}

/// The request body, read within `EA_BODY_TIMEOUT_MS` of the handler's start (the headers'
/// arrival), so a client trickling its body cannot hold a connection and a task forever.
struct TimedBody(Result<Bytes, BodyError>);

enum BodyError {
    Rejected(BytesRejection),
    TimedOut,
}

impl FromRequest<Arc<Shared>> for TimedBody {
    type Rejection = std::convert::Infallible;

    async fn from_request(request: Request, shared: &Arc<Shared>) -> Result<Self, Self::Rejection> {
        // A body that came with the headers is read on the first poll, before the timer is
        // ever registered.
        let read = Bytes::from_request(request, shared);
        Ok(Self(
            match tokio::time::timeout(shared.body_timeout, read).await {
                Ok(body) => body.map_err(BodyError::Rejected),
                Err(_) => Err(BodyError::TimedOut),
            },
        ))
    }
}

async fn answer_request(
    State(shared): State<Arc<Shared>>,
    RequestIdHeader(given_request_id): RequestIdHeader,
    TimedBody(body): TimedBody,
) -> Response {
    let request_id = shared.request_id(given_request_id);
    // A `debug` span: at `info`, formatting a span's fields for every request would cost a
    // third of a cached answer. The lines that `info` does show carry the id themselves.
    let span = tracing::debug_span!(
        "request",
        request_id = request_id.to_str().unwrap_or_default(),
        endpoint = tracing::field::Empty
    );
    let started = Instant::now();
    let (response, route) = answer(&shared, body).instrument(span.clone()).await;
    let status = response.status_code();
    if let Some(metrics) = &shared.metrics {
        let endpoint = route
            .as_ref()
            .and_then(|route| route.metrics.as_ref())
            .unwrap_or_else(|| metrics.unknown_endpoint());
        endpoint.record(status, started.elapsed());
    }
    // Successes are `debug`: a line per answer would cost more than answering from the
    // cache. Errors stay visible at the default `info`. Fields are only computed for a line
    // that is written.
    let elapsed_ms = || started.elapsed().as_secs_f64() * 1000.0;
    let id = || request_id.to_str().unwrap_or_default();
    let endpoint = route.as_ref().map(|route| route.canonical.as_str());
    span.in_scope(|| match status {
        500.. => tracing::warn!(
            status,
            request_id = id(),
            endpoint,
            elapsed_ms = elapsed_ms(),
            "answered"
        ),
        400.. => tracing::info!(
            status,
            request_id = id(),
            endpoint,
            elapsed_ms = elapsed_ms(),
            "answered"
        ),
        _ => tracing::debug!(
            status,
            request_id = id(),
            endpoint,
            elapsed_ms = elapsed_ms(),
            "answered"
        ),
    });
    let mut http = response.to_http();
    if status == StatusCode::REQUEST_TIMEOUT.as_u16() {
        // The rest of a late body may still arrive; it must not be read as a next request.
        http.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if matches!(response, Answer::Response(AdapterResponse::Pending(_))) {
        // Some nodes suspend on this header rather than on the body (bridge.md §2).
        http.headers_mut()
            .insert(X_CHAINLINK_PENDING, HeaderValue::from_static("true"));
    }
    http.headers_mut().insert(X_REQUEST_ID, request_id);
    http
}

/// The answer, and the route it went to (for metrics; `None` when metrics are off or the
/// request matched no endpoint).
async fn answer(
    shared: &Arc<Shared>,
    body: Result<Bytes, BodyError>,
) -> (Answer, Option<Arc<Route>>) {
    let job_run_id = || DEFAULT_JOB_RUN_ID.to_owned();
    let body = match body {
        Ok(body) => body,
        Err(BodyError::TimedOut) => {
            let error = AdapterError::BodyTimeout {
                limit_ms: shared.body_timeout.as_millis(),
            };
            return (error.to_response(job_run_id()).into(), None);
        }
        Err(BodyError::Rejected(rejection))
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
        {
            let error = AdapterError::PayloadTooLarge {
                limit: shared.max_payload_size,
            };
            return (error.to_response(job_run_id()).into(), None);
        }
        Err(BodyError::Rejected(rejection)) => {
            let error = AdapterError::Input {
                param: None,
                message: format!("could not read the request body: {rejection}"),
            };
            return (error.to_response(job_run_id()).into(), None);
        }
    };
    let request: AdapterRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            let error = AdapterError::Input {
                param: None,
                message: format!("request body is not a valid adapter request: {e}"),
            };
            return (error.to_response(job_run_id_of_invalid(&body)).into(), None);
        }
    };
    // A second lookup (resolve does its own) only when metrics are on; it is a hash probe.
    let route = match shared.metrics {
        Some(_) => shared.route_for(&request).ok().cloned(),
        None => None,
    };
    let accepted = match (&shared.async_mode, request.response_url.as_deref()) {
        (Some(mode), Some(url)) => mode.accept(url).map(|accepted| (mode, accepted)),
        _ => None,
    };
    let response = match accepted {
        Some((mode, accepted)) => {
            let job_run_id = request.job_run_id();
            let in_flight = shared.in_flight.clone();
            let owner = shared.clone();
            let answer = async move { owner.respond(&request).await };
            mode.answer_or_defer(accepted, answer, job_run_id, in_flight)
                .await
                .into()
        }
        _ => shared.answer(&request).await,
    };
    (response, route)
}

/// The `jobRunID` for a body that is not a valid request (say `data` is a string): its
/// `id`, when it has one, still names the run the node waits on.
fn job_run_id_of_invalid(body: &[u8]) -> String {
    let id = match serde_json::from_slice::<Value>(body) {
        Ok(mut body) => body.get_mut("id").map(Value::take),
        Err(_) => None,
    };
    AdapterRequest {
        id,
        ..AdapterRequest::default()
    }
    .job_run_id()
}

async fn render_metrics(State(shared): State<Arc<Shared>>) -> Response {
    let Some(metrics) = &shared.metrics else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let queued = shared.rate_limit.as_ref().map_or(0, |limit| limit.queued());
    let text = metrics.render(queued, shared.in_flight.count());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

async fn health() -> axum::Json<Value> {
    axum::Json(json!({"status": "OK"}))
}

async fn method_not_allowed(method: axum::http::Method) -> Response {
    let error = AdapterError::MethodNotAllowed(method.to_string());
    json_response(&error.to_response(DEFAULT_JOB_RUN_ID.to_owned()))
}

async fn unknown_route(uri: axum::http::Uri) -> Response {
    json_response(
        &AdapterError::unknown_endpoint(uri.path()).to_response(DEFAULT_JOB_RUN_ID.to_owned()),
    )
}
