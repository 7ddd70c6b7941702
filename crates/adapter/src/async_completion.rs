//! Async completion (bridge.md §4): answer `pending` now, PATCH the node with the answer
//! later.
//!
//! A request goes async only when all of these hold:
//! - `ASYNC_AFTER_MS` and `ASYNC_ALLOWED_ORIGINS` are set (without either the adapter always
//!   answers synchronously; `ASYNC_AFTER_MS` without `ASYNC_ALLOWED_ORIGINS` logs a warning
//!   at start-up);
//! - the request carries a `responseURL` whose origin (scheme, host, port) is one of
//!   `ASYNC_ALLOWED_ORIGINS` and whose path contains `/v2/resume/` or `/v2/runs/`. Any other
//!   URL is answered synchronously, exactly as if the request had none, and never receives
//!   a request: the PATCH carries the bridge token, which belongs to the node alone, and
//!   an adapter must not be made to call arbitrary URLs;
//! - fewer than `ASYNC_MAX_IN_FLIGHT` (default 1 000) async answers are owed; past that
//!   requests are answered synchronously, so a flood of slow requests cannot pile up
//!   background work without bound;
//! - the answer is not ready within `ASYNC_AFTER_MS` milliseconds.
//!
//! The answer is then delivered by `PATCH <responseURL>` in the form the URL asks for:
//!
//! | URL path | success body | error body |
//! |---|---|---|
//! | `…/v2/resume/<uuid>` | `{"value": <the success response object>}` | `{"error": "<name>: <message>"}` |
//! | `…/v2/runs/<id>` | the success response object | the errored response object |
//!
//! The resume form's `value` is the whole success response (`jobRunID`, `data`, `result`,
//! `statusCode`, …), exactly the body a synchronous answer would have had, because the node
//! makes that value the task's output and downstream `jsonparse` tasks read `data,result` or
//! `result` from it either way.
//!
//! When `BRIDGE_RESPONSE_TOKEN` is set (the bridge's *incoming* token, shown once when the
//! bridge is created), every PATCH carries `Authorization: Bearer <token>`: the classic
//! route requires it, and the resume route requires it when the node is configured to.
//!
//! Deliveries are retried with exponential backoff on 5xx answers and transport errors (at
//! most [`DeliveryPolicy::max_attempts`] attempts), never on 4xx: a 4xx means the node will
//! not take this answer (unknown run, bad token), and sending it again cannot change that.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tracing::Instrument;

use crate::config::Config;
use crate::error::AdapterError;
use crate::protocol::AdapterResponse;
use crate::secrets::url_origin;

mod origins;
pub use origins::AllowedOrigins;

/// Default attempts per delivery (first try included).
const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// Wait before the second attempt; doubled before each further one.
const DEFAULT_FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between two attempts.
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Bound on one PATCH, so a node that accepts the connection and never answers cannot hold
/// a delivery forever.
const PATCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The bridge's incoming token; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ResponseToken(String);

impl ResponseToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for ResponseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseToken(***)")
    }
}

/// How often and how patiently a delivery is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Attempts per delivery, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled before each further one.
    pub first_backoff: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            first_backoff: DEFAULT_FIRST_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
        }
    }
}

impl DeliveryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.first_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// The two PATCH forms a node accepts (bridge.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackForm {
    /// `PATCH /v2/resume/<task run uuid>` with `{"value"}` or `{"error"}`.
    Resume,
    /// `PATCH /v2/runs/<run id>` with the section-2 response object.
    Classic,
}

impl CallbackForm {
    /// The form a `responseURL` asks for, or `None` when it is not an http(s) URL with a
    /// known path.
    pub fn of(response_url: &str) -> Option<Self> {
        let url = reqwest::Url::parse(response_url).ok()?;
        if !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        let path = url.path();
        if path.contains("/v2/resume/") {
            Some(Self::Resume)
        } else if path.contains("/v2/runs/") {
            Some(Self::Classic)
        } else {
            None
        }
    }

    /// The PATCH body carrying `response` in this form.
    pub fn body(self, response: &AdapterResponse) -> Value {
        match (self, response) {
            (Self::Classic, response) => json!(response),
            (Self::Resume, AdapterResponse::Errored(errored)) => {
                json!({"error": format!("{}: {}", errored.error.name, errored.error.message)})
            }
            (Self::Resume, response) => json!({"value": response}),
        }
    }
}

