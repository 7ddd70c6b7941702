//! How a node judges an adapter's answer (bridge.md §3), as a pure function.
//!
//! The caller (the pipeline's `bridge` task) does the HTTP call, reads at most
//! [`MAX_RESPONSE_BYTES`] + 1 bytes of the body, and hands the status, the
//! `X-Chainlink-Pending` header and the body to [`judge`]. Transport failures never reach
//! [`judge`]: they become [`BridgeError::transport`] or [`BridgeError::timed_out`].
//!
//! The checks run in the order of §3:
//! 1. transport error or timeout → retryable error (the two constructors);
//! 2. HTTP status ≥ 400 → `got error from <url>: (status code N) <message>`, where message is
//!    `error` when it is a non-empty string, else `error.message`, else `errorMessage`, else
//!    the raw body;
//! 3. effective status ≠ 200 → the same text, with `name: message` when `error` is an object.
//!    The effective status is the body's `statusCode` when the body is a JSON object with an
//!    integer `statusCode`: that value if ≠ 200, else an integer `providerStatusCode` ≠ 200,
//!    else 500 when `error` is non-null, else 200. Without `statusCode` the HTTP status
//!    decides (so a 201 or 204 is an error too). Values of the wrong type count as absent;
//! 4. an async task whose answer has `"pending": true` or carries `X-Chainlink-Pending` (any
//!    value: the reference node checks presence only) → [`Verdict::Pending`];
//! 5. otherwise the output is the raw body as text.
//!
//! Errors are retryable when the status is ≥ 500 (or on transport errors), and never
//! cacheable: only [`Verdict::Value`] may enter the last-good cache (§3 item 6).

use crate::answer::Answer;

/// Largest response body [`judge`] accepts, in bytes: the reference node's default HTTP
/// response limit (32 KiB). A longer body is an error rather than silently truncated (the
/// reference's quirk), because a cut JSON document would be judged as something else.
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024;

/// The response header by which some adapters mark an async answer as pending.
pub const PENDING_HEADER: &str = "X-Chainlink-Pending";

/// What the HTTP client saw, for [`judge`].
#[derive(Debug, Clone, Copy)]
pub struct BridgeResponse<'a> {
    /// The bridge URL as it should appear in error texts (without credentials).
    pub url: &'a str,
    /// The HTTP status code.
    pub status: u16,
    /// The value of [`PENDING_HEADER`] when the response carried it (header names are
    /// case-insensitive; the caller looks it up).
    pub pending_header: Option<&'a str>,
    /// The body, at most [`MAX_RESPONSE_BYTES`] long (a longer one is judged an error).
    pub body: &'a [u8],
}

/// The judgement of one bridge call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The task succeeds; its output is the raw response body as text. Invalid UTF-8 is
    /// replaced by U+FFFD, which is what the reference's JSON decoder does downstream anyway.
    Value(String),
    /// An async task waits for the adapter's PATCH (bridge.md §4).
    Pending,
    /// The task fails.
    Error(BridgeError),
}

impl Verdict {
    /// Whether this answer may be stored in the last-good cache: only a value may. An error
    /// (even one the adapter sent with HTTP 200) or a pending answer never is.
    pub fn cacheable(&self) -> bool {
        matches!(self, Self::Value(_))
    }
}

/// A failed bridge call: the task's error text and whether another attempt may succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BridgeError {
    /// The task's error text.
    pub message: String,
    /// True for transport errors, timeouts and statuses ≥ 500.
    pub retryable: bool,
}

impl BridgeError {
    /// §3 item 1: the request could not be sent or the answer not read; `cause` is the
    /// client's error text.
    pub fn transport(cause: impl std::fmt::Display) -> Self {
        Self {
            message: format!("error making http request: {cause}"),
            retryable: true,
        }
    }

    /// §3 item 1: the deadline passed before the answer was complete.
    pub fn timed_out() -> Self {
        Self {
            message: "http request timed out or interrupted".to_owned(),
            retryable: true,
        }
    }

    fn status(url: &str, status: i64, detail: &str) -> Self {
        Self {
            message: format!("got error from {url}: (status code {status}) {detail}"),
            retryable: status >= 500,
        }
    }
}

/// Judges one answer of a bridge (§3 items 2–5); `is_async` is the task's `async` flag.
pub fn judge(response: &BridgeResponse<'_>, is_async: bool) -> Verdict {
    let BridgeResponse {
        url, status, body, ..
    } = *response;
    if body.len() > MAX_RESPONSE_BYTES {
        let detail = format!("response body exceeds {MAX_RESPONSE_BYTES} bytes");
        if status >= 400 {
            // The status still says whether a retry can help; the body cannot be read.
            return Verdict::Error(BridgeError::status(url, i64::from(status), &detail));
        }
        return Verdict::Error(BridgeError {
            message: format!("got error from {url}: {detail}"),
            retryable: false,
        });
    }
    let text = String::from_utf8_lossy(body);
    // Only an object can carry the fields §3 looks at; anything else is judged by status.
    let answer = Answer::parse(body).ok();
    if status >= 400 {
        let detail = answer.as_ref().and_then(Answer::status_error_message);
        let detail = detail.as_deref().unwrap_or(&text);
        return Verdict::Error(BridgeError::status(url, i64::from(status), detail));
    }
    let effective = answer
        .as_ref()
        .and_then(Answer::effective_status)
        .unwrap_or(i64::from(status));
    if effective != 200 {
        let detail = answer.as_ref().and_then(Answer::body_error_message);
        let detail = detail.as_deref().unwrap_or(&text);
        return Verdict::Error(BridgeError::status(url, effective, detail));
    }
    let pending_in_body = answer.as_ref().is_some_and(Answer::pending);
    if is_async && (pending_in_body || response.pending_header.is_some()) {
        return Verdict::Pending;
    }
    Verdict::Value(text.into_owned())
}
