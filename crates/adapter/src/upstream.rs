//! Calling the data provider over HTTP and mapping its failures to [`AdapterError`].

use std::time::Instant;

use serde_json::Value;

use crate::endpoint::Context;
use crate::error::AdapterError;
use crate::metrics::UpstreamMetrics;
use crate::protect::RetryPolicy;
use crate::secrets::url_origin;

/// Longest upstream error text copied into an error message.
const MAX_MESSAGE_CHARS: usize = 300;

/// Sends `request` like [`send_json`], retrying 5xx answers and transport errors as
/// `RETRY` asks (see [`crate::protect`]); all attempts share one `API_TIMEOUT` budget.
///
/// [`HttpEndpoint`](crate::HttpEndpoint)s use this; call it from your own
/// [`Endpoint`](crate::Endpoint)s too. A request whose body cannot be cloned (a stream) is
/// sent once.
pub async fn send(
    context: &Context,
    request: reqwest::RequestBuilder,
) -> Result<Value, AdapterError> {
    send_retrying(&context.retry, context.metrics.as_deref(), request).await
}

async fn send_retrying(
    policy: &RetryPolicy,
    metrics: Option<&UpstreamMetrics>,
    request: reqwest::RequestBuilder,
) -> Result<Value, AdapterError> {
    let deadline = Instant::now() + policy.budget;
    let mut retry = 0;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let Some(attempt) = request.try_clone() else {
            return send_measured(metrics, request.timeout(remaining)).await;
        };
        let error = match send_measured(metrics, attempt.timeout(remaining)).await {
            Ok(body) => return Ok(body),
            Err(error) => error,
        };
        let wait = RetryPolicy::backoff(retry);
        // Stop when the retries are used up or the wait alone would spend the budget: a
        // retry that can only time out would turn a clear upstream error into a 504.
        let worth_retrying = retry < policy.retries
            && RetryPolicy::is_retryable(&error)
            && Instant::now() + wait < deadline;
        if !worth_retrying {
            return Err(error);
        }
        retry += 1;
        // Only where the call went: the URL's path and query may hold the provider's key.
        let upstream = request
            .try_clone()
            .and_then(|r| r.build().ok())
            .map(|r| url_origin(r.url().as_str()).to_string())
            .unwrap_or_default();
        tracing::warn!(
            %upstream,
            retry,
            of = policy.retries,
            ?wait,
            %error,
            "upstream call failed; retrying"
        );
        tokio::time::sleep(wait).await;
    }
}

/// [`send_json`], recording each attempt, so retries show up as upstream traffic.
async fn send_measured(
    metrics: Option<&UpstreamMetrics>,
    request: reqwest::RequestBuilder,
) -> Result<Value, AdapterError> {
    let Some(metrics) = metrics else {
        return send_json(request).await;
    };
    let started = Instant::now();
    let outcome = send_json(request).await;
    metrics.record(&outcome, started.elapsed());
    outcome
}

/// Sends `request` once and returns its JSON body.
///
/// Non-2xx → 502 with `providerStatusCode` and the provider's message; connection failure →
/// 502; timeout → 504; a 2xx body that is not JSON → 502.
pub async fn send_json(request: reqwest::RequestBuilder) -> Result<Value, AdapterError> {
    let response = request.send().await.map_err(transport_error)?;
    let status = response.status();
    let body = response.bytes().await.map_err(transport_error)?;
    if !status.is_success() {
        return Err(AdapterError::Provider {
            provider_status_code: Some(status.as_u16()),
            message: provider_message(status.as_u16(), &body),
        });
    }
    serde_json::from_slice(&body).map_err(|e| AdapterError::Provider {
        provider_status_code: None,
        message: format!("data provider answered with a body that is not JSON: {e}"),
    })
}

fn transport_error(error: reqwest::Error) -> AdapterError {
    if error.is_timeout() {
        AdapterError::Timeout("data provider did not answer within API_TIMEOUT".to_owned())
    } else {
        // The URL may hold credentials in its query; reqwest's text includes it.
        AdapterError::Connection(format!(
            "could not reach the data provider: {}",
            error.without_url()
        ))
    }
}

/// The provider's own error text when it sends one (`error.message`, `message`, `error`),
/// else the start of the raw body.
fn provider_message(status: u16, body: &[u8]) -> String {
    let from_json = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        let text = v
            .pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("error"))
            .and_then(Value::as_str)?;
        Some(text.to_owned())
    });
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    if text.is_empty() {
        format!("data provider answered with HTTP {status}")
    } else {
        text.chars().take(MAX_MESSAGE_CHARS).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_messages() {
        assert_eq!(
            provider_message(
                503,
                br#"{"error":{"message":"The endpoint is under maintenance."}}"#
            ),
            "The endpoint is under maintenance."
        );
        assert_eq!(
            provider_message(400, br#"{"message":"bad coin"}"#),
            "bad coin"
        );
        assert_eq!(provider_message(401, br#"{"error":"no key"}"#), "no key");
        assert_eq!(provider_message(500, b"  oops "), "oops");
        assert_eq!(
            provider_message(502, b""),
            "data provider answered with HTTP 502"
        );
        assert_eq!(
            provider_message(500, &[b'x'; 1000]).len(),
            MAX_MESSAGE_CHARS
        );
    }
}