/// Where and how one answer is delivered. `Debug` shows the URL's origin only: a resume
/// URL's uuid is the node's only credential for that route.
#[derive(Clone)]
pub struct Callback {
    url: String,
    form: CallbackForm,
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callback")
            .field("origin", &url_origin(&self.url))
            .field("form", &self.form)
            .finish()
    }
}

impl Callback {
    /// A callback for `response_url`, or `None` when its form is unknown (see
    /// [`CallbackForm::of`]). Whether the URL may be called is not checked here: the
    /// server sends only to [`AllowedOrigins`].
    pub fn new(response_url: &str) -> Option<Self> {
        Some(Self {
            url: response_url.to_owned(),
            form: CallbackForm::of(response_url)?,
        })
    }

    /// The form this callback uses.
    pub fn form(&self) -> CallbackForm {
        self.form
    }
}

/// Why a delivery was abandoned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The node refused the answer with a 4xx (or another non-retryable status).
    #[error("the node refused the answer with HTTP {status}")]
    Refused { status: u16 },
    /// Every attempt failed with a 5xx or a transport error; `last` says how the last did.
    #[error("gave up after {attempts} attempts; last: {last}")]
    GaveUp { attempts: u32, last: String },
}

/// Sends answers to nodes by PATCH.
#[derive(Debug, Clone)]
pub struct Completer {
    http: reqwest::Client,
    token: Option<ResponseToken>,
    policy: DeliveryPolicy,
}

impl Completer {
    /// A completer with its own HTTP client (bounded per PATCH).
    pub fn new(
        token: Option<ResponseToken>,
        policy: DeliveryPolicy,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(PATCH_TIMEOUT).build()?;
        Ok(Self {
            http,
            token,
            policy,
        })
    }

    /// Delivers `response` to `callback`, retrying as the policy allows; returns the
    /// number of attempts made on success.
    pub async fn deliver(
        &self,
        callback: &Callback,
        response: &AdapterResponse,
    ) -> Result<u32, DeliveryError> {
        let body = callback.form.body(response);
        let max_attempts = self.policy.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let last = match self.patch(&callback.url, &body).await {
                Ok(status) if (200..300).contains(&status) => return Ok(attempt),
                Ok(status) if status >= 500 => format!("HTTP {status}"),
                Ok(status) => return Err(DeliveryError::Refused { status }),
                Err(error) => error,
            };
            if attempt >= max_attempts {
                return Err(DeliveryError::GaveUp {
                    attempts: attempt,
                    last,
                });
            }
            tracing::debug!(attempt, %last, "async answer not delivered yet; retrying");
            tokio::time::sleep(self.policy.backoff(attempt)).await;
            attempt += 1;
        }
    }

    /// One PATCH: the HTTP status, or the transport error as text.
    async fn patch(&self, url: &str, body: &Value) -> Result<u16, String> {
        let mut request = self.http.patch(url).json(body);
        if let Some(token) = &self.token {
            request = request.header(reqwest::header::AUTHORIZATION, token.bearer());
        }
        match request.send().await {
            Ok(response) => Ok(response.status().as_u16()),
            // Without the URL: its uuid is the node's only credential for the resume route.
            Err(error) => Err(with_causes(&error.without_url())),
        }
    }
}

/// `error: cause: cause…`, because reqwest's own text ("error sending request") does not
/// say what went wrong.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Held by every background answer task; [`Drained`] resolves once all are dropped.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    _sender: mpsc::Sender<()>,
}

/// Resolves once every [`InFlight`] is dropped, so shutdown can wait for pending answers.
#[derive(Debug)]
pub(crate) struct Drained(mpsc::Receiver<()>);

/// A tracker for background answers.
pub(crate) fn in_flight() -> (InFlight, Drained) {
    // Nothing is ever sent: the channel only reports when the last sender is gone.
    let (sender, receiver) = mpsc::channel(1);
    (InFlight { _sender: sender }, Drained(receiver))
}

impl InFlight {
    /// Background answers not yet delivered (this tracker's own copy excluded).
    pub(crate) fn count(&self) -> usize {
        self._sender.strong_count().saturating_sub(1)
    }
}

impl Drained {
    /// Waits until every background answer is delivered or given up.
    pub(crate) async fn wait(mut self) {
        while self.0.recv().await.is_some() {}
    }
}

/// The server's async settings: when to answer `pending`, where answers may go, and how
/// many may be owed at once.
pub(crate) struct AsyncMode {
    after: Duration,
    completer: Completer,
    allowed: AllowedOrigins,
    /// One permit per async answer owed (`ASYNC_MAX_IN_FLIGHT`).
    slots: Arc<Semaphore>,
}

/// A request accepted for an async answer: where it goes, and its in-flight slot.
pub(crate) struct Accepted {
    callback: Callback,
    slot: OwnedSemaphorePermit,
}

impl AsyncMode {
    /// The async settings `config` asks for; `None` (always synchronous) unless both
    /// `ASYNC_AFTER_MS` and `ASYNC_ALLOWED_ORIGINS` are set.
    pub(crate) fn from_config(config: &Config) -> Result<Option<Self>, reqwest::Error> {
        let Some(after) = config.async_after else {
            return Ok(None);
        };
        if config.async_allowed_origins.is_empty() {
            tracing::warn!(
                "ASYNC_AFTER_MS is set but ASYNC_ALLOWED_ORIGINS is not: async answers are off \
                 and every request is answered synchronously; list the node's origin \
                 (e.g. http://node:6688) to turn them on"
            );
            return Ok(None);
        }
        Ok(Some(Self {
            after,
            completer: Completer::new(
                config.bridge_response_token.clone(),
                DeliveryPolicy::default(),
            )?,
            allowed: config.async_allowed_origins.clone(),
            slots: Arc::new(Semaphore::new(config.async_max_in_flight)),
        }))
    }

    /// Accepts a request with `response_url` for an async answer, or `None` to answer it
    /// synchronously: the URL is of no known form, outside the allowed origins, or
    /// `ASYNC_MAX_IN_FLIGHT` answers are owed already.
    pub(crate) fn accept(&self, response_url: &str) -> Option<Accepted> {
        let url = reqwest::Url::parse(response_url).ok()?;
        if !self.allowed.permits(&url) {
            tracing::debug!(
                origin = %url_origin(response_url),
                "responseURL outside ASYNC_ALLOWED_ORIGINS; answering synchronously"
            );
            return None;
        }
        let callback = Callback::new(response_url)?;
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            tracing::debug!("ASYNC_MAX_IN_FLIGHT async answers owed; answering synchronously");
            return None;
        };
        Some(Accepted { callback, slot })
    }

    /// Answers with `answer` if it is ready within `ASYNC_AFTER_MS`, else `pending` for
    /// `job_run_id`; in that case the answer is delivered to the accepted callback once it
    /// is ready.
    pub(crate) async fn answer_or_defer(
        &self,
        accepted: Accepted,
        answer: impl Future<Output = AdapterResponse> + Send + 'static,
        job_run_id: String,
        in_flight: InFlight,
    ) -> AdapterResponse {
        let in_flight = (in_flight, accepted.slot);
        answer_or_defer(
            answer,
            self.after,
            self.completer.clone(),
            accepted.callback,
            job_run_id,
            in_flight,
        )
        .await
    }
}

/// Answers with `answer` if it is ready within `wait`, else `pending` for `job_run_id`;
/// in that case the answer is delivered to `callback` once it is ready. `held` is dropped
/// once the answer is delivered or given up (or answered synchronously).
///
/// `answer` runs in its own task from the start, so it goes on (and is delivered) whether
/// the HTTP request that asked for it has been answered, or its client has gone away.
async fn answer_or_defer<H: Send + 'static>(
    answer: impl Future<Output = AdapterResponse> + Send + 'static,
    wait: Duration,
    completer: Completer,
    callback: Callback,
    job_run_id: String,
    held: H,
) -> AdapterResponse {
    let (waiting, mut answered) = oneshot::channel();
    let task = async move {
        let _held = held;
        let response = answer.await;
        // Still waiting: the HTTP request answers synchronously and nothing is sent.
        let Err(response) = waiting.send(response) else {
            return;
        };
        let (form, node) = (callback.form(), url_origin(&callback.url));
        match completer.deliver(&callback, &response).await {
            Ok(attempts) => tracing::info!(?form, %node, attempts, "async answer delivered"),
            Err(error) => tracing::warn!(?form, %node, %error, "async answer not delivered"),
        }
    };
    tokio::spawn(task.instrument(tracing::Span::current()));
    match tokio::time::timeout(wait, &mut answered).await {
        Ok(Ok(response)) => response,
        Ok(Err(_)) => AdapterError::Internal("the answer task stopped unexpectedly".to_owned())
            .to_response(job_run_id),
        Err(_) => {
            // Closing first makes the hand-over atomic: an answer sent before the close is
            // taken here, one sent after it goes to the PATCH, none is lost or sent twice.
            answered.close();
            match answered.try_recv() {
                Ok(response) => response,
                Err(_) => AdapterResponse::pending(job_run_id),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ErrorBody, Timestamps};
    use serde_json::Map;

    #[test]
    fn forms_follow_the_url_path() {
        let resume = "http://node:6688/v2/resume/6b0e9a0e-8f0b-4a4e-9d5c-5e1f1c7f6c11";
        assert_eq!(CallbackForm::of(resume), Some(CallbackForm::Resume));
        assert_eq!(
            CallbackForm::of("https://node/base/v2/runs/abc"),
            Some(CallbackForm::Classic)
        );
        for unknown in [
            "http://node/v2/jobs/abc",
            "ftp://node/v2/runs/abc",
            "not a url",
            "http://node/x?next=/v2/runs/abc",
        ] {
            assert_eq!(CallbackForm::of(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn bodies_of_both_forms() {
        let success = AdapterResponse::success(
            "j".into(),
            json!(5),
            Map::new(),
            Timestamps::default(),
            json!({}),
        );
        let errored = AdapterResponse::errored(
            "j".into(),
            502,
            Some(503),
            ErrorBody {
                name: "AdapterDataProviderError".into(),
                message: "maintenance".into(),
            },
        );
        assert_eq!(
            CallbackForm::Resume.body(&success),
            json!({"value": success})
        );
        assert_eq!(
            CallbackForm::Resume.body(&errored),
            json!({"error": "AdapterDataProviderError: maintenance"})
        );
        assert_eq!(CallbackForm::Classic.body(&success), json!(success));
        assert_eq!(CallbackForm::Classic.body(&errored), json!(errored));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = DeliveryPolicy {
            max_attempts: 10,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
        };
        let waits: Vec<u128> = (1..=5).map(|a| policy.backoff(a).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        assert_eq!(policy.backoff(u32::MAX), Duration::from_millis(500));
    }

    #[tokio::test]
    async fn transport_errors_are_retried_up_to_the_limit() {
        let policy = DeliveryPolicy {
            max_attempts: 3,
            first_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
        };
        let completer = Completer::new(None, policy).expect("client builds");
        let url = format!("{}/v2/runs/x", crate::testing::unreachable_url().await);
        let callback = Callback::new(&url).expect("classic URL");
        let response = AdapterResponse::pending("j".into());
        let outcome = tokio::time::timeout(
            Duration::from_secs(5),
            completer.deliver(&callback, &response),
        )
        .await
        .expect("delivery ends");
        let Err(DeliveryError::GaveUp { attempts, last }) = outcome else {
            panic!("must give up, got {outcome:?}");
        };
        assert_eq!(attempts, 3);
        assert!(!last.contains("/v2/runs/x"), "URL leaked: {last}");
        assert!(last.contains("onnect"), "the cause is named: {last}");
    }

    #[test]
    fn the_token_is_not_in_debug_output() {
        let token = ResponseToken::new("s3cret");
        assert!(!format!("{token:?}").contains("s3cret"));
        let callback = Callback::new("http://node:6688/v2/resume/6b0e9a0e").expect("resume URL");
        assert_eq!(
            format!("{callback:?}"),
            r#"Callback { origin: "http://node:6688", form: Resume }"#
        );
    }
}
